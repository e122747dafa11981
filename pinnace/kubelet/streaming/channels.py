"""The Kubernetes WebSocket channel protocols (``*.channel.k8s.io``) on aiohttp WebSockets.

One WebSocket carries several byte streams. Every message starts with a
channel number: for exec/attach 0 stdin, 1 stdout, 2 stderr, 3 error (the
final status), 4 resize; for port-forward 2i and 2i+1 are the data and error
channels of the i-th requested port. Variants, by subprotocol:

* ``v5.channel.k8s.io`` (kubectl 1.30+, the Python client): binary, plus a
  close signal ``[255, channel]`` by which the client half-closes one channel
  (kubectl sends it when its stdin ends; ``kubectl cp`` depends on it).
* ``v4.channel.k8s.io``: binary; the error channel carries a JSON
  ``metav1.Status`` (with the exit code of a failed command).
* ``channel.k8s.io`` (and no subprotocol at all): binary; the error channel
  carries only the message of a failure.
* ``*.base64.channel.k8s.io``: text messages, the channel as an ASCII digit
  and the payload in standard base64.
* ``SPDY/3.1+portforward.k8s.io``: not channels at all, but a SPDY connection
  tunnelled through binary messages (kubectl 1.31+ port-forward); see
  ``MessagePipe``.

The negotiation rule is upstream's: the first protocol in the client's list
that the server supports wins; no ``Sec-WebSocket-Protocol`` header means
``""``. Messages are sent whole (one WebSocket message per write), as the Go
server does; aiohttp answers pings (client-go pings every 5 s).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from aiohttp import WSMsgType, web

STDIN = 0
STDOUT = 1
STDERR = 2
ERROR = 3
RESIZE = 4
CLOSE = 255

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
V1 = "channel.k8s.io"
V1_BASE64 = "base64.channel.k8s.io"
SPDY_TUNNEL_PREFIX = "SPDY/3.1+"
PORTFORWARD_TUNNEL = SPDY_TUNNEL_PREFIX + "portforward.k8s.io"

# Large enough for any stdin chunk a client writes in one message.
MAX_MESSAGE = 32 * 1024 * 1024


@dataclass(frozen=True)
class ChannelProtocol:
    """What a negotiated subprotocol means for the framing."""

    name: str
    base64: bool = False
    # The client may half-close a channel with [255, channel] (v5).
    close_signal: bool = False
    # The error channel carries a metav1.Status as JSON (v4 and later).
    status_json: bool = True


PROTOCOLS: dict[str, ChannelProtocol] = {
    V5: ChannelProtocol(V5, close_signal=True),
    V4: ChannelProtocol(V4),
    V4_BASE64: ChannelProtocol(V4_BASE64, base64=True),
    V1: ChannelProtocol(V1, status_json=False),
    V1_BASE64: ChannelProtocol(V1_BASE64, base64=True, status_json=False),
    "": ChannelProtocol("", status_json=False),
}


def is_websocket_request(request: web.BaseRequest) -> bool:
    connection = request.headers.get("Connection", "").lower()
    upgrade = request.headers.get("Upgrade", "").lower()
    return upgrade == "websocket" and "upgrade" in connection


def requested_protocols(request: web.BaseRequest) -> list[str]:
    """The client's ``Sec-WebSocket-Protocol`` list, in order (all header lines)."""
    out: list[str] = []
    for line in request.headers.getall("Sec-WebSocket-Protocol", []):
        out += [p.strip() for p in line.split(",") if p.strip()]
    return out


def negotiate(requested: list[str], supported: Iterable[str]) -> str | None:
    """The first requested protocol we support; ``""`` if none was requested and
    ``""`` is supported; ``None`` when there is no match."""
    allowed = list(supported)
    if not requested:
        return "" if "" in allowed else None
    for name in requested:
        if name in allowed:
            return name
    return None


def encode(protocol: ChannelProtocol, channel: int, data: bytes) -> bytes | str:
    """One message for ``channel``: bytes for binary protocols, text for base64 ones."""
    if protocol.base64:
        return chr(ord("0") + channel) + base64.b64encode(data).decode("ascii")
    return bytes((channel,)) + data


class ProtocolError(Exception):
    """A message that does not fit the negotiated channel protocol."""


def decode(protocol: ChannelProtocol, data: bytes | str) -> tuple[int, bytes] | None:
    """``(channel, payload)`` of one message; ``None`` for an empty message.

    A v5 close signal comes back as ``(CLOSE, bytes([channel]))``.
    """
    if isinstance(data, str):
        if not data:
            return None
        if not protocol.base64:
            raise ProtocolError("text message on a binary channel protocol")
        channel = ord(data[0]) - ord("0")
        try:
            return channel, base64.b64decode(data[1:], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(f"bad base64 payload: {exc}") from exc
    if not data:
        return None
    channel = data[0]
    if protocol.base64 and channel != CLOSE:
        channel -= ord("0")
        try:
            return channel, base64.b64decode(data[1:], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(f"bad base64 payload: {exc}") from exc
    if channel == CLOSE and protocol.close_signal:
        if len(data) != 2:
            raise ProtocolError("a close signal must name exactly one channel")
        return CLOSE, data[1:2]
    return channel, bytes(data[1:])


async def accept(request: web.Request, protocol: str) -> web.WebSocketResponse:
    """Complete the WebSocket handshake with ``protocol`` as the subprotocol."""
    ws = web.WebSocketResponse(
        protocols=[protocol] if protocol else (),
        max_msg_size=MAX_MESSAGE,
        compress=False,
        autoping=True,
    )
    await ws.prepare(request)
    return ws


class ChannelSocket:
    """A WebSocket speaking one channel protocol: send on a channel, iterate what arrives."""

    def __init__(self, ws: web.WebSocketResponse, protocol: ChannelProtocol) -> None:
        self.ws = ws
        self.protocol = protocol

    async def send(self, channel: int, data: bytes) -> None:
        message = encode(self.protocol, channel, data)
        if isinstance(message, str):
            await self.ws.send_str(message)
        else:
            await self.ws.send_bytes(message)

    async def messages(self) -> AsyncIterator[tuple[int, bytes]]:
        """``(channel, payload)`` per message until the client closes; close signals
        come as ``(CLOSE, bytes([channel]))``."""
        async for msg in self.ws:
            if msg.type in (WSMsgType.BINARY, WSMsgType.TEXT):
                decoded = decode(self.protocol, msg.data)
                if decoded is not None:
                    yield decoded
            elif msg.type == WSMsgType.ERROR:
                return

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        if not self.ws.closed:
            await self.ws.close(code=code, message=message)


class MessagePipe:
    """A byte ``Pipe`` over binary WebSocket messages (the SPDY-over-WebSocket tunnel)."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def recv(self) -> bytes:
        while True:
            msg = await self.ws.receive()
            if msg.type == WSMsgType.BINARY:
                if msg.data:
                    return bytes(msg.data)
                continue
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return b""
            if msg.type == WSMsgType.ERROR:
                return b""
            # Text messages have no meaning in the tunnel; upstream treats them as an error.
            return b""

    async def send(self, data: bytes) -> None:
        await self.ws.send_bytes(data)

    async def aclose(self) -> None:
        if not self.ws.closed:
            await self.ws.close()
