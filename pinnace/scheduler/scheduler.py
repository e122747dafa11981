"""The scheduler: informers feed the snapshot and the queue; one pod at a time
goes through the scheduling cycle; binding runs concurrently in the background.

Concurrency model (one event loop):

* informer handlers (run inline by the informers) update the
  :class:`~pinnace.scheduler.framework.Snapshot` and the
  :class:`~pinnace.scheduler.queue.SchedulingQueue`;
* the scheduling loop pops a pod and runs its *scheduling cycle* synchronously
  (PreFilter → Filter on a sample of nodes → PostFilter/preemption on failure
  → PreScore/Score → pick the best node → assume → Reserve → Permit). It never
  awaits in between, so the snapshot cannot change under it, and the next
  cycle already sees the assumed pod. Cycles run back to back for up to
  ``time_slice`` (20 ms) before the loop yields, so that an API server
  sharing the event loop cannot reduce the scheduler to one pod per loop
  iteration;
* each *binding cycle* (PreBind → Bind → PostBind) is a task, at most
  ``bind_concurrency`` at once; failures forget the assumed pod and requeue.

Failures are reported the way kube-scheduler reports them: a Warning event
``FailedScheduling`` with upstream's message, and the pod condition
``PodScheduled=False`` (reason ``Unschedulable``, or ``SchedulerError``);
successes get a Normal ``Scheduled`` event. Metrics: :mod:`.metrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import UTC
from typing import Any

import numpy as np
import numpy.typing as npt

from pinnace.client import (
    PODS,
    REAL_CLOCK,
    ApiError,
    Client,
    ClientConfig,
    Clock,
    Conflict,
    EventRecorder,
    Informer,
    LeaderElector,
    NotFound,
    SharedInformerFactory,
    trim_for_cache,
)
from pinnace.scheduler import metrics
from pinnace.scheduler import queue as q_events
from pinnace.scheduler.config import (
    DEFAULT_SCHEDULER_NAME,
    SchedulerConfig,
    load_config,
)
from pinnace.scheduler.framework.columns import remember_positions
from pinnace.scheduler.framework.errors import Diagnosis, FitError, NoNodesAvailable
from pinnace.scheduler.framework.interface import CycleState
from pinnace.scheduler.framework.runtime import Framework
from pinnace.scheduler.framework.snapshot import Snapshot
from pinnace.scheduler.framework.status import Code, Status
from pinnace.scheduler.framework.types import NodeInfo, PodInfo
from pinnace.scheduler.queue import QueueClosed, QueuedPodInfo, SchedulingQueue

__all__ = [
    "MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND",
    "MIN_FEASIBLE_NODES_TO_FIND",
    "Scheduler",
    "default_identity",
    "num_feasible_nodes_to_find",
    "run_scheduler",
]

log = logging.getLogger("pinnace.scheduler")

Obj = dict[str, Any]
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
_MIN_FILTER_CHUNK = 64  # filter at least this many nodes per batch (a few are wasted at most)

#: informers the scheduler keeps (plural → (group, version)); absent ones are skipped
WATCHED = {
    "pods": ("", "v1"),
    "nodes": ("", "v1"),
    "namespaces": ("", "v1"),
    "services": ("", "v1"),
    "replicationcontrollers": ("", "v1"),
    "persistentvolumeclaims": ("", "v1"),
    "persistentvolumes": ("", "v1"),
    "replicasets": ("apps", "v1"),
    "statefulsets": ("apps", "v1"),
    "poddisruptionbudgets": ("policy", "v1"),
    "storageclasses": ("storage.k8s.io", "v1"),
}


def num_feasible_nodes_to_find(percentage: int, num_all_nodes: int) -> int:
    """Upstream ``numFeasibleNodesToFind`` (0 = adaptive: 50 - nodes/125, at least 5 %)."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    if percentage == 0:
        percentage = 50 - num_all_nodes // 125
        percentage = max(percentage, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    if percentage >= 100:
        return num_all_nodes
    n = num_all_nodes * percentage // 100
    return max(n, MIN_FEASIBLE_NODES_TO_FIND)


def _now_rfc3339(clock: Clock) -> str:
    return clock.wall().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _assigned(pod: Obj) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


def _node_sched_props(node: Obj) -> tuple[Any, ...]:
    m = node.get("metadata") or {}
    spec = node.get("spec") or {}
    st = node.get("status") or {}
    return (
        m.get("labels"),
        spec.get("taints"),
        spec.get("unschedulable"),
        st.get("allocatable"),
        st.get("capacity") if not st.get("allocatable") else None,
        len(st.get("images") or []),
    )


class Scheduler:
    """kube-scheduler: profiles, queue, snapshot, and the scheduling loop."""

    def __init__(
        self,
        client: Client | None,
        config: SchedulerConfig | None = None,
        *,
        clock: Clock = REAL_CLOCK,
        seed: int | None = None,
        bind_concurrency: int = 128,
        time_slice: float = 0.02,
    ) -> None:
        self.client = client
        self.config = config or SchedulerConfig()
        self.clock = clock
        self.random = random.Random(seed)
        self.snapshot = Snapshot()
        self.informers: dict[str, Informer] = {}
        self.factory: SharedInformerFactory | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._bind_sem = asyncio.Semaphore(bind_concurrency)
        self.time_slice = time_slice
        self.next_start_node_index = 0
        self.frameworks: dict[str, Framework] = {
            p.scheduler_name: Framework(p, self) for p in self.config.profiles
        }
        first = next(iter(self.frameworks.values()))
        sorts = {fw.queue_sort.name for fw in self.frameworks.values()}
        if len(sorts) > 1:
            raise ValueError("all profiles must use the same queueSort plugin")
        self.queue = SchedulingQueue(
            sort_key=first.queue_sort.sort_key,
            pre_enqueue=self._pre_enqueue,
            clock=clock,
            initial_backoff=self.config.pod_initial_backoff_seconds,
            max_backoff=self.config.pod_max_backoff_seconds,
        )
        self.recorders: dict[str, EventRecorder] = {}
        if client is not None:
            # events go through a client of their own (as upstream's scheduler): a burst
            # of them never holds back bindings
            events = client.with_own_limits(client.limiter.qps, client.limiter.burst)
            for name in self.frameworks:
                self.recorders[name] = EventRecorder(
                    events, name, clock=clock, queue_size=20000, correlate=False
                )
        for qname in ("active", "backoff", "unschedulable", "gated"):
            metrics.PENDING_PODS.labels(qname).set_function(self._pending_getter(qname))
        self.scheduled = 0
        self.ready = asyncio.Event()

    def _pending_getter(self, name: str) -> Callable[[], float]:
        def get() -> float:
            return float(self.queue.pending()[name])

        return get

    # --- Cluster (what the frameworks use) -------------------------------------------------

    @property
    def api(self) -> Client | None:
        return self.client

    def namespace_labels(self, namespace: str) -> Mapping[str, str] | None:
        inf = self.informers.get("namespaces")
        ns = inf.get(namespace) if inf is not None else None
        labels: Mapping[str, str] | None = (ns.get("metadata") or {}).get("labels") if ns else None
        return labels or {}

    def lister(self, plural: str) -> Sequence[Obj]:
        inf = self.informers.get(plural)
        return inf.list() if inf is not None else []

    def get_object(self, plural: str, namespace: str, name: str) -> Obj | None:
        inf = self.informers.get(plural)
        if inf is None:
            return None
        return inf.get(f"{namespace}/{name}" if namespace else name)

    def nominated_pods_for_node(self, node: str) -> list[PodInfo]:
        return self.queue.nominated_pods_for_node(node)

    def record_event(
        self, obj: Obj, type_: str, reason: str, message: str, scheduler_name: str
    ) -> None:
        rec = self.recorders.get(scheduler_name)
        if rec is not None:
            rec.event(obj, type_, reason, message, kind="Pod", api_version="v1")

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("scheduler background task failed", exc_info=task.exception())

    # --- event handlers ------------------------------------------------------------------

    def _responsible(self, pod: Obj) -> bool:
        name = (pod.get("spec") or {}).get("schedulerName") or DEFAULT_SCHEDULER_NAME
        return name in self.frameworks

    def _pre_enqueue(self, pod: PodInfo) -> Status | None:
        fw = self.frameworks.get(pod.spec.get("schedulerName") or DEFAULT_SCHEDULER_NAME)
        return fw.run_pre_enqueue(pod) if fw is not None else None

    def on_pod_add(self, pod: Obj) -> None:
        if _assigned(pod):
            if _is_terminal(pod):
                return
            self.snapshot.add_pod(pod)
            self.queue.move_all_to_active_or_backoff(q_events.ASSIGNED_POD_ADD)
        elif self._responsible(pod) and not _is_terminal(pod):
            if (pod.get("metadata") or {}).get("deletionTimestamp"):
                return
            self.queue.add(pod)

    def on_pod_update(self, old: Obj, new: Obj) -> None:
        if _assigned(new):
            if not _assigned(old):
                self.queue.delete(old)
            if _is_terminal(new):
                if self.snapshot.pod_node(str(new["metadata"].get("uid"))) is not None:
                    self.snapshot.remove_pod(new)
                    self.queue.move_all_to_active_or_backoff(q_events.ASSIGNED_POD_DELETE)
                return
            self.snapshot.add_pod(new)
            old_labels = (old.get("metadata") or {}).get("labels")
            if not _assigned(old) or old_labels != (new.get("metadata") or {}).get("labels"):
                self.queue.move_all_to_active_or_backoff(
                    q_events.ASSIGNED_POD_ADD
                    if not _assigned(old)
                    else q_events.ASSIGNED_POD_UPDATE
                )
            return
        if not self._responsible(new) or _is_terminal(new):
            self.queue.delete(new)
            return
        uid = str((new.get("metadata") or {}).get("uid"))
        if self.snapshot.is_assumed(uid):
            return  # being bound; the informer will catch up
        self.queue.update(old, new)

    def on_pod_delete(self, pod: Obj) -> None:
        uid = str((pod.get("metadata") or {}).get("uid"))
        if _assigned(pod) or self.snapshot.pod_node(uid) is not None:
            if not self.snapshot.is_assumed(uid) or _assigned(pod):
                self.snapshot.remove_pod(pod)
            self.queue.move_all_to_active_or_backoff(q_events.ASSIGNED_POD_DELETE)
        self.queue.delete(pod)
        for fw in self.frameworks.values():
            fw.reject_waiting_pod(uid, "pod deleted")

    def on_node_add(self, node: Obj) -> None:
        self.snapshot.add_node(node)
        self.queue.move_all_to_active_or_backoff(q_events.NODE_ADD)

    def on_node_update(self, old: Obj, new: Obj) -> None:
        self.snapshot.update_node(new)
        if _node_sched_props(old) != _node_sched_props(new):
            self.queue.move_all_to_active_or_backoff(q_events.NODE_UPDATE)

    def on_node_delete(self, node: Obj) -> None:
        self.snapshot.remove_node(str((node.get("metadata") or {}).get("name")))

    def _on_storage(self, *objs: Obj) -> None:
        self.queue.move_all_to_active_or_backoff(q_events.STORAGE_CHANGE)

    def _on_selector_source(self, *objs: Obj) -> None:
        self.queue.move_all_to_active_or_backoff(q_events.SELECTOR_CHANGE)

    # --- the scheduling cycle ------------------------------------------------------------

    def schedule_one(self, q: QueuedPodInfo) -> None:
        pod = q.pod
        fw = self.frameworks.get(pod.spec.get("schedulerName") or DEFAULT_SCHEDULER_NAME)
        if fw is None or pod.terminating or pod.node_name or self.snapshot.is_assumed(pod.uid):
            self.queue.done(pod.uid)
            return
        cycle = self.queue.scheduling_cycle
        start = self.clock.now()
        state = CycleState()
        try:
            node = self.schedule_pod(fw, state, pod)
        except FitError as e:
            nominated: str | None = None
            if fw.post_filter_plugins:
                metrics.PREEMPTION_ATTEMPTS.inc()
                result, st = fw.run_post_filter(state, pod, e.diagnosis.node_statuses)
                if st.code == Code.ERROR:
                    log.error("post filter for %s failed: %s", pod.key, st.message())
                elif not st.is_success():
                    e.diagnosis.post_filter_msg = st.message()
                if result is not None:
                    nominated = result.nominated_node_name
                    if result.victims:
                        metrics.PREEMPTION_VICTIMS.observe(len(result.victims))
            self._record_attempt("unschedulable", fw, start)
            self.handle_failure(
                fw, q, str(e), "Unschedulable", cycle, e.diagnosis.unschedulable_plugins, nominated
            )
            return
        except NoNodesAvailable as e:
            self._record_attempt("unschedulable", fw, start)
            self.handle_failure(fw, q, str(e), "Unschedulable", cycle, set(), None)
            return
        except Exception as e:
            log.exception("error scheduling pod %s", pod.key)
            self._record_attempt("error", fw, start)
            self.handle_failure(fw, q, str(e), "SchedulerError", cycle, set(), None, error=True)
            return

        # assume: the next cycle sees the capacity as taken
        self.snapshot.assume_pod(pod, node)
        self.queue.delete_nominated(pod.uid)
        reserve = fw.run_reserve(state, pod, node)
        if reserve is not None and not reserve.is_success():
            fw.run_unreserve(state, pod, node)
            self.snapshot.forget_pod(pod.uid)
            self._record_attempt("error", fw, start)
            self.handle_failure(
                fw, q, reserve.message(), "SchedulerError", cycle, set(), None, error=True
            )
            return
        permit, wait = fw.run_permit(state, pod, node)
        if permit is not None and permit.code not in (Code.SUCCESS, Code.WAIT):
            fw.run_unreserve(state, pod, node)
            self.snapshot.forget_pod(pod.uid)
            self.queue.move_all_to_active_or_backoff(q_events.ASSIGNED_POD_DELETE)
            self._record_attempt("unschedulable", fw, start)
            self.handle_failure(
                fw, q, permit.message(), "Unschedulable", cycle, {permit.plugin}, None
            )
            return
        self.spawn(self.binding_cycle(fw, state, q, node, start, cycle, wait))

    def schedule_pod(self, fw: Framework, state: CycleState, pod: PodInfo) -> str:
        nodes = self.snapshot.node_list()
        if not nodes:
            raise NoNodesAvailable()
        feasible, diagnosis = self.find_nodes_that_fit(fw, state, pod, nodes)
        if not feasible:
            raise FitError(pod, len(nodes), diagnosis)
        if len(feasible) == 1:
            return feasible[0].name
        scores = self.prioritize(fw, state, pod, feasible)
        return self.select_host(feasible, scores)

    def find_nodes_that_fit(
        self, fw: Framework, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
    ) -> tuple[list[NodeInfo], Diagnosis]:
        diagnosis = Diagnosis()
        result, st = fw.run_pre_filter(state, pod)
        if st is not None and not st.is_success():
            if st.code == Code.ERROR:
                raise RuntimeError(f"running PreFilter plugin {st.plugin}: {st.message()}")
            diagnosis.pre_filter_msg = st.message()
            diagnosis.node_statuses = {n.name: st for n in nodes}
            if st.plugin:
                diagnosis.unschedulable_plugins.add(st.plugin)
            return [], diagnosis
        nominated = str((pod.pod.get("status") or {}).get("nominatedNodeName") or "")
        if nominated:
            ni = self.snapshot.get(nominated)
            if ni is not None and (
                result is None or result.node_names is None or nominated in result.node_names
            ):
                st = fw.run_filter_with_nominated_pods(state, pod, ni)
                if st is None or st.is_success():
                    return [ni], diagnosis
        candidates = nodes
        if result is not None and result.node_names is not None:
            candidates = [n for n in nodes if n.name in result.node_names]
        feasible = self._find_nodes_that_pass_filters(fw, state, pod, candidates, diagnosis)
        return feasible, diagnosis

    def _find_nodes_that_pass_filters(
        self,
        fw: Framework,
        state: CycleState,
        pod: PodInfo,
        nodes: list[NodeInfo],
        diagnosis: Diagnosis,
    ) -> list[NodeInfo]:
        n = len(nodes)
        if n == 0:
            return []
        pct = fw.percentage_of_nodes_to_score
        if pct is None:
            pct = self.config.percentage_of_nodes_to_score
        to_find = num_feasible_nodes_to_find(pct, n)
        start = self.next_start_node_index % n
        if not fw.filter_plugins:
            self.next_start_node_index = (start + to_find) % n
            return [nodes[(start + i) % n] for i in range(to_find)]
        statuses = diagnosis.node_statuses
        plugins = diagnosis.unschedulable_plugins
        if self.queue._nominated:
            return self._filter_node_by_node(fw, state, pod, nodes, start, to_find, diagnosis)
        # Filter in chunks, plugin by plugin over each chunk (Framework.run_filter_batch),
        # with the result of node-by-node filtering from ``start``: the first
        # ``to_find`` feasible nodes in rotated order; the start index moves past
        # the last node that was needed.
        feasible: list[NodeInfo] = []
        # When ``nodes`` is the snapshot's list, a chunk's rows in the node
        # columns are known (a range), and so are the feasible nodes' while no
        # node fails: the vector paths then skip finding them node by node.
        cols = self.snapshot.columns_of(nodes)
        rows: list[npt.NDArray[np.intp]] | None = [] if cols is not None else None
        pos = 0
        while pos < n and len(feasible) < to_find:
            k = min(max(to_find - len(feasible), _MIN_FILTER_CHUNK), n - pos)
            a = (start + pos) % n
            chunk = nodes[a : a + k] if a + k <= n else nodes[a:] + nodes[: a + k - n]
            chunk_rows = None
            if cols is not None:
                chunk_rows = np.arange(a, a + k, dtype=np.intp)
                if a + k > n:
                    chunk_rows %= n
                remember_positions(state, chunk, cols, chunk_rows)
            ok, failed = fw.run_filter_batch(state, pod, chunk)
            need = to_find - len(feasible)
            limit = k  # how many nodes of the chunk count as processed
            if len(ok) > need:
                # more than needed: cut after the last needed node
                last = ok[need - 1]
                limit = next(i for i, ni in enumerate(chunk) if ni is last) + 1
                ok = ok[:need]
                kept = {id(ni) for ni in chunk[:limit]}
                failed = [(ni, st) for ni, st in failed if id(ni) in kept]
            for ni, st in failed:
                if st.code == Code.ERROR:
                    raise RuntimeError(f"running Filter plugin {st.plugin}: {st.message()}")
                statuses[ni.name] = st
                plugins.add(st.plugin)
            if rows is not None and chunk_rows is not None and not failed:
                rows.append(chunk_rows[: len(ok)])  # every processed node passed
            else:
                rows = None
            feasible.extend(ok)
            pos += limit
        self.next_start_node_index = (start + pos) % n
        if cols is not None and rows:
            remember_positions(state, feasible, cols, np.concatenate(rows))
        return feasible

    def _filter_node_by_node(
        self,
        fw: Framework,
        state: CycleState,
        pod: PodInfo,
        nodes: list[NodeInfo],
        start: int,
        to_find: int,
        diagnosis: Diagnosis,
    ) -> list[NodeInfo]:
        """Filtering while pods are nominated: each node also as if the nominated
        pods were on it."""
        n = len(nodes)
        feasible: list[NodeInfo] = []
        statuses = diagnosis.node_statuses
        plugins = diagnosis.unschedulable_plugins
        processed = 0
        for i in range(n):
            ni = nodes[(start + i) % n]
            processed += 1
            st = fw.run_filter_with_nominated_pods(state, pod, ni)
            if st is None or st.code == Code.SUCCESS:
                feasible.append(ni)
                if len(feasible) >= to_find:
                    break
            elif st.code == Code.ERROR:
                raise RuntimeError(f"running Filter plugin {st.plugin}: {st.message()}")
            else:
                statuses[ni.name] = st
                plugins.add(st.plugin)
        self.next_start_node_index = (start + processed) % n
        return feasible

    def prioritize(
        self, fw: Framework, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
    ) -> list[int]:
        if not fw.score_plugins:
            return [1] * len(nodes)
        st = fw.run_pre_score(state, pod, nodes)
        if st is not None and not st.is_success():
            raise RuntimeError(f"running PreScore plugin {st.plugin}: {st.message()}")
        return fw.run_score(state, pod, nodes)

    def select_host(self, nodes: list[NodeInfo], scores: list[int]) -> str:
        """The highest score; ties broken uniformly at random (upstream uses
        reservoir sampling; one draw over the tied nodes is the same distribution)."""
        best = max(scores)
        ties = [i for i, s in enumerate(scores) if s == best]
        if len(ties) == 1:
            return nodes[ties[0]].name
        return nodes[ties[self.random.randrange(len(ties))]].name

    # --- binding cycle -------------------------------------------------------------------

    async def binding_cycle(
        self,
        fw: Framework,
        state: CycleState,
        q: QueuedPodInfo,
        node: str,
        start: float,
        cycle: int,
        permit_wait: float,
    ) -> None:
        pod = q.pod
        st: Status | None
        async with self._bind_sem:
            try:
                st = None
                if permit_wait > 0:
                    st = await fw.wait_on_permit(pod, permit_wait)
                if st is None or st.is_success():
                    st = await fw.run_pre_bind(state, pod, node)
                if st is None or st.is_success():
                    st = await fw.run_bind(state, pod, node)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.exception("binding %s to %s failed", pod.key, node)
                st = Status.error(str(e))
        if st is None or st.is_success():
            self.snapshot.finish_binding(pod.uid, self.clock.now())
            self.scheduled += 1
            self._record_attempt("scheduled", fw, start)
            if q.initial_attempt_timestamp is not None:
                metrics.POD_SCHEDULING_SLI_DURATION.labels(str(q.attempts)).observe(
                    self.clock.now() - q.initial_attempt_timestamp
                )
            metrics.POD_SCHEDULING_ATTEMPTS.observe(q.attempts)
            fw.record_event(
                pod.pod,
                "Normal",
                "Scheduled",
                f"Successfully assigned {pod.namespace}/{pod.name} to {node}",
            )
            fw.run_post_bind(state, pod, node)
            self.queue.done(pod.uid)
            return
        # failed: give the capacity back and retry later
        self.snapshot.forget_pod(pod.uid)
        fw.run_unreserve(state, pod, node)
        self.queue.move_all_to_active_or_backoff(q_events.ASSIGNED_POD_DELETE)
        msg = st.message()
        if "already assigned" in msg or "not found" in msg.lower():
            log.info("not retrying %s: %s", pod.key, msg)
            self.queue.done(pod.uid)
            return
        self._record_attempt("error", fw, start)
        self.handle_failure(
            fw, q, f"Binding rejected: {msg}", "SchedulerError", cycle, set(), None, error=True
        )

    # --- failures ------------------------------------------------------------------------

    def _record_attempt(self, result: str, fw: Framework, start: float) -> None:
        name = fw.scheduler_name
        metrics.SCHEDULE_ATTEMPTS.labels(result, name).inc()
        metrics.SCHEDULING_ATTEMPT_DURATION.labels(result, name).observe(self.clock.now() - start)

    def handle_failure(
        self,
        fw: Framework,
        q: QueuedPodInfo,
        message: str,
        reason: str,
        cycle: int,
        plugins: set[str],
        nominated: str | None,
        *,
        error: bool = False,
    ) -> None:
        pod = q.pod
        log.debug("unable to schedule %s: %s", pod.key, message)
        q.unschedulable_plugins = {p for p in plugins if p}
        current = pod.pod
        inf = self.informers.get("pods")
        if inf is not None:
            cached = inf.get(pod.key)
            if cached is None or str((cached.get("metadata") or {}).get("uid")) != pod.uid:
                self.queue.done(pod.uid)
                return  # deleted meanwhile
            if _assigned(cached):
                self.queue.done(pod.uid)
                return
            current = cached
            q.pod = PodInfo(cached)
        self.queue.add_unschedulable_if_not_present(q, cycle, error=error)
        if nominated:
            self.queue.add_nominated(q.pod, nominated)
        fw.record_event(current, "Warning", "FailedScheduling", message)
        if self.client is not None:
            self.spawn(self._update_pod_status(current, reason, message, nominated))

    async def _update_pod_status(
        self, pod: Obj, reason: str, message: str, nominated: str | None
    ) -> None:
        assert self.client is not None
        status = pod.get("status") or {}
        old = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None
        )
        patch_status: Obj = {}
        if (
            old is None
            or old.get("status") != "False"
            or old.get("reason") != reason
            or old.get("message") != message
        ):
            cond = {
                "type": "PodScheduled",
                "status": "False",
                "reason": reason,
                "message": message,
                "lastProbeTime": None,
                "lastTransitionTime": (
                    old.get("lastTransitionTime")
                    if old is not None and old.get("status") == "False"
                    else _now_rfc3339(self.clock)
                ),
            }
            patch_status["conditions"] = [cond]
        if nominated is not None and nominated != (status.get("nominatedNodeName") or ""):
            patch_status["nominatedNodeName"] = nominated or None
        if not patch_status:
            return
        m = pod.get("metadata") or {}
        try:
            await self.client.patch_status(
                PODS,
                str(m.get("name")),
                {"status": patch_status},
                namespace=str(m.get("namespace")),
                patch_type="strategic",
            )
        except (NotFound, Conflict):
            pass
        except ApiError as e:
            log.warning(
                "updating status of pod %s/%s failed: %s", m.get("namespace"), m.get("name"), e
            )

    # --- running -------------------------------------------------------------------------

    def _setup_informers(self) -> SharedInformerFactory:
        assert self.client is not None
        from pinnace.api.resources import catalog

        cat = catalog()
        factory = SharedInformerFactory(self.client, clock=self.clock, transform=trim_for_cache)
        for plural, (group, version) in WATCHED.items():
            res = cat.by_plural(group, version, plural)
            if res is None:
                continue
            self.informers[plural] = factory.informer(res)
        pods = self.informers["pods"]
        pods.add_event_handler(self.on_pod_add, self.on_pod_update, self.on_pod_delete)
        self.informers["nodes"].add_event_handler(
            self.on_node_add, self.on_node_update, self.on_node_delete
        )
        for plural in ("persistentvolumeclaims", "persistentvolumes", "storageclasses"):
            if plural in self.informers:
                self.informers[plural].add_event_handler(
                    self._on_storage, self._on_storage, self._on_storage
                )
        for plural in ("services", "namespaces"):
            if plural in self.informers:
                self.informers[plural].add_event_handler(
                    self._on_selector_source, self._on_selector_source, self._on_selector_source
                )
        return factory

    async def _housekeeping(self) -> None:
        while True:
            await self.clock.sleep(1.0)
            expired = self.snapshot.cleanup_expired(self.clock.now())
            if expired:
                self.queue.move_all_to_active_or_backoff(q_events.ASSIGNED_POD_DELETE)

    async def scheduling_loop(self) -> None:
        """Pop and schedule pods; yield to the loop (informers, bindings, and the
        API server when in-process) after at most ``time_slice`` seconds of
        back-to-back cycles. Yielding after every pod would give the scheduler
        one cycle per loop iteration, which a busy API server in the same loop
        stretches to milliseconds."""
        while True:
            try:
                q: QueuedPodInfo | None = await self.queue.pop()
            except QueueClosed:
                return
            deadline = time.monotonic() + self.time_slice
            while q is not None:
                try:
                    self.schedule_one(q)
                except Exception:
                    log.exception("scheduling %s crashed", q.pod.key)
                    self.queue.done(q.uid)
                if time.monotonic() >= deadline:
                    break
                q = self.queue.pop_nowait()
            await asyncio.sleep(0)  # let informers and bindings run

    async def run(self) -> None:
        """Watch the cluster and schedule until cancelled."""
        if self.client is None:
            raise RuntimeError("a Scheduler without a client cannot run")
        self.factory = self._setup_informers()
        self.factory.start()
        try:
            while not await self.factory.wait_for_cache_sync(timeout=30):
                log.info("scheduler: waiting for informer caches to sync")
            log.info(
                "scheduler started: profiles %s, %d nodes",
                ", ".join(self.frameworks),
                self.snapshot.num_nodes(),
            )
            self.ready.set()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.queue.run(), name="scheduler-queue-flush")
                tg.create_task(self._housekeeping(), name="scheduler-housekeeping")
                tg.create_task(self.scheduling_loop(), name="scheduler-loop")
        finally:
            self.queue.close()
            for t in list(self._tasks):
                t.cancel()
            for t in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            await self.factory.stop()
            for rec in self.recorders.values():
                with contextlib.suppress(Exception):
                    await rec.stop()


