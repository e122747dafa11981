"""``pinnace proxy``, ``pinnace dns`` and the service-network flags of
``pinnace up``/``server``/``agent``.

kube-proxy runs wherever a node agent runs (inside ``pinnace up`` and
``pinnace server --agent`` as the component ``proxy``, inside ``pinnace
agent``); cluster DNS runs in the server (component ``dns``). Each is also
its own command for running elsewhere. ``--disable proxy`` / ``--disable dns``
leave them out of the server.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
from typing import Any

from pinnace import eventloop

__all__ = [
    "DEFAULT_SERVICE_CIDR",
    "add_dns_command",
    "add_proxy_command",
    "add_service_network_flags",
    "cluster_dns_ip",
]

log = logging.getLogger("pinnace.cli")

DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
PROXY_MODES = ("iptables", "nftables", "ipvs")


def _cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a CIDR: {text!r}") from None


def _port_range(text: str) -> str:
    lo, sep, hi = text.partition("-")
    try:
        a, b = int(lo), int(hi if sep else lo)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port range: {text!r} (e.g. 30000-32767)") from None
    if not (1 <= a <= b <= 65535):
        raise argparse.ArgumentTypeError(f"not a port range: {text!r} (e.g. 30000-32767)")
    return f"{a}-{b}"


def _host_port(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or "]" in port or port.count(":"):
        host, port = text, "53"
    try:
        ipaddress.ip_address(host.strip("[]"))
        p = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP[:PORT]: {text!r}") from None
    if not 1 <= p <= 65535:
        raise argparse.ArgumentTypeError(f"not an IP[:PORT]: {text!r}")
    return f"{host}:{p}"


def cluster_dns_ip(service_cidr: str) -> str:
    """The DNS Service's ClusterIP: the tenth address of the service CIDR
    (10.96.0.10 for the default range), as kubeadm does."""
    return str(ipaddress.ip_network(service_cidr, strict=False)[10])


def add_proxy_mode_flag(g: Any) -> None:
    g.add_argument(
        "--proxy-mode",
        choices=PROXY_MODES,
        default="iptables",
        help="how kube-proxy programs services: iptables (default) or nftables; "
        "ipvs is refused (this kernel has no IPVS)",
    )


def add_service_network_flags(p: argparse.ArgumentParser, *, server: bool) -> None:
    """``--service-cidr`` and ``--proxy-mode`` everywhere a node runs; the
    allocation and DNS flags only on the server."""
    g = p.add_argument_group("services and cluster DNS")
    g.add_argument(
        "--service-cidr",
        type=_cidr,
        default=DEFAULT_SERVICE_CIDR,
        metavar="CIDR",
        help=f"ClusterIPs come from here (default {DEFAULT_SERVICE_CIDR})",
    )
    g.add_argument(
        "--cluster-cidr",
        type=_cidr,
        default=None,
        metavar="CIDR",
        help="the pods' addresses cluster-wide; kube-proxy masquerades service traffic "
        "from outside it",
    )
    add_proxy_mode_flag(g)
    if not server:
        return
    g.add_argument(
        "--service-node-port-range",
        type=_port_range,
        default="30000-32767",
        metavar="A-B",
        help="NodePorts come from here (default 30000-32767)",
    )
    g.add_argument(
        "--advertise-address",
        default="",
        metavar="IP",
        help="the API server address pods reach through the `kubernetes` Service "
        "(default: the bind address, or the host's default-route address)",
    )
    g.add_argument(
        "--dns-port",
        type=int,
        default=53,
        metavar="N",
        help="port the cluster DNS listens on, on the node's address (default 53); "
        "the kube-dns Service's port 53 leads there",
    )
    g.add_argument(
        "--dns-metrics-port",
        type=int,
        default=9153,
        metavar="N",
        help="cluster DNS's /metrics, /health and /ready port (default 9153)",
    )
    g.add_argument(
        "--dns-upstream",
        action="append",
        default=[],
        type=_host_port,
        metavar="IP[:PORT]",
        help="where cluster DNS forwards other names; repeatable (default: /etc/resolv.conf)",
    )


# --------------------------------------------------------------------------
# pinnace proxy


def add_proxy_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    proxy = sub.add_parser(
        "proxy",
        help="run kube-proxy against a cluster, or remove its rules (--cleanup)",
        description="Program this machine's iptables or nftables for the cluster's Services "
        "until SIGTERM or SIGINT. With --cleanup, remove every rule pinnace made "
        "(both modes) and exit.",
    )
    g = proxy.add_argument_group("kube-proxy")
    g.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig of the cluster")
    g.add_argument("--node-name", default=None, metavar="NAME", help="default: the host name")
    g.add_argument("--node-ip", default=None, metavar="IP", help="default: the default-route IP")
    g.add_argument(
        "--cluster-cidr", type=_cidr, default=None, metavar="CIDR", help="the pods' addresses"
    )
    g.add_argument(
        "--service-cidr",
        type=_cidr,
        default=DEFAULT_SERVICE_CIDR,
        metavar="CIDR",
        help="the cluster's ClusterIP range; in nftables mode, traffic to an address in it "
        f"that no Service holds is dropped (default {DEFAULT_SERVICE_CIDR})",
    )
    add_proxy_mode_flag(g)
    g.add_argument(
        "--cleanup", action="store_true", help="remove pinnace's rules (both modes) and exit"
    )
    from pinnace.cli.main import _add_common_flags

    _add_common_flags(proxy)
    proxy.set_defaults(func=_cmd_proxy)


def node_ips(node_ip: str | None) -> list[str]:
    """The node's address as the kubelet reports it: the given one, else the
    default-route address, else loopback."""
    from pinnace.netutil import default_route_ip

    return [node_ip or default_route_ip() or "127.0.0.1"]


def proxy_config(
    *,
    mode: str,
    node_name: str | None,
    node_ip: str | None,
    cluster_cidr: str | None,
    service_cidr: str | None = None,
    state_dir: str = "",
) -> Any:
    from pinnace.kubelet.config import default_node_name
    from pinnace.proxy.config import ProxyConfig

    return ProxyConfig(
        mode=mode,
        node_name=node_name or default_node_name(),
        node_ips=node_ips(node_ip),
        cluster_cidr=cluster_cidr or "",
        service_cidr=service_cidr or DEFAULT_SERVICE_CIDR,
        state_dir=state_dir,
    )


def _cmd_proxy(args: argparse.Namespace) -> int:

    from pinnace.cli.logs import setup_logging

    setup_logging(verbosity=args.v, log_format=args.log_format)
    from pinnace.cli.main import _run_until_signal
    from pinnace.client import ClientConfig, ConfigError
    from pinnace.proxy import ProxyError, cleanup, run_proxy

    if args.cleanup:
        try:
            cleanup()
        except ProxyError as e:
            log.error("pinnace proxy --cleanup: %s", e)
            return 1
        log.info("pinnace proxy: removed every rule pinnace made")
        return 0
    try:
        client_config = ClientConfig.from_kubeconfig(args.kubeconfig)
        config = proxy_config(
            mode=args.proxy_mode,
            node_name=args.node_name,
            node_ip=args.node_ip,
            cluster_cidr=args.cluster_cidr,
            service_cidr=args.service_cidr,
        )
        return eventloop.run(_run_until_signal(run_proxy(client_config, config), "pinnace proxy"))
    except (ConfigError, ProxyError, OSError) as e:
        log.error("pinnace proxy: %s", e)
        return 1


# --------------------------------------------------------------------------
# pinnace dns


def add_dns_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dns = sub.add_parser(
        "dns",
        help="run cluster DNS against a cluster",
        description="Serve the cluster's DNS names (Services, endpoints, pods) over UDP and TCP "
        "and forward other names, until SIGTERM or SIGINT. Keeps the kube-dns Service and "
        "its EndpointSlice pointing at itself.",
    )
    g = dns.add_argument_group("cluster DNS")
    g.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig of the cluster")
    g.add_argument(
        "--advertise-ip",
        default=None,
        metavar="IP",
        help="the address pods reach this server at (default: the default-route IP)",
    )
    g.add_argument(
        "--listen", default=None, metavar="IP", help="address to listen on (default: advertise IP)"
    )
    g.add_argument("--port", type=int, default=53, metavar="N", help="UDP and TCP port (53)")
    g.add_argument(
        "--service-ip",
        default=None,
        metavar="IP",
        help="the kube-dns Service's ClusterIP (default: 10th address of --service-cidr)",
    )
    g.add_argument("--service-cidr", type=_cidr, default=DEFAULT_SERVICE_CIDR, metavar="CIDR")
    g.add_argument("--cluster-domain", default="cluster.local", metavar="DOMAIN")
    g.add_argument(
        "--upstream",
        action="append",
        default=[],
        type=_host_port,
        metavar="IP[:PORT]",
        help="where other names go; repeatable (default: /etc/resolv.conf)",
    )
    g.add_argument(
        "--metrics-port",
        type=int,
        default=9153,
        metavar="N",
        help="/metrics, /health and /ready (default 9153)",
    )
    from pinnace.cli.main import _add_common_flags

    _add_common_flags(dns)
    dns.set_defaults(func=_cmd_dns)


def dns_config(
    *,
    advertise_ip: str | None,
    listen: str | None,
    port: int,
    service_ip: str,
    cluster_domain: str,
    upstreams: list[str],
    metrics_port: int,
) -> Any:
    from pinnace.dns import DnsConfig

    ip = advertise_ip or node_ips(None)[0]
    kwargs: dict[str, Any] = {}
    if upstreams:
        kwargs["upstreams"] = list(upstreams)
    return DnsConfig(
        listen_address=listen or ip,
        port=port,
        advertise_ip=ip,
        service_ip=service_ip,
        cluster_domain=cluster_domain,
        metrics_port=metrics_port,
        **kwargs,
    )


def _cmd_dns(args: argparse.Namespace) -> int:

    from pinnace.cli.logs import setup_logging

    setup_logging(verbosity=args.v, log_format=args.log_format)
    from pinnace.cli.main import _run_until_signal
    from pinnace.client import ClientConfig, ConfigError
    from pinnace.dns import run_dns

    try:
        client_config = ClientConfig.from_kubeconfig(args.kubeconfig)
        config = dns_config(
            advertise_ip=args.advertise_ip,
            listen=args.listen,
            port=args.port,
            service_ip=args.service_ip or cluster_dns_ip(args.service_cidr),
            cluster_domain=args.cluster_domain,
            upstreams=args.upstream,
            metrics_port=args.metrics_port,
        )
        return eventloop.run(_run_until_signal(run_dns(client_config, config), "pinnace dns"))
    except (ConfigError, OSError) as e:
        log.error("pinnace dns: %s", e)
        return 1
