"""Pod spec → CRI configuration: the sandbox and container configs the kubelet
sends to the runtime.

Pure functions of the pod, the container and what the kubelet has already
resolved (environment, mounts, DNS, paths), so every rule here is unit
tested without a runtime. The rules are upstream's (kuberuntime):

- CRI labels/annotations name the pod and container (``io.kubernetes.*``), so
  that a restarted agent rebuilds its view from the runtime alone: restart
  count, spec hash, termination message path and grace period travel in
  container annotations.
- Resources: CPU shares from requests (``milli * 1024 / 1000``, at least 2),
  CFS quota from limits with a 100 ms period, the memory limit in bytes, and
  ``oom_score_adj`` by QoS class (Guaranteed -997, BestEffort 1000, Burstable
  scaled by the memory request, clamped to 2..999).
- Namespaces: network/IPC shared in the pod unless ``hostNetwork``/``hostIPC``;
  PID per container unless ``shareProcessNamespace`` (POD) or ``hostPID``.
- Pod cgroups under ``/kubepods[/burstable|/besteffort]/pod<uid>`` (cgroupfs
  driver naming), so usage is accountable per pod and QoS class, with the
  pod's own CPU shares, CFS quota and memory limit (``pod_resources``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import orjson

from pinnace.api.quantity import parse_quantity
from pinnace.client import Obj
from pinnace.kubelet.cri import api_pb2 as cri

__all__ = [
    "ANN_CONTAINER_HASH",
    "ANN_GRACE_PERIOD",
    "ANN_RESTART_COUNT",
    "ANN_TERMINATION_MESSAGE_PATH",
    "LABEL_CONTAINER_NAME",
    "LABEL_POD_NAME",
    "LABEL_POD_NAMESPACE",
    "LABEL_POD_UID",
    "MountSpec",
    "PodResources",
    "container_config",
    "container_hash",
    "pod_cgroup_parent",
    "pod_resources",
    "qos_class",
    "sandbox_config",
]

LABEL_POD_NAME = "io.kubernetes.pod.name"
LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_POD_UID = "io.kubernetes.pod.uid"
LABEL_CONTAINER_NAME = "io.kubernetes.container.name"
ANN_CONTAINER_HASH = "io.kubernetes.container.hash"
ANN_RESTART_COUNT = "io.kubernetes.container.restartCount"
ANN_TERMINATION_MESSAGE_PATH = "io.kubernetes.container.terminationMessagePath"
ANN_TERMINATION_MESSAGE_POLICY = "io.kubernetes.container.terminationMessagePolicy"
ANN_GRACE_PERIOD = "io.kubernetes.pod.terminationGracePeriod"
ANN_PRE_STOP = "io.kubernetes.container.preStopHandler"
ANN_CONFIG_SOURCE = "kubernetes.io/config.source"
ANN_CONFIG_SEEN = "kubernetes.io/config.seen"

CPU_PERIOD_US = 100_000
MIN_SHARES = 2
MAX_SHARES = 262_144

# What upstream masks / makes read-only in /proc for non-privileged containers
# (``DefaultProcMount``); containerd applies none when the lists are empty.
MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

_PROTOCOLS = {"TCP": cri.TCP, "UDP": cri.UDP, "SCTP": cri.SCTP}
_PROPAGATION = {
    "None": cri.PROPAGATION_PRIVATE,
    "HostToContainer": cri.PROPAGATION_HOST_TO_CONTAINER,
    "Bidirectional": cri.PROPAGATION_BIDIRECTIONAL,
}


@dataclass(frozen=True)
class MountSpec:
    container_path: str
    host_path: str
    readonly: bool = False
    propagation: str = "None"


def _q(value: Any) -> Fraction:
    if value is None:
        return Fraction(0)
    try:
        return parse_quantity(str(value))
    except (ValueError, ZeroDivisionError):
        return Fraction(0)


def _resources(container: Obj) -> tuple[dict[str, Any], dict[str, Any]]:
    res = container.get("resources") or {}
    limits = dict(res.get("limits") or {})
    requests = dict(res.get("requests") or {})
    for name, value in limits.items():  # a limit without a request requests the limit
        requests.setdefault(name, value)
    return requests, limits


def _all_containers(pod: Obj) -> list[Obj]:
    spec = pod.get("spec") or {}
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def qos_class(pod: Obj) -> str:
    """Guaranteed / Burstable / BestEffort by upstream's rules (cpu and memory only)."""
    status_qos = (pod.get("status") or {}).get("qosClass")
    if status_qos:
        return str(status_qos)
    any_set = False
    guaranteed = True
    for c in _all_containers(pod):
        requests, limits = _resources(c)
        for name in ("cpu", "memory"):
            if _q(requests.get(name)) > 0 or _q(limits.get(name)) > 0:
                any_set = True
            if name not in limits or _q(limits[name]) != _q(requests.get(name)):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


