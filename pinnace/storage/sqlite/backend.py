"""The embedded storage backend: an etcd-shaped log in one SQLite file.

Layout and write path: see ``schema`` (one append-only table, row id =
revision, kine style) and ``writer`` (one writer thread, group commit: one
transaction and one fsync for every write waiting at that moment).

Concurrency model:

* Writes: coroutines enqueue an op for the writer thread and await a future.
  The writer hands each committed batch back to the event loop (the one that
  called ``start``) with ``call_soon_threadsafe``; on the loop the batch's
  events are published to the watchers first, then the writers' futures are
  resolved, and the in-memory current / compact revisions advance.
* Reads: run on a small thread pool, each thread with its own read-only
  connection. WAL mode means a reader never waits for the writer (it reads the
  last committed snapshot) and the writer never waits for readers. Every read
  runs in one read transaction, so the revision checks (compacted? future?) and
  the query see the same snapshot.
* Watch: subscribe to live events first (buffered in the watcher's queue),
  then replay history rows with id >= start from the database in pages, then
  follow the buffered/live events, dropping any revision already delivered.
  An event committed before the replay's snapshot is in the replay; one
  committed after it is published after the subscription, so nothing falls in
  a gap, and the revision filter removes the overlap.
* Compaction: a background task every ``compact_interval`` seconds compacts to
  ``current - compact_keep``, in chunks of revisions that go through the writer
  like any write (so they interleave with traffic instead of stalling it). The
  compact revision is stored in the ``meta`` table in the same transaction as
  each chunk's deletions.

One backend instance per database file: a lock file (``<path>.lock``, flock)
refuses a second opener, since watchers only see writes made through their
own instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pinnace.storage.backend import (
    CompactedError,
    Event,
    FutureRevisionError,
    KeyValue,
    RangeResult,
    StorageError,
)
from pinnace.storage.keys import prefix_end, range_start
from pinnace.storage.sqlite.schema import (
    COLUMNS,
    Row,
    connect,
    event_of,
    init_schema,
    kv_of,
    revisions,
)
from pinnace.storage.sqlite.writer import Commit, CompactOp, KvOp, Writer

log = logging.getLogger(__name__)

T = TypeVar("T")

_REPLAY_PAGE = 1000  # history rows per replay query
_COMPACT_CHUNK = 1000  # revisions per compaction transaction


@dataclass(frozen=True, slots=True)
class WriteStats:
    """Group-commit statistics: ``ops / batches`` is the average batch size."""

    batches: int
    ops: int


class SqliteBackend:
    """``Backend`` on a local SQLite file (see the module docstring).

    ``compact_interval`` <= 0 turns the background compactor off (``compact``
    still works). ``read_threads`` is the size of the reader pool.
    """

    def __init__(
        self,
        path: str,
        *,
        compact_interval: float = 300.0,
        compact_keep: int = 1000,
        read_threads: int = 2,
    ) -> None:
        self.path = path
        self._compact_interval = compact_interval
        self._compact_keep = compact_keep
        self._read_threads = read_threads
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: Writer | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._read_conns: list[sqlite3.Connection] = []
        self._read_conns_lock = threading.Lock()
        self._local = threading.local()
        self._lock_fd: int | None = None
        self._compactor: asyncio.Task[None] | None = None
        self._compact_lock = asyncio.Lock()
        self._watchers: set[_Watcher] = set()
        self._revision = 0
        self._compact_revision = 0
        self._closed = False

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self._loop is not None:
            raise StorageError("SqliteBackend.start() called twice")
        self._loop = asyncio.get_running_loop()
        try:
            self._lock_fd = _lock_file(self.path + ".lock")
            conn = await asyncio.to_thread(self._open_writer)
        except (OSError, sqlite3.Error) as e:
            self._unlock()
            raise StorageError(f"cannot open SQLite database {self.path}: {e}") from e
        except BaseException:
            self._unlock()
            raise
        self._writer = Writer(conn, self._post_commit)
        self._writer.start()
        self._readers = ThreadPoolExecutor(self._read_threads, "pinnace-sqlite-reader")
        if self._compact_interval > 0:
            self._compactor = asyncio.create_task(
                self._compact_loop(), name=f"sqlite-compactor:{self.path}"
            )

    def _open_writer(self) -> sqlite3.Connection:
        conn = connect(self.path, writer=True)
        try:
            init_schema(conn)
            self._revision, self._compact_revision = revisions(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._compactor is not None:
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
        if self._writer is not None:
            # Ops queued before this are still applied and acknowledged; their
            # callbacks are scheduled before join() returns, so they run first.
            self._writer.stop()
            await asyncio.to_thread(self._writer.join)
        for watcher in list(self._watchers):
            watcher.close()
        if self._readers is not None:
            await asyncio.to_thread(self._readers.shutdown, wait=True)
        with self._read_conns_lock:
            for conn in self._read_conns:
                conn.close()
            self._read_conns.clear()
        self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    @property
    def write_stats(self) -> WriteStats:
        writer = self._writer
        return WriteStats(writer.batches, writer.ops) if writer else WriteStats(0, 0)

    # --------------------------------------------------------------- revisions

    async def current_revision(self) -> int:
        self._require_open()
        return self._revision

    async def compact_revision(self) -> int:
        self._require_open()
        return self._compact_revision

    # ------------------------------------------------------------------ reads

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None:
        return await self._read(functools.partial(_get, key=key, revision=revision))

    async def range(
        self,
        prefix: str,
        *,
        revision: int = 0,
        limit: int = 0,
        start_key: str | None = None,
    ) -> RangeResult:
        return await self._read(
            functools.partial(
                _range, prefix=prefix, revision=revision, limit=limit, start_key=start_key
            )
        )

    async def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        self._require_open()
        assert self._loop is not None and self._readers is not None
        return await self._loop.run_in_executor(self._readers, self._run_read, query)

    def _run_read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """On a reader thread: run ``query`` in one read transaction (snapshot)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, writer=False)
            self._local.conn = conn
            with self._read_conns_lock:
                self._read_conns.append(conn)
        try:
            conn.execute("BEGIN")
            try:
                return query(conn)
            finally:
                conn.execute("ROLLBACK")
        except sqlite3.Error as e:
            raise StorageError(f"sqlite read failed: {e}") from e

    # ----------------------------------------------------------------- writes

    async def create(self, key: str, value: bytes) -> KeyValue:
        return await self._write("create", key, value, None)

    async def update(self, key: str, value: bytes, expected_mod_revision: int) -> KeyValue:
        return await self._write("update", key, value, expected_mod_revision)

    async def delete(self, key: str, expected_mod_revision: int | None = None) -> KeyValue:
        return await self._write("delete", key, b"", expected_mod_revision)

    async def _write(
        self,
        kind: Literal["create", "update", "delete"],
        key: str,
        value: bytes,
        expected: int | None,
    ) -> KeyValue:
        future = self._new_future()
        assert self._writer is not None
        self._writer.submit(KvOp(kind, key, bytes(value), expected, future))
        result = await future
        assert isinstance(result, KeyValue)
        return result

    def _new_future(self) -> asyncio.Future[Any]:
        self._require_open()
        assert self._loop is not None
        return self._loop.create_future()

    def _post_commit(self, commit: Commit) -> None:
        """Writer thread → event loop."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._committed, commit)
        except RuntimeError:  # loop closed: nobody is left to tell
            log.warning("sqlite commit of %d ops after the event loop closed", len(commit.outcomes))

    def _committed(self, commit: Commit) -> None:
        """On the loop: advance revisions, publish events, acknowledge writers."""
        self._revision = max(self._revision, commit.revision)
        self._compact_revision = max(self._compact_revision, commit.compact_revision)
        if commit.events:
            for watcher in self._watchers:
                watcher.publish(commit.events)
        for future, result, error in commit.outcomes:
            if future.done():  # the awaiting task was cancelled
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    # ------------------------------------------------------------------ watch

    async def watch(self, prefix: str, start_revision: int) -> AsyncIterator[list[Event]]:
        self._require_open()
        watcher = _Watcher(prefix)
        self._watchers.add(watcher)  # subscribe BEFORE reading history
        try:
            if start_revision <= 0:
                start_revision = self._revision + 1
            delivered = start_revision - 1  # every event <= this is delivered (or absent)
            while True:
                try:
                    events, snapshot_revision, done = await self._read(
                        functools.partial(_replay_page, prefix=prefix, start=delivered + 1)
                    )
                except StorageError:
                    if self._closed:
                        return
                    raise
                if events:
                    delivered = events[-1].revision
                    yield events
                if done:
                    delivered = max(delivered, snapshot_revision)
                    break
            while True:
                batches = [await watcher.queue.get()]
                while not watcher.queue.empty():
                    batches.append(watcher.queue.get_nowait())
                fresh: list[Event] = []
                for batch in batches:
                    if batch is None:
                        if fresh:
                            yield fresh
                        return
                    fresh.extend(e for e in batch if e.revision > delivered)
                if fresh:
                    delivered = fresh[-1].revision
                    yield fresh
        finally:
            self._watchers.discard(watcher)

    # ------------------------------------------------------------- compaction

    async def compact(self, revision: int) -> None:
        async with self._compact_lock:
            if revision > self._revision:
                raise FutureRevisionError(
                    f"compact revision {revision} > current revision {self._revision}"
                )
            done = self._compact_revision
            while done < revision:
                future = self._new_future()
                assert self._writer is not None
                self._writer.submit(CompactOp(done, min(done + _COMPACT_CHUNK, revision), future))
                reached = await future
                assert isinstance(reached, int)
                if reached <= done:
                    break
                done = reached

    async def _compact_loop(self) -> None:
        while True:
            await asyncio.sleep(self._compact_interval)
            target = self._revision - self._compact_keep
            if target <= self._compact_revision:
                continue
            try:
                await self.compact(target)
            except StorageError:
                log.exception("compaction of %s to revision %d failed", self.path, target)

    def _require_open(self) -> None:
        if self._loop is None:
            raise StorageError("SqliteBackend used before start()")
        if self._closed:
            raise StorageError("SqliteBackend is closed")


class _Watcher:
    """One watch's subscription: live batches filtered by prefix; None = closed."""

    __slots__ = ("prefix", "queue")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.queue: asyncio.Queue[list[Event] | None] = asyncio.Queue()

    def publish(self, events: list[Event]) -> None:
        mine = [e for e in events if e.kv.key.startswith(self.prefix)]
        if mine:
            self.queue.put_nowait(mine)

    def close(self) -> None:
        self.queue.put_nowait(None)


