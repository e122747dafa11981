"""The HTTPS call: URL webhooks, Service webhooks resolved through
Endpoints with the certificate checked for ``<svc>.<ns>.svc``, the CA
bundle, and Go-worded failures. A real TLS server on 127.0.0.1."""

from __future__ import annotations

import base64
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from pinnace.apiserver.admission.webhook.client import EndpointsResolver, WebhookClient
from pinnace.apiserver.admission.webhook.hooks import Hook, hooks_of
from pinnace.apiserver.admission.webhook.review import CallError
from pinnace.apiserver.certs import Pki, ensure_pki
from pinnace.apiserver.tls import server_ssl_context

Obj = dict[str, Any]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[int, Pki, list[str]]]:
    pki = ensure_pki(tmp_path / "pki", hosts=["127.0.0.1", "hook.webhooks.svc"])
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path_qs)
        review = await request.json()
        return web.json_response({"echo": review["request"]["uid"]})

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_ssl_context(pki)).start()
    try:
        yield port, pki, seen
    finally:
        await runner.cleanup()


def hook_with(client_config: Obj) -> Hook:
    return hooks_of(
        {"metadata": {"name": "c"}, "webhooks": [{"name": "h.x.io", "clientConfig": client_config}]}
    )[0]


REVIEW = {"request": {"uid": "u1"}}


async def test_url_webhook_with_ca_bundle(tls_server: tuple[int, Pki, list[str]]) -> None:
    port, pki, seen = tls_server
    ca = base64.b64encode(pki.ca_pem()).decode()
    client = WebhookClient()
    try:
        got = await client.post(
            hook_with({"url": f"https://127.0.0.1:{port}/v", "caBundle": ca}), REVIEW
        )
    finally:
        await client.close()
    assert got == {"echo": "u1"}
    assert seen == ["/v?timeout=10s"]


async def test_service_webhook_resolves_endpoints_and_checks_the_service_name(
    tls_server: tuple[int, Pki, list[str]],
) -> None:
    port, pki, seen = tls_server
    services = {
        ("webhooks", "hook"): {
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 8443}]}
        }
    }
    endpoints = {
        ("webhooks", "hook"): {
            "subsets": [
                {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": port}]}
            ]
        }
    }
    resolver = EndpointsResolver(
        lambda ns, n: services.get((ns, n)), lambda ns, n: endpoints.get((ns, n))
    )
    client = WebhookClient(resolver)
    ca = base64.b64encode(pki.ca_pem()).decode()
    try:
        cc = {
            "service": {"namespace": "webhooks", "name": "hook", "path": "/check"},
            "caBundle": ca,
        }
        assert await client.post(hook_with(cc), REVIEW) == {"echo": "u1"}
        assert seen == ["/check?timeout=10s"]
        with pytest.raises(CallError) as e:
            await client.post(
                hook_with({**cc, "service": {"namespace": "webhooks", "name": "gone"}}), REVIEW
            )
        assert str(e.value) == (
            'failed calling webhook "h.x.io": failed to call webhook: service "gone" not found'
        )
    finally:
        await client.close()


async def test_untrusted_certificate_fails(
    tls_server: tuple[int, Pki, list[str]], tmp_path: Path
) -> None:
    port, _, seen = tls_server
    other = ensure_pki(tmp_path / "other", hosts=["127.0.0.1"])
    ca = base64.b64encode(other.ca_pem()).decode()
    client = WebhookClient()
    try:
        with pytest.raises(CallError) as e:
            await client.post(
                hook_with({"url": f"https://127.0.0.1:{port}/v", "caBundle": ca}), REVIEW
            )
    finally:
        await client.close()
    assert (
        f'Post "https://127.0.0.1:{port}/v?timeout=10s": tls: failed to verify certificate'
        in str(e.value)
    )
    assert seen == []


async def test_connection_refused_reads_like_go() -> None:
    port = free_port()
    client = WebhookClient()
    try:
        with pytest.raises(CallError) as e:
            await client.post(hook_with({"url": f"https://127.0.0.1:{port}/v"}), REVIEW)
    finally:
        await client.close()
    assert str(e.value) == (
        f'failed calling webhook "h.x.io": failed to call webhook: Post '
        f'"https://127.0.0.1:{port}/v?timeout=10s": dial tcp 127.0.0.1:{port}: connect: '
        "connection refused"
    )
