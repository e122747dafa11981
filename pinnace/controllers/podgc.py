"""The pod garbage collector: removes pods nobody else will.

Upstream's ``pkg/controller/podgc``. Every :data:`GC_PERIOD` seconds (and soon
after a node disappears), one pass over the pod cache:

* **terminated pods over the threshold**: when more than
  :attr:`PodGCController.TERMINATED_POD_THRESHOLD` (12 500, upstream's
  ``--terminated-pod-gc-threshold``) pods are ``Succeeded``/``Failed``, the
  surplus is deleted, evicted ones first, then oldest first;
* **orphaned pods**: pods bound to a node that does not exist. A missing node is
  quarantined first (:data:`ORPHAN_QUARANTINE` 40 s, or
  ``$PINNACE_POD_GC_QUARANTINE`` seconds) and then checked with a fresh GET, so
  a node the cache has not seen yet is not mistaken for a deleted one;
* **terminating pods on out-of-service nodes**: pods being deleted on a node that
  is not ready and carries the ``node.kubernetes.io/out-of-service`` taint;
* **unscheduled terminating pods**: pods being deleted that were never bound.

Pods are force-deleted (grace period 0); one not yet finished is first marked
``Failed`` (orphans also get the ``DisruptionTarget`` condition, reason
``DeletionByPodGC``), so that Jobs count it, as upstream.

Concurrency model: the base's work queue with one key, :data:`GC_KEY`, one
worker: a background loop re-adds it every period, node deletions and pods
bound to unknown nodes add it after the quarantine. Deletions in one pass run
concurrently (bounded by the client's rate limiter).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, ClassVar

from pinnace.client import PODS, ApiError, Conflict, NotFound, Obj
from pinnace.client.events import format_time
from pinnace.controllers.base import Controller, ControllerContext, Requeue
from pinnace.controllers.controller_utils import parse_time
from pinnace.controllers.nodelifecycle import NODES, env_seconds

__all__ = ["GC_KEY", "PodGCController", "terminated_to_delete"]

GC_KEY = "gc"
#: upstream ``gcCheckPeriod``
GC_PERIOD = 20.0
#: upstream ``quarantineTime``
ORPHAN_QUARANTINE = 40.0
QUARANTINE_ENV = "PINNACE_POD_GC_QUARANTINE"
OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
FIELD_MANAGER = "PodGC"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def is_terminated(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Pending", "Running", "Unknown")


def _sort_key(pod: Obj) -> tuple[bool, datetime, str]:
    st = pod.get("status") or {}
    evicted = st.get("phase") == "Failed" and st.get("reason") == "Evicted"
    m = pod.get("metadata") or {}
    created = parse_time(m.get("creationTimestamp")) or _EPOCH
    return (not evicted, created, str(m.get("name", "")))


def terminated_to_delete(pods: list[Obj], threshold: int) -> list[Obj]:
    """The terminated pods over ``threshold``: evicted first, then oldest, then by name."""
    terminated = [p for p in pods if is_terminated(p)]
    surplus = len(terminated) - threshold
    if threshold <= 0 or surplus <= 0:
        return []
    return sorted(terminated, key=_sort_key)[:surplus]


def _node_ready(node: Obj) -> bool:
    for c in (node.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


class PodGCController(Controller):
    NAME = "pod-garbage-collector"
    EVENT_COMPONENT = "pod-garbage-collector"
    WORKERS = 1
    TERMINATED_POD_THRESHOLD: ClassVar[int] = 12500

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.quarantine = env_seconds(QUARANTINE_ENV, ORPHAN_QUARANTINE)
        self.gc_period = GC_PERIOD
        #: node name -> when the pod cache first showed pods bound to it while it was missing
        self._missing: dict[str, float] = {}
        self.nodes = self.informer(NODES)
        self.nodes.add_event_handler(on_delete=self._soon)
        self.pods = self.informer(PODS)
        self.pods.add_event_handler(on_add=self._on_pod, on_update=lambda _o, n: self._on_pod(n))

    def _soon(self, node: Obj) -> None:
        self._missing.setdefault(str((node.get("metadata") or {}).get("name")), self.clock.now())
        self.queue.add_after(GC_KEY, self.quarantine + 0.1)

    def _on_pod(self, pod: Obj) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and self.nodes.has_synced() and self.nodes.get(str(node)) is None:
            if str(node) not in self._missing:
                self._missing[str(node)] = self.clock.now()
                self.queue.add_after(GC_KEY, self.quarantine + 0.1)
        elif not node and (pod.get("metadata") or {}).get("deletionTimestamp"):
            self.queue.add(GC_KEY)

    def background(self) -> list[Any]:
        return [self._tick()]

    async def _tick(self) -> None:
        await self.ready.wait()
        while True:
            self.queue.add(GC_KEY)
            await self.clock.sleep(self.gc_period)

    async def reconcile(self, key: str) -> Requeue | None:
        if key != GC_KEY:
            return None
        pods = self.pods.list()
        doomed: dict[str, tuple[Obj, dict[str, Any] | None]] = {}
        for pod in terminated_to_delete(pods, self.TERMINATED_POD_THRESHOLD):
            doomed[_key(pod)] = (pod, None)
        for pod in self._terminating_out_of_service(pods):
            doomed.setdefault(_key(pod), (pod, None))
        for pod in await self._orphaned(pods):
            doomed.setdefault(
                _key(pod),
                (
                    pod,
                    {
                        "type": "DisruptionTarget",
                        "status": "True",
                        "reason": "DeletionByPodGC",
                        "message": "PodGC: node no longer exists",
                    },
                ),
            )
        for pod in pods:
            m = pod.get("metadata") or {}
            if m.get("deletionTimestamp") and not (pod.get("spec") or {}).get("nodeName"):
                doomed.setdefault(_key(pod), (pod, None))
        if doomed:
            self.log.info("pod-gc: garbage collecting %d pods", len(doomed))
            results = await asyncio.gather(
                *(self._delete(p, c) for p, c in doomed.values()), return_exceptions=True
            )
            for r in results:
                if isinstance(r, BaseException) and not isinstance(r, ApiError):
                    raise r
            errors = [r for r in results if isinstance(r, ApiError)]
            if errors:
                raise errors[0]
        if self._missing:
            return Requeue(after=self.quarantine / 2 + 0.1)
        return None

    def _terminating_out_of_service(self, pods: list[Obj]) -> list[Obj]:
        out = []
        for pod in pods:
            if not (pod.get("metadata") or {}).get("deletionTimestamp"):
                continue
            node = self.nodes.get(str((pod.get("spec") or {}).get("nodeName") or ""))
            if node is None or _node_ready(node):
                continue
            taints = (node.get("spec") or {}).get("taints") or []
            if any(isinstance(t, dict) and t.get("key") == OUT_OF_SERVICE for t in taints):
                out.append(pod)
        return sorted(out, key=_sort_key)

    async def _orphaned(self, pods: list[Obj]) -> list[Obj]:
        """Pods bound to nodes missing for the whole quarantine (checked with a GET)."""
        now = self.clock.now()
        wanted: set[str] = set()
        for pod in pods:
            node = str((pod.get("spec") or {}).get("nodeName") or "")
            if node and self.nodes.get(node) is None:
                wanted.add(node)
                self._missing.setdefault(node, now)
        for node in list(self._missing):
            if node not in wanted:
                del self._missing[node]
        deleted: set[str] = set()
        for node, since in list(self._missing.items()):
            if now - since < self.quarantine:
                continue
            try:
                await self.client.get(NODES, node)
            except NotFound:
                deleted.add(node)
                continue
            del self._missing[node]  # it exists after all (the cache was behind)
        for node in deleted:
            del self._missing[node]
        return [p for p in pods if (p.get("spec") or {}).get("nodeName") in deleted]

    async def _delete(self, pod: Obj, cond: dict[str, Any] | None) -> None:
        m = pod["metadata"]
        ns, name = str(m["namespace"]), str(m["name"])
        self.log.info("pod-gc: force deleting pod %s/%s", ns, name)
        try:
            if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                status: dict[str, Any] = {"phase": "Failed"}
                if cond is not None:
                    status["conditions"] = [
                        {**cond, "lastTransitionTime": format_time(self.clock.wall())}
                    ]
                await self.client.patch_status(
                    PODS, name, {"status": status}, namespace=ns, patch_type="strategic",
                    field_manager=FIELD_MANAGER,
                )  # fmt: skip
            await self.client.delete(
                PODS, name, namespace=ns, grace_period_seconds=0,
                preconditions={"uid": str(m.get("uid") or "")},
            )  # fmt: skip
        except (NotFound, Conflict):
            return  # gone, or replaced by a new pod of that name


def _key(pod: Obj) -> str:
    m = pod.get("metadata") or {}
    return f"{m.get('namespace', '')}/{m.get('name', '')}"
