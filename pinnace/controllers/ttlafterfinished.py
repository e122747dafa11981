"""The TTL-after-finished controller: deletes finished Jobs ``ttlSecondsAfterFinished``
after they finished. Upstream's ``pkg/controller/ttlafterfinished``.

A Job is finished when it has a ``Complete`` or ``Failed`` condition; it
expires at that condition's ``lastTransitionTime`` (or ``completionTime``)
plus its TTL. Before the expiry the key is requeued for the moment it falls
due (``Requeue(after=...)``, from the injectable clock). At the expiry the
Job is fetched fresh from the API (the TTL may have been changed or removed
meanwhile) and deleted with ``propagationPolicy: Background`` and a uid +
resourceVersion precondition, so that a Job changed or replaced since the
check is looked at again instead of deleted by mistake.

Concurrency model: the base's work queue keyed by ``namespace/name``; the Job
informer enqueues only Jobs that have a TTL and are finished (or, on update,
may have become so).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pinnace.client import Conflict, NotFound, Obj
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue
from pinnace.controllers.jobutil import JOBS, condition, finished_condition, parse_time

__all__ = ["TTLAfterFinishedController", "expires_at"]


def _needs_cleanup(job: Obj) -> bool:
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    return isinstance(ttl, int) and finished_condition(job) is not None


def expires_at(job: Obj) -> datetime | None:
    """When a finished Job with a TTL expires (None: no TTL, not finished yet, or no
    finish time to count from)."""
    if not _needs_cleanup(job):
        return None
    ttl = int(job["spec"]["ttlSecondsAfterFinished"])
    ctype = finished_condition(job)
    c = condition(job, ctype) if ctype else None
    finished = parse_time((c or {}).get("lastTransitionTime"))
    if finished is None:
        finished = parse_time((job.get("status") or {}).get("completionTime"))
    if finished is None:
        return None
    return finished + timedelta(seconds=ttl)


class TTLAfterFinishedController(Controller):
    NAME = "ttl-after-finished"
    EVENT_COMPONENT = "ttl-after-finished-controller"
    WORKERS = 5  # upstream --concurrent-ttl-after-finished-syncs

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.jobs = self.informer(JOBS)
        self.jobs.add_event_handler(
            on_add=self._maybe_enqueue,
            on_update=lambda _old, new: self._maybe_enqueue(new),
        )

    def _maybe_enqueue(self, job: Obj) -> None:
        if _needs_cleanup(job) and not job["metadata"].get("deletionTimestamp"):
            self.enqueue(job)

    async def reconcile(self, key: str) -> Requeue | None:
        cached = self.jobs.get(key)
        if cached is None or cached["metadata"].get("deletionTimestamp"):
            return None
        left = self._time_left(cached)
        if left is None:
            return None
        if left > 0:
            return Requeue(after=left)
        # the cache may be stale: check the live object before deleting it
        ns, name = cached["metadata"].get("namespace"), cached["metadata"]["name"]
        try:
            fresh = await self.client.get(JOBS, name, namespace=ns)
        except NotFound:
            return None
        if fresh["metadata"].get("deletionTimestamp"):
            return None
        left = self._time_left(fresh)
        if left is None:
            return None
        if left > 0:
            return Requeue(after=left)
        self.log.log(DETAIL, "ttl-after-finished: deleting job %s/%s", ns, name)
        try:
            await self.client.delete(
                JOBS,
                name,
                namespace=ns,
                propagation_policy="Background",
                preconditions={
                    "uid": str(fresh["metadata"].get("uid", "")),
                    "resourceVersion": str(fresh["metadata"].get("resourceVersion", "")),
                },
            )
        except NotFound:
            return None
        except Conflict:
            return Requeue()  # changed since we looked: look again
        return None

    def _time_left(self, job: Obj) -> float | None:
        expiry = expires_at(job)
        if expiry is None:
            return None
        return (expiry - self.clock.wall()).total_seconds()
