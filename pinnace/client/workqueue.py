"""A rate-limited work queue with client-go's semantics, for controller workers.

The contract (``k8s.io/client-go/util/workqueue``):

* ``add(key)`` is idempotent while the key waits: a key is queued at most once
  (the *dirty* set), however many events arrive for it.
* A key handed out by ``get()`` is *processing* until ``done(key)``. It is never
  handed to a second worker meanwhile; if it is added again during processing it
  is marked dirty and re-queued by ``done``, so the latest state is always
  reconciled once more.
* ``add_after(key, delay)`` adds later (a pending earlier time wins);
  ``add_rate_limited(key)`` adds after the rate limiter's delay (per-key
  exponential backoff combined with an overall token bucket) and ``forget(key)``
  resets the key's backoff after a success.
* ``shutdown()`` stops accepting keys; ``get()`` keeps handing out what is
  queued, then raises :class:`ShutDown`. ``shutdown_with_drain()`` also waits
  for in-flight keys to be ``done``.

Concurrency model: one event loop; ``add``/``done``/``add_after`` are plain
synchronous calls (event handlers may call them), ``get`` is awaited by any
number of worker tasks. Delayed keys are kept in a heap serviced by one
background task (started lazily), which sleeps on the injected clock until the
earliest deadline or until an earlier key arrives.

Typical worker::

    async for key in queue:          # ends when the queue shuts down
        try:
            await reconcile(key)
        except Exception:
            queue.add_rate_limited(key)
        else:
            queue.forget(key)
        finally:
            queue.done(key)
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Hashable
from typing import Generic, TypeVar

from pinnace.client.clock import REAL_CLOCK, Clock
from pinnace.client.ratelimit import RateLimiter, default_controller_rate_limiter

__all__ = ["ShutDown", "WorkQueue"]

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):
    """Raised by :meth:`WorkQueue.get` once the queue is shut down and empty."""


class WorkQueue(Generic[K]):
    """FIFO + dedupe + processing set + delayed adds + rate-limited retries."""

    def __init__(
        self,
        name: str = "",
        *,
        clock: Clock = REAL_CLOCK,
        rate_limiter: RateLimiter[K] | None = None,
    ) -> None:
        self.name = name
        self._clock = clock
        self._rate_limiter: RateLimiter[K] = (
            rate_limiter if rate_limiter is not None else default_controller_rate_limiter(clock)
        )
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        self._drained: asyncio.Event | None = None
        # delayed adds: heap of (ready_at, seq, key); _waiting holds each key's current time
        self._heap: list[tuple[float, int, K]] = []
        self._waiting: dict[K, float] = {}
        self._seq = itertools.count()
        self._wakeup: asyncio.Event | None = None
        self._waiter_task: asyncio.Task[None] | None = None

    # --- basic queue ---------------------------------------------------------------------

    def add(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # re-queued by done()
        self._queue.append(key)
        self._wake_getter()

    def __len__(self) -> int:
        """Keys waiting to be handed out (not counting delayed or processing keys)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    async def get(self) -> K:
        """The next key (marked processing); raises :class:`ShutDown` when shut down
        and empty."""
        while not self._queue and not self._shutting_down:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                fut.cancel()
                try:
                    self._getters.remove(fut)
                except ValueError:
                    pass
                # we may have been woken for an item: pass the wake-up on
                if self._queue:
                    self._wake_getter()
                raise
        if not self._queue:
            raise ShutDown(self.name)
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: K) -> None:
        """Mark ``key`` processed; re-queue it if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_getter()
        elif not self._processing and self._drained is not None:
            self._drained.set()

    def shutdown(self) -> None:
        """Stop accepting keys and wake every waiting ``get``."""
        self._shutting_down = True
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)
        if self._waiter_task is not None:
            self._waiter_task.cancel()
            self._waiter_task = None
        self._heap.clear()
        self._waiting.clear()

    async def shutdown_with_drain(self) -> None:
        """Shut down and wait until every key handed out is ``done``."""
        self.shutdown()
        if self._processing:
            self._drained = asyncio.Event()
            await self._drained.wait()

    def __aiter__(self) -> AsyncIterator[K]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[K]:
        while True:
            try:
                key = await self.get()
            except ShutDown:
                return
            yield key

    def is_processing(self, key: K) -> bool:
        return key in self._processing

    def _wake_getter(self) -> None:
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    # --- delayed adds --------------------------------------------------------------------

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` after ``delay`` seconds (immediately when ``delay <= 0``)."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        ready_at = self._clock.now() + delay
        current = self._waiting.get(key)
        if current is not None and current <= ready_at:
            return
        self._waiting[key] = ready_at
        heapq.heappush(self._heap, (ready_at, next(self._seq), key))
        if self._waiter_task is None:
            self._wakeup = asyncio.Event()
            self._waiter_task = asyncio.get_running_loop().create_task(
                self._waiting_loop(), name=f"workqueue-{self.name}-delayed"
            )
        elif self._heap[0][2] == key and self._wakeup is not None:
            self._wakeup.set()  # a new earliest deadline

    @property
    def delayed(self) -> int:
        """How many keys wait for their ``add_after`` time."""
        return len(self._waiting)

    def _next_ready(self) -> float | None:
        while self._heap:
            ready_at, _, key = self._heap[0]
            if self._waiting.get(key) == ready_at:
                return ready_at
            heapq.heappop(self._heap)  # stale entry (key re-scheduled earlier or added)
        return None

    async def _waiting_loop(self) -> None:
        assert self._wakeup is not None
        wakeup = self._wakeup
        while not self._shutting_down:
            wakeup.clear()
            now = self._clock.now()
            while (ready_at := self._next_ready()) is not None and ready_at <= now:
                _, _, key = heapq.heappop(self._heap)
                del self._waiting[key]
                self.add(key)
            if ready_at is None:
                await wakeup.wait()
                continue
            sleeper = asyncio.ensure_future(self._clock.sleep(ready_at - now))
            waker = asyncio.ensure_future(wakeup.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()

    # --- rate limiting -------------------------------------------------------------------

    def add_rate_limited(self, key: K) -> None:
        """Add after the rate limiter's delay for ``key`` (counts a failure)."""
        if self._shutting_down:
            return
        self.add_after(key, self._rate_limiter.when(key))

    def forget(self, key: K) -> None:
        """Reset ``key``'s backoff (call after it was processed successfully)."""
        self._rate_limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._rate_limiter.num_requeues(key)
