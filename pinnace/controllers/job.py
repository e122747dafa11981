"""The Job controller: runs a Job's pods to completion. Upstream's ``pkg/controller/job``
as of v1.32, with the same status fields, conditions, reasons and events.

What one pass (:meth:`JobController.reconcile`) does for a Job, from the caches:

* **pods**: those the Job controls (controller ownerReference with its uid).
  *Active* pods are neither terminal nor being deleted; *ready* ones have
  ``Ready=True``; *terminating* ones are being deleted and not terminal.
* **finalizer-based tracking**: every pod is created with the
  ``batch.kubernetes.io/job-tracking`` finalizer. A finished pod is first
  recorded by uid in ``status.uncountedTerminatedPods`` (one status write),
  then its finalizer is removed, then the uid moves into ``succeeded`` /
  ``failed`` (another write) — so a pod is counted exactly once even if the
  controller dies between steps, and a pod deleted early cannot be missed.
  Indexed Jobs record success by index (``completedIndexes``) instead of uid.
* **failure**: ``failed > backoffLimit`` (or, with ``restartPolicy:
  OnFailure``, restarts reaching it) → reason ``BackoffLimitExceeded``;
  ``activeDeadlineSeconds`` after ``startTime`` → ``DeadlineExceeded``; a
  ``podFailurePolicy`` rule with action ``FailJob`` → ``PodFailurePolicy``;
  with ``backoffLimitPerIndex``: ``FailedIndexes`` /
  ``MaxFailedIndexesExceeded``. As in 1.31+, the Job first gets the interim
  ``FailureTarget`` condition, its active pods are deleted, and ``Failed``
  follows once no pod is terminating and nothing is uncounted.
* **success**: ``succeeded >= completions`` with no active pod (or, without
  ``completions``, any success once nothing runs) → interim
  ``SuccessCriteriaMet`` (reason ``CompletionsReached``), then ``Complete``
  and ``completionTime``.
* **otherwise** (``manageJob``): suspended Jobs lose their active pods
  (condition ``Suspended``; ``startTime`` is cleared once nothing runs and
  set again on resume); else pods are deleted down to / created up to
  ``min(parallelism, completions - succeeded)``, Indexed Jobs filling the
  lowest pending indexes (annotation + label
  ``batch.kubernetes.io/job-completion-index``, env ``JOB_COMPLETION_INDEX``
  from that annotation, hostname ``<job>-<index>``, names
  ``<job>-<index>-<random>``). After failures, new pods wait the back-off
  (10 s doubling to 6 min since the last failure; per index with
  ``backoffLimitPerIndex``). Creations go in slow-start batches (1, 2, 4…).

Time comes from the injectable clock (``clock.wall()`` for timestamps and
deadlines); a pass that must look again later (back-off, deadline) returns
``Requeue(after=...)``.

Concurrency model: the base's work queue keyed by ``namespace/name`` with
``WORKERS`` workers, never two on one Job. The Job and Pod informers only
enqueue keys (a pod's controlling Job). Per-Job memory lives in this object:
*expectations* (pods created or deleted but not yet seen by the pod cache; no
pods are created or deleted for a Job until they are, or 5 minutes pass),
uids whose finalizer removal the cache has not shown yet (never counted
twice), the back-off record, and the last status this controller wrote (used
instead of an older cached Job, so that a lagging Job cache cannot roll the
counters back; every status write carries the resourceVersion it was based on
and conflicts otherwise). Not implemented: adoption of orphan pods by
selector, the ``managedBy`` field, success policies.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pinnace.client import (
    NORMAL,
    PODS,
    WARNING,
    ApiError,
    Conflict,
    NotFound,
    Obj,
)
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue
from pinnace.controllers.jobutil import (
    COMPLETION_INDEX,
    DEFAULT_BACKOFF,
    INDEX_FAILURE_COUNT,
    INDEX_IGNORED_FAILURE_COUNT,
    JOB_TRACKING_FINALIZER,
    JOBS,
    MAX_BACKOFF,
    BackoffRecord,
    Indexes,
    add_index_env,
    backoff_remaining,
    clean_uncounted,
    completion_index,
    condition,
    condition_as_finished,
    controller_ref,
    ensure_condition,
    finished_time,
    first_pending_indexes,
    format_time,
    has_tracking_finalizer,
    index_failure_count,
    index_ignored_failure_count,
    is_finished,
    is_pod_active,
    is_pod_failed,
    is_pod_ready,
    is_pod_terminating,
    match_pod_failure_policy,
    new_condition,
    only_replace_failed_pods,
    parse_time,
    past_backoff_limit_on_failure,
    pod_generate_name,
    removal_order,
    resource_version,
    same_status,
)

__all__ = ["JobController"]

#: pod index: the ``namespace/name`` of the Job controlling the pod
OWNER_INDEX = "job-controller/owner"
#: upstream's MaxUncountedPods and MaxPodCreateDeletePerSync
MAX_UNCOUNTED = 500
MAX_CREATE_DELETE = 500
SLOW_START = 1
INT32_MAX = 2**31 - 1

BACKOFF_LIMIT_MESSAGE = "Job has reached the specified backoff limit"
DEADLINE_MESSAGE = "Job was active longer than specified deadline"


def _owner_index(pod: Obj) -> list[str]:
    ref = controller_ref(pod)
    if ref is None or ref.get("kind") != "Job" or ref.get("apiVersion") != "batch/v1":
        return []
    return [f"{pod['metadata'].get('namespace', '')}/{ref.get('name', '')}"]


@dataclass
class _Expectations:
    """Pods this controller created/deleted that the pod cache has not shown yet."""

    created: set[str] = field(default_factory=set)  # pod names
    deleted: set[str] = field(default_factory=set)  # pod uids
    since: float = 0.0


@dataclass
class _Ctx:
    """One pass over one Job (upstream's ``syncJobCtx``)."""

    job: Obj
    pods: list[Obj]
    active: list[Obj]
    now: datetime
    uncounted_succeeded: set[str]
    uncounted_failed: set[str]
    expected_rm: set[str]
    terminating: int = 0
    ready: int = 0
    finished: Obj | None = None
    prev_succeeded_indexes: Indexes = field(default_factory=Indexes)
    succeeded_indexes: Indexes = field(default_factory=Indexes)
    failed_indexes: Indexes | None = None
    delayed_per_index: dict[int, Obj] = field(default_factory=dict)
    backoff: BackoffRecord = field(default_factory=BackoffRecord)
    succeeded: int = 0
    requeue: list[float] = field(default_factory=list)

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.job["spec"]
        return spec

    @property
    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.job["status"]
        return status

    @property
    def indexed(self) -> bool:
        return self.spec.get("completionMode") == "Indexed"

    @property
    def completions(self) -> int | None:
        c = self.spec.get("completions")
        return c if isinstance(c, int) else None

    @property
    def per_index(self) -> bool:
        return self.indexed and self.spec.get("backoffLimitPerIndex") is not None

    def valid_index(self, pod: Obj) -> bool:
        ix = completion_index(pod)
        return ix is not None and ix < (self.completions or 0)


class JobController(Controller):
    NAME = "job"
    EVENT_COMPONENT = "job-controller"
    WORKERS = 5  # upstream --concurrent-job-syncs
    #: back-off of failed pods (seconds): first delay and cap, as upstream
    BACKOFF_BASE: ClassVar[float] = DEFAULT_BACKOFF
    BACKOFF_MAX: ClassVar[float] = MAX_BACKOFF
    #: how long to wait for the pod cache to show our own creations and deletions
    EXPECTATIONS_TIMEOUT: ClassVar[float] = 300.0

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.jobs = self.informer(JOBS)
        self.enqueue_handlers(self.jobs)
        self.pods = self.informer(PODS)
        self.pods.add_indexers({OWNER_INDEX: _owner_index})
        self.pods.add_event_handler(
            on_add=self._on_pod, on_update=self._on_pod_update, on_delete=self._on_pod_delete
        )
        self._expectations: dict[str, _Expectations] = {}
        self._rm_finalizers: dict[str, set[str]] = {}
        self._backoff: dict[str, BackoffRecord] = {}
        self._written: dict[str, Obj] = {}

    # --- event handlers (enqueue only; bookkeeping of what the cache has shown) -----------

    def _on_pod(self, pod: Obj) -> None:
        for key in _owner_index(pod):
            self.queue.add(key)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        if not has_tracking_finalizer(new):
            self._rm_finalizers.get(_owner_key(new), set()).discard(new["metadata"].get("uid", ""))
        keys = set(_owner_index(old)) | set(_owner_index(new))
        for key in keys:
            self.queue.add(key)

    def _on_pod_delete(self, pod: Obj) -> None:
        key = _owner_key(pod)
        uid = pod["metadata"].get("uid", "")
        self._rm_finalizers.get(key, set()).discard(uid)
        exp = self._expectations.get(key)
        if exp is not None:
            exp.created.discard(pod["metadata"].get("name", ""))
            exp.deleted.discard(uid)
        if key:
            self.queue.add(key)

    # --- reconcile -----------------------------------------------------------------------

    def _latest(self, key: str) -> Obj | None:
        cached = self.jobs.get(key)
        written = self._written.get(key)
        if cached is None or written is None:
            return cached
        if cached["metadata"].get("uid") != written["metadata"].get("uid"):
            return cached
        if resource_version(written) > resource_version(cached):
            return written
        return cached

    async def reconcile(self, key: str) -> Requeue | None:
        job = self._latest(key)
        pods_all = self.pods.by_index(OWNER_INDEX, key)
        uid = job["metadata"].get("uid") if job is not None else None
        strays = [
            p
            for p in pods_all
            if has_tracking_finalizer(p) and (controller_ref(p) or {}).get("uid") != uid
        ]
        if strays:  # pods of a deleted Job (or an older Job of the same name)
            await self._remove_finalizers(key, strays)
        if job is None:
            self._expectations.pop(key, None)
            self._rm_finalizers.pop(key, None)
            self._backoff.pop(key, None)
            self._written.pop(key, None)
            return None
        pods = [p for p in pods_all if (controller_ref(p) or {}).get("uid") == uid]
        if is_finished(job):
            self._backoff.pop(key, None)
            leftover = [p for p in pods if has_tracking_finalizer(p)]
            if leftover:
                await self._remove_finalizers(key, leftover)
            return None
        try:
            return await self._sync(key, copy.deepcopy(job), pods)
        except Conflict:
            self._written.pop(key, None)
            return Requeue()  # someone else wrote the Job: look again (rate-limited)

    # --- the pass ------------------------------------------------------------------------

    def _expectations_satisfied(self, key: str, pods: list[Obj]) -> bool:
        exp = self._expectations.get(key)
        if exp is None:
            return True
        names = {p["metadata"].get("name") for p in pods}
        exp.created -= {n for n in exp.created if n in names}
        live = {
            p["metadata"].get("uid") for p in pods if not p["metadata"].get("deletionTimestamp")
        }
        exp.deleted &= {u for u in live if u is not None}
        if not exp.created and not exp.deleted:
            del self._expectations[key]
            return True
        if self.clock.now() - exp.since > self.EXPECTATIONS_TIMEOUT:
            self.log.warning("job %s: expectations timed out, resyncing", key)
            del self._expectations[key]
            return True
        return False

    async def _sync(self, key: str, job: Obj, pods: list[Obj]) -> Requeue | None:
        now = self.clock.wall()
        job.setdefault("status", {})
        spec = job.setdefault("spec", {})
        satisfied = self._expectations_satisfied(key, pods)
        expected_rm = self._rm_finalizers.setdefault(key, set())
        # forget removals the cache has caught up with
        present = {p["metadata"].get("uid") for p in pods if has_tracking_finalizer(p)}
        expected_rm &= {u for u in present if u is not None}
        uncounted = job["status"].get("uncountedTerminatedPods") or {}
        c = _Ctx(
            job=job,
            pods=pods,
            active=[p for p in pods if is_pod_active(p)],
            now=now,
            uncounted_succeeded=set(uncounted.get("succeeded") or ()),
            uncounted_failed=set(uncounted.get("failed") or ()),
            expected_rm=expected_rm,
        )
        c.ready = sum(1 for p in c.active if is_pod_ready(p))
        c.terminating = sum(1 for p in pods if is_pod_terminating(p))
        st = c.status
        new_succeeded, new_failed = self._new_finished_pods(c)
        policy = spec.get("podFailurePolicy")
        counted_new_failed = sum(
            1 for p in new_failed if match_pod_failure_policy(policy, p).count_failed
        )
        c.succeeded = (
            int(st.get("succeeded") or 0) + len(new_succeeded) + len(c.uncounted_succeeded)
        )
        failed = int(st.get("failed") or 0) + counted_new_failed + len(c.uncounted_failed)
        suspended = bool(spec.get("suspend"))
        if st.get("startTime") is None and not suspended:
            st["startTime"] = format_time(now)
        c.backoff = self._backoff.get(key, BackoffRecord()).updated(new_succeeded, new_failed, now)

        # --- has it failed? ---
        backoff_limit = spec.get("backoffLimit")
        if not isinstance(backoff_limit, int):
            backoff_limit = 6
        c.finished = condition_as_finished(condition(job, "SuccessCriteriaMet"))
        if c.finished is None:
            target = condition(job, "FailureTarget")
            if target is not None and target.get("status") == "True":
                c.finished = new_condition(
                    "Failed", str(target.get("reason", "")), str(target.get("message", "")), now
                )
            elif (msg := self._fail_job_message(c)) is not None:
                c.finished = new_condition("FailureTarget", "PodFailurePolicy", msg, now)
        if c.finished is None:
            if failed > backoff_limit or past_backoff_limit_on_failure(job, pods, backoff_limit):
                c.finished = new_condition(
                    "FailureTarget", "BackoffLimitExceeded", BACKOFF_LIMIT_MESSAGE, now
                )
            elif (left := self._deadline_left(job, now)) is not None:
                if left <= 0:
                    c.finished = new_condition(
                        "FailureTarget", "DeadlineExceeded", DEADLINE_MESSAGE, now
                    )
                else:
                    c.requeue.append(left)
        if c.indexed:
            self._index_bookkeeping(c)

        # --- act ---
        active = len(c.active)
        suspend_changed = False
        if c.finished is not None:
            deleted = await self._delete_pods(key, job, c.active)
            if deleted != active or not satisfied:
                c.finished = None  # pods still to go, or the cache is behind
            active -= deleted
            c.ready -= sum(1 for p in c.active[:deleted] if is_pod_ready(p))
        else:
            managed = False
            if satisfied and not job["metadata"].get("deletionTimestamp"):
                active = await self._manage(key, c)
                managed = True
            comp = c.completions
            if comp is None:
                complete = c.succeeded > 0 and active == 0
            else:
                complete = c.succeeded >= comp and active == 0
            if complete:
                c.finished = new_condition(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    now,
                )
            elif managed:
                suspend_changed = self._suspend_conditions(c, suspended, now)
        if suspended and active == 0 and st.get("startTime") is not None and c.finished is None:
            st.pop("startTime", None)
            suspend_changed = True
        st["active"] = active
        st["ready"] = max(0, c.ready)
        st["terminating"] = c.terminating
        await self._track_and_remove_finalizers(key, c, suspend_changed)
        return Requeue(after=min(c.requeue)) if c.requeue else None

    def _suspend_conditions(self, c: _Ctx, suspended: bool, now: datetime) -> bool:
        if suspended:
            changed = ensure_condition(
                c.status, "Suspended", "True", "JobSuspended", "Job suspended", now
            )
            if changed:
                self.recorder.event(c.job, NORMAL, "Suspended", "Job suspended")
            return changed
        changed = ensure_condition(c.status, "Suspended", "False", "JobResumed", "Job resumed", now)
        if changed:
            self.recorder.event(c.job, NORMAL, "Resumed", "Job resumed")
            # the deadline counts the time a Job is continuously active
            c.status["startTime"] = format_time(now)
        return changed

    def _deadline_left(self, job: Obj, now: datetime) -> float | None:
        """Seconds before ``activeDeadlineSeconds`` passes (None: no deadline running)."""
        ads = job["spec"].get("activeDeadlineSeconds")
        start = parse_time(job["status"].get("startTime"))
        if not isinstance(ads, int) or start is None or job["spec"].get("suspend"):
            return None
        return ads - (now - start).total_seconds()

    def _new_finished_pods(self, c: _Ctx) -> tuple[list[Obj], list[Obj]]:
        """``getNewFinishedPods``: finished pods not yet counted (tracked by finalizer,
        not in the uncounted lists, with a valid index for Indexed Jobs)."""
        succeeded: list[Obj] = []
        failed: list[Obj] = []
        for p in c.pods:
            uid = p["metadata"].get("uid", "")
            if not has_tracking_finalizer(p) or uid in c.expected_rm:
                continue
            if c.indexed and not c.valid_index(p):
                continue
            if (p.get("status") or {}).get("phase") == "Succeeded":
                if uid not in c.uncounted_succeeded:
                    succeeded.append(p)
            elif self._considered_failed(p, c.job) and uid not in c.uncounted_failed:
                failed.append(p)
        return succeeded, failed

    @staticmethod
    def _considered_failed(pod: Obj, job: Obj) -> bool:
        """Failed for counting: ``isPodFailed``, except that pods deleted while the Job
        is suspended were stopped by the suspension, not by a failure."""
        if job["spec"].get("suspend") and pod["metadata"].get("deletionTimestamp"):
            return False
        return is_pod_failed(pod, job)

    @staticmethod
    def _fail_job_message(c: _Ctx) -> str | None:
        """``getFailJobMessage``: a FailJob rule matching a failed pod."""
        policy = c.spec.get("podFailurePolicy")
        if not policy:
            return None
        for p in c.pods:
            if (p.get("status") or {}).get("phase") != "Failed" or not has_tracking_finalizer(p):
                continue
            m = match_pod_failure_policy(policy, p)
            if m.action == "FailJob" and m.message is not None:
                return m.message
        return None

    # --- Indexed Jobs ----------------------------------------------------------------------

    def _index_bookkeeping(self, c: _Ctx) -> None:
        comp = c.completions or 0
        c.prev_succeeded_indexes = Indexes.parse(c.status.get("completedIndexes"), comp)
        done = set(c.prev_succeeded_indexes.items)
        for p in c.pods:
            if (
                (p.get("status") or {}).get("phase") == "Succeeded"
                and has_tracking_finalizer(p)
                and c.valid_index(p)
            ):
                done.add(completion_index(p) or 0)
        c.succeeded_indexes = Indexes(done)
        c.succeeded = len(c.succeeded_indexes)
        if not c.per_index:
            return
        failed = set(Indexes.parse(c.status.get("failedIndexes"), comp).items)
        limit = int(c.spec.get("backoffLimitPerIndex") or 0)
        for p in c.pods:
            if not has_tracking_finalizer(p) or not c.valid_index(p):
                continue
            if self._index_failed(p, c.job, limit):
                failed.add(completion_index(p) or 0)
        failed -= done
        c.failed_indexes = Indexes(failed)
        # the latest failed pod per index keeps its finalizer until its replacement
        # exists: it carries the index's failure count over
        active_ix = {completion_index(p) for p in c.active}
        for p in c.pods:
            ix = completion_index(p)
            if (
                ix is None
                or ix in failed
                or ix in done
                or ix in active_ix
                or not c.valid_index(p)
                or not has_tracking_finalizer(p)
                or not self._considered_failed(p, c.job)
            ):
                continue
            prev = c.delayed_per_index.get(ix)
            if prev is None or index_failure_count(p) > index_failure_count(prev):
                c.delayed_per_index[ix] = p
        if c.finished is None:
            mfi = c.spec.get("maxFailedIndexes")
            if isinstance(mfi, int) and len(failed) > mfi:
                c.finished = new_condition(
                    "FailureTarget",
                    "MaxFailedIndexesExceeded",
                    "Job has exceeded the specified maximal number of failed indexes",
                    c.now,
                )
            elif failed and len(failed) + len(done) >= comp:
                c.finished = new_condition(
                    "FailureTarget", "FailedIndexes", "Job has failed indexes", c.now
                )

    def _index_failed(self, pod: Obj, job: Obj, limit: int) -> bool:
        """``isIndexFailed``: FailIndex matched, or the index ran out of retries."""
        if not self._considered_failed(pod, job):
            return False
        counted = True
        policy = job["spec"].get("podFailurePolicy")
        if policy:
            m = match_pod_failure_policy(policy, pod)
            if m.action == "FailIndex":
                return True
            counted = m.count_failed
        return counted and index_failure_count(pod) >= limit

    # --- manageJob -------------------------------------------------------------------------

    async def _manage(self, key: str, c: _Ctx) -> int:
        job, spec = c.job, c.spec
        active = len(c.active)
        parallelism = int(spec.get("parallelism") or 0)
        if spec.get("suspend"):
            if c.active:
                self.log.log(DETAIL, "job %s: suspended, deleting %d active pods", key, active)
            deleted = await self._delete_pods(key, job, removal_order(c.active))
            c.ready -= sum(1 for p in c.active[:deleted] if is_pod_ready(p))
            return active - deleted
        comp = c.completions
        if comp is None:
            want = active if c.succeeded > 0 else parallelism
        else:
            want = max(0, min(comp - c.succeeded, parallelism))
        to_delete = self._pods_for_removal(c, max(0, active - want))[:MAX_CREATE_DELETE]
        if to_delete:
            deleted = await self._delete_pods(key, job, to_delete)
            return active - deleted
        terminating = c.terminating if only_replace_failed_pods(job) else 0
        diff = want - terminating - active
        if diff <= 0:
            return active
        if not c.per_index:
            remaining = c.backoff.remaining(c.now, self.BACKOFF_BASE, self.BACKOFF_MAX)
            if remaining > 0:
                c.requeue.append(remaining)
                return active
        diff = min(diff, MAX_CREATE_DELETE)
        indexes: list[int | None] = [None] * diff
        if c.indexed:
            busy = [ix for p in c.active if (ix := completion_index(p)) is not None]
            if only_replace_failed_pods(job):
                busy += [
                    ix
                    for p in c.pods
                    if is_pod_terminating(p) and (ix := completion_index(p)) is not None
                ]
            done = set(c.succeeded_indexes.items) | set((c.failed_indexes or Indexes()).items)
            pending = first_pending_indexes(comp or 0, diff, busy, done)
            if c.per_index:
                pending, wait = self._ready_indexes(c, pending)
                if wait > 0:
                    c.requeue.append(wait)
            indexes = list(pending)
        created = await self._create_pods(key, c, indexes)
        return active + created

    def _ready_indexes(self, c: _Ctx, pending: list[int]) -> tuple[list[int], float]:
        """Indexes whose per-index back-off has passed, and the shortest wait of the rest."""
        ready: list[int] = []
        wait = 0.0
        for ix in pending:
            prev = c.delayed_per_index.get(ix)
            if prev is None:
                ready.append(ix)
                continue
            left = backoff_remaining(
                index_failure_count(prev) + 1,
                finished_time(prev, c.now),
                c.now,
                self.BACKOFF_BASE,
                self.BACKOFF_MAX,
            )
            if left <= 0:
                ready.append(ix)
            else:
                wait = left if wait == 0 else min(wait, left)
        return ready, wait

    @staticmethod
    def _pods_for_removal(c: _Ctx, at_least: int) -> list[Obj]:
        """``activePodsForRemoval``: for Indexed Jobs, pods with a bad, duplicated or
        already succeeded index first; then the least advanced pods."""
        rm: list[Obj] = []
        left = list(c.active)
        if c.indexed:
            left = []
            seen: set[int] = set()
            for p in removal_order(c.active)[::-1]:  # keep the most advanced of each index
                ix = completion_index(p)
                if ix is None or not c.valid_index(p) or ix in seen or ix in c.succeeded_indexes:
                    rm.append(p)
                else:
                    seen.add(ix)
                    left.append(p)
        if len(rm) < at_least:
            rm += removal_order(left)[: at_least - len(rm)]
        return rm

    def _pod_for(self, c: _Ctx, index: int | None) -> Obj:
        job = c.job
        jmeta = job["metadata"]
        template = copy.deepcopy(c.spec.get("template") or {})
        tmeta = template.get("metadata") or {}
        labels = dict(tmeta.get("labels") or {})
        annotations = dict(tmeta.get("annotations") or {})
        finalizers = list(tmeta.get("finalizers") or [])
        if JOB_TRACKING_FINALIZER not in finalizers:
            finalizers.append(JOB_TRACKING_FINALIZER)
        pod_spec: Obj = template.get("spec") or {}
        if index is not None:
            annotations[COMPLETION_INDEX] = str(index)
            labels[COMPLETION_INDEX] = str(index)
            pod_spec["hostname"] = f"{jmeta['name']}-{index}"
            for group in ("initContainers", "containers"):
                for container in pod_spec.get(group) or ():
                    add_index_env(container)
            if c.per_index:
                prev = c.delayed_per_index.get(index)
                failures, ignored = 0, 0
                if prev is not None:
                    failures, ignored = index_failure_count(prev), index_ignored_failure_count(prev)
                    if match_pod_failure_policy(c.spec.get("podFailurePolicy"), prev).count_failed:
                        failures += 1
                    else:
                        ignored += 1
                annotations[INDEX_FAILURE_COUNT] = str(failures)
                if ignored:
                    annotations[INDEX_IGNORED_FAILURE_COUNT] = str(ignored)
        meta: Obj = {
            "generateName": pod_generate_name(str(jmeta["name"]), index),
            "namespace": jmeta.get("namespace"),
            "labels": labels,
            "finalizers": finalizers,
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": jmeta["name"],
                    "uid": jmeta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
        if annotations:
            meta["annotations"] = annotations
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec}

    async def _create_pods(self, key: str, c: _Ctx, indexes: list[int | None]) -> int:
        """Create one pod per entry in slow-start batches; how many were created."""
        if not indexes:
            return 0
        ns = c.job["metadata"].get("namespace")
        exp = self._expectations.setdefault(key, _Expectations())
        exp.since = self.clock.now()
        created = 0
        batch = SLOW_START
        pos = 0
        while pos < len(indexes):
            chunk = indexes[pos : pos + batch]
            pos += len(chunk)
            results = await asyncio.gather(
                *(self.client.create(PODS, self._pod_for(c, ix), namespace=ns) for ix in chunk),
                return_exceptions=True,
            )
            errors: list[BaseException] = []
            for r in results:
                if isinstance(r, BaseException):
                    errors.append(r)
                    continue
                created += 1
                name = str(r["metadata"]["name"])
                exp.created.add(name)
                self.recorder.event(c.job, NORMAL, "SuccessfulCreate", f"Created pod: {name}")
            if errors:
                for e in errors:
                    if isinstance(e, asyncio.CancelledError):
                        raise e
                    if not isinstance(e, ApiError):
                        raise e
                    self.recorder.event(c.job, WARNING, "FailedCreate", f"Error creating: {e}")
                raise errors[0]
            batch *= 2
        return created

    async def _delete_pods(self, key: str, job: Obj, pods: list[Obj]) -> int:
        """Delete ``pods`` (their finalizers stay until they are counted); how many went."""
        if not pods:
            return 0
        exp = self._expectations.setdefault(key, _Expectations())
        exp.since = self.clock.now()
        ns = job["metadata"].get("namespace")

        async def one(p: Obj) -> bool:
            name, uid = p["metadata"]["name"], p["metadata"].get("uid", "")
            exp.deleted.add(uid)
            try:
                await self.client.delete(PODS, name, namespace=ns)
            except NotFound:
                exp.deleted.discard(uid)
                return True
            except ApiError as e:
                exp.deleted.discard(uid)
                self.recorder.event(job, WARNING, "FailedDelete", f"Error deleting: {e}")
                raise
            self.recorder.event(job, NORMAL, "SuccessfulDelete", f"Deleted pod: {name}")
            return True

        results = await asyncio.gather(*(one(p) for p in pods), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        return len(pods)

    # --- counting finished pods and removing their finalizers -----------------------------

    def _can_remove_finalizer(self, c: _Ctx, pod: Obj, considered_failed: bool) -> bool:
        if c.job["metadata"].get("deletionTimestamp") or c.finished is not None:
            return True
        if (pod.get("status") or {}).get("phase") == "Succeeded":
            return True
        if not considered_failed:
            return False
        if c.per_index:
            ix = completion_index(pod)
            delayed = c.delayed_per_index.get(ix) if ix is not None else None
            if delayed is not None and delayed["metadata"].get("uid") == pod["metadata"].get("uid"):
                return False  # kept until its replacement carries the failure count over
        return True

    async def _track_and_remove_finalizers(self, key: str, c: _Ctx, force_write: bool) -> None:
        """``trackJobStatusAndRemoveFinalizers``."""
        job, st = c.job, c.status
        original = copy.deepcopy(self._latest(key) or {}).get("status") or {}
        policy = c.spec.get("podFailurePolicy")
        uncounted: Obj = st.setdefault("uncountedTerminatedPods", {})
        with_finalizer = {
            p["metadata"].get("uid", "")
            for p in c.pods
            if has_tracking_finalizer(p) and p["metadata"].get("uid") not in c.expected_rm
        }
        clean_uncounted(st, with_finalizer)
        to_remove: list[Obj] = []
        new_indexes: list[int] = []
        pods = sorted(c.pods, key=lambda p: completion_index(p) or 0) if c.indexed else c.pods
        capped = False
        for p in pods:
            uid = p["metadata"].get("uid", "")
            if not has_tracking_finalizer(p) or uid in c.expected_rm:
                continue
            failed = self._considered_failed(p, job)
            stopped = bool(job["spec"].get("suspend")) and is_pod_failed(p, job)
            if not self._can_remove_finalizer(c, p, failed or stopped):
                continue
            to_remove.append(p)
            phase = (p.get("status") or {}).get("phase")
            ix = completion_index(p)
            if phase == "Succeeded" and uid not in c.uncounted_failed:
                if c.indexed:
                    if c.valid_index(p) and ix not in c.prev_succeeded_indexes:
                        new_indexes.append(ix or 0)
                elif uid not in c.uncounted_succeeded:
                    c.uncounted_succeeded.add(uid)
                    uncounted.setdefault("succeeded", []).append(uid)
            elif failed or (c.finished is not None and c.finished["type"] != "SuccessCriteriaMet"):
                # once the Job has failed, every pod that did not succeed counts as failed
                if uid not in c.uncounted_failed and (not c.indexed or c.valid_index(p)):
                    if match_pod_failure_policy(policy, p).count_failed:
                        c.uncounted_failed.add(uid)
                        uncounted.setdefault("failed", []).append(uid)
            n_uncounted = len(uncounted.get("succeeded") or ()) + len(uncounted.get("failed") or ())
            if len(new_indexes) + n_uncounted >= MAX_UNCOUNTED:
                capped = True  # the rest next time (keeps the status small)
                break
        if c.indexed:
            c.succeeded_indexes = Indexes(set(c.succeeded_indexes.items) | set(new_indexes))
            st["succeeded"] = len(c.succeeded_indexes)
            text = str(c.succeeded_indexes)
            if text or "completedIndexes" in st:
                st["completedIndexes"] = text
            if c.failed_indexes is not None:
                st["failedIndexes"] = str(c.failed_indexes)
        if c.finished is not None and c.finished["type"] == "FailureTarget":
            st.setdefault("conditions", []).append(c.finished)
            c.finished = new_condition("Failed", c.finished["reason"], c.finished["message"], c.now)
        if c.finished is not None and c.finished["type"] == "SuccessCriteriaMet":
            if condition(job, "SuccessCriteriaMet") is None:
                st.setdefault("conditions", []).append(c.finished)
            c.finished = new_condition(
                "Complete", c.finished["reason"], c.finished["message"], c.now
            )
        _omit_zero_counters(st)

        # 1. record what is about to lose its finalizer
        if force_write or not same_status(st, original):
            await self._write_status(key, c)
        self._backoff[key] = c.backoff
        # 2. remove the finalizers
        removed = await self._remove_finalizers(key, to_remove)
        with_finalizer -= removed
        # 3. move what lost its finalizer into the counters, and maybe finish
        clean_uncounted(st, with_finalizer)
        finished = not capped and self._enact_finished(c)
        _omit_zero_counters(st)
        if not same_status(st, (self._latest(key) or {}).get("status")):
            await self._write_status(key, c)
        if finished and c.finished is not None:
            self._record_finished(c)

    def _enact_finished(self, c: _Ctx) -> bool:
        if c.finished is None:
            return False
        u = c.status.get("uncountedTerminatedPods") or {}
        if u.get("succeeded") or u.get("failed"):
            return False
        if c.terminating > 0:
            return False  # wait until no pod is terminating (1.31+)
        f = c.finished
        ensure_condition(c.status, f["type"], f["status"], f["reason"], f["message"], c.now)
        if f["type"] == "Complete":
            c.status["completionTime"] = format_time(c.now)
        return True

    def _record_finished(self, c: _Ctx) -> None:
        assert c.finished is not None
        if c.finished["type"] == "Complete":
            comp = c.completions
            if comp is not None and int(c.status.get("succeeded") or 0) > comp:
                self.recorder.event(
                    c.job,
                    WARNING,
                    "TooManySucceededPods",
                    "Too many succeeded pods running after completion count reached",
                )
            self.recorder.event(c.job, NORMAL, "Completed", "Job completed")
        else:
            self.recorder.event(c.job, WARNING, c.finished["reason"], c.finished["message"])

    async def _write_status(self, key: str, c: _Ctx) -> None:
        updated = await self.client.replace_status(JOBS, c.job)
        self._written[key] = updated
        # keep working on our copy, with the new resourceVersion
        c.job["metadata"]["resourceVersion"] = updated["metadata"].get("resourceVersion")

    async def _remove_finalizers(self, key: str, pods: list[Obj]) -> set[str]:
        """Remove the tracking finalizer; the uids it is gone from (or that are gone)."""
        if not pods:
            return set()
        expected = self._rm_finalizers.setdefault(key, set())
        patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [JOB_TRACKING_FINALIZER]}}

        async def one(p: Obj) -> str:
            m = p["metadata"]
            try:
                await self.client.patch(
                    PODS, m["name"], patch, namespace=m.get("namespace"), patch_type="strategic"
                )
            except NotFound:
                pass
            expected.add(m.get("uid", ""))
            return str(m.get("uid", ""))

        results = await asyncio.gather(*(one(p) for p in pods), return_exceptions=True)
        done = {r for r in results if isinstance(r, str)}
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            self.log.warning(
                "job %s: removing %d pod finalizers failed: %s", key, len(errors), errors[0]
            )
        return done


# --- helpers --------------------------------------------------------------------------------


def _owner_key(pod: Obj) -> str:
    keys = _owner_index(pod)
    return keys[0] if keys else ""


def _omit_zero_counters(status: Obj) -> None:
    """``active``, ``succeeded`` and ``failed`` are ``omitempty`` upstream: absent when 0
    (``ready`` and ``terminating`` are pointers, so 0 is shown)."""
    for f in ("active", "succeeded", "failed"):
        if status.get(f) == 0:
            del status[f]
