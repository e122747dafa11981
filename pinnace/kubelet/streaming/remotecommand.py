"""exec and attach: bridge the client's stream protocol to the container runtime's SPDY.

The kubelet does not run commands itself. CRI ``Exec``/``Attach`` hand back a
single-use URL on containerd's streaming server, which speaks SPDY/3.1
(``v4.channel.k8s.io``: one SPDY stream per ``streamType`` header value
``error``/``stdin``/``stdout``/``stderr``/``resize``) and the older WebSocket
protocols, but not ``v5.channel.k8s.io`` - the only protocol kubectl 1.30+
offers first. So each request is handled by what the client sent:

* WebSocket (``v5``/``v4``/``channel.k8s.io``, binary or base64): we open SPDY
  to the runtime ourselves, create its streams, and translate: channel 0 to
  the stdin stream, 4 to resize, the v5 close signal ``[255, 0]`` to a FIN on
  stdin; stdout/stderr streams back to channels 1/2; the runtime's final
  ``metav1.Status`` (exit code included) to channel 3, then a normal close of
  the WebSocket - which is how client-go and the Python client learn the
  command ended.
* SPDY (kubectl's fallback, older clients): both ends speak the same protocol,
  so after both upgrades the bytes are spliced unchanged (as upstream's
  kubelet proxies to the CRI streaming server).

Errors before the upgrade (bad options, no such container, runtime refused)
are plain HTTP answers, which clients show as "unable to upgrade connection:
...". Options are read from the query in both the API's spelling
(``stdin=true``) and the kubelet's (``input=1``).

Concurrency: per connection, one task reads the client, one task per runtime
output stream writes to the client; the handler waits for the outputs and the
status, then closes both sides.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from pinnace.kubelet.streaming import channels, spdy
from pinnace.kubelet.streaming.upgrade import UpgradeFailed, accept_upgrade, dial_upgrade, splice

log = logging.getLogger("pinnace.kubelet.streaming.remotecommand")

HEADER_PROTOCOL = "X-Stream-Protocol-Version"
STREAM_TYPE = "streamtype"
# What we ask the runtime for; containerd 1.6 accepts v4 down to channel.k8s.io.
RUNTIME_PROTOCOL = "v4.channel.k8s.io"

WS_PROTOCOLS = (
    channels.V5,
    channels.V4,
    channels.V4_BASE64,
    channels.V1,
    channels.V1_BASE64,
    "",
)

_TRUE = {"1", "t", "T", "true", "True", "TRUE"}


@dataclass(frozen=True)
class ExecOptions:
    """What the client asked for; ``command`` is empty for attach."""

    command: list[str]
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def _flag(query: MultiMapping[str], *names: str) -> bool:
    return any(v in _TRUE for name in names for v in query.getall(name, []))


def parse_exec_options(query: MultiMapping[str], *, exec_: bool = True) -> ExecOptions:
    """Options from the query string (API names ``stdin/stdout/stderr/tty/command``
    or kubelet names ``input/output/error/tty``). Raises ``web.HTTPBadRequest``."""
    tty = _flag(query, "tty")
    stdin = _flag(query, "stdin", "input")
    stdout = _flag(query, "stdout", "output")
    stderr = _flag(query, "stderr", "error")
    if tty and stderr:
        # Upstream: a terminal merges stderr into stdout; the stderr request is dropped.
        stderr = False
    if not (stdin or stdout or stderr):
        raise web.HTTPBadRequest(text="you must specify at least 1 of stdin, stdout, stderr")
    command = list(query.getall("command", []))
    if exec_ and not command:
        raise web.HTTPBadRequest(text="you must specify at least one command for the container")
    return ExecOptions(command=command, stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)


GetURL = Callable[[ExecOptions], Awaitable[str]]


def is_spdy_request(request: web.BaseRequest) -> bool:
    connection = request.headers.get("Connection", "").lower()
    upgrade = request.headers.get("Upgrade", "").lower()
    return "upgrade" in connection and "spdy/3.1" in upgrade


def client_stream_protocols(request: web.BaseRequest) -> list[str]:
    """``X-Stream-Protocol-Version`` values, in order, from all header lines."""
    out: list[str] = []
    for line in request.headers.getall(HEADER_PROTOCOL, []):
        out += [p.strip() for p in line.split(",") if p.strip()]
    return out


async def serve_exec(request: web.Request, get_url: GetURL) -> web.StreamResponse:
    """Handle ``/exec/{namespace}/{pod}/{container}``: ``get_url`` asks CRI ``Exec``."""
    options = parse_exec_options(request.query, exec_=True)
    return await _serve(request, options, get_url)


async def serve_attach(request: web.Request, get_url: GetURL) -> web.StreamResponse:
    """Handle ``/attach/{namespace}/{pod}/{container}``: ``get_url`` asks CRI ``Attach``."""
    options = parse_exec_options(request.query, exec_=False)
    return await _serve(request, options, get_url)


async def _runtime_url(get_url: GetURL, options: ExecOptions) -> str:
    try:
        return await get_url(options)
    except web.HTTPException:
        raise
    except Exception as exc:
        log.warning("streaming URL request failed: %s", exc)
        raise web.HTTPInternalServerError(text=str(exc)) from exc


def refused_response(exc: UpgradeFailed) -> web.Response:
    """The runtime's refusal, relayed to the client as is."""
    response = web.Response(status=exc.status, body=exc.body)
    for name, value in exc.headers:
        if name.lower() in ("content-type", "x-accepted-stream-protocol-versions"):
            response.headers.add(name, value)
    return response


