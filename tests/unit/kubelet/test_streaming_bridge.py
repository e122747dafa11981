"""exec/attach/port-forward handlers against a fake CRI streaming server.

The fake plays containerd's streaming server with our own SPDY server role:
it upgrades ``/exec|attach|portforward/TOKEN``, waits for the streams the
request needs, runs a scripted "command" (or dials a loopback "pod" port) and
ends like containerd does: status on the error stream, then every stream
reset and GOAWAY. Clients are aiohttp's WebSocket client, our SPDY client, and
the official Python client (run in a thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pinnace.kubelet.streaming import spdy
from pinnace.kubelet.streaming.portforward import serve_portforward
from pinnace.kubelet.streaming.remotecommand import ExecOptions, serve_attach, serve_exec
from pinnace.kubelet.streaming.upgrade import StreamPipe, UpgradeFailed

Streams = dict[str, spdy.SpdyStream]
Script = Callable[[Streams], Awaitable[int]]


@dataclass
class FakeRuntime:
    """A containerd-like streaming server on loopback (SPDY only)."""

    host: str = "127.0.0.1"
    port: int = 0
    tokens: dict[str, tuple[str, Any]] = field(default_factory=dict)
    resizes: list[bytes] = field(default_factory=list)
    stdin_seen_eof: asyncio.Event = field(default_factory=asyncio.Event)
    sessions: set[spdy.SpdySession] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._on_connect, self.host, 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for session in list(self.sessions):
            await session.close()
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(BaseException):
                await task
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def url(self, kind: str, payload: Any) -> str:
        token = secrets.token_urlsafe(8)
        self.tokens[token] = (kind, payload)
        return f"http://{self.host}:{self.port}/{kind}/{token}"

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self.tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        request_line, *lines = head.split("\r\n")
        path = request_line.split(" ")[1]
        headers: dict[str, list[str]] = {}
        for line in lines:
            if ":" in line:
                k, v = line.split(":", 1)
                headers.setdefault(k.strip().lower(), []).append(v.strip())
        _, kind, token = path.split("/")
        entry = self.tokens.pop(token, None)
        if entry is None or entry[0] != kind:
            writer.write(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\n\r\n404 page not found\n"
            )
            return
        supported = ["portforward.k8s.io"] if kind == "portforward" else ["v4.channel.k8s.io"]
        offered = [
            p.strip() for v in headers.get("x-stream-protocol-version", []) for p in v.split(",")
        ]
        chosen = next((p for p in offered if p in supported), None)
        if chosen is None:
            body = b"unable to upgrade: unable to negotiate protocol\n"
            writer.write(
                b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            return
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
            + f"X-Stream-Protocol-Version: {chosen}\r\n\r\n".encode()
        )
        await writer.drain()
        session = spdy.SpdySession(reader, StreamPipe(reader, writer), server=True)
        self.sessions.add(session)
        session.start()
        try:
            if kind == "portforward":
                await self._portforward(session, entry[1])
            else:
                await self._exec(session, entry[1])
        finally:
            self.sessions.discard(session)
            await session.close()

    async def _exec(self, session: spdy.SpdySession, payload: tuple[ExecOptions, Script]) -> None:
        options, script = payload
        expected = 1 + options.stdin + options.stdout + (options.stderr and not options.tty)
        expected += options.tty
        streams: Streams = {}
        while len(streams) < expected:
            stream = await session.accept()
            assert stream is not None
            streams[spdy.header(stream.headers, "streamtype")] = stream
            await stream.reply()
        if "resize" in streams:
            resize = streams["resize"]

            async def record() -> None:
                while data := await resize.read():
                    self.resizes.append(data)

            self._recorder = asyncio.ensure_future(record())
        code = await script(streams)
        if code == 0:
            status: dict[str, Any] = {"metadata": {}, "status": "Success"}
        else:
            status = {
                "metadata": {},
                "status": "Failure",
                "message": f"command terminated with non-zero exit code: exit status {code}",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
            }
        await streams["error"].write(json.dumps(status).encode())
        for stream in streams.values():
            await stream.reset()

    async def _portforward(self, session: spdy.SpdySession, _: Any) -> None:
        pairs: dict[str, Streams] = {}
        while (stream := await session.accept()) is not None:
            await stream.reply()
            rid = spdy.header(stream.headers, "requestid")
            pair = pairs.setdefault(rid, {})
            pair[spdy.header(stream.headers, "streamtype")] = stream
            if len(pair) == 2:
                task = asyncio.ensure_future(self._forward(pair))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    async def _forward(self, pair: Streams) -> None:
        data, error = pair["data"], pair["error"]
        port = int(spdy.header(data.headers, "port"))
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
        except OSError as exc:
            await error.write(f"error forwarding port {port} to pod: {exc}".encode())
            await error.close()
            await data.close()
            return

        async def up() -> None:
            while chunk := await data.read():
                w.write(chunk)
                await w.drain()
            w.write_eof()

        task = asyncio.ensure_future(up())
        try:
            while chunk := await r.read(65536):
                await data.write(chunk)
            await data.close()
            await error.close()
        finally:
            task.cancel()
            w.close()
            with contextlib.suppress(Exception):
                await w.wait_closed()


async def cat(streams: Streams) -> int:
    stdin, stdout = streams["stdin"], streams["stdout"]
    while data := await stdin.read():
        await stdout.write(data)
    return 0


async def fail3(streams: Streams) -> int:
    await streams["stdout"].write(b"out\n")
    if "stderr" in streams:
        await streams["stderr"].write(b"err\n")
    return 3


async def tty_echo(streams: Streams) -> int:
    stdin, stdout = streams["stdin"], streams["stdout"]
    while data := await stdin.read():
        await stdout.write(b"tty:" + data)
    return 0


SCRIPTS: dict[str, Script] = {"cat": cat, "fail3": fail3, "tty": tty_echo}


@dataclass
class Env:
    runtime: FakeRuntime
    base: str
    seen: list[ExecOptions]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    runtime = FakeRuntime()
    await runtime.start()
    seen: list[ExecOptions] = []

    async def get_url_for(kind: str, options: ExecOptions) -> str:
        seen.append(options)
        name = options.command[0] if options.command else "cat"
        if name == "missing":
            raise web.HTTPNotFound(text='container not found ("missing")')
        if name == "boom":
            raise RuntimeError("rpc error: code = Unknown desc = boom")
        return runtime.url(kind, (options, SCRIPTS[name]))

    async def exec_(request: web.Request) -> web.StreamResponse:
        return await serve_exec(request, lambda o: get_url_for("exec", o))

    async def attach(request: web.Request) -> web.StreamResponse:
        return await serve_attach(request, lambda o: get_url_for("attach", o))

    async def portforward(request: web.Request) -> web.StreamResponse:
        async def url() -> str:
            return runtime.url("portforward", None)

        return await serve_portforward(request, url)

    app = web.Application()
    app.router.add_route("*", "/exec/{ns}/{pod}/{container}", exec_)
    app.router.add_route("*", "/attach/{ns}/{pod}/{container}", attach)
    app.router.add_route("*", "/portForward/{ns}/{pod}", portforward)
    # The API's paths, for the Python client.
    app.router.add_route("*", "/api/v1/namespaces/{ns}/pods/{pod}/exec", exec_)
    app.router.add_route("*", "/api/v1/namespaces/{ns}/pods/{pod}/portforward", portforward)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Env(runtime, str(server.make_url("")).rstrip("/"), seen)
    finally:
        await server.close()
        await runtime.stop()


async def ws_run(
    ws: aiohttp.ClientWebSocketResponse,
    send: list[bytes] = (),  # type: ignore[assignment]
) -> tuple[dict[int, bytes], int | None]:
    for message in send:
        await ws.send_bytes(message)
    got: dict[int, bytes] = {}
    async for msg in ws:
        assert msg.type == aiohttp.WSMsgType.BINARY
        got[msg.data[0]] = got.get(msg.data[0], b"") + msg.data[1:]
    return got, ws.close_code


async def test_exec_v5_binary_stdin_with_close_signal(env: Env) -> None:
    payload = bytes(range(256)) * 300
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            env.base + "/exec/ns/p/c?command=cat&input=1&output=1&error=1",
            protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"),
        ) as ws,
    ):
        assert ws.protocol == "v5.channel.k8s.io"
        got, code = await ws_run(
            ws, [b"\x00" + payload[:1000], b"\x00" + payload[1000:], b"\xff\x00"]
        )
    assert got[1] == payload
    assert json.loads(got[3]) == {"metadata": {}, "status": "Success"}
    assert code == 1000
    assert env.seen == [ExecOptions(["cat"], stdin=True, stdout=True, stderr=True, tty=False)]


async def test_exec_exit_code_and_stderr_v4(env: Env) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            env.base + "/exec/ns/p/c?command=fail3&command=x&stdout=true&stderr=true",
            protocols=("v4.channel.k8s.io",),
        ) as ws,
    ):
        got, _ = await ws_run(ws)
    assert got[1] == b"out\n" and got[2] == b"err\n"
    status = json.loads(got[3])
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert env.seen[0].command == ["fail3", "x"]


async def test_exec_old_protocol_gets_only_the_failure_message(env: Env) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            env.base + "/exec/ns/p/c?command=fail3&output=1",
            protocols=("channel.k8s.io",),
        ) as ws,
    ):
        got, _ = await ws_run(ws)
    assert got[3] == b"command terminated with non-zero exit code: exit status 3"


async def test_exec_base64_protocol(env: Env) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            env.base + "/exec/ns/p/c?command=fail3&output=1",
            protocols=("v4.base64.channel.k8s.io",),
        ) as ws,
    ):
        texts = [msg.data async for msg in ws]
    assert "1" + "b3V0Cg==" in texts  # base64("out\n")
    status = next(t for t in texts if t.startswith("3") and len(t) > 1)
    import base64

    assert json.loads(base64.b64decode(status[1:]))["reason"] == "NonZeroExitCode"


async def test_exec_tty_forwards_resize_and_drops_stderr(env: Env) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            env.base + "/exec/ns/p/c?command=tty&stdin=true&stdout=true&stderr=true&tty=true",
            protocols=("v5.channel.k8s.io",),
        ) as ws,
    ):
        got, _ = await ws_run(ws, [b'\x04{"Width":80,"Height":24}', b"\x00ls\r", b"\xff\x00"])
    assert got[1] == b"tty:ls\r"
    assert env.seen[0] == ExecOptions(["tty"], stdin=True, stdout=True, stderr=False, tty=True)
    assert b"".join(env.runtime.resizes) == b'{"Width":80,"Height":24}'


async def test_attach(env: Env) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            env.base + "/attach/ns/p/c?input=1&output=1",
            protocols=("v5.channel.k8s.io",),
        ) as ws,
    ):
        got, _ = await ws_run(ws, [b"\x00hi", b"\xff\x00"])
    assert got[1] == b"hi"
    assert env.seen[0].command == []


@pytest.mark.parametrize(
    ("query", "status", "text"),
    [
        ("command=cat", 400, "you must specify at least 1 of stdin, stdout, stderr"),
        ("output=1", 400, "you must specify at least one command for the container"),
        ("command=missing&output=1", 404, 'container not found ("missing")'),
        ("command=boom&output=1", 500, "rpc error: code = Unknown desc = boom"),
    ],
)
async def test_exec_errors_before_the_upgrade(env: Env, query: str, status: int, text: str) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect(
                env.base + "/exec/ns/p/c?" + query, protocols=("v5.channel.k8s.io",)
            )
        assert err.value.status == status
        async with http.get(env.base + "/exec/ns/p/c?" + query) as resp:
            assert resp.status == (status if status != 404 and status != 500 else 400)
        async with http.get(
            env.base + "/exec/ns/p/c?" + query,
            headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1"},
        ) as resp:
            assert resp.status == status
            assert text in await resp.text()


async def test_exec_over_spdy_is_passed_through(env: Env) -> None:
    url = env.base + "/exec/ns/p/c?command=fail3&output=1&error=1&input=1"
    session, protocol = await spdy.dial(url, ["v5.channel.k8s.io", "v4.channel.k8s.io"])
    try:
        assert protocol == "v4.channel.k8s.io"
        h = spdy.make_headers
        error = await session.open_stream(h({"streamType": "error"}))
        stdin = await session.open_stream(h({"streamType": "stdin"}))
        stdout = await session.open_stream(h({"streamType": "stdout"}))
        stderr = await session.open_stream(h({"streamType": "stderr"}))
        await stdin.close()
        assert await stdout.read_all() == b"out\n"
        assert await stderr.read_all() == b"err\n"
        assert json.loads(await error.read_all())["reason"] == "NonZeroExitCode"
    finally:
        await session.close()


async def test_spdy_negotiation_failure_is_relayed(env: Env) -> None:
    with pytest.raises(UpgradeFailed) as err:
        await spdy.dial(env.base + "/exec/ns/p/c?command=cat&output=1", ["v9.channel.k8s.io"])
    assert err.value.status == 403
    assert b"unable to negotiate protocol" in err.value.body


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        finally:
            w.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def closed_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


async def test_portforward_websocket_v4_channels(env: Env, echo_port: int) -> None:
    dead = closed_port()
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            env.base + f"/portForward/ns/p?ports={echo_port},{dead}",
            protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"),
        ) as ws,
    ):
        assert ws.protocol == "v4.channel.k8s.io"
        first = [(await ws.receive_bytes()) for _ in range(4)]
        assert first == [
            bytes([0]) + struct.pack("<H", echo_port),
            bytes([1]) + struct.pack("<H", echo_port),
            bytes([2]) + struct.pack("<H", dead),
            bytes([3]) + struct.pack("<H", dead),
        ]
        # The dead port reports an error on channel 3.
        msg = await ws.receive_bytes()
        assert msg[0] == 3 and b"error forwarding port" in msg
        await ws.send_bytes(b"\x00hello")
        echoed = b""
        while len(echoed) < 5:
            msg = await ws.receive_bytes()
            assert msg[0] == 0
            echoed += msg[1:]
        assert echoed == b"hello"


async def test_portforward_requires_ports(env: Env) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect(env.base + "/portForward/ns/p", protocols=("v4.channel.k8s.io",))
        assert err.value.status == 400


async def spdy_forward(session: spdy.SpdySession, port: int, rid: str, payload: bytes) -> bytes:
    h = spdy.make_headers
    error = await session.open_stream(
        h({"streamType": "error", "port": str(port), "requestID": rid})
    )
    await error.close()
    data = await session.open_stream(h({"streamType": "data", "port": str(port), "requestID": rid}))
    await data.write(payload)
    await data.close()
    echoed = await data.read_all()
    assert await error.read_all() == b""
    return echoed


async def test_portforward_spdy_passthrough(env: Env, echo_port: int) -> None:
    session, protocol = await spdy.dial(env.base + "/portForward/ns/p", ["portforward.k8s.io"])
    try:
        assert protocol == "portforward.k8s.io"
        payload = b"x" * 200_000
        assert await spdy_forward(session, echo_port, "0", payload) == payload
        assert await spdy_forward(session, echo_port, "1", b"again") == b"again"
    finally:
        await session.close()


class WSPipe:
    """SPDY over binary WebSocket messages, client side (kubectl's tunnelling dialer)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.reader = asyncio.StreamReader()
        self.task = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                self.reader.feed_data(msg.data)
        self.reader.feed_eof()

    async def send(self, data: bytes) -> None:
        await self.ws.send_bytes(data)

    async def aclose(self) -> None:
        await self.ws.close()
        self.task.cancel()


async def test_portforward_spdy_tunnelled_in_websocket(env: Env, echo_port: int) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            env.base + "/portForward/ns/p", protocols=("SPDY/3.1+portforward.k8s.io",)
        ) as ws,
    ):
        assert ws.protocol == "SPDY/3.1+portforward.k8s.io"
        pipe = WSPipe(ws)
        session = spdy.SpdySession(pipe.reader, pipe, server=False)
        session.start()
        try:
            assert await spdy_forward(session, echo_port, "0", b"tunnel") == b"tunnel"
            await session.ping()
        finally:
            await session.close()


