"""The PersistentVolume controller: binds claims to volumes (``persistentvolume-binder``).

Upstream's ``pkg/controller/volume/persistentvolume`` (event source
``persistentvolume-controller``), without in-tree volume plugins: every
provisioner is "external" (pinnace's own :mod:`pinnace.controllers.localpath`
among them) and is asked for a volume through the claim's
``volume.kubernetes.io/storage-provisioner`` annotation.

Claims (``syncClaim``):

* an unbound claim without ``spec.volumeName`` gets the smallest Available
  volume that fits (:func:`find_matching_volume`: storage class, access modes a
  subset, capacity ≥ request, volume mode, label selector; a volume whose
  ``claimRef`` already names the claim wins outright). A claim whose class binds
  ``WaitForFirstConsumer`` is never matched here: the scheduler chooses (it
  pre-binds a volume through ``claimRef`` or asks for provisioning with the
  ``volume.kubernetes.io/selected-node`` annotation). Without a match: the
  class's provisioner is asked (``ExternalProvisioning``), or, for a delayed
  claim not yet scheduled, ``WaitForFirstConsumer``, or, without a class,
  ``FailedBinding``; the claim stays ``Pending`` and is looked at again every
  :data:`RESYNC_PERIOD` seconds and whenever a volume becomes Available;
* a claim with ``spec.volumeName`` (pre-bound by the user) binds to that volume
  if it is free and compatible;
* binding writes the volume's ``claimRef`` (+ ``bound-by-controller``), its
  phase ``Bound``, the claim's ``volumeName`` (+ ``bind-completed``,
  ``bound-by-controller``) and its status (phase ``Bound``, capacity, access
  modes), in upstream's order, so that a crash in between is healed by the next
  sync;
* a bound claim whose volume is gone, or bound elsewhere, is ``Lost``.

Volumes (``syncVolume``): no ``claimRef`` → ``Available``; the claim gone (or
replaced: another uid) → ``Released`` and the reclaim policy: ``Retain`` keeps
it, ``Delete`` deletes it — unless a provisioner made it
(``pv.kubernetes.io/provisioned-by``), then that provisioner deletes its
storage and the object; ``Recycle`` is not supported (``Failed``).

Concurrency model: two work loops, claims (``namespace/name``) on the main
queue and volumes (``name``) on ``persistentvolume-binder-volumes``, one worker
each. Decisions read the informer caches; every write carries the cached
resourceVersion, so a stale cache costs a Conflict and a retry, never a double
binding (two claims racing for one volume: one write wins).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from pinnace.api.selectors import SelectorError, label_selector_from_dict
from pinnace.client import WARNING, ApiError, Conflict, NotFound, Obj, ResourceRef, key_of
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue
from pinnace.scheduler.quantity import parse_quantity
from pinnace.scheduler.selectors import NodeSelector

__all__ = [
    "ANN_BIND_COMPLETED",
    "ANN_BOUND_BY_CONTROLLER",
    "ANN_PROVISIONED_BY",
    "ANN_SELECTED_NODE",
    "ANN_STORAGE_PROVISIONER",
    "NO_PROVISIONER",
    "PVCS",
    "PVS",
    "STORAGE_CLASSES",
    "PersistentVolumeController",
    "check_access_modes",
    "claim_class",
    "claim_request",
    "find_matching_volume",
    "is_delay_binding",
    "is_volume_bound_to_claim",
    "volume_capacity",
    "volume_class",
    "volume_node_affinity_matches",
]

PVS = ResourceRef("", "v1", "persistentvolumes", False, "PersistentVolume")
PVCS = ResourceRef("", "v1", "persistentvolumeclaims", True, "PersistentVolumeClaim")
STORAGE_CLASSES = ResourceRef("storage.k8s.io", "v1", "storageclasses", False, "StorageClass")

ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
ANN_STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
ANN_BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANN_BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"
#: the provisioner of classes for pre-created (local) volumes only
NO_PROVISIONER = "kubernetes.io/no-provisioner"

#: upstream ``--pvclaimbinder-sync-period``: how often a Pending claim is looked at again
RESYNC_PERIOD = 15.0


# --- object helpers (shared with the scheduler's VolumeBinding plugin) ---------------------


def _meta(obj: Obj) -> dict[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def _spec(obj: Obj) -> dict[str, Any]:
    s = obj.get("spec")
    return s if isinstance(s, dict) else {}


def _annotations(obj: Obj) -> dict[str, str]:
    a = _meta(obj).get("annotations")
    return a if isinstance(a, dict) else {}


def _quantity(value: Any) -> Fraction | None:
    if value is None:
        return None
    try:
        return parse_quantity(str(value))
    except (ValueError, ZeroDivisionError):
        return None


def claim_class(claim: Obj) -> str:
    """upstream ``GetPersistentVolumeClaimClass``: the beta annotation wins, then
    ``spec.storageClassName``; "" for none."""
    ann = _annotations(claim)
    if ANN_BETA_STORAGE_CLASS in ann:
        return str(ann[ANN_BETA_STORAGE_CLASS])
    return str(_spec(claim).get("storageClassName") or "")


def volume_class(volume: Obj) -> str:
    """upstream ``GetPersistentVolumeClass``."""
    ann = _annotations(volume)
    if ANN_BETA_STORAGE_CLASS in ann:
        return str(ann[ANN_BETA_STORAGE_CLASS])
    return str(_spec(volume).get("storageClassName") or "")


def claim_request(claim: Obj) -> Fraction:
    """The claim's ``resources.requests.storage`` (0 when missing or malformed)."""
    req = ((_spec(claim).get("resources") or {}).get("requests") or {}).get("storage")
    return _quantity(req) or Fraction(0)


