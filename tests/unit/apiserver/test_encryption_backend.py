"""The encrypting Backend wrapper over a real SQLite backend, and the watch
cache's handling of values it cannot read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from pinnace.apiserver.cache import WatchCache
from pinnace.apiserver.encryption.backend import EncryptingBackend, write_prefix
from pinnace.apiserver.encryption.config import Key, Provider
from pinnace.apiserver.encryption.providers import provider_entry
from pinnace.apiserver.encryption.transformers import (
    Identity,
    PrefixTransformer,
    PrefixTransformers,
)
from pinnace.apiserver.errors import ApiError
from pinnace.storage import ConflictError
from pinnace.storage.sqlite import SqliteBackend

SECRETS = "/registry/core/secrets/"
K1, K2 = bytes(32), bytes(range(32))


def transformer(*keys: tuple[str, bytes], identity: bool = True) -> PrefixTransformers:
    entries = [provider_entry(Provider("aesgcm", tuple(Key(n, s) for n, s in keys)))]
    if identity:
        entries.append(PrefixTransformer(b"", Identity()))
    return PrefixTransformers(entries, "no matching prefix found")


def obj(name: str, value: str = "v") -> bytes:
    return orjson.dumps({"metadata": {"name": name, "namespace": "ns"}, "data": {"k": value}})


@pytest.fixture
async def inner(tmp_path: Path) -> AsyncIterator[SqliteBackend]:
    b = SqliteBackend(str(tmp_path / "state.db"), compact_interval=0)
    await b.start()
    try:
        yield b
    finally:
        await b.close()


async def test_writes_encrypted_reads_plain_other_prefixes_untouched(inner: SqliteBackend) -> None:
    b = EncryptingBackend(inner, {SECRETS: transformer(("k1", K1))})
    kv = await b.create(SECRETS + "ns/a", obj("a"))
    assert kv.value == obj("a")
    raw = await inner.get(SECRETS + "ns/a")
    assert raw is not None and raw.value.startswith(b"k8s:enc:aesgcm:v1:k1:")
    got = await b.get(SECRETS + "ns/a")
    assert got is not None and got.value == obj("a") and got.mod_revision == kv.mod_revision
    await b.create("/registry/core/configmaps/ns/a", obj("a"))
    raw = await inner.get("/registry/core/configmaps/ns/a")
    assert raw is not None and raw.value == obj("a")
    res = await b.range("/registry/")
    assert [kv.value for kv in res.kvs] == [obj("a"), obj("a")]
    upd = await b.update(SECRETS + "ns/a", obj("a", "w"), kv.mod_revision)
    with pytest.raises(ConflictError) as e:
        await b.update(SECRETS + "ns/a", obj("a", "x"), kv.mod_revision)
    assert e.value.current is not None and e.value.current.value == obj("a", "w")
    gone = await b.delete(SECRETS + "ns/a", upd.mod_revision)
    assert gone.value == obj("a", "w")
    assert write_prefix(transformer(("k1", K1))) == b"k8s:enc:aesgcm:v1:k1:"


async def test_watch_decrypts_and_marks_unreadable(inner: SqliteBackend) -> None:
    old = EncryptingBackend(inner, {SECRETS: transformer(("k1", K1))})
    await old.create(SECRETS + "ns/a", obj("a"))
    b = EncryptingBackend(inner, {SECRETS: transformer(("k2", K2))})
    start = await b.current_revision()
    stream = b.watch(SECRETS, start + 1)
    await b.create(SECRETS + "ns/b", obj("b"))
    await old.create(SECRETS + "ns/c", obj("c"))
    batches = []
    async with asyncio.timeout(10):
        async for batch in stream:
            batches.extend(batch)
            if len(batches) >= 2:
                break
    await stream.aclose()  # type: ignore[attr-defined]
    assert batches[0].kv.value == obj("b")
    assert batches[1].kv.value == (
        b"\x00unreadable:no matching key was found for the provided AES transformer"
    )
    res = await b.range(SECRETS)
    assert [kv.value.startswith(b"\x00unreadable:") for kv in res.kvs] == [True, False, True]
    with pytest.raises(ApiError) as e:
        await b.get(SECRETS + "ns/a")
    assert e.value.code == 500
    assert e.value.status()["message"] == (
        "Internal error occurred: no matching key was found for the provided AES transformer"
    )


async def test_stale_when_written_by_an_older_key_or_plain(inner: SqliteBackend) -> None:
    await inner.create(SECRETS + "ns/plain", obj("plain"))
    old = EncryptingBackend(inner, {SECRETS: transformer(("k1", K1))})
    await old.create(SECRETS + "ns/old", obj("old"))
    b = EncryptingBackend(inner, {SECRETS: transformer(("k2", K2), ("k1", K1))})
    await b.create(SECRETS + "ns/new", obj("new"))
    assert await b.stale(SECRETS + "ns/plain")
    assert await b.stale(SECRETS + "ns/old")
    assert not await b.stale(SECRETS + "ns/new")
    assert not await b.stale(SECRETS + "ns/missing")
    assert not await b.stale("/registry/core/configmaps/ns/x")


async def test_cache_keeps_unreadable_reasons_and_recovers(inner: SqliteBackend) -> None:
    old = EncryptingBackend(inner, {SECRETS: transformer(("k1", K1), identity=False)})
    a = await old.create(SECRETS + "ns/a", obj("a"))
    b = EncryptingBackend(inner, {SECRETS: transformer(("k2", K2), identity=False)})
    await b.create(SECRETS + "ns/b", obj("b"))
    cache = WatchCache(b, SECRETS)
    await cache.start()
    try:
        assert sorted(cache.entries) == [SECRETS + "ns/b"]
        assert cache.unreadable == {
            SECRETS + "ns/a": "no matching key was found for the provided AES transformer"
        }
        # an unreadable write arriving by watch drops the entry; a readable one restores it
        c = await b.create(SECRETS + "ns/c", obj("c"))
        c2 = await old.update(SECRETS + "ns/c", obj("c", "x"), c.mod_revision)
        assert await cache.wait_for(c2.mod_revision)
        assert SECRETS + "ns/c" not in cache.entries and SECRETS + "ns/c" in cache.unreadable
        a2 = await b.update(SECRETS + "ns/a", obj("a", "y"), a.mod_revision)
        assert await cache.wait_for(a2.mod_revision)
        assert SECRETS + "ns/a" not in cache.unreadable
        assert orjson.loads(cache.entries[SECRETS + "ns/a"].raw)["data"] == {"k": "y"}
        gone = await b.delete(SECRETS + "ns/c")
        assert await cache.wait_for(gone.mod_revision)
        assert cache.unreadable == {}
    finally:
        await cache.stop()
