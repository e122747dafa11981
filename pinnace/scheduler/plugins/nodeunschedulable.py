"""NodeUnschedulable (Filter): cordoned nodes (``spec.unschedulable``) take only
pods tolerating the ``node.kubernetes.io/unschedulable:NoSchedule`` taint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pinnace.scheduler.framework.interface import CycleState
from pinnace.scheduler.framework.status import Status
from pinnace.scheduler.framework.types import NodeInfo, PodInfo
from pinnace.scheduler.selectors import tolerates

NAME = "NodeUnschedulable"
ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


class NodeUnschedulable:
    name = NAME

    def __init__(self, handle: Any = None) -> None:
        self.handle = handle

    def filter_skippable(self, state: CycleState, pod: PodInfo) -> bool:
        """No cordoned node in the snapshot: nothing to reject."""
        return self.handle is not None and self.handle.snapshot.unschedulable_nodes == 0

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.unschedulable:
            return None
        if any(tolerates(t, _TAINT) for t in pod.spec.get("tolerations") or []):
            return None
        return Status.unresolvable(ERR_REASON_UNSCHEDULABLE)


def new(args: Mapping[str, Any], handle: Any) -> NodeUnschedulable:
    return NodeUnschedulable(handle)
