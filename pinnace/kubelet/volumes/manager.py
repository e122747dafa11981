"""The kubelet's volume manager: a pod's volumes on the node, and its containers' mounts.

Layout (upstream's)::

    <pods_dir>/<pod uid>/volumes/<plugin>/<volume name>

with ``<plugin>`` the escaped plugin name: ``kubernetes.io~empty-dir``,
``kubernetes.io~configmap``, ``kubernetes.io~secret``,
``kubernetes.io~downward-api``, ``kubernetes.io~projected``. ``hostPath``
volumes and persistent volumes backed by ``hostPath`` or ``local`` PVs are
used in place (their path is the node's path; upstream bind-mounts ``local``
volumes into the pod dir first, which adds nothing for a single mount
namespace).

* :meth:`VolumeManager.setup` makes every volume of the pod (idempotent: a
  retry or a kubelet restart finds what is there and completes it) and returns
  volume name → host path. A volume that cannot be made raises
  :class:`VolumeError` (after the others were made) with upstream's
  ``FailedMount`` message, which is also recorded as an event when the manager
  has a recorder; the pod stays ``ContainerCreating`` and the kubelet retries.
* :meth:`VolumeManager.refresh` re-projects configMap/secret/downwardAPI/
  projected volumes of a running pod through the atomic writer (nothing is
  written when nothing changed), and renews service account tokens.
* :meth:`VolumeManager.teardown` unmounts whatever is mounted below the pod dir
  (found in ``/proc/self/mountinfo``, so it works after a restart) and removes
  the pod dir; it refuses to delete while something stays mounted.
* :meth:`VolumeManager.container_mounts` turns a container's ``volumeMounts``
  into :class:`Mount` s (subPath/subPathExpr resolved safely, read-only
  volumes forced read-only, mount propagation mapped to the CRI names).

Not supported: ``ephemeral`` (generic ephemeral volumes), CSI, network and
cloud volume types, ``image`` volumes, ``clusterTrustBundle`` projections —
such a volume fails with a ``FailedMount`` message saying so.

Concurrency model: one asyncio lock per pod serialises setup/refresh/teardown
of that pod. Object reads are async GETs; file work on small payloads is done
inline (a few syscalls); tree walks (usage, fsGroup on persistent volumes) run
in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pinnace.client.clock import REAL_CLOCK, Clock
from pinnace.client.errors import ApiError
from pinnace.client.objects import ResourceRef
from pinnace.client.rest import Client
from pinnace.kubelet.envvars import ContainerConfigError, Recorder, expand_subpath
from pinnace.kubelet.volumes.atomic_writer import DATA_DIR, AtomicWriter, PayloadError
from pinnace.kubelet.volumes.emptydir import (
    EMPTY_DIR_MODE,
    MountError,
    disk_usage,
    emptydir_memory_size,
    is_mount_point,
    mount_points_under,
    mount_tmpfs,
    node_memory_bytes,
    quantity_bytes,
    unmount,
)
from pinnace.kubelet.volumes.hostpath import HostPathError, check_host_path
from pinnace.kubelet.volumes.ownership import set_volume_ownership
from pinnace.kubelet.volumes.projection import (
    DEFAULT_MODE,
    Fetcher,
    Payload,
    ProjectionError,
    SharedReads,
    TokenCache,
    configmap_payload,
    downward_api_payload,
    projected_payload,
    secret_payload,
)
from pinnace.kubelet.volumes.subpath import SubPathError, prepare_subpath

__all__ = [
    "PLUGIN_DIRS",
    "PROPAGATION_BIDIRECTIONAL",
    "PROPAGATION_HOST_TO_CONTAINER",
    "PROPAGATION_PRIVATE",
    "Mount",
    "SubPathError",
    "VolumeError",
    "VolumeManager",
    "VolumeMountError",
    "volume_type",
]

log = logging.getLogger("pinnace.kubelet.volumes")

Obj = dict[str, Any]

PVS = ResourceRef("", "v1", "persistentvolumes", False, "PersistentVolume")
PVCS = ResourceRef("", "v1", "persistentvolumeclaims", True, "PersistentVolumeClaim")

PLUGIN_DIRS = {
    "emptyDir": "kubernetes.io~empty-dir",
    "configMap": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
}
PROJECTED_TYPES = ("configMap", "secret", "downwardAPI", "projected")
MEMORY_BACKED_TYPES = ("secret", "projected")
KNOWN_TYPES = (
    "emptyDir",
    "hostPath",
    "configMap",
    "secret",
    "downwardAPI",
    "projected",
    "persistentVolumeClaim",
)
OTHER_TYPES = (
    "ephemeral",
    "csi",
    "image",
    "nfs",
    "iscsi",
    "rbd",
    "cephfs",
    "fc",
    "glusterfs",
    "awsElasticBlockStore",
    "gcePersistentDisk",
    "azureDisk",
    "azureFile",
    "cinder",
    "flexVolume",
    "flocker",
    "gitRepo",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "scaleIO",
    "storageos",
    "vsphereVolume",
)

# CRI runtime.v1 MountPropagation names
PROPAGATION_PRIVATE = "PROPAGATION_PRIVATE"
PROPAGATION_HOST_TO_CONTAINER = "PROPAGATION_HOST_TO_CONTAINER"
PROPAGATION_BIDIRECTIONAL = "PROPAGATION_BIDIRECTIONAL"
_PROPAGATION = {
    None: PROPAGATION_PRIVATE,
    "": PROPAGATION_PRIVATE,
    "None": PROPAGATION_PRIVATE,
    "HostToContainer": PROPAGATION_HOST_TO_CONTAINER,
    "Bidirectional": PROPAGATION_BIDIRECTIONAL,
}
ETC_HOSTS = "/etc/hosts"
WARNING = "Warning"


@dataclass(frozen=True)
class Mount:
    """One bind mount for a container (the kubelet turns it into a CRI ``Mount``)."""

    container_path: str
    host_path: Path
    readonly: bool = False
    propagation: str = PROPAGATION_PRIVATE
    """The CRI ``MountPropagation`` enum name."""
    name: str = ""
    """The volume's name (``k8s-managed-etc-hosts`` for the hosts file)."""


