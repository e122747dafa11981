"""pinnace.aio.wait_for: a timeout that never loses the caller's cancellation."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pinnace import aio

WaitFor = Callable[[Awaitable[Any], float], Awaitable[Any]]


async def _lost_cancellation(wait_for: WaitFor, hops: int) -> bool:
    """Finish what a task waits for, let the loop run ``hops`` times, then
    cancel the task. True when the task went on past ``wait_for`` although it
    was cancelled before it got there (the cancellation was lost)."""
    ev = asyncio.Event()
    passed = asyncio.Event()

    async def worker() -> None:
        await wait_for(ev.wait(), 10)
        passed.set()
        await asyncio.sleep(0.2)  # a lost cancellation lets this run out

    task = asyncio.create_task(worker())
    for _ in range(3):
        await asyncio.sleep(0)  # the worker is waiting on the event
    ev.set()
    for _ in range(hops):
        await asyncio.sleep(0)
    already_passed = passed.is_set()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    return passed.is_set() and not already_passed


@pytest.mark.parametrize("hops", [0, 1, 2, 3])
async def test_a_cancellation_as_the_wait_ends_still_stops_the_caller(hops: int) -> None:
    assert not await _lost_cancellation(aio.wait_for, hops)


async def test_the_race_is_real_for_the_stdlib_on_3_11() -> None:
    # what the helper is for: on 3.11 asyncio.wait_for can return the result
    # to a cancelled task, which then carries on (3.12 fixed it)
    lost = [await _lost_cancellation(asyncio.wait_for, hops) for hops in range(4)]
    assert any(lost) == (sys.version_info < (3, 12))


async def test_timeout_and_result() -> None:
    assert await aio.wait_for(asyncio.sleep(0, "done"), 1) == "done"
    with pytest.raises(TimeoutError):
        await aio.wait_for(asyncio.sleep(5), 0.01)
    assert await aio.wait_for(asyncio.sleep(0, 1), None) == 1


async def test_in_background_runs_while_the_block_runs_then_is_cancelled() -> None:
    ticks: list[int] = []
    stopped = asyncio.Event()

    async def tick() -> None:
        try:
            while True:
                ticks.append(len(ticks))
                await asyncio.sleep(0)
        finally:
            stopped.set()

    async with aio.in_background(tick(), "tick"):
        for _ in range(5):
            await asyncio.sleep(0)
        assert ticks and not stopped.is_set()
    assert stopped.is_set()
    seen = len(ticks)
    await asyncio.sleep(0)
    assert len(ticks) == seen
