from __future__ import annotations

from pinnace.client import Client, EventRecorder, FakeClock
from pinnace.client.objects import Obj
from tests.unit.client.fake_apiserver import FakeApiServer

POD: Obj = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web-0", "namespace": "prod", "uid": "u-1", "resourceVersion": "7"},
}
NODE_ITEM: Obj = {"metadata": {"name": "n1", "uid": "u-n"}}  # a list item: no kind


def events(fake_api: FakeApiServer) -> list[Obj]:
    return [o for (p, _, _), o in sorted(fake_api.objects.items()) if p == "events"]


async def test_event_created_with_upstream_fields(client: Client, fake_api: FakeApiServer) -> None:
    clock = FakeClock()
    rec = EventRecorder(client, "kubelet", "node-1", clock=clock)
    rec.event(POD, "Warning", "BackOff", "Back-off restarting failed container")
    await rec.flush()
    [ev] = events(fake_api)
    assert ev["metadata"]["namespace"] == "prod"
    assert ev["metadata"]["name"].startswith("web-0.")
    assert ev["involvedObject"] == {
        "kind": "Pod",
        "apiVersion": "v1",
        "name": "web-0",
        "namespace": "prod",
        "uid": "u-1",
        "resourceVersion": "7",
    }
    assert ev["reason"] == "BackOff" and ev["type"] == "Warning"
    assert ev["message"] == "Back-off restarting failed container"
    assert ev["source"] == {"component": "kubelet", "host": "node-1"}
    assert ev["count"] == 1
    assert ev["firstTimestamp"] == ev["lastTimestamp"] == "2025-01-01T00:00:00Z"
    await rec.stop()


async def test_repeats_are_patched_not_duplicated(client: Client, fake_api: FakeApiServer) -> None:
    clock = FakeClock()
    rec = EventRecorder(client, "controller", clock=clock)
    rec.event(POD, "Normal", "Pulled", "pulled image")
    await rec.flush()
    await clock.advance(65)
    rec.event(POD, "Normal", "Pulled", "pulled image")
    rec.event(POD, "Normal", "Pulled", "pulled image")
    await rec.flush()
    [ev] = events(fake_api)
    assert ev["count"] == 3
    assert ev["firstTimestamp"] == "2025-01-01T00:00:00Z"
    assert ev["lastTimestamp"] == "2025-01-01T00:01:05Z"
    patches = fake_api.requests_to("PATCH", "/events/")
    assert len(patches) == 2
    assert patches[0].headers["Content-Type"] == "application/strategic-merge-patch+json"
    assert patches[0].body == {
        "count": 2,
        "lastTimestamp": "2025-01-01T00:01:05Z",
        "message": "pulled image",
    }
    # a different message is a different event
    rec.event(POD, "Normal", "Pulled", "pulled another image")
    await rec.flush()
    assert len(events(fake_api)) == 2
    await rec.stop()


async def test_deleted_event_is_recreated_with_running_count(
    client: Client, fake_api: FakeApiServer
) -> None:
    rec = EventRecorder(client, "scheduler", clock=FakeClock())
    rec.event(NODE_ITEM, "Normal", "Ready", "node is ready", kind="Node", api_version="v1")
    await rec.flush()
    [ev] = events(fake_api)
    assert ev["metadata"]["namespace"] == "default"  # cluster-scoped objects
    assert ev["involvedObject"]["kind"] == "Node"
    fake_api.remove("events", "default", ev["metadata"]["name"])
    rec.event(NODE_ITEM, "Normal", "Ready", "node is ready", kind="Node", api_version="v1")
    await rec.flush()
    [again] = events(fake_api)
    assert again["count"] == 2 and again["metadata"]["name"] == ev["metadata"]["name"]
    await rec.stop()


async def test_never_blocks_and_drops_when_full(client: Client, fake_api: FakeApiServer) -> None:
    rec = EventRecorder(client, "c", queue_size=2, clock=FakeClock())
    for i in range(5):
        rec.event(POD, "Normal", "R", f"m{i}")  # no await in between: the queue fills up
    assert rec.dropped == 3
    rec.event(POD, "Bogus", "R", "ignored")  # invalid type: logged and dropped
    await rec.flush()
    assert sorted(e["message"] for e in events(fake_api)) == ["m0", "m1"]
    await rec.stop()


async def test_server_errors_are_dropped(client: Client, fake_api: FakeApiServer) -> None:
    rec = EventRecorder(client, "c", clock=FakeClock())
    fake_api.fail_next(403, {"kind": "Status", "code": 403, "reason": "Forbidden"})
    rec.event(POD, "Normal", "R", "m")
    rec.eventf(POD, "Normal", "R", "scaled to %d", 3)
    await rec.flush()
    assert [e["message"] for e in events(fake_api)] == ["scaled to 3"]
    await rec.stop()


RS: Obj = {
    "apiVersion": "apps/v1",
    "kind": "ReplicaSet",
    "metadata": {"name": "web-5d8", "namespace": "prod", "uid": "u-rs"},
}


async def test_similar_events_are_combined(client: Client, fake_api: FakeApiServer) -> None:
    # 9 different messages with one reason are written as they are; from the
    # 10th on they go to one "(combined from similar events)" Event, counted
    rec = EventRecorder(client, "replicaset-controller", clock=FakeClock())
    for i in range(14):
        rec.event(RS, "Normal", "SuccessfulCreate", f"Created pod: web-5d8-{i}")
    await rec.flush()
    evs = events(fake_api)
    plain = sorted(e["message"] for e in evs if not e["message"].startswith("(combined"))
    assert plain == sorted(f"Created pod: web-5d8-{i}" for i in range(9))
    [combined] = [e for e in evs if e["message"].startswith("(combined")]
    assert combined["message"] == "(combined from similar events): Created pod: web-5d8-13"
    assert combined["count"] == 5 and combined["reason"] == "SuccessfulCreate"
    # another reason is another group
    rec.event(RS, "Normal", "SuccessfulDelete", "Deleted pod: web-5d8-0")
    await rec.flush()
    assert len(events(fake_api)) == 11
    await rec.stop()


async def test_similar_events_apart_in_time_are_not_combined(
    client: Client, fake_api: FakeApiServer
) -> None:
    clock = FakeClock()
    rec = EventRecorder(client, "c", clock=clock)
    for i in range(12):
        rec.event(RS, "Normal", "SuccessfulCreate", f"Created pod: p{i}")
        await rec.flush()
        await clock.advance(601)  # more than 10 minutes after the last similar one
    assert not [e for e in events(fake_api) if e["message"].startswith("(combined")]
    await rec.stop()


async def test_spam_filter_allows_25_per_object_then_one_per_5_minutes(
    client: Client, fake_api: FakeApiServer
) -> None:
    clock = FakeClock()
    rec = EventRecorder(client, "kubelet", "node-1", clock=clock)
    for i in range(30):
        rec.event(POD, "Warning", f"Reason{i}", "m")  # all different events
    await rec.flush()
    assert len(events(fake_api)) == 25 and rec.spam_dropped == 5
    # another object has its own budget
    other = {**POD, "metadata": {**POD["metadata"], "name": "web-1", "uid": "u-2"}}
    rec.event(other, "Warning", "Reason0", "m")
    await rec.flush()
    assert len(events(fake_api)) == 26
    # a token comes back after 5 minutes, and only one
    await clock.advance(300)
    rec.event(POD, "Warning", "Late1", "m")
    rec.event(POD, "Warning", "Late2", "m")
    await rec.flush()
    assert sorted(e["reason"] for e in events(fake_api) if e["reason"].startswith("Late")) == [
        "Late1"
    ]
    await rec.stop()


async def test_without_correlation_only_repeats_are_counted(
    client: Client, fake_api: FakeApiServer
) -> None:
    rec = EventRecorder(client, "default-scheduler", clock=FakeClock(), correlate=False)
    for i in range(30):
        rec.event(RS, "Normal", "Scheduled", f"m{i}")
    await rec.flush()
    assert len(events(fake_api)) == 30
    await rec.stop()
