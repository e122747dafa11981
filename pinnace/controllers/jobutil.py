"""Pure helpers of the Job, CronJob and TTL-after-finished controllers.

Everything here is a function of objects (plain dicts) and times, with no I/O,
so that the bookkeeping the controllers rely on — which pods count as failed,
what a pod failure policy says, how long the back-off is, which indexes are
done — is unit-tested on its own. Names follow upstream's
``pkg/controller/job`` (``job_controller.go``, ``pod_failure_policy.go``,
``backoff_utils.go``, ``indexed_job_utils.go``) so the two can be read side
by side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pinnace.client import Obj, ResourceRef
from pinnace.controllers.controller_utils import parse_time

__all__ = [
    "COMPLETION_INDEX",
    "COMPLETION_INDEX_ENV",
    "CRONJOBS",
    "DEFAULT_BACKOFF",
    "INDEX_FAILURE_COUNT",
    "INDEX_IGNORED_FAILURE_COUNT",
    "JOBS",
    "JOB_TRACKING_FINALIZER",
    "MAX_BACKOFF",
    "BackoffRecord",
    "Indexes",
    "backoff_remaining",
    "completion_index",
    "condition",
    "controller_ref",
    "finished_condition",
    "finished_time",
    "format_time",
    "is_finished",
    "is_pod_active",
    "is_pod_failed",
    "is_pod_ready",
    "match_pod_failure_policy",
    "parse_time",
]

JOBS = ResourceRef("batch", "v1", "jobs", True, "Job")
CRONJOBS = ResourceRef("batch", "v1", "cronjobs", True, "CronJob")

JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
INDEX_FAILURE_COUNT = "batch.kubernetes.io/job-index-failure-count"
INDEX_IGNORED_FAILURE_COUNT = "batch.kubernetes.io/job-index-ignored-failure-count"

#: upstream's DefaultJobPodFailureBackOff and MaxJobPodFailureBackOff
DEFAULT_BACKOFF = 10.0
MAX_BACKOFF = 360.0


# --- time ------------------------------------------------------------------------------------


def format_time(t: datetime) -> str:
    """``metav1.Time``: RFC 3339 in UTC, whole seconds."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339(t: datetime) -> str:
    """Go's ``time.RFC3339`` in ``t``'s own zone (``Z`` for a zero offset)."""
    off = t.utcoffset()
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    if not off:
        return base + "Z"
    z = t.strftime("%z")
    return f"{base}{z[:3]}:{z[3:]}"


# --- objects ---------------------------------------------------------------------------------


