from __future__ import annotations

from pathlib import Path
from typing import Any

from pinnace.kubelet.cgroups import apply_pod_resources, apply_qos_resources, remove_pod_cgroups
from pinnace.kubelet.podconfig import PodResources, QOSResources, pod_resources, qos_resources


def test_removes_the_pod_cgroup_in_every_hierarchy_and_leaves_others(tmp_path: Path) -> None:
    for hierarchy in ("memory", "cpu", "pids"):
        (tmp_path / hierarchy / "kubepods" / "besteffort" / "poduid-1" / "ctr1").mkdir(parents=True)
        (tmp_path / hierarchy / "kubepods" / "besteffort" / "poduid-2").mkdir(parents=True)
    (tmp_path / "memory" / "kubepods" / "poduid-1").mkdir()
    remove_pod_cgroups("uid-1", root=tmp_path)
    for hierarchy in ("memory", "cpu", "pids"):
        assert not (tmp_path / hierarchy / "kubepods" / "besteffort" / "poduid-1").exists()
        assert (tmp_path / hierarchy / "kubepods" / "besteffort" / "poduid-2").exists()
    assert not (tmp_path / "memory" / "kubepods" / "poduid-1").exists()
    remove_pod_cgroups("uid-1", root=tmp_path)  # twice is fine


# --- pod-level resources -------------------------------------------------------------------


def _pod(containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"uid": "u1"}, "spec": {"containers": containers, **spec}}


def _c(name: str, requests: dict[str, str] | None = None, limits: dict[str, str] | None = None,
       **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "name": name,
        "resources": {"requests": requests or {}, "limits": limits or {}},
        **extra,
    }


def test_pod_resources_follow_the_qos_class() -> None:
    # BestEffort: minimum shares, no limits
    assert pod_resources(_pod([_c("a")])) == PodResources(cpu_shares=2)
    # Guaranteed: summed limits (and overhead) become quota and memory limit
    g = _pod(
        [_c("a", limits={"cpu": "500m", "memory": "64Mi"}),
         _c("b", limits={"cpu": "250m", "memory": "32Mi"})],
        overhead={"cpu": "250m", "memory": "16Mi"},
    )  # fmt: skip
    assert pod_resources(g) == PodResources(
        cpu_shares=1024, cpu_quota=100_000, memory_limit=112 * 1024 * 1024
    )
    # Burstable with every limit declared: both limits
    b = _pod([_c("a", requests={"cpu": "100m"}, limits={"cpu": "1", "memory": "1Gi"})])
    assert pod_resources(b) == PodResources(cpu_shares=102, cpu_quota=100_000, memory_limit=1 << 30)
    # Burstable where one container has no memory limit: no pod memory limit
    partial = _pod(
        [_c("a", requests={"cpu": "100m"}, limits={"cpu": "1", "memory": "1Gi"}),
         _c("b", requests={"memory": "10Mi"}, limits={"cpu": "1"})]
    )  # fmt: skip
    # (b requests its CPU limit: a limit without a request requests the limit)
    assert pod_resources(partial) == PodResources(cpu_shares=1126, cpu_quota=200_000)
    # a bigger init container sets the pod's figure
    init = _pod(
        [_c("a", limits={"cpu": "100m", "memory": "10Mi"})],
        initContainers=[_c("setup", limits={"cpu": "2", "memory": "10Mi"})],
    )
    assert pod_resources(init) == PodResources(
        cpu_shares=2048, cpu_quota=200_000, memory_limit=10 * 1024 * 1024
    )


def test_apply_pod_resources_on_cgroup_v1(tmp_path: Path) -> None:
    for h in ("cpu,cpuacct", "memory", "pids"):
        (tmp_path / h).mkdir()
    (tmp_path / "cpu").symlink_to("cpu,cpuacct")
    res = PodResources(cpu_shares=512, cpu_quota=50_000, memory_limit=64 << 20)
    apply_pod_resources("/kubepods/burstable/poduid", res, root=tmp_path)
    cpu = tmp_path / "cpu,cpuacct" / "kubepods" / "burstable" / "poduid"
    assert (cpu / "cpu.shares").read_text() == "512"
    assert (cpu / "cpu.cfs_quota_us").read_text() == "50000"
    assert (cpu / "cpu.cfs_period_us").read_text() == "100000"
    mem = tmp_path / "memory" / "kubepods" / "burstable" / "poduid" / "memory.limit_in_bytes"
    assert mem.read_text() == str(64 << 20)
    apply_pod_resources("/kubepods/besteffort/poduid2", PodResources(cpu_shares=2), root=tmp_path)
    be = tmp_path / "cpu" / "kubepods" / "besteffort" / "poduid2"
    assert (be / "cpu.cfs_quota_us").read_text() == "-1"
    assert not (
        tmp_path / "memory" / "kubepods" / "besteffort" / "poduid2" / "memory.limit_in_bytes"
    ).exists()


