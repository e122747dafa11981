"""The disruption controller: the status of every PodDisruptionBudget.

Upstream's ``pkg/controller/disruption``. For a PDB, from the pods its selector
picks in its namespace (policy/v1: an empty selector picks every pod):

* ``expectedPods`` and ``desiredHealthy``: with an integer ``minAvailable``,
  the number of pods and ``minAvailable``; with a percentage
  ``minAvailable`` or with ``maxUnavailable``, the summed ``replicas`` of the
  pods' controllers (ReplicaSet — or its Deployment —, ReplicationController,
  StatefulSet), scaled and rounded up as upstream; a pod without a controller
  then makes the status fail safe (``disruptionsAllowed: 0``, condition reason
  ``SyncFailed``) with a ``NoControllerRef``/``NoControllers`` event;
* ``currentHealthy``: Ready pods that are not being deleted and not in
  ``disruptedPods`` (pods the eviction API let go in the last
  :data:`DELETION_TIMEOUT` seconds; older entries are dropped);
* ``disruptionsAllowed`` = currentHealthy - desiredHealthy (never below 0, and
  0 while no pod is expected), ``observedGeneration``, and the
  ``DisruptionAllowed`` condition (``SufficientPods``/``InsufficientPods``).

:func:`compute_status` is the pure part (unit-tested). The eviction subresource
in the API server reads this status and decrements ``disruptionsAllowed``.

Concurrency model: the base's work queue keyed by the PDB's ``namespace/name``;
pod events enqueue the PDBs of the pod's namespace whose selector matches it,
controller (ReplicaSet, Deployment, …) events the PDBs of their namespace. A
``disruptedPods`` entry that will expire makes the PDB be looked at again then.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pinnace.api.selectors import LabelSelector, SelectorError, label_selector_from_dict
from pinnace.client import NORMAL, PODS, WARNING, Conflict, NotFound, Obj, ResourceRef, key_of
from pinnace.client.events import format_time
from pinnace.controllers.base import Controller, ControllerContext, Requeue
from pinnace.controllers.controller_utils import controller_ref_of, is_pod_ready, parse_time

__all__ = [
    "DELETION_TIMEOUT",
    "PDBS",
    "DisruptionController",
    "ExpectedPodsError",
    "PdbStatus",
    "compute_status",
    "scaled_value",
]

PDBS = ResourceRef("policy", "v1", "poddisruptionbudgets", True, "PodDisruptionBudget")
REPLICASETS = ResourceRef("apps", "v1", "replicasets", True, "ReplicaSet")
DEPLOYMENTS = ResourceRef("apps", "v1", "deployments", True, "Deployment")
STATEFULSETS = ResourceRef("apps", "v1", "statefulsets", True, "StatefulSet")
REPLICATIONCONTROLLERS = ResourceRef(
    "", "v1", "replicationcontrollers", True, "ReplicationController"
)
#: upstream ``DeletionTimeout``: how long an evicted pod may take to get its deletionTimestamp
DELETION_TIMEOUT = 120.0
CONDITION = "DisruptionAllowed"
#: upstream leaves the condition's message empty; pinnace's API schema requires one
#: (an empty required string would make every later update of the PDB invalid)
SUFFICIENT_MESSAGE = "Enough pods are healthy to allow a disruption"
INSUFFICIENT_MESSAGE = "Not enough pods are healthy to allow a disruption"


class ExpectedPodsError(Exception):
    """The expected pod count cannot be computed (a pod without a controller...)."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``."""
    if isinstance(value, int):
        return value
    s = str(value)
    if not s.endswith("%"):
        try:
            return int(s)
        except ValueError:
            raise ExpectedPodsError(f"invalid value for IntOrString: invalid value {s!r}") from None
    try:
        pct = int(s[:-1])
    except ValueError:
        raise ExpectedPodsError(f"invalid value for IntOrString: invalid value {s!r}") from None
    exact = pct * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


@dataclass
class PdbStatus:
    """What :func:`compute_status` decided (``error`` set: fail safe)."""

    expected: int = 0
    desired: int = 0
    healthy: int = 0
    allowed: int = 0
    disrupted: dict[str, str] = field(default_factory=dict)
    #: seconds until the next disruptedPods entry expires (None: none will)
    recheck: float | None = None
    error: ExpectedPodsError | None = None


