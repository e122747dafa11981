from pinnace.scheduler.framework import CycleState, NodeScore
from pinnace.scheduler.framework.status import Code
from pinnace.scheduler.framework.types import PodInfo
from tests.unit.scheduler.helpers import filter_all, framework, node, pod

HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


def anti(labels: dict[str, str], key: str = HOST) -> dict:  # type: ignore[type-arg]
    return {
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": labels}, "topologyKey": key}
                ]
            }
        }
    }


def aff(labels: dict[str, str], key: str = ZONE) -> dict:  # type: ignore[type-arg]
    return {
        "affinity": {
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": labels}, "topologyKey": key}
                ]
            }
        }
    }


def test_required_anti_affinity_on_hostname() -> None:
    nodes = [node("n1"), node("n2")]
    existing = [pod("web-0", labels={"app": "web"}, node_name="n1")]
    fw, _ = framework(nodes, existing)
    res = filter_all(fw, pod("web-1", labels={"app": "web"}, spec=anti({"app": "web"})))
    assert res["n2"] is None
    assert res["n1"].code == Code.UNSCHEDULABLE
    assert res["n1"].reasons == ["node(s) didn't match pod anti-affinity rules"]


def test_existing_pods_anti_affinity_is_honoured() -> None:
    nodes = [node("n1"), node("n2")]
    existing = [pod("db", labels={"app": "db"}, node_name="n1", spec=anti({"app": "web"}))]
    fw, _ = framework(nodes, existing)
    res = filter_all(fw, pod("web", labels={"app": "web"}))
    assert res["n1"].reasons == ["node(s) didn't satisfy existing pods anti-affinity rules"]
    assert res["n2"] is None


def test_required_affinity_to_zone() -> None:
    nodes = [
        node("n1", labels={ZONE: "a"}),
        node("n2", labels={ZONE: "a"}),
        node("n3", labels={ZONE: "b"}),
    ]
    existing = [pod("cache", labels={"app": "cache"}, node_name="n1")]
    fw, _ = framework(nodes, existing)
    res = filter_all(fw, pod("web", spec=aff({"app": "cache"})))
    assert res["n1"] is None and res["n2"] is None
    assert res["n3"].code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert res["n3"].reasons == ["node(s) didn't match pod affinity rules"]


def test_self_affinity_lets_the_first_pod_in() -> None:
    nodes = [node("n1", labels={ZONE: "a"}), node("n2")]
    fw, _ = framework(nodes)
    res = filter_all(fw, pod("first", labels={"app": "x"}, spec=aff({"app": "x"})))
    assert res["n1"] is None
    assert res["n2"] is not None  # lacks the topology key


def test_preferred_affinity_scores() -> None:
    nodes = [node("n1", labels={ZONE: "a"}), node("n2", labels={ZONE: "b"})]
    existing = [pod("cache", labels={"app": "cache"}, node_name="n1")]
    fw, _ = framework(nodes, existing)
    pl = fw.plugins["InterPodAffinity"]
    p = PodInfo(
        pod(
            "web",
            spec={
                "affinity": {
                    "podAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "weight": 5,
                                "podAffinityTerm": {
                                    "labelSelector": {"matchLabels": {"app": "cache"}},
                                    "topologyKey": ZONE,
                                },
                            }
                        ]
                    }
                }
            },
        )
    )
    state = CycleState()
    ns = fw.snapshot.node_list()
    assert pl.pre_score(state, p, ns) is None
    scores = [NodeScore(n.name, pl.score(state, p, n)) for n in ns]
    pl.normalize_score(state, p, scores)
    assert {s.name: s.score for s in scores} == {"n1": 100, "n2": 0}


def test_node_affinity_and_selector() -> None:
    nodes = [
        node("n1", labels={"disk": "ssd", "gen": "5"}),
        node("n2", labels={"disk": "hdd", "gen": "3"}),
    ]
    fw, _ = framework(nodes)
    res = filter_all(fw, pod("p", spec={"nodeSelector": {"disk": "ssd"}}))
    assert res["n1"] is None
    assert res["n2"].reasons == ["node(s) didn't match Pod's node affinity/selector"]
    gt = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["4"]}]}
                    ]
                }
            }
        }
    }
    res = filter_all(fw, pod("q", spec=gt))
    assert res["n1"] is None and res["n2"] is not None
    by_name = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchFields": [
                                {"key": "metadata.name", "operator": "In", "values": ["n2"]}
                            ]
                        }
                    ]
                }
            }
        }
    }
    state = CycleState()
    result, st = fw.run_pre_filter(state, PodInfo(pod("r", spec=by_name)))
    assert st is None and result is not None and result.node_names == {"n2"}


def test_node_affinity_preferred_score() -> None:
    nodes = [
        node("n1", labels={"disk": "ssd"}),
        node("n2"),
        node("n3", labels={"disk": "ssd", "fast": "1"}),
    ]
    fw, _ = framework(nodes)
    pl = fw.plugins["NodeAffinity"]
    pref = {
        "affinity": {
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 2,
                        "preference": {
                            "matchExpressions": [
                                {"key": "disk", "operator": "In", "values": ["ssd"]}
                            ]
                        },
                    },
                    {
                        "weight": 6,
                        "preference": {"matchExpressions": [{"key": "fast", "operator": "Exists"}]},
                    },
                ]
            }
        }
    }
    p = PodInfo(pod("p", spec=pref))
    state = CycleState()
    ns = fw.snapshot.node_list()
    pl.pre_score(state, p, ns)
    scores = [NodeScore(n.name, pl.score(state, p, n)) for n in ns]
    pl.normalize_score(state, p, scores)
    assert {s.name: s.score for s in scores} == {"n1": 25, "n2": 0, "n3": 100}
