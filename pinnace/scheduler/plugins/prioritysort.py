"""PrioritySort (QueueSort): higher ``spec.priority`` first, then earlier queue time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pinnace.scheduler.framework.types import PodInfo

NAME = "PrioritySort"


class PrioritySort:
    name = NAME

    def sort_key(self, pod: PodInfo, timestamp: float) -> tuple[Any, ...]:
        return (-pod.priority, timestamp)

    def less(self, a: PodInfo, ta: float, b: PodInfo, tb: float) -> bool:
        return self.sort_key(a, ta) < self.sort_key(b, tb)


def new(args: Mapping[str, Any], handle: Any) -> PrioritySort:
    return PrioritySort()
