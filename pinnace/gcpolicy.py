"""Garbage-collector policy for pinnace's long-running processes with big caches.

The API server's watch cache, and the informer caches of a scheduler,
controller manager or simulated-node process, hold hundreds of thousands of
long-lived objects. With CPython's default thresholds a full (generation 2)
collection rescans all of them every second or so under load: 50-600 ms
pauses in the server, and in a standalone scheduler at 5,000 nodes enough CPU
that it fell behind pod creation (docs/performance.md). So such a process:

- freezes what exists after start-up (:func:`tune`),
- keeps young-generation collections but never triggers a full one from
  allocation counts (thresholds ``700,10,1000000``; ``PINNACE_GC_THRESHOLDS``
  overrides them),
- runs collections on a timer instead (:func:`periodic_full_gc`), and hands
  freed heap pages back to the OS after each.

The timed collections are generational too. Each one freezes what survives
it, so the next one scans only the objects made since; every
``DEEP_EVERY``-th one unfreezes everything first and scans the whole heap.
A full scan of a scheduler's caches at 10,000 pods took about 270 ms of the
server's one thread and freed nothing: cached objects are JSON trees,
freed by reference counting when an update replaces them. Only garbage in
reference cycles waits for a scan, and an object frozen while alive that
later becomes such garbage waits for the next deep one (five minutes).

The node agent keeps CPython's defaults: its caches are small and its memory
budget tight.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

THRESHOLDS = tuple(
    int(x) for x in os.environ.get("PINNACE_GC_THRESHOLDS", "700,10,1000000").split(",")
)
FULL_GC_INTERVAL = 30.0  # seconds
DEEP_EVERY = 10  # every tenth timed collection scans the frozen objects too


def release_free_memory() -> None:
    """Give freed heap pages back to the OS. Cached objects are allocated
    between many short-lived request objects, so after a burst the heap is
    full of free holes that glibc only returns on an explicit trim."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def tune() -> None:
    """Freeze the objects of start-up and set the thresholds above."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


def timed_collection(deep: bool) -> int:
    """One timed collection: of every generation, then the survivors frozen;
    ``deep`` unfreezes first, so the frozen objects are scanned too."""
    if deep:
        gc.unfreeze()
    n = gc.collect()
    gc.freeze()
    return n


async def periodic_full_gc(
    interval: float = FULL_GC_INTERVAL, deep_every: int = DEEP_EVERY
) -> None:
    """A collection (and a heap trim) every ``interval`` seconds, forever;
    every ``deep_every``-th scans the whole heap (:func:`timed_collection`)."""
    count = 0
    while True:
        await asyncio.sleep(interval)
        count += 1
        deep = count % deep_every == 0
        start = time.perf_counter()
        n = timed_collection(deep)
        release_free_memory()
        log.debug(
            "%s gc: %d objects freed in %.0f ms",
            "deep" if deep else "timed",
            n,
            (time.perf_counter() - start) * 1000,
        )


async def run_with_policy(coro: Coroutine[Any, Any, T]) -> T:
    """:func:`tune`, then ``coro`` with :func:`periodic_full_gc` beside it."""
    tune()
    timer = asyncio.create_task(periodic_full_gc(), name="gc")
    try:
        return await coro
    finally:
        timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer
