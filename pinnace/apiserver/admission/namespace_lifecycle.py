"""NamespaceLifecycle: no new objects in a namespace that does not exist or is
being deleted; the default namespaces cannot be deleted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.errors import ApiError, not_found_plain

PROTECTED = ("default", "kube-system", "kube-public")


class NamespaceLifecycle:
    name = "NamespaceLifecycle"

    def __init__(self, get_namespace: Callable[[str], dict[str, Any] | None]) -> None:
        self._get = get_namespace

    async def validate(self, req: AdmissionRequest) -> None:
        r = req.resource
        if r.group == "" and r.kind == "Namespace":
            if req.operation == "DELETE" and req.name in PROTECTED:
                raise ApiError(
                    403,
                    "Forbidden",
                    f'namespaces "{req.name}" is forbidden: this namespace may not be deleted',
                    {"name": req.name, "kind": "namespaces"},
                )
            return
        if not r.namespaced or req.operation != "CREATE":
            return
        ns = self._get(req.namespace)
        if ns is None:
            raise not_found_plain(f'namespaces "{req.namespace}" not found')
        if (
            ns.get("metadata", {}).get("deletionTimestamp")
            or ns.get("status", {}).get("phase") == "Terminating"
        ):
            # upstream still lets Events and a few kinds in; keep the common case
            if r.kind in ("Event",):
                return
            raise ApiError(
                403,
                "Forbidden",
                f'{r.plural} "{req.name}" is forbidden: unable to create new content in namespace '
                f"{req.namespace} because it is being terminated",
                {"name": req.name, "kind": r.plural},
            )
