"""Pod GC: which terminated pods go when over the threshold."""

from __future__ import annotations

from pinnace.client import Obj
from pinnace.controllers.podgc import terminated_to_delete


def pod(name: str, phase: str, created: str, reason: str = "") -> Obj:
    return {
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
        "status": {"phase": phase, "reason": reason},
    }


def test_terminated_over_threshold() -> None:
    pods = [
        pod("running", "Running", "2025-01-01T00:00:00Z"),
        pod("old", "Succeeded", "2025-01-01T00:00:01Z"),
        pod("new", "Failed", "2025-01-01T00:00:03Z"),
        pod("evicted", "Failed", "2025-01-01T00:00:05Z", reason="Evicted"),
        pod("mid", "Succeeded", "2025-01-01T00:00:02Z"),
    ]
    assert [p["metadata"]["name"] for p in terminated_to_delete(pods, 2)] == ["evicted", "old"]
    assert terminated_to_delete(pods, 4) == []
    assert terminated_to_delete(pods, 0) == []
