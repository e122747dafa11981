"""Watching: one watch stream as an async iterator, and the list+watch loop.

:func:`watch` opens ``?watch=true`` and yields :class:`WatchEvent` ``(type,
object)`` tuples as the chunked JSON-lines stream delivers them (``ADDED``,
``MODIFIED``, ``DELETED``, ``BOOKMARK``). An ``ERROR`` event raises its Status as
an :class:`~pinnace.client.errors.ApiError`; a 410 (resourceVersion too old)
raises :class:`~pinnace.client.errors.Gone`. The iterator ends when the server
closes the stream (``timeoutSeconds``). Close it early with ``aclose()`` (or
``contextlib.aclosing``) to release the connection at once.

:class:`Reflector` is client-go's reflector: list, hand the items to a
:class:`ReflectorHandler`, then watch from the list's resourceVersion; when a
watch ends (server timeout) or breaks (connection error) it resumes from the
last resourceVersion seen (objects and bookmarks); on 410 it lists again. Other
failures back off exponentially (0.8 s doubling to 30 s, jittered) on the
injected clock. It runs until cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, NamedTuple, Protocol

import orjson

from pinnace.client.clock import REAL_CLOCK, Clock
from pinnace.client.errors import ApiError, Gone, api_error
from pinnace.client.objects import Obj, ResourceLike, meta, resource_path, resource_version_of
from pinnace.client.transport import TransportError

if TYPE_CHECKING:
    from pinnace.client.rest import Client

__all__ = ["ADDED", "BOOKMARK", "DELETED", "MODIFIED", "Reflector", "ReflectorHandler",
           "WatchEvent", "watch"]  # fmt: skip

log = logging.getLogger(__name__)

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"
ERROR = "ERROR"


class WatchEvent(NamedTuple):
    type: str
    object: Obj


async def watch(
    client: Client,
    resource: ResourceLike,
    *,
    namespace: str | None = None,
    resource_version: str | None = None,
    label_selector: str | None = None,
    field_selector: str | None = None,
    timeout_seconds: int | None = None,
    allow_bookmarks: bool = True,
) -> AsyncGenerator[WatchEvent, None]:
    """Yield the events of one watch request (see the module docstring)."""
    params = {"watch": "true"}
    if resource_version:
        params["resourceVersion"] = resource_version
    if label_selector:
        params["labelSelector"] = label_selector
    if field_selector:
        params["fieldSelector"] = field_selector
    if timeout_seconds is not None:
        params["timeoutSeconds"] = str(int(timeout_seconds))
    if allow_bookmarks:
        params["allowWatchBookmarks"] = "true"
    ns = namespace if resource.namespaced else None
    # the server closes the stream at timeoutSeconds; give it slack before we give up
    timeout = None if timeout_seconds is None else timeout_seconds + 30.0
    async with client.stream(resource_path(resource, ns), params=params, timeout=timeout) as resp:
        async for line in resp.lines():
            try:
                ev = orjson.loads(line)
                type_ = str(ev["type"])
                obj = ev["object"]
            except (orjson.JSONDecodeError, KeyError, TypeError) as e:
                raise TransportError(f"malformed watch event {line[:200]!r}: {e}") from e
            if type_ == ERROR:
                status = obj if isinstance(obj, dict) else {"message": str(obj)}
                status.setdefault("code", 500)
                raise api_error(status)
            yield WatchEvent(type_, obj)


class ReflectorHandler(Protocol):
    async def replace(self, items: list[Obj], resource_version: str) -> None:
        """The complete current state (after every list)."""
        ...

    async def event(self, event: WatchEvent) -> None:
        """One ADDED/MODIFIED/DELETED event (bookmarks are absorbed)."""
        ...


class Reflector:
    """list + watch with resume and relist; see the module docstring."""

    def __init__(
        self,
        client: Client,
        resource: ResourceLike,
        handler: ReflectorHandler,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        clock: Clock = REAL_CLOCK,
        watch_timeout: float = 300.0,
        page_size: int | None = None,
        backoff_initial: float = 0.8,
        backoff_max: float = 30.0,
        name: str = "",
    ) -> None:
        self.client = client
        self.resource = resource
        self.handler = handler
        self.namespace = namespace if resource.namespaced else None
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.clock = clock
        self.watch_timeout = watch_timeout
        self.page_size = page_size
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.name = name or str(resource.plural)
        self.last_resource_version = ""
        self.lists = 0  # how many times we listed (for tests and metrics)
        self.watches = 0
        self._backoff = backoff_initial

    async def _sleep_backoff(self) -> None:
        delay = self._backoff * (1.0 + random.random() * 0.2)
        self._backoff = min(self._backoff * 2.0, self.backoff_max)
        await self.clock.sleep(delay)

    async def run(self) -> None:
        """List and watch until cancelled."""
        while True:
            try:
                await self._list()
                await self._watch_until_relist()
            except asyncio.CancelledError:
                raise
            except (ApiError, TransportError) as e:
                log.warning("%s: list/watch failed, backing off: %r", self.name, e)
                await self._sleep_backoff()

    async def _list(self) -> None:
        result = await self.client.list_all(
            self.resource,
            namespace=self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            page_size=self.page_size,
        )
        self.lists += 1
        rv = str(meta(result).get("resourceVersion") or "")
        await self.handler.replace(list(result.get("items") or []), rv)
        self.last_resource_version = rv
        self._backoff = self.backoff_initial

    async def _watch_until_relist(self) -> None:
        """Watch, resuming from the last resourceVersion; return when a relist is due."""
        while True:
            timeout = int(self.watch_timeout * (1.0 + random.random()))
            started = self.clock.now()
            got_events = False
            try:
                self.watches += 1
                stream = watch(
                    self.client,
                    self.resource,
                    namespace=self.namespace,
                    resource_version=self.last_resource_version or None,
                    label_selector=self.label_selector,
                    field_selector=self.field_selector,
                    timeout_seconds=timeout,
                )
                async with contextlib.aclosing(stream):
                    async for ev in stream:
                        got_events = True
                        rv = resource_version_of(ev.object)
                        if ev.type != BOOKMARK:
                            await self.handler.event(ev)
                        if rv:
                            self.last_resource_version = rv
                        self._backoff = self.backoff_initial
            except Gone as e:
                log.info("%s: watch expired (%s); relisting", self.name, e.message)
                return
            except TransportError as e:
                log.info("%s: watch broke (%r); resuming", self.name, e)
                await self._sleep_backoff()
                continue
            if not got_events and self.clock.now() - started < 1.0:
                # the server closed an empty stream at once: don't spin
                await self._sleep_backoff()
