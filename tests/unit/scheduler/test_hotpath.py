"""The scheduler's fast paths give the same answers as the plain ones: batch
filter/score against per-node calls, chunked filtering against node-by-node
filtering, and the Skip/skippable shortcuts only where nothing can differ."""

import random

import pytest

from pinnace.scheduler.config import PluginRef, ProfileConfig
from pinnace.scheduler.framework import CycleState
from pinnace.scheduler.framework.columns import FIGURES, node_positions
from pinnace.scheduler.framework.errors import Diagnosis
from pinnace.scheduler.framework.status import Code
from pinnace.scheduler.framework.types import NodeInfo, PodInfo
from pinnace.scheduler.plugins import _resource_allocation as ra
from pinnace.scheduler.plugins import podtopologyspread as pts
from tests.unit.scheduler.helpers import framework, node, pod, scheduler


def random_cluster(rng: random.Random, n: int) -> tuple[list[dict], list[dict]]:  # type: ignore[type-arg]
    nodes, pods = [], []
    for i in range(n):
        cpu = rng.choice(["0", "1", "2", "4"])
        mem = rng.choice(["0", "1Gi", "4Gi"])
        nodes.append(node(f"n{i}", cpu=cpu, memory=mem, pods=rng.choice([2, 3, 110])))
        for j in range(rng.randint(0, 3)):
            pods.append(
                pod(
                    f"e{i}-{j}",
                    rng.choice([None, "300m", "1", "3"]),
                    rng.choice([None, "256Mi", "2Gi"]),
                    node_name=f"n{i}",
                )
            )
    return nodes, pods


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("strategy", ["LeastAllocated", "MostAllocated"])
def test_batch_scores_equal_per_node_scores(seed: int, strategy: str) -> None:
    rng = random.Random(seed)
    nodes, pods = random_cluster(rng, 40)
    profile = ProfileConfig(
        plugin_args={"NodeResourcesFit": {"scoringStrategy": {"type": strategy}}}
    )
    fw, _ = framework(nodes, pods, profile)
    ns = fw.snapshot.node_list()
    for p in [pod("p", "500m", "1Gi"), pod("q"), pod("r", "5", "8Gi")]:
        pi = PodInfo(p)
        for name in ("NodeResourcesFit", "NodeResourcesBalancedAllocation"):
            pl = fw.plugins[name]
            state = CycleState()
            pl.pre_score(state, pi, ns)
            assert pl.score_nodes(state, pi, ns) == [pl.score(state, pi, n) for n in ns]


def test_fast_scorers_match_generic_scorers() -> None:
    rng = random.Random(7)
    nodes, pods = random_cluster(rng, 60)
    fw, _ = framework(nodes, pods)
    ns = fw.snapshot.node_list()
    resources = [("cpu", 2), ("memory", 3)]
    for scorer in (ra.least_allocated, ra.most_allocated, ra.balanced_score):
        for use_requested in (True, False):
            reqs = [rng.randint(0, 4000), rng.randint(0, 2**33)]
            fast = ra.score_nodes(ns, reqs, resources, use_requested, scorer)
            slow = [ra.score_node(n, reqs, resources, use_requested, scorer) for n in ns]
            assert fast == slow


@pytest.mark.parametrize("seed", range(5))
def test_batch_filter_equals_per_node_filter(seed: int) -> None:
    rng = random.Random(seed)
    nodes, pods = random_cluster(rng, 40)
    fw, _ = framework(nodes, pods)
    pl = fw.plugins["NodeResourcesFit"]
    ns = fw.snapshot.node_list()
    extended = pod("x", "100m")
    extended["spec"]["containers"][0]["resources"]["requests"]["example.com/gpu"] = "1"
    for p in [pod("p", "500m", "1Gi"), pod("q"), pod("r", "3", "3Gi"), extended]:
        pi = PodInfo(p)
        state = CycleState()
        assert pl.filter_nodes(state, pi, ns) == [pl.filter(state, pi, n) for n in ns]


