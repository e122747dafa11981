"""Table cells for core/v1 kinds, computed as upstream's ``kubectl get``
printers compute them (``pkg/printers/internalversion``), with the server-side
"wide" options (the apiserver always renders every column; kubectl hides
priority-1 columns unless ``-o wide``).

Every function takes the object as a JSON dict and returns one cell.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pinnace.api.printers import (
    NONE,
    UNKNOWN,
    dig,
    format_labels,
    parse_time,
    translate_timestamp_since,
)

Obj = Mapping[str, Any]

NODE_ROLE_PREFIX = "node-role.kubernetes.io/"
NODE_ROLE_LABEL = "kubernetes.io/role"
NODE_UNREACHABLE_POD_REASON = "NodeLost"
STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


# ---------------------------------------------------------------------------
# Pods


def _is_restartable_init(container: Obj | None) -> bool:
    return bool(container) and (container or {}).get("restartPolicy") == "Always"


def _later(a: datetime | None, b: Any) -> datetime | None:
    t = parse_time(b)
    if t is None:
        return a
    return t if a is None or t > a else a


# the three pod columns share one summary: remember the last pod's (a Table row
# asks for it three times in a row for the same object)
_last_summary: tuple[Obj | None, dict[str, Any]] = (None, {})


def pod_summary(pod: Obj) -> dict[str, Any]:
    """READY, STATUS and RESTARTS of a pod, computed like upstream's printPod."""
    global _last_summary
    if _last_summary[0] is pod:
        return _last_summary[1]
    summary = _pod_summary(pod)
    _last_summary = (pod, summary)
    return summary


