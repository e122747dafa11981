"""The injectable clock every timer in the client (and the components) uses.

``now()`` is a monotonic reading in seconds for measuring delays and deadlines;
``wall()`` is the current UTC time for timestamps written into objects
(Lease renewTime, Event lastTimestamp). ``sleep()`` waits on the clock.

:class:`RealClock` wraps ``time.monotonic``/``asyncio.sleep``. :class:`FakeClock`
keeps virtual time that only moves when a test calls :meth:`FakeClock.advance`
(or :meth:`FakeClock.step`): sleepers wake in deadline order, and the loop gets a
chance to run between wake-ups, so chains like "sleep, then schedule another
sleep" behave as they would in real time, only instantly.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["REAL_CLOCK", "Clock", "FakeClock", "RealClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds (only differences are meaningful)."""
        ...

    def wall(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


REAL_CLOCK = RealClock()

_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


class FakeClock:
    """Virtual time for tests. Not thread-safe; use from the event loop only."""

    def __init__(self, start: float = 0.0, wall_start: datetime = _EPOCH) -> None:
        self._now = start
        self._start = start
        self._wall_start = wall_start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def wall(self) -> datetime:
        return self._wall_start + timedelta(seconds=self._now - self._start)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        try:
            await fut
        finally:
            if not fut.done():
                fut.cancel()  # lazily dropped from the heap

    @property
    def sleepers(self) -> int:
        """How many tasks are sleeping right now."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    def next_deadline(self) -> float | None:
        self._prune()
        return self._sleepers[0][0] if self._sleepers else None

    def _prune(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)

    async def settle(self, rounds: int = 10) -> None:
        """Let ready tasks run (a few loop iterations)."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking sleepers in deadline order and
        letting the loop run after each wake-up (new sleepers that fall inside the
        window are woken too)."""
        target = self._now + seconds
        await self.settle()
        while True:
            self._prune()
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            deadline = self._sleepers[0][0]
            self._now = max(self._now, deadline)
            while self._sleepers and self._sleepers[0][0] <= self._now:
                _, _, fut = heapq.heappop(self._sleepers)
                if not fut.done():
                    fut.set_result(None)
            await self.settle()
        self._now = max(self._now, target)
        await self.settle()

    async def step(self) -> bool:
        """Jump to the next deadline and wake its sleepers; False if none."""
        deadline = self.next_deadline()
        if deadline is None:
            return False
        await self.advance(max(0.0, deadline - self._now))
        return True

    async def wait_for_sleepers(self, n: int = 1, timeout: float = 5.0) -> None:
        """Wait (in real time) until at least ``n`` tasks sleep on this clock."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self.sleepers < n:
            if loop.time() > end:
                raise TimeoutError(f"expected {n} sleepers, have {self.sleepers}")
            await asyncio.sleep(0.001)
