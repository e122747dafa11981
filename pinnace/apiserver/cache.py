"""The watch cache: one in-memory mirror per resource type, fed by a single
storage watch, that serves gets, lists and watches without touching the
database.

Concurrency model: one asyncio task per cache reads the backend watch and
applies each batch of events to ``objects`` and the bounded ``history``
window, then hands each event to every subscribed watcher's queue
(synchronously, on the event loop, so watchers see events in revision order
with no gaps). A watcher whose queue overflows is closed (the client sees the
stream end and re-watches from its last resourceVersion), as upstream does
with slow watchers, so one slow reader never stalls the rest.

Objects in the cache are shared dicts: treat them as read-only and copy
before changing anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from sortedcontainers import SortedList

from pinnace.storage import Backend, CompactedError, Event

log = logging.getLogger("pinnace.apiserver.cache")

EventType = Literal["ADDED", "MODIFIED", "DELETED"]
Decoder = Callable[[bytes, int], dict[str, Any]]


def default_decoder(value: bytes, revision: int) -> dict[str, Any]:
    obj: dict[str, Any] = orjson.loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return obj


@dataclass(slots=True)
class CacheEvent:
    type: EventType
    key: str
    object: dict[str, Any]
    prev: dict[str, Any] | None
    revision: int


class TooOldError(Exception):
    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


Predicate = Callable[[dict[str, Any]], bool]


class Watcher:
    """One client's subscription. Iterate to receive events; ``close()`` to stop."""

    def __init__(
        self, cache: WatchCache, predicate: Predicate | None, key_prefix: str, capacity: int
    ) -> None:
        self._cache = cache
        self._predicate = predicate
        self._key_prefix = key_prefix
        self.queue: asyncio.Queue[CacheEvent | None] = asyncio.Queue(capacity)
        self.closed = False
        self.last_revision = 0

    def _offer(self, ev: CacheEvent) -> None:
        if self.closed or (self._key_prefix and not ev.key.startswith(self._key_prefix)):
            return
        out = ev if self._predicate is None else _filter_event(ev, self._predicate)
        if out is None:
            return
        try:
            self.queue.put_nowait(out)
        except asyncio.QueueFull:
            log.info("closing slow watcher on %s", self._cache.prefix)
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._cache._watchers.discard(self)
        # wake the reader; make room if needed
        while True:
            try:
                self.queue.put_nowait(None)
                break
            except asyncio.QueueFull:
                self.queue.get_nowait()

    def __aiter__(self) -> AsyncIterator[CacheEvent]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[CacheEvent]:
        while True:
            ev = await self.queue.get()
            if ev is None:
                return
            self.last_revision = ev.revision
            yield ev


def _filter_event(ev: CacheEvent, pred: Predicate) -> CacheEvent | None:
    """Upstream's filtering of watch events by selector: an object that starts
    matching is ADDED, one that stops matching is DELETED."""
    now = pred(ev.object) if ev.type != "DELETED" else False
    before = ev.prev is not None and pred(ev.prev)
    if ev.type == "DELETED":
        return ev if before or pred(ev.object) else None
    if ev.type == "ADDED":
        return ev if now else None
    if now and before:
        return ev
    if now and not before:
        return CacheEvent("ADDED", ev.key, ev.object, ev.prev, ev.revision)
    if before and not now:
        return CacheEvent("DELETED", ev.key, ev.object, ev.prev, ev.revision)
    return None


