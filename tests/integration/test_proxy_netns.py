"""kube-proxy's rules with real packets, inside network namespaces the test makes.

Topology (all namespaces created here and deleted in teardown)::

    client (192.168.77.2) --veth-- node (192.168.77.1 | br0 10.244.1.1/24) --+-- srv1 10.244.1.2
                                                                              +-- srv2 10.244.1.3

The proxier programs the *node* namespace (``command_prefix=["ip", "netns",
"exec", NODE]``): each namespace has its own netfilter tables, so the host's
are never touched. Servers in ``srv1``/``srv2`` answer every TCP connection
with their name; a client script in ``client`` connects N times and reports
the bodies (or "refused"). The node has no default route: nothing can leave
the machine; the service CIDR is routed onto the bridge so that packets for a
Service without endpoints reach the FORWARD hook (where the REJECT lives), as
they would through a real default route.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pinnace.proxy.cleanup import cleanup
from pinnace.proxy.config import ProxyConfig
from pinnace.proxy.proxy import make_proxier

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="needs root and iproute2 (network namespaces)",
)

SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[2])))
s.listen(128)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    try:
        c.sendall(sys.argv[1].encode())
    finally:
        c.close()
"""

CLIENT = """
import json, socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = []
for _ in range(n):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, port))
        out.append(s.recv(100).decode())
    except ConnectionRefusedError:
        out.append("refused")
    except OSError as e:
        out.append(type(e).__name__)
    finally:
        s.close()
print(json.dumps(out))
"""


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


@dataclass
class Topology:
    node: str
    client: str
    servers: dict[str, str]  # name -> IP
    procs: list[subprocess.Popen[str]]

    @property
    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.node]

    def connect(self, host: str, port: int, n: int, *, ns: str | None = None) -> list[str]:
        out = sh(
            "ip",
            "netns",
            "exec",
            ns or self.client,
            sys.executable,
            "-c",
            CLIENT,
            host,
            str(port),
            str(n),
        )
        result: list[str] = json.loads(out)
        return result


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    tag = f"pxt{os.getpid() % 100000}"
    node, client = f"{tag}-node", f"{tag}-cli"
    servers = {"srv1": "10.244.1.2", "srv2": "10.244.1.3"}
    names = [node, client] + [f"{tag}-{s}" for s in servers]
    procs: list[subprocess.Popen[str]] = []
    try:
        for n in names:
            sh("ip", "netns", "add", n)
        for n in names:
            sh("ip", "-n", n, "link", "set", "lo", "up")
        sh("ip", "netns", "exec", node, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        sh(
            "ip",
            "-n",
            node,
            "link",
            "add",
            "vcli",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            client,
        )
        sh("ip", "-n", node, "addr", "add", "192.168.77.1/24", "dev", "vcli")
        sh("ip", "-n", node, "link", "set", "vcli", "up")
        sh("ip", "-n", client, "addr", "add", "192.168.77.2/24", "dev", "eth0")
        sh("ip", "-n", client, "link", "set", "eth0", "up")
        sh("ip", "-n", client, "route", "add", "default", "via", "192.168.77.1")
        sh("ip", "-n", node, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", node, "addr", "add", "10.244.1.1/24", "dev", "br0")
        sh("ip", "-n", node, "link", "set", "br0", "up")
        sh("ip", "-n", node, "route", "add", "10.96.0.0/12", "dev", "br0")
        for i, (name, ip) in enumerate(servers.items()):
            ns = f"{tag}-{name}"
            veth = f"vs{i}"
            sh(
                "ip",
                "-n",
                node,
                "link",
                "add",
                veth,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns,
            )
            sh("ip", "-n", node, "link", "set", veth, "master", "br0")
            sh("ip", "-n", node, "link", "set", veth, "up")
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "route", "add", "default", "via", "10.244.1.1")
            p = subprocess.Popen(
                ["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, name, "8080"],
                stdout=subprocess.PIPE,
                text=True,
            )
            procs.append(p)
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        yield Topology(node, client, servers, procs)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        for n in names:
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


def service(
    name: str, ip: str, *, node_port: int = 0, affinity: bool = False, **spec: Any
) -> dict[str, Any]:
    port: dict[str, Any] = {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}
    s: dict[str, Any] = {"type": "ClusterIP", "clusterIP": ip, "ports": [port], **spec}
    if node_port:
        s["type"] = "NodePort"
        port["nodePort"] = node_port
    if affinity:
        s["sessionAffinity"] = "ClientIP"
    return {"metadata": {"namespace": "default", "name": name}, "spec": s}


def endpoint_slice(svc: str, ips: list[str]) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "default",
            "name": f"{svc}-x",
            "labels": {"kubernetes.io/service-name": svc},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [ip], "nodeName": "node", "conditions": {"ready": True}} for ip in ips
        ],
    }


