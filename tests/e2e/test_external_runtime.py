"""The node agent on a CRI runtime it did not start (``--container-runtime-
endpoint``): a containerd the test runs on its own, configured the way an
operator would configure theirs for pinnace (its CNI config directory is the
one the agent writes, its sandbox image imported, ``docker.io`` mirrored to
the test registry). Pods run on it, and stopping the cluster leaves that
containerd running."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pinnace.image import PAUSE_IMAGE
from pinnace.image.importer import import_into_containerd
from pinnace.image.registries import RegistriesConfig
from pinnace.kubelet.containerd import Containerd
from tests.images import mirror_config
from tests.node_cluster import NodeCluster, cleanup_agent_runtime

pytestmark = [pytest.mark.node, pytest.mark.slow]


async def _start_containerd(base: Path, cni_dir: Path, certs: Path, pause: Path) -> Containerd:
    ctr = Containerd(
        base / "containerd",
        sandbox_image=PAUSE_IMAGE,
        cni_conf_dir=cni_dir,
        registry_config_dir=certs,
    )
    await ctr.start()
    await ctr.wait_ready()
    await import_into_containerd(pause, PAUSE_IMAGE, address=ctr.address)
    await ctr.close()  # stop supervising: it runs on as the operator's own runtime
    return ctr


@pytest.fixture(scope="module")
def external(
    tmp_path_factory: pytest.TempPathFactory, registry: str, test_images: dict[str, Path]
) -> Iterator[tuple[NodeCluster, Containerd]]:
    base = tmp_path_factory.mktemp("extcri")
    data = base / "data"
    cni_dir = data / "agent" / "cni" / "net.d"  # where the agent writes its CNI config
    cni_dir.mkdir(parents=True)
    certs = base / "certs.d"
    RegistriesConfig.from_dict(mirror_config(registry)).write_hosts_dir(certs)
    ctr = asyncio.run(_start_containerd(base, cni_dir, certs, test_images["pause"]))
    bridge = f"px{os.getpid() % 10000}"
    cluster = NodeCluster(
        data,
        registry=registry,
        bridge=bridge,
        pod_cidr="10.244.231.0/24",
        extra_args=[
            "--container-runtime-endpoint",
            ctr.endpoint,
            "--dns-upstream",
            "127.0.0.1:9",
        ],
    )
    try:
        cluster.start()
        cluster.wait_node_ready()
        yield cluster, ctr
    finally:
        cluster.shutdown()
        # the runtime is the test's: remove its pods, then stop it
        cleanup_agent_runtime(base, bridge)


def _running(pod: dict[str, Any]) -> bool:
    return bool(pod.get("status", {}).get("phase") == "Running")


def test_pods_run_on_the_given_runtime(external: tuple[NodeCluster, Containerd]) -> None:
    c, ctr = external
    node = json.loads(c.kubectl("get", "node", c.node, "-o", "json").stdout)
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    # the agent started no containerd of its own
    assert not (c.agent_dir / "containerd" / "containerd.sock").exists()
    c.kubectl("run", "ext", "--image=busybox", "--", "sh", "-c", "echo hello; sleep 3600")
    pod = c.wait_pod("ext", _running)
    assert pod["status"]["podIP"].startswith("10.244.231.")
    assert c.kubectl("exec", "ext", "--", "echo", "inside").stdout == "inside\n"
    assert "hello" in c.kubectl("logs", "ext").stdout
    # the pod's sandbox is in that containerd
    assert asyncio.run(_sandbox_names(ctr)) == ["ext"]


async def _sandbox_names(ctr: Containerd) -> list[str]:
    async with ctr.client(timeout=30) as rt:
        return [s.metadata.name for s in await rt.list_pod_sandbox() if s.state == 0]


def test_the_runtime_outlives_the_agent(external: tuple[NodeCluster, Containerd]) -> None:
    c, ctr = external
    c.wait_pod("ext", _running)
    c.stop()
    try:
        assert ctr.pid is not None
        os.kill(ctr.pid, 0)  # still running
    finally:
        c.start()
        c.wait_node_ready()
    # the restarted agent adopts the pod instead of starting it again
    pod = c.wait_pod("ext", _running)
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