class WatchCache:
    def __init__(
        self,
        backend: Backend,
        prefix: str,
        *,
        window: int = 10000,
        watcher_capacity: int = 10000,
        decoder: Decoder = default_decoder,
    ) -> None:
        self.backend = backend
        self.prefix = prefix
        self.objects: dict[str, dict[str, Any]] = {}
        # the same keys, sorted, so namespace lists and pages cost O(log n + k)
        self._keys: SortedList = SortedList()
        self.revision = 0  # newest revision applied
        self.history: deque[CacheEvent] = deque(maxlen=window)
        self.start_revision = 0  # revision the initial list was read at
        self._watchers: set[Watcher] = set()
        self._watcher_capacity = watcher_capacity
        self._decode = decoder
        self._task: asyncio.Task[None] | None = None
        self._progress = asyncio.Condition()
        self.ready = asyncio.Event()

    async def start(self) -> None:
        res = await self.backend.range(self.prefix)
        for kv in res.kvs:
            self.objects[kv.key] = self._decode(kv.value, kv.mod_revision)
        self._keys = SortedList(self.objects)
        self.revision = res.revision
        self.start_revision = res.revision
        self._task = asyncio.create_task(self._run(res.revision + 1), name=f"cache {self.prefix}")
        self.ready.set()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        for w in list(self._watchers):
            w.close()

    async def _run(self, from_revision: int) -> None:
        while True:
            try:
                async for batch in self.backend.watch(self.prefix, from_revision):
                    self._apply(batch)
                    from_revision = self.revision + 1
                return
            except asyncio.CancelledError:
                raise
            except CompactedError:
                log.warning("cache %s fell behind compaction; relisting", self.prefix)
                await self._relist()
                from_revision = self.revision + 1
            except Exception:
                log.exception("watch on %s failed; retrying", self.prefix)
                await asyncio.sleep(1.0)

    async def _relist(self) -> None:
        res = await self.backend.range(self.prefix)
        fresh = {kv.key: self._decode(kv.value, kv.mod_revision) for kv in res.kvs}
        self.objects = fresh
        self._keys = SortedList(fresh)
        self.history.clear()
        self.start_revision = res.revision
        self.revision = res.revision
        # watchers cannot be given a gap-free stream: close them, clients re-watch
        for w in list(self._watchers):
            w.close()
        await self._notify()

    def _apply(self, batch: list[Event]) -> None:
        for ev in batch:
            key = ev.kv.key
            prev = self.objects.get(key)
            if ev.type == "DELETE":
                obj = self._decode(ev.kv.value, ev.kv.mod_revision) if ev.kv.value else prev
                if obj is None:
                    continue
                if self.objects.pop(key, None) is not None:
                    self._keys.discard(key)
                cev = CacheEvent("DELETED", key, obj, prev, ev.kv.mod_revision)
            else:
                obj = self._decode(ev.kv.value, ev.kv.mod_revision)
                self.objects[key] = obj
                if prev is None:
                    self._keys.add(key)
                cev = CacheEvent(
                    "ADDED" if prev is None else "MODIFIED", key, obj, prev, ev.kv.mod_revision
                )
            self.revision = max(self.revision, ev.kv.mod_revision)
            self.history.append(cev)
            for w in list(self._watchers):
                w._offer(cev)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    async def wait_for(self, revision: int, timeout: float = 5.0) -> bool:
        """Wait until the cache has applied ``revision`` (read-your-writes)."""
        if self.revision >= revision:
            return True
        try:
            async with asyncio.timeout(timeout):
                async with self._progress:
                    await self._progress.wait_for(lambda: self.revision >= revision)
            return True
        except TimeoutError:
            log.warning(
                "cache %s did not reach revision %d in %.1fs", self.prefix, revision, timeout
            )
            return False

    # -- reads --------------------------------------------------------------

    def get(self, key: str) -> dict[str, Any] | None:
        return self.objects.get(key)

    def list_objects(self, prefix: str = "") -> list[dict[str, Any]]:
        """Objects under ``prefix`` (full key prefix), sorted by key."""
        objs = self.objects
        return [objs[k] for k in self.list_keys(prefix)]

    def list_keys(self, prefix: str = "", start: str = "") -> list[str]:
        """Keys under ``prefix``, sorted, from ``start`` (inclusive) on."""
        if not prefix or prefix == self.prefix:
            if not start:
                return list(self._keys)
            return list(self._keys.irange(minimum=start))
        lo = max(prefix, start) if start else prefix
        return list(self._keys.irange(minimum=lo, maximum=prefix + "\U0010ffff"))

    # -- watches ------------------------------------------------------------

    def oldest_replayable(self) -> int:
        """Watches may start from any revision >= this."""
        if self.history and len(self.history) == self.history.maxlen:
            return self.history[0].revision - 1
        return self.start_revision

    def subscribe(
        self,
        start_revision: int | None,
        predicate: Predicate | None = None,
        key_prefix: str = "",
    ) -> tuple[Watcher, list[CacheEvent]]:
        """Subscribe and return the events to deliver first: for
        ``start_revision`` None, synthetic ADDED events for every current object;
        else the history after ``start_revision``. Raises TooOldError when the
        window no longer covers ``start_revision`` (caller may fall back to the
        backend's history)."""
        initial: list[CacheEvent] = []
        if start_revision is None:
            for key in self.list_keys(key_prefix):
                obj = self.objects[key]
                if predicate is None or predicate(obj):
                    rv = int(obj["metadata"].get("resourceVersion") or 0)
                    initial.append(CacheEvent("ADDED", key, obj, None, rv))
        else:
            oldest = self.oldest_replayable()
            if start_revision < oldest:
                raise TooOldError(start_revision, oldest + 1)
            for ev in self.history:
                if ev.revision > start_revision and (
                    not key_prefix or ev.key.startswith(key_prefix)
                ):
                    fev = _filter_event(ev, predicate) if predicate else ev
                    if fev is not None:
                        initial.append(fev)
        w = Watcher(self, predicate, key_prefix, self._watcher_capacity)
        self._watchers.add(w)
        return w, initial
