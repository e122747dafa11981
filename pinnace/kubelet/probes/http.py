"""The HTTP GET that ``httpGet`` probes and ``httpGet`` lifecycle hooks make.

Follows upstream's ``pkg/probe/http`` (v1.32): the request is built from the
``HTTPGetAction`` (host defaults to the pod IP, ``port`` is a number or a named
container port, ``scheme`` HTTP or HTTPS, ``httpHeaders`` with a ``Host`` header
overriding the request's host), sent with ``User-Agent: kube-probe/1.32`` (hooks:
``kube-lifecycle/1.32``) and ``Accept: */*`` unless the action sets them, without
compression, proxy or keep-alive, and with TLS certificates not verified.
Redirects are followed only while they stay on the same host name (at most 10);
a redirect elsewhere ends the request with that 3xx response. At most 10 KiB of
the body is read.

Errors are :class:`HTTPGetError` carrying the text Go's ``http.Client`` would
produce (``Get "http://10.0.0.5:8080/healthz": dial tcp 10.0.0.5:8080: connect:
connection refused``), because that text is what the probe reports in its
``Unhealthy`` event.

One aiohttp session per request (no connection reuse, as upstream disables
keep-alive for probes); the timeout covers connecting, redirects and reading the
body, as Go's ``Client.Timeout`` does. Timeouts are real (network) time, not the
injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from pinnace.kubelet.probes.gofmt import go_errno_text, go_quote, join_host_port

__all__ = [
    "KUBE_MINOR_VERSION",
    "MAX_BODY_BYTES",
    "HTTPGetError",
    "HTTPRequest",
    "HTTPResponse",
    "PortError",
    "http_get",
    "new_request_for_http_get_action",
    "resolve_container_port",
    "user_agent",
]

KUBE_MINOR_VERSION = "1.32"
"""The ``<major>.<minor>`` pinnace's kubelet reports in probe User-Agents."""

MAX_BODY_BYTES = 10 * 1024
"""Upstream reads at most 10 KiB of a probe's response body."""

MAX_REDIRECTS = 10
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


def user_agent(purpose: str) -> str:
    """``kube-probe/1.32`` or ``kube-lifecycle/1.32``."""
    return f"kube-{purpose}/{KUBE_MINOR_VERSION}"


class PortError(ValueError):
    """A probe's port could not be resolved; the message is upstream's text."""


class HTTPGetError(Exception):
    """The GET failed before a response (or while reading its body).

    ``str(err)`` is the Go-style text. ``while_reading_body`` tells a body read
    failure (upstream reports that as a probe error) from a request failure
    (a probe failure)."""

    def __init__(
        self, message: str, *, while_reading_body: bool = False, http_to_https: bool = False
    ) -> None:
        super().__init__(message)
        self.while_reading_body = while_reading_body
        self.http_to_https = http_to_https
        """The server answered plain HTTP to our HTTPS request (hooks retry with HTTP)."""


def resolve_container_port(port: Any, container: Mapping[str, Any]) -> int:
    """``probe.ResolveContainerPort``: an int is taken as is; a string names a
    container port (``ports[].name`` -> ``containerPort``) or, failing that, is
    parsed as a number. Raises :class:`PortError` with upstream's texts
    (``strconv.Atoi: parsing "http": invalid syntax``, ``invalid port number: 0``)."""
    if isinstance(port, bool) or port is None:
        raise PortError(f"intOrString had no kind: {port!r}")
    if isinstance(port, int):
        number = port
    elif isinstance(port, str):
        for spec in container.get("ports") or []:
            if spec.get("name") == port:
                number = int(spec.get("containerPort") or 0)
                break
        else:
            number = _go_atoi(port)
    else:
        raise PortError(f"intOrString had no kind: {port!r}")
    if 0 < number < 65536:
        return number
    raise PortError(f"invalid port number: {number}")


def _go_atoi(text: str) -> int:
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isascii() or not body.isdigit():
        raise PortError(f"strconv.Atoi: parsing {go_quote(text)}: invalid syntax")
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise PortError(f"strconv.Atoi: parsing {go_quote(text)}: value out of range")
    return value


@dataclass
class HTTPRequest:
    """A GET to send: where, and with which headers (multi-valued, in order)."""

    scheme: str
    host: str
    port: int
    path: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    host_header: str = ""
    """The ``Host`` header override (empty: the URL's host)."""

    @property
    def host_port(self) -> str:
        return join_host_port(self.host, self.port)

    @property
    def url(self) -> str:
        """The URL as Go's ``url.URL.String()`` prints it (no ``/`` added to an
        empty path)."""
        path = self.path
        if path and not path.startswith("/"):
            path = "/" + path
        return f"{self.scheme}://{self.host_port}{path}"


@dataclass
class HTTPResponse:
    status: int
    body: bytes
    """At most :data:`MAX_BODY_BYTES` of the body."""
    url: str
    """The URL that gave this response (after same-host redirects)."""


