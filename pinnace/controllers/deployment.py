"""The Deployment controller: rolls a Deployment's pod template out through
ReplicaSets. Upstream's ``pkg/controller/deployment`` (``deployment_controller.go``,
``sync.go``, ``rolling.go``, ``recreate.go``, ``progress.go``), reason for reason.

One sync (``reconcile``) of a Deployment, from a copy of the cached object:

1. claim ReplicaSets: its own that still match the selector, plus matching
   orphans it adopts (controller ownerReference); owned ones that stopped
   matching are released;
2. being deleted → only status; paused → the ``Progressing`` condition says
   ``DeploymentPaused`` (``DeploymentResumed`` once resumed), replica sets are
   only scaled, never rolled; a change of ``spec.replicas`` mid-rollout
   (``desired-replicas`` annotations differ) → proportional scaling of every
   active replica set (upstream ``scale``);
3. otherwise roll out with the strategy:

   * **RollingUpdate**: find or create the new ReplicaSet
     ``<name>-<pod-template-hash>`` (hash of the template and
     ``status.collisionCount``; a name clash with a foreign template bumps the
     collision count), scale it up within ``replicas + maxSurge`` pods, scale old
     ones down while ``replicas - maxUnavailable`` pods stay available (first
     the old replica sets' unhealthy pods, oldest replica set first);
   * **Recreate**: scale every old replica set to 0, wait until their pods are
     gone, then create/scale the new one to ``replicas``;

4. once complete, delete the oldest zero-sized old replica sets beyond
   ``revisionHistoryLimit``;
5. status: replicas, updatedReplicas, readyReplicas, availableReplicas,
   unavailableReplicas, observedGeneration, collisionCount and the conditions
   ``Available`` (MinimumReplicasAvailable / MinimumReplicasUnavailable) and
   ``Progressing`` (NewReplicaSetCreated, FoundNewReplicaSet,
   ReplicaSetUpdated, NewReplicaSetAvailable, ProgressDeadlineExceeded), plus
   the new (else any) replica set's ``ReplicaFailure``; a rollout that is not
   complete is looked at again when its progress deadline would pass.

Revisions: each ReplicaSet carries ``deployment.kubernetes.io/revision``; the
new one gets max(old revisions)+1. ``kubectl rollout undo`` (1.32, client-side)
copies an old ReplicaSet's template into the Deployment; that ReplicaSet then
*is* the new one again, moves to the next revision, and remembers its previous
numbers in ``deployment.kubernetes.io/revision-history``. The Deployment's own
revision annotation follows its new ReplicaSet.

Deviations from upstream, each to keep the rolling-update bounds exact under
lagging replica-set status (upstream can overshoot for a moment):

* the pods counted against ``maxSurge`` are, per replica set,
  max(spec.replicas, status.replicas) — pods of a replica set just scaled down
  count until they are gone;
* the available pods counted against ``maxUnavailable`` are, per replica set,
  min(status.availableReplicas, spec.replicas);
* the Deployment's revision annotation is written with a metadata patch (our API
  server's status subresource keeps metadata, upstream's keeps annotations);
* the pod-template hash is computed over canonical JSON (see
  :mod:`pinnace.controllers.deploymentutil`).

Concurrency model: the base's work queue keyed by ``namespace/name`` with
``WORKERS`` workers (never two for one Deployment). Informer handlers
(deployments, replica sets, pods) only enqueue keys. Every write carries the
resourceVersion it was computed from, so a sync working from a stale cache
fails with a conflict and is retried instead of undoing newer work. Objects
written during a sync are replaced in place in the sync's own copies, so later
steps of the same sync see them.
"""

from __future__ import annotations

import copy
from typing import Any

from pinnace.api.selectors import LabelSelector, SelectorError, label_selector_from_dict
from pinnace.client import (
    NORMAL,
    PODS,
    WARNING,
    AlreadyExists,
    ApiError,
    Conflict,
    NotFound,
    Obj,
    ResourceRef,
    key_of,
)
from pinnace.controllers import deploymentutil as du
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue
from pinnace.controllers.controller_utils import (
    CONTROLLER_INDEX,
    RefManager,
    controller_index,
    controller_ref_of,
    new_controller_ref,
    parse_time,
    selecting,
)
from pinnace.controllers.replicaset import REPLICASETS

