"""Authorization: the request attributes authorizers judge and the chain
that asks them in ``--authorization-mode`` order. The first authorizer with
an opinion decides; a request no one allows is forbidden. RBAC lives in
:mod:`pinnace.apiserver.authz.rbac`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from pinnace.apiserver.authn import UserInfo

Decision = Literal["allow", "deny", "no-opinion"]


@dataclass(frozen=True, slots=True)
class Attributes:
    user: UserInfo
    verb: str  # get list watch create update patch delete deletecollection, or HTTP verb for non-resource
    resource_request: bool
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""


class Authorizer(Protocol):
    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]: ...


class AlwaysAllow:
    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        return "allow", ""


class AlwaysDeny:
    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        return "deny", "Everything is forbidden."


class AuthorizerChain:
    def __init__(self, authorizers: list[Authorizer]) -> None:
        self.authorizers = authorizers

    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        reasons: list[str] = []
        for a in self.authorizers:
            decision, reason = await a.authorize(attrs)
            if decision != "no-opinion":
                return decision, reason
            if reason:
                reasons.append(reason)
        return "no-opinion", "\n".join(reasons)  # as upstream's union authorizer
