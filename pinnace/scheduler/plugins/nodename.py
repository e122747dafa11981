"""NodeName (Filter): a pod with ``spec.nodeName`` fits only that node."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pinnace.scheduler.framework.interface import CycleState
from pinnace.scheduler.framework.status import Status
from pinnace.scheduler.framework.types import NodeInfo, PodInfo

NAME = "NodeName"
ERR_REASON = "node(s) didn't match the requested node name"


class NodeName:
    name = NAME

    def filter_skippable(self, state: CycleState, pod: PodInfo) -> bool:
        return not pod.node_name

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if pod.node_name and pod.node_name != node.name:
            return Status.unresolvable(ERR_REASON)
        return None


def new(args: Mapping[str, Any], handle: Any) -> NodeName:
    return NodeName()
