"""The watch cache: one in-memory mirror per storage prefix, fed by a single
storage watch, that serves gets, lists and watches without touching the
database.

What it keeps per object is an ``Entry``: the object's JSON bytes (with
``metadata.resourceVersion`` set) plus the few values selectors need (labels
and field-selector fields). Objects are decoded to dicts only when a request
needs one (a Table row, an update, a conversion). Keeping bytes rather than
dicts makes the cache about five times smaller, lets GET and LIST answer by
copying bytes, and lets a watch event be encoded once for every watcher.

Concurrency model: one asyncio task per cache reads the backend watch and
applies each batch of events to ``entries`` and the bounded ``history``
window, then hands each event to every subscribed watcher's queue
(synchronously, on the event loop, so watchers see events in revision order
with no gaps). A watcher whose queue overflows is closed (the client sees the
stream end and re-watches from its last resourceVersion), as upstream does
with slow watchers, so one slow reader never stalls the rest.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from sortedcontainers import SortedList

from pinnace.storage import Backend, CompactedError, Event

log = logging.getLogger("pinnace.apiserver.cache")

EventType = Literal["ADDED", "MODIFIED", "DELETED"]
Obj = dict[str, Any]
# field-selector values of an object (metadata.name, metadata.namespace, ...)
FieldsFn = Callable[[Obj], dict[str, str]]
# the at-rest transformation of stored values (encryption later)
ValueDecoder = Callable[[bytes], bytes]
#: what a backend wrapper hands, followed by the reason, in place of a value it
#: could not read (pinnace.apiserver.encryption): the cache keeps the reason
UNREADABLE = b"\x00unreadable:"


def default_fields(obj: Obj) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    return {"metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", "")}


def _identity(value: bytes) -> bytes:
    return value


@dataclass(slots=True)
class Entry:
    """One object as cached: its JSON and what selectors look at."""

    raw: bytes
    revision: int
    labels: dict[str, str]
    fields: dict[str, str]

    def obj(self) -> Obj:
        """A fresh dict of the object (callers may change it)."""
        result: Obj = orjson.loads(self.raw)
        return result


def make_entry(obj: Obj, revision: int, fields_fn: FieldsFn) -> Entry:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    meta["resourceVersion"] = str(revision)
    # orjson hands back a bytes object with its whole growth buffer (4 or 8 KiB
    # for a 2 KiB pod); the cache keeps it for the object's lifetime, so keep
    # an exact-size copy instead (one memcpy).
    raw = memoryview(orjson.dumps(obj)).tobytes()
    # The entry outlives the decoded object: give it its own small dicts of
    # interned strings (values repeat across objects: namespaces, node names,
    # phases) instead of pinning pieces of the decoded object in memory.
    labels = {_intern(k): _intern(v) for k, v in (meta.get("labels") or {}).items()}
    fields = {_intern(k): _intern(v) for k, v in fields_fn(obj).items()}
    return Entry(raw, revision, labels, fields)


def _intern(v: Any) -> Any:
    return sys.intern(v) if type(v) is str else v


@dataclass(slots=True)
class CacheEvent:
    type: EventType
    key: str
    entry: Entry
    prev: Entry | None
    revision: int
    _line: bytes | None = field(default=None, repr=False)

    @property
    def object(self) -> Obj:
        return self.entry.obj()

    def line(self) -> bytes:
        """The JSON watch-event line, built once and shared by every watcher."""
        if self._line is None:
            self._line = (
                b'{"type":"' + self.type.encode() + b'","object":' + self.entry.raw + b"}\n"
            )
        return self._line


class TooOldError(Exception):
    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


Predicate = Callable[[Entry], bool]


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
        out = ev if self._predicate is None else filter_event(ev, self._predicate)
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


def filter_event(ev: CacheEvent, pred: Predicate) -> CacheEvent | None:
    """Upstream's filtering of watch events by selector: an object that starts
    matching is ADDED, one that stops matching is DELETED."""
    before = ev.prev is not None and pred(ev.prev)
    if ev.type == "DELETED":
        return ev if before or pred(ev.entry) else None
    now = pred(ev.entry)
    if ev.type == "ADDED":
        return ev if now else None
    if now and before:
        return ev
    if now and not before:
        return CacheEvent("ADDED", ev.key, ev.entry, ev.prev, ev.revision)
    if before and not now:
        return CacheEvent("DELETED", ev.key, ev.entry, ev.prev, ev.revision)
    return None


class WatchCache:
    def __init__(
        self,
        backend: Backend,
        prefix: str,
        *,
        window: int = 10000,
        watcher_capacity: int = 10000,
        fields_fn: FieldsFn = default_fields,
        value_decoder: ValueDecoder = _identity,
    ) -> None:
        self.backend = backend
        self.prefix = prefix
        self.entries: dict[str, Entry] = {}
        # the same keys, sorted, so namespace lists and pages cost O(log n + k)
        self._keys: SortedList = SortedList()
        self.revision = 0  # newest revision applied
        self.history: deque[CacheEvent] = deque(maxlen=window)
        self.start_revision = 0  # revision the initial list was read at
        self._watchers: set[Watcher] = set()
        self._watcher_capacity = watcher_capacity
        self.fields_fn = fields_fn
        self._value_decoder = value_decoder
        # keys whose stored value cannot be read, with the reason (see UNREADABLE)
        self.unreadable: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        # key -> (the value being written, the object it encodes): see expect()
        self._expected: dict[str, tuple[bytes, Obj]] = {}
        self._progress = asyncio.Condition()
        self.ready = asyncio.Event()

    # -- decoding -------------------------------------------------------------

    def decode(self, value: bytes, revision: int) -> Obj:
        """A stored value as an object dict with its resourceVersion."""
        obj: Obj = orjson.loads(self._value_decoder(value))
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        meta["resourceVersion"] = str(revision)
        return obj

    def _entry(self, value: bytes, revision: int) -> Entry:
        return make_entry(orjson.loads(self._value_decoder(value)), revision, self.fields_fn)

    def _load(self, key: str, value: bytes, revision: int) -> Entry | None:
        """The entry of a stored value, or None (and the reason kept in
        ``unreadable``) when the backend could not read it."""
        try:
            entry = self._entry(value, revision)
        except orjson.JSONDecodeError:
            if not value.startswith(UNREADABLE):
                raise
            reason = value[len(UNREADABLE) :].decode(errors="replace")
            if self.unreadable.get(key) != reason:
                log.error("cannot read %s: %s", key, reason)
            self.unreadable[key] = reason
            return None
        if self.unreadable:
            self.unreadable.pop(key, None)
        return entry

    # -- write hints ----------------------------------------------------------

    def expect(self, key: str, value: bytes, obj: Obj) -> None:
        """A write of ``value`` to ``key`` is under way and ``value`` encodes
        ``obj`` (as stored: the storage version, before any at-rest
        transformation). When the write's own event arrives, with that very
        bytes object, the entry is made from ``obj`` instead of decoding the
        value again: one JSON decode less per write. ``obj`` is not changed
        (the entry is built from a copy of its metadata). The writer must not
        change ``obj`` until it calls :meth:`forget`, right after
        :meth:`wait_for`."""
        self._expected[key] = (value, obj)

    def forget(self, key: str, value: bytes) -> None:
        """The write of ``value`` is over: drop its hint if its event never came."""
        hint = self._expected.get(key)
        if hint is not None and hint[0] is value:
            del self._expected[key]

    def _hinted_entry(self, key: str, value: bytes, revision: int) -> Entry | None:
        hint = self._expected.pop(key, None)
        if hint is None or hint[0] is not value:
            return None  # another writer's value (or another server's)
        obj = hint[1]
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            return None
        # as a decode of the stored value would give it: no resourceVersion
        # yet (make_entry appends it), everything else in the same order
        meta = {k: v for k, v in meta.items() if k != "resourceVersion"}
        return make_entry({**obj, "metadata": meta}, revision, self.fields_fn)

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        res = await self.backend.range(self.prefix)
        for kv in res.kvs:
            entry = self._load(kv.key, kv.value, kv.mod_revision)
            if entry is not None:
                self.entries[kv.key] = entry
        self._keys = SortedList(self.entries)
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
        self.unreadable = {}
        loaded = ((kv.key, self._load(kv.key, kv.value, kv.mod_revision)) for kv in res.kvs)
        self.entries = {key: entry for key, entry in loaded if entry is not None}
        self._keys = SortedList(self.entries)
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
            prev = self.entries.get(key)
            rev = ev.kv.mod_revision
            if ev.type == "DELETE":
                if self.unreadable:
                    self.unreadable.pop(key, None)
                if ev.kv.value and not ev.kv.value.startswith(UNREADABLE):
                    entry = self._entry(ev.kv.value, rev)
                elif prev is not None:
                    entry = make_entry(prev.obj(), rev, self.fields_fn)
                else:
                    self.revision = max(self.revision, rev)
                    continue
                if self.entries.pop(key, None) is not None:
                    self._keys.discard(key)
                cev = CacheEvent("DELETED", key, entry, prev, rev)
            else:
                loaded = None
                if self._expected:
                    loaded = self._hinted_entry(key, ev.kv.value, rev)
                    if loaded is not None and self.unreadable:
                        self.unreadable.pop(key, None)
                if loaded is None:
                    loaded = self._load(key, ev.kv.value, rev)
                if loaded is None:
                    # unreadable now: not served (reads of it answer the reason)
                    if self.entries.pop(key, None) is not None:
                        self._keys.discard(key)
                    self.revision = max(self.revision, rev)
                    continue
                entry = loaded
                self.entries[key] = entry
                if prev is None:
                    self._keys.add(key)
                cev = CacheEvent("ADDED" if prev is None else "MODIFIED", key, entry, prev, rev)
            self.revision = max(self.revision, rev)
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

    def get_entry(self, key: str) -> Entry | None:
        return self.entries.get(key)

    def get(self, key: str) -> Obj | None:
        """A fresh dict of the object at ``key`` (None if absent)."""
        e = self.entries.get(key)
        return e.obj() if e is not None else None

    def list_keys(self, prefix: str = "", start: str = "") -> list[str]:
        """Keys under ``prefix``, sorted, from ``start`` (inclusive) on."""
        if not prefix or prefix == self.prefix:
            if not start:
                return list(self._keys)
            return list(self._keys.irange(minimum=start))
        lo = max(prefix, start) if start else prefix
        return list(self._keys.irange(minimum=lo, maximum=prefix + "\U0010ffff"))

    def list_objects(self, prefix: str = "") -> list[Obj]:
        """Fresh dicts of the objects under ``prefix`` (full key prefix), by key."""
        entries = self.entries
        return [entries[k].obj() for k in self.list_keys(prefix)]

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
                e = self.entries[key]
                if predicate is None or predicate(e):
                    initial.append(CacheEvent("ADDED", key, e, None, e.revision))
        else:
            oldest = self.oldest_replayable()
            if start_revision < oldest:
                raise TooOldError(start_revision, oldest + 1)
            for ev in self.history:
                if ev.revision > start_revision and (
                    not key_prefix or ev.key.startswith(key_prefix)
                ):
                    fev = filter_event(ev, predicate) if predicate else ev
                    if fev is not None:
                        initial.append(fev)
        w = Watcher(self, predicate, key_prefix, self._watcher_capacity)
        self._watchers.add(w)
        return w, initial