def _lock_file(path: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StorageError(f"{path} is locked: the database is already open") from None
    return fd


# ------------------------------------------------- queries (on reader threads)


def _read_revision(conn: sqlite3.Connection, revision: int) -> tuple[int, int]:
    """(revision to read at, current revision) in this snapshot; checks bounds."""
    current, compacted = revisions(conn)
    if revision <= 0:
        return current, current
    if revision < compacted:
        raise CompactedError(revision, compacted)
    if revision > current:
        raise FutureRevisionError(f"revision {revision} > current revision {current}")
    return revision, current


def _get(conn: sqlite3.Connection, *, key: str, revision: int) -> KeyValue | None:
    at, _ = _read_revision(conn, revision)
    row: Row | None = conn.execute(
        f"SELECT {COLUMNS} FROM kv WHERE name = ? AND id <= ? ORDER BY id DESC LIMIT 1",
        (key, at),
    ).fetchone()
    return None if row is None or row[3] else kv_of(row)


def _range(
    conn: sqlite3.Connection,
    *,
    prefix: str,
    revision: int,
    limit: int,
    start_key: str | None,
) -> RangeResult:
    at, _ = _read_revision(conn, revision)
    where = "name >= ? AND id <= ?"
    params: list[object] = [range_start(prefix, start_key), at]
    end = prefix_end(prefix)
    if end is not None:
        where += " AND name < ?"
        params.append(end)
    # The newest row per key at ``at``; keys whose newest row is a tombstone
    # are gone. Limit after dropping those, one extra row to know "more".
    sql = (
        f"SELECT {COLUMNS} FROM kv JOIN "
        f"(SELECT MAX(id) AS latest FROM kv WHERE {where} GROUP BY name) ON id = latest "
        "WHERE deleted = 0 ORDER BY name"
    )
    if limit > 0:
        sql += " LIMIT ?"
        params.append(limit + 1)
    rows: list[Row] = conn.execute(sql, params).fetchall()
    more = 0 < limit < len(rows)
    if more:
        rows = rows[:limit]
    return RangeResult([kv_of(r) for r in rows], at, more)


def _replay_page(
    conn: sqlite3.Connection, *, prefix: str, start: int
) -> tuple[list[Event], int, bool]:
    """History rows under ``prefix`` with id >= ``start``: (events, snapshot's
    current revision, whether this was the last page)."""
    current, compacted = revisions(conn)
    if start <= compacted:
        raise CompactedError(start, compacted)
    # Walk the primary key from ``start`` (``+name`` keeps SQLite off the name
    # index): watches start near the head of the log, so that range is short.
    where = "id >= ? AND +name >= ?"
    params: list[object] = [start, prefix]
    end = prefix_end(prefix)
    if end is not None:
        where += " AND +name < ?"
        params.append(end)
    params.append(_REPLAY_PAGE)
    rows: list[Row] = conn.execute(
        f"SELECT {COLUMNS} FROM kv WHERE {where} ORDER BY id LIMIT ?", params
    ).fetchall()
    return [event_of(r) for r in rows], current, len(rows) < _REPLAY_PAGE
