"""The watch cache over a real SQLite backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from pinnace.apiserver.cache import Entry, TooOldError, WatchCache
from pinnace.storage import Backend, open_backend

PREFIX = "/registry/core/configmaps/"


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[Backend]:
    b = open_backend(f"sqlite://{tmp_path / 'db.sqlite'}")
    await b.start()
    try:
        yield b
    finally:
        await b.close()


def cm(name: str, labels: dict[str, str] | None = None) -> bytes:
    return orjson.dumps({"metadata": {"name": name, "namespace": "ns", "labels": labels or {}}})


async def test_initial_list_and_live_updates(backend: Backend) -> None:
    await backend.create(PREFIX + "ns/a", cm("a"))
    cache = WatchCache(backend, PREFIX)
    await cache.start()
    try:
        assert [o["metadata"]["name"] for o in cache.list_objects()] == ["a"]
        kv = await backend.create(PREFIX + "ns/b", cm("b"))
        assert await cache.wait_for(kv.mod_revision)
        assert cache.get(PREFIX + "ns/b")["metadata"]["resourceVersion"] == str(kv.mod_revision)
        # other prefixes are not mixed in
        await backend.create("/registry/core/secrets/ns/s", cm("s"))
        assert len(cache.list_objects()) == 2
    finally:
        await cache.stop()


async def test_watch_replay_and_selector_transitions(backend: Backend) -> None:
    cache = WatchCache(backend, PREFIX, window=100)
    await cache.start()
    try:
        k1 = await backend.create(PREFIX + "ns/a", cm("a", {"x": "1"}))
        start = k1.mod_revision
        k2 = await backend.update(PREFIX + "ns/a", cm("a", {"x": "2"}), k1.mod_revision)
        k3 = await backend.update(PREFIX + "ns/a", cm("a", {"x": "1"}), k2.mod_revision)
        await cache.wait_for(k3.mod_revision)

        def pred(e: Entry) -> bool:
            return e.labels.get("x") == "1"

        w, initial = cache.subscribe(start, pred)
        # leaving the selector is a DELETED, re-entering it an ADDED (upstream semantics)
        assert [e.type for e in initial] == ["DELETED", "ADDED"]
        k4 = await backend.delete(PREFIX + "ns/a")
        ev = await asyncio.wait_for(w.queue.get(), 5)
        assert ev is not None and ev.type == "DELETED" and ev.revision == k4.mod_revision
        w.close()
    finally:
        await cache.stop()


async def test_too_old_when_window_overflows(backend: Backend) -> None:
    cache = WatchCache(backend, PREFIX, window=3)
    await cache.start()
    try:
        first = await backend.create(PREFIX + "ns/0", cm("0"))
        last = first
        for i in range(1, 6):
            last = await backend.create(PREFIX + f"ns/{i}", cm(str(i)))
        await cache.wait_for(last.mod_revision)
        with pytest.raises(TooOldError):
            cache.subscribe(first.mod_revision - 1)
        w, initial = cache.subscribe(last.mod_revision - 1)
        assert [e.key for e in initial] == [PREFIX + "ns/5"]
        w.close()
    finally:
        await cache.stop()


async def test_slow_watcher_is_closed_not_blocking(backend: Backend) -> None:
    cache = WatchCache(backend, PREFIX, watcher_capacity=2)
    await cache.start()
    try:
        slow, _ = cache.subscribe(None)
        fast, _ = cache.subscribe(None)
        last = None
        for i in range(5):
            last = await backend.create(PREFIX + f"ns/{i}", cm(str(i)))
            got = await asyncio.wait_for(fast.queue.get(), 5)
            assert got is not None
        assert last is not None
        await cache.wait_for(last.mod_revision)
        assert slow.closed
        assert not fast.closed
    finally:
        await cache.stop()


async def test_a_writers_hint_replaces_the_decode_of_its_own_value(backend: Backend) -> None:
    cache = WatchCache(backend, PREFIX)
    await cache.start()
    try:
        key = PREFIX + "ns/a"
        obj = {"metadata": {"resourceVersion": "7", "name": "a", "namespace": "ns",
                            "labels": {"x": "1"}}, "data": {"k": "v"}}  # fmt: skip
        stored = {**obj, "metadata": {k: v for k, v in obj["metadata"].items()
                                      if k != "resourceVersion"}}  # fmt: skip
        value = orjson.dumps(stored)
        # the entry is the one a decode would give, byte for byte
        cache.expect(key, value, obj)
        kv = await backend.create(key, value)
        await cache.wait_for(kv.mod_revision)
        cache.forget(key, value)
        hinted = cache.get_entry(key)
        assert hinted is not None
        assert hinted.raw == orjson.dumps(
            {**stored, "metadata": {**stored["metadata"], "resourceVersion": str(kv.mod_revision)}}
        )
        assert hinted.labels == {"x": "1"}
        assert obj["metadata"]["resourceVersion"] == "7"  # the writer's object is not changed

        # the hint is what the entry is made of (shown with one that lies)
        value2 = cm("a", {"x": "2"})
        cache.expect(key, value2, {"metadata": {"name": "a", "namespace": "ns"}, "lie": True})
        kv2 = await backend.update(key, value2, kv.mod_revision)
        await cache.wait_for(kv2.mod_revision)
        assert cache.get(key)["lie"] is True

        # an equal value that is not the very bytes written is decoded
        value3 = cm("a", {"x": "3"})
        cache.expect(key, cm("a", {"x": "3"}), {"metadata": {"name": "a"}, "lie": True})
        kv3 = await backend.update(key, value3, kv2.mod_revision)
        await cache.wait_for(kv3.mod_revision)
        assert "lie" not in cache.get(key)
        assert cache.get(key)["metadata"]["labels"] == {"x": "3"}
        assert not cache._expected  # the event took the hint away

        # a write that never happened leaves nothing behind once forgotten
        value4 = cm("a", {"x": "4"})
        cache.expect(key, value4, {"metadata": {"name": "a"}})
        cache.forget(key, value4)
        assert not cache._expected
    finally:
        await cache.stop()
