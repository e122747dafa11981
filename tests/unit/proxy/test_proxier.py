"""The proxiers' sync decisions (full / partial / skipped) with a recording runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.proxy.config import ProxyConfig, ProxyError
from pinnace.proxy.iptables_proxier import IptablesProxier
from pinnace.proxy.model import Endpoint, ServicePortName
from pinnace.proxy.nftables import endpoint_chain_base
from pinnace.proxy.nftables_proxier import NftablesProxier
from pinnace.proxy.proxy import check_mode, make_proxier
from pinnace.proxy.state import ProxyState
from tests.unit.proxy.fakes import FakeRunner, ep, eps, svc

SPN = ServicePortName("ns1", "svc1", "p80")
SAVED_JUMPS = """*filter
:INPUT ACCEPT [0:0]
:KUBE-PROXY-CANARY - [0:0]
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
COMMIT
"""
SAVED_NAT = """*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-LEFTOVER0000000 - [0:0]
:FOREIGN - [0:0]
COMMIT
"""


def ipt(fail: bool = False) -> tuple[IptablesProxier, FakeRunner]:
    runner = FakeRunner({"filter": SAVED_JUMPS, "nat": SAVED_NAT}, fail=fail)
    cfg = ProxyConfig(node_name="node1", cluster_cidr="10.0.0.0/8", iptables_backend="nft")
    p = IptablesProxier(cfg, ProxyState("node1"), runner)
    p.prepare()
    return p, runner


async def test_iptables_full_then_skip_then_partial() -> None:
    p, runner = ipt()
    p.state.set_service(svc())
    p.state.set_service(svc("svc2", "172.30.0.42"))
    p.state.set_slice(eps())
    p.state.set_slice(eps("svc2"))
    assert await p.sync(0.0) == "full"
    full = runner.applied()[-1]
    # jump rules: only the missing ones are inserted; the leftover chain is deleted
    assert (
        full.count(
            '-I INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible'
        )
        == 0
    )
    assert (
        '-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES' in full
    )
    assert "-X KUBE-SVC-LEFTOVER0000000" in full and "FOREIGN" not in full
    assert await p.sync(1.0) == "skipped"
    # an endpoint-only change: only that Service's chains are written
    p.state.set_slice(eps(endpoints=[ep("10.180.0.1"), ep("10.180.0.2")]))
    assert await p.sync(2.0) == "partial"
    partial = runner.applied()[-1]
    assert "*filter" not in partial and ":KUBE-SERVICES" not in partial
    assert ":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]" in partial
    assert "svc2" not in partial
    # a new Service changes KUBE-SERVICES: the fixed chains are rewritten too
    p.state.set_service(svc("svc3", "172.30.0.43"))
    assert await p.sync(3.0) == "partial"
    partial = runner.applied()[-1]
    assert ":KUBE-SERVICES - [0:0]" in partial and "*filter" in partial  # svc3: REJECT
    assert ":KUBE-SVC-XPGD46QRK7WJZT7O" not in partial
    # an endpoint leaving deletes its chain
    p.state.set_slice(eps(endpoints=[ep("10.180.0.2")]))
    await p.sync(4.0)
    assert "-X KUBE-SEP-SXIVWICOYRO3J4NJ" in runner.applied()[-1]


async def test_iptables_full_resync_after_the_full_sync_period_or_node_labels() -> None:
    p, _ = ipt()
    p.state.set_service(svc())
    assert await p.sync(0.0) == "full"
    assert await p.sync(p.config.sync_period) == "skipped"
    assert await p.sync(p.config.full_sync_period + 1) == "full"
    p.state.set_node_labels({"topology.kubernetes.io/zone": "a"})
    assert await p.sync(p.config.full_sync_period + 2) == "full"


async def test_iptables_failure_keeps_the_changes_for_the_next_sync() -> None:
    p, runner = ipt()
    p.state.set_service(svc())
    await p.sync(0.0)
    runner.fail = True
    p.state.set_slice(eps())
    with pytest.raises(ProxyError):
        await p.sync(1.0)
    assert p.state.has_dirty and p.need_full
    runner.fail = False
    assert await p.sync(2.0) == "full"
    assert "KUBE-SEP-SXIVWICOYRO3J4NJ" in runner.applied()[-1]


async def test_iptables_sysctls() -> None:
    p, runner = ipt()
    assert runner.sysctls["net.ipv4.conf.all.route_localnet"] == "1"
    runner.sysctls["net.bridge.bridge-nf-call-iptables"] = "0"
    p.prepare()
    assert runner.sysctls["net.bridge.bridge-nf-call-iptables"] == "1"


async def test_nftables_partial_and_delayed_chain_deletion() -> None:
    runner = FakeRunner()
    p = NftablesProxier(
        ProxyConfig(mode="nftables", node_name="node1"), ProxyState("node1"), runner
    )
    p.prepare()
    p.state.set_service(svc())
    p.state.set_slice(eps(endpoints=[ep("10.180.0.1"), ep("10.180.0.2")]))
    assert await p.sync(0.0) == "full"
    assert runner.calls[0][0][:2] == ("nft", "-t")  # looked for leftovers once
    assert await p.sync(0.5) == "skipped"
    p.state.set_slice(eps(endpoints=[ep("10.180.0.1")]))
    assert await p.sync(1.0) == "partial"
    text = runner.applied()[-1]
    gone = "endpoint-" + endpoint_chain_base(SPN, Endpoint("10.180.0.2", 80))
    assert f"flush chain ip kube-proxy {gone}" in text and "delete chain" not in text
    assert "add table" not in text
    assert p.next_wakeup(1.0) == 1.0
    assert await p.sync(1.5) == "skipped"  # not yet
    assert await p.sync(2.0) == "partial"
    assert runner.applied()[-1] == f"delete chain ip kube-proxy {gone}\n"
    assert p.next_wakeup(2.0) is None
    assert [c for c, _ in runner.calls if c[:2] == ("nft", "-t")] == [
        ("nft", "-t", "list", "table", "ip", "kube-proxy")
    ]


def test_ipvs_is_refused_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pinnace.proxy.proxy.os.path.exists", lambda p: False)
    monkeypatch.setattr("pinnace.proxy.proxy.shutil.which", lambda t: None)
    with pytest.raises(ProxyError, match="no IPVS"):
        make_proxier(ProxyConfig(mode="ipvs"))
    check_mode(ProxyConfig(mode="iptables"))  # fine


def test_config_validation() -> None:
    with pytest.raises(ProxyError):
        ProxyConfig(mode="userspace")
    with pytest.raises(ProxyError):
        ProxyConfig(cluster_cidr="nope")
    assert ProxyConfig().masquerade_mark == "0x4000"
    assert ProxyConfig(cluster_cidr="10.244.1.7/16").cluster_cidr == "10.244.0.0/16"


async def test_udp_endpoint_changes_clear_stale_conntrack_flows() -> None:
    p, runner = ipt()
    p.state.set_service(svc("dns", "172.30.0.10", protocol="UDP", port=53, port_name="dns"))
    p.state.set_slice(eps("dns", [ep("10.180.0.1")], port=53, port_name="dns", protocol="UDP"))
    await p.sync(0.0)
    conntrack = [c for c, _ in runner.calls if c[0] == "conntrack"]
    # flows sent while there was no endpoint must not stick to their un-NATed path
    assert conntrack == [("conntrack", "-D", "-p", "udp", "--orig-dst", "172.30.0.10")]
    runner.calls.clear()
    p.state.set_slice(eps("dns", [ep("10.180.0.2")], port=53, port_name="dns", protocol="UDP"))
    await p.sync(1.0)
    assert [c for c, _ in runner.calls if c[0] == "conntrack"] == [
        ("conntrack", "-D", "-p", "udp", "--orig-dst", "172.30.0.10", "--dst-nat", "10.180.0.1")
    ]
    # TCP services need nothing
    runner.calls.clear()
    p.state.set_service(svc())
    p.state.set_slice(eps())
    await p.sync(2.0)
    assert not [c for c, _ in runner.calls if c[0] == "conntrack"]


async def test_a_vanished_canary_forces_a_full_sync() -> None:
    p, runner = ipt()
    p.state.set_service(svc())
    assert await p.sync(0.0) == "full"
    assert await p.sync(30.0) == "skipped"
    runner.saves["filter"] = "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"  # tables replaced
    assert await p.sync(60.0) == "full"
    assert ":KUBE-PROXY-CANARY - [0:0]" in runner.applied()[-1]


async def test_iptables_keeps_what_it_saw_for_a_restarted_proxy(tmp_path: Path) -> None:
    state = tmp_path / "proxy"
    runner = FakeRunner({"filter": SAVED_JUMPS, "nat": SAVED_NAT})
    cfg = ProxyConfig(
        node_name="node1", cluster_cidr="10.0.0.0/8", iptables_backend="nft", state_dir=str(state)
    )
    p = IptablesProxier(cfg, ProxyState("node1"), runner)
    p.prepare()
    p.state.set_service(svc())
    p.state.set_slice(eps())
    assert await p.sync(0.0) == "full"
    # the save now shows the chains as written (the fake runner does not apply text)
    written = runner.applied()[-1].split("*nat\n", 1)[1]
    runner.saves["nat"] = "*nat\n" + written
    assert await p.sync(40.0) == "skipped"  # quiet: learns, and keeps it on disk
    assert (state / "iptables-seen.json").exists()

    again = IptablesProxier(cfg, ProxyState("node1"), runner)
    again.prepare()
    again.state.set_service(svc())
    again.state.set_slice(eps())
    assert await again.sync(0.0) == "full"
    own = [f":{c} - [0:0]" for r in p._rendered.values() for c in r.chains]
    assert own and not any(d in runner.applied()[-1] for d in own)  # nothing of it rewritten

    # another backend's record is not used; nor is an unreadable one
    other = IptablesProxier(
        ProxyConfig(node_name="node1", cluster_cidr="10.0.0.0/8", iptables_backend="legacy",
                    state_dir=str(state)),
        ProxyState("node1"), runner,
    )  # fmt: skip
    other.prepare()
    other.state.set_service(svc())
    other.state.set_slice(eps())
    assert await other.sync(0.0) == "full"
    assert all(d in runner.applied()[-1] for d in own)
    (state / "iptables-seen.json").write_text("{not json")
    broken = IptablesProxier(cfg, ProxyState("node1"), runner)
    broken.prepare()
    broken.state.set_service(svc())
    broken.state.set_slice(eps())
    assert await broken.sync(0.0) == "full"
    assert all(d in runner.applied()[-1] for d in own)


async def test_an_iptables_that_refuses_the_whole_cache_line_gets_text_without_it() -> None:
    from pinnace.proxy.iptables import WHOLE_CACHE_CHAINS, WHOLE_CACHE_LINE

    p, runner = ipt(fail=True)
    n = WHOLE_CACHE_CHAINS // 11 + 10  # a SVC chain and 10 SEP chains per Service
    for i in range(n):
        p.state.set_service(svc(f"s{i}", f"172.30.{i // 200}.{i % 200 + 1}"))
        ips = [ep(f"10.180.{(i * 10 + j) // 250}.{(i * 10 + j) % 250 + 1}") for j in range(10)]
        p.state.set_slice(eps(f"s{i}", ips))
    with pytest.raises(ProxyError):
        await p.sync(0.0)
    assert WHOLE_CACHE_LINE in p.last_text.splitlines()
    runner.fail = False
    assert await p.sync(1.0) == "full"
    assert WHOLE_CACHE_LINE not in p.last_text.splitlines()
