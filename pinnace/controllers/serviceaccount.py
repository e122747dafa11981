"""The service account controller: a ``default`` ServiceAccount in every namespace.

Upstream's ``pkg/controller/serviceaccount`` (``ServiceAccountsController``):
for every active namespace, make sure the ServiceAccounts named in
:data:`DEFAULT_SERVICE_ACCOUNTS` exist, creating the missing ones; deleting
``default`` gets it re-created. Terminating namespaces are left alone (the API
server would refuse the create anyway).

Concurrency model: the base's work queue keyed by namespace name. The
namespace informer enqueues every namespace it sees; the ServiceAccount
informer enqueues the namespace of a deleted default account. Decisions read
the caches; an ``AlreadyExists`` from a create that raced the cache is success.
"""

from __future__ import annotations

from pinnace.client import AlreadyExists, Forbidden, NotFound, Obj, ResourceRef
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue

__all__ = ["DEFAULT_SERVICE_ACCOUNTS", "SERVICEACCOUNTS", "ServiceAccountController"]

NAMESPACES = ResourceRef("", "v1", "namespaces", False, "Namespace")
SERVICEACCOUNTS = ResourceRef("", "v1", "serviceaccounts", True, "ServiceAccount")
#: upstream ``--service-account-names`` default (kube-controller-manager: just ``default``)
DEFAULT_SERVICE_ACCOUNTS = ("default",)


class ServiceAccountController(Controller):
    NAME = "serviceaccount"
    EVENT_COMPONENT = "service-account-controller"
    WORKERS = 1  # upstream --concurrent-serviceaccount-syncs

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.namespaces = self.informer(NAMESPACES)
        self.namespaces.add_event_handler(
            on_add=self._on_namespace, on_update=lambda _old, new: self._on_namespace(new)
        )
        self.accounts = self.informer(SERVICEACCOUNTS)
        self.accounts.add_event_handler(on_delete=self._on_account_deleted)

    def _on_namespace(self, ns: Obj) -> None:
        self.queue.add(str(ns["metadata"]["name"]))

    def _on_account_deleted(self, sa: Obj) -> None:
        m = sa.get("metadata") or {}
        if m.get("name") in DEFAULT_SERVICE_ACCOUNTS and m.get("namespace"):
            self.queue.add(str(m["namespace"]))

    async def reconcile(self, key: str) -> Requeue | None:
        ns = self.namespaces.get(key)
        if ns is None or not _active(ns):
            return None
        for name in DEFAULT_SERVICE_ACCOUNTS:
            if self.accounts.get(f"{key}/{name}") is not None:
                continue
            body: Obj = {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": key},
            }
            try:
                await self.client.create(SERVICEACCOUNTS, body, namespace=key)
            except AlreadyExists:
                continue
            except (Forbidden, NotFound):
                return None  # the namespace is going away (or gone) meanwhile
            self.log.log(DETAIL, "serviceaccount: created %s/%s", key, name)
        return None


def _active(ns: Obj) -> bool:
    if (ns.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return (ns.get("status") or {}).get("phase") != "Terminating"
