from __future__ import annotations

from pinnace.proxy.iptables import (
    JUMPS,
    WHOLE_CACHE_LINE,
    IptablesContext,
    assemble,
    endpoint_chain,
    port_proto_hash,
    render_service,
    sections,
)
from pinnace.proxy.model import ServicePortName
from pinnace.proxy.state import ProxyState
from tests.unit.proxy.fakes import ep, eps, svc

SPN = ServicePortName("ns1", "svc1", "p80")
CTX = IptablesContext(cluster_cidr="10.0.0.0/8")


def rendered(s: dict, es: dict | None = None, ctx: IptablesContext = CTX, node: str = "node1"):  # type: ignore[no-untyped-def]
    st = ProxyState(node)
    st.set_service(s)
    if es is not None:
        st.set_slice(es)
    [(info, endpoints)] = list(st.items())
    return render_service(info, endpoints, ctx)


def test_chain_names_hash_like_upstream() -> None:
    # values from upstream's proxier tests
    assert port_proto_hash("ns1/svc1:p80", "tcp") == "XPGD46QRK7WJZT7O"
    assert endpoint_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80") == "KUBE-SEP-SXIVWICOYRO3J4NJ"


def test_cluster_ip_service() -> None:
    r = rendered(svc(), eps())
    assert r.filter == []
    assert r.top == [
        '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp '
        "-d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O"
    ]
    assert r.chains == ["KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-SEP-SXIVWICOYRO3J4NJ"]
    assert r.rules == [
        '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp '
        "-d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ",
        '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" '
        "-j KUBE-SEP-SXIVWICOYRO3J4NJ",
        "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ",
        "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp "
        "-j DNAT --to-destination 10.180.0.1:80",
    ]


def test_masquerade_all_and_no_cluster_cidr() -> None:
    r = rendered(svc(), eps(), IptablesContext(masquerade_all=True))
    assert "--dport 80 -j KUBE-MARK-MASQ" in r.rules[0]
    r = rendered(svc(), eps(), IptablesContext())
    assert not any("KUBE-MARK-MASQ" in x and "KUBE-SVC" in x.split()[1] for x in r.rules)


def test_balancing_probabilities() -> None:
    es = eps(endpoints=[ep(f"10.180.0.{i}") for i in range(1, 5)])
    r = rendered(svc(), es)
    svc_rules = [x for x in r.rules if x.startswith("-A KUBE-SVC") and "KUBE-SEP" in x]
    probs = [x.split("--probability ")[1].split()[0] for x in svc_rules if "--probability" in x]
    assert probs == ["0.2500000000", "0.3333333333", "0.5000000000"]
    assert "statistic" not in svc_rules[-1]


def test_no_endpoints_rejects_in_filter_table() -> None:
    r = rendered(svc(node_port=3001, externalIPs=["192.168.99.11"]))
    assert r.top == [] and r.chains == [] and r.rules == []
    assert r.filter == [
        '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m tcp -p tcp '
        "-d 172.30.0.41 --dport 80 -j REJECT",
        '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" '
        "-m tcp -p tcp -d 192.168.99.11 --dport 80 -j REJECT",
        '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" '
        "-m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j REJECT",
    ]


