"""The Service store, repair and the ``kubernetes`` Service against an
in-process API server's storage layer (SQLite, no HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pinnace.apiserver import errors
from pinnace.apiserver.config import ServerConfig
from pinnace.apiserver.registry import DeleteOptions, RequestContext, ResourceStore
from pinnace.apiserver.server import SYSTEM_USER, ApiServer
from pinnace.apiserver.services import ServiceSupport
from pinnace.apiserver.services.allocator import Owner
from pinnace.apiserver.services.kubernetes import KubernetesService, advertise_address
from pinnace.apiserver.services.repair import ServiceRepair

Obj = dict[str, Any]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ApiServer]:
    (tmp_path / "db").mkdir()
    s = ApiServer(ServerConfig(data_dir=tmp_path, port=6443, service_node_port_range="30000-30099"))
    await s.start_storage()
    try:
        yield s
    finally:
        await s.stop()


def ctx(dry_run: bool = False) -> RequestContext:
    return RequestContext(user=SYSTEM_USER, dry_run=dry_run)


def svcs(server: ApiServer) -> ResourceStore:
    return server.store("", "v1", "services")


def support(server: ApiServer) -> ServiceSupport:
    assert server.services is not None
    return server.services


def svc(name: str, **spec: Any) -> Obj:
    spec.setdefault("ports", [{"name": "http", "port": 80}])
    return {"metadata": {"name": name}, "spec": spec}


async def held(server: ApiServer) -> tuple[dict[str, str], dict[int, str]]:
    s = support(server)
    return (
        {ip: h.owner.name for ip, h in (await s.ips.list()).items()},
        {p: h.owner.name for p, h in (await s.ports.list()).items()},
    )


async def invalid(coro: Any) -> str:
    with pytest.raises(errors.ApiError) as e:
        await coro
    assert e.value.code == 422, e.value.status()
    return str(e.value.status()["message"])


async def set_spec(server: ApiServer, name: str, **changes: Any) -> Obj:
    async def mutate(cur: Obj) -> Obj:
        for k, v in changes.items():
            if v is None:
                cur["spec"].pop(k, None)
            else:
                cur["spec"][k] = v
        return cur

    out, _ = await svcs(server).guaranteed_update("default", name, mutate, ctx())
    return out


async def test_kubernetes_service_and_endpoints(server: ApiServer) -> None:
    k = svcs(server).get("default", "kubernetes")
    assert k["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}
    assert k["spec"]["clusterIP"] == "10.96.0.1"
    assert k["spec"]["ports"] == [
        {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}
    ]
    ep = server.store("", "v1", "endpoints").get("default", "kubernetes")
    assert ep["metadata"]["labels"] == {"endpointslice.kubernetes.io/skip-mirror": "true"}
    assert ep["subsets"] == [
        {
            "addresses": [{"ip": "127.0.0.1"}],
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
        }
    ]
    es = server.store("discovery.k8s.io", "v1", "endpointslices").get("default", "kubernetes")
    assert es["metadata"]["labels"] == {"kubernetes.io/service-name": "kubernetes"}
    assert es["addressType"] == "IPv4"
    assert es["endpoints"] == [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}]
    assert (await held(server))[0] == {"10.96.0.1": "kubernetes"}


async def test_a_second_api_server_joins_the_endpoints(server: ApiServer) -> None:
    s = support(server)
    other = KubernetesService(
        server.backend,  # type: ignore[arg-type]
        svcs(server),
        server.store("", "v1", "endpoints"),
        server.store("discovery.k8s.io", "v1", "endpointslices"),
        ctx,
        "10.96.0.1",
        "127.0.0.2",
        6443,
    )
    await other.reconcile_once()
    es = server.store("discovery.k8s.io", "v1", "endpointslices").get("default", "kubernetes")
    assert [e["addresses"] for e in es["endpoints"]] == [["127.0.0.1"], ["127.0.0.2"]]
    await other.remove_lease()
    assert s.kubernetes is not None
    await s.kubernetes.reconcile_once()
    es = server.store("discovery.k8s.io", "v1", "endpointslices").get("default", "kubernetes")
    assert [e["addresses"] for e in es["endpoints"]] == [["127.0.0.1"]]


def test_advertise_address() -> None:
    assert advertise_address("10.0.0.5", "0.0.0.0", lambda: "192.0.2.7") == "10.0.0.5"
    assert advertise_address("", "127.0.0.1", lambda: "192.0.2.7") == "127.0.0.1"
    assert advertise_address("", "0.0.0.0", lambda: "192.0.2.7") == "192.0.2.7"
    assert advertise_address("", "::", lambda: None) == "127.0.0.1"


async def test_create_allocates_and_delete_releases(server: ApiServer) -> None:
    o = await svcs(server).create(
        "default",
        svc(
            "web",
            type="NodePort",
            ports=[
                {"name": "tcp", "port": 53, "protocol": "TCP"},
                {"name": "udp", "port": 53, "protocol": "UDP"},
                {"name": "h", "port": 80, "nodePort": 30080},
            ],
        ),
        ctx(),
    )
    spec = o["spec"]
    ip = spec["clusterIP"]
    assert spec["clusterIPs"] == [ip] and ip != "10.96.0.1"
    assert spec["ipFamilies"] == ["IPv4"] and spec["ipFamilyPolicy"] == "SingleStack"
    nps = [p["nodePort"] for p in spec["ports"]]
    assert nps[0] == nps[1] and 30000 <= nps[0] <= 30099 and nps[2] == 30080
    assert await held(server) == (
        {"10.96.0.1": "kubernetes", ip: "web"},
        {nps[0]: "web", 30080: "web"},
    )
    # stored as returned
    assert svcs(server).get("default", "web")["spec"] == spec
    await svcs(server).delete("default", "web", DeleteOptions(), ctx())
    assert await held(server) == ({"10.96.0.1": "kubernetes"}, {})


async def test_requested_values_conflicts_are_422_with_upstream_messages(
    server: ApiServer,
) -> None:
    store = svcs(server)
    await store.create(
        "default", svc("a", clusterIP="10.96.0.5", type="NodePort", ports=[
            {"name": "h", "port": 80, "nodePort": 30080}]), ctx()
    )  # fmt: skip
    msg = await invalid(store.create("default", svc("b", clusterIP="10.96.0.5"), ctx()))
    assert msg == (
        'Service "b" is invalid: spec.clusterIPs: Invalid value: ["10.96.0.5"]: '
        "failed to allocate IP 10.96.0.5: provided IP is already allocated"
    )
    msg = await invalid(store.create("default", svc("b", clusterIP="10.0.0.5"), ctx()))
    assert msg.endswith(
        "failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. "
        "The range of valid IPs is 10.96.0.0/12"
    )
    ports = [{"name": "h", "port": 80, "nodePort": 30080}]
    msg = await invalid(store.create("default", svc("b", type="NodePort", ports=ports), ctx()))
    assert msg == (
        'Service "b" is invalid: spec.ports[0].nodePort: Invalid value: 30080: '
        "provided port is already allocated"
    )
    ports = [{"name": "h", "port": 80, "nodePort": 31080}]
    msg = await invalid(store.create("default", svc("b", type="NodePort", ports=ports), ctx()))
    assert msg.endswith(
        "spec.ports[0].nodePort: Invalid value: 31080: provided port is not in the valid "
        "range. The range of valid ports is 30000-30099"
    )
    # nothing leaked by the failed requests
    assert await held(server) == ({"10.96.0.1": "kubernetes", "10.96.0.5": "a"}, {30080: "a"})
    # released on delete: the same requested values can be taken again
    await store.delete("default", "a", DeleteOptions(), ctx())
    b = await store.create(
        "default", svc("b", clusterIP="10.96.0.5", type="NodePort", ports=[
            {"name": "h", "port": 80, "nodePort": 30080}]), ctx()
    )  # fmt: skip
    assert b["spec"]["clusterIP"] == "10.96.0.5"


async def test_failed_write_gives_back_what_it_took(server: ApiServer) -> None:
    store = svcs(server)
    await store.create("default", svc("a"), ctx())
    before = await held(server)
    with pytest.raises(errors.ApiError) as e:  # the name exists: 409 after allocating
        await store.create(
            "default", svc("a", clusterIP="10.96.0.9", type="NodePort", ports=[
                {"name": "h", "port": 80, "nodePort": 30009}, {"name": "x", "port": 81}]), ctx()
        )  # fmt: skip
    assert e.value.code == 409
    assert await held(server) == before


async def test_dry_run_allocates_nothing(server: ApiServer) -> None:
    store = svcs(server)
    before = await held(server)
    o = await store.create("default", svc("d", type="NodePort"), ctx(dry_run=True))
    assert not o["spec"].get("clusterIP")
    assert await held(server) == before
    await store.create("default", svc("a", clusterIP="10.96.0.5"), ctx())
    msg = await invalid(store.create("default", svc("d", clusterIP="10.96.0.5"), ctx(True)))
    assert "provided IP is already allocated" in msg


async def test_type_changes(server: ApiServer) -> None:
    store = svcs(server)
    o = await store.create("default", svc("t"), ctx())
    ip = o["spec"]["clusterIP"]
    o = await set_spec(server, "t", type="NodePort")
    np = o["spec"]["ports"][0]["nodePort"]
    assert o["spec"]["clusterIP"] == ip and o["spec"]["externalTrafficPolicy"] == "Cluster"
    assert (await held(server))[1] == {np: "t"}
    # a port added gets its own node port, a port removed gives its back
    o = await set_spec(
        server, "t", ports=[o["spec"]["ports"][0], {"name": "b", "port": 81, "protocol": "TCP"}]
    )
    np2 = o["spec"]["ports"][1]["nodePort"]
    assert o["spec"]["ports"][0]["nodePort"] == np and np2 != np
    o = await set_spec(server, "t", ports=[o["spec"]["ports"][1]])
    assert (await held(server))[1] == {np2: "t"}
    # LoadBalancer with externalTrafficPolicy Local gets a health check node port
    o = await set_spec(server, "t", type="LoadBalancer", externalTrafficPolicy="Local")
    hc = o["spec"]["healthCheckNodePort"]
    assert (await held(server))[1] == {np2: "t", hc: "t"}
    assert o["spec"]["allocateLoadBalancerNodePorts"] is True
    # back to ClusterIP: node ports, health check port and LB-only fields go away
    o = await set_spec(server, "t", type="ClusterIP")
    assert "nodePort" not in o["spec"]["ports"][0]
    for f in ("healthCheckNodePort", "externalTrafficPolicy", "allocateLoadBalancerNodePorts"):
        assert f not in o["spec"], f
    assert (await held(server))[1] == {}
    # ExternalName releases the IP, and back allocates a new one
    o = await set_spec(server, "t", type="ExternalName", externalName="example.com")
    assert "clusterIP" not in o["spec"] and "ipFamilies" not in o["spec"]
    assert ip not in (await held(server))[0]
    o = await set_spec(server, "t", type="ClusterIP", externalName=None)
    assert o["spec"]["clusterIP"] and (await held(server))[0][o["spec"]["clusterIP"]] == "t"
    # the cluster IP is immutable
    msg = await invalid(set_spec(server, "t", clusterIP="10.96.0.77", clusterIPs=["10.96.0.77"]))
    assert "spec.clusterIPs[0]" in msg and "field is immutable" in msg


async def test_update_conflict_on_requested_port_keeps_the_old_object(server: ApiServer) -> None:
    store = svcs(server)
    await store.create(
        "default", svc("a", type="NodePort", ports=[{"name": "h", "port": 80, "nodePort": 30050}]),
        ctx(),
    )  # fmt: skip
    o = await store.create("default", svc("b", type="NodePort"), ctx())
    port = o["spec"]["ports"][0]
    msg = await invalid(set_spec(server, "b", ports=[{**port, "nodePort": 30050}]))
    assert "spec.ports[0].nodePort: Invalid value: 30050: provided port is already allocated" in msg
    assert (await held(server))[1] == {30050: "a", port["nodePort"]: "b"}


async def test_headless_and_external_name(server: ApiServer) -> None:
    store = svcs(server)
    h = await store.create("default", svc("h", clusterIP="None", selector={"a": "b"}), ctx())
    assert h["spec"]["clusterIPs"] == ["None"] and h["spec"]["ipFamilies"] == ["IPv4"]
    h2 = await store.create("default", svc("h2", clusterIP="None"), ctx())
    assert h2["spec"]["ipFamilyPolicy"] == "RequireDualStack"
    assert h2["spec"]["ipFamilies"] == ["IPv4", "IPv6"]
    e = await store.create(
        "default", {"metadata": {"name": "e"}, "spec": {"type": "ExternalName",
                                                       "externalName": "example.com"}}, ctx()
    )  # fmt: skip
    assert "clusterIP" not in e["spec"]
    assert set((await held(server))[0]) == {"10.96.0.1"}
    msg = await invalid(store.create("default", svc("x", type="NodePort", clusterIP="None"), ctx()))
    assert (
        "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"
        in msg
    )
    msg = await invalid(
        store.create("default", svc("x", type="ExternalName", externalName="a.b",
                                    clusterIP="10.96.0.8"), ctx())
    )  # fmt: skip
    assert "spec.clusterIPs: Forbidden: may not be set for ExternalName services" in msg
    msg = await invalid(store.create("default", svc("x", ipFamilies=["IPv6"]), ctx()))
    assert 'spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster' in msg
    msg = await invalid(store.create("default", svc("x", healthCheckNodePort=30001), ctx()))
    assert "may only be set when `type` is 'LoadBalancer'" in msg


async def test_release_waits_for_finalizers(server: ApiServer) -> None:
    store = svcs(server)
    body = svc("f", type="NodePort")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    o = await store.create("default", body, ctx())
    _, lingering = await store.delete("default", "f", DeleteOptions(), ctx())
    assert lingering
    assert o["spec"]["clusterIP"] in (await held(server))[0]

    async def drop(cur: Obj) -> Obj:
        cur["metadata"]["finalizers"] = []
        return cur

    await store.guaranteed_update("default", "f", drop, ctx())
    assert await held(server) == ({"10.96.0.1": "kubernetes"}, {})


async def test_repair(server: ApiServer) -> None:
    store = svcs(server)
    s = support(server)
    assert s.allocators is not None
    o = await store.create("default", svc("r", type="NodePort"), ctx())
    ip, np = o["spec"]["clusterIP"], o["spec"]["ports"][0]["nodePort"]
    repair = ServiceRepair(s.allocators, store.cache.list_objects)
    # lost keys come back
    await s.ips.release(ip)
    await s.ports.release(np)
    await repair.run_once()
    assert await held(server) == ({"10.96.0.1": "kubernetes", ip: "r"}, {np: "r"})
    # a leaked key is released on the second pass that sees it leaked
    await s.ips.allocate("10.96.0.200", Owner("default", "gone", "uid-gone"))
    await repair.run_once()
    assert "10.96.0.200" in (await held(server))[0]
    await repair.run_once()
    assert "10.96.0.200" not in (await held(server))[0]
    # a key recorded for a Service that is gone is handed to the one holding the value
    await s.ports.release(np)
    await s.ports.allocate(np, Owner("default", "gone", "uid-gone"))
    await repair.run_once()
    assert (await held(server))[1] == {np: "r"}


async def test_concurrent_creates_get_distinct_values(server: ApiServer) -> None:
    store = svcs(server)
    made = await asyncio.gather(
        *(store.create("default", svc(f"c{i}", type="NodePort"), ctx()) for i in range(20))
    )
    ips = {o["spec"]["clusterIP"] for o in made}
    ports = {o["spec"]["ports"][0]["nodePort"] for o in made}
    assert len(ips) == 20 and len(ports) == 20


class _Shared:
    """One started backend seen by a second server: start/close are the first one's."""

    def __init__(self, backend: Any) -> None:
        self._b = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._b, name)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


