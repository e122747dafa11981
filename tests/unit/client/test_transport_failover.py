"""AiohttpTransport with ``fallback_servers``: a request the current server
cannot be connected to goes to the next server, which stays current; an
answer, even an error status, is never retried elsewhere."""

from __future__ import annotations

import socket

import pytest
from aiohttp import web

from pinnace.client.config import ClientConfig
from pinnace.client.transport import AiohttpTransport, TransportError
from tests.unit.client.fake_apiserver import serve_all


def dead_url() -> str:
    """A loopback URL nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_an_unreachable_server_is_skipped_and_the_next_stays_current() -> None:
    seen: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request.path)
        if request.query.get("watch") == "1":
            resp = web.StreamResponse()
            await resp.prepare(request)
            await resp.write(b'{"type":"BOOKMARK"}\n')
            return resp
        return web.json_response({"ok": True})

    live, url = await serve_all(handle)
    dead = dead_url()
    t = AiohttpTransport(ClientConfig(server=dead, fallback_servers=(url,)))
    try:
        r = await t.request("GET", "/api")
        assert r.status == 200 and seen == ["/api"]
        assert t._base == url  # the next request goes straight there
        async with t.stream("GET", "/api/v1/pods", params={"watch": "1"}) as s:
            assert [line async for line in s.lines()] == [b'{"type":"BOOKMARK"}']
        # and back to the first when the current one goes away
        t2 = AiohttpTransport(ClientConfig(server=url, fallback_servers=(dead,)))
        assert (await t2.request("GET", "/a")).status == 200
        await live.close()
        with pytest.raises(TransportError):
            await t2.request("GET", "/b")  # neither answers
        await t2.close()
    finally:
        await t.close()
        await live.close()


async def test_a_server_that_answers_is_not_retried_elsewhere() -> None:
    calls: list[str] = []

    async def failing(request: web.Request) -> web.Response:
        calls.append("first")
        return web.json_response({"kind": "Status", "code": 500}, status=500)

    async def other(request: web.Request) -> web.Response:
        calls.append("second")
        return web.json_response({})

    first, url1 = await serve_all(failing)
    second, url2 = await serve_all(other)
    t = AiohttpTransport(ClientConfig(server=url1, fallback_servers=(url2,)))
    try:
        r = await t.request("POST", "/api/v1/namespaces/default/pods", body=b"{}")
        assert r.status == 500 and calls == ["first"]
    finally:
        await t.close()
        await first.close()
        await second.close()


async def test_without_fallbacks_an_unreachable_server_is_an_error() -> None:
    t = AiohttpTransport(ClientConfig(server=dead_url()))
    try:
        with pytest.raises(TransportError):
            await t.request("GET", "/api")
    finally:
        await t.close()
