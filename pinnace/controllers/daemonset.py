"""The DaemonSet controller: one pod per eligible node. Upstream's
``pkg/controller/daemon`` (``daemon_controller.go``, ``update.go``, ``util``).

Eligibility (:func:`node_should_run`, upstream ``NodeShouldRunDaemonPod``): the
template's ``nodeName`` (if any), ``nodeSelector`` and required node affinity
must match the node, and every ``NoSchedule``/``NoExecute`` taint must be
tolerated — counting the tolerations every daemon pod gets
(:func:`add_daemon_tolerations`): ``node.kubernetes.io/not-ready`` and
``unreachable`` (NoExecute, no time limit), ``disk-pressure``,
``memory-pressure``, ``pid-pressure``, ``unschedulable`` (NoSchedule) and, with
``hostNetwork``, ``network-unavailable``. A pod already on a node that only
gained an untolerated ``NoSchedule`` taint stays ("should continue running").

One sync (``reconcile``) of a DaemonSet:

1. claim its ControllerRevisions and pods (adopting matching orphans); find the
   revision whose data equals the template (renumbered to the newest, as after
   ``rollout undo``) or create ``<ds>-<pod-template-hash>``; its hash is the
   pods' ``controller-revision-hash`` label;
2. when the expectations of earlier syncs have been observed: **manage** —
   per node, create the missing pod, delete pods on nodes that should not run
   one, delete failed pods (with a per-node back-off) and surplus pods (the
   oldest survives); creations carry a required node affinity
   ``matchFields metadata.name In [node]`` and the default scheduler binds them;
   then, for ``RollingUpdate``, :func:`rolling_update_plan` — without surge,
   delete old pods while fewer than ``maxUnavailable`` nodes are unavailable;
   with ``maxSurge``, create a new pod beside an old one on up to ``maxSurge``
   nodes and delete the old pod once the new one is available. ``OnDelete``
   leaves old pods alone;
3. status: desiredNumberScheduled, currentNumberScheduled, numberMisscheduled,
   numberReady, updatedNumberScheduled, numberAvailable, numberUnavailable,
   observedGeneration (only raised when the sync acted on that generation);
4. delete the oldest unused revisions beyond ``revisionHistoryLimit``.

Events as upstream: ``SuccessfulCreate`` "Created pod: x", ``SuccessfulDelete``
"Deleted pod: x", ``FailedCreate``, ``FailedDaemonPod``, ``SelectingAll``.

Deviation: pinnace has no pod garbage collector yet, so the pods of this
DaemonSet bound to a node that no longer exists are deleted here (with grace 0,
as the pod GC would); upstream leaves those to ``podgc``.

Concurrency model: the base's work queue keyed by ``namespace/name`` with
``WORKERS`` workers. Informer handlers (daemon sets, pods, nodes, revisions)
only update :class:`~pinnace.controllers.controller_utils.Expectations` and
enqueue keys; node changes enqueue the daemon sets whose eligibility they may
change. Decisions are taken in ``reconcile`` from the caches.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pinnace.api.selectors import LabelSelector, SelectorError, label_selector_from_dict
from pinnace.client import (
    NORMAL,
    PODS,
    WARNING,
    AlreadyExists,
    ApiError,
    Conflict,
    NotFound,
    Obj,
    ResourceRef,
    key_of,
)
from pinnace.controllers import history
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue
from pinnace.controllers.controller_utils import (
    BURST_REPLICAS,
    CONTROLLER_INDEX,
    SLOW_START_INITIAL_BATCH_SIZE,
    Expectations,
    RefManager,
    controller_index,
    controller_ref_of,
    is_pod_available,
    is_pod_ready,
    new_controller_ref,
    parse_time,
    pod_key,
    selecting,
    slow_start_batch,
)
from pinnace.controllers.deploymentutil import compute_hash, scaled_value
from pinnace.controllers.history import CONTROLLERREVISIONS, REVISION_HASH_KEY
from pinnace.scheduler.selectors import NodeSelector, find_untolerated_taint

__all__ = [
    "DAEMONSETS",
    "NODES",
    "DaemonSetController",
    "add_daemon_tolerations",
    "compute_status",
    "node_should_run",
    "pods_should_be_on_node",
    "replace_node_name_affinity",
    "rolling_update_plan",
    "target_node_name",
]

DAEMONSETS = ResourceRef("apps", "v1", "daemonsets", True, "DaemonSet")
NODES = ResourceRef("", "v1", "nodes", False, "Node")
_KIND = "DaemonSet"
_API_VERSION = "apps/v1"
#: upstream ``extensions.DaemonSetTemplateGenerationKey`` (pod label) and the
#: DaemonSet annotation it is read from
TEMPLATE_GENERATION_KEY = "pod-template-generation"
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
#: failed-pod back-off per node (upstream: 1 s doubling to 15 min)
FAILED_BACKOFF_INITIAL = 1.0
FAILED_BACKOFF_MAX = 900.0
STATUS_UPDATE_RETRIES = 1

#: upstream ``AddOrUpdateDaemonPodTolerations``
DAEMON_TOLERATIONS: tuple[dict[str, str], ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
HOST_NETWORK_TOLERATION = {
    "key": "node.kubernetes.io/network-unavailable",
    "operator": "Exists",
    "effect": "NoSchedule",
}


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


# --- tolerations and eligibility --------------------------------------------------------------


def _same_toleration(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """``Toleration.MatchToleration``: same key, operator, value and effect."""
    return all((a.get(k) or "") == (b.get(k) or "") for k in ("key", "operator", "value", "effect"))


def _add_or_update_toleration(spec: Obj, toleration: Mapping[str, Any]) -> None:
    """upstream ``AddOrUpdateTolerationInPodSpec``."""
    out: list[Obj] = []
    updated = False
    for t in spec.get("tolerations") or []:
        if _same_toleration(t, toleration):
            if dict(t) == dict(toleration):
                return
            out.append(dict(toleration))
            updated = True
            continue
        out.append(t)
    if not updated:
        out.append(dict(toleration))
    spec["tolerations"] = out


def add_daemon_tolerations(spec: Obj) -> Obj:
    """Add the tolerations every daemon pod gets to ``spec`` (in place; returned)."""
    for t in DAEMON_TOLERATIONS:
        _add_or_update_toleration(spec, t)
    if spec.get("hostNetwork"):
        _add_or_update_toleration(spec, HOST_NETWORK_TOLERATION)
    return spec


def _required_node_selector(spec: Mapping[str, Any]) -> tuple[dict[str, str], NodeSelector | None]:
    ns = {str(k): str(v) for k, v in (spec.get("nodeSelector") or {}).items()}
    req = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or None
    if req is None:
        return ns, None
    return ns, NodeSelector.from_terms(req.get("nodeSelectorTerms"))


def node_should_run(node: Obj, ds: Obj) -> tuple[bool, bool]:
    """upstream ``NodeShouldRunDaemonPod``: (should run, should continue running)."""
    template = (ds.get("spec") or {}).get("template") or {}
    tspec = add_daemon_tolerations(copy.deepcopy(template.get("spec") or {}))
    name = _name(node)
    if tspec.get("nodeName") and tspec["nodeName"] != name:
        return False, False
    labels = (node.get("metadata") or {}).get("labels") or {}
    selector, affinity = _required_node_selector(tspec)
    if any(labels.get(k) != v for k, v in selector.items()):
        return False, False
    if affinity is not None and not affinity.matches(labels, name):
        return False, False
    taints = (node.get("spec") or {}).get("taints") or []
    tolerations = tspec.get("tolerations") or []
    if find_untolerated_taint(taints, tolerations, ("NoSchedule", "NoExecute")) is None:
        return True, True
    return False, find_untolerated_taint(taints, tolerations, ("NoExecute",)) is None


def target_node_name(pod: Obj) -> str | None:
    """upstream ``GetTargetNodeName``: spec.nodeName, else the node the affinity names."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    req = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in req.get("nodeSelectorTerms") or []:
        for exp in term.get("matchFields") or []:
            if exp.get("key") == "metadata.name" and exp.get("operator") == "In":
                values = exp.get("values") or []
                return str(values[0]) if len(values) == 1 else None
    return None


