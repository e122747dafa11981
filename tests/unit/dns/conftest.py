"""The ``upstream_factory`` fixture: fake upstream resolvers, stopped after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.unit.dns.dnsfakes import FakeUpstream, Handler


@pytest.fixture
async def upstream_factory() -> AsyncIterator[Callable[[Handler], Awaitable[FakeUpstream]]]:
    started: list[FakeUpstream] = []

    async def make(handler: Handler) -> FakeUpstream:
        u = await FakeUpstream(handler).start()
        started.append(u)
        return u

    yield make
    for u in started:
        await u.stop()