@dataclass(frozen=True)
class PodResources:
    """What the pod cgroup is given (upstream's ``ResourceConfigForPod``)."""

    cpu_shares: int
    cpu_quota: int | None = None
    """CFS quota in µs per ``CPU_PERIOD_US``; None: unlimited."""
    memory_limit: int | None = None
    """Bytes; None: unlimited."""


def _pod_total(pod: Obj, name: str, which: int) -> Fraction:
    """The pod's request (``which`` 0) or limit (1) of one resource: its
    containers and sidecars together, or the largest init container when
    that is more, plus ``spec.overhead``."""
    spec = pod.get("spec") or {}
    inits = list(spec.get("initContainers") or [])
    sidecars = [c for c in inits if c.get("restartPolicy") == "Always"]
    running = sum(
        (_q(_resources(c)[which].get(name)) for c in list(spec.get("containers") or []) + sidecars),
        Fraction(0),
    )
    init_peak = max(
        (_q(_resources(c)[which].get(name)) for c in inits if c.get("restartPolicy") != "Always"),
        default=Fraction(0),
    )
    return max(running, init_peak) + _q((spec.get("overhead") or {}).get(name))


def pod_resources(pod: Obj) -> PodResources:
    """Guaranteed pods get their summed CPU limit as quota and memory limit;
    Burstable ones get each only when every container declares that limit;
    every pod gets CPU shares from its CPU requests (BestEffort: the minimum)."""
    qos = qos_class(pod)
    if qos == "BestEffort":
        return PodResources(cpu_shares=MIN_SHARES)
    cpu_request = _pod_total(pod, "cpu", 0)
    shares = MIN_SHARES if cpu_request == 0 else int(cpu_request * 1024)
    shares = max(MIN_SHARES, min(MAX_SHARES, shares))
    containers = _all_containers(pod)

    def declared(name: str) -> bool:
        return all(_q(_resources(c)[1].get(name)) > 0 for c in containers)

    quota = memory = None
    if qos == "Guaranteed" or declared("cpu"):
        quota = max(1000, int(_pod_total(pod, "cpu", 1) * CPU_PERIOD_US))
    if qos == "Guaranteed" or declared("memory"):
        memory = int(_pod_total(pod, "memory", 1))
    return PodResources(cpu_shares=shares, cpu_quota=quota, memory_limit=memory)


def _cpu_shares(cores: Fraction) -> int:
    """``MilliCPUToShares``: 1024 shares per core, within the kernel's bounds."""
    return max(MIN_SHARES, min(MAX_SHARES, int(cores * 1024))) if cores > 0 else MIN_SHARES


@dataclass(frozen=True)
class QOSResources:
    """What the QoS-level cgroups get (upstream's node allocatable enforcement
    for ``pods`` and its QoS container manager): ``/kubepods`` is capped at the
    node's capacity minus kube and system reservations; ``/kubepods/besteffort``
    gets the minimum CPU shares; ``/kubepods/burstable`` the shares of its pods'
    summed CPU requests. Guaranteed pods sit directly under ``/kubepods``."""

    pods_cpu_shares: int
    pods_memory_limit: int | None
    burstable_cpu_shares: int
    besteffort_cpu_shares: int = MIN_SHARES


def qos_resources(
    pods: Iterable[Obj], capacity: Mapping[str, str], reserved: Iterable[Mapping[str, str]]
) -> QOSResources:
    """The QoS cgroups' resources for the node's ``capacity``, the reservations
    (``--kube-reserved``, ``--system-reserved``) and its active pods."""
    reservations = list(reserved)

    def left(name: str) -> Fraction | None:
        if name not in capacity:
            return None
        minus = sum((_q(r.get(name)) for r in reservations), Fraction(0))
        return max(_q(capacity[name]) - minus, Fraction(0))

    cpu, memory = left("cpu"), left("memory")
    burstable = sum(
        (_pod_total(p, "cpu", 0) for p in pods if qos_class(p) == "Burstable"), Fraction(0)
    )
    return QOSResources(
        pods_cpu_shares=_cpu_shares(cpu) if cpu is not None else MAX_SHARES,
        pods_memory_limit=int(memory) if memory else None,
        burstable_cpu_shares=_cpu_shares(burstable),
    )


