"""Reading container logs: the CRI log file format, ``PodLogOptions`` and the
kubelet's rules for which container's log a request means.

containerd writes each container's stdout/stderr to one file per container
attempt, one record per line::

    2016-10-06T00:17:09.669794202Z stdout F the whole line
    2016-10-06T00:17:09.669794203Z stderr P the first part of a long line
    2016-10-06T00:17:09.669794204Z stderr F  and its end

``F`` ends a line; ``P`` is a fragment continued by the next record of the
same stream (the tag field may carry more tags after a ``:``; the first one
decides). :func:`stream_log` turns such a file into what ``kubectl logs``
prints, with upstream's ``PodLogOptions`` semantics:

- ``tailLines``: the last N lines. Found by reading the file backwards in
  blocks from its end, so a 1 GiB log costs a few reads, not a scan.
  A line split into ``P`` fragments counts once.
- ``sinceSeconds`` / ``sinceTime``: records older than that are skipped.
- ``timestamps``: each line starts with its time in RFC 3339 with exactly
  nine fractional digits (upstream's fixed-width format), once per line,
  not per fragment.
- ``limitBytes``: output stops after that many bytes (mid-line if need be).
- ``follow``: after the end of the file, keep polling it for growth. A file
  that is rotated away (the path now names another inode) is read to its end
  and then the new file from its start; a truncated file is read again from
  its start. Following stops once the container is no longer running (asked
  through ``is_running``) and everything it wrote has been read, or when the
  caller's task is cancelled (the client went away).
- ``previous`` is the caller's business: it picks the older attempt's file.

Concurrency model: one coroutine per request. File reads are plain blocking
reads of at most 64 KiB (local files, microseconds each) and the coroutine
awaits ``write`` between them, so a large log never holds the event loop for
long. Following polls the file (``poll_interval``, default 0.25 s) instead of
using inotify: portable, and cheap for the handful of followers a node has.
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

__all__ = [
    "LogOptions",
    "LogOptionsError",
    "LogSelectionError",
    "container_id_for_logs",
    "format_timestamp",
    "parse_cri_line",
    "parse_log_options",
    "parse_timestamp_ns",
    "stream_log",
    "tail_offset",
]

log = logging.getLogger("pinnace.kubelet.logs")

CHUNK = 64 * 1024
FLUSH_AT = 32 * 1024

STREAMS = ("All", "Stdout", "Stderr")


# --------------------------------------------------------------------------
# options


class LogOptionsError(ValueError):
    """Query parameters that do not make valid ``PodLogOptions``.

    ``decode`` is True for a value that cannot be parsed at all (upstream
    answers those 400), False for values that parse but fail validation
    (422). ``causes`` are ``(field, message)`` pairs with upstream's texts."""

    def __init__(self, causes: list[tuple[str, str]], *, decode: bool = False) -> None:
        super().__init__("; ".join(f"{f}: {m}" if f else m for f, m in causes))
        self.causes = causes
        self.decode = decode


@dataclass(frozen=True, slots=True)
class LogOptions:
    """``PodLogOptions`` as the kubelet uses them (``container`` is in the path)."""

    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    limit_bytes: int | None = None
    since_seconds: int | None = None
    since_time: dt.datetime | None = None
    stream: str = "All"
    """``All``, ``Stdout`` or ``Stderr`` (upstream's ``stream`` field)."""

    def since_ns(self, now: float | None = None) -> int | None:
        """The earliest record time to show, in ns since the epoch, or None."""
        if self.since_time is not None:
            return int(self.since_time.timestamp()) * 1_000_000_000
        if self.since_seconds is not None:
            t = time.time() if now is None else now
            return int((t - self.since_seconds) * 1_000_000_000)
        return None

    def to_query(self) -> dict[str, str]:
        """The kubelet query for these options (what the API server sends)."""
        q: dict[str, str] = {}
        if self.follow:
            q["follow"] = "true"
        if self.previous:
            q["previous"] = "true"
        if self.timestamps:
            q["timestamps"] = "true"
        if self.since_seconds is not None:
            q["sinceSeconds"] = str(self.since_seconds)
        if self.since_time is not None:
            q["sinceTime"] = self.since_time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.tail_lines is not None:
            q["tailLines"] = str(self.tail_lines)
        if self.limit_bytes is not None:
            q["limitBytes"] = str(self.limit_bytes)
        if self.stream != "All":
            q["stream"] = self.stream
        return q


