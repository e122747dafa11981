"""postStart/preStop hooks: exec through a fake ExecSync, httpGet against a real
aiohttp server on 127.0.0.1, sleep and the pre-stop grace period on a FakeClock."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from pinnace.client.clock import FakeClock
from pinnace.kubelet.lifecycle import run_hook, run_post_start, run_pre_stop

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "uid"}}
CONTAINER = {"name": "c", "ports": [{"name": "web", "containerPort": 8080}]}


@dataclass
class FakeExec:
    reply: tuple[int, bytes, bytes] | BaseException = (0, b"", b"")
    calls: list[tuple[str, list[str], float]] = field(default_factory=list)

    async def __call__(
        self, container_id: str, cmd: list[str], timeout: float
    ) -> tuple[int, bytes, bytes]:
        self.calls.append((container_id, cmd, timeout))
        if isinstance(self.reply, BaseException):
            raise self.reply
        return self.reply


@dataclass
class Events:
    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def __call__(self, pod: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        assert pod is POD
        self.seen.append((type_, reason, message))


@dataclass
class Server:
    port: int
    requests: list[dict[str, str]]


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    requests: list[dict[str, str]] = []

    async def hook(request: web.Request) -> web.Response:
        requests.append({"path": request.path, **dict(request.headers)})
        return web.Response(status=int(request.query.get("status", "200")), text="x" * 50000)

    app = web.Application()
    app.router.add_get("/{tail:.*}", hook)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield Server(port=runner.addresses[0][1], requests=requests)
    finally:
        await runner.cleanup()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def hook(handler: dict[str, Any], fake: FakeExec | None = None, **kw: Any) -> str | None:
    return await run_hook(
        handler,
        pod=POD,
        container=CONTAINER,
        container_id="cid",
        pod_ip=kw.pop("pod_ip", "127.0.0.1"),
        exec_sync=fake or FakeExec(),
        **kw,
    )


async def test_exec_success_runs_without_timeout() -> None:
    fake = FakeExec()
    assert await hook({"exec": {"command": ["touch", "/tmp/started"]}}, fake) is None
    assert fake.calls == [("cid", ["touch", "/tmp/started"], 0)]


async def test_exec_failure_message() -> None:
    fake = FakeExec((1, b"", b""))
    message = await hook({"exec": {"command": ["sh", "-c", "exit 1"]}}, fake)
    assert message == (
        'Exec lifecycle hook ([sh -c exit 1]) for Container "c" in Pod "p_ns(uid)" failed - '
        "error: command 'sh -c exit 1' exited with 1: , message: \"\""
    )


async def test_exec_failure_message_with_output() -> None:
    fake = FakeExec((2, b"out ", b"boom\n"))
    message = await hook({"exec": {"command": ["false"]}}, fake)
    assert message is not None
    assert message.endswith(
        "error: command 'false' exited with 2: boom\n, message: \"out boom\\n\""
    )


async def test_exec_runtime_error() -> None:
    fake = FakeExec(RuntimeError("container not running"))
    message = await hook({"exec": {"command": ["x"]}}, fake)
    assert message == (
        'Exec lifecycle hook ([x]) for Container "c" in Pod "p_ns(uid)" failed - '
        'error: container not running, message: ""'
    )


async def test_http_any_status_is_fine(server: Server) -> None:
    handler = {"httpGet": {"path": "/hook?status=500", "port": server.port, "host": "127.0.0.1"}}
    assert await hook(handler, pod_ip="") is None
    assert server.requests[0]["path"] == "/hook"
    assert server.requests[0]["User-Agent"] == "kube-lifecycle/1.32"


async def test_http_named_port_and_pod_ip(server: Server) -> None:
    container = {"name": "c", "ports": [{"name": "admin", "containerPort": server.port}]}
    message = await run_hook(
        {"httpGet": {"path": "/stop", "port": "admin"}},
        pod=POD,
        container=container,
        container_id="cid",
        pod_ip="127.0.0.1",
        exec_sync=FakeExec(),
    )
    assert message is None
    assert [r["path"] for r in server.requests] == ["/stop"]


async def test_http_connection_refused() -> None:
    port = closed_port()
    message = await hook({"httpGet": {"path": "/hook", "port": port}})
    assert message == (
        'HTTP lifecycle hook (/hook) for Container "c" in Pod "p_ns(uid)" failed - error: '
        f'Get "http://127.0.0.1:{port}/hook": dial tcp 127.0.0.1:{port}: '
        "connect: connection refused"
    )


async def test_http_without_pod_ip() -> None:
    message = await hook({"httpGet": {"path": "/hook", "port": 80}}, pod_ip="")
    assert message is not None
    assert "failed - error: failed to find networking container" in message


async def test_https_hook_falls_back_to_http(server: Server) -> None:
    events = Events()
    handler = {
        "httpGet": {
            "path": "/secure",
            "port": server.port,
            "scheme": "HTTPS",
            "httpHeaders": [{"name": "Authorization", "value": "Bearer t"}],
        }
    }
    assert await hook(handler, event=events) is None
    assert events.seen == [
        (
            "Warning",
            "LifecycleHTTPFallback",
            f"request to HTTPS lifecycle hook 127.0.0.1:{server.port} got HTTP response, "
            "retry with HTTP succeeded",
        )
    ]
    assert len(server.requests) == 1
    assert "Authorization" not in server.requests[0]


async def test_sleep_hook_uses_the_clock() -> None:
    clock = FakeClock()
    task = asyncio.ensure_future(hook({"sleep": {"seconds": 5}}, clock=clock))
    await clock.advance(4.9)
    assert not task.done()
    await clock.advance(0.1)
    assert task.done()
    assert task.result() is None


async def test_invalid_handler() -> None:
    assert await hook({}) == "Cannot run handler: invalid handler: {}"


async def test_post_start_failure_records_event() -> None:
    events = Events()
    message = await run_post_start(
        {"exec": {"command": ["false"]}},
        pod=POD,
        container=CONTAINER,
        container_id="cid",
        pod_ip="127.0.0.1",
        exec_sync=FakeExec((1, b"", b"")),
        event=events,
    )
    assert message is not None
    assert events.seen == [("Warning", "FailedPostStartHook", message)]


async def test_post_start_success_records_nothing() -> None:
    events = Events()
    message = await run_post_start(
        {"exec": {"command": ["true"]}},
        pod=POD,
        container=CONTAINER,
        container_id="cid",
        pod_ip="127.0.0.1",
        exec_sync=FakeExec(),
        event=events,
    )
    assert message is None
    assert events.seen == []


async def pre_stop(
    handler: dict[str, Any], grace: float, clock: FakeClock, fake: FakeExec | None = None
) -> tuple[asyncio.Future[float], Events]:
    events = Events()
    task = asyncio.ensure_future(
        run_pre_stop(
            handler,
            pod=POD,
            container=CONTAINER,
            container_id="cid",
            pod_ip="127.0.0.1",
            exec_sync=fake or FakeExec(),
            grace_period=grace,
            clock=clock,
            event=events,
        )
    )
    return task, events


async def test_pre_stop_uses_part_of_the_grace_period() -> None:
    clock = FakeClock()
    task, events = await pre_stop({"sleep": {"seconds": 10}}, 30, clock)
    await clock.advance(10)
    assert await task == 20
    assert events.seen == []


async def test_pre_stop_cut_at_grace_period() -> None:
    clock = FakeClock()
    task, events = await pre_stop({"sleep": {"seconds": 100}}, 30, clock)
    await clock.advance(30)
    assert await task == 2  # at least 2 s to stop
    assert events.seen == []
    assert clock.sleepers == 0  # the hook's sleep was cancelled


async def test_pre_stop_failure_event_hides_details() -> None:
    clock = FakeClock()
    task, events = await pre_stop(
        {"exec": {"command": ["false"]}}, 30, clock, FakeExec((1, b"", b"secret"))
    )
    assert await task == 30
    assert events.seen == [("Warning", "FailedPreStopHook", "PreStopHook failed")]


async def test_pre_stop_without_grace_does_not_run() -> None:
    clock = FakeClock()
    fake = FakeExec()
    task, _ = await pre_stop({"exec": {"command": ["x"]}}, 0, clock, fake)
    assert await task == 2
    assert fake.calls == []