__all__ = ["DEPLOYMENTS", "DeploymentController"]

DEPLOYMENTS = ResourceRef("apps", "v1", "deployments", True, "Deployment")
_KIND = "Deployment"
_API_VERSION = "apps/v1"


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _replace(target: Obj, fresh: Obj) -> Obj:
    """Update our working copy in place, so every list holding it sees the write."""
    target.clear()
    target.update(fresh)
    return target


class DeploymentController(Controller):
    NAME = "deployment"
    EVENT_COMPONENT = "deployment-controller"
    WORKERS = 5  # upstream --concurrent-deployment-syncs

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.deployments = self.informer(DEPLOYMENTS)
        self.enqueue_handlers(self.deployments)
        self.rss = self.informer(REPLICASETS)
        self.rss.add_indexers({CONTROLLER_INDEX: controller_index})
        self.rss.add_event_handler(
            on_add=self._add_rs, on_update=self._update_rs, on_delete=self._delete_rs
        )
        self.pods = self.informer(PODS)
        self.pods.add_indexers({CONTROLLER_INDEX: controller_index})
        self.pods.add_event_handler(on_delete=self._delete_pod)

    # --- event handlers ------------------------------------------------------------------

    def _resolve(self, namespace: str, ref: dict[str, Any]) -> Obj | None:
        if ref.get("kind") != _KIND:
            return None
        d = self.deployments.get(f"{namespace}/{ref.get('name')}")
        if d is None or d["metadata"].get("uid") != ref.get("uid"):
            return None
        return d

    def _matching(self, rs: Obj) -> list[Obj]:
        ns = str(((rs.get("metadata") or {}).get("namespace")) or "")
        return selecting(self.deployments.by_index("namespace", ns), rs)

    def _add_rs(self, rs: Obj) -> None:
        m = rs.get("metadata") or {}
        if m.get("deletionTimestamp"):
            self._delete_rs(rs)
            return
        ref = controller_ref_of(rs)
        if ref is not None:
            d = self._resolve(str(m.get("namespace") or ""), ref)
            if d is not None:
                self.enqueue(d)
            return
        for d in self._matching(rs):
            self.enqueue(d)

    def _update_rs(self, old: Obj, cur: Obj) -> None:
        om, cm = old.get("metadata") or {}, cur.get("metadata") or {}
        if om.get("resourceVersion") == cm.get("resourceVersion"):
            return
        ns = str(cm.get("namespace") or "")
        cur_ref, old_ref = controller_ref_of(cur), controller_ref_of(old)
        ref_changed = cur_ref != old_ref
        if ref_changed and old_ref is not None:
            d = self._resolve(ns, old_ref)
            if d is not None:
                self.enqueue(d)
        if cur_ref is not None:
            d = self._resolve(ns, cur_ref)
            if d is not None:
                self.enqueue(d)
            return
        if ref_changed or om.get("labels") != cm.get("labels"):
            for d in self._matching(cur):
                self.enqueue(d)

    def _delete_rs(self, rs: Obj) -> None:
        ref = controller_ref_of(rs)
        if ref is None:
            return
        d = self._resolve(str((rs.get("metadata") or {}).get("namespace") or ""), ref)
        if d is not None:
            self.enqueue(d)

    def _delete_pod(self, pod: Obj) -> None:
        """A Recreate rollout waits for the old pods to be gone: look again."""
        ref = controller_ref_of(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        ns = str((pod.get("metadata") or {}).get("namespace") or "")
        rs = self.rss.get(f"{ns}/{ref.get('name')}")
        if rs is None or rs["metadata"].get("uid") != ref.get("uid"):
            return
        rs_ref = controller_ref_of(rs)
        d = self._resolve(ns, rs_ref) if rs_ref is not None else None
        if (
            d is not None
            and ((d.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate"
        ):
            self.enqueue(d)

    # --- reconcile -----------------------------------------------------------------------

    async def reconcile(self, key: str) -> Requeue | None:
        try:
            return await self._sync_deployment(key)
        except Conflict as e:
            # we worked from a cache older than our own last write (or someone else's):
            # look again shortly, once the informer has caught up
            self.log.log(DETAIL, "deployment %s: conflict, retrying: %s", key, e)
            return Requeue()

    async def _sync_deployment(self, key: str) -> Requeue | None:
        cached = self.deployments.get(key)
        if cached is None:
            return None
        d = copy.deepcopy(cached)
        d.setdefault("status", {})
        spec = d.get("spec") or {}
        try:
            selector = label_selector_from_dict(spec.get("selector"))
        except SelectorError as e:
            self.log.error("deployment %s: invalid selector: %s", key, e)
            return None
        if selector.empty():
            self._event(d, WARNING, "SelectingAll",
                        "This deployment is selecting all pods. A non-empty selector is required.")  # fmt: skip
            gen = _int(d["metadata"].get("generation"))
            if _int(d["status"].get("observedGeneration")) < gen:
                status = dict(d["status"])
                status["observedGeneration"] = gen
                await self._write_status(d, status)
            return None
        rss = await self._replica_sets_for(d, selector)
        if d["metadata"].get("deletionTimestamp"):
            new_rs, old_rss = await self._get_all(d, rss, create=False)
            await self._sync_deployment_status([*old_rss, new_rs], new_rs, d)
            return None
        await self._check_paused_conditions(d)
        if spec.get("paused"):
            await self._sync(d, rss)
            return None
        if await self._is_scaling_event(d, rss):
            await self._sync(d, rss)
            return None
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            return await self._rollout_recreate(d, rss)
        return await self._rollout_rolling(d, rss)

    def _event(self, d: Obj, type_: str, reason: str, message: str) -> None:
        self.recorder.event(d, type_, reason, message, kind=_KIND, api_version=_API_VERSION)

    async def _replica_sets_for(self, d: Obj, selector: LabelSelector) -> list[Obj]:
        """Claim (adopt/release) and return private copies of the Deployment's RSs."""
        m = d["metadata"]
        ns = str(m.get("namespace") or "")
        candidates = [
            *self.rss.by_index(CONTROLLER_INDEX, f"{ns}/{m.get('uid')}"),
            *self.rss.by_index(CONTROLLER_INDEX, f"{ns}/"),
        ]

        async def recheck() -> None:
            fresh = await self.client.get(DEPLOYMENTS, m["name"], namespace=ns)
            if fresh["metadata"].get("uid") != m.get("uid"):
                raise ValueError(f"original Deployment {ns}/{m['name']} is gone")
            if fresh["metadata"].get("deletionTimestamp"):
                raise ValueError(f"Deployment {ns}/{m['name']} has just been deleted")

        manager = RefManager(self.client, d, _API_VERSION, _KIND, selector, recheck)
        return [copy.deepcopy(rs) for rs in await manager.claim(REPLICASETS, candidates)]

    # --- writes --------------------------------------------------------------------------

    async def _write_status(self, d: Obj, status: Obj) -> None:
        new = dict(d)
        new["status"] = status
        written = await self.client.replace_status(DEPLOYMENTS, new)
        d["metadata"] = written["metadata"]
        d["status"] = written.get("status") or status

    async def _set_deployment_revision(self, d: Obj, revision: str) -> None:
        """upstream ``SetDeploymentRevision`` (written at once, see the module docstring)."""
        ann = d["metadata"].get("annotations") or {}
        if ann.get(du.REVISION_ANNOTATION) == revision:
            return
        patch = {
            "metadata": {
                "resourceVersion": d["metadata"].get("resourceVersion"),
                "annotations": {du.REVISION_ANNOTATION: revision},
            }
        }
        m = d["metadata"]
        written = await self.client.patch(DEPLOYMENTS, m["name"], patch, namespace=m["namespace"])
        d["metadata"] = written["metadata"]

    async def _write_rs(self, rs: Obj) -> Obj:
        written = await self.client.replace(REPLICASETS, rs)
        return _replace(rs, written)

    # --- revisions and the new replica set ---------------------------------------------------

    async def _get_all(
        self, d: Obj, rss: list[Obj], *, create: bool
    ) -> tuple[Obj | None, list[Obj]]:
        """upstream ``getAllReplicaSetsAndSyncRevision``: (new RS or None, all old RSs)."""
        _, all_old = du.find_old_replica_sets(d, rss)
        new_rs = await self._get_new_rs(d, rss, all_old, create)
        return new_rs, all_old

    async def _get_new_rs(
        self, d: Obj, rss: list[Obj], old_rss: list[Obj], create: bool
    ) -> Obj | None:
        existing = du.find_new_replica_set(d, rss)
        new_revision = str(du.max_revision(old_rss) + 1)
        status = d["status"]
        spec = d.get("spec") or {}
        if existing is not None:
            rs_copy = copy.deepcopy(existing)
            changed = du.set_new_replica_set_annotations(d, rs_copy, new_revision, True)
            mrs = _int(spec.get("minReadySeconds"))
            if _int((rs_copy.get("spec") or {}).get("minReadySeconds")) != mrs:
                rs_copy["spec"]["minReadySeconds"] = mrs
                changed = True
            if changed:
                _replace(existing, rs_copy)
                await self._write_rs(existing)
            revision = du.annotations_of(existing).get(du.REVISION_ANNOTATION, "")
            await self._set_deployment_revision(d, revision)
            if du.has_progress_deadline(d) and du.get_condition(status, "Progressing") is None:
                new_status = copy.deepcopy(status)
                du.set_condition(new_status, du.new_condition(
                    "Progressing", "True", du.FOUND_NEW_RS_REASON,
                    f'Found new replica set "{existing["metadata"]["name"]}"', self.clock.wall(),
                ))  # fmt: skip
                await self._write_status(d, new_status)
            return existing
        if not create:
            return None

        m = d["metadata"]
        template = copy.deepcopy(spec.get("template") or {})
        hash_ = du.compute_hash(template, status.get("collisionCount"))
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), du.DEFAULT_DEPLOYMENT_UNIQUE_LABEL: hash_}
        selector = copy.deepcopy(spec.get("selector") or {})
        selector["matchLabels"] = {
            **(selector.get("matchLabels") or {}),
            du.DEFAULT_DEPLOYMENT_UNIQUE_LABEL: hash_,
        }
        new_rs: Obj = {
            "apiVersion": _API_VERSION,
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{m['name']}-{hash_}",
                "namespace": m["namespace"],
                "ownerReferences": [new_controller_ref(d, _API_VERSION, _KIND)],
                "labels": dict(tmeta["labels"]),
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": _int(spec.get("minReadySeconds")),
                "selector": selector,
                "template": template,
            },
        }
        new_replicas = du.new_rs_new_replicas(d, [*old_rss, new_rs], new_rs, conservative=True)
        new_rs["spec"]["replicas"] = new_replicas
        du.set_new_replica_set_annotations(d, new_rs, new_revision, False)
        already_exists = False
        try:
            created = await self.client.create(REPLICASETS, new_rs, namespace=m["namespace"])
        except AlreadyExists:
            found = await self.client.get(
                REPLICASETS, new_rs["metadata"]["name"], namespace=m["namespace"]
            )
            ref = controller_ref_of(found)
            if (
                ref is None
                or ref.get("uid") != m.get("uid")
                or not du.equal_ignore_hash(
                    spec.get("template"), (found.get("spec") or {}).get("template")
                )
            ):
                # a hash collision: bump collisionCount, the next sync uses a new name
                new_status = copy.deepcopy(status)
                before = _int(new_status.get("collisionCount"))
                new_status["collisionCount"] = before + 1
                await self._write_status(d, new_status)
                self.log.log(
                    DETAIL, "deployment %s: hash collision, collisionCount %d -> %d",
                    key_of(d), before, before + 1,
                )  # fmt: skip
                raise
            created = found
            already_exists = True
        except ApiError as e:
            if du.has_progress_deadline(d):
                new_status = copy.deepcopy(status)
                du.set_condition(new_status, du.new_condition(
                    "Progressing", "False", du.FAILED_RS_CREATE_REASON,
                    f'Failed to create new replica set "{new_rs["metadata"]["name"]}": {e}',
                    self.clock.wall(),
                ))  # fmt: skip
                try:
                    await self._write_status(d, new_status)
                except ApiError as se:
                    self.log.warning("deployment %s: cannot write status: %s", key_of(d), se)
            self._event(d, WARNING, "FailedCreate",
                        f'Failed to create new replica set "{new_rs["metadata"]["name"]}": {e}')  # fmt: skip
            raise
        if not already_exists and new_replicas > 0:
            self._event(d, NORMAL, "ScalingReplicaSet",
                        f"Scaled up replica set {created['metadata']['name']} from 0 to {new_replicas}")  # fmt: skip
        await self._set_deployment_revision(d, new_revision)
        if not already_exists and du.has_progress_deadline(d):
            new_status = copy.deepcopy(d["status"])
            du.set_condition(new_status, du.new_condition(
                "Progressing", "True", du.NEW_RS_REASON,
                f'Created new replica set "{created["metadata"]["name"]}"', self.clock.wall(),
            ))  # fmt: skip
            await self._write_status(d, new_status)
        created = copy.deepcopy(created)
        rss.append(created)
        return created

    # --- scaling -------------------------------------------------------------------------

    async def _scale_rs(self, rs: Obj, new_scale: int, d: Obj, operation: str) -> bool:
        """upstream ``scaleReplicaSet``: set size and replicas annotations; True if resized."""
        replicas = du.spec_replicas(d)
        max_replicas = replicas + du.max_surge(d)
        old_scale = du.spec_replicas(rs)
        size_changed = old_scale != new_scale
        if not size_changed and not du.replicas_annotations_need_update(rs, replicas, max_replicas):
            return False
        rs_copy = copy.deepcopy(rs)
        rs_copy["spec"]["replicas"] = new_scale
        du.set_replicas_annotations(rs_copy, replicas, max_replicas)
        _replace(rs, rs_copy)
        await self._write_rs(rs)
        if size_changed:
            self._event(d, NORMAL, "ScalingReplicaSet",
                        f"Scaled {operation} replica set {rs['metadata']['name']} "
                        f"from {old_scale} to {new_scale}")  # fmt: skip
        return size_changed

    async def _scale_and_record(self, rs: Obj, new_scale: int, d: Obj) -> bool:
        old = du.spec_replicas(rs)
        if old == new_scale:
            return False
        return await self._scale_rs(rs, new_scale, d, "up" if old < new_scale else "down")

    async def _is_scaling_event(self, d: Obj, rss: list[Obj]) -> bool:
        new_rs, old_rss = await self._get_all(d, rss, create=False)
        replicas = du.spec_replicas(d)
        for rs in du.filter_active([*old_rss, new_rs]):
            desired = du.annotations_of(rs).get(du.DESIRED_REPLICAS_ANNOTATION)
            if desired is None:
                continue
            try:
                if int(desired) != replicas:
                    return True
            except ValueError:
                continue
        return False

    async def _scale(self, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> None:
        """upstream ``scale``: resize for a changed ``spec.replicas``."""
        replicas = du.spec_replicas(d)
        target = du.find_active_or_latest(new_rs, old_rss)
        if target is not None:
            if du.spec_replicas(target) != replicas:
                await self._scale_and_record(target, replicas, d)
            return
        if du.is_saturated(d, new_rs):
            for old in du.filter_active(old_rss):
                await self._scale_and_record(old, 0, d)
            return
        if du.is_rolling_update(d):
            plan, operation = du.proportional_sizes(d, du.filter_active([*old_rss, new_rs]))
            for rs, size in plan:
                await self._scale_rs(rs, size, d, operation)

    async def _sync(self, d: Obj, rss: list[Obj]) -> None:
        """Scale only (paused, or a scaling event), then status."""
        new_rs, old_rss = await self._get_all(d, rss, create=False)
        await self._scale(d, new_rs, old_rss)
        if (d.get("spec") or {}).get("paused"):
            await self._cleanup(old_rss, d)
        await self._sync_deployment_status([*old_rss, new_rs], new_rs, d)

    # --- rolling update ------------------------------------------------------------------

    async def _rollout_rolling(self, d: Obj, rss: list[Obj]) -> Requeue | None:
        new_rs, old_rss = await self._get_all(d, rss, create=True)
        assert new_rs is not None
        all_rss: list[Obj | None] = [*old_rss, new_rs]
        if await self._reconcile_new_rs(all_rss, new_rs, d):
            return await self._sync_rollout_status(all_rss, new_rs, d)
        if await self._reconcile_old_rss(all_rss, du.filter_active(old_rss), new_rs, d):
            return await self._sync_rollout_status(all_rss, new_rs, d)
        if du.deployment_complete(d, d["status"]):
            await self._cleanup(old_rss, d)
        return await self._sync_rollout_status(all_rss, new_rs, d)

    async def _reconcile_new_rs(self, all_rss: list[Obj | None], new_rs: Obj, d: Obj) -> bool:
        replicas = du.spec_replicas(d)
        current = du.spec_replicas(new_rs)
        if current == replicas:
            return False
        if current > replicas:
            return await self._scale_and_record(new_rs, replicas, d)
        wanted = du.new_rs_new_replicas(d, all_rss, new_rs, conservative=True)
        return await self._scale_and_record(new_rs, wanted, d)

    async def _reconcile_old_rss(
        self, all_rss: list[Obj | None], old_rss: list[Obj], new_rs: Obj, d: Obj
    ) -> bool:
        if du.replica_count(old_rss) == 0:
            return False
        all_pods = du.replica_count(all_rss)
        min_available = du.spec_replicas(d) - du.max_unavailable(d)
        new_unavailable = du.spec_replicas(new_rs) - min(
            du.status_int(new_rs, "availableReplicas"), du.spec_replicas(new_rs)
        )
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = await self._cleanup_unhealthy(old_rss, d, max_scaled_down)
        scaled = await self._scale_down_old_for_rolling([*old_rss, new_rs], old_rss, d)
        return cleaned + scaled > 0

    async def _cleanup_unhealthy(self, old_rss: list[Obj], d: Obj, max_cleanup: int) -> int:
        """Scale old replica sets down by their unavailable pods (oldest first)."""
        old_rss.sort(key=du.creation_key)
        total = 0
        for rs in old_rss:
            if total >= max_cleanup:
                break
            spec = du.spec_replicas(rs)
            available = min(du.status_int(rs, "availableReplicas"), spec)
            if spec == 0 or spec == available:
                continue
            count = min(max_cleanup - total, spec - available)
            await self._scale_and_record(rs, spec - count, d)
            total += count
        return total

    async def _scale_down_old_for_rolling(
        self, all_rss: list[Obj | None], old_rss: list[Obj], d: Obj
    ) -> int:
        min_available = du.spec_replicas(d) - du.max_unavailable(d)
        available = du.available_lower_bound(all_rss)
        if available <= min_available:
            return 0
        old_rss.sort(key=du.creation_key)
        total = 0
        to_scale_down = available - min_available
        for rs in old_rss:
            if total >= to_scale_down:
                break
            spec = du.spec_replicas(rs)
            if spec == 0:
                continue
            count = min(spec, to_scale_down - total)
            await self._scale_and_record(rs, spec - count, d)
            total += count
        return total

    # --- recreate ------------------------------------------------------------------------

    async def _rollout_recreate(self, d: Obj, rss: list[Obj]) -> Requeue | None:
        new_rs, old_rss = await self._get_all(d, rss, create=False)
        all_rss: list[Obj | None] = [*old_rss, new_rs]
        scaled = False
        for rs in du.filter_active(old_rss):
            if await self._scale_and_record(rs, 0, d):
                scaled = True
        if scaled:
            return await self._sync_rollout_status(all_rss, new_rs, d)
        if self._old_pods_running(new_rs, old_rss):
            return await self._sync_rollout_status(all_rss, new_rs, d)
        if new_rs is None:
            new_rs, old_rss = await self._get_all(d, rss, create=True)
            all_rss = [*old_rss, new_rs]
        assert new_rs is not None
        await self._scale_and_record(new_rs, du.spec_replicas(d), d)
        if du.deployment_complete(d, d["status"]):
            await self._cleanup(old_rss, d)
        return await self._sync_rollout_status(all_rss, new_rs, d)

    def _old_pods_running(self, new_rs: Obj | None, old_rss: list[Obj]) -> bool:
        if sum(du.status_int(rs, "replicas") for rs in old_rss) > 0:
            return True
        new_uid = (new_rs or {}).get("metadata", {}).get("uid")
        for rs in old_rss:
            m = rs["metadata"]
            if m.get("uid") == new_uid:
                continue
            for pod in self.pods.by_index(CONTROLLER_INDEX, f"{m.get('namespace')}/{m.get('uid')}"):
                if (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                    return True
        return False

    # --- history cleanup -----------------------------------------------------------------

    async def _cleanup(self, old_rss: list[Obj], d: Obj) -> None:
        """Delete the oldest zero-sized old replica sets beyond ``revisionHistoryLimit``."""
        limit = (d.get("spec") or {}).get("revisionHistoryLimit")
        if not isinstance(limit, int) or limit == du.INT32_MAX:
            return
        cleanable = [rs for rs in old_rss if not rs["metadata"].get("deletionTimestamp")]
        diff = len(cleanable) - limit
        if diff <= 0:
            return
        cleanable.sort(key=lambda rs: (du.revision_of(rs), du.creation_key(rs)))
        for rs in cleanable[:diff]:
            m = rs["metadata"]
            if (
                du.status_int(rs, "replicas") != 0
                or du.spec_replicas(rs) != 0
                or _int(m.get("generation")) > du.status_int(rs, "observedGeneration")
            ):
                continue
            self.log.log(DETAIL, "deployment %s: deleting old replica set %s", key_of(d), m["name"])
            try:
                await self.client.delete(
                    REPLICASETS, m["name"], namespace=m["namespace"],
                    preconditions={"uid": m["uid"], "resourceVersion": m["resourceVersion"]},
                )  # fmt: skip
            except NotFound:
                pass

    # --- status --------------------------------------------------------------------------

    def calculate_status(self, all_rss: list[Obj | None], new_rs: Obj | None, d: Obj) -> Obj:
        """upstream ``calculateStatus`` (zero fields omitted, as ``omitempty`` does)."""
        rss = [rs for rs in all_rss if rs is not None]
        available = du.available_count(rss)
        total = du.replica_count(rss)
        old = d.get("status") or {}
        values = {
            "observedGeneration": _int(d["metadata"].get("generation")),
            "replicas": sum(du.status_int(rs, "replicas") for rs in rss),
            "updatedReplicas": du.status_int(new_rs, "replicas"),
            "readyReplicas": sum(du.status_int(rs, "readyReplicas") for rs in rss),
            "availableReplicas": available,
            "unavailableReplicas": max(0, total - available),
        }
        status: Obj = {k: v for k, v in values.items() if v}
        if old.get("collisionCount") is not None:
            status["collisionCount"] = old["collisionCount"]
        conditions = copy.deepcopy(old.get("conditions") or [])
        if conditions:
            status["conditions"] = conditions
        now = self.clock.wall()
        if available >= du.spec_replicas(d) - du.max_unavailable(d):
            du.set_condition(status, du.new_condition(
                "Available", "True", du.MINIMUM_REPLICAS_AVAILABLE,
                "Deployment has minimum availability.", now,
            ))  # fmt: skip
        else:
            du.set_condition(status, du.new_condition(
                "Available", "False", du.MINIMUM_REPLICAS_UNAVAILABLE,
                "Deployment does not have minimum availability.", now,
            ))  # fmt: skip
        return status

    async def _sync_deployment_status(
        self, all_rss: list[Obj | None], new_rs: Obj | None, d: Obj
    ) -> None:
        status = self.calculate_status(all_rss, new_rs, d)
        if status != d["status"]:
            await self._write_status(d, status)

    async def _sync_rollout_status(
        self, all_rss: list[Obj | None], new_rs: Obj | None, d: Obj
    ) -> Requeue | None:
        """upstream ``syncRolloutStatus``: status with progress conditions; when the
        rollout is stuck, the time to look again (its progress deadline)."""
        status = self.calculate_status(all_rss, new_rs, d)
        now = self.clock.wall()
        if not du.has_progress_deadline(d):
            du.remove_condition(status, "Progressing")
        current = du.get_condition(d["status"], "Progressing")
        complete = (
            _int(status.get("replicas")) == _int(status.get("updatedReplicas"))
            and current is not None
            and current.get("reason") == du.NEW_RS_AVAILABLE_REASON
        )
        name = d["metadata"]["name"]
        rs_name = (new_rs or {}).get("metadata", {}).get("name")
        if du.has_progress_deadline(d) and not complete:
            if du.deployment_complete(d, status):
                msg = (
                    f'ReplicaSet "{rs_name}" has successfully progressed.'
                    if rs_name
                    else f'Deployment "{name}" has successfully progressed.'
                )
                du.set_condition(status, du.new_condition(
                    "Progressing", "True", du.NEW_RS_AVAILABLE_REASON, msg, now))  # fmt: skip
            elif du.deployment_progressing(d, status):
                msg = (
                    f'ReplicaSet "{rs_name}" is progressing.'
                    if rs_name
                    else f'Deployment "{name}" is progressing.'
                )
                cond = du.new_condition("Progressing", "True", du.RS_UPDATED_REASON, msg, now)
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime")
                    du.remove_condition(status, "Progressing")
                du.set_condition(status, cond)
            elif du.deployment_timed_out(d, status, now):
                msg = (
                    f'ReplicaSet "{rs_name}" has timed out progressing.'
                    if rs_name
                    else f'Deployment "{name}" has timed out progressing.'
                )
                du.set_condition(status, du.new_condition(
                    "Progressing", "False", du.TIMED_OUT_REASON, msg, now))  # fmt: skip
        failures = self._replica_failures(all_rss, new_rs)
        if failures:
            du.set_condition(status, failures[0])
        else:
            du.remove_condition(status, "ReplicaFailure")
        if status == d["status"]:
            return self._requeue_stuck(d, status)
        await self._write_status(d, status)
        return None

    def _requeue_stuck(self, d: Obj, status: Obj) -> Requeue | None:
        """upstream ``requeueStuckDeployment``: look again when the deadline passes."""
        current = du.get_condition(d["status"], "Progressing")
        if not du.has_progress_deadline(d) or current is None:
            return None
        if du.deployment_complete(d, status) or current.get("reason") == du.TIMED_OUT_REASON:
            return None
        since = parse_time(current.get("lastUpdateTime"))
        if since is None:
            return None
        pds = _int((d.get("spec") or {}).get("progressDeadlineSeconds"))
        after = since.timestamp() + pds - self.clock.wall().timestamp()
        if after < 1.0:
            return Requeue()  # rate-limited: it is about to time out or complete
        return Requeue(after=after + 1.0)

    @staticmethod
    def _replica_failures(all_rss: list[Obj | None], new_rs: Obj | None) -> list[Obj]:
        def of(rs: Obj | None) -> list[Obj]:
            out = []
            for c in (rs or {}).get("status", {}).get("conditions") or []:
                if c.get("type") == "ReplicaFailure":
                    t = c.get("lastTransitionTime")
                    out.append({
                        "type": "ReplicaFailure", "status": c.get("status"),
                        "lastUpdateTime": t, "lastTransitionTime": t,
                        "reason": c.get("reason"), "message": c.get("message"),
                    })  # fmt: skip
            return out

        found = of(new_rs)
        if found:
            return found
        for rs in all_rss:
            found += of(rs)
        return found

    async def _check_paused_conditions(self, d: Obj) -> None:
        if not du.has_progress_deadline(d):
            return
        cond = du.get_condition(d["status"], "Progressing")
        if cond is not None and cond.get("reason") == du.TIMED_OUT_REASON:
            return  # a reported lack of progress is not overwritten by a pause
        paused_cond = cond is not None and cond.get("reason") == du.PAUSED_DEPLOY_REASON
        paused = bool((d.get("spec") or {}).get("paused"))
        now = self.clock.wall()
        status = copy.deepcopy(d["status"])
        if paused and not paused_cond:
            du.set_condition(status, du.new_condition(
                "Progressing", "Unknown", du.PAUSED_DEPLOY_REASON, "Deployment is paused", now))  # fmt: skip
        elif not paused and paused_cond:
            du.set_condition(status, du.new_condition(
                "Progressing", "Unknown", du.RESUMED_DEPLOY_REASON, "Deployment is resumed", now))  # fmt: skip
        else:
            return
        await self._write_status(d, status)
