"""The StatefulSet controller: pods with stable names and storage, created, deleted
and updated in order. Upstream's ``pkg/controller/statefulset`` (``stateful_set.go``,
``stateful_set_control.go``, ``stateful_set_utils.go``, ``stateful_pod_control.go``).

Identity: pod ``<set>-<ordinal>`` for ordinals ``ordinals.start`` …
``start + replicas - 1``, labels ``statefulset.kubernetes.io/pod-name`` and
``apps.kubernetes.io/pod-index``, ``hostname`` = pod name, ``subdomain`` =
``serviceName``. Each ``volumeClaimTemplates`` entry becomes the PVC
``<claim>-<set>-<ordinal>`` (labels: the template's plus the set's
``matchLabels``), created before the pod and never deleted with it; its owner
references follow ``persistentVolumeClaimRetentionPolicy`` as upstream (the set as
controller when ``whenDeleted: Delete``; the pod as controller once it is scaled
away when ``whenScaled: Delete``), so the garbage collector removes claims
exactly when the policy says.

One sync (``reconcile``):

1. claim the set's ControllerRevisions and pods (adopting matching orphans whose
   names are ``<set>-<n>``); compute the update revision from the template (an
   equal older revision is reused and renumbered, as after ``rollout undo``; a
   name clash bumps ``status.collisionCount``) and the current revision
   (``status.currentRevision``, else the update revision);
2. :func:`plan_sync` decides, purely, from the cache (see its docstring): which
   pods to create (new pods take the current revision below the update
   ``partition``, the update revision above), which to recreate (Failed or
   Succeeded), which to fix, which to delete for scale-down (highest ordinal
   first) and which single pod to delete for a rolling update (highest ordinal
   not at the update revision, at or above ``partition``, only while every pod
   above it is healthy). ``OrderedReady`` stops at the first pod that is not
   Running and available (``minReadySeconds``), creates one pod per sync and
   deletes one at a time, only when all others are healthy (or it is the first
   unhealthy one); ``Parallel`` does everything at once (slow-start batches);
3. status: replicas, readyReplicas, availableReplicas, currentReplicas,
   updatedReplicas, currentRevision, updateRevision, collisionCount,
   observedGeneration; a finished rolling update makes the update revision
   current;
4. delete the oldest revisions beyond ``revisionHistoryLimit`` that no pod uses.

Events as upstream: ``SuccessfulCreate`` "create Pod web-0 in StatefulSet web
successful", ``SuccessfulDelete`` "delete Pod web-3 in StatefulSet web
successful", claims "create Claim data-web-0 Pod web-0 in StatefulSet web
success", and the ``Failed*`` variants.

Deviations: the controller remembers the pods it created (and deleted) until its
informer shows them (30 s at most), so an ordered sync running on a cache that
lags behind its own last write waits instead of failing with AlreadyExists or
deleting twice; a pod whose volumes do not match the claims is not rewritten
(pod volumes are immutable, upstream's update would be refused as well) — only
its missing claims are created.

Concurrency model: the base's work queue keyed by ``namespace/name`` with
``WORKERS`` workers (never two for one set). Informer handlers (sets, pods,
revisions) only enqueue keys and note observed creations/deletions; every
decision is taken in ``reconcile`` from the caches. Writes that could race use
uid/resourceVersion preconditions; a conflict requeues the key.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
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
from pinnace.controllers import history
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue
from pinnace.controllers.controller_utils import (
    CONTROLLER_INDEX,
    SLOW_START_INITIAL_BATCH_SIZE,
    RefManager,
    controller_index,
    controller_ref_of,
    is_pod_available,
    is_pod_ready,
    new_controller_ref,
    slow_start_batch,
)
from pinnace.controllers.history import CONTROLLERREVISIONS, REVISION_HASH_KEY

__all__ = [
    "PERSISTENTVOLUMECLAIMS",
    "POD_INDEX_LABEL",
    "POD_NAME_LABEL",
    "STATEFULSETS",
    "Plan",
    "StatefulSetController",
    "claim_name",
    "claim_owner_up_to_date",
    "compute_status",
    "new_stateful_pod",
    "ordinal_of",
    "parent_of",
    "plan_sync",
    "updated_claim_refs",
]

STATEFULSETS = ResourceRef("apps", "v1", "statefulsets", True, "StatefulSet")
PERSISTENTVOLUMECLAIMS = ResourceRef(
    "", "v1", "persistentvolumeclaims", True, "PersistentVolumeClaim"
)
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_KIND = "StatefulSet"
_API_VERSION = "apps/v1"
#: how long a creation/deletion of ours counts as "in flight" without being observed
IN_FLIGHT_TIMEOUT = 30.0
#: upstream ``statusUpdateRetries``
STATUS_UPDATE_RETRIES = 1

_NAME_RE = re.compile(r"^(.*)-([0-9]+)$")


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


# --- identity ------------------------------------------------------------------------------


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def parent_of(pod: Obj) -> str:
    m = _NAME_RE.match(_name(pod))
    return m.group(1) if m else ""


def ordinal_of(pod: Obj) -> int:
    """The pod's ordinal from its name; -1 when it has none."""
    m = _NAME_RE.match(_name(pod))
    if not m:
        return -1
    try:
        return int(m.group(2))
    except ValueError:
        return -1


