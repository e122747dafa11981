"""One behavioural suite for every storage backend (see conftest: each test runs
against SQLite and against a real 3-member etcd cluster)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from pinnace.storage import (
    Backend,
    CompactedError,
    ConflictError,
    Event,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    StorageError,
)


async def next_events(
    it: AsyncIterator[list[Event]], count: int, timeout: float = 10.0
) -> list[Event]:
    """At least ``count`` events from a watch (all the batches it took)."""
    events: list[Event] = []
    async with asyncio.timeout(timeout):
        while len(events) < count:
            batch = await anext(it)
            assert batch, "watch batches are never empty"
            events.extend(batch)
    return events


@contextlib.asynccontextmanager
async def watching(
    backend: Backend, prefix: str, start: int
) -> AsyncIterator[AsyncIterator[list[Event]]]:
    """A watch that is closed (``aclose``) when the block ends."""
    it = backend.watch(prefix, start)
    try:
        yield it
    finally:
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            await aclose()


def summary(events: list[Event]) -> list[tuple[str, str, bytes, int]]:
    return [(e.type, e.kv.key, e.kv.value, e.revision) for e in events]


# ---------------------------------------------------------------- basics


async def test_fresh_store_has_a_positive_revision(backend: Backend) -> None:
    assert await backend.current_revision() >= 1


async def test_create_then_get(backend: Backend, prefix: str) -> None:
    kv = await backend.create(prefix + "a", b'{"x": 1}')
    assert kv.key == prefix + "a"
    assert kv.value == b'{"x": 1}'
    assert kv.create_revision == kv.mod_revision > 1
    assert await backend.get(prefix + "a") == kv
    assert await backend.current_revision() == kv.mod_revision


async def test_get_missing_is_none(backend: Backend, prefix: str) -> None:
    assert await backend.get(prefix + "nope") is None


async def test_values_are_bytes_verbatim(backend: Backend, prefix: str) -> None:
    blob = bytes(range(256)) * 4
    await backend.create(prefix + "blob", blob)
    await backend.create(prefix + "empty", b"")
    assert (kv := await backend.get(prefix + "blob")) and kv.value == blob
    assert (kv := await backend.get(prefix + "empty")) and kv.value == b""


async def test_create_existing_fails(backend: Backend, prefix: str) -> None:
    first = await backend.create(prefix + "a", b"1")
    with pytest.raises(KeyExistsError) as err:
        await backend.create(prefix + "a", b"2")
    assert err.value.key == prefix + "a"
    assert await backend.get(prefix + "a") == first


async def test_range_is_sorted_and_isolated_by_prefix(backend: Backend, prefix: str) -> None:
    for name in ["a/2", "a/10", "a/1", "a", "ab", "b/1", "a/é", "a0"]:
        await backend.create(prefix + name, name.encode())
    result = await backend.range(prefix + "a/")
    assert [kv.key for kv in result.kvs] == [prefix + n for n in ["a/1", "a/10", "a/2", "a/é"]]
    assert result.more is False
    assert result.revision == await backend.current_revision()
    everything = await backend.range(prefix)
    assert [kv.key for kv in everything.kvs] == sorted(
        prefix + n for n in ["a/2", "a/10", "a/1", "a", "ab", "b/1", "a/é", "a0"]
    )
    assert (await backend.range(prefix + "zzz/")).kvs == []


async def test_pagination_reads_one_consistent_revision(backend: Backend, prefix: str) -> None:
    names = [f"k{i:02d}" for i in range(7)]
    for name in names:
        await backend.create(prefix + name, name.encode())
    page = await backend.range(prefix, limit=3)
    at = page.revision
    seen = [kv.key for kv in page.kvs]
    assert page.more
    # Writes between pages must not show up in later pages of the same list.
    await backend.delete(prefix + "k05")
    await backend.create(prefix + "k03a", b"late")
    pages = 1
    while page.more:
        start = page.kvs[-1].key + "\0"
        page = await backend.range(prefix, revision=at, limit=3, start_key=start)
        assert page.revision == at
        seen += [kv.key for kv in page.kvs]
        pages += 1
    assert seen == [prefix + n for n in names]
    assert pages == 3
    latest = await backend.range(prefix)
    assert [kv.key for kv in latest.kvs] == [
        prefix + n for n in ["k00", "k01", "k02", "k03", "k03a", "k04", "k06"]
    ]


async def test_limit_exactly_matching_has_no_more(backend: Backend, prefix: str) -> None:
    for i in range(3):
        await backend.create(f"{prefix}{i}", b"")
    page = await backend.range(prefix, limit=3)
    assert len(page.kvs) == 3 and page.more is False


# ---------------------------------------------------------------- guarded writes


async def test_update_with_the_right_revision(backend: Backend, prefix: str) -> None:
    created = await backend.create(prefix + "a", b"1")
    updated = await backend.update(prefix + "a", b"2", created.mod_revision)
    assert updated.value == b"2"
    assert updated.create_revision == created.create_revision
    assert updated.mod_revision == created.mod_revision + 1
    assert await backend.get(prefix + "a") == updated


async def test_update_with_a_stale_revision_conflicts(backend: Backend, prefix: str) -> None:
    created = await backend.create(prefix + "a", b"1")
    updated = await backend.update(prefix + "a", b"2", created.mod_revision)
    with pytest.raises(ConflictError) as err:
        await backend.update(prefix + "a", b"3", created.mod_revision)
    assert err.value.current == updated
    assert await backend.get(prefix + "a") == updated


async def test_update_missing_or_deleted_key(backend: Backend, prefix: str) -> None:
    with pytest.raises(KeyNotFoundError):
        await backend.update(prefix + "nope", b"1", 2)
    with pytest.raises(KeyNotFoundError):
        await backend.update(prefix + "nope", b"1", 0)
    created = await backend.create(prefix + "a", b"1")
    await backend.delete(prefix + "a")
    with pytest.raises(KeyNotFoundError):
        await backend.update(prefix + "a", b"2", created.mod_revision)


async def test_delete_unguarded(backend: Backend, prefix: str) -> None:
    created = await backend.create(prefix + "a", b"last")
    deleted = await backend.delete(prefix + "a")
    assert deleted.key == prefix + "a"
    assert deleted.value == b"last"
    assert deleted.create_revision == created.create_revision
    assert deleted.mod_revision == created.mod_revision + 1
    assert await backend.get(prefix + "a") is None
    with pytest.raises(KeyNotFoundError):
        await backend.delete(prefix + "a")


async def test_delete_guarded(backend: Backend, prefix: str) -> None:
    created = await backend.create(prefix + "a", b"1")
    updated = await backend.update(prefix + "a", b"2", created.mod_revision)
    with pytest.raises(ConflictError) as err:
        await backend.delete(prefix + "a", created.mod_revision)
    assert err.value.current == updated
    deleted = await backend.delete(prefix + "a", updated.mod_revision)
    assert deleted.value == b"2" and deleted.mod_revision == updated.mod_revision + 1
    with pytest.raises(KeyNotFoundError):
        await backend.delete(prefix + "a", deleted.mod_revision)


async def test_recreate_after_delete_is_a_new_key(backend: Backend, prefix: str) -> None:
    first = await backend.create(prefix + "a", b"1")
    await backend.delete(prefix + "a")
    again = await backend.create(prefix + "a", b"2")
    assert again.create_revision == again.mod_revision > first.create_revision
    assert await backend.get(prefix + "a") == again


async def test_every_write_bumps_the_revision_by_one(backend: Backend, prefix: str) -> None:
    start = await backend.current_revision()
    a = await backend.create(prefix + "a", b"1")
    b = await backend.update(prefix + "a", b"2", a.mod_revision)
    c = await backend.delete(prefix + "a")
    with pytest.raises(KeyNotFoundError):
        await backend.delete(prefix + "a")  # failed writes do not bump it
    d = await backend.create(prefix + "b", b"1")
    assert [a.mod_revision, b.mod_revision, c.mod_revision, d.mod_revision] == [
        start + 1,
        start + 2,
        start + 3,
        start + 4,
    ]
    assert await backend.current_revision() == start + 4


# ---------------------------------------------------------------- history


async def test_reads_at_an_old_revision(backend: Backend, prefix: str) -> None:
    a1 = await backend.create(prefix + "a", b"a1")
    b1 = await backend.create(prefix + "b", b"b1")
    await backend.update(prefix + "a", b"a2", a1.mod_revision)
    await backend.delete(prefix + "b")
    await backend.create(prefix + "c", b"c1")
    old = await backend.range(prefix, revision=b1.mod_revision)
    assert old.revision == b1.mod_revision
    assert old.kvs == [a1, b1]
    assert await backend.get(prefix + "a", revision=b1.mod_revision) == a1
    assert await backend.get(prefix + "b", revision=b1.mod_revision) == b1
    assert await backend.get(prefix + "c", revision=b1.mod_revision) is None
    assert await backend.get(prefix + "a", revision=a1.mod_revision - 1) is None
    assert [kv.value for kv in (await backend.range(prefix)).kvs] == [b"a2", b"c1"]


async def test_future_revision(backend: Backend, prefix: str) -> None:
    future = await backend.current_revision() + 100
    with pytest.raises(FutureRevisionError):
        await backend.get(prefix + "a", revision=future)
    with pytest.raises(FutureRevisionError):
        await backend.range(prefix, revision=future)
    with pytest.raises(FutureRevisionError):
        await backend.compact(future)


async def test_compaction_keeps_the_latest_values(backend: Backend, prefix: str) -> None:
    a = await backend.create(prefix + "a", b"0")
    for i in range(1, 6):
        a = await backend.update(prefix + "a", str(i).encode(), a.mod_revision)
    await backend.create(prefix + "gone", b"x")
    await backend.delete(prefix + "gone")
    c = await backend.create(prefix + "c", b"c")
    old = c.mod_revision - 3
    await backend.create(prefix + "d", b"d")  # newer than the compact revision
    target = c.mod_revision
    await backend.compact(target)
    assert await backend.compact_revision() == target

    latest = await backend.range(prefix)
    assert [(kv.key, kv.value) for kv in latest.kvs] == [
        (prefix + "a", b"5"),
        (prefix + "c", b"c"),
        (prefix + "d", b"d"),
    ]
    assert await backend.get(prefix + "a") == a
    # Reading AT the compact revision still works; below it does not.
    at_c = await backend.range(prefix, revision=target)
    assert [kv.key for kv in at_c.kvs] == [prefix + "a", prefix + "c"]
    with pytest.raises(CompactedError) as err:
        await backend.range(prefix, revision=old)
    assert err.value.compact_revision == target
    with pytest.raises(CompactedError):
        await backend.get(prefix + "a", revision=old)

    await backend.compact(target - 1)  # older than the compact revision: no-op
    assert await backend.compact_revision() == target
    more = await backend.update(prefix + "a", b"6", a.mod_revision)
    assert (await backend.get(prefix + "a")) == more


# ---------------------------------------------------------------- watch


async def test_watch_replays_history_then_follows_live(backend: Backend, prefix: str) -> None:
    w1 = await backend.create(prefix + "a", b"1")
    w2 = await backend.update(prefix + "a", b"2", w1.mod_revision)
    w3 = await backend.create(prefix + "b", b"3")
    async with watching(backend, prefix, w2.mod_revision) as it:
        replayed = await next_events(it, 2)
        assert summary(replayed) == [
            ("PUT", prefix + "a", b"2", w2.mod_revision),
            ("PUT", prefix + "b", b"3", w3.mod_revision),
        ]
        w4 = await backend.delete(prefix + "a")
        w5 = await backend.create(prefix + "c", b"5")
        live = await next_events(it, 2)
        assert summary(live) == [
            ("DELETE", prefix + "a", b"2", w4.mod_revision),
            ("PUT", prefix + "c", b"5", w5.mod_revision),
        ]


async def test_watch_event_shapes(backend: Backend, prefix: str) -> None:
    start = await backend.current_revision() + 1
    created = await backend.create(prefix + "a", b"1")
    updated = await backend.update(prefix + "a", b"2", created.mod_revision)
    deleted = await backend.delete(prefix + "a")
    recreated = await backend.create(prefix + "a", b"3")
    async with watching(backend, prefix, start) as it:
        events = await next_events(it, 4)
    assert events == [
        Event("PUT", created, None),
        Event("PUT", updated, created),
        Event("DELETE", deleted, updated),
        Event("PUT", recreated, None),
    ]
    assert deleted == KeyValue(
        prefix + "a", b"2", created.create_revision, updated.mod_revision + 1
    )


async def test_watch_filters_by_prefix(backend: Backend, prefix: str) -> None:
    start = await backend.current_revision() + 1
    async with watching(backend, prefix + "in/", start) as it:
        await backend.create(prefix + "out/1", b"")
        await backend.create(prefix + "in", b"")  # the prefix without its slash
        await backend.create(prefix + "in0", b"")
        mine = await backend.create(prefix + "in/1", b"")
        events = await next_events(it, 1)
        assert [e.kv for e in events] == [mine]


async def test_watch_from_now(backend: Backend, prefix: str) -> None:
    await backend.create(prefix + "before", b"")
    async with watching(backend, prefix, 0) as it:
        # The watch is established on the first iteration; write meanwhile.
        first = asyncio.ensure_future(anext(it))
        await asyncio.sleep(0.2)
        after = await backend.create(prefix + "after", b"")
        batch = await asyncio.wait_for(first, 10)
        assert [e.kv for e in batch] == [after]


async def test_watch_orders_concurrent_writes(backend: Backend, prefix: str) -> None:
    async def writer(w: int) -> list[int]:
        kv = await backend.create(f"{prefix}{w}", b"0")
        revs = [kv.mod_revision]
        for i in range(1, 8):
            kv = await backend.update(kv.key, str(i).encode(), kv.mod_revision)
            revs.append(kv.mod_revision)
        return revs

    start = await backend.current_revision() + 1
    async with watching(backend, prefix, start) as it:
        results = await asyncio.gather(*(writer(w) for w in range(12)))
        acked = sorted(r for revs in results for r in revs)
        events = await next_events(it, len(acked))
    assert [e.revision for e in events] == acked  # each exactly once, in order
    for w in range(12):  # and per key in write order
        values = [e.kv.value for e in events if e.kv.key == f"{prefix}{w}"]
        assert values == [str(i).encode() for i in range(8)]


async def test_watch_started_during_writes_has_no_gap_or_duplicate(
    backend: Backend, prefix: str
) -> None:
    """The race between replaying history and following live events."""
    acked: list[int] = []
    stop = asyncio.Event()
    some, many = asyncio.Event(), asyncio.Event()

    async def writer(w: int) -> None:
        i = 0
        while not stop.is_set():
            kv = await backend.create(f"{prefix}{w}/{i}", b"")
            acked.append(kv.mod_revision)
            if len(acked) >= 20:
                some.set()
            if len(acked) >= 200:
                many.set()
            i += 1

    writers = [asyncio.create_task(writer(w)) for w in range(4)]
    try:
        async with asyncio.timeout(20):
            await some.wait()
            start = sorted(acked)[10]
            async with watching(backend, prefix, start) as it:
                seen = [e.revision for e in await next_events(it, 1)]
                await many.wait()
                stop.set()
                await asyncio.gather(*writers)
                expected = sorted(r for r in acked if r >= start)
                seen += [e.revision for e in await next_events(it, len(expected) - len(seen))]
        assert seen == expected
    finally:
        stop.set()
        for t in writers:
            t.cancel()
        await asyncio.gather(*writers, return_exceptions=True)


async def test_watch_from_a_compacted_revision(backend: Backend, prefix: str) -> None:
    a = await backend.create(prefix + "a", b"1")
    for i in range(3):
        a = await backend.update(prefix + "a", str(i).encode(), a.mod_revision)
    target = a.mod_revision - 1
    await backend.compact(target)
    for start in (target - 2, target):
        with pytest.raises(CompactedError) as err:
            async for _ in backend.watch(prefix, start):
                pytest.fail("a watch on compacted history must not yield")
        assert err.value.compact_revision == target
    # From right after the compact revision, history is complete.
    async with watching(backend, prefix, target + 1) as it:
        assert [e.kv for e in await next_events(it, 1)] == [a]


async def test_close_ends_watches(backend_factory: Callable[[], Backend], prefix: str) -> None:
    store = backend_factory()
    await store.start()
    try:
        received: list[Event] = []
        got = asyncio.Event()

        async def consume() -> None:
            async for batch in store.watch(prefix, 0):
                received.extend(batch)
                got.set()

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.2)
        kv = await store.create(prefix + "a", b"")
        await asyncio.wait_for(got.wait(), 10)
        await store.close()
        await asyncio.wait_for(task, 10)  # ended, without error
        assert [e.kv for e in received] == [kv]
        with pytest.raises(StorageError):
            await store.get(prefix + "a")
    finally:
        await store.close()


# ---------------------------------------------------------------- concurrency


async def test_concurrent_creates_get_distinct_revisions(backend: Backend, prefix: str) -> None:
    async def writer(w: int) -> list[KeyValue]:
        return [await backend.create(f"{prefix}{w}/{i}", b"v") for i in range(4)]

    results = [kv for kvs in await asyncio.gather(*(writer(w) for w in range(64))) for kv in kvs]
    revisions = [kv.mod_revision for kv in results]
    assert len(set(revisions)) == len(revisions) == 256
    listed = await backend.range(prefix)
    assert sorted(kv.mod_revision for kv in listed.kvs) == sorted(revisions)


async def test_concurrent_updates_have_one_winner(backend: Backend, prefix: str) -> None:
    base = await backend.create(prefix + "a", b"0")

    async def attempt(i: int) -> KeyValue | None:
        with contextlib.suppress(ConflictError):
            return await backend.update(prefix + "a", str(i).encode(), base.mod_revision)
        return None

    results = await asyncio.gather(*(attempt(i) for i in range(16)))
    winners = [kv for kv in results if kv is not None]
    assert len(winners) == 1
    assert await backend.get(prefix + "a") == winners[0]
