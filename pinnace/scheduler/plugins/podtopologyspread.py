"""PodTopologySpread (PreFilter + extensions, Filter, PreScore, Score).

Constraints come from ``spec.topologySpreadConstraints``; a pod without any
gets the default constraints (``PodTopologySpreadArgs``: ``defaultingType:
System`` → hostname maxSkew 3 and zone maxSkew 5, both ``ScheduleAnyway``)
with a selector built from the Services, ReplicationControllers, ReplicaSets
and StatefulSets that select/own the pod (upstream ``DefaultSelector``); no
such selector means no default constraints.

Filter (``DoNotSchedule``): for each constraint, ``matching pods in the node's
domain + (1 if the pod matches itself) - global minimum <= maxSkew``, the
minimum being 0 while fewer than ``minDomains`` domains exist. Only nodes that
pass ``nodeAffinityPolicy`` (Honor: the pod's node selector/affinity) and
``nodeTaintsPolicy`` (Ignore by default) and carry every constraint's key
count. ``matchLabelKeys`` adds ``key In (pod's value)`` to the selector.

Score (``ScheduleAnyway``): upstream's weighted counts (``log(domains + 2)``
per constraint), reverse-normalized.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from pinnace.scheduler.config import ConfigError
from pinnace.scheduler.framework.columns import (
    HOSTNAME_LABEL,
    ZONE_LABEL,
    NodeColumns,
    node_positions,
)
from pinnace.scheduler.framework.interface import (
    MAX_NODE_SCORE,
    CycleState,
    NodeScore,
    PreFilterResult,
)
from pinnace.scheduler.framework.status import Status
from pinnace.scheduler.framework.types import NodeInfo, PodInfo
from pinnace.scheduler.plugins._helpers import RequiredNodeAffinity, tolerates_node_taints
from pinnace.scheduler.selectors import LabelSelector, Requirement

NAME = "PodTopologySpread"
ERR_REASON_CONSTRAINTS = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL = ERR_REASON_CONSTRAINTS + " (missing required label)"
HOSTNAME = HOSTNAME_LABEL
ZONE = ZONE_LABEL
_PF_KEY = "PreFilter" + NAME
_PS_KEY = "PreScore" + NAME

SYSTEM_DEFAULT_CONSTRAINTS: list[dict[str, Any]] = [
    {"topologyKey": HOSTNAME, "whenUnsatisfiable": "ScheduleAnyway", "maxSkew": 3},
    {"topologyKey": ZONE, "whenUnsatisfiable": "ScheduleAnyway", "maxSkew": 5},
]


class Constraint:
    __slots__ = (
        "max_skew",
        "min_domains",
        "node_affinity_policy",
        "node_taints_policy",
        "selector",
        "topology_key",
    )

    def __init__(self, c: Mapping[str, Any], selector: LabelSelector, pod: PodInfo) -> None:
        self.max_skew = int(c.get("maxSkew") or 1)
        self.topology_key = str(c.get("topologyKey") or "")
        self.min_domains = int(c.get("minDomains") or 1)
        self.node_affinity_policy = str(c.get("nodeAffinityPolicy") or "Honor")
        self.node_taints_policy = str(c.get("nodeTaintsPolicy") or "Ignore")
        extra = [
            Requirement(k, "In", [pod.labels[k]])
            for k in c.get("matchLabelKeys") or []
            if k in pod.labels
        ]
        self.selector = selector.with_requirements(extra)

    def matches_node_inclusion(
        self, node: NodeInfo, affinity: RequiredNodeAffinity, tolerations: list[Mapping[str, Any]]
    ) -> bool:
        if self.node_affinity_policy == "Honor" and not affinity.matches(node):
            return False
        return not (
            self.node_taints_policy == "Honor" and not tolerates_node_taints(node, tolerations)
        )


#: (namespace, selector key) -> node name -> (node generation, matching pods).
#: A node's generation changes whenever its pods do (and is unique across
#: clones), so a count is reused only while it is right, and there is one
#: entry per node and selector. Without it every cycle walked every pod of
#: every node it scored (the default spreading constraints of ReplicaSet
#: pods): at 3,000 pods that was a quarter of the API server process's time.
#: Keyed by selector first so that a pass over many nodes looks up its
#: selector's table once and then each node by name.
_COUNTS: dict[tuple[str, tuple[Any, ...]], dict[str, tuple[int, int]]] = {}
_COUNTS_MAX = 100_000  # node entries over all selectors; emptied when full
_counts_size = 0


def _counts_for(namespace: str, selector: LabelSelector) -> dict[str, tuple[int, int]]:
    key = (namespace, selector.key)
    table = _COUNTS.get(key)
    if table is None:
        table = _COUNTS[key] = {}
    return table


def _count_into(
    table: dict[str, tuple[int, int]], node: NodeInfo, selector: LabelSelector, namespace: str
) -> int:
    global _counts_size
    n = _count_on(node, selector, namespace)
    if node.name not in table:
        if _counts_size >= _COUNTS_MAX:
            _COUNTS.clear()  # a caller's table in hand stays usable, unshared
            _counts_size = 0
        _counts_size += 1
    table[node.name] = (node.generation, n)
    return n


def _count_on(node: NodeInfo, selector: LabelSelector, namespace: str) -> int:
    """Pods on ``node`` in ``namespace``, not terminating, that ``selector`` matches."""
    n = 0
    for p in node.pods.values():
        if p.namespace != namespace or p.terminating:
            continue
        if selector.matches(p.labels):
            n += 1
    return n


def _no_zones(nodes: Sequence[NodeInfo], state: CycleState) -> bool:
    """Whether the columns say that none of ``nodes`` has a zone label
    (False when they cannot tell)."""
    found = node_positions(nodes, state)
    return found is not None and not found[0].has_zone[found[1]].any()


class _ColumnCounts:
    """:func:`_count_on` per row of one snapshot's node columns, for one
    (namespace, selector), each stamped with the node's generation then."""

    __slots__ = ("cols", "counts", "stamps")

    def __init__(self, cols: NodeColumns) -> None:
        self.cols = cols
        self.counts = np.zeros(len(cols.generation), np.int64)
        self.stamps = np.full(len(cols.generation), -1, np.int64)


