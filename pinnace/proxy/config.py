"""kube-proxy's settings (:class:`ProxyConfig`) and its one error type.

Defaults follow upstream's ``KubeProxyConfiguration``: ``iptables`` mode, a
periodic sync every 30 s (``--iptables-sync-period``/``--nftables-sync-period``)
and a full rewrite every hour (upstream's ``FullSyncPeriod``),
at most one sync per second after a burst of two (``--*-min-sync-period``
1 s, ``burstSyncs`` 2), masquerade bit 14 (mark ``0x4000``), NodePorts on
every local address including localhost (``--nodeport-addresses`` empty,
``--iptables-localhost-nodeports`` true). Chain and table names are
upstream's fixed ones (``KUBE-SERVICES``..., nft table ``ip kube-proxy``), so
nothing here renames them.

Plain data: no I/O.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

__all__ = ["MODES", "ProxyConfig", "ProxyError"]

MODES = ("iptables", "nftables", "ipvs")


class ProxyError(Exception):
    """A start-up or programming problem, with a message saying what to do."""


@dataclass
class ProxyConfig:
    #: "iptables" (default) | "nftables" | "ipvs" (refused: this kernel has no IPVS)
    mode: str = "iptables"
    #: this node's name: endpoints with this ``nodeName`` are local
    node_name: str = ""
    #: the node's addresses (LoadBalancer source-range checks, logs)
    node_ips: list[str] = field(default_factory=list)
    #: the cluster's pod CIDR (upstream ``--cluster-cidr``): service traffic from
    #: outside it is masqueraded; empty = no local-traffic detection
    cluster_cidr: str = ""
    #: masquerade every packet sent to a ClusterIP (upstream ``--masquerade-all``)
    masquerade_all: bool = False
    #: periodic sync, seconds (upstream ``--iptables-sync-period``/``--nftables-sync-period``);
    #: a periodic sync with nothing changed writes nothing
    sync_period: float = 30.0
    #: how often a sync rewrites everything (upstream ``FullSyncPeriod``: one hour)
    full_sync_period: float = 3600.0
    #: minimum interval between syncs (after a burst of two), seconds
    min_sync_period: float = 1.0
    #: upstream ``--masquerade-bit``: the mark is ``1 << bit``
    masquerade_bit: int = 14
    #: CIDRs whose local addresses accept NodePorts; empty = every local address
    nodeport_addresses: list[str] = field(default_factory=list)
    #: NodePorts answer on 127.0.0.1 too (iptables mode; sets route_localnet=1)
    localhost_nodeports: bool = True
    #: iptables backend: "auto" (like upstream's iptables-wrapper: the one holding more
    #: rules, the system's ``iptables`` on a tie), "nft" or "legacy"
    iptables_backend: str = "auto"
    #: run every netfilter command under this prefix (tests: ``ip netns exec NS``)
    command_prefix: list[str] = field(default_factory=list)
    #: write sysctls (route_localnet, bridge-nf-call-iptables)
    set_sysctls: bool = True
    #: serve each LoadBalancer Service's ``healthCheckNodePort`` (binds in the current
    #: netns: tests running the proxier against another netns turn it off)
    healthz_servers: bool = True
    #: the service CIDR(s), comma-separated (upstream's ServiceCIDRs): in nftables mode,
    #: traffic to an address inside that is not an allocated ClusterIP is dropped
    service_cidr: str = ""
    #: iptables mode keeps here (``iptables-seen.json``) what it saw of the chains it
    #: wrote, so that after a restart a full sync rewrites only chains not as
    #: written; empty: kept in memory only
    state_dir: str = ""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ProxyError(f"unknown proxy mode {self.mode!r}: use one of {', '.join(MODES)}")
        if self.cluster_cidr:
            try:
                net = ipaddress.ip_network(self.cluster_cidr, strict=False)
            except ValueError:
                raise ProxyError(f"--cluster-cidr {self.cluster_cidr!r} is not a CIDR") from None
            self.cluster_cidr = str(net) if net.version == 4 else ""
        if self.service_cidr:
            nets = []
            for c in self.service_cidr.split(","):
                try:
                    net = ipaddress.ip_network(c.strip(), strict=False)
                except ValueError:
                    raise ProxyError(f"service CIDR {c.strip()!r} is not a CIDR") from None
                if net.version == 4:
                    nets.append(str(net))
            self.service_cidr = ",".join(nets)
        if self.iptables_backend not in ("auto", "nft", "legacy"):
            raise ProxyError(f"iptables backend {self.iptables_backend!r}: use auto, nft or legacy")
        if not 0 <= self.masquerade_bit <= 31:
            raise ProxyError(f"masquerade bit {self.masquerade_bit} is not in 0..31")

    @property
    def masquerade_mark(self) -> str:
        """``1 << masquerade_bit`` in hex: ``0x4000`` for bit 14, as upstream writes it."""
        return f"{1 << self.masquerade_bit:#x}"
