"""The etcd-v3-shaped storage interface every backend implements.

A backend is a flat, ordered key space of ``str`` keys and ``bytes`` values with
one global revision counter, exactly like etcd v3:

* every successful write (create, update, delete) bumps the revision by one and
  is stamped with it (``mod_revision``); the apiserver uses the revision as the
  objects' ``resourceVersion``;
* writes are guarded: create fails if the key exists, update/delete fail unless
  the key's current ``mod_revision`` is the expected one (optimistic
  concurrency);
* history is kept until compaction, so a watch can start at any revision above
  the compact revision and replay what happened since, then follow live.

Concurrency model: every method is a coroutine safe to call from many tasks at
once (of the event loop that called ``start``); an acknowledged write is durable
(on disk / committed by the cluster). A write whose awaiting task is cancelled
may still be applied, as with etcd.

Revisions: a fresh store is at revision 1 (as etcd), so the first write gets
revision 2. Compaction at revision C keeps, for every key, the newest version at
or below C (unless that is a delete), so reads at revisions >= C still work and
watches starting after C (``start_revision`` > C) still see every event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One key at one revision."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class Event:
    """A change to one key. For DELETE, ``kv.value`` is the last value before the
    delete and ``kv.mod_revision`` is the revision of the delete itself."""

    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    prev_kv: KeyValue | None = None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


@dataclass(frozen=True, slots=True)
class RangeResult:
    kvs: list[KeyValue]
    revision: int  # the store revision the range was read at
    more: bool = False  # True when ``limit`` cut the result short


class StorageError(Exception):
    """Base class of every error a backend raises on purpose."""


class KeyExistsError(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key exists: {key}")
        self.key = key


class KeyNotFoundError(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}")
        self.key = key


class ConflictError(StorageError):
    """The key's mod_revision is not the one the caller expected.
    ``current`` is the key's current value (None if it was deleted)."""

    def __init__(self, key: str, current: KeyValue | None) -> None:
        super().__init__(f"conflict on {key}")
        self.key = key
        self.current = current


class CompactedError(StorageError):
    """The requested history is gone: a read at a revision below the compact
    revision, or a watch starting at or below it (a watch from R needs every
    event after R - 1)."""

    def __init__(self, requested: int, compact_revision: int) -> None:
        super().__init__(
            f"required revision {requested} has been compacted (compact revision {compact_revision})"
        )
        self.requested = requested
        self.compact_revision = compact_revision


class FutureRevisionError(StorageError):
    """The requested revision is newer than the store's current revision."""


class Backend(Protocol):
    """What the apiserver needs from storage. Chosen by URL (see ``open_backend``)."""

    async def start(self) -> None:
        """Open files/connections; must be called before anything else."""

    async def close(self) -> None:
        """Stop background work and release resources; ends open watches."""

    async def current_revision(self) -> int:
        """The newest revision (of the last acknowledged write, at least)."""

    async def compact_revision(self) -> int:
        """The revision of the last compaction (0 if never compacted)."""

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None:
        """The key's value at ``revision`` (0 = latest), or None. Raises
        CompactedError / FutureRevisionError like ``range``."""

    async def range(
        self,
        prefix: str,
        *,
        revision: int = 0,
        limit: int = 0,
        start_key: str | None = None,
    ) -> RangeResult:
        """Keys starting with ``prefix`` (sorted by key), at ``revision`` (0 =
        latest). ``start_key`` (inclusive) resumes a paginated range; ``limit``
        0 = no limit. ``RangeResult.revision`` is ``revision`` when given, else
        the store revision the read saw: pass it back as ``revision`` to read
        the next page consistently. Raises CompactedError when ``revision`` is
        below the compact revision, FutureRevisionError when it is above the
        current one."""

    async def create(self, key: str, value: bytes) -> KeyValue:
        """Write a new key; raises KeyExistsError. Returns the stored kv."""

    async def update(self, key: str, value: bytes, expected_mod_revision: int) -> KeyValue:
        """Replace a key's value if its mod_revision matches; raises
        KeyNotFoundError or ConflictError. Returns the stored kv."""

    async def delete(self, key: str, expected_mod_revision: int | None = None) -> KeyValue:
        """Delete a key (guarded when ``expected_mod_revision`` is given); raises
        KeyNotFoundError or ConflictError. Returns the deleted kv with
        ``mod_revision`` = the revision of the delete."""

    def watch(self, prefix: str, start_revision: int) -> AsyncIterator[list[Event]]:
        """Events for keys under ``prefix`` with revision >= ``start_revision``
        (history first, then live), in revision order, each exactly once, in
        non-empty batches. ``start_revision`` <= 0 means "from now" (events
        after the current revision). Raises CompactedError (on first
        iteration, or later if compaction overtakes a slow replay) when
        ``start_revision`` <= the compact revision. The iterator ends when the
        backend closes; cancel the consuming task (or ``aclose()`` it) to stop
        early."""

    async def compact(self, revision: int) -> None:
        """Forget history at and below ``revision`` (latest value of every live
        key is always kept). Compacting at or below the current compact
        revision is a no-op; above the current revision raises
        FutureRevisionError."""