@pytest.mark.parametrize("seed", range(8))
def test_chunked_filtering_equals_node_by_node(seed: int) -> None:
    rng = random.Random(seed)
    nodes, pods = random_cluster(rng, rng.choice([30, 150, 400]))
    for pct in (0, 10, 50, 100):
        for p in [pod("p", "500m", "1Gi"), pod("r", "3", "3Gi"), pod("big", "8")]:
            s1 = scheduler(nodes, pods)
            s2 = scheduler(nodes, pods)
            fw1 = next(iter(s1.frameworks.values()))
            fw2 = next(iter(s2.frameworks.values()))
            fw1.percentage_of_nodes_to_score = fw2.percentage_of_nodes_to_score = pct
            start = rng.randrange(len(nodes))
            s1.next_start_node_index = s2.next_start_node_index = start
            pi = PodInfo(p)
            st1, st2 = CycleState(), CycleState()
            fw1.run_pre_filter(st1, pi)
            fw2.run_pre_filter(st2, pi)
            d1, d2 = Diagnosis(), Diagnosis()
            ns1, ns2 = s1.snapshot.node_list(), s2.snapshot.node_list()
            got = s1._find_nodes_that_pass_filters(fw1, st1, pi, ns1, d1)
            from pinnace.scheduler.scheduler import num_feasible_nodes_to_find

            want = s2._filter_node_by_node(
                fw2, st2, pi, ns2, start, num_feasible_nodes_to_find(pct, len(ns2)), d2
            )
            assert [n.name for n in got] == [n.name for n in want]
            assert s1.next_start_node_index == s2.next_start_node_index
            assert d1.node_statuses == d2.node_statuses
            assert d1.unschedulable_plugins == d2.unschedulable_plugins


def test_filters_that_cannot_reject_are_skipped_and_come_back() -> None:
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    s = scheduler([node("a"), node("b")])
    fw = next(iter(s.frameworks.values()))
    state = CycleState()
    fw.run_pre_filter(state, PodInfo(pod("p")))
    assert {"NodeName", "NodeUnschedulable", "TaintToleration"} <= state.skip_filter
    s.on_node_update(node("b"), node("b", taints=[taint], unschedulable=True))
    assert s.snapshot.unschedulable_nodes == 1
    assert s.snapshot.nodes_with_taint_effect("NoSchedule") == 1
    state = CycleState()
    fw.run_pre_filter(state, PodInfo(pod("p")))
    assert not {"NodeUnschedulable", "TaintToleration"} & state.skip_filter
    assert fw.run_filter(state, PodInfo(pod("p")), s.snapshot.get("b")) is not None  # type: ignore[arg-type]
    s.on_node_delete(node("b"))
    assert s.snapshot.unschedulable_nodes == 0
    assert s.snapshot.nodes_with_taint_effect("NoSchedule", "NoExecute") == 0


def test_score_plugins_that_cannot_tell_nodes_apart_skip() -> None:
    prefer = {"key": "k", "value": "v", "effect": "PreferNoSchedule"}
    image = {"names": ["registry.k8s.io/big:1"], "sizeBytes": 500 * 1024 * 1024}
    fw, _ = framework([node("a"), node("b")])
    ns = fw.snapshot.node_list()
    pi = PodInfo(pod("p"))
    for name in ("TaintToleration", "ImageLocality"):
        st = fw.plugins[name].pre_score(CycleState(), pi, ns)
        assert st is not None and st.code == Code.SKIP
    fw, _ = framework([node("a", taints=[prefer], images=[image]), node("b")])
    ns = fw.snapshot.node_list()
    p = pod("p")
    p["spec"]["containers"][0]["image"] = "registry.k8s.io/big:1"
    for name in ("TaintToleration", "ImageLocality"):
        assert fw.plugins[name].pre_score(CycleState(), PodInfo(p), ns) is None


def test_skipping_constant_scores_keeps_the_choice() -> None:
    """Without PreferNoSchedule taints or images anywhere, the totals differ from
    upstream's only by a constant, so the same node wins."""
    nodes = [node(f"n{i}", cpu=str(1 + i % 3)) for i in range(6)]
    full = ProfileConfig()
    fw_fast, _ = framework(nodes, [], full)
    pi = PodInfo(pod("p", "500m"))
    ns = fw_fast.snapshot.node_list()
    state = CycleState()
    fw_fast.run_pre_score(state, pi, ns)
    assert {"TaintToleration", "ImageLocality"} <= state.skip_score
    fast = fw_fast.run_score(state, pi, ns)
    state2 = CycleState()
    fw_fast.run_pre_score(state2, pi, ns)
    state2.skip_score -= {"TaintToleration", "ImageLocality"}
    slow = fw_fast.run_score(state2, pi, ns)
    offset = {b - a for a, b in zip(fast, slow, strict=True)}
    assert len(offset) == 1