def test_nodeport_external_ip_and_lb_go_through_ext_chain() -> None:
    s = svc(
        node_port=3001,
        type="LoadBalancer",
        externalIPs=["192.168.99.11"],
        status={"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}},
    )
    r = rendered(s, eps())
    ext = "KUBE-EXT-XPGD46QRK7WJZT7O"
    assert r.top[1:] == [
        f'-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 external IP" -m tcp -p tcp '
        f"-d 192.168.99.11 --dport 80 -j {ext}",
        f'-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp '
        f"-d 1.2.3.4 --dport 80 -j {ext}",
        f"-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 3001 -j {ext}",
    ]
    assert (
        f'-A {ext} -m comment --comment "masquerade traffic for ns1/svc1:p80 external destinations" -j KUBE-MARK-MASQ'
        in r.rules
    )
    assert f"-A {ext} -j KUBE-SVC-XPGD46QRK7WJZT7O" in r.rules


def test_external_policy_local_without_local_endpoints_drops_external_traffic() -> None:
    s = svc(node_port=3001, externalTrafficPolicy="Local")
    r = rendered(s, eps(endpoints=[ep("10.180.0.1", node="other")]))
    assert r.filter == [
        '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" '
        "-m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP"
    ]
    ext = "KUBE-EXT-XPGD46QRK7WJZT7O"
    # short-circuits for pods and the node itself go to the cluster-wide chain
    assert any(x.startswith(f"-A {ext}") and "-s 10.0.0.0/8 -j KUBE-SVC-" in x for x in r.rules)
    assert not any(x == f"-A {ext} -j KUBE-SVL-XPGD46QRK7WJZT7O" for x in r.rules)
    # with a local endpoint the EXT chain falls through to the local chain
    r = rendered(s, eps(endpoints=[ep("10.180.0.1", node="other"), ep("10.180.0.2")]))
    assert f"-A {ext} -j KUBE-SVL-XPGD46QRK7WJZT7O" in r.rules
    assert "KUBE-SVL-XPGD46QRK7WJZT7O" in r.chains


def test_internal_policy_local_without_local_endpoints_drops() -> None:
    r = rendered(svc(internalTrafficPolicy="Local"), eps(endpoints=[ep("10.180.0.1", node="x")]))
    assert r.filter == [
        '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" -m tcp -p tcp '
        "-d 172.30.0.41 --dport 80 -j DROP"
    ]


def test_client_ip_affinity_uses_recent() -> None:
    r = rendered(svc(sessionAffinity="ClientIP"), eps())
    sep = "KUBE-SEP-SXIVWICOYRO3J4NJ"
    assert (
        '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" '
        f"-m recent --name {sep} --rcheck --seconds 10800 --reap -j {sep}"
    ) in r.rules
    assert r.rules[-1] == (
        f"-A {sep} -m comment --comment ns1/svc1:p80 -m recent --name {sep} --set -m tcp -p tcp "
        "-j DNAT --to-destination 10.180.0.1:80"
    )


def test_load_balancer_source_ranges_use_firewall_chains() -> None:
    s = svc(
        type="LoadBalancer",
        node_port=3001,
        loadBalancerSourceRanges=["203.0.113.0/25"],
        status={"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}},
    )
    r = rendered(s, eps(), IptablesContext(node_ips=("203.0.113.5",)))
    fw = "KUBE-FW-XPGD46QRK7WJZT7O"
    assert f"-d 1.2.3.4 --dport 80 -j {fw}" in r.top[1]
    assert r.rules[r.rules.index(next(x for x in r.rules if x.startswith(f"-A {fw}"))) :][:3] == [
        f'-A {fw} -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-XPGD46QRK7WJZT7O',
        f'-A {fw} -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 1.2.3.4 -j KUBE-EXT-XPGD46QRK7WJZT7O',
        f'-A {fw} -m comment --comment "other traffic to ns1/svc1:p80 will be dropped by KUBE-PROXY-FIREWALL"',
    ]
    assert r.filter == [
        f'-A KUBE-PROXY-FIREWALL -m comment --comment "ns1/svc1:p80 traffic not accepted by {fw}" '
        "-m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP"
    ]


def test_large_cluster_mode_drops_endpoint_comments() -> None:
    r = rendered(svc(), eps(), IptablesContext(large_cluster=True))
    assert (
        r.rules[-1]
        == "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80"
    )
    assert "-A KUBE-SVC-XPGD46QRK7WJZT7O -j KUBE-SEP-SXIVWICOYRO3J4NJ" in r.rules


def test_assemble_declares_chains_before_rules_and_nodeports_last() -> None:
    r = rendered(svc(), eps())
    text = assemble([r], CTX, jumps=JUMPS, stale_chains=["KUBE-SEP-OLD"])
    f, n = text.split("COMMIT\n")[:2]
    assert f.startswith("*filter\n:KUBE-SERVICES - [0:0]")
    assert (
        '-I INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES'
        in f
    )
    assert "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP" in f
    assert "KUBE-FIREWALL" in f  # localhost NodePorts: the martian guard
    lines = n.strip().splitlines()
    last_decl = max(i for i, x in enumerate(lines) if x.startswith(":"))
    first_rule = min(i for i, x in enumerate(lines) if x.startswith("-"))
    assert last_decl < first_rule
    assert ":KUBE-SEP-OLD - [0:0]" in lines and "-X KUBE-SEP-OLD" in lines
    assert "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN" in lines
    assert lines[-1] == (
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be '
        'the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS'
    )
    assert (
        '-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES' in lines
    )


def test_partial_text_can_leave_out_unchanged_tables() -> None:
    r = rendered(svc(), eps())
    parts = sections([r], CTX, write=[r])
    text = parts.text(with_filter=False, with_head=False)
    assert text.startswith("*nat\n:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]")
    assert "*filter" not in text and ":KUBE-SERVICES" not in text and "KUBE-NODEPORTS" not in text
    assert parts.text(with_filter=False, with_head=False) != parts.text()
    assert sections([r], CTX, write=[]).text(with_filter=False, with_head=False) == ""


def test_nodeport_addresses_narrow_the_nodeports_jump() -> None:
    text = assemble([], IptablesContext(nodeport_ips=("192.168.1.5",), localhost_nodeports=False))
    assert "-d 192.168.1.5 -j KUBE-NODEPORTS" in text
    assert "KUBE-FIREWALL" not in text


def test_whole_cache_line_comes_after_the_fixed_chains_and_jumps() -> None:
    r = rendered(svc(), eps())
    parts = sections([r], CTX, jumps=JUMPS)
    lines = parts.text(whole_cache=True).split("COMMIT\n")[1].splitlines()
    at = lines.index(WHOLE_CACHE_LINE)
    assert lines.count(WHOLE_CACHE_LINE) == 1
    # before it: the fixed chains and the jumps into built-in chains, nothing else
    assert all(
        x.startswith(
            (
                ":KUBE-SERVICES",
                ":KUBE-NODEPORTS",
                ":KUBE-POSTROUTING",
                ":KUBE-MARK-MASQ",
                "-I ",
                "*nat",
            )
        )
        for x in lines[:at]
    )
    assert any(x.startswith("-I PREROUTING") for x in lines[:at])
    # after it: every per-service chain's declaration, before any -A
    first_rule = min(i for i, x in enumerate(lines) if x.startswith("-A"))
    assert at < lines.index(f":{r.chains[0]} - [0:0]") < first_rule
    # the filter table and a partial sync's nat section
    assert WHOLE_CACHE_LINE not in parts.text(whole_cache=True).split("COMMIT\n")[0].splitlines()
    partial = parts.text(with_filter=False, with_head=False, whole_cache=True).splitlines()
    assert partial[:2] == ["*nat", WHOLE_CACHE_LINE]
    assert WHOLE_CACHE_LINE not in parts.text().splitlines()
