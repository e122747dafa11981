"""TaintToleration (Filter, PreScore, Score).

Filter: a node with a ``NoSchedule``/``NoExecute`` taint the pod does not
tolerate is rejected as unresolvable, naming the first such taint
(``node(s) had untolerated taint {key: value}``). Score: fewer untolerated
``PreferNoSchedule`` taints is better (reverse-normalized count), counting
only the pod's tolerations with effect ``PreferNoSchedule`` or empty.

When no node of the snapshot has a ``NoSchedule``/``NoExecute`` taint, Filter
is skipped (``filter_skippable``); when none has a ``PreferNoSchedule`` taint,
every node would score the same, so PreScore returns ``Skip`` (upstream scores
them all; a constant added to every node changes no choice).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pinnace.scheduler.framework.interface import CycleState, NodeScore
from pinnace.scheduler.framework.status import Status
from pinnace.scheduler.framework.types import NodeInfo, PodInfo
from pinnace.scheduler.plugins._normalize import default_normalize_score
from pinnace.scheduler.selectors import find_untolerated_taint, tolerates

NAME = "TaintToleration"
_KEY = "PreScore" + NAME


class TaintToleration:
    name = NAME

    def __init__(self, handle: Any = None) -> None:
        self.handle = handle

    def filter_skippable(self, state: CycleState, pod: PodInfo) -> bool:
        return (
            self.handle is not None
            and self.handle.snapshot.nodes_with_taint_effect("NoSchedule", "NoExecute") == 0
        )

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.taints:
            return None
        taint = find_untolerated_taint(node.taints, pod.spec.get("tolerations") or [])
        if taint is None:
            return None
        return Status.unresolvable(
            f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"
        )

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Status | None:
        if (
            self.handle is not None
            and self.handle.snapshot.nodes_with_taint_effect("PreferNoSchedule") == 0
        ):
            return Status.skip()
        tols = [
            t
            for t in pod.spec.get("tolerations") or []
            if not t.get("effect") or t.get("effect") == "PreferNoSchedule"
        ]
        state.write(_KEY, tols)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        if not node.taints:
            return 0
        tols: list[Mapping[str, Any]] = state.read(_KEY) or []
        n = 0
        for taint in node.taints:
            if taint.get("effect") != "PreferNoSchedule":
                continue
            if not any(tolerates(t, taint) for t in tols):
                n += 1
        return n

    def normalize_score(
        self, state: CycleState, pod: PodInfo, scores: list[NodeScore]
    ) -> Status | None:
        default_normalize_score(scores, reverse=True)
        return None


def new(args: Mapping[str, Any], handle: Any) -> TaintToleration:
    return TaintToleration(handle)
