import asyncio
from typing import Any

import pytest

from pinnace.client import FakeClock
from pinnace.scheduler.config import ConfigError, parse_config
from pinnace.scheduler.scheduler import Scheduler, num_feasible_nodes_to_find
from tests.unit.scheduler.helpers import node, pod, scheduler


class FakeApi:
    def __init__(self) -> None:
        self.bound: list[tuple[str, str]] = []
        self.status_patches: list[tuple[str, Any]] = []
        self.deleted: list[str] = []

    async def bind(
        self, namespace: str, name: str, node: str, *, pod_uid: str | None = None
    ) -> dict:  # type: ignore[type-arg]
        self.bound.append((name, node))
        return {}

    async def patch_status(self, resource: Any, name: str, patch: Any, **kw: Any) -> dict:  # type: ignore[type-arg]
        self.status_patches.append((name, patch))
        return {}

    async def delete(self, resource: Any, name: str, **kw: Any) -> dict:  # type: ignore[type-arg]
        self.deleted.append(name)
        return {}


def wire(s: Scheduler) -> tuple[FakeApi, list[tuple[str, str, str, str]]]:
    api = FakeApi()
    s.client = api  # type: ignore[assignment]
    events: list[tuple[str, str, str, str]] = []
    s.record_event = lambda obj, t, r, m, n: events.append((obj["metadata"]["name"], t, r, m))  # type: ignore[method-assign]
    return api, events


async def drain(s: Scheduler) -> None:
    while (q := s.queue.pop_nowait()) is not None:
        s.schedule_one(q)
        await asyncio.sleep(0)
    for _ in range(5):
        await asyncio.sleep(0)


async def test_full_cycle_places_pods_and_assumes_capacity() -> None:
    s = scheduler([node("small", cpu="1"), node("big", cpu="4")])
    api, events = wire(s)
    for i in range(4):
        s.on_pod_add(pod(f"p{i}", "1"))
    await drain(s)
    placed = dict(api.bound)
    assert len(placed) == 4
    # assumed pods take capacity at once: never more than allocatable
    assert list(placed.values()).count("small") <= 1
    assert (
        "p0",
        "Normal",
        "Scheduled",
        f"Successfully assigned default/p0 to {placed['p0']}",
    ) in events


async def test_failed_scheduling_event_condition_and_retry_on_node_add() -> None:
    nodes = [
        node("n1", cpu="1"),
        node("n2", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        node("n3", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
    ]
    clock = FakeClock()
    s = scheduler(nodes, [pod("busy", "600m", node_name="n1")], clock=clock)
    api, events = wire(s)
    s.on_pod_add(pod("p", "500m"))
    await drain(s)
    assert api.bound == []
    (name, type_, reason, msg) = events[-1]
    assert (name, type_, reason) == ("p", "Warning", "FailedScheduling")
    assert msg == (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint "
        "{dedicated: gpu}. preemption: 0/3 nodes are available: 1 No preemption victims "
        "found for incoming pod, 2 Preemption is not helpful for scheduling.."
    )
    cond = api.status_patches[-1][1]["status"]["conditions"][0]
    assert cond["type"] == "PodScheduled" and cond["status"] == "False"
    assert cond["reason"] == "Unschedulable" and cond["message"] == msg
    uid = next(iter(s.queue._unschedulable))
    assert s.queue.where(uid) == "unschedulable"
    s.on_node_add(node("n4", cpu="2"))
    assert s.queue.where(uid) == "backoff"  # still within its 1 s backoff
    await clock.advance(1.5)
    s.queue.flush_backoff_completed()
    assert s.queue.where(uid) == "active"
    await drain(s)
    assert api.bound == [("p", "n4")]


async def test_preemption_nominates_and_deletes_victims() -> None:
    s = scheduler([node("n1", cpu="1")], [pod("low", "1", node_name="n1", priority=1)])
    api, events = wire(s)
    s.on_pod_add(pod("high", "1", priority=1000))
    await drain(s)
    assert api.deleted == ["low"]
    assert any(p[1]["status"].get("nominatedNodeName") == "n1" for p in api.status_patches)
    assert any(e[2] == "Preempted" and e[0] == "low" for e in events)
    assert [p.name for p in s.queue.nominated_pods_for_node("n1")] == ["high"]


async def test_required_anti_affinity_spreads_replicas() -> None:
    s = scheduler([node("n1"), node("n2"), node("n3")])
    api, _ = wire(s)
    anti = {
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {"matchLabels": {"app": "web"}},
                        "topologyKey": "kubernetes.io/hostname",
                    }
                ]
            }
        }
    }
    for i in range(3):
        s.on_pod_add(pod(f"web-{i}", labels={"app": "web"}, spec=anti))
    await drain(s)
    assert sorted(n for _, n in api.bound) == ["n1", "n2", "n3"]


