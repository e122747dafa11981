"""Join tokens: how an agent on another machine joins a cluster with only the
server's URL and a token (``pinnace agent --server URL --token T``), as k3s does.

The server keeps ``<data-dir>/node-token``:
``K10<sha256 of the cluster CA certificate, hex>::node:<secret>``. The agent
fetches the CA from the server's unauthenticated ``/cacerts`` and accepts it
only if its hash is the one in the token, so the first connection needs no
pre-shared CA file and still cannot be intercepted; it then authenticates
with the secret as a bearer token (user ``system:node-agent``, group
``system:nodes``).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "NODE_CREDENTIALS_PATH",
    "JoinToken",
    "JoinTokenError",
    "fetch_cluster_ca",
    "fetch_node_credentials",
    "new_secret",
    "node_password",
]

#: where an agent holding the join token gets the node's own client certificate
NODE_CREDENTIALS_PATH = "/v1-pinnace/node-credentials"

PREFIX = "K10"


class JoinTokenError(ValueError):
    pass


@dataclass(frozen=True)
class JoinToken:
    ca_hash: str | None
    """sha256 hex of the CA certificate's PEM; None for a bare secret."""
    secret: str

    @classmethod
    def parse(cls, text: str) -> JoinToken:
        text = text.strip()
        if not text:
            raise JoinTokenError("empty token")
        if text.startswith(PREFIX) and "::" in text:
            ca_hash, _, rest = text[len(PREFIX) :].partition("::")
            _, sep, secret = rest.partition(":")
            if not sep or not secret or len(ca_hash) != 64:
                raise JoinTokenError("malformed token: expected K10<ca-sha256>::node:<secret>")
            return cls(ca_hash.lower(), secret)
        return cls(None, text)

    @classmethod
    def for_ca(cls, ca_pem: bytes, secret: str) -> JoinToken:
        return cls(hashlib.sha256(ca_pem).hexdigest(), secret)

    def __str__(self) -> str:
        if self.ca_hash is None:
            return self.secret
        return f"{PREFIX}{self.ca_hash}::node:{self.secret}"


def new_secret() -> str:
    return secrets.token_hex(24)


async def fetch_cluster_ca(server: str, token: JoinToken) -> bytes:
    """The cluster CA from ``server``'s ``/cacerts``, checked against the token's hash."""
    import aiohttp

    if token.ca_hash is None:
        raise JoinTokenError(
            "the token carries no CA hash (K10<hash>::node:<secret>); give the CA with a kubeconfig"
        )
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the answer is verified by its hash below
    async with aiohttp.ClientSession() as session:
        async with session.get(server.rstrip("/") + "/cacerts", ssl=ctx) as resp:
            if resp.status != 200:
                raise JoinTokenError(f"{server}/cacerts answered {resp.status}")
            pem = await resp.read()
    got = hashlib.sha256(pem).hexdigest()
    if got != token.ca_hash:
        raise JoinTokenError(
            f"the CA served by {server} (sha256 {got[:16]}...) is not the one in the token"
        )
    return pem


async def fetch_node_credentials(
    server: str, token: JoinToken, ca_pem: bytes, node_name: str, node_password: str
) -> tuple[bytes, bytes]:
    """The node's own client certificate and key (``system:node:<name>``, group
    ``system:nodes``), issued by the server to a holder of the join token, so
    that the agent then acts as that node (the Node authorizer and
    NodeRestriction apply to it) rather than as the shared join identity.
    ``node_password`` is this machine's own secret: the first agent to claim a
    node name fixes it, and the server refuses the name to any other password.
    The TLS connection is verified against the CA the token vouched for."""
    import aiohttp

    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    ctx.check_hostname = False  # the server may be reached by an address not in its certificate
    headers = {"Authorization": f"Bearer {token.secret}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            server.rstrip("/") + NODE_CREDENTIALS_PATH,
            json={"nodeName": node_name, "nodePassword": node_password},
            headers=headers,
            ssl=ctx,
        ) as resp:
            body = await resp.json(content_type=None)
            if resp.status != 200:
                message = body.get("message") if isinstance(body, dict) else body
                raise JoinTokenError(
                    f"{server} refused node credentials for {node_name!r} ({resp.status}): "
                    f"{message}"
                )
    return str(body["certificate"]).encode(), str(body["key"]).encode()


def node_password(path: Path) -> str:
    """This machine's node password, made (0600) on first use."""
    try:
        text = path.read_text().strip()
        if text:
            return text
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_hex(32)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(password + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return password
