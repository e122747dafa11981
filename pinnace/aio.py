"""asyncio helpers that every component may use.

:func:`wait_for` replaces ``asyncio.wait_for``. On Python 3.11 the stdlib
one loses a cancellation that arrives while the awaited thing has just
finished: it returns the result and the cancelled task carries on
(gh-86296, fixed in 3.12 by building ``wait_for`` on ``asyncio.timeout``).
A component in such a loop never stopped, and ``pinnace server`` could hang
on SIGTERM sent while its informers were syncing. This one is the 3.12
construction, on ``asyncio.timeout`` (3.11+).

:func:`in_background` runs a coroutine as a task for as long as a ``with``
block runs, and cancels and awaits it when the block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def wait_for(aw: Awaitable[T], timeout: float | None) -> T:
    """``await aw``, raising :class:`TimeoutError` after ``timeout`` seconds
    (None: no limit); a cancellation of the caller always propagates."""
    async with asyncio.timeout(timeout):
        return await aw


@contextlib.asynccontextmanager
async def in_background(coro: Coroutine[Any, Any, Any], name: str) -> AsyncIterator[None]:
    """Run ``coro`` as a task while the block runs; cancel and await it after."""
    task = asyncio.get_running_loop().create_task(coro, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