@pytest.fixture(params=["iptables", "nftables"])
def proxier(request: pytest.FixtureRequest, topo: Topology) -> Iterator[Any]:
    config = ProxyConfig(
        mode=request.param,
        node_name="node",
        node_ips=["192.168.77.1"],
        cluster_cidr="10.244.0.0/16",
        command_prefix=topo.prefix,
    )
    p = make_proxier(config)
    p.prepare()
    try:
        yield p
    finally:
        cleanup(command_prefix=topo.prefix)


def sync(p: Any, now: float) -> str:
    result: str = asyncio.run(p.sync(now))
    return result


SRVS = {"srv1", "srv2"}


def test_clusterip_nodeport_and_external_ip_spread_over_endpoints(
    proxier: Any, topo: Topology
) -> None:
    st = proxier.state
    st.set_service(service("web", "10.96.0.20", node_port=30080, externalIPs=["172.31.99.9"]))
    st.set_slice(endpoint_slice("web", list(topo.servers.values())))
    assert sync(proxier, 0.0) == "full"
    bodies = topo.connect("10.96.0.20", 80, 40)
    assert set(bodies) == SRVS  # both endpoints, and nothing else
    assert set(topo.connect("192.168.77.1", 30080, 20)) <= SRVS
    assert set(topo.connect("172.31.99.9", 80, 20)) <= SRVS
    # from the node itself (OUTPUT path), NodePorts included
    assert set(topo.connect("10.96.0.20", 80, 10, ns=topo.node)) <= SRVS
    assert set(topo.connect("192.168.77.1", 30080, 10, ns=topo.node)) <= SRVS
    if proxier.mode == "iptables":  # route_localnet=1: NodePorts on localhost too
        assert set(topo.connect("127.0.0.1", 30080, 10, ns=topo.node)) <= SRVS


def test_endpoint_change_is_a_partial_sync_that_moves_traffic(proxier: Any, topo: Topology) -> None:
    st = proxier.state
    st.set_service(service("web", "10.96.0.21"))
    st.set_slice(endpoint_slice("web", list(topo.servers.values())))
    assert sync(proxier, 0.0) == "full"
    assert set(topo.connect("10.96.0.21", 80, 30)) == SRVS
    st.set_slice(endpoint_slice("web", [topo.servers["srv1"]]))
    assert sync(proxier, 1.0) == "partial"
    assert set(topo.connect("10.96.0.21", 80, 20)) == {"srv1"}
    sync(proxier, 2.0)  # nftables: deletes the endpoint chain flushed a second ago
    assert sync(proxier, 3.0) == "skipped"
    assert set(topo.connect("10.96.0.21", 80, 10)) == {"srv1"}


def test_client_ip_affinity_sticks(proxier: Any, topo: Topology) -> None:
    st = proxier.state
    st.set_service(service("sticky", "10.96.0.22", affinity=True))
    st.set_slice(endpoint_slice("sticky", list(topo.servers.values())))
    sync(proxier, 0.0)
    bodies = topo.connect("10.96.0.22", 80, 20)
    assert len(set(bodies)) == 1 and bodies[0] in SRVS


