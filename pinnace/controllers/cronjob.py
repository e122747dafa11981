"""The CronJob controller: creates a Job at each scheduled time. Upstream's
``pkg/controller/cronjob`` (the v2 controller) as of v1.32.

One pass over a CronJob (:meth:`CronJobController.reconcile`):

1. reconcile ``status.active`` with the Jobs it controls (controller
   ownerReference): finished Jobs leave the list (event ``SawCompletedJob``),
   vanished ones too (``MissingJob``); ``lastSuccessfulTime`` follows the
   newest ``completionTime`` of a succeeded Job; unknown running Jobs get
   ``UnexpectedJob``;
2. unless it is being deleted, suspended, or has a bad ``timeZone`` or
   schedule (Warning events ``UnknownTimeZone``, ``UnparseableSchedule``,
   ``InvalidSchedule``): find the most recent unmet scheduled time
   (:func:`most_recent_schedule_time`, counting from ``lastScheduleTime`` or
   the creation time, and no earlier than ``startingDeadlineSeconds`` ago;
   more than 100 missed → ``TooManyMissedTimes``). Too late for it →
   ``MissSchedule``. Already done → nothing. ``Forbid`` with an active Job →
   ``JobAlreadyActive``. ``Replace`` → delete the active Jobs first
   (``SuccessfulDelete``). Then create ``<cronjob>-<minutes since epoch>``
   from the template, with annotation
   ``batch.kubernetes.io/cronjob-scheduled-timestamp`` (RFC 3339 in the
   schedule's zone), and record it in ``active`` and ``lastScheduleTime``
   (``SuccessfulCreate``). The deterministic name is the lock that keeps one
   scheduled time from creating two Jobs, even across restarts;
3. delete the oldest finished Jobs beyond ``successfulJobsHistoryLimit`` /
   ``failedJobsHistoryLimit``;
4. write the status if it changed, and come back at the next scheduled time
   (+100 ms) with ``Requeue(after=...)``.

Time comes from the injectable clock (``clock.wall()``), so tests drive whole
schedules in virtual time.

Concurrency model: the base's work queue keyed by ``namespace/name`` (never two
workers on one CronJob); the CronJob and Job informers only enqueue keys (a
Job's controlling CronJob). Everything else is read from the caches, except
that a Job missing from the cache is confirmed with a GET before it leaves
``active``, and the status write carries the resourceVersion it was based on.
The last status written is remembered and preferred over an older cached
CronJob, so a lagging cache cannot make the controller schedule a time twice.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from pinnace.client import (
    NORMAL,
    WARNING,
    AlreadyExists,
    ApiError,
    Conflict,
    NotFound,
    Obj,
)
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue
from pinnace.controllers.cronschedule import Schedule, ScheduleError, load_zone, parse
from pinnace.controllers.jobutil import (
    CRONJOBS,
    JOBS,
    controller_ref,
    finished_condition,
    format_time,
    parse_time,
    resource_version,
    rfc3339,
    same_status,
)

__all__ = [
    "SCHEDULED_TIMESTAMP",
    "CronJobController",
    "Decision",
    "job_name",
    "most_recent_schedule_time",
    "next_schedule_delay",
]

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
OWNER_INDEX = "cronjob-controller/owner"
#: upstream's nextScheduleDelta: come back a little after the scheduled time
NEXT_SCHEDULE_DELTA = 0.1
TOO_MANY_MISSED = 100

Missed = Literal["none", "few", "many"]


def _owner_index(job: Obj) -> list[str]:
    ref = controller_ref(job)
    if ref is None or ref.get("kind") != "CronJob" or ref.get("apiVersion") != "batch/v1":
        return []
    return [f"{job['metadata'].get('namespace', '')}/{ref.get('name', '')}"]


def job_name(cronjob_name: str, scheduled: datetime) -> str:
    """``getJobName``: the CronJob's name and the scheduled time in minutes since epoch."""
    return f"{cronjob_name}-{int(scheduled.timestamp()) // 60}"


# --- schedule math (pure) --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """``mostRecentScheduleTime``'s answer."""

    earliest: datetime
    most_recent: datetime | None
    missed: Missed


