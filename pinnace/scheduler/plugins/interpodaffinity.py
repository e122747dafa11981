"""InterPodAffinity (PreFilter + extensions, Filter, PreScore, Score).

Upstream's algorithm: PreFilter counts, per topology pair (key, value),
(1) existing pods whose *required anti-affinity* matches the incoming pod,
(2) existing pods matching all the incoming pod's required affinity terms,
(3) existing pods matching each of its required anti-affinity terms. Filter is
then a few dict lookups per node. A pod whose affinity matches only itself may
go first (so a group with self-affinity can start). Score sums, per topology
pair, the preferred (anti-)affinity weights of both sides plus
``hardPodAffinityWeight`` for existing pods' required affinity, then
normalizes min..max to 0..100.

``add_pod``/``remove_pod`` update the counts when preemption simulates
removing victims or adding nominated pods.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from pinnace.scheduler.framework.interface import CycleState, NodeScore, PreFilterResult
from pinnace.scheduler.framework.status import Status
from pinnace.scheduler.framework.types import AffinityTerm, NodeInfo, PodInfo

NAME = "InterPodAffinity"
ERR_REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
ERR_REASON_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
_PF_KEY = "PreFilter" + NAME
_PS_KEY = "PreScore" + NAME

Pair = tuple[str, str]


class _State:
    __slots__ = ("affinity", "anti_affinity", "existing_anti_affinity")

    def __init__(self) -> None:
        self.existing_anti_affinity: dict[Pair, int] = defaultdict(int)
        self.affinity: dict[Pair, int] = defaultdict(int)
        self.anti_affinity: dict[Pair, int] = defaultdict(int)

    def clone(self) -> _State:
        c = _State()
        c.existing_anti_affinity.update(self.existing_anti_affinity)
        c.affinity.update(self.affinity)
        c.anti_affinity.update(self.anti_affinity)
        return c


def _bump(counts: dict[Pair, int], key: str, labels: Mapping[str, str], n: int) -> None:
    if key in labels:
        pair = (key, labels[key])
        v = counts.get(pair, 0) + n
        if v:
            counts[pair] = v
        else:
            counts.pop(pair, None)


class InterPodAffinity:
    name = NAME

    def __init__(self, args: Mapping[str, Any], handle: Any) -> None:
        self.handle = handle
        self.hard_pod_affinity_weight = int(args.get("hardPodAffinityWeight", 1))
        self.ignore_preferred_of_existing = bool(args.get("ignorePreferredTermsOfExistingPods"))

    def _ns_labels(self, ns: str) -> Mapping[str, str] | None:
        labels: Mapping[str, str] | None = self.handle.namespace_labels(ns)
        return labels

    def _matches_all(self, terms: list[AffinityTerm], pod: PodInfo) -> bool:
        if not terms:
            return False
        return all(t.matches(pod, self._ns_labels) for t in terms)

    # --- PreFilter -----------------------------------------------------------------------

    def pre_filter(
        self, state: CycleState, pod: PodInfo
    ) -> tuple[PreFilterResult | None, Status | None]:
        snapshot = self.handle.snapshot
        anti_nodes = snapshot.nodes_with_required_anti_affinity_pods()
        if (
            not pod.required_affinity_terms
            and not pod.required_anti_affinity_terms
            and not anti_nodes
        ):
            return None, Status.skip()
        s = _State()
        for ni in anti_nodes:
            for existing in ni.pods_with_required_anti_affinity.values():
                self._count_existing(s, pod, existing, ni, 1)
        if pod.required_affinity_terms or pod.required_anti_affinity_terms:
            for ni in snapshot.node_list():
                if not ni.pods:
                    continue
                for existing in ni.pods.values():
                    self._count_incoming(s, pod, existing, ni, 1)
        state.write(_PF_KEY, s)
        return None, None

    def _count_existing(
        self, s: _State, pod: PodInfo, existing: PodInfo, ni: NodeInfo, n: int
    ) -> None:
        for t in existing.required_anti_affinity_terms:
            if t.matches(pod, self._ns_labels):
                _bump(s.existing_anti_affinity, t.topology_key, ni.labels, n)

    def _count_incoming(
        self, s: _State, pod: PodInfo, existing: PodInfo, ni: NodeInfo, n: int
    ) -> None:
        if pod.required_affinity_terms and self._matches_all(pod.required_affinity_terms, existing):
            for t in pod.required_affinity_terms:
                _bump(s.affinity, t.topology_key, ni.labels, n)
        for t in pod.required_anti_affinity_terms:
            if t.matches(existing, self._ns_labels):
                _bump(s.anti_affinity, t.topology_key, ni.labels, n)

    def add_pod(
        self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo
    ) -> Status | None:
        s: _State | None = state.read(_PF_KEY)
        if s is not None:
            self._count_existing(s, pod, added, node, 1)
            self._count_incoming(s, pod, added, node, 1)
        return None

    def remove_pod(
        self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo
    ) -> Status | None:
        s: _State | None = state.read(_PF_KEY)
        if s is not None:
            self._count_existing(s, pod, removed, node, -1)
            self._count_incoming(s, pod, removed, node, -1)
        return None

    # --- Filter --------------------------------------------------------------------------

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: _State | None = state.read(_PF_KEY)
        if s is None:
            return None
        labels = node.labels
        if pod.required_affinity_terms and not self._satisfy_affinity(s, pod, labels):
            return Status.unresolvable(ERR_REASON_AFFINITY)
        if s.anti_affinity:
            for t in pod.required_anti_affinity_terms:
                v = labels.get(t.topology_key)
                if v is not None and s.anti_affinity.get((t.topology_key, v), 0) > 0:
                    return Status.unschedulable(ERR_REASON_ANTI_AFFINITY)
        if s.existing_anti_affinity:
            for k, v in labels.items():
                if s.existing_anti_affinity.get((k, v), 0) > 0:
                    return Status.unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY)
        return None

    def _satisfy_affinity(self, s: _State, pod: PodInfo, labels: Mapping[str, str]) -> bool:
        pods_exist = True
        for t in pod.required_affinity_terms:
            v = labels.get(t.topology_key)
            if v is None:
                return False
            if s.affinity.get((t.topology_key, v), 0) <= 0:
                pods_exist = False
        if not pods_exist:
            return not s.affinity and self._matches_all(pod.required_affinity_terms, pod)
        return True

    # --- Score ---------------------------------------------------------------------------

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Status | None:
        snapshot = self.handle.snapshot
        has_preferred = bool(pod.preferred_affinity_terms or pod.preferred_anti_affinity_terms)
        candidates = snapshot.node_list() if has_preferred else snapshot.nodes_with_affinity_pods()
        if not has_preferred and not candidates:
            return Status.skip()
        scores: dict[str, dict[str, int]] = {}

        def add(key: str, labels: Mapping[str, str], w: int) -> None:
            v = labels.get(key)
            if v is None or not w:
                return
            d = scores.setdefault(key, {})
            d[v] = d.get(v, 0) + w

        for ni in candidates:
            existing_pods = ni.pods if has_preferred else ni.pods_with_affinity
            for ex in existing_pods.values():
                for wt in pod.preferred_affinity_terms:
                    if wt.term.matches(ex, self._ns_labels):
                        add(wt.term.topology_key, ni.labels, wt.weight)
                for wt in pod.preferred_anti_affinity_terms:
                    if wt.term.matches(ex, self._ns_labels):
                        add(wt.term.topology_key, ni.labels, -wt.weight)
                if self.hard_pod_affinity_weight > 0:
                    for t in ex.required_affinity_terms:
                        if t.matches(pod, self._ns_labels):
                            add(t.topology_key, ni.labels, self.hard_pod_affinity_weight)
                if not self.ignore_preferred_of_existing:
                    for wt in ex.preferred_affinity_terms:
                        if wt.term.matches(pod, self._ns_labels):
                            add(wt.term.topology_key, ni.labels, wt.weight)
                    for wt in ex.preferred_anti_affinity_terms:
                        if wt.term.matches(pod, self._ns_labels):
                            add(wt.term.topology_key, ni.labels, -wt.weight)
        if not scores:
            return Status.skip()
        state.write(_PS_KEY, scores)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        scores: dict[str, dict[str, int]] = state.read(_PS_KEY) or {}
        total = 0
        for key, values in scores.items():
            v = node.labels.get(key)
            if v is not None:
                total += values.get(v, 0)
        return total

    def normalize_score(
        self, state: CycleState, pod: PodInfo, scores: list[NodeScore]
    ) -> Status | None:
        if not scores:
            return None
        lo = min(s.score for s in scores)
        hi = max(s.score for s in scores)
        diff = hi - lo
        for s in scores:
            s.score = int(100 * ((s.score - lo) / diff)) if diff > 0 else 0
        return None

    # Scores here may be negative before normalization.
    allows_negative_scores = True


def new(args: Mapping[str, Any], handle: Any) -> InterPodAffinity:
    return InterPodAffinity(args, handle)
