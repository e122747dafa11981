"""The nodes' cpu, memory and pod-slot figures (and generation, and whether
they carry the hostname and zone labels) as numpy columns, for the per-cycle
passes over hundreds of nodes.

At 5,000 nodes every cycle filters and scores about 500 nodes (the adaptive
``percentageOfNodesToScore``). NodeResourcesFit's filter and the
LeastAllocated/MostAllocated/BalancedAllocation scores were the largest part
of a cycle as Python loops over :class:`NodeInfo` attributes, and
PodTopologySpread's scores the next (ReplicaSet pods get the default
hostname/zone constraints); as array expressions over the gathered columns
they cost a fraction of that.

:class:`NodeColumns` holds one row per node of the snapshot's node list, in
that order; a :class:`NodeInfo` in the list knows its row (``pos``) and its
columns (``cols``). The snapshot rebuilds the columns when it rebuilds the
list and writes a node's row again whenever the node or its pods change
(:meth:`NodeColumns.sync`). Any other :class:`NodeInfo` (a clone made by
preemption, one built by a test) has ``pos == -1``, and the plugins then take
their plain-Python path, which computes the same numbers.

Exactness: the columns are int64 and the array arithmetic is the scorers'
integer arithmetic, or float64 where theirs is float. A Python ``int / int``
is correctly rounded, and so is a float64 division of two ints below 2**53
(both exact as doubles). Column values and pod requests are kept below
:data:`EXACT_LIMIT` (2**52), so a node's figure plus a pod's request stays
below 2**53 and the two paths agree bit for bit; a row at or above the limit
marks the columns unusable until the next rebuild.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from pinnace.scheduler.framework.interface import CycleState
    from pinnace.scheduler.framework.types import NodeInfo

__all__ = [
    "EXACT_LIMIT",
    "FIGURES",
    "HOSTNAME_LABEL",
    "ZONE_LABEL",
    "NodeColumns",
    "node_positions",
    "remember_positions",
]

#: Largest magnitude (exclusive) the vector paths accept, for the columns and
#: for a pod's requests: the sum of two is exact as a float64, and 100 times
#: that sum still fits an int64.
EXACT_LIMIT = 1 << 52

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

HOSTNAME_LABEL = "kubernetes.io/hostname"
ZONE_LABEL = "topology.kubernetes.io/zone"


#: the int64 columns, each named as the NodeInfo attribute it copies
FIGURES = (
    "alloc_cpu",
    "alloc_mem",
    "req_cpu",
    "req_mem",
    "non_zero_cpu",
    "non_zero_mem",
    "free_cpu",
    "free_mem",
    "free_pods",
    "generation",
)


class NodeColumns:
    """Per-node int64 columns (row = position in the snapshot's node list)."""

    __slots__ = (
        "alloc_cpu",
        "alloc_mem",
        "exact",
        "free_cpu",
        "free_mem",
        "free_pods",
        "generation",
        "has_hostname",
        "has_zone",
        "non_zero_cpu",
        "non_zero_mem",
        "req_cpu",
        "req_mem",
    )

    def __init__(self, nodes: Sequence[NodeInfo]) -> None:
        n = len(nodes)
        # cpu/memory allocatable, requested and non-zero requested, what is
        # free (and pod slots), and the generation (changes with the pods)
        self.alloc_cpu: Ints
        self.alloc_mem: Ints
        self.req_cpu: Ints
        self.req_mem: Ints
        self.non_zero_cpu: Ints
        self.non_zero_mem: Ints
        self.free_cpu: Ints
        self.free_mem: Ints
        self.free_pods: Ints
        self.generation: Ints
        for f in FIGURES:
            setattr(self, f, np.zeros(n, np.int64))
        # whether the node has the two topology labels of the default spreading
        self.has_hostname: Bools = np.zeros(n, np.bool_)
        self.has_zone: Bools = np.zeros(n, np.bool_)
        self.exact = True
        for i, ni in enumerate(nodes):
            ni.pos = i
            ni.cols = self
            self.sync(ni)

    def sync(self, ni: NodeInfo) -> None:
        """Write ``ni``'s row from its current figures."""
        values = [getattr(ni, f) for f in FIGURES]
        if any(v >= EXACT_LIMIT or v <= -EXACT_LIMIT for v in values):
            self.exact = False  # the plain-Python paths until the next rebuild
            return
        i = ni.pos
        for f, v in zip(FIGURES, values, strict=True):
            getattr(self, f)[i] = v
        self.has_hostname[i] = HOSTNAME_LABEL in ni.labels
        self.has_zone[i] = ZONE_LABEL in ni.labels

    @staticmethod
    def detach(nodes: Sequence[NodeInfo]) -> None:
        """``nodes`` (a list being replaced) no longer have rows."""
        for ni in nodes:
            ni.pos = -1
            ni.cols = None


_POSITIONS_KEY = "pinnace/node-positions"


def node_positions(
    nodes: Sequence[NodeInfo], state: CycleState | None = None
) -> tuple[NodeColumns, npt.NDArray[np.intp]] | None:
    """The columns and row numbers of ``nodes``, or None when they have none
    (not all from one snapshot's current list, or inexact columns).

    With ``state``, the answer for the same list object is kept for the cycle:
    the score plugins are all called with one list.
    """
    if not nodes:
        return None
    if state is not None:
        hit = state.data.get(_POSITIONS_KEY)
        if hit is not None and hit[0] is nodes:
            return hit[1]  # type: ignore[no-any-return]
    cols = nodes[0].cols
    found: tuple[NodeColumns, npt.NDArray[np.intp]] | None = None
    if cols is not None and cols.exact:
        # a node with no row here (another list, a clone) makes the answer None
        idx = np.fromiter([ni.pos if ni.cols is cols else -1 for ni in nodes], np.intp, len(nodes))
        if idx.min() >= 0:
            found = (cols, idx)
    if state is not None:
        state.data[_POSITIONS_KEY] = (nodes, found)
    return found


def remember_positions(
    state: CycleState, nodes: Sequence[NodeInfo], cols: NodeColumns, idx: npt.NDArray[np.intp]
) -> None:
    """Tell :func:`node_positions` the rows of ``nodes`` (a caller that built
    the list from known rows, saving the pass over the nodes)."""
    state.data[_POSITIONS_KEY] = (nodes, (cols, idx))
