"""The healthCheckNodePort servers: 200/503 with upstream's body, listeners
following the Services, and the state feeding them."""

from __future__ import annotations

import json
import socket
from typing import Any

import aiohttp

from pinnace.proxy.config import ProxyConfig
from pinnace.proxy.healthcheck import ServiceHealthServer, health_body
from pinnace.proxy.iptables import IptablesContext
from pinnace.proxy.iptables import render_service as render_ipt
from pinnace.proxy.state import ProxyState
from tests.unit.proxy.fakes import ep, eps, svc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def get(port: int, path: str = "/healthz") -> tuple[int, dict[str, str], dict[str, object]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}{path}") as resp:
            return resp.status, dict(resp.headers), json.loads(await resp.text())


def lb_local(hc_port: int) -> dict[str, Any]:
    return svc(
        node_port=30080,
        type="LoadBalancer",
        externalTrafficPolicy="Local",
        healthCheckNodePort=hc_port,
    )


def test_body_matches_upstream_shape() -> None:
    status, body = health_body("ns1/web", 2, True)
    assert status == 200
    assert json.loads(body) == {
        "service": {"namespace": "ns1", "name": "web"},
        "localEndpoints": 2,
        "serviceProxyHealthy": True,
    }
    assert health_body("ns1/web", 0, True)[0] == 503
    assert health_body("ns1/web", 3, False)[0] == 503


async def test_server_answers_200_or_503_and_follows_services() -> None:
    port = free_port()
    server = ServiceHealthServer(["127.0.0.1"])
    try:
        await server.sync({"ns1/web": port}, {"ns1/web": 2})
        status, headers, body = await get(port, "/any/path")
        assert status == 200
        assert headers["Content-Type"].startswith("application/json")
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert body == {
            "service": {"namespace": "ns1", "name": "web"},
            "localEndpoints": 2,
            "serviceProxyHealthy": True,
        }
        await server.sync({"ns1/web": port}, {})
        status, _, body = await get(port)
        assert status == 503
        assert body["localEndpoints"] == 0
        await server.sync({}, {})
        assert server.ports == {}
        with socket.socket() as s:  # the listener is gone: the port binds again
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
    finally:
        await server.close()


async def test_unbindable_port_is_retried_on_the_next_sync() -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    server = ServiceHealthServer(["127.0.0.1"])
    try:
        await server.sync({"ns1/web": port}, {"ns1/web": 1})
        assert server.ports == {}
        blocker.close()
        await server.sync({"ns1/web": port}, {"ns1/web": 1})
        assert server.ports == {port: "ns1/web"}
        assert (await get(port))[0] == 200
    finally:
        blocker.close()
        await server.close()


def test_state_reports_health_check_ports_and_local_ready_endpoints() -> None:
    st = ProxyState("node1")
    st.set_service(lb_local(31999))
    st.set_service(svc("plain", "172.30.0.42", node_port=30081, healthCheckNodePort=31998))
    st.set_slice(
        eps(
            endpoints=[
                ep("10.180.0.1"),
                ep("10.180.0.2", ready=False),
                ep("10.180.0.3", node="node2"),
                ep("10.180.0.4"),
            ]
        )
    )
    assert st.health_check_node_ports() == {"ns1/svc1": 31999}
    assert st.local_ready_endpoints() == {"ns1/svc1": 2}
    # a new healthCheckNodePort is a change the proxier must see
    assert st.set_service(lb_local(31997))


def test_iptables_accepts_the_health_check_port_in_filter() -> None:
    st = ProxyState("node1")
    st.set_service(lb_local(31999))
    [(info, endpoints)] = list(st.items())
    out = render_ipt(info, endpoints, IptablesContext())
    assert (
        '-A KUBE-NODEPORTS -m comment --comment "ns1/svc1:p80 health check node port" '
        "-m tcp -p tcp --dport 31999 -j ACCEPT"
    ) in out.filter


def test_config_flags() -> None:
    assert ProxyConfig().healthz_servers
    assert ProxyConfig(service_cidr="10.96.0.1/12, fd00::/108").service_cidr == "10.96.0.0/12"