def _earliest(cj: Obj) -> datetime:
    st = cj.get("status") or {}
    t = parse_time(st.get("lastScheduleTime")) or parse_time(
        cj["metadata"].get("creationTimestamp")
    )
    if t is None:
        raise ScheduleError("the CronJob has neither lastScheduleTime nor creationTimestamp")
    return t


def most_recent_schedule_time(
    cj: Obj, now: datetime, schedule: Schedule, include_starting_deadline: bool
) -> Decision:
    """The latest scheduled time in (earliest, now] and how many were missed.

    Raises :class:`ScheduleError` when two consecutive activations are less than a
    second apart (an impossible schedule such as ``59 23 31 2 *``)."""
    earliest = _earliest(cj)
    sds = (cj.get("spec") or {}).get("startingDeadlineSeconds")
    if include_starting_deadline and isinstance(sds, int):
        deadline = now - timedelta(seconds=sds)
        if deadline > earliest:
            earliest = deadline
    t1 = schedule.next(earliest)
    t2 = schedule.next(t1) if t1 is not None else None
    if t1 is None or now < t1:
        return Decision(earliest, None, "none")
    if t2 is None:
        raise ScheduleError("time difference between two schedules is less than 1 second")
    if now < t2:
        return Decision(earliest, t1, "none")
    between = round((t2 - t1).total_seconds())
    if between < 1:
        raise ScheduleError("time difference between two schedules is less than 1 second")
    elapsed = int((now - t1).total_seconds())
    missed_count = elapsed // between + 1
    # start a little before the estimate so that irregular schedules are handled exactly
    t: datetime | None = schedule.next(t1 + timedelta(seconds=(missed_count - 2) * between))
    most_recent: datetime | None = None
    while t is not None and t <= now:
        most_recent = t
        t = schedule.next(t)
    missed: Missed = "many" if missed_count > TOO_MANY_MISSED else "few"
    return Decision(earliest, most_recent, missed)


def next_schedule_delay(cj: Obj, now: datetime, schedule: Schedule) -> float | None:
    """``nextScheduleTimeDuration``: seconds until the pass after the next activation."""
    try:
        d = most_recent_schedule_time(cj, now, schedule, False)
        base = d.most_recent
        if base is None:
            base = d.earliest if d.missed == "none" else now
    except ScheduleError:
        base = now
    nxt = schedule.next(base)
    if nxt is None:
        return None
    return (nxt - now).total_seconds() + NEXT_SCHEDULE_DELTA


# --- the controller --------------------------------------------------------------------------


