"""DefaultPreemption (PostFilter): make room for a pod by evicting lower-priority pods.

Upstream's evaluator, step by step:

1. The pod must be eligible (``preemptionPolicy`` not ``Never``; no lower-priority
   pod still terminating on the node it was already nominated to).
2. Only nodes whose filter status was ``Unschedulable`` are tried (the others
   report ``Preemption is not helpful for scheduling``).
3. Dry run per node, on a clone of the node and of the cycle state: remove all
   pods of lower priority; if the pod still does not fit, the node is out.
   Otherwise reprieve as many victims as possible, most important first, PDB
   violating ones before the others (PDBs: ``status.disruptionsAllowed``).
   Nodes are tried from a random offset until enough candidates are found
   (``minCandidateNodesPercentage`` 10 / ``minCandidateNodesAbsolute`` 100).
4. Pick the candidate with, in order: fewest PDB violations, lowest highest
   victim priority, lowest sum of priorities, fewest victims, latest start
   time of the highest-priority victims.
5. Set ``DisruptionTarget`` on each victim, delete it, record ``Preempted``;
   clear the nomination of lower-priority pods nominated to that node; the
   scheduler then sets ``status.nominatedNodeName`` on the preemptor.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pinnace.client import PODS, ApiError, NotFound
from pinnace.scheduler.framework.interface import CycleState, PostFilterResult
from pinnace.scheduler.framework.status import Code, Status
from pinnace.scheduler.framework.types import NodeInfo, PodInfo
from pinnace.scheduler.selectors import LabelSelector

NAME = "DefaultPreemption"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
_MAX_INT32 = 2**31 - 1

log = logging.getLogger(__name__)


def start_time(p: PodInfo) -> str:
    st = (p.pod.get("status") or {}).get("startTime")
    return str(st) if st else "9999-12-31T23:59:59Z"  # not started: "now", i.e. latest


def importance_key(p: PodInfo) -> tuple[int, str]:
    """Sort key, most important first (upstream ``MoreImportantPod``)."""
    return (-p.priority, start_time(p))


class _Candidate:
    __slots__ = ("name", "num_pdb_violations", "victims")

    def __init__(self, name: str, victims: list[PodInfo], violations: int) -> None:
        self.name = name
        self.victims = victims
        self.num_pdb_violations = violations


class _PDB:
    __slots__ = ("allowed", "disrupted", "namespace", "selector")

    def __init__(self, pdb: Mapping[str, Any]) -> None:
        m = pdb.get("metadata") or {}
        self.namespace = str(m.get("namespace") or "")
        sel = (pdb.get("spec") or {}).get("selector")
        self.selector = LabelSelector.from_api(sel)
        status = pdb.get("status") or {}
        self.allowed = int(status.get("disruptionsAllowed") or 0)
        self.disrupted = set((status.get("disruptedPods") or {}).keys())


class DefaultPreemption:
    name = NAME

    def __init__(self, args: Mapping[str, Any], handle: Any) -> None:
        self.handle = handle
        self.min_candidate_nodes_percentage = int(args.get("minCandidateNodesPercentage", 10))
        self.min_candidate_nodes_absolute = int(args.get("minCandidateNodesAbsolute", 100))
        self.random = random.Random()

    # --- eligibility ---------------------------------------------------------------------

    def eligible(self, pod: PodInfo, statuses: Mapping[str, Status]) -> str:
        """ "" if the pod may preempt, else why not."""
        if pod.spec.get("preemptionPolicy") == "Never":
            return "not eligible due to preemptionPolicy=Never."
        nominated = str((pod.pod.get("status") or {}).get("nominatedNodeName") or "")
        if nominated:
            st = statuses.get(nominated)
            if st is not None and st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return ""
            ni = self.handle.snapshot.get(nominated)
            if ni is not None:
                for p in ni.pods.values():
                    if p.terminating and p.priority < pod.priority:
                        return "not eligible due to a terminating pod on the nominated node."
        return ""

    # --- PostFilter ----------------------------------------------------------------------

    def post_filter(
        self, state: CycleState, pod: PodInfo, statuses: Mapping[str, Status]
    ) -> tuple[PostFilterResult | None, Status]:
        from pinnace.scheduler.framework.errors import fit_error_message

        why = self.eligible(pod, statuses)
        if why:
            return None, Status(Code.UNSCHEDULABLE, "preemption: " + why)
        node_statuses: dict[str, Status] = {}
        potential: list[NodeInfo] = []
        for ni in self.handle.snapshot.node_list():
            st = statuses.get(ni.name)
            if st is None or st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                node_statuses[ni.name] = Status.unresolvable(NOT_HELPFUL)
            else:
                potential.append(ni)
        candidates: list[_Candidate] = []
        if potential:
            pdbs = [_PDB(p) for p in self.handle.lister("poddisruptionbudgets")]
            candidates = self.dry_run(state, pod, potential, pdbs, node_statuses)
        else:
            self._clear_nomination(pod)
        if not candidates:
            msg = fit_error_message(len(node_statuses), node_statuses)
            return PostFilterResult(), Status(Code.UNSCHEDULABLE, "preemption: " + msg)
        best = pick_one_node(candidates)
        self.prepare(pod, best)
        return PostFilterResult(best.name, best.victims), Status()

    def dry_run(
        self,
        state: CycleState,
        pod: PodInfo,
        potential: list[NodeInfo],
        pdbs: list[_PDB],
        node_statuses: dict[str, Status],
    ) -> list[_Candidate]:
        n = len(potential)
        num = max(n * self.min_candidate_nodes_percentage // 100, self.min_candidate_nodes_absolute)
        num = min(num, n)
        offset = self.random.randrange(n)
        non_violating: list[_Candidate] = []
        violating: list[_Candidate] = []
        for i in range(n):
            ni = potential[(offset + i) % n]
            victims, violations, st = self.select_victims_on_node(
                state.clone(), pod, ni.clone(), pdbs
            )
            if st is None and victims:
                c = _Candidate(ni.name, victims, violations)
                (violating if violations else non_violating).append(c)
                if non_violating and len(non_violating) + len(violating) >= num:
                    break
                continue
            if st is None:
                st = Status.error(f'expected at least one victim pod on node "{ni.name}"')
            node_statuses[ni.name] = st
        return non_violating + violating

    def select_victims_on_node(
        self, state: CycleState, pod: PodInfo, node: NodeInfo, pdbs: list[_PDB]
    ) -> tuple[list[PodInfo], int, Status | None]:
        h = self.handle
        potential = [p for p in node.pods.values() if p.priority < pod.priority]
        if not potential:
            return [], 0, Status.unresolvable(NO_VICTIMS)
        for p in potential:
            node.remove_pod(p)
            st = h.run_pre_filter_extension_remove_pod(state, pod, p, node)
            if st is not None and not st.is_success():
                return [], 0, st
        st = h.run_filter_with_nominated_pods(state, pod, node)
        if st is not None and not st.is_success():
            return [], 0, st
        potential.sort(key=importance_key)
        violating, non_violating = filter_pods_with_pdb_violation(potential, pdbs)
        victims: list[PodInfo] = []
        num_violating = 0

        def reprieve(p: PodInfo) -> bool:
            node.add_pod(p)
            h.run_pre_filter_extension_add_pod(state, pod, p, node)
            st = h.run_filter_with_nominated_pods(state, pod, node)
            fits = st is None or st.is_success()
            if not fits:
                node.remove_pod(p)
                h.run_pre_filter_extension_remove_pod(state, pod, p, node)
                victims.append(p)
            return fits

        for p in violating:
            if not reprieve(p):
                num_violating += 1
        for p in non_violating:
            reprieve(p)
        return victims, num_violating, None

    # --- acting --------------------------------------------------------------------------

    def prepare(self, pod: PodInfo, c: _Candidate) -> None:
        h = self.handle
        for v in c.victims:
            h.record_event(
                v.pod, "Normal", "Preempted", f"Preempted by pod {pod.uid} on node {c.name}"
            )
            if h.api is not None:
                h.spawn(self._evict(v))
        for other in h.nominated_pods_for_node(c.name):
            if other.priority < pod.priority and other.uid != pod.uid:
                self._clear_nomination(other)

    async def _evict(self, victim: PodInfo) -> None:
        api = self.handle.api
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        cond = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": f"{self.handle.scheduler_name}: preempting to accommodate a higher priority pod",
            "lastTransitionTime": now,
        }
        try:
            await api.patch_status(
                PODS,
                victim.name,
                {"status": {"conditions": [cond]}},
                namespace=victim.namespace,
                patch_type="strategic",
            )
        except NotFound:
            return
        except ApiError as e:
            log.warning("setting DisruptionTarget on %s failed: %s", victim.key, e)
        try:
            await api.delete(
                PODS, victim.name, namespace=victim.namespace, preconditions={"uid": victim.uid}
            )
        except NotFound:
            pass
        except ApiError as e:
            log.warning("deleting preemption victim %s failed: %s", victim.key, e)

    def _clear_nomination(self, pod: PodInfo) -> None:
        h = self.handle
        if h.api is None or not (pod.pod.get("status") or {}).get("nominatedNodeName"):
            return

        async def clear() -> None:
            try:
                await h.api.patch_status(
                    PODS, pod.name, {"status": {"nominatedNodeName": None}}, namespace=pod.namespace
                )
            except ApiError as e:
                log.info("clearing nominatedNodeName of %s failed: %s", pod.key, e)

        h.spawn(clear())


def filter_pods_with_pdb_violation(
    pods: list[PodInfo], pdbs: list[_PDB]
) -> tuple[list[PodInfo], list[PodInfo]]:
    """(violating, non-violating), order preserved (upstream ``filterPodsWithPDBViolation``)."""
    allowed = [p.allowed for p in pdbs]
    violating: list[PodInfo] = []
    non_violating: list[PodInfo] = []
    for pod in pods:
        violated = False
        for i, pdb in enumerate(pdbs):
            if pdb.namespace != pod.namespace:
                continue
            if pdb.selector.empty or not pdb.selector.matches(pod.labels):
                continue
            if pod.name in pdb.disrupted:
                continue
            allowed[i] -= 1
            if allowed[i] < 0:
                violated = True
        (violating if violated else non_violating).append(pod)
    return violating, non_violating


def _earliest_start_of_highest(victims: list[PodInfo]) -> str:
    top = max(v.priority for v in victims)
    return min(start_time(v) for v in victims if v.priority == top)


def pick_one_node(candidates: list[_Candidate]) -> _Candidate:
    """Upstream ``pickOneNodeForPreemption``: lexicographic on the criteria."""
    for c in candidates:
        if not c.victims:
            return c

    def key(c: _Candidate) -> tuple[int, int, int, int, str]:
        prios = [v.priority for v in c.victims]
        latest = _earliest_start_of_highest(c.victims)
        # invert the start time so that "later" sorts first
        inv = "".join(chr(0x10FFFF - ord(ch)) for ch in latest)
        return (
            c.num_pdb_violations,
            max(prios),
            sum(p + _MAX_INT32 + 1 for p in prios),
            len(c.victims),
            inv,
        )

    return min(candidates, key=key)


def new(args: Mapping[str, Any], handle: Any) -> DefaultPreemption:
    return DefaultPreemption(args, handle)
