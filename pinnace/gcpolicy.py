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
- runs full collections on a timer instead (:func:`periodic_full_gc`), and
  hands freed heap pages back to the OS after each.

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


async def periodic_full_gc(interval: float = FULL_GC_INTERVAL) -> None:
    """A full collection (and a heap trim) every ``interval`` seconds, forever."""
    while True:
        await asyncio.sleep(interval)
        start = time.perf_counter()
        n = gc.collect()
        release_free_memory()
        log.debug("full gc: %d objects freed in %.0f ms", n, (time.perf_counter() - start) * 1000)


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
