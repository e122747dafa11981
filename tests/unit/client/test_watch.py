from __future__ import annotations

import asyncio
import contextlib

import pytest

from pinnace.client import PODS, Client, Gone, WatchEvent
from pinnace.client.errors import Expired
from pinnace.client.objects import Obj
from pinnace.client.transport import iter_lines
from pinnace.client.watch import Reflector
from tests.unit.client.fake_apiserver import FakeApiServer, until


def pod(name: str, ns: str = "default", **labels: str) -> Obj:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels}}


async def test_iter_lines_handles_split_and_joined_chunks() -> None:
    async def chunks() -> object:
        for c in (b'{"a":', b"1}\n{", b'"b":2}\n\n{"c":3}\n{"d"', b":4}"):
            yield c

    out = [line async for line in iter_lines(chunks())]  # type: ignore[arg-type]
    assert out == [b'{"a":1}', b'{"b":2}', b'{"c":3}', b'{"d":4}']


async def test_watch_replays_then_follows(client: Client, fake_api: FakeApiServer) -> None:
    fake_api.put("pods", pod("a"))
    fake_api.put("pods", pod("b"))
    events: list[WatchEvent] = []

    async def consume() -> None:
        async for ev in client.watch(PODS, namespace="default", resource_version="1"):
            events.append(ev)
            if len(events) == 4:
                return

    task = asyncio.create_task(consume())
    await until(lambda: len(events) == 1)
    assert events[0].type == "ADDED" and events[0].object["metadata"]["name"] == "b"
    fake_api.put("pods", pod("b", tier="x"))
    fake_api.bookmark()
    fake_api.remove("pods", "default", "a")
    await asyncio.wait_for(task, 3)
    assert [(t, o["metadata"].get("name")) for t, o in events] == [
        ("ADDED", "b"),
        ("MODIFIED", "b"),
        ("BOOKMARK", None),
        ("DELETED", "a"),
    ]
    req = fake_api.requests_to("GET")[-1]
    assert req.query == {
        "watch": "true",
        "resourceVersion": "1",
        "allowWatchBookmarks": "true",
    }


async def test_watch_without_rv_sends_synthetic_adds_and_ends_on_timeout(
    client: Client, fake_api: FakeApiServer
) -> None:
    fake_api.put("pods", pod("a", app="web"))
    fake_api.put("pods", pod("b", app="db"))
    events = [ev async for ev in client.watch(PODS, label_selector="app=web", timeout_seconds=0)]
    assert [(t, o["metadata"]["name"]) for t, o in events] == [("ADDED", "a")]
    assert fake_api.requests[-1].query["timeoutSeconds"] == "0"


async def test_watch_error_event_410_raises_gone(client: Client, fake_api: FakeApiServer) -> None:
    for i in range(3):
        fake_api.put("pods", pod(f"p{i}"))
    fake_api.compact()
    with pytest.raises(Gone) as e:
        async for _ in client.watch(PODS, resource_version="1"):
            pass
    assert isinstance(e.value, Expired)
    assert e.value.code == 410 and "too old" in e.value.message


async def test_watch_http_error_raises(client: Client, fake_api: FakeApiServer) -> None:
    fake_api.fail_next(410, {"kind": "Status", "code": 410, "reason": "Gone", "message": "x"})
    with pytest.raises(Gone):
        async for _ in client.watch(PODS):
            pass


class Recording:
    def __init__(self) -> None:
        self.replaced: list[tuple[list[str], str]] = []
        self.events: list[tuple[str, str]] = []

    async def replace(self, items: list[Obj], resource_version: str) -> None:
        self.replaced.append(([i["metadata"]["name"] for i in items], resource_version))

    async def event(self, event: WatchEvent) -> None:
        self.events.append((event.type, event.object["metadata"]["name"]))


async def test_reflector_resumes_after_disconnect_and_relists_on_410(
    client: Client, fake_api: FakeApiServer
) -> None:
    fake_api.put("pods", pod("a"))
    handler = Recording()
    reflector = Reflector(client, PODS, handler, backoff_initial=0.01)
    task = asyncio.create_task(reflector.run())
    try:
        await until(lambda: handler.replaced == [(["a"], "1")] and len(fake_api.watchers) == 1)
        fake_api.put("pods", pod("b"))
        await until(lambda: handler.events == [("ADDED", "b")])
        assert reflector.last_resource_version == "2"

        # a bookmark moves the resume point without an event
        fake_api.bookmark()
        await until(lambda: reflector.last_resource_version == "3")

        # the connection drops: resume from rv 3 (no relist), missing nothing
        fake_api.drop_watches()
        fake_api.put("pods", pod("c"))
        await until(lambda: handler.events == [("ADDED", "b"), ("ADDED", "c")])
        assert reflector.lists == 1
        watches = [r for r in fake_api.requests_to("GET") if r.query.get("watch")]
        assert watches[-1].query["resourceVersion"] == "3"

        # the history is compacted while disconnected: 410 → relist
        await until(lambda: len(fake_api.watchers) == 1)
        fake_api.drop_watches()
        fake_api.remove("pods", "default", "a")
        fake_api.put("pods", pod("d"))
        fake_api.compact()
        await until(lambda: reflector.lists == 2)
        assert handler.replaced[-1] == (["b", "c", "d"], "6")
        await until(lambda: len(fake_api.watchers) == 1)
        fake_api.put("pods", pod("e"))
        await until(lambda: handler.events[-1] == ("ADDED", "e"))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_reflector_backs_off_on_list_errors(client: Client, fake_api: FakeApiServer) -> None:
    fake_api.fail_next(500)
    fake_api.fail_next(403, {"kind": "Status", "code": 403, "reason": "Forbidden"})
    fake_api.put("pods", pod("a"))
    handler = Recording()
    reflector = Reflector(client, PODS, handler, backoff_initial=0.01)
    task = asyncio.create_task(reflector.run())
    try:
        await until(lambda: handler.replaced == [(["a"], "1")])
        assert len([r for r in fake_api.requests_to("GET") if not r.query.get("watch")]) == 3
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
