"""Errors the API server answered with, as exceptions carrying the ``metav1.Status``.

:func:`api_error` picks the most specific subclass from the Status ``reason``
(falling back to the HTTP code), like client-go's ``errors.IsNotFound`` & co.
``Gone`` covers every 410 ("resourceVersion too old"); ``Expired`` is the
410 with reason ``Expired`` that watches and continue tokens produce.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = [
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "Conflict",
    "Expired",
    "Forbidden",
    "Gone",
    "Invalid",
    "MethodNotAllowed",
    "NotFound",
    "ServerTimeout",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "api_error",
]

_REASON_FOR_CODE = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Gone",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """An error Status from the API server."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.status = status
        super().__init__(self.message or self.reason or f"HTTP {self.code}")

    @property
    def code(self) -> int:
        return int(self.status.get("code") or 0)

    @property
    def reason(self) -> str:
        return str(self.status.get("reason") or "")

    @property
    def message(self) -> str:
        return str(self.status.get("message") or "")

    @property
    def details(self) -> dict[str, Any]:
        d = self.status.get("details")
        return d if isinstance(d, dict) else {}

    @property
    def causes(self) -> list[dict[str, Any]]:
        c = self.details.get("causes")
        return c if isinstance(c, list) else []

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, reason={self.reason!r}, message={self.message!r})"


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class MethodNotAllowed(ApiError):
    pass


class Conflict(ApiError):
    """409 Conflict: a stale resourceVersion or a field-manager conflict."""


class AlreadyExists(ApiError):
    """409 AlreadyExists (not a :class:`Conflict`, as in client-go)."""


class Gone(ApiError):
    """410: the requested resourceVersion is too old (relist)."""


class Expired(Gone):
    pass


class Invalid(ApiError):
    pass


class TooManyRequests(ApiError):
    pass


class ServerTimeout(ApiError):
    pass


class ServiceUnavailable(ApiError):
    pass


_BY_REASON: dict[str, type[ApiError]] = {
    "BadRequest": BadRequest,
    "Unauthorized": Unauthorized,
    "Forbidden": Forbidden,
    "NotFound": NotFound,
    "MethodNotAllowed": MethodNotAllowed,
    "AlreadyExists": AlreadyExists,
    "Conflict": Conflict,
    "Gone": Gone,
    "Expired": Expired,
    "Invalid": Invalid,
    "TooManyRequests": TooManyRequests,
    "ServerTimeout": ServerTimeout,
    "Timeout": ServerTimeout,
    "ServiceUnavailable": ServiceUnavailable,
}
_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
    503: ServiceUnavailable,
    504: ServerTimeout,
}


def api_error(status: dict[str, Any]) -> ApiError:
    """The exception for a Status dict (most specific class by reason, then code)."""
    code = int(status.get("code") or 0)
    cls = _BY_REASON.get(str(status.get("reason") or "")) or _BY_CODE.get(code, ApiError)
    # a 410 is always Gone-ish, whatever its reason says
    if code == 410 and not issubclass(cls, Gone):
        cls = Gone
    return cls(status)


def status_from_response(code: int, body: bytes) -> dict[str, Any]:
    """The Status in an error response, or a synthesized one for non-Status bodies."""
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("kind") == "Status":
        if not parsed.get("code"):
            parsed["code"] = code
        return parsed
    text = body.decode("utf-8", "replace").strip()
    reason = _REASON_FOR_CODE.get(code, "Unknown" if code < 500 else "InternalError")
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": text or f"the server responded with HTTP {code}",
        "reason": reason,
        "code": code,
    }


def error_from_response(code: int, body: bytes) -> ApiError:
    return api_error(status_from_response(code, body))
