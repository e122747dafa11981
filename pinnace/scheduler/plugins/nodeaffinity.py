"""NodeAffinity (PreFilter, Filter, PreScore, Score).

Filter: ``spec.nodeSelector`` and required node affinity (plus the plugin's
``addedAffinity`` arg) must match the node. PreFilter narrows the nodes to the
names required terms list with ``matchFields metadata.name In``. Score: the
sum of the weights of the preferred terms the node matches, normalized to
0-100.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pinnace.scheduler.framework.interface import CycleState, NodeScore, PreFilterResult
from pinnace.scheduler.framework.status import Status
from pinnace.scheduler.framework.types import NodeInfo, PodInfo
from pinnace.scheduler.plugins._helpers import RequiredNodeAffinity
from pinnace.scheduler.plugins._normalize import default_normalize_score
from pinnace.scheduler.selectors import NodeSelector

NAME = "NodeAffinity"
ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
ERR_REASON_ENFORCED = "node(s) didn't match scheduler-enforced node affinity"
_PF_KEY = "PreFilter" + NAME
_PS_KEY = "PreScore" + NAME


class NodeAffinity:
    name = NAME

    def __init__(self, args: Mapping[str, Any]) -> None:
        added = args.get("addedAffinity") or {}
        req = added.get("requiredDuringSchedulingIgnoredDuringExecution")
        self.added_required = (
            NodeSelector.from_terms(req.get("nodeSelectorTerms")) if req is not None else None
        )
        self.added_preferred = _preferred(
            added.get("preferredDuringSchedulingIgnoredDuringExecution")
        )

    def pre_filter(
        self, state: CycleState, pod: PodInfo
    ) -> tuple[PreFilterResult | None, Status | None]:
        req = RequiredNodeAffinity(pod)
        if req.empty and self.added_required is None:
            return None, Status.skip()
        state.write(_PF_KEY, req)
        if req.required is not None:
            names = req.required.node_names()
            if names is not None:
                return PreFilterResult(names), None
        return None, None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if self.added_required is not None and not self.added_required.matches(
            node.labels, node.name
        ):
            return Status.unresolvable(ERR_REASON_ENFORCED)
        req: RequiredNodeAffinity | None = state.read(_PF_KEY)
        if req is None:
            req = RequiredNodeAffinity(pod)
        if not req.matches(node):
            return Status.unresolvable(ERR_REASON_POD)
        return None

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Status | None:
        na = (pod.spec.get("affinity") or {}).get("nodeAffinity") or {}
        terms = _preferred(na.get("preferredDuringSchedulingIgnoredDuringExecution"))
        terms += self.added_preferred
        if not terms:
            return Status.skip()
        state.write(_PS_KEY, terms)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        terms: list[tuple[NodeSelector, int]] = state.read(_PS_KEY) or []
        return sum(w for sel, w in terms if sel.matches(node.labels, node.name))

    def normalize_score(
        self, state: CycleState, pod: PodInfo, scores: list[NodeScore]
    ) -> Status | None:
        default_normalize_score(scores, reverse=False)
        return None


def _preferred(terms: Any) -> list[tuple[NodeSelector, int]]:
    out = []
    for t in terms or []:
        w = int(t.get("weight") or 0)
        if w:
            out.append((NodeSelector.from_terms([t.get("preference") or {}]), w))
    return out


def new(args: Mapping[str, Any], handle: Any) -> NodeAffinity:
    return NodeAffinity(args)
