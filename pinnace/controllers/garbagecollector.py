"""The garbage collector: deletes dependents whose owners are gone, and carries out
foreground and orphaning deletions. Upstream's ``pkg/controller/garbagecollector``.

Sources: one metadata-only list+watch (:class:`~pinnace.controllers.discovery.MetadataClient`)
per resource of the catalog that supports list, watch and delete (events
excepted, as upstream ignores them), feeding the
:class:`~pinnace.controllers.gcgraph.DependencyGraph`. The graph queues uids on
two work queues:

* **attempt to delete** (:meth:`GarbageCollector.reconcile`), for an object:

  - *virtual* (only known from ownerReferences) or any object: a live GET;
    not found, or found with another uid, means the owner is gone — the graph
    drops it and queues its dependents;
  - being deleted in the foreground (``foregroundDeletion`` finalizer and a
    ``deletionTimestamp``): while dependents with ``blockOwnerDeletion: true``
    remain, queue them; when none remain, remove the finalizer (the API server
    then deletes the owner);
  - otherwise classify its ownerReferences by asking the API about each owner:
    *dangling* (not found, other uid, or a namespaced owner in another
    namespace), *waiting* (the owner is deleting in the foreground) or *solid*.
    With a solid owner, dangling and waiting references are removed by a patch
    and the object stays. Without one, the object is deleted — in the
    foreground if an owner waits and it has dependents itself, else with the
    policy its own finalizers ask for (Background by default). Deletes carry
    uid and resourceVersion preconditions so a changed object is looked at
    again rather than deleted by mistake.

* **attempt to orphan** (:meth:`GarbageCollector.orphan`), for an owner being
  deleted with the ``orphan`` finalizer: remove the references to it from every
  dependent, then remove the finalizer.

Owner references to kinds the catalog does not know are *unresolvable*: logged
once, never a reason to delete. A cluster-scoped object with a namespaced
owner, or a namespaced owner in another namespace, gets a Warning event
``OwnerRefInvalidNamespace`` as upstream.

Concurrency model: everything on one event loop. The informer tasks update the
graph synchronously and only enqueue uids; ``WORKERS`` tasks serve each queue
(a uid is never handled by two workers at once). Workers read the graph
between their API calls; what they decide from the graph is re-checked against
the live objects (GETs, preconditions, resourceVersion-guarded patches), so a
graph that lags behind the API only delays work. Workers start once every
source has listed (upstream waits for its monitors to sync, too).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, ClassVar

from pinnace.api.schema import Resource
from pinnace.client import (
    WARNING,
    Conflict,
    NotFound,
    Obj,
    PropagationPolicy,
    Reflector,
    WatchEvent,
)
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue
from pinnace.controllers.discovery import MetadataClient, preferred_resources, resolve
from pinnace.controllers.gcgraph import (
    FOREGROUND_FINALIZER,
    ORPHAN_FINALIZER,
    DependencyGraph,
    Identity,
    Node,
    OwnerRef,
)

__all__ = ["GarbageCollector", "gc_resources"]

#: upstream's ignoredResources: never watched, never collected
IGNORED = {("", "events"), ("events.k8s.io", "events")}
_CONFLICT_RETRIES = 5


def gc_resources() -> list[Resource]:
    """The resources the collector watches (list, watch and delete; events excepted)."""
    return [
        r
        for r in preferred_resources(verbs=("list", "watch", "delete"))
        if (r.group, r.plural) not in IGNORED
    ]


class _VirtualDelete(Exception):
    """The object is verified absent; the graph has been told."""


class _Unresolvable(Exception):
    """An ownerReference (or a virtual node) names a kind the catalog does not know."""


class _NamespacedOwnerOfClusterScoped(Exception):
    """A cluster-scoped object names a namespaced owner: never valid, never retried."""


class _Monitor:
    """Feeds one resource's metadata list+watch into the graph (a ``ReflectorHandler``)."""

    def __init__(self, graph: DependencyGraph, resource: Resource) -> None:
        self.graph = graph
        self.resource = resource
        self.uids: set[str] = set()
        self.synced = asyncio.Event()

    def _identity(self, m: dict[str, Any]) -> Identity:
        return Identity(
            self.resource.api_version,
            self.resource.kind,
            str(m.get("name") or ""),
            str(m.get("uid") or ""),
            str(m.get("namespace") or "") if self.resource.namespaced else "",
        )

    async def replace(self, items: list[Obj], resource_version: str) -> None:
        seen: set[str] = set()
        for item in items:
            m = item.get("metadata") or {}
            ident = self._identity(m)
            if ident.uid:
                seen.add(ident.uid)
                self.graph.observe(ident, m)
        for uid in self.uids - seen:
            self.graph.observe_deleted(uid)
        self.uids = seen
        self.synced.set()

    async def event(self, event: WatchEvent) -> None:
        m = event.object.get("metadata") or {}
        ident = self._identity(m)
        if not ident.uid:
            return
        if event.type == "DELETED":
            self.uids.discard(ident.uid)
            self.graph.observe_deleted(ident.uid, ident)
        else:
            self.uids.add(ident.uid)
            self.graph.observe(ident, m)


