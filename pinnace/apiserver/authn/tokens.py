"""Bearer-token authentication against tokens the server knows in memory.

Used for the loopback identities of components running inside the server
process (like upstream's loopback client token): each component gets its own
random token mapped to its own user, so in-process components go through the
full authn → authz → admission chain with least privilege, not as admin."""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from pinnace.apiserver.authn import UserInfo


def bearer_token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class TokenAuthenticator:
    def __init__(self) -> None:
        self._tokens: dict[str, UserInfo] = {}

    def register(self, token: str, user: UserInfo) -> None:
        """Accept a token made elsewhere (the node join token's secret)."""
        self._tokens[token] = user

    def issue(self, user: UserInfo) -> str:
        token = secrets.token_urlsafe(32)
        self._tokens[token] = user
        return token

    async def authenticate(self, request: web.Request) -> UserInfo | None:
        token = bearer_token(request)
        if token is None:
            return None
        for known, user in self._tokens.items():
            if hmac.compare_digest(known, token):
                return user
        return None
