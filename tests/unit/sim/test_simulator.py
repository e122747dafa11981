"""SimNodes against the client tests' fake API server, on a FakeClock: heartbeats
are scheduled on virtual time, HTTP is real (so we poll for its effects)."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pinnace.client import AiohttpTransport, Client, ClientConfig, FakeClock
from pinnace.sim import SimNodes, SimOptions, expand
from tests.unit.client.fake_apiserver import FakeApiServer, serve_all, until

Obj = dict[str, Any]


class FakeApi(FakeApiServer):
    @staticmethod
    def matches(obj: Obj, ls: Any, fs: Any) -> bool:
        m = obj["metadata"]
        fields = {
            "metadata.name": m["name"],
            "metadata.namespace": m.get("namespace", ""),
            "spec.nodeName": (obj.get("spec") or {}).get("nodeName") or "",
        }
        return bool(ls.matches(m.get("labels") or {}) and fs.matches(fields))

    def get(self, plural: str, name: str, ns: str = "") -> Obj | None:
        return self.objects.get((plural, ns, name))


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    fake = FakeApi()
    server, fake.url = await serve_all(fake.handle)
    try:
        yield fake
    finally:
        fake.drop_watches()
        await server.close()


@pytest.fixture
async def sim(api: FakeApi) -> AsyncIterator[tuple[SimNodes, FakeClock]]:
    clock = FakeClock()
    client = Client(AiohttpTransport(ClientConfig(server=api.url)), qps=0, clock=clock)
    s = SimNodes(client, expand(None, 3), clock=clock, options=SimOptions())
    task = asyncio.create_task(s.run())
    try:
        await asyncio.wait_for(s.ready.wait(), 10)
        yield s, clock
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.close()


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    await until(check, timeout)


def renew_time(api: FakeApi, node: str) -> str:
    lease = api.get("leases", node, "kube-node-lease")
    assert lease is not None
    return str(lease["spec"]["renewTime"])


async def test_registers_nodes_with_status_and_leases(
    api: FakeApi, sim: tuple[SimNodes, FakeClock]
) -> None:
    nodes = [api.get("nodes", f"sim-{i}") for i in range(3)]
    assert all(n is not None for n in nodes)
    cidrs = {n["spec"]["podCIDR"] for n in nodes if n}
    assert len(cidrs) == 3
    n0 = nodes[0]
    assert n0 is not None
    assert n0["metadata"]["labels"]["pinnace.io/simulated"] == "true"
    assert n0["metadata"]["annotations"]["pinnace.io/simulated"] == "true"
    assert n0["status"]["nodeInfo"]["kubeletVersion"] == "v1.32.0-pinnace-sim"
    assert {c["type"]: c["status"] for c in n0["status"]["conditions"]}["Ready"] == "True"
    addr = n0["status"]["addresses"][0]
    assert addr["type"] == "InternalIP"
    assert ipaddress.ip_address(addr["address"]) in ipaddress.ip_network("198.18.0.0/15")
    lease = api.get("leases", "sim-0", "kube-node-lease")
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == "sim-0"
    assert lease["spec"]["leaseDurationSeconds"] == 40


async def test_leases_renew_every_10s_until_killed(
    api: FakeApi, sim: tuple[SimNodes, FakeClock]
) -> None:
    s, clock = sim
    before = {n: renew_time(api, n) for n in ("sim-0", "sim-1")}
    s.kill("sim-1")
    await clock.advance(10.5)
    await eventually(lambda: renew_time(api, "sim-0") != before["sim-0"])
    assert renew_time(api, "sim-0").startswith("2025-01-01T00:00:1")
    await clock.advance(10)
    await asyncio.sleep(0.1)
    assert renew_time(api, "sim-1") == before["sim-1"]
    s.revive("sim-1")
    await eventually(lambda: renew_time(api, "sim-1") != before["sim-1"])


async def test_dead_annotation_stops_heartbeats(
    api: FakeApi, sim: tuple[SimNodes, FakeClock]
) -> None:
    s, clock = sim
    node = api.get("nodes", "sim-2")
    assert node is not None
    node["metadata"]["annotations"]["pinnace.io/sim-state"] = "dead"
    api.put("nodes", node)
    await eventually(lambda: not s.is_alive("sim-2"))
    before = renew_time(api, "sim-2")
    await clock.advance(30)
    await asyncio.sleep(0.1)
    assert renew_time(api, "sim-2") == before


async def test_pod_lifecycle(api: FakeApi, sim: tuple[SimNodes, FakeClock]) -> None:
    _, clock = sim
    node = api.get("nodes", "sim-0")
    assert node is not None
    cidr = ipaddress.ip_network(node["spec"]["podCIDR"])

    def pod(name: str, **annotations: str) -> Obj:
        return {
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "annotations": annotations},
            "spec": {"nodeName": "sim-0", "restartPolicy": "Never",
                     "containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        }  # fmt: skip

    def phase(name: str) -> str:
        p = api.get("pods", name, "default")
        return str(p["status"].get("phase")) if p else "<gone>"

    api.put("pods", pod("web"))
    api.put("pods", pod("batch", **{"pinnace.io/sim-duration": "5s"}))
    await eventually(lambda: phase("web") == "Running" and phase("batch") == "Running")
    web_pod = api.get("pods", "web", "default")
    assert web_pod is not None
    assert ipaddress.ip_address(web_pod["status"]["podIP"]) in cidr
    assert web_pod["status"]["qosClass"] == "BestEffort"  # kept
    await clock.advance(5)
    await eventually(lambda: phase("batch") == "Succeeded")
    assert phase("web") == "Running"
    # a graceful delete (deletionTimestamp) is finished by the "kubelet"
    web_pod = api.get("pods", "web", "default")
    assert web_pod is not None
    web_pod["metadata"]["deletionTimestamp"] = "2025-01-01T00:01:00Z"
    api.put("pods", web_pod)
    await eventually(lambda: phase("web") == "<gone>")
    deletes = api.requests_to("DELETE", "/pods/web")
    assert deletes and deletes[-1].body["gracePeriodSeconds"] == 0
    # pods on other nodes are none of our business
    other = pod("elsewhere")
    other["spec"]["nodeName"] = "real-node"
    api.put("pods", other)
    await asyncio.sleep(0.2)
    assert phase("elsewhere") == "Pending"


def test_heartbeat_workers_grow_with_the_node_count() -> None:
    from pinnace.sim.simulator import SimOptions, scaled_options

    assert scaled_options(SimOptions(), 10).heartbeat_workers == 8
    assert scaled_options(SimOptions(), 1000).heartbeat_workers == 40
    assert scaled_options(SimOptions(), 5001).heartbeat_workers == 201
    assert scaled_options(SimOptions(heartbeat_workers=300), 1000).heartbeat_workers == 300
