"""pinnace.client.apiservers: the API servers listed in default/kubernetes."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from pinnace.client import Client
from pinnace.client.apiservers import follow_api_servers, server_urls
from pinnace.client.clock import FakeClock
from pinnace.client.config import ClientConfig
from pinnace.client.transport import AiohttpTransport
from tests.unit.client.fake_apiserver import serve_all


def test_server_urls_from_the_kubernetes_endpoints() -> None:
    endpoints = {
        "subsets": [
            {
                "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
            },
            {"addresses": [{"ip": "fd00::1"}], "ports": [{"name": "https", "port": 7443}]},
            {"addresses": [{"ip": "not-an-ip"}], "ports": [{"port": 6443}]},
            {"addresses": [{"ip": "10.0.0.3"}], "ports": [{"port": 53, "protocol": "UDP"}]},
            {"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 6443}]},
        ]
    }
    assert server_urls(endpoints) == [
        "https://10.0.0.1:6443",
        "https://10.0.0.2:6443",
        "https://[fd00::1]:7443",
    ]
    assert server_urls({}) == []


async def test_follow_reads_the_list_and_keeps_going_after_errors() -> None:
    """The first GET is refused, the second lists two servers, which the
    client then fails over to after the one it was given."""
    answers = [
        web.json_response({"kind": "Status", "code": 403, "reason": "Forbidden"}, status=403),
        web.json_response(
            {
                "kind": "Endpoints",
                "subsets": [
                    {
                        "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                        "ports": [{"name": "https", "port": 6443}],
                    }
                ],
            }
        ),
    ]
    paths: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        paths.append(request.path)
        return answers.pop(0) if answers else web.json_response({"kind": "Endpoints"})

    live, url = await serve_all(handle)
    transport = AiohttpTransport(ClientConfig(server=url))
    client = Client(transport)
    clock = FakeClock()
    task = asyncio.create_task(follow_api_servers(client, interval=30, clock=clock))
    try:
        for _ in range(500):
            if len(paths) >= 2 and len(transport.servers) == 3:
                break
            if clock.sleepers:
                await clock.advance(30)
            await asyncio.sleep(0.01)
        assert paths[:2] == ["/api/v1/namespaces/default/endpoints/kubernetes"] * 2
        assert transport.servers == [url, "https://10.0.0.1:6443", "https://10.0.0.2:6443"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()
        await live.close()


async def test_a_unix_socket_client_does_not_follow() -> None:
    client = Client(AiohttpTransport(ClientConfig(server="unix:///nonexistent.sock")))
    await asyncio.wait_for(follow_api_servers(client), 5)  # returns at once
    await client.close()
