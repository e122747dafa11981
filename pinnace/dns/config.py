"""What the cluster DNS server is told: :class:`DnsConfig`, and where the
default upstream resolvers come from (``/etc/resolv.conf``).

Plain data and one small file read at start-up (no event loop involved)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "DEFAULT_CACHE_TTL",
    "DEFAULT_DNS_IP",
    "DEFAULT_TTL",
    "DnsConfig",
    "parse_host_port",
    "resolv_conf_nameservers",
]

#: the kube-dns Service's ClusterIP in the default service CIDR (kubeadm's choice)
DEFAULT_DNS_IP = "10.96.0.10"
#: the kubernetes plugin's ``ttl`` default (k3s's Corefile keeps it; kubeadm's sets 30)
DEFAULT_TTL = 5
#: ``cache 30`` in the default Corefile: positive and negative answers at most 30 s
DEFAULT_CACHE_TTL = 30
#: the cache plugin's default capacity (256 shards x 39 entries)
DEFAULT_CACHE_SIZE = 9984


def resolv_conf_nameservers(path: str | Path = "/etc/resolv.conf") -> list[str]:
    """The ``nameserver`` lines of a resolv.conf as ``host:53`` strings (what
    ``forward . /etc/resolv.conf`` uses); empty when the file is missing."""
    try:
        text = Path(path).read_text()
    except OSError:
        return []
    out: list[str] = []
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            host = parts[1].split("%", 1)[0]
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:
                continue
            out.append(f"[{ip}]:53" if ip.version == 6 else f"{ip}:53")
    return out


def parse_host_port(text: str, default_port: int = 53) -> tuple[str, int]:
    """``1.2.3.4``, ``1.2.3.4:5353``, ``[::1]:53`` or ``::1`` → ``(host, port)``."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else default_port
    elif text.count(":") == 1:
        host, _, p = text.partition(":")
        port = int(p)
    else:
        host, port = text, default_port
    ipaddress.ip_address(host)  # ValueError for anything that is not an address
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {text!r}")
    return host, port


@dataclass
class DnsConfig:
    """Configuration of ``pinnace dns`` (the kube-dns add-on)."""

    #: address the UDP and TCP listeners bind
    listen_address: str = "127.0.0.1"
    #: UDP and TCP port (0: any free port, read back from the running server)
    port: int = 53
    #: address pods reach this server at: the kube-dns EndpointSlice's endpoint
    advertise_ip: str = "127.0.0.1"
    cluster_domain: str = "cluster.local"
    #: the kube-dns Service's ClusterIP
    service_ip: str = DEFAULT_DNS_IP
    #: where names outside the cluster go (``host[:port]``); default: /etc/resolv.conf
    upstreams: list[str] = field(default_factory=resolv_conf_nameservers)
    #: per-attempt timeout of a forwarded query, seconds
    upstream_timeout: float = 2.0
    #: ``/metrics``, ``/health`` and ``/ready`` (0: any free port)
    metrics_port: int = 9153
    #: address the metrics/health HTTP server binds (default: listen_address)
    metrics_address: str | None = None
    #: TTL of the cluster records
    ttl: int = DEFAULT_TTL
    cache_size: int = DEFAULT_CACHE_SIZE
    #: the longest any answer stays cached (0 turns the cache off)
    cache_ttl: int = DEFAULT_CACHE_TTL
    #: the shortest time an answer stays cached (the cache plugin's MINTTL)
    cache_min_ttl: int = 5
    #: how often the kube-dns Service and EndpointSlice are checked (besides events)
    addon_resync_seconds: float = 60.0
