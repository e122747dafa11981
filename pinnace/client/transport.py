"""How requests reach the API server: the :class:`Transport` seam and its HTTPS
implementation.

A transport moves bytes; it knows nothing about resources, JSON or errors
(``rest.Client`` does). Two operations:

* ``request(...) -> Response``: one request, the whole body read;
* ``stream(...)``: an async context manager yielding a :class:`StreamResponse`
  whose ``lines()`` iterates the body line by line as it arrives (watch).

:class:`AiohttpTransport` is the implementation for talking to an apiserver in
another process or machine: one ``aiohttp.ClientSession`` (connection pooling
and keep-alive) with an SSL context built from the :class:`ClientConfig` (CA,
client certificate/key, or a bearer token). A ``server`` of the form
``unix:///path`` selects plain HTTP over that Unix socket instead: the API
server's loopback listener for the components running in its own process
(same handler chain and bearer-token authentication, no TCP or TLS).
With ``ClientConfig.fallback_servers`` (several servers sharing one etcd),
a request that cannot connect to the current server (so nothing was sent)
goes to the next one, which then stays current: a node agent outlives the
server it joined through.

The components in the server's own process reach that socket through
:class:`~pinnace.client.loopback.LoopbackTransport` instead, a small
HTTP/1.1 client that costs the shared thread far less per request;
:func:`transport_for` picks the transport for a config. A transport needs
only to return :class:`Response` objects and, for ``stream``, an object with
``status``, ``headers``, ``read()`` and ``lines()``; :func:`iter_lines` turns
any async iterator of byte chunks into lines. Nothing else in
``pinnace.client`` depends on aiohttp.
"""

from __future__ import annotations

import asyncio.sslproto
import contextlib
import logging
import os
import ssl
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import orjson

from pinnace.client.config import ClientConfig

log = logging.getLogger("pinnace.client.transport")

__all__ = [
    "AiohttpTransport",
    "Response",
    "StreamResponse",
    "Transport",
    "TransportError",
    "build_ssl_context",
    "iter_lines",
    "transport_for",
]


UNIX_SCHEME = "unix://"

# asyncio gives every TLS connection a 256 KiB read buffer (zero-filled, so
# all of it resident): a component's pool of 100 keep-alive connections, or
# the API server's connections from them, cost 25 MB each way. 64 KiB still
# holds four full TLS records per read. Set once for the process: every
# pinnace process that speaks TLS imports this module.
TLS_READ_BUFFER = 64 * 1024
asyncio.sslproto.SSLProtocol.max_size = min(asyncio.sslproto.SSLProtocol.max_size, TLS_READ_BUFFER)


class TransportError(ConnectionError):
    """The request did not get an HTTP answer (connection refused/reset, timeout, TLS)."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)  # keys lower-case

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class StreamResponse(Protocol):
    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    async def read(self) -> bytes:
        """The rest of the body (used for error responses)."""
        ...

    def lines(self) -> AsyncIterator[bytes]:
        """Lines of the body as they arrive, without the trailing newline."""
        ...


class Transport(Protocol):
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
        """Send one request; raise :class:`TransportError` when there is no answer."""
        ...

    def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> contextlib.AbstractAsyncContextManager[StreamResponse]:
        """Send a request and stream its body; the connection is released on exit."""
        ...

    async def close(self) -> None: ...


async def iter_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Split a stream of byte chunks into lines (any size; empty lines skipped)."""
    buf = b""
    async for chunk in chunks:
        buf += chunk
        if b"\n" not in chunk:
            continue
        *complete, buf = buf.split(b"\n")
        for line in complete:
            if line.strip():
                yield line
    if buf.strip():
        yield buf


