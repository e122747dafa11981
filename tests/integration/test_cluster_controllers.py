"""The cluster-level controllers on a live ``pinnace server --sim-nodes 2`` (SQLite):
endpoints and EndpointSlices, the default ServiceAccount, node IPAM, PDB status
and the eviction API, node lifecycle (a killed node's pods are evicted) and pod
GC. The node lifecycle grace period and the pod GC quarantine are shortened
through their environment variables so the module stays well under a minute."""

from __future__ import annotations

import ipaddress
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import RawClient, Server

ENV = {"PINNACE_NODE_MONITOR_GRACE_PERIOD": "18", "PINNACE_POD_GC_QUARANTINE": "1"}
FAKE_NODE = "fake-node"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d: Path = tmp_path_factory.mktemp("pinnace-cluster-controllers")
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    try:
        s = Server(d / "data", extra_args=["--sim-nodes", "2"]).start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        wait_for(lambda: len(ready_nodes(s)) == 2, what="two Ready simulated nodes")
        yield s
    finally:
        s.stop()


def wait_for(check: Callable[[], Any], *, timeout: float = 30.0, what: str = "") -> Any:
    end = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def get_json(server: Server, *args: str) -> Any:
    p = server.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(p.stdout) if p.returncode == 0 else None


def apply(server: Server, *objs: dict[str, Any]) -> None:
    for obj in objs:
        server.kubectl("apply", "-f", "-", input=json.dumps(obj))


def ready_nodes(server: Server) -> list[str]:
    nodes = get_json(server, "nodes") or {"items": []}
    return [
        n["metadata"]["name"]
        for n in nodes["items"]
        if any(c["type"] == "Ready" and c["status"] == "True"
               for c in n.get("status", {}).get("conditions", []))
    ]  # fmt: skip


def deployment(name: str, replicas: int, *, node: str | None = None,
               tolerations: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    spec: dict[str, Any] = {
        "containers": [{"name": "c", "image": "nginx",
                        "ports": [{"name": "http", "containerPort": 8080}]}],
    }  # fmt: skip
    if node:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    if tolerations:
        spec["tolerations"] = tolerations
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }  # fmt: skip


def pods(server: Server, selector: str) -> list[dict[str, Any]]:
    return list((get_json(server, "pods", "-l", selector) or {"items": []})["items"])


def ready_ips(server: Server, selector: str, n: int) -> list[str]:
    def check() -> list[str] | None:
        ips = [
            p["status"].get("podIP") for p in pods(server, selector)
            if any(c["type"] == "Ready" and c["status"] == "True"
                   for c in p["status"].get("conditions", []))
        ]  # fmt: skip
        return sorted(ips) if len(ips) == n and all(ips) else None

    return list(wait_for(check, what=f"{n} ready pods {selector}"))


# --- service account, IPAM ------------------------------------------------------------


def test_new_namespace_gets_default_service_account(server: Server) -> None:
    server.kubectl("create", "namespace", "sa-test")
    sa = wait_for(lambda: get_json(server, "serviceaccount", "default", "-n", "sa-test"),
                  what="the default ServiceAccount")  # fmt: skip
    assert sa["metadata"]["namespace"] == "sa-test"
    server.kubectl("delete", "serviceaccount", "default", "-n", "sa-test")
    wait_for(lambda: get_json(server, "serviceaccount", "default", "-n", "sa-test"),
             what="the default ServiceAccount re-created")  # fmt: skip