async def test_two_api_servers_on_one_store_never_share_a_value(tmp_path: Path) -> None:
    from pinnace.storage import open_backend

    backend = open_backend(f"sqlite://{tmp_path / 'shared.db'}")
    await backend.start()
    servers = []
    for i in range(2):
        (tmp_path / str(i) / "db").mkdir(parents=True)
        cfg = ServerConfig(data_dir=tmp_path / str(i), port=6443 + i,
                           service_cidr="10.96.0.0/26", service_node_port_range="30000-30063")  # fmt: skip
        servers.append(ApiServer(cfg, backend=_Shared(backend)))
    try:
        for s in servers:
            await s.start_storage()
        made = await asyncio.gather(
            *(
                svcs(servers[i % 2]).create("default", svc(f"s{i}", type="NodePort"), ctx())
                for i in range(40)
            )
        )
        ips = [o["spec"]["clusterIP"] for o in made]
        ports = [o["spec"]["ports"][0]["nodePort"] for o in made]
        assert len(set(ips)) == 40 and "10.96.0.1" not in ips
        assert len(set(ports)) == 40
        # both servers' endpoints are in the kubernetes Service's endpoints
        k8s = support(servers[0]).kubernetes
        assert k8s is not None
        await k8s.reconcile_once()
        ep = servers[0].store("", "v1", "endpoints").get("default", "kubernetes")
        assert [p["ports"][0]["port"] for p in ep["subsets"]] == [6443, 6444]
    finally:
        for s in servers:
            await s.stop()
        await backend.close()
