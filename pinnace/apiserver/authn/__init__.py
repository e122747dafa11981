"""Authentication: a chain of authenticators; the first that recognises the
request's credentials wins. This issue ships x509 client certificates; the
security issue adds tokens, service accounts and impersonation behind the same
interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from pinnace.apiserver.tls import identity_from_peercert


@dataclass(frozen=True, slots=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)


ANONYMOUS = UserInfo("system:anonymous", ("system:unauthenticated",))


class Authenticator(Protocol):
    async def authenticate(self, request: web.Request) -> UserInfo | None:
        """The request's user, or None when this authenticator does not apply."""


class X509Authenticator:
    """CN = user name, O = groups, from a client certificate the TLS layer
    already verified against the cluster CA."""

    async def authenticate(self, request: web.Request) -> UserInfo | None:
        transport = request.transport
        if transport is None:
            return None
        ident = identity_from_peercert(transport.get_extra_info("peercert"))
        if ident is None:
            return None
        user, groups = ident
        return UserInfo(user, (*groups, "system:authenticated"))


class TrustedIdentityAuthenticator:
    """For the in-process loopback transport: the identity is attached to the
    request object by the transport itself (never read from headers)."""

    async def authenticate(self, request: web.Request) -> UserInfo | None:
        user = request.get("pinnace.loopback_user")
        return user if isinstance(user, UserInfo) else None


class AuthenticatorChain:
    def __init__(self, authenticators: list[Authenticator]) -> None:
        self.authenticators = authenticators

    async def authenticate(self, request: web.Request) -> UserInfo | None:
        for a in self.authenticators:
            user = await a.authenticate(request)
            if user is not None:
                return user
        return None
