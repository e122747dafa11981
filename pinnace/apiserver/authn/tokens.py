"""Bearer-token authentication against tokens the server knows in memory.

Used for the loopback identities of components running inside the server
process (like upstream's loopback client token): each component gets its own
random token mapped to its own user, so in-process components go through the
full authn → authz → admission chain with least privilege, not as admin."""

from __future__ import annotations

import hmac
import secrets

from pinnace.apiserver.authn import UserInfo


class LoopbackTokens:
    def __init__(self) -> None:
        self._tokens: dict[str, UserInfo] = {}

    def register(self, token: str, user: UserInfo) -> None:
        """Accept a token made elsewhere (the node join token's secret)."""
        self._tokens[token] = user

    def issue(self, user: UserInfo) -> str:
        token = secrets.token_urlsafe(32)
        self._tokens[token] = user
        return token

    async def authenticate_token(self, token: str) -> UserInfo | None:
        for known, user in self._tokens.items():
            if hmac.compare_digest(known, token):
                return user
        return None