def _query_bool(v: str | None) -> bool:
    # Kubernetes' query conversion: anything but "", "0" and "false" is true.
    return v is not None and v.lower() not in ("", "0", "false")


def _query_int(q: Mapping[str, str], name: str) -> int | None:
    v = q.get(name)
    if v is None or v == "":
        return None
    try:
        return int(v)
    except ValueError:
        raise LogOptionsError([(name, f"invalid value {v!r}")], decode=True) from None


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def _parse_rfc3339(v: str) -> dt.datetime:
    m = _RFC3339.match(v)
    if not m:
        raise ValueError(v)
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7) or ""
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    off = m.group(8)
    if off in ("Z", "z"):
        tz = dt.UTC
    else:
        sign = -1 if off[0] == "-" else 1
        tz = dt.timezone(sign * dt.timedelta(hours=int(off[1:3]), minutes=int(off[4:6])))
    return dt.datetime(y, mo, d, h, mi, s, micro, tzinfo=tz)


def parse_log_options(query: Mapping[str, str], *, kubelet: bool = False) -> LogOptions:
    """``PodLogOptions`` from a query, validated as upstream's
    ``ValidatePodLogOptions`` does. ``kubelet=True`` also honours the
    kubelet's legacy ``tail`` parameter (``tail=all`` means no limit).
    Raises :class:`LogOptionsError`."""
    q = dict(query)
    if kubelet and q.get("tail"):
        tail = q.pop("tail")
        if tail == "all":
            q.pop("tailLines", None)
        else:
            q["tailLines"] = tail
    since_time: dt.datetime | None = None
    if q.get("sinceTime"):
        try:
            since_time = _parse_rfc3339(q["sinceTime"])
        except ValueError:
            raise LogOptionsError(
                [("sinceTime", f"invalid value {q['sinceTime']!r}")], decode=True
            ) from None
    stream = q.get("stream") or "All"
    opts = LogOptions(
        follow=_query_bool(q.get("follow")),
        previous=_query_bool(q.get("previous")),
        timestamps=_query_bool(q.get("timestamps")),
        tail_lines=_query_int(q, "tailLines"),
        limit_bytes=_query_int(q, "limitBytes"),
        since_seconds=_query_int(q, "sinceSeconds"),
        since_time=since_time,
        stream=stream,
    )
    causes: list[tuple[str, str]] = []
    if opts.tail_lines is not None and opts.tail_lines < 0:
        causes.append(
            (
                "tailLines",
                f"Invalid value: {opts.tail_lines}: must be greater than or equal to 0",
            )
        )
    if opts.limit_bytes is not None and opts.limit_bytes < 1:
        causes.append(("limitBytes", f"Invalid value: {opts.limit_bytes}: must be greater than 0"))
    if opts.since_seconds is not None and opts.since_time is not None:
        causes.append(
            ("", "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified")
        )
    elif opts.since_seconds is not None and opts.since_seconds < 1:
        causes.append(
            ("sinceSeconds", f"Invalid value: {opts.since_seconds}: must be greater than 0")
        )
    if stream not in STREAMS:
        causes.append(
            (
                "stream",
                f'Unsupported value: "{stream}": supported values: "All", "Stderr", "Stdout"',
            )
        )
    if causes:
        raise LogOptionsError(causes)
    return opts


# --------------------------------------------------------------------------
# which container's log (the kubelet's validateContainerLogStatus)


class LogSelectionError(Exception):
    """No log to show for this request; the message is upstream's text (the
    kubelet answers it with 400, the API server relays it as BadRequest)."""


def _find_status(pod: Mapping[str, Any], container: str) -> Mapping[str, Any] | None:
    st = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for cs in st.get(key) or ():
            if cs.get("name") == container:
                return dict(cs)
    return None