def test_select_host_picks_among_the_best_only() -> None:
    s = scheduler([node(f"n{i}") for i in range(6)])
    ns = s.snapshot.node_list()
    scores = [3, 7, 1, 7, 7, 2]
    picked = {s.select_host(ns, scores) for _ in range(200)}
    assert picked == {ns[1].name, ns[3].name, ns[4].name}
    assert s.select_host(ns, [1, 2, 9, 2, 2, 2]) == ns[2].name


def test_weights_still_apply_with_batch_scores() -> None:
    nodes = [node("a", cpu="2"), node("b", cpu="8")]
    profile = ProfileConfig(enabled={"score": [PluginRef("NodeResourcesFit", 5)]})
    fw, _ = framework(nodes, [], profile)
    pi = PodInfo(pod("p", "1"))
    ns = fw.snapshot.node_list()
    state = CycleState()
    fw.run_pre_score(state, pi, ns)
    pl = fw.plugins["NodeResourcesFit"]
    raw = [pl.score(state, pi, n) for n in ns]
    bal = fw.plugins["NodeResourcesBalancedAllocation"]
    braw = [bal.score(state, pi, n) for n in ns]
    assert fw.run_score(state, pi, ns) == [5 * a + b for a, b in zip(raw, braw, strict=True)]


async def test_scheduling_loop_runs_cycles_back_to_back() -> None:
    """One turn of the event loop schedules every pod that is ready (within the
    time slice), instead of one pod per turn."""
    import asyncio

    class SlowApi:  # binds never finish, so scheduled pods stay assumed
        async def bind(self, *a: object, **kw: object) -> None:
            await asyncio.Event().wait()

    s = scheduler([node("a", cpu="8"), node("b", cpu="8")])
    s.client = SlowApi()  # type: ignore[assignment]
    for i in range(10):
        s.on_pod_add(pod(f"p{i}", "100m"))
    task = asyncio.create_task(s.scheduling_loop())
    try:
        await asyncio.sleep(0)  # the loop starts and pops the first pod
        await asyncio.sleep(0)
        assert s.queue.pending()["active"] == 0
        assert s.snapshot.assumed_count() == 10
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for t in list(s._tasks):
            t.cancel()


def _spread_cluster(rng: random.Random) -> tuple[list[dict], list[dict]]:  # type: ignore[type-arg]
    nodes, pods = [], []
    for i in range(30):
        labels = {}
        if rng.random() < 0.8:
            labels["topology.kubernetes.io/zone"] = rng.choice(["z1", "z2", "z3"])
        if rng.random() < 0.7:
            labels["rack"] = rng.choice(["r1", "r2"])
        nodes.append(node(f"n{i}", labels=labels))
        for j in range(rng.randint(0, 4)):
            pods.append(
                pod(
                    f"e{i}-{j}",
                    namespace=rng.choice(["default", "other"]),
                    labels={"app": rng.choice(["web", "db"])},
                    node_name=f"n{i}",
                )
            )
    return nodes, pods


@pytest.mark.parametrize("seed", range(6))
def test_spread_batch_scores_equal_per_node_scores(seed: int) -> None:
    """PodTopologySpread's score_nodes/normalize_scores against score and
    normalize_score: the pod's own constraints (nodes without a key are
    ignored) and the system defaults (a Service selects the pod)."""
    from pinnace.scheduler.framework import NodeScore

    rng = random.Random(seed)
    nodes, pods = _spread_cluster(rng)
    svc = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}},
    }
    fw, _ = framework(nodes, pods, objects={"services": [svc]})
    pl = fw.plugins["PodTopologySpread"]
    all_nodes = fw.snapshot.node_list()
    own = {
        "topologySpreadConstraints": [
            {
                "maxSkew": 2,
                "topologyKey": key,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app": "web"}},
            }
            for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone", "rack")
        ]
    }
    cases = [pod("p", labels={"app": "web"}), pod("q", labels={"app": "web"}, spec=own)]
    for p in cases:
        pi = PodInfo(p)
        for _ in range(3):
            scored = rng.sample(all_nodes, rng.randint(1, len(all_nodes)))
            state = CycleState()
            assert pl.pre_score(state, pi, scored) is None
            raw = [pl.score(state, pi, n) for n in scored]
            assert pl.score_nodes(state, pi, scored) == raw
            per_node = [NodeScore(n.name, s) for n, s in zip(scored, raw, strict=True)]
            pl.normalize_score(state, pi, per_node)
            assert pl.normalize_scores(state, pi, scored, raw) == [s.score for s in per_node]