def new_request_for_http_get_action(
    action: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str, purpose: str = "probe"
) -> HTTPRequest:
    """``NewRequestForHTTPGetAction``: host defaults to ``pod_ip``; scheme is
    lower-cased (default ``http``); User-Agent and ``Accept: */*`` are added unless
    the action's headers set them (an empty ``Accept`` removes it). Raises
    :class:`PortError`."""
    scheme = str(action.get("scheme") or "HTTP").lower()
    host = str(action.get("host") or "") or pod_ip
    port = resolve_container_port(action.get("port"), container)
    path = str(action.get("path") or "")
    headers: list[tuple[str, str]] = []
    for header in action.get("httpHeaders") or []:
        headers.append((str(header.get("name", "")), str(header.get("value", ""))))
    names = {name.lower() for name, _ in headers}
    if "user-agent" not in names:
        headers.append(("User-Agent", user_agent(purpose)))
    if "accept" not in names:
        headers.append(("Accept", "*/*"))
    else:
        accept = next(v for n, v in headers if n.lower() == "accept")
        if accept == "":
            headers = [(n, v) for n, v in headers if n.lower() != "accept"]
    host_header = next((v for n, v in headers if n.lower() == "host"), "")
    headers = [(n, v) for n, v in headers if n.lower() != "host"]
    return HTTPRequest(
        scheme=scheme, host=host, port=port, path=path, headers=headers, host_header=host_header
    )


async def http_get(
    request: HTTPRequest,
    timeout: float | None,
    *,
    follow_non_local_redirects: bool = False,
    read_body: bool = True,
) -> HTTPResponse:
    """Send ``request`` and return the final response (3xx when a redirect left
    the host). Raises :class:`HTTPGetError` with Go's texts."""
    first_url = request.url
    state = _State(url=first_url)
    try:
        if timeout is not None and timeout > 0:
            async with asyncio.timeout(timeout):
                return await _get(request, state, follow_non_local_redirects, read_body)
        return await _get(request, state, follow_non_local_redirects, read_body)
    except TimeoutError:
        if state.reading_body:
            raise HTTPGetError(
                "context deadline exceeded "
                "(Client.Timeout or context cancellation while reading body)",
                while_reading_body=True,
            ) from None
        raise HTTPGetError(
            f"Get {go_quote(state.url)}: context deadline exceeded "
            "(Client.Timeout exceeded while awaiting headers)"
        ) from None


@dataclass
class _State:
    url: str
    reading_body: bool = False


async def _get(
    request: HTTPRequest, state: _State, follow_non_local_redirects: bool, read_body: bool
) -> HTTPResponse:
    first = URL(request.url)
    current = first
    host_header = request.host_header
    hops = 0
    connector = aiohttp.TCPConnector(ssl=False, force_close=True)
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=False,
        skip_auto_headers=("Accept-Encoding", "User-Agent", "Accept"),
        trust_env=False,
    ) as session:
        while True:
            headers: CIMultiDict[str] = CIMultiDict(request.headers)
            if host_header:
                headers["Host"] = host_header
            try:
                resp = await session.get(current, headers=headers, allow_redirects=False)
            except aiohttp.ClientError as exc:
                raise HTTPGetError(
                    f"Get {go_quote(state.url)}: {_transport_error(exc, current)}",
                    http_to_https=_is_http_to_https(exc),
                ) from None
            async with resp:
                location = resp.headers.get("Location")
                if resp.status in _REDIRECT_CODES and location:
                    target = current.join(URL(location))
                    if not follow_non_local_redirects and target.host != first.host:
                        return await _finish(resp, state, read_body, str(current))
                    # Go's checker sees the requests made so far: the 10th redirect fails.
                    hops += 1
                    state.url = str(target)
                    if hops >= MAX_REDIRECTS:
                        raise HTTPGetError(
                            f"Get {go_quote(state.url)}: stopped after {MAX_REDIRECTS} redirects"
                        )
                    # Go keeps a custom Host header only across relative redirects.
                    if host_header and URL(location).is_absolute():
                        host_header = ""
                    current = target
                    continue
                return await _finish(resp, state, read_body, str(current))


async def _finish(
    resp: aiohttp.ClientResponse, state: _State, read_body: bool, url: str
) -> HTTPResponse:
    body = b""
    if read_body:
        state.reading_body = True
        try:
            chunks: list[bytes] = []
            size = 0
            while size < MAX_BODY_BYTES:
                chunk = await resp.content.read(MAX_BODY_BYTES - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            body = b"".join(chunks)
        except aiohttp.ClientError as exc:
            raise HTTPGetError(_body_error(exc), while_reading_body=True) from None
        # (state.reading_body stays set: a timeout right here still hit the body)
    return HTTPResponse(status=resp.status, body=body, url=url)


def _body_error(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "unexpected EOF"
    return str(exc) or type(exc).__name__


def _is_http_to_https(exc: BaseException) -> bool:
    if not isinstance(exc, aiohttp.ClientSSLError | aiohttp.ClientOSError):
        return False
    err = getattr(exc, "os_error", None) or exc
    reason = getattr(err, "reason", "") or ""
    text = f"{reason} {err}"
    return "WRONG_VERSION_NUMBER" in text or "wrong version number" in text


def _transport_error(exc: aiohttp.ClientError, url: URL) -> str:
    """Go's text for a failed request (after ``Get "<url>": ``)."""
    host = url.host or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    addr = join_host_port(host, port)
    if _is_http_to_https(exc):
        return "http: server gave HTTP response to HTTPS client"
    if isinstance(exc, aiohttp.ClientSSLError):
        err = exc.os_error
        reason = getattr(err, "reason", None) or str(err)
        return f"tls: {str(reason).lower().replace('_', ' ')}"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"dial tcp: lookup {host}: no such host"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"dial tcp {addr}: connect: {go_errno_text(exc.os_error)}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "EOF"
    if isinstance(exc, aiohttp.ClientOSError):
        return f"read tcp {addr}: read: {go_errno_text(exc)}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"net/http: HTTP/1.x transport connection broken: {exc.message}"
    with contextlib.suppress(Exception):
        if isinstance(exc.__cause__, ssl.SSLError):
            return f"tls: {exc.__cause__}"
    return str(exc) or type(exc).__name__
