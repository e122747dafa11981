"""Informers: a local cache of one resource kept current by list+watch, with
event handlers — the read side of every controller.

* :class:`Store` is the indexed cache (``get(key)``, ``list()``,
  ``by_index(name, value)``); the ``namespace`` index is always there and custom
  indexers (``obj -> [values]``) can be added at any time.
* :class:`Informer` runs a :class:`~pinnace.client.watch.Reflector` and applies
  what it reports to the store, then calls the handlers: ``on_add(obj)``,
  ``on_update(old, new)``, ``on_delete(obj)``. After a relist, objects still
  present get ``on_update`` and vanished ones ``on_delete`` (with their last known
  state), as client-go does. Every ``resync_period`` seconds each cached object
  is re-delivered as ``on_update(obj, obj)`` so level-triggered controllers heal
  missed work. A handler added to a running informer first gets ``on_add`` for
  everything already cached.
* :class:`SharedInformerFactory` hands out one informer per (resource,
  namespace, selectors) so that every controller in a process shares one watch
  and one cache.

Concurrency model: one event loop; the informer is one task (plus a resync
task). Handlers run inline in that task, one event at a time, in order; they
may be plain functions or coroutines. They should be quick (enqueue a key);
an exception in a handler is logged and does not stop the informer. Objects
handed to handlers and returned by the store are shared: do not mutate them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pinnace import aio
from pinnace.client.clock import REAL_CLOCK, Clock
from pinnace.client.objects import Obj, ResourceLike, key_of, namespace_of, split_key
from pinnace.client.rest import Client
from pinnace.client.watch import DELETED, Reflector, WatchEvent

__all__ = [
    "NAMESPACE_INDEX",
    "EventHandler",
    "IndexFunc",
    "Informer",
    "SharedInformerFactory",
    "Store",
    "key_of",
    "namespace_index",
    "split_key",
]

log = logging.getLogger(__name__)

IndexFunc = Callable[[Obj], Iterable[str]]
_Objs = list[Obj]  # aliases: the classes below have a ``list`` method shadowing the builtin
_Strs = list[str]
NAMESPACE_INDEX = "namespace"


Transform = Callable[[Obj], Obj]


def trim_for_cache(obj: Obj) -> Obj:
    """An informer transform: forget ``metadata.managedFields``, which no
    controller reads and which is often the largest part of an object (as
    kube-controller-manager and kube-scheduler trim them); and share equal
    short strings between cached objects (see :func:`_intern_strings`)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    _intern_strings(obj)
    return obj


#: strings up to this long are shared between cached objects
_INTERN_MAX = 64


def _intern_strings(node: dict[str, Any] | list[Any]) -> None:
    """Replace every short string value below ``node`` with the one shared
    copy (``sys.intern``). A JSON decoder makes a new string for every value,
    so 10,000 pods of one ReplicaSet hold 10,000 copies of its image, labels,
    condition types, phases and the like; sharing them makes a cached pod
    about a third smaller."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for k, v in items:
        if type(v) is str:
            if len(v) <= _INTERN_MAX:
                node[k] = sys.intern(v)  # type: ignore[index]
        elif type(v) is dict or type(v) is list:
            _intern_strings(v)


def namespace_index(obj: Obj) -> list[str]:
    """client-go ``MetaNamespaceIndexFunc`` (``""`` for cluster-scoped objects)."""
    return [namespace_of(obj)]


class Store:
    """An indexed ``key -> object`` cache. Not safe across threads (one loop)."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: namespace_index}
        # index name -> value -> keys
        self._indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        if indexers:
            self.add_indexers(indexers)

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        for name, fn in indexers.items():
            if name in self._indexers and self._indexers[name] is not fn:
                raise ValueError(f"indexer {name!r} already exists")
            self._indexers[name] = fn
            index: dict[str, set[str]] = {}
            self._indices[name] = index
            for key, obj in self._items.items():
                for value in fn(obj):
                    index.setdefault(value, set()).add(key)

    def _index(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                index.setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]

    def _reindex(self, key: str, old: Obj, new: Obj) -> None:
        """Move ``key`` in the indexes whose values differ between ``old`` and ``new``
        (most updates change none: the index sets keep the key string the item
        dict already holds, instead of a second copy)."""
        for name, fn in self._indexers.items():
            before, after = list(fn(old)), list(fn(new))
            if before == after:
                continue
            index = self._indices[name]
            for value in before:
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
            for value in after:
                index.setdefault(value, set()).add(key)

    def put(self, obj: Obj) -> Obj | None:
        """Add or replace ``obj``; return the previous object under its key."""
        key = key_of(obj)
        old = self._items.get(key)
        self._items[key] = obj
        if old is None:
            self._index(key, obj)
        else:
            self._reindex(key, old, obj)
        return old

    def remove(self, key: str) -> Obj | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def replace(self, objs: Iterable[Obj]) -> None:
        self._items = {}
        self._indices = {name: {} for name in self._indexers}
        for obj in objs:
            self.put(obj)

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def get_by_name(self, namespace: str | None, name: str) -> Obj | None:
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def list(self) -> list[Obj]:
        return list(self._items.values())

    def keys(self) -> _Strs:
        return list(self._items)

    def by_index(self, index_name: str, value: str) -> _Objs:
        return [self._items[k] for k in sorted(self.index_keys(index_name, value))]

    def index_keys(self, index_name: str, value: str) -> set[str]:
        if index_name not in self._indices:
            raise KeyError(f"no indexer named {index_name!r}")
        return set(self._indices[index_name].get(value, ()))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items


