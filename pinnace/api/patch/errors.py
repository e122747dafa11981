"""Errors raised by the patch functions, and the ``metav1.Status`` upstream
answers with for each.

Every function in ``pinnace.api.patch`` raises :class:`PatchError` for a patch
that does not apply. The error carries the underlying message (upstream's Go
error text, kept verbatim so logs and tests can compare it) and how upstream's
apiserver reports it, which is not always with that text:

``bad_request`` (400, reason ``BadRequest``)
    ``errors.NewBadRequest(err.Error())``: the Status message is the error text.
    Used for undecodable patches and for the strategic-merge sentinel errors
    ``ErrBadPatchFormatForRetainKeys`` & co.
``invalid`` (422, reason ``Invalid``)
    ``errors.NewGenericServerResponse(422, ...)``: the Status message is always
    ``the server rejected our request due to an error in our request`` and the
    Go error text is dropped (no causes). Used for JSON patch operations that
    do not apply (failed ``test``, missing path, ...) and for the SMP errors
    ``lists of lists are not supported``.
``internal`` (500, no reason)
    A plain Go error that reached ``ErrorToAPIStatus``: the Status message is
    the error text. Upstream answers this way for e.g. a list item without its
    merge key (``map: map[image:x] does not contain declared merge key: name``).
``too_large`` (413, reason ``RequestEntityTooLarge``)
    More than 10000 JSON patch operations.

:class:`ApplyConflict` is server-side apply's 409 with one
``FieldManagerConflict`` cause per conflicting field.
"""

from __future__ import annotations

from typing import Any, Literal

Kind = Literal["bad_request", "invalid", "internal", "too_large"]

GENERIC_INVALID_MESSAGE = "the server rejected our request due to an error in our request"

_CODES: dict[str, tuple[int, str]] = {
    "bad_request": (400, "BadRequest"),
    "invalid": (422, "Invalid"),
    "internal": (500, ""),
    "too_large": (413, "RequestEntityTooLarge"),
}


class PatchError(Exception):
    """A patch that does not apply. ``message`` is upstream's error text."""

    def __init__(self, message: str, kind: Kind = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.kind: Kind = kind

    @property
    def code(self) -> int:
        return _CODES[self.kind][0]

    def status(self) -> dict[str, Any]:
        """The ``metav1.Status`` upstream's apiserver answers with."""
        code, reason = _CODES[self.kind]
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "code": code,
        }
        if self.kind == "invalid":
            status["message"] = GENERIC_INVALID_MESSAGE
            status["details"] = {}
        elif self.kind == "too_large":
            status["message"] = f"Request entity too large: {self.message}"
        else:
            status["message"] = self.message
        if reason:
            status["reason"] = reason
        return status


class ApplyConflict(Exception):
    """Server-side apply found fields owned by other managers (409).

    ``conflicts`` holds ``(manager, field path)`` pairs, where ``manager`` is
    the printed manager (``"kubectl"`` or ``"kubectl-client-side-apply" using
    apps/v1``, as upstream prints it) and the path is in upstream's
    ``.spec.containers[name="nginx"].image`` form.
    """

    def __init__(self, conflicts: list[tuple[str, str]]) -> None:
        self.conflicts = conflicts
        self.message = conflict_message(conflicts)
        super().__init__(self.message)

    @property
    def code(self) -> int:
        return 409

    def status(self) -> dict[str, Any]:
        """Upstream's ``errors.NewApplyConflict(causes, message)``."""
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": "Conflict",
            "details": {
                "causes": [
                    {
                        "reason": "FieldManagerConflict",
                        "message": f"conflict with {manager}",
                        "field": path,
                    }
                    for manager, path in self.conflicts
                ]
            },
            "code": 409,
        }


def conflict_message(conflicts: list[tuple[str, str]]) -> str:
    """Upstream's ``getConflictMessage`` (managedfields/internal/conflict.go)."""
    if len(conflicts) == 1:
        manager, path = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {manager}: {path}"
    by_manager: dict[str, list[str]] = {}
    for manager, path in conflicts:
        by_manager.setdefault(manager, []).append(path)
    lines: list[str] = []
    for manager in sorted(by_manager):
        lines.append(f"conflicts with {manager}:")
        lines.extend(f"- {path}" for path in by_manager[manager])
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
