"""Run one probe action (exec, httpGet, tcpSocket, grpc) and report its outcome.

Semantics and output texts follow upstream's ``pkg/probe/{exec,http,tcp,grpc}``
and ``pkg/kubelet/prober/prober.go`` (v1.32), since the output ends up in
``Unhealthy`` / ``ProbeWarning`` events:

- ``exec`` runs through the injected CRI ``ExecSync`` (``exec_sync``); exit 0 is
  success, another exit code a failure whose output is stdout+stderr (first
  10 KiB), a timeout a failure reading ``command timed out: "<cmd>" timed out
  after 1s``. ``$(VAR)`` in the command expands from the container's literal
  ``env`` values, as upstream does for probes.
- ``httpGet``: 200 <= status < 400 is success (the body is the output), a 3xx
  left unfollowed because it pointed at another host is a *warning* (success,
  with a ``ProbeWarning`` event), anything else fails with ``HTTP probe failed
  with statuscode: 500`` or Go's transport error text.
- ``tcpSocket``: a connection within the timeout is success.
- ``grpc``: ``grpc.health.v1.Health/Check`` with the probe's ``service``;
  ``SERVING`` is success. The request and response are three bytes of protobuf,
  encoded by hand on a generic unary call (grpclib with a pass-through codec),
  so no health-checking package is needed. As upstream's blocking dial, the
  connection is retried (grpc-go's backoff) until the probe's timeout.

Every handler returns a :class:`ProbeOutcome` ``(result, output)``. ``UNKNOWN``
means the probe could not be run (unresolvable port, runtime error); its output
is the error text, and the prober throws such a result away (after upstream's
three attempts) instead of counting it.

Network timeouts use the event loop's real time; scheduling (the injected clock)
is the prober's business.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import socket
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import grpclib.client
from grpclib.client import Channel, UnaryUnaryMethod
from grpclib.const import Status
from grpclib.encoding.base import CodecBase
from grpclib.exceptions import GRPCError

from pinnace.kubelet.probes.gofmt import (
    format_pod,
    go_duration,
    go_errno_text,
    go_quote,
    go_rpc_error,
    join_host_port,
)
from pinnace.kubelet.probes.http import (
    MAX_BODY_BYTES,
    HTTPGetError,
    PortError,
    http_get,
    new_request_for_http_get_action,
    resolve_container_port,
    user_agent,
)

__all__ = [
    "ExecSync",
    "ProbeOutcome",
    "Result",
    "exec_output",
    "exec_result",
    "expand_command",
    "grpc_status",
    "probe_exec",
    "probe_grpc",
    "probe_http",
    "probe_tcp",
    "run_probe",
]

log = logging.getLogger("pinnace.kubelet.prober")

RUNTIME_REQUEST_TIMEOUT = 120.0
"""Upstream's CRI client allows the runtime this long on top of the exec's own
timeout before giving up on an ExecSync."""

MAX_PROBE_ATTEMPTS = 3
"""Upstream retries a probe that errored (not one that failed) up to 3 times."""


class Result(enum.Enum):
    """``probe.Result``; the values are upstream's strings."""

    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"
    UNKNOWN = "unknown"


class ProbeOutcome(NamedTuple):
    result: Result
    output: str


class ExecSync(Protocol):
    """CRI ``ExecSync``: run ``cmd`` in the container, let it run at most
    ``timeout`` seconds (0: no limit). The result is ``(exit_code, stdout,
    stderr)`` or an object with those attributes (a CRI ``ExecSyncResponse``, so
    ``RuntimeClient.exec_sync`` can be passed as is). A timeout is
    ``TimeoutError`` or an error whose gRPC code is ``DEADLINE_EXCEEDED``."""

    def __call__(self, container_id: str, cmd: list[str], timeout: float, /) -> Awaitable[Any]: ...


def exec_result(reply: Any) -> tuple[int, bytes | str, bytes | str]:
    """``(exit_code, stdout, stderr)`` from a tuple or an ``ExecSyncResponse``."""
    if hasattr(reply, "exit_code"):
        return int(reply.exit_code), reply.stdout, reply.stderr
    code, stdout, stderr = reply
    return int(code), stdout, stderr