def _row(ni: NodeInfo) -> list[int]:
    assert ni.cols is not None
    return [int(getattr(ni.cols, f)[ni.pos]) for f in FIGURES]


def _fields(ni: NodeInfo) -> list[int]:
    return [getattr(ni, f) for f in FIGURES]


@pytest.mark.parametrize("seed", range(6))
def test_node_columns_follow_the_snapshot(seed: int) -> None:
    """Rows stay equal to the nodes' figures through pod adds, removals,
    assumptions and node updates; clones and removed nodes have no row."""
    rng = random.Random(seed)
    nodes, pods = random_cluster(rng, 30)
    fw, _ = framework(nodes, pods)
    snap = fw.snapshot
    live = list(pods)
    for step in range(200):
        action = rng.random()
        if action < 0.4:
            p = pod(f"s{step}", rng.choice([None, "200m", "2"]), rng.choice([None, "1Gi"]))
            p["spec"]["nodeName"] = f"n{rng.randrange(30)}"
            snap.add_pod(p)
            live.append(p)
        elif action < 0.7 and live:
            snap.remove_pod(live.pop(rng.randrange(len(live))))
        elif action < 0.85:
            snap.assume_pod(PodInfo(pod(f"a{step}", "100m")), f"n{rng.randrange(30)}")
        else:
            i = rng.randrange(30)
            snap.update_node(node(f"n{i}", cpu=rng.choice(["0", "3", "8"]), memory="2Gi"))
        for ni in snap.node_list():
            assert _row(ni) == _fields(ni)
    ni = snap.node_list()[0]
    assert ni.clone().pos == -1 and ni.clone().cols is None
    snap.remove_node(ni.name)
    snap.node_list()
    assert ni.pos == -1 and ni.cols is None


@pytest.mark.parametrize("seed", range(4))
def test_vector_scorers_and_filter_match_the_python_loops(seed: int) -> None:
    """The numpy paths (snapshot nodes) against the plain loops (the same nodes
    without rows), on ordinary and on huge figures."""
    rng = random.Random(seed)
    nodes, pods = random_cluster(rng, 80)
    for i in range(5):  # memory near the exactness limit, and a pod count of 0
        nodes.append(node(f"big{i}", cpu="64", memory=f"{rng.randint(1, 4000)}Ti", pods=0))
    fw, _ = framework(nodes, pods)
    ns = list(fw.snapshot.node_list())
    rng.shuffle(ns)
    plain = [ni.clone() for ni in ns]  # no rows: the Python loops
    assert node_positions(ns) is not None and node_positions(plain) is None
    for scorer in (ra.least_allocated, ra.most_allocated, ra.balanced_score):
        for use_requested in (True, False):
            for _ in range(5):
                reqs = [rng.randint(0, 70000), rng.choice([0, rng.randint(0, 2**45)])]
                res = [("cpu", rng.randint(1, 5)), ("memory", rng.randint(1, 5))]
                assert ra.score_nodes(ns, reqs, res, use_requested, scorer) == ra.score_nodes(
                    plain, reqs, res, use_requested, scorer
                )
    pl = fw.plugins["NodeResourcesFit"]
    for p in [pod("p", "500m", "1Gi"), pod("q"), pod("r", "3", "3Gi"), pod("h", "1", "900Ti")]:
        pi = PodInfo(p)
        assert pl.filter_nodes(CycleState(), pi, ns) == pl.filter_nodes(CycleState(), pi, plain)


def test_huge_weights_take_the_python_loops() -> None:
    fw, _ = framework([node("n0", cpu="4", memory="1Gi"), node("n1", memory="2Gi")], [])
    ns = fw.snapshot.node_list()
    reqs, res = [100, 1 << 20], [("cpu", 1 << 70), ("memory", 3 << 61)]
    for scorer in (ra.least_allocated, ra.most_allocated):
        want = [ra.score_node(n, reqs, res, False, scorer) for n in ns]
        assert ra.score_nodes(ns, reqs, res, False, scorer) == want