def test_service_without_endpoints_is_rejected(proxier: Any, topo: Topology) -> None:
    st = proxier.state
    st.set_service(service("empty", "10.96.0.23", node_port=30081))
    sync(proxier, 0.0)
    assert topo.connect("10.96.0.23", 80, 2) == ["refused", "refused"]
    assert topo.connect("192.168.77.1", 30081, 1) == ["refused"]
    # once it has an endpoint it answers
    st.set_slice(endpoint_slice("empty", [topo.servers["srv2"]]))
    sync(proxier, 1.0)
    assert topo.connect("10.96.0.23", 80, 3) == ["srv2"] * 3


def _snapshot(prefix: list[str]) -> tuple[str, str]:
    ipt = subprocess.run([*prefix, "iptables-save"], capture_output=True, text=True, check=True)
    nft = subprocess.run(
        [*prefix, "nft", "list", "ruleset"], capture_output=True, text=True, check=True
    )
    lines = [ln for ln in ipt.stdout.splitlines() if not ln.startswith("#")]
    return "\n".join(lines), nft.stdout


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_cleanup_restores_the_rules_as_they_were(mode: str) -> None:
    ns = f"pxc{os.getpid() % 100000}-{mode[:3]}"
    prefix = ["ip", "netns", "exec", ns]
    sh("ip", "netns", "add", ns)
    try:
        # foreign rules and chains that must survive. They touch every built-in chain
        # kube-proxy jumps from: iptables-nft creates built-in chains lazily and cleanup
        # leaves such a chain (empty, policy ACCEPT: no effect) in place once it exists.
        for chain in ("INPUT", "FORWARD", "OUTPUT"):
            sh(*prefix, "iptables", "-A", chain, "-p", "tcp", "--dport", "9999", "-j", "ACCEPT")
        for chain in ("PREROUTING", "OUTPUT"):
            sh(*prefix, "iptables", "-t", "nat", "-A", chain, "-d", "10.98.0.1", "-j", "RETURN")
        sh(*prefix, "iptables", "-t", "nat", "-N", "FOREIGN")
        sh(
            *prefix,
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-s",
            "10.99.0.0/16",
            "-j",
            "FOREIGN",
        )
        sh(
            *prefix,
            "nft",
            "add table ip foreign; add chain ip foreign c { type filter hook input priority 0 ; }; add rule ip foreign c tcp dport 7777 accept",
        )
        before = _snapshot(prefix)
        config = ProxyConfig(
            mode=mode, node_name="node", cluster_cidr="10.244.0.0/16", command_prefix=prefix
        )
        p = make_proxier(config)
        p.prepare()
        p.state.set_service(service("web", "10.96.0.30", node_port=30090, affinity=True))
        p.state.set_service(service("empty", "10.96.0.31"))
        p.state.set_slice(endpoint_slice("web", ["10.244.1.2", "10.244.1.3"]))
        sync(p, 0.0)
        sync(p, 100.0)  # a second full sync must not duplicate jump rules
        during = _snapshot(prefix)
        assert during != before
        if mode == "iptables":
            assert during[0].count("-j KUBE-SERVICES") == 4  # filter FORWARD/OUTPUT, nat x2
        cleanup(command_prefix=prefix)
        assert _snapshot(prefix) == before
        cleanup(command_prefix=prefix)  # nothing left to do: no error
        assert _snapshot(prefix) == before
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_a_periodic_sync_restores_rules_someone_wiped(proxier: Any, topo: Topology) -> None:
    st = proxier.state
    st.set_service(service("web", "10.96.0.24"))
    st.set_slice(endpoint_slice("web", [topo.servers["srv1"]]))
    sync(proxier, 0.0)
    assert topo.connect("10.96.0.24", 80, 1) == ["srv1"]
    if proxier.mode == "iptables":  # a firewall reload: tables replaced wholesale
        wipe = ["iptables-restore"]
        subprocess.run(
            [*topo.prefix, *wipe], input="*filter\nCOMMIT\n*nat\nCOMMIT\n", text=True, check=True
        )
    else:
        sh(*topo.prefix, "nft", "delete", "table", "ip", "kube-proxy")
    assert sync(proxier, 30.0) == "full"  # a periodic sync notices
    assert topo.connect("10.96.0.24", 80, 3) == ["srv1"] * 3


