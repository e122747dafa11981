from __future__ import annotations

import asyncio
from collections.abc import Hashable

import pytest

from pinnace.client.clock import FakeClock
from pinnace.client.ratelimit import (
    BucketLimiter,
    ItemExponentialLimiter,
    MaxOfLimiter,
    default_controller_rate_limiter,
)
from pinnace.client.workqueue import ShutDown, WorkQueue


def make_queue(clock: FakeClock | None = None) -> WorkQueue[str]:
    return WorkQueue[str]("test", clock=clock or FakeClock())


async def test_add_dedupes_while_waiting() -> None:
    q = make_queue()
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"
    assert len(q) == 0


async def test_get_waits_for_add() -> None:
    q = make_queue()
    task = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not task.done()
    q.add("x")
    assert await asyncio.wait_for(task, 1) == "x"


async def test_processing_key_not_handed_out_twice_and_requeued_when_dirty() -> None:
    q = make_queue()
    q.add("a")
    key = await q.get()
    assert key == "a" and q.is_processing("a")
    q.add("a")  # re-added while processing: dirty, not queued
    assert len(q) == 0
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    assert not second.done()  # a second worker does not get "a" meanwhile
    q.add("a")  # still deduped
    q.done("a")  # now re-queued once
    assert await asyncio.wait_for(second, 1) == "a"
    q.done("a")
    assert len(q) == 0


async def test_done_without_readd_does_not_requeue() -> None:
    q = make_queue()
    q.add("a")
    await q.get()
    q.done("a")
    assert len(q) == 0


async def test_concurrent_workers_never_share_a_key() -> None:
    q = make_queue()
    active: set[str] = set()
    seen: list[str] = []

    async def worker() -> None:
        async for key in q:
            assert key not in active
            active.add(key)
            seen.append(key)
            await asyncio.sleep(0)
            if len(seen) < 40:
                q.add(key)  # keep re-adding while processing
            await asyncio.sleep(0)
            active.discard(key)
            q.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(4)]
    for k in ("a", "b", "c"):
        q.add(k)
    for _ in range(200):
        await asyncio.sleep(0)
    await q.shutdown_with_drain()
    await asyncio.wait_for(asyncio.gather(*workers), 1)
    assert len(seen) >= 40


async def test_shutdown_hands_out_remaining_then_raises() -> None:
    q = make_queue()
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.shutdown()
    with pytest.raises(ShutDown):
        await asyncio.wait_for(waiter, 1)

    q2 = make_queue()
    q2.add("a")
    q2.shutdown()
    q2.add("b")  # ignored after shutdown
    assert await q2.get() == "a"
    with pytest.raises(ShutDown):
        await q2.get()


async def test_shutdown_with_drain_waits_for_processing() -> None:
    q = make_queue()
    q.add("a")
    await q.get()
    drain = asyncio.create_task(q.shutdown_with_drain())
    await asyncio.sleep(0.01)
    assert not drain.done()
    q.done("a")
    await asyncio.wait_for(drain, 1)


async def test_cancelled_getter_passes_wakeup_on() -> None:
    q = make_queue()
    g1 = asyncio.create_task(q.get())
    g2 = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    g1.cancel()
    q.add("a")
    assert await asyncio.wait_for(g2, 1) == "a"


async def test_add_after_with_fake_clock() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    q.add_after("late", 10)
    q.add_after("soon", 1)
    q.add_after("now", 0)
    assert len(q) == 1 and q.delayed == 2
    assert await q.get() == "now"
    await clock.advance(0.5)
    assert len(q) == 0
    await clock.advance(0.5)
    assert len(q) == 1 and await q.get() == "soon"
    await clock.advance(8.9)
    assert len(q) == 0
    await clock.advance(0.1)
    assert await q.get() == "late"
    assert q.delayed == 0


async def test_add_after_earlier_time_wins_and_dedupes() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    q.add_after("a", 10)
    await clock.settle()
    q.add_after("a", 2)  # earlier: replaces
    q.add_after("a", 5)  # later: ignored
    assert q.delayed == 1
    await clock.advance(2)
    assert len(q) == 1
    await clock.advance(20)
    assert len(q) == 1  # the stale entries did not add it again
    q.shutdown()


async def test_add_rate_limited_backoff_grows_and_forget_resets() -> None:
    clock = FakeClock()
    q = WorkQueue[str](
        "rl", clock=clock, rate_limiter=ItemExponentialLimiter[str](base=1.0, max_delay=8.0)
    )
    expected = [1.0, 2.0, 4.0, 8.0, 8.0]
    for delay in expected:
        q.add_rate_limited("k")
        await clock.advance(delay - 0.01)
        assert len(q) == 0
        await clock.advance(0.01)
        assert len(q) == 1
        assert await q.get() == "k"
        q.done("k")
    assert q.num_requeues("k") == 5
    q.forget("k")
    assert q.num_requeues("k") == 0
    q.add_rate_limited("k")
    await clock.advance(1.0)
    assert len(q) == 1
    q.shutdown()


def test_item_exponential_limiter_defaults() -> None:
    lim = ItemExponentialLimiter[str]()
    delays = [lim.when("x") for _ in range(5)]
    assert delays == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08])
    for _ in range(40):
        lim.when("x")
    assert lim.when("x") == 1000.0
    assert lim.when("y") == 0.005


def test_bucket_limiter_and_max_of() -> None:
    clock = FakeClock()
    bucket = BucketLimiter[str](qps=10, burst=2, clock=clock)
    assert bucket.when("a") == 0
    assert bucket.when("b") == 0
    assert bucket.when("c") == pytest.approx(0.1)
    assert bucket.when("d") == pytest.approx(0.2)
    both = MaxOfLimiter[str](
        ItemExponentialLimiter[str](1.0, 100.0), BucketLimiter(1, 1, clock=clock)
    )
    assert both.when("a") == 1.0  # exp: 1, bucket: 0
    assert both.when("a") == 2.0  # exp: 2, bucket: 1
    assert both.num_requeues("a") == 2
    both.forget("a")
    assert both.num_requeues("a") == 0


def test_default_controller_rate_limiter() -> None:
    clock = FakeClock()
    lim = default_controller_rate_limiter(clock)
    keys: list[Hashable] = [f"k{i}" for i in range(100)]
    assert all(lim.when(k) == pytest.approx(0.005) for k in keys)  # burst of 100
    assert lim.when("another") == pytest.approx(0.1)  # bucket now 10 qps


async def test_fake_clock_orders_sleepers() -> None:
    clock = FakeClock()
    order: list[str] = []

    async def sleeper(name: str, d: float) -> None:
        await clock.sleep(d)
        order.append(name)
        if name == "a":
            await clock.sleep(1)
            order.append("a2")

    tasks = [asyncio.create_task(sleeper(n, d)) for n, d in (("b", 2), ("a", 1), ("c", 3))]
    await clock.wait_for_sleepers(3)
    await clock.advance(2.5)
    assert order == ["a", "b", "a2"]
    await clock.advance(1)
    assert order == ["a", "b", "a2", "c"]
    await asyncio.gather(*tasks)
    assert clock.now() == 3.5