def grpc_status(exc: BaseException) -> tuple[Status, str] | None:
    """The gRPC code and message of a failed call: a grpclib error, or any error
    with a ``code`` (a grpclib ``Status``) and ``message``, like the CRI client's
    ``CRIError``."""
    if isinstance(exc, GRPCError):
        return exc.status, exc.message or ""
    code = getattr(exc, "code", None)
    if isinstance(code, Status):
        return code, str(getattr(exc, "message", None) or exc)
    return None


def _text(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def exec_output(stdout: bytes | str, stderr: bytes | str, limit: int | None = None) -> str:
    """stdout then stderr (as upstream's ``RunInContainer`` joins them), cut to
    ``limit`` bytes."""
    data = _text(stdout) + _text(stderr)
    if limit is not None:
        data = data[:limit]
    return data.decode("utf-8", errors="replace")


def is_timeout(exc: BaseException) -> bool:
    """An ``ExecSync`` that ran out of time (our timeout or the runtime's)."""
    if isinstance(exc, TimeoutError):
        return True
    status = grpc_status(exc)
    return status is not None and status[0] == Status.DEADLINE_EXCEEDED


def error_text(exc: BaseException) -> str:
    """An exception as upstream would print the corresponding Go error."""
    status = grpc_status(exc)
    if status is not None:
        return go_rpc_error(*status)
    return str(exc) or type(exc).__name__


def expand_command(command: Sequence[str], env: Sequence[Mapping[str, Any]] | None) -> list[str]:
    """``ExpandContainerCommandOnlyStatic``: ``$(NAME)`` becomes the ``value`` of
    env var NAME (``valueFrom`` vars count as empty), ``$$`` is a literal ``$``,
    unknown references stay as written."""
    values = {str(e.get("name", "")): str(e.get("value") or "") for e in env or []}
    return [_expand(arg, values) for arg in command]


def _expand(text: str, values: Mapping[str, str]) -> str:
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            end = text.find(")", i + 2)
            if end == -1:
                out.append("$(")
                i += 2
            else:
                name = text[i + 2 : end]
                out.append(values[name] if name in values else f"$({name})")
                i = end + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


async def probe_exec(
    exec_sync: ExecSync, container_id: str, command: Sequence[str], timeout: float
) -> ProbeOutcome:
    """Run ``command`` in the container through ``exec_sync``."""
    cmd = list(command)
    try:
        limit = timeout + RUNTIME_REQUEST_TIMEOUT if timeout > 0 else None
        # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation.
        async with asyncio.timeout(limit):
            code, stdout, stderr = exec_result(await exec_sync(container_id, cmd, timeout))
    except Exception as exc:
        if is_timeout(exc):
            return ProbeOutcome(
                Result.FAILURE,
                f"command timed out: {go_quote(' '.join(cmd))} timed out after "
                f"{go_duration(timeout)}",
            )
        return ProbeOutcome(Result.UNKNOWN, error_text(exc))
    output = exec_output(stdout, stderr, MAX_BODY_BYTES)
    return ProbeOutcome(Result.SUCCESS if code == 0 else Result.FAILURE, output)


async def probe_http(
    action: Mapping[str, Any], *, container: Mapping[str, Any], pod_ip: str, timeout: float
) -> ProbeOutcome:
    """GET the action's URL (host defaults to ``pod_ip``)."""
    try:
        request = new_request_for_http_get_action(action, container, pod_ip, "probe")
    except PortError as exc:
        return ProbeOutcome(Result.UNKNOWN, str(exc))
    if not request.host:
        return ProbeOutcome(Result.UNKNOWN, "pod has no IP address to probe")
    try:
        resp = await http_get(request, timeout)
    except HTTPGetError as exc:
        if exc.while_reading_body:
            return ProbeOutcome(Result.UNKNOWN, str(exc))
        return ProbeOutcome(Result.FAILURE, str(exc))
    body = resp.body.decode("utf-8", errors="replace")
    if 200 <= resp.status < 400:
        if resp.status >= 300:
            log.debug("Probe terminated redirects", extra={"url": request.url})
            return ProbeOutcome(
                Result.WARNING, f"Probe terminated redirects, Response body: {body}"
            )
        return ProbeOutcome(Result.SUCCESS, body)
    # Upstream keeps the body out of the (user-visible) failure text.
    return ProbeOutcome(Result.FAILURE, f"HTTP probe failed with statuscode: {resp.status}")


async def probe_tcp(host: str, port: int, timeout: float) -> ProbeOutcome:
    """Open (and close) a TCP connection to ``host:port`` within ``timeout``."""
    addr = join_host_port(host, port)
    if not host:
        return ProbeOutcome(Result.UNKNOWN, "pod has no IP address to probe")
    try:
        async with asyncio.timeout(timeout if timeout > 0 else None):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return ProbeOutcome(Result.FAILURE, f"dial tcp {addr}: i/o timeout")
    except OSError as exc:
        if isinstance(exc, socket.gaierror):
            return ProbeOutcome(Result.FAILURE, f"dial tcp: lookup {host}: no such host")
        return ProbeOutcome(Result.FAILURE, f"dial tcp {addr}: connect: {go_errno_text(exc)}")
    writer.close()
    try:
        await writer.wait_closed()
    except OSError as exc:  # the peer reset us first; the connection still worked
        log.debug("closing TCP probe socket: %s", exc)
    return ProbeOutcome(Result.SUCCESS, "")


HEALTH_CHECK_METHOD = "/grpc.health.v1.Health/Check"
SERVING_STATUS_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def encode_health_request(service: str) -> bytes:
    """``HealthCheckRequest{service = 1}`` in protobuf wire format."""
    data = service.encode()
    if not data:
        return b""
    return b"\x0a" + _varint(len(data)) + data


def decode_health_response(data: bytes) -> int:
    """The ``status`` (field 1, enum) of a ``HealthCheckResponse``; unknown fields
    are skipped. Raises ValueError on malformed input."""
    status = 0
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(data, i)
            if field == 1:
                status = value
        elif wire == 2:
            size, i = _read_varint(data, i)
            i += size
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if i > len(data):
            raise ValueError("truncated message")
    return status


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    shift = 0
    value = 0
    while True:
        if i >= len(data):
            raise ValueError("truncated varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


class _RawProto(CodecBase):
    """A grpclib codec that passes bytes through: the health messages are
    encoded and decoded by hand above."""

    __content_subtype__ = "proto"

    def encode(self, message: Any, message_type: Any) -> bytes:
        return bytes(message)

    def decode(self, data: bytes, message_type: Any) -> Any:
        return data


# grpclib sends one process-wide user agent; upstream's prober sends
# kube-probe/<version>. The node agent's other gRPC peer is the CRI runtime,
# which does not look at it.
grpclib.client.USER_AGENT = user_agent("probe") + " grpc-python-grpclib"  # type: ignore[attr-defined]

# grpc-go's connection backoff (base 1 s, factor 1.6, jitter 0.2), which paces
# upstream's blocking dial; the probe's timeout (1 s by default) usually ends it
# after the first refused attempt.
_DIAL_BACKOFF = (1.0, 1.6, 0.2)


async def _dial(channel: Channel, deadline: float) -> bool:
    """Connect ``channel`` before ``deadline`` (loop time), retrying refused or
    failed attempts with backoff; False when the deadline comes first."""
    loop = asyncio.get_running_loop()
    delay, factor, jitter = _DIAL_BACKOFF
    while True:
        left = deadline - loop.time()
        if left <= 0:
            return False
        try:
            async with asyncio.timeout(left):
                await channel.__connect__()
            return True
        except TimeoutError:
            return False
        except OSError as exc:
            log.debug("grpc probe dial: %s", exc)
        pause = delay * (1 + jitter * (2 * random.random() - 1))
        if loop.time() + pause >= deadline:
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            return False
        await asyncio.sleep(pause)
        delay *= factor


async def probe_grpc(host: str, port: int, service: str, timeout: float) -> ProbeOutcome:
    """``grpc.health.v1.Health/Check`` on ``host:port``, plaintext, as upstream:
    connecting blocks (with retries) until the timeout, the RPC gets what is left."""
    addr = join_host_port(host, port)
    if not host:
        return ProbeOutcome(Result.UNKNOWN, "pod has no IP address to probe")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    channel = Channel(host, port, codec=_RawProto())
    try:
        if not await _dial(channel, deadline):
            return ProbeOutcome(
                Result.FAILURE,
                f"timeout: failed to connect service {go_quote(addr)} within "
                f"{go_duration(timeout)}: context deadline exceeded",
            )
        check: UnaryUnaryMethod[bytes, bytes] = UnaryUnaryMethod(
            channel, HEALTH_CHECK_METHOD, bytes, bytes
        )
        try:
            remaining = max(0.001, deadline - loop.time())
            raw: bytes = await check(encode_health_request(service), timeout=remaining)
        except GRPCError as exc:
            if exc.status == Status.UNIMPLEMENTED:
                return ProbeOutcome(
                    Result.FAILURE,
                    "error: this server does not implement the grpc health protocol "
                    f"(grpc.health.v1.Health): {exc.message or ''}",
                )
            if exc.status == Status.DEADLINE_EXCEEDED:
                return _health_timeout(timeout)
            return ProbeOutcome(
                Result.FAILURE,
                f"error: health rpc probe failed: {go_rpc_error(exc.status, exc.message)}",
            )
        except TimeoutError:
            return _health_timeout(timeout)
        except Exception as exc:  # the connection broke: grpc-go reports Unavailable
            return ProbeOutcome(
                Result.FAILURE,
                "error: health rpc probe failed: "
                + go_rpc_error(Status.UNAVAILABLE, f"error reading from server: {exc}"),
            )
    finally:
        channel.close()
    try:
        status = decode_health_response(raw)
    except ValueError as exc:
        return ProbeOutcome(
            Result.FAILURE,
            "error: health rpc probe failed: "
            + go_rpc_error(Status.INTERNAL, f"grpc: failed to unmarshal: {exc}"),
        )
    if status != 1:
        name = SERVING_STATUS_NAMES.get(status, str(status))
        return ProbeOutcome(Result.FAILURE, f"service unhealthy (responded with {go_quote(name)})")
    return ProbeOutcome(Result.SUCCESS, "service healthy")


def _health_timeout(timeout: float) -> ProbeOutcome:
    return ProbeOutcome(
        Result.FAILURE, f"timeout: health rpc did not complete within {go_duration(timeout)}"
    )


async def run_probe(
    probe: Mapping[str, Any],
    *,
    container: Mapping[str, Any],
    container_id: str,
    pod_ip: str,
    exec_sync: ExecSync,
    pod: Mapping[str, Any] | None = None,
) -> ProbeOutcome:
    """Run the probe's one handler once (``prober.runProbe``)."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    if (action := probe.get("exec")) is not None:
        command = expand_command(action.get("command") or [], container.get("env"))
        return await probe_exec(exec_sync, container_id, command, timeout)
    if (action := probe.get("httpGet")) is not None:
        return await probe_http(action, container=container, pod_ip=pod_ip, timeout=timeout)
    if (action := probe.get("tcpSocket")) is not None:
        try:
            port = resolve_container_port(action.get("port"), container)
        except PortError as exc:
            return ProbeOutcome(Result.UNKNOWN, str(exc))
        host = str(action.get("host") or "") or pod_ip
        return await probe_tcp(host, port, timeout)
    if (action := probe.get("grpc")) is not None:
        port = action.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            return ProbeOutcome(Result.UNKNOWN, f"invalid port number: {port}")
        return await probe_grpc(pod_ip, port, str(action.get("service") or ""), timeout)
    return ProbeOutcome(
        Result.UNKNOWN,
        f"missing probe handler for {format_pod(pod or {})}:{container.get('name', '')}",
    )