def compute_status(
    pdb: Obj,
    pods: list[Obj],
    scale_of: Mapping[str, int | None],
    now: datetime,
) -> PdbStatus:
    """The PDB's status from its pods. ``scale_of`` maps ``namespace/uid`` of a pod's
    controller reference to the controller's scale (None: unknown controller)."""
    spec = pdb.get("spec") or {}
    out = PdbStatus()
    # disruptedPods: keep entries of pods that exist, are not being deleted, and are young
    old = (pdb.get("status") or {}).get("disruptedPods") or {}
    by_name = {str(p["metadata"]["name"]): p for p in pods}
    for name, stamp in old.items():
        pod = by_name.get(name)
        if pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        t = parse_time(stamp)
        if t is None:
            continue
        expires = t + timedelta(seconds=DELETION_TIMEOUT)
        if expires < now:
            continue  # the eviction never happened: count the pod again
        out.disrupted[name] = str(stamp)
        left = (expires - now).total_seconds()
        out.recheck = left if out.recheck is None else min(out.recheck, left)
    out.healthy = sum(
        1
        for p in pods
        if not (p.get("metadata") or {}).get("deletionTimestamp")
        and str(p["metadata"]["name"]) not in out.disrupted
        and is_pod_ready(p)
    )
    try:
        max_u = spec.get("maxUnavailable")
        min_a = spec.get("minAvailable")
        if max_u is not None:
            out.expected = _expected_scale(pods, scale_of)
            out.desired = max(0, out.expected - scaled_value(max_u, out.expected, True))
        elif isinstance(min_a, int):
            out.expected = len(pods)
            out.desired = min_a
        elif min_a is not None:
            out.expected = _expected_scale(pods, scale_of)
            out.desired = scaled_value(min_a, out.expected, True)
    except ExpectedPodsError as e:
        out.error = e
        out.allowed = 0
        return out
    out.allowed = out.healthy - out.desired
    if out.expected <= 0 or out.allowed <= 0:
        out.allowed = 0
    return out


def _expected_scale(pods: list[Obj], scale_of: Mapping[str, int | None]) -> int:
    seen: dict[str, int] = {}
    for pod in pods:
        m = pod.get("metadata") or {}
        ref = controller_ref_of(pod)
        if ref is None:
            raise ExpectedPodsError(
                f'found no controller ref for pod "{m.get("name")}"', "NoControllerRef"
            )
        key = f"{m.get('namespace', '')}/{ref.get('uid', '')}"
        if key in seen:
            continue
        scale = scale_of.get(key)
        if scale is None:
            raise ExpectedPodsError(
                f'found no controllers for pod "{m.get("name")}"', "NoControllers"
            )
        seen[key] = scale
    return sum(seen.values())


