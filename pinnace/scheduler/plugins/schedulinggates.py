"""SchedulingGates (PreEnqueue): pods with ``spec.schedulingGates`` wait, unscheduled."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pinnace.scheduler.framework.status import Status
from pinnace.scheduler.framework.types import PodInfo

NAME = "SchedulingGates"


class SchedulingGates:
    name = NAME

    def pre_enqueue(self, pod: PodInfo) -> Status | None:
        gates = pod.spec.get("schedulingGates") or []
        if not gates:
            return None
        names = " ".join(str(g.get("name")) for g in gates)
        return Status.unresolvable(f"waiting for scheduling gates: [{names}]")


def new(args: Mapping[str, Any], handle: Any) -> SchedulingGates:
    return SchedulingGates()
