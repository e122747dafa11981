"""Bootstrap tokens: ``<id>.<secret>`` bearer tokens backed by Secrets named
``bootstrap-token-<id>`` of type ``bootstrap.kubernetes.io/token`` in
``kube-system`` (what ``kubeadm token create`` makes and node join uses).

A token authenticates as ``system:bootstrap:<id>`` in ``system:bootstrappers``
plus the Secret's ``auth-extra-groups`` (each must be
``system:bootstrappers:...``) when the Secret is not being deleted, holds the
same id and secret, is marked ``usage-bootstrap-authentication: "true"`` and
has not passed its ``expiration`` (RFC 3339; unparseable counts as expired).
Anything else means "not a token we know" (None), as upstream, which only
logs the reason.

Concurrency: synchronous lookups through the ``get_object`` callable (the
server's watch cache) and a constant-time compare; nothing blocks.
"""

from __future__ import annotations

import base64
import hmac
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pinnace.apiserver.authn import UserInfo
from pinnace.client.clock import REAL_CLOCK, Clock

log = logging.getLogger("pinnace.apiserver.authn.bootstrap")

Obj = dict[str, Any]
GetObject = Callable[[str, str, str, str, str], Obj | None]

NAMESPACE = "kube-system"
SECRET_PREFIX = "bootstrap-token-"
SECRET_TYPE = "bootstrap.kubernetes.io/token"
USER_PREFIX = "system:bootstrap:"
DEFAULT_GROUP = "system:bootstrappers"
AUTHENTICATED_GROUP = "system:authenticated"
KEY_ID = "token-id"
KEY_SECRET = "token-secret"
KEY_EXPIRATION = "expiration"
KEY_USAGE_AUTHENTICATION = "usage-bootstrap-authentication"
KEY_EXTRA_GROUPS = "auth-extra-groups"

TOKEN_RE = re.compile(r"\A([a-z0-9]{6})\.([a-z0-9]{16})\Z")
GROUP_PATTERN = r"\Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\Z"
_GROUP_RE = re.compile(GROUP_PATTERN)


def parse_token(token: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed bootstrap token, else None."""
    m = TOKEN_RE.match(token)
    return (m.group(1), m.group(2)) if m else None


def _data(secret: Obj, key: str) -> str:
    raw = (secret.get("data") or {}).get(key)
    if isinstance(raw, str):
        try:
            return base64.b64decode(raw, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return ""
    value = (secret.get("stringData") or {}).get(key)
    return value if isinstance(value, str) else ""


def groups_of(secret: Obj) -> list[str]:
    """The token's groups: ``system:bootstrappers`` and the validated extra
    groups, deduplicated and sorted. ValueError with upstream's text for a
    bad group name."""
    groups = {DEFAULT_GROUP}
    extra = _data(secret, KEY_EXTRA_GROUPS)
    if extra:
        for g in extra.split(","):
            if not _GROUP_RE.match(g):
                raise ValueError(f'bootstrap group "{g}" is invalid (must match {GROUP_PATTERN})')
            groups.add(g)
    return sorted(groups)


def expired(secret: Obj, now: datetime) -> bool:
    text = _data(secret, KEY_EXPIRATION)
    if not text:
        return False
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        log.info("unparseable expiration time (%s) in bootstrap token secret", text)
        return True
    if when.tzinfo is None:
        return True
    return now > when


class BootstrapTokenAuthenticator:
    def __init__(self, get_object: GetObject, *, clock: Clock = REAL_CLOCK) -> None:
        self.get_object = get_object
        self.clock = clock

    def _refuse(self, secret: Obj, why: str) -> None:
        meta = secret.get("metadata") or {}
        log.debug(
            "Bootstrap secret %s/%s matching bearer token %s",
            meta.get("namespace"),
            meta.get("name"),
            why,
        )

    async def authenticate_token(self, token: str) -> UserInfo | None:
        parsed = parse_token(token)
        if parsed is None:
            return None
        token_id, token_secret = parsed
        name = SECRET_PREFIX + token_id
        secret = self.get_object("", "v1", "secrets", NAMESPACE, name)
        if secret is None:
            log.debug("No secret of name %s to match bootstrap bearer token", name)
            return None
        if (secret.get("metadata") or {}).get("deletionTimestamp"):
            self._refuse(secret, "is deleted and awaiting removal")
            return None
        if secret.get("type") != SECRET_TYPE or not (
            secret.get("data") or secret.get("stringData")
        ):
            self._refuse(secret, f"has invalid type, expected {SECRET_TYPE}.")
            return None
        if not hmac.compare_digest(_data(secret, KEY_SECRET).encode(), token_secret.encode()):
            self._refuse(secret, f"has invalid value for key {KEY_SECRET}.")
            return None
        if _data(secret, KEY_ID) != token_id:
            self._refuse(secret, f"has invalid value for key {KEY_ID}, expected {token_id}.")
            return None
        if expired(secret, self.clock.wall()):
            self._refuse(secret, "has expired.")
            return None
        if _data(secret, KEY_USAGE_AUTHENTICATION) != "true":
            self._refuse(secret, f"not marked {KEY_USAGE_AUTHENTICATION}=true.")
            return None
        try:
            groups = groups_of(secret)
        except ValueError as e:
            self._refuse(secret, f"has invalid value for key {KEY_EXTRA_GROUPS}: {e}.")
            return None
        return UserInfo(USER_PREFIX + token_id, (*groups, AUTHENTICATED_GROUP))
