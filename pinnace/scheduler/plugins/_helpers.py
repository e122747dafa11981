"""Small helpers several plugins share (node affinity of a pod, taint checks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pinnace.scheduler.framework.types import NodeInfo, PodInfo
from pinnace.scheduler.selectors import NodeSelector, find_untolerated_taint

__all__ = ["RequiredNodeAffinity", "tolerates_node_taints"]


class RequiredNodeAffinity:
    """``nodeSelector`` AND ``requiredDuringSchedulingIgnoredDuringExecution``
    (upstream ``nodeaffinity.RequiredNodeAffinity``)."""

    __slots__ = ("node_selector", "required")

    def __init__(self, pod: PodInfo) -> None:
        spec = pod.spec
        self.node_selector: tuple[tuple[str, str], ...] = tuple(
            (spec.get("nodeSelector") or {}).items()
        )
        na = (spec.get("affinity") or {}).get("nodeAffinity") or {}
        req = na.get("requiredDuringSchedulingIgnoredDuringExecution")
        self.required = (
            NodeSelector.from_terms(req.get("nodeSelectorTerms")) if req is not None else None
        )

    @property
    def empty(self) -> bool:
        return not self.node_selector and self.required is None

    def matches(self, node: NodeInfo) -> bool:
        labels = node.labels
        for k, v in self.node_selector:
            if labels.get(k) != v:
                return False
        return self.required is None or self.required.matches(labels, node.name)


def tolerates_node_taints(node: NodeInfo, tolerations: list[Mapping[str, Any]]) -> bool:
    return find_untolerated_taint(node.taints, tolerations) is None
