"""SQLite-only behaviour: durability (close/reopen, kill -9), group commit, the
in-batch ordering of guards, background compaction, the single-opener lock."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pinnace.storage import (
    ConflictError,
    KeyExistsError,
    KeyNotFoundError,
    StorageError,
)
from pinnace.storage.sqlite import SqliteBackend


@contextlib.asynccontextmanager
async def opened(path: Path, **kwargs: Any) -> AsyncIterator[SqliteBackend]:
    store = SqliteBackend(str(path), **kwargs)
    await store.start()
    try:
        yield store
    finally:
        await store.close()


async def test_data_and_revisions_survive_close_and_reopen(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    async with opened(db, compact_interval=0) as store:
        a = await store.create("/a", b"1")
        a = await store.update("/a", b"2", a.mod_revision)
        await store.create("/b", b"x")
        deleted = await store.delete("/b")  # the newest row is a tombstone...
        await store.compact(deleted.mod_revision)  # ...which compaction removes
        last = await store.current_revision()
    async with opened(db, compact_interval=0) as store:
        assert await store.current_revision() == last  # not max(id) of what is left
        assert await store.compact_revision() == deleted.mod_revision
        assert await store.get("/a") == a
        assert await store.get("/b") is None
        fresh = await store.create("/c", b"")
        assert fresh.mod_revision == last + 1


_WRITER_CHILD = r"""
import asyncio, sys
from pinnace.storage.sqlite import SqliteBackend

async def main() -> None:
    store = SqliteBackend(sys.argv[1], compact_interval=0)
    await store.start()

    async def writer(w: int) -> None:
        i = 0
        while True:
            kv = await store.create(f"/k/{w}/{i}", b"v" * 100)
            sys.stdout.write(f"{kv.key} {kv.mod_revision}\n")
            sys.stdout.flush()
            i += 1

    await asyncio.gather(*(writer(w) for w in range(16)))

