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


async def test_learned_servers_are_failed_over_to_after_the_configured_ones() -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True})

    live, url = await serve_all(handle)
    first, second = dead_url(), dead_url()
    t = AiohttpTransport(ClientConfig(server=first, fallback_servers=(second,)))
    try:
        assert t.learn_servers([url + "/", first]) is True
        assert t.servers == [first, second, url]  # configured first, no duplicates
        assert t.learn_servers([url]) is False  # nothing new
        r = await t.request("GET", "/api")
        assert r.status == 200 and t._base == url
        # the cluster stops listing it: it stays current until it fails
        assert t.learn_servers([]) is True
        assert t.servers == [first, second]
        assert (await t.request("GET", "/api")).status == 200
        await live.close()
        with pytest.raises(TransportError):
            await t.request("GET", "/api")  # nothing left that answers
        assert t._base in (first, second)
    finally:
        await t.close()
        await live.close()


def test_a_unix_socket_transport_learns_nothing() -> None:
    t = AiohttpTransport(ClientConfig(server="unix:///run/x.sock"))
    assert t.learn_servers(["https://10.0.0.1:6443"]) is False
    assert t.servers == ["http://localhost"]
