"""ServiceLB: which ingress addresses a LoadBalancer Service gets."""

from __future__ import annotations

from typing import Any

from pinnace.controllers.registry import CONTROLLERS, select_controllers
from pinnace.controllers.servicelb import desired_ingress, node_address

Obj = dict[str, Any]


def node(name: str, internal: str, *, external: str = "", ready: bool = True,
         unschedulable: bool = False) -> Obj:  # fmt: skip
    addrs = [{"type": "InternalIP", "address": internal}, {"type": "Hostname", "address": name}]
    if external:
        addrs.append({"type": "ExternalIP", "address": external})
    return {
        "metadata": {"name": name},
        "spec": {"unschedulable": True} if unschedulable else {},
        "status": {
            "addresses": addrs,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def lb(**spec: Any) -> Obj:
    return {
        "metadata": {"name": "s", "namespace": "default"},
        "spec": {"type": "LoadBalancer", **spec},
    }


def test_ready_schedulable_nodes_sorted_external_first() -> None:
    nodes = [
        node("c", "10.0.0.10"),
        node("a", "10.0.0.9", external="203.0.113.5"),
        node("b", "10.0.0.2"),
        node("down", "10.0.0.3", ready=False),
        node("cordoned", "10.0.0.4", unschedulable=True),
        {"metadata": {"name": "no-status"}},
    ]
    assert desired_ingress(lb(), nodes) == [
        {"ip": "10.0.0.2", "ipMode": "VIP"},
        {"ip": "10.0.0.10", "ipMode": "VIP"},
        {"ip": "203.0.113.5", "ipMode": "VIP"},
    ]
    assert node_address(nodes[1]) == "203.0.113.5"


def test_not_ours() -> None:
    nodes = [node("a", "10.0.0.1")]
    assert desired_ingress(lb(loadBalancerClass="example.com/lb"), nodes) == []
    assert desired_ingress(lb(type="NodePort"), nodes) == []
    assert desired_ingress(lb(), []) == []


def test_registered_and_on_by_default() -> None:
    assert CONTROLLERS["servicelb"].enabled_by_default
    assert "servicelb" in select_controllers("*")
    assert "servicelb" not in select_controllers("*,-servicelb")