def replace_node_name_affinity(affinity: Obj | None, node_name: str) -> Obj:
    """upstream ``ReplaceDaemonSetPodNodeNameNodeAffinity``."""
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
    out = copy.deepcopy(affinity) if affinity else {}
    na = out.setdefault("nodeAffinity", {})
    req = na.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(req, dict):
        na["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [term]}
    else:
        req["nodeSelectorTerms"] = [term]
    return out


def template_generation(ds: Obj) -> str | None:
    v = ((ds.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
    return str(v) if v is not None else None


def is_pod_updated(pod: Obj, hash_: str, generation: str | None) -> bool:
    """upstream ``IsPodUpdated``: the revision hash label (or the old template generation)."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    if generation is not None and labels.get(TEMPLATE_GENERATION_KEY) == generation:
        return True
    return bool(hash_) and labels.get(REVISION_HASH_KEY) == hash_


def pod_template(ds: Obj, hash_: str) -> Obj:
    """upstream ``CreatePodTemplate``: the template plus tolerations and labels."""
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    add_daemon_tolerations(template.setdefault("spec", {}))
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    generation = template_generation(ds)
    if generation is not None:
        labels[TEMPLATE_GENERATION_KEY] = generation
    if hash_:
        labels[REVISION_HASH_KEY] = hash_
    return template


def new_daemon_pod(ds: Obj, template: Obj, node_name: str) -> Obj:
    """A pod for ``node_name`` (``generateName: <ds>-``, our controller reference)."""
    tmeta = template.get("metadata") or {}
    dm = ds.get("metadata") or {}
    meta: Obj = {
        "generateName": f"{dm.get('name', '')}-",
        "namespace": dm.get("namespace") or "",
        "ownerReferences": [new_controller_ref(ds, _API_VERSION, _KIND)],
    }
    for f in ("labels", "annotations"):
        if tmeta.get(f):
            meta[f] = dict(tmeta[f])
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    spec = copy.deepcopy(template.get("spec") or {})
    spec["affinity"] = replace_node_name_affinity(spec.get("affinity"), node_name)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


# --- per-node decisions ------------------------------------------------------------------------


def _creation_order(pod: Obj) -> tuple[int, float, str]:
    """upstream ``podByCreationTimestampAndPhase``: scheduled first, then oldest."""
    t = parse_time((pod.get("metadata") or {}).get("creationTimestamp"))
    bound = 0 if (pod.get("spec") or {}).get("nodeName") else 1
    return (bound, t.timestamp() if t else 0.0, _name(pod))


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def allows_surge(ds: Obj) -> bool:
    us = (ds.get("spec") or {}).get("updateStrategy") or {}
    if us.get("type", "RollingUpdate") != "RollingUpdate":
        return False
    try:
        return scaled_value((us.get("rollingUpdate") or {}).get("maxSurge"), 1, True) != 0
    except ValueError:
        return False


@dataclass
class NodeDecision:
    """What :func:`pods_should_be_on_node` decided for one node."""

    create: bool = False
    delete: list[Obj] = field(default_factory=list)
    failed: list[Obj] = field(default_factory=list)


def pods_should_be_on_node(
    node: Obj, daemon_pods: Sequence[Obj], ds: Obj, hash_: str, now: datetime
) -> NodeDecision:
    """upstream ``podsShouldBeOnNode``. Failed pods are returned apart: the caller
    deletes them unless the node's failed-pod back-off says wait."""
    should_run, should_continue = node_should_run(node, ds)
    out = NodeDecision()
    exists = bool(daemon_pods)
    if should_run and not exists:
        out.create = True
        return out
    if should_continue:
        running: list[Obj] = []
        for pod in daemon_pods:
            if (pod.get("metadata") or {}).get("deletionTimestamp"):
                continue
            if _phase(pod) == "Failed":
                out.failed.append(pod)
            elif _phase(pod) == "Succeeded":
                out.delete.append(pod)
            else:
                running.append(pod)
        running.sort(key=_creation_order)
        if not allows_surge(ds):
            out.delete += running[1:]
            return out
        if len(running) <= 1:
            if not running and should_run:
                out.create = True
            return out
        mrs = _int((ds.get("spec") or {}).get("minReadySeconds"))
        oldest_new: Obj | None = None
        oldest_old: Obj | None = None
        for pod in running:
            if (((pod.get("metadata") or {}).get("labels") or {}).get(REVISION_HASH_KEY)) == hash_:
                if oldest_new is None:
                    oldest_new = pod
                    continue
            elif oldest_old is None:
                oldest_old = pod
                continue
            out.delete.append(pod)
        if oldest_new is not None and oldest_old is not None:
            if not is_pod_ready(oldest_old) or is_pod_available(oldest_new, mrs, now):
                out.delete.append(oldest_old)
        return out
    if exists:
        out.delete += [
            p for p in daemon_pods if not (p.get("metadata") or {}).get("deletionTimestamp")
        ]
    return out


def _find_updated_pods_on_node(
    pods: Iterable[Obj], hash_: str, generation: str | None
) -> tuple[Obj | None, Obj | None, bool]:
    """upstream ``findUpdatedPodsOnNode``: (new pod, old pod, ok); not ok with two of a kind."""
    new: Obj | None = None
    old: Obj | None = None
    for pod in pods:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        if is_pod_updated(pod, hash_, generation):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def surge_and_unavailable(ds: Obj, desired: int) -> tuple[int, int]:
    """upstream ``updatedDesiredNodeCounts``'s (maxSurge, maxUnavailable), rounded up."""
    us = (ds.get("spec") or {}).get("updateStrategy") or {}
    surge = unavailable = 0
    if us.get("type", "RollingUpdate") == "RollingUpdate":
        ru = us.get("rollingUpdate") or {}
        unavailable = scaled_value(ru.get("maxUnavailable"), desired, True)
        surge = scaled_value(ru.get("maxSurge"), desired, True)
    if desired > 0 and unavailable == 0 and surge == 0:
        unavailable = 1
    return surge, unavailable


def rolling_update_plan(
    ds: Obj,
    nodes: Sequence[Obj],
    node_to_pods: Mapping[str, Sequence[Obj]],
    hash_: str,
    now: datetime,
) -> tuple[list[Obj], list[str]]:
    """upstream ``rollingUpdate``: (old pods to delete, nodes to create a new pod on)."""
    generation = template_generation(ds)
    mrs = _int((ds.get("spec") or {}).get("minReadySeconds"))
    by_name = {_name(n): n for n in nodes}
    pods_of: dict[str, Sequence[Obj]] = dict(node_to_pods)
    desired = 0
    for node in nodes:
        if node_should_run(node, ds)[0]:
            desired += 1
            pods_of.setdefault(_name(node), [])
    max_surge, max_unavailable = surge_and_unavailable(ds, desired)

    def available(pod: Obj) -> bool:
        return is_pod_available(pod, mrs, now)

    if max_surge == 0:
        unavailable = 0
        allowed: list[Obj] = []
        candidates: list[Obj] = []
        for node_name in sorted(pods_of):
            new, old, ok = _find_updated_pods_on_node(pods_of[node_name], hash_, generation)
            if not ok or (new is None) == (old is None):
                unavailable += 1
            elif new is not None:
                if not available(new):
                    unavailable += 1
            elif old is not None:
                if not available(old):
                    allowed.append(old)
                    unavailable += 1
                elif unavailable < max_unavailable:
                    candidates.append(old)
        remaining = max(0, min(max_unavailable - unavailable, len(candidates)))
        return allowed + candidates[:remaining], []

    to_delete: list[Obj] = []
    should_not_run: list[Obj] = []
    candidate_nodes: list[str] = []
    allowed_nodes: list[str] = []
    surged = available_count = 0
    for node_name in sorted(pods_of):
        new, old, ok = _find_updated_pods_on_node(pods_of[node_name], hash_, generation)
        if not ok:
            surged += 1
            continue
        if old is not None:
            available_count += available(old)
        elif new is not None:
            available_count += available(new)
        if old is None:
            continue
        node_obj = by_name.get(node_name)
        should_run = node_obj is not None and node_should_run(node_obj, ds)[0]
        if new is None:
            if not available(old):
                if not should_run:
                    to_delete.append(old)
                    continue
                allowed_nodes.append(node_name)
            else:
                if not should_run:
                    should_not_run.append(old)
                    continue
                if surged >= max_surge:
                    continue
                candidate_nodes.append(node_name)
        else:
            if not available(new):
                surged += 1
                continue
            to_delete.append(old)
    deletable = min(available_count - desired, len(should_not_run))
    if deletable > 0:
        to_delete += should_not_run[:deletable]
    remaining = max(0, min(max_surge - surged, len(candidate_nodes)))
    return to_delete, allowed_nodes + candidate_nodes[:remaining]


# --- status -------------------------------------------------------------------------------------


def compute_status(
    ds: Obj,
    nodes: Sequence[Obj],
    node_to_pods: Mapping[str, Sequence[Obj]],
    hash_: str,
    now: datetime,
) -> Obj:
    """upstream ``updateDaemonSetStatus`` (without observedGeneration)."""
    generation = template_generation(ds)
    mrs = _int((ds.get("spec") or {}).get("minReadySeconds"))
    desired = current = mis = ready = updated = available = 0
    for node in nodes:
        should_run, _ = node_should_run(node, ds)
        pods = sorted(node_to_pods.get(_name(node)) or [], key=_creation_order)
        if should_run:
            desired += 1
            if not pods:
                continue
            current += 1
            pod = pods[0]
            if is_pod_ready(pod):
                ready += 1
                if is_pod_available(pod, mrs, now):
                    available += 1
            if is_pod_updated(pod, hash_, generation):
                updated += 1
        elif pods:
            mis += 1
    status: Obj = {
        "currentNumberScheduled": current,
        "numberMisscheduled": mis,
        "desiredNumberScheduled": desired,
        "numberReady": ready,
    }
    for k, v in (
        ("updatedNumberScheduled", updated),
        ("numberAvailable", available),
        ("numberUnavailable", desired - available),
    ):
        if v:
            status[k] = v
    return status


_STATUS_FIELDS = (
    "currentNumberScheduled",
    "numberMisscheduled",
    "desiredNumberScheduled",
    "numberReady",
    "updatedNumberScheduled",
    "numberAvailable",
    "numberUnavailable",
    "observedGeneration",
)


class _Expectations(Expectations):
    """Creations and deletions expected together (upstream ``SetExpectations``)."""

    def expect(self, key: str, adds: int, pod_keys: Iterable[str]) -> None:
        self._set(key, adds, set(pod_keys))


# --- the controller ----------------------------------------------------------------------------


class DaemonSetController(Controller):
    NAME = "daemonset"
    EVENT_COMPONENT = "daemonset-controller"
    WORKERS = 2  # upstream --concurrent-daemonset-syncs

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.expectations = _Expectations(self.clock)
        self.sets = self.informer(DAEMONSETS)
        self.sets.add_event_handler(
            on_add=self.enqueue,
            on_update=lambda _old, new: self.enqueue(new),
            on_delete=self._delete_set,
        )
        self.pods = self.informer(PODS)
        self.pods.add_indexers({CONTROLLER_INDEX: controller_index})
        self.pods.add_event_handler(
            on_add=self._add_pod, on_update=self._update_pod, on_delete=self._delete_pod
        )
        self.nodes = self.informer(NODES)
        self.nodes.add_event_handler(
            on_add=self._node_changed,
            on_update=self._update_node,
            on_delete=lambda _node: self._enqueue_all(),
        )
        self.revisions = self.informer(CONTROLLERREVISIONS)
        self.revisions.add_indexers({CONTROLLER_INDEX: controller_index})
        self.revisions.add_event_handler(
            on_add=self._revision_event,
            on_update=lambda _old, new: self._revision_event(new),
            on_delete=self._revision_event,
        )
        #: (set key, node) → (back-off delay, when it was last raised)
        self._failed_backoff: dict[tuple[str, str], tuple[float, float]] = {}

    # --- event handlers ------------------------------------------------------------------

    def _delete_set(self, ds: Obj) -> None:
        key = key_of(ds)
        self.expectations.delete(key)
        self.queue.add(key)

    def _resolve(self, obj: Obj) -> Obj | None:
        ref = controller_ref_of(obj)
        if ref is None or ref.get("kind") != _KIND:
            return None
        ns = (obj.get("metadata") or {}).get("namespace") or ""
        ds = self.sets.get(f"{ns}/{ref.get('name')}")
        if ds is None or (ds.get("metadata") or {}).get("uid") != ref.get("uid"):
            return None
        return ds

    def _matching_sets(self, obj: Obj) -> list[Obj]:
        ns = str(((obj.get("metadata") or {}).get("namespace")) or "")
        return selecting(self.sets.by_index("namespace", ns), obj)

    def _add_pod(self, pod: Obj) -> None:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            self._delete_pod(pod)
            return
        ds = self._resolve(pod)
        if ds is not None:
            self.expectations.creation_observed(key_of(ds))
            self.enqueue(ds)
        elif controller_ref_of(pod) is None:
            for d in self._matching_sets(pod):
                self.enqueue(d)

    def _update_pod(self, old: Obj, cur: Obj) -> None:
        om, cm = old.get("metadata") or {}, cur.get("metadata") or {}
        if om.get("resourceVersion") == cm.get("resourceVersion"):
            return
        if cm.get("deletionTimestamp"):
            self._delete_pod(cur)
            return
        prev = self._resolve(old)
        ds = self._resolve(cur)
        if prev is not None and ds is not prev:
            self.enqueue(prev)
        if ds is not None:
            self.enqueue(ds)
            mrs = _int((ds.get("spec") or {}).get("minReadySeconds"))
            if mrs > 0 and not is_pod_ready(old) and is_pod_ready(cur):
                self.queue.add_after(key_of(ds), mrs + 1.0)
        elif controller_ref_of(cur) is None:
            for d in self._matching_sets(cur):
                self.enqueue(d)

    def _delete_pod(self, pod: Obj) -> None:
        ds = self._resolve(pod)
        if ds is None:
            return
        key = key_of(ds)
        self.expectations.deletion_observed(key, pod_key(pod))
        self.queue.add(key)

    def _enqueue_all(self) -> None:
        for ds in self.sets.list():
            self.enqueue(ds)

    def _node_changed(self, node: Obj) -> None:
        for ds in self.sets.list():
            if node_should_run(node, ds) != (False, False):
                self.enqueue(ds)

    def _update_node(self, old: Obj, cur: Obj) -> None:
        om, cm = old.get("metadata") or {}, cur.get("metadata") or {}
        os_, cs = old.get("spec") or {}, cur.get("spec") or {}
        if om.get("labels") == cm.get("labels") and os_.get("taints") == cs.get("taints"):
            return  # heartbeats and conditions do not change eligibility
        for ds in self.sets.list():
            if node_should_run(old, ds) != node_should_run(cur, ds):
                self.enqueue(ds)

    def _revision_event(self, rev: Obj) -> None:
        ds = self._resolve(rev)
        if ds is not None:
            self.enqueue(ds)
        elif controller_ref_of(rev) is None:
            for d in self._matching_sets(rev):
                self.enqueue(d)

    # --- reconcile -----------------------------------------------------------------------

    async def reconcile(self, key: str) -> Requeue | None:
        try:
            return await self._sync(key)
        except Conflict as e:
            self.log.log(DETAIL, "daemonset %s: conflict, retrying: %s", key, e)
            return Requeue()

    async def _sync(self, key: str) -> Requeue | None:
        cached = self.sets.get(key)
        if cached is None:
            self.expectations.delete(key)
            for k in [k for k in self._failed_backoff if k[0] == key]:
                del self._failed_backoff[k]
            return None
        ds = copy.deepcopy(cached)
        m = ds["metadata"]
        try:
            selector = label_selector_from_dict((ds.get("spec") or {}).get("selector"))
        except SelectorError as e:
            self.log.error("daemonset %s: invalid selector: %s", key, e)
            return None
        if selector.empty():
            self._event(ds, WARNING, "SelectingAll",
                        "This daemon set is selecting all pods. A non-empty selector is required.")  # fmt: skip
            return None
        if m.get("deletionTimestamp"):
            return None  # upstream: its revisions may be gone already; nothing to do
        nodes = self.nodes.list()
        revisions = await self._claim_revisions(ds, selector)
        cur, old = await self._construct_history(ds, revisions)
        hash_ = str(((cur.get("metadata") or {}).get("labels") or {}).get(REVISION_HASH_KEY) or "")
        requeue: float | None = None
        if not self.expectations.satisfied(key):
            pods = await self._claim_pods(ds, selector)
            await self._update_status(ds, nodes, pods, hash_, observed=False)
            return None
        pods = await self._claim_pods(ds, selector)
        error: BaseException | None = None
        try:
            requeue = await self._manage(key, ds, nodes, pods, hash_)
            if self.expectations.satisfied(key) and _strategy(ds) == "RollingUpdate":
                pods = await self._claim_pods(ds, selector)
                deletes, creates = rolling_update_plan(
                    ds, nodes, _node_to_pods(pods), hash_, self.clock.wall()
                )
                if deletes or creates:
                    await self._sync_nodes(key, ds, deletes, creates, hash_)
            await self._cleanup_history(ds, old, pods)
        except (ApiError, ValueError) as e:
            error = e
        pods = await self._claim_pods(ds, selector)
        status = await self._update_status(ds, nodes, pods, hash_, observed=True)
        if error is not None:
            raise error
        mrs = _int((ds.get("spec") or {}).get("minReadySeconds"))
        if mrs > 0 and _int(status.get("numberReady")) != _int(status.get("numberAvailable")):
            requeue = min(requeue, float(mrs)) if requeue is not None else float(mrs)
        return Requeue(after=requeue) if requeue is not None else None

    def _event(self, ds: Obj, type_: str, reason: str, message: str) -> None:
        self.recorder.event(ds, type_, reason, message, kind=_KIND, api_version=_API_VERSION)

    # --- claiming ------------------------------------------------------------------------

    def _manager(self, ds: Obj, selector: LabelSelector) -> RefManager:
        m = ds["metadata"]

        async def recheck() -> None:
            fresh = await self.client.get(DAEMONSETS, m["name"], namespace=m["namespace"])
            if (fresh.get("metadata") or {}).get("uid") != m.get("uid"):
                raise ValueError(f"original DaemonSet {m['namespace']}/{m['name']} is gone")
            if (fresh.get("metadata") or {}).get("deletionTimestamp"):
                raise ValueError(f"DaemonSet {m['namespace']}/{m['name']} is being deleted")

        return RefManager(self.client, ds, _API_VERSION, _KIND, selector, recheck)

    async def _claim_pods(self, ds: Obj, selector: LabelSelector) -> list[Obj]:
        m = ds["metadata"]
        ns = str(m.get("namespace") or "")
        candidates = [
            *self.pods.by_index(CONTROLLER_INDEX, f"{ns}/{m.get('uid')}"),
            *self.pods.by_index(CONTROLLER_INDEX, f"{ns}/"),
        ]
        return await self._manager(ds, selector).claim(PODS, candidates)

    async def _claim_revisions(self, ds: Obj, selector: LabelSelector) -> list[Obj]:
        m = ds["metadata"]
        ns = str(m.get("namespace") or "")
        candidates = [
            *self.revisions.by_index(CONTROLLER_INDEX, f"{ns}/{m.get('uid')}"),
            *self.revisions.by_index(CONTROLLER_INDEX, f"{ns}/"),
        ]
        claimed = await self._manager(ds, selector).claim(CONTROLLERREVISIONS, candidates)
        return [copy.deepcopy(r) for r in claimed]

    # --- history -------------------------------------------------------------------------

    async def _construct_history(self, ds: Obj, revisions: list[Obj]) -> tuple[Obj, list[Obj]]:
        """upstream ``constructHistory``: (current revision, old revisions)."""
        data = history.template_patch(ds)
        current: list[Obj] = []
        old: list[Obj] = []
        for rev in revisions:
            labels = (rev.get("metadata") or {}).get("labels") or {}
            if REVISION_HASH_KEY not in labels:
                rm = rev["metadata"]
                rev = await self.client.patch(
                    CONTROLLERREVISIONS, rm["name"],
                    {"metadata": {"labels": {REVISION_HASH_KEY: rm["name"]}}},
                    namespace=rm["namespace"],
                )  # fmt: skip
            if history.data_equal(rev.get("data"), data):
                current.append(rev)
            else:
                old.append(rev)
        number = history.max_revision(old) + 1
        if not current:
            return await self._snapshot(ds, data, number), old
        current = history.sort_revisions(current)
        cur = current[-1]
        for dup in current[:-1]:
            await self._dedup(ds, dup, cur)
        if history.revision_number(cur) < number:
            cur = await history.renumber_revision(self.client, cur, number)
        return cur, old

    async def _dedup(self, ds: Obj, dup: Obj, keep: Obj) -> None:
        """upstream ``dedupCurHistories``: relabel the duplicate's pods, delete it."""
        keep_hash = ((keep.get("metadata") or {}).get("labels") or {}).get(REVISION_HASH_KEY)
        dup_hash = ((dup.get("metadata") or {}).get("labels") or {}).get(REVISION_HASH_KEY)
        ns = str(ds["metadata"].get("namespace") or "")
        for pod in self.pods.by_index(CONTROLLER_INDEX, f"{ns}/{ds['metadata'].get('uid')}"):
            labels = (pod.get("metadata") or {}).get("labels") or {}
            if labels.get(REVISION_HASH_KEY) == dup_hash:
                await self.client.patch(
                    PODS, _name(pod), {"metadata": {"labels": {REVISION_HASH_KEY: keep_hash}}},
                    namespace=ns,
                )  # fmt: skip
        try:
            await self.client.delete(CONTROLLERREVISIONS, _name(dup), namespace=ns)
        except NotFound:
            pass

    async def _snapshot(self, ds: Obj, data: Obj, number: int) -> Obj:
        """upstream ``snapshot``: create ``<ds>-<hash>``; a foreign revision of that name
        bumps ``status.collisionCount`` (and this sync fails, to be retried)."""
        m = ds["metadata"]
        status = ds.get("status") or {}
        collision = status.get("collisionCount")
        template = (ds.get("spec") or {}).get("template") or {}
        hash_ = compute_hash(template, collision if isinstance(collision, int) else None)
        labels = {
            **((template.get("metadata") or {}).get("labels") or {}),
            REVISION_HASH_KEY: hash_,
        }
        rev: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {
                "name": history.revision_name(m["name"], hash_),
                "namespace": m["namespace"],
                "labels": labels,
                "ownerReferences": [new_controller_ref(ds, _API_VERSION, _KIND)],
            },
            "data": data,
            "revision": number,
        }
        if m.get("annotations"):
            rev["metadata"]["annotations"] = dict(m["annotations"])
        try:
            created: Obj = await self.client.create(
                CONTROLLERREVISIONS, rev, namespace=m["namespace"]
            )
            return created
        except AlreadyExists:
            existing = await self.client.get(
                CONTROLLERREVISIONS, rev["metadata"]["name"], namespace=m["namespace"]
            )
            if history.data_equal(existing.get("data"), data):
                return existing
            fresh = await self.client.get(DAEMONSETS, m["name"], namespace=m["namespace"])
            fresh_status = fresh.setdefault("status", {})
            if fresh_status.get("collisionCount") != status.get("collisionCount"):
                raise ValueError(
                    f"daemonset {key_of(ds)}: stale collision count, retrying"
                ) from None
            fresh_status["collisionCount"] = _int(fresh_status.get("collisionCount")) + 1
            await self.client.replace_status(DAEMONSETS, fresh)
            self.log.log(DETAIL, "daemonset %s: hash collision, bumping collisionCount", key_of(ds))
            raise

    async def _cleanup_history(self, ds: Obj, old: list[Obj], pods: list[Obj]) -> None:
        """upstream ``cleanupHistory``: oldest unused revisions beyond the limit."""
        limit = (ds.get("spec") or {}).get("revisionHistoryLimit")
        to_kill = len(old) - (limit if isinstance(limit, int) else 10)
        if to_kill <= 0:
            return
        live = {
            ((p.get("metadata") or {}).get("labels") or {}).get(REVISION_HASH_KEY) for p in pods
        }
        for rev in history.sort_revisions(old):
            if to_kill <= 0:
                break
            if ((rev.get("metadata") or {}).get("labels") or {}).get(REVISION_HASH_KEY) in live:
                continue
            rm = rev["metadata"]
            try:
                await self.client.delete(CONTROLLERREVISIONS, rm["name"], namespace=rm["namespace"])
            except NotFound:
                pass
            to_kill -= 1

    # --- manage --------------------------------------------------------------------------

    async def _manage(
        self, key: str, ds: Obj, nodes: list[Obj], pods: list[Obj], hash_: str
    ) -> float | None:
        """upstream ``manage``; returns when to look again for a backed-off failed pod."""
        node_to_pods = _node_to_pods(pods)
        now = self.clock.wall()
        creates: list[str] = []
        deletes: list[Obj] = []
        requeue: float | None = None
        for node in nodes:
            name = _name(node)
            decision = pods_should_be_on_node(node, node_to_pods.get(name, []), ds, hash_, now)
            if decision.create:
                creates.append(name)
            deletes += decision.delete
            for pod in decision.failed:
                wait = self._failed_pod_backoff(key, name)
                if wait > 0:
                    requeue = wait if requeue is None else min(requeue, wait)
                    continue
                self._event(ds, WARNING, "FailedDaemonPod",
                            f"Found failed daemon pod {pod['metadata'].get('namespace')}/"
                            f"{_name(pod)} on node {name}, will try to kill it")  # fmt: skip
                deletes.append(pod)
        existing = {_name(n) for n in nodes}
        for node_name, node_pods in node_to_pods.items():
            if node_name in existing:
                continue
            # unscheduled pods for a node that is gone (upstream), and — our pod GC —
            # pods bound to it
            deletes += [
                p for p in node_pods if not (p.get("metadata") or {}).get("deletionTimestamp")
            ]
        if creates or deletes:
            await self._sync_nodes(key, ds, deletes, creates, hash_)
        return requeue

    def _failed_pod_backoff(self, key: str, node: str) -> float:
        """Seconds still to wait before killing the next failed pod on ``node`` (0: go)."""
        now = self.clock.now()
        delay, since = self._failed_backoff.get((key, node), (0.0, 0.0))
        if delay and now - since < delay:
            return delay - (now - since)
        new_delay = min(FAILED_BACKOFF_MAX, delay * 2 if delay else FAILED_BACKOFF_INITIAL)
        self._failed_backoff[(key, node)] = (new_delay, now)
        return 0.0

    async def _sync_nodes(
        self, key: str, ds: Obj, deletes: list[Obj], creates: list[str], hash_: str
    ) -> None:
        """upstream ``syncNodes``: create on ``creates`` (slow start), delete ``deletes``."""
        creates = creates[:BURST_REPLICAS]
        deletes = deletes[:BURST_REPLICAS]
        self.expectations.expect(key, len(creates), [pod_key(p) for p in deletes])
        template = pod_template(ds, hash_)
        ns = str(ds["metadata"].get("namespace") or "")
        names = iter(creates)

        async def create() -> None:
            node = next(names)
            pod = new_daemon_pod(ds, template, node)
            try:
                created = await self.client.create(PODS, pod, namespace=ns)
            except ApiError as e:
                self.expectations.creation_observed(key)
                if any(c.get("type") == "NamespaceTerminating" for c in e.causes):
                    return
                self._event(ds, WARNING, "FailedCreate", f"Error creating: {e}")
                raise
            self._event(ds, NORMAL, "SuccessfulCreate", f"Created pod: {_name(created)}")

        successes, err = await slow_start_batch(len(creates), SLOW_START_INITIAL_BATCH_SIZE, create)
        skipped = len(creates) - successes - (1 if err is not None else 0)
        if err is not None and skipped > 0:
            self.expectations.lower(key, adds=skipped)
        errors: list[BaseException] = [err] if err is not None else []
        for pod in deletes:
            try:
                await self._delete_pod_of(key, ds, pod, {_name(n) for n in self.nodes.list()})
            except ApiError as e:
                errors.append(e)
        if errors:
            raise errors[0]

    async def _delete_pod_of(self, key: str, ds: Obj, pod: Obj, nodes: set[str]) -> None:
        m = pod["metadata"]
        node = (pod.get("spec") or {}).get("nodeName")
        grace = 0 if node and node not in nodes else None
        try:
            await self.client.delete(
                PODS, m["name"], namespace=m["namespace"],
                preconditions={"uid": m["uid"]}, grace_period_seconds=grace,
            )  # fmt: skip
        except ApiError as e:
            self.expectations.deletion_observed(key, pod_key(pod))
            if isinstance(e, NotFound | Conflict):
                return
            self._event(ds, WARNING, "FailedDelete", f"Error deleting: {e}")
            raise
        self._event(ds, NORMAL, "SuccessfulDelete", f"Deleted pod: {m['name']}")

    # --- status --------------------------------------------------------------------------

    async def _update_status(
        self, ds: Obj, nodes: list[Obj], pods: list[Obj], hash_: str, *, observed: bool
    ) -> Obj:
        status = compute_status(ds, nodes, _node_to_pods(pods), hash_, self.clock.wall())
        old = ds.get("status") or {}
        generation = _int(ds["metadata"].get("generation"))
        status["observedGeneration"] = (
            generation if observed else _int(old.get("observedGeneration"))
        )
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        if all(_int(old.get(k)) == _int(status.get(k)) for k in _STATUS_FIELDS):
            return status
        current = ds
        for attempt in range(STATUS_UPDATE_RETRIES + 1):
            new = dict(current)
            collision = (current.get("status") or {}).get("collisionCount")
            new["status"] = {**status, "collisionCount": collision} if collision else status
            try:
                await self.client.replace_status(DAEMONSETS, new)
                return status
            except Conflict:
                if attempt >= STATUS_UPDATE_RETRIES:
                    raise
                m = ds["metadata"]
                current = await self.client.get(DAEMONSETS, m["name"], namespace=m["namespace"])
        return status


def _strategy(ds: Obj) -> str:
    return str(((ds.get("spec") or {}).get("updateStrategy") or {}).get("type") or "RollingUpdate")


def _node_to_pods(pods: Iterable[Obj]) -> dict[str, list[Obj]]:
    """upstream ``getNodesToDaemonPods`` (terminal pods being deleted are skipped)."""
    out: dict[str, list[Obj]] = {}
    for pod in pods:
        if _phase(pod) in ("Succeeded", "Failed") and (pod.get("metadata") or {}).get(
            "deletionTimestamp"
        ):
            continue
        node = target_node_name(pod)
        if node is None:
            continue
        out.setdefault(node, []).append(pod)
    return out