def _pod_summary(pod: Obj) -> dict[str, Any]:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    containers = spec.get("containers") or []
    init_specs = spec.get("initContainers") or []
    conditions = status.get("conditions") or []

    restarts = 0
    sidecar_restarts = 0
    total = len(containers)
    ready = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for cond in conditions:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    inits = {c.get("name"): c for c in init_specs}
    total += sum(1 for c in init_specs if _is_restartable_init(c))

    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += int(cs.get("restartCount") or 0)
        last_term = dig(cs, "lastState", "terminated")
        if last_term:
            last_restart = _later(last_restart, last_term.get("finishedAt"))
        sidecar = _is_restartable_init(inits.get(cs.get("name")))
        if sidecar:
            sidecar_restarts += int(cs.get("restartCount") or 0)
            if last_term:
                last_sidecar_restart = _later(last_sidecar_restart, last_term.get("finishedAt"))
        term = dig(cs, "state", "terminated")
        waiting = dig(cs, "state", "waiting")
        if term and int(term.get("exitCode") or 0) == 0:
            continue
        if sidecar and cs.get("started"):
            if cs.get("ready"):
                ready += 1
            continue
        if term:
            if not term.get("reason"):
                if term.get("signal"):
                    reason = f"Init:Signal:{term['signal']}"
                else:
                    reason = f"Init:ExitCode:{int(term.get('exitCode') or 0)}"
            else:
                reason = f"Init:{term['reason']}"
        elif waiting and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    initialized = any(
        c.get("type") == "Initialized" and c.get("status") == "True" for c in conditions
    )
    if not initializing or initialized:
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount") or 0)
            last_term = dig(cs, "lastState", "terminated")
            if last_term:
                last_restart = _later(last_restart, last_term.get("finishedAt"))
            waiting = dig(cs, "state", "waiting")
            term = dig(cs, "state", "terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif term and term.get("reason"):
                reason = term["reason"]
            elif term:
                if term.get("signal"):
                    reason = f"Signal:{term['signal']}"
                else:
                    reason = f"ExitCode:{int(term.get('exitCode') or 0)}"
            elif cs.get("ready") and dig(cs, "state", "running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
            )
            reason = "Running" if pod_ready else "NotReady"

    deleting = dig(pod, "metadata", "deletionTimestamp") is not None
    if deleting and status.get("reason") == NODE_UNREACHABLE_POD_REASON:
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({translate_timestamp_since(last_restart.isoformat())} ago)"
    return {
        "ready": f"{ready}/{total}",
        "status": reason,
        "restarts": restarts_text,
    }


def pod_ready(pod: Obj) -> str:
    return str(pod_summary(pod)["ready"])


def pod_status(pod: Obj) -> str:
    return str(pod_summary(pod)["status"])


def pod_restarts(pod: Obj) -> str:
    return str(pod_summary(pod)["restarts"])


def pod_ip(pod: Obj) -> str:
    return str(dig(pod, "status", "podIPs", 0, "ip", default="") or NONE)


def pod_node(pod: Obj) -> str:
    return str(dig(pod, "spec", "nodeName", default="") or NONE)


def pod_nominated_node(pod: Obj) -> str:
    return str(dig(pod, "status", "nominatedNodeName", default="") or NONE)


def pod_readiness_gates(pod: Obj) -> str:
    gates = dig(pod, "spec", "readinessGates", default=[])
    if not gates:
        return NONE
    conditions = dig(pod, "status", "conditions", default=[])
    true_count = 0
    for gate in gates:
        for cond in conditions:
            if cond.get("type") == gate.get("conditionType"):
                if cond.get("status") == "True":
                    true_count += 1
                break
    return f"{true_count}/{len(gates)}"


# ---------------------------------------------------------------------------
# Pod templates and replication controllers


def _containers_of(template: Any) -> list[Obj]:
    return list(dig(template, "spec", "containers", default=[]))


def container_names(template: Any) -> str:
    return ",".join(str(c.get("name", "")) for c in _containers_of(template))


def container_images(template: Any) -> str:
    return ",".join(str(c.get("image", "")) for c in _containers_of(template))


def podtemplate_containers(obj: Obj) -> str:
    return container_names(obj.get("template"))


def podtemplate_images(obj: Obj) -> str:
    return container_images(obj.get("template"))


def podtemplate_labels(obj: Obj) -> str:
    return format_labels(dig(obj, "template", "metadata", "labels"))


def rc_desired(obj: Obj) -> int:
    return int(dig(obj, "spec", "replicas", default=0))


def rc_current(obj: Obj) -> int:
    return int(dig(obj, "status", "replicas", default=0))


def rc_ready(obj: Obj) -> int:
    return int(dig(obj, "status", "readyReplicas", default=0))


def rc_containers(obj: Obj) -> str:
    return container_names(dig(obj, "spec", "template"))


def rc_images(obj: Obj) -> str:
    return container_images(dig(obj, "spec", "template"))


def rc_selector(obj: Obj) -> str:
    return format_labels(dig(obj, "spec", "selector"))


# ---------------------------------------------------------------------------
# Services and endpoints


def service_type(svc: Obj) -> str:
    return str(dig(svc, "spec", "type", default=""))


def service_cluster_ip(svc: Obj) -> str:
    return str(dig(svc, "spec", "clusterIPs", 0, default="") or NONE)


def _load_balancer_ips(svc: Obj) -> list[str]:
    found: set[str] = set()
    for ing in dig(svc, "status", "loadBalancer", "ingress", default=[]):
        if ing.get("ip"):
            found.add(ing["ip"])
        elif ing.get("hostname"):
            found.add(ing["hostname"])
    return sorted(found)


def service_external_ip(svc: Obj) -> str:
    spec = svc.get("spec") or {}
    external = list(spec.get("externalIPs") or [])
    kind = spec.get("type")
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else NONE
    if kind == "LoadBalancer":
        lb = _load_balancer_ips(svc)
        if external:
            return ",".join(lb + external)
        if lb:
            return ",".join(lb)
        return "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName") or "")
    return UNKNOWN


def service_ports(svc: Obj) -> str:
    pieces = []
    for p in dig(svc, "spec", "ports", default=[]):
        proto = p.get("protocol") or ""
        if int(p.get("nodePort") or 0) > 0:
            pieces.append(f"{p.get('port')}:{p['nodePort']}/{proto}")
        else:
            pieces.append(f"{p.get('port')}/{proto}")
    return ",".join(pieces) or NONE


def service_selector(svc: Obj) -> str:
    return format_labels(dig(svc, "spec", "selector"))


