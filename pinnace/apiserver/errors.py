"""API errors as ``metav1.Status`` objects with upstream reasons, codes and
message texts. Handlers raise ``ApiError``; the HTTP layer turns it into the
response. Anything else that escapes a handler becomes a generic 500 Status
(the traceback goes to the log, never to the client).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pinnace.api.schema import Resource


class StartupError(Exception):
    """A user-facing reason the server cannot start (port taken, bad data dir...)."""


def status_body(
    code: int,
    reason: str,
    message: str,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    if not reason:
        del body["reason"]
    return body


class ApiError(Exception):
    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        return status_body(self.code, self.reason, self.message, self.details)


def qualified(resource: Resource) -> str:
    """``pods`` or ``deployments.apps`` as upstream's messages print it."""
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural


def _details(resource: Resource | None, name: str, kind: str | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if name:
        d["name"] = name
    if resource is not None and resource.group:
        d["group"] = resource.group
    if kind is not None:
        d["kind"] = kind
    elif resource is not None:
        d["kind"] = resource.plural
    return d


def not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{qualified(resource)} "{name}" not found', _details(resource, name)
    )


def not_found_plain(message: str) -> ApiError:
    return ApiError(404, "NotFound", message)


def already_exists(resource: Resource, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(resource)} "{name}" already exists',
        _details(resource, name),
    )


def conflict(resource: Resource, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(resource)} "{name}": {why}',
        _details(resource, name),
    )


MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def invalid(resource: Resource, name: str, causes: Sequence[dict[str, Any]]) -> ApiError:
    """422 with one cause per field error; message as upstream's NewInvalid."""
    parts = [_cause_text(c) for c in causes]
    if len(parts) == 1:
        summary = parts[0]
    else:
        summary = "[" + ", ".join(parts) + "]"
    group_kind = f"{resource.kind}.{resource.group}" if resource.group else resource.kind
    return ApiError(
        422,
        "Invalid",
        f'{group_kind} "{name}" is invalid: {summary}',
        {**_details(resource, name, kind=resource.kind), "causes": list(causes)},
    )


def _cause_text(cause: dict[str, Any]) -> str:
    f = cause.get("field")
    return f"{f}: {cause['message']}" if f else str(cause["message"])


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/yaml, application/vnd.kubernetes.protobuf"
        + (f" (got {content_type!r})" if content_type else ""),
    )


def not_acceptable(accept: str) -> ApiError:
    return ApiError(
        406,
        "NotAcceptable",
        "only the following media types are accepted: application/json, application/yaml, "
        "application/vnd.kubernetes.protobuf",
    )


def too_large() -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(
    user: str,
    verb: str,
    resource: str,
    group: str,
    namespace: str,
    name: str,
    subresource: str = "",
    reason: str = "",
) -> ApiError:
    """Upstream's authorization failure: ``pods "x" is forbidden: User "alice"
    cannot get resource "pods/log" in API group "" in the namespace "dev"``."""
    qualified = f"{resource}.{group}" if group else resource
    what = f'{qualified} "{name}"' if name else qualified
    scope = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    full = f"{resource}/{subresource}" if subresource else resource
    message = (
        f'{what} is forbidden: User "{user}" cannot {verb} resource "{full}" '
        f'in API group "{group}"{scope}'
    )
    if reason:
        message += f": {reason}"
    return ApiError(
        403,
        "Forbidden",
        message,
        {"name": name, "group": group, "kind": resource}
        if name
        else {"group": group, "kind": resource},
    )


def forbidden_object(resource: str, group: str, name: str, message: str) -> ApiError:
    """A 403 about one object with a free-form reason (upstream's
    ``NewForbidden(groupResource, name, err)``)."""
    qualified = f"{resource}.{group}" if group else resource
    return ApiError(
        403,
        "Forbidden",
        f'{qualified} "{name}" is forbidden: {message}',
        {"name": name, "group": group, "kind": resource},
    )


def internal(message: str = "an internal error occurred") -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")


def timeout(message: str) -> ApiError:
    return ApiError(504, "Timeout", message)


def too_many_requests(message: str = "Too many requests, please try again later.") -> ApiError:
    return ApiError(429, "TooManyRequests", message, headers={"Retry-After": "1"})


def invalid_plain(message: str, field: str) -> ApiError:
    """A 422 for request options (not an object), e.g. PatchOptions."""
    return ApiError(
        422,
        "Invalid",
        message,
        {"causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}]},
    )
