"""The API objects a simulated kubelet writes: Node, its status, its Lease.

Shapes follow what a v1.32 kubelet posts, so that ``kubectl get nodes`` and
``kubectl describe node`` read the same as on a real cluster; the differences
mark the node as simulated (label and annotation ``pinnace.io/simulated:
"true"``, runtime ``pinnace-sim://0``, ``providerID: pinnace-sim://<name>``).
Pure functions of their arguments (times are passed in).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from pinnace.client import Obj
from pinnace.sim.profile import NodeSpec

__all__ = [
    "DEAD",
    "KUBELET_PORT",
    "KUBELET_VERSION",
    "NODE_LEASE_NAMESPACE",
    "RUNTIME_PREFIX",
    "SIMULATED",
    "STATE_ANNOTATION",
    "build_lease",
    "build_node",
    "conditions_patch",
    "format_micro",
    "format_time",
    "node_status",
]

SIMULATED = "pinnace.io/simulated"
STATE_ANNOTATION = "pinnace.io/sim-state"
DEAD = "dead"
KUBELET_VERSION = "v1.32.0-pinnace-sim"
RUNTIME_PREFIX = "pinnace-sim://"
KUBELET_PORT = 10250
NODE_LEASE_NAMESPACE = "kube-node-lease"

# (type, status when healthy, reason, message) in the order a kubelet posts them
NODE_CONDITIONS: tuple[tuple[str, str, str, str], ...] = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory",
     "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)  # fmt: skip
HEALTHY: dict[str, str] = {t: s for t, s, _, _ in NODE_CONDITIONS}


def format_time(t: datetime) -> str:
    """``metav1.Time``: RFC 3339 in UTC, whole seconds."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro(t: datetime) -> str:
    """``metav1.MicroTime``: RFC 3339 in UTC with microseconds."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _stable_id(name: str, what: str) -> str:
    return hashlib.sha256(f"{what}:{name}".encode()).hexdigest()[:32]


def build_node(spec: NodeSpec, *, pod_cidr: str) -> Obj:
    """The Node object a kubelet registers (status is posted separately)."""
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": spec.name,
        "kubernetes.io/os": "linux",
        SIMULATED: "true",
        **spec.labels,
    }
    annotations = {
        "node.alpha.kubernetes.io/ttl": "0",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
        SIMULATED: "true",
        **spec.annotations,
    }
    node_spec: dict[str, Any] = {
        "podCIDR": pod_cidr,
        "podCIDRs": [pod_cidr],
        "providerID": f"{RUNTIME_PREFIX}{spec.name}",
    }
    if spec.taints:
        node_spec["taints"] = [dict(t) for t in spec.taints]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": spec.name, "labels": labels, "annotations": annotations},
        "spec": node_spec,
    }


def conditions_patch(now: datetime, transitioned: frozenset[str] | set[str]) -> list[Obj]:
    """The four healthy node conditions with ``lastHeartbeatTime`` now; those in
    ``transitioned`` (whose status in the API differs) also get
    ``lastTransitionTime`` now. Meant for a strategic merge patch (merge key
    ``type``), which keeps the other conditions' transition times."""
    stamp = format_time(now)
    out: list[Obj] = []
    for type_, status, reason, message in NODE_CONDITIONS:
        cond: Obj = {
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": stamp,
        }
        if type_ in transitioned:
            cond["lastTransitionTime"] = stamp
        out.append(cond)
    return out


def node_status(spec: NodeSpec, *, address: str, now: datetime) -> Obj:
    """The full status a kubelet posts after registering."""
    return {
        "capacity": dict(spec.capacity),
        "allocatable": dict(spec.allocatable),
        "conditions": conditions_patch(now, set(HEALTHY)),
        "addresses": [
            {"type": "InternalIP", "address": address},
            {"type": "Hostname", "address": spec.name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
        "nodeInfo": {
            "machineID": _stable_id(spec.name, "machine"),
            "systemUUID": str(uuid.UUID(_stable_id(spec.name, "system"))),
            "bootID": str(uuid.uuid4()),
            "kernelVersion": "6.1.0-pinnace-sim",
            "osImage": "Pinnace simulated node",
            "containerRuntimeVersion": f"{RUNTIME_PREFIX}0",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


def build_lease(node_name: str, node_uid: str | None, *, duration: int, now: datetime) -> Obj:
    """The node's heartbeat Lease in ``kube-node-lease``, owned by the Node."""
    meta: Obj = {"name": node_name, "namespace": NODE_LEASE_NAMESPACE}
    if node_uid:
        meta["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Node", "name": node_name, "uid": node_uid}
        ]
    stamp = format_micro(now)
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": {
            "holderIdentity": node_name,
            "leaseDurationSeconds": duration,
            "renewTime": stamp,
        },
    }
