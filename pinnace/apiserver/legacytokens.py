"""The token controller's job for legacy service account token Secrets: a
Secret of type ``kubernetes.io/service-account-token`` annotated
``kubernetes.io/service-account.name`` gets ``data.token`` (a non-expiring
JWT bound to the Secret), ``ca.crt``, ``namespace`` and the account's uid
annotation, as kube-controller-manager's tokens controller fills it.

It runs in the API server, not the controller manager, because it signs with
the service account key, which only the API server holds here. It follows
the Secrets watch cache (every current Secret first, then changes); a
Secret whose account does not exist yet is filled when the Secret next
changes or at the next pass over all of them (every 5 minutes).

Concurrency model: one task on the server's loop; writes go through the
Secrets store with the server's own identity (``guaranteed_update``, so a
concurrent change is retried, never overwritten)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pinnace.apiserver import errors
from pinnace.apiserver.authn.serviceaccount import (
    SA_NAME_ANNOTATION,
    SECRET_TYPE_SA_TOKEN,
    TokenIssuer,
    populate_legacy_secret,
)

if TYPE_CHECKING:
    from pinnace.apiserver.registry import RequestContext, ResourceStore

log = logging.getLogger("pinnace.apiserver.tokens")
Obj = dict[str, Any]
RESYNC_SECONDS = 300.0


class LegacyTokenFiller:
    def __init__(
        self,
        secrets: ResourceStore,
        service_accounts: ResourceStore,
        issuer: TokenIssuer,
        ca_pem: bytes,
        ctx: Callable[[], RequestContext],
    ) -> None:
        self.secrets = secrets
        self.service_accounts = service_accounts
        self.issuer = issuer
        self.ca_pem = ca_pem
        self.ctx = ctx

    def _filled(self, secret: Obj) -> Obj | None:
        meta = secret.get("metadata") or {}
        sa_name = (meta.get("annotations") or {}).get(SA_NAME_ANNOTATION)
        if secret.get("type") != SECRET_TYPE_SA_TOKEN or not sa_name:
            return None
        sa = self.service_accounts.cache.get(
            self.service_accounts.key(str(meta.get("namespace", "")), str(sa_name))
        )
        if sa is None or meta.get("deletionTimestamp"):
            return None
        return populate_legacy_secret(self.issuer, sa, secret, self.ca_pem)

    async def sync(self, secret: Obj) -> None:
        if self._filled(secret) is None:
            return
        meta = secret["metadata"]

        async def fill(current: Obj) -> Obj:
            return self._filled(current) or current

        try:
            await self.secrets.guaranteed_update(
                str(meta.get("namespace", "")), str(meta["name"]), fill, self.ctx()
            )
            log.info(
                "filled service account token Secret %s/%s", meta.get("namespace"), meta["name"]
            )
        except errors.ApiError as e:
            if e.code != 404:  # deleted meanwhile: nothing to fill
                log.warning(
                    "cannot fill token Secret %s/%s: %s", meta.get("namespace"), meta["name"], e
                )

    async def run(self) -> None:
        while True:
            watcher, initial = self.secrets.cache.subscribe(None)
            try:
                for ev in initial:
                    await self.sync(ev.entry.obj())
                async with asyncio.timeout(RESYNC_SECONDS):
                    async for ev in watcher:
                        if ev.type != "DELETED":
                            await self.sync(ev.entry.obj())
            except TimeoutError:
                pass  # a full pass again (accounts created after their Secrets)
            finally:
                watcher.close()
