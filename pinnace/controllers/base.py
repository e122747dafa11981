"""The shared base of every controller (kubernetes ``pkg/controller`` style).

A controller is a :class:`Controller` subclass with a ``NAME`` and an
``async reconcile(key)``. It registers informers (from the shared
:class:`~pinnace.client.SharedInformerFactory`, so every controller in a process
shares one watch and one cache per resource) whose event handlers only
*enqueue keys*; every decision is taken in ``reconcile`` from the caches and the
API, level-triggered, so that a missed or merged event is healed by the next.

Concurrency model: one event loop. :meth:`Controller.run` starts the
controller's informers (and any extra background sources a subclass adds with
:meth:`Controller.background`), waits until their caches have synced, sets
:attr:`Controller.ready`, then runs ``N`` worker tasks per work loop under one
task group until cancelled. Each work loop is a rate-limited
:class:`~pinnace.client.WorkQueue` of string keys plus the coroutine handling
them; the queue never hands one key to two workers at once. The default loop
feeds :meth:`Controller.reconcile`; controllers needing more (the garbage
collector's orphaning queue) add loops with :meth:`Controller.add_work_loop`.

Outcome of a handler call:

* returns ``None``: success, the key's backoff is forgotten;
* returns :class:`Requeue`: not an error, but look again later — after
  ``after`` seconds, or after the rate limiter's backoff when ``after`` is None;
* raises: the error is logged once, here, with the controller, the key and the
  retry count, and the key is re-added rate-limited (per-key exponential
  backoff). API and transport errors are logged as one line; anything else
  (a bug) with its traceback. Only cancellation ends a worker.

Every timer reads the injectable clock of the :class:`ControllerContext`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pinnace.client import (
    REAL_CLOCK,
    ApiError,
    Client,
    Clock,
    EventRecorder,
    Informer,
    Obj,
    RateLimiter,
    ResourceLike,
    SharedInformerFactory,
    TransportError,
    WorkQueue,
    key_of,
)

__all__ = ["DETAIL", "Controller", "ControllerContext", "Handler", "Requeue", "WorkLoop"]

#: upstream's V(2) log level (the same number as ``pinnace.cli.logs.DETAIL``): steady-state
#: detail such as "deleting X", shown with ``--v=2``
DETAIL = 15

#: How long a controller waits for its caches before saying so in the log.
SYNC_WARN_AFTER = 30.0


@dataclass(frozen=True, slots=True)
class Requeue:
    """Returned by a handler: process the key again later, without counting an error.

    ``after`` seconds from now, or, when ``None``, after the queue's rate-limited
    backoff for the key (which keeps growing until the key is handled cleanly).
    """

    after: float | None = None


Handler = Callable[[str], Awaitable[Requeue | None]]


@dataclass
class ControllerContext:
    """What every controller is built from (upstream's ``ControllerContext``)."""

    client: Client
    informers: SharedInformerFactory
    clock: Clock = REAL_CLOCK
    #: the ``reportingInstance`` of the events controllers record
    host: str = field(default_factory=socket.gethostname)
    #: per-controller worker counts overriding each controller's ``WORKERS``
    workers: Mapping[str, int] = field(default_factory=dict)


@dataclass(eq=False)
class WorkLoop:
    """One work queue, the coroutine that handles its keys, and how many workers run it."""

    name: str
    queue: WorkQueue[str]
    handler: Handler
    workers: int


class Controller(ABC):
    """Informers → keys → rate-limited work queue → N workers → ``reconcile(key)``."""

    #: the name in the controller table and in ``--controllers``
    NAME: ClassVar[str]
    #: the event source (``source.component``) of the events it records
    EVENT_COMPONENT: ClassVar[str] = ""
    #: default number of workers of the main work loop
    WORKERS: ClassVar[int] = 1

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.clock = ctx.clock
        self.informer_factory = ctx.informers
        self.log = logging.getLogger(f"pinnace.controllers.{self.NAME}")
        self.recorder = EventRecorder(
            ctx.client, self.EVENT_COMPONENT or f"{self.NAME}-controller", ctx.host, clock=ctx.clock
        )
        #: set once the caches have synced and the workers are about to start
        self.ready = asyncio.Event()
        self._informers: list[Informer] = []
        self._loops: list[WorkLoop] = []
        self.queue = self.add_work_loop(
            self.NAME,
            self.reconcile,
            ctx.workers.get(self.NAME, self.WORKERS),
            rate_limiter=self.rate_limiter(),
        )

    def rate_limiter(self) -> RateLimiter[str] | None:
        """The main queue's retry limiter (None: client-go's default controller limiter,
        5 ms doubling to 1000 s per key, 10 qps overall). Called from ``__init__``."""
        return None

    # --- wiring (called from a subclass's __init__) -------------------------------------

    def informer(self, resource: ResourceLike, **kwargs: Any) -> Informer:
        """The shared informer for ``resource``, started and synced by :meth:`run`."""
        inf = self.informer_factory.informer(resource, **kwargs)
        if inf not in self._informers:
            self._informers.append(inf)
        return inf

    def add_work_loop(
        self,
        name: str,
        handler: Handler,
        workers: int = 1,
        *,
        rate_limiter: RateLimiter[str] | None = None,
    ) -> WorkQueue[str]:
        """Add a work queue whose keys ``workers`` tasks pass to ``handler``."""
        queue: WorkQueue[str] = WorkQueue(name, clock=self.clock, rate_limiter=rate_limiter)
        self._loops.append(WorkLoop(name, queue, handler, max(1, workers)))
        return queue

    def enqueue(self, obj: Obj) -> None:
        """Event-handler helper: queue the object's ``namespace/name`` key."""
        self.queue.add(key_of(obj))

    def enqueue_handlers(self, informer: Informer) -> None:
        """Queue the key of every object the informer reports (added, updated, deleted)."""
        informer.add_event_handler(
            on_add=self.enqueue,
            on_update=lambda _old, new: self.enqueue(new),
            on_delete=self.enqueue,
        )

    # --- the work ------------------------------------------------------------------------

    @abstractmethod
    async def reconcile(self, key: str) -> Requeue | None:
        """Drive the object named by ``key`` towards its desired state."""

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """Extra coroutines to run for the controller's lifetime (event sources that are
        not shared informers). They run in the controller's task group."""
        return []

    async def wait_for_sync(self) -> None:
        """Wait until every cache the workers read has synced (subclasses add theirs)."""
        waits = [asyncio.ensure_future(inf.wait_synced()) for inf in self._informers]
        if not waits:
            return
        _, pending = await asyncio.wait(waits, timeout=SYNC_WARN_AFTER)
        if pending:
            names = [inf.resource.plural for inf in self._informers if not inf.has_synced()]
            self.log.warning("%s: still waiting for caches to sync: %s", self.NAME, names)
            await asyncio.gather(*pending)

    # --- lifecycle -----------------------------------------------------------------------

    async def run(self) -> None:
        """Start informers and sources, wait for sync, run the workers until cancelled."""
        try:
            async with asyncio.TaskGroup() as tg:
                for coro in self.background():
                    tg.create_task(coro, name=f"{self.NAME}-source")
                for inf in self._informers:
                    inf.start()
                await self.wait_for_sync()
                workers = sum(loop.workers for loop in self._loops)
                self.log.info("%s: caches synced, starting %d workers", self.NAME, workers)
                self.ready.set()
                for loop in self._loops:
                    for i in range(loop.workers):
                        tg.create_task(self._work(loop), name=f"{loop.name}-worker-{i}")
        finally:
            for loop in self._loops:
                loop.queue.shutdown()
            await self.recorder.stop(flush=True, timeout=1.0)

    async def _work(self, loop: WorkLoop) -> None:
        queue = loop.queue
        async for key in queue:
            try:
                result = await loop.handler(key)
            except asyncio.CancelledError:
                raise
            except (ApiError, TransportError) as e:
                self.log.warning(
                    "%s: error syncing %r (retry %d): %s",
                    loop.name,
                    key,
                    queue.num_requeues(key) + 1,
                    e,
                )
                queue.add_rate_limited(key)
            except Exception:
                self.log.exception(
                    "%s: error syncing %r (retry %d)", loop.name, key, queue.num_requeues(key) + 1
                )
                queue.add_rate_limited(key)
            else:
                if result is None:
                    queue.forget(key)
                elif result.after is None:
                    queue.add_rate_limited(key)
                else:
                    queue.add_after(key, result.after)
            finally:
                queue.done(key)