class CronJobController(Controller):
    NAME = "cronjob"
    EVENT_COMPONENT = "cronjob-controller"
    WORKERS = 5  # upstream --concurrent-cron-job-syncs

    RESYNC_PERIOD: ClassVar[float | None] = None

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.cronjobs = self.informer(CRONJOBS)
        self.enqueue_handlers(self.cronjobs)
        self.jobs = self.informer(JOBS)
        self.jobs.add_indexers({OWNER_INDEX: _owner_index})
        self.jobs.add_event_handler(
            on_add=self._on_job,
            on_update=self._on_job_update,
            on_delete=self._on_job,
        )
        self._written: dict[str, Obj] = {}

    def _on_job(self, job: Obj) -> None:
        for key in _owner_index(job):
            self.queue.add(key)

    def _on_job_update(self, old: Obj, new: Obj) -> None:
        for key in set(_owner_index(old)) | set(_owner_index(new)):
            self.queue.add(key)

    def _latest(self, key: str) -> Obj | None:
        cached = self.cronjobs.get(key)
        written = self._written.get(key)
        if cached is None or written is None:
            return cached
        if cached["metadata"].get("uid") != written["metadata"].get("uid"):
            return cached
        return written if resource_version(written) > resource_version(cached) else cached

    async def reconcile(self, key: str) -> Requeue | None:
        cached = self._latest(key)
        if cached is None:
            self._written.pop(key, None)
            return None
        cj = copy.deepcopy(cached)
        uid = cj["metadata"].get("uid")
        jobs = [
            j
            for j in self.jobs.by_index(OWNER_INDEX, key)
            if (controller_ref(j) or {}).get("uid") == uid
        ]
        original = copy.deepcopy(cj.get("status") or {})
        try:
            delay = await self._sync(cj, jobs)
            await self._cleanup_finished(cj, jobs)
            if not same_status(cj.get("status"), original):
                updated = await self.client.replace_status(CRONJOBS, cj)
                self._written[key] = updated
        except Conflict:
            self._written.pop(key, None)
            return Requeue()
        if delay is None:
            return None
        return Requeue(after=max(0.0, delay))

    async def _sync(self, cj: Obj, jobs: list[Obj]) -> float | None:
        """``syncCronJob``: mutates ``cj['status']``; seconds until the next pass."""
        now = self.clock.wall()
        st: dict[str, Any] = cj.setdefault("status", {})
        active: list[Obj] = st.setdefault("active", [])
        active_uids = {a.get("uid") for a in active}
        seen_uids: set[str] = set()
        for j in jobs:
            juid = j["metadata"].get("uid", "")
            seen_uids.add(juid)
            fin = finished_condition(j)
            if juid not in active_uids and fin is None:
                self.recorder.event(
                    cj,
                    WARNING,
                    "UnexpectedJob",
                    f"Saw a job that the controller did not create or forgot: {j['metadata']['name']}",
                )
            elif juid in active_uids and fin is not None:
                active[:] = [a for a in active if a.get("uid") != juid]
                self.recorder.event(
                    cj,
                    NORMAL,
                    "SawCompletedJob",
                    f"Saw completed job: {j['metadata']['name']}, condition: {fin}",
                )
            if fin == "Complete":
                done = parse_time((j.get("status") or {}).get("completionTime"))
                last = parse_time(st.get("lastSuccessfulTime"))
                if done is not None and (last is None or done > last):
                    st["lastSuccessfulTime"] = format_time(done)
        for ref in list(active):
            if ref.get("uid") in seen_uids:
                continue
            try:
                await self.client.get(JOBS, str(ref.get("name")), namespace=ref.get("namespace"))
            except NotFound:
                self.recorder.event(
                    cj, NORMAL, "MissingJob", f"Active job went missing: {ref.get('name')}"
                )
                active.remove(ref)
        if not active:
            st.pop("active", None)

        spec = cj.get("spec") or {}
        name = cj["metadata"]["name"]
        if cj["metadata"].get("deletionTimestamp"):
            return None
        zone_name = spec.get("timeZone")
        try:
            zone = load_zone(zone_name)
        except ScheduleError as e:
            self.recorder.event(
                cj, WARNING, "UnknownTimeZone", f'invalid timeZone: "{zone_name}": {e}'
            )
            return None
        if spec.get("suspend"):
            self.log.log(DETAIL, "cronjob %s: suspended, not starting jobs", name)
            return None
        try:
            schedule = parse(str(spec.get("schedule") or ""), zone)
        except ScheduleError as e:
            self.recorder.event(
                cj,
                WARNING,
                "UnparseableSchedule",
                f'unparseable schedule: "{spec.get("schedule")}" : {e}',
            )
            return None
        try:
            d = most_recent_schedule_time(cj, now, schedule, True)
        except ScheduleError as e:
            self.recorder.event(
                cj, WARNING, "InvalidSchedule", f"invalid schedule: {spec.get('schedule')} : {e}"
            )
            return None
        scheduled = d.most_recent
        if scheduled is None or scheduled > now:
            return next_schedule_delay(cj, now, schedule)
        if d.missed == "many":
            self.recorder.event(
                cj,
                WARNING,
                "TooManyMissedTimes",
                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds "
                "or check clock skew",
            )
        sds = spec.get("startingDeadlineSeconds")
        if isinstance(sds, int) and scheduled + timedelta(seconds=sds) < now:
            self.recorder.event(
                cj,
                WARNING,
                "MissSchedule",
                "Missed scheduled time to start a job: "
                + scheduled.strftime("%a, %d %b %Y %H:%M:%S +0000"),
            )
            return next_schedule_delay(cj, now, schedule)
        jname = job_name(name, scheduled)
        if (
            any(a.get("name") == jname for a in active)
            or parse_time(st.get("lastScheduleTime")) == scheduled
        ):
            return next_schedule_delay(cj, now, schedule)
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and active:
            self.recorder.event(
                cj,
                NORMAL,
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
            )
            return next_schedule_delay(cj, now, schedule)
        if policy == "Replace":
            for ref in list(active):
                await self._delete_job(cj, str(ref.get("name")), ref.get("uid"))
            if not active:
                st.pop("active", None)

        job = self._job_from_template(cj, scheduled, zone)
        ns = cj["metadata"].get("namespace")
        try:
            created = await self.client.create(JOBS, job, namespace=ns)
        except AlreadyExists:
            created = await self.client.get(JOBS, jname, namespace=ns)
            if (controller_ref(created) or {}).get("uid") != cj["metadata"].get("uid"):
                return None  # someone else's Job: they keep its status
            if any(a.get("uid") == created["metadata"].get("uid") for a in active):
                return None
            self.log.info("cronjob %s: job %s already exists", name, jname)
        except ApiError as e:
            self.recorder.event(cj, WARNING, "FailedCreate", f"Error creating job: {e}")
            raise
        else:
            self.recorder.event(cj, NORMAL, "SuccessfulCreate", f"Created job {jname}")
        st.setdefault("active", []).append(
            {
                "kind": "Job",
                "namespace": ns,
                "name": created["metadata"]["name"],
                "uid": created["metadata"].get("uid"),
                "apiVersion": "batch/v1",
                "resourceVersion": created["metadata"].get("resourceVersion"),
            }
        )
        st["lastScheduleTime"] = format_time(scheduled)
        return next_schedule_delay(cj, now, schedule)

    def _job_from_template(self, cj: Obj, scheduled: datetime, zone: Any) -> Obj:
        """``getJobFromTemplate2``."""
        template = copy.deepcopy((cj.get("spec") or {}).get("jobTemplate") or {})
        tmeta = template.get("metadata") or {}
        annotations = dict(tmeta.get("annotations") or {})
        annotations[SCHEDULED_TIMESTAMP] = rfc3339(scheduled.astimezone(zone))
        meta: Obj = {
            "name": job_name(cj["metadata"]["name"], scheduled),
            "namespace": cj["metadata"].get("namespace"),
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": cj["metadata"]["name"],
                    "uid": cj["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
        labels = tmeta.get("labels")
        if labels:
            meta["labels"] = dict(labels)
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": meta,
            "spec": template.get("spec") or {},
        }

    async def _delete_job(self, cj: Obj, name: str, uid: Any) -> None:
        """``deleteJob``: delete (background) and drop from ``active``."""
        ns = cj["metadata"].get("namespace")
        try:
            await self.client.delete(JOBS, name, namespace=ns, propagation_policy="Background")
        except NotFound:
            pass
        except ApiError as e:
            self.recorder.event(cj, WARNING, "FailedDelete", f"Deleted job: {e}")
            raise
        st = cj.setdefault("status", {})
        active = [a for a in st.get("active") or [] if a.get("uid") != uid]
        if active:
            st["active"] = active
        else:
            st.pop("active", None)
        self.recorder.event(cj, NORMAL, "SuccessfulDelete", f"Deleted job {name}")

    async def _cleanup_finished(self, cj: Obj, jobs: list[Obj]) -> None:
        """``cleanupFinishedJobs``: keep at most the history limits of finished Jobs."""
        spec = cj.get("spec") or {}
        for ctype, field in (
            ("Complete", "successfulJobsHistoryLimit"),
            ("Failed", "failedJobsHistoryLimit"),
        ):
            limit = spec.get(field)
            if not isinstance(limit, int):
                continue
            finished = [j for j in jobs if finished_condition(j) == ctype]
            if len(finished) <= limit:
                continue
            finished.sort(key=_start_order)
            for j in finished[: len(finished) - limit]:
                await self._delete_job(cj, j["metadata"]["name"], j["metadata"].get("uid"))


def _start_order(job: Obj) -> tuple[int, str, str]:
    """``byJobStartTime``: oldest start first, Jobs that never started last, then by name."""
    start = (job.get("status") or {}).get("startTime")
    if not start:
        return (1, "", job["metadata"]["name"])
    return (0, str(start), job["metadata"]["name"])
