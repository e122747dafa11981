"""kube-proxy end to end against a real ``pinnace server``: ``run_proxy`` runs in
the test's event loop with the admin kubeconfig and programs a network
namespace the test creates (never the host: ``command_prefix``); Services and
EndpointSlices are written through the client, and the namespace's
``iptables-save`` / ``nft list table`` shows what the informers made of them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from pinnace.client import Client, ClientConfig
from pinnace.client.objects import SERVICES
from pinnace.proxy import ProxyConfig, cleanup, run_proxy
from pinnace.proxy.metrics import REGISTRY
from pinnace.proxy.proxy import ENDPOINTSLICES
from tests.cluster import Server

SERVER_ARGS = [
    "--disable",
    "dns",
    "--disable",
    "scheduler",
    "--controllers",
    "endpointslice,serviceaccount",
]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="needs root and iproute2 (network namespaces)",
)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


@pytest.fixture(params=["iptables", "nftables"])
def netns(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(mode, namespace): a network namespace for the proxy to program."""
    mode: str = request.param
    ns = f"pxi{os.getpid() % 100000}-{mode[:3]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        yield mode, ns
    finally:
        cleanup(command_prefix=["ip", "netns", "exec", ns])
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
async def proxy(
    netns: tuple[str, str], server: Server
) -> AsyncIterator[tuple[Client, Callable[[], str]]]:
    if server.storage:
        pytest.skip("storage-independent: the SQLite run covers it")
    mode, ns = netns
    prefix = ["ip", "netns", "exec", ns]
    client = Client.from_kubeconfig(str(server.kubeconfig))
    config = ProxyConfig(
        mode=mode,
        node_name="node1",
        cluster_cidr="10.244.0.0/16",
        min_sync_period=0.1,
        command_prefix=prefix,
        healthz_servers=False,  # they would bind in this netns, not the test's
    )
    ready = asyncio.Event()
    task = asyncio.ensure_future(
        run_proxy(ClientConfig.from_kubeconfig(server.kubeconfig), config, ready=ready)
    )

    def rules() -> str:
        args = (
            ["iptables-save"]
            if mode == "iptables"
            else ["nft", "list", "table", "ip", "kube-proxy"]
        )
        return subprocess.run([*prefix, *args], capture_output=True, text=True).stdout

    try:
        done, _ = await asyncio.wait(
            [task, asyncio.ensure_future(ready.wait())],
            timeout=30,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if task in done:
            task.result()
        assert ready.is_set(), "kube-proxy did not become ready"
        yield client, rules
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()


def slice_body(svc: str, ips: list[str]) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{svc}-x", "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
    }


async def test_services_and_slices_become_rules(proxy: tuple[Client, Callable[[], str]]) -> None:
    client, rules = proxy
    # the server outlives one mode's run: each uses its own names
    svc = f"web-{len((await client.list(ENDPOINTSLICES, namespace='default')).get('items') or [])}"
    await client.create(
        SERVICES,
        {
            "metadata": {"name": svc},
            "spec": {
                "type": "NodePort",
                "clusterIP": "10.96.50.50",
                "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30123}],
            },
        },
        namespace="default",
    )

    async def rejected() -> None:
        text = rules()
        assert "10.96.50.50" in text and ("REJECT" in text or "reject-chain" in text), text

    await eventually(rejected)
    await client.create(ENDPOINTSLICES, slice_body(svc, ["10.244.9.1"]), namespace="default")

    async def dnat_to(ip: str, absent: str | None = None) -> None:
        text = rules()
        assert f"{ip}:8080" in text, text
        assert "30123" in text
        if absent is not None:
            assert absent not in text

    await eventually(lambda: dnat_to("10.244.9.1"))
    await client.patch(
        ENDPOINTSLICES,
        f"{svc}-x",
        {"endpoints": [{"addresses": ["10.244.9.2"], "conditions": {"ready": True}}]},
        namespace="default",
    )
    await eventually(lambda: dnat_to("10.244.9.2", absent="10.244.9.1:8080"))
    await client.delete(SERVICES, svc, namespace="default")

    async def gone() -> None:
        assert "10.96.50.50" not in rules()

    await eventually(gone)
    assert (REGISTRY.get_sample_value("kubeproxy_sync_proxy_rules_last_timestamp_seconds") or 0) > 0
    assert (REGISTRY.get_sample_value("kubeproxy_sync_proxy_rules_duration_seconds_count") or 0) > 0