def pod_cgroup_parent(pod: Obj) -> str:
    uid = pod["metadata"]["uid"]
    qos = qos_class(pod)
    if qos == "Guaranteed":
        return f"/kubepods/pod{uid}"
    return f"/kubepods/{qos.lower()}/pod{uid}"


def container_hash(container: Obj) -> str:
    """A stable hash of the container's spec: a change means restart the container."""
    return hashlib.sha256(orjson.dumps(container, option=orjson.OPT_SORT_KEYS)).hexdigest()[:8]


def oom_score_adj(pod: Obj, container: Obj, memory_capacity: int) -> int:
    qos = qos_class(pod)
    if qos == "Guaranteed":
        return -997
    if qos == "BestEffort":
        return 1000
    requests, _ = _resources(container)
    request = int(_q(requests.get("memory")))
    if memory_capacity <= 0:
        return 999
    adj = 1000 - (1000 * request) // memory_capacity
    return max(2, min(999, int(adj)))


def linux_resources(pod: Obj, container: Obj, memory_capacity: int) -> cri.LinuxContainerResources:
    requests, limits = _resources(container)
    cpu_request = _q(requests.get("cpu"))
    cpu_limit = _q(limits.get("cpu"))
    shares = MIN_SHARES if cpu_request == 0 else int(cpu_request * 1024)
    out = cri.LinuxContainerResources(
        cpu_shares=max(MIN_SHARES, min(MAX_SHARES, shares)),
        oom_score_adj=oom_score_adj(pod, container, memory_capacity),
    )
    if cpu_limit > 0:
        out.cpu_period = CPU_PERIOD_US
        out.cpu_quota = max(1000, int(cpu_limit * CPU_PERIOD_US))
    memory_limit = int(_q(limits.get("memory")))
    if memory_limit > 0:
        out.memory_limit_in_bytes = memory_limit
    return out


def _namespace_options(pod: Obj) -> cri.NamespaceOption:
    spec = pod.get("spec") or {}
    pid = cri.CONTAINER
    if spec.get("hostPID"):
        pid = cri.NODE
    elif spec.get("shareProcessNamespace"):
        pid = cri.POD
    return cri.NamespaceOption(
        network=cri.NODE if spec.get("hostNetwork") else cri.POD,
        pid=pid,
        ipc=cri.NODE if spec.get("hostIPC") else cri.POD,
    )


def pod_labels(pod: Obj) -> dict[str, str]:
    meta = pod["metadata"]
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    labels.update(
        {
            LABEL_POD_NAME: meta["name"],
            LABEL_POD_NAMESPACE: meta.get("namespace", "default"),
            LABEL_POD_UID: meta["uid"],
        }
    )
    return labels


def sandbox_config(
    pod: Obj,
    *,
    attempt: int,
    hostname: str,
    log_directory: str,
    dns: tuple[list[str], list[str], list[str]] | None,
) -> cri.PodSandboxConfig:
    """The PodSandboxConfig for ``pod``; ``dns`` is (servers, searches, options),
    None for host networking (the host's resolv.conf)."""
    meta = pod["metadata"]
    spec = pod.get("spec") or {}
    sc = spec.get("securityContext") or {}
    ports: list[cri.PortMapping] = []
    for c in spec.get("containers") or []:
        for p in c.get("ports") or []:
            if not p.get("hostPort"):
                continue
            ports.append(
                cri.PortMapping(
                    protocol=_PROTOCOLS.get(p.get("protocol", "TCP"), cri.TCP),
                    container_port=int(p["containerPort"]),
                    host_port=int(p["hostPort"]),
                    host_ip=p.get("hostIP", ""),
                )
            )
    security = cri.LinuxSandboxSecurityContext(namespace_options=_namespace_options(pod))
    if sc.get("runAsUser") is not None:
        security.run_as_user.value = int(sc["runAsUser"])
    if sc.get("runAsGroup") is not None:
        security.run_as_group.value = int(sc["runAsGroup"])
    groups = [int(g) for g in sc.get("supplementalGroups") or []]
    if sc.get("fsGroup") is not None:
        groups.append(int(sc["fsGroup"]))
    security.supplemental_groups.extend(groups)
    linux = cri.LinuxPodSandboxConfig(
        cgroup_parent=pod_cgroup_parent(pod),
        security_context=security,
        sysctls={s["name"]: str(s.get("value", "")) for s in sc.get("sysctls") or []},
    )
    annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    config = cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(
            name=meta["name"], uid=meta["uid"], namespace=meta.get("namespace", "default"),
            attempt=attempt,
        ),
        hostname=hostname,
        log_directory=log_directory,
        port_mappings=ports,
        labels=pod_labels(pod),
        annotations=annotations,
        linux=linux,
    )  # fmt: skip
    if dns is not None:
        servers, searches, options = dns
        config.dns_config.CopyFrom(
            cri.DNSConfig(servers=servers, searches=searches, options=options)
        )
    return config


