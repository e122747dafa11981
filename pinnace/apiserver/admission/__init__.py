"""Admission seam: an ordered chain of plugins, mutating then validating,
called by the registry on create, update and delete (and connect later).
Plugins raise ``ApiError`` to reject. This issue ships NamespaceLifecycle;
the security issue adds the rest behind the same interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pinnace.api.schema import Resource
from pinnace.apiserver.authn import UserInfo

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]


@dataclass(slots=True)
class AdmissionRequest:
    operation: Operation
    resource: Resource
    namespace: str
    name: str
    object: dict[str, Any] | None
    old_object: dict[str, Any] | None
    user: UserInfo
    subresource: str = ""
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)
    # key -> value notes for the audit log (pod-security.kubernetes.io/...)
    audit_annotations: dict[str, str] = field(default_factory=dict)


class MutatingPlugin(Protocol):
    name: str

    async def admit(self, req: AdmissionRequest) -> None: ...


class ValidatingPlugin(Protocol):
    name: str

    async def validate(self, req: AdmissionRequest) -> None: ...


class AdmissionChain:
    def __init__(
        self,
        mutating: list[MutatingPlugin] | None = None,
        validating: list[ValidatingPlugin] | None = None,
    ) -> None:
        self.mutating = mutating or []
        self.validating = validating or []

    async def admit(self, req: AdmissionRequest) -> None:
        for m in self.mutating:
            await m.admit(req)

    async def validate(self, req: AdmissionRequest) -> None:
        for v in self.validating:
            await v.validate(req)
