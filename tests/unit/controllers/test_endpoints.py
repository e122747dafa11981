"""Endpoints: which pods are in, named ports resolved per pod, RepackSubsets, truncation."""

from __future__ import annotations

from typing import Any

from pinnace.client import Obj
from pinnace.controllers.endpoints import (
    desired_subsets,
    find_port,
    service_selector,
    should_pod_be_in_endpoints,
    truncate,
)


def pod(name: str, ip: str, *, ready: bool = True, port: int = 8080, **extra: Any) -> Obj:
    p: Obj = {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": {"app": "a"}},
        "spec": {
            "nodeName": "n1",
            "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}],
        },
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }
    p["metadata"].update(extra.pop("metadata", {}))
    p["spec"].update(extra.pop("spec", {}))
    p["status"].update(extra.pop("status", {}))
    return p


def svc(**spec: Any) -> Obj:
    return {
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": {
            "selector": {"app": "a"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            **spec,
        },
    }


def test_service_selector() -> None:
    assert service_selector(svc()) is not None
    assert service_selector(svc(selector={})) is None
    assert service_selector(svc(type="ExternalName")) is None


def test_pods_in_endpoints() -> None:
    assert should_pod_be_in_endpoints(pod("a", "10.0.0.1"), False)
    assert not should_pod_be_in_endpoints(pod("a", ""), True)
    assert not should_pod_be_in_endpoints(pod("a", "10.0.0.1", status={"phase": "Succeeded"}), True)
    deleting = pod("a", "10.0.0.1", metadata={"deletionTimestamp": "2025-01-01T00:00:00Z"})
    assert not should_pod_be_in_endpoints(deleting, False)
    assert should_pod_be_in_endpoints(deleting, True)


def test_find_port() -> None:
    p = pod("a", "10.0.0.1", port=9000)
    assert find_port(p, {"port": 80, "targetPort": "http"}) == 9000
    assert find_port(p, {"port": 80, "targetPort": "http", "protocol": "UDP"}) is None
    assert find_port(p, {"port": 80, "targetPort": "nope"}) is None
    assert find_port(p, {"port": 80, "targetPort": 7000}) == 7000
    assert find_port(p, {"port": 80}) == 80


def test_ready_and_not_ready_share_a_subset() -> None:
    subsets = desired_subsets(
        svc(), [pod("b", "10.0.0.2", ready=False), pod("a", "10.0.0.10"), pod("c", "10.0.0.3")]
    )
    assert len(subsets) == 1
    s = subsets[0]
    assert [a["ip"] for a in s["addresses"]] == ["10.0.0.3", "10.0.0.10"]  # sorted as IPs
    assert [a["ip"] for a in s["notReadyAddresses"]] == ["10.0.0.2"]
    assert s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert s["addresses"][0]["targetRef"] == {
        "kind": "Pod", "namespace": "ns", "name": "c", "uid": "uid-c",
    }  # fmt: skip
    assert s["addresses"][0]["nodeName"] == "n1"


def test_publish_not_ready_addresses() -> None:
    subsets = desired_subsets(
        svc(publishNotReadyAddresses=True), [pod("b", "10.0.0.2", ready=False)]
    )
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["10.0.0.2"]
    assert "notReadyAddresses" not in subsets[0]


def test_named_ports_resolved_per_pod() -> None:
    s = svc(ports=[
        {"name": "http", "port": 80, "targetPort": "http"},
        {"name": "m", "port": 81, "targetPort": 9090},
    ])  # fmt: skip
    subsets = desired_subsets(s, [pod("a", "10.0.0.1", port=8080), pod("b", "10.0.0.2", port=9000)])
    by_ports = {
        tuple((p["name"], p["port"]) for p in sub["ports"]): [a["ip"] for a in sub["addresses"]]
        for sub in subsets
    }
    assert by_ports == {
        (("http", 8080),): ["10.0.0.1"],
        (("http", 9000),): ["10.0.0.2"],
        (("m", 9090),): ["10.0.0.1", "10.0.0.2"],
    }


def test_headless_without_ports_and_hostname() -> None:
    s = svc(ports=[], clusterIP="None")
    p = pod("a", "10.0.0.1", spec={"hostname": "a", "subdomain": "web"})
    subsets = desired_subsets(s, [p])
    assert subsets == [{"addresses": [subsets[0]["addresses"][0]]}]
    assert subsets[0]["addresses"][0]["hostname"] == "a"


def test_truncate() -> None:
    subsets = desired_subsets(
        svc(), [pod(f"p{i}", f"10.0.{i // 250}.{i % 250}", ready=i % 2 == 0) for i in range(12)]
    )
    out, truncated = truncate(subsets, limit=8)
    assert truncated
    assert len(out[0]["addresses"]) == 6 and len(out[0]["notReadyAddresses"]) == 2
    assert truncate(subsets, limit=100) == (subsets, False)