def _security_context(pod: Obj, container: Obj) -> cri.LinuxContainerSecurityContext:
    psc = (pod.get("spec") or {}).get("securityContext") or {}
    csc = container.get("securityContext") or {}
    out = cri.LinuxContainerSecurityContext(namespace_options=_namespace_options(pod))
    privileged = bool(csc.get("privileged"))
    out.privileged = privileged
    run_as_user = csc.get("runAsUser", psc.get("runAsUser"))
    if run_as_user is not None:
        out.run_as_user.value = int(run_as_user)
    run_as_group = csc.get("runAsGroup", psc.get("runAsGroup"))
    if run_as_group is not None:
        out.run_as_group.value = int(run_as_group)
    groups = [int(g) for g in psc.get("supplementalGroups") or []]
    if psc.get("fsGroup") is not None:
        groups.append(int(psc["fsGroup"]))
    out.supplemental_groups.extend(groups)
    out.readonly_rootfs = bool(csc.get("readOnlyRootFilesystem"))
    caps = csc.get("capabilities") or {}
    if caps:
        out.capabilities.CopyFrom(
            cri.Capability(
                add_capabilities=[str(c) for c in caps.get("add") or []],
                drop_capabilities=[str(c) for c in caps.get("drop") or []],
            )
        )
    if csc.get("allowPrivilegeEscalation") is False:
        out.no_new_privs = True
    if not privileged and csc.get("procMount", "Default") == "Default":
        out.masked_paths.extend(MASKED_PATHS)
        out.readonly_paths.extend(READONLY_PATHS)
    return out


def container_config(
    pod: Obj,
    container: Obj,
    *,
    attempt: int,
    image: str,
    env: list[tuple[str, str]],
    mounts: list[MountSpec],
    log_path: str,
    memory_capacity: int,
) -> cri.ContainerConfig:
    meta = pod["metadata"]
    spec = pod.get("spec") or {}
    name = container["name"]
    labels = {
        LABEL_POD_NAME: meta["name"],
        LABEL_POD_NAMESPACE: meta.get("namespace", "default"),
        LABEL_POD_UID: meta["uid"],
        LABEL_CONTAINER_NAME: name,
    }
    annotations = {
        ANN_CONTAINER_HASH: container_hash(container),
        ANN_RESTART_COUNT: str(attempt),
        ANN_TERMINATION_MESSAGE_PATH: container.get(
            "terminationMessagePath", "/dev/termination-log"
        ),
        ANN_TERMINATION_MESSAGE_POLICY: container.get("terminationMessagePolicy", "File"),
        ANN_GRACE_PERIOD: str(spec.get("terminationGracePeriodSeconds", 30)),
    }
    pre_stop = (container.get("lifecycle") or {}).get("preStop")
    if pre_stop:
        annotations[ANN_PRE_STOP] = orjson.dumps(pre_stop).decode()
    return cri.ContainerConfig(
        metadata=cri.ContainerMetadata(name=name, attempt=attempt),
        image=cri.ImageSpec(image=image),
        command=[str(c) for c in container.get("command") or []],
        args=[str(a) for a in container.get("args") or []],
        working_dir=container.get("workingDir", ""),
        envs=[cri.KeyValue(key=k, value=v) for k, v in env],
        mounts=[
            cri.Mount(
                container_path=m.container_path,
                host_path=m.host_path,
                readonly=m.readonly,
                propagation=_PROPAGATION.get(m.propagation, cri.PROPAGATION_PRIVATE),
            )
            for m in mounts
        ],
        labels=labels,
        annotations=annotations,
        log_path=log_path,
        stdin=bool(container.get("stdin")),
        stdin_once=bool(container.get("stdinOnce")),
        tty=bool(container.get("tty")),
        linux=cri.LinuxContainerConfig(
            resources=linux_resources(pod, container, memory_capacity),
            security_context=_security_context(pod, container),
        ),
    )
