"""Go-style renderings of values that appear in upstream's event and error texts.

Upstream builds probe and hook messages with ``fmt``: ``%q`` quotes a string the
way ``strconv.Quote`` does, ``%v`` of a ``time.Duration`` prints ``1s`` or
``1m30s``, ``%v`` of a ``[]string`` prints ``[a b c]``, gRPC status errors read
``rpc error: code = NotFound desc = ...``, and socket errors read
``dial tcp 10.0.0.5:8080: connect: connection refused``. These helpers produce the
same texts from Python values so that our Events match a real kubelet's.

Pure functions, no I/O.
"""

from __future__ import annotations

import errno as errno_mod
import os
from collections.abc import Mapping, Sequence
from typing import Any

from grpclib.const import Status

__all__ = [
    "format_pod",
    "go_duration",
    "go_errno_text",
    "go_grpc_code",
    "go_list",
    "go_quote",
    "go_rpc_error",
    "join_host_port",
]

_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(value: str | bytes) -> str:
    """``strconv.Quote``: a double-quoted literal with Go escapes. Bytes that are
    not valid UTF-8 become ``\\xNN`` as Go prints them."""
    text = value.decode("utf-8", errors="surrogateescape") if isinstance(value, bytes) else value
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def go_duration(seconds: float) -> str:
    """``time.Duration.String()`` for a duration in seconds: ``1s``, ``1.5s``,
    ``2m0s``, ``1h0m0s``, ``0s``, ``500ms``."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 1:
        ms = seconds * 1000
        return f"{sign}{_trim(ms)}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{int(hours)}h{int(minutes)}m{_trim(secs)}s"
    if minutes:
        return f"{sign}{int(minutes)}m{_trim(secs)}s"
    return f"{sign}{_trim(secs)}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def go_list(items: Sequence[str]) -> str:
    """``%v`` of a ``[]string``: ``[sh -c exit 1]``."""
    return "[" + " ".join(items) + "]"


def join_host_port(host: str, port: int) -> str:
    """``net.JoinHostPort``: brackets around IPv6 literals."""
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


# grpc-go's codes.Code String() names.
_GO_CODES = {
    Status.OK: "OK",
    Status.CANCELLED: "Canceled",
    Status.UNKNOWN: "Unknown",
    Status.INVALID_ARGUMENT: "InvalidArgument",
    Status.DEADLINE_EXCEEDED: "DeadlineExceeded",
    Status.NOT_FOUND: "NotFound",
    Status.ALREADY_EXISTS: "AlreadyExists",
    Status.PERMISSION_DENIED: "PermissionDenied",
    Status.RESOURCE_EXHAUSTED: "ResourceExhausted",
    Status.FAILED_PRECONDITION: "FailedPrecondition",
    Status.ABORTED: "Aborted",
    Status.OUT_OF_RANGE: "OutOfRange",
    Status.UNIMPLEMENTED: "Unimplemented",
    Status.INTERNAL: "Internal",
    Status.UNAVAILABLE: "Unavailable",
    Status.DATA_LOSS: "DataLoss",
    Status.UNAUTHENTICATED: "Unauthenticated",
}


def go_grpc_code(code: Status) -> str:
    return _GO_CODES.get(code, str(code))


def go_rpc_error(code: Status, details: str | None) -> str:
    """A gRPC status error as grpc-go prints it."""
    return f"rpc error: code = {go_grpc_code(code)} desc = {details or ''}"


def go_errno_text(err: OSError) -> str:
    """The errno text Go's ``syscall.Errno`` prints (lower case, as in
    ``connection refused``); falls back to Python's text."""
    if err.errno is not None and err.errno in errno_mod.errorcode:
        return os.strerror(err.errno).lower()
    return str(err) or type(err).__name__


def format_pod(pod: Mapping[str, Any]) -> str:
    """The kubelet's ``format.Pod``: ``name_namespace(uid)``."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name', '')}_{meta.get('namespace', '')}({meta.get('uid', '')})"
