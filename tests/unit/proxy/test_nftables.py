from __future__ import annotations

from pinnace.proxy.model import Endpoint, ServicePortName
from pinnace.proxy.nftables import (
    NftContext,
    assemble,
    chain_base,
    endpoint_chain_base,
    render_service,
)
from pinnace.proxy.state import ProxyState
from tests.unit.proxy.fakes import ep, eps, svc

SPN = ServicePortName("ns1", "svc1", "p80")
CTX = NftContext(cluster_cidr="10.0.0.0/8")
SVC_CHAIN = "service-ULMVA6XW-ns1/svc1/tcp/p80"
EP_CHAIN = "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"


def rendered(s: dict, es: dict | None = None, ctx: NftContext = CTX):  # type: ignore[no-untyped-def]
    st = ProxyState("node1")
    st.set_service(s)
    if es is not None:
        st.set_slice(es)
    [(info, endpoints)] = list(st.items())
    return render_service(info, endpoints, ctx)


def test_chain_names_like_upstream() -> None:
    # values from upstream's nftables proxier tests
    assert chain_base(SPN) == "ULMVA6XW-ns1/svc1/tcp/p80"
    assert (
        endpoint_chain_base(SPN, Endpoint("10.180.0.1", 80))
        == "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
    )


def test_cluster_ip_service() -> None:
    r = rendered(svc(), eps())
    assert r.elements == {
        ("cluster-ips", "172.30.0.41"): ("", ""),
        ("service-ips", "172.30.0.41 . tcp . 80"): (f"goto {SVC_CHAIN}", ""),
    }
    assert r.chains == {
        SVC_CHAIN: [
            "ip daddr 172.30.0.41 tcp dport 80 ip saddr != 10.0.0.0/8 jump mark-for-masquerade",
            f"numgen random mod 1 vmap {{ 0 : goto {EP_CHAIN} }}",
        ],
        EP_CHAIN: [
            "ip saddr 10.180.0.1 jump mark-for-masquerade",
            "meta l4proto tcp dnat to 10.180.0.1:80",
        ],
    }


def test_no_endpoints_go_to_reject_chain() -> None:
    r = rendered(svc(node_port=3001))
    assert r.chains == {}
    assert r.elements[("no-endpoint-services", "172.30.0.41 . tcp . 80")] == (
        "goto reject-chain",
        "ns1/svc1:p80",
    )
    assert r.elements[("no-endpoint-nodeports", "tcp . 3001")] == (
        "goto reject-chain",
        "ns1/svc1:p80",
    )


def test_nodeport_and_local_policy_without_local_endpoints() -> None:
    r = rendered(
        svc(node_port=3001, externalTrafficPolicy="Local"),
        eps(endpoints=[ep("10.180.0.1", node="x")]),
    )
    ext = "external-ULMVA6XW-ns1/svc1/tcp/p80"
    assert r.elements[("service-nodeports", "tcp . 3001")] == (f"goto {ext}", "")
    assert r.elements[("no-endpoint-nodeports", "tcp . 3001")] == ("drop", "ns1/svc1:p80")
    assert r.chains[ext] == [
        f'ip saddr 10.0.0.0/8 goto {SVC_CHAIN} comment "short-circuit pod traffic"',
        'fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"',
        f'fib saddr type local goto {SVC_CHAIN} comment "short-circuit local traffic"',
    ]


def test_affinity_sets_and_balancing() -> None:
    es = eps(endpoints=[ep("10.180.0.1"), ep("10.180.0.2")])
    r = rendered(
        svc(sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}}),
        es,
    )
    assert set(r.sets.values()) == {60} and len(r.sets) == 2
    aff = "affinity-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
    assert f"ip saddr @{aff} goto {EP_CHAIN}" in r.chains[SVC_CHAIN]
    assert r.chains[SVC_CHAIN][-1].startswith("numgen random mod 2 vmap { 0 : goto endpoint-")
    assert f"update @{aff} {{ ip saddr }}" in r.chains[EP_CHAIN]


def test_full_transaction_sets_up_the_table() -> None:
    text = assemble([rendered(svc(), eps())], CTX, full=True)
    lines = text.splitlines()
    assert lines[0] == 'add table ip kube-proxy { comment "rules for kube-proxy" ; }'
    assert "add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }" in lines
    assert (
        "add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips"
        in lines
    )
    assert "add rule ip kube-proxy masquerading masquerade fully-random" in lines
    assert "flush map ip kube-proxy service-ips" in lines
    assert (
        f"add element ip kube-proxy service-ips {{ 172.30.0.41 . tcp . 80 : goto {SVC_CHAIN} }}"
        in lines
    )
    # chains exist before elements and rules point at them
    assert lines.index(f"add chain ip kube-proxy {EP_CHAIN}") < lines.index(
        f"add element ip kube-proxy service-ips {{ 172.30.0.41 . tcp . 80 : goto {SVC_CHAIN} }}"
    )


def test_partial_transaction_diffs_elements() -> None:
    before = rendered(svc(), eps())
    after = rendered(svc())  # lost its endpoints
    text = assemble(
        [after],
        CTX,
        full=False,
        write=[after],
        old_elements=before.elements,
        stale_chains=[SVC_CHAIN, EP_CHAIN],
    )
    lines = text.splitlines()
    assert lines == [
        "delete element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 }",
        'add element ip kube-proxy no-endpoint-services { 172.30.0.41 . tcp . 80 comment "ns1/svc1:p80" : goto reject-chain }',
        f"flush chain ip kube-proxy {EP_CHAIN}",
        f"flush chain ip kube-proxy {SVC_CHAIN}",
    ]


def test_service_cidr_drops_unallocated_cluster_ips() -> None:
    check = "add rule ip kube-proxy cluster-ips-check "
    reject = (
        check
        + 'ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"'
    )
    drop = check + 'ip daddr { 10.96.0.0/12 } drop comment "Drop traffic to unallocated ClusterIPs"'
    lines = assemble([rendered(svc(), eps())], CTX, full=True).splitlines()
    assert reject in lines
    assert not [ln for ln in lines if ln.startswith(check) and "drop" in ln]
    ctx = NftContext(cluster_cidr="10.0.0.0/8", service_cidr="10.96.0.0/12")
    lines = assemble([rendered(svc(), eps(), ctx)], ctx, full=True).splitlines()
    # allocated ClusterIPs with an unserved port are rejected first, the rest of the CIDR dropped
    assert lines.index(reject) < lines.index(drop)
    assert "add element ip kube-proxy cluster-ips { 172.30.0.41 }" in lines
