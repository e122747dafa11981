"""The SQLite log's schema, connection setup and row decoding.

One append-only table, ``kv``, in the style of k3s' kine: every write (create,
update, delete) inserts one row and the row's ``id`` *is* the revision. A key's
current state is its newest row (a row with ``deleted`` = 1 is a tombstone).
``prev_revision`` points at the row a write replaced, and the UNIQUE index on
``(name, prev_revision)`` means two writers that both read the same previous
row cannot both append after it: the second one collides instead of silently
overwriting. Each row carries what its watch event needs (``old_value`` is the
previous value), so events are decoded from a single row without joins.

``id`` is AUTOINCREMENT so revisions are never reused, even after compaction
deleted the newest rows (tombstones): the current revision is
``sqlite_sequence.seq``, which survives restarts. ``meta`` holds the compact
revision.
"""

from __future__ import annotations

import sqlite3

from pinnace.storage.backend import Event, KeyValue

SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS kv (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB NOT NULL,
    old_value BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS kv_name_prev_revision ON kv (name, prev_revision);
CREATE INDEX IF NOT EXISTS kv_name_id ON kv (name, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""

# Columns every row-decoding query selects, in this order.
COLUMNS = "id, name, created, deleted, create_revision, prev_revision, value, old_value"
Row = tuple[int, str, int, int, int, int, bytes, bytes | None]


def connect(path: str, *, writer: bool) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit BEGIN/COMMIT).

    The writer turns on WAL (readers then never block on the writer, nor it on
    them) with ``synchronous=FULL``: the WAL is fsynced at every commit, so an
    acknowledged write survives power loss / ``kill -9``. Readers are
    ``query_only``. Connections may move between threads
    (``check_same_thread=False``) but each is used by one thread at a time.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    if writer:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            conn.close()
            raise sqlite3.OperationalError(f"cannot enable WAL on {path}: {mode!r}")
        conn.execute("PRAGMA synchronous = FULL")
    else:
        conn.execute("PRAGMA query_only = 1")
    return conn


def init_schema(conn: sqlite3.Connection) -> None:
    """Create the tables if missing; a fresh store starts at revision 1 (like
    etcd), so no object ever gets resourceVersion 0 ("any")."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _DDL.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('compact_revision', 0), "
            "('schema_version', ?)",
            (SCHEMA_VERSION,),
        )
        conn.execute(
            "INSERT INTO sqlite_sequence (name, seq) SELECT 'kv', 1 "
            "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'kv')"
        )
        (version,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if version != SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"unsupported schema version {version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def revisions(conn: sqlite3.Connection) -> tuple[int, int]:
    """(current revision, compact revision) as seen by ``conn``'s transaction."""
    row = conn.execute(
        "SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'kv'), "
        "(SELECT value FROM meta WHERE key = 'compact_revision')"
    ).fetchone()
    return int(row[0]), int(row[1])


def kv_of(row: Row) -> KeyValue:
    """The key's state a (non-tombstone) row records."""
    return KeyValue(key=row[1], value=row[6], create_revision=row[4], mod_revision=row[0])


def event_of(row: Row) -> Event:
    """The watch event a row records."""
    rev, name, created, deleted, create_rev, prev_rev, value, old_value = row
    prev = (
        None
        if created
        else KeyValue(
            key=name, value=old_value or b"", create_revision=create_rev, mod_revision=prev_rev
        )
    )
    if deleted:
        kv = KeyValue(
            key=name, value=old_value or b"", create_revision=create_rev, mod_revision=rev
        )
        return Event("DELETE", kv, prev)
    return Event("PUT", KeyValue(name, value, create_rev, rev), prev)
