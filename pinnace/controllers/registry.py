"""The controller table: name → factory, on or off by default, and ``--controllers``.

Like kube-controller-manager, every controller has a name and is either on or
off by default; :func:`select_controllers` reads a ``--controllers`` value with
upstream's semantics (``IsControllerEnabled``): a comma-separated list where
``*`` enables every default-on controller, ``name`` enables one and ``-name``
disables one; the first entry naming a controller wins; without ``*`` only the
named controllers run. Names are upstream's short names; upstream's newer
long names (``garbage-collector-controller``…) are accepted as aliases.
Unknown names are an error, as upstream.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pinnace.controllers.base import Controller, ControllerContext

__all__ = ["CONTROLLERS", "ControllerSpec", "select_controllers"]


@dataclass(frozen=True, slots=True)
class ControllerSpec:
    name: str
    factory: Callable[[ControllerContext], Controller]
    enabled_by_default: bool = True
    aliases: tuple[str, ...] = ()


def _namespace(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.namespace import NamespaceController

    return NamespaceController(ctx)


def _garbagecollector(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.garbagecollector import GarbageCollector

    return GarbageCollector(ctx)


# --- batch: Job, CronJob, TTL after finished ---


def _job(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.job import JobController

    return JobController(ctx)


def _cronjob(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.cronjob import CronJobController

    return CronJobController(ctx)


def _ttl_after_finished(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.ttlafterfinished import TTLAfterFinishedController

    return TTLAfterFinishedController(ctx)


def _replicaset(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.replicaset import ReplicaSetController

    return ReplicaSetController(ctx)


def _replicationcontroller(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.replicaset import ReplicationControllerController

    return ReplicationControllerController(ctx)


def _deployment(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.deployment import DeploymentController

    return DeploymentController(ctx)


# --- stateful workloads: StatefulSet, DaemonSet ---


def _statefulset(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.statefulset import StatefulSetController

    return StatefulSetController(ctx)


def _daemonset(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.daemonset import DaemonSetController

    return DaemonSetController(ctx)


# --- services, nodes, disruption budgets, pod GC ---


def _endpoint(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.endpoints import EndpointsController

    return EndpointsController(ctx)


def _endpointslice(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.endpointslice import EndpointSliceController

    return EndpointSliceController(ctx)


def _servicelb(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.servicelb import ServiceLBController

    return ServiceLBController(ctx)


def _serviceaccount(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.serviceaccount import ServiceAccountController

    return ServiceAccountController(ctx)


def _clusterrole_aggregation(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.clusterroleaggregation import ClusterRoleAggregationController

    return ClusterRoleAggregationController(ctx)


def _resourcequota(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.resourcequota import ResourceQuotaController

    return ResourceQuotaController(ctx)


def _root_ca_cert_publisher(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.rootcacert import RootCACertPublisher

    return RootCACertPublisher(ctx)


def _node_lifecycle(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.nodelifecycle import NodeLifecycleController

    return NodeLifecycleController(ctx)


def _node_ipam(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.nodeipam import NodeIpamController

    return NodeIpamController(ctx)


def _disruption(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.disruption import DisruptionController

    return DisruptionController(ctx)


def _podgc(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.podgc import PodGCController

    return PodGCController(ctx)


# --- storage: PV/PVC binding and the local-path provisioner ---


def _persistentvolume_binder(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.persistentvolume import PersistentVolumeController

    return PersistentVolumeController(ctx)


def _local_path_provisioner(ctx: ControllerContext) -> Controller:
    from pinnace.controllers.localpath import LocalPathProvisioner

    return LocalPathProvisioner(ctx)


#: every controller pinnace has, in start order
CONTROLLERS: Mapping[str, ControllerSpec] = {
    spec.name: spec
    for spec in (
        ControllerSpec("namespace", _namespace, aliases=("namespace-controller",)),
        ControllerSpec(
            "garbagecollector", _garbagecollector, aliases=("garbage-collector-controller",)
        ),
        ControllerSpec("replicaset", _replicaset, aliases=("replicaset-controller",)),
        ControllerSpec(
            "replicationcontroller",
            _replicationcontroller,
            aliases=("replicationcontroller-controller",),
        ),
        ControllerSpec("deployment", _deployment, aliases=("deployment-controller",)),
        # batch
        ControllerSpec("job", _job, aliases=("job-controller",)),
        ControllerSpec("cronjob", _cronjob, aliases=("cronjob-controller",)),
        ControllerSpec(
            "ttl-after-finished", _ttl_after_finished, aliases=("ttl-after-finished-controller",)
        ),
        # services, nodes, disruption budgets, pod GC
        ControllerSpec("endpoint", _endpoint, aliases=("endpoints-controller",)),
        ControllerSpec("endpointslice", _endpointslice, aliases=("endpointslice-controller",)),
        ControllerSpec("servicelb", _servicelb),
        ControllerSpec("serviceaccount", _serviceaccount, aliases=("serviceaccount-controller",)),
        ControllerSpec("resourcequota", _resourcequota, aliases=("resourcequota-controller",)),
        ControllerSpec(
            "root-ca-cert-publisher",
            _root_ca_cert_publisher,
            aliases=("root-ca-certificate-publisher-controller",),
        ),
        ControllerSpec(
            "clusterrole-aggregation",
            _clusterrole_aggregation,
            aliases=("clusterrole-aggregation-controller",),
        ),
        ControllerSpec("node-lifecycle", _node_lifecycle, aliases=("node-lifecycle-controller",)),
        ControllerSpec("node-ipam", _node_ipam, aliases=("node-ipam-controller",)),
        ControllerSpec("disruption", _disruption, aliases=("disruption-controller",)),
        ControllerSpec(
            "pod-garbage-collector", _podgc, aliases=("pod-garbage-collector-controller",)
        ),
        # stateful workloads
        ControllerSpec("statefulset", _statefulset, aliases=("statefulset-controller",)),
        ControllerSpec("daemonset", _daemonset, aliases=("daemonset-controller",)),
        # storage
        ControllerSpec(
            "persistentvolume-binder",
            _persistentvolume_binder,
            aliases=("persistentvolume-binder-controller",),
        ),
        ControllerSpec("local-path-provisioner", _local_path_provisioner),
    )
}


def _canonical(name: str, table: Mapping[str, ControllerSpec]) -> str:
    if name in table:
        return name
    for spec in table.values():
        if name in spec.aliases:
            return spec.name
    known = ", ".join(sorted(table))
    raise ValueError(f"{name!r} is not in the list of known controllers ({known})")


def select_controllers(
    value: str = "*", table: Mapping[str, ControllerSpec] = CONTROLLERS
) -> list[str]:
    """The names of the controllers ``--controllers=value`` runs, in table order."""
    entries = [e.strip() for e in value.split(",") if e.strip()]
    choices: dict[str, bool] = {}
    star = False
    for entry in entries:
        if entry == "*":
            star = True
            continue
        enable = not entry.startswith("-")
        name = _canonical(entry if enable else entry[1:], table)
        choices.setdefault(name, enable)  # the first entry naming a controller wins
    return [
        name for name, spec in table.items() if choices.get(name, star and spec.enabled_by_default)
    ]
