"""``POST /v1-pinnace/node-credentials``: how an agent that joined with the
node token becomes its node. The caller (the join-token identity, allowed by
RBAC's ``system:pinnace:node-joiner``) names its node; the answer is a client
certificate and key for ``system:node:<name>`` in ``system:nodes``, signed by
the cluster CA, so that the agent is then judged by the Node authorizer and
NodeRestriction like any kubelet. k3s hands out node certificates the same way
(there is no CertificateSigningRequest API here yet).

A node name belongs to the first agent that claims it, as with k3s's node
passwords: the agent sends a random password it keeps in its data dir, the
server keeps a salted hash in the Secret ``kube-system/<node>.node-password.pinnace``
and refuses a later claim with another password (another machine holding the
token cannot take over an existing node). Delete that Secret to let a
reinstalled machine take the name again.

Blocking work (a key pair, one signature, reading the CA) is small and done
inline."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from pinnace.api.validation_common import is_dns1123_subdomain
from pinnace.apiserver import errors, negotiation
from pinnace.apiserver.certs import issue_client_cert

if TYPE_CHECKING:
    from pinnace.apiserver.certs import Pki
    from pinnace.apiserver.registry import RequestContext, ResourceStore

PATH = "/v1-pinnace/node-credentials"
PASSWORD_NAMESPACE = "kube-system"
PASSWORD_SECRET_TYPE = "pinnace.io/node-password"


def _hash(password: str, salt: bytes) -> str:
    # the password is 32 random bytes the agent made, not a human's: a salted
    # SHA-256 is enough (no slow KDF needed against guessing)
    return salt.hex() + ":" + hashlib.sha256(salt + password.encode()).hexdigest()


def _matches(stored: str, password: str) -> bool:
    salt_hex, _, _ = stored.partition(":")
    try:
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    return hmac.compare_digest(_hash(password, salt), stored)


class NodePasswords:
    """The first claim of a node name fixes its password; later claims must match."""

    def __init__(self, secrets_store: ResourceStore, ctx: Callable[[], RequestContext]) -> None:
        self.store = secrets_store
        self.ctx = ctx  # the API server's own request context

    def _stored(self, node: str) -> str | None:
        obj = self.store.cache.get(self.store.key(PASSWORD_NAMESPACE, secret_name(node)))
        if obj is None:
            return None
        raw = (obj.get("data") or {}).get("hash", "")
        try:
            return base64.b64decode(raw).decode()
        except ValueError:
            return ""

    async def claim(self, node: str, password: str) -> bool:
        stored = self._stored(node)
        if stored is not None:
            return _matches(stored, password)
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": PASSWORD_SECRET_TYPE,
            "metadata": {"name": secret_name(node), "namespace": PASSWORD_NAMESPACE},
            "data": {
                "hash": base64.b64encode(_hash(password, secrets.token_bytes(16)).encode()).decode()
            },
        }
        try:
            await self.store.create(PASSWORD_NAMESPACE, body, self.ctx())
        except errors.ApiError as e:
            if e.code != 409:
                raise
            stored = self._stored(node)  # someone claimed it at the same moment
            return stored is not None and _matches(stored, password)
        return True


def secret_name(node: str) -> str:
    return f"{node}.node-password.pinnace"


async def handle(
    request: web.Request, pki: Pki | None, validity: dt.timedelta, passwords: NodePasswords
) -> web.Response:
    if request.method != "POST":
        raise errors.method_not_allowed()
    if pki is None:
        raise errors.internal("the server has no certificate authority to sign with")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as e:
        raise errors.bad_request(f"the request body is not JSON: {e}") from None
    name = body.get("nodeName") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name:
        raise errors.bad_request("nodeName is required")
    problems = is_dns1123_subdomain(name)
    if problems:
        raise errors.bad_request(f'invalid nodeName "{name}": {"; ".join(problems)}')
    password = body.get("nodePassword")
    if not isinstance(password, str) or not 16 <= len(password) <= 256:
        raise errors.bad_request("nodePassword is required (16 to 256 characters)")
    if not await passwords.claim(name, password):
        raise errors.ApiError(
            403,
            "Forbidden",
            f'node "{name}" is already claimed with another node password (delete the Secret '
            f"{PASSWORD_NAMESPACE}/{secret_name(name)} to let this machine take the name)",
        )
    cert, key = issue_client_cert(pki, f"system:node:{name}", ["system:nodes"], validity=validity)
    return negotiation.json_response({"certificate": cert.decode(), "key": key.decode()})
