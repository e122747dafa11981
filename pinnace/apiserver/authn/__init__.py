"""Authentication: a chain of authenticators; the first that recognises the
request's credentials wins. This issue ships x509 client certificates; the
security issue adds tokens, service accounts and impersonation behind the same
interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from pinnace.apiserver.clientcerts import ClientCertificateVerifier


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


class TokenAuthenticator(Protocol):
    """One kind of bearer token (static file, bootstrap, service account JWT,
    loopback). Also used by ``TokenReview``, which checks a token that did
    not come in a request header."""

    async def authenticate_token(self, token: str) -> UserInfo | None:
        """The token's user, or None when this authenticator does not know it
        (or it is expired, tampered with, or bound to an object that is gone)."""


def bearer_token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class BearerTokenAuthenticator:
    """The ``Authorization: Bearer`` header checked against each token
    authenticator in turn; the first that knows the token wins."""

    def __init__(self, token_authenticators: list[TokenAuthenticator]) -> None:
        self.token_authenticators = token_authenticators

    async def authenticate(self, request: web.Request) -> UserInfo | None:
        token = bearer_token(request)
        if token is None:
            return None
        return await self.authenticate_token(token)

    async def authenticate_token(self, token: str) -> UserInfo | None:
        for a in self.token_authenticators:
            user = await a.authenticate_token(token)
            if user is not None:
                return user
        return None


class X509Authenticator:
    """CN = user name, O = groups, from a client certificate signed by the
    cluster CA. The handshake lets any certificate through (see
    :mod:`pinnace.apiserver.handshake`); ``verifier`` judges it, so a bad one
    (expired, from another CA, not for client auth) is answered 401."""

    def __init__(self, verifier: ClientCertificateVerifier | None = None) -> None:
        self.verifier = verifier

    async def authenticate(self, request: web.Request) -> UserInfo | None:
        if self.verifier is None:
            return None
        ident = self.verifier.identity(peer_certificate(request))
        if ident is None:
            return None
        user, groups = ident
        return UserInfo(user, (*groups, "system:authenticated"))


def peer_certificate(request: web.Request) -> bytes | None:
    """The client's certificate (DER) as sent, verified or not."""
    transport = request.transport
    if transport is None:
        return None
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der: bytes | None = ssl_object.getpeercert(binary_form=True)
    return der


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
