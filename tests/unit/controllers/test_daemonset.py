"""The pure parts of the DaemonSet controller: the automatic tolerations, node
eligibility, node-name affinity, per-node decisions, rolling updates with and
without surge, and status (cases after upstream's daemon_controller_test.go,
update_test.go and util/daemonset_util_test.go)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pinnace.controllers import daemonset as d

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
T0 = "2025-01-01T11:00:00Z"


def ds(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "a"}},
        "template": {
            "metadata": {"labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": "img"}]},
        },
        "updateStrategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
        },
    }
    base.update(spec)
    return {"metadata": {"name": "agent", "namespace": "ns", "uid": "ds-uid"}, "spec": base}


def node(
    name: str, labels: dict[str, str] | None = None, *taints: dict[str, str]
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"taints": list(taints)} if taints else {},
    }


def pod(
    name: str, node_name: str, hash_: str = "h1", *, ready: bool = True, phase: str = "Running",
    created: str = T0,
) -> dict[str, Any]:  # fmt: skip
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": name,
            "creationTimestamp": created,
            "labels": {"app": "a", "controller-revision-hash": hash_},
        },
        "spec": {"nodeName": node_name},
        "status": {
            "phase": phase,
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": T0}
            ],
        },
    }


# --- tolerations and eligibility ----------------------------------------------------------


def test_daemon_tolerations_are_added_once_and_replace_timed_ones() -> None:
    spec: dict[str, Any] = {
        "tolerations": [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {"key": "custom", "operator": "Exists"},
        ]
    }
    d.add_daemon_tolerations(spec)
    d.add_daemon_tolerations(spec)
    keys = [(t.get("key"), t.get("effect")) for t in spec["tolerations"]]
    assert keys == [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("custom", None),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ]
    assert "tolerationSeconds" not in spec["tolerations"][0]
    host = d.add_daemon_tolerations({"hostNetwork": True})
    assert ("node.kubernetes.io/network-unavailable", "NoSchedule") in [
        (t["key"], t["effect"]) for t in host["tolerations"]
    ]


def test_node_should_run_taints() -> None:
    dset = ds()
    assert d.node_should_run(node("n"), dset) == (True, True)
    no_schedule = {"key": "dedicated", "value": "x", "effect": "NoSchedule"}
    no_execute = {"key": "dedicated", "value": "x", "effect": "NoExecute"}
    # an untolerated NoSchedule taint: no new pod, but a running one stays
    assert d.node_should_run(node("n", None, no_schedule), dset) == (False, True)
    assert d.node_should_run(node("n", None, no_execute), dset) == (False, False)
    # the automatic tolerations cover node conditions and cordoning
    for key in ("not-ready", "unreachable"):
        t = {"key": f"node.kubernetes.io/{key}", "effect": "NoExecute"}
        assert d.node_should_run(node("n", None, t), dset) == (True, True)
    cordoned = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
    assert d.node_should_run(node("n", None, cordoned), dset) == (True, True)
    net = {"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}
    assert d.node_should_run(node("n", None, net), dset) == (False, True)
    tolerating = ds()
    tolerating["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoSchedule"}
    ]
    assert d.node_should_run(node("n", None, no_schedule), tolerating) == (True, True)


def test_node_should_run_selector_affinity_and_node_name() -> None:
    dset = ds()
    dset["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}
    assert d.node_should_run(node("n", {"disk": "ssd"}), dset) == (True, True)
    assert d.node_should_run(node("n", {"disk": "hdd"}), dset) == (False, False)
    dset = ds()
    dset["spec"]["template"]["spec"]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                ]
            }
        }
    }
    assert d.node_should_run(node("n", {"zone": "a"}), dset)[0]
    assert not d.node_should_run(node("n", {"zone": "b"}), dset)[0]
    dset = ds()
    dset["spec"]["template"]["spec"]["nodeName"] = "n1"
    assert d.node_should_run(node("n1"), dset)[0]
    assert d.node_should_run(node("n2"), dset) == (False, False)


def test_node_name_affinity_and_target_node() -> None:
    aff = d.replace_node_name_affinity(None, "n1")
    terms = aff["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms == {
        "nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
        ]
    }
    # an existing required term is replaced; preferred terms stay
    existing: dict[str, Any] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"x": 1}]},
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1}],
        },
        "podAntiAffinity": {"y": 2},
    }
    aff = d.replace_node_name_affinity(existing, "n2")
    assert aff["podAntiAffinity"] == {"y": 2}
    assert aff["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] == [{"weight": 1}]
    assert d.target_node_name({"spec": {"affinity": aff}}) == "n2"
    assert d.target_node_name({"spec": {"nodeName": "n3", "affinity": aff}}) == "n3"
    assert d.target_node_name({"spec": {}}) is None
    assert existing["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"x": 1}]
    }


def test_new_pod_carries_hash_tolerations_and_affinity() -> None:
    dset = ds()
    template = d.pod_template(dset, "h9")
    p = d.new_daemon_pod(dset, template, "n1")
    assert p["metadata"]["generateName"] == "agent-"
    assert p["metadata"]["labels"] == {"app": "a", "controller-revision-hash": "h9"}
    assert p["metadata"]["ownerReferences"][0]["uid"] == "ds-uid"
    assert d.target_node_name(p) == "n1"
    assert len(p["spec"]["tolerations"]) == 6
    assert "tolerations" not in dset["spec"]["template"]["spec"]


# --- per-node decisions ---------------------------------------------------------------------


def test_pods_should_be_on_node() -> None:
    dset = ds()
    n = node("n1")
    assert d.pods_should_be_on_node(n, [], dset, "h1", NOW).create
    # surplus: keep the oldest
    older = pod("p-old", "n1", created="2025-01-01T10:00:00Z")
    newer = pod("p-new", "n1")
    dec = d.pods_should_be_on_node(n, [newer, older], dset, "h1", NOW)
    assert not dec.create and [p["metadata"]["name"] for p in dec.delete] == ["p-new"]
    # failed pods are reported apart; succeeded ones deleted
    dec = d.pods_should_be_on_node(n, [pod("f", "n1", phase="Failed")], dset, "h1", NOW)
    assert [p["metadata"]["name"] for p in dec.failed] == ["f"] and not dec.create
    dec = d.pods_should_be_on_node(n, [pod("s", "n1", phase="Succeeded")], dset, "h1", NOW)
    assert [p["metadata"]["name"] for p in dec.delete] == ["s"]
    # a node that should not run it loses it
    no_exec = node("n1", None, {"key": "k", "effect": "NoExecute"})
    dec = d.pods_should_be_on_node(no_exec, [pod("p", "n1")], dset, "h1", NOW)
    assert [p["metadata"]["name"] for p in dec.delete] == ["p"]


def test_surge_keeps_old_pod_until_new_is_available() -> None:
    dset = ds(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}})
    n = node("n1")
    old = pod("old", "n1", "h0", created="2025-01-01T10:00:00Z")
    new = pod("new", "n1", "h1", ready=False)
    assert d.pods_should_be_on_node(n, [old, new], dset, "h1", NOW).delete == []
    new = pod("new", "n1", "h1")
    dec = d.pods_should_be_on_node(n, [old, new], dset, "h1", NOW)
    assert [p["metadata"]["name"] for p in dec.delete] == ["old"]


# --- rolling updates --------------------------------------------------------------------------


def test_rolling_update_without_surge_respects_max_unavailable() -> None:
    dset = ds()
    nodes = [node(f"n{i}") for i in range(3)]
    pods = {f"n{i}": [pod(f"p{i}", f"n{i}", "h0")] for i in range(3)}
    deletes, creates = d.rolling_update_plan(dset, nodes, pods, "h1", NOW)
    assert [p["metadata"]["name"] for p in deletes] == ["p0"] and creates == []
    # one node without a pod (being replaced) already uses the budget
    pods["n0"] = []
    deletes, _ = d.rolling_update_plan(dset, nodes, pods, "h1", NOW)
    assert deletes == []
    # an unavailable old pod may always be replaced
    pods["n0"] = [pod("p0", "n0", "h0", ready=False)]
    deletes, _ = d.rolling_update_plan(dset, nodes, pods, "h1", NOW)
    assert [p["metadata"]["name"] for p in deletes] == ["p0"]
    # percentages round up
    dset = ds(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%"}})
    pods = {f"n{i}": [pod(f"p{i}", f"n{i}", "h0")] for i in range(3)}
    deletes, _ = d.rolling_update_plan(dset, nodes, pods, "h1", NOW)
    assert len(deletes) == 2


def test_rolling_update_with_surge() -> None:
    dset = ds(
        updateStrategy={
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        }
    )
    nodes = [node(f"n{i}") for i in range(3)]
    pods = {f"n{i}": [pod(f"p{i}", f"n{i}", "h0")] for i in range(3)}
    deletes, creates = d.rolling_update_plan(dset, nodes, pods, "h1", NOW)
    assert deletes == [] and creates == ["n0"]
    # the surged pod is not available yet: no more surge
    pods["n0"].append(pod("q0", "n0", "h1", ready=False))
    assert d.rolling_update_plan(dset, nodes, pods, "h1", NOW) == ([], [])
    # available: the old pod goes and the next node surges
    pods["n0"][1] = pod("q0", "n0", "h1")
    deletes, creates = d.rolling_update_plan(dset, nodes, pods, "h1", NOW)
    assert [p["metadata"]["name"] for p in deletes] == ["p0"] and creates == ["n1"]


# --- status ---------------------------------------------------------------------------------


def test_status() -> None:
    dset = ds()
    taint = {"key": "k", "effect": "NoExecute"}
    nodes = [node("n0"), node("n1"), node("n2"), node("bad", None, taint)]
    pods = {
        "n0": [pod("p0", "n0", "h1")],
        "n1": [pod("p1", "n1", "h0", ready=False)],
        "bad": [pod("pb", "bad", "h1")],
    }
    st = d.compute_status(dset, nodes, pods, "h1", NOW)
    assert st == {
        "currentNumberScheduled": 2,
        "numberMisscheduled": 1,
        "desiredNumberScheduled": 3,
        "numberReady": 1,
        "updatedNumberScheduled": 1,
        "numberAvailable": 1,
        "numberUnavailable": 2,
    }
