"""The local-path provisioner: ``hostPath`` volumes in directories on the node.

k3s's ``local-path-provisioner`` idea as an in-process "external" provisioner
named :data:`PROVISIONER` (``pinnace.io/local-path``). It acts on claims the
PV controller hands to it (``volume.kubernetes.io/storage-provisioner``), of a
StorageClass with that provisioner, not yet bound:

* the node: ``volume.kubernetes.io/selected-node`` (set by the scheduler for
  ``WaitForFirstConsumer`` classes, which wait for it); for ``Immediate``
  classes any node — the local machine's when it is a node, else the first
  schedulable node by name;
* the volume ``pvc-<claim uid>``: ``hostPath`` (``DirectoryOrCreate``) at
  ``<base>/pvc-<uid>_<namespace>_<name>``, ``nodeAffinity`` requiring
  ``kubernetes.io/hostname In [node]``, capacity = the claim's request, the
  claim's access and volume modes, the class's reclaim policy (default
  ``Delete``) and mount options, ``pv.kubernetes.io/provisioned-by``, and a
  ``claimRef`` pre-binding it to the claim (the PV controller completes the
  binding);
* the directory is made here only when the node is this machine (a node named
  like this host that is not simulated, ``pinnace.io/simulated: "true"``);
  elsewhere the kubelet's ``DirectoryOrCreate`` makes it on first mount. The
  volume remembers with :data:`ANN_CREATED` that it was made here.

A volume it provisioned that the PV controller marks ``Released`` with reclaim
policy ``Delete`` is deleted: the directory first (if it was made here, and
only inside the base directory), then the object.

The base directory is the constructor's ``base_dir``, else
``$PINNACE_LOCAL_PATH_DIR`` (the server sets ``<data-dir>/storage``), else
``$PINNACE_DATA_DIR/storage``, else ``/var/lib/pinnace/storage``.

Concurrency model: two work loops of one worker, claims (``namespace/name``,
the main queue) and volumes (``name``). The volume name is a function of the
claim's uid, so a retry after a lost reply finds the volume it made (409)
instead of making a second one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

from pinnace.client import (
    WARNING,
    AlreadyExists,
    ApiError,
    Conflict,
    NotFound,
    Obj,
    ResourceRef,
    key_of,
)
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue
from pinnace.controllers.persistentvolume import (
    ANN_PROVISIONED_BY,
    ANN_SELECTED_NODE,
    ANN_STORAGE_PROVISIONER,
    PVCS,
    PVS,
    STORAGE_CLASSES,
    claim_class,
)

__all__ = [
    "ANN_CREATED",
    "LOCAL_PATH_DIR_ENV",
    "PROVISIONER",
    "LocalPathProvisioner",
    "default_base_dir",
    "volume_dir",
]

NODES = ResourceRef("", "v1", "nodes", False, "Node")

PROVISIONER = "pinnace.io/local-path"
LOCAL_PATH_DIR_ENV = "PINNACE_LOCAL_PATH_DIR"
SIMULATED = "pinnace.io/simulated"
HOSTNAME_LABEL = "kubernetes.io/hostname"
#: on a volume whose directory this provisioner made (and so may remove)
ANN_CREATED = "pinnace.io/local-path-created"
ANN_BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"


def default_base_dir() -> Path:
    env = os.environ.get(LOCAL_PATH_DIR_ENV)
    if env:
        return Path(env)
    data = os.environ.get("PINNACE_DATA_DIR")
    return Path(data) / "storage" if data else Path("/var/lib/pinnace/storage")


def volume_dir(base: Path, claim: Obj) -> Path:
    """``<base>/pvc-<uid>_<namespace>_<name>`` (k3s's layout)."""
    m = claim.get("metadata") or {}
    return base / f"pvc-{m.get('uid', '')}_{m.get('namespace', '')}_{m.get('name', '')}"


def _is_simulated(node: Obj) -> bool:
    m = node.get("metadata") or {}
    return (m.get("labels") or {}).get(SIMULATED) == "true" or (m.get("annotations") or {}).get(
        SIMULATED
    ) == "true"


class LocalPathProvisioner(Controller):
    NAME = "local-path-provisioner"
    EVENT_COMPONENT = PROVISIONER

    def __init__(self, ctx: ControllerContext, base_dir: Path | str | None = None) -> None:
        super().__init__(ctx)
        self.base_dir = Path(base_dir) if base_dir is not None else default_base_dir()
        self.claims = self.informer(PVCS)
        self.volumes = self.informer(PVS)
        self.classes = self.informer(STORAGE_CLASSES)
        self.nodes = self.informer(NODES)
        self.volume_queue = self.add_work_loop(f"{self.NAME}-volumes", self.sync_volume)
        self.enqueue_handlers(self.claims)
        self.volumes.add_event_handler(
            on_add=self._on_volume, on_update=lambda _old, new: self._on_volume(new)
        )

    def _on_volume(self, volume: Obj) -> None:
        if ((volume.get("metadata") or {}).get("annotations") or {}).get(
            ANN_PROVISIONED_BY
        ) == PROVISIONER:
            self.volume_queue.add(str(volume["metadata"]["name"]))

    # --- nodes ---------------------------------------------------------------------------

    def _is_local(self, node: Obj | None) -> bool:
        if node is None or _is_simulated(node):
            return False
        m = node.get("metadata") or {}
        host = self.ctx.host.split(".")[0]
        names = {str(m.get("name") or ""), str((m.get("labels") or {}).get(HOSTNAME_LABEL) or "")}
        return any(n and (n == self.ctx.host or n.split(".")[0] == host) for n in names)

    def _any_node(self) -> Obj | None:
        nodes = sorted(
            (n for n in self.nodes.list() if not (n.get("spec") or {}).get("unschedulable")),
            key=lambda n: str(n["metadata"]["name"]),
        )
        for n in nodes:
            if self._is_local(n):
                return n
        return nodes[0] if nodes else None

    # --- claims: provisioning ------------------------------------------------------------

    async def reconcile(self, key: str) -> Requeue | None:
        claim = self.claims.get(key)
        if claim is None:
            return None
        m = claim.get("metadata") or {}
        ann = m.get("annotations") or {}
        spec = claim.get("spec") or {}
        if m.get("deletionTimestamp") or spec.get("volumeName"):
            return None
        if PROVISIONER not in (
            ann.get(ANN_STORAGE_PROVISIONER),
            ann.get(ANN_BETA_STORAGE_PROVISIONER),
        ):
            return None
        sc = self.classes.get(claim_class(claim))
        if sc is None or sc.get("provisioner") != PROVISIONER:
            return None
        name = f"pvc-{m.get('uid')}"
        if self.volumes.get(name) is not None:
            return None  # made already: the PV controller binds it
        if sc.get("volumeBindingMode") == "WaitForFirstConsumer":
            node_name = str(ann.get(ANN_SELECTED_NODE) or "")
            if not node_name:
                return None  # the scheduler's selected-node (a claim update) wakes us
            node = self.nodes.get(node_name)
        else:
            node = self._any_node()
            if node is None:
                return Requeue(after=5.0)
            node_name = str(node["metadata"]["name"])
        return await self._provision(claim, sc, name, node_name, node)

    async def _provision(
        self, claim: Obj, sc: Obj, name: str, node_name: str, node: Obj | None
    ) -> Requeue | None:
        m = claim["metadata"]
        spec = claim.get("spec") or {}
        path = volume_dir(self.base_dir, claim)
        self.recorder.eventf(
            claim, "Normal", "Provisioning",
            'External provisioner is provisioning volume for claim "%s/%s"',
            m.get("namespace"), m.get("name"),
            kind="PersistentVolumeClaim", api_version="v1",
        )  # fmt: skip
        created = False
        if self._is_local(node):
            try:
                await asyncio.to_thread(path.mkdir, mode=0o777, parents=True, exist_ok=True)
            except OSError as e:
                self.recorder.eventf(
                    claim, WARNING, "ProvisioningFailed",
                    "failed to provision volume with StorageClass %q: %s",
                    sc["metadata"]["name"], e,
                    kind="PersistentVolumeClaim", api_version="v1",
                )  # fmt: skip
                raise
            created = True
        annotations = {ANN_PROVISIONED_BY: PROVISIONER}
        if created:
            annotations[ANN_CREATED] = "true"
        volume_spec: dict[str, Any] = {
            "capacity": {"storage": ((spec.get("resources") or {}).get("requests") or {})[
                "storage"
            ]},
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
            "storageClassName": sc["metadata"]["name"],
            "claimRef": {
                "kind": "PersistentVolumeClaim",
                "apiVersion": "v1",
                "namespace": m.get("namespace"),
                "name": m.get("name"),
                "uid": m.get("uid"),
                "resourceVersion": m.get("resourceVersion"),
            },
            "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": HOSTNAME_LABEL, "operator": "In", "values": [node_name]}
                            ]
                        }
                    ]
                }
            },
        }  # fmt: skip
        if sc.get("mountOptions"):
            volume_spec["mountOptions"] = list(sc["mountOptions"])
        body: Obj = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": annotations},
            "spec": volume_spec,
        }
        try:
            await self.client.create(PVS, body)
        except AlreadyExists:
            return None
        except ApiError as e:
            self.recorder.eventf(
                claim, WARNING, "ProvisioningFailed",
                "failed to provision volume with StorageClass %q: %s",
                sc["metadata"]["name"], e.message,
                kind="PersistentVolumeClaim", api_version="v1",
            )  # fmt: skip
            raise
        self.recorder.eventf(
            claim, "Normal", "ProvisioningSucceeded", "Successfully provisioned volume %s", name,
            kind="PersistentVolumeClaim", api_version="v1",
        )  # fmt: skip
        self.log.log(
            DETAIL, "%s: provisioned %s for %s at %s on %s",
            self.NAME, name, key_of(claim), path, node_name,
        )  # fmt: skip
        return None

    # --- volumes: deletion ---------------------------------------------------------------

    async def sync_volume(self, name: str) -> Requeue | None:
        volume = self.volumes.get(name)
        if volume is None:
            return None
        m = volume.get("metadata") or {}
        ann = m.get("annotations") or {}
        spec = volume.get("spec") or {}
        if (
            ann.get(ANN_PROVISIONED_BY) != PROVISIONER
            or m.get("deletionTimestamp")
            or (volume.get("status") or {}).get("phase") != "Released"
            or spec.get("persistentVolumeReclaimPolicy") != "Delete"
        ):
            return None
        if ann.get(ANN_CREATED) == "true":
            path = Path(str((spec.get("hostPath") or {}).get("path") or ""))
            base = self.base_dir.resolve()
            target = path.resolve()
            if target != base and base in target.parents:
                try:
                    await asyncio.to_thread(shutil.rmtree, target)
                except FileNotFoundError:
                    pass
                except OSError as e:
                    self.recorder.eventf(
                        volume, WARNING, "VolumeFailedDelete", "%s", e,
                        kind="PersistentVolume", api_version="v1",
                    )  # fmt: skip
                    raise
            else:
                self.log.warning("%s: not removing %s: outside %s", self.NAME, path, base)
        try:
            await self.client.delete(PVS, name, preconditions={"uid": str(m.get("uid"))})
        except NotFound:
            return None
        except Conflict:
            return Requeue(after=0.2)
        self.log.log(DETAIL, "%s: deleted volume %s", self.NAME, name)
        return None