OnAdd = Callable[[Obj], object]
OnUpdate = Callable[[Obj, Obj], object]
OnDelete = Callable[[Obj], object]


@dataclass(eq=False)
class EventHandler:
    """A handler registration (returned by :meth:`Informer.add_event_handler`)."""

    on_add: OnAdd | None = None
    on_update: OnUpdate | None = None
    on_delete: OnDelete | None = None


async def _call(fn: Callable[..., object], *args: Obj) -> None:
    try:
        result = fn(*args)
        if inspect.isawaitable(result):
            await result
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("informer event handler %r failed", fn)


class Informer:
    """list+watch cache of one resource (optionally one namespace / selection)."""

    def __init__(
        self,
        client: Client,
        resource: ResourceLike,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_period: float | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        clock: Clock = REAL_CLOCK,
        watch_timeout: float = 300.0,
        transform: Transform | None = None,
    ) -> None:
        self.client = client
        self.resource = resource
        #: applied to every object before it is stored or handed to handlers
        #: (client-go's ``SetTransform``), e.g. :func:`trim_for_cache`
        self.transform = transform
        # a transform with ``transform_with_previous(obj, previous)`` (e.g.
        # :class:`~pinnace.client.compact.CacheCompactor`) also gets the cached
        # version the object replaces
        self._transform_prev: Callable[[Obj, Obj | None], Obj] | None = getattr(
            transform, "transform_with_previous", None
        )
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_period = resync_period
        self.clock = clock
        self.store = Store(indexers)
        self.reflector = Reflector(
            client,
            resource,
            self,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            clock=clock,
            watch_timeout=watch_timeout,
            name=f"informer {resource.plural}",
        )
        self._handlers: list[EventHandler] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- handlers & indexers -------------------------------------------------------------

    def add_event_handler(
        self,
        on_add: OnAdd | None = None,
        on_update: OnUpdate | None = None,
        on_delete: OnDelete | None = None,
    ) -> EventHandler:
        handler = EventHandler(on_add, on_update, on_delete)
        self._handlers.append(handler)
        if self._task is not None and on_add is not None and len(self.store):
            # catch the late handler up with what is cached, before any newer event
            items = self.store.list()
            self._task.get_loop().create_task(self._replay(handler, items))
        return handler

    async def _replay(self, handler: EventHandler, items: list[Obj]) -> None:
        assert handler.on_add is not None
        for obj in items:
            await _call(handler.on_add, obj)

    def remove_event_handler(self, handler: EventHandler) -> None:
        self._handlers.remove(handler)

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        self.store.add_indexers(indexers)

    # --- cache access --------------------------------------------------------------------

    def get(self, key: str) -> Obj | None:
        return self.store.get(key)

    def list(self) -> list[Obj]:
        return self.store.list()

    def by_index(self, index_name: str, value: str) -> _Objs:
        return self.store.by_index(index_name, value)

    @property
    def last_sync_resource_version(self) -> str:
        return self.reflector.last_resource_version

    def has_synced(self) -> bool:
        """True once the first list has been stored and delivered to the handlers."""
        return self._synced.is_set()

    async def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait (real time) for the first sync; False on timeout."""
        try:
            await aio.wait_for(self._synced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._task is not None

    def start(self) -> asyncio.Task[None]:
        """Run the informer as a task (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self.run(), name=f"informer-{self.resource.plural}"
            )
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def run(self) -> None:
        """List+watch (and resync) until cancelled."""
        resync: asyncio.Task[None] | None = None
        if self.resync_period:
            resync = asyncio.get_running_loop().create_task(self._resync_loop())
        try:
            await self.reflector.run()
        finally:
            if resync is not None:
                resync.cancel()

    async def _resync_loop(self) -> None:
        """Re-deliver the cache every ``resync_period`` (read each round, so a factory
        may shorten it; set it before ``start`` to enable resync at all)."""
        await self._synced.wait()
        while self.resync_period and self.resync_period > 0:
            await self.clock.sleep(self.resync_period)
            for obj in self.store.list():
                await self._dispatch_update(obj, obj)

    # --- ReflectorHandler ----------------------------------------------------------------

    async def replace(self, items: _Objs, resource_version: str) -> None:
        if self.transform is not None:
            items = [self._transformed(o) for o in items]
        old_items = {key_of(o): o for o in self.store.list()}
        self.store.replace(items)
        for obj in items:
            old = old_items.pop(key_of(obj), None)
            if old is None:
                await self._dispatch_add(obj)
            else:
                await self._dispatch_update(old, obj)
        for old in old_items.values():
            await self._dispatch_delete(old)
        self._synced.set()

    async def event(self, event: WatchEvent) -> None:
        obj = event.object
        if self.transform is not None and obj:
            obj = self._transformed(obj)
        if event.type == DELETED:
            old = self.store.remove(key_of(obj))
            await self._dispatch_delete(obj if obj else (old or {}))
            return
        old = self.store.put(obj)
        if old is None:
            await self._dispatch_add(obj)
        else:
            await self._dispatch_update(old, obj)

    def _transformed(self, obj: Obj) -> Obj:
        if self._transform_prev is not None:
            return self._transform_prev(obj, self.store.get(key_of(obj)))
        assert self.transform is not None
        return self.transform(obj)

    async def _dispatch_add(self, obj: Obj) -> None:
        for h in list(self._handlers):
            if h.on_add is not None:
                await _call(h.on_add, obj)

    async def _dispatch_update(self, old: Obj, new: Obj) -> None:
        for h in list(self._handlers):
            if h.on_update is not None:
                await _call(h.on_update, old, new)

    async def _dispatch_delete(self, obj: Obj) -> None:
        for h in list(self._handlers):
            if h.on_delete is not None:
                await _call(h.on_delete, obj)