async def _serve(request: web.Request, options: ExecOptions, get_url: GetURL) -> web.StreamResponse:
    if channels.is_websocket_request(request):
        name = channels.negotiate(channels.requested_protocols(request), WS_PROTOCOLS)
        if name is None:
            raise web.HTTPForbidden(
                text="unable to upgrade: requested protocol(s) are not supported: "
                f"{channels.requested_protocols(request)}; supports {list(WS_PROTOCOLS)}"
            )
        log.debug("%s over WebSocket %r: %s", request.path, name, options)
        url = await _runtime_url(get_url, options)
        try:
            runtime = await open_runtime_streams(url, options)
        except UpgradeFailed as exc:
            return refused_response(exc)
        except (OSError, spdy.SpdyError, spdy.StreamReset) as exc:
            raise web.HTTPInternalServerError(
                text=f"unable to connect to the container runtime's streaming server: {exc}"
            ) from exc
        try:
            ws = await channels.accept(request, name)
            sock = channels.ChannelSocket(ws, channels.PROTOCOLS[name])
            await bridge(sock, runtime, options)
        finally:
            await runtime.session.close()
        return ws
    if is_spdy_request(request):
        log.debug("%s over SPDY", request.path)
        url = await _runtime_url(get_url, options)
        return await proxy_spdy(request, url, client_stream_protocols(request))
    raise web.HTTPBadRequest(text="unable to upgrade: missing upgrade headers in request")


async def proxy_spdy(request: web.Request, url: str, protocols: list[str]) -> web.StreamResponse:
    """Upgrade to the runtime with the client's protocol list, answer the client with
    the runtime's choice, then splice the two SPDY connections byte for byte."""
    offered = [(HEADER_PROTOCOL, p) for p in protocols]
    try:
        runtime = await dial_upgrade(url, "SPDY/3.1", offered)
    except UpgradeFailed as exc:
        return refused_response(exc)
    except OSError as exc:
        raise web.HTTPInternalServerError(
            text=f"unable to connect to the container runtime's streaming server: {exc}"
        ) from exc
    chosen = runtime.header(HEADER_PROTOCOL)
    try:
        client = await accept_upgrade(
            request, "SPDY/3.1", {HEADER_PROTOCOL: chosen} if chosen else None
        )
    except BaseException:
        await runtime.pipe.aclose()
        raise
    await splice(client, runtime.pipe)
    return client.response


@dataclass
class RuntimeStreams:
    """The SPDY session to the runtime and its remotecommand streams."""

    session: spdy.SpdySession
    error: spdy.SpdyStream
    stdin: spdy.SpdyStream | None = None
    stdout: spdy.SpdyStream | None = None
    stderr: spdy.SpdyStream | None = None
    resize: spdy.SpdyStream | None = None