def volume_capacity(volume: Obj) -> Fraction:
    return _quantity((_spec(volume).get("capacity") or {}).get("storage")) or Fraction(0)


def check_access_modes(claim: Obj, volume: Obj) -> bool:
    """Every access mode the claim asks for is one the volume offers."""
    offered = set(_spec(volume).get("accessModes") or [])
    return all(m in offered for m in _spec(claim).get("accessModes") or [])


def _volume_mode(spec: Mapping[str, Any]) -> str:
    return str(spec.get("volumeMode") or "Filesystem")


def is_volume_bound_to_claim(volume: Obj, claim: Obj) -> bool:
    """upstream ``IsVolumeBoundToClaim``: the volume's ``claimRef`` names the claim
    (and, when it has a uid, the same uid)."""
    ref = _spec(volume).get("claimRef")
    if not isinstance(ref, dict):
        return False
    m = _meta(claim)
    if ref.get("name") != m.get("name") or (ref.get("namespace") or "") != (
        m.get("namespace") or ""
    ):
        return False
    return not ref.get("uid") or ref.get("uid") == m.get("uid")


def volume_node_affinity_matches(volume: Obj, node_labels: Mapping[str, str], node: str) -> bool:
    """The volume's ``nodeAffinity.required`` admits the node (no affinity: any node)."""
    req = (_spec(volume).get("nodeAffinity") or {}).get("required")
    if not isinstance(req, dict):
        return True
    return NodeSelector.from_terms(req.get("nodeSelectorTerms")).matches(node_labels, node)


def find_matching_volume(
    claim: Obj,
    volumes: Iterable[Obj],
    *,
    delay_binding: bool = False,
    node: tuple[str, Mapping[str, str]] | None = None,
    excluded: Iterable[str] = (),
) -> Obj | None:
    """upstream ``FindMatchingVolume``: the volume to bind ``claim`` to, or None.

    A volume pre-bound to the claim (``claimRef``) is returned at once if it fits
    the claim's size, mode and (scheduler path) node. Otherwise the smallest
    Available volume of the claim's class whose capacity covers the request,
    whose volume mode and access modes match, whose labels the claim's selector
    accepts and (with ``node``: the scheduler path) whose node affinity admits
    the node. Without a node, a ``delay_binding`` claim gets pre-bound volumes
    only: the scheduler picks the rest.
    """
    requested = claim_request(claim)
    requested_class = claim_class(claim)
    cspec = _spec(claim)
    selector = None
    if cspec.get("selector"):
        try:
            selector = label_selector_from_dict(cspec["selector"])
        except SelectorError:
            return None
    skip = set(excluded)
    best: Obj | None = None
    best_size: Fraction | None = None
    for volume in volumes:
        name = str(_meta(volume).get("name") or "")
        if name in skip:
            continue
        vspec = _spec(volume)
        size = volume_capacity(volume)
        if _volume_mode(vspec) != _volume_mode(cspec):
            continue
        if _meta(volume).get("deletionTimestamp"):
            continue
        node_ok = node is None or volume_node_affinity_matches(volume, node[1], node[0])
        if is_volume_bound_to_claim(volume, claim):
            # pre-bound (by the user, the scheduler or a provisioner): this one or none
            if size < requested or not node_ok:
                continue
            return volume
        if node is None and delay_binding:
            continue  # the scheduler binds these
        if vspec.get("claimRef"):
            continue
        if ((volume.get("status") or {}).get("phase") or "Available") != "Available":
            continue
        if selector is not None and not selector.matches(_meta(volume).get("labels") or {}):
            continue
        if volume_class(volume) != requested_class:
            continue
        if not node_ok:
            continue
        if not check_access_modes(claim, volume):
            continue
        if size >= requested and (best_size is None or size < best_size):
            best, best_size = volume, size
    return best


