"""Rate limiters: the client's request throttle and the work queue's retry limiters.

* :class:`TokenBucket` is ``golang.org/x/time/rate.Limiter`` reduced to what we
  use: ``reserve()`` takes a token now and returns how long the caller must wait
  for it (tokens may go negative, so concurrent callers queue up fairly), and
  ``wait()`` sleeps that long. The client uses it like client-go's
  ``flowcontrol.NewTokenBucketRateLimiter(qps, burst)`` (defaults 5/10).
* The work-queue limiters mirror ``k8s.io/client-go/util/workqueue``:
  :class:`ItemExponentialLimiter` (per-key ``base * 2**failures`` capped),
  :class:`BucketLimiter` (one token bucket for all keys) and
  :class:`MaxOfLimiter`; :func:`default_controller_rate_limiter` is client-go's
  ``DefaultControllerRateLimiter`` (5 ms .. 1000 s per key, 10 qps / 100 burst).

All of them read time from an injectable :class:`~pinnace.client.clock.Clock`.
They are plain objects used from one event loop: no locks needed.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from pinnace.client.clock import REAL_CLOCK, Clock

__all__ = [
    "BucketLimiter",
    "ItemExponentialLimiter",
    "MaxOfLimiter",
    "RateLimiter",
    "TokenBucket",
    "default_controller_rate_limiter",
]

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)


class TokenBucket:
    """A token bucket refilled at ``qps`` tokens per second, holding at most ``burst``.

    ``qps <= 0`` or ``math.inf`` disables limiting (every reservation is free).
    """

    def __init__(self, qps: float, burst: int, *, clock: Clock = REAL_CLOCK) -> None:
        self.qps = qps
        self.burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self.burst)
        self._last = clock.now()

    @property
    def unlimited(self) -> bool:
        return self.qps <= 0 or math.isinf(self.qps)

    def _advance(self, now: float) -> float:
        elapsed = max(0.0, now - self._last)
        return min(float(self.burst), self._tokens + elapsed * self.qps)

    def tokens(self) -> float:
        """Tokens available now (negative while callers are queued)."""
        return self._advance(self._clock.now())

    def reserve(self) -> float:
        """Take one token; return the delay (seconds) before it may be used."""
        if self.unlimited:
            return 0.0
        now = self._clock.now()
        tokens = self._advance(now) - 1.0
        self._tokens = tokens
        self._last = now
        return 0.0 if tokens >= 0 else -tokens / self.qps

    def try_accept(self) -> bool:
        """Take a token only if one is available right now."""
        if self.unlimited:
            return True
        now = self._clock.now()
        tokens = self._advance(now)
        if tokens < 1.0:
            return False
        self._tokens = tokens - 1.0
        self._last = now
        return True

    async def wait(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await self._clock.sleep(delay)


class RateLimiter(Protocol[K_contra]):
    """client-go's ``workqueue.TypedRateLimiter``."""

    def when(self, item: K_contra) -> float:
        """How long ``item`` should wait before it is retried (and count the failure)."""
        ...

    def forget(self, item: K_contra) -> None:
        """Stop tracking ``item`` (it succeeded)."""
        ...

    def num_requeues(self, item: K_contra) -> int: ...


class ItemExponentialLimiter(Generic[K]):
    """``base * 2**failures`` per item, capped at ``max_delay``."""

    def __init__(self, base: float = 0.005, max_delay: float = 1000.0) -> None:
        self.base = base
        self.max_delay = max_delay
        self._failures: dict[K, int] = {}

    def when(self, item: K) -> float:
        exp = self._failures.get(item, 0)
        self._failures[item] = exp + 1
        if exp > 1000:  # avoid float overflow; far beyond any sane cap anyway
            return self.max_delay
        return min(self.base * (2.0**exp), self.max_delay)

    def forget(self, item: K) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: K) -> int:
        return self._failures.get(item, 0)


class BucketLimiter(Generic[K]):
    """One token bucket shared by all items (overall retry throttle)."""

    def __init__(self, qps: float = 10.0, burst: int = 100, *, clock: Clock = REAL_CLOCK) -> None:
        self.bucket = TokenBucket(qps, burst, clock=clock)

    def when(self, item: K) -> float:
        return self.bucket.reserve()

    def forget(self, item: K) -> None:
        pass

    def num_requeues(self, item: K) -> int:
        return 0


class MaxOfLimiter(Generic[K]):
    """The longest delay any of the limiters asks for."""

    def __init__(self, *limiters: RateLimiter[K]) -> None:
        self.limiters = limiters

    def when(self, item: K) -> float:
        return max((lim.when(item) for lim in self.limiters), default=0.0)

    def forget(self, item: K) -> None:
        for lim in self.limiters:
            lim.forget(item)

    def num_requeues(self, item: K) -> int:
        return max((lim.num_requeues(item) for lim in self.limiters), default=0)


def default_controller_rate_limiter(clock: Clock = REAL_CLOCK) -> MaxOfLimiter[Hashable]:
    """client-go ``DefaultControllerRateLimiter``: per-key 5 ms..1000 s exponential,
    overall 10 qps with a burst of 100."""
    return MaxOfLimiter[Hashable](
        ItemExponentialLimiter[Hashable](0.005, 1000.0),
        BucketLimiter[Hashable](10.0, 100, clock=clock),
    )