_COLUMN_COUNTS: dict[tuple[str, tuple[Any, ...]], _ColumnCounts] = {}
_COLUMN_COUNTS_MAX = 256  # (namespace, selector) tables; emptied when full


def _column_counts(
    namespace: str,
    selector: LabelSelector,
    cols: NodeColumns,
    idx: npt.NDArray[np.intp],
    nodes: Sequence[NodeInfo],
) -> npt.NDArray[np.int64]:
    """Matching pods on each of ``nodes`` (rows ``idx``); only nodes whose
    generation moved since their last count are counted again."""
    key = (namespace, selector.key)
    table = _COLUMN_COUNTS.get(key)
    if table is None or table.cols is not cols:
        if table is None and len(_COLUMN_COUNTS) >= _COLUMN_COUNTS_MAX:
            _COLUMN_COUNTS.clear()
        table = _COLUMN_COUNTS[key] = _ColumnCounts(cols)
    stale = np.flatnonzero(table.stamps[idx] != cols.generation[idx])
    for j in stale.tolist():
        ni = nodes[j]
        table.counts[ni.pos] = _count_on(ni, selector, namespace)
        table.stamps[ni.pos] = ni.generation
    return table.counts[idx]


def _count_matching(node: NodeInfo, selector: LabelSelector, namespace: str) -> int:
    table = _counts_for(namespace, selector)
    hit = table.get(node.name)
    if hit is not None and hit[0] == node.generation:
        return hit[1]
    return _count_into(table, node, selector, namespace)


class _FilterState:
    __slots__ = ("constraints", "counts", "mins")

    def __init__(self, constraints: list[Constraint]) -> None:
        self.constraints = constraints
        self.counts: list[dict[str, int]] = [{} for _ in constraints]
        self.mins: list[int | None] = [None for _ in constraints]

    @property
    def domains(self) -> list[int]:
        return [len(c) for c in self.counts]

    def min_match(self, i: int) -> int:
        c = self.constraints[i]
        counts = self.counts[i]
        if len(counts) < c.min_domains:
            return 0
        m = self.mins[i]
        if m is None:
            m = self.mins[i] = min(counts.values()) if counts else 0
        return m

    def update(self, node: NodeInfo, n: int) -> None:
        for i, c in enumerate(self.constraints):
            v = node.labels.get(c.topology_key)
            if v is None:
                continue
            self.counts[i][v] = self.counts[i].get(v, 0) + n
            self.mins[i] = None

    def clone(self) -> _FilterState:
        s = _FilterState(self.constraints)
        s.counts = [dict(c) for c in self.counts]
        s.mins = list(self.mins)
        return s


