"""When to sync: upstream's ``BoundedFrequencyRunner``, for asyncio.

A sync runs when one is requested (an informer event changed something), but
never more often than a token bucket allows: ``burst`` (2) syncs back to back,
then one per ``min_interval`` (``min_sync_period``, 1 s) — so a burst of events
is coalesced into few restores instead of one each. Without requests it runs
every ``max_interval`` (``sync_period``) anyway, which is when the proxier does
its full resync. A failed sync is retried with backoff (from ``min_interval``
doubling up to ``max_interval``). The sync function may return how soon it
wants to run again (the nftables proxier's delayed chain deletion).

Concurrency model: one task (:meth:`SyncLoop.run`) calls the sync function,
so syncs never overlap; :meth:`SyncLoop.request` only sets an event and may be
called from any handler on the loop. All waiting is on the injected clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from pinnace.client.clock import REAL_CLOCK, Clock

__all__ = ["SyncLoop"]

log = logging.getLogger("pinnace.proxy")

SyncFn = Callable[[], Awaitable[float | None]]


class SyncLoop:
    def __init__(
        self,
        fn: SyncFn,
        *,
        min_interval: float,
        max_interval: float,
        burst: int = 2,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.fn = fn
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.burst = burst
        self.clock = clock
        self._tokens = float(burst)
        self._stamp = clock.now()
        self._requested = asyncio.Event()
        self.runs = 0
        self.failures = 0

    def request(self) -> None:
        self._requested.set()

    def _take_token(self) -> float:
        """0 if a sync may run now (and take the token), else seconds to wait."""
        now = self.clock.now()
        if self.min_interval > 0:
            self._tokens = min(
                float(self.burst), self._tokens + (now - self._stamp) / self.min_interval
            )
        else:
            self._tokens = float(self.burst)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) * self.min_interval

    async def _wait(self, timeout: float) -> None:
        """Until a request or ``timeout`` seconds (on the clock)."""
        if self._requested.is_set():
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(timeout))
        waiter = asyncio.ensure_future(self._requested.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (sleeper, waiter):
                t.cancel()
            await asyncio.gather(sleeper, waiter, return_exceptions=True)

    async def run_once(self) -> float | None:
        """One sync now (no rate limit); what the function returned."""
        self._requested.clear()
        self.runs += 1
        return await self.fn()

    async def run(self) -> None:
        """Until cancelled."""
        timeout = 0.0 if self._requested.is_set() else self.max_interval
        backoff = self.min_interval or 1.0
        while True:
            await self._wait(timeout)
            wait = self._take_token()
            while wait > 0:
                await self.clock.sleep(wait)
                wait = self._take_token()
            try:
                again = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.failures += 1
                log.error("proxy sync failed (retrying in %.1fs): %s", backoff, e)
                timeout, backoff = backoff, min(self.max_interval, backoff * 2)
                continue
            backoff = self.min_interval or 1.0
            timeout = self.max_interval if again is None else min(self.max_interval, again)
