from __future__ import annotations

import asyncio
import math

import pytest

from pinnace.client import FakeClock, TokenBucket


def test_token_bucket_burst_then_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=5, burst=10, clock=clock)  # client-go's defaults
    assert [bucket.reserve() for _ in range(10)] == [0.0] * 10
    assert bucket.reserve() == pytest.approx(0.2)
    assert bucket.reserve() == pytest.approx(0.4)  # queued behind the previous caller
    assert bucket.tokens() == pytest.approx(-2.0)


async def test_token_bucket_refills_up_to_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=2, burst=3, clock=clock)
    for _ in range(3):
        assert bucket.try_accept()
    assert not bucket.try_accept()
    await clock.advance(0.5)
    assert bucket.try_accept()
    assert not bucket.try_accept()
    await clock.advance(100)
    assert bucket.tokens() == 3.0  # capped at burst


async def test_token_bucket_wait_sleeps_on_clock() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=1, burst=1, clock=clock)
    await bucket.wait()  # immediate
    waiter = asyncio.create_task(bucket.wait())
    await clock.wait_for_sleepers(1)
    assert not waiter.done()
    await clock.advance(1)
    await asyncio.wait_for(waiter, 1)


@pytest.mark.parametrize("qps", [0.0, -1.0, math.inf])
def test_unlimited(qps: float) -> None:
    bucket = TokenBucket(qps=qps, burst=1, clock=FakeClock())
    assert bucket.unlimited
    assert all(bucket.reserve() == 0.0 for _ in range(1000))
    assert bucket.try_accept()
