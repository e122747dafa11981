"""What the scheduler knows about pods and nodes, precomputed once per object.

:class:`PodInfo` wraps a pod dict with everything plugins read on the hot path
(requests, host ports, compiled affinity terms, priority), so per-node filter
work does not re-parse the pod. :class:`NodeInfo` aggregates a node with the
pods on it (requested resources, used host ports, pods with (anti-)affinity),
updated incrementally as pods come and go. ``generation`` changes on every
mutation. ``clone()`` is what preemption uses to try "what if these pods were
gone" without touching the cache.

Objects wrapped here are the informer's dicts: read-only, never mutated.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import orjson

from pinnace.scheduler.quantity import (
    CPU,
    EPHEMERAL_STORAGE,
    MEMORY,
    PODS,
    pod_requests,
    quantity_value,
)
from pinnace.scheduler.selectors import LabelSelector

if TYPE_CHECKING:
    from pinnace.scheduler.framework.columns import NodeColumns

__all__ = [
    "AffinityTerm",
    "HostPort",
    "ImageState",
    "NodeInfo",
    "PodInfo",
    "WeightedAffinityTerm",
    "pod_priority",
]

Obj = dict[str, Any]
HostPort = tuple[str, str, int]  # (hostIP, protocol, port)
NamespaceLabels = Callable[[str], Mapping[str, str] | None]

_generation = itertools.count(1)


def pod_priority(pod: Obj) -> int:
    p = (pod.get("spec") or {}).get("priority")
    return int(p) if isinstance(p, int) else 0


class AffinityTerm:
    """A compiled ``PodAffinityTerm`` (upstream ``framework.AffinityTerm``)."""

    __slots__ = ("namespace_selector", "namespaces", "selector", "topology_key")

    def __init__(self, term: Mapping[str, Any], pod_namespace: str, pod_labels: Mapping[str, str]):
        self.topology_key = str(term.get("topologyKey") or "")
        sel = LabelSelector.from_api(term.get("labelSelector"))
        extra = []
        from pinnace.scheduler.selectors import Requirement

        for key in term.get("matchLabelKeys") or []:
            if key in pod_labels:
                extra.append(Requirement(key, "In", [pod_labels[key]]))
        for key in term.get("mismatchLabelKeys") or []:
            if key in pod_labels:
                extra.append(Requirement(key, "NotIn", [pod_labels[key]]))
        self.selector = (
            sel.with_requirements(extra) if term.get("labelSelector") is not None else sel
        )
        namespaces = set(term.get("namespaces") or [])
        ns_sel = term.get("namespaceSelector")
        self.namespace_selector = LabelSelector.from_api(ns_sel) if ns_sel is not None else None
        if not namespaces and ns_sel is None:
            namespaces = {pod_namespace}
        self.namespaces = frozenset(namespaces)

    def matches(self, pod: PodInfo, ns_labels: NamespaceLabels) -> bool:
        if pod.namespace not in self.namespaces:
            if self.namespace_selector is None or self.namespace_selector.nothing:
                return False
            if not self.namespace_selector.empty and not self.namespace_selector.matches(
                ns_labels(pod.namespace)
            ):
                return False
        return self.selector.matches(pod.labels)


class WeightedAffinityTerm:
    __slots__ = ("term", "weight")

    def __init__(self, term: AffinityTerm, weight: int) -> None:
        self.term = term
        self.weight = weight


def _terms(
    terms: Iterable[Mapping[str, Any]] | None, ns: str, labels: Mapping[str, str]
) -> list[AffinityTerm]:
    return [AffinityTerm(t, ns, labels) for t in terms or []]


def _weighted(
    terms: Iterable[Mapping[str, Any]] | None, ns: str, labels: Mapping[str, str]
) -> list[WeightedAffinityTerm]:
    out = []
    for wt in terms or []:
        weight = int(wt.get("weight") or 0)
        if weight:
            out.append(
                WeightedAffinityTerm(
                    AffinityTerm(wt.get("podAffinityTerm") or {}, ns, labels), weight
                )
            )
    return out


# (containers, initContainers, overhead) as JSON -> (requests, non-zero cpu,
# non-zero memory). The pods of one template have the same requests, and a pod
# is wrapped again on every update the informer sees (bound, then running):
# parsing its quantities was most of a PodInfo. The requests dicts are shared,
# so PodInfo exposes them read-only.
_REQUESTS: dict[bytes, tuple[Mapping[str, int], int, int]] = {}
_REQUESTS_MAX = 4096  # emptied when full


def _requests_of(spec: Obj, pod: Obj) -> tuple[Mapping[str, int], int, int]:
    try:
        key = orjson.dumps(
            (spec.get("containers"), spec.get("initContainers"), spec.get("overhead"))
        )
    except TypeError:
        key = None
    hit = _REQUESTS.get(key) if key is not None else None
    if hit is not None:
        return hit
    nz = pod_requests(pod, non_zero=True)
    out = (MappingProxyType(pod_requests(pod)), nz.get(CPU, 0), nz.get(MEMORY, 0))
    if key is not None:
        if len(_REQUESTS) >= _REQUESTS_MAX:
            _REQUESTS.clear()
        _REQUESTS[key] = out
    return out


class PodInfo:
    """A pod plus the facts the plugins need, computed once."""

    __slots__ = (
        "host_ports",
        "key",
        "labels",
        "name",
        "namespace",
        "node_name",
        "non_zero_cpu",
        "non_zero_mem",
        "pod",
        "preferred_affinity_terms",
        "preferred_anti_affinity_terms",
        "priority",
        "req_cpu",
        "req_mem",
        "req_other",
        "requests",
        "required_affinity_terms",
        "required_anti_affinity_terms",
        "uid",
    )

    def __init__(self, pod: Obj) -> None:
        self.pod = pod
        m = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        self.uid = str(m.get("uid") or "")
        self.name = str(m.get("name") or "")
        self.namespace = str(m.get("namespace") or "")
        self.key = f"{self.namespace}/{self.name}"
        self.labels: Mapping[str, str] = m.get("labels") or {}
        self.node_name = str(spec.get("nodeName") or "")
        self.priority = pod_priority(pod)
        requests, self.non_zero_cpu, self.non_zero_mem = _requests_of(spec, pod)
        self.requests: Mapping[str, int] = requests
        # plain ints for the filter/score hot paths
        self.req_cpu = requests.get(CPU, 0)
        self.req_mem = requests.get(MEMORY, 0)
        self.req_other = tuple(
            (k, v) for k, v in requests.items() if v > 0 and k not in (CPU, MEMORY, PODS)
        )
        ports: list[HostPort] = []
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            for p in c.get("ports") or []:
                hp = p.get("hostPort")
                if hp:
                    ports.append(
                        (p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", int(hp))
                    )
        self.host_ports = ports
        aff = spec.get("affinity") or {}
        pa = aff.get("podAffinity") or {}
        paa = aff.get("podAntiAffinity") or {}
        ns, labels = self.namespace, self.labels
        self.required_affinity_terms = _terms(
            pa.get("requiredDuringSchedulingIgnoredDuringExecution"), ns, labels
        )
        self.required_anti_affinity_terms = _terms(
            paa.get("requiredDuringSchedulingIgnoredDuringExecution"), ns, labels
        )
        self.preferred_affinity_terms = _weighted(
            pa.get("preferredDuringSchedulingIgnoredDuringExecution"), ns, labels
        )
        self.preferred_anti_affinity_terms = _weighted(
            paa.get("preferredDuringSchedulingIgnoredDuringExecution"), ns, labels
        )

    @property
    def has_affinity(self) -> bool:
        return bool(
            self.required_affinity_terms
            or self.required_anti_affinity_terms
            or self.preferred_affinity_terms
            or self.preferred_anti_affinity_terms
        )

    @property
    def spec(self) -> Obj:
        s: Obj = self.pod.get("spec") or {}
        return s

    @property
    def terminating(self) -> bool:
        return bool((self.pod.get("metadata") or {}).get("deletionTimestamp"))

    def __repr__(self) -> str:
        return f"PodInfo({self.key})"


class ImageState:
    """Size of an image and how many nodes have it (upstream ImageStateSummary)."""

    __slots__ = ("nodes", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.nodes: set[str] = set()


def _resources(rl: Mapping[str, Any] | None) -> dict[str, int]:
    return {str(k): quantity_value(str(k), v) for k, v in (rl or {}).items()}


class NodeInfo:
    """A node and the pods placed (or assumed) on it."""

    __slots__ = (
        "alloc_cpu",
        "alloc_mem",
        "alloc_pods",
        "allocatable",
        "cols",
        "free_cpu",
        "free_mem",
        "free_pods",
        "generation",
        "images",
        "labels",
        "name",
        "node",
        "non_zero_cpu",
        "non_zero_mem",
        "pods",
        "pods_with_affinity",
        "pods_with_required_anti_affinity",
        "pos",
        "req_cpu",
        "req_mem",
        "requested",
        "taints",
        "unschedulable",
        "used_ports",
    )

    def __init__(self, node: Obj | None = None) -> None:
        self.node: Obj = {}
        self.name = ""
        self.labels: Mapping[str, str] = {}
        self.taints: list[Mapping[str, Any]] = []
        self.unschedulable = False
        self.allocatable: dict[str, int] = {}
        # allocatable and requested cpu/memory/pods as plain ints (hot paths);
        # ``allocatable``/``requested`` hold every resource
        self.alloc_cpu = self.alloc_mem = self.alloc_pods = 0
        self.images: dict[str, int] = {}  # normalized image name -> size
        self.requested: dict[str, int] = {}
        self.req_cpu = self.req_mem = 0
        # allocatable minus requested (and pod slots left): what Filter compares against
        self.free_cpu = self.free_mem = self.free_pods = 0
        self.non_zero_cpu = 0
        self.non_zero_mem = 0
        self.pods: dict[str, PodInfo] = {}
        self.pods_with_affinity: dict[str, PodInfo] = {}
        self.pods_with_required_anti_affinity: dict[str, PodInfo] = {}
        self.used_ports: dict[HostPort, int] = {}
        self.generation = next(_generation)
        # row in the snapshot's NodeColumns, while in its node list (else -1)
        self.pos = -1
        self.cols: NodeColumns | None = None
        if node is not None:
            self.set_node(node)

    def set_node(self, node: Obj) -> None:
        self.node = node
        m = node.get("metadata") or {}
        spec = node.get("spec") or {}
        status = node.get("status") or {}
        self.name = str(m.get("name") or "")
        self.labels = m.get("labels") or {}
        self.taints = list(spec.get("taints") or [])
        self.unschedulable = bool(spec.get("unschedulable"))
        self.allocatable = _resources(status.get("allocatable") or status.get("capacity"))
        self.alloc_cpu = self.allocatable.get(CPU, 0)
        self.alloc_mem = self.allocatable.get(MEMORY, 0)
        self.alloc_pods = self.allocatable.get(PODS, 0)
        self._refresh_free()
        images: dict[str, int] = {}
        for img in status.get("images") or []:
            size = int(img.get("sizeBytes") or 0)
            for n in img.get("names") or []:
                images[normalized_image_name(n)] = size
        self.images = images
        self.generation = next(_generation)

    def _refresh_free(self) -> None:
        self.free_cpu = self.alloc_cpu - self.req_cpu
        self.free_mem = self.alloc_mem - self.req_mem
        self.free_pods = self.alloc_pods - len(self.pods)

    @property
    def allowed_pods(self) -> int:
        return self.alloc_pods

    def add_pod(self, pi: PodInfo) -> None:
        if pi.uid in self.pods:
            self.remove_pod(pi)
        self.pods[pi.uid] = pi
        if pi.has_affinity:
            self.pods_with_affinity[pi.uid] = pi
        if pi.required_anti_affinity_terms:
            self.pods_with_required_anti_affinity[pi.uid] = pi
        req = self.requested
        for k, v in pi.requests.items():
            req[k] = req.get(k, 0) + v
        self.req_cpu += pi.req_cpu
        self.req_mem += pi.req_mem
        self.non_zero_cpu += pi.non_zero_cpu
        self.non_zero_mem += pi.non_zero_mem
        for hp in pi.host_ports:
            self.used_ports[hp] = self.used_ports.get(hp, 0) + 1
        self._refresh_free()
        self.generation = next(_generation)

    def remove_pod(self, pi: PodInfo) -> bool:
        old = self.pods.pop(pi.uid, None)
        if old is None:
            return False
        self.pods_with_affinity.pop(pi.uid, None)
        self.pods_with_required_anti_affinity.pop(pi.uid, None)
        req = self.requested
        for k, v in old.requests.items():
            req[k] = req.get(k, 0) - v
        self.req_cpu -= old.req_cpu
        self.req_mem -= old.req_mem
        self.non_zero_cpu -= old.non_zero_cpu
        self.non_zero_mem -= old.non_zero_mem
        for hp in old.host_ports:
            n = self.used_ports.get(hp, 0) - 1
            if n > 0:
                self.used_ports[hp] = n
            else:
                self.used_ports.pop(hp, None)
        self._refresh_free()
        self.generation = next(_generation)
        return True

    def clone(self) -> NodeInfo:
        c = NodeInfo.__new__(NodeInfo)
        c.node = self.node
        c.name = self.name
        c.labels = self.labels
        c.taints = self.taints
        c.unschedulable = self.unschedulable
        c.allocatable = self.allocatable
        c.alloc_cpu = self.alloc_cpu
        c.alloc_mem = self.alloc_mem
        c.alloc_pods = self.alloc_pods
        c.images = self.images
        c.requested = dict(self.requested)
        c.req_cpu = self.req_cpu
        c.req_mem = self.req_mem
        c.free_cpu = self.free_cpu
        c.free_mem = self.free_mem
        c.free_pods = self.free_pods
        c.non_zero_cpu = self.non_zero_cpu
        c.non_zero_mem = self.non_zero_mem
        c.pods = dict(self.pods)
        c.pods_with_affinity = dict(self.pods_with_affinity)
        c.pods_with_required_anti_affinity = dict(self.pods_with_required_anti_affinity)
        c.used_ports = dict(self.used_ports)
        c.generation = self.generation
        c.pos = -1  # a clone has no row in the columns
        c.cols = None
        return c

    def requested_of(self, resource: str) -> int:
        return self.requested.get(resource, 0)

    def __repr__(self) -> str:
        return f"NodeInfo({self.name}, pods={len(self.pods)})"


def normalized_image_name(name: str) -> str:
    """Upstream ImageLocality: an image without tag or digest means ``:latest``."""
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in name:
        return name + ":latest"
    return name


__all__ += ["CPU", "EPHEMERAL_STORAGE", "MEMORY", "normalized_image_name"]
