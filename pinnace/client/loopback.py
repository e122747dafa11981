"""HTTP/1.1 over the API server's loopback Unix socket: the transport of the
components that run inside the server's process.

Why not aiohttp here, as everywhere else: on the loopback, client and server
share one thread, so the client's cost per request is the server's too.
aiohttp's client spends its CPU on machinery (request and response objects,
cookie jar, tracing hooks, timeout handles, URL objects, connector
bookkeeping) that is not needed to speak to one server we wrote, over a
socket that only it listens on, with no TLS, proxies, redirects, cookies or
compression. This client writes the request bytes itself and reads the
answer with ``asyncio.StreamReader``: same server, same handler chain, same
bearer-token authentication. An event create from inside the server's
process cost 1,276 us of CPU for client and server together with aiohttp's
client, 1,050 us with this one (``docs/performance.md``, session 11).

What it understands of HTTP/1.1, which is all the aiohttp server sends:
``Content-Length`` and ``chunked`` bodies (watches stream as chunks), bodies
read to the end of the connection, ``Connection: close``, and no body for
``HEAD``, 1xx, 204 and 304. Connections are kept alive and reused, newest
first; one idle longer than ``keepalive_timeout`` (below the server's 75 s)
is dropped before reuse. A reused connection that the server closed before
answering is retried once on a new one: nothing was read, so nothing was
done.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Mapping
from urllib.parse import quote, urlencode

from pinnace.client.config import ClientConfig
from pinnace.client.transport import (
    UNIX_SCHEME,
    Response,
    StreamResponse,
    TransportError,
    iter_lines,
)

__all__ = ["LoopbackTransport"]

# bytes of one header line or chunk-size line at most (responses are ours)
_LINE_LIMIT = 1 << 20
# what may stay unescaped in a request path: RFC 3986 pchar, plus "/" and an
# existing escape's "%" (the same set yarl keeps when aiohttp requotes a URL)
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_NEEDS_QUOTING = re.compile(r"[^A-Za-z0-9/%:@!$&'()*+,;=\-._~]")
_NO_BODY_STATUS = frozenset({204, 304})


class _Connection:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _Answer:
    """A response whose head has been read; the body is still on the wire."""

    __slots__ = (
        "_conn",
        "_done",
        "_expired",
        "_reusable",
        "_timer",
        "_transport",
        "headers",
        "status",
    )

    def __init__(
        self,
        transport: LoopbackTransport,
        conn: _Connection,
        status: int,
        headers: dict[str, str],
        method: str,
    ) -> None:
        self._transport = transport
        self._conn = conn
        self.status = status
        self.headers = headers
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False
        self._done = False
        self._reusable = headers.get("connection", "").lower() != "close"
        if method == "HEAD" or status < 200 or status in _NO_BODY_STATUS:
            self._finish()

    def expire_at(self, deadline: float) -> None:
        """A stream's timeout: at ``deadline`` the connection is closed, and a
        read then pending fails as timed out. One timer for the whole stream,
        where ``asyncio.timeout`` would cost one per read, and could not be
        left armed across a ``yield`` without cancelling whatever the
        consumer awaits between two lines of a watch."""
        self._timer = asyncio.get_running_loop().call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._expired = True
        self._conn.close()

    def _finish(self) -> None:
        """The whole body was read: the connection goes back to the pool."""
        if not self._done:
            self._done = True
            if self._timer is not None:
                self._timer.cancel()
            self._transport._release(self._conn, reuse=self._reusable and not self._expired)

    def abandon(self) -> None:
        """The body was not read to its end: the connection cannot be reused."""
        if not self._done:
            self._done = True
            if self._timer is not None:
                self._timer.cancel()
            self._transport._release(self._conn, reuse=False)

    async def _chunks(self) -> AsyncIterator[bytes]:
        if self._done:
            return
        reader = self._conn.reader
        try:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    line = await reader.readuntil(b"\r\n")
                    size = int(line.split(b";", 1)[0], 16)
                    if size == 0:
                        while await reader.readuntil(b"\r\n") != b"\r\n":
                            pass  # trailer fields
                        break
                    data = await reader.readexactly(size + 2)
                    yield data[:-2]
            elif "content-length" in self.headers:
                n = int(self.headers["content-length"])
                if n:
                    yield await reader.readexactly(n)
            else:  # the body runs to the end of the connection
                self._reusable = False
                while chunk := await reader.read(65536):
                    yield chunk
                if self._expired:
                    raise EOFError("closed at the deadline")
        except (OSError, EOFError, asyncio.IncompleteReadError, ValueError) as e:
            self.abandon()
            if self._expired:
                raise TransportError("reading response: timed out") from e
            raise TransportError(f"reading response: {e!r}") from e
        self._finish()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self._chunks()])

    def lines(self) -> AsyncIterator[bytes]:
        return iter_lines(self._chunks())


class LoopbackTransport:
    """The :class:`~pinnace.client.transport.Transport` for a ``unix://``
    server: plain HTTP/1.1 on kept-alive connections to that socket.

    ``max_connections`` caps the connections open at once (requests and
    streams), as aiohttp's connector limit does; ``max_requests_in_flight``
    caps one-shot requests only (see ``AiohttpTransport``)."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        max_connections: int = 100,
        max_requests_in_flight: int | None = None,
        keepalive_timeout: float = 60.0,
    ) -> None:
        if not config.server.startswith(UNIX_SCHEME):
            raise ValueError(f"not a unix:// server: {config.server}")
        self.config = config
        self._path = config.server[len(UNIX_SCHEME) :]
        self._keepalive_timeout = keepalive_timeout
        self._max_connections = max_connections
        self._max_requests = max_requests_in_flight
        self._connection_slots: asyncio.Semaphore | None = None
        self._request_slots: asyncio.Semaphore | None = None
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        fixed = f"Host: localhost\r\nUser-Agent: {config.user_agent}\r\n"
        if config.token:
            fixed += f"Authorization: Bearer {config.token}\r\n"
        self._fixed_headers = fixed.encode("latin-1")

    # -- connections -----------------------------------------------------------

    def _slots(self) -> asyncio.Semaphore:
        if self._connection_slots is None:
            self._connection_slots = asyncio.Semaphore(self._max_connections)
        return self._connection_slots

    async def _connect(self) -> tuple[_Connection, bool]:
        """A connection for one exchange, and whether it was reused."""
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.idle_since < self._keepalive_timeout and not conn.reader.at_eof():
                return conn, True
            self._open.discard(conn)
            conn.close()
        reader, writer = await asyncio.open_unix_connection(self._path, limit=_LINE_LIMIT)
        conn = _Connection(reader, writer)
        self._open.add(conn)
        return conn, False

    def _release(self, conn: _Connection, *, reuse: bool) -> None:
        self._slots().release()
        if reuse and conn in self._open and not conn.writer.is_closing():
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            self._open.discard(conn)
            conn.close()

    # -- one exchange ----------------------------------------------------------

    def _request_bytes(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        body: bytes | None,
    ) -> bytes:
        target = quote(path, safe=_PATH_SAFE) if _NEEDS_QUOTING.search(path) else path
        if params:
            target += "?" + urlencode(params, quote_via=quote)
        parts = [f"{method} {target} HTTP/1.1\r\n".encode("latin-1"), self._fixed_headers]
        if headers:
            parts.append("".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode("latin-1"))
        if body is not None:
            parts.append(b"Content-Length: %d\r\n\r\n" % len(body))
            parts.append(body)
        else:
            parts.append(b"\r\n")
        return b"".join(parts)

    async def _exchange(self, method: str, path: str, request: bytes) -> _Answer:
        """Send ``request`` and read the answer's head (the caller holds one
        connection slot; the answer gives it back, an error does not)."""
        for attempt in (0, 1):
            try:
                conn, reused = await self._connect()
            except OSError as e:
                raise TransportError(f"{method} {path}: {e!r}") from e
            try:
                conn.writer.write(request)
                try:
                    head = await conn.reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError as e:
                    if reused and not e.partial and attempt == 0:
                        # the server had closed this idle connection
                        self._open.discard(conn)
                        conn.close()
                        continue
                    raise
                status, headers = _parse_head(head)
            except BaseException as e:
                self._open.discard(conn)
                conn.close()
                if isinstance(e, (OSError, EOFError, asyncio.IncompleteReadError, ValueError)):
                    raise TransportError(f"{method} {path}: {e!r}") from e
                raise
            return _Answer(self, conn, status, headers, method)
        raise AssertionError("unreachable")  # pragma: no cover

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> Response:
        data = self._request_bytes(method, path, params, headers, body)
        if timeout is None:
            timeout = self.config.timeout
        if self._max_requests is None:
            return await self._request(method, path, data, timeout)
        if self._request_slots is None:
            self._request_slots = asyncio.Semaphore(self._max_requests)
        async with self._request_slots:
            return await self._request(method, path, data, timeout)

    async def _request(
        self, method: str, path: str, data: bytes, timeout: float | None
    ) -> Response:
        await self._slots().acquire()
        answer: _Answer | None = None
        try:
            # one timer for the whole exchange (the body is read in here too)
            async with asyncio.timeout(timeout):
                answer = await self._exchange(method, path, data)
                payload = await answer.read()
        except TimeoutError as e:
            raise TransportError(f"{method} {path}: timed out") from e
        finally:
            if answer is None:
                self._slots().release()
            else:
                answer.abandon()  # no-op once the body was read
        return Response(status=answer.status, body=payload, headers=answer.headers)

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[StreamResponse]:
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        data = self._request_bytes(method, path, params, headers, body)
        await self._slots().acquire()
        try:
            async with asyncio.timeout_at(deadline):
                answer = await self._exchange(method, path, data)
        except BaseException as e:
            self._slots().release()
            if isinstance(e, TimeoutError):
                raise TransportError(f"{method} {path}: timed out") from e
            raise
        if deadline is not None:
            answer.expire_at(deadline)
        try:
            yield answer
        finally:
            answer.abandon()  # mid-stream: drop the connection

    async def close(self) -> None:
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
    version, status, *_ = status_line.split(" ", 2)
    if not version.startswith("HTTP/1."):
        raise ValueError(f"status line {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"header line {line[:80]!r}")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return int(status), headers