class PodTopologySpread:
    name = NAME

    def __init__(self, args: Mapping[str, Any], handle: Any) -> None:
        self.handle = handle
        self.defaulting_type = str(args.get("defaultingType") or "System")
        if self.defaulting_type == "System":
            if args.get("defaultConstraints"):
                raise ConfigError(
                    "PodTopologySpreadArgs: defaultConstraints must be empty with defaultingType System"
                )
            self.default_constraints = SYSTEM_DEFAULT_CONSTRAINTS
        elif self.defaulting_type == "List":
            self.default_constraints = list(args.get("defaultConstraints") or [])
        else:
            raise ConfigError(
                f"PodTopologySpreadArgs: unknown defaultingType {self.defaulting_type!r}"
            )
        self.system_defaulted = self.defaulting_type == "System"
        self._defaults_by_action: dict[str, list[dict[str, Any]]] = {}
        for c in self.default_constraints:
            action = c.get("whenUnsatisfiable") or "DoNotSchedule"
            self._defaults_by_action.setdefault(action, []).append(c)

    # --- constraints ---------------------------------------------------------------------

    def _constraints(self, pod: PodInfo, action: str) -> tuple[list[Constraint], bool]:
        """(constraints with whenUnsatisfiable == action, whether they are the pod's own)."""
        own = pod.spec.get("topologySpreadConstraints") or []
        if own:
            return [
                Constraint(c, LabelSelector.from_api(c.get("labelSelector")), pod)
                for c in own
                if (c.get("whenUnsatisfiable") or "DoNotSchedule") == action
            ], True
        defaults = self._defaults_by_action.get(action)
        if not defaults:
            return [], False
        selector = self._default_selector(pod)
        if selector.empty or selector.nothing:
            return [], False
        return [Constraint(c, selector, pod) for c in defaults], False

    def _default_selector(self, pod: PodInfo) -> LabelSelector:
        labels: dict[str, str] = {}
        reqs: list[Requirement] = []
        for svc in self.handle.lister("services"):
            if (svc.get("metadata") or {}).get("namespace") != pod.namespace:
                continue
            sel = (svc.get("spec") or {}).get("selector") or {}
            if sel and all(pod.labels.get(k) == v for k, v in sel.items()):
                labels.update(sel)
        for rc in self.handle.lister("replicationcontrollers"):
            if (rc.get("metadata") or {}).get("namespace") != pod.namespace:
                continue
            sel = (rc.get("spec") or {}).get("selector") or {}
            if sel and all(pod.labels.get(k) == v for k, v in sel.items()):
                labels.update(sel)
        for ref in (pod.pod.get("metadata") or {}).get("ownerReferences") or []:
            if not ref.get("controller"):
                continue
            plural = {"ReplicaSet": "replicasets", "StatefulSet": "statefulsets"}.get(
                str(ref.get("kind"))
            )
            if plural is None:
                continue
            owner = self.handle.get_object(plural, pod.namespace, str(ref.get("name")))
            if owner is None:
                continue
            sel = (owner.get("spec") or {}).get("selector") or {}
            labels.update({str(k): str(v) for k, v in (sel.get("matchLabels") or {}).items()})
            for e in sel.get("matchExpressions") or []:
                reqs.append(
                    Requirement(str(e.get("key")), str(e.get("operator")), e.get("values") or ())
                )
        if not labels and not reqs:
            return LabelSelector(nothing=True)
        return LabelSelector(labels, reqs)

    # --- filter --------------------------------------------------------------------------

    def pre_filter(
        self, state: CycleState, pod: PodInfo
    ) -> tuple[PreFilterResult | None, Status | None]:
        constraints, _ = self._constraints(pod, "DoNotSchedule")
        if not constraints:
            return None, Status.skip()
        s = _FilterState(constraints)
        affinity = RequiredNodeAffinity(pod)
        tolerations = pod.spec.get("tolerations") or []
        keys = [c.topology_key for c in constraints]
        for ni in self.handle.snapshot.node_list():
            labels = ni.labels
            if not all(k in labels for k in keys):
                continue
            for i, c in enumerate(constraints):
                if not c.matches_node_inclusion(ni, affinity, tolerations):
                    continue
                v = labels[c.topology_key]
                s.counts[i][v] = s.counts[i].get(v, 0) + _count_matching(
                    ni, c.selector, pod.namespace
                )
        state.write(_PF_KEY, s)
        state.write(_PF_KEY + "/inclusion", (affinity, tolerations))
        return None, None

    def _update(
        self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo, n: int
    ) -> None:
        s: _FilterState | None = state.read(_PF_KEY)
        if s is None or other.namespace != pod.namespace:
            return
        affinity, tolerations = state.read(_PF_KEY + "/inclusion")
        labels = node.labels
        if not all(c.topology_key in labels for c in s.constraints):
            return
        for i, c in enumerate(s.constraints):
            if not c.matches_node_inclusion(node, affinity, tolerations):
                continue
            if not c.selector.matches(other.labels):
                continue
            v = labels[c.topology_key]
            s.counts[i][v] = s.counts[i].get(v, 0) + n
            s.mins[i] = None

    def add_pod(
        self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo
    ) -> Status | None:
        self._update(state, pod, added, node, 1)
        return None

    def remove_pod(
        self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo
    ) -> Status | None:
        self._update(state, pod, removed, node, -1)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: _FilterState | None = state.read(_PF_KEY)
        if s is None:
            return None
        labels = node.labels
        for i, c in enumerate(s.constraints):
            v = labels.get(c.topology_key)
            if v is None:
                return Status.unresolvable(ERR_REASON_NODE_LABEL)
            self_match = 1 if c.selector.matches(pod.labels) else 0
            skew = s.counts[i].get(v, 0) + self_match - s.min_match(i)
            if skew > c.max_skew:
                return Status.unschedulable(ERR_REASON_CONSTRAINTS)
        return None

    # --- score ---------------------------------------------------------------------------

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Status | None:
        constraints, own = self._constraints(pod, "ScheduleAnyway")
        if not constraints:
            return Status.skip()
        require_all = own or not self.system_defaulted
        keys = [c.topology_key for c in constraints]
        ignored: set[str] = set()
        pair_counts: dict[tuple[str, str], int] = {}
        domains: list[set[str]] = [set() for _ in constraints]
        if require_all:
            for ni in nodes:
                if not all(k in ni.labels for k in keys):
                    ignored.add(ni.name)
        # The domains of the scored nodes, constraint by constraint; a
        # hostname constraint's weight needs only the number of nodes.
        for i, c in enumerate(constraints):
            key = c.topology_key
            if key == HOSTNAME:
                continue
            if key == ZONE and _no_zones(nodes, state):
                continue  # no domain: the loop below would find none
            seen = domains[i]
            for ni in nodes:
                v = ni.labels.get(key)
                if v is None or (ignored and ni.name in ignored):
                    continue
                seen.add(v)
                pair_counts[(key, v)] = 0
        weights = []
        for i, c in enumerate(constraints):
            size = len(nodes) - len(ignored) if c.topology_key == HOSTNAME else len(domains[i])
            weights.append(math.log(size + 2))
        # Matching pods per domain of the other keys, over all nodes. Nothing
        # to count when no scored node has such a domain (e.g. the default
        # zone constraint on nodes without zones); a node's label is checked
        # before its inclusion policies, the dearer test.
        zonal = [c for c in constraints if c.topology_key != HOSTNAME]
        if zonal and pair_counts:
            affinity = RequiredNodeAffinity(pod)
            tolerations = pod.spec.get("tolerations") or []
            for ni in self.handle.snapshot.node_list():
                if require_all and not all(k in ni.labels for k in keys):
                    continue
                for c in zonal:
                    v = ni.labels.get(c.topology_key)
                    if v is None or (c.topology_key, v) not in pair_counts:
                        continue
                    if not c.matches_node_inclusion(ni, affinity, tolerations):
                        continue
                    pair_counts[(c.topology_key, v)] += _count_matching(
                        ni, c.selector, pod.namespace
                    )
        state.write(_PS_KEY, (constraints, ignored, pair_counts, weights))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        constraints, ignored, pair_counts, weights = state.read(_PS_KEY)
        if node.name in ignored:
            return 0
        total = 0.0
        for i, c in enumerate(constraints):
            v = node.labels.get(c.topology_key)
            if v is None:
                continue
            if c.topology_key == HOSTNAME:
                cnt = _count_matching(node, c.selector, pod.namespace)
            else:
                cnt = pair_counts.get((c.topology_key, v), 0)
            total += cnt * weights[i] + (c.max_skew - 1)
        return math.floor(total + 0.5)

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        """``[self.score(state, pod, n) for n in nodes]`` in one pass, with the
        per-constraint lookups done once (the same arithmetic in the same
        order, so the same integers)."""
        constraints, ignored, pair_counts, weights = state.read(_PS_KEY)
        ns = pod.namespace
        if not ignored:
            found = node_positions(nodes, state)
            if found is not None:
                vec = _vector_scores(constraints, weights, ns, found[0], found[1], nodes)
                if vec is not None:
                    return vec
        terms = [
            (
                c.topology_key,
                _counts_for(ns, c.selector) if c.topology_key == HOSTNAME else None,
                c.selector,
                weights[i],
                c.max_skew - 1,
            )
            for i, c in enumerate(constraints)
        ]
        floor = math.floor
        out: list[int] = []
        append = out.append
        for node in nodes:
            if ignored and node.name in ignored:
                append(0)
                continue
            labels = node.labels
            total = 0.0
            for key, table, selector, weight, extra in terms:
                v = labels.get(key)
                if v is None:
                    continue
                if table is not None:
                    hit = table.get(node.name)
                    if hit is not None and hit[0] == node.generation:
                        cnt = hit[1]
                    else:
                        cnt = _count_into(table, node, selector, ns)
                else:
                    cnt = pair_counts.get((key, v), 0)
                total += cnt * weight + extra
            append(floor(total + 0.5))
        return out

    def normalize_score(
        self, state: CycleState, pod: PodInfo, scores: list[NodeScore]
    ) -> Status | None:
        _, ignored, _, _ = state.read(_PS_KEY)
        out = _reverse_normalized([s.name for s in scores], [s.score for s in scores], ignored)
        for s, v in zip(scores, out, strict=True):
            s.score = v
        return None

    def normalize_scores(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], scores: list[int]
    ) -> list[int]:
        """:meth:`normalize_score` over plain lists (no :class:`NodeScore` per node)."""
        _, ignored, _, _ = state.read(_PS_KEY)
        if not ignored and scores:
            # the same integer formula over an array (no node is ignored)
            s = np.asarray(scores, np.int64)
            lo, hi = int(s.min()), max(0, int(s.max()))
            if hi == 0:
                return [MAX_NODE_SCORE] * len(scores)
            return (MAX_NODE_SCORE * (hi + lo - s) // hi).tolist()  # type: ignore[no-any-return]
        return _reverse_normalized([n.name for n in nodes], scores, ignored)

    allows_negative_scores = False


def _vector_scores(
    constraints: list[Constraint],
    weights: list[float],
    namespace: str,
    cols: NodeColumns,
    idx: npt.NDArray[np.intp],
    nodes: Sequence[NodeInfo],
) -> list[int] | None:
    """:meth:`PodTopologySpread.score_nodes` over the node columns when every
    constraint is by hostname, or by zone on nodes without zones (such a
    constraint adds nothing to any node); None otherwise. The float steps
    are the per-node ones: ``total += cnt * weight + (maxSkew - 1)`` per
    constraint whose key the node has, in order, then ``floor(total + .5)``."""
    total = np.zeros(len(idx))
    for c, weight in zip(constraints, weights, strict=True):
        if c.topology_key == HOSTNAME:
            cnt = _column_counts(namespace, c.selector, cols, idx, nodes)
            total = np.where(
                cols.has_hostname[idx], total + (cnt * weight + (c.max_skew - 1)), total
            )
        elif c.topology_key != ZONE or cols.has_zone[idx].any():
            return None
    return np.floor(total + 0.5).astype(np.int64).tolist()  # type: ignore[no-any-return]


def _reverse_normalized(names: list[str], scores: list[int], ignored: set[str]) -> list[int]:
    """Fewer matching pods score higher: ``MAX * (hi + lo - s) // hi`` over the
    nodes not ignored (which score 0); all MAX when every score is 0."""
    kept = [s for n, s in zip(names, scores, strict=True) if n not in ignored]
    lo = min(kept) if kept else 0
    hi = max(0, max(kept)) if kept else 0
    return [
        0 if n in ignored else MAX_NODE_SCORE if hi == 0 else MAX_NODE_SCORE * (hi + lo - s) // hi
        for n, s in zip(names, scores, strict=True)
    ]


def new(args: Mapping[str, Any], handle: Any) -> PodTopologySpread:
    return PodTopologySpread(args, handle)
