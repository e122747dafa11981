"""The REST storage of core/v1 Services: the generic :class:`ResourceStore`
plus cluster IP and node port allocation (upstream's Service
``REST``/``beginCreate``/``beginUpdate``/``afterDelete``).

Where allocation happens: after the strategy's defaulting and validation and
after admission (the store's ``_admit`` step, which every create and every
attempt of a read-modify-write update passes through), right before the
object is written. So a request that is invalid or refused takes nothing,
and the object that is stored (and its managedFields) already carries its
cluster IP and node ports.

Each create / update call runs in its own :class:`Transaction`, reached
through a context variable because the generic store owns the call sequence:

* a storage conflict makes the update loop try again; the values the failed
  attempt created are given back before the next attempt allocates afresh;
* a request that fails with an API error (invalid, refused, already exists)
  after allocating gives back what it created;
* once the write is stored, values the old object held and the new one does
  not are released (type changes, removed ports);
* when the object is really gone (a plain delete, or the last finalizer
  removed by an update) everything it held is released, guarded by its uid.

A request cancelled while its write is in flight may or may not have been
stored (as with etcd), so nothing is given back then: the repair loop
releases what turns out to be leaked, and re-creates what turns out to be
missing.

Concurrency model: coroutines on the API server's loop; the transaction
context variable is per task, so concurrent requests never share one.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from pinnace.apiserver import errors
from pinnace.apiserver.admission import Operation
from pinnace.apiserver.registry import (
    DeleteOptions,
    Mutation,
    Obj,
    RequestContext,
    ResourceStore,
)
from pinnace.apiserver.services.allocation import ServiceAllocators, Transaction

__all__ = ["ServiceStore"]

_TXN: contextvars.ContextVar[Transaction | None] = contextvars.ContextVar(
    "pinnace_service_txn", default=None
)


class ServiceStore(ResourceStore):
    """Services with their cluster IPs and node ports allocated."""

    allocators: ServiceAllocators

    def attach(self, allocators: ServiceAllocators) -> ServiceStore:
        self.allocators = allocators
        return self

    @classmethod
    def wrap(cls, store: ResourceStore, allocators: ServiceAllocators) -> ServiceStore:
        """The Service store built from the generic one the server made."""
        return cls(
            store.resource, store.backend, store.cache, store.strategy, store.admission, store.hooks
        ).attach(allocators)

    async def _admit(
        self,
        op: Operation,
        namespace: str,
        name: str,
        obj: Obj | None,
        old: Obj | None,
        ctx: RequestContext,
        subresource: str = "",
        between: Callable[[bool], None] | None = None,
    ) -> None:
        await super()._admit(op, namespace, name, obj, old, ctx, subresource, between)
        txn = _TXN.get()
        if txn is None or subresource or obj is None or op not in ("CREATE", "UPDATE"):
            return
        # a retried update starts from scratch
        await txn.revert()
        await self.allocators.allocate(
            obj, old if op == "UPDATE" else None, txn, dry_run=ctx.dry_run
        )

    async def create(self, namespace: str, body: Any, ctx: RequestContext) -> Obj:
        txn = Transaction(self.allocators)
        token = _TXN.set(txn)
        try:
            obj = await super().create(namespace, body, ctx)
        except errors.ApiError:
            await txn.revert()
            raise
        finally:
            _TXN.reset(token)
        return obj

    async def guaranteed_update(
        self,
        namespace: str,
        name: str,
        mutate: Mutation,
        ctx: RequestContext,
        **kwargs: Any,
    ) -> tuple[Obj, bool]:
        txn = Transaction(self.allocators)
        token = _TXN.set(txn)
        try:
            out, created = await super().guaranteed_update(namespace, name, mutate, ctx, **kwargs)
        except errors.ApiError:
            await txn.revert()
            raise
        finally:
            _TXN.reset(token)
        if ctx.dry_run:
            return out, created
        await txn.commit()
        if not created and self._gone(out):
            # the last finalizer went away: the object was deleted by this update
            await self.allocators.release_all(out)
        return out, created

    async def delete(
        self, namespace: str, name: str, opts: DeleteOptions, ctx: RequestContext
    ) -> tuple[Obj, bool]:
        out, lingering = await super().delete(namespace, name, opts, ctx)
        if not lingering and not ctx.dry_run:
            await self.allocators.release_all(out)
        return out, lingering

    def _gone(self, obj: Obj) -> bool:
        meta = obj.get("metadata") or {}
        if not meta.get("deletionTimestamp"):
            return False
        e = self.cache.get_entry(self.key(str(meta.get("namespace", "")), str(meta["name"])))
        return e is None or e.obj().get("metadata", {}).get("uid") != meta.get("uid")
