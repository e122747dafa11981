"""AiohttpTransport's request cap: at most ``max_requests_in_flight``
one-shot requests in flight, which then reuse as many connections; an open
stream (watch) does not count against it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from pinnace.client.config import ClientConfig
from pinnace.client.transport import AiohttpTransport
from tests.unit.client.fake_apiserver import serve_all, until


class Server:
    """Answers after ``release`` is set; records the client ports it saw."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.end_streams = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0
        self.request_ports: set[int] = set()
        self.stream_ports: set[int] = set()
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        port = int(request.transport.get_extra_info("peername")[1])  # type: ignore[union-attr]
        if request.query.get("watch") == "1":
            self.stream_ports.add(port)
            resp = web.StreamResponse()
            await resp.prepare(request)
            await resp.write(b'{"type":"BOOKMARK"}\n')
            await self.end_streams.wait()
            return resp
        self.request_ports.add(port)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.release.wait()
        finally:
            self.in_flight -= 1
        return web.json_response({"ok": True})


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    s = Server()
    ts, s.url = await serve_all(s.handle)
    try:
        yield s
    finally:
        s.release.set()
        s.end_streams.set()
        await ts.close()


async def test_requests_are_capped_and_a_stream_does_not_count(server: Server) -> None:
    transport = AiohttpTransport(ClientConfig(server=server.url), max_requests_in_flight=2)
    try:
        async with transport.stream("GET", "/api/v1/pods", params={"watch": "1"}) as watch:
            first = await anext(aiter(watch.lines()))
            assert b"BOOKMARK" in first
            requests = [
                asyncio.ensure_future(transport.request("GET", f"/api/v1/pods/p{i}"))
                for i in range(6)
            ]
            await until(lambda: server.in_flight >= 2)
            await asyncio.sleep(0.1)  # a third connection would have been opened by now
            assert server.in_flight == 2
            server.release.set()
            answers = await asyncio.gather(*requests)
        assert [a.status for a in answers] == [200] * 6
        assert server.most_in_flight == 2
        assert len(server.request_ports) == 2  # the six requests reused two connections
        assert server.stream_ports.isdisjoint(server.request_ports)
    finally:
        await transport.close()


async def test_without_a_cap_a_burst_opens_a_connection_per_request(server: Server) -> None:
    transport = AiohttpTransport(ClientConfig(server=server.url))
    try:
        requests = [
            asyncio.ensure_future(transport.request("GET", f"/api/v1/pods/p{i}")) for i in range(6)
        ]
        await until(lambda: server.in_flight >= 6)
        server.release.set()
        await asyncio.gather(*requests)
        assert len(server.request_ports) == 6
    finally:
        await transport.close()