async def test_python_client_exec_and_portforward(env: Env, echo_port: int) -> None:
    """The official client, through the API's paths and option names."""
    from kubernetes import client
    from kubernetes.stream import portforward, stream

    config = client.Configuration(host=env.base)
    api = client.CoreV1Api(client.ApiClient(config))

    def run_exec() -> tuple[str, int | None]:
        resp = stream(
            api.connect_get_namespaced_pod_exec,
            "p",
            "ns",
            command=["fail3"],
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
        resp.run_forever(timeout=30)
        out = resp.read_stdout()
        code = resp.returncode
        resp.close()
        resp.sock.shutdown()  # close() skips the socket once the server's close frame arrived
        return out, code

    out, code = await asyncio.to_thread(run_exec)
    assert out == "out\n"
    assert code == 3

    def run_stdin() -> bytes:
        resp = stream(
            api.connect_get_namespaced_pod_exec,
            "p",
            "ns",
            command=["cat"],
            stdin=True,
            stdout=True,
            stderr=False,
            tty=False,
            binary=True,
            _preload_content=False,
        )
        resp.write_stdin(b"\x00\x01binary\xff")
        resp.close_channel(0)
        resp.run_forever(timeout=30)
        data: bytes = resp.read_stdout()
        assert resp.returncode == 0
        resp.close()
        resp.sock.shutdown()  # close() skips the socket once the server's close frame arrived
        return data

    assert await asyncio.to_thread(run_stdin) == b"\x00\x01binary\xff"

    def run_forward() -> bytes:
        pf = portforward(
            api.connect_get_namespaced_pod_portforward, "p", "ns", ports=str(echo_port)
        )
        sock = pf.socket(echo_port)
        sock.settimeout(30)
        sock.sendall(b"ping")
        data = b""
        while len(data) < 4:
            data += sock.recv(10)
        sock.close()
        pf.close()
        pf.websocket.close()
        return data

    assert await asyncio.to_thread(run_forward) == b"ping"
