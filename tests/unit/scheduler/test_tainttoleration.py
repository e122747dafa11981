from pinnace.scheduler.framework import CycleState, NodeScore
from pinnace.scheduler.framework.status import Code
from pinnace.scheduler.framework.types import PodInfo
from tests.unit.scheduler.helpers import filter_all, framework, node, pod


def taint(key: str, value: str, effect: str) -> dict[str, str]:
    return {"key": key, "value": value, "effect": effect}


def scores(nodes, p):  # type: ignore[no-untyped-def]
    fw, _ = framework(nodes)
    pl = fw.plugins["TaintToleration"]
    state = CycleState()
    pi = PodInfo(p)
    ns = fw.snapshot.node_list()
    pl.pre_score(state, pi, ns)
    out = [NodeScore(n.name, pl.score(state, pi, n)) for n in ns]
    pl.normalize_score(state, pi, out)
    return {s.name: s.score for s in out}


def test_no_schedule_taint_filters_unless_tolerated() -> None:
    nodes = [node("a", taints=[taint("dedicated", "gpu", "NoSchedule")]), node("b")]
    res = filter_all(framework(nodes)[0], pod("p"))
    assert res["b"] is None
    assert res["a"].code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert res["a"].reasons == ["node(s) had untolerated taint {dedicated: gpu}"]
    tol = pod(
        "q",
        spec={
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
            ]
        },
    )
    assert filter_all(framework(nodes)[0], tol)["a"] is None
    exists = pod("r", spec={"tolerations": [{"operator": "Exists"}]})
    assert filter_all(framework(nodes)[0], exists)["a"] is None


def test_no_execute_filters_and_prefer_no_schedule_does_not() -> None:
    nodes = [
        node("a", taints=[taint("k", "v", "NoExecute")]),
        node("b", taints=[taint("k", "v", "PreferNoSchedule")]),
    ]
    res = filter_all(framework(nodes)[0], pod("p"))
    assert res["a"] is not None and res["b"] is None
    wrong_effect = pod(
        "q", spec={"tolerations": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}
    )
    assert filter_all(framework(nodes)[0], wrong_effect)["a"] is not None


def test_score_prefers_tolerated_prefer_no_schedule() -> None:
    # upstream: "node with taints tolerated by the pod gets a higher score"
    p = pod(
        "p",
        spec={
            "tolerations": [
                {"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}
            ]
        },
    )
    nodes = [
        node("nodeA", taints=[taint("foo", "bar", "PreferNoSchedule")]),
        node("nodeB", taints=[taint("foo", "blah", "PreferNoSchedule")]),
    ]
    assert scores(nodes, p) == {"nodeA": 100, "nodeB": 0}


def test_score_more_intolerable_taints_lower_score() -> None:
    nodes = [
        node("nodeA"),
        node("nodeB", taints=[taint("cpu-type", "arm64", "PreferNoSchedule")]),
        node(
            "nodeC",
            taints=[
                taint("cpu-type", "arm64", "PreferNoSchedule"),
                taint("disk-type", "ssd", "PreferNoSchedule"),
            ],
        ),
    ]
    assert scores(nodes, pod("p")) == {"nodeA": 100, "nodeB": 50, "nodeC": 0}


def test_score_ignores_no_schedule_taints() -> None:
    nodes = [node("nodeA"), node("nodeB", taints=[taint("k", "v", "NoSchedule")])]
    assert scores(nodes, pod("p")) == {"nodeA": 100, "nodeB": 100}
