"""The audit log backend: JSON lines appended to a file that rotates by size,
with kube-apiserver's ``--audit-log-*`` flag semantics (upstream uses the
lumberjack package, whose file naming we keep):

- ``--audit-log-path``: the file; ``-`` writes to standard output.
- ``--audit-log-maxsize`` (MB): before a write would make the file larger,
  it is renamed to ``<name>-<UTC time>.<ext>`` (``audit-2026-11-26T23-10-00.000.log``)
  and a new one started; 0 means lumberjack's default of 100 MB.
- ``--audit-log-maxbackup``: rotated files kept (the newest); 0 keeps all.
- ``--audit-log-maxage`` (days): rotated files older than this (by the time
  in their name) are removed; 0 keeps them.

Concurrency model: the request path must not wait for the disk, so
:meth:`AuditLogWriter.write` only puts the finished line on a queue, and one
dedicated thread takes everything queued, writes it and flushes once per
batch, and does the renames and deletions of rotation. A thread rather than
an asyncio task with ``to_thread`` per flush: the writer is one long-lived
consumer with blocking I/O only, a thread keeps all file state on one side,
and a stalled disk then delays only the log, never the event loop. The queue
is bounded: when the disk cannot keep up and it is full, events are dropped
and counted in an error log line (upstream's batching backend does the same)
rather than growing memory without limit.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["MEGABYTE", "AuditLogWriter", "RotatingFile", "backup_name"]

log = logging.getLogger("pinnace.apiserver.audit")

MEGABYTE = 1024 * 1024
DEFAULT_MAX_BYTES = 100 * MEGABYTE
_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S"
_STOP = object()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def backup_name(path: Path, t: dt.datetime) -> Path:
    """``/d/audit.log`` at t → ``/d/audit-2026-11-26T23-10-00.000.log``."""
    t = t.astimezone(dt.UTC)
    stamp = t.strftime(_TIME_FORMAT) + f".{t.microsecond // 1000:03d}"
    return path.with_name(f"{path.stem}-{stamp}{path.suffix}")


def _backup_time(path: Path, candidate: Path) -> dt.datetime | None:
    prefix, suffix = path.stem + "-", path.suffix
    name = candidate.name
    if not (name.startswith(prefix) and name.endswith(suffix)) or len(name) <= len(prefix):
        return None
    stamp = name[len(prefix) : len(name) - len(suffix)]
    try:
        return dt.datetime.strptime(stamp, _TIME_FORMAT + ".%f").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


class RotatingFile:
    """An append-only file that rotates by size (lumberjack's rules). Not
    thread-safe: one thread owns it."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_backups: int = 0,
        max_age_days: int = 0,
        now: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes if max_bytes > 0 else DEFAULT_MAX_BYTES
        self.max_backups = max_backups
        self.max_age_days = max_age_days
        self._now = now
        self._file: BinaryIO | None = None
        self._size = 0

    def open(self) -> None:
        """Open (creating, mode 0600) the file; raises OSError when it cannot."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._file = os.fdopen(fd, "ab")
        self._size = os.fstat(fd).st_size
        self._remove_old_backups()

    def write(self, data: bytes) -> None:
        if len(data) > self.max_bytes:
            raise OSError(f"write length {len(data)} exceeds maximum file size {self.max_bytes}")
        if self._file is None:
            self.open()
        if self._size + len(data) > self.max_bytes:
            self.rotate()
        assert self._file is not None
        self._file.write(data)
        self._size += len(data)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def rotate(self) -> None:
        """Rename the current file to its backup name and start a new one."""
        self.close()
        if self.path.exists():
            t = self._now()
            target = backup_name(self.path, t)
            while target.exists():  # two rotations in one millisecond
                t += dt.timedelta(milliseconds=1)
                target = backup_name(self.path, t)
            mode = self.path.stat().st_mode & 0o777
            os.replace(self.path, target)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
            os.close(fd)
        self.open()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def backups(self) -> list[tuple[dt.datetime, Path]]:
        """Rotated files of this log, newest first."""
        out: list[tuple[dt.datetime, Path]] = []
        try:
            entries = list(self.path.parent.iterdir())
        except OSError:
            return []
        for p in entries:
            t = _backup_time(self.path, p)
            if t is not None and p.is_file():
                out.append((t, p))
        out.sort(reverse=True)
        return out

    def _remove_old_backups(self) -> None:
        if self.max_backups <= 0 and self.max_age_days <= 0:
            return
        backups = self.backups()
        doomed: list[Path] = []
        if self.max_backups > 0:
            doomed += [p for _, p in backups[self.max_backups :]]
            backups = backups[: self.max_backups]
        if self.max_age_days > 0:
            cutoff = self._now() - dt.timedelta(days=self.max_age_days)
            doomed += [p for t, p in backups if t < cutoff]
        for p in doomed:
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            except OSError as e:
                log.error("cannot remove old audit log %s: %s", p, e)


class _Stdout:
    """``--audit-log-path -``: lines go to the process's standard output."""

    def write(self, data: bytes) -> None:
        sys.stdout.buffer.write(data)

    def flush(self) -> None:
        sys.stdout.buffer.flush()

    def close(self) -> None:
        self.flush()


class AuditLogWriter:
    """Queue of finished lines in front of one writer thread (see module doc)."""

    def __init__(
        self,
        path: str,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_backups: int = 0,
        max_age_days: int = 0,
        max_pending: int = 10000,
        now: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.path = path
        self.sink: RotatingFile | _Stdout = (
            _Stdout()
            if path == "-"
            else RotatingFile(
                path,
                max_bytes=max_bytes,
                max_backups=max_backups,
                max_age_days=max_age_days,
                now=now,
            )
        )
        self._queue: queue.Queue[object] = queue.Queue(max_pending)
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.written = 0

    def open(self) -> None:
        """Open the file now, so that a path that cannot be written stops the
        server at start-up (OSError) instead of losing events later."""
        if isinstance(self.sink, RotatingFile):
            self.sink.open()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audit-log-writer", daemon=True)
            self._thread.start()

    def write(self, line: bytes) -> None:
        """Queue one line (ending in a newline); never blocks."""
        if self._thread is None:
            self.start()
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error(
                    "audit log %s cannot keep up: %d events dropped so far",
                    self.path,
                    self.dropped,
                )

    def close(self) -> None:
        """Write what is queued, stop the thread and close the file (blocks:
        call it from a thread, or at shutdown)."""
        thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()
            self._thread = None
        self.sink.close()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch = [item]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = False
            for line in batch:
                if line is _STOP:
                    stop = True
                    continue
                assert isinstance(line, bytes)
                try:
                    self.sink.write(line)
                    self.written += 1
                except OSError as e:
                    log.error("cannot write audit log %s: %s", self.path, e)
            try:
                self.sink.flush()
            except OSError as e:
                log.error("cannot write audit log %s: %s", self.path, e)
            if stop:
                return
