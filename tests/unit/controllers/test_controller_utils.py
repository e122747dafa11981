"""Expectations, slow-start batches and upstream's pod deletion ranking."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from pinnace.client import FakeClock
from pinnace.controllers.controller_utils import (
    Expectations,
    controller_index,
    is_pod_available,
    pods_to_delete,
    slow_start_batch,
)

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def pod(
    name: str,
    *,
    node: str = "n1",
    phase: str = "Running",
    ready: bool = True,
    ready_at: str = "2025-01-01T10:00:00Z",
    created: str = "2025-01-01T09:00:00Z",
    restarts: int = 0,
    cost: int | None = None,
) -> dict[str, Any]:
    p: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "ns", "uid": name, "creationTimestamp": created},
        "spec": {"nodeName": node} if node else {},
        "status": {
            "phase": phase,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "lastTransitionTime": ready_at,
                }
            ],
            "containerStatuses": [{"name": "c", "restartCount": restarts}],
        },
    }
    if cost is not None:
        p["metadata"]["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": str(cost)}
    return p


def first(pods: list[dict[str, Any]], related: list[dict[str, Any]] | None = None) -> str:
    return str(
        pods_to_delete(pods, related if related is not None else pods, 1, NOW)[0]["metadata"][
            "name"
        ]
    )


# --- expectations ------------------------------------------------------------------------


def test_expectations_creations() -> None:
    clock = FakeClock()
    e = Expectations(clock)
    assert e.satisfied("ns/rs")  # none recorded yet
    e.expect_creations("ns/rs", 2)
    assert not e.satisfied("ns/rs")
    e.creation_observed("ns/rs")
    assert not e.satisfied("ns/rs")
    e.creation_observed("ns/rs")
    assert e.satisfied("ns/rs")


def test_expectations_deletions_count_each_pod_once() -> None:
    e = Expectations(FakeClock())
    e.expect_deletions("ns/rs", ["ns/a", "ns/b"])
    e.deletion_observed("ns/rs", "ns/a")
    e.deletion_observed("ns/rs", "ns/a")  # deletionTimestamp, then DELETED
    e.deletion_observed("ns/rs", "ns/x")  # not one we deleted
    assert not e.satisfied("ns/rs")
    assert e.pending("ns/rs") == (0, 1)
    e.deletion_observed("ns/rs", "ns/b")
    assert e.satisfied("ns/rs")


async def test_expectations_expire_after_five_minutes() -> None:
    clock = FakeClock()
    e = Expectations(clock)
    e.expect_creations("ns/rs", 3)
    await clock.advance(299)
    assert not e.satisfied("ns/rs")
    await clock.advance(2)
    assert e.satisfied("ns/rs")


def test_expectations_lower_and_delete() -> None:
    e = Expectations(FakeClock())
    e.expect_creations("k", 5)
    e.lower("k", adds=5)
    assert e.satisfied("k")
    e.expect_creations("k", 1)
    e.delete("k")
    assert e.satisfied("k")


# --- slow start --------------------------------------------------------------------------


async def test_slow_start_batches_double() -> None:
    in_flight: list[int] = []
    running = 0

    async def fn() -> None:
        nonlocal running
        running += 1
        await asyncio.sleep(0)
        in_flight.append(running)
        await asyncio.sleep(0)
        running -= 1

    ok, err = await slow_start_batch(10, 1, fn)
    assert (ok, err) == (10, None)
    # batches of 1, 2, 4, 3: never more than 4 at once
    assert max(in_flight) == 4


async def test_slow_start_stops_after_a_failing_batch() -> None:
    calls = 0

    async def fn() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ValueError("quota")

    ok, err = await slow_start_batch(20, 1, fn)
    assert calls == 3  # batch 1 (1 call) then batch 2 (2 calls, one failing)
    assert ok == 2
    assert isinstance(err, ValueError)


async def test_slow_start_nothing_to_do() -> None:
    async def fn() -> None:
        raise AssertionError

    assert await slow_start_batch(0, 1, fn) == (0, None)


# --- deletion ranking (upstream ActivePodsWithRanks) -------------------------------------------


def test_unassigned_before_assigned() -> None:
    assert first([pod("a"), pod("b", node="", phase="Pending", ready=False)]) == "b"


def test_pending_before_unknown_before_running() -> None:
    assert first([pod("run"), pod("pend", phase="Pending", ready=False)]) == "pend"
    assert first([pod("run"), pod("unk", phase="Unknown")]) == "unk"


def test_not_ready_before_ready() -> None:
    assert first([pod("a"), pod("b", ready=False)]) == "b"


def test_lower_deletion_cost_first() -> None:
    assert first([pod("a", cost=10), pod("b", cost=-5), pod("c")]) == "b"


def test_doubled_up_first() -> None:
    pods = [pod("a", node="n1"), pod("b", node="n2"), pod("c", node="n2")]
    assert first(pods) in ("b", "c")
    # the rank counts related pods (siblings of other replica sets) too
    related = [*pods, pod("x", node="n1"), pod("y", node="n1")]
    assert first(pods, related) == "a"


def test_recently_ready_first_in_log_buckets() -> None:
    # 1 min vs 100 min ago: different log2 buckets, the more recent goes first
    assert (
        first(
            [
                pod("old", ready_at="2025-01-01T10:20:00Z"),
                pod("new", ready_at="2025-01-01T11:59:00Z"),
            ]
        )
        == "new"
    )


def test_same_bucket_ready_times_go_by_uid_equal_ones_by_restarts() -> None:
    # 11:59:00 and 11:59:10 fall in one log2 bucket (about 60 s old): the uid
    # decides, not restarts; equal times (same second) fall through to restarts
    in_bucket = [
        pod("b", ready_at="2025-01-01T11:59:00Z", restarts=5),
        pod("a", ready_at="2025-01-01T11:59:10Z"),
    ]
    assert first(in_bucket) == "a"
    same_second = [pod("a", restarts=1), pod("b", restarts=4), pod("c", restarts=2)]
    names = [p["metadata"]["name"] for p in pods_to_delete(same_second, same_second, 2, NOW)]
    assert names == ["b", "c"]


def test_every_step_in_one_ranking() -> None:
    pods = [
        pod("created-old", created="2025-01-01T01:00:00Z"),
        pod("created-new", created="2025-01-01T11:00:00Z"),
        pod("restarted", restarts=2),
        pod("ready-recently", ready_at="2025-01-01T11:59:00Z"),
        pod("costly", cost=10, node="n9"),
        pod("cheap", cost=-10, node="n8"),
        pod("not-ready", ready=False),
        pod("unknown", phase="Unknown", ready=False),
        pod("pending", phase="Pending", ready=False),
        pod("unassigned", node="", phase="Pending", ready=False),
    ]
    order = [p["metadata"]["name"] for p in pods_to_delete(pods[::-1], pods, len(pods) - 1, NOW)]
    assert order == [
        "unassigned", "pending", "unknown", "not-ready", "cheap",
        "ready-recently", "restarted", "created-new", "created-old",
    ]  # fmt: skip


def test_more_restarts_first() -> None:
    assert first([pod("a"), pod("b", restarts=3)]) == "b"


def test_newer_created_first() -> None:
    a = pod("a", created="2025-01-01T01:00:00Z")
    b = pod("b", created="2025-01-01T11:00:00Z")
    assert first([a, b]) == "b"


def test_all_deleted_without_ranking() -> None:
    pods = [pod("a"), pod("b")]
    assert pods_to_delete(pods, pods, 5, NOW) == pods


def test_ranking_order_full() -> None:
    pods = [
        pod("ready-old"),
        pod("pending", node="n2", phase="Pending", ready=False),
        pod("unassigned", node="", phase="Pending", ready=False),
        pod("notready", node="n3", ready=False),
    ]
    names = [p["metadata"]["name"] for p in pods_to_delete(pods, pods, 3, NOW)]
    assert names == ["unassigned", "pending", "notready"]


# --- misc --------------------------------------------------------------------------------


def test_is_pod_available_with_min_ready_seconds() -> None:
    p = pod("a", ready_at="2025-01-01T11:59:30Z")
    assert is_pod_available(p, 0, NOW)
    assert is_pod_available(p, 30, NOW)
    assert not is_pod_available(p, 31, NOW)
    assert not is_pod_available(pod("b", ready=False), 0, NOW)


@pytest.mark.parametrize(
    ("refs", "expected"),
    [
        (None, "ns/"),
        ([{"uid": "u1", "controller": False}], "ns/"),
        ([{"uid": "u0"}, {"uid": "u1", "controller": True}], "ns/u1"),
    ],
)
def test_controller_index(refs: Any, expected: str) -> None:
    obj: dict[str, Any] = {"metadata": {"namespace": "ns", "name": "p"}}
    if refs is not None:
        obj["metadata"]["ownerReferences"] = refs
    assert controller_index(obj) == [expected]