def _rules(prefix: list[str]) -> list[str]:
    """iptables-save of the namespace without comments and counters."""
    out = sh(*prefix, "iptables-save")
    return [ln.split(" [")[0] for ln in out.splitlines() if not ln.startswith("#")]


def test_a_large_iptables_nft_restore_fetches_the_whole_table(topo: Topology) -> None:
    """With thousands of chains the nft backend's restore gets the ``-S`` line that
    spares iptables-nft its per-chain list walks; the rules written are the
    same as without it, traffic flows, and others' rules are untouched."""
    from pinnace.proxy.iptables import WHOLE_CACHE_CHAINS, WHOLE_CACHE_LINE

    config = ProxyConfig(
        mode="iptables",
        iptables_backend="nft",
        node_name="node",
        node_ips=["192.168.77.1"],
        cluster_cidr="10.244.0.0/16",
        command_prefix=topo.prefix,
    )
    sh(*topo.prefix, "iptables", "-t", "nat", "-N", "FOREIGN")
    sh(
        *topo.prefix,
        "iptables",
        "-t",
        "nat",
        "-A",
        "PREROUTING",
        "-d",
        "10.98.0.1",
        "-j",
        "FOREIGN",
    )
    p = make_proxier(config)
    p.prepare()
    try:
        st = p.state
        n = WHOLE_CACHE_CHAINS // 11 + 10  # a SVC chain and 10 SEP chains per Service
        for i in range(n):
            st.set_service(service(f"s{i}", f"10.96.{10 + i // 200}.{i % 200 + 1}"))
            ips = (
                list(topo.servers.values()) if i == 0 else [f"10.244.2.{j + 1}" for j in range(10)]
            )
            st.set_slice(endpoint_slice(f"s{i}", ips))
        assert sync(p, 0.0) == "full"
        text = p.last_text
        assert f"\n{WHOLE_CACHE_LINE}\n" in text
        assert set(topo.connect("10.96.10.1", 80, 30)) == SRVS
        with_cache = _rules(topo.prefix)
        assert "-A PREROUTING -d 10.98.0.1/32 -j FOREIGN" in with_cache

        # the same text without the line, after cleaning up, writes the same rules
        cleanup(command_prefix=topo.prefix)
        plain = text.replace(f"\n{WHOLE_CACHE_LINE}\n", "\n")
        subprocess.run(
            [*topo.prefix, "iptables-nft-restore", "--noflush"], input=plain, text=True, check=True
        )
        assert _rules(topo.prefix) == with_cache

        # a resync finds every Service's chains as iptables-save prints what it
        # would write: it writes none of them (and needs no -S); an endpoint change
        # (a few chains) does not use it either
        p.request_full_sync()
        assert sync(p, 10.0) == "full"
        assert ":KUBE-SEP-" not in p.last_text
        assert WHOLE_CACHE_LINE not in p.last_text.splitlines()
        assert _rules(topo.prefix) == with_cache
        st.set_slice(endpoint_slice("s0", [topo.servers["srv1"]]))
        assert sync(p, 11.0) == "partial"
        assert WHOLE_CACHE_LINE not in p.last_text.splitlines()
        assert set(topo.connect("10.96.10.1", 80, 10)) == {"srv1"}
    finally:
        cleanup(command_prefix=topo.prefix)
        subprocess.run(
            [
                *topo.prefix,
                "iptables",
                "-t",
                "nat",
                "-D",
                "PREROUTING",
                "-d",
                "10.98.0.1",
                "-j",
                "FOREIGN",
            ],
            capture_output=True,
        )
        subprocess.run(
            [*topo.prefix, "iptables", "-t", "nat", "-X", "FOREIGN"], capture_output=True
        )


