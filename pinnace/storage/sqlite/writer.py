"""The SQLite backend's single writer thread: group commit.

Concurrency model: exactly one thread owns the write connection. Coroutines
hand it operations through a thread-safe queue and await an asyncio future.
The thread blocks for the first operation, then drains everything else already
waiting (up to ``max_batch``) and applies the whole batch in ONE transaction
with ONE commit, i.e. one fsync of the WAL. While that fsync runs, new
operations pile up in the queue and form the next batch, so throughput grows
with the number of concurrent writers instead of being capped at the disk's
fsync rate.

Operations in a batch are applied strictly in queue order on the same
transaction, so each guard check (key exists, expected mod_revision) sees the
effects of the operations before it. A guard failure only fails that
operation; an SQLite error fails the whole batch (rolled back, nothing
acknowledged). Results and the batch's watch events are handed back in one
``Commit`` through ``on_commit`` (called on the writer thread *after* the
commit returned, never before), which the backend forwards to its event loop.

Revisions are assigned explicitly (the previous maximum + 1, read from
``sqlite_sequence`` at the start of every batch), so the revision of a row is
known before it is inserted and ``create_revision`` of a new key is its own id.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pinnace.storage.backend import (
    ConflictError,
    Event,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    StorageError,
)
from pinnace.storage.sqlite.schema import COLUMNS, Row, kv_of, revisions

log = logging.getLogger(__name__)

_INSERT = (
    "INSERT INTO kv (id, name, created, deleted, create_revision, prev_revision, value, old_value)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_LATEST = f"SELECT {COLUMNS} FROM kv WHERE name = ? ORDER BY id DESC LIMIT 1"


@dataclass(slots=True)
class KvOp:
    """A guarded create / update / delete of one key."""

    kind: Literal["create", "update", "delete"]
    key: str
    value: bytes
    expected: int | None
    future: asyncio.Future[Any]


@dataclass(slots=True)
class CompactOp:
    """Forget the history in revisions ``(lo, hi]``; one bounded chunk, so a big
    compaction never holds the write lock for long."""

    lo: int
    hi: int
    future: asyncio.Future[Any]


Op = KvOp | CompactOp


@dataclass(slots=True)
class Commit:
    """What one batch did: per-op ``(future, result, error)``, the events of the
    committed writes in revision order, and the revisions after the batch."""

    outcomes: list[tuple[asyncio.Future[Any], object, BaseException | None]]
    events: list[Event] = field(default_factory=list)
    revision: int = 0
    compact_revision: int = 0


class _Stop:
    pass


_STOP = _Stop()


class _Txn:
    """Applies ops inside the open transaction of one batch."""

    def __init__(self, conn: sqlite3.Connection, revision: int, compact_revision: int) -> None:
        self.conn = conn
        self.revision = revision
        self.compact_revision = compact_revision
        self.events: list[Event] = []

    def apply(self, op: Op) -> object:
        if isinstance(op, CompactOp):
            return self._compact(op.lo, op.hi)
        row: Row | None = self.conn.execute(_LATEST, (op.key,)).fetchone()
        live = row is not None and not row[3]
        if op.kind == "create":
            if live:
                raise KeyExistsError(op.key)
            prev_rev = row[0] if row is not None else 0
            rev = self._append(
                op.key,
                created=True,
                deleted=False,
                prev_revision=prev_rev,
                create_revision=None,
                value=op.value,
                old_value=None,
            )
            kv = KeyValue(op.key, op.value, rev, rev)
            self.events.append(Event("PUT", kv))
            return kv
        if row is None or not live:
            raise KeyNotFoundError(op.key)
        current = kv_of(row)
        if op.expected is not None and current.mod_revision != op.expected:
            raise ConflictError(op.key, current)
        if op.kind == "update":
            rev = self._append(
                op.key,
                created=False,
                deleted=False,
                prev_revision=row[0],
                create_revision=row[4],
                value=op.value,
                old_value=row[6],
            )
            kv = KeyValue(op.key, op.value, row[4], rev)
            self.events.append(Event("PUT", kv, current))
            return kv
        rev = self._append(
            op.key,
            created=False,
            deleted=True,
            prev_revision=row[0],
            create_revision=row[4],
            value=b"",
            old_value=row[6],
        )
        kv = KeyValue(op.key, row[6], row[4], rev)
        self.events.append(Event("DELETE", kv, current))
        return kv

    def _append(
        self,
        key: str,
        *,
        created: bool,
        deleted: bool,
        prev_revision: int,
        create_revision: int | None,
        value: bytes,
        old_value: bytes | None,
    ) -> int:
        rev = self.revision + 1
        create_rev = rev if create_revision is None else create_revision
        params = (rev, key, int(created), int(deleted), create_rev, prev_revision, value, old_value)
        try:
            self.conn.execute(_INSERT, params)
        except sqlite3.IntegrityError:
            # Someone else appended after the same previous row (another process
            # on the same file): the unique (name, prev_revision) index caught it.
            now: Row | None = self.conn.execute(_LATEST, (key,)).fetchone()
            raise ConflictError(key, kv_of(now) if now and not now[3] else None) from None
        self.revision = rev
        return rev

    def _compact(self, lo: int, hi: int) -> int:
        if hi > self.revision:
            raise FutureRevisionError(f"compact revision {hi} > current revision {self.revision}")
        lo = max(lo, self.compact_revision)
        if hi <= lo:
            return self.compact_revision
        # Superseded rows: those a row at or below ``hi`` replaced. Then the
        # tombstones at or below ``hi`` (their predecessors went in step one).
        # The newest row of a live key is neither, so it always survives.
        self.conn.execute(
            "DELETE FROM kv WHERE id IN "
            "(SELECT prev_revision FROM kv WHERE id > ? AND id <= ? AND prev_revision > 0)",
            (lo, hi),
        )
        self.conn.execute("DELETE FROM kv WHERE id > ? AND id <= ? AND deleted = 1", (lo, hi))
        self.conn.execute("UPDATE meta SET value = ? WHERE key = 'compact_revision'", (hi,))
        self.compact_revision = hi
        return hi


class Writer:
    """Owns the write connection and its thread (see the module docstring)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        on_commit: Callable[[Commit], None],
        *,
        max_batch: int = 1024,
    ) -> None:
        self._conn = conn
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Op | _Stop] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="pinnace-sqlite-writer", daemon=True)
        self.batches = 0  # statistics, for tests and benchmarks
        self.ops = 0

    def start(self) -> None:
        self._thread.start()

    def submit(self, op: Op) -> None:
        """Thread-safe; the op's future is resolved via ``on_commit``."""
        self._queue.put(op)

    def stop(self) -> None:
        """Finish every op submitted before this call, then close the connection
        and end the thread."""
        self._queue.put(_STOP)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            stopping = False
            while not stopping:
                first = self._queue.get()
                if isinstance(first, _Stop):
                    break
                batch: list[Op] = [first]
                while len(batch) < self._max_batch:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if isinstance(nxt, _Stop):
                        stopping = True
                        break
                    batch.append(nxt)
                self._on_commit(self._apply(batch))
        finally:
            self._conn.close()

    def _apply(self, batch: list[Op]) -> Commit:
        conn = self._conn
        outcomes: list[tuple[asyncio.Future[Any], object, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            txn = _Txn(conn, *revisions(conn))
            for op in batch:
                try:
                    outcomes.append((op.future, txn.apply(op), None))
                except StorageError as e:
                    outcomes.append((op.future, None, e))
            conn.execute("COMMIT")
        except Exception as e:
            log.exception("sqlite write batch of %d ops failed", len(batch))
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    log.exception("rollback failed")
            failed: list[tuple[asyncio.Future[Any], object, BaseException | None]] = []
            for op in batch:
                err = StorageError(f"sqlite write failed: {e}")
                err.__cause__ = e
                failed.append((op.future, None, err))
            return Commit(failed)
        self.batches += 1
        self.ops += len(batch)
        return Commit(outcomes, txn.events, txn.revision, txn.compact_revision)