_FactoryKey = tuple[str, str, str, str | None, str | None, str | None]


class SharedInformerFactory:
    """One :class:`Informer` per (resource, namespace, selectors), shared by every
    controller built on this factory."""

    def __init__(
        self,
        client: Client,
        *,
        resync_period: float | None = None,
        namespace: str | None = None,
        clock: Clock = REAL_CLOCK,
        transform: Transform | None = None,
    ) -> None:
        self.client = client
        self.resync_period = resync_period
        self.namespace = namespace
        self.clock = clock
        self.transform = transform
        self._informers: dict[_FactoryKey, Informer] = {}
        self._started = False

    def informer(
        self,
        resource: ResourceLike,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_period: float | None = None,
    ) -> Informer:
        ns = namespace if namespace is not None else self.namespace
        if not resource.namespaced:
            ns = None
        key: _FactoryKey = (
            resource.group,
            resource.version,
            resource.plural,
            ns,
            label_selector or None,
            field_selector or None,
        )
        period = resync_period if resync_period is not None else self.resync_period
        inf = self._informers.get(key)
        if inf is None:
            inf = Informer(
                self.client,
                resource,
                namespace=ns,
                label_selector=label_selector,
                field_selector=field_selector,
                resync_period=period,
                clock=self.clock,
                transform=self.transform,
            )
            self._informers[key] = inf
            if self._started:
                inf.start()
        elif period and (not inf.resync_period or period < inf.resync_period):
            inf.resync_period = period  # the shortest requested period wins
        return inf

    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    def start(self) -> None:
        """Start every informer created so far (and any created later)."""
        self._started = True
        for inf in self._informers.values():
            inf.start()

    async def wait_for_cache_sync(self, timeout: float | None = None) -> bool:
        """Wait until every informer has synced; False on timeout."""
        waits = [inf.wait_synced() for inf in self._informers.values()]
        try:
            await aio.wait_for(asyncio.gather(*waits), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        self._started = False
        await asyncio.gather(*(inf.stop() for inf in self._informers.values()))
