"""Fixtures for tests that run real containers: a loopback registry holding the
test images, and one single-node cluster per module (see tests/node_cluster.py).

These tests need root, containerd, runc and the CNI plugins (``make setup``
installs them); they are skipped with a reason when any is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.images import build_test_images, push_test_images_sync
from tests.node_cluster import NodeCluster
from tests.registry import RegistryServer

REQUIRED = ("containerd", "runc", "ctr", "docker-registry", "ip")


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for binary in REQUIRED:
        if shutil.which(binary) is None:
            return f"needs {binary} (make setup installs it)"
    if not Path("/usr/lib/cni/bridge").exists():
        return "needs the CNI plugins in /usr/lib/cni (make setup installs them)"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = _missing()
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("node"):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def test_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_test_images(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="session")
def registry(
    tmp_path_factory: pytest.TempPathFactory, test_images: dict[str, Path]
) -> Iterator[str]:
    with RegistryServer(tmp_path_factory.mktemp("registry")) as reg:
        push_test_images_sync(reg.address, test_images)
        yield reg.address


_counter = [0]


@pytest.fixture(scope="module")
def node_cluster(tmp_path_factory: pytest.TempPathFactory, registry: str) -> Iterator[NodeCluster]:
    _counter[0] += 1
    base = tmp_path_factory.mktemp("nodecluster")
    cluster = NodeCluster(
        base / "data",
        registry=registry,
        bridge=f"pn{os.getpid() % 10000}x{_counter[0]}",
        pod_cidr=f"10.244.{100 + _counter[0] % 100}.0/24",
    )
    try:
        cluster.start()
        cluster.wait_node_ready()
        yield cluster
    finally:
        cluster.shutdown()
