"""The scheduler against a live API server: Node objects created directly (no
kubelet/sim), pods placed as upstream would, failures reported upstream-style."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from pinnace.client import PODS, Client, ClientConfig, ResourceRef
from pinnace.scheduler import run_scheduler
from tests.cluster import Server

NODES = ResourceRef("", "v1", "nodes", False, "Node")
EVENTS = ResourceRef("", "v1", "events", True, "Event")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d: Path = tmp_path_factory.mktemp("pinnace-sched")
    s = Server(d / "data").start()
    try:
        yield s
    finally:
        s.stop()


async def make_node(
    c: Client,
    name: str,
    cpu: str,
    labels: dict[str, str] | None = None,
    taints: list[Any] | None = None,
) -> None:
    await c.create(
        NODES,
        {
            "metadata": {
                "name": name,
                "labels": {"kubernetes.io/hostname": name, **(labels or {})},
            },
            "spec": {"taints": taints or []},
        },
    )
    alloc = {"cpu": cpu, "memory": "8Gi", "pods": "110"}
    await c.patch_status(
        NODES,
        name,
        {
            "status": {
                "capacity": alloc,
                "allocatable": alloc,
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            }
        },
    )


PRIORITY_CLASSES = ResourceRef("scheduling.k8s.io", "v1", "priorityclasses", False, "PriorityClass")


def mkpod(name: str, cpu: str = "100m", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": spec.pop("labels", {})},
        "spec": {
            "containers": [
                {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}
            ],
            **spec,
        },
    }


async def wait_for(fn: Any, timeout: float = 15.0) -> Any:
    end = asyncio.get_running_loop().time() + timeout
    while True:
        v = await fn()
        if v:
            return v
        if asyncio.get_running_loop().time() > end:
            raise AssertionError("timed out")
        await asyncio.sleep(0.1)


@pytest.fixture
async def cluster(server: Server) -> AsyncIterator[Client]:
    cfg = ClientConfig.from_kubeconfig(server.kubeconfig).with_rate_limits(200, 400)
    c = Client.from_config(cfg)
    ready = asyncio.Event()
    task = asyncio.ensure_future(run_scheduler(cfg, ready=ready))
    await asyncio.wait_for(ready.wait(), 20)
    try:
        yield c
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        await c.close()


async def node_of(c: Client, name: str) -> str:
    p = await c.get(PODS, name, namespace="default")
    return str(p["spec"].get("nodeName") or "")


@pytest.mark.slow
async def test_placements_failures_and_preemption(cluster: Client) -> None:
    c = cluster
    await make_node(c, "small", "1", {"topology.kubernetes.io/zone": "a", "disk": "hdd"})
    await make_node(c, "big", "4", {"topology.kubernetes.io/zone": "b", "disk": "ssd"})
    await make_node(
        c,
        "gpu",
        "8",
        {"topology.kubernetes.io/zone": "b"},
        [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}],
    )
    # requests + nodeSelector
    await c.create(PODS, mkpod("sel", nodeSelector={"disk": "ssd"}), namespace="default")
    assert await wait_for(lambda: node_of(c, "sel")) == "big"
    # tolerations: only a tolerating pod may land on gpu; a 6-cpu pod fits only there
    await c.create(
        PODS,
        mkpod("tol", "6", tolerations=[{"key": "dedicated", "operator": "Exists"}]),
        namespace="default",
    )
    assert await wait_for(lambda: node_of(c, "tol")) == "gpu"
    # anti-affinity on hostname: three replicas on three nodes... two untainted nodes
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"app": "web"}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }
    for i in range(2):
        await c.create(
            PODS, mkpod(f"web-{i}", labels={"app": "web"}, affinity=anti), namespace="default"
        )
    placed = {await wait_for(lambda i=i: node_of(c, f"web-{i}")) for i in range(2)}
    assert placed == {"small", "big"}
    # unschedulable: event + condition, then scheduled once a node fits
    await c.create(PODS, mkpod("huge", "16"), namespace="default")

    async def failed() -> Any:
        p = await c.get(PODS, "huge", namespace="default")
        conds = [x for x in p["status"].get("conditions") or [] if x["type"] == "PodScheduled"]
        return conds[0] if conds and conds[0]["status"] == "False" else None

    cond = await wait_for(failed)
    assert cond["reason"] == "Unschedulable"
    assert cond["message"].startswith("0/3 nodes are available: ")
    assert "1 node(s) had untolerated taint {dedicated: gpu}" in cond["message"]
    evs = await c.list(EVENTS, namespace="default", field_selector="involvedObject.name=huge")
    assert any(e["reason"] == "FailedScheduling" and e["type"] == "Warning" for e in evs["items"])
    await make_node(c, "huge-node", "32")
    assert await wait_for(lambda: node_of(c, "huge")) == "huge-node"

    async def scheduled_event() -> bool:
        # the scheduler's recorder writes events after the binding, in its
        # own task: seeing the pod bound does not mean the event is there yet
        evs = await c.list(EVENTS, namespace="default", field_selector="involvedObject.name=huge")
        return any(
            e["reason"] == "Scheduled"
            and e["message"] == "Successfully assigned default/huge to huge-node"
            for e in evs["items"]
        )

    assert await wait_for(scheduled_event)
    # preemption: fill "small", then a high-priority pod evicts the low one
    # (priorities come from PriorityClasses, resolved by the Priority admission)
    for pc_name, value in (("low", 1), ("high", 1000)):
        await c.create(
            PRIORITY_CLASSES,
            {
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": {"name": pc_name},
                "value": value,
            },
        )
    await c.create(
        PODS,
        mkpod("filler", "800m", priorityClassName="low", nodeSelector={"disk": "hdd"}),
        namespace="default",
    )
    assert await wait_for(lambda: node_of(c, "filler")) == "small"
    await c.create(
        PODS,
        mkpod("vip", "800m", priorityClassName="high", nodeSelector={"disk": "hdd"}),
        namespace="default",
    )

    async def filler_gone() -> bool:
        items = (await c.list(PODS, namespace="default", field_selector="metadata.name=filler"))[
            "items"
        ]
        return not items or bool(items[0]["metadata"].get("deletionTimestamp"))

    assert await wait_for(filler_gone)
    # no kubelet here: finish the graceful deletion as the kubelet would
    try:
        await c.delete(PODS, "filler", namespace="default", grace_period_seconds=0)
    except Exception:
        pass
    assert await wait_for(lambda: node_of(c, "vip")) == "small"
