"""``pinnace secrets encrypt``: tools for Secrets encrypted at rest.

    pinnace secrets encrypt rewrite [--kubeconfig F] [--context C] [-n NS]
    pinnace secrets encrypt new-key [--bytes 32]

``rewrite`` (alias ``reencrypt``, k3s's word) stores every Secret again,
unchanged, so each is written with the API server's current first provider
and key: upstream's ``kubectl get secrets -A -o json | kubectl replace -f -``.
It relies on the server writing a no-op update when the stored value was
written by an older provider or key (as kube-apiserver does), and it talks
only to the API, so it works against any server the kubeconfig names. A
Secret changed or deleted meanwhile needs nothing more: whoever changed it
wrote it with the current key. ``new-key`` prints a random base64 key for an
EncryptionConfiguration file.

The rotation procedure (no Secret is unreadable at any step, with one or
several API servers):

1. add the new key as the *second* key (or provider) and restart every server:
   all of them can now read it;
2. move it *first* and restart: new writes use it;
3. ``pinnace secrets encrypt rewrite``: old values are written with it;
4. remove the old key and restart.

Concurrency model: one asyncio run; Secrets are rewritten one request at a
time (the client's rate limit applies), which keeps the load on the server
modest on big clusters. Exit codes: 0 done, 1 failed (one line on stderr
says why), 2 bad command line.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["RewriteResult", "add_secrets_parser", "cmd_secrets_encrypt", "rewrite_secrets"]


@dataclass(slots=True)
class RewriteResult:
    rewritten: int = 0
    # changed or deleted between the list and the rewrite (nothing to do)
    skipped: int = 0


def add_secrets_parser(sub: Any) -> None:
    """Add ``pinnace secrets encrypt rewrite|new-key`` to the top-level subcommands."""
    secrets = sub.add_parser("secrets", help="Secrets at rest (encryption key rotation)")
    secrets_sub = secrets.add_subparsers(dest="secrets_command", required=True, metavar="COMMAND")
    encrypt = secrets_sub.add_parser(
        "encrypt",
        help="encryption at rest: rewrite Secrets under the current key, make keys",
        description="Encryption of Secrets at rest (the API server's "
        "--encryption-provider-config).",
    )
    encrypt_sub = encrypt.add_subparsers(dest="encrypt_command", required=True, metavar="COMMAND")
    rewrite = encrypt_sub.add_parser(
        "rewrite",
        aliases=["reencrypt"],
        help="store every Secret again so it is encrypted with the current first provider/key",
        description="Store every Secret again, unchanged, so the API server encrypts it with "
        "its current first provider and key (after putting a new key first and restarting "
        "the servers; then the old key can be removed).",
    )
    rewrite.add_argument(
        "--kubeconfig", metavar="FILE", help="default $KUBECONFIG or ~/.kube/config"
    )
    rewrite.add_argument("--context", metavar="NAME", help="kubeconfig context (default: current)")
    rewrite.add_argument(
        "-n", "--namespace", default=None, metavar="NS", help="only this namespace (default: all)"
    )
    rewrite.set_defaults(func=cmd_secrets_encrypt)
    new_key = encrypt_sub.add_parser(
        "new-key",
        help="print a random base64 key for an EncryptionConfiguration",
        description="Print a random key, base64-encoded, for the secret field of an "
        "aesgcm, aescbc (16, 24 or 32 bytes) or secretbox (32 bytes) key.",
    )
    new_key.add_argument(
        "--bytes", type=int, choices=(16, 24, 32), default=32, help="key length (default 32)"
    )
    new_key.set_defaults(func=cmd_secrets_encrypt)


def cmd_secrets_encrypt(args: argparse.Namespace) -> int:
    """The ``pinnace secrets encrypt ...`` commands."""
    if args.encrypt_command == "new-key":
        print(base64.b64encode(os.urandom(args.bytes)).decode())
        return 0
    from pinnace.client import Client, ClientConfig, ConfigError
    from pinnace.client.errors import ApiError

    try:
        config = ClientConfig.from_kubeconfig(args.kubeconfig, context=args.context)
    except ConfigError as e:
        print(f"pinnace secrets encrypt rewrite: {e}", file=sys.stderr)
        return 1

    async def run() -> RewriteResult:
        async with Client.from_config(config) as client:
            return await rewrite_secrets(client, namespace=args.namespace)

    try:
        result = asyncio.run(run())
    except (ApiError, OSError) as e:
        print(f"pinnace secrets encrypt rewrite: {e}", file=sys.stderr)
        return 1
    print(
        f"rewrote {result.rewritten} secrets"
        + (
            f" ({result.skipped} changed or deleted meanwhile: already current)"
            if result.skipped
            else ""
        )
    )
    return 0


async def rewrite_secrets(
    client: Any,
    *,
    namespace: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> RewriteResult:
    """PUT every Secret (in ``namespace``, or all) back unchanged, guarded by
    its resourceVersion. ``client`` is a :class:`pinnace.client.Client`."""
    from pinnace.client.errors import Conflict, NotFound
    from pinnace.client.objects import SECRETS

    listed = await client.list_all(SECRETS, namespace=namespace)
    result = RewriteResult()
    for item in listed["items"]:
        meta = item.get("metadata") or {}
        try:
            await client.replace(
                SECRETS,
                item,
                namespace=meta.get("namespace"),
                field_manager="pinnace-secrets-encrypt",
            )
        except (Conflict, NotFound):
            result.skipped += 1
            continue
        result.rewritten += 1
        if progress is not None:
            progress(f"{meta.get('namespace')}/{meta.get('name')}")
    return result
