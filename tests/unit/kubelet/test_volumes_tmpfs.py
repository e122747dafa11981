"""Memory-backed volumes: real tmpfs mounts (root), found again and unmounted on teardown."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pinnace.client.errors import NotFound
from pinnace.kubelet.volumes import VolumeManager
from pinnace.kubelet.volumes.emptydir import mount_points_under, unmount

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting tmpfs needs root"),
]

Obj = dict[str, Any]
UID = "tmpfs-pod-uid"


class FakeClient:
    def __init__(self, objects: dict[tuple[str, str], Obj]) -> None:
        self.objects = objects

    async def get(self, resource: Any, name: str, *, namespace: str | None = None) -> Obj:
        try:
            return self.objects[(resource.plural, name)]
        except KeyError:
            raise NotFound({"code": 404, "reason": "NotFound", "message": "not found"}) from None


@pytest.fixture
def pods_dir(tmp_path: Path) -> Iterator[Path]:
    pods = tmp_path / "pods"
    pods.mkdir()
    yield pods
    for mp in mount_points_under(pods):  # whatever a failed test left mounted
        unmount(mp)


def fs_type(path: Path) -> str:
    real = os.path.realpath(path)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        if left.split(" ")[4] == real:
            return right.split(" ")[0]
    return ""


def make_pod(volumes: list[Obj], memory_limit: str | None = None) -> Obj:
    resources = {"limits": {"memory": memory_limit}} if memory_limit else {}
    return {
        "metadata": {"name": "p", "namespace": "ns1", "uid": UID},
        "spec": {"volumes": volumes, "containers": [{"name": "c", "resources": resources}]},
    }


async def test_memory_empty_dir_and_secret_on_tmpfs(pods_dir: Path) -> None:
    secret = {
        "metadata": {"name": "s", "namespace": "ns1"},
        "data": {"k": base64.b64encode(b"v").decode()},
    }
    client = FakeClient({("secrets", "s"): secret})
    mgr = VolumeManager(
        pods_dir,
        client,  # type: ignore[arg-type]
        node_name="n",
        node_allocatable={"memory": "1Gi"},
        memory_backed_secrets=True,
    )
    pod = make_pod(
        [
            {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}},
            {"name": "big", "emptyDir": {"medium": "Memory"}},
            {"name": "sec", "secret": {"secretName": "s"}},
        ],
        memory_limit="64Mi",
    )
    paths = await mgr.setup(pod)
    for name in ("mem", "big", "sec"):
        assert fs_type(paths[name]) == "tmpfs", name
    st = os.statvfs(paths["mem"])
    assert st.f_blocks * st.f_frsize == 8 * 2**20
    st = os.statvfs(paths["big"])
    assert st.f_blocks * st.f_frsize == 64 * 2**20  # the pod's memory limit
    assert os.stat(paths["mem"]).st_mode & 0o777 == 0o777
    assert (paths["sec"] / "k").read_text() == "v"
    (paths["mem"] / "f").write_bytes(b"x" * 10000)
    await mgr.setup(pod)  # again: no second mount, content kept
    assert len(mount_points_under(paths["mem"])) == 1
    assert (paths["mem"] / "f").exists()
    assert (await mgr.usage(UID))["mem"] >= 10000

    restarted = VolumeManager(pods_dir, client, node_name="n")  # type: ignore[arg-type]
    await restarted.teardown(UID)
    assert mount_points_under(pods_dir) == []
    assert not (pods_dir / UID).exists()
    await restarted.teardown(UID)
