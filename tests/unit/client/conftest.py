"""Fixtures for the client tests: a fake API server and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pinnace.client.config import ClientConfig
from pinnace.client.rest import Client
from pinnace.client.transport import AiohttpTransport
from tests.unit.client.fake_apiserver import FakeApiServer, serve_all


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeApiServer]:
    api = FakeApiServer()
    server, api.url = await serve_all(api.handle)
    try:
        yield api
    finally:
        api.drop_watches()
        await server.close()


@pytest.fixture
async def client(fake_api: FakeApiServer) -> AsyncIterator[Client]:
    c = Client(AiohttpTransport(ClientConfig(server=fake_api.url)), qps=0)
    try:
        yield c
    finally:
        await c.close()
