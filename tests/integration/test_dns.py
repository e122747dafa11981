"""Cluster DNS against a real ``pinnace server``: the DNS component runs in
the test's event loop (on 127.0.0.1, free ports) with the admin kubeconfig,
objects are created through the client, and the server is queried with
dnspython over UDP and TCP. Also checks the kube-dns Service and EndpointSlice
it keeps in ``kube-system``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import dns.asyncquery
import dns.message
import dns.rcode
import pytest

from pinnace.client import Client, NotFound
from pinnace.client.objects import SERVICES
from pinnace.dns import ClusterDns, DnsConfig
from pinnace.dns.source import ENDPOINTSLICES
from tests.cluster import Server

# the server's own DNS component would bind port 53; this test runs its own
SERVER_ARGS = [
    "--disable",
    "dns",
    "--disable",
    "scheduler",
    "--controllers",
    "endpointslice,serviceaccount",
]


@pytest.fixture
async def cluster_dns(server: Server) -> AsyncIterator[tuple[Client, ClusterDns]]:
    if server.storage:
        pytest.skip("storage-independent: the SQLite run covers it")
    client = Client.from_kubeconfig(str(server.kubeconfig))
    config = DnsConfig(
        listen_address="127.0.0.1",
        port=0,
        advertise_ip="127.0.0.1",
        upstreams=[],
        metrics_port=0,
        addon_resync_seconds=0.5,
    )
    dns_ = ClusterDns(client, config)
    ready = asyncio.Event()
    task = asyncio.get_running_loop().create_task(dns_.run(ready))
    try:
        done, _ = await asyncio.wait(
            [task, asyncio.ensure_future(ready.wait())],
            timeout=30,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if task in done:
            task.result()
        assert ready.is_set(), "cluster DNS did not become ready"
        yield client, dns_
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


async def query(
    d: ClusterDns, name: str, rdtype: str = "A", proto: str = "udp"
) -> dns.message.Message:
    assert d.server.udp_address is not None
    q = dns.message.make_query(name, rdtype)
    port = d.server.udp_address[1]
    if proto == "tcp":
        return await dns.asyncquery.tcp(q, "127.0.0.1", port=port, timeout=5)
    return await dns.asyncquery.udp(q, "127.0.0.1", port=port, timeout=5)


def addresses(r: dns.message.Message) -> list[str]:
    return sorted(str(rd) for rrset in r.answer for rd in rrset if rrset.rdtype in (1, 28))


async def test_services_and_endpoints_resolve(cluster_dns: tuple[Client, ClusterDns]) -> None:
    client, d = cluster_dns
    await client.create(
        SERVICES,
        {
            "metadata": {"name": "web"},
            "spec": {"clusterIP": "10.96.7.7", "ports": [{"name": "http", "port": 80}]},
        },
        namespace="default",
    )
    await client.create(
        SERVICES,
        {
            "metadata": {"name": "hl"},
            "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]},
        },
        namespace="default",
    )
    await client.create(
        ENDPOINTSLICES,
        {
            "metadata": {
                "name": "hl-x",
                "labels": {
                    "kubernetes.io/service-name": "hl",
                    "endpointslice.kubernetes.io/managed-by": "test",
                },
            },
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.42.0.5"], "hostname": "db-0", "conditions": {"ready": True}},
                {"addresses": ["10.42.0.6"], "conditions": {"ready": False}},
            ],
            "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
        },
        namespace="default",
    )
    await client.create(
        SERVICES,
        {
            "metadata": {"name": "ext"},
            "spec": {"type": "ExternalName", "externalName": "web.default.svc.cluster.local"},
        },
        namespace="default",
    )

    async def web_resolves() -> None:
        for proto in ("udp", "tcp"):
            r = await query(d, "web.default.svc.cluster.local", proto=proto)
            assert addresses(r) == ["10.96.7.7"], r

    await eventually(web_resolves)

    async def headless_resolves() -> None:
        r = await query(d, "hl.default.svc.cluster.local")
        assert addresses(r) == ["10.42.0.5"], r

    await eventually(headless_resolves)
    r = await query(d, "db-0.hl.default.svc.cluster.local")
    assert addresses(r) == ["10.42.0.5"]
    r = await query(d, "_pg._tcp.hl.default.svc.cluster.local", "SRV")
    assert [str(rd) for rrset in r.answer for rd in rrset] == [
        "0 100 5432 db-0.hl.default.svc.cluster.local."
    ]
    r = await query(d, "ext.default.svc.cluster.local")
    assert addresses(r) == ["10.96.7.7"]
    r = await query(d, "7.7.96.10.in-addr.arpa", "PTR")
    assert [str(rd) for rrset in r.answer for rd in rrset] == ["web.default.svc.cluster.local."]
    r = await query(d, "web.default.svc.cluster.local.default.svc.cluster.local")
    assert r.rcode() == dns.rcode.NXDOMAIN
    r = await query(d, "kube-system.svc.cluster.local")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer

    # a change reaches answers although the old one sits in the cache
    await client.delete(SERVICES, "web", namespace="default")

    async def web_gone() -> None:
        r = await query(d, "web.default.svc.cluster.local")
        assert r.rcode() == dns.rcode.NXDOMAIN, r

    await eventually(web_gone)


async def test_kube_dns_service_and_endpointslice(cluster_dns: tuple[Client, ClusterDns]) -> None:
    client, d = cluster_dns
    assert d.server.udp_address is not None and d.metrics_address is not None
    svc = await client.get(SERVICES, "kube-dns", namespace="kube-system")
    assert svc["metadata"]["labels"] == {
        "k8s-app": "kube-dns",
        "kubernetes.io/cluster-service": "true",
        "kubernetes.io/name": "CoreDNS",
    }
    assert svc["spec"]["clusterIP"] == "10.96.0.10"
    assert not svc["spec"].get("selector")
    assert sorted((p["name"], p["port"], p["protocol"]) for p in svc["spec"]["ports"]) == [
        ("dns", 53, "UDP"),
        ("dns-tcp", 53, "TCP"),
        ("metrics", 9153, "TCP"),
    ]
    assert d.addon is not None
    name = d.addon.slice_name
    assert name == f"kube-dns-127-0-0-1-{d.server.udp_address[1]}"
    sl = await client.get(ENDPOINTSLICES, name, namespace="kube-system")
    assert sl["metadata"]["labels"]["kubernetes.io/service-name"] == "kube-dns"
    assert sl["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "dns.pinnace.io"
    assert [e["addresses"] for e in sl["endpoints"]] == [["127.0.0.1"]]
    port = d.server.udp_address[1]
    assert sorted((p["name"], p["port"], p["protocol"]) for p in sl["ports"]) == [
        ("dns", port, "UDP"),
        ("dns-tcp", port, "TCP"),
        ("metrics", d.metrics_address[1], "TCP"),
    ]
    r = await query(d, "kube-dns.kube-system.svc.cluster.local")
    assert addresses(r) == ["10.96.0.10"]

    # edits are undone, deletions recreated
    await client.patch(
        ENDPOINTSLICES,
        name,
        {"ports": [{"name": "dns", "port": 1, "protocol": "UDP"}]},
        namespace="kube-system",
    )
    await client.delete(SERVICES, "kube-dns", namespace="kube-system")

    async def healed() -> None:
        try:
            s = await client.get(SERVICES, "kube-dns", namespace="kube-system")
        except NotFound:
            raise AssertionError("not recreated yet") from None
        assert s["spec"]["clusterIP"] == "10.96.0.10"
        sl = await client.get(ENDPOINTSLICES, name, namespace="kube-system")
        assert {p["port"] for p in sl["ports"] if p["name"] == "dns"} == {port}

    await eventually(healed)

    import aiohttp

    host, mport = d.metrics_address
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://{host}:{mport}/ready") as resp:
            assert resp.status == 200
        async with http.get(f"http://{host}:{mport}/metrics") as resp:
            text = await resp.text()
    assert "coredns_dns_requests_total{" in text


def other_server_slice(name: str, renewed: str) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/service-name": "kube-dns",
                "endpointslice.kubernetes.io/managed-by": "dns.pinnace.io",
            },
            "annotations": {"dns.pinnace.io/renew-time": renewed},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.9"], "conditions": {"ready": True}}],
        "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}],
    }


async def test_each_dns_server_keeps_its_own_slice(cluster_dns: tuple[Client, ClusterDns]) -> None:
    """Several servers (HA on etcd) each keep a slice; the slices of servers
    that stopped renewing theirs, and the single slice of older versions, go."""
    client, d = cluster_dns
    assert d.addon is not None
    live = other_server_slice("kube-dns-10-0-0-9-53", "2999-01-01T00:00:00Z")
    gone = other_server_slice("kube-dns-10-0-0-8-53", "2020-01-01T00:00:00Z")
    legacy = other_server_slice("kube-dns", "2999-01-01T00:00:00Z")
    for body in (live, gone, legacy):
        await client.create(ENDPOINTSLICES, body, namespace="kube-system")

    async def pruned() -> None:
        items = (await client.list(ENDPOINTSLICES, namespace="kube-system"))["items"]
        names = {i["metadata"]["name"] for i in items}
        assert "kube-dns" not in names and "kube-dns-10-0-0-8-53" not in names, names

    await eventually(pruned)
    # the other live server's slice is left alone, and ours keeps being renewed
    await client.get(ENDPOINTSLICES, "kube-dns-10-0-0-9-53", namespace="kube-system")
    ours = await client.get(ENDPOINTSLICES, d.addon.slice_name, namespace="kube-system")
    first = ours["metadata"]["annotations"]["dns.pinnace.io/renew-time"]

    async def renewed() -> None:
        sl = await client.get(ENDPOINTSLICES, d.addon.slice_name, namespace="kube-system")
        assert sl["metadata"]["annotations"]["dns.pinnace.io/renew-time"] > first

    await eventually(renewed)
    await client.delete(ENDPOINTSLICES, "kube-dns-10-0-0-9-53", namespace="kube-system")


async def test_a_stopping_dns_server_removes_its_slice(server: Server) -> None:
    if server.storage:
        pytest.skip("storage-independent: the SQLite run covers it")
    async with Client.from_kubeconfig(str(server.kubeconfig)) as client:
        config = DnsConfig(
            listen_address="127.0.0.1", port=0, advertise_ip="127.0.0.2", upstreams=[],
            metrics_port=0, addon_resync_seconds=0.5,
        )  # fmt: skip
        dns_ = ClusterDns(client, config)
        ready = asyncio.Event()
        task = asyncio.get_running_loop().create_task(dns_.run(ready))
        await asyncio.wait_for(ready.wait(), 30)
        assert dns_.addon is not None
        name = dns_.addon.slice_name
        await client.get(ENDPOINTSLICES, name, namespace="kube-system")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with pytest.raises(NotFound):
            await client.get(ENDPOINTSLICES, name, namespace="kube-system")