def default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4()}"


async def run_scheduler(
    client_config: ClientConfig,
    *,
    config_file: str | None = None,
    leader_elect: bool = False,
    identity: str | None = None,
    clock: Clock = REAL_CLOCK,
    ready: asyncio.Event | None = None,
) -> None:
    """Run kube-scheduler against the API server ``client_config`` names, until
    cancelled. With ``leader_elect`` only the holder of Lease
    ``kube-system/kube-scheduler`` schedules."""
    config = load_config(config_file) if config_file else SchedulerConfig()
    if 0 < client_config.qps <= 5.0:
        client_config = client_config.with_rate_limits(50.0, 100)  # kube-scheduler's defaults
    client = Client.from_config(client_config.with_user_agent("pinnace-scheduler"), clock=clock)
    try:
        sched = Scheduler(client, config, clock=clock)
        if ready is not None:
            waiter = asyncio.ensure_future(_propagate(sched.ready, ready))
        else:
            waiter = None
        try:
            if leader_elect or config.leader_elect:
                elector = LeaderElector(
                    client,
                    lock_namespace=config.lease_namespace,
                    lock_name=config.lease_name,
                    identity=identity or default_identity(),
                    on_started_leading=sched.run,
                    clock=clock,
                )
                await elector.run()
                log.warning("no longer leading the scheduler lease; stopping")
            else:
                await sched.run()
        finally:
            if waiter is not None:
                waiter.cancel()
    finally:
        await client.close()


async def _propagate(src: asyncio.Event, dst: asyncio.Event) -> None:
    await src.wait()
    dst.set()
