"""The audit log file: lumberjack-style rotation and the writer thread."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest

from pinnace.apiserver.audit.logwriter import AuditLogWriter, RotatingFile, backup_name

T0 = dt.datetime(2026, 11, 26, 23, 10, 0, 123456, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> dt.datetime:
        return self.t


def test_backup_name_is_lumberjacks() -> None:
    assert backup_name(Path("/d/audit.log"), T0) == Path("/d/audit-2026-11-26T23-10-00.123.log")
    assert backup_name(Path("/d/audit"), T0) == Path("/d/audit-2026-11-26T23-10-00.123")


def test_rotates_before_a_write_would_exceed_max(tmp_path: Path) -> None:
    clock = Clock()
    f = RotatingFile(tmp_path / "audit.log", max_bytes=10, now=clock)
    f.write(b"12345\n")
    f.write(b"1234\n")  # 11 > 10: rotate first
    f.flush()
    assert (tmp_path / "audit.log").read_bytes() == b"1234\n"
    backup = tmp_path / "audit-2026-11-26T23-10-00.123.log"
    assert backup.read_bytes() == b"12345\n"
    assert (tmp_path / "audit.log").stat().st_mode & 0o777 == 0o600
    with pytest.raises(OSError, match="write length 11 exceeds maximum file size 10"):
        f.write(b"x" * 11)
    f.close()


def test_existing_file_is_appended_to_and_rotation_names_do_not_collide(tmp_path: Path) -> None:
    (tmp_path / "audit.log").write_bytes(b"old\n")
    f = RotatingFile(tmp_path / "audit.log", max_bytes=8, now=Clock())
    f.write(b"new\n")
    f.write(b"more\n")  # rotates
    f.write(b"last\n")  # rotates again in the same (fake) millisecond
    f.close()
    assert [p.name for _, p in f.backups()] == [
        "audit-2026-11-26T23-10-00.124.log",
        "audit-2026-11-26T23-10-00.123.log",
    ]
    assert (tmp_path / "audit-2026-11-26T23-10-00.123.log").read_bytes() == b"old\nnew\n"
    assert (tmp_path / "audit.log").read_bytes() == b"last\n"


def test_max_backups_keeps_the_newest(tmp_path: Path) -> None:
    clock = Clock()
    f = RotatingFile(tmp_path / "audit.log", max_bytes=4, max_backups=2, now=clock)
    for i in range(5):
        clock.t = T0 + dt.timedelta(seconds=i)
        f.write(f"{i}{i}{i}\n".encode())
    f.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "audit-2026-11-26T23-10-03.123.log",
        "audit-2026-11-26T23-10-04.123.log",
        "audit.log",
    ]
    # a backup is named for the time it was rotated out
    assert (tmp_path / "audit-2026-11-26T23-10-04.123.log").read_bytes() == b"333\n"
    (tmp_path / "unrelated.log").write_text("keep")  # not a backup of this log
    assert len(f.backups()) == 2


def test_max_age_removes_old_backups(tmp_path: Path) -> None:
    old = tmp_path / "audit-2026-11-01T00-00-00.000.log"
    recent = tmp_path / "audit-2026-11-25T00-00-00.000.log"
    old.write_text("x")
    recent.write_text("y")
    f = RotatingFile(tmp_path / "audit.log", max_bytes=100, max_age_days=7, now=Clock())
    f.open()
    f.close()
    assert not old.exists()
    assert recent.exists()


def test_writer_thread_writes_every_queued_line_by_close(tmp_path: Path) -> None:
    w = AuditLogWriter(str(tmp_path / "a" / "audit.log"), max_bytes=1000)
    w.open()
    w.start()
    for i in range(500):
        w.write(b'{"n":%d}\n' % i)
    w.close()
    lines = (tmp_path / "a" / "audit.log").read_bytes().splitlines()
    backups = sorted(tmp_path.joinpath("a").glob("audit-*.log"))
    assert backups  # 500 lines of ~9 bytes rotated at 1000 bytes
    total = sum(len(p.read_bytes().splitlines()) for p in backups) + len(lines)
    assert total == 500
    assert w.written == 500


def test_writer_drops_when_the_queue_is_full(tmp_path: Path) -> None:
    gate = threading.Event()
    seen: list[bytes] = []

    class SlowSink:
        def write(self, data: bytes) -> None:
            gate.wait()
            seen.append(data)

        def flush(self) -> None:
            pass

        def close(self) -> None:
            pass

    w = AuditLogWriter(str(tmp_path / "audit.log"), max_pending=2)
    w.sink = SlowSink()  # type: ignore[assignment]
    for i in range(50):
        w.write(b"%d\n" % i)
    assert w.dropped > 0
    gate.set()
    w.close()
    assert len(seen) + w.dropped == 50
