"""The eviction manager's decisions (pinnace.kubelet.eviction) on stats
summaries shaped like ``/stats/summary``, and the status an evicted pod gets."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.kubelet.cri import api_pb2 as cri
from pinnace.kubelet.eviction import (
    Eviction,
    EvictionManager,
    Thresholds,
    active,
    local_storage_evictions,
    parse_eviction_hard,
    pressure_eviction,
)
from pinnace.kubelet.runtime import ContainerInfo, PodRuntime, SandboxInfo
from pinnace.kubelet.status import PodStatusInputs, compute_status

Mi = 1 << 20


def pod(uid: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": f"p-{uid}", "namespace": "ns", "uid": uid},
        "spec": {"containers": containers, **spec},
        "status": {"phase": "Running"},
    }


def pod_stats(
    uid: str,
    containers: dict[str, dict[str, int]] | None = None,
    volumes: dict[str, int] | None = None,
    ephemeral: int | None = None,
    memory: int | None = None,
) -> dict[str, Any]:
    """A pod's summary entry: per container rootfs/logs/memory bytes, volume
    usage by name."""
    out: dict[str, Any] = {"podRef": {"name": f"p-{uid}", "namespace": "ns", "uid": uid}}
    cs = []
    for name, use in (containers or {}).items():
        c: dict[str, Any] = {"name": name}
        if "rootfs" in use:
            c["rootfs"] = {"usedBytes": use["rootfs"]}
        if "logs" in use:
            c["logs"] = {"usedBytes": use["logs"]}
        if "memory" in use:
            c["memory"] = {"workingSetBytes": use["memory"]}
        cs.append(c)
    out["containers"] = cs
    if volumes:
        out["volume"] = [{"name": n, "usedBytes": b} for n, b in volumes.items()]
    if ephemeral is not None:
        out["ephemeral-storage"] = {"usedBytes": ephemeral}
    if memory is not None:
        out["memory"] = {"workingSetBytes": memory}
    return out


def summary(
    *pods: dict[str, Any], available: int = 8 << 30, fs_free: float = 0.5
) -> dict[str, Any]:
    cap = 100 << 30
    return {
        "node": {
            "memory": {"availableBytes": available},
            "fs": {"capacityBytes": cap, "availableBytes": int(cap * fs_free)},
        },
        "pods": list(pods),
    }


# --- local storage limits ------------------------------------------------------------------


def test_emptydir_over_its_size_limit_is_evicted_with_upstreams_message() -> None:
    vols = [{"name": "scratch", "emptyDir": {"sizeLimit": "1Mi"}}, {"name": "big", "emptyDir": {}}]
    p = pod("a", [{"name": "app"}], volumes=vols)
    under = summary(pod_stats("a", volumes={"scratch": Mi, "big": 500 * Mi}))
    assert local_storage_evictions([p], under) == []
    over = summary(pod_stats("a", volumes={"scratch": Mi + 4096}))
    (e,) = local_storage_evictions([p], over)
    assert e.pod is p and not e.disruption
    assert e.message == 'Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". '


def test_container_over_its_ephemeral_storage_limit() -> None:
    c = {"name": "app", "resources": {"limits": {"ephemeral-storage": "2Mi"}}}
    other = {"name": "side", "resources": {"limits": {"ephemeral-storage": "100Mi"}}}
    p = pod("a", [c, other])
    s = summary(pod_stats("a", {"app": {"rootfs": Mi, "logs": Mi + 1}, "side": {"rootfs": 10}}))
    (e,) = local_storage_evictions([p], s)
    assert e.message == 'Container app exceeded its local ephemeral storage limit "2Mi". '
    fine = summary(pod_stats("a", {"app": {"rootfs": Mi, "logs": Mi}}))
    assert local_storage_evictions([p], fine) == []


def test_pod_over_the_sum_of_its_containers_limits() -> None:
    c1 = {"name": "a", "resources": {"limits": {"ephemeral-storage": "2Mi"}}}
    c2 = {"name": "b", "resources": {"limits": {"ephemeral-storage": "2Mi"}}}
    vols = [{"name": "data", "emptyDir": {}}, {"name": "ram", "emptyDir": {"medium": "Memory"}}]
    p = pod("x", [c1, c2], volumes=vols)
    # 3Mi in the disk emptyDir + 1.5Mi of container writes: over 4Mi in total,
    # though no container is over its own limit; the tmpfs does not count
    s = summary(
        pod_stats(
            "x",
            {"a": {"rootfs": Mi}, "b": {"logs": Mi // 2}},
            volumes={"data": 3 * Mi, "ram": 50 * Mi},
        )
    )
    (e,) = local_storage_evictions([p], s)
    assert (
        e.message == "Pod ephemeral local storage usage exceeds the total limit of containers 4Mi. "
    )


def test_pods_without_limits_or_stats_are_left_alone() -> None:
    p = pod("a", [{"name": "app"}], volumes=[{"name": "v", "emptyDir": {}}])
    q = pod("b", [{"name": "app", "resources": {"limits": {"ephemeral-storage": "1Ki"}}}])
    s = summary(pod_stats("a", {"app": {"rootfs": 50 * Mi}}, volumes={"v": 900 * Mi}))
    assert local_storage_evictions([p, q], s) == []


# --- node pressure -------------------------------------------------------------------------


def test_no_pressure_no_eviction() -> None:
    p = pod("a", [{"name": "app"}])
    assert (
        pressure_eviction([p], summary(pod_stats("a", {"app": {"memory": Mi}})), Thresholds())
        is None
    )


def test_memory_pressure_evicts_the_pod_most_over_its_requests_first() -> None:
    guaranteed = pod(
        "g", [{"name": "app", "resources": {"requests": {"memory": "500Mi"}}}], priority=0
    )
    besteffort_small = pod("s", [{"name": "app"}])
    besteffort_big = pod("b", [{"name": "app"}])
    important = pod("i", [{"name": "app"}], priority=1000)
    stats = [
        pod_stats("g", {"app": {"memory": 400 * Mi}}, memory=400 * Mi),
        pod_stats("s", {"app": {"memory": 10 * Mi}}, memory=10 * Mi),
        pod_stats("b", {"app": {"memory": 200 * Mi}}, memory=200 * Mi),
        pod_stats("i", {"app": {"memory": 900 * Mi}}, memory=900 * Mi),
    ]
    s = summary(*stats, available=50 * Mi)
    e = pressure_eviction(
        [guaranteed, besteffort_small, besteffort_big, important], s, Thresholds()
    )
    assert e is not None and e.disruption
    # over its request and lowest priority, with the most usage above requests
    assert e.pod is besteffort_big
    assert e.message == (
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. "
        "Container app was using 200Mi, request is 0, has larger consumption of memory. "
    )


def test_disk_pressure_names_ephemeral_storage() -> None:
    p = pod("a", [{"name": "app"}])
    s = summary(pod_stats("a", {"app": {"rootfs": 3 * Mi}}, ephemeral=3 * Mi), fs_free=0.05)
    e = pressure_eviction([p], s, Thresholds())
    assert e is not None
    assert e.message.startswith(
        "The node was low on resource: ephemeral-storage. Threshold quantity: "
    )
    assert "Container app was using 3Mi, request is 0" in e.message


def test_parse_eviction_hard() -> None:
    t = parse_eviction_hard("memory.available<200Mi,nodefs.available<5%")
    assert t == Thresholds(200 * Mi, 0.05)
    assert parse_eviction_hard("") == Thresholds()
    for bad in ("memory.available>1Gi", "memory.available<10%", "nodefs.available<1Gi",
                "imagefs.available<15%", "memory.available<lots"):  # fmt: skip
        with pytest.raises(ValueError):
            parse_eviction_hard(bad)


# --- the loop ------------------------------------------------------------------------------


async def test_local_storage_evictions_come_before_pressure_ones() -> None:
    over = pod("a", [{"name": "app"}], volumes=[{"name": "v", "emptyDir": {"sizeLimit": "1Ki"}}])
    hog = pod("b", [{"name": "app"}])
    done = pod("c", [{"name": "app"}])
    done["status"]["phase"] = "Succeeded"
    s = summary(
        pod_stats("a", {"app": {"memory": Mi}}, volumes={"v": 2048}),
        pod_stats("b", {"app": {"memory": 900 * Mi}}, memory=900 * Mi),
        available=10 * Mi,
    )
    evicted: list[Eviction] = []

    async def get_summary() -> dict[str, Any]:
        return s

    async def evict(e: Eviction) -> None:
        evicted.append(e)

    m = EvictionManager(
        active_pods=lambda: active([over, hog, done]),
        summary=get_summary,
        evict=evict,
        thresholds=Thresholds(),
    )
    assert [e.pod["metadata"]["uid"] for e in await m.synchronize()] == ["a"]
    # once the first is gone, the node's memory pressure picks the hog
    over["status"]["phase"] = "Failed"
    assert [e.pod["metadata"]["uid"] for e in await m.synchronize()] == ["b"]
    assert [e.pod["metadata"]["uid"] for e in evicted] == ["a", "b"]


# --- the evicted pod's status --------------------------------------------------------------


def test_evicted_status_has_reason_message_and_disruption_condition() -> None:
    p = pod("u-1", [{"name": "app", "image": "busybox"}])
    killed = ContainerInfo(
        id="c1", sandbox_id="sb", name="app", attempt=0, state=cri.CONTAINER_EXITED,
        created_at=0, image="busybox", image_ref="sha256:x", restart_count=0, hash="",
        annotations={}, started_at=1_700_000_000 * 10**9, finished_at=1_700_000_010 * 10**9,
        exit_code=137, reason="Error",
    )  # fmt: skip
    rt = PodRuntime("u-1", sandboxes=[SandboxInfo("sb", 0, False, 1, "")], containers=[killed])
    msg = "The node was low on resource: memory. "
    s = compute_status(
        PodStatusInputs(
            pod=p, runtime=rt, host_ip="10.0.0.1", start_time="t",
            pod_failed_message=msg, pod_failed_reason="Evicted", disruption_message=msg,
        )
    )  # fmt: skip
    assert (s["phase"], s["reason"], s["message"]) == ("Failed", "Evicted", msg)
    dt = next(c for c in s["conditions"] if c["type"] == "DisruptionTarget")
    assert (dt["status"], dt["reason"], dt["message"]) == ("True", "TerminationByKubelet", msg)
    assert s["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137
    # a local storage eviction has no DisruptionTarget condition
    s2 = compute_status(
        PodStatusInputs(
            pod=p, runtime=rt, host_ip="10.0.0.1", start_time="t",
            pod_failed_message="x", pod_failed_reason="Evicted",
        )
    )  # fmt: skip
    assert all(c["type"] != "DisruptionTarget" for c in s2["conditions"])