class GarbageCollector(Controller):
    NAME = "garbagecollector"
    EVENT_COMPONENT = "garbage-collector-controller"
    WORKERS = 20  # upstream --concurrent-gc-syncs
    WATCH_TIMEOUT: ClassVar[float] = 300.0

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.orphan_queue = self.add_work_loop(
            f"{self.NAME}-orphan", self.orphan, ctx.workers.get(self.NAME, self.WORKERS)
        )
        self.metadata = MetadataClient(ctx.client)
        self.graph = DependencyGraph(
            attempt_to_delete=self.queue.add,
            attempt_to_delete_later=self.queue.add_rate_limited,
            attempt_to_orphan=self.orphan_queue.add,
            report_invalid_namespace=self._report_invalid_namespace,
        )
        self.monitors = [_Monitor(self.graph, r) for r in gc_resources()]
        self._unresolvable_reported: set[tuple[str, str]] = set()

    # --- sources -------------------------------------------------------------------------

    def background(self) -> list[Coroutine[Any, Any, None]]:
        return [
            Reflector(
                self.metadata,
                m.resource,
                m,
                clock=self.clock,
                watch_timeout=self.WATCH_TIMEOUT,
                name=f"garbagecollector {m.resource.plural}.{m.resource.group}",
            ).run()
            for m in self.monitors
        ]

    async def wait_for_sync(self) -> None:
        await super().wait_for_sync()
        await asyncio.gather(*(m.synced.wait() for m in self.monitors))
        self.log.info(
            "garbagecollector: %d resources monitored, %d objects in the graph",
            len(self.monitors),
            len(self.graph),
        )

    # --- attempt to delete ---------------------------------------------------------------

    async def reconcile(self, key: str) -> Requeue | None:
        node = self.graph.get(key)
        if node is None:
            return None
        try:
            await self._attempt_to_delete(node)
        except _VirtualDelete:
            return None  # the graph queued what follows
        except _NamespacedOwnerOfClusterScoped:
            return None  # will not resolve on retry
        except _Unresolvable as e:
            self._log_unresolvable(node, str(e))
            return None
        if node.virtual and self.graph.get(key) is node:
            # it exists, but no informer has reported it yet: look again later
            return Requeue()
        return None

    async def _attempt_to_delete(self, item: Node) -> None:
        if item.being_deleted and not item.deleting_dependents:
            return  # one-way trip: its dependents are handled when it is gone
        identity = item.identity
        latest = await self._get(identity)
        if latest is None or _meta(latest).get("uid") != identity.uid:
            self.graph.virtual_delete(identity)
            raise _VirtualDelete
        if item.deleting_dependents:
            await self._process_deleting_dependents(item)
            return
        refs = _meta(latest).get("ownerReferences") or []
        if not refs:
            return
        solid, dangling, waiting = await self._classify(item, refs)
        if solid:
            if not dangling and not waiting:
                return
            uids = {r.uid for r in dangling} | {r.uid for r in waiting}
            self.log.log(
                DETAIL,
                "garbagecollector: removing references to owners %s from %s (it has live owners)",
                sorted(uids),
                identity,
            )
            await self._remove_owner_refs(identity, uids)
        elif waiting and item.dependents:
            if any(d.deleting_dependents for d in list(item.dependents)):
                # break a possible cycle of foreground deletions
                await self._unblock_owner_refs(identity)
            self.log.log(
                DETAIL, "garbagecollector: deleting %s in the foreground (an owner waits)", identity
            )
            await self._delete(identity, latest, "Foreground")
        else:
            finalizers = _meta(latest).get("finalizers") or []
            policy: PropagationPolicy = "Background"
            if ORPHAN_FINALIZER in finalizers:
                policy = "Orphan"
            elif FOREGROUND_FINALIZER in finalizers:
                policy = "Foreground"
            self.log.log(
                DETAIL, "garbagecollector: deleting %s (propagationPolicy=%s)", identity, policy
            )
            await self._delete(identity, latest, policy)

    async def _process_deleting_dependents(self, item: Node) -> None:
        blocking = item.blocking_dependents()
        if not blocking:
            self.log.log(
                DETAIL,
                "garbagecollector: removing %s finalizer from %s",
                FOREGROUND_FINALIZER,
                item.identity,
            )
            await self._remove_finalizer(item.identity, FOREGROUND_FINALIZER)
            return
        for dep in blocking:
            if not dep.deleting_dependents:
                self.queue.add(dep.uid)

    async def _classify(
        self, item: Node, refs: Sequence[dict[str, Any]]
    ) -> tuple[list[OwnerRef], list[OwnerRef], list[OwnerRef]]:
        solid: list[OwnerRef] = []
        dangling: list[OwnerRef] = []
        waiting: list[OwnerRef] = []
        for raw in refs:
            ref = OwnerRef.parse(raw)
            owner = await self._live_owner(ref, item)
            if owner is None:
                dangling.append(ref)
                continue
            m = _meta(owner)
            if m.get("deletionTimestamp") and FOREGROUND_FINALIZER in (m.get("finalizers") or []):
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    async def _live_owner(self, ref: OwnerRef, item: Node) -> Obj | None:
        """The owner ``ref`` names, or None when it is verifiably absent (dangling)."""
        cluster_key = ref.coordinates()
        ns_key = ref.coordinates(item.identity.namespace)
        if self.graph.is_absent(cluster_key) or self.graph.is_absent(ns_key):
            return None
        resource = resolve(ref.api_version, ref.kind)
        if resource is None:
            raise _Unresolvable(f"ownerReference to unknown kind {ref.kind} in {ref.api_version}")
        key = ns_key if resource.namespaced else cluster_key
        if resource.namespaced and not item.identity.namespace:
            self.log.log(
                DETAIL,
                "garbagecollector: %s is cluster-scoped but has a namespaced owner",
                item.identity,
            )
            self._event(
                item.identity,
                "OwnerRefInvalidNamespace",
                f"ownerRef {ns_key} does not resolve to a parent with UID {ref.uid}: "
                "a cluster-scoped object cannot have a namespaced owner",
            )
            raise _NamespacedOwnerOfClusterScoped
        try:
            owner = await self.client.get(
                resource, ref.name, namespace=item.identity.namespace or None
            )
        except NotFound:
            self.graph.mark_absent(key)
            return None
        if _meta(owner).get("uid") != ref.uid:
            self.graph.mark_absent(key)
            return None
        return owner

    # --- attempt to orphan ---------------------------------------------------------------

    async def orphan(self, key: str) -> Requeue | None:
        owner = self.graph.get(key)
        if owner is None:
            return None
        dependents = list(owner.dependents)
        if dependents:
            self.log.log(
                DETAIL,
                "garbagecollector: orphaning %d dependents of %s",
                len(dependents),
                owner.identity,
            )
        results = await asyncio.gather(
            *(self._remove_owner_refs(d.identity, {owner.uid}) for d in dependents),
            return_exceptions=True,
        )
        for res in results:
            if isinstance(res, BaseException):
                raise res
        await self._remove_finalizer(owner.identity, ORPHAN_FINALIZER)
        return None

    # --- writes --------------------------------------------------------------------------

    def _resource(self, identity: Identity) -> Resource:
        r = resolve(identity.api_version, identity.kind)
        if r is None:
            raise _Unresolvable(f"unknown kind {identity.kind} in {identity.api_version}")
        return r

    async def _get(self, identity: Identity) -> Obj | None:
        resource = self._resource(identity)
        if resource.namespaced and not identity.namespace:
            return None  # a namespaced kind named from a cluster-scoped object: nowhere
        try:
            return await self.client.get(
                resource, identity.name, namespace=identity.namespace or None
            )
        except NotFound:
            return None

    async def _delete(self, identity: Identity, latest: Obj, policy: PropagationPolicy) -> None:
        resource = self._resource(identity)
        ns = identity.namespace or None
        m = _meta(latest)
        try:
            await self.client.delete(
                resource,
                identity.name,
                namespace=ns,
                propagation_policy=policy,
                preconditions={
                    "uid": identity.uid,
                    "resourceVersion": str(m.get("resourceVersion")),
                },
            )
        except NotFound:
            return
        except Conflict:
            # changed since we looked: delete anyway only if its owners did not change
            live = await self._get(identity)
            if live is None or _meta(live).get("uid") != identity.uid:
                return
            if _meta(live).get("ownerReferences") != m.get("ownerReferences"):
                raise
            try:
                await self.client.delete(
                    resource,
                    identity.name,
                    namespace=ns,
                    propagation_policy=policy,
                    preconditions={"uid": identity.uid},
                )
            except NotFound:
                return

    async def _update_metadata(self, identity: Identity, change: Any) -> None:
        """GET the object, let ``change(metadata)`` return a metadata merge patch (or None
        for nothing to do), and send it guarded by the resourceVersion; retry on conflict."""
        resource = self._resource(identity)
        for _ in range(_CONFLICT_RETRIES):
            live = await self._get(identity)
            if live is None or _meta(live).get("uid") != identity.uid:
                return
            m = _meta(live)
            patch = change(m)
            if patch is None:
                return
            patch["resourceVersion"] = m.get("resourceVersion")
            try:
                await self.client.patch(
                    resource,
                    identity.name,
                    {"metadata": patch},
                    namespace=identity.namespace or None,
                )
                return
            except NotFound:
                return
            except Conflict:
                continue
        raise Conflict(
            {
                "code": 409,
                "reason": "Conflict",
                "message": f"{identity}: still conflicting after {_CONFLICT_RETRIES} attempts",
            }
        )

    async def _remove_owner_refs(self, identity: Identity, uids: set[str]) -> None:
        def change(m: dict[str, Any]) -> dict[str, Any] | None:
            refs = m.get("ownerReferences") or []
            keep = [r for r in refs if r.get("uid") not in uids]
            if len(keep) == len(refs):
                return None
            return {"ownerReferences": keep or None}

        await self._update_metadata(identity, change)

    async def _unblock_owner_refs(self, identity: Identity) -> None:
        def change(m: dict[str, Any]) -> dict[str, Any] | None:
            refs = m.get("ownerReferences") or []
            if not any(r.get("blockOwnerDeletion") for r in refs):
                return None
            return {"ownerReferences": [{**r, "blockOwnerDeletion": False} for r in refs]}

        await self._update_metadata(identity, change)

    async def _remove_finalizer(self, identity: Identity, finalizer: str) -> None:
        def change(m: dict[str, Any]) -> dict[str, Any] | None:
            fins = m.get("finalizers") or []
            if finalizer not in fins:
                return None
            return {"finalizers": [f for f in fins if f != finalizer] or None}

        await self._update_metadata(identity, change)

    # --- reporting -----------------------------------------------------------------------

    def _event(self, identity: Identity, reason: str, message: str) -> None:
        obj: Obj = {"metadata": {"name": identity.name, "uid": identity.uid}}
        if identity.namespace:
            obj["metadata"]["namespace"] = identity.namespace
        self.recorder.event(
            obj, WARNING, reason, message, kind=identity.kind, api_version=identity.api_version
        )

    def _report_invalid_namespace(self, dependent: Node, ref: OwnerRef) -> None:
        ns = dependent.identity.namespace
        self.log.log(
            DETAIL,
            "garbagecollector: %s references owner %s, which is not in namespace %s",
            dependent.identity,
            ref.uid,
            ns,
        )
        self._event(
            dependent.identity,
            "OwnerRefInvalidNamespace",
            f"ownerRef {ref.coordinates(ns)} does not resolve to a parent with UID {ref.uid} "
            f"in namespace {ns}",
        )

    def _log_unresolvable(self, node: Node, why: str) -> None:
        """Say once per object that it cannot be resolved (the catalog is fixed: retrying
        would not help)."""
        key = (node.uid, why)
        if key in self._unresolvable_reported:
            return
        if len(self._unresolvable_reported) > 10_000:
            self._unresolvable_reported.clear()
        self._unresolvable_reported.add(key)
        if node.virtual:
            dependents = sorted(str(d.identity) for d in node.dependents)
            self.log.warning(
                "garbagecollector: owner %s is unresolvable (%s); not collecting its dependents %s",
                node.identity,
                why,
                ", ".join(dependents),
            )
        else:
            self.log.warning(
                "garbagecollector: %s has an unresolvable owner reference (%s); not collecting it",
                node.identity,
                why,
            )


def _meta(obj: Obj) -> dict[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}
