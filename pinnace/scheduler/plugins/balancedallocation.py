"""NodeResourcesBalancedAllocation (PreScore, Score): prefer nodes whose cpu and
memory (by default) would be used in similar fractions, scored as
``(1 - std(fractions)) * 100`` on actual requests (upstream since 1.24)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pinnace.scheduler.config import ConfigError
from pinnace.scheduler.framework.interface import CycleState
from pinnace.scheduler.framework.status import Status
from pinnace.scheduler.framework.types import NodeInfo, PodInfo
from pinnace.scheduler.plugins import _resource_allocation as ra

NAME = "NodeResourcesBalancedAllocation"
_KEY = "PreScore" + NAME


class BalancedAllocation:
    name = NAME

    def __init__(self, args: Mapping[str, Any]) -> None:
        errs = ra.validate_balanced_args(args)
        if errs:
            raise ConfigError(ra.config_error("NodeResourcesBalancedAllocationArgs", errs))
        self.resources = ra.resource_specs(args.get("resources"))

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Status | None:
        state.write(_KEY, [ra.pod_request_for(pod, n, True) for n, _ in self.resources])
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        reqs = state.read(_KEY)
        if reqs is None:
            reqs = [ra.pod_request_for(pod, n, True) for n, _ in self.resources]
        return ra.score_node(node, reqs, self.resources, True, ra.balanced_score)

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        reqs = state.read(_KEY)
        if reqs is None:
            reqs = [ra.pod_request_for(pod, n, True) for n, _ in self.resources]
        return ra.score_nodes(nodes, reqs, self.resources, True, ra.balanced_score, state)


def new(args: Mapping[str, Any], handle: Any) -> BalancedAllocation:
    return BalancedAllocation(args)