def start_ordinal(sts: Obj) -> int:
    return _int(((sts.get("spec") or {}).get("ordinals") or {}).get("start"))


def spec_replicas(sts: Obj) -> int:
    v = (sts.get("spec") or {}).get("replicas")
    return 1 if v is None else _int(v)


def in_ordinal_range(pod: Obj, sts: Obj) -> bool:
    start = start_ordinal(sts)
    return start <= ordinal_of(pod) < start + spec_replicas(sts)


def pod_name(sts: Obj, ordinal: int) -> str:
    return f"{_name(sts)}-{ordinal}"


def claim_name(sts: Obj, claim: Obj, ordinal: int) -> str:
    """upstream ``getPersistentVolumeClaimName``: ``<claim>-<set>-<ordinal>``."""
    return f"{_name(claim)}-{_name(sts)}-{ordinal}"


def pod_revision(pod: Obj) -> str:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get(REVISION_HASH_KEY) or "")


def is_created(pod: Obj) -> bool:
    """A pod of the API (ours are built without a uid)."""
    return bool((pod.get("metadata") or {}).get("uid"))


def is_terminating(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def is_running_and_ready(pod: Obj) -> bool:
    return _phase(pod) == "Running" and is_pod_ready(pod)


def is_running_and_available(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    return _phase(pod) == "Running" and is_pod_available(pod, min_ready_seconds, now)


def is_healthy(pod: Obj) -> bool:
    return is_running_and_ready(pod) and not is_terminating(pod)


def claims_for(sts: Obj, ordinal: int) -> dict[str, Obj]:
    """upstream ``getPersistentVolumeClaims``: template name → the pod's claim."""
    spec = sts.get("spec") or {}
    match_labels = (spec.get("selector") or {}).get("matchLabels") or {}
    ns = (sts.get("metadata") or {}).get("namespace") or ""
    out: dict[str, Obj] = {}
    for template in spec.get("volumeClaimTemplates") or []:
        t = copy.deepcopy(template)
        tm = t.get("metadata") or {}
        claim: Obj = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": claim_name(sts, template, ordinal),
                "namespace": ns,
                "labels": {**(tm.get("labels") or {}), **match_labels},
            },
            "spec": t.get("spec") or {},
        }
        if tm.get("annotations"):
            claim["metadata"]["annotations"] = dict(tm["annotations"])
        out[_name(template)] = claim
    return out


def identity_matches(sts: Obj, pod: Obj) -> bool:
    ordinal = ordinal_of(pod)
    m = pod.get("metadata") or {}
    labels = m.get("labels") or {}
    return (
        ordinal >= 0
        and parent_of(pod) == _name(sts)
        and m.get("name") == pod_name(sts, ordinal)
        and m.get("namespace") == (sts.get("metadata") or {}).get("namespace")
        and labels.get(POD_NAME_LABEL) == m.get("name")
        and labels.get(POD_INDEX_LABEL) == str(ordinal)
    )


def storage_matches(sts: Obj, pod: Obj) -> bool:
    ordinal = ordinal_of(pod)
    if ordinal < 0:
        return False
    volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or []}
    for template in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
        v = volumes.get(_name(template))
        pvc = (v or {}).get("persistentVolumeClaim")
        if not pvc or pvc.get("claimName") != claim_name(sts, template, ordinal):
            return False
    return True


def _update_identity(sts: Obj, pod: Obj) -> None:
    ordinal = ordinal_of(pod)
    m = pod.setdefault("metadata", {})
    m["name"] = pod_name(sts, ordinal)
    m["namespace"] = (sts.get("metadata") or {}).get("namespace") or ""
    labels = m.setdefault("labels", {})
    labels[POD_NAME_LABEL] = m["name"]
    labels[POD_INDEX_LABEL] = str(ordinal)


def _update_storage(sts: Obj, pod: Obj) -> None:
    claims = claims_for(sts, ordinal_of(pod))
    spec = pod.setdefault("spec", {})
    volumes = [
        {"name": name, "persistentVolumeClaim": {"claimName": _name(claim)}}
        for name, claim in claims.items()
    ]
    volumes += [v for v in spec.get("volumes") or [] if v.get("name") not in claims]
    if volumes:
        spec["volumes"] = volumes