def is_delay_binding(claim: Obj, get_class: Any) -> bool:
    """The claim's class binds ``WaitForFirstConsumer`` (``get_class(name)`` → object)."""
    name = claim_class(claim)
    if not name:
        return False
    sc = get_class(name)
    return bool(sc) and sc.get("volumeBindingMode") == "WaitForFirstConsumer"


def _claim_ref(claim: Obj) -> Obj:
    m = _meta(claim)
    return {
        "kind": "PersistentVolumeClaim",
        "apiVersion": "v1",
        "namespace": m.get("namespace", ""),
        "name": m.get("name", ""),
        "uid": m.get("uid", ""),
        "resourceVersion": m.get("resourceVersion", ""),
    }


def _claim_key_of_volume(volume: Obj) -> str | None:
    ref = _spec(volume).get("claimRef")
    if not isinstance(ref, dict) or not ref.get("name"):
        return None
    return f"{ref.get('namespace') or ''}/{ref['name']}"


def _phase(obj: Obj) -> str:
    return str((obj.get("status") or {}).get("phase") or "")


# --- the controller ---------------------------------------------------------------------


class PersistentVolumeController(Controller):
    NAME = "persistentvolume-binder"
    EVENT_COMPONENT = "persistentvolume-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.claims = self.informer(PVCS)
        self.volumes = self.informer(PVS)
        self.classes = self.informer(STORAGE_CLASSES)
        self.volume_queue = self.add_work_loop(f"{self.NAME}-volumes", self.sync_volume)
        self.claims.add_event_handler(
            on_add=self.enqueue,
            on_update=lambda _old, new: self.enqueue(new),
            on_delete=self._on_claim_delete,
        )
        self.volumes.add_event_handler(
            on_add=self._on_volume,
            on_update=lambda _old, new: self._on_volume(new),
            on_delete=self._on_volume,
        )
        self.classes.add_event_handler(
            on_add=lambda _sc: self._enqueue_unbound_claims(),
            on_update=lambda _old, _new: self._enqueue_unbound_claims(),
        )

    # --- event handlers ------------------------------------------------------------------

    def _on_claim_delete(self, claim: Obj) -> None:
        self.enqueue(claim)
        volume = _spec(claim).get("volumeName")
        if volume:
            self.volume_queue.add(str(volume))
        for pv in self.volumes.list():
            if is_volume_bound_to_claim(pv, claim):
                self.volume_queue.add(str(_meta(pv).get("name")))

    def _on_volume(self, volume: Obj) -> None:
        self.volume_queue.add(str(_meta(volume).get("name")))
        key = _claim_key_of_volume(volume)
        if key is not None:
            self.queue.add(key)
        elif _phase(volume) in ("", "Available", "Pending"):
            self._enqueue_unbound_claims()

    def _enqueue_unbound_claims(self) -> None:
        for claim in self.claims.list():
            if ANN_BIND_COMPLETED not in _annotations(claim):
                self.queue.add(key_of(claim))

    def _class(self, name: str) -> Obj | None:
        return self.classes.get(name) if name else None

    # --- claims --------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Requeue | None:
        claim = self.claims.get(key)
        if claim is None or _meta(claim).get("deletionTimestamp"):
            return None
        if ANN_BIND_COMPLETED not in _annotations(claim):
            return await self._sync_unbound_claim(claim)
        return await self._sync_bound_claim(claim)

    async def _sync_unbound_claim(self, claim: Obj) -> Requeue | None:
        volume_name = str(_spec(claim).get("volumeName") or "")
        if not volume_name:
            delay = is_delay_binding(claim, self._class)
            volume = find_matching_volume(claim, self.volumes.list(), delay_binding=delay)
            if volume is not None:
                return await self._bind(volume, claim)
            class_name = claim_class(claim)
            if delay and ANN_SELECTED_NODE not in _annotations(claim):
                self.recorder.event(
                    claim, "Normal", "WaitForFirstConsumer",
                    "waiting for first consumer to be created before binding",
                    kind="PersistentVolumeClaim", api_version="v1",
                )  # fmt: skip
                await self._claim_status(claim, "Pending")
                return None  # the scheduler's selected-node (a claim update) wakes us
            if class_name:
                await self._provision(claim, class_name)
            else:
                self.recorder.event(
                    claim, "Normal", "FailedBinding",
                    "no persistent volumes available for this claim and no storage class is set",
                    kind="PersistentVolumeClaim", api_version="v1",
                )  # fmt: skip
            await self._claim_status(claim, "Pending")
            return Requeue(after=RESYNC_PERIOD)
        # pre-bound by the user (or bound by us before a crash)
        volume = self.volumes.get(volume_name)
        if volume is None:
            await self._claim_status(claim, "Pending")
            return Requeue(after=RESYNC_PERIOD)
        ref = _spec(volume).get("claimRef")
        if not ref:
            mismatch = self._mismatch(volume, claim)
            if mismatch:
                self.recorder.eventf(
                    claim, WARNING, "VolumeMismatch",
                    "Cannot bind to requested volume %q: %s", volume_name, mismatch,
                    kind="PersistentVolumeClaim", api_version="v1",
                )  # fmt: skip
                await self._claim_status(claim, "Pending")
                return Requeue(after=RESYNC_PERIOD)
            return await self._bind(volume, claim)
        if is_volume_bound_to_claim(volume, claim):
            return await self._bind(volume, claim)
        self.recorder.eventf(
            claim, WARNING, "FailedBinding",
            "volume %q already bound to a different claim.", volume_name,
            kind="PersistentVolumeClaim", api_version="v1",
        )  # fmt: skip
        await self._claim_status(claim, "Pending")
        return Requeue(after=RESYNC_PERIOD)

    def _mismatch(self, volume: Obj, claim: Obj) -> str:
        """upstream ``checkVolumeSatisfyClaim``: why ``volume`` cannot serve ``claim``."""
        if volume_capacity(volume) < claim_request(claim):
            return "requested PV is too small"
        if volume_class(volume) != claim_class(claim):
            return "storageClassName does not match"
        if _volume_mode(_spec(volume)) != _volume_mode(_spec(claim)):
            return "incompatible volumeMode"
        if not check_access_modes(claim, volume):
            return "incompatible accessMode"
        return ""

    async def _provision(self, claim: Obj, class_name: str) -> None:
        sc = self._class(class_name)
        if sc is None:
            self.recorder.eventf(
                claim, WARNING, "ProvisioningFailed",
                'storageclass.storage.k8s.io "%s" not found', class_name,
                kind="PersistentVolumeClaim", api_version="v1",
            )  # fmt: skip
            return
        provisioner = str(sc.get("provisioner") or "")
        if provisioner == NO_PROVISIONER:
            self.recorder.eventf(
                claim, WARNING, "ProvisioningFailed", "no volume plugin matched name: %s",
                provisioner, kind="PersistentVolumeClaim", api_version="v1",
            )  # fmt: skip
            return
        ann = _annotations(claim)
        if ann.get(ANN_STORAGE_PROVISIONER) != provisioner:
            patch = {
                "metadata": {
                    "resourceVersion": _meta(claim).get("resourceVersion"),
                    "annotations": {
                        ANN_STORAGE_PROVISIONER: provisioner,
                        ANN_BETA_STORAGE_PROVISIONER: provisioner,
                    },
                }
            }
            m = _meta(claim)
            try:
                await self.client.patch(PVCS, m["name"], patch, namespace=m["namespace"])
            except (Conflict, NotFound):
                return  # the next sync (the update's event) looks again
        self.recorder.eventf(
            claim, "Normal", "ExternalProvisioning",
            "Waiting for a volume to be created either by the external provisioner '%s' or "
            "manually by the system administrator. If volume creation is delayed, please verify "
            "that the provisioner is running and correctly registered.", provisioner,
            kind="PersistentVolumeClaim", api_version="v1",
        )  # fmt: skip

    async def _bind(self, volume: Obj, claim: Obj) -> Requeue | None:
        """upstream ``bind``: volume → claimRef, volume phase, claim → volumeName, claim status."""
        try:
            volume = await self._bind_volume_to_claim(volume, claim)
            if _phase(volume) != "Bound":
                volume = await self._volume_status(volume, "Bound")
            claim = await self._bind_claim_to_volume(claim, volume)
            await self._claim_status(claim, "Bound", volume)
        except (Conflict, NotFound):
            return Requeue(after=0.2)  # a cache was behind: look again shortly
        self.log.log(
            DETAIL, "%s: bound claim %s to volume %s", self.NAME, key_of(claim),
            _meta(volume).get("name"),
        )  # fmt: skip
        return None

    async def _bind_volume_to_claim(self, volume: Obj, claim: Obj) -> Obj:
        ref = _spec(volume).get("claimRef")
        want = _claim_ref(claim)
        if isinstance(ref, dict) and ref.get("uid") == want["uid"] and ref.get("name"):
            return volume
        new = copy.deepcopy(volume)
        new.setdefault("spec", {})["claimRef"] = want
        if not isinstance(ref, dict) or not ref.get("name"):
            new["metadata"].setdefault("annotations", {})[ANN_BOUND_BY_CONTROLLER] = "yes"
        result: Obj = await self.client.replace(PVS, new)
        return result

    async def _bind_claim_to_volume(self, claim: Obj, volume: Obj) -> Obj:
        name = str(_meta(volume).get("name"))
        ann = _annotations(claim)
        if _spec(claim).get("volumeName") == name and ANN_BIND_COMPLETED in ann:
            return claim
        new = copy.deepcopy(claim)
        annotations = new["metadata"].setdefault("annotations", {})
        if _spec(claim).get("volumeName") != name:
            new.setdefault("spec", {})["volumeName"] = name
            annotations[ANN_BOUND_BY_CONTROLLER] = "yes"
        annotations[ANN_BIND_COMPLETED] = "yes"
        result: Obj = await self.client.replace(PVCS, new)
        return result

    async def _claim_status(self, claim: Obj, phase: str, volume: Obj | None = None) -> Obj:
        """upstream ``updateClaimStatus``: the phase, and the volume's capacity and access
        modes when bound (none otherwise)."""
        status = claim.get("status") or {}
        want: dict[str, Any] = {"phase": phase}
        if volume is not None:
            want["accessModes"] = list(_spec(volume).get("accessModes") or [])
            want["capacity"] = dict(_spec(volume).get("capacity") or {})
        else:
            want["accessModes"] = None
            want["capacity"] = None
        if all(status.get(k) == v for k, v in want.items()):
            return claim
        m = _meta(claim)
        try:
            result: Obj = await self.client.patch_status(
                PVCS, m["name"], {"status": want}, namespace=m["namespace"]
            )
        except NotFound:
            return claim
        return result

    async def _sync_bound_claim(self, claim: Obj) -> Requeue | None:
        volume_name = str(_spec(claim).get("volumeName") or "")
        if not volume_name:
            await self._lost(claim, "Bound claim has lost reference to PersistentVolume. "
                             "Data on the volume is lost!")  # fmt: skip
            return None
        volume = self.volumes.get(volume_name)
        if volume is None:
            await self._lost(
                claim, "Bound claim has lost its PersistentVolume. Data on the volume is lost!"
            )
            return None
        ref = _spec(volume).get("claimRef")
        if not isinstance(ref, dict) or not ref.get("name"):
            return await self._bind(volume, claim)  # the volume lost its claimRef: restore it
        if ref.get("uid") == _meta(claim).get("uid"):
            return await self._bind(volume, claim)  # no-op when complete
        # the volume is bound to another claim
        self.recorder.event(
            claim, WARNING, "ClaimMisbound",
            "Two claims are bound to the same volume, this one is bound incorrectly",
            kind="PersistentVolumeClaim", api_version="v1",
        )  # fmt: skip
        await self._claim_status(claim, "Lost")
        return None

    async def _lost(self, claim: Obj, message: str) -> None:
        if _phase(claim) != "Lost":
            self.recorder.event(
                claim, WARNING, "ClaimLost", message,
                kind="PersistentVolumeClaim", api_version="v1",
            )  # fmt: skip
        await self._claim_status(claim, "Lost")

    # --- volumes -------------------------------------------------------------------------

    async def _volume_status(
        self, volume: Obj, phase: str, reason: str = "", message: str = ""
    ) -> Obj:
        status = volume.get("status") or {}
        if (
            status.get("phase") == phase
            and (status.get("reason") or "") == reason
            and (status.get("message") or "") == message
        ):
            return volume
        new = copy.deepcopy(volume)
        st: dict[str, Any] = {"phase": phase}
        if reason:
            st["reason"] = reason
        if message:
            st["message"] = message
        new["status"] = st
        result: Obj = await self.client.replace_status(PVS, new)
        return result

    async def sync_volume(self, name: str) -> Requeue | None:
        volume = self.volumes.get(name)
        if volume is None or _meta(volume).get("deletionTimestamp"):
            return None
        try:
            return await self._sync_volume(volume)
        except (Conflict, NotFound):
            return Requeue(after=0.2)

    async def _sync_volume(self, volume: Obj) -> Requeue | None:
        ref = _spec(volume).get("claimRef")
        if not isinstance(ref, dict) or not ref.get("name"):
            await self._volume_status(volume, "Available")
            return None
        key = f"{ref.get('namespace') or ''}/{ref['name']}"
        claim = self.claims.get(key)
        if claim is None and ref.get("uid"):
            # a provisioner or the scheduler may have bound the volume to a claim our
            # cache has not seen yet: ask the API server before reclaiming anything
            try:
                claim = await self.client.get(PVCS, ref["name"], namespace=ref.get("namespace"))
            except NotFound:
                claim = None
        if claim is not None and ref.get("uid") and _meta(claim).get("uid") != ref.get("uid"):
            claim = None  # deleted and created again: not ours
        if claim is None:
            if not ref.get("uid"):
                # pre-bound to a claim that does not exist yet
                await self._volume_status(volume, "Available")
                return None
            if _phase(volume) not in ("Released", "Failed"):
                volume = await self._volume_status(volume, "Released")
            return await self._reclaim(volume)
        if not _spec(claim).get("volumeName"):
            # binding in progress (or a dangling pre-binding): the claim's sync finishes it
            if not ref.get("uid"):
                await self._volume_status(volume, "Available")
            self.queue.add(key)
            return None
        if _spec(claim).get("volumeName") == _meta(volume).get("name"):
            await self._volume_status(volume, "Bound")
            return None
        # the claim is bound to another volume
        if ANN_BOUND_BY_CONTROLLER in _annotations(volume):
            if _phase(volume) == "Released" or (
                ANN_PROVISIONED_BY in _annotations(volume)
                and _spec(volume).get("persistentVolumeReclaimPolicy") == "Delete"
            ):
                if _phase(volume) != "Released":
                    volume = await self._volume_status(volume, "Released")
                return await self._reclaim(volume)
            await self._unbind(volume)
        return None

    async def _unbind(self, volume: Obj) -> None:
        new = copy.deepcopy(volume)
        if ANN_BOUND_BY_CONTROLLER in _annotations(volume):
            new["spec"].pop("claimRef", None)
            new["metadata"]["annotations"].pop(ANN_BOUND_BY_CONTROLLER, None)
        else:
            new["spec"]["claimRef"].pop("uid", None)  # user pre-binding: keep the name
        result = await self.client.replace(PVS, new)
        await self._volume_status(result, "Available")

    async def _reclaim(self, volume: Obj) -> Requeue | None:
        policy = _spec(volume).get("persistentVolumeReclaimPolicy") or "Retain"
        name = str(_meta(volume).get("name"))
        if policy == "Retain":
            return None
        if policy == "Recycle":
            if _phase(volume) != "Failed":
                self.recorder.event(
                    volume, WARNING, "VolumeFailedRecycle",
                    "No recycler plugin found for the volume!",
                    kind="PersistentVolume", api_version="v1",
                )  # fmt: skip
                await self._volume_status(volume, "Failed", "", "no recycler plugin found")
            return None
        # Delete
        if ANN_PROVISIONED_BY in _annotations(volume):
            return None  # its provisioner deletes the storage, then the object
        try:
            await self.client.delete(
                PVS, name, preconditions={"uid": str(_meta(volume).get("uid"))}
            )
        except NotFound:
            pass
        except Conflict:
            return Requeue(after=0.2)
        except ApiError as e:
            self.recorder.eventf(
                volume, WARNING, "VolumeFailedDelete", "%s", e.message,
                kind="PersistentVolume", api_version="v1",
            )  # fmt: skip
            raise
        self.log.log(DETAIL, "%s: deleted released volume %s", self.NAME, name)
        return None
