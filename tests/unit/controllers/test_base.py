"""The shared controller base: workers, outcomes, backoff, lifecycle (virtual time)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from pinnace.client import Client, FakeClock, SharedInformerFactory
from pinnace.controllers.base import Controller, ControllerContext, Requeue

Outcome = Requeue | None | Exception


class NoTransport:
    async def request(self, *a: object, **kw: object) -> object:
        raise AssertionError("no API calls expected")

    def stream(self, *a: object, **kw: object) -> object:
        raise AssertionError("no API calls expected")

    async def close(self) -> None:
        pass


class Scripted(Controller):
    NAME = "scripted"
    WORKERS = 2

    def __init__(self, ctx: ControllerContext, script: dict[str, list[Outcome]]) -> None:
        super().__init__(ctx)
        self.script = script
        self.calls: list[tuple[str, float]] = []
        self.running: set[str] = set()
        self.overlap = False

    async def reconcile(self, key: str) -> Requeue | None:
        if key in self.running:
            self.overlap = True
        self.running.add(key)
        try:
            self.calls.append((key, self.clock.now()))
            await asyncio.sleep(0)
            outcome = self.script[key].pop(0) if self.script[key] else None
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        finally:
            self.running.discard(key)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@contextlib.asynccontextmanager
async def running(c: Controller) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(c.run())
    await asyncio.wait_for(c.ready.wait(), 5)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def make(clock: FakeClock, script: dict[str, list[Outcome]]) -> Scripted:
    client = Client(NoTransport(), qps=0, clock=clock)  # type: ignore[arg-type]
    ctx = ControllerContext(client, SharedInformerFactory(client, clock=clock), clock, host="h")
    return Scripted(ctx, script)


async def test_success_error_and_requeue(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    c = make(clock, {"ns/a": [RuntimeError("boom"), Requeue(after=10.0), None]})
    async with running(c):
        c.queue.add("ns/a")
        await clock.settle()
        assert [k for k, _ in c.calls] == ["ns/a"]
        assert "error syncing 'ns/a' (retry 1)" in caplog.text  # logged once, with context
        await clock.advance(0.005)  # the first retry waits 5 ms
        assert len(c.calls) == 2
        await clock.advance(9.9)
        assert len(c.calls) == 2
        await clock.advance(0.1)
        assert len(c.calls) == 3
        assert c.queue.num_requeues("ns/a") == 0  # forgotten after the success
    assert c.queue.shutting_down


async def test_backoff_grows_per_key(clock: FakeClock) -> None:
    err = RuntimeError("again")
    c = make(clock, {"k": [err, err, err, None]})
    async with running(c):
        c.queue.add("k")
        await clock.advance(1.0)
        times = [t for _, t in c.calls]
        # retried 5 ms, then 10 ms, then 20 ms after each failure
        assert times == pytest.approx([0.0, 0.005, 0.015, 0.035])


async def test_requeue_without_delay_uses_backoff(clock: FakeClock) -> None:
    c = make(clock, {"k": [Requeue(), None]})
    async with running(c):
        c.queue.add("k")
        await clock.settle()
        assert len(c.calls) == 1
        await clock.advance(0.005)
        assert len(c.calls) == 2


async def test_one_key_never_runs_twice_at_once(clock: FakeClock) -> None:
    c = make(clock, {"k": [None] * 10})
    async with running(c):
        for _ in range(5):
            c.queue.add("k")
            await asyncio.sleep(0)
        await clock.settle(50)
    assert not c.overlap
    assert 1 <= len(c.calls) <= 5
