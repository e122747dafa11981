"""HTTP/JSON client for etcd's v3 gRPC gateway, with endpoint failover.

The gateway maps every gRPC method to ``POST /v3/<service>/<method>`` with the
request message as JSON (proto3 JSON mapping: ``bytes`` as base64, int64 as
strings, fields at their default value omitted), and server-streaming methods
(watch) to a chunked response carrying one ``{"result": ...}`` or
``{"error": ...}`` object per line.

Concurrency model: one ``aiohttp.ClientSession`` (a pool of keep-alive
connections) shared by every coroutine; requests run concurrently. The
"current endpoint" is shared too: a request that fails on it moves everyone to
the next endpoint (compare-and-rotate, so concurrent failures rotate once).

Failover and retries: a request is retried on the next endpoint, with a short
backoff, until ``failover_timeout`` when it is known NOT to have been applied
(the connection could not be established; etcd answered "no leader" or
similar). When the outcome is unknown (the connection broke after the request
was sent, a timeout, "leader changed") only idempotent requests (reads,
compaction) are retried; a write raises ``StorageError`` saying the outcome is
unknown, because blindly re-sending a guarded write could report a conflict
with itself. That mirrors what the Kubernetes apiserver does with etcd.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import orjson

from pinnace.storage.backend import StorageError

log = logging.getLogger(__name__)

JSON = dict[str, Any]

# etcd errors that mean "this request was not applied": safe to retry anywhere.
_NOT_APPLIED = (
    "etcdserver: no leader",
    "etcdserver: not capable",
    "etcdserver: too many requests",
)
# ... and those after which a write may or may not have been applied.
_UNKNOWN_OUTCOME = (
    "etcdserver: request timed out",
    "etcdserver: leader changed",
    "etcdserver: server stopped",
    "transport is closing",
    "connection refused",  # gateway → its own gRPC server
    "connection closed",
    "context canceled",
    "context deadline exceeded",
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def encode_key(key: str) -> bytes:
    return key.encode("utf-8", "surrogateescape")


def decode_key(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class GatewayError(StorageError):
    """An error etcd answered with (not a transport failure)."""

    def __init__(self, path: str, message: str, code: int, status: int) -> None:
        super().__init__(f"etcd {path}: {message} (grpc code {code}, http {status})")
        self.message = message
        self.code = code
        self.status = status

    @property
    def compacted(self) -> bool:
        return "required revision has been compacted" in self.message

    @property
    def future_revision(self) -> bool:
        return "required revision is a future revision" in self.message

    @property
    def not_applied(self) -> bool:
        return any(m in self.message for m in _NOT_APPLIED)

    @property
    def unknown_outcome(self) -> bool:
        return any(m in self.message for m in _UNKNOWN_OUTCOME)


class Gateway:
    """See the module docstring."""

    def __init__(
        self,
        endpoints: list[str],
        *,
        request_timeout: float = 10.0,
        failover_timeout: float = 15.0,
    ) -> None:
        if not endpoints:
            raise ValueError("etcd: at least one endpoint is required")
        self.endpoints = [_normalize(e) for e in endpoints]
        self._request_timeout = aiohttp.ClientTimeout(total=request_timeout, sock_connect=2.0)
        self._stream_timeout = aiohttp.ClientTimeout(total=None, sock_connect=2.0, sock_read=None)
        self.failover_timeout = failover_timeout
        self._current = 0
        self._session: aiohttp.ClientSession | None = None
        self._streams: set[aiohttp.ClientResponse] = set()

    async def open(self) -> None:
        # trust_env=False: never route loopback etcd traffic through a proxy.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
            trust_env=False,
        )

    async def close(self) -> None:
        # Closing the session alone does not wake a reader blocked on a
        # streaming response: close those connections first.
        for resp in list(self._streams):
            resp.close()
        if self._session is not None:
            await self._session.close()

    @property
    def current(self) -> int:
        return self._current

    def rotate(self, failed: int) -> None:
        """Move to the endpoint after ``failed`` unless someone already moved."""
        if self._current == failed:
            self._current = (failed + 1) % len(self.endpoints)
            log.info(
                "etcd: switching from %s to %s",
                self.endpoints[failed],
                self.endpoints[self._current],
            )

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise StorageError("etcd backend is not open")
        return self._session

    async def call(self, path: str, body: JSON, *, idempotent: bool) -> JSON:
        """POST ``body`` to ``path``, failing over as described above."""
        session = self._require_session()
        data = orjson.dumps(body)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.failover_timeout
        delay = 0.05
        while True:
            if not idempotent:
                # Let the loop poll for I/O first: a member that died since our
                # last request left an EOF on its pooled keep-alive connection;
                # once seen, the pool drops that connection and we get a clean
                # (retryable) "connection refused" instead of an ambiguous
                # disconnect after having sent a write.
                await asyncio.sleep(0)
            index = self._current
            url = self.endpoints[index] + path
            failure: BaseException
            try:
                async with session.post(
                    url,
                    data=data,
                    headers={"Content-Type": "application/json"},
                    timeout=self._request_timeout,
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
            except aiohttp.ClientConnectorError as e:  # never reached the server
                failure = e
            except (aiohttp.ClientError, TimeoutError) as e:
                if not idempotent and not _not_sent(e):
                    self.rotate(index)
                    raise StorageError(f"etcd {path} via {url}: outcome unknown: {e!r}") from e
                failure = e
            else:
                reply = _decode(path, raw, status)
                if status == 200:
                    return reply
                err = GatewayError(
                    path,
                    str(reply.get("message") or reply.get("error") or raw[:200]),
                    int(reply.get("code", 0)),
                    status,
                )
                if err.unknown_outcome and not idempotent:
                    self.rotate(index)
                    raise StorageError(f"etcd {path} via {url}: outcome unknown: {err}") from err
                if not (err.not_applied or err.unknown_outcome):
                    raise err
                failure = err
            self.rotate(index)
            if loop.time() + delay > deadline:
                raise StorageError(f"etcd {path}: no endpoint answered: {failure}") from failure
            log.debug("etcd %s via %s failed (%s); retrying", path, url, failure)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def stream(self, path: str, body: JSON) -> AsyncGenerator[JSON, None]:
        """One streaming call on the current endpoint: yields each ``result``.
        Raises ``GatewayError`` for an error line, aiohttp/timeout errors when
        the connection fails; returns when the server ends the stream. The
        caller reconnects (after ``rotate``) as it sees fit."""
        session = self._require_session()
        url = self.endpoints[self._current] + path
        async with session.post(
            url,
            data=orjson.dumps(body),
            # "hasleader" (gRPC metadata, forwarded by the gateway): etcd cancels
            # the stream with "no leader" when this member loses its leader,
            # instead of leaving the watch silently stale; we then reconnect.
            headers={"Content-Type": "application/json", "Grpc-Metadata-hasleader": "true"},
            timeout=self._stream_timeout,
        ) as resp:
            if resp.status != 200:
                reply = _decode(path, await resp.read(), resp.status)
                raise GatewayError(
                    path, str(reply.get("message") or reply), int(reply.get("code", 0)), resp.status
                )
            self._streams.add(resp)
            try:
                buf = bytearray()
                async for chunk in resp.content.iter_any():
                    buf += chunk
                    start = 0
                    while (nl := buf.find(b"\n", start)) >= 0:
                        result = _stream_result(path, bytes(buf[start:nl]))
                        start = nl + 1
                        if result is not None:
                            yield result
                    del buf[:start]
            finally:
                self._streams.discard(resp)


def _stream_result(path: str, line: bytes) -> JSON | None:
    """One line of a streaming reply: its ``result``, or raise its ``error``."""
    if not line.strip():
        return None
    msg = _decode(path, line, 200)
    if "error" in msg:
        err = msg["error"]
        if not isinstance(err, dict):
            err = {"message": str(err)}
        raise GatewayError(
            path,
            str(err.get("message", err)),
            int(err.get("grpc_code", err.get("code", 0))),
            int(err.get("http_code", 200)),
        )
    result = msg.get("result")
    return result if isinstance(result, dict) else None


def _not_sent(error: BaseException) -> bool:
    """True when the request body never fully left: etcd cannot have applied a
    request it did not receive whole (e.g. a pooled connection the dead member
    had closed: "Cannot write to closing transport")."""
    return isinstance(error, aiohttp.ClientOSError) and "Can not write request body" in str(error)


def _normalize(endpoint: str) -> str:
    endpoint = endpoint.strip().rstrip("/")
    if "://" not in endpoint:
        endpoint = "http://" + endpoint
    if not endpoint.startswith("http://"):
        raise ValueError(f"etcd endpoint {endpoint!r}: only http:// is supported")
    return endpoint


def _decode(path: str, raw: bytes, status: int) -> JSON:
    try:
        reply = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise StorageError(f"etcd {path}: HTTP {status}, not JSON: {raw[:200]!r}") from None
    if not isinstance(reply, dict):
        raise StorageError(f"etcd {path}: HTTP {status}, unexpected reply: {raw[:200]!r}")
    return reply
