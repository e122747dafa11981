"""Fixtures for the client tests: a fake API server and a client pointed at it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pinnace.client.config import ClientConfig
from pinnace.client.rest import Client
from pinnace.client.transport import transport_for
from tests.unit.client.fake_apiserver import FakeApiServer, serve_all, serve_unix


@pytest.fixture(params=["https", "unix"])
async def fake_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FakeApiServer]:
    """The fake API over TCP (clients use aiohttp) and over a Unix socket
    (clients use the loopback transport of in-process components)."""
    api = FakeApiServer()
    if request.param == "unix":
        # a short path: a Unix socket path has at most 107 bytes
        d = Path(tempfile.mkdtemp(prefix="pn-", dir="/tmp"))
        runner, api.url = await serve_unix(api.handle, str(d / "api.sock"))
        try:
            yield api
        finally:
            api.drop_watches()
            await runner.cleanup()
            shutil.rmtree(d, ignore_errors=True)
        return
    server, api.url = await serve_all(api.handle)
    try:
        yield api
    finally:
        api.drop_watches()
        await server.close()


@pytest.fixture
async def client(fake_api: FakeApiServer) -> AsyncIterator[Client]:
    c = Client(transport_for(ClientConfig(server=fake_api.url)), qps=0)
    try:
        yield c
    finally:
        await c.close()
