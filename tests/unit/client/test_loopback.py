"""LoopbackTransport: HTTP/1.1 over a Unix socket, against a real aiohttp
server (and a hand-written one for bodies that run to the end of the
connection)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from pinnace.client.config import ClientConfig
from pinnace.client.loopback import LoopbackTransport
from pinnace.client.transport import TransportError, transport_for

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
def sock_dir() -> AsyncIterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="pn-", dir="/tmp"))  # socket paths are short
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Site:
    """An aiohttp app on a Unix socket; records the connection of each request."""

    def __init__(self) -> None:
        self.connections: list[int] = []
        self.routes: dict[str, Handler] = {}
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.connections.append(id(request.transport))
        return await self.routes[request.path](request)


@pytest.fixture
async def site(sock_dir: Path) -> AsyncIterator[Site]:
    s = Site()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", s.handle)
    runner = web.AppRunner(app, handle_signals=False, keepalive_timeout=0.3)
    await runner.setup()
    await web.UnixSite(runner, str(sock_dir / "api.sock")).start()
    s.url = f"unix://{sock_dir / 'api.sock'}"
    yield s
    await runner.cleanup()


def transport(site: Site, **kw: object) -> LoopbackTransport:
    t = transport_for(ClientConfig(server=site.url, token="t0k"), **kw)  # type: ignore[arg-type]
    assert isinstance(t, LoopbackTransport)
    return t


async def test_request_and_answer_round_trip(site: Site) -> None:
    seen: dict[str, object] = {}

    async def echo(request: web.Request) -> web.StreamResponse:
        seen.update(
            method=request.method,
            query=dict(request.query),
            body=await request.read(),
            auth=request.headers.get("Authorization"),
            ctype=request.headers.get("Content-Type"),
        )
        resp = web.json_response({"ok": True}, status=201)
        resp.headers.add("Warning", '299 - "one"')
        resp.headers.add("Warning", '299 - "two"')
        return resp

    site.routes["/api/v1/namespaces/default/pods"] = echo
    t = transport(site)
    try:
        r = await t.request(
            "POST",
            "/api/v1/namespaces/default/pods",
            params={"labelSelector": "app in (a, b),tier!=x", "fieldManager": "m&n=o"},
            headers={"Content-Type": "application/json"},
            body=b'{"x": 1}',
        )
    finally:
        await t.close()
    assert r.status == 201
    assert r.json() == {"ok": True}
    assert r.header("warning") == '299 - "one", 299 - "two"'
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert seen == {
        "method": "POST",
        "query": {"labelSelector": "app in (a, b),tier!=x", "fieldManager": "m&n=o"},
        "body": b'{"x": 1}',
        "auth": "Bearer t0k",
        "ctype": "application/json",
    }


async def test_paths_are_quoted_as_needed(site: Site) -> None:
    paths: list[str] = []

    async def record(request: web.Request) -> web.StreamResponse:
        paths.append(request.path)
        return web.Response(text="ok")

    site.routes["/a b/ü"] = record
    site.routes["/a/b"] = record  # aiohttp decodes %2F in request.path
    t = transport(site)
    try:
        assert (await t.request("GET", "/a b/ü")).status == 200
        assert (await t.request("GET", "/a%2Fb")).status == 200  # an escape stays one
    finally:
        await t.close()
    assert paths == ["/a b/ü", "/a/b"]


async def test_one_connection_is_reused_for_sequential_requests(site: Site) -> None:
    async def ok(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"x" * 100_000)

    async def empty(request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    site.routes["/ok"] = ok
    site.routes["/empty"] = empty
    t = transport(site)
    try:
        for _ in range(5):
            assert (await t.request("GET", "/ok")).body == b"x" * 100_000
            assert (await t.request("HEAD", "/ok")).body == b""
            r = await t.request("DELETE", "/empty")
            assert (r.status, r.body) == (204, b"")
    finally:
        await t.close()
    assert len(site.connections) == 15
    assert len(set(site.connections)) == 1


async def test_a_connection_the_server_closed_while_idle_is_replaced(site: Site) -> None:
    async def ok(request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok")

    site.routes["/ok"] = ok
    t = transport(site, max_connections=1)
    try:
        assert (await t.request("GET", "/ok")).status == 200
        await asyncio.sleep(0.6)  # the server's keep-alive timeout is 0.3 s
        assert (await t.request("POST", "/ok", body=b"{}")).status == 200
    finally:
        await t.close()
    assert len(set(site.connections)) == 2


async def test_streams_arrive_line_by_line(site: Site) -> None:
    gate = asyncio.Event()

    async def watch(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(b'{"n":1}\n{"n":')
        await resp.write(b"2}\n")
        await gate.wait()
        await resp.write(b'{"n":3}\n')
        await resp.write_eof()
        return resp

    async def ok(request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok")

    site.routes["/watch"] = watch
    site.routes["/ok"] = ok
    t = transport(site)
    try:
        async with t.stream("GET", "/watch") as resp:
            assert resp.status == 200
            assert resp.headers["transfer-encoding"] == "chunked"
            lines = resp.lines()
            assert await lines.__anext__() == b'{"n":1}'
            assert await lines.__anext__() == b'{"n":2}'
            gate.set()
            assert [line async for line in lines] == [b'{"n":3}']
        # read to its end: the connection is reused
        assert (await t.request("GET", "/ok")).status == 200
        assert len(set(site.connections)) == 1

        gate.clear()
        async with t.stream("GET", "/watch") as resp:
            lines = resp.lines()
            assert await lines.__anext__() == b'{"n":1}'
        # left mid-stream: that connection is dropped, a new one serves
        assert (await t.request("GET", "/ok")).status == 200
        assert len(set(site.connections[-2:])) == 2
    finally:
        gate.set()
        await t.close()


async def test_error_answers_are_read_from_streams(site: Site) -> None:
    async def gone(request: web.Request) -> web.StreamResponse:
        return web.json_response({"code": 410}, status=410)

    site.routes["/watch"] = gone
    t = transport(site)
    try:
        async with t.stream("GET", "/watch") as resp:
            assert resp.status == 410
            assert await resp.read() == b'{"code": 410}'
    finally:
        await t.close()


async def test_a_request_past_its_timeout_fails_and_frees_its_slot(site: Site) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def ok(request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok")

    site.routes["/slow"] = slow
    site.routes["/ok"] = ok
    t = transport(site, max_connections=1)
    try:
        with pytest.raises(TransportError, match="timed out"):
            await t.request("GET", "/slow", timeout=0.2)
        assert (await asyncio.wait_for(t.request("GET", "/ok"), 5)).body == b"ok"
    finally:
        await t.close()


async def test_a_stream_past_its_deadline_fails(site: Site) -> None:
    async def stalls(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(b"first\n")
        await asyncio.sleep(5)
        return resp

    site.routes["/watch"] = stalls
    t = transport(site)
    try:
        async with t.stream("GET", "/watch", timeout=0.3) as resp:
            lines = resp.lines()
            assert await lines.__anext__() == b"first"
            with pytest.raises(TransportError, match="timed out"):
                await lines.__anext__()
    finally:
        await t.close()


async def test_requests_in_flight_are_capped(site: Site) -> None:
    in_flight = most = 0

    async def hold(request: web.Request) -> web.StreamResponse:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return web.Response(text="ok")

    site.routes["/hold"] = hold
    t = transport(site, max_requests_in_flight=3)
    try:
        await asyncio.gather(*(t.request("GET", "/hold") for _ in range(12)))
    finally:
        await t.close()
    assert most == 3
    assert len(set(site.connections)) == 3


async def test_no_server_is_a_transport_error(sock_dir: Path) -> None:
    t = LoopbackTransport(ClientConfig(server=f"unix://{sock_dir / 'none.sock'}"))
    with pytest.raises(TransportError):
        await t.request("GET", "/version")
    await t.close()


async def test_a_body_that_runs_to_the_end_of_the_connection(sock_dir: Path) -> None:
    connections = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of ")
        await writer.drain()
        writer.write(b"it")
        writer.close()

    path = str(sock_dir / "raw.sock")
    server = await asyncio.start_unix_server(answer, path)
    t = LoopbackTransport(ClientConfig(server=f"unix://{path}"))
    try:
        assert (await t.request("GET", "/")).body == b"all of it"
        assert (await t.request("GET", "/")).body == b"all of it"
    finally:
        await t.close()
        server.close()
        await server.wait_closed()
    assert connections == 2


async def test_a_malformed_answer_is_a_transport_error(sock_dir: Path) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SPDY/3 200 OK\r\n\r\n")
        writer.close()

    path = str(sock_dir / "bad.sock")
    server = await asyncio.start_unix_server(answer, path)
    t = LoopbackTransport(ClientConfig(server=f"unix://{path}"))
    try:
        with pytest.raises(TransportError, match="status line"):
            await t.request("GET", "/")
    finally:
        await t.close()
        server.close()
        await server.wait_closed()