def _join_host_port(host: str, port: Any) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def endpoints_summary(obj: Obj, limit: int = 3) -> str:
    subsets = obj.get("subsets") or []
    if not subsets:
        return NONE
    shown: list[str] = []
    more = False
    count = 0
    for ss in subsets:
        addresses = ss.get("addresses") or []
        ports = ss.get("ports") or []
        if not ports:
            count += len(addresses)
            for a in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(str(a.get("ip", "")))
            continue
        for p in ports:
            count += len(addresses)
            for a in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(_join_host_port(str(a.get("ip", "")), p.get("port")))
    text = ",".join(shown)
    if more:
        return f"{text} + {count - limit} more..."
    return text


# ---------------------------------------------------------------------------
# Config and identity


def configmap_data(obj: Obj) -> int:
    return len(obj.get("data") or {}) + len(obj.get("binaryData") or {})


def secret_type(obj: Obj) -> str:
    return str(obj.get("type") or "")


def secret_data(obj: Obj) -> int:
    return len(obj.get("data") or {})


def serviceaccount_secrets(obj: Obj) -> int:
    return len(obj.get("secrets") or [])


def namespace_status(obj: Obj) -> str:
    return str(dig(obj, "status", "phase", default=""))


# ---------------------------------------------------------------------------
# Nodes


def node_status(node: Obj) -> str:
    parts: list[str] = []
    for cond in dig(node, "status", "conditions", default=[]):
        if cond.get("type") == "Ready":
            parts = ["Ready" if cond.get("status") == "True" else "NotReady"]
    if not parts:
        parts = ["Unknown"]
    if dig(node, "spec", "unschedulable"):
        parts.append("SchedulingDisabled")
    return ",".join(parts)


def node_roles(node: Obj) -> str:
    roles: set[str] = set()
    for k, v in (dig(node, "metadata", "labels", default={}) or {}).items():
        if k.startswith(NODE_ROLE_PREFIX):
            role = k[len(NODE_ROLE_PREFIX) :]
            if role:
                roles.add(role)
        elif k == NODE_ROLE_LABEL and v:
            roles.add(v)
    return ",".join(sorted(roles)) or NONE


def node_version(node: Obj) -> str:
    return str(dig(node, "status", "nodeInfo", "kubeletVersion", default=""))


def _node_address(node: Obj, kind: str) -> str:
    for a in dig(node, "status", "addresses", default=[]):
        if a.get("type") == kind:
            return str(a.get("address", ""))
    return NONE


def node_internal_ip(node: Obj) -> str:
    return _node_address(node, "InternalIP")


def node_external_ip(node: Obj) -> str:
    return _node_address(node, "ExternalIP")


def _node_info(node: Obj, key: str) -> str:
    return str(dig(node, "status", "nodeInfo", key, default="") or UNKNOWN)


def node_os_image(node: Obj) -> str:
    return _node_info(node, "osImage")


def node_kernel_version(node: Obj) -> str:
    return _node_info(node, "kernelVersion")


def node_container_runtime(node: Obj) -> str:
    return _node_info(node, "containerRuntimeVersion")


# ---------------------------------------------------------------------------
# Events


def _event_first_seen(ev: Obj) -> str:
    if ev.get("firstTimestamp"):
        return translate_timestamp_since(ev["firstTimestamp"])
    return translate_timestamp_since(ev.get("eventTime"))


def event_last_seen(ev: Obj) -> str:
    if ev.get("series"):
        return translate_timestamp_since(dig(ev, "series", "lastObservedTime"))
    if ev.get("lastTimestamp"):
        return translate_timestamp_since(ev["lastTimestamp"])
    return _event_first_seen(ev)


def event_first_seen(ev: Obj) -> str:
    return _event_first_seen(ev)


def event_count(ev: Obj) -> int:
    if ev.get("series"):
        return int(dig(ev, "series", "count", default=0))
    return int(ev.get("count") or 0) or 1


def event_type(ev: Obj) -> str:
    return str(ev.get("type") or "")


def event_reason(ev: Obj) -> str:
    return str(ev.get("reason") or "")


def event_object(ev: Obj) -> str:
    kind = str(dig(ev, "involvedObject", "kind", default="")).lower()
    name = dig(ev, "involvedObject", "name", default="")
    return f"{kind}/{name}" if name else kind


def event_subobject(ev: Obj) -> str:
    return str(dig(ev, "involvedObject", "fieldPath", default=""))


