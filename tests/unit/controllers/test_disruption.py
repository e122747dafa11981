"""PDB status: expected pods, desired healthy, healthy count, disrupted pods, fail-safe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pinnace.client import Obj
from pinnace.client.events import format_time
from pinnace.controllers.disruption import compute_status, scaled_value

NOW = datetime(2025, 1, 1, tzinfo=UTC)
OWNER = {
    "apiVersion": "apps/v1",
    "kind": "ReplicaSet",
    "name": "rs",
    "uid": "rs1",
    "controller": True,
}


def pod(name: str, ready: bool = True, owned: bool = True, **meta: Any) -> Obj:
    m: Obj = {"name": name, "namespace": "ns", **meta}
    if owned:
        m["ownerReferences"] = [OWNER]
    return {
        "metadata": m,
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def pdb(**spec: Any) -> Obj:
    return {"metadata": {"name": "b", "namespace": "ns", "generation": 1}, "spec": spec}


def test_scaled_value() -> None:
    assert scaled_value(3, 10, True) == 3
    assert scaled_value("50%", 3, True) == 2
    assert scaled_value("50%", 3, False) == 1


def test_min_available_int() -> None:
    st = compute_status(pdb(minAvailable=2), [pod("a"), pod("b"), pod("c", ready=False)], {}, NOW)
    assert (st.expected, st.desired, st.healthy, st.allowed) == (3, 2, 2, 0)
    st = compute_status(pdb(minAvailable=1), [pod("a"), pod("b")], {}, NOW)
    assert st.allowed == 1


def test_max_unavailable_uses_controller_scale() -> None:
    pods = [pod("a"), pod("b"), pod("c")]
    st = compute_status(pdb(maxUnavailable=1), pods, {"ns/rs1": 4}, NOW)
    assert (st.expected, st.desired, st.healthy, st.allowed) == (4, 3, 3, 0)
    st = compute_status(pdb(minAvailable="50%"), pods, {"ns/rs1": 4}, NOW)
    assert (st.expected, st.desired, st.allowed) == (4, 2, 1)


def test_fail_safe_without_controller() -> None:
    st = compute_status(pdb(maxUnavailable=1), [pod("a", owned=False)], {}, NOW)
    assert st.error is not None and st.error.reason == "NoControllerRef"
    assert st.allowed == 0
    st = compute_status(pdb(maxUnavailable=1), [pod("a")], {"ns/rs1": None}, NOW)
    assert st.error is not None and st.error.reason == "NoControllers"


def test_no_pods_expected_means_no_disruption() -> None:
    st = compute_status(pdb(minAvailable=0), [], {}, NOW)
    assert (st.expected, st.allowed) == (0, 0)


def test_disrupted_pods() -> None:
    recent = format_time(NOW - timedelta(seconds=30))
    old = format_time(NOW - timedelta(seconds=300))
    b = pdb(minAvailable=1)
    b["status"] = {"disruptedPods": {"a": recent, "b": old, "gone": recent, "c": recent}}
    pods = [pod("a"), pod("b"), pod("c", deletionTimestamp=recent)]
    st = compute_status(b, pods, {}, NOW)
    assert st.disrupted == {"a": recent}  # b expired, gone is gone, c is being deleted
    assert st.healthy == 1  # only b: a is being evicted, c is being deleted
    assert st.recheck is not None and 89 < st.recheck <= 90
