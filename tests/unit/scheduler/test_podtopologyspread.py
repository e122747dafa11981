from pinnace.scheduler.framework import CycleState, NodeScore
from pinnace.scheduler.framework.status import Code
from pinnace.scheduler.framework.types import PodInfo
from tests.unit.scheduler.helpers import filter_all, framework, node, pod

ZONE = "zone"


def spread(max_skew: int, key: str, when: str = "DoNotSchedule", **extra) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return {
        "topologySpreadConstraints": [
            {
                "maxSkew": max_skew,
                "topologyKey": key,
                "whenUnsatisfiable": when,
                "labelSelector": {"matchLabels": {"foo": ""}},
                **extra,
            }
        ]
    }


def nodes4() -> list:  # type: ignore[type-arg]
    return [
        node("node-a", labels={ZONE: "zone1"}),
        node("node-b", labels={ZONE: "zone1"}),
        node("node-x", labels={ZONE: "zone2"}),
        node("node-y", labels={ZONE: "zone2"}),
    ]


def test_max_skew_1_zones() -> None:
    # upstream filtering_test: "pods spread across zones as 3/3, all nodes fit" variant 3/1
    existing = [
        pod("p-a1", labels={"foo": ""}, node_name="node-a"),
        pod("p-a2", labels={"foo": ""}, node_name="node-a"),
        pod("p-b1", labels={"foo": ""}, node_name="node-b"),
        pod("p-y1", labels={"foo": ""}, node_name="node-y"),
    ]
    fw, _ = framework(nodes4(), existing)
    res = filter_all(fw, pod("p", labels={"foo": ""}, spec=spread(1, ZONE)))
    assert res["node-a"].reasons == ["node(s) didn't match pod topology spread constraints"]
    assert res["node-a"].code == Code.UNSCHEDULABLE
    assert res["node-b"] is not None
    assert res["node-x"] is None and res["node-y"] is None


def test_missing_topology_key_is_unresolvable() -> None:
    nodes = [node("node-a", labels={ZONE: "zone1"}), node("node-b")]
    fw, _ = framework(nodes)
    res = filter_all(fw, pod("p", labels={"foo": ""}, spec=spread(1, ZONE)))
    assert res["node-a"] is None
    assert res["node-b"].code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert res["node-b"].reasons == [
        "node(s) didn't match pod topology spread constraints (missing required label)"
    ]


def test_schedule_anyway_does_not_filter() -> None:
    existing = [pod(f"p{i}", labels={"foo": ""}, node_name="node-a") for i in range(3)]
    fw, _ = framework(nodes4(), existing)
    res = filter_all(fw, pod("p", labels={"foo": ""}, spec=spread(1, ZONE, "ScheduleAnyway")))
    assert all(v is None for v in res.values())


def test_min_domains_forces_global_minimum_zero() -> None:
    existing = [
        pod("p1", labels={"foo": ""}, node_name="node-a"),
        pod("p2", labels={"foo": ""}, node_name="node-x"),
    ]
    fw, _ = framework(nodes4(), existing)
    # 2 domains < minDomains 3 → min is 0 → skew 1+1-0 = 2 > 1 everywhere
    res = filter_all(fw, pod("p", labels={"foo": ""}, spec=spread(1, ZONE, minDomains=3)))
    assert all(v is not None for v in res.values())
    res = filter_all(fw, pod("p", labels={"foo": ""}, spec=spread(2, ZONE, minDomains=3)))
    assert all(v is None for v in res.values())


def test_node_affinity_policy_honour_excludes_nodes() -> None:
    nodes = [
        node("node-a", labels={ZONE: "zone1", "t": "x"}),
        node("node-b", labels={ZONE: "zone2"}),
    ]
    existing = [pod("p1", labels={"foo": ""}, node_name="node-a")]
    fw, _ = framework(nodes, existing)
    spec = spread(1, ZONE)
    spec["nodeSelector"] = {"t": "x"}
    # zone2 is excluded by the node selector, so zone1 is the only domain: min 1 → skew 1
    res = filter_all(fw, pod("p", labels={"foo": ""}, spec=spec))
    assert res["node-a"] is None
    spec["topologySpreadConstraints"][0]["nodeAffinityPolicy"] = "Ignore"
    res = filter_all(fw, pod("q", labels={"foo": ""}, spec=spec))
    assert res["node-a"] is not None  # zone1 2 vs zone2 0


def test_match_label_keys() -> None:
    existing = [
        pod(f"old{i}", labels={"foo": "", "rev": "1"}, node_name="node-a") for i in range(3)
    ]
    fw, _ = framework(nodes4(), existing)
    spec = spread(1, ZONE, matchLabelKeys=["rev"])
    res = filter_all(fw, pod("p", labels={"foo": "", "rev": "2"}, spec=spec))
    assert all(v is None for v in res.values())  # only rev=2 pods count


def test_score_prefers_emptier_domains() -> None:
    existing = [pod(f"p{i}", labels={"foo": ""}, node_name="node-a") for i in range(2)] + [
        pod("q", labels={"foo": ""}, node_name="node-x")
    ]
    fw, _ = framework(nodes4(), existing)
    pl = fw.plugins["PodTopologySpread"]
    p = PodInfo(pod("p", labels={"foo": ""}, spec=spread(1, ZONE, "ScheduleAnyway")))
    state = CycleState()
    ns = fw.snapshot.node_list()
    assert pl.pre_score(state, p, ns) is None
    scores = [NodeScore(n.name, pl.score(state, p, n)) for n in ns]
    pl.normalize_score(state, p, scores)
    s = {x.name: x.score for x in scores}
    assert s["node-x"] == s["node-y"] > s["node-a"] == s["node-b"]


def test_system_default_constraints_use_service_selector() -> None:
    svc = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}},
    }
    existing = [pod(f"w{i}", labels={"app": "web"}, node_name="node-a") for i in range(3)]
    fw, _ = framework(nodes4(), existing, objects={"services": [svc]})
    pl = fw.plugins["PodTopologySpread"]
    p = PodInfo(pod("w", labels={"app": "web"}))
    state = CycleState()
    ns = fw.snapshot.node_list()
    assert pl.pre_score(state, p, ns) is None
    scores = [NodeScore(n.name, pl.score(state, p, n)) for n in ns]
    pl.normalize_score(state, p, scores)
    s = {x.name: x.score for x in scores}
    assert s["node-a"] < s["node-b"]
    # and a pod no service selects gets no default constraints
    assert pl.pre_score(CycleState(), PodInfo(pod("lonely")), ns) is not None
