"""NodeResourcesFit (PreFilter, Filter, PreScore, Score).

Filter: the pod's requests (init containers, sidecars, overhead; see
:func:`pinnace.scheduler.quantity.pod_requests`) must fit in what the node's
allocatable leaves after the requests of the pods already there, and the node
must have room for one more pod. Reasons are upstream's (``Insufficient cpu``,
``Too many pods`` ...); a request larger than the whole allocatable makes the
status ``UnschedulableAndUnresolvable`` (preemption cannot help).

Score: ``scoringStrategy`` from ``NodeResourcesFitArgs`` — ``LeastAllocated``
(default, cpu and memory weight 1), ``MostAllocated`` or
``RequestedToCapacityRatio``; pods without cpu/memory requests count as
100m/200Mi here only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pinnace.scheduler.config import ConfigError
from pinnace.scheduler.framework.columns import EXACT_LIMIT, node_positions
from pinnace.scheduler.framework.interface import CycleState, PreFilterResult
from pinnace.scheduler.framework.status import Status
from pinnace.scheduler.framework.types import NodeInfo, PodInfo
from pinnace.scheduler.plugins import _resource_allocation as ra
from pinnace.scheduler.quantity import CPU, EPHEMERAL_STORAGE, MEMORY, PODS

NAME = "NodeResourcesFit"
_PRESCORE_KEY = "PreScore" + NAME


class NodeResourcesFit:
    name = NAME

    def __init__(self, args: Mapping[str, Any]) -> None:
        self.ignored = set(args.get("ignoredResources") or [])
        self.ignored_groups = set(args.get("ignoredResourceGroups") or [])
        errs = ra.validate_fit_args(args)
        if errs:
            raise ConfigError(ra.config_error("NodeResourcesFitArgs", errs))
        strategy = args.get("scoringStrategy") or {}
        self.strategy = str(strategy.get("type") or ra.LEAST_ALLOCATED)
        self.resources = ra.resource_specs(strategy.get("resources"))
        if self.strategy == ra.LEAST_ALLOCATED:
            self.scorer: ra.Scorer = ra.least_allocated
        elif self.strategy == ra.MOST_ALLOCATED:
            self.scorer = ra.most_allocated
        else:  # RequestedToCapacityRatio, with a shape (validated above)
            self.scorer = ra.requested_to_capacity_ratio(
                strategy["requestedToCapacityRatio"]["shape"]
            )

    # --- filter --------------------------------------------------------------------------

    def pre_filter(
        self, state: CycleState, pod: PodInfo
    ) -> tuple[PreFilterResult | None, Status | None]:
        return None, None  # requests are precomputed on the PodInfo

    def _ignored(self, name: str) -> bool:
        if not ra.is_extended(name):
            return False
        return name in self.ignored or name.split("/", 1)[0] in self.ignored_groups

    def filter_nodes(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> list[Status | None]:
        """``filter`` per node; a node with room for the pod's cpu, memory and one
        more pod is accepted from plain ints, any other goes through ``filter``."""
        slow = self.filter
        if pod.req_other:
            return [slow(state, pod, n) for n in nodes]
        cpu, mem = pod.req_cpu, pod.req_mem
        exact = -EXACT_LIMIT < cpu < EXACT_LIMIT and -EXACT_LIMIT < mem < EXACT_LIMIT
        found = node_positions(nodes, state) if exact else None
        if found is not None:  # the same three comparisons over the columns
            cols, idx = found
            room = (
                (cols.free_pods[idx] > 0)
                & (cols.free_cpu[idx] >= cpu)
                & (cols.free_mem[idx] >= mem)
            )
            if room.all():
                return [None] * len(nodes)
            return [
                None if ok else slow(state, pod, n)
                for ok, n in zip(room.tolist(), nodes, strict=True)
            ]
        return [
            None
            if n.free_pods > 0 and cpu <= n.free_cpu and mem <= n.free_mem
            else slow(state, pod, n)
            for n in nodes
        ]

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        reasons: list[str] = []
        unresolvable = False
        if len(node.pods) + 1 > node.allowed_pods:
            reasons.append("Too many pods")
        reqs = pod.requests
        if reqs:
            alloc = node.allocatable
            used = node.requested
            for name, want in reqs.items():
                if want <= 0 or name == PODS:
                    continue
                if name not in (CPU, MEMORY, EPHEMERAL_STORAGE) and self._ignored(name):
                    continue
                cap = alloc.get(name, 0)
                if want > cap - used.get(name, 0):
                    reasons.append(f"Insufficient {name}")
                    if want > cap:
                        unresolvable = True
        if not reasons:
            return None
        reasons.sort(key=_reason_order)
        if unresolvable:
            return Status.unresolvable(*reasons)
        return Status.unschedulable(*reasons)

    # --- score ---------------------------------------------------------------------------

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Status | None:
        state.write(
            _PRESCORE_KEY,
            [ra.pod_request_for(pod, name, False) for name, _ in self.resources],
        )
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        reqs = state.read(_PRESCORE_KEY)
        if reqs is None:
            reqs = [ra.pod_request_for(pod, name, False) for name, _ in self.resources]
        return ra.score_node(node, reqs, self.resources, False, self.scorer)

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        reqs = state.read(_PRESCORE_KEY)
        if reqs is None:
            reqs = [ra.pod_request_for(pod, name, False) for name, _ in self.resources]
        return ra.score_nodes(nodes, reqs, self.resources, False, self.scorer, state)


def _reason_order(reason: str) -> tuple[int, str]:
    order = {
        "Too many pods": 0,
        "Insufficient cpu": 1,
        "Insufficient memory": 2,
        "Insufficient ephemeral-storage": 3,
    }
    return (order.get(reason, 4), reason)


def new(args: Mapping[str, Any], handle: Any) -> NodeResourcesFit:
    return NodeResourcesFit(args)