def container_id_for_logs(pod: Mapping[str, Any], container: str, previous: bool) -> str:
    """The runtime's container id (``containerd://`` prefix removed) whose log
    a request for ``container`` of ``pod`` (with its status as the kubelet
    knows it) means. Raises :class:`LogSelectionError` with upstream's
    message when there is none."""
    pod_name = (pod.get("metadata") or {}).get("name", "")
    cs = _find_status(pod, container)
    if cs is None:
        raise LogSelectionError(f'container "{container}" in pod "{pod_name}" is not available')
    state = cs.get("state") or {}
    last = (cs.get("lastState") or {}).get("terminated")
    waiting, running, terminated = (
        state.get("waiting"),
        state.get("running"),
        state.get("terminated"),
    )
    cid = ""
    if previous:
        if not last or not last.get("containerID"):
            raise LogSelectionError(
                f'previous terminated container "{container}" in pod "{pod_name}" not found'
            )
        cid = last["containerID"]
    elif running is not None:
        cid = cs.get("containerID", "")
    elif terminated is not None:
        cid = terminated.get("containerID", "")
        if not cid:
            if last and last.get("containerID"):
                cid = last["containerID"]
            else:
                raise LogSelectionError(
                    f'container "{container}" in pod "{pod_name}" is terminated'
                )
    elif last is not None:
        cid = last.get("containerID", "")
        if not cid:
            raise LogSelectionError(f'container "{container}" in pod "{pod_name}" is terminated')
    elif waiting is not None:
        reason = waiting.get("reason", "")
        what = {
            "ErrImagePull": "image can't be pulled",
            "ImagePullBackOff": "trying and failing to pull image",
        }.get(reason, reason)
        raise LogSelectionError(
            f'container "{container}" in pod "{pod_name}" is waiting to start: {what}'
        )
    else:
        raise LogSelectionError(
            f'container "{container}" in pod "{pod_name}" is waiting to start - no logs yet'
        )
    return strip_runtime_prefix(cid)


def strip_runtime_prefix(container_id: str) -> str:
    """``containerd://abc`` → ``abc``."""
    _, sep, rest = container_id.partition("://")
    return rest if sep else container_id


# --------------------------------------------------------------------------
# the CRI log format


@dataclass(frozen=True, slots=True)
class LogRecord:
    timestamp: bytes
    stream: bytes
    partial: bool
    content: bytes


def parse_cri_line(line: bytes) -> LogRecord | None:
    """One record of a CRI log file (without its newline), or None when the
    line is not in the format."""
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        return None
    ts, stream, tag = parts[0], parts[1], parts[2]
    if stream not in (b"stdout", b"stderr") or not ts:
        return None
    content = parts[3] if len(parts) == 4 else b""
    first = tag.split(b":", 1)[0]
    if first not in (b"F", b"P"):
        return None
    return LogRecord(ts, stream, first == b"P", content)


def parse_timestamp_ns(ts: bytes) -> int | None:
    """RFC 3339 with any number of fractional digits → ns since the epoch."""
    m = _RFC3339.match(ts.decode("ascii", "replace"))
    if not m:
        return None
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7) or ""
    ns = int((frac[1:] + "000000000")[:9]) if frac else 0
    secs = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    off = m.group(8)
    if off not in ("Z", "z"):
        sign = -1 if off[0] == "-" else 1
        secs -= sign * (int(off[1:3]) * 3600 + int(off[4:6]) * 60)
    return secs * 1_000_000_000 + ns


def format_timestamp(ts: bytes) -> bytes:
    """A record's time as upstream prints it with ``timestamps``: nine
    fractional digits always, ``Z`` for UTC."""
    m = _RFC3339.match(ts.decode("ascii", "replace"))
    if not m:
        return ts
    frac = (m.group(7) or ".")[1:]
    off = m.group(8)
    if off in ("z", "+00:00", "-00:00"):
        off = "Z"
    base = ts[: m.start(7) if m.group(7) else m.start(8)].decode("ascii")
    return f"{base}.{(frac + '000000000')[:9]}{off}".encode("ascii")


# --------------------------------------------------------------------------
# tail


def _reverse_lines(f: BinaryIO, end: int) -> Iterator[tuple[int, bytes]]:
    """Yield ``(start_offset, line)`` for the lines of ``f[:end]``, last first
    (a final line without a newline included)."""
    pos = end
    rest = b""
    while pos > 0:
        size = min(CHUNK, pos)
        pos -= size
        f.seek(pos)
        block = f.read(size) + rest
        lines = block.split(b"\n")
        rest = lines[0]
        offset = pos + len(rest) + 1
        tails = lines[1:]
        # offsets of each complete line in this block
        starts = []
        o = offset
        for ln in tails:
            starts.append(o)
            o += len(ln) + 1
        for start, ln in zip(reversed(starts), reversed(tails), strict=True):
            yield start, ln
    yield 0, rest


