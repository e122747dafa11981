"""Why a pod did not fit: upstream's ``FitError`` and its exact message format.

``0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint
{dedicated: gpu}. preemption: 0/3 nodes are available: 3 Preemption is not
helpful for scheduling.`` — each node's reasons are counted, rendered as
``"<count> <reason>"`` and sorted as strings; a PreFilter rejection replaces
the per-node histogram; the PostFilter (preemption) message is appended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pinnace.scheduler.framework.status import Status
from pinnace.scheduler.framework.types import PodInfo

__all__ = [
    "NO_NODE_AVAILABLE_MSG",
    "Diagnosis",
    "FitError",
    "NoNodesAvailable",
    "fit_error_message",
]

NO_NODE_AVAILABLE_MSG = "0/{} nodes are available"


def fit_error_message(
    num_all_nodes: int,
    statuses: Mapping[str, Status],
    pre_filter_msg: str = "",
    post_filter_msg: str = "",
) -> str:
    msg = NO_NODE_AVAILABLE_MSG.format(num_all_nodes) + ":"
    if pre_filter_msg:
        msg += f" {pre_filter_msg}."
    else:
        counts: dict[str, int] = {}
        for st in statuses.values():
            for r in st.reasons:
                counts[r] = counts.get(r, 0) + 1
        parts = sorted(f"{n} {r}" for r, n in counts.items())
        if parts:
            msg += f" {', '.join(parts)}."
    if post_filter_msg:
        msg += f" {post_filter_msg}."
    return msg


@dataclass
class Diagnosis:
    node_statuses: dict[str, Status] = field(default_factory=dict)
    unschedulable_plugins: set[str] = field(default_factory=set)
    pre_filter_msg: str = ""
    post_filter_msg: str = ""


class FitError(Exception):
    """No node fits the pod."""

    def __init__(self, pod: PodInfo, num_all_nodes: int, diagnosis: Diagnosis) -> None:
        super().__init__()
        self.pod = pod
        self.num_all_nodes = num_all_nodes
        self.diagnosis = diagnosis

    def __str__(self) -> str:
        d = self.diagnosis
        return fit_error_message(
            self.num_all_nodes, d.node_statuses, d.pre_filter_msg, d.post_filter_msg
        )


class NoNodesAvailable(Exception):
    """The cluster has no nodes at all."""

    def __str__(self) -> str:
        return "no nodes available to schedule pods"