def _meta(obj: Obj) -> dict[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def _status(obj: Obj) -> dict[str, Any]:
    s = obj.get("status")
    return s if isinstance(s, dict) else {}


def resource_version(obj: Obj) -> int:
    """The numeric resourceVersion (0 when absent), to tell newer copies from older."""
    try:
        return int(_meta(obj).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


def _pruned(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def same_status(a: Any, b: Any) -> bool:
    """Equal statuses, ignoring absent-versus-empty fields (``{}``, ``[]``, null): a
    write is only worth sending when this is False."""
    return bool(_pruned(a or {}) == _pruned(b or {}))


def controller_ref(obj: Obj) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in _meta(obj).get("ownerReferences") or ():
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def condition(obj: Obj, ctype: str) -> dict[str, Any] | None:
    for c in _status(obj).get("conditions") or ():
        if isinstance(c, dict) and c.get("type") == ctype:
            return c
    return None


def _true(obj: Obj, ctype: str) -> bool:
    c = condition(obj, ctype)
    return c is not None and c.get("status") == "True"


def finished_condition(job: Obj) -> str | None:
    """``Complete`` or ``Failed`` when the Job has finished, else None."""
    for ctype in ("Complete", "Failed"):
        if _true(job, ctype):
            return ctype
    return None


def is_finished(job: Obj) -> bool:
    return finished_condition(job) is not None


def is_pod_active(pod: Obj) -> bool:
    """``controller.IsPodActive``: not terminal and not being deleted."""
    return _status(pod).get("phase") not in ("Succeeded", "Failed") and not _meta(pod).get(
        "deletionTimestamp"
    )


def is_pod_terminating(pod: Obj) -> bool:
    return bool(_meta(pod).get("deletionTimestamp")) and _status(pod).get("phase") not in (
        "Succeeded",
        "Failed",
    )


def is_pod_ready(pod: Obj) -> bool:
    for c in _status(pod).get("conditions") or ():
        if isinstance(c, dict) and c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def has_tracking_finalizer(pod: Obj) -> bool:
    return JOB_TRACKING_FINALIZER in (_meta(pod).get("finalizers") or ())


def only_replace_failed_pods(job: Obj) -> bool:
    """Replacement pods wait until the old ones are Failed (not merely terminating)."""
    spec = job.get("spec") or {}
    return spec.get("podReplacementPolicy") == "Failed" or spec.get("podFailurePolicy") is not None


def is_pod_failed(pod: Obj, job: Obj) -> bool:
    """``isPodFailed``: phase Failed, or — unless only failed pods are replaced —
    deleted before it succeeded (orphaned pods never reach Failed)."""
    phase = _status(pod).get("phase")
    if phase == "Failed":
        return True
    if only_replace_failed_pods(job):
        return False
    return bool(_meta(pod).get("deletionTimestamp")) and phase != "Succeeded"


def completion_index(pod: Obj) -> int | None:
    """The pod's completion index (annotation), None when absent or malformed."""
    value = (_meta(pod).get("annotations") or {}).get(COMPLETION_INDEX)
    if not isinstance(value, str) or not value.isdigit():
        return None
    return int(value)


def _int_annotation(pod: Obj, key: str) -> int:
    value = (_meta(pod).get("annotations") or {}).get(key)
    return int(value) if isinstance(value, str) and value.isdigit() else 0


def index_failure_count(pod: Obj) -> int:
    return _int_annotation(pod, INDEX_FAILURE_COUNT)


def index_ignored_failure_count(pod: Obj) -> int:
    return _int_annotation(pod, INDEX_IGNORED_FAILURE_COUNT)


def finished_time(pod: Obj, now: datetime) -> datetime:
    """``getFinishedTime``: when the pod's last container finished, else its Ready
    condition's transition or deletion time, else ``now`` (never after ``now``)."""
    st = _status(pod)
    latest: datetime | None = None
    for cs in st.get("containerStatuses") or ():
        term = ((cs or {}).get("state") or {}).get("terminated") or {}
        t = parse_time(term.get("finishedAt"))
        if t is not None and (latest is None or t > latest):
            latest = t
    if latest is None:
        for c in st.get("conditions") or ():
            if isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "False":
                latest = parse_time(c.get("lastTransitionTime"))
    if latest is None:
        latest = parse_time(_meta(pod).get("deletionTimestamp"))
    if latest is None or latest > now:
        return now
    return latest


# --- pod failure policy ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyMatch:
    """What a pod failure policy says about one failed pod."""

    #: the FailJob message (``None`` unless the action is FailJob)
    message: str | None
    #: whether the failure counts towards ``backoffLimit``
    count_failed: bool
    #: the matching rule's action (``None``: no rule matched)
    action: str | None


_NO_MATCH = PolicyMatch(None, True, None)


def _exit_code_matches(code: int, req: Mapping[str, Any]) -> bool:
    values = req.get("values") or ()
    if req.get("operator") == "In":
        return code in values
    if req.get("operator") == "NotIn":
        return code not in values
    return False


def _matching_container(statuses: Iterable[Any], req: Mapping[str, Any]) -> tuple[str, int] | None:
    for cs in statuses:
        if not isinstance(cs, dict):
            continue
        term = (cs.get("state") or {}).get("terminated")
        if not isinstance(term, dict):
            continue  # still running or terminating: no exit code to match
        name = req.get("containerName")
        code = int(term.get("exitCode") or 0)
        if (name is None or name == cs.get("name")) and code != 0 and _exit_code_matches(code, req):
            return str(cs.get("name")), code
    return None


def match_pod_failure_policy(policy: Mapping[str, Any] | None, pod: Obj) -> PolicyMatch:
    """``matchPodFailurePolicy``: the first rule matching the failed pod's exit codes
    (containers, then init containers) or conditions decides."""
    if not policy:
        return _NO_MATCH
    st = _status(pod)
    ns, name = _meta(pod).get("namespace", ""), _meta(pod).get("name", "")
    for i, rule in enumerate(policy.get("rules") or ()):
        action = rule.get("action")
        on_codes = rule.get("onExitCodes")
        if on_codes is not None:
            found = _matching_container(st.get("containerStatuses") or (), on_codes)
            if found is None:
                found = _matching_container(st.get("initContainerStatuses") or (), on_codes)
            if found is None:
                continue
            message = (
                f"Container {found[0]} for pod {ns}/{name} failed with exit code {found[1]} "
                f"matching {action} rule at index {i}"
            )
        elif rule.get("onPodConditions") is not None:
            cond = _matching_condition(st, rule["onPodConditions"])
            if cond is None:
                continue
            message = f"Pod {ns}/{name} has condition {cond} matching {action} rule at index {i}"
        else:
            continue
        if action == "Ignore":
            return PolicyMatch(None, False, "Ignore")
        if action == "FailJob":
            return PolicyMatch(message, True, "FailJob")
        if action in ("Count", "FailIndex"):
            return PolicyMatch(None, True, action)
    return _NO_MATCH


def _matching_condition(st: Mapping[str, Any], patterns: Sequence[Any]) -> str | None:
    for c in st.get("conditions") or ():
        if not isinstance(c, dict):
            continue
        for p in patterns:
            if (
                isinstance(p, dict)
                and c.get("type") == p.get("type")
                and c.get("status") == (p.get("status") or "True")
            ):
                return str(c.get("type"))
    return None


# --- back-off --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackoffRecord:
    """Failures since the last success and when the latest happened (``backoffRecord``)."""

    failures_after_last_success: int = 0
    last_failure_time: datetime | None = None

    def updated(
        self, succeeded: Sequence[Obj], failed: Sequence[Obj], now: datetime
    ) -> BackoffRecord:
        """``newBackoffRecord``: fold in newly finished pods."""
        if not succeeded and not failed:
            return self
        failed_times = sorted(finished_time(p, now) for p in failed)
        if not succeeded:
            return BackoffRecord(self.failures_after_last_success + len(failed), failed_times[-1])
        last_success = max(finished_time(p, now) for p in succeeded)
        after = [t for t in failed_times if t > last_success]
        return BackoffRecord(len(after), after[-1] if after else None)

    def remaining(
        self, now: datetime, base: float = DEFAULT_BACKOFF, cap: float = MAX_BACKOFF
    ) -> float:
        return backoff_remaining(
            self.failures_after_last_success, self.last_failure_time, now, base, cap
        )


def backoff_duration(
    failures: int, base: float = DEFAULT_BACKOFF, cap: float = MAX_BACKOFF
) -> float:
    """The delay before the next pod after ``failures`` consecutive failures
    (10 s doubling, at most 6 min); 0 without failures."""
    if failures <= 0:
        return 0.0
    d = base
    for _ in range(1, failures):
        d *= 2
        if d >= cap:
            return cap
    return min(d, cap)


def backoff_remaining(
    failures: int,
    last_failure: datetime | None,
    now: datetime,
    base: float = DEFAULT_BACKOFF,
    cap: float = MAX_BACKOFF,
) -> float:
    """``getRemainingTimeForFailuresCount``: seconds still to wait at ``now``."""
    if failures <= 0 or last_failure is None:
        return 0.0
    d = backoff_duration(failures, base, cap)
    elapsed = (now - last_failure).total_seconds()
    return 0.0 if d < elapsed else d - elapsed


# --- indexes ---------------------------------------------------------------------------------


class Indexes:
    """A set of completion indexes, printed as upstream's interval list (``1,3-5,7``)."""

    def __init__(self, items: Iterable[int] = ()) -> None:
        self.items: set[int] = set(items)

    @classmethod
    def parse(cls, text: str | None, completions: int) -> Indexes:
        """``parseIndexesFromString``: tolerant, ignoring bad or out-of-range parts."""
        out: set[int] = set()
        for part in (text or "").split(","):
            part = part.strip()
            if not part:
                continue
            lo, sep, hi = part.partition("-")
            try:
                a = int(lo)
                b = int(hi) if sep else a
            except ValueError:
                continue
            out.update(i for i in range(a, b + 1) if 0 <= i < completions)
        return cls(out)

    def __contains__(self, i: object) -> bool:
        return i in self.items

    def __len__(self) -> int:
        return len(self.items)

    def __str__(self) -> str:
        parts: list[str] = []
        run: list[int] = []
        for i in sorted(self.items):
            if run and i == run[-1] + 1:
                run.append(i)
                continue
            if run:
                parts.append(_interval(run))
            run = [i]
        if run:
            parts.append(_interval(run))
        return ",".join(parts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Indexes) and other.items == self.items

    def __hash__(self) -> int:
        return hash(frozenset(self.items))

    def __repr__(self) -> str:
        return f"Indexes({str(self)!r})"


def _interval(run: list[int]) -> str:
    if len(run) == 1:
        return str(run[0])
    return f"{run[0]}-{run[-1]}"


def first_pending_indexes(
    completions: int, count: int, busy: Iterable[int], done: Iterable[int]
) -> list[int]:
    """``firstPendingIndexes``: the lowest ``count`` indexes neither busy (active
    pods) nor done (succeeded or failed)."""
    taken = set(busy) | set(done)
    out: list[int] = []
    for i in range(completions):
        if len(out) >= count:
            break
        if i not in taken:
            out.append(i)
    return out


def pod_generate_name(job_name: str, index: int | None) -> str:
    """``<job>-`` or ``<job>-<index>-`` (``podGenerateNameWithIndex``), cut to fit."""
    max_len = 58  # names.MaxGeneratedNameLength
    suffix = "-" if index is None else f"-{index}-"
    if len(job_name) + len(suffix) > max_len:
        return job_name[: max_len - len(suffix)] + suffix
    return job_name + suffix


# --- Job status and pod helpers ---------------------------------------------------------------


def new_condition(
    ctype: str, reason: str, message: str, now: datetime, status: str = "True"
) -> Obj:
    ts = format_time(now)
    return {
        "type": ctype,
        "status": status,
        "lastProbeTime": ts,
        "lastTransitionTime": ts,
        "reason": reason,
        "message": message,
    }


def ensure_condition(
    status: Obj, ctype: str, value: str, reason: str, message: str, now: datetime
) -> bool:
    """``ensureJobConditionStatus``: set the condition, True when something changed.
    A missing condition is not added just to say False."""
    conds: list[Obj] = status.setdefault("conditions", [])
    for i, c in enumerate(conds):
        if c.get("type") == ctype:
            if (c.get("status"), c.get("reason"), c.get("message")) != (value, reason, message):
                conds[i] = new_condition(ctype, reason, message, now, value)
                return True
            return False
    if value != "False":
        conds.append(new_condition(ctype, reason, message, now, value))
        return True
    return False


def condition_as_finished(c: Obj | None) -> Obj | None:
    if c is None or c.get("status") != "True":
        return None
    return dict(c)


def add_index_env(container: Obj) -> None:
    env: list[Obj] = container.setdefault("env", [])
    if any(e.get("name") == COMPLETION_INDEX_ENV for e in env):
        return
    env.append(
        {
            "name": COMPLETION_INDEX_ENV,
            "valueFrom": {
                "fieldRef": {
                    "apiVersion": "v1",
                    "fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']",
                }
            },
        }
    )


def clean_uncounted(status: Obj, with_finalizer: set[str]) -> bool:
    """``cleanUncountedPodsWithoutFinalizers``: uids whose pods lost the finalizer move
    from ``uncountedTerminatedPods`` into the counters."""
    changed = False
    uncounted: Obj = status.setdefault("uncountedTerminatedPods", {})
    for f in ("succeeded", "failed"):
        uids = uncounted.get(f) or []
        keep = [u for u in uids if u in with_finalizer]
        if len(keep) != len(uids):
            changed = True
            status[f] = int(status.get(f) or 0) + len(uids) - len(keep)
            if keep:
                uncounted[f] = keep
            else:
                uncounted.pop(f, None)
    return changed


def past_backoff_limit_on_failure(job: Obj, pods: list[Obj], limit: int) -> bool:
    """``pastBackoffLimitOnFailure``: with restartPolicy OnFailure, container restarts
    of running/pending pods count against ``backoffLimit``."""
    template_spec = (job["spec"].get("template") or {}).get("spec") or {}
    if template_spec.get("restartPolicy") != "OnFailure":
        return False
    restarts = 0
    for p in pods:
        st = p.get("status") or {}
        if st.get("phase") not in ("Running", "Pending"):
            continue
        for group in ("initContainerStatuses", "containerStatuses"):
            restarts += sum(int((cs or {}).get("restartCount") or 0) for cs in st.get(group) or ())
    if limit == 0:
        return restarts > 0
    return restarts >= limit


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def removal_order(pods: list[Obj]) -> list[Obj]:
    """``controller.ActivePods`` order: the pods to delete first come first
    (unscheduled, pending, not ready, more restarts, newer)."""

    def rank(p: Obj) -> tuple[int, int, int, int, str]:
        st = p.get("status") or {}
        restarts = sum(
            int((cs or {}).get("restartCount") or 0) for cs in st.get("containerStatuses") or ()
        )
        created = str(p["metadata"].get("creationTimestamp") or "")
        return (
            1 if (p.get("spec") or {}).get("nodeName") else 0,
            _PHASE_RANK.get(str(st.get("phase")), 1),
            1 if is_pod_ready(p) else 0,
            -restarts,
            _invert(created),
        )

    return sorted(pods, key=rank)


def _invert(s: str) -> str:
    """Sort key putting later timestamps first."""
    return "".join(chr(0x10FFFF - ord(ch)) for ch in s)