def tail_offset(f: BinaryIO, n: int) -> int:
    """Where the last ``n`` log lines of ``f`` start (a line split into ``P``
    fragments counts once; a trailing unfinished line counts too)."""
    end = f.seek(0, os.SEEK_END)
    if n <= 0:
        return end
    if end == 0:
        return 0
    # a file ending in "\n" has an empty last "line" after it: skip it
    f.seek(end - 1)
    stop = end - 1 if f.read(1) == b"\n" else end
    count = 0
    first = True
    for start, line in _reverse_lines(f, stop):
        rec = parse_cri_line(line)
        partial = rec is not None and rec.partial
        if first:
            first = False
            count = 1
            continue
        if not partial:
            # this line ends a logical line that precedes the ones counted
            if count >= n:
                return start + len(line) + 1
            count += 1
    return 0


# --------------------------------------------------------------------------
# streaming


class _LimitReached(Exception):
    pass


class _Output:
    """Formats records and batches writes; enforces since/limit/stream."""

    def __init__(
        self,
        opts: LogOptions,
        write: Callable[[bytes], Awaitable[None]],
        since_ns: int | None,
    ) -> None:
        self.opts = opts
        self.write = write
        self.since_ns = since_ns
        self.remaining = opts.limit_bytes
        self.buf: list[bytes] = []
        self.size = 0
        self.line_start = {b"stdout": True, b"stderr": True}
        want = opts.stream
        self.streams = {
            "All": (b"stdout", b"stderr"),
            "Stdout": (b"stdout",),
            "Stderr": (b"stderr",),
        }[want]

    def add(self, line: bytes) -> None:
        rec = parse_cri_line(line)
        if rec is None:
            log.debug("skipping a line not in CRI log format: %r", line[:100])
            return
        if rec.stream not in self.streams:
            return
        if self.since_ns is not None:
            t = parse_timestamp_ns(rec.timestamp)
            if t is not None and t < self.since_ns:
                return
        out = rec.content if rec.partial else rec.content + b"\n"
        if self.opts.timestamps and self.line_start[rec.stream]:
            out = format_timestamp(rec.timestamp) + b" " + out
        self.line_start[rec.stream] = not rec.partial
        if self.remaining is not None:
            if len(out) >= self.remaining:
                out = out[: self.remaining]
                self.remaining = 0
                self._append(out)
                raise _LimitReached
            self.remaining -= len(out)
        self._append(out)

    def _append(self, out: bytes) -> None:
        if out:
            self.buf.append(out)
            self.size += len(out)

    async def flush(self, *, force: bool = True) -> None:
        if not self.buf or (not force and self.size < FLUSH_AT):
            return
        data = b"".join(self.buf)
        self.buf.clear()
        self.size = 0
        await self.write(data)


def _same_file(f: BinaryIO, path: Path) -> bool | None:
    """True when ``path`` still names the open file, False when it names
    another one, None when it does not exist (mid-rotation)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    own = os.fstat(f.fileno())
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


async def stream_log(
    path: Path,
    opts: LogOptions,
    write: Callable[[bytes], Awaitable[None]],
    *,
    is_running: Callable[[], bool] | None = None,
    poll_interval: float = 0.25,
    now: float | None = None,
) -> None:
    """Write the log in the CRI file ``path`` to ``write`` as ``opts`` ask.

    With ``follow``, returns once ``is_running()`` is false and the file has
    been read to its end (None: follow until cancelled). Raises OSError when
    the file cannot be opened."""
    out = _Output(opts, write, opts.since_ns(now))
    f: BinaryIO = open(path, "rb")
    try:
        if opts.tail_lines is not None:
            f.seek(tail_offset(f, opts.tail_lines))
        pending = b""
        stopping = False
        while True:
            chunk = f.read(CHUNK)
            if chunk:
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                try:
                    for line in lines:
                        out.add(line)
                except _LimitReached:
                    await out.flush()
                    return
                await out.flush(force=False)
                continue
            # at the end of the file
            if not opts.follow:
                if pending:
                    try:
                        out.add(pending)
                    except _LimitReached:
                        pass
                await out.flush()
                return
            await out.flush()
            same = _same_file(f, path)
            if same is False:
                # rotated: the old file is complete; go on with the new one
                f.close()
                f = open(path, "rb")
                pending = b""
                continue
            if same and os.fstat(f.fileno()).st_size < f.tell():
                f.seek(0)  # truncated in place
                pending = b""
                continue
            if stopping:
                return
            if is_running is not None and not is_running():
                # one more pass: read whatever it wrote before it stopped
                stopping = True
                continue
            await asyncio.sleep(poll_interval)
    finally:
        f.close()