def test_apply_pod_resources_on_cgroup_v2(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids")
    apply_pod_resources(
        "/kubepods/poduid", PodResources(cpu_shares=1024, cpu_quota=25_000, memory_limit=1 << 26),
        root=tmp_path,
    )  # fmt: skip
    d = tmp_path / "kubepods" / "poduid"
    assert (d / "cpu.weight").read_text() == "39"
    assert (d / "cpu.max").read_text() == "25000 100000"
    assert (d / "memory.max").read_text() == str(1 << 26)
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (tmp_path / "kubepods" / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"


# --- QoS-level cgroups ---------------------------------------------------------------------


def test_qos_resources_from_capacity_reservations_and_burstable_requests() -> None:
    capacity = {"cpu": "4", "memory": "8Gi", "pods": "110"}
    pods = [
        _pod([_c("a", requests={"cpu": "250m"})]),  # burstable
        _pod([_c("a", requests={"cpu": "500m", "memory": "1Mi"}, limits={"memory": "2Mi"})]),
        _pod([_c("a", limits={"cpu": "1", "memory": "1Gi"})]),  # guaranteed: not counted
        _pod([_c("a")]),  # best effort
        _pod([_c("a", requests={"memory": "10Mi"})]),  # burstable without CPU
    ]
    res = qos_resources(pods, capacity, ({"cpu": "500m", "memory": "1Gi"}, {"memory": "512Mi"}))
    assert res == QOSResources(
        pods_cpu_shares=int(3.5 * 1024),
        pods_memory_limit=(8 << 30) - (1 << 30) - (512 << 20),
        burstable_cpu_shares=int(0.75 * 1024),
        besteffort_cpu_shares=2,
    )
    # no burstable pods: the minimum; reservations larger than capacity: zero memory
    empty = qos_resources([], capacity, ({"memory": "9Gi"},))
    assert empty.burstable_cpu_shares == 2
    assert empty.pods_memory_limit is None


def test_apply_qos_resources_on_cgroup_v1(tmp_path: Path) -> None:
    for h in ("cpu,cpuacct", "memory"):
        (tmp_path / h).mkdir()
    (tmp_path / "cpu").symlink_to("cpu,cpuacct")
    apply_qos_resources(QOSResources(2048, 1 << 30, 300), root=tmp_path)
    cpu, mem = tmp_path / "cpu" / "kubepods", tmp_path / "memory" / "kubepods"
    assert (cpu / "cpu.shares").read_text() == "2048"
    assert (cpu / "burstable" / "cpu.shares").read_text() == "300"
    assert (cpu / "besteffort" / "cpu.shares").read_text() == "2"
    assert (mem / "memory.limit_in_bytes").read_text() == str(1 << 30)
    assert (mem / "burstable").is_dir() and (mem / "besteffort").is_dir()
    assert not (mem / "burstable" / "memory.limit_in_bytes").exists()
    apply_qos_resources(QOSResources(2048, None, 2), root=tmp_path)
    assert (mem / "memory.limit_in_bytes").read_text() == "-1"
    assert (cpu / "burstable" / "cpu.shares").read_text() == "2"


def test_apply_qos_resources_on_cgroup_v2(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids")
    apply_qos_resources(QOSResources(4096, 2 << 30, 1024), root=tmp_path)
    d = tmp_path / "kubepods"
    assert (d / "cpu.weight").read_text() == "157"
    assert (d / "memory.max").read_text() == str(2 << 30)
    assert (d / "burstable" / "cpu.weight").read_text() == "39"
    assert (d / "besteffort" / "cpu.weight").read_text() == "1"
    assert (d / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
