"""Pure Job bookkeeping: back-off, pod failure policies, indexes, names, times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pinnace.controllers.jobutil import (
    BackoffRecord,
    Indexes,
    backoff_duration,
    backoff_remaining,
    clean_uncounted,
    first_pending_indexes,
    is_pod_failed,
    match_pod_failure_policy,
    past_backoff_limit_on_failure,
    pod_generate_name,
    rfc3339,
    same_status,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def failed_pod(
    code: int = 1,
    *,
    container: str = "main",
    init: bool = False,
    conditions: list[dict[str, Any]] | None = None,
    finished: datetime = T0,
) -> dict[str, Any]:
    cs = {
        "name": container,
        "state": {"terminated": {"exitCode": code, "finishedAt": rfc3339(finished)}},
    }
    status: dict[str, Any] = {"phase": "Failed", "conditions": conditions or []}
    status["initContainerStatuses" if init else "containerStatuses"] = [cs]
    return {"metadata": {"name": "p", "namespace": "ns"}, "status": status}


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(0, 0), (1, 10), (2, 20), (3, 40), (4, 80), (5, 160), (6, 320), (7, 360), (50, 360)],
)
def test_backoff_doubles_from_10s_to_6min(failures: int, seconds: float) -> None:
    assert backoff_duration(failures) == seconds


def test_backoff_remaining_counts_from_the_last_failure() -> None:
    assert backoff_remaining(2, T0, T0 + timedelta(seconds=5)) == 15
    assert backoff_remaining(2, T0, T0 + timedelta(seconds=25)) == 0
    assert backoff_remaining(0, None, T0) == 0


def test_backoff_record_resets_on_success() -> None:
    now = T0 + timedelta(minutes=5)
    r = BackoffRecord().updated(
        [], [failed_pod(finished=T0), failed_pod(finished=T0 + timedelta(seconds=3))], now
    )
    assert r == BackoffRecord(2, T0 + timedelta(seconds=3))
    r = r.updated([], [failed_pod(finished=T0 + timedelta(seconds=30))], now)
    assert r.failures_after_last_success == 3
    ok = {"status": {"phase": "Succeeded", "containerStatuses": [
        {"state": {"terminated": {"exitCode": 0, "finishedAt": rfc3339(T0 + timedelta(seconds=40))}}}
    ]}, "metadata": {}}  # fmt: skip
    assert r.updated([ok], [], now) == BackoffRecord()
    # failures after the success still count
    late = failed_pod(finished=T0 + timedelta(seconds=50))
    assert r.updated([ok], [late], now) == BackoffRecord(1, T0 + timedelta(seconds=50))
    assert r.remaining(T0 + timedelta(seconds=35)) == backoff_remaining(
        3, r.last_failure_time, T0 + timedelta(seconds=35)
    )


POLICY = {
    "rules": [
        {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [1, 2]}},
        {"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [2]}},
    ]
}  # fmt: skip


def test_pod_failure_policy_fail_job_message() -> None:
    m = match_pod_failure_policy(POLICY, failed_pod(42))
    assert (m.action, m.count_failed) == ("FailJob", True)
    assert m.message == (
        "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 0"
    )


def test_pod_failure_policy_rules_in_order() -> None:
    # another container with 42: rule 0 names "main"; NotIn [1, 2] counts it
    assert match_pod_failure_policy(POLICY, failed_pod(42, container="side")).action == "Count"
    disrupted = failed_pod(1, conditions=[{"type": "DisruptionTarget", "status": "True"}])
    m = match_pod_failure_policy(POLICY, disrupted)
    assert (m.action, m.count_failed) == ("Ignore", False)
    assert match_pod_failure_policy(POLICY, failed_pod(2)).action == "FailIndex"
    assert match_pod_failure_policy(POLICY, failed_pod(1)).action is None  # no rule: counted
    assert match_pod_failure_policy(POLICY, failed_pod(1)).count_failed
    # init containers are looked at too
    assert match_pod_failure_policy(POLICY, failed_pod(42, init=True)).action == "FailJob"
    # exit code 0 never matches an exit-code rule
    assert match_pod_failure_policy({"rules": [POLICY["rules"][2]]}, failed_pod(0)).action is None
    assert match_pod_failure_policy(None, failed_pod(42)).action is None


def test_pod_condition_rule_message() -> None:
    policy = {"rules": [{"action": "FailJob", "onPodConditions": [{"type": "ConfigIssue"}]}]}
    pod = failed_pod(1, conditions=[{"type": "ConfigIssue", "status": "True"}])
    m = match_pod_failure_policy(policy, pod)
    assert m.message == "Pod ns/p has condition ConfigIssue matching FailJob rule at index 0"


def test_is_pod_failed_counts_deleted_pods_unless_only_failed_are_replaced() -> None:
    job: dict[str, Any] = {"spec": {"podReplacementPolicy": "TerminatingOrFailed"}}
    deleting = {"metadata": {"deletionTimestamp": "x"}, "status": {"phase": "Running"}}
    assert is_pod_failed(deleting, job)
    assert not is_pod_failed(deleting, {"spec": {"podReplacementPolicy": "Failed"}})
    assert not is_pod_failed(deleting, {"spec": {"podFailurePolicy": {"rules": []}}})
    assert not is_pod_failed({"metadata": {}, "status": {"phase": "Running"}}, job)


def test_indexes_round_trip() -> None:
    ix = Indexes.parse("0,2-4,7,bad,9-12", 11)
    assert sorted(ix.items) == [0, 2, 3, 4, 7, 9, 10]
    assert str(ix) == "0,2-4,7,9-10"
    assert str(Indexes()) == ""
    assert 3 in ix and 5 not in ix


def test_first_pending_indexes_skips_busy_and_done() -> None:
    assert first_pending_indexes(6, 3, busy=[1], done=[0, 3]) == [2, 4, 5]
    assert first_pending_indexes(3, 5, busy=[], done=[0, 1, 2]) == []


def test_pod_generate_names() -> None:
    assert pod_generate_name("pi", None) == "pi-"
    assert pod_generate_name("pi", 3) == "pi-3-"
    long = "x" * 63
    assert pod_generate_name(long, 12) == "x" * 54 + "-12-"
    assert len(pod_generate_name(long, None)) == 58


def test_rfc3339_like_go() -> None:
    assert rfc3339(T0) == "2025-01-01T00:00:00Z"
    ny = T0.astimezone(ZoneInfo("America/New_York"))
    assert rfc3339(ny) == "2024-12-31T19:00:00-05:00"


def test_clean_uncounted_moves_uids_without_finalizers() -> None:
    st: dict[str, Any] = {
        "succeeded": 1,
        "uncountedTerminatedPods": {"succeeded": ["a", "b"], "failed": ["c"]},
    }
    assert clean_uncounted(st, {"b"})
    assert st == {"succeeded": 2, "failed": 1, "uncountedTerminatedPods": {"succeeded": ["b"]}}
    assert not clean_uncounted(st, {"b"})


def test_restarts_count_against_backoff_limit_with_on_failure() -> None:
    job = {"spec": {"template": {"spec": {"restartPolicy": "OnFailure"}}}}
    pod = {"status": {"phase": "Running", "containerStatuses": [{"restartCount": 2}]}}
    assert past_backoff_limit_on_failure(job, [pod], 2)
    assert not past_backoff_limit_on_failure(job, [pod], 3)
    never = {"spec": {"template": {"spec": {"restartPolicy": "Never"}}}}
    assert not past_backoff_limit_on_failure(never, [pod], 1)


def test_same_status_ignores_empty_fields() -> None:
    assert same_status({"a": 1, "u": {}, "c": None}, {"a": 1})
    assert not same_status({"a": 0}, {})