def new_stateful_pod(sts: Obj, ordinal: int) -> Obj:
    """upstream ``newStatefulSetPod``: the template with the pod's identity and claims."""
    template = (sts.get("spec") or {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    sm = sts.get("metadata") or {}
    meta: Obj = {
        "name": pod_name(sts, ordinal),
        "namespace": sm.get("namespace") or "",
        "labels": dict(tmeta.get("labels") or {}),
        "ownerReferences": [new_controller_ref(sts, _API_VERSION, _KIND)],
    }
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }
    _update_identity(sts, pod)
    pod["spec"]["hostname"] = meta["name"]
    service = (sts.get("spec") or {}).get("serviceName")
    if service:
        pod["spec"]["subdomain"] = service
    _update_storage(sts, pod)
    return pod


def _partition(sts: Obj) -> int | None:
    us = (sts.get("spec") or {}).get("updateStrategy") or {}
    ru = us.get("rollingUpdate")
    if not isinstance(ru, dict):
        return None
    return _int(ru.get("partition"))


def _strategy(sts: Obj) -> str:
    return str(((sts.get("spec") or {}).get("updateStrategy") or {}).get("type") or "RollingUpdate")


def new_versioned_pod(
    current_set: Obj, update_set: Obj, current_revision: str, update_revision: str, ordinal: int
) -> Obj:
    """upstream ``newVersionedStatefulSetPod``: below the partition (or, without
    rolling-update parameters, below ``status.currentReplicas``) at the current
    revision, otherwise at the update revision."""
    start = start_ordinal(current_set)
    partition = _partition(current_set)
    current_replicas = _int((current_set.get("status") or {}).get("currentReplicas"))
    at_current = (
        _strategy(current_set) == "RollingUpdate"
        and partition is None
        and ordinal < start + current_replicas
    ) or (partition is not None and ordinal < start + partition)
    if at_current:
        pod = new_stateful_pod(current_set, ordinal)
        pod["metadata"]["labels"][REVISION_HASH_KEY] = current_revision
    else:
        pod = new_stateful_pod(update_set, ordinal)
        pod["metadata"]["labels"][REVISION_HASH_KEY] = update_revision
    return pod


# --- claim retention (StatefulSetAutoDeletePVC) --------------------------------------------


def _policy(sts: Obj) -> tuple[str, str]:
    p = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
    return str(p.get("whenDeleted") or "Retain"), str(p.get("whenScaled") or "Retain")


def _refs(obj: Obj) -> list[dict[str, Any]]:
    return [
        r for r in (obj.get("metadata") or {}).get("ownerReferences") or [] if isinstance(r, dict)
    ]


def _uid(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def _matches_ref(ref: Mapping[str, Any], obj: Obj, api_version: str, kind: str) -> bool:
    return (
        ref.get("apiVersion") == api_version
        and ref.get("kind") == kind
        and ref.get("name") == _name(obj)
    )


def _has_ref(claim: Obj, owner: Obj) -> bool:
    uid = _uid(owner)
    return any(r.get("uid") == uid for r in _refs(claim))


def _has_stale_ref(claim: Obj, owner: Obj, api_version: str, kind: str) -> bool:
    for r in _refs(claim):
        if _matches_ref(r, owner, api_version, kind):
            return r.get("uid") != _uid(owner)
    return False


def _unexpected_controller(claim: Obj, sts: Obj, pod: Obj) -> bool:
    if _policy(sts) == ("Retain", "Retain"):
        return False
    for r in _refs(claim):
        if _matches_ref(r, sts, _API_VERSION, _KIND):
            if r.get("uid") != _uid(sts):
                return True
            continue
        if _matches_ref(r, pod, "v1", "Pod"):
            if r.get("uid") != _uid(pod):
                return True
            continue
        if r.get("controller") is True:
            return True
    return False


def claim_owner_up_to_date(claim: Obj, sts: Obj, pod: Obj) -> bool:
    """upstream ``isClaimOwnerUpToDate``: the claim's references follow the policy."""
    if _has_stale_ref(claim, sts, _API_VERSION, _KIND) or _has_stale_ref(claim, pod, "v1", "Pod"):
        return True  # managed by an earlier incarnation: not ours to touch
    if _unexpected_controller(claim, sts, pod):
        return not (_has_ref(claim, sts) or _has_ref(claim, pod))
    for r in _refs(claim):
        if r.get("uid") in (_uid(sts), _uid(pod)) and r.get("controller") is not True:
            return False
    when_deleted, when_scaled = _policy(sts)
    has_set, has_pod = _has_ref(claim, sts), _has_ref(claim, pod)
    scaled_down = not in_ordinal_range(pod, sts)
    if when_scaled == "Delete" and when_deleted == "Delete":
        return scaled_down != has_set and scaled_down == has_pod
    if when_scaled == "Delete":
        return not has_set and scaled_down == has_pod
    if when_deleted == "Delete":
        return has_set and not has_pod
    return not has_set and not has_pod


def updated_claim_refs(claim: Obj, sts: Obj, pod: Obj) -> list[dict[str, Any]]:
    """upstream ``updateClaimOwnerRefForSetAndPod``: the claim's new ownerReferences."""
    unexpected = _unexpected_controller(claim, sts, pod)
    refs = [
        r
        for r in _refs(claim)
        if not (_matches_ref(r, sts, _API_VERSION, _KIND) or _matches_ref(r, pod, "v1", "Pod"))
    ]
    if unexpected:
        return refs
    when_deleted, when_scaled = _policy(sts)
    scaled_down = not in_ordinal_range(pod, sts)

    def add(owner: Obj, api_version: str, kind: str) -> None:
        if not any(r.get("uid") == _uid(owner) for r in refs):
            refs.append(new_controller_ref(owner, api_version, kind))

    if when_scaled == "Delete" and scaled_down:
        add(pod, "v1", "Pod")
    elif when_deleted == "Delete" and (when_scaled == "Retain" or not scaled_down):
        add(sts, _API_VERSION, _KIND)
    return refs


def claim_is_stale(sts: Obj, pod: Obj, claims: Mapping[str, Obj]) -> bool:
    """upstream ``PodClaimIsStale``: a claim still owned by an earlier pod of that name
    (the garbage collector is about to delete it: wait)."""
    if _policy(sts)[1] == "Retain":
        return False
    for claim in claims_for(sts, ordinal_of(pod)).values():
        pvc = claims.get(_name(claim))
        if pvc is not None and _has_stale_ref(pvc, pod, "v1", "Pod"):
            return True
    return False


def claims_match_policy(sts: Obj, pod: Obj, claims: Mapping[str, Obj]) -> bool:
    for claim in claims_for(sts, ordinal_of(pod)).values():
        pvc = claims.get(_name(claim))
        if pvc is not None and not claim_owner_up_to_date(pvc, sts, pod):
            return False
    return True


# --- the plan ------------------------------------------------------------------------------


@dataclass
class Plan:
    """What one sync does, in order: ``replica_actions`` (``create``/``delete``/``fix``
    of pods in range), then ``condemned_claims`` (fix claim references of pods out of
    range) and ``condemned_deletes`` (scale-down), then ``update_delete`` (the one pod
    a rolling update replaces). ``blocked`` says why an ordered sync stopped early."""

    replica_actions: list[tuple[str, Obj]] = field(default_factory=list)
    condemned_claims: list[Obj] = field(default_factory=list)
    condemned_deletes: list[Obj] = field(default_factory=list)
    update_delete: Obj | None = None
    blocked: str = ""

    def actions(self) -> list[tuple[str, str]]:
        """(action, pod name) in order — for logs and tests."""
        out = [(a, _name(p)) for a, p in self.replica_actions]
        out += [("claims", _name(p)) for p in self.condemned_claims]
        out += [("delete", _name(p)) for p in self.condemned_deletes]
        if self.update_delete is not None:
            out.append(("delete", _name(self.update_delete)))
        return out


def plan_sync(
    sts: Obj,
    pods: Iterable[Obj],
    current_revision: Obj,
    update_revision: Obj,
    now: datetime,
    *,
    claims: Mapping[str, Obj] | None = None,
    in_flight: Iterable[str] = (),
) -> Plan:
    """upstream ``updateStatefulSet`` as a pure decision: what to do next.

    ``pods``: the set's pods (from the cache); ``claims``: PVCs by name;
    ``in_flight``: names of pods this controller created that the cache does not
    show yet (treated as created and not ready)."""
    claims = claims or {}
    pending = set(in_flight)
    current_set = history.apply_revision(sts, current_revision)
    update_set = history.apply_revision(sts, update_revision)
    cur_name, upd_name = _name(current_revision), _name(update_revision)
    start, count = start_ordinal(sts), spec_replicas(sts)
    replicas: list[Obj | None] = [None] * count
    condemned: list[Obj] = []
    for pod in pods:
        ordinal = ordinal_of(pod)
        if start <= ordinal < start + count:
            replicas[ordinal - start] = pod
        elif ordinal >= 0:
            condemned.append(pod)
    slots: list[Obj] = [
        p
        if p is not None
        else new_versioned_pod(current_set, update_set, cur_name, upd_name, start + i)
        for i, p in enumerate(replicas)
    ]
    condemned.sort(key=ordinal_of, reverse=True)
    first_unhealthy: Obj | None = next((p for p in slots if not is_healthy(p)), None)
    if first_unhealthy is None:
        first_unhealthy = next((p for p in reversed(condemned) if not is_healthy(p)), None)
    plan = Plan()
    if (sts.get("metadata") or {}).get("deletionTimestamp"):
        return plan
    spec = sts.get("spec") or {}
    monotonic = spec.get("podManagementPolicy") != "Parallel"
    mrs = _int(spec.get("minReadySeconds"))

    for pod in slots:
        name = _name(pod)
        if is_created(pod) and _phase(pod) in ("Failed", "Succeeded"):
            if not is_terminating(pod):
                plan.replica_actions.append(("delete", pod))
            if monotonic:
                plan.blocked = f"recreating {name}"
                return plan
            continue
        if not is_created(pod):
            if name in pending:
                if monotonic:
                    plan.blocked = f"waiting for {name} to be observed"
                    return plan
                continue
            if claim_is_stale(sts, pod, claims):
                if monotonic:
                    plan.blocked = f"waiting for the stale claims of {name} to go"
                    return plan
                continue
            plan.replica_actions.append(("create", pod))
            if monotonic:
                plan.blocked = f"created {name}"
                return plan
            continue
        if _phase(pod) == "Pending" and any(
            _name(c) not in claims for c in claims_for(sts, ordinal_of(pod)).values()
        ):
            plan.replica_actions.append(("claims", pod))
        if is_terminating(pod) and monotonic:
            plan.blocked = f"waiting for {name} to terminate"
            return plan
        if not is_running_and_available(pod, mrs, now) and monotonic:
            plan.blocked = f"waiting for {name} to be Running and Ready"
            return plan
        if not (
            identity_matches(sts, pod)
            and storage_matches(sts, pod)
            and claims_match_policy(update_set, pod, claims)
        ):
            plan.replica_actions.append(("fix", pod))

    plan.condemned_claims = [p for p in condemned if not claims_match_policy(update_set, p, claims)]
    for pod in condemned:
        if is_terminating(pod):
            if monotonic:
                plan.blocked = f"waiting for {_name(pod)} to terminate"
                return plan
            continue
        if monotonic and not is_running_and_available(pod, mrs, now) and pod is not first_unhealthy:
            plan.blocked = f"waiting for {_name(first_unhealthy or pod)} before scaling down"
            return plan
        plan.condemned_deletes.append(pod)
        if monotonic:
            return plan

    if _strategy(sts) == "OnDelete":
        return plan
    update_min = _partition(sts) or 0
    for target in range(len(slots) - 1, update_min - 1, -1):
        pod = slots[target]
        if pod_revision(pod) != upd_name and not is_terminating(pod):
            plan.update_delete = pod
            return plan
        if not is_healthy(pod):
            plan.blocked = f"waiting for {_name(pod)} to be healthy for the update"
            return plan
    return plan


# --- status --------------------------------------------------------------------------------


def compute_status(
    sts: Obj,
    pods: Iterable[Obj],
    current_revision: str,
    update_revision: str,
    collision_count: int,
    now: datetime,
) -> Obj:
    """upstream ``updateStatus`` + ``completeRollingUpdate`` over the pods with an
    ordinal (zero counts omitted, as ``omitempty`` does, but observedGeneration,
    replicas and the revisions always present)."""
    mrs = _int((sts.get("spec") or {}).get("minReadySeconds"))
    replicas = ready = available = current = updated = 0
    for pod in pods:
        if ordinal_of(pod) < 0:
            continue
        replicas += 1
        if is_running_and_ready(pod):
            ready += 1
            if is_running_and_available(pod, mrs, now):
                available += 1
        if not is_terminating(pod):
            rev = pod_revision(pod)
            if rev == current_revision:
                current += 1
            if rev == update_revision:
                updated += 1
    if _strategy(sts) == "RollingUpdate" and updated == replicas and ready == replicas:
        current, current_revision = updated, update_revision
    status: Obj = {
        "observedGeneration": _int((sts.get("metadata") or {}).get("generation")),
        "replicas": replicas,
    }
    for k, v in (
        ("readyReplicas", ready),
        ("currentReplicas", current),
        ("updatedReplicas", updated),
    ):
        if v:
            status[k] = v
    status["currentRevision"] = current_revision
    status["updateRevision"] = update_revision
    status["collisionCount"] = collision_count
    if available:
        status["availableReplicas"] = available
    conditions = (sts.get("status") or {}).get("conditions")
    if conditions:
        status["conditions"] = conditions
    return status


_STATUS_FIELDS = (
    "observedGeneration",
    "replicas",
    "readyReplicas",
    "currentReplicas",
    "updatedReplicas",
    "availableReplicas",
    "currentRevision",
    "updateRevision",
    "collisionCount",
)


def status_differs(old: Obj, new: Obj) -> bool:
    return any(old.get(k) != new.get(k) for k in _STATUS_FIELDS)


# --- the controller ----------------------------------------------------------------------------


class StatefulSetController(Controller):
    NAME = "statefulset"
    EVENT_COMPONENT = "statefulset-controller"
    WORKERS = 5  # upstream --concurrent-statefulset-syncs

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.sets = self.informer(STATEFULSETS)
        self.enqueue_handlers(self.sets)
        self.pods = self.informer(PODS)
        self.pods.add_indexers({CONTROLLER_INDEX: controller_index})
        self.pods.add_event_handler(
            on_add=self._pod_event,
            on_update=lambda _old, new: self._pod_event(new),
            on_delete=lambda pod: self._pod_event(pod, gone=True),
        )
        self.revisions = self.informer(CONTROLLERREVISIONS)
        self.revisions.add_indexers({CONTROLLER_INDEX: controller_index})
        self.revisions.add_event_handler(
            on_add=self._revision_event,
            on_update=lambda _old, new: self._revision_event(new),
            on_delete=self._revision_event,
        )
        self.claims = self.informer(PERSISTENTVOLUMECLAIMS)
        #: set key → {pod name: when we created it} not yet seen in the cache
        self._created: dict[str, dict[str, float]] = {}
        #: set key → {pod uid: when we deleted it} not yet seen terminating/gone
        self._deleted: dict[str, dict[str, float]] = {}

    # --- event handlers ------------------------------------------------------------------

    def _owner_key(self, obj: Obj) -> str | None:
        m = obj.get("metadata") or {}
        ns = str(m.get("namespace") or "")
        ref = controller_ref_of(obj)
        if ref is not None:
            if ref.get("kind") != _KIND:
                return None
            sts = self.sets.get(f"{ns}/{ref.get('name')}")
            if sts is None or _uid(sts) != ref.get("uid"):
                return None
            return key_of(sts)
        parent = parent_of(obj)
        if parent and self.sets.get(f"{ns}/{parent}") is not None:
            return f"{ns}/{parent}"  # an orphan we may adopt
        return None

    def _pod_event(self, pod: Obj, gone: bool = False) -> None:
        key = self._owner_key(pod)
        if key is None:
            return
        self._created.get(key, {}).pop(_name(pod), None)
        if gone or is_terminating(pod):
            self._deleted.get(key, {}).pop(_uid(pod), None)
        self.queue.add(key)

    def _revision_event(self, rev: Obj) -> None:
        ref = controller_ref_of(rev)
        if ref is None:
            # an orphan: every set whose selector matches may adopt it
            m = rev.get("metadata") or {}
            for sts in self.sets.by_index("namespace", str(m.get("namespace") or "")):
                self.enqueue(sts)
            return
        key = self._owner_key(rev)
        if key is not None:
            self.queue.add(key)

    # --- reconcile -----------------------------------------------------------------------

    async def reconcile(self, key: str) -> Requeue | None:
        try:
            return await self._sync(key)
        except Conflict as e:
            self.log.log(DETAIL, "statefulset %s: conflict, retrying: %s", key, e)
            return Requeue()

    def _in_flight(self, key: str) -> tuple[set[str], set[str]]:
        now = self.clock.now()
        created = self._created.get(key, {})
        deleted = self._deleted.get(key, {})
        for d in (created, deleted):
            for k in [k for k, t in d.items() if now - t > IN_FLIGHT_TIMEOUT]:
                del d[k]
        return set(created), set(deleted)

    async def _sync(self, key: str) -> Requeue | None:
        cached = self.sets.get(key)
        if cached is None:
            self._created.pop(key, None)
            self._deleted.pop(key, None)
            return None
        sts = copy.deepcopy(cached)
        try:
            selector = label_selector_from_dict((sts.get("spec") or {}).get("selector"))
        except SelectorError as e:
            self.log.error("statefulset %s: invalid selector: %s", key, e)
            return None
        m = sts["metadata"]
        ns = str(m.get("namespace") or "")
        revisions = history.sort_revisions(await self._claim_revisions(sts, selector))
        pods = await self._claim_pods(sts, selector)
        current, update, collision = await self._revisions(sts, revisions)
        if not any(_name(r) == _name(update) for r in revisions):
            revisions = history.sort_revisions([*revisions, update])
        created, deleted = self._in_flight(key)
        view = [_mark_deleting(p) if _uid(p) in deleted else p for p in pods]
        claims = {_name(c): c for c in self.claims.by_index("namespace", ns)}
        now = self.clock.wall()
        plan = plan_sync(sts, view, current, update, now, claims=claims, in_flight=created)
        if plan.blocked:
            self.log.log(DETAIL - 5, "statefulset %s: %s", key, plan.blocked)
        status = compute_status(sts, view, _name(current), _name(update), collision, now)
        error: BaseException | None = None
        try:
            await self._execute(key, sts, update, plan, claims)
        except (ApiError, ValueError) as e:
            error = e
        if plan.update_delete is not None and status.get("currentReplicas"):
            if pod_revision(plan.update_delete) == _name(current):
                status["currentReplicas"] -= 1
        await self._write_status(sts, status)
        if error is None:
            await self._truncate_history(sts, pods, revisions, status)
        if error is not None:
            raise error
        mrs = _int((sts.get("spec") or {}).get("minReadySeconds"))
        if mrs > 0 and _int(status.get("availableReplicas")) != spec_replicas(sts):
            return Requeue(after=float(mrs))
        return None

    # --- claiming ------------------------------------------------------------------------

    def _recheck(self, sts: Obj) -> Callable[[], Awaitable[None]]:
        async def recheck() -> None:
            m = sts["metadata"]
            fresh = await self.client.get(STATEFULSETS, m["name"], namespace=m["namespace"])
            if _uid(fresh) != _uid(sts):
                raise ValueError(f"original StatefulSet {m['namespace']}/{m['name']} is gone")
            if (fresh.get("metadata") or {}).get("deletionTimestamp"):
                raise ValueError(f"StatefulSet {m['namespace']}/{m['name']} is being deleted")

        return recheck

    async def _claim_pods(self, sts: Obj, selector: LabelSelector) -> list[Obj]:
        ns = str(sts["metadata"].get("namespace") or "")
        set_name = _name(sts)
        candidates = [
            *self.pods.by_index(CONTROLLER_INDEX, f"{ns}/{_uid(sts)}"),
            *(
                p
                for p in self.pods.by_index(CONTROLLER_INDEX, f"{ns}/")
                if parent_of(p) == set_name
            ),
        ]
        manager = RefManager(self.client, sts, _API_VERSION, _KIND, selector, self._recheck(sts))
        return await manager.claim(PODS, candidates)

    async def _claim_revisions(self, sts: Obj, selector: LabelSelector) -> list[Obj]:
        ns = str(sts["metadata"].get("namespace") or "")
        candidates = [
            *self.revisions.by_index(CONTROLLER_INDEX, f"{ns}/{_uid(sts)}"),
            *self.revisions.by_index(CONTROLLER_INDEX, f"{ns}/"),
        ]
        manager = RefManager(self.client, sts, _API_VERSION, _KIND, selector, self._recheck(sts))
        return [copy.deepcopy(r) for r in await manager.claim(CONTROLLERREVISIONS, candidates)]

    # --- revisions -----------------------------------------------------------------------

    async def _revisions(self, sts: Obj, revisions: list[Obj]) -> tuple[Obj, Obj, int]:
        """upstream ``getStatefulSetRevisions``: (current, update, collisionCount)."""
        status = sts.get("status") or {}
        collision = _int(status.get("collisionCount"))
        labels = ((sts["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        data = history.template_patch(sts)
        candidate = history.new_controller_revision(
            sts, _API_VERSION, _KIND, labels, data, history.next_revision(revisions), collision
        )
        candidate["metadata"].setdefault("annotations", {}).update(
            sts["metadata"].get("annotations") or {}
        )
        if not candidate["metadata"]["annotations"]:
            del candidate["metadata"]["annotations"]
        equal = history.find_equal_revisions(revisions, candidate)
        if equal and equal[-1] is revisions[-1]:
            update = revisions[-1]
        elif equal:
            update = await history.renumber_revision(
                self.client, equal[-1], history.revision_number(candidate)
            )
        else:
            update, collision = await self._create_revision(sts, candidate, collision)
        current_name = status.get("currentRevision")
        current = next((r for r in revisions if _name(r) == current_name), None) or update
        return current, update, collision

    async def _create_revision(self, sts: Obj, rev: Obj, collision: int) -> tuple[Obj, int]:
        """upstream ``CreateControllerRevision``: on a name clash with other data, bump
        the collision count and try the next name."""
        ns = str(sts["metadata"].get("namespace") or "")
        for _ in range(100):
            hash_ = history.hash_controller_revision(rev["data"], collision)
            rev["metadata"]["name"] = history.revision_name(_name(sts), hash_)
            try:
                return await self.client.create(CONTROLLERREVISIONS, rev, namespace=ns), collision
            except AlreadyExists:
                existing = await self.client.get(
                    CONTROLLERREVISIONS, rev["metadata"]["name"], namespace=ns
                )
                if history.data_equal(existing.get("data"), rev["data"]):
                    return existing, collision
                collision += 1
        raise ValueError(f"statefulset {key_of(sts)}: no free revision name after 100 tries")

    async def _truncate_history(
        self, sts: Obj, pods: list[Obj], revisions: list[Obj], status: Obj
    ) -> None:
        live = {pod_revision(p) for p in pods}
        live |= {str(status.get("currentRevision") or ""), str(status.get("updateRevision") or "")}
        limit = (sts.get("spec") or {}).get("revisionHistoryLimit")
        limit = limit if isinstance(limit, int) else 10
        for rev in history.revisions_to_truncate(revisions, live, limit):
            m = rev["metadata"]
            if not m.get("uid"):
                continue
            try:
                await self.client.delete(
                    CONTROLLERREVISIONS, m["name"], namespace=m["namespace"],
                    preconditions={"uid": m["uid"]},
                )  # fmt: skip
            except (NotFound, Conflict):
                pass

    # --- doing the plan ------------------------------------------------------------------

    async def _execute(
        self, key: str, sts: Obj, update: Obj, plan: Plan, claims: Mapping[str, Obj]
    ) -> None:
        monotonic = (sts.get("spec") or {}).get("podManagementPolicy") != "Parallel"
        update_set = history.apply_revision(sts, update)

        def one(action: str, pod: Obj) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                if action == "create":
                    await self._create_pod(key, sts, pod, claims)
                elif action == "delete":
                    await self._delete_pod(key, sts, pod)
                elif action == "claims":
                    await self._create_claims(sts, pod, claims)
                elif action == "fix":
                    await self._fix_pod(sts, update_set, pod, claims)
                elif action == "condemned-claims":
                    await self._fix_claims(update_set, pod, claims)

            return run

        phases: list[list[tuple[str, Obj]]] = [
            plan.replica_actions,
            [("condemned-claims", p) for p in plan.condemned_claims],
            [("delete", p) for p in plan.condemned_deletes],
            [("delete", plan.update_delete)] if plan.update_delete is not None else [],
        ]
        for phase in phases:
            if not phase:
                continue
            if monotonic or len(phase) == 1:
                for action, pod in phase:
                    await one(action, pod)()
                continue
            fns = iter([one(a, p) for a, p in phase])

            def next_fn(it: Iterator[Callable[[], Awaitable[None]]] = fns) -> Awaitable[None]:
                return next(it)()

            _, err = await slow_start_batch(len(phase), SLOW_START_INITIAL_BATCH_SIZE, next_fn)
            if err is not None:
                raise err

    def _event(self, sts: Obj, type_: str, reason: str, message: str) -> None:
        self.recorder.event(sts, type_, reason, message, kind=_KIND, api_version=_API_VERSION)

    def _pod_event_record(self, verb: str, sts: Obj, pod: Obj, err: BaseException | None) -> None:
        """upstream ``recordPodEvent``."""
        if err is None:
            self._event(sts, NORMAL, f"Successful{verb.title()}",
                        f"{verb} Pod {_name(pod)} in StatefulSet {_name(sts)} successful")  # fmt: skip
        else:
            self._event(sts, WARNING, f"Failed{verb.title()}",
                        f"{verb} Pod {_name(pod)} in StatefulSet {_name(sts)} failed error: {err}")  # fmt: skip

    async def _create_claims(self, sts: Obj, pod: Obj, claims: Mapping[str, Obj]) -> None:
        """upstream ``createPersistentVolumeClaims``: the pod's missing claims."""
        errors: list[str] = []
        ns = str(sts["metadata"].get("namespace") or "")
        for claim in claims_for(sts, ordinal_of(pod)).values():
            cname = _name(claim)
            existing = claims.get(cname)
            if existing is not None:
                if (existing.get("metadata") or {}).get("deletionTimestamp"):
                    errors.append(f"pvc {cname} is being deleted")
                continue
            refs = updated_claim_refs(claim, sts, pod)
            if refs:
                claim["metadata"]["ownerReferences"] = refs
            try:
                await self.client.create(PERSISTENTVOLUMECLAIMS, claim, namespace=ns)
            except AlreadyExists:
                continue
            except ApiError as e:
                errors.append(f"failed to create PVC {cname}: {e}")
                self._event(sts, WARNING, "FailedCreate",
                            f"create Claim {cname} for Pod {_name(pod)} in StatefulSet "
                            f"{_name(sts)} failed error: {e}")  # fmt: skip
                continue
            self._event(sts, NORMAL, "SuccessfulCreate",
                        f"create Claim {cname} Pod {_name(pod)} in StatefulSet {_name(sts)} success")  # fmt: skip
        if errors:
            raise ValueError("; ".join(errors))

    async def _create_pod(self, key: str, sts: Obj, pod: Obj, claims: Mapping[str, Obj]) -> None:
        """upstream ``CreateStatefulPod``: claims first, then the pod."""
        try:
            await self._create_claims(sts, pod, claims)
        except (ApiError, ValueError) as e:
            self._pod_event_record("create", sts, pod, e)
            raise
        ns = str(sts["metadata"].get("namespace") or "")
        try:
            await self.client.create(PODS, pod, namespace=ns)
        except AlreadyExists:
            # our cache is behind: the pod is there, wait for the informer
            self._created.setdefault(key, {})[_name(pod)] = self.clock.now()
            return
        except ApiError as e:
            if any(c.get("type") == "NamespaceTerminating" for c in e.causes):
                return
            self._pod_event_record("create", sts, pod, e)
            raise
        if self.pods.get(f"{ns}/{_name(pod)}") is None:
            self._created.setdefault(key, {})[_name(pod)] = self.clock.now()
        self._pod_event_record("create", sts, pod, None)

    async def _delete_pod(self, key: str, sts: Obj, pod: Obj) -> None:
        m = pod["metadata"]
        try:
            await self.client.delete(
                PODS, m["name"], namespace=m["namespace"], preconditions={"uid": m["uid"]}
            )
        except (NotFound, Conflict):
            return
        except ApiError as e:
            self._pod_event_record("delete", sts, pod, e)
            raise
        self._deleted.setdefault(key, {})[str(m["uid"])] = self.clock.now()
        self._pod_event_record("delete", sts, pod, None)

    async def _fix_claims(self, sts: Obj, pod: Obj, claims: Mapping[str, Obj]) -> None:
        """upstream ``UpdatePodClaimForRetentionPolicy``."""
        for claim in claims_for(sts, ordinal_of(pod)).values():
            pvc = claims.get(_name(claim))
            if pvc is None or claim_owner_up_to_date(pvc, sts, pod):
                continue
            if _unexpected_controller(pvc, sts, pod):
                self._event(sts, WARNING, "ConflictingController",
                            f"PersistentVolumeClaim {_name(pvc)} has a conflicting OwnerReference "
                            "that acts as a managing controller, the retention policy is ignored "
                            "for this claim")  # fmt: skip
            pm = pvc["metadata"]
            patch = {
                "metadata": {
                    "resourceVersion": pm.get("resourceVersion"),
                    "ownerReferences": updated_claim_refs(pvc, sts, pod),
                }
            }
            await self.client.patch(
                PERSISTENTVOLUMECLAIMS, pm["name"], patch, namespace=pm["namespace"]
            )

    async def _fix_pod(
        self, sts: Obj, update_set: Obj, pod: Obj, claims: Mapping[str, Obj]
    ) -> None:
        """upstream ``UpdateStatefulPod`` (identity labels and claims; volumes are
        immutable, so storage is fixed by creating the claims only)."""
        if not storage_matches(sts, pod):
            await self._create_claims(sts, pod, claims)
        if not claims_match_policy(update_set, pod, claims):
            await self._fix_claims(update_set, pod, claims)
        if identity_matches(sts, pod):
            return
        fixed = copy.deepcopy(pod)
        _update_identity(sts, fixed)
        m = pod["metadata"]
        patch = {
            "metadata": {
                "resourceVersion": m.get("resourceVersion"),
                "labels": fixed["metadata"]["labels"],
            }
        }
        try:
            await self.client.patch(PODS, m["name"], patch, namespace=m["namespace"])
        except ApiError as e:
            self._pod_event_record("update", sts, pod, e)
            raise
        self._pod_event_record("update", sts, pod, None)

    # --- status --------------------------------------------------------------------------

    async def _write_status(self, sts: Obj, status: Obj) -> None:
        old = sts.get("status") or {}
        if not status_differs(old, status):
            return
        current = sts
        for attempt in range(STATUS_UPDATE_RETRIES + 1):
            new = dict(current)
            new["status"] = status
            try:
                await self.client.replace_status(STATEFULSETS, new)
                return
            except Conflict:
                if attempt >= STATUS_UPDATE_RETRIES:
                    raise
                m = sts["metadata"]
                current = await self.client.get(STATEFULSETS, m["name"], namespace=m["namespace"])
                if _int(current["metadata"].get("generation")) != status.get("observedGeneration"):
                    return  # the spec moved on: the next sync writes a fresh status


def _mark_deleting(pod: Obj) -> Obj:
    """A view of a pod we deleted whose deletion the cache has not shown yet."""
    out = dict(pod)
    out["metadata"] = {**(pod.get("metadata") or {}), "deletionTimestamp": "pending"}
    return out
