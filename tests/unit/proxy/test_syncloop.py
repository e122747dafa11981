from __future__ import annotations

import contextlib

import pytest

from pinnace.aio import in_background
from pinnace.client.clock import FakeClock
from pinnace.proxy.syncloop import SyncLoop


class Recorder:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.times: list[float] = []
        self.fail = 0
        self.again: float | None = None

    async def __call__(self) -> float | None:
        self.times.append(self.clock.now())
        if self.fail:
            self.fail -= 1
            raise RuntimeError("restore failed")
        return self.again


def running(loop: SyncLoop) -> contextlib.AbstractAsyncContextManager[None]:
    return in_background(loop.run(), "sync-loop")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_periodic_sync_without_requests(clock: FakeClock) -> None:
    rec = Recorder(clock)
    loop = SyncLoop(rec, min_interval=1, max_interval=30, clock=clock)
    async with running(loop):
        await clock.advance(29)
        assert rec.times == []
        await clock.advance(1)
        assert rec.times == [30]
        await clock.advance(30)
        assert rec.times == [30, 60]


async def test_requests_are_rate_limited_after_a_burst_of_two(clock: FakeClock) -> None:
    rec = Recorder(clock)
    loop = SyncLoop(rec, min_interval=1, max_interval=30, clock=clock)
    async with running(loop):
        for _ in range(5):
            loop.request()
            await clock.settle()
        # two at once (the burst), the rest coalesced into one a token later
        assert rec.times == [0, 0]
        loop.request()
        await clock.advance(0.5)
        assert rec.times == [0, 0]
        await clock.advance(0.5)
        assert rec.times == [0, 0, 1]


async def test_failures_are_retried_with_backoff(clock: FakeClock) -> None:
    rec = Recorder(clock)
    rec.fail = 3
    loop = SyncLoop(rec, min_interval=1, max_interval=30, clock=clock)
    async with running(loop):
        loop.request()
        await clock.advance(10)
        assert rec.times == [0, 1, 3, 7]  # waits 1, 2, 4 s
        assert loop.failures == 3


async def test_the_sync_may_ask_to_run_again_sooner(clock: FakeClock) -> None:
    rec = Recorder(clock)
    rec.again = 1.0
    loop = SyncLoop(rec, min_interval=0.1, max_interval=30, clock=clock)
    async with running(loop):
        loop.request()
        await clock.settle()
        rec.again = None
        await clock.advance(1)
        assert rec.times == [0, 1]