class VolumeError(Exception):
    """A volume of the pod could not be set up. ``message`` is the event text
    (``MountVolume.SetUp failed for volume "cfg" : configmap "x" not found``),
    ``detail`` the part after the colon; ``errors`` holds every failed volume of
    the pass (this one first)."""

    def __init__(
        self,
        volume: str,
        *,
        reason: str = "FailedMount",
        message: str,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.volume = volume
        self.reason = reason
        self.message = message
        self.detail = detail or message
        self.errors: list[VolumeError] = [self]


def _setup_failed(volume: str, detail: str) -> VolumeError:
    return VolumeError(
        volume,
        message=f'MountVolume.SetUp failed for volume "{volume}" : {detail}',
        detail=detail,
    )


class VolumeMountError(ContainerConfigError):
    """A volumeMount cannot be satisfied (the kubelet reports ``CreateContainerConfigError``)."""


def volume_type(volume: Mapping[str, Any]) -> str | None:
    """The volume source key of a ``spec.volumes[]`` entry (``emptyDir``, ``secret`` …)."""
    for key in (*KNOWN_TYPES, *OTHER_TYPES):
        if volume.get(key) is not None:
            return key
    for key, value in volume.items():
        if key != "name" and isinstance(value, dict):
            return key
    return None


def _fs_user(pod: Obj) -> int | None:
    """The user every container runs as (upstream's ``FsUserFrom``), else None."""
    spec = pod.get("spec") or {}
    pod_user = (spec.get("securityContext") or {}).get("runAsUser")
    users: set[int | None] = set()
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            user = (c.get("securityContext") or {}).get("runAsUser", pod_user)
            users.add(None if user is None else int(user))
    if len(users) != 1:
        return None
    return users.pop()


@dataclass
class _PodState:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    paths: dict[str, Path] = field(default_factory=dict)


class VolumeManager:
    def __init__(
        self,
        pods_dir: Path,
        client: Client,
        *,
        node_name: str,
        recorder: Recorder | None = None,
        clock: Clock = REAL_CLOCK,
        node_allocatable: Mapping[str, str] | None = None,
        memory_backed_secrets: bool | None = None,
        mountinfo: Path = Path("/proc/self/mountinfo"),
    ) -> None:
        """``node_allocatable``: the node's allocatable resources (downward API
        defaults, tmpfs sizes; the kubelet may replace the attribute when they
        change). ``memory_backed_secrets``: put secret and projected volumes on
        tmpfs as upstream (default: when running as root)."""
        self.pods_dir = Path(pods_dir)
        self.client = client
        self.node_name = node_name
        self.recorder = recorder
        self.clock = clock
        self.node_allocatable: Mapping[str, str] = dict(node_allocatable or {})
        self.memory_backed_secrets = (
            os.geteuid() == 0 if memory_backed_secrets is None else memory_backed_secrets
        )
        self.mountinfo = mountinfo
        self.tokens = TokenCache(client, clock=clock)
        self._reads: SharedReads = {}  # ConfigMap/Secret reads in flight, shared by pods
        self._pods: dict[str, _PodState] = {}

    # --- paths ---------------------------------------------------------------------------

    def pod_dir(self, pod_uid: str) -> Path:
        return self.pods_dir / pod_uid

    def volume_dir(self, pod_uid: str, vtype: str, name: str) -> Path:
        return self.pod_dir(pod_uid) / "volumes" / PLUGIN_DIRS[vtype] / name

    def pods_on_disk(self) -> list[str]:
        """UIDs of the pods that have a directory (for orphan clean-up)."""
        try:
            return sorted(p.name for p in self.pods_dir.iterdir() if p.is_dir())
        except FileNotFoundError:
            return []

    def _state(self, uid: str) -> _PodState:
        st = self._pods.get(uid)
        if st is None:
            st = self._pods[uid] = _PodState()
        return st

    def _memory_bytes(self) -> int:
        """The node's allocatable memory (MemTotal when not known)."""
        return quantity_bytes(self.node_allocatable.get("memory")) or node_memory_bytes()

    # --- setup ---------------------------------------------------------------------------

    async def setup(self, pod: Obj) -> dict[str, Path]:
        """Make every volume of ``pod``; returns volume name → host path."""
        meta = pod.get("metadata") or {}
        uid = str(meta["uid"])
        st = self._state(uid)
        async with st.lock:
            fetcher = Fetcher(self.client, str(meta.get("namespace") or "default"), self._reads)
            paths: dict[str, Path] = {}
            errors: list[VolumeError] = []
            for vol in (pod.get("spec") or {}).get("volumes") or []:
                name = str(vol.get("name") or "")
                try:
                    paths[name] = await self._setup_volume(pod, vol, fetcher)
                except VolumeError as e:
                    errors.append(e)
            st.paths = paths
            if errors:
                for err in errors:
                    self._event(pod, err)
                first = errors[0]
                first.errors = errors
                raise first
            return dict(paths)

    def _event(self, pod: Obj, e: VolumeError) -> None:
        log.warning("%s", e.message, extra={"pod_uid": (pod.get("metadata") or {}).get("uid")})
        if self.recorder is not None:
            self.recorder.event(pod, WARNING, e.reason, e.message, kind="Pod", api_version="v1")

    async def _setup_volume(self, pod: Obj, vol: Obj, fetcher: Fetcher) -> Path:
        name = str(vol.get("name") or "")
        vtype = volume_type(vol)
        try:
            if vtype == "emptyDir":
                return self._setup_empty_dir(pod, name, vol["emptyDir"])
            if vtype == "hostPath":
                hp = vol["hostPath"]
                return check_host_path(str(hp.get("path") or ""), hp.get("type"))
            if vtype in PROJECTED_TYPES:
                return await self._setup_projected(pod, name, vtype, vol[vtype], fetcher)
            if vtype == "persistentVolumeClaim":
                return await self._setup_pvc(pod, name, vol["persistentVolumeClaim"])
        except (HostPathError, ProjectionError, PayloadError) as e:
            raise _setup_failed(name, str(e)) from e
        except OSError as e:
            raise _setup_failed(name, str(e)) from e
        if vtype is None:
            raise _setup_failed(name, "no volume source given")
        raise _setup_failed(name, f'volume type "{vtype}" is not supported by this kubelet')

    def _ensure_dir(self, path: Path, pod: Obj, *, medium_memory: bool, size_limit: Any) -> bool:
        """Make the volume dir (a tmpfs for memory), mode 0777; True when it was new."""
        new = not path.exists()
        path.mkdir(parents=True, exist_ok=True)
        if medium_memory and not is_mount_point(path):
            size = emptydir_memory_size(pod, size_limit, self._memory_bytes())
            mount_tmpfs(path, size)
            new = True
        if new:
            os.chmod(path, EMPTY_DIR_MODE)
        return new

    def _setup_empty_dir(self, pod: Obj, name: str, source: Obj) -> Path:
        uid = str(pod["metadata"]["uid"])
        path = self.volume_dir(uid, "emptyDir", name)
        memory = source.get("medium") == "Memory"
        if source.get("medium") not in (None, "", "Memory"):
            raise ProjectionError(f"unsupported emptyDir medium {source.get('medium')}")
        if self._ensure_dir(path, pod, medium_memory=memory, size_limit=source.get("sizeLimit")):
            sc = (pod.get("spec") or {}).get("securityContext") or {}
            set_volume_ownership(
                path,
                sc.get("fsGroup"),
                readonly=False,
                change_policy=sc.get("fsGroupChangePolicy"),
            )
        return path

    async def _payload(
        self, pod: Obj, vtype: str, source: Obj, fetcher: Fetcher, fs_group: int | None
    ) -> Payload:
        if vtype == "configMap":
            return await configmap_payload(source, fetcher, None)
        if vtype == "secret":
            return await secret_payload(source, fetcher, None)
        if vtype == "downwardAPI":
            mode = source.get("defaultMode")
            return downward_api_payload(
                source.get("items") or [],
                pod,
                DEFAULT_MODE if mode is None else int(mode),
                self.node_allocatable,
            )
        return await projected_payload(
            source,
            pod,
            fetcher,
            self.tokens,
            self.node_allocatable,
            fs_user=_fs_user(pod),
            fs_group=fs_group,
        )

    async def _setup_projected(
        self, pod: Obj, name: str, vtype: str, source: Obj, fetcher: Fetcher
    ) -> Path:
        uid = str(pod["metadata"]["uid"])
        path = self.volume_dir(uid, vtype, name)
        sc = (pod.get("spec") or {}).get("securityContext") or {}
        fs_group = sc.get("fsGroup")
        # fetch first: a missing object must not leave an empty volume that looks ready
        payload = await self._payload(pod, vtype, source, fetcher, fs_group)
        memory = self.memory_backed_secrets and vtype in MEMORY_BACKED_TYPES

        def materialize() -> None:
            self._ensure_dir(path, pod, medium_memory=memory, size_limit=None)
            self._write(path, payload, fs_group, f"{vtype} {name}")

        # In a thread: while containerd starts a batch of pods, each mkdir on
        # the node's disk takes 1-15 ms, and the event loop serves every pod.
        await asyncio.to_thread(materialize)
        return path

    @staticmethod
    def _write(path: Path, payload: Payload, fs_group: int | None, context: str) -> bool:
        def set_perms(_: str) -> None:
            # new files may appear outside the timestamped dir: the whole volume
            set_volume_ownership(path, fs_group, readonly=True)

        writer = AtomicWriter(path, context)
        return writer.write(payload, set_perms if fs_group is not None else None)

    async def _setup_pvc(self, pod: Obj, name: str, source: Obj) -> Path:
        ns = str(pod["metadata"].get("namespace") or "default")
        claim = str(source.get("claimName") or "")

        def failed(detail: str) -> VolumeError:
            msg = f"error processing PVC {ns}/{claim}: {detail}"
            return VolumeError(name, message=msg, detail=msg)

        try:
            pvc = await self.client.get(PVCS, claim, namespace=ns)
        except ApiError as e:
            raise failed(f"failed to fetch PVC from API server: {e.message or e}") from e
        if (pvc.get("metadata") or {}).get("deletionTimestamp"):
            raise failed("PVC is being deleted")
        if (pvc.get("status") or {}).get("phase") != "Bound":
            raise failed("PVC is not bound")
        pv_name = str((pvc.get("spec") or {}).get("volumeName") or "")
        if not pv_name:
            raise failed("PVC has empty pvc.Spec.VolumeName")
        try:
            pv = await self.client.get(PVS, pv_name)
        except ApiError as e:
            raise failed(f"failed to fetch PV {pv_name} from API server: {e.message or e}") from e
        ref = (pv.get("spec") or {}).get("claimRef")
        claim_uid = str((pvc.get("metadata") or {}).get("uid") or "")
        if not ref:
            raise failed(
                f"found PV object {pv_name} but it has a nil pv.Spec.ClaimRef indicating it "
                "is not yet bound to the claim"
            )
        if str(ref.get("uid") or "") != claim_uid:
            raise failed(
                f"found PV object {pv_name} but its pv.Spec.ClaimRef.UID {ref.get('uid', '')} "
                f"does not point to claim.UID {claim_uid}"
            )
        spec = pv.get("spec") or {}
        try:
            if spec.get("hostPath") is not None:
                hp = spec["hostPath"]
                return check_host_path(str(hp.get("path") or ""), hp.get("type"))
            if spec.get("local") is not None:
                path = Path(str(spec["local"].get("path") or ""))
                if not path.exists():
                    raise HostPathError(f'path "{path}" does not exist')
                sc = (pod.get("spec") or {}).get("securityContext") or {}
                if sc.get("fsGroup") is not None and not source.get("readOnly"):
                    await asyncio.to_thread(
                        set_volume_ownership,
                        path,
                        sc.get("fsGroup"),
                        readonly=False,
                        change_policy=sc.get("fsGroupChangePolicy"),
                    )
                return path
        except (HostPathError, OSError) as e:
            raise _setup_failed(pv_name, str(e)) from e
        raise _setup_failed(
            pv_name, "only hostPath and local persistent volumes are supported by this kubelet"
        )

    # --- refresh -------------------------------------------------------------------------

    async def refresh(self, pod: Obj) -> bool:
        """Re-project the pod's configMap/secret/downwardAPI/projected volumes that are
        set up; returns whether any content changed. Raises :class:`VolumeError` (after
        refreshing the others) when a volume's content cannot be made; what it had
        stays."""
        meta = pod.get("metadata") or {}
        uid = str(meta["uid"])
        st = self._state(uid)
        changed = False
        async with st.lock:
            fetcher = Fetcher(self.client, str(meta.get("namespace") or "default"), self._reads)
            sc = (pod.get("spec") or {}).get("securityContext") or {}
            errors: list[VolumeError] = []
            for vol in (pod.get("spec") or {}).get("volumes") or []:
                vtype = volume_type(vol)
                if vtype not in PROJECTED_TYPES:
                    continue
                name = str(vol.get("name") or "")
                path = self.volume_dir(uid, vtype, name)
                if not os.path.lexists(path / DATA_DIR):
                    continue
                try:
                    payload = await self._payload(
                        pod, vtype, vol[vtype], fetcher, sc.get("fsGroup")
                    )
                    if self._write(path, payload, sc.get("fsGroup"), f"{vtype} {name}"):
                        log.info("updated %s volume %s of pod %s", vtype, name, uid)
                        changed = True
                except (ProjectionError, PayloadError, OSError) as e:
                    errors.append(_setup_failed(name, str(e)))
            if errors:
                for err in errors:
                    self._event(pod, err)
                errors[0].errors = errors
                raise errors[0]
        return changed

    # --- teardown ------------------------------------------------------------------------

    async def teardown(self, pod_uid: str) -> None:
        """Unmount everything below the pod dir and remove it (safe to repeat)."""
        st = self._state(pod_uid)
        async with st.lock:
            root = self.pod_dir(pod_uid)
            if os.path.lexists(root):
                for mp in mount_points_under(root, self.mountinfo):
                    unmount(mp)
                left = mount_points_under(root, self.mountinfo)
                if left:
                    raise MountError(16, f"still mounted below {root}: {', '.join(map(str, left))}")
                await asyncio.to_thread(shutil.rmtree, root)
            self.tokens.forget(pod_uid)
        self._pods.pop(pod_uid, None)

    # --- usage ---------------------------------------------------------------------------

    async def usage(self, pod_uid: str) -> dict[str, int]:
        """Bytes used by each emptyDir volume of the pod (for sizeLimit eviction)."""
        base = self.pod_dir(pod_uid) / "volumes" / PLUGIN_DIRS["emptyDir"]
        try:
            names = sorted(p.name for p in base.iterdir() if p.is_dir())
        except FileNotFoundError:
            return {}
        out: dict[str, int] = {}
        for name in names:
            out[name] = await asyncio.to_thread(disk_usage, base / name)
        return out

    # --- container mounts ----------------------------------------------------------------

    def container_mounts(
        self,
        pod: Obj,
        container: Obj,
        volume_paths: Mapping[str, Path],
        *,
        env: Iterable[tuple[str, str]] | None = None,
        etc_hosts: Path | None = None,
    ) -> list[Mount]:
        """The container's mounts: one per ``volumeMounts[]`` (``subPath`` resolved
        inside the volume, made when missing; ``subPathExpr`` expanded from ``env``),
        plus ``/etc/hosts`` from ``etc_hosts`` unless the container mounts something
        there itself. Raises :class:`VolumeMountError` / :class:`SubPathError` /
        :class:`EnvError` (all ``ContainerConfigError``) with upstream's messages."""
        cname = str(container.get("name") or "")
        volumes = {str(v.get("name")): v for v in (pod.get("spec") or {}).get("volumes") or []}
        env_list = list(env or [])
        mounts: list[Mount] = []
        mount_hosts = etc_hosts is not None
        for vm in container.get("volumeMounts") or []:
            vname = str(vm.get("name") or "")
            mount_path = str(vm.get("mountPath") or "")
            if mount_path == ETC_HOSTS:
                mount_hosts = False
            host = volume_paths.get(vname)
            if host is None:
                raise VolumeMountError(
                    f'cannot find volume "{vname}" to mount into container "{cname}"'
                )
            sub = str(vm.get("subPath") or "")
            if vm.get("subPathExpr"):
                sub = expand_subpath(str(vm["subPathExpr"]), env_list)
            if sub:
                host = prepare_subpath(Path(host), sub, mount_name=vname, container=cname)
            if not mount_path.startswith("/"):
                mount_path = "/" + mount_path
            prop = vm.get("mountPropagation")
            if prop not in _PROPAGATION:
                raise VolumeMountError(f'invalid MountPropagation mode: "{prop}"')
            vol = volumes.get(vname) or {}
            vtype = volume_type(vol)
            must_ro = vtype in PROJECTED_TYPES or (
                vtype == "persistentVolumeClaim" and bool(vol[vtype].get("readOnly"))
            )
            mounts.append(
                Mount(
                    container_path=mount_path,
                    host_path=Path(host),
                    readonly=bool(vm.get("readOnly")) or must_ro,
                    propagation=_PROPAGATION[prop],
                    name=vname,
                )
            )
        if mount_hosts and etc_hosts is not None:
            mounts.append(
                Mount(ETC_HOSTS, etc_hosts, False, PROPAGATION_PRIVATE, "k8s-managed-etc-hosts")
            )
        return mounts
