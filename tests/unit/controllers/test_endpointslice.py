"""EndpointSlices: endpoint conditions, grouping by resolved ports, and the slice plan
(stable placement, fill before create, max per slice, deletion of empty slices)."""

from __future__ import annotations

from typing import Any

from pinnace.client import Obj
from pinnace.controllers.endpointslice import SliceTracker, desired_endpoints, plan_slices
from tests.unit.controllers.test_endpoints import pod, svc

LABELS = {"kubernetes.io/service-name": "web"}


def new_slice(ports: list[Obj]) -> Obj:
    return {"metadata": {"generateName": "web-", "labels": dict(LABELS)}, "ports": ports}


def existing(name: str, ports: list[Obj], eps: list[Obj]) -> Obj:
    return {"metadata": {"name": name, "labels": dict(LABELS)}, "ports": ports, "endpoints": eps}


def test_endpoint_conditions() -> None:
    deleting = pod("c", "10.0.0.3", metadata={"deletionTimestamp": "2025-01-01T00:00:00Z"})
    groups = desired_endpoints(
        svc(), [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False), deleting], {"n1": "z1"}
    )
    [(ports, eps)] = groups.values()
    assert ports == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    by_ip = {e["addresses"][0]: e for e in eps}
    assert by_ip["10.0.0.1"]["conditions"] == {"ready": True, "serving": True, "terminating": False}
    assert by_ip["10.0.0.2"]["conditions"] == {
        "ready": False,
        "serving": False,
        "terminating": False,
    }
    assert by_ip["10.0.0.3"]["conditions"] == {"ready": False, "serving": True, "terminating": True}
    assert by_ip["10.0.0.1"]["zone"] == "z1" and by_ip["10.0.0.1"]["nodeName"] == "n1"
    assert by_ip["10.0.0.1"]["targetRef"]["name"] == "a"
    publish = desired_endpoints(
        svc(publishNotReadyAddresses=True), [pod("b", "1.1.1.1", ready=False)]
    )
    [(_, [ep])] = publish.values()
    assert ep["conditions"]["ready"] is True


def test_groups_by_resolved_ports() -> None:
    groups = desired_endpoints(svc(), [pod("a", "10.0.0.1", port=1), pod("b", "10.0.0.2", port=2)])
    assert sorted(p[0]["port"] for p, _ in groups.values()) == [1, 2]


def eps(n: int, start: int = 0, ready: bool = True) -> list[Obj]:
    return [
        {"addresses": [f"10.0.0.{i}"], "conditions": {"ready": ready},
         "targetRef": {"uid": f"u{i}"}}
        for i in range(start, start + n)
    ]  # fmt: skip


def desired(ports: list[Obj], endpoints: list[Obj]) -> dict[str, tuple[list[Obj], list[Obj]]]:
    import json

    return {json.dumps(ports, sort_keys=True): (ports, endpoints)}


P = [{"name": "http", "port": 8080, "protocol": "TCP"}]


def plan(want: Any, have: list[Obj], max_per_slice: int = 3, placeholder: bool = True) -> Any:
    return plan_slices(want, have, dict(LABELS), new_slice, max_per_slice, placeholder=placeholder)


def test_creates_slices_of_at_most_max() -> None:
    p = plan(desired(P, eps(7)), [])
    assert [len(s["endpoints"]) for s in p.create] == [3, 3, 1]
    assert not p.update and not p.delete


def test_unchanged_is_a_no_op() -> None:
    have = [existing("s1", P, eps(3)), existing("s2", P, eps(1, 3))]
    assert plan(desired(P, eps(4)), have).empty()


def test_changed_endpoint_updates_its_slice_only() -> None:
    have = [existing("s1", P, eps(3)), existing("s2", P, eps(1, 3))]
    want = eps(4)
    want[3] = {**want[3], "conditions": {"ready": False}}
    p = plan(desired(P, want), have)
    assert [s["metadata"]["name"] for s in p.update] == ["s2"]
    assert not p.create and not p.delete


def test_new_endpoints_fill_free_room_first() -> None:
    have = [existing("s1", P, eps(3)), existing("s2", P, eps(1, 3))]
    p = plan(desired(P, eps(6)), have)
    assert [(s["metadata"]["name"], len(s["endpoints"])) for s in p.update] == [("s2", 3)]
    assert not p.create


def test_emptied_and_stale_slices_are_deleted() -> None:
    other = [{"name": "http", "port": 9, "protocol": "TCP"}]
    have = [existing("s1", P, eps(3)), existing("s2", P, eps(1, 3)), existing("s3", other, eps(1))]
    p = plan(desired(P, eps(3)), have)
    assert sorted(p.delete) == ["s2", "s3"]
    assert not p.update and not p.create


def test_placeholder() -> None:
    p = plan({}, [existing("s1", P, eps(2))])
    assert p.delete == ["s1"]
    assert p.create == [{**new_slice([]), "endpoints": []}]
    assert plan({}, [existing("s0", [], [])]).empty()
    p = plan({}, [existing("s1", P, eps(2))], placeholder=False)
    assert p.delete == ["s1"] and not p.create


def test_tracker_waits_for_the_cache() -> None:
    t = SliceTracker(timeout=10)
    t.wrote("ns/web", "s1", "5", now=0)
    t.deleted("ns/web", "s2", now=0)
    s1_old = {"metadata": {"resourceVersion": "4"}}
    assert t.stale("ns/web", {"s1": s1_old, "s2": {}}, now=1)
    assert t.stale("ns/web", {"s1": {"metadata": {"resourceVersion": "5"}}, "s2": {}}, now=1)
    assert not t.stale("ns/web", {"s1": {"metadata": {"resourceVersion": "6"}}}, now=1)
    t.wrote("ns/web", "s3", "9", now=0)
    assert not t.stale("ns/web", {}, now=11)  # expired


def test_unnamed_port_matches_the_slice_as_stored() -> None:
    """The API server stores a slice port's name as "" when the Service port has
    none: the plan must see that slice as current, not replace it on every pass."""
    unnamed = svc(ports=[{"port": 80, "targetPort": 8080}])
    want = desired_endpoints(unnamed, [pod("a", "10.0.0.1")])
    [(ports, endpoints)] = want.values()
    assert ports == [{"name": "", "port": 8080, "protocol": "TCP"}]
    stored = existing("web-abc", [{"name": "", "port": 8080, "protocol": "TCP"}], endpoints)
    assert plan(want, [stored]).empty()
