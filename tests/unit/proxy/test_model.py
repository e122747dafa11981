from __future__ import annotations

from pinnace.proxy.model import (
    Endpoint,
    ServicePortName,
    merge_endpoints,
    service_ports,
    slice_endpoints,
)
from pinnace.proxy.state import ProxyState
from tests.unit.proxy.fakes import ep, eps, svc

SPN = ServicePortName("ns1", "svc1", "p80", "TCP")


def test_service_port_name_prints_like_upstream() -> None:
    assert str(SPN) == "ns1/svc1:p80"
    assert str(ServicePortName("ns1", "svc1", "", "UDP")) == "ns1/svc1"


def test_clusterip_service_port() -> None:
    [(spn, info)] = service_ports(svc()).items()
    assert spn == SPN
    assert (info.cluster_ip, info.port, info.protocol, info.node_port) == (
        "172.30.0.41",
        80,
        "tcp",
        0,
    )
    assert info.uses_cluster_endpoints and not info.uses_local_endpoints
    assert not info.externally_accessible


def test_headless_and_external_name_are_not_proxied() -> None:
    assert service_ports(svc(ip="None")) == {}
    assert service_ports(svc(ip="")) == {}
    assert service_ports(svc(type="ExternalName", externalName="example.com")) == {}


def test_nodeport_external_ips_lb_ips_and_affinity() -> None:
    s = svc(
        node_port=30080,
        type="LoadBalancer",
        externalIPs=["192.168.99.1", "fd00::1"],
        sessionAffinity="ClientIP",
        externalTrafficPolicy="Local",
        loadBalancerSourceRanges=["10.0.0.0/8"],
        status={
            "loadBalancer": {
                "ingress": [
                    {"ip": "1.2.3.4"},
                    {"ip": "1.2.3.5", "ipMode": "Proxy"},
                    {"hostname": "x"},
                ]
            }
        },
    )
    info = service_ports(s)[SPN]
    assert info.node_port == 30080
    assert info.external_ips == ("192.168.99.1",)  # IPv6 ignored (IPv4 proxier)
    assert info.lb_vips == ("1.2.3.4",)  # ipMode Proxy: the LB handles it
    assert info.lb_source_ranges == ("10.0.0.0/8",)
    assert info.affinity_timeout == 10800  # upstream's default
    assert info.external_policy_local and info.uses_local_endpoints
    assert info.uses_cluster_endpoints  # internal traffic keeps the Cluster policy
    assert (
        service_ports(
            svc(
                sessionAffinity="ClientIP",
                sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}},
            )
        )[SPN].affinity_timeout
        == 60
    )


def test_external_traffic_policy_local_only_counts_for_nodeport_and_lb() -> None:
    info = service_ports(svc(externalIPs=["192.168.99.1"], externalTrafficPolicy="Local"))[SPN]
    assert not info.external_local


def test_slice_endpoints_conditions_default_like_upstream() -> None:
    es = eps(
        endpoints=[
            ep("10.180.0.1"),  # no conditions: ready, serving, not terminating
            ep("10.180.0.2", node="node2", ready=False, serving=True, terminating=True),
            ep("10.180.0.3", ready=False),
            {"addresses": [], "nodeName": "node1"},
        ],
        port=8080,
    )
    got = slice_endpoints(es, "node1")[SPN]
    assert got == [
        Endpoint("10.180.0.1", 8080, is_local=True),
        Endpoint("10.180.0.2", 8080, ready=False, serving=True, terminating=True),
        Endpoint("10.180.0.3", 8080, is_local=True, ready=False, serving=True),
    ]


def test_slices_match_ports_by_name_and_ignore_ipv6() -> None:
    assert slice_endpoints(eps(address_type="IPv6"), "n") == {}
    other = slice_endpoints(eps(port_name="metrics"), "n")
    assert SPN not in other and ServicePortName("ns1", "svc1", "metrics", "TCP") in other


def test_merge_dedupes_and_sorts_by_ip_port() -> None:
    a = slice_endpoints(eps(endpoints=[ep("10.180.0.2"), ep("10.180.0.10")]), "n")
    b = slice_endpoints(eps(endpoints=[ep("10.180.0.2"), ep("10.180.0.1")], name="b"), "n")
    merged = merge_endpoints([a, b])[SPN]
    assert [str(e) for e in merged] == ["10.180.0.10:80", "10.180.0.1:80", "10.180.0.2:80"]


def test_state_marks_only_real_changes_dirty() -> None:
    st = ProxyState("node1")
    assert st.set_service(svc())
    assert st.take_dirty() == {"ns1/svc1"}
    s2 = svc()
    s2["metadata"]["labels"] = {"x": "y"}
    assert not st.set_service(s2)  # nothing the proxier programs changed
    assert st.set_slice(eps())
    assert not st.set_slice(eps())
    assert st.take_dirty() == {"ns1/svc1"}
    assert [str(e) for e in st.endpoints_of(SPN)] == ["10.180.0.1:80"]
    # a second slice of the same Service adds to it; deleting one removes its share
    assert st.set_slice(eps(endpoints=[ep("10.180.0.9")], name="svc1-two"))
    assert len(st.endpoints_of(SPN)) == 2
    assert st.delete_slice(eps(name="svc1-two"))
    assert [str(e) for e in st.endpoints_of(SPN)] == ["10.180.0.1:80"]
    assert st.delete_service(svc())
    assert not st.delete_service(svc())
    assert st.service_keys() == []


def test_state_follows_a_slice_moving_to_another_service() -> None:
    st = ProxyState("node1")
    st.set_slice(eps("a", name="s"))
    st.take_dirty()
    assert st.set_slice(eps("b", name="s"))
    assert st.take_dirty() == {"ns1/a", "ns1/b"}
    assert st.endpoints_of(ServicePortName("ns1", "a", "p80")) == ()
