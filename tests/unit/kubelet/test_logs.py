"""Container logs: the CRI log format, PodLogOptions, tail/since/limit/follow."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path

import pytest

from pinnace.kubelet import logs
from pinnace.kubelet.logs import LogOptions, LogOptionsError, LogSelectionError

T0 = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def ts(seconds: float) -> str:
    t = T0 + dt.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond * 1000:09d}Z"


def rec(seconds: float, text: str, stream: str = "stdout", tag: str = "F") -> str:
    return f"{ts(seconds)} {stream} {tag} {text}\n"


async def read_all(path: Path, opts: LogOptions, **kw: object) -> bytes:
    out: list[bytes] = []

    async def write(b: bytes) -> None:
        out.append(b)

    await logs.stream_log(path, opts, write, **kw)  # type: ignore[arg-type]
    return b"".join(out)


# --------------------------------------------------------------------------
# format


def test_parse_cri_line() -> None:
    r = logs.parse_cri_line(b"2024-05-01T12:00:00.5Z stderr P hello world")
    assert r is not None
    assert (r.stream, r.partial, r.content) == (b"stderr", True, b"hello world")
    r = logs.parse_cri_line(b"2024-05-01T12:00:00Z stdout F:extra x")
    assert r is not None and not r.partial and r.content == b"x"
    r = logs.parse_cri_line(b"2024-05-01T12:00:00Z stdout F")
    assert r is not None and r.content == b""
    assert logs.parse_cri_line(b"garbage") is None
    assert logs.parse_cri_line(b"2024-05-01T12:00:00Z stdin F x") is None
    assert logs.parse_cri_line(b"2024-05-01T12:00:00Z stdout X x") is None


def test_timestamps_are_fixed_width_nanoseconds() -> None:
    assert logs.format_timestamp(b"2024-05-01T12:00:00.5Z") == b"2024-05-01T12:00:00.500000000Z"
    assert logs.format_timestamp(b"2024-05-01T12:00:00Z") == b"2024-05-01T12:00:00.000000000Z"
    assert (
        logs.format_timestamp(b"2024-05-01T14:00:00.123456789+02:00")
        == b"2024-05-01T14:00:00.123456789+02:00"
    )
    a = logs.parse_timestamp_ns(b"2024-05-01T14:00:00.000000001+02:00")
    b = logs.parse_timestamp_ns(b"2024-05-01T12:00:00.000000001Z")
    assert a == b == int(T0.timestamp()) * 1_000_000_000 + 1


# --------------------------------------------------------------------------
# options


def test_parse_log_options() -> None:
    o = logs.parse_log_options(
        {"follow": "true", "tailLines": "5", "timestamps": "1", "limitBytes": "10"}
    )
    assert (o.follow, o.tail_lines, o.timestamps, o.limit_bytes) == (True, 5, True, 10)
    o = logs.parse_log_options({"sinceTime": "2024-05-01T12:00:00Z", "follow": "false"})
    assert o.since_time == T0 and not o.follow
    assert logs.parse_log_options({"tail": "all"}, kubelet=True).tail_lines is None
    assert logs.parse_log_options({"tail": "3"}, kubelet=True).tail_lines == 3
    assert logs.parse_log_options(LogOptions(tail_lines=2, follow=True).to_query()) == LogOptions(
        tail_lines=2, follow=True
    )


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"tailLines": "-1"}, "tailLines", "Invalid value: -1: must be greater than or equal to 0"),
        ({"limitBytes": "0"}, "limitBytes", "Invalid value: 0: must be greater than 0"),
        ({"sinceSeconds": "0"}, "sinceSeconds", "Invalid value: 0: must be greater than 0"),
        (
            {"sinceSeconds": "5", "sinceTime": "2024-05-01T12:00:00Z"},
            "",
            "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified",
        ),
    ],
)
def test_invalid_log_options(query: dict[str, str], field: str, message: str) -> None:
    with pytest.raises(LogOptionsError) as e:
        logs.parse_log_options(query)
    assert e.value.causes == [(field, message)] and not e.value.decode


def test_undecodable_log_options() -> None:
    for q in ({"tailLines": "x"}, {"sinceTime": "yesterday"}):
        with pytest.raises(LogOptionsError) as e:
            logs.parse_log_options(q)
        assert e.value.decode


# --------------------------------------------------------------------------
# which container


def pod_with(status: dict[str, object]) -> dict[str, object]:
    return {
        "metadata": {"name": "web"},
        "status": {"containerStatuses": [{"name": "app", **status}]},
    }


def test_container_id_for_logs() -> None:
    running = pod_with(
        {
            "containerID": "containerd://abc",
            "state": {"running": {}},
            "lastState": {"terminated": {"containerID": "containerd://old"}},
        }
    )
    assert logs.container_id_for_logs(running, "app", previous=False) == "abc"
    assert logs.container_id_for_logs(running, "app", previous=True) == "old"
    done = pod_with({"state": {"terminated": {"containerID": "containerd://t"}}})
    assert logs.container_id_for_logs(done, "app", previous=False) == "t"


@pytest.mark.parametrize(
    ("status", "previous", "message"),
    [
        (
            {"state": {"waiting": {"reason": "ContainerCreating"}}},
            False,
            'container "app" in pod "web" is waiting to start: ContainerCreating',
        ),
        (
            {"state": {"waiting": {"reason": "ImagePullBackOff"}}},
            False,
            'container "app" in pod "web" is waiting to start: trying and failing to pull image',
        ),
        (
            {"state": {"running": {}}, "containerID": "containerd://x"},
            True,
            'previous terminated container "app" in pod "web" not found',
        ),
        ({"state": {}}, False, 'container "app" in pod "web" is waiting to start - no logs yet'),
        ({"state": {"terminated": {}}}, False, 'container "app" in pod "web" is terminated'),
    ],
)
def test_no_log_messages(status: dict[str, object], previous: bool, message: str) -> None:
    with pytest.raises(LogSelectionError) as e:
        logs.container_id_for_logs(pod_with(status), "app", previous)
    assert str(e.value) == message


def test_container_without_status() -> None:
    with pytest.raises(LogSelectionError, match='container "other" in pod "web" is not available'):
        logs.container_id_for_logs(pod_with({}), "other", False)


# --------------------------------------------------------------------------
# reading


@pytest.fixture
def logfile(tmp_path: Path) -> Path:
    p = tmp_path / "0.log"
    p.write_text(
        rec(0, "one")
        + rec(1, "two", "stderr")
        + rec(2, "thr", tag="P")
        + rec(3, "ee")
        + rec(4, "four")
    )
    return p


async def test_whole_log_joins_partial_lines(logfile: Path) -> None:
    assert await read_all(logfile, LogOptions()) == b"one\ntwo\nthree\nfour\n"


async def test_stream_selection(logfile: Path) -> None:
    assert await read_all(logfile, LogOptions(stream="Stderr")) == b"two\n"


async def test_timestamps_prefix_each_line_once(logfile: Path) -> None:
    out = await read_all(logfile, LogOptions(timestamps=True, tail_lines=2))
    assert out == (ts(2).encode() + b" three\n" + ts(4).encode() + b" four\n")


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, b""),
        (1, b"four\n"),
        (2, b"three\nfour\n"),
        (3, b"two\nthree\nfour\n"),
        (4, b"one\ntwo\nthree\nfour\n"),
        (100, b"one\ntwo\nthree\nfour\n"),
    ],
)
async def test_tail(logfile: Path, n: int, expected: bytes) -> None:
    assert await read_all(logfile, LogOptions(tail_lines=n)) == expected


async def test_tail_counts_an_unfinished_line(tmp_path: Path) -> None:
    p = tmp_path / "0.log"
    p.write_text(rec(0, "a") + rec(1, "b") + rec(2, "c-part", tag="P"))
    assert await read_all(p, LogOptions(tail_lines=2)) == b"b\nc-part"


async def test_tail_of_a_big_file_reads_only_its_end(tmp_path: Path) -> None:
    p = tmp_path / "0.log"
    n = 30000  # ~1.5 MB, many read blocks
    with p.open("w") as f:
        for i in range(n):
            f.write(rec(i / 1000, f"line {i}"))
    with p.open("rb") as f:
        start = logs.tail_offset(f, 3)
        assert os.path.getsize(p) - start < 200
    out = await read_all(p, LogOptions(tail_lines=3))
    assert out == b"".join(f"line {i}\n".encode() for i in range(n - 3, n))
    out = await read_all(p, LogOptions(tail_lines=n - 1))
    assert out.split(b"\n")[0] == b"line 1"


async def test_since_time_and_since_seconds(logfile: Path) -> None:
    since = LogOptions(since_time=T0 + dt.timedelta(seconds=3))
    assert await read_all(logfile, since) == b"ee\nfour\n"
    now = (T0 + dt.timedelta(seconds=5)).timestamp()
    assert await read_all(logfile, LogOptions(since_seconds=2), now=now) == b"ee\nfour\n"


async def test_limit_bytes_cuts_the_output(logfile: Path) -> None:
    assert await read_all(logfile, LogOptions(limit_bytes=6)) == b"one\ntw"
    assert await read_all(logfile, LogOptions(limit_bytes=1000)) == b"one\ntwo\nthree\nfour\n"


async def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await read_all(tmp_path / "nope.log", LogOptions())


# --------------------------------------------------------------------------
# following


class Follower:
    """Runs stream_log with follow in a task; waits for text to arrive."""

    def __init__(self, path: Path, opts: LogOptions) -> None:
        self.out = b""
        self.changed = asyncio.Event()
        self.running = True
        self.task = asyncio.create_task(
            logs.stream_log(
                path, opts, self.write, is_running=lambda: self.running, poll_interval=0.01
            )
        )

    async def write(self, b: bytes) -> None:
        self.out += b
        self.changed.set()

    async def wait_for(self, text: bytes) -> None:
        async with asyncio.timeout(10):
            while text not in self.out:
                self.changed.clear()
                await self.changed.wait()


def append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


async def test_follow_reads_growth_and_ends_when_the_container_stops(logfile: Path) -> None:
    fol = Follower(logfile, LogOptions(follow=True, tail_lines=1))
    await fol.wait_for(b"four\n")
    append(logfile, rec(5, "fi", tag="P"))
    append(logfile, rec(6, "ve"))
    await fol.wait_for(b"five\n")
    assert not fol.task.done()
    # the container writes its last line and exits
    append(logfile, rec(7, "last words"))
    fol.running = False
    async with asyncio.timeout(10):
        await fol.task
    assert fol.out == b"four\nfive\nlast words\n"


async def test_follow_continues_in_a_rotated_file(logfile: Path) -> None:
    fol = Follower(logfile, LogOptions(follow=True))
    await fol.wait_for(b"four\n")
    append(logfile, rec(5, "before rotation"))
    logfile.rename(logfile.with_suffix(".log.20240501-120005"))
    logfile.write_text(rec(6, "after rotation"))
    await fol.wait_for(b"after rotation\n")
    fol.running = False
    async with asyncio.timeout(10):
        await fol.task
    assert fol.out.endswith(b"four\nbefore rotation\nafter rotation\n")


async def test_follow_is_cancellable(logfile: Path) -> None:
    fol = Follower(logfile, LogOptions(follow=True))
    await fol.wait_for(b"four\n")
    fol.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await fol.task