class DisruptionController(Controller):
    NAME = "disruption"
    EVENT_COMPONENT = "controllermanager"
    WORKERS = 1

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.pdbs = self.informer(PDBS)
        self.enqueue_handlers(self.pdbs)
        self.pods = self.informer(PODS)
        self.pods.add_event_handler(
            on_add=self._on_pod, on_update=self._on_pod_update, on_delete=self._on_pod
        )
        self.replicasets = self.informer(REPLICASETS)
        self.deployments = self.informer(DEPLOYMENTS)
        self.statefulsets = self.informer(STATEFULSETS)
        self.rcs = self.informer(REPLICATIONCONTROLLERS)
        for inf in (self.replicasets, self.deployments, self.statefulsets, self.rcs):
            inf.add_event_handler(
                on_add=self._on_owner,
                on_update=lambda old, new: (
                    self._on_owner(new) if _replicas(old) != _replicas(new) else None
                ),
                on_delete=self._on_owner,
            )
        self._selectors: dict[str, LabelSelector | None] = {}

    # --- event handlers ------------------------------------------------------------------

    def _selector(self, pdb: Obj) -> LabelSelector | None:
        raw = repr((pdb.get("spec") or {}).get("selector"))
        if raw not in self._selectors:
            if len(self._selectors) > 10_000:
                self._selectors.clear()
            try:
                self._selectors[raw] = label_selector_from_dict(
                    (pdb.get("spec") or {}).get("selector")
                )
            except SelectorError:
                self._selectors[raw] = None
        return self._selectors[raw]

    def _pdbs_for(self, pod: Obj) -> Iterable[str]:
        m = pod.get("metadata") or {}
        labels = m.get("labels") or {}
        for pdb in self.pdbs.by_index("namespace", str(m.get("namespace") or "")):
            sel = self._selector(pdb)
            if sel is not None and sel.matches(labels):
                yield key_of(pdb)

    def _on_pod(self, pod: Obj) -> None:
        for key in self._pdbs_for(pod):
            self.queue.add(key)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        self._on_pod(new)
        if (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"):
            self._on_pod(old)

    def _on_owner(self, owner: Obj) -> None:
        ns = str((owner.get("metadata") or {}).get("namespace") or "")
        for pdb in self.pdbs.by_index("namespace", ns):
            self.queue.add(key_of(pdb))

    # --- scale ---------------------------------------------------------------------------

    def _scales(self, pods: list[Obj]) -> dict[str, int | None]:
        """Scale of each pod's controller (``namespace/uid`` -> replicas; None: unknown),
        as upstream's finders: ReplicaSet (its Deployment's when it has one), RC,
        StatefulSet."""
        out: dict[str, int | None] = {}
        for pod in pods:
            ref = controller_ref_of(pod)
            if ref is None:
                continue
            ns = str(pod["metadata"].get("namespace") or "")
            key = f"{ns}/{ref.get('uid', '')}"
            if key in out:
                continue
            out[key] = self._scale_of(ns, ref)
        return out

    def _scale_of(self, ns: str, ref: Mapping[str, Any]) -> int | None:
        kind, name, uid = ref.get("kind"), ref.get("name"), ref.get("uid")
        api_group = str(ref.get("apiVersion") or "").rpartition("/")[0]
        if kind == "ReplicaSet" and api_group == "apps":
            rs = self._owned(self.replicasets.get(f"{ns}/{name}"), uid)
            if rs is None:
                return None
            dref = controller_ref_of(rs)
            if dref is not None and dref.get("kind") == "Deployment":
                d = self._owned(self.deployments.get(f"{ns}/{dref.get('name')}"), dref.get("uid"))
                if d is not None:
                    return _replicas(d)
            return _replicas(rs)
        if kind == "ReplicationController" and api_group == "":
            return _opt_replicas(self._owned(self.rcs.get(f"{ns}/{name}"), uid))
        if kind == "StatefulSet" and api_group == "apps":
            return _opt_replicas(self._owned(self.statefulsets.get(f"{ns}/{name}"), uid))
        if kind == "Deployment" and api_group == "apps":
            return _opt_replicas(self._owned(self.deployments.get(f"{ns}/{name}"), uid))
        return None

    @staticmethod
    def _owned(obj: Obj | None, uid: Any) -> Obj | None:
        if obj is None or (obj.get("metadata") or {}).get("uid") != uid:
            return None
        return obj

    # --- reconcile -----------------------------------------------------------------------

    async def reconcile(self, key: str) -> Requeue | None:
        pdb = self.pdbs.get(key)
        if pdb is None:
            return None
        sel = self._selector(pdb)
        ns = str(pdb["metadata"].get("namespace") or "")
        pods = [
            p
            for p in self.pods.by_index("namespace", ns)
            if sel is not None and sel.matches((p.get("metadata") or {}).get("labels") or {})
        ]
        if not pods:
            self.recorder.event(
                pdb, NORMAL, "NoPods", "No matching pods found",
                kind="PodDisruptionBudget", api_version="policy/v1",
            )  # fmt: skip
        now = self.clock.wall()
        result = compute_status(pdb, pods, self._scales(pods), now)
        if result.error is not None:
            reason = result.error.reason or "CalculateExpectedPodCountFailed"
            message = (
                str(result.error)
                if result.error.reason
                else f"Failed to calculate the number of expected pods: {result.error}"
            )
            self.recorder.event(
                pdb, WARNING, reason, message, kind="PodDisruptionBudget", api_version="policy/v1"
            )
        try:
            await self._write_status(pdb, result, format_time(now))
        except Conflict:
            return Requeue(after=0.1)
        except NotFound:
            return None
        if result.recheck is not None:
            return Requeue(after=result.recheck + 0.01)
        return None

    async def _write_status(self, pdb: Obj, r: PdbStatus, now: str) -> None:
        old = pdb.get("status") or {}
        generation = int(pdb["metadata"].get("generation") or 0)
        if r.error is not None:
            # fail safe: no disruption allowed while we cannot tell
            status: dict[str, Any] = copy.deepcopy(old)
            status["disruptionsAllowed"] = 0
            cond = ("False", "SyncFailed", str(r.error))
            for f in ("currentHealthy", "desiredHealthy", "expectedPods"):
                status.setdefault(f, 0)
            status.setdefault("observedGeneration", generation)
        else:
            status = {
                "currentHealthy": r.healthy,
                "desiredHealthy": r.desired,
                "expectedPods": r.expected,
                "disruptionsAllowed": r.allowed,
                "observedGeneration": generation,
            }
            if r.disrupted:
                status["disruptedPods"] = r.disrupted
            cond = (
                ("True", "SufficientPods", SUFFICIENT_MESSAGE)
                if r.allowed > 0
                else ("False", "InsufficientPods", INSUFFICIENT_MESSAGE)
            )
        conditions = [
            c
            for c in old.get("conditions") or []
            if isinstance(c, dict) and c.get("type") != CONDITION
        ]
        prev = next(
            (
                c
                for c in old.get("conditions") or []
                if isinstance(c, dict) and c.get("type") == CONDITION
            ),
            None,
        )
        new_cond = {
            "type": CONDITION,
            "status": cond[0],
            "reason": cond[1],
            "message": cond[2],
            "observedGeneration": status["observedGeneration"],
            "lastTransitionTime": (
                prev.get("lastTransitionTime", now)
                if prev and prev.get("status") == cond[0]
                else now
            ),
        }
        conditions.append(new_cond)
        status["conditions"] = conditions
        if status == old:
            return
        new = copy.deepcopy(pdb)
        new["status"] = status
        await self.client.replace_status(PDBS, new)


def _replicas(obj: Obj | None) -> int:
    if obj is None:
        return 0
    r = (obj.get("spec") or {}).get("replicas")
    return r if isinstance(r, int) else 1


def _opt_replicas(obj: Obj | None) -> int | None:
    return None if obj is None else _replicas(obj)
