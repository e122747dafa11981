"""Serving a watch: replay from the watch cache (or, for a resourceVersion
older than the cache's window, from the Backend's history), then stream live
events as JSON lines over a chunked response until the client goes away or
``timeoutSeconds`` passes. Bookmarks are sent when asked for."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from pinnace.api.schema import Resource
from pinnace.apiserver import errors, tables
from pinnace.apiserver.cache import (
    CacheEvent,
    Entry,
    Predicate,
    TooOldError,
    filter_event,
    make_entry,
)
from pinnace.apiserver.handlers import build_predicate
from pinnace.apiserver.negotiation import Accept
from pinnace.apiserver.registry import ResourceStore
from pinnace.storage import CompactedError

if TYPE_CHECKING:
    from pinnace.apiserver.server import ApiServer

log = logging.getLogger("pinnace.apiserver.watch")

Obj = dict[str, Any]


def _parse_rv(v: str) -> int | None:
    if v in ("", "0"):
        return None
    try:
        n = int(v)
    except ValueError:
        raise errors.bad_request(
            f'resourceVersion: Invalid value: "{v}": must be a number'
        ) from None
    if n < 0:
        raise errors.bad_request(f'resourceVersion: Invalid value: "{v}": must be non-negative')
    return n


async def serve_watch(
    request: web.Request,
    server: ApiServer,
    resource: Resource,
    store: ResourceStore,
    ns: str,
    name: str,
    accept: Accept,
) -> web.StreamResponse:
    q = request.query
    pred = build_predicate(resource, q, store)
    if name:
        base = pred

        def by_name(e: Entry) -> bool:
            return e.fields.get("metadata.name") == name and (base is None or base(e))

        pred = by_name
    start = _parse_rv(q.get("resourceVersion", ""))
    timeout_s = q.get("timeoutSeconds")
    try:
        timeout = (
            float(timeout_s) if timeout_s else server.min_request_timeout * (1 + random.random())
        )
    except ValueError:
        raise errors.bad_request(f"invalid timeoutSeconds: {timeout_s!r}") from None
    bookmarks = q.get("allowWatchBookmarks", "").lower() in ("true", "1")
    include = q.get("includeObject", "Metadata")
    key_prefix = store.list_prefix(ns)

    expired: errors.ApiError | None = None
    source: AsyncIterator[CacheEvent] | None = None
    initial: list[CacheEvent] = []
    watcher = None
    try:
        watcher, initial = store.cache.subscribe(start, pred, key_prefix)
    except TooOldError as e:
        assert start is not None
        source, expired = await _history_source(store, key_prefix, start, pred)
        if expired is None:
            log.debug(
                "watch %s from %d served from storage history (%s)", resource.plural, start, e
            )

    resp = web.StreamResponse(
        status=200, headers={"Content-Type": "application/json", "Cache-Control": "no-cache"}
    )
    resp.enable_chunked_encoding()
    await resp.prepare(request)

    first_table = [True]
    plain = not (accept.table or accept.partial_metadata or store.converts)

    def encode_obj(ev_type: str, obj: Obj) -> bytes:
        if store.converts and ev_type not in ("BOOKMARK", "ERROR"):
            obj = store.out(obj)
        if accept.table and ev_type in ("ADDED", "MODIFIED", "DELETED"):
            t = tables.table(resource, [obj], include_object=include)
            if not first_table[0]:
                t["columnDefinitions"] = None
            first_table[0] = False
            obj = t
        elif accept.partial_metadata and ev_type in ("ADDED", "MODIFIED", "DELETED"):
            obj = tables.partial_metadata(obj)
        return orjson.dumps({"type": ev_type, "object": obj}) + b"\n"

    def encode(ev: CacheEvent) -> bytes:
        if plain:
            return ev.line()  # shared by every watcher of this event
        return encode_obj(ev.type, ev.object)

    try:
        if expired is not None:
            await resp.write(encode_obj("ERROR", expired.status()))
            return resp
        async with asyncio.timeout(timeout):
            if initial:
                await resp.write(b"".join(encode(ev) for ev in initial))
            if watcher is not None:
                await _stream(
                    resp,
                    encode,
                    encode_obj,
                    watcher.queue,
                    start,
                    bookmarks,
                    server,
                    resource,
                    store,
                )
            elif source is not None:
                async for ev in source:
                    await resp.write(encode(ev))
    except TimeoutError:
        pass
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        if watcher is not None:
            watcher.close()
        if source is not None:
            with contextlib.suppress(Exception):
                await source.aclose()  # type: ignore[attr-defined]
    with contextlib.suppress(Exception):
        await resp.write_eof()
    return resp


async def _stream(
    resp: web.StreamResponse,
    encode: Callable[[CacheEvent], bytes],
    encode_obj: Callable[[str, Obj], bytes],
    queue: asyncio.Queue[CacheEvent | None],
    start: int | None,
    bookmarks: bool,
    server: ApiServer,
    resource: Resource,
    store: ResourceStore,
) -> None:
    interval = server.bookmark_interval
    while True:
        try:
            async with asyncio.timeout(interval if bookmarks else None):
                ev = await queue.get()
        except TimeoutError:
            bm = {
                "kind": resource.kind,
                "apiVersion": resource.api_version,
                "metadata": {"resourceVersion": str(store.cache.revision)},
            }
            await resp.write(encode_obj("BOOKMARK", bm))
            continue
        if ev is None:
            return
        if start is not None and ev.revision <= start:
            continue
        chunk = [encode(ev)]
        # drain what is already queued into one write
        while not queue.empty():
            nxt = queue.get_nowait()
            if nxt is None:
                await resp.write(b"".join(chunk))
                return
            chunk.append(encode(nxt))
        await resp.write(b"".join(chunk))


async def _history_source(
    store: ResourceStore, key_prefix: str, start: int, pred: Predicate | None
) -> tuple[AsyncIterator[CacheEvent] | None, errors.ApiError | None]:
    """Events after ``start`` from the Backend's history (older than the
    cache's window), or a 410 when storage compacted them away."""
    gen = store.backend.watch(key_prefix, start + 1)
    it = gen.__aiter__()
    try:
        first = await it.__anext__()
    except CompactedError as e:
        return None, errors.gone(f"too old resource version: {start} ({e.compact_revision + 1})")
    except StopAsyncIteration:
        return None, None
    cache = store.cache

    async def events() -> AsyncIterator[CacheEvent]:
        batch = first
        while True:
            for sev in batch:
                prev = (
                    make_entry(
                        cache.decode(sev.prev_kv.value, sev.prev_kv.mod_revision),
                        sev.prev_kv.mod_revision,
                        cache.fields_fn,
                    )
                    if sev.prev_kv is not None and sev.prev_kv.value
                    else None
                )
                rev = sev.kv.mod_revision
                if sev.type == "DELETE":
                    if sev.kv.value:
                        entry = make_entry(cache.decode(sev.kv.value, rev), rev, cache.fields_fn)
                    elif prev is not None:
                        entry = make_entry(prev.obj(), rev, cache.fields_fn)
                    else:
                        continue
                    cev = CacheEvent("DELETED", sev.kv.key, entry, prev, rev)
                else:
                    entry = make_entry(cache.decode(sev.kv.value, rev), rev, cache.fields_fn)
                    created = sev.kv.create_revision == rev
                    cev = CacheEvent(
                        "ADDED" if created else "MODIFIED", sev.kv.key, entry, prev, rev
                    )
                out = filter_event(cev, pred) if pred else cev
                if out is not None:
                    yield out
            try:
                batch = await it.__anext__()
            except StopAsyncIteration:
                return

    return events(), None