def test_a_full_resync_rewrites_only_chains_not_as_written(topo: Topology, tmp_path: Path) -> None:
    """After a quiet sync has seen the rules as written, a full sync leaves
    those chains alone (also in a restarted proxy) and rewrites one that
    someone else changed."""
    config = ProxyConfig(
        mode="iptables",
        node_name="node",
        node_ips=["192.168.77.1"],
        cluster_cidr="10.244.0.0/16",
        command_prefix=topo.prefix,
        state_dir=str(tmp_path / "proxy"),
    )
    p = make_proxier(config)
    p.prepare()
    try:
        st = p.state
        st.set_service(service("web", "10.96.0.40"))
        st.set_slice(endpoint_slice("web", list(topo.servers.values())))
        st.set_service(service("one", "10.96.0.41"))
        st.set_slice(endpoint_slice("one", [topo.servers["srv1"]]))
        assert sync(p, 0.0) == "full"
        assert sync(p, 1.0) == "skipped"  # quiet, but too soon after the write to look
        p.request_full_sync()
        # no record yet, but the chains print as our rules would: none rewritten
        assert sync(p, 2.0) == "full"
        assert ":KUBE-SEP-" not in p.last_text
        assert sync(p, 40.0) == "skipped"  # quiet for long: the chains are recorded
        assert str(next(iter(p._rendered))) in p._seen
        p.request_full_sync()
        assert sync(p, 41.0) == "full"
        declared = [ln for ln in p.last_text.splitlines() if ln.startswith(":KUBE-S")]
        assert set(declared) == {":KUBE-SERVICES - [0:0]"}  # no per-service chain rewritten
        assert set(topo.connect("10.96.0.40", 80, 20)) == SRVS

        # a restarted proxy (same state dir) knows what it saw: nothing to rewrite
        again = make_proxier(config)
        again.prepare()
        again.state.set_service(service("web", "10.96.0.40"))
        again.state.set_slice(endpoint_slice("web", list(topo.servers.values())))
        again.state.set_service(service("one", "10.96.0.41"))
        again.state.set_slice(endpoint_slice("one", [topo.servers["srv1"]]))
        assert sync(again, 50.0) == "full"
        declared = [ln for ln in again.last_text.splitlines() if ln.startswith(":KUBE-S")]
        assert set(declared) == {":KUBE-SERVICES - [0:0]"}
        assert set(topo.connect("10.96.0.40", 80, 20)) == SRVS

        # someone empties the "web" service chain: it stops answering, and the next
        # full sync rewrites that service's chains (and only those)
        svc_chain = next(
            ln.split()[-1]
            for ln in sh(*topo.prefix, "iptables-save", "-t", "nat").splitlines()
            if ln.startswith("-A KUBE-SERVICES") and "default/web:http" in ln
        )
        sh(*topo.prefix, "iptables", "-t", "nat", "-F", svc_chain)
        assert set(topo.connect("10.96.0.40", 80, 3)) != SRVS
        p.request_full_sync()
        assert sync(p, 60.0) == "full"
        assert f":{svc_chain} - [0:0]" in p.last_text
        assert "default/one:http" not in "\n".join(
            ln for ln in p.last_text.splitlines() if not ln.startswith("-A KUBE-SERVICES")
        )
        assert set(topo.connect("10.96.0.40", 80, 30)) == SRVS

        # a change written since the last quiet sync has no record, but prints as
        # written: a full sync leaves it too
        st.set_slice(endpoint_slice("one", [topo.servers["srv2"]]))
        assert sync(p, 61.0) == "partial"
        p.request_full_sync()
        assert sync(p, 62.0) == "full"
        assert "default/one:http" not in "\n".join(
            ln for ln in p.last_text.splitlines() if not ln.startswith("-A KUBE-SERVICES")
        )
        assert topo.connect("10.96.0.41", 80, 3) == ["srv2"] * 3
    finally:
        cleanup(command_prefix=topo.prefix)