async def open_runtime_streams(url: str, options: ExecOptions) -> RuntimeStreams:
    """Connect to the runtime's exec/attach URL and create the streams ``options`` need
    (error first, then stdin, stdout, stderr, resize - the order client-go uses)."""
    session, _ = await spdy.dial(url, [RUNTIME_PROTOCOL])
    try:

        async def open_(kind: str) -> spdy.SpdyStream:
            return await session.open_stream(spdy.make_headers({STREAM_TYPE: kind}))

        streams = RuntimeStreams(session=session, error=await open_("error"))
        if options.stdin:
            streams.stdin = await open_("stdin")
        if options.stdout:
            streams.stdout = await open_("stdout")
        if options.stderr and not options.tty:
            streams.stderr = await open_("stderr")
        if options.tty:
            streams.resize = await open_("resize")
    except BaseException:
        await session.close()
        raise
    return streams


def internal_error_status(message: str) -> bytes:
    status: dict[str, Any] = {
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    }
    return json.dumps(status, separators=(",", ":")).encode()


def status_for(protocol: channels.ChannelProtocol, status: bytes) -> bytes:
    """The runtime's v4 status as the client's protocol wants it: JSON for v4+,
    only a failure's message for the older protocols."""
    if protocol.status_json or not status:
        return status
    try:
        decoded = json.loads(status)
    except ValueError:
        return status
    if not isinstance(decoded, Mapping) or decoded.get("status") == "Success":
        return b""
    return str(decoded.get("message", "")).encode()


async def bridge(
    sock: channels.ChannelSocket, runtime: RuntimeStreams, options: ExecOptions
) -> None:
    """Copy between a channel WebSocket and the runtime's streams until the command ends
    (outputs ended and the status read) or the client goes away."""
    # Upstream's readiness signal: an empty message on the first output channel.
    first = (
        channels.STDOUT if options.stdout else channels.STDERR if options.stderr else channels.ERROR
    )
    await sock.send(first, b"")

    async def from_client() -> None:
        async for channel, data in sock.messages():
            if channel == channels.STDIN and runtime.stdin is not None:
                if not runtime.stdin.local_closed:
                    await runtime.stdin.write(data)
            elif channel == channels.RESIZE and runtime.resize is not None:
                await runtime.resize.write(data)
            elif channel == channels.CLOSE:
                if data[:1] == bytes((channels.STDIN,)) and runtime.stdin is not None:
                    await runtime.stdin.close()
                elif data[:1] == bytes((channels.RESIZE,)) and runtime.resize is not None:
                    await runtime.resize.close()

    async def to_client(stream: spdy.SpdyStream, channel: int) -> None:
        while data := await stream.read():
            await sock.send(channel, data)

    outputs = [
        asyncio.ensure_future(to_client(stream, channel))
        for stream, channel in (
            (runtime.stdout, channels.STDOUT),
            (runtime.stderr, channels.STDERR),
        )
        if stream is not None
    ]
    status_task = asyncio.ensure_future(runtime.error.read_all())
    client_task: asyncio.Future[None] = asyncio.ensure_future(from_client())
    finished: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(*outputs, status_task))
    try:
        await asyncio.wait([finished, client_task], return_when=asyncio.FIRST_COMPLETED)
        if finished.done():
            status = b""
            with contextlib.suppress(Exception):
                status = status_task.result()
            if not status and runtime.session.error is not None:
                status = internal_error_status(
                    f"error executing command in container: {runtime.session.error}"
                )
            status = status_for(sock.protocol, status)
            with contextlib.suppress(ConnectionError, RuntimeError):
                if status:
                    await sock.send(channels.ERROR, status)
                await sock.close()
        elif (exc := client_task.exception()) is not None:
            log.debug("exec client stream failed: %s", exc)
    finally:
        tasks: list[asyncio.Future[Any]] = [*outputs, status_task, client_task, finished]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await runtime.session.close()
        await sock.close()
