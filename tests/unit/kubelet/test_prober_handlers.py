"""Probe handlers against real local servers: HTTP(S) with aiohttp, TCP
listeners, a grpcio health server, all on 127.0.0.1; exec through a fake
ExecSync."""

from __future__ import annotations

import asyncio
import datetime
import json
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from pinnace.kubelet.probes.gofmt import go_duration, go_quote
from pinnace.kubelet.probes.handlers import (
    ProbeOutcome,
    Result,
    decode_health_response,
    encode_health_request,
    expand_command,
    probe_exec,
    probe_grpc,
    probe_http,
    probe_tcp,
    run_probe,
)
from pinnace.kubelet.probes.http import PortError, resolve_container_port


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------- HTTP


@dataclass
class HTTPServer:
    port: int
    seen: list[dict[str, str]]


def _app(release: asyncio.Event, seen: list[dict[str, str]]) -> web.Application:
    async def record(request: web.Request) -> None:
        seen.append({"path": request.path_qs, **dict(request.headers)})

    async def ok(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(text="all good")

    async def status(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(status=int(request.match_info["code"]), text="secret body")

    async def headers(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(text=json.dumps(dict(request.headers)))

    async def redirect(request: web.Request) -> web.Response:
        await record(request)
        raise web.HTTPFound(request.query["to"])

    async def loop(request: web.Request) -> web.Response:
        await record(request)
        raise web.HTTPFound("/loop")

    async def big(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(body=b"x" * (100 * 1024))

    async def slow(request: web.Request) -> web.Response:
        await record(request)
        await release.wait()
        return web.Response(text="late")

    async def stall(request: web.Request) -> web.StreamResponse:
        await record(request)
        resp = web.StreamResponse()
        resp.content_length = 100
        await resp.prepare(request)
        await resp.write(b"partial")
        await release.wait()
        return resp

    app = web.Application()
    app.router.add_get("/stall", stall)
    app.router.add_get("/ok", ok)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/headers", headers)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/loop", loop)
    app.router.add_get("/big", big)
    app.router.add_get("/slow", slow)
    return app


async def _serve(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[HTTPServer]:
    release = asyncio.Event()
    seen: list[dict[str, str]] = []
    runner = web.AppRunner(_app(release, seen), shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield HTTPServer(port=port, seen=seen)
    finally:
        release.set()
        await runner.cleanup()


@pytest.fixture
async def http_server() -> AsyncIterator[HTTPServer]:
    async for server in _serve():
        yield server


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    d = tmp_path_factory.mktemp("tls")
    (d / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "tls.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    yield d / "tls.crt", d / "tls.key"


@pytest.fixture
async def https_server(tls_files: tuple[Path, Path]) -> AsyncIterator[HTTPServer]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*tls_files)
    async for server in _serve(ctx):
        yield server


def get(path: str, port: int | str, **extra: Any) -> dict[str, Any]:
    return {"path": path, "port": port, **extra}


async def test_http_200_is_success_with_body_as_output(http_server: HTTPServer) -> None:
    out = await probe_http(
        get("/ok", http_server.port), container={}, pod_ip="127.0.0.1", timeout=5
    )
    assert out == ProbeOutcome(Result.SUCCESS, "all good")


@pytest.mark.parametrize(("code", "expected"), [(204, Result.SUCCESS), (399, Result.WARNING)])
async def test_http_2xx_3xx_are_success(
    http_server: HTTPServer, code: int, expected: Result
) -> None:
    out = await probe_http(
        get(f"/status/{code}", http_server.port), container={}, pod_ip="127.0.0.1", timeout=5
    )
    assert out.result == expected


@pytest.mark.parametrize("code", [500, 404, 400, 503])
async def test_http_error_status_fails_without_body(http_server: HTTPServer, code: int) -> None:
    out = await probe_http(
        get(f"/status/{code}", http_server.port), container={}, pod_ip="127.0.0.1", timeout=5
    )
    assert out == ProbeOutcome(Result.FAILURE, f"HTTP probe failed with statuscode: {code}")


async def test_http_request_headers(http_server: HTTPServer) -> None:
    out = await probe_http(
        get("/headers", http_server.port, httpHeaders=[{"name": "X-Custom", "value": "v"}]),
        container={},
        pod_ip="127.0.0.1",
        timeout=5,
    )
    sent = json.loads(out.output)
    assert sent["User-Agent"] == "kube-probe/1.32"
    assert sent["Accept"] == "*/*"
    assert sent["X-Custom"] == "v"
    assert sent["Host"] == f"127.0.0.1:{http_server.port}"
    assert "Accept-Encoding" not in sent
    assert sent.get("Connection", "close").lower() == "close"


async def test_http_host_header_and_overrides(http_server: HTTPServer) -> None:
    headers = [
        {"name": "Host", "value": "example.test"},
        {"name": "User-Agent", "value": "mine"},
        {"name": "Accept", "value": ""},
    ]
    out = await probe_http(
        get("/headers", http_server.port, httpHeaders=headers),
        container={},
        pod_ip="127.0.0.1",
        timeout=5,
    )
    sent = json.loads(out.output)
    assert sent["Host"] == "example.test"
    assert sent["User-Agent"] == "mine"
    assert "Accept" not in sent


async def test_http_host_field_beats_pod_ip(http_server: HTTPServer) -> None:
    out = await probe_http(
        get("/ok", http_server.port, host="127.0.0.1"), container={}, pod_ip="", timeout=5
    )
    assert out.result == Result.SUCCESS


async def test_http_named_port(http_server: HTTPServer) -> None:
    container = {"ports": [{"name": "web", "containerPort": http_server.port}]}
    out = await probe_http(get("/ok", "web"), container=container, pod_ip="127.0.0.1", timeout=5)
    assert out.result == Result.SUCCESS
    out = await probe_http(
        get("/ok", str(http_server.port)), container={}, pod_ip="127.0.0.1", timeout=5
    )
    assert out.result == Result.SUCCESS


async def test_http_unknown_port_name_is_an_error() -> None:
    out = await probe_http(get("/ok", "nope"), container={}, pod_ip="127.0.0.1", timeout=5)
    assert out == ProbeOutcome(Result.UNKNOWN, 'strconv.Atoi: parsing "nope": invalid syntax')


async def test_http_same_host_redirect_is_followed(http_server: HTTPServer) -> None:
    out = await probe_http(
        get("/redirect?to=/status/500", http_server.port),
        container={},
        pod_ip="127.0.0.1",
        timeout=5,
    )
    assert out == ProbeOutcome(Result.FAILURE, "HTTP probe failed with statuscode: 500")
    assert [s["path"] for s in http_server.seen] == ["/redirect?to=/status/500", "/status/500"]


async def test_http_redirect_keeps_host_header_only_when_relative(http_server: HTTPServer) -> None:
    headers = [{"name": "Host", "value": "example.test"}]
    await probe_http(
        get("/redirect?to=/headers", http_server.port, httpHeaders=headers),
        container={},
        pod_ip="127.0.0.1",
        timeout=5,
    )
    assert http_server.seen[-1]["Host"] == "example.test"
    absolute = f"http://127.0.0.1:{http_server.port}/headers"
    await probe_http(
        get(f"/redirect?to={absolute}", http_server.port, httpHeaders=headers),
        container={},
        pod_ip="127.0.0.1",
        timeout=5,
    )
    assert http_server.seen[-1]["Host"] == f"127.0.0.1:{http_server.port}"


async def test_http_redirect_to_other_host_is_a_warning(http_server: HTTPServer) -> None:
    # "localhost" is another host name than the probed 127.0.0.1: not followed.
    target = f"http://localhost:{http_server.port}/status/500"
    out = await probe_http(
        get(f"/redirect?to={target}", http_server.port),
        container={},
        pod_ip="127.0.0.1",
        timeout=5,
    )
    assert out.result == Result.WARNING
    assert out.output.startswith("Probe terminated redirects, Response body: ")
    assert len(http_server.seen) == 1


async def test_http_redirect_loop_stops_after_10(http_server: HTTPServer) -> None:
    out = await probe_http(
        get("/loop", http_server.port), container={}, pod_ip="127.0.0.1", timeout=5
    )
    url = f"http://127.0.0.1:{http_server.port}/loop"
    assert out == ProbeOutcome(Result.FAILURE, f'Get "{url}": stopped after 10 redirects')
    assert len(http_server.seen) == 10


async def test_http_body_read_is_limited_to_10k(http_server: HTTPServer) -> None:
    out = await probe_http(
        get("/big", http_server.port), container={}, pod_ip="127.0.0.1", timeout=5
    )
    assert out == ProbeOutcome(Result.SUCCESS, "x" * 10240)


async def test_http_timeout_fails(http_server: HTTPServer) -> None:
    out = await probe_http(
        get("/slow", http_server.port), container={}, pod_ip="127.0.0.1", timeout=0.2
    )
    url = f"http://127.0.0.1:{http_server.port}/slow"
    assert out == ProbeOutcome(
        Result.FAILURE,
        f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)',
    )


async def test_http_body_timeout_is_an_error(http_server: HTTPServer) -> None:
    out = await probe_http(
        get("/stall", http_server.port), container={}, pod_ip="127.0.0.1", timeout=0.2
    )
    assert out == ProbeOutcome(
        Result.UNKNOWN,
        "context deadline exceeded (Client.Timeout or context cancellation while reading body)",
    )


async def test_http_connection_refused() -> None:
    port = closed_port()
    out = await probe_http(get("/healthz", port), container={}, pod_ip="127.0.0.1", timeout=5)
    assert out == ProbeOutcome(
        Result.FAILURE,
        f'Get "http://127.0.0.1:{port}/healthz": dial tcp 127.0.0.1:{port}: '
        "connect: connection refused",
    )


async def test_http_url_without_path_is_printed_as_go_does() -> None:
    port = closed_port()
    out = await probe_http({"port": port}, container={}, pod_ip="127.0.0.1", timeout=5)
    assert out.output.startswith(f'Get "http://127.0.0.1:{port}": dial tcp')


async def test_http_without_pod_ip_does_not_probe_localhost() -> None:
    out = await probe_http(get("/ok", 80), container={}, pod_ip="", timeout=5)
    assert out.result == Result.UNKNOWN


async def test_https_does_not_verify_certificates(https_server: HTTPServer) -> None:
    out = await probe_http(
        get("/ok", https_server.port, scheme="HTTPS"),
        container={},
        pod_ip="127.0.0.1",
        timeout=5,
    )
    assert out == ProbeOutcome(Result.SUCCESS, "all good")


async def test_https_to_plain_http_server(http_server: HTTPServer) -> None:
    out = await probe_http(
        get("/ok", http_server.port, scheme="HTTPS"),
        container={},
        pod_ip="127.0.0.1",
        timeout=5,
    )
    assert out == ProbeOutcome(
        Result.FAILURE,
        f'Get "https://127.0.0.1:{http_server.port}/ok": '
        "http: server gave HTTP response to HTTPS client",
    )


# ---------------------------------------------------------------------- TCP


async def test_tcp_open_port_succeeds() -> None:
    accepted = asyncio.Event()

    async def on_connect(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        accepted.set()
        w.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        assert await probe_tcp("127.0.0.1", port, 5) == ProbeOutcome(Result.SUCCESS, "")
        await asyncio.wait_for(accepted.wait(), 5)
    finally:
        server.close()
        await server.wait_closed()


async def test_tcp_closed_port_fails() -> None:
    port = closed_port()
    assert await probe_tcp("127.0.0.1", port, 5) == ProbeOutcome(
        Result.FAILURE, f"dial tcp 127.0.0.1:{port}: connect: connection refused"
    )


async def test_tcp_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    async def hang(*_a: Any, **_k: Any) -> Any:
        await asyncio.Event().wait()

    # A connect that never completes (no real address is contacted).
    monkeypatch.setattr(asyncio, "open_connection", hang)
    assert await probe_tcp("127.0.0.1", 80, 0.05) == ProbeOutcome(
        Result.FAILURE, "dial tcp 127.0.0.1:80: i/o timeout"
    )


async def test_tcp_probe_via_run_probe_uses_named_port() -> None:
    server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        container = {"name": "c", "ports": [{"name": "db", "containerPort": port}]}
        out = await run_probe(
            {"tcpSocket": {"port": "db"}, "timeoutSeconds": 5},
            container=container,
            container_id="cid",
            pod_ip="127.0.0.1",
            exec_sync=_unused_exec,
        )
        assert out == ProbeOutcome(Result.SUCCESS, "")
    finally:
        server.close()
        await server.wait_closed()


async def _unused_exec(
    container_id: str, cmd: list[str], timeout: float
) -> tuple[int, bytes, bytes]:
    raise AssertionError("exec_sync must not be called")


# --------------------------------------------------------------------- gRPC


@dataclass
class GRPCServer:
    port: int
    user_agents: list[str]


@pytest.fixture
async def grpc_health() -> AsyncIterator[GRPCServer]:
    release = asyncio.Event()
    agents: list[str] = []

    async def check(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        meta = dict(context.invocation_metadata() or ())
        agents.append(str(meta.get("user-agent", "")))
        service = request[2:].decode() if request else ""
        if service == "missing":
            await context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        if service == "slow":
            await release.wait()
        status = {"": 1, "down": 2, "weird": 3, "odd": 7}.get(service, 1)
        return b"\x08" + bytes([status])

    handler = grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health",
        {"Check": grpc.unary_unary_rpc_method_handler(check)},
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield GRPCServer(port=port, user_agents=agents)
    finally:
        release.set()
        await server.stop(None)


async def test_grpc_serving(grpc_health: GRPCServer) -> None:
    out = await probe_grpc("127.0.0.1", grpc_health.port, "", 5)
    assert out == ProbeOutcome(Result.SUCCESS, "service healthy")
    assert grpc_health.user_agents[0].startswith("kube-probe/1.32")


@pytest.mark.parametrize(
    ("service", "status"), [("down", "NOT_SERVING"), ("weird", "SERVICE_UNKNOWN"), ("odd", "7")]
)
async def test_grpc_not_serving(grpc_health: GRPCServer, service: str, status: str) -> None:
    out = await probe_grpc("127.0.0.1", grpc_health.port, service, 5)
    assert out == ProbeOutcome(Result.FAILURE, f'service unhealthy (responded with "{status}")')


async def test_grpc_unknown_service(grpc_health: GRPCServer) -> None:
    out = await probe_grpc("127.0.0.1", grpc_health.port, "missing", 5)
    assert out == ProbeOutcome(
        Result.FAILURE,
        "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service",
    )


async def test_grpc_rpc_timeout(grpc_health: GRPCServer) -> None:
    out = await probe_grpc("127.0.0.1", grpc_health.port, "slow", 0.3)
    assert out == ProbeOutcome(
        Result.FAILURE, f"timeout: health rpc did not complete within {go_duration(0.3)}"
    )


async def test_grpc_unimplemented() -> None:
    server = grpc.aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        out = await probe_grpc("127.0.0.1", port, "", 5)
    finally:
        await server.stop(None)
    assert out.result == Result.FAILURE
    assert out.output.startswith(
        "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): "
    )


async def test_grpc_closed_port_times_out_connecting() -> None:
    port = closed_port()
    out = await probe_grpc("127.0.0.1", port, "", 0.3)
    assert out == ProbeOutcome(
        Result.FAILURE,
        f'timeout: failed to connect service "127.0.0.1:{port}" within 300ms: '
        "context deadline exceeded",
    )


def test_health_wire_format() -> None:
    assert encode_health_request("") == b""
    assert encode_health_request("svc") == b"\x0a\x03svc"
    assert decode_health_response(b"") == 0
    assert decode_health_response(b"\x08\x01") == 1
    # unknown fields are skipped
    assert decode_health_response(b"\x12\x02ab\x08\x02") == 2
    with pytest.raises(ValueError):
        decode_health_response(b"\x08")


# --------------------------------------------------------------------- exec


class FakeExec:
    def __init__(self, *replies: tuple[int, bytes, bytes] | BaseException) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[str, list[str], float]] = []

    async def __call__(
        self, container_id: str, cmd: list[str], timeout: float
    ) -> tuple[int, bytes, bytes]:
        self.calls.append((container_id, cmd, timeout))
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, BaseException):
            raise reply
        return reply


async def test_exec_exit_0_is_success() -> None:
    fake = FakeExec((0, b"out\n", b"err\n"))
    out = await probe_exec(fake, "cid", ["cat", "/tmp/healthy"], 3)
    assert out == ProbeOutcome(Result.SUCCESS, "out\nerr\n")
    assert fake.calls == [("cid", ["cat", "/tmp/healthy"], 3)]


async def test_exec_nonzero_is_failure_with_output() -> None:
    out = await probe_exec(FakeExec((1, b"", b"cat: can't open\n")), "cid", ["cat", "x"], 1)
    assert out == ProbeOutcome(Result.FAILURE, "cat: can't open\n")


async def test_exec_output_is_limited() -> None:
    out = await probe_exec(FakeExec((1, b"a" * 20000, b"b")), "cid", ["x"], 1)
    assert out.output == "a" * 10240


async def test_exec_timeout_is_failure() -> None:
    out = await probe_exec(FakeExec(TimeoutError()), "cid", ["sh", "-c", "sleep 10"], 1)
    assert out == ProbeOutcome(
        Result.FAILURE, 'command timed out: "sh -c sleep 10" timed out after 1s'
    )


async def test_exec_deadline_exceeded_from_cri_is_a_timeout() -> None:
    err = GRPCError(Status.DEADLINE_EXCEEDED, "late")
    out = await probe_exec(FakeExec(err), "cid", ["true"], 2)
    assert out == ProbeOutcome(Result.FAILURE, 'command timed out: "true" timed out after 2s')


async def test_exec_runtime_error_is_unknown() -> None:
    err = GRPCError(Status.NOT_FOUND, "container is not created or running")
    out = await probe_exec(FakeExec(err), "cid", ["true"], 1)
    assert out == ProbeOutcome(
        Result.UNKNOWN,
        "rpc error: code = NotFound desc = container is not created or running",
    )


async def test_run_probe_exec_expands_static_env() -> None:
    fake = FakeExec((0, b"", b""))
    container = {
        "name": "c",
        "env": [
            {"name": "FILE", "value": "/tmp/ok"},
            {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ],
    }
    await run_probe(
        {"exec": {"command": ["cat", "$(FILE)", "$(SECRET)", "$(NOPE)", "$$(FILE)"]}},
        container=container,
        container_id="cid",
        pod_ip="",
        exec_sync=fake,
    )
    assert fake.calls == [("cid", ["cat", "/tmp/ok", "", "$(NOPE)", "$(FILE)"], 1.0)]


async def test_run_probe_without_handler() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u"}}
    out = await run_probe(
        {}, container={"name": "c"}, container_id="x", pod_ip="", exec_sync=_unused_exec, pod=pod
    )
    assert out == ProbeOutcome(Result.UNKNOWN, "missing probe handler for p_ns(u):c")


# ------------------------------------------------------------------ helpers


def test_expand_command_edge_cases() -> None:
    env = [{"name": "A", "value": "1"}]
    assert expand_command(["$(A)x", "$(A", "$", "a$b", "$$"], env) == ["1x", "$(A", "$", "a$b", "$"]


def test_resolve_container_port() -> None:
    container = {"ports": [{"name": "http", "containerPort": 8080}]}
    assert resolve_container_port(80, container) == 80
    assert resolve_container_port("http", container) == 8080
    assert resolve_container_port("9090", container) == 9090
    with pytest.raises(PortError, match=r"^invalid port number: 0$"):
        resolve_container_port(0, container)
    with pytest.raises(PortError, match=r"^invalid port number: 70000$"):
        resolve_container_port("70000", container)
    with pytest.raises(PortError, match=r'^strconv.Atoi: parsing "": invalid syntax$'):
        resolve_container_port("", container)


def test_go_formatting() -> None:
    assert go_quote('a"b\\c\n\x01é\x7f') == '"a\\"b\\\\c\\n\\x01é\\x7f"'
    assert go_quote(b"\xff") == '"\\xff"'
    assert go_duration(1) == "1s"
    assert go_duration(90) == "1m30s"
    assert go_duration(3600) == "1h0m0s"
    assert go_duration(0.3) == "300ms"
    assert go_duration(1.5) == "1.5s"


class CRIErrorLike(Exception):
    """Shaped like pinnace.kubelet.cri.CRIError (code attribute, message)."""

    def __init__(self, code: Status, message: str) -> None:
        super().__init__(f"ExecSync: {code.name}: {message}")
        self.code = code
        self.message = message


@dataclass
class ExecSyncResponseLike:
    exit_code: int
    stdout: bytes
    stderr: bytes


async def test_exec_accepts_cri_client_shapes() -> None:
    async def exec_sync(cid: str, cmd: list[str], timeout: float) -> ExecSyncResponseLike:
        return ExecSyncResponseLike(3, b"o", b"e")

    assert await probe_exec(exec_sync, "cid", ["x"], 1) == ProbeOutcome(Result.FAILURE, "oe")
    late = FakeExec(CRIErrorLike(Status.DEADLINE_EXCEEDED, "timeout 1s exceeded"))
    out = await probe_exec(late, "cid", ["x"], 1)
    assert out == ProbeOutcome(Result.FAILURE, 'command timed out: "x" timed out after 1s')
    gone = FakeExec(CRIErrorLike(Status.NOT_FOUND, "no such container"))
    out = await probe_exec(gone, "cid", ["x"], 1)
    assert out == ProbeOutcome(
        Result.UNKNOWN, "rpc error: code = NotFound desc = no such container"
    )