def build_ssl_context(config: ClientConfig) -> ssl.SSLContext:
    """An SSL context that trusts the configured CA and presents the client cert.

    As client-go does, a configured CA replaces the system's trusted roots
    rather than adding to them; the system roots are loaded only when no CA
    is configured. (Loading them costs about 2 MB per context, a good part
    of the node agent's memory budget.)"""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the certificate and the name
    if config.insecure_skip_tls_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif config.ca_file or config.ca_data:
        ctx.load_verify_locations(
            cafile=config.ca_file, cadata=config.ca_data.decode() if config.ca_data else None
        )
    else:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if config.cert_file or config.cert_data:
        if config.cert_file and config.key_file:
            ctx.load_cert_chain(config.cert_file, config.key_file)
        else:
            # ssl can only load a chain from files: stage the PEM data in a private dir
            with tempfile.TemporaryDirectory(prefix="pinnace-tls-") as d:
                cert = config.cert_data
                key = config.key_data
                if cert is None and config.cert_file:
                    with open(config.cert_file, "rb") as f:
                        cert = f.read()
                if key is None and config.key_file:
                    with open(config.key_file, "rb") as f:
                        key = f.read()
                assert cert is not None and key is not None
                cert_path, key_path = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
                for path, data in ((cert_path, cert), (key_path, key)):
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                ctx.load_cert_chain(cert_path, key_path)
    return ctx


class _AiohttpStream:
    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.headers = {k.lower(): v for k, v in resp.headers.items()}

    @property
    def status(self) -> int:
        return self._resp.status

    async def read(self) -> bytes:
        try:
            return await self._resp.read()
        except (TimeoutError, aiohttp.ClientError) as e:
            raise TransportError(f"reading response: {e}") from e

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._resp.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as e:
            raise TransportError(f"stream interrupted: {e!r}") from e

    def lines(self) -> AsyncIterator[bytes]:
        return iter_lines(self._chunks())