def event_source(ev: Obj) -> str:
    component = dig(ev, "source", "component", default="") or ev.get("reportingComponent") or ""
    instance = dig(ev, "source", "host", default="") or ev.get("reportingInstance") or ""
    if not component:
        return UNKNOWN
    return f"{component}, {instance}" if instance else str(component)


def event_message(ev: Obj) -> str:
    return str(ev.get("message") or "").strip()


def event_name(ev: Obj) -> str:
    return str(dig(ev, "metadata", "name", default=""))


# ---------------------------------------------------------------------------
# Storage


_ACCESS_MODES = (
    ("ReadWriteOnce", "RWO"),
    ("ReadOnlyMany", "ROX"),
    ("ReadWriteMany", "RWX"),
    ("ReadWriteOncePod", "RWOP"),
)


def access_modes(modes: Any) -> str:
    present = set(modes or [])
    return ",".join(short for mode, short in _ACCESS_MODES if mode in present)


def _storage_class(obj: Obj) -> str:
    ann = dig(obj, "metadata", "annotations", default={}) or {}
    if STORAGE_CLASS_ANNOTATION in ann:
        return str(ann[STORAGE_CLASS_ANNOTATION])
    return str(dig(obj, "spec", "storageClassName", default=""))


def pv_capacity(pv: Obj) -> str:
    return str(dig(pv, "spec", "capacity", "storage", default="0"))


def pv_access_modes(pv: Obj) -> str:
    return access_modes(dig(pv, "spec", "accessModes"))


def pv_reclaim_policy(pv: Obj) -> str:
    return str(dig(pv, "spec", "persistentVolumeReclaimPolicy", default=""))


def pv_status(pv: Obj) -> str:
    if dig(pv, "metadata", "deletionTimestamp") is not None:
        return "Terminating"
    return str(dig(pv, "status", "phase", default=""))


def pv_claim(pv: Obj) -> str:
    ref = dig(pv, "spec", "claimRef")
    if not ref:
        return ""
    return f"{ref.get('namespace', '')}/{ref.get('name', '')}"


def pv_storage_class(pv: Obj) -> str:
    return _storage_class(pv)


def volume_attributes_class(obj: Obj) -> str:
    value = dig(obj, "spec", "volumeAttributesClassName")
    return "<unset>" if value is None else str(value)


def pv_reason(pv: Obj) -> str:
    return str(dig(pv, "status", "reason", default=""))


def volume_mode(obj: Obj) -> str:
    value = dig(obj, "spec", "volumeMode")
    return "<unset>" if value is None else str(value)


def pvc_status(pvc: Obj) -> str:
    if dig(pvc, "metadata", "deletionTimestamp") is not None:
        return "Terminating"
    return str(dig(pvc, "status", "phase", default=""))


def pvc_volume(pvc: Obj) -> str:
    return str(dig(pvc, "spec", "volumeName", default=""))


def pvc_capacity(pvc: Obj) -> str:
    if not dig(pvc, "spec", "volumeName"):
        return ""
    return str(dig(pvc, "status", "capacity", "storage", default="0"))


def pvc_access_modes(pvc: Obj) -> str:
    if not dig(pvc, "spec", "volumeName"):
        return ""
    return access_modes(dig(pvc, "status", "accessModes"))


def pvc_storage_class(pvc: Obj) -> str:
    return _storage_class(pvc)


# ---------------------------------------------------------------------------
# Limits and quotas


def limitrange_created_at(obj: Obj) -> str:
    t = parse_time(dig(obj, "metadata", "creationTimestamp"))
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else ""


def _quota_column(obj: Obj, limits: bool) -> str:
    hard = dig(obj, "status", "hard", default={}) or {}
    used = dig(obj, "status", "used", default={}) or {}
    parts = []
    for res in sorted(hard):
        pieces = res.split(".")
        is_limit = len(pieces) > 1 and pieces[0] == "limits"
        if is_limit == limits:
            parts.append(f"{res}: {used.get(res, '0')}/{hard[res]}")
    return ", ".join(parts)


def quota_request(obj: Obj) -> str:
    return _quota_column(obj, limits=False)


def quota_limit(obj: Obj) -> str:
    return _quota_column(obj, limits=True)
