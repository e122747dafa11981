from __future__ import annotations

from pinnace.proxy.model import Endpoint, ServicePortInfo, ServicePortName
from pinnace.proxy.topology import categorize_endpoints

SPN = ServicePortName("ns1", "svc1", "p80")


def info(**kw: object) -> ServicePortInfo:
    return ServicePortInfo(name=SPN, cluster_ip="172.30.0.41", port=80, **kw)  # type: ignore[arg-type]


def e(ip: str, **kw: object) -> Endpoint:
    return Endpoint(ip, 80, **kw)  # type: ignore[arg-type]


def ips(eps: tuple[Endpoint, ...]) -> list[str]:
    return [x.ip for x in eps]


def test_cluster_policy_uses_ready_endpoints() -> None:
    c = categorize_endpoints([e("1.0.0.1"), e("1.0.0.2", ready=False, serving=False)], info())
    assert ips(c.cluster) == ["1.0.0.1"] and c.local == () and c.has_any
    assert ips(c.reachable) == ["1.0.0.1"]


def test_falls_back_to_serving_terminating_endpoints() -> None:
    eps = [
        e("1.0.0.1", ready=False, serving=True, terminating=True),
        e("1.0.0.2", ready=False, serving=False, terminating=True),
    ]
    c = categorize_endpoints(eps, info())
    assert ips(c.cluster) == ["1.0.0.1"] and c.has_any


def test_no_usable_endpoints() -> None:
    c = categorize_endpoints([e("1.0.0.1", ready=False, serving=False)], info())
    assert c.cluster == () and not c.has_any


def test_internal_local_uses_only_this_nodes_endpoints() -> None:
    eps = [e("1.0.0.1", is_local=True), e("1.0.0.2")]
    c = categorize_endpoints(eps, info(internal_local=True))
    assert c.cluster == () and ips(c.local) == ["1.0.0.1"] and ips(c.reachable) == ["1.0.0.1"]
    # no local endpoint: has_any still true (traffic is dropped, not rejected)
    c = categorize_endpoints([e("1.0.0.2")], info(internal_local=True))
    assert c.local == () and c.has_any


def test_external_local_keeps_cluster_endpoints_for_internal_traffic() -> None:
    eps = [e("1.0.0.1"), e("1.0.0.2", is_local=True)]
    c = categorize_endpoints(eps, info(node_port=30000, external_local=True))
    assert ips(c.cluster) == ["1.0.0.1", "1.0.0.2"]
    assert ips(c.local) == ["1.0.0.2"]
    assert ips(c.reachable) == ["1.0.0.1", "1.0.0.2"]


def test_local_prefers_ready_then_terminating() -> None:
    eps = [
        e("1.0.0.1", is_local=True, ready=False, serving=True, terminating=True),
        e("1.0.0.2", is_local=False),
    ]
    c = categorize_endpoints(eps, info(internal_local=True))
    assert ips(c.local) == ["1.0.0.1"]


def test_zone_hints_narrow_cluster_traffic() -> None:
    eps = [e("1.0.0.1", zone_hints=frozenset({"a"})), e("1.0.0.2", zone_hints=frozenset({"b"}))]
    c = categorize_endpoints(eps, info(), {"topology.kubernetes.io/zone": "a"})
    assert ips(c.cluster) == ["1.0.0.1"]
    # hints for no endpoint in our zone, or an endpoint without hints: ignored
    c = categorize_endpoints(eps, info(), {"topology.kubernetes.io/zone": "c"})
    assert ips(c.cluster) == ["1.0.0.1", "1.0.0.2"]
    c = categorize_endpoints([*eps, e("1.0.0.3")], info(), {"topology.kubernetes.io/zone": "a"})
    assert len(c.cluster) == 3
