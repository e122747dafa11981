"""The scheduling queue: activeQ, backoffQ, unschedulable pods, nominations.

Upstream's ``PriorityQueue``, simplified where noted:

* **activeQ** — a heap ordered by the profile's QueueSort plugin key
  (PrioritySort: higher priority, then earlier queue time). :meth:`pop` waits
  until a pod is there.
* **backoffQ** — pods that failed recently wait ``initial * 2^(attempts-1)``
  seconds (1 s → 10 s by default) from their last failure; a flush moves the
  completed ones to activeQ every second.
* **unschedulable pods** — pods no node fits. A cluster event (node added or
  changed, assigned pod added/changed/deleted, storage objects …) moves back
  the pods that a plugin rejecting them cares about (upstream's queueing hints,
  reduced to an event → plugins table, :data:`EVENT_PLUGINS`); to backoffQ if
  still backing off, else to activeQ. Pods stuck longer than 5 minutes are
  flushed anyway. If an event arrives while a pod is being scheduled, a failure
  of that attempt sends it to backoffQ instead (``move_request_cycle``).
* **gated pods** — PreEnqueue plugins (SchedulingGates) keep a pod out of
  activeQ until an update lets it in.
* **nominator** — pods nominated to a node (``status.nominatedNodeName``, set
  by preemption) are tracked per node so that filters can account for them.

Heaps use lazy deletion (a stale entry is skipped when it surfaces), so every
operation is O(log n). One event loop; nothing here is thread-safe. Timing
uses the injected :class:`~pinnace.client.Clock`; tests drive the flushes
directly (:meth:`flush_backoff_completed`, :meth:`flush_unschedulable_leftover`)
or run :meth:`run` on a :class:`~pinnace.client.FakeClock`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pinnace.client import REAL_CLOCK, Clock
from pinnace.scheduler import metrics
from pinnace.scheduler.framework.status import Status
from pinnace.scheduler.framework.types import PodInfo

__all__ = [
    "ALL_EVENTS",
    "EVENT_PLUGINS",
    "QueueClosed",
    "QueuedPodInfo",
    "SchedulingQueue",
]

Obj = dict[str, Any]
SortKey = Callable[[PodInfo, float], tuple[Any, ...]]
PreEnqueue = Callable[[PodInfo], Status | None]

NODE_ADD = "NodeAdd"
NODE_UPDATE = "NodeUpdate"
ASSIGNED_POD_ADD = "AssignedPodAdd"
ASSIGNED_POD_UPDATE = "AssignedPodUpdate"
ASSIGNED_POD_DELETE = "AssignedPodDelete"
STORAGE_CHANGE = "StorageChange"
SELECTOR_CHANGE = "SelectorChange"
UNSCHEDULABLE_TIMEOUT = "UnschedulableTimeout"
FORCE_ACTIVATE = "ForceActivate"

_NODE_PLUGINS = frozenset(
    {
        "NodeUnschedulable",
        "NodeName",
        "TaintToleration",
        "NodeAffinity",
        "NodePorts",
        "NodeResourcesFit",
        "NodeResourcesBalancedAllocation",
        "VolumeBinding",
        "VolumeRestrictions",
        "PodTopologySpread",
        "InterPodAffinity",
        "ImageLocality",
        "DefaultPreemption",
    }
)
#: which plugins' rejections an event may resolve (None: every plugin)
EVENT_PLUGINS: dict[str, frozenset[str] | None] = {
    NODE_ADD: None,
    NODE_UPDATE: _NODE_PLUGINS,
    ASSIGNED_POD_ADD: frozenset({"InterPodAffinity", "PodTopologySpread"}),
    ASSIGNED_POD_UPDATE: frozenset({"InterPodAffinity", "PodTopologySpread", "NodeResourcesFit"}),
    ASSIGNED_POD_DELETE: frozenset(
        {
            "NodeResourcesFit",
            "NodePorts",
            "InterPodAffinity",
            "PodTopologySpread",
            "VolumeRestrictions",
            "DefaultPreemption",
        }
    ),
    STORAGE_CHANGE: frozenset({"VolumeBinding", "VolumeRestrictions"}),
    SELECTOR_CHANGE: frozenset({"InterPodAffinity", "PodTopologySpread"}),
    UNSCHEDULABLE_TIMEOUT: None,
    FORCE_ACTIVATE: None,
}
ALL_EVENTS = tuple(EVENT_PLUGINS)


class QueueClosed(Exception):
    """The queue was closed while waiting in :meth:`SchedulingQueue.pop`."""


@dataclass(eq=False)
class QueuedPodInfo:
    pod: PodInfo
    timestamp: float
    attempts: int = 0
    initial_attempt_timestamp: float | None = None
    unschedulable_plugins: set[str] = field(default_factory=set)
    gated: bool = False
    seq: int = 0

    @property
    def uid(self) -> str:
        return self.pod.uid


def _spec_changed(old: Obj, new: Obj) -> bool:
    """Did anything but status/resourceVersion/managedFields change (upstream isPodUpdated)?"""

    def strip(p: Obj) -> tuple[Any, Any, Any, Any]:
        m = p.get("metadata") or {}
        return (p.get("spec"), m.get("labels"), m.get("annotations"), m.get("deletionTimestamp"))

    return strip(old) != strip(new)


class SchedulingQueue:
    def __init__(
        self,
        *,
        sort_key: SortKey | None = None,
        pre_enqueue: PreEnqueue | None = None,
        clock: Clock = REAL_CLOCK,
        initial_backoff: float = 1.0,
        max_backoff: float = 10.0,
        max_in_unschedulable: float = 300.0,
    ) -> None:
        self.sort_key: SortKey = sort_key or (lambda p, ts: (-p.priority, ts))
        self.pre_enqueue = pre_enqueue
        self.clock = clock
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_in_unschedulable = max_in_unschedulable
        self._seq = itertools.count(1)
        self._active: dict[str, QueuedPodInfo] = {}
        self._active_heap: list[tuple[Any, ...]] = []
        self._backoff: dict[str, QueuedPodInfo] = {}
        self._backoff_heap: list[tuple[float, int, str]] = []
        self._unschedulable: dict[str, QueuedPodInfo] = {}
        self._in_flight: dict[str, QueuedPodInfo] = {}
        self._nominated: dict[str, dict[str, PodInfo]] = {}
        self._nominated_node: dict[str, str] = {}
        self.scheduling_cycle = 0
        self.move_request_cycle = -1
        self._ready = asyncio.Event()
        self._closed = False

    # --- introspection -------------------------------------------------------------------

    def pending(self) -> dict[str, int]:
        gated = sum(1 for q in self._unschedulable.values() if q.gated)
        return {
            "active": len(self._active),
            "backoff": len(self._backoff),
            "unschedulable": len(self._unschedulable) - gated,
            "gated": gated,
        }

    def where(self, uid: str) -> str | None:
        if uid in self._active:
            return "active"
        if uid in self._backoff:
            return "backoff"
        if uid in self._unschedulable:
            return "gated" if self._unschedulable[uid].gated else "unschedulable"
        if uid in self._in_flight:
            return "in-flight"
        return None

    def get(self, uid: str) -> QueuedPodInfo | None:
        return (
            self._active.get(uid)
            or self._backoff.get(uid)
            or self._unschedulable.get(uid)
            or self._in_flight.get(uid)
        )

    def __len__(self) -> int:
        return len(self._active) + len(self._backoff) + len(self._unschedulable)

    # --- internal moves ------------------------------------------------------------------

    def _push_active(self, q: QueuedPodInfo, event: str) -> None:
        q.seq = next(self._seq)
        q.gated = False
        self._active[q.uid] = q
        heapq.heappush(self._active_heap, (*self.sort_key(q.pod, q.timestamp), q.seq, q.uid))
        self._ready.set()
        metrics.QUEUE_INCOMING_PODS.labels("active", event).inc()

    def _push_backoff(self, q: QueuedPodInfo, event: str) -> None:
        q.seq = next(self._seq)
        self._backoff[q.uid] = q
        heapq.heappush(self._backoff_heap, (self.backoff_expiry(q), q.seq, q.uid))
        metrics.QUEUE_INCOMING_PODS.labels("backoff", event).inc()

    def _push_unschedulable(self, q: QueuedPodInfo, event: str) -> None:
        self._unschedulable[q.uid] = q
        metrics.QUEUE_INCOMING_PODS.labels("unschedulable", event).inc()

    def _remove(self, uid: str) -> QueuedPodInfo | None:
        return (
            self._active.pop(uid, None)
            or self._backoff.pop(uid, None)
            or self._unschedulable.pop(uid, None)
        )

    def _gate(self, q: QueuedPodInfo) -> bool:
        """Run PreEnqueue; True (and park as gated) if a plugin holds the pod back."""
        if self.pre_enqueue is None:
            return False
        st = self.pre_enqueue(q.pod)
        if st is None or st.is_success():
            return False
        q.gated = True
        q.unschedulable_plugins = {st.plugin} if st.plugin else set()
        self._unschedulable[q.uid] = q
        return True

    # --- backoff -------------------------------------------------------------------------

    def backoff_duration(self, q: QueuedPodInfo) -> float:
        d = self.initial_backoff
        for _ in range(1, q.attempts):
            d *= 2
            if d > self.max_backoff:
                return self.max_backoff
        return d

    def backoff_expiry(self, q: QueuedPodInfo) -> float:
        return q.timestamp + self.backoff_duration(q)

    def is_backing_off(self, q: QueuedPodInfo) -> bool:
        return q.attempts > 0 and self.backoff_expiry(q) > self.clock.now()

    # --- API events ----------------------------------------------------------------------

    def add(self, pod: Obj | PodInfo) -> None:
        pi = pod if isinstance(pod, PodInfo) else PodInfo(pod)
        if self.get(pi.uid) is not None:
            self.update(None, pi.pod)
            return
        q = QueuedPodInfo(pi, self.clock.now())
        self._nominate_from_status(pi)
        if self._gate(q):
            return
        self._push_active(q, "PodAdd")

    def update(self, old: Obj | None, new: Obj) -> None:
        pi = PodInfo(new)
        self._nominate_from_status(pi)
        if pi.uid in self._in_flight:
            self._in_flight[pi.uid].pod = pi
            return
        if pi.uid in self._active:
            q = self._active[pi.uid]
            q.pod = pi
            return
        if pi.uid in self._backoff:
            self._backoff[pi.uid].pod = pi
            return
        q_u = self._unschedulable.get(pi.uid)
        if q_u is None:
            self.add(pi)
            return
        changed = old is None or _spec_changed(old, new)
        q_u.pod = pi
        if not changed:
            return
        del self._unschedulable[pi.uid]
        if self._gate(q_u):
            return
        if self.is_backing_off(q_u):
            self._push_backoff(q_u, "PodUpdate")
        else:
            self._push_active(q_u, "PodUpdate")

    def delete(self, pod: Obj | PodInfo) -> None:
        uid = pod.uid if isinstance(pod, PodInfo) else str((pod.get("metadata") or {}).get("uid"))
        self._remove(uid)
        self._in_flight.pop(uid, None)
        self.delete_nominated(uid)

    # --- scheduling ----------------------------------------------------------------------

    def _pop_nowait(self) -> QueuedPodInfo | None:
        heap = self._active_heap
        while heap:
            entry = heapq.heappop(heap)
            uid, seq = entry[-1], entry[-2]
            q = self._active.get(uid)
            if q is not None and q.seq == seq:
                del self._active[uid]
                return q
        return None

    async def pop(self) -> QueuedPodInfo:
        """The next pod to schedule (waits while activeQ is empty)."""
        while True:
            if self._closed:
                raise QueueClosed()
            q = self._pop_nowait()
            if q is not None:
                break
            self._ready.clear()
            await self._ready.wait()
        self.scheduling_cycle += 1
        q.attempts += 1
        if q.initial_attempt_timestamp is None:
            q.initial_attempt_timestamp = self.clock.now()
        self._in_flight[q.uid] = q
        return q

    def pop_nowait(self) -> QueuedPodInfo | None:
        """Like :meth:`pop` but returns None instead of waiting (tests, tools)."""
        q = self._pop_nowait()
        if q is None:
            return None
        self.scheduling_cycle += 1
        q.attempts += 1
        if q.initial_attempt_timestamp is None:
            q.initial_attempt_timestamp = self.clock.now()
        self._in_flight[q.uid] = q
        return q

    def done(self, uid: str) -> None:
        """The pod's scheduling attempt finished (bound, or requeued)."""
        self._in_flight.pop(uid, None)

    def add_unschedulable_if_not_present(
        self, q: QueuedPodInfo, scheduling_cycle: int, *, error: bool = False
    ) -> None:
        """Requeue a pod after a failed attempt: backoffQ if it failed with an error or
        an event arrived during its attempt, else the unschedulable pods."""
        self._in_flight.pop(q.uid, None)
        if self.get(q.uid) is not None:
            return
        q.timestamp = self.clock.now()
        if error or self.move_request_cycle >= scheduling_cycle:
            self._push_backoff(q, "ScheduleAttemptFailure")
        else:
            self._push_unschedulable(q, "ScheduleAttemptFailure")

    def activate(self, uids: Iterable[str]) -> None:
        """Force pods into activeQ (upstream ``Activate``)."""
        for uid in uids:
            q = self._unschedulable.pop(uid, None) or self._backoff.pop(uid, None)
            if q is not None:
                self._push_active(q, FORCE_ACTIVATE)

    # --- cluster events ------------------------------------------------------------------

    def move_all_to_active_or_backoff(
        self, event: str, pre_check: Callable[[PodInfo], bool] | None = None
    ) -> int:
        """Move unschedulable pods a plugin rejected them for that ``event`` may resolve."""
        interested = EVENT_PLUGINS.get(event)
        moved: list[QueuedPodInfo] = []
        for q in self._unschedulable.values():
            if q.gated:
                continue
            if (
                interested is not None
                and q.unschedulable_plugins
                and not (q.unschedulable_plugins & interested)
            ):
                continue
            if pre_check is not None and not pre_check(q.pod):
                continue
            moved.append(q)
        for q in moved:
            del self._unschedulable[q.uid]
            if self.is_backing_off(q):
                self._push_backoff(q, event)
            else:
                self._push_active(q, event)
        self.move_request_cycle = self.scheduling_cycle
        return len(moved)

    def flush_backoff_completed(self) -> int:
        now = self.clock.now()
        heap = self._backoff_heap
        n = 0
        while heap and heap[0][0] <= now:
            _, seq, uid = heapq.heappop(heap)
            q = self._backoff.get(uid)
            if q is None or q.seq != seq:
                continue
            del self._backoff[uid]
            self._push_active(q, "BackoffComplete")
            n += 1
        return n

    def flush_unschedulable_leftover(self) -> int:
        now = self.clock.now()
        stale = [
            q
            for q in self._unschedulable.values()
            if not q.gated and now - q.timestamp > self.max_in_unschedulable
        ]
        for q in stale:
            del self._unschedulable[q.uid]
            if self.is_backing_off(q):
                self._push_backoff(q, UNSCHEDULABLE_TIMEOUT)
            else:
                self._push_active(q, UNSCHEDULABLE_TIMEOUT)
        return len(stale)

    async def run(self) -> None:
        """Periodic flushes (backoff every second, leftovers every 30 s) until cancelled."""
        ticks = 0
        while not self._closed:
            await self.clock.sleep(1.0)
            self.flush_backoff_completed()
            ticks += 1
            if ticks % 30 == 0:
                self.flush_unschedulable_leftover()

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    # --- nominator -----------------------------------------------------------------------

    def _nominate_from_status(self, pi: PodInfo) -> None:
        node = str((pi.pod.get("status") or {}).get("nominatedNodeName") or "")
        if node:
            self.add_nominated(pi, node)
        elif pi.uid in self._nominated_node:
            self.delete_nominated(pi.uid)

    def add_nominated(self, pi: PodInfo, node: str) -> None:
        self.delete_nominated(pi.uid)
        self._nominated.setdefault(node, {})[pi.uid] = pi
        self._nominated_node[pi.uid] = node

    def delete_nominated(self, uid: str) -> None:
        node = self._nominated_node.pop(uid, None)
        if node is None:
            return
        pods = self._nominated.get(node)
        if pods is not None:
            pods.pop(uid, None)
            if not pods:
                del self._nominated[node]

    def nominated_pods_for_node(self, node: str) -> list[PodInfo]:
        pods = self._nominated.get(node)
        return list(pods.values()) if pods else []

    def nominated_node(self, uid: str) -> str | None:
        return self._nominated_node.get(uid)
