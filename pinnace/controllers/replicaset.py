"""The ReplicaSet and ReplicationController controllers: keep ``spec.replicas`` pods
running from the template. Upstream's ``pkg/controller/replicaset`` (the
ReplicationController controller upstream is the same code behind an adapter;
here it is the same class with another :class:`WorkloadKind`).

One sync of a ReplicaSet (``reconcile``):

1. read it from the cache (gone: forget its expectations);
2. claim pods (:class:`~pinnace.controllers.controller_utils.RefManager`): its
   active pods that still match the selector, plus matching orphans it adopts
   with a controller ownerReference; owned pods that stopped matching are
   released (their reference to it removed);
3. only when the expectations of the previous sync have been observed in the
   pod cache (or expired after 5 min) and it is not being deleted: create the
   missing pods in slow-start batches (1, 2, 4, …, at most 500 per sync) from
   the template with ``generateName: <name>-``, or delete the surplus, chosen
   by upstream's ranking (unassigned, pending, not ready, low deletion cost,
   doubled up on a node, recently ready, restarting, young first);
4. write ``status`` (replicas, fullyLabeledReplicas, readyReplicas,
   availableReplicas after ``minReadySeconds``, observedGeneration and the
   ``ReplicaFailure`` condition, reasons FailedCreate/FailedDelete) when it
   changed; with ``minReadySeconds`` and ready-but-not-yet-available pods, look
   again once they become available.

Events as upstream: ``SuccessfulCreate`` ("Created pod: web-abcde"),
``SuccessfulDelete`` ("Deleted pod: web-abcde"), ``FailedCreate``
("Error creating: ...") and ``FailedDelete``.

Concurrency model: the base's work queue keyed by ``namespace/name`` with
``WORKERS`` workers (never two for one key). Informer handlers (pods and the
owners) only update :class:`~pinnace.controllers.controller_utils.Expectations`
and enqueue keys; decisions are taken in ``reconcile`` from the caches. Pods
are found through the shared ``controller`` index (``namespace/owner-uid``, and
``namespace/`` for orphans), never by scanning a namespace.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from pinnace.api.selectors import LabelSelector, SelectorError, label_selector_from_dict
from pinnace.client import (
    NORMAL,
    PODS,
    WARNING,
    ApiError,
    Conflict,
    NotFound,
    Obj,
    ResourceRef,
    key_of,
)
from pinnace.client.events import format_time
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue
from pinnace.controllers.controller_utils import (
    BURST_REPLICAS,
    CONTROLLER_INDEX,
    SLOW_START_INITIAL_BATCH_SIZE,
    Expectations,
    RefManager,
    controller_index,
    controller_ref_of,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    new_controller_ref,
    pod_key,
    pods_to_delete,
    slow_start_batch,
)

__all__ = [
    "REPLICASETS",
    "REPLICATIONCONTROLLERS",
    "ReplicaSetController",
    "ReplicationControllerController",
    "WorkloadKind",
    "pod_from_template",
]

REPLICASETS = ResourceRef("apps", "v1", "replicasets", True, "ReplicaSet")
REPLICATIONCONTROLLERS = ResourceRef(
    "", "v1", "replicationcontrollers", True, "ReplicationController"
)
#: upstream ``statusUpdateRetries``
STATUS_UPDATE_RETRIES = 1


def _rs_selector(obj: Obj) -> LabelSelector:
    return label_selector_from_dict((obj.get("spec") or {}).get("selector"))


def _rc_selector(obj: Obj) -> LabelSelector:
    sel = (obj.get("spec") or {}).get("selector") or {}
    return label_selector_from_dict({"matchLabels": sel})


@dataclass(frozen=True)
class WorkloadKind:
    """What differs between ReplicaSets and ReplicationControllers."""

    resource: ResourceRef
    selector: Callable[[Obj], LabelSelector]

    @property
    def kind(self) -> str:
        return self.resource.kind

    @property
    def api_version(self) -> str:
        return self.resource.api_version


REPLICASET_KIND = WorkloadKind(REPLICASETS, _rs_selector)
REPLICATIONCONTROLLER_KIND = WorkloadKind(REPLICATIONCONTROLLERS, _rc_selector)


def pod_from_template(owner: Obj, kind: WorkloadKind) -> Obj:
    """upstream ``GetPodFromTemplate``: labels, annotations and finalizers of the
    template, ``generateName: <owner>-``, a controller reference, the pod spec."""
    template = (owner.get("spec") or {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    om = owner.get("metadata") or {}
    meta: dict[str, Any] = {
        "generateName": f"{om.get('name', '')}-",
        "namespace": om.get("namespace", ""),
        "ownerReferences": [new_controller_ref(owner, kind.api_version, kind.kind)],
    }
    for f in ("labels", "annotations"):
        if tmeta.get(f):
            meta[f] = dict(tmeta[f])
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def _int(v: Any) -> int:
    return v if isinstance(v, int) else 0


class ReplicaSetController(Controller):
    NAME = "replicaset"
    EVENT_COMPONENT = "replicaset-controller"
    WORKERS = 5  # upstream --concurrent-replicaset-syncs
    KIND: ClassVar[WorkloadKind] = REPLICASET_KIND

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.expectations = Expectations(self.clock)
        self.owners = self.informer(self.KIND.resource)
        self.owners.add_indexers({CONTROLLER_INDEX: controller_index})
        self.owners.add_event_handler(
            on_add=self.enqueue, on_update=self._update_owner, on_delete=self._delete_owner
        )
        self.pods = self.informer(PODS)
        self.pods.add_indexers({CONTROLLER_INDEX: controller_index})
        self.pods.add_event_handler(
            on_add=self._add_pod, on_update=self._update_pod, on_delete=self._delete_pod
        )
        self._selectors: dict[str, LabelSelector] = {}

    # --- helpers -------------------------------------------------------------------------

    def selector(self, owner: Obj) -> LabelSelector:
        """The owner's parsed selector (memoized by its JSON; raises SelectorError)."""
        raw = json.dumps((owner.get("spec") or {}).get("selector"), sort_keys=True)
        sel = self._selectors.get(raw)
        if sel is None:
            if len(self._selectors) > 10_000:
                self._selectors.clear()
            sel = self._selectors[raw] = self.KIND.selector(owner)
        return sel

    def _resolve(self, namespace: str, ref: dict[str, Any]) -> Obj | None:
        """The owner a controller reference points at, if it is ours and in the cache."""
        if ref.get("kind") != self.KIND.kind:
            return None
        owner = self.owners.get(f"{namespace}/{ref.get('name')}")
        if owner is None or (owner.get("metadata") or {}).get("uid") != ref.get("uid"):
            return None
        return owner

    def _owners_matching(self, pod: Obj) -> list[Obj]:
        """Owners in the pod's namespace whose selector matches its labels."""
        m = pod.get("metadata") or {}
        labels = m.get("labels") or {}
        out = []
        for owner in self.owners.by_index("namespace", str(m.get("namespace") or "")):
            try:
                if self.selector(owner).matches(labels):
                    out.append(owner)
            except SelectorError:
                continue
        return out

    # --- event handlers (only bookkeeping and keys) ----------------------------------------

    def _update_owner(self, old: Obj, new: Obj) -> None:
        self.enqueue(new)

    def _delete_owner(self, owner: Obj) -> None:
        key = key_of(owner)
        self.expectations.delete(key)
        self.queue.add(key)

    def _add_pod(self, pod: Obj) -> None:
        m = pod.get("metadata") or {}
        if m.get("deletionTimestamp"):
            # a restarted manager may first see a pod already being deleted
            self._delete_pod(pod)
            return
        ref = controller_ref_of(pod)
        if ref is not None:
            owner = self._resolve(str(m.get("namespace") or ""), ref)
            if owner is not None:
                key = key_of(owner)
                self.expectations.creation_observed(key)
                self.queue.add(key)
            return
        for owner in self._owners_matching(pod):
            self.enqueue(owner)

    def _update_pod(self, old: Obj, cur: Obj) -> None:
        om, cm = old.get("metadata") or {}, cur.get("metadata") or {}
        if om.get("resourceVersion") == cm.get("resourceVersion"):
            return  # a resync: nothing changed
        label_changed = om.get("labels") != cm.get("labels")
        if cm.get("deletionTimestamp"):
            self._delete_pod(cur)
            if label_changed:
                self._delete_pod(old)
            return
        ns = str(cm.get("namespace") or "")
        cur_ref, old_ref = controller_ref_of(cur), controller_ref_of(old)
        ref_changed = cur_ref != old_ref
        if ref_changed and old_ref is not None:
            prev = self._resolve(ns, old_ref)
            if prev is not None:
                self.enqueue(prev)
        if cur_ref is not None:
            owner = self._resolve(ns, cur_ref)
            if owner is None:
                return
            self.enqueue(owner)
            mrs = _int((owner.get("spec") or {}).get("minReadySeconds"))
            if mrs > 0 and not is_pod_ready(old) and is_pod_ready(cur):
                self.queue.add_after(key_of(owner), mrs + 1.0)
            return
        if label_changed or ref_changed:
            for owner in self._owners_matching(cur):
                self.enqueue(owner)

    def _delete_pod(self, pod: Obj) -> None:
        ref = controller_ref_of(pod)
        if ref is None:
            return
        owner = self._resolve(str((pod.get("metadata") or {}).get("namespace") or ""), ref)
        if owner is None:
            return
        key = key_of(owner)
        self.expectations.deletion_observed(key, pod_key(pod))
        self.queue.add(key)

    # --- reconcile -----------------------------------------------------------------------

    async def reconcile(self, key: str) -> Requeue | None:
        try:
            return await self._sync(key)
        except Conflict as e:
            # a write computed from a stale cache: look again once the informer caught up
            self.log.log(DETAIL, "%s %s: conflict, retrying: %s", self.KIND.kind, key, e)
            return Requeue()

    async def _sync(self, key: str) -> Requeue | None:
        owner = self.owners.get(key)
        if owner is None:
            self.expectations.delete(key)
            return None
        m = owner["metadata"]
        ns = str(m.get("namespace") or "")
        try:
            selector = self.selector(owner)
        except SelectorError as e:
            self.log.error("%s %s: invalid selector: %s", self.KIND.kind, key, e)
            return None
        needs_sync = self.expectations.satisfied(key) and not m.get("deletionTimestamp")
        candidates = [
            p
            for p in (
                *self.pods.by_index(CONTROLLER_INDEX, f"{ns}/{m.get('uid')}"),
                *self.pods.by_index(CONTROLLER_INDEX, f"{ns}/"),
            )
            if is_pod_active(p)
        ]
        manager = RefManager(
            self.client,
            owner,
            self.KIND.api_version,
            self.KIND.kind,
            selector,
            lambda: self._recheck(owner),
        )
        pods = await manager.claim(PODS, candidates)
        manage_error: ApiError | None = None
        if needs_sync:
            try:
                await self._manage_replicas(key, owner, pods)
            except ApiError as e:
                manage_error = e
        updated = await self._update_status(owner, pods, manage_error)
        if manage_error is not None:
            raise manage_error
        spec, status = updated.get("spec") or {}, updated.get("status") or {}
        mrs = _int(spec.get("minReadySeconds"))
        replicas = _int(spec.get("replicas"))
        if (
            mrs > 0
            and _int(status.get("readyReplicas")) == replicas
            and _int(status.get("availableReplicas")) != replicas
        ):
            return Requeue(after=float(mrs))
        return None

    async def _recheck(self, owner: Obj) -> None:
        """Before adopting: the owner still exists, same uid, not being deleted."""
        m = owner["metadata"]
        fresh = await self.client.get(self.KIND.resource, m["name"], namespace=m["namespace"])
        fm = fresh.get("metadata") or {}
        if fm.get("uid") != m.get("uid"):
            raise ValueError(
                f"original {self.KIND.kind} {m['namespace']}/{m['name']} is gone: got uid "
                f"{fm.get('uid')}, wanted {m.get('uid')}"
            )
        if fm.get("deletionTimestamp"):
            raise ValueError(
                f"{self.KIND.kind} {m['namespace']}/{m['name']} has just been deleted at "
                f"{fm['deletionTimestamp']}"
            )

    async def _manage_replicas(self, key: str, owner: Obj, pods: list[Obj]) -> None:
        replicas = _int((owner.get("spec") or {}).get("replicas"))
        diff = len(pods) - replicas
        if diff < 0:
            diff = min(-diff, BURST_REPLICAS)
            self.expectations.expect_creations(key, diff)
            self.log.log(
                DETAIL, "%s %s: too few replicas, need %d, creating %d",
                self.KIND.kind, key, replicas, diff,
            )  # fmt: skip
            successes, err = await slow_start_batch(
                diff, SLOW_START_INITIAL_BATCH_SIZE, lambda: self._create_pod(owner)
            )
            if diff - successes > 0:
                # pods never attempted (or failed) will not show up in the informer
                self.expectations.lower(key, adds=diff - successes)
            if err is not None:
                raise err
        elif diff > 0:
            diff = min(diff, BURST_REPLICAS)
            self.log.log(
                DETAIL, "%s %s: too many replicas, need %d, deleting %d",
                self.KIND.kind, key, replicas, diff,
            )  # fmt: skip
            victims = pods_to_delete(pods, self._related_pods(owner), diff, self.clock.wall())
            self.expectations.expect_deletions(key, [pod_key(p) for p in victims])
            results = await asyncio.gather(
                *(self._delete_pod_of(key, owner, p) for p in victims), return_exceptions=True
            )
            for r in results:
                if isinstance(r, BaseException):
                    raise r

    async def _create_pod(self, owner: Obj) -> None:
        pod = pod_from_template(owner, self.KIND)
        ns = str(owner["metadata"].get("namespace") or "")
        try:
            created = await self.client.create(PODS, pod, namespace=ns)
        except ApiError as e:
            if any(c.get("type") == "NamespaceTerminating" for c in e.causes):
                return  # every creation fails while the namespace goes away: not an error
            self.recorder.event(
                owner, WARNING, "FailedCreate", f"Error creating: {e}",
                kind=self.KIND.kind, api_version=self.KIND.api_version,
            )  # fmt: skip
            raise
        self.recorder.event(
            owner, NORMAL, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}",
            kind=self.KIND.kind, api_version=self.KIND.api_version,
        )  # fmt: skip

    async def _delete_pod_of(self, key: str, owner: Obj, pod: Obj) -> None:
        m = pod["metadata"]
        try:
            await self.client.delete(
                PODS, m["name"], namespace=m["namespace"], preconditions={"uid": m["uid"]}
            )
        except ApiError as e:
            # the deletion will not be observed: do not wait for it
            self.expectations.deletion_observed(key, pod_key(pod))
            if isinstance(e, NotFound):
                return
            if isinstance(e, Conflict):
                return  # another pod of that name: ours is gone
            self.recorder.event(
                owner, WARNING, "FailedDelete", f"Error deleting: {e}",
                kind=self.KIND.kind, api_version=self.KIND.api_version,
            )  # fmt: skip
            raise
        self.recorder.event(
            owner, NORMAL, "SuccessfulDelete", f"Deleted pod: {m['name']}",
            kind=self.KIND.kind, api_version=self.KIND.api_version,
        )  # fmt: skip

    def _related_pods(self, owner: Obj) -> list[Obj]:
        """The owner's pods and, when it has a controller (a Deployment), the pods of
        every sibling it shares that controller with (upstream
        ``getIndirectlyRelatedPods``): the node spread of all of them ranks victims."""
        m = owner["metadata"]
        ns = str(m.get("namespace") or "")
        ref = controller_ref_of(owner)
        siblings = (
            self.owners.by_index(CONTROLLER_INDEX, f"{ns}/{ref.get('uid')}")
            if ref is not None
            else [owner]
        )
        related: dict[str, Obj] = {}
        for s in siblings:
            for p in self.pods.by_index(CONTROLLER_INDEX, f"{ns}/{s['metadata'].get('uid')}"):
                related[str(p["metadata"].get("uid"))] = p
        return list(related.values())

    # --- status --------------------------------------------------------------------------

    def calculate_status(self, owner: Obj, pods: list[Obj], error: ApiError | None) -> Obj:
        """The new status (upstream ``calculateStatus``), omitting zero ``omitempty`` fields."""
        spec = owner.get("spec") or {}
        old = owner.get("status") or {}
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        mrs = _int(spec.get("minReadySeconds"))
        now = self.clock.wall()
        fully = ready = available = 0
        # Cached pods of one template share their labels dict, and pods whose
        # conditions are equal share that list (the informer's
        # CacheCompactor): each distinct one is looked at once per pass.
        labelled: dict[int, bool] = {}
        readiness: dict[int, tuple[bool, bool]] = {}
        for p in pods:
            labels = (p.get("metadata") or {}).get("labels") or {}
            full = labelled.get(id(labels))
            if full is None:
                full = labelled[id(labels)] = all(
                    labels.get(k) == v for k, v in template_labels.items()
                )
            fully += full
            conditions = (p.get("status") or {}).get("conditions")
            flags = readiness.get(id(conditions))
            if flags is None:
                is_ready = is_pod_ready(p)
                flags = (is_ready, is_ready and is_pod_available(p, mrs, now))
                if conditions is not None:
                    readiness[id(conditions)] = flags
            ready += flags[0]
            available += flags[1]
        status: Obj = {"replicas": len(pods)}
        for name, value in (
            ("fullyLabeledReplicas", fully),
            ("readyReplicas", ready),
            ("availableReplicas", available),
            ("observedGeneration", _int(old.get("observedGeneration"))),
        ):
            if value:
                status[name] = value
        conditions = [c for c in old.get("conditions") or [] if isinstance(c, dict)]
        failure = next((c for c in conditions if c.get("type") == "ReplicaFailure"), None)
        if error is not None and failure is None:
            diff = len(pods) - _int(spec.get("replicas"))
            reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
            conditions.append(
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "lastTransitionTime": format_time(now),
                    "reason": reason,
                    "message": str(error),
                }
            )
        elif error is None and failure is not None:
            conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
        if conditions:
            status["conditions"] = conditions
        return status

    async def _update_status(self, owner: Obj, pods: list[Obj], error: ApiError | None) -> Obj:
        status = self.calculate_status(owner, pods, error)
        generation = _int(owner["metadata"].get("generation"))
        old = owner.get("status") or {}

        def same(a: Obj, b: Obj) -> bool:
            keys = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")
            return all(_int(a.get(k)) == _int(b.get(k)) for k in keys) and (
                a.get("conditions") or []
            ) == (b.get("conditions") or [])

        if same(old, status) and _int(old.get("observedGeneration")) == generation:
            return owner
        if generation:
            status["observedGeneration"] = generation
        current = owner
        m = owner["metadata"]
        for attempt in range(STATUS_UPDATE_RETRIES + 1):
            new = dict(current)
            new["status"] = status
            try:
                return await self.client.replace_status(self.KIND.resource, new)
            except Conflict:
                if attempt >= STATUS_UPDATE_RETRIES:
                    raise
                current = await self.client.get(
                    self.KIND.resource, m["name"], namespace=m["namespace"]
                )
                if _int(current["metadata"].get("generation")) != generation:
                    # the spec changed: this status is stale; the next sync writes a fresh one
                    return current
        return current


class ReplicationControllerController(ReplicaSetController):
    """The same logic for core/v1 ReplicationControllers (selector is a label map)."""

    NAME = "replicationcontroller"
    EVENT_COMPONENT = "replication-controller"
    KIND = REPLICATIONCONTROLLER_KIND
