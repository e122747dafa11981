"""The volume manager on a temporary pods dir, with a fake API client (no mounts:
memory-backed volumes are in test_volumes_tmpfs.py)."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pinnace.client.clock import FakeClock
from pinnace.client.errors import ApiError, NotFound, api_error
from pinnace.kubelet.envvars import ContainerConfigError, EnvError
from pinnace.kubelet.volumes import (
    PROPAGATION_BIDIRECTIONAL,
    PROPAGATION_HOST_TO_CONTAINER,
    PROPAGATION_PRIVATE,
    Mount,
    SubPathError,
    VolumeError,
    VolumeManager,
    VolumeMountError,
)
from pinnace.kubelet.volumes.atomic_writer import DATA_DIR

Obj = dict[str, Any]
UID = "0f3c-uid"
WALL = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def not_found(plural: str, name: str) -> NotFound:
    return NotFound(
        {
            "kind": "Status",
            "code": 404,
            "reason": "NotFound",
            "message": f'{plural} "{name}" not found',
        }
    )


class FakeClient:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.token_requests: list[tuple[str, str, Obj]] = []
        self.token_error: ApiError | None = None
        self.clock: FakeClock | None = None

    def put(self, plural: str, obj: Obj) -> Obj:
        m = obj["metadata"]
        self.objects[(plural, m.get("namespace", ""), m["name"])] = obj
        return obj

    async def get(self, resource: Any, name: str, *, namespace: str | None = None) -> Obj:
        try:
            return self.objects[(resource.plural, namespace or "", name)]
        except KeyError:
            raise not_found(resource.plural, name) from None

    async def create(
        self,
        resource: Any,
        obj: Obj,
        *,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> Obj:
        assert (resource.plural, subresource) == ("serviceaccounts", "token")
        if self.token_error is not None:
            raise self.token_error
        self.token_requests.append((namespace or "", name or "", obj))
        n = len(self.token_requests)
        ttl = obj["spec"]["expirationSeconds"]
        now = self.clock.wall() if self.clock else WALL
        exp = (now + timedelta(seconds=ttl)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "spec": obj["spec"],
            "status": {"token": f"token-{n}", "expirationTimestamp": exp},
        }


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj: Obj, type_: str, reason: str, message: str, **kw: Any) -> None:
        self.events.append((type_, reason, message))


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def make_pod(volumes: list[Obj], containers: list[Obj] | None = None, **spec: Any) -> Obj:
    return {
        "metadata": {
            "name": "web-0",
            "namespace": "ns1",
            "uid": UID,
            "labels": {"app": "web"},
            "annotations": {"a": "1"},
        },
        "spec": {
            "nodeName": "node-a",
            "serviceAccountName": "builder",
            "volumes": volumes,
            "containers": containers
            or [{"name": "app", "resources": {"limits": {"cpu": "250m", "memory": "32Mi"}}}],
            **spec,
        },
        "status": {"podIP": "10.42.0.9"},
    }


@pytest.fixture
def client() -> FakeClient:
    c = FakeClient()
    c.put(
        "configmaps",
        {"metadata": {"name": "cfg", "namespace": "ns1"}, "data": {"a": "1", "b": "2"}},
    )
    c.put(
        "secrets",
        {
            "metadata": {"name": "creds", "namespace": "ns1"},
            "data": {"user": b64("admin"), "pw": b64("pw")},
        },
    )
    return c


@pytest.fixture
def recorder() -> FakeRecorder:
    return FakeRecorder()


@pytest.fixture
def manager(tmp_path: Path, client: FakeClient, recorder: FakeRecorder) -> VolumeManager:
    return VolumeManager(
        tmp_path / "pods",
        client,  # type: ignore[arg-type]
        node_name="node-a",
        recorder=recorder,
        node_allocatable={"cpu": "2", "memory": "4Gi"},
        memory_backed_secrets=False,
    )


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


# --- emptyDir / hostPath ---------------------------------------------------------------------


async def test_empty_dir_on_disk_and_usage(manager: VolumeManager) -> None:
    pod = make_pod([{"name": "scratch", "emptyDir": {"sizeLimit": "1Mi"}}])
    paths = await manager.setup(pod)
    path = paths["scratch"]
    assert path == manager.pods_dir / UID / "volumes" / "kubernetes.io~empty-dir" / "scratch"
    assert mode(path) == 0o777
    (path / "f").write_bytes(b"x" * 100_000)
    (path / "f2").write_text("keep me")
    assert (await manager.setup(pod))["scratch"] == path  # idempotent, content kept
    assert (path / "f2").read_text() == "keep me"
    usage = await manager.usage(UID)
    assert set(usage) == {"scratch"} and usage["scratch"] >= 100_000
    assert await manager.usage("other") == {}


async def test_host_path_types(manager: VolumeManager, tmp_path: Path) -> None:
    d, f = tmp_path / "d", tmp_path / "f"
    d.mkdir()
    f.write_text("x")
    sock_path = tmp_path / "s.sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    try:
        ok = [
            {"name": "dir", "hostPath": {"path": str(d), "type": "Directory"}},
            {"name": "file", "hostPath": {"path": str(f), "type": "File"}},
            {"name": "sock", "hostPath": {"path": str(sock_path), "type": "Socket"}},
            {"name": "null", "hostPath": {"path": "/dev/null", "type": "CharDevice"}},
            {"name": "any", "hostPath": {"path": str(tmp_path / "nothing")}},
            {
                "name": "mk",
                "hostPath": {"path": str(tmp_path / "new/dir"), "type": "DirectoryOrCreate"},
            },
            {
                "name": "mkf",
                "hostPath": {"path": str(tmp_path / "new.txt"), "type": "FileOrCreate"},
            },
        ]
        paths = await manager.setup(make_pod(ok))
    finally:
        sock.close()
    assert paths["dir"] == d and paths["any"] == tmp_path / "nothing"
    assert (tmp_path / "new/dir").is_dir() and mode(tmp_path / "new/dir") == 0o755
    assert (tmp_path / "new.txt").is_file()


@pytest.mark.parametrize(
    ("path", "kind", "detail"),
    [
        (
            "{tmp}/f",
            "Directory",
            "hostPath type check failed: {tmp}/f is not a directory, it's a File",
        ),
        ("{tmp}/missing", "Directory", "hostPath {tmp}/missing doesn't exist"),
        ("{tmp}", "File", "hostPath type check failed: {tmp} is not a file, it's a Directory"),
        (
            "{tmp}/f",
            "Socket",
            "hostPath type check failed: {tmp}/f is not a socket file, it's a File",
        ),
        (
            "/dev/null",
            "BlockDevice",
            "hostPath type check failed: /dev/null is not a block device, it's a CharDevice",
        ),
        (
            "{tmp}/f",
            "CharDevice",
            "hostPath type check failed: {tmp}/f is not a character device, it's a File",
        ),
        ("{tmp}/f", "Weird", "Weird is an invalid volume type"),
        ("{tmp}/../etc", "", "invalid HostPath `{tmp}/../etc`: must not contain '..'"),
    ],
)
async def test_host_path_type_errors(
    manager: VolumeManager,
    recorder: FakeRecorder,
    tmp_path: Path,
    path: str,
    kind: str,
    detail: str,
) -> None:
    (tmp_path / "f").write_text("x")
    vol = {"name": "hp", "hostPath": {"path": path.format(tmp=tmp_path), "type": kind}}
    with pytest.raises(VolumeError) as err:
        await manager.setup(make_pod([vol]))
    expected = f'MountVolume.SetUp failed for volume "hp" : {detail.format(tmp=tmp_path)}'
    assert err.value.message == expected
    assert err.value.reason == "FailedMount"
    assert recorder.events == [("Warning", "FailedMount", expected)]


# --- configMap / secret / downwardAPI --------------------------------------------------------


async def test_config_map_all_keys_items_and_modes(manager: VolumeManager) -> None:
    vols = [
        {"name": "all", "configMap": {"name": "cfg", "defaultMode": 0o640}},
        {
            "name": "some",
            "configMap": {
                "name": "cfg",
                "items": [
                    {"key": "a", "path": "sub/x.conf", "mode": 0o400},
                    {"key": "b", "path": "y"},
                ],
            },
        },
    ]
    paths = await manager.setup(make_pod(vols))
    allp, some = paths["all"], paths["some"]
    assert allp.parent.name == "kubernetes.io~configmap"
    assert (allp / "a").read_text() == "1" and (allp / "b").read_text() == "2"
    assert os.readlink(allp / "a") == "..data/a"
    assert mode((allp / "a").resolve()) == 0o640
    assert sorted(p for p in os.listdir(some) if not p.startswith("..")) == ["sub", "y"]
    assert (some / "sub/x.conf").read_text() == "1"
    assert mode((some / "sub/x.conf").resolve()) == 0o400
    assert mode((some / "y").resolve()) == 0o644
    assert mode(allp) == 0o777


async def test_config_map_missing(manager: VolumeManager, recorder: FakeRecorder) -> None:
    vols = [
        {"name": "cfg", "configMap": {"name": "x"}},
        {"name": "opt", "configMap": {"name": "x", "optional": True}},
        {"name": "badkey", "configMap": {"name": "cfg", "items": [{"key": "zz", "path": "p"}]}},
        {
            "name": "okkey",
            "configMap": {"name": "cfg", "items": [{"key": "zz", "path": "p"}], "optional": True},
        },
        {"name": "scratch", "emptyDir": {}},
    ]
    with pytest.raises(VolumeError) as err:
        await manager.setup(make_pod(vols))
    assert err.value.volume == "cfg"
    assert (
        err.value.message == 'MountVolume.SetUp failed for volume "cfg" : configmap "x" not found'
    )
    assert [e.message for e in err.value.errors] == [
        'MountVolume.SetUp failed for volume "cfg" : configmap "x" not found',
        'MountVolume.SetUp failed for volume "badkey" : '
        "configmap references non-existent config key: zz",
    ]
    assert len(recorder.events) == 2
    base = manager.pods_dir / UID / "volumes"
    # the others were made: an optional missing ConfigMap is an empty volume
    assert (base / "kubernetes.io~configmap/opt" / DATA_DIR).exists()
    assert os.listdir(base / "kubernetes.io~configmap/okkey") != []
    assert (base / "kubernetes.io~empty-dir/scratch").is_dir()
    assert not (base / "kubernetes.io~configmap/cfg").exists()


async def test_secret_volume(manager: VolumeManager, client: FakeClient) -> None:
    vols = [
        {"name": "s", "secret": {"secretName": "creds", "defaultMode": 0o400}},
        {"name": "missing", "secret": {"secretName": "nope"}},
    ]
    with pytest.raises(VolumeError, match='volume "missing" : secret "nope" not found'):
        await manager.setup(make_pod(vols))
    paths = await manager.setup(make_pod(vols[:1]))
    s = paths["s"]
    assert s.parent.name == "kubernetes.io~secret"
    assert (s / "user").read_text() == "admin" and mode((s / "pw").resolve()) == 0o400
    vol = {"name": "k", "secret": {"secretName": "creds", "items": [{"key": "x", "path": "x"}]}}
    with pytest.raises(VolumeError, match="references non-existent secret key: x"):
        await manager.setup(make_pod([vol]))


async def test_downward_api_volume(manager: VolumeManager) -> None:
    vol = {
        "name": "info",
        "downwardAPI": {
            "items": [
                {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "app", "fieldRef": {"fieldPath": "metadata.labels['app']"}},
                {
                    "path": "mem",
                    "resourceFieldRef": {
                        "containerName": "app",
                        "resource": "limits.memory",
                        "divisor": "1Mi",
                    },
                },
                {
                    "path": "cpu",
                    "resourceFieldRef": {"containerName": "app", "resource": "requests.cpu"},
                },
            ]
        },
    }
    info = (await manager.setup(make_pod([vol])))["info"]
    assert info.parent.name == "kubernetes.io~downward-api"
    assert (info / "name").read_text() == "web-0"
    assert (info / "labels").read_text() == 'app="web"'
    assert (info / "app").read_text() == "web"
    assert (info / "mem").read_text() == "32"
    assert (info / "cpu").read_text() == "0"
    bad = {
        "name": "bad",
        "downwardAPI": {
            "items": [
                {
                    "path": "x",
                    "resourceFieldRef": {"containerName": "nope", "resource": "limits.cpu"},
                }
            ]
        },
    }
    with pytest.raises(VolumeError, match='volume "bad" : container nope not found'):
        await manager.setup(make_pod([bad]))


async def test_refresh_updates_config_map_in_place(
    manager: VolumeManager, client: FakeClient
) -> None:
    pod = make_pod(
        [{"name": "cfg", "configMap": {"name": "cfg"}}],
        [{"name": "app", "volumeMounts": [{"name": "cfg", "mountPath": "/one", "subPath": "a"}]}],
    )
    paths = await manager.setup(pod)
    seen_by_container = paths["cfg"] / "a"  # a path the bind mount keeps using
    sub_mount = manager.container_mounts(pod, pod["spec"]["containers"][0], paths)[0].host_path
    assert seen_by_container.read_text() == "1" and sub_mount.read_text() == "1"
    data_before = os.readlink(paths["cfg"] / DATA_DIR)
    assert not await manager.refresh(pod)  # unchanged: not rewritten
    assert os.readlink(paths["cfg"] / DATA_DIR) == data_before

    client.put(
        "configmaps",
        {"metadata": {"name": "cfg", "namespace": "ns1"}, "data": {"a": "2", "c": "3"}},
    )
    assert await manager.refresh(pod)
    assert seen_by_container.read_text() == "2"
    assert (paths["cfg"] / "c").read_text() == "3"
    assert not os.path.lexists(paths["cfg"] / "b")
    assert os.readlink(paths["cfg"] / DATA_DIR) != data_before
    # the subPath mount was resolved to the old timestamped file: it does not follow
    assert sub_mount != (paths["cfg"] / "a").resolve()
    assert (
        manager.container_mounts(pod, pod["spec"]["containers"][0], paths)[0].host_path
        == (paths["cfg"] / "a").resolve()
    )  # a container started now gets the new file

    del client.objects[("configmaps", "ns1", "cfg")]
    with pytest.raises(VolumeError, match='configmap "cfg" not found'):
        await manager.refresh(pod)
    assert seen_by_container.read_text() == "2"  # what was there stays


# --- projected and tokens --------------------------------------------------------------------


def kube_api_access(expiration: int = 3607) -> Obj:
    return {
        "name": "kube-api-access",
        "projected": {
            "defaultMode": 0o644,
            "sources": [
                {
                    "serviceAccountToken": {
                        "path": "token",
                        "expirationSeconds": expiration,
                        "audience": "api",
                    }
                },
                {"configMap": {"name": "cfg", "items": [{"key": "a", "path": "ca.crt"}]}},
                {"secret": {"name": "creds", "items": [{"key": "user", "path": "user"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}
                        ]
                    }
                },
            ],
        },
    }


async def test_projected_volume_and_token_refresh(tmp_path: Path, client: FakeClient) -> None:
    clock = FakeClock(wall_start=WALL)
    client.clock = clock
    manager = VolumeManager(
        tmp_path / "pods",
        client,  # type: ignore[arg-type]
        node_name="n",
        clock=clock,
        memory_backed_secrets=False,
    )
    pod = make_pod([kube_api_access()])
    p = (await manager.setup(pod))["kube-api-access"]
    assert p.parent.name == "kubernetes.io~projected"
    assert (p / "token").read_text() == "token-1"
    assert (p / "ca.crt").read_text() == "1"
    assert (p / "user").read_text() == "admin"
    assert (p / "namespace").read_text() == "ns1"
    ns, sa, body = client.token_requests[0]
    assert (ns, sa) == ("ns1", "builder")
    assert body["spec"] == {
        "expirationSeconds": 3607,
        "audiences": ["api"],
        "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web-0", "uid": UID},
    }
    await clock.advance(2000)  # < 80% of the lifetime: the cached token is kept
    assert not await manager.refresh(pod)
    assert len(client.token_requests) == 1
    await clock.advance(1000)  # past 80%
    assert await manager.refresh(pod)
    assert (p / "token").read_text() == "token-2"


async def test_token_request_not_served(manager: VolumeManager, client: FakeClient) -> None:
    client.token_error = api_error(
        {
            "kind": "Status",
            "code": 404,
            "reason": "NotFound",
            "message": "the server could not find the requested resource",
        }
    )
    with pytest.raises(VolumeError) as err:
        await manager.setup(make_pod([kube_api_access()]))
    assert err.value.message == (
        'MountVolume.SetUp failed for volume "kube-api-access" : '
        "failed to fetch token: the server could not find the requested resource"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
async def test_fs_group(manager: VolumeManager) -> None:
    vols = [
        {"name": "scratch", "emptyDir": {}},
        {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 0o400}},
        kube_api_access(),
    ]
    pod = make_pod(vols, securityContext={"fsGroup": 4321, "runAsUser": 1000})
    paths = await manager.setup(pod)
    st = os.stat(paths["scratch"])
    assert st.st_gid == 4321 and stat.S_IMODE(st.st_mode) == 0o2777
    f = (paths["cfg"] / "a").resolve()
    assert os.stat(f).st_gid == 4321 and mode(f) == 0o440
    assert os.lstat(paths["cfg"] / "a").st_gid == 4321  # the link itself too
    tok = (paths["kube-api-access"] / "token").resolve()
    assert mode(tok) == 0o640  # 0600 for fsGroup, then group read
    assert (os.stat(tok).st_uid, os.stat(tok).st_gid) == (1000, 4321)


# --- persistent volume claims ----------------------------------------------------------------


def pvc(phase: str = "Bound", volume: str = "pv-1", uid: str = "claim-uid") -> Obj:
    return {
        "metadata": {"name": "data", "namespace": "ns1", "uid": uid},
        "spec": {"volumeName": volume},
        "status": {"phase": phase},
    }


def pv(source: Obj, claim_uid: str = "claim-uid") -> Obj:
    return {"metadata": {"name": "pv-1"}, "spec": {"claimRef": {"uid": claim_uid}, **source}}


async def test_pvc_host_path(manager: VolumeManager, client: FakeClient, tmp_path: Path) -> None:
    target = tmp_path / "storage/pvc-1"
    client.put("persistentvolumeclaims", pvc())
    client.put(
        "persistentvolumes", pv({"hostPath": {"path": str(target), "type": "DirectoryOrCreate"}})
    )
    vol = {"name": "data", "persistentVolumeClaim": {"claimName": "data", "readOnly": True}}
    pod = make_pod(
        [vol], [{"name": "app", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]
    )
    paths = await manager.setup(pod)
    assert paths["data"] == target and target.is_dir()
    m = manager.container_mounts(pod, pod["spec"]["containers"][0], paths)
    assert m == [Mount("/data", target, True, PROPAGATION_PRIVATE, "data")]
    local = tmp_path / "local"
    local.mkdir()
    client.put("persistentvolumes", pv({"local": {"path": str(local)}}))
    assert (await manager.setup(pod))["data"] == local


@pytest.mark.parametrize(
    ("claim", "volume", "detail"),
    [
        (
            None,
            None,
            'failed to fetch PVC from API server: persistentvolumeclaims "data" not found',
        ),
        (pvc(phase="Pending"), None, "PVC is not bound"),
        (
            pvc(),
            None,
            'failed to fetch PV pv-1 from API server: persistentvolumes "pv-1" not found',
        ),
        (
            pvc(),
            pv({"hostPath": {"path": "/x"}}, claim_uid="other"),
            "found PV object pv-1 but its pv.Spec.ClaimRef.UID other does not point to claim.UID claim-uid",
        ),
    ],
)
async def test_pvc_errors(
    manager: VolumeManager, client: FakeClient, claim: Obj | None, volume: Obj | None, detail: str
) -> None:
    if claim is not None:
        client.put("persistentvolumeclaims", claim)
    if volume is not None:
        client.put("persistentvolumes", volume)
    vol = {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}
    with pytest.raises(VolumeError) as err:
        await manager.setup(make_pod([vol]))
    assert err.value.message == f"error processing PVC ns1/data: {detail}"


async def test_unsupported_types(manager: VolumeManager) -> None:
    vol = {"name": "eph", "ephemeral": {"volumeClaimTemplate": {}}}
    with pytest.raises(VolumeError, match='volume type "ephemeral" is not supported'):
        await manager.setup(make_pod([vol]))


# --- teardown --------------------------------------------------------------------------------


async def test_teardown_twice_and_after_restart(
    manager: VolumeManager, client: FakeClient, tmp_path: Path
) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "precious").write_text("x")
    pod = make_pod(
        [
            {"name": "e", "emptyDir": {}},
            {"name": "c", "configMap": {"name": "cfg"}},
            {"name": "h", "hostPath": {"path": str(host)}},
        ]
    )
    await manager.setup(pod)
    fresh = VolumeManager(manager.pods_dir, client, node_name="node-a")  # type: ignore[arg-type]
    assert fresh.pods_on_disk() == [UID]
    await fresh.teardown(UID)
    assert not (manager.pods_dir / UID).exists()
    assert (host / "precious").read_text() == "x"
    await fresh.teardown(UID)
    await manager.teardown(UID)


# --- container mounts ------------------------------------------------------------------------


async def test_container_mounts(manager: VolumeManager, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    vols = [
        {"name": "e", "emptyDir": {}},
        {"name": "c", "configMap": {"name": "cfg"}},
        {"name": "h", "hostPath": {"path": str(host)}},
    ]
    container = {
        "name": "app",
        "volumeMounts": [
            {"name": "e", "mountPath": "/scratch"},
            {"name": "e", "mountPath": "/logs", "subPathExpr": "logs/$(POD_NAME)"},
            {"name": "c", "mountPath": "/etc/app.conf", "subPath": "a"},
            {"name": "c", "mountPath": "/cfg"},
            {
                "name": "h",
                "mountPath": "rel",
                "readOnly": True,
                "mountPropagation": "HostToContainer",
            },
            {"name": "h", "mountPath": "/bi", "mountPropagation": "Bidirectional"},
        ],
    }
    pod = make_pod(vols, [container])
    paths = await manager.setup(pod)
    hosts = tmp_path / "etc-hosts"
    mounts = manager.container_mounts(
        pod, container, paths, env=[("POD_NAME", "web-0")], etc_hosts=hosts
    )
    e = paths["e"]
    cfg_file = (paths["c"] / "a").resolve()
    assert mounts == [
        Mount("/scratch", e, False, PROPAGATION_PRIVATE, "e"),
        Mount("/logs", e / "logs/web-0", False, PROPAGATION_PRIVATE, "e"),
        Mount("/etc/app.conf", cfg_file, True, PROPAGATION_PRIVATE, "c"),
        Mount("/cfg", paths["c"], True, PROPAGATION_PRIVATE, "c"),
        Mount("/rel", host, True, PROPAGATION_HOST_TO_CONTAINER, "h"),
        Mount("/bi", host, False, PROPAGATION_BIDIRECTIONAL, "h"),
        Mount("/etc/hosts", hosts, False, PROPAGATION_PRIVATE, "k8s-managed-etc-hosts"),
    ]
    assert (e / "logs/web-0").is_dir() and mode(e / "logs/web-0") == 0o777
    # a container mounting its own /etc/hosts gets no managed one
    own = {"name": "x", "volumeMounts": [{"name": "h", "mountPath": "/etc/hosts"}]}
    assert [
        m.container_path for m in manager.container_mounts(pod, own, paths, etc_hosts=hosts)
    ] == ["/etc/hosts"]


@pytest.mark.parametrize(
    ("mount", "error", "message"),
    [
        ({"subPath": "/etc"}, SubPathError, "error SubPath `/etc` must not be an absolute path"),
        (
            {"subPath": "a/../../x"},
            SubPathError,
            "unable to provision SubPath `a/../../x`: must not contain '..'",
        ),
        ({"subPathExpr": "$(NOPE)/x"}, EnvError, "missing value for NOPE"),
        (
            {"subPathExpr": "$(UP)"},
            SubPathError,
            "unable to provision SubPath `..`: must not contain '..'",
        ),
        (
            {"subPath": "escape"},
            SubPathError,
            'failed to prepare subPath for volumeMount "e" of container "app"',
        ),
        (
            {"subPath": "escape/deeper"},
            SubPathError,
            'failed to create subPath directory for volumeMount "e" of container "app"',
        ),
        (
            {"mountPropagation": "Sideways"},
            VolumeMountError,
            'invalid MountPropagation mode: "Sideways"',
        ),
        (
            {"name": "nope"},
            VolumeMountError,
            'cannot find volume "nope" to mount into container "app"',
        ),
    ],
)
async def test_container_mount_errors(
    manager: VolumeManager,
    tmp_path: Path,
    mount: Obj,
    error: type[ContainerConfigError],
    message: str,
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    pod = make_pod([{"name": "e", "emptyDir": {}}])
    paths = await manager.setup(pod)
    (paths["e"] / "escape").symlink_to(outside)  # a link a container planted in its volume
    container = {"name": "app", "volumeMounts": [{"name": "e", "mountPath": "/m", **mount}]}
    with pytest.raises(error) as err:
        manager.container_mounts(pod, container, paths, env=[("UP", "..")])
    assert err.value.message == message
    assert os.listdir(outside) == []


class GatedClient(FakeClient):
    """Holds every read until ``expect`` reads are in flight at once, then lets
    them all through: serial reads would never get there."""

    def __init__(self, expect: int) -> None:
        super().__init__()
        self.expect = expect
        self.in_flight = 0
        self.gets: list[str] = []
        self.gate = asyncio.Event()

    async def _arrive(self) -> None:
        self.in_flight += 1
        if self.in_flight >= self.expect:
            self.gate.set()
        await asyncio.wait_for(self.gate.wait(), 5)

    async def get(self, resource: Any, name: str, *, namespace: str | None = None) -> Obj:
        self.gets.append(name)
        await self._arrive()
        return await super().get(resource, name, namespace=namespace)

    async def create(self, resource: Any, obj: Obj, **kw: Any) -> Obj:
        await self._arrive()
        return await super().create(resource, obj, **kw)


async def test_projected_sources_are_fetched_together(tmp_path: Path) -> None:
    # token request + ConfigMap + Secret in flight at once; the ConfigMap named
    # by two sources is read once
    client = GatedClient(expect=3)
    client.put("configmaps", {"metadata": {"name": "cfg", "namespace": "ns1"}, "data": {"a": "1"}})
    client.put(
        "secrets",
        {"metadata": {"name": "creds", "namespace": "ns1"}, "data": {"user": "YWRtaW4="}},
    )
    vol = kube_api_access()
    vol["projected"]["sources"].append(
        {"configMap": {"name": "cfg", "items": [{"key": "a", "path": "again"}]}}
    )
    manager = VolumeManager(
        tmp_path / "pods",
        client,  # type: ignore[arg-type]
        node_name="n",
        memory_backed_secrets=False,
    )
    p = (await manager.setup(make_pod([vol])))["kube-api-access"]
    assert (p / "token").read_text() == "token-1"
    assert (p / "ca.crt").read_text() == (p / "again").read_text() == "1"
    assert (p / "user").read_text() == "admin"
    assert sorted(client.gets) == ["cfg", "creds"]


async def test_pods_share_reads_in_flight_but_not_finished_ones(tmp_path: Path) -> None:
    # two pods projecting the same ConfigMap at once: one read between them
    # (the two token requests and the one read are in flight together); a
    # later pass reads it again and sees its new data
    client = GatedClient(expect=3)
    client.put("configmaps", {"metadata": {"name": "cfg", "namespace": "ns1"}, "data": {"a": "1"}})
    manager = VolumeManager(
        tmp_path / "pods",
        client,  # type: ignore[arg-type]
        node_name="n",
        memory_backed_secrets=False,
    )
    vol = kube_api_access()
    sources = vol["projected"]["sources"]
    sources[1] = {"configMap": {"name": "cfg", "items": [{"key": "a", "path": "a"}]}}
    del sources[2]  # the Secret
    pods = [make_pod([vol]), make_pod([vol])]
    pods[1]["metadata"]["uid"] = "other-uid"
    first, second = await asyncio.gather(*(manager.setup(p) for p in pods))
    assert client.gets == ["cfg"]
    assert len(client.token_requests) == 2
    assert (first["kube-api-access"] / "a").read_text() == "1"
    assert (second["kube-api-access"] / "a").read_text() == "1"

    client.put("configmaps", {"metadata": {"name": "cfg", "namespace": "ns1"}, "data": {"a": "2"}})
    client.expect = 0  # no more waiting
    assert await manager.refresh(pods[0])
    assert client.gets == ["cfg", "cfg"]
    assert (first["kube-api-access"] / "a").read_text() == "2"
