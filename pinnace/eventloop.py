"""The event loop pinnace's long-running processes run on.

pinnace's processes are bound by one Python thread each (docs/performance.md):
the API server's main thread holds the GIL almost all the time under load, and
a large share of it is the event loop's own work — socket reads and writes,
TLS records, callbacks and timers. uvloop implements the asyncio loop on
libuv in C, TLS included (asyncio's ``SSLProtocol`` is pure Python), so that
work gets cheaper without any change to the code that runs on the loop.

:func:`run` is ``asyncio.run`` on uvloop when it is installed (it is a
dependency). ``PINNACE_EVENT_LOOP=asyncio`` selects the standard loop
instead, for comparisons and as a way out should a difference between the
two loops ever matter.

``pinnace agent`` keeps the standard loop: its pod startup waits on
containerd, not on its own thread, and in ``bench/pod_startup.py`` uvloop
changed nothing beyond the noise while adding 2.4 MB to the agent's RSS,
which has a 60 MB budget.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

ENV = "PINNACE_EVENT_LOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory of the loop :func:`run` uses; None for asyncio's default."""
    choice = os.environ.get(ENV, "uvloop").strip().lower()
    if choice == "asyncio":
        return None
    if choice != "uvloop":
        log.warning("%s=%r is not 'uvloop' or 'asyncio'; using uvloop", ENV, choice)
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a new loop, as ``asyncio.run`` does."""
    factory = loop_factory()
    if factory is None:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)
