from pinnace.scheduler.config import ProfileConfig
from pinnace.scheduler.framework import CycleState
from pinnace.scheduler.framework.status import Code
from pinnace.scheduler.framework.types import PodInfo
from tests.unit.scheduler.helpers import filter_all, framework, node, pod


def score_of(fw, name, p):  # type: ignore[no-untyped-def]
    pl = fw.plugins[name]
    state = CycleState()
    pi = PodInfo(p)
    ns = fw.snapshot.node_list()
    pl.pre_score(state, pi, ns)
    return {n.name: pl.score(state, pi, n) for n in ns}


def test_fit_insufficient_cpu_and_memory() -> None:
    nodes = [node("n1", cpu="1", memory="1Gi")]
    existing = [pod("e", "600m", "512Mi", node_name="n1")]
    fw, _ = framework(nodes, existing)
    st = filter_all(fw, pod("p", "500m", "600Mi"))["n1"]
    assert st.code == Code.UNSCHEDULABLE
    assert st.reasons == ["Insufficient cpu", "Insufficient memory"]
    assert filter_all(fw, pod("q", "400m", "512Mi"))["n1"] is None


def test_fit_request_larger_than_node_is_unresolvable() -> None:
    fw, _ = framework([node("n1", cpu="1")])
    st = filter_all(fw, pod("p", "2"))["n1"]
    assert st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert st.reasons == ["Insufficient cpu"]


def test_fit_counts_init_containers_and_overhead() -> None:
    fw, _ = framework([node("n1", cpu="2", memory="4Gi")])
    big_init = pod("p", "500m", init=[{"name": "i", "resources": {"requests": {"cpu": "2500m"}}}])
    assert filter_all(fw, big_init)["n1"].reasons == ["Insufficient cpu"]
    small_init = pod("q", "500m", init=[{"name": "i", "resources": {"requests": {"cpu": "2"}}}])
    assert filter_all(fw, small_init)["n1"] is None
    with_overhead = pod("r", "1900m", overhead={"cpu": "200m"})
    assert filter_all(fw, with_overhead)["n1"].reasons == ["Insufficient cpu"]


def test_fit_too_many_pods_and_extended_resources() -> None:
    fw, _ = framework([node("n1", pods=1, **{"example.com/gpu": "1"})], [pod("e", node_name="n1")])
    assert filter_all(fw, pod("p"))["n1"].reasons == ["Too many pods"]
    fw, _ = framework([node("n1", **{"example.com/gpu": "1"})])
    gpu2 = pod("p")
    gpu2["spec"]["containers"][0]["resources"]["requests"]["example.com/gpu"] = "2"
    assert filter_all(fw, gpu2)["n1"].reasons == ["Insufficient example.com/gpu"]


def test_least_allocated_upstream_case() -> None:
    # upstream least_allocated_test: "nothing scheduled, resources requested, differently sized nodes"
    nodes = [node("node1", cpu="4000m", memory="10000"), node("node2", cpu="6000m", memory="10000")]
    fw, _ = framework(nodes)
    assert score_of(fw, "NodeResourcesFit", pod("p", "3000m", "5000")) == {"node1": 37, "node2": 50}


def test_least_allocated_uses_non_zero_defaults() -> None:
    fw, _ = framework([node("node1", cpu="1000m", memory="1000Mi")])
    # no requests: counts as 100m / 200Mi → cpu 90, memory 80 → 85
    assert score_of(fw, "NodeResourcesFit", pod("p")) == {"node1": 85}


def test_most_allocated_and_rtcr() -> None:
    nodes = [node("node1", cpu="4000m", memory="10000"), node("node2", cpu="6000m", memory="10000")]
    prof = ProfileConfig(
        plugin_args={"NodeResourcesFit": {"scoringStrategy": {"type": "MostAllocated"}}}
    )
    fw, _ = framework(nodes, profile=prof)
    # node1: cpu 75, mem 50 → 62; node2: 50, 50 → 50
    assert score_of(fw, "NodeResourcesFit", pod("p", "3000m", "5000")) == {"node1": 62, "node2": 50}
    prof = ProfileConfig(
        plugin_args={
            "NodeResourcesFit": {
                "scoringStrategy": {
                    "type": "RequestedToCapacityRatio",
                    "requestedToCapacityRatio": {
                        "shape": [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]
                    },
                }
            }
        }
    )
    fw, _ = framework(nodes, profile=prof)
    assert score_of(fw, "NodeResourcesFit", pod("p", "3000m", "5000")) == {"node1": 63, "node2": 50}


def test_balanced_allocation_upstream_case() -> None:
    nodes = [node("node1", cpu="4000m", memory="10000"), node("node2", cpu="6000m", memory="10000")]
    fw, _ = framework(nodes)
    assert score_of(fw, "NodeResourcesBalancedAllocation", pod("p", "3000m", "5000")) == {
        "node1": 87,
        "node2": 100,
    }