class AiohttpTransport:
    """HTTP(S) transport over one pooled ``aiohttp.ClientSession``
    (``max_connections`` keep-alive connections, streams included).

    ``max_requests_in_flight`` caps how many one-shot requests are in flight
    at once (streams, i.e. watches, do not count). HTTP/1.1 carries one
    request at a time per connection, so without a cap a burst of N
    concurrent requests opens N new connections, each a TLS handshake that
    costs the API server about 1.4 ms of its one thread (ten times a GET on
    a kept-alive connection). A component whose bursts should not do that
    (the kubelet) sets a small cap: a burst beyond it waits here, and the
    requests reuse the same few connections, much as client-go's share one
    HTTP/2 connection. A load generator leaves it uncapped: fewer requests
    in flight make the server batch less (one commit, one socket write per
    event for fewer requests) and measurably cost it more CPU per request.

    The session is created lazily on first use (it must be created inside
    the running event loop) and closed by :meth:`close`.
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        max_connections: int = 100,
        max_requests_in_flight: int | None = None,
        keepalive_timeout: float = 60.0,
    ) -> None:
        self.config = config
        self._base = config.server.rstrip("/")
        # ``unix:///path/to/socket``: plain HTTP over a Unix socket (the API
        # server's in-process loopback listener); no TCP, no TLS
        self._unix_path: str | None = None
        if self._base.startswith(UNIX_SCHEME):
            self._unix_path = self._base[len(UNIX_SCHEME) :]
            self._base = "http://localhost"
        # the servers to fail over between (one unless fallback_servers):
        # requests go to the current one; when it cannot be connected to
        # (nothing was sent), the next one is tried, and stays current
        self._bases = [self._base] + [
            u.rstrip("/") for u in config.fallback_servers if self._unix_path is None
        ]
        self._configured = list(dict.fromkeys(self._bases))
        self._ssl: ssl.SSLContext | None = (
            build_ssl_context(config) if self._base.startswith("https:") else None
        )
        self._max_connections = max_connections
        self._max_requests = max_requests_in_flight
        self._request_slots: asyncio.Semaphore | None = None
        self._keepalive_timeout = keepalive_timeout
        self._session: aiohttp.ClientSession | None = None
        self._default_headers: dict[str, str] = {"User-Agent": config.user_agent}
        if config.token:
            self._default_headers["Authorization"] = f"Bearer {config.token}"

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector: aiohttp.BaseConnector
            if self._unix_path is not None:
                connector = aiohttp.UnixConnector(
                    path=self._unix_path,
                    limit=self._max_connections,
                    keepalive_timeout=self._keepalive_timeout,
                )
            else:
                connector = aiohttp.TCPConnector(
                    ssl=self._ssl if self._ssl is not None else False,
                    limit=self._max_connections,
                    keepalive_timeout=self._keepalive_timeout,
                )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self._default_headers,
                auto_decompress=True,
                # we send query strings we built; never rewrite them
                requote_redirect_url=False,
            )
        return self._session

    def _slots(self) -> asyncio.Semaphore | contextlib.AbstractAsyncContextManager[None]:
        if self._max_requests is None:
            return contextlib.nullcontext()
        if self._request_slots is None:
            self._request_slots = asyncio.Semaphore(self._max_requests)
        return self._request_slots

    def _kwargs(
        self,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        body: bytes | None,
        timeout: float | None,
    ) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "params": dict(params) if params else None,
            "headers": dict(headers) if headers else None,
            "data": body,
            "timeout": aiohttp.ClientTimeout(total=timeout),
        }
        if self.config.tls_server_name and self._ssl is not None:
            kw["server_hostname"] = self.config.tls_server_name
        return kw

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
        session = self._get_session()
        if timeout is None:
            timeout = self.config.timeout
        for attempt in range(len(self._bases)):
            base = self._base
            try:
                async with (
                    self._slots(),
                    session.request(
                        method, base + path, **self._kwargs(params, headers, body, timeout)
                    ) as resp,
                ):
                    data = await resp.read()
                    return Response(
                        status=resp.status,
                        body=data,
                        headers={k.lower(): v for k, v in resp.headers.items()},
                    )
            except (TimeoutError, aiohttp.ClientError, ssl.SSLError) as e:
                self._failed(e, base, attempt, f"{method} {path}")
        raise AssertionError("unreachable")  # the loop returns or raises

    def _failed(self, error: BaseException, base: str, attempt: int, what: str) -> None:
        """A request to ``base`` failed: raise :class:`TransportError`, unless
        nothing was sent (it could not connect) and another server is left
        to try; then make the next server current (unless a concurrent
        request already moved on) and return."""
        if not isinstance(error, aiohttp.ClientConnectorError) or attempt + 1 >= len(self._bases):
            raise TransportError(f"{what}: {error!r}") from error
        if self._base == base:
            # a server no longer listed (learn_servers dropped it) moves on to the first
            i = self._bases.index(base) + 1 if base in self._bases else 0
            self._base = self._bases[i % len(self._bases)]
            log.warning("API server %s unreachable (%s); using %s", base, error, self._base)

    @property
    def can_fail_over(self) -> bool:
        """Whether this transport can use other servers (not a Unix socket)."""
        return self._unix_path is None

    @property
    def servers(self) -> list[str]:
        """The servers requests fail over between, the current one among them."""
        return list(self._bases)

    def learn_servers(self, urls: list[str]) -> bool:
        """Fail over to ``urls`` too (the API servers the cluster lists in the
        ``kubernetes`` Endpoints), after the configured servers, which are
        always kept. The current server stays current. Returns whether the
        list changed. A Unix-socket transport has one server and ignores this."""
        if not self.can_fail_over:
            return False
        bases = list(dict.fromkeys([*self._configured, *(u.rstrip("/") for u in urls)]))
        if bases == self._bases:
            return False
        self._bases = bases
        return True

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
        session = self._get_session()
        for attempt in range(len(self._bases)):
            base = self._base
            try:
                resp = await session.request(
                    method, base + path, **self._kwargs(params, headers, body, timeout)
                )
                break
            except (TimeoutError, aiohttp.ClientError, ssl.SSLError) as e:
                self._failed(e, base, attempt, f"{method} {path}")
        else:
            raise AssertionError("unreachable")  # the loop breaks or raises
        try:
            yield _AiohttpStream(resp)
        finally:
            if resp.content.at_eof():
                resp.release()  # back to the pool
            else:
                resp.close()  # abandoned mid-stream: drop the connection

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def transport_for(
    config: ClientConfig,
    *,
    max_connections: int = 100,
    max_requests_in_flight: int | None = None,
) -> Transport:
    """The transport for ``config.server``: :class:`~pinnace.client.loopback.
    LoopbackTransport` for the server's ``unix://`` loopback socket (the
    components in its process), :class:`AiohttpTransport` otherwise."""
    if config.server.startswith(UNIX_SCHEME):
        from pinnace.client.loopback import LoopbackTransport  # imports this module

        return LoopbackTransport(
            config, max_connections=max_connections, max_requests_in_flight=max_requests_in_flight
        )
    return AiohttpTransport(
        config, max_connections=max_connections, max_requests_in_flight=max_requests_in_flight
    )
