"""The resource quota controller: each ResourceQuota's ``status`` counts what its
namespace really holds.

Upstream's ``pkg/controller/resourcequota``: ``status.hard`` is a copy of
``spec.hard`` and ``status.used`` is recomputed from the objects themselves with
the shared evaluators of :mod:`pinnace.api.quota` (the same ones the ResourceQuota
admission plugin charges with). Admission only ever adds usage, before an object
is stored; this controller is what gives usage back, when objects are deleted or
pods finish, and what heals a charge for an object that was never stored.

Sources: informers on quotas and on the kinds most quotas count (pods, services,
claims, configmaps, secrets, replication controllers); for ``count/<resource>``
of any other kind in the catalog the objects are listed when the quota is synced.
A quota is queued when it is created or its spec changes, and every quota of a
namespace when a counted object there is deleted or a pod stops counting
(upstream's "replenishment"); a full resync queues every quota every
:attr:`ResourceQuotaController.RESYNC_PERIOD` seconds (upstream's
``--resource-quota-sync-period``, 5 minutes).

Concurrency model: the base's work queue keyed by ``namespace/name`` of quotas,
several workers. The status is written with the cached quota's resourceVersion,
so a concurrent admission charge makes the write conflict; the key is then
retried from a fresher cache instead of overwriting the charge.
"""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from pinnace.api import quota as q
from pinnace.api.resources import catalog
from pinnace.client import Conflict, Informer, NotFound, Obj, ResourceRef
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue

__all__ = ["INFORMED", "RESOURCEQUOTAS", "ResourceQuotaController"]

RESOURCEQUOTAS = ResourceRef("", "v1", "resourcequotas", True, "ResourceQuota")
#: the kinds watched with informers, by (group, plural)
INFORMED: dict[tuple[str, str], ResourceRef] = {
    ("", "pods"): ResourceRef("", "v1", "pods", True, "Pod"),
    ("", "services"): ResourceRef("", "v1", "services", True, "Service"),
    ("", "persistentvolumeclaims"): ResourceRef(
        "", "v1", "persistentvolumeclaims", True, "PersistentVolumeClaim"
    ),
    ("", "configmaps"): ResourceRef("", "v1", "configmaps", True, "ConfigMap"),
    ("", "secrets"): ResourceRef("", "v1", "secrets", True, "Secret"),
    ("", "replicationcontrollers"): ResourceRef(
        "", "v1", "replicationcontrollers", True, "ReplicationController"
    ),
}


def _ns(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


class ResourceQuotaController(Controller):
    NAME = "resourcequota"
    EVENT_COMPONENT = "resourcequota-controller"
    WORKERS = 5  # upstream --concurrent-resource-quota-syncs
    RESYNC_PERIOD = 300.0

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.quotas = self.informer(RESOURCEQUOTAS)
        self.quotas.add_event_handler(on_add=self.enqueue, on_update=self._on_quota_update)
        self.informers: dict[tuple[str, str], Informer] = {}
        for key, ref in INFORMED.items():
            inf = self.informer(ref)
            self.informers[key] = inf
            if key == ("", "pods"):
                inf.add_event_handler(on_update=self._on_pod_update, on_delete=self._replenish)
            else:
                inf.add_event_handler(on_delete=self._replenish)
        # other kinds a quota may count, for count/<plural>.<group>
        self._resources = {
            (r.group, r.plural): ResourceRef(r.group, r.version, r.plural, r.namespaced, r.kind)
            for r in catalog().resources
            if r.namespaced and r.stored
        }

    # --- sources ---------------------------------------------------------------------------

    def _on_quota_update(self, old: Obj, new: Obj) -> None:
        if (old.get("spec") or {}) != (new.get("spec") or {}) or (
            (new.get("status") or {}).get("hard") != (new.get("spec") or {}).get("hard")
        ):
            self.enqueue(new)

    def _replenish(self, obj: Obj) -> None:
        ns = _ns(obj)
        for quota in self.quotas.by_index("namespace", ns):
            self.enqueue(quota)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        now = self.clock.wall()
        if q.pod_counts(old, now) and not q.pod_counts(new, now):
            self._replenish(new)

    def background(self) -> list[Coroutine[Any, Any, None]]:
        return [self._resync()]

    async def _resync(self) -> None:
        await self.ready.wait()
        while True:
            await self.clock.sleep(self.RESYNC_PERIOD)
            for quota in self.quotas.list():
                self.enqueue(quota)

    # --- the work --------------------------------------------------------------------------

    async def _objects(
        self, namespace: str, kinds: set[tuple[str, str]]
    ) -> dict[tuple[str, str], list[Obj]]:
        out: dict[tuple[str, str], list[Obj]] = {}
        for kind in sorted(kinds):
            inf = self.informers.get(kind)
            if inf is not None:
                out[kind] = list(inf.by_index("namespace", namespace))
                continue
            ref = self._resources.get(kind)
            if ref is None:
                continue  # not a kind this cluster serves: nothing of it to count
            result = await self.client.list_all(ref, namespace=namespace)
            out[kind] = list(result["items"])
        return out

    def usage(
        self, quota: Obj, objects: dict[tuple[str, str], list[Obj]], now: datetime
    ) -> dict[str, str]:
        """``status.used`` for ``quota``: the recount, restricted to what ``spec.hard`` names."""
        hard = (quota.get("spec") or {}).get("hard") or {}
        used = dict((quota.get("status") or {}).get("used") or {})
        used.update(q.format_list(q.calculate_usage(quota, objects, now)))
        return {k: v for k, v in used.items() if k in hard}

    async def reconcile(self, key: str) -> Requeue | None:
        quota = self.quotas.get(key)
        if quota is None:
            return None
        namespace = _ns(quota)
        hard = dict((quota.get("spec") or {}).get("hard") or {})
        objects = await self._objects(namespace, q.tracked_kinds(hard))
        used = self.usage(quota, objects, self.clock.wall())
        status = quota.get("status") or {}
        if status.get("hard") == hard and status.get("used") == used:
            return None
        updated = {**quota, "status": {**status, "hard": hard, "used": used}}
        try:
            await self.client.replace_status(RESOURCEQUOTAS, updated, namespace=namespace)
        except Conflict:
            return Requeue()  # charged or changed meanwhile: recount from a fresher cache
        except NotFound:
            return None
        self.log.log(DETAIL, "%s: synced %s: used %s", self.NAME, key, used)
        return None