asyncio.run(main())
"""


async def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _WRITER_CHILD,
        str(db),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    acked: dict[str, int] = {}
    try:
        async with asyncio.timeout(30):
            while len(acked) < 2000:  # SIGKILL mid-burst, well after start-up
                line = await child.stdout.readline()
                if not line:
                    raise AssertionError(f"writer died: {(await child.stderr.read()).decode()}")
                key, rev = line.decode().split()
                acked[key] = int(rev)
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGKILL)
        await child.wait()
    assert child.returncode == -signal.SIGKILL
    rest = await child.stdout.read()  # acknowledged before the kill, still in the pipe
    for text in rest.decode().splitlines(keepends=True):
        if text.endswith("\n"):  # a complete line: printed after the ack
            key, rev = text.split()
            acked[key] = int(rev)

    async with opened(db, compact_interval=0) as store:
        listed = {kv.key: kv.mod_revision for kv in (await store.range("/k/")).kvs}
        missing = {k: r for k, r in acked.items() if listed.get(k) != r}
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {list(missing)[:5]}"
        newest = max(acked.values())
        assert await store.current_revision() >= newest
        after = await store.create("/k/after-restart", b"")
        assert after.mod_revision > max(listed.values())


async def test_group_commit_batches_concurrent_writes(tmp_path: Path) -> None:
    async with opened(tmp_path / "store.db", compact_interval=0) as store:
        before = store.write_stats
        await asyncio.gather(*(store.create(f"/k/{i}", b"v") for i in range(256)))
        stats = store.write_stats
        ops, batches = stats.ops - before.ops, stats.batches - before.batches
        assert ops == 256
        assert batches < ops / 4, f"{ops} writes took {batches} commits"


async def test_guards_see_earlier_ops_of_the_same_batch(tmp_path: Path) -> None:
    async with opened(tmp_path / "store.db", compact_interval=0) as store:
        r = await store.current_revision()
        # Queued back to back (FIFO), so typically applied in one transaction;
        # each guard must see the writes queued before it either way.
        results = await asyncio.gather(
            store.create("/a", b"1"),
            store.update("/a", b"2", r + 1),
            store.create("/a", b"dup"),
            store.delete("/a", r + 2),
            store.update("/a", b"3", r + 3),
            store.create("/a", b"4"),
            return_exceptions=True,
        )
        assert [type(x).__name__ for x in results] == [
            "KeyValue",
            "KeyValue",
            "KeyExistsError",
            "KeyValue",
            "KeyNotFoundError",
            "KeyValue",
        ]
        assert isinstance(results[2], KeyExistsError)
        assert isinstance(results[4], KeyNotFoundError)
        kv = await store.get("/a")
        assert kv is not None and kv.value == b"4" and kv.mod_revision == r + 4


async def test_a_failed_guard_does_not_fail_its_batch(tmp_path: Path) -> None:
    async with opened(tmp_path / "store.db", compact_interval=0) as store:
        base = await store.create("/x", b"0")
        results = await asyncio.gather(
            *(store.update("/x", str(i).encode(), base.mod_revision) for i in range(8)),
            *(store.create(f"/y/{i}", b"") for i in range(8)),
            return_exceptions=True,
        )
        assert sum(isinstance(x, ConflictError) for x in results[:8]) == 7
        assert not any(isinstance(x, BaseException) for x in results[8:])


async def test_background_compaction_keeps_the_last_revisions(tmp_path: Path) -> None:
    async with opened(tmp_path / "store.db", compact_interval=0.05, compact_keep=10) as store:
        kv = await store.create("/a", b"0")
        for i in range(1, 50):
            kv = await store.update("/a", str(i).encode(), kv.mod_revision)
        target = kv.mod_revision - 10
        for _ in range(500):  # the compactor runs every 50 ms
            if await store.compact_revision() >= target:
                break
            await asyncio.sleep(0.02)
        assert await store.compact_revision() == target
        assert await store.get("/a") == kv
        assert (await store.get("/a", revision=target)) is not None
    with contextlib.closing(sqlite3.connect(tmp_path / "store.db")) as conn:
        (rows,) = conn.execute("SELECT COUNT(*) FROM kv").fetchone()
    assert rows == 11  # the row at the compact revision and the 10 after it


async def test_a_large_compaction_runs_in_chunks(tmp_path: Path) -> None:
    async with opened(tmp_path / "store.db", compact_interval=0) as store:
        kvs = await asyncio.gather(*(store.create(f"/k/{i}", b"") for i in range(2500)))
        await asyncio.gather(*(store.delete(kv.key) for kv in kvs[:2000]))
        before = store.write_stats.ops
        await store.compact(await store.current_revision())
        assert store.write_stats.ops - before >= 5  # 1000 revisions per chunk
        listed = await store.range("/k/")
        assert [kv.key for kv in listed.kvs] == sorted(kv.key for kv in kvs[2000:])


async def test_the_database_file_can_be_opened_once(tmp_path: Path) -> None:
    async with opened(tmp_path / "store.db", compact_interval=0):
        second = SqliteBackend(str(tmp_path / "store.db"))
        with pytest.raises(StorageError, match="already open"):
            await second.start()
    async with opened(tmp_path / "store.db", compact_interval=0):
        pass  # the lock went away with the first backend


async def test_unopenable_path_is_a_storage_error(tmp_path: Path) -> None:
    store = SqliteBackend(str(tmp_path / "missing-dir" / "store.db"))
    with pytest.raises(StorageError, match="cannot open"):
        await store.start()


async def test_use_before_start_and_after_close(tmp_path: Path) -> None:
    store = SqliteBackend(str(tmp_path / "store.db"))
    with pytest.raises(StorageError):
        await store.create("/a", b"")
    await store.start()
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StorageError):
        await store.create("/a", b"")
    assert os.path.exists(tmp_path / "store.db")