def test_columns_past_the_exactness_limit_fall_back_to_python() -> None:
    fw, _ = framework([node("n0", cpu="4", memory="1Gi"), node("n1", memory="1Gi")], [])
    ns = fw.snapshot.node_list()
    assert node_positions(ns) is not None
    fw.snapshot.update_node(node("n1", cpu="4", memory="9000Pi"))  # > 2**52 bytes
    assert node_positions(fw.snapshot.node_list()) is None
    reqs, res = [100, 1 << 20], [("cpu", 1), ("memory", 1)]
    want = [ra.score_node(n, reqs, res, False, ra.least_allocated) for n in ns]
    assert ra.score_nodes(ns, reqs, res, False, ra.least_allocated) == want


@pytest.mark.parametrize("seed", range(6))
def test_spread_vector_scores_match_the_python_loop_as_pods_come_and_go(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PodTopologySpread on the node columns (the system defaults on nodes
    without zones, and hostname-only constraints, some nodes without the
    hostname label) against the same nodes without rows, with pods placed and
    removed between cycles so that cached counts go stale."""
    rng = random.Random(seed)
    nodes, pods = [], []
    for i in range(40):
        n = node(f"n{i}")
        if rng.random() < 0.1:
            del n["metadata"]["labels"]["kubernetes.io/hostname"]
        nodes.append(n)
    svc = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}},
    }
    fw, _ = framework(nodes, pods, objects={"services": [svc]})
    pl = fw.plugins["PodTopologySpread"]
    snap = fw.snapshot
    own = {
        "topologySpreadConstraints": [
            {
                "maxSkew": skew,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app": app}},
            }
            for skew, app in ((1, "web"), (3, "db"))
        ]
    }
    cases = [pod("p", labels={"app": "web"}), pod("q", labels={"app": "db"}, spec=own)]
    live: list[dict] = []  # type: ignore[type-arg]
    vector_used = 0
    real = pts._vector_scores

    def counting(*args):  # type: ignore[no-untyped-def]
        nonlocal vector_used
        out = real(*args)
        vector_used += out is not None
        return out

    monkeypatch.setattr(pts, "_vector_scores", counting)
    for step in range(30):
        for _ in range(rng.randint(1, 6)):
            if live and rng.random() < 0.3:
                snap.remove_pod(live.pop(rng.randrange(len(live))))
            else:
                p = pod(
                    f"s{step}-{len(live)}",
                    namespace=rng.choice(["default", "default", "other"]),
                    labels={"app": rng.choice(["web", "db"])},
                    node_name=f"n{rng.randrange(40)}",
                )
                snap.add_pod(p)
                live.append(p)
        all_nodes = snap.node_list()
        scored = rng.sample(all_nodes, rng.randint(1, len(all_nodes)))
        plain = [ni.clone() for ni in scored]
        for p in cases:
            pi = PodInfo(p)
            s1, s2 = CycleState(), CycleState()
            assert pl.pre_score(s1, pi, scored) is None
            assert pl.pre_score(s2, pi, plain) is None
            raw = pl.score_nodes(s1, pi, scored)
            assert raw == pl.score_nodes(s2, pi, plain)
            assert pl.normalize_scores(s1, pi, scored, raw) == pl.normalize_scores(
                s2, pi, plain, raw
            )
    assert vector_used > 0


def test_pod_requests_are_shared_between_pods_of_one_template() -> None:
    """PodInfo memoises requests by the containers, init containers and
    overhead: equal specs share one read-only answer, any difference in them
    is its own entry, and the figures are pod_requests'."""
    from pinnace.api.quantity import pod_requests

    base = pod("a", "250m", "1Gi")
    sidecar = pod("b", "250m", "1Gi")
    sidecar["spec"]["initContainers"] = [
        {"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1"}}},
        {"name": "i", "resources": {"requests": {"memory": "3Gi"}}},
    ]
    overhead = pod("c", "250m", "1Gi")
    overhead["spec"]["overhead"] = {"cpu": "50m"}
    empty = pod("d")
    for p in (base, sidecar, overhead, empty, pod("e", "250m", "1Gi")):
        pi = PodInfo(p)
        assert dict(pi.requests) == pod_requests(p)
        nz = pod_requests(p, non_zero=True)
        assert (pi.non_zero_cpu, pi.non_zero_mem) == (nz.get("cpu", 0), nz.get("memory", 0))
        with pytest.raises(TypeError):
            pi.requests["cpu"] = 1  # type: ignore[index]
    assert PodInfo(base).requests is PodInfo(pod("f", "250m", "1Gi")).requests
    assert PodInfo(base).requests is not PodInfo(overhead).requests
