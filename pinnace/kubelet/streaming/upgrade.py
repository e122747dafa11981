"""Raw HTTP/1.1 upgrades: taking over an aiohttp connection, dialling one, and splicing two.

Why this exists: aiohttp's server only treats ``Upgrade: websocket`` as an
upgrade. For ``Upgrade: SPDY/3.1`` (kubectl's SPDY exec/port-forward) its HTTP
parser would go on parsing the bytes after the request as further HTTP
requests. The hook aiohttp's own ``WebSocketResponse`` uses is public enough to
reuse: ``request.protocol.set_parser(p)`` routes every later byte of the
connection to ``p.feed_data`` (and the end of the connection to
``p.feed_eof``). We install a tiny feeder into an ``asyncio.StreamReader``
*before* answering ``101 Switching Protocols``, so no byte can reach the HTTP
parser (SPDY clients send nothing until they have read the 101). Writes go
through the ``StreamResponse`` (``await resp.write``), which sends the 101
headers immediately and gives us aiohttp's write flow control. This keeps one
HTTPS listener and aiohttp's TLS, rather than a second hand-written HTTP server
next to it.

The other direction, dialling containerd's streaming server
(``http://127.0.0.1:PORT/exec/TOKEN``), is a plain ``asyncio.open_connection``
with a hand-written upgrade request: it is three header lines, and aiohttp's
client cannot hand over a non-WebSocket upgraded connection either.

``splice`` copies bytes both ways between two ``Pipe`` ends until either side
ends, which is all a pass-through of an upgraded SPDY connection needs: SPDY
ends with GOAWAY and a close, never a half-closed TCP connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

from aiohttp import web

from pinnace import aio

log = logging.getLogger("pinnace.kubelet.streaming.upgrade")

READ_CHUNK = 64 * 1024
MAX_HEAD = 64 * 1024
MAX_ERROR_BODY = 64 * 1024


class Pipe(Protocol):
    """One end of a byte connection: what ``splice`` and SPDY sessions use."""

    async def recv(self) -> bytes:
        """Some bytes; ``b""`` at the end."""
        ...

    async def send(self, data: bytes) -> None: ...

    async def aclose(self) -> None: ...


class StreamPipe:
    """A ``Pipe`` over an asyncio reader and a writer-like object."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def recv(self) -> bytes:
        try:
            return await self.reader.read(READ_CHUNK)
        except (ConnectionError, OSError):
            return b""

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def aclose(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


class _Feeder:
    """What aiohttp's protocol feeds after ``set_parser``: bytes into a StreamReader."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self._reader.feed_data(data)
        return False, b""

    def feed_eof(self) -> None:
        self._reader.feed_eof()


class ServerPipe:
    """The client's side of an upgraded aiohttp connection (after our 101)."""

    def __init__(
        self, request: web.BaseRequest, response: web.StreamResponse, reader: asyncio.StreamReader
    ) -> None:
        self.request = request
        self.response = response
        self.reader = reader

    async def recv(self) -> bytes:
        try:
            return await self.reader.read(READ_CHUNK)
        except (ConnectionError, OSError):
            return b""

    async def send(self, data: bytes) -> None:
        await self.response.write(data)

    async def aclose(self) -> None:
        transport = self.request.transport
        if transport is not None and not transport.is_closing():
            transport.close()


async def accept_upgrade(
    request: web.BaseRequest, upgrade: str, headers: Mapping[str, str] | None = None
) -> ServerPipe:
    """Answer ``101 Switching Protocols`` and take over the connection's bytes.

    ``upgrade`` is the ``Upgrade`` header of the answer (e.g. ``SPDY/3.1``).
    The handler must return ``pipe.response`` when it is done; aiohttp then
    closes the connection.
    """
    reader = asyncio.StreamReader(limit=2 * READ_CHUNK)
    if request.transport is not None:
        reader.set_transport(request.transport)
    # aiohttp annotates set_parser with its WebSocketReader; it only calls
    # feed_data/feed_eof on it.
    request.protocol.set_parser(cast(Any, _Feeder(reader)))
    response = web.StreamResponse(status=101, reason="Switching Protocols")
    response.headers["Connection"] = "Upgrade"
    response.headers["Upgrade"] = upgrade
    for name, value in (headers or {}).items():
        response.headers[name] = value
    response.force_close()
    await response.prepare(request)
    return ServerPipe(request, response, reader)


class UpgradeFailed(Exception):
    """The server answered the upgrade request with something other than 101."""

    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes):
        super().__init__(f"upgrade refused: {status} {reason}: {body[:200]!r}")
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body


@dataclass
class DialedUpgrade:
    """An upgraded client connection: the 101's headers and the raw byte pipe."""

    status: int
    headers: list[tuple[str, str]]
    pipe: StreamPipe
    reader: asyncio.StreamReader = field(repr=False)
    writer: asyncio.StreamWriter = field(repr=False)

    def header(self, name: str) -> str:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return ""


async def dial_upgrade(
    url: str,
    upgrade: str,
    headers: Iterable[tuple[str, str]] = (),
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> DialedUpgrade:
    """Send ``GET url`` with ``Connection: Upgrade`` and return the upgraded connection.

    ``https`` URLs use ``ssl_context`` (default: no verification, as containerd's
    streaming server, when it has TLS at all, uses a self-signed certificate).
    Raises ``UpgradeFailed`` for any answer but 101.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"cannot dial {url!r}: scheme must be http or https")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    context: ssl.SSLContext | None = None
    if parts.scheme == "https":
        if ssl_context is None:
            ssl_context = ssl.create_default_context()
            ssl_context.check_hostname = False
            ssl_context.verify_mode = ssl.CERT_NONE
        context = ssl_context
    reader, writer = await asyncio.open_connection(host, port, ssl=context, limit=MAX_HEAD)
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        host_header = parts.netloc.rsplit("@", 1)[-1]
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: {host_header}",
            "Connection: Upgrade",
            f"Upgrade: {upgrade}",
        ]
        lines += [f"{name}: {value}" for name, value in headers]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        try:
            _version, code, *reason = status_line.split(" ", 2)
            status = int(code)
        except ValueError as exc:
            raise ConnectionError(f"bad HTTP status line from {url}: {status_line!r}") from exc
        response_headers: list[tuple[str, str]] = []
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                response_headers.append((name.strip(), value.strip()))
        if status != 101:
            body = await _read_error_body(reader, response_headers)
            raise UpgradeFailed(status, reason[0] if reason else "", response_headers, body)
    except BaseException:
        writer.close()
        raise
    return DialedUpgrade(status, response_headers, StreamPipe(reader, writer), reader, writer)


async def _read_error_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]]) -> bytes:
    length = next((v for k, v in headers if k.lower() == "content-length"), None)
    with contextlib.suppress(Exception):
        if length is not None:
            return await reader.readexactly(min(int(length), MAX_ERROR_BODY))
        return await aio.wait_for(reader.read(MAX_ERROR_BODY), timeout=5)
    return b""


async def splice(a: Pipe, b: Pipe) -> None:
    """Copy bytes both ways until either side ends (or fails); then close both."""

    async def copy(src: Pipe, dst: Pipe) -> None:
        while data := await src.recv():
            await dst.send(data)

    tasks = [asyncio.ensure_future(copy(a, b)), asyncio.ensure_future(copy(b, a))]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.debug("splice ended: %s", task.exception())
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for pipe in (a, b):
            with contextlib.suppress(Exception):
                await pipe.aclose()
