from pinnace.scheduler.framework import CycleState
from pinnace.scheduler.framework.errors import FitError
from pinnace.scheduler.framework.types import PodInfo
from tests.unit.scheduler.helpers import node, pod, scheduler


def run_post_filter(s, p):  # type: ignore[no-untyped-def]
    fw = s.frameworks["default-scheduler"]
    state = CycleState()
    pi = PodInfo(p)
    try:
        s.schedule_pod(fw, state, pi)
    except FitError as e:
        return fw.run_post_filter(state, pi, e.diagnosis.node_statuses), e
    raise AssertionError("pod unexpectedly fit")


def test_preemption_picks_minimal_victims() -> None:
    nodes = [node("n1", cpu="2"), node("n2", cpu="2")]
    existing = [
        pod("low-a", "1", node_name="n1", priority=10, start_time="2025-01-01T00:00:00Z"),
        pod("low-b", "1", node_name="n1", priority=10, start_time="2025-01-01T00:00:01Z"),
        pod("mid", "2", node_name="n2", priority=50),
    ]
    s = scheduler(nodes, existing)
    (result, status), _ = run_post_filter(s, pod("high", "1", priority=100))
    assert status.is_success()
    assert result.nominated_node_name == "n1"
    # only one of the two 1-cpu pods must go: the less important (later started) one
    assert [v.name for v in result.victims] == ["low-b"]


def test_preemption_prefers_lower_priority_victims() -> None:
    nodes = [node("n1", cpu="2"), node("n2", cpu="2")]
    existing = [
        pod("p20", "2", node_name="n1", priority=20),
        pod("p10", "2", node_name="n2", priority=10),
    ]
    s = scheduler(nodes, existing)
    (result, _status), _ = run_post_filter(s, pod("high", "1", priority=100))
    assert result.nominated_node_name == "n2"
    assert [v.name for v in result.victims] == ["p10"]


def test_preemption_honours_pdbs() -> None:
    nodes = [node("n1", cpu="1"), node("n2", cpu="1")]
    existing = [
        pod("guarded", "1", node_name="n1", priority=1, labels={"app": "db"}),
        pod("free", "1", node_name="n2", priority=5, labels={"app": "web"}),
    ]
    s = scheduler(nodes, existing)
    pdb = {
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "db"}}},
        "status": {"disruptionsAllowed": 0},
    }
    s.lister = lambda plural: [pdb] if plural == "poddisruptionbudgets" else []  # type: ignore[method-assign]
    (result, _status), _ = run_post_filter(s, pod("high", "1", priority=100))
    # n1 has the lower-priority victim but violates the PDB: n2 wins
    assert result.nominated_node_name == "n2"


def test_preemption_not_helpful_message() -> None:
    nodes = [
        node("n1", cpu="1"),
        node("n2", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        node("n3", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
    ]
    s = scheduler(nodes)
    (_result, status), err = run_post_filter(s, pod("p", "2"))
    err.diagnosis.post_filter_msg = status.message()
    # upstream appends the PostFilter message with " %v." although it already ends
    # with a period, hence the ".." real kube-scheduler events show
    assert str(err) == (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint "
        "{dedicated: gpu}. preemption: 0/3 nodes are available: 3 Preemption is not "
        "helpful for scheduling.."
    )  # (the request exceeds n1's allocatable: unresolvable, so preemption can't help)


def test_preemption_policy_never() -> None:
    s = scheduler([node("n1", cpu="1")], [pod("low", "1", node_name="n1", priority=0)])
    (_result, status), _ = run_post_filter(
        s, pod("p", "1", priority=100, spec={"preemptionPolicy": "Never"})
    )
    assert not status.is_success()
    assert status.message() == "preemption: not eligible due to preemptionPolicy=Never."


def test_no_lower_priority_pods_no_victims() -> None:
    s = scheduler([node("n1", cpu="1")], [pod("same", "1", node_name="n1", priority=5)])
    (_result, status), _err = run_post_filter(s, pod("p", "1", priority=5))
    assert status.message() == (
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    )
