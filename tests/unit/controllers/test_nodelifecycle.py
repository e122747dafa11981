"""Node lifecycle: probe times from heartbeats and leases, Unknown conditions, taints
by condition, zone states, eviction deadlines from tolerations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pinnace.client import Obj
from pinnace.controllers.nodelifecycle import (
    NOT_READY,
    UNREACHABLE,
    HealthTracker,
    ZoneState,
    desired_taints,
    eviction_deadline,
    mark_unknown,
    zone_state,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
NOW = "2025-01-01T00:10:00Z"


def node(ready: str | None = "True", taints: list[Obj] | None = None, **spec: Any) -> Obj:
    conds = [] if ready is None else [
        {"type": "Ready", "status": ready, "lastHeartbeatTime": "t1", "lastTransitionTime": "t0"},
        {"type": "MemoryPressure", "status": "False"},
    ]  # fmt: skip
    return {
        "metadata": {"name": "n1", "creationTimestamp": "2025-01-01T00:00:00Z"},
        "spec": {"taints": taints or [], **spec},
        "status": {"conditions": conds},
    }


def lease(renew: str) -> Obj:
    return {"spec": {"renewTime": renew}}


def test_probe_moves_with_heartbeats_and_leases() -> None:
    h = HealthTracker()
    n = node()
    assert h.observe(n, lease("2025-01-01T00:00:00.000000Z"), now=100) == 100
    assert h.observe(n, lease("2025-01-01T00:00:00.000000Z"), now=130) == 100  # nothing new
    assert h.observe(n, lease("2025-01-01T00:00:10.000000Z"), now=140) == 140  # lease renewed
    n["status"]["conditions"][0]["lastHeartbeatTime"] = "t2"
    assert h.observe(n, lease("2025-01-01T00:00:10.000000Z"), now=150) == 150  # status posted
    assert h.observe(n, None, now=200) == 150


def test_mark_unknown() -> None:
    n = node()
    assert mark_unknown(n, NOW)
    by_type = {c["type"]: c for c in n["status"]["conditions"]}
    assert by_type["Ready"]["status"] == "Unknown"
    assert by_type["Ready"]["reason"] == "NodeStatusUnknown"
    assert by_type["Ready"]["message"] == "Kubelet stopped posting node status."
    assert by_type["Ready"]["lastTransitionTime"] == NOW
    assert by_type["Ready"]["lastHeartbeatTime"] == "t1"  # kept
    assert by_type["DiskPressure"]["reason"] == "NodeStatusNeverUpdated"
    assert not mark_unknown(n, NOW)


def keys(taints: list[Obj]) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in taints}


def test_taints_follow_ready() -> None:
    assert desired_taints(node("True"), NOW) == []
    unknown = desired_taints(node("Unknown"), NOW)
    assert keys(unknown) == {(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")}
    assert all(t["timeAdded"] == NOW for t in unknown)
    # Unknown → False swaps the taints; others' taints are left alone
    other = {"key": "dedicated", "value": "x", "effect": "NoSchedule"}
    swapped = desired_taints(node("False", taints=[*unknown, other]), NOW)
    assert keys(swapped) == {(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute"),
                             ("dedicated", "NoSchedule")}  # fmt: skip
    assert desired_taints(node("True", taints=[*unknown, other]), NOW) == [other]


def test_taint_time_is_kept_and_cordon_taints() -> None:
    old = [{"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "2025-01-01T00:00:00Z"}]
    out = desired_taints(node("Unknown", taints=old), NOW)
    assert {t["key"]: t["timeAdded"] for t in out if t["effect"] == "NoExecute"} == {
        UNREACHABLE: "2025-01-01T00:00:00Z"
    }
    assert keys(desired_taints(node("True", unschedulable=True), NOW)) == {
        ("node.kubernetes.io/unschedulable", "NoSchedule")
    }


def test_no_execute_paused() -> None:
    assert keys(desired_taints(node("Unknown"), NOW, no_execute=False)) == {
        (UNREACHABLE, "NoSchedule")
    }
    old = [{"key": NOT_READY, "effect": "NoExecute", "timeAdded": NOW}]
    kept = desired_taints(node("Unknown", taints=old), NOW, no_execute=False, keep_no_execute=True)
    assert (UNREACHABLE, "NoExecute") in keys(kept)
    gone = desired_taints(node("Unknown", taints=old), NOW, no_execute=False)
    assert (NOT_READY, "NoExecute") not in keys(gone)


def test_zone_state() -> None:
    assert zone_state(["True", "Unknown"]) == ZoneState.NORMAL
    assert zone_state(["Unknown", None]) == ZoneState.FULL
    assert zone_state(["True", "False", "Unknown", "Unknown"]) == ZoneState.PARTIAL
    assert zone_state(["True", "True", "False", "Unknown", "Unknown"]) == ZoneState.PARTIAL
    assert zone_state(["True"] * 3 + ["False"] * 3) == ZoneState.NORMAL


def test_eviction_deadline() -> None:
    taint = {"key": UNREACHABLE, "effect": "NoExecute"}
    started = {UNREACHABLE: T0}
    assert eviction_deadline([taint], [], started) is True
    tol = {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}
    assert eviction_deadline([taint], [tol], started) is None  # for ever
    timed = {**tol, "tolerationSeconds": 300}
    assert eviction_deadline([taint], [timed], started) == T0 + timedelta(seconds=300)
    assert eviction_deadline([taint], [{"operator": "Exists"}], started) is None
    wrong = {"key": "other", "operator": "Exists"}
    assert eviction_deadline([taint], [wrong], started) is True
    two = [taint, {"key": NOT_READY, "effect": "NoExecute"}]
    tols = [timed, {"key": NOT_READY, "operator": "Exists", "tolerationSeconds": 5}]
    later = {UNREACHABLE: T0, NOT_READY: T0 + timedelta(seconds=10)}
    assert eviction_deadline(two, tols, later) == T0 + timedelta(seconds=15)