def test_node_without_pod_cidr_gets_one(server: Server) -> None:
    apply(server, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": FAKE_NODE}})
    node = wait_for(
        lambda: (n := get_json(server, "node", FAKE_NODE)) and n["spec"].get("podCIDR") and n,
        what="a podCIDR for the node",
    )
    cidr = ipaddress.IPv4Network(node["spec"]["podCIDR"])
    assert cidr.prefixlen == 24 and cidr.subnet_of(ipaddress.IPv4Network("10.244.0.0/16"))
    assert node["spec"]["podCIDRs"] == [node["spec"]["podCIDR"]]
    others = [n["spec"].get("podCIDR") for n in get_json(server, "nodes")["items"]
              if n["metadata"]["name"] != FAKE_NODE]  # fmt: skip
    assert node["spec"]["podCIDR"] not in others


# --- endpoints ------------------------------------------------------------------------


def test_service_endpoints_and_slices(server: Server) -> None:
    apply(server, deployment("web", 2))
    ips = ready_ips(server, "app=web", 2)
    # a pod that is Running with an IP but not Ready, on a node no kubelet serves
    apply(server, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-unready", "labels": {"app": "web"}},
        "spec": {"nodeName": FAKE_NODE, "containers": [
            {"name": "c", "image": "nginx", "ports": [{"name": "http", "containerPort": 9000}]}]},
    })  # fmt: skip
    server.kubectl(
        "patch", "pod", "web-unready", "--subresource=status", "--type=merge", "-p",
        json.dumps({"status": {"phase": "Running", "podIP": "10.99.0.5", "podIPs": [{"ip": "10.99.0.5"}],
                               "conditions": [{"type": "Ready", "status": "False"}]}}),
    )  # fmt: skip
    svc = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [
            {"name": "http", "port": 80, "targetPort": "http"},
            {"name": "metrics", "port": 81, "targetPort": 9090}]},
    }  # fmt: skip
    apply(server, svc)

    def endpoints() -> Any:
        ep = get_json(server, "endpoints", "web")
        if not ep or not ep.get("subsets"):
            return None
        ready = {a["ip"] for s in ep["subsets"] for a in s.get("addresses", [])}
        not_ready = {a["ip"] for s in ep["subsets"] for a in s.get("notReadyAddresses", [])}
        return ep if (ready, not_ready) == (set(ips), {"10.99.0.5"}) else None

    ep = wait_for(endpoints, what="Endpoints with 2 ready and 1 not-ready address")
    # named target ports resolve per pod: 8080 for the deployment's pods, 9000 for the other;
    # addresses offering the same ports share a subset (upstream's RepackSubsets)
    ports: dict[str, dict[str, int]] = {}
    for s in ep["subsets"]:
        for a in s.get("addresses", []) + s.get("notReadyAddresses", []):
            ports.setdefault(a["ip"], {}).update({p["name"]: p["port"] for p in s["ports"]})
    assert ports[ips[0]] == ports[ips[1]] == {"http": 8080, "metrics": 9090}
    assert ports["10.99.0.5"] == {"http": 9000, "metrics": 9090}
    addr = next(a for s in ep["subsets"] for a in s.get("addresses", []) if a["ip"] == ips[0])
    assert addr["targetRef"]["kind"] == "Pod" and addr["nodeName"].startswith("sim-")
    assert ep["metadata"]["labels"]["endpointslice.kubernetes.io/skip-mirror"] == "true"

    def slices() -> Any:
        sl = get_json(server, "endpointslices", "-l", "kubernetes.io/service-name=web")
        eps = [e for s in (sl or {"items": []})["items"] for e in s["endpoints"]]
        return sl if len(eps) == 3 else None

    sl = wait_for(slices, what="EndpointSlices with 3 endpoints")
    assert len(sl["items"]) == 2  # one per port mapping
    for s in sl["items"]:
        assert s["addressType"] == "IPv4"
        labels = s["metadata"]["labels"]
        assert labels["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
        assert s["metadata"]["ownerReferences"][0]["kind"] == "Service"
    eps = {e["addresses"][0]: (e, s["ports"]) for s in sl["items"] for e in s["endpoints"]}
    unready, unready_ports = eps["10.99.0.5"]
    assert unready["conditions"] == {"ready": False, "serving": False, "terminating": False}
    assert unready["nodeName"] == FAKE_NODE and unready["targetRef"]["name"] == "web-unready"
    assert {p["name"]: p["port"] for p in unready_ports} == {"http": 9000, "metrics": 9090}
    ready, ready_ports = eps[ips[0]]
    assert ready["conditions"] == {"ready": True, "serving": True, "terminating": False}
    assert {p["name"]: p["port"] for p in ready_ports} == {"http": 8080, "metrics": 9090}

    # publishNotReadyAddresses: every address is ready
    server.kubectl("patch", "service", "web", "--type=merge",
                   "-p", '{"spec":{"publishNotReadyAddresses":true}}')  # fmt: skip
    wait_for(lambda: (ep := get_json(server, "endpoints", "web"))
             and {a["ip"] for s in ep["subsets"] for a in s.get("addresses", [])}
             == {*ips, "10.99.0.5"}, what="all addresses ready")  # fmt: skip
    wait_for(lambda: all(e["conditions"]["ready"] for s in get_json(
        server, "endpointslices", "-l", "kubernetes.io/service-name=web")["items"]
        for e in s["endpoints"]), what="all slice endpoints ready")  # fmt: skip
    server.kubectl("delete", "pod", "web-unready", "--grace-period=0", "--force")
    # a Service going away takes its Endpoints along
    server.kubectl("delete", "service", "web")
    wait_for(lambda: get_json(server, "endpoints", "web") is None, what="Endpoints deleted")


# --- PDB ------------------------------------------------------------------------------


def test_pdb_status_and_eviction(server: Server) -> None:
    apply(server, deployment("guarded", 2))
    ready_ips(server, "app=guarded", 2)
    apply(server, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                   "metadata": {"name": "guarded"},
                   "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "guarded"}}}})  # fmt: skip

    def status(want: dict[str, int]) -> Any:
        pdb = get_json(server, "pdb", "guarded")
        st = (pdb or {}).get("status") or {}
        return st if all(st.get(k) == v for k, v in want.items()) else None

    st = wait_for(lambda: status({"currentHealthy": 2, "desiredHealthy": 2, "expectedPods": 2,
                                  "disruptionsAllowed": 0}), what="PDB status")  # fmt: skip
    cond = next(c for c in st["conditions"] if c["type"] == "DisruptionAllowed")
    assert (cond["status"], cond["reason"]) == ("False", "InsufficientPods")

    victim = pods(server, "app=guarded")[0]
    name, node = victim["metadata"]["name"], victim["spec"]["nodeName"]
    raw = RawClient(server)
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}
    code, body = raw.json("POST", f"/api/v1/namespaces/default/pods/{name}/eviction", eviction)
    assert code == 429, body
    assert body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert "needs 2 healthy pods and has 2 currently" in body["details"]["causes"][0]["message"]

    p = server.kubectl("drain", node, "--pod-selector=app=guarded", "--timeout=6s", check=False)
    server.kubectl("uncordon", node)
    assert p.returncode != 0
    assert (
        "Cannot evict pod as it would violate the pod's disruption budget." in p.stderr + p.stdout
    )

    # with one disruption allowed, the eviction goes through and spends it
    server.kubectl("patch", "pdb", "guarded", "--type=merge",
                   "-p", '{"spec":{"minAvailable":1}}')  # fmt: skip
    wait_for(lambda: status({"disruptionsAllowed": 1, "desiredHealthy": 1}), what="budget of 1")
    code, body = raw.json("POST", f"/api/v1/namespaces/default/pods/{name}/eviction", eviction)
    assert code == 201, body
    gone = get_json(server, "pod", name)
    assert gone is None or gone["metadata"].get("deletionTimestamp")
    server.kubectl("delete", "deployment/guarded", "pdb/guarded")


# --- node lifecycle, pod GC -----------------------------------------------------------


def test_killed_node_pods_are_evicted(server: Server) -> None:
    quick = [{"key": k, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}
             for k in ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")]  # fmt: skip
    apply(server, deployment("quick", 2, node="sim-1", tolerations=quick),
          deployment("patient", 1, node="sim-1"))  # fmt: skip
    ready_ips(server, "app=quick", 2)
    ready_ips(server, "app=patient", 1)
    patient = pods(server, "app=patient")[0]
    # the DefaultTolerationSeconds admission plugin gave it 300 s
    assert {(t["key"], t.get("tolerationSeconds")) for t in patient["spec"]["tolerations"]} == {
        ("node.kubernetes.io/not-ready", 300), ("node.kubernetes.io/unreachable", 300)}  # fmt: skip
    old = {p["metadata"]["name"] for p in pods(server, "app=quick")}
    server.kubectl("annotate", "node", "sim-1", "pinnace.io/sim-state=dead")

    def unknown() -> Any:
        n = get_json(server, "node", "sim-1")
        ready = next(c for c in n["status"]["conditions"] if c["type"] == "Ready")
        taints = {(t["key"], t["effect"]) for t in n["spec"].get("taints", [])}
        return (
            ready["status"] == "Unknown"
            and ("node.kubernetes.io/unreachable", "NoExecute") in taints
            and ready
        )

    ready = wait_for(unknown, timeout=45, what="sim-1 Ready=Unknown with the unreachable taint")
    assert ready["reason"] == "NodeStatusUnknown"

    def evicted() -> bool:
        ps = {p["metadata"]["name"]: p for p in pods(server, "app=quick")}
        return all(n not in ps or ps[n]["metadata"].get("deletionTimestamp") for n in old)

    wait_for(evicted, timeout=20, what="the quick pods evicted")
    events = get_json(server, "events", "--field-selector", "reason=TaintManagerEviction")
    assert any(
        e["message"].startswith("Marking for deletion Pod default/quick-") for e in events["items"]
    )
    assert get_json(server, "events", "--field-selector", "reason=NodeNotReady")["items"]
    # the patient pod tolerates the taint for 300 s: still there, but no longer Ready
    p = get_json(server, "pod", patient["metadata"]["name"])
    assert not p["metadata"].get("deletionTimestamp")
    assert any(c["type"] == "Ready" and c["status"] == "False" for c in p["status"]["conditions"])


def test_pod_gc_removes_pods_of_deleted_nodes(server: Server) -> None:
    apply(server, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ghost-pod"},
                   "spec": {"nodeName": "ghost-node", "containers": [{"name": "c", "image": "nginx"}]}})  # fmt: skip
    wait_for(lambda: get_json(server, "pod", "ghost-pod") is None, timeout=20,
             what="the pod bound to a missing node collected")  # fmt: skip
    # the dead node's pods (some Terminating for ever, some tolerating) go with the node
    server.kubectl("delete", "node", "sim-1")
    wait_for(lambda: not [p for p in get_json(server, "pods", "-A")["items"]
                          if p["spec"].get("nodeName") == "sim-1"],
             timeout=20, what="the pods of the deleted node collected")  # fmt: skip