def test_percentage_of_nodes_to_score() -> None:
    assert num_feasible_nodes_to_find(0, 50) == 50
    assert num_feasible_nodes_to_find(0, 1000) == 420  # 50 - 8 = 42 %
    assert num_feasible_nodes_to_find(0, 5000) == 500  # 10 %
    assert num_feasible_nodes_to_find(0, 10000) == 500  # floor of 5 %
    assert num_feasible_nodes_to_find(0, 150) == 100  # at least 100 nodes
    assert num_feasible_nodes_to_find(30, 1000) == 300


def test_config_profiles_weights_and_args() -> None:
    cfg = parse_config(
        {
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "percentageOfNodesToScore": 20,
            "profiles": [
                {"schedulerName": "default-scheduler"},
                {
                    "schedulerName": "bin-packer",
                    "plugins": {
                        "score": {
                            "disabled": [{"name": "NodeResourcesBalancedAllocation"}],
                            "enabled": [{"name": "NodeResourcesFit", "weight": 5}],
                        },
                        "multiPoint": {"disabled": [{"name": "ImageLocality"}]},
                    },
                    "pluginConfig": [
                        {
                            "name": "NodeResourcesFit",
                            "args": {"scoringStrategy": {"type": "MostAllocated"}},
                        },
                        {"name": "InterPodAffinity", "args": {"hardPodAffinityWeight": 7}},
                    ],
                },
            ],
        }
    )
    s = Scheduler(None, cfg)
    fw = s.frameworks["bin-packer"]
    weights = {p.name: w for p, w in fw.score_plugins}
    assert weights["NodeResourcesFit"] == 5
    assert "NodeResourcesBalancedAllocation" not in weights
    assert "ImageLocality" not in weights
    assert weights["TaintToleration"] == 3
    assert fw.plugins["NodeResourcesFit"].strategy == "MostAllocated"
    assert fw.plugins["InterPodAffinity"].hard_pod_affinity_weight == 7
    assert s.config.percentage_of_nodes_to_score == 20
    default = {p.name: w for p, w in s.frameworks["default-scheduler"].score_plugins}
    assert default == {
        "TaintToleration": 3,
        "NodeAffinity": 2,
        "NodeResourcesFit": 1,
        "PodTopologySpread": 2,
        "InterPodAffinity": 2,
        "NodeResourcesBalancedAllocation": 1,
        "ImageLocality": 1,
    }
    with pytest.raises(ConfigError):
        Scheduler(
            None,
            parse_config({"profiles": [{"plugins": {"filter": {"enabled": [{"name": "Nope"}]}}}]}),
        )
    with pytest.raises(ConfigError):
        parse_config({"apiVersion": "kubescheduler.config.k8s.io/v1beta3"})


async def test_pods_for_other_schedulers_are_ignored() -> None:
    s = scheduler([node("n1")])
    api, _ = wire(s)
    s.on_pod_add(pod("other", spec={"schedulerName": "someone-else"}))
    await drain(s)
    assert api.bound == []
