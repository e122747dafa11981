"""port-forward: connect the client's forwarding protocol to the runtime's SPDY port-forward.

CRI ``PortForward`` returns a single-use URL on containerd's streaming server,
which speaks the SPDY ``portforward.k8s.io`` protocol: per forwarded TCP
connection the client opens a pair of streams, headers ``streamType:
error|data``, ``port: N`` and ``requestID: K``; the data stream carries the
bytes and the error stream, if anything, one error message. Clients arrive
three ways:

* SPDY (``Upgrade: SPDY/3.1``, kubectl's fallback): the same protocol as the
  runtime's, so both connections are upgraded and spliced byte for byte.
* WebSocket ``SPDY/3.1+portforward.k8s.io`` (kubectl 1.31+): the same SPDY
  connection carried in binary WebSocket messages; spliced the same way, the
  messages unwrapped on the way in and wrapped on the way out.
* WebSocket ``v4.channel.k8s.io`` (the Python client): ports come from the
  query (``ports=80,8080`` as the API spells it, or repeated ``port=80`` as the
  kubelet's URL does); for the i-th port channel 2i carries data both ways and
  2i+1 errors to the client, and each starts with a frame holding the port
  (little-endian uint16). We open one stream pair per port to the runtime and
  copy. As upstream, a port's channels end when the runtime ends that port's
  data stream, and the WebSocket closes when all ports ended or the client
  closed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from pinnace.kubelet.streaming import channels, spdy
from pinnace.kubelet.streaming.remotecommand import (
    HEADER_PROTOCOL,
    client_stream_protocols,
    is_spdy_request,
    proxy_spdy,
    refused_response,
)
from pinnace.kubelet.streaming.upgrade import UpgradeFailed, dial_upgrade, splice

log = logging.getLogger("pinnace.kubelet.streaming.portforward")

PROTOCOL = "portforward.k8s.io"
WS_PROTOCOLS = (channels.PORTFORWARD_TUNNEL, channels.V4, channels.V4_BASE64, "")

GetURL = Callable[[], Awaitable[str]]


def parse_ports(query: MultiMapping[str]) -> list[int]:
    """Ports from ``port``/``ports`` query parameters (repeated or comma-separated)."""
    raw = [*query.getall("port", []), *query.getall("ports", [])]
    if not raw:
        raise web.HTTPBadRequest(text='query parameter "port" is required')
    ports: list[int] = []
    for value in raw:
        if not value:
            raise web.HTTPBadRequest(text='query parameter "port" cannot be empty')
        for item in value.split(","):
            try:
                port = int(item)
                if not 0 <= port <= 65535:
                    raise ValueError("out of range")
            except ValueError as exc:
                raise web.HTTPBadRequest(text=f'unable to parse "{item}" as a port: {exc}') from exc
            if port < 1:
                raise web.HTTPBadRequest(text=f'port "{item}" must be > 0')
            ports.append(port)
    return ports


async def _runtime_url(get_url: GetURL) -> str:
    try:
        return await get_url()
    except web.HTTPException:
        raise
    except Exception as exc:
        log.warning("port-forward URL request failed: %s", exc)
        raise web.HTTPInternalServerError(text=str(exc)) from exc


async def serve_portforward(request: web.Request, get_url: GetURL) -> web.StreamResponse:
    """Handle ``/portForward/{namespace}/{pod}``: ``get_url`` asks CRI ``PortForward``."""
    if channels.is_websocket_request(request):
        name = channels.negotiate(channels.requested_protocols(request), WS_PROTOCOLS)
        if name is None:
            raise web.HTTPForbidden(
                text="unable to upgrade: requested protocol(s) are not supported: "
                f"{channels.requested_protocols(request)}; supports {list(WS_PROTOCOLS)}"
            )
        log.debug("port-forward over WebSocket %r", name)
        if name == channels.PORTFORWARD_TUNNEL:
            url = await _runtime_url(get_url)
            return await _tunnel(request, url)
        ports = parse_ports(request.query)
        url = await _runtime_url(get_url)
        return await _channels(request, url, name, ports)
    if is_spdy_request(request):
        log.debug("port-forward over SPDY")
        url = await _runtime_url(get_url)
        protocols = client_stream_protocols(request) or [PROTOCOL]
        return await proxy_spdy(request, url, protocols)
    raise web.HTTPBadRequest(text="unable to upgrade: missing upgrade headers in request")


async def _tunnel(request: web.Request, url: str) -> web.StreamResponse:
    try:
        runtime = await dial_upgrade(url, "SPDY/3.1", [(HEADER_PROTOCOL, PROTOCOL)])
    except UpgradeFailed as exc:
        return refused_response(exc)
    except OSError as exc:
        raise web.HTTPInternalServerError(
            text=f"unable to connect to the container runtime's streaming server: {exc}"
        ) from exc
    try:
        ws = await channels.accept(request, channels.PORTFORWARD_TUNNEL)
    except BaseException:
        await runtime.pipe.aclose()
        raise
    await splice(channels.MessagePipe(ws), runtime.pipe)
    return ws


@dataclass
class _PortStreams:
    index: int
    port: int
    error: spdy.SpdyStream
    data: spdy.SpdyStream


async def _channels(
    request: web.Request, url: str, protocol_name: str, ports: list[int]
) -> web.StreamResponse:
    try:
        session, _ = await spdy.dial(url, [PROTOCOL])
    except UpgradeFailed as exc:
        return refused_response(exc)
    except OSError as exc:
        raise web.HTTPInternalServerError(
            text=f"unable to connect to the container runtime's streaming server: {exc}"
        ) from exc
    try:
        pairs: list[_PortStreams] = []
        for index, port in enumerate(ports):
            headers = {"port": str(port), "requestid": str(index)}
            error = await session.open_stream(spdy.make_headers({**headers, "streamtype": "error"}))
            data = await session.open_stream(spdy.make_headers({**headers, "streamtype": "data"}))
            pairs.append(_PortStreams(index, port, error, data))
        # Nothing is sent on error streams.
        for pair in pairs:
            await pair.error.close()
        ws = await channels.accept(request, protocol_name)
        sock = channels.ChannelSocket(ws, channels.PROTOCOLS[protocol_name])
        await _bridge(sock, pairs)
        return ws
    finally:
        await session.close()


async def _bridge(sock: channels.ChannelSocket, pairs: list[_PortStreams]) -> None:
    for pair in pairs:
        prefix = struct.pack("<H", pair.port)
        await sock.send(2 * pair.index, prefix)
        await sock.send(2 * pair.index + 1, prefix)

    async def from_client() -> None:
        async for channel, data in sock.messages():
            if channel == channels.CLOSE or channel % 2:
                continue
            index = channel // 2
            if index < len(pairs) and not pairs[index].data.local_closed:
                with contextlib.suppress(spdy.StreamReset, spdy.SpdyError):
                    await pairs[index].data.write(data)

    async def to_client(pair: _PortStreams) -> None:
        async def data() -> None:
            while chunk := await pair.data.read():
                await sock.send(2 * pair.index, chunk)

        async def error() -> None:
            message = await pair.error.read_all()
            if message:
                await sock.send(2 * pair.index + 1, message)

        await asyncio.gather(data(), error())

    client_task: asyncio.Future[None] = asyncio.ensure_future(from_client())
    finished: asyncio.Future[Any] = asyncio.ensure_future(
        asyncio.gather(*(to_client(p) for p in pairs))
    )
    try:
        await asyncio.wait([finished, client_task], return_when=asyncio.FIRST_COMPLETED)
        if finished.done() and finished.exception() is not None:
            log.debug("port-forward stream failed: %s", finished.exception())
    finally:
        for task in (client_task, finished):
            task.cancel()
        for task in (client_task, finished):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await sock.close()
