"""Service allocation through the real kubectl against a real ``pinnace
server`` (SQLite and etcd): cluster IPs and node ports allocated, kept,
released; conflicts as upstream's 422s; repair at start-up; the
``kubernetes`` Service and its EndpointSlice; ServiceLB status on simulated
nodes."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from pinnace.storage import open_backend
from tests.cluster import Server

pytestmark = pytest.mark.kubectl

# simulated nodes for ServiceLB; only the controllers under test; no DNS server
SERVER_ARGS = ["--sim-nodes", "2", "--controllers", "servicelb,serviceaccount", "--disable", "scheduler",
               "--disable", "dns"]  # fmt: skip
CIDR = ipaddress.ip_network("10.96.0.0/12")


def wait_for(check: Callable[[], Any], *, timeout: float = 30.0, what: str = "") -> Any:
    end = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def get(server: Server, *args: str) -> Any:
    p = server.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(p.stdout) if p.returncode == 0 else None


def apply(server: Server, obj: dict[str, Any], *, check: bool = True) -> Any:
    return server.kubectl("apply", "-f", "-", input=json.dumps(obj), check=check)


def service(name: str, ns: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("ports", [{"name": "http", "port": 80, "targetPort": 8080}])
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}  # fmt: skip


def storage_url(server: Server) -> str:
    return server.storage or f"sqlite://{server.data_dir / 'db' / 'state.db'}"


def test_kubernetes_service_and_endpoints(server: Server) -> None:
    svc = get(server, "service", "kubernetes", "-n", "default")
    assert svc["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}
    assert svc["spec"]["clusterIP"] == "10.96.0.1"
    assert svc["spec"]["ports"] == [
        {"name": "https", "port": 443, "protocol": "TCP", "targetPort": server.port}
    ]
    es = get(server, "endpointslice", "kubernetes", "-n", "default")
    assert es["metadata"]["labels"]["kubernetes.io/service-name"] == "kubernetes"
    assert es["addressType"] == "IPv4"
    assert es["endpoints"] == [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}]
    assert es["ports"] == [{"name": "https", "port": server.port, "protocol": "TCP"}]
    ep = get(server, "endpoints", "kubernetes", "-n", "default")
    assert ep["subsets"][0]["addresses"] == [{"ip": "127.0.0.1"}]
    # deleted, it comes back (the API server reconciles it every 10 s)
    server.kubectl("delete", "endpointslice", "kubernetes", "-n", "default")
    wait_for(lambda: get(server, "endpointslice", "kubernetes", "-n", "default"),
             what="the kubernetes EndpointSlice re-created")  # fmt: skip


def test_allocation_conflicts_and_release(server: Server) -> None:
    server.kubectl("create", "namespace", "alloc")
    apply(server, service("a", "alloc", type="NodePort", clusterIP="10.96.0.50", ports=[
        {"name": "http", "port": 80, "nodePort": 30080},
        {"name": "dns", "port": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]))  # fmt: skip
    a = get(server, "service", "a", "-n", "alloc")["spec"]
    assert a["clusterIP"] == "10.96.0.50" and a["clusterIPs"] == ["10.96.0.50"]
    assert a["ipFamilies"] == ["IPv4"] and a["ipFamilyPolicy"] == "SingleStack"
    nps = [p["nodePort"] for p in a["ports"]]
    assert nps[0] == 30080 and nps[1] == nps[2] and 30000 <= nps[1] <= 32767
    # `kubectl get` shows the allocated values
    row = server.kubectl("get", "service", "a", "-n", "alloc", "--no-headers").stdout.split()
    assert row[:3] == ["a", "NodePort", "10.96.0.50"]
    assert "80:30080/TCP" in row[4]

    p = apply(server, service("b", "alloc", clusterIP="10.96.0.50"), check=False)
    assert p.returncode != 0
    assert (
        'The Service "b" is invalid: spec.clusterIPs: Invalid value: ["10.96.0.50"]: '
        "failed to allocate IP 10.96.0.50: provided IP is already allocated" in p.stderr
    ), p.stderr
    p = apply(server, service("b", "alloc", clusterIP="192.168.0.1"), check=False)
    assert (
        "failed to allocate IP 192.168.0.1: the provided IP (192.168.0.1) is not in the valid "
        "range. The range of valid IPs is 10.96.0.0/12" in p.stderr
    ), p.stderr
    p = apply(server, service("b", "alloc", type="NodePort",
                              ports=[{"name": "h", "port": 80, "nodePort": 30080}]), check=False)  # fmt: skip
    assert (
        'The Service "b" is invalid: spec.ports[0].nodePort: Invalid value: 30080: '
        "provided port is already allocated" in p.stderr
    ), p.stderr
    p = apply(server, service("b", "alloc", type="NodePort",
                              ports=[{"name": "h", "port": 80, "nodePort": 8080}]), check=False)  # fmt: skip
    assert (
        "spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. "
        "The range of valid ports is 30000-32767" in p.stderr
    ), p.stderr
    assert get(server, "service", "b", "-n", "alloc") is None
    # a dynamic IP is in the CIDR, and never the kubernetes Service's
    server.kubectl("create", "service", "clusterip", "c", "-n", "alloc", "--tcp=80:8080")
    c_ip = get(server, "service", "c", "-n", "alloc")["spec"]["clusterIP"]
    assert ipaddress.ip_address(c_ip) in CIDR and c_ip not in ("10.96.0.1", "10.96.0.50")
    # released on delete: the same requested values can be taken again at once
    server.kubectl("delete", "service", "a", "-n", "alloc")
    apply(server, service("b", "alloc", type="NodePort", clusterIP="10.96.0.50",
                          ports=[{"name": "h", "port": 80, "nodePort": 30080}]))  # fmt: skip
    b = get(server, "service", "b", "-n", "alloc")["spec"]
    assert b["clusterIP"] == "10.96.0.50" and b["ports"][0]["nodePort"] == 30080
    # headless and ExternalName take nothing
    apply(server, service("h", "alloc", clusterIP="None", selector={"app": "h"}))
    assert get(server, "service", "h", "-n", "alloc")["spec"]["clusterIPs"] == ["None"]
    apply(server, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "e", "namespace": "alloc"},
                   "spec": {"type": "ExternalName", "externalName": "example.com"}})  # fmt: skip
    assert "clusterIP" not in get(server, "service", "e", "-n", "alloc")["spec"]
    server.kubectl("delete", "namespace", "alloc", "--wait=false")


def test_type_changes(server: Server) -> None:
    server.kubectl("create", "namespace", "types")
    base = service("t", "types", selector={"app": "t"})
    apply(server, base)
    ip = get(server, "service", "t", "-n", "types")["spec"]["clusterIP"]
    # ClusterIP -> NodePort: a node port; re-applying the same manifest keeps it
    apply(server, {**base, "spec": {**base["spec"], "type": "NodePort"}})
    spec = get(server, "service", "t", "-n", "types")["spec"]
    np = spec["ports"][0]["nodePort"]
    assert spec["clusterIP"] == ip and 30000 <= np <= 32767
    apply(server, {**base, "spec": {**base["spec"], "type": "NodePort"}})
    assert get(server, "service", "t", "-n", "types")["spec"]["ports"][0]["nodePort"] == np
    # NodePort -> ClusterIP (strategic merge patch keeps nodePort in the body): released
    server.kubectl("patch", "service", "t", "-n", "types", "-p", '{"spec":{"type":"ClusterIP"}}')
    spec = get(server, "service", "t", "-n", "types")["spec"]
    assert "nodePort" not in spec["ports"][0] and "externalTrafficPolicy" not in spec
    apply(server, service("other", "types", type="NodePort",
                          ports=[{"name": "h", "port": 80, "nodePort": np}]))  # fmt: skip
    # -> ExternalName releases the IP; back to ClusterIP allocates a fresh one
    server.kubectl("patch", "service", "t", "-n", "types", "--type=merge", "-p",
                   '{"spec":{"type":"ExternalName","externalName":"example.com"}}')  # fmt: skip
    assert "clusterIP" not in get(server, "service", "t", "-n", "types")["spec"]
    apply(server, service("ip-again", "types", clusterIP=ip))
    server.kubectl("patch", "service", "t", "-n", "types", "--type=merge", "-p",
                   '{"spec":{"type":"ClusterIP","externalName":null}}')  # fmt: skip
    new_ip = get(server, "service", "t", "-n", "types")["spec"]["clusterIP"]
    assert new_ip and new_ip != ip
    # the cluster IP cannot change
    p = server.kubectl("patch", "service", "t", "-n", "types", "--type=merge", "-p",
                       '{"spec":{"clusterIP":"10.96.0.99","clusterIPs":["10.96.0.99"]}}',
                       check=False)  # fmt: skip
    assert p.returncode != 0 and "field is immutable" in p.stderr, p.stderr
    server.kubectl("delete", "namespace", "types", "--wait=false")


def test_servicelb_status(server: Server) -> None:
    def node_ips() -> list[str]:
        nodes = (get(server, "nodes") or {"items": []})["items"]
        ips = [a["address"] for n in nodes for a in n["status"].get("addresses", [])
               if a["type"] == "InternalIP"
               and any(c["type"] == "Ready" and c["status"] == "True"
                       for c in n["status"].get("conditions", []))]  # fmt: skip
        return ips if len(ips) == 2 else []

    ips = sorted(wait_for(node_ips, what="two Ready simulated nodes"), key=ipaddress.ip_address)
    server.kubectl("create", "namespace", "lb")
    apply(server, service("web", "lb", type="LoadBalancer", selector={"app": "web"}))
    apply(server, service("classy", "lb", type="LoadBalancer", loadBalancerClass="example.com/lb"))

    def ingress(name: str) -> Any:
        return (
            get(server, "service", name, "-n", "lb").get("status", {}).get("loadBalancer") or {}
        ).get("ingress")

    got = wait_for(lambda: ingress("web"), what="LoadBalancer ingress")
    assert got == [{"ip": ip, "ipMode": "VIP"} for ip in ips]
    spec = get(server, "service", "web", "-n", "lb")["spec"]
    assert spec["ports"][0]["nodePort"] and spec["allocateLoadBalancerNodePorts"] is True
    row = server.kubectl("get", "service", "web", "-n", "lb", "--no-headers").stdout.split()
    assert row[3] == ",".join(ips)  # EXTERNAL-IP
    # cordoning a node takes it out
    node = get(server, "nodes")["items"][0]["metadata"]["name"]
    server.kubectl("cordon", node)
    wait_for(lambda: ingress("web") and len(ingress("web")) == 1, what="cordoned node removed")
    server.kubectl("uncordon", node)
    wait_for(lambda: ingress("web") and len(ingress("web")) == 2, what="node back")
    assert ingress("classy") is None  # another implementation's Service
    # the type changes away: the status is cleared
    server.kubectl("patch", "service", "web", "-n", "lb", "-p", '{"spec":{"type":"ClusterIP"}}')
    assert ingress("web") is None
    server.kubectl("delete", "namespace", "lb", "--wait=false")


def test_repair_at_start_up(server: Server) -> None:
    """Lost allocation keys come back and leaked ones go away across a restart."""
    server.kubectl("create", "namespace", "repair")
    apply(server, service("keep", "repair", type="NodePort", clusterIP="10.96.0.60",
                          ports=[{"name": "h", "port": 80, "nodePort": 30060}]))  # fmt: skip
    server.stop()

    async def tamper() -> None:
        b = open_backend(storage_url(server))
        await b.start()
        try:
            await b.delete("/registry/pinnace.io/serviceips/10.96.0.60")
            await b.delete("/registry/pinnace.io/servicenodeports/30060")
        finally:
            await b.close()

    asyncio.run(tamper())
    server.start()
    # repair ran before the server served: the values are taken again
    p = apply(server, service("thief", "repair", clusterIP="10.96.0.60"), check=False)
    assert "provided IP is already allocated" in p.stderr, p.stderr
    p = apply(server, service("thief", "repair", type="NodePort",
                              ports=[{"name": "h", "port": 80, "nodePort": 30060}]), check=False)  # fmt: skip
    assert "provided port is already allocated" in p.stderr, p.stderr
    spec = get(server, "service", "keep", "-n", "repair")["spec"]
    assert spec["clusterIP"] == "10.96.0.60" and spec["ports"][0]["nodePort"] == 30060
    server.kubectl("delete", "namespace", "repair", "--wait=false")
