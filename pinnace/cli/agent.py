"""``pinnace agent`` and the node-agent flags of ``pinnace up``/``pinnace server``.

The agent is the kubelet: it joins a cluster with a kubeconfig, or with a
server URL and a bearer token (as k3s's ``--server``/``--token``), and runs
pods on containerd. Inside ``pinnace up`` it runs in the server process
(component ``kubelet``, ``--disable kubelet`` leaves it out) with its state
under ``<data-dir>/agent``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from pinnace.cli.logs import setup_logging

__all__ = ["add_agent_command", "add_node_flags", "kubelet_config_from_args"]

log = logging.getLogger("pinnace.cli")

T = TypeVar("T")

DEFAULT_AGENT_DIR = "/var/lib/pinnace/agent"


def _key_values(text: str, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"{what}: expected KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _taint(text: str) -> dict[str, str]:
    key, _, rest = text.partition("=")
    value, _, effect = rest.partition(":")
    if ":" in key and not rest:
        key, _, effect = key.partition(":")
    if effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
        raise argparse.ArgumentTypeError(
            f"taint {text!r}: expected KEY[=VALUE]:NoSchedule|PreferNoSchedule|NoExecute"
        )
    taint = {"key": key, "effect": effect}
    if value:
        taint["value"] = value
    return taint


def add_node_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("node agent (kubelet)")
    g.add_argument("--node-name", default=None, metavar="NAME", help="default: the host name")
    g.add_argument("--node-ip", default=None, metavar="IP", help="the node's InternalIP")
    g.add_argument("--node-label", action="append", default=[], metavar="K=V", help="repeatable")
    g.add_argument(
        "--node-taint",
        action="append",
        default=[],
        type=_taint,
        metavar="K=V:EFFECT",
        help="register with this taint; repeatable",
    )
    g.add_argument(
        "--container-runtime-endpoint",
        default=None,
        metavar="URL",
        help="an existing CRI socket (unix:///run/containerd/containerd.sock); "
        "default: a private containerd under the agent's data dir",
    )
    g.add_argument(
        "--registry-config",
        default=None,
        metavar="FILE",
        help="registries.yaml (k3s format): mirrors, auth and TLS for image pulls",
    )
    g.add_argument(
        "--cluster-dns", action="append", default=[], metavar="IP", help="DNS server for pods"
    )
    g.add_argument("--cluster-domain", default="cluster.local", metavar="DOMAIN")
    g.add_argument(
        "--kube-reserved",
        default="",
        type=lambda t: _key_values(t, "--kube-reserved"),
        metavar="cpu=..,memory=..",
    )
    g.add_argument(
        "--system-reserved",
        default="",
        type=lambda t: _key_values(t, "--system-reserved"),
        metavar="cpu=..,memory=..",
    )
    g.add_argument(
        "--kubelet-port",
        type=int,
        default=10250,
        metavar="N",
        help="the kubelet API's HTTPS port (0: any free port; default 10250)",
    )
    g.add_argument(
        "--kubelet-cert-validity-days",
        type=int,
        default=365,
        metavar="N",
        help="lifetime of the kubelet API's self-signed serving certificate (default 365); "
        "it is made again at start when near its end",
    )
    g.add_argument(
        "--eviction-hard",
        default="memory.available<100Mi,nodefs.available<10%",
        type=_eviction_hard,
        metavar="SIGNAL<VALUE,...",
        help="hard eviction thresholds: pods are evicted when memory.available (a quantity) "
        "or nodefs.available (a percentage) falls below them "
        "(default memory.available<100Mi,nodefs.available<10%%)",
    )
    g.add_argument(
        "--housekeeping-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how often pods are checked against their local storage limits and the "
        "node against its eviction thresholds (default 10)",
    )
    g.add_argument("--cni-bridge", default="cni0", metavar="NAME", help="pod bridge (default cni0)")
    g.add_argument(
        "--pod-cidr",
        default=None,
        metavar="CIDR",
        help="use this pod CIDR instead of waiting for the node IPAM controller's",
    )


def _eviction_hard(text: str) -> dict[str, str]:
    """``--eviction-hard``: checked here, kept as text for the kubelet config."""
    from pinnace.kubelet.eviction import parse_eviction_hard

    try:
        parse_eviction_hard(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return dict(item.strip().split("<", 1) for item in text.split(",") if item.strip())


def kubelet_config_from_args(args: argparse.Namespace, root_dir: Path) -> object:
    from pinnace.cli.network import DEFAULT_SERVICE_CIDR, cluster_dns_ip
    from pinnace.kubelet.config import KubeletConfig, default_node_name

    service_cidr = getattr(args, "service_cidr", None) or DEFAULT_SERVICE_CIDR
    labels: dict[str, str] = {}
    for item in args.node_label:
        labels.update(_key_values(item, "--node-label"))
    return KubeletConfig(
        root_dir=root_dir,
        node_name=args.node_name or default_node_name(),
        node_ip=args.node_ip,
        node_labels=labels,
        register_with_taints=list(args.node_taint),
        container_runtime_endpoint=args.container_runtime_endpoint,
        registry_config=Path(args.registry_config) if args.registry_config else None,
        # as k3s: pods use the cluster DNS Service unless told otherwise
        cluster_dns=list(args.cluster_dns) or [cluster_dns_ip(service_cidr)],
        service_cidr=service_cidr,
        cluster_domain=args.cluster_domain,
        kube_reserved=args.kube_reserved or {},
        system_reserved=args.system_reserved or {},
        port=args.kubelet_port,
        serving_cert_validity_days=args.kubelet_cert_validity_days,
        cni_bridge=args.cni_bridge,
        pod_cidr=args.pod_cidr,
        eviction_hard_memory=args.eviction_hard.get("memory.available", "100Mi"),
        eviction_hard_nodefs=args.eviction_hard.get("nodefs.available", "10%"),
        housekeeping_interval=args.housekeeping_interval,
    )


def add_agent_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agent = sub.add_parser(
        "agent",
        help="run a node agent (kubelet) that joins a cluster, in the foreground",
        description="Run the node agent: register this machine as a Node and run its "
        "pods on containerd, until SIGTERM or SIGINT. Pods keep running when the "
        "agent stops; a new agent adopts them.",
    )
    g = agent.add_argument_group("cluster")
    g.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig to join with")
    g.add_argument(
        "--server",
        metavar="URL[,URL...]",
        help="API server URL (with --token); list every server of a cluster whose servers "
        "share one etcd, and the agent moves to the next when one is unreachable",
    )
    g.add_argument(
        "--token",
        metavar="TOKEN",
        help="the server's join token (with --server): the content of <server data dir>/node-token",
    )
    g.add_argument(
        "--data-dir", default=DEFAULT_AGENT_DIR, metavar="DIR",
        help=f"agent state: containerd, pods, logs (default {DEFAULT_AGENT_DIR})",
    )  # fmt: skip
    add_node_flags(agent)
    from pinnace.cli.main import _add_common_flags
    from pinnace.cli.network import add_service_network_flags

    add_service_network_flags(agent, server=False)
    agent.add_argument(
        "--disable-kube-proxy",
        action="store_true",
        help="do not run kube-proxy beside the agent",
    )
    _add_common_flags(agent)
    agent.set_defaults(func=_cmd_agent)


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that allocates its own malloc arena; gRPC's threads
    then each keep a mostly empty heap. Two arenas are plenty for an agent that
    runs on one event loop (the same as ``MALLOC_ARENA_MAX=2``)."""
    import ctypes

    m_arena_max = -8  # mallopt parameter number in glibc's malloc.h
    try:
        ctypes.CDLL("libc.so.6").mallopt(m_arena_max, arenas)
    except (OSError, AttributeError):
        pass


def _node_name(kubelet_config: object) -> str:
    from pinnace.kubelet.config import KubeletConfig

    assert isinstance(kubelet_config, KubeletConfig)
    return kubelet_config.node_name


def server_urls(text: str) -> list[str]:
    """``--server``: one URL, or several separated by commas."""
    urls = [u.strip().rstrip("/") for u in text.split(",") if u.strip()]
    if not urls:
        raise ValueError("--server needs a URL")
    return urls


async def first_answer(servers: list[str], call: Callable[[str], Awaitable[T]]) -> tuple[str, T]:
    """``call(server)`` on each server in turn until one answers: (that
    server, its answer). A server that fails (unreachable, or refusing) is
    logged and the next one tried; the last one's error is raised."""
    import aiohttp

    from pinnace.client.jointoken import JoinTokenError

    for i, server in enumerate(servers):
        try:
            return server, await call(server)
        except (OSError, aiohttp.ClientError, JoinTokenError) as e:
            if i + 1 == len(servers):
                raise
            log.warning("joining through %s failed (%s); trying %s", server, e, servers[i + 1])
    raise ValueError("no server to join through")


def _cmd_agent(args: argparse.Namespace) -> int:
    import asyncio

    import aiohttp

    setup_logging(verbosity=args.v, log_format=args.log_format)
    from pinnace.cli.main import _run_until_signal
    from pinnace.client import ClientConfig, ConfigError
    from pinnace.kubelet.kubelet import run_kubelet

    root = Path(args.data_dir).expanduser().absolute()
    config = kubelet_config_from_args(args, root)
    try:
        if args.kubeconfig:
            client_config = ClientConfig.from_kubeconfig(args.kubeconfig).with_rate_limits(50, 100)
        elif args.server and args.token:
            from pinnace.client.jointoken import (
                JoinToken,
                fetch_cluster_ca,
                fetch_node_credentials,
                node_password,
            )

            token = JoinToken.parse(args.token)
            servers = server_urls(args.server)

            async def join(server: str) -> tuple[bytes, bytes, bytes]:
                ca = await fetch_cluster_ca(server, token)
                # the token only buys the node its own certificate: from then
                # on the agent (kubelet and kube-proxy) acts as system:node:<name>
                cert, key = await fetch_node_credentials(
                    server, token, ca, _node_name(config), node_password(root / "node-password")
                )
                return ca, cert, key

            primary, (ca, cert, key) = asyncio.run(first_answer(servers, join))
            client_config = ClientConfig(
                server=primary,
                fallback_servers=tuple(u for u in servers if u != primary),
                ca_data=ca,
                cert_data=cert,
                key_data=key,
                qps=50,
                burst=100,
            )
        else:
            log.error("pinnace agent: give --kubeconfig FILE, or --server URL and --token TOKEN")
            return 2
    except (ConfigError, OSError, TypeError, ValueError, aiohttp.ClientError) as e:
        log.error("pinnace agent: %s", e)
        return 1
    _limit_malloc_arenas()
    parts = [run_kubelet(client_config, config)]  # type: ignore[arg-type]
    if not args.disable_kube_proxy:
        from pinnace.cli.network import proxy_config
        from pinnace.proxy import run_proxy

        pc = proxy_config(
            mode=args.proxy_mode,
            node_name=config.node_name,  # type: ignore[attr-defined]
            node_ip=args.node_ip,
            cluster_cidr=args.cluster_cidr,
            service_cidr=getattr(args, "service_cidr", None),
            state_dir=str(config.root_dir / "proxy"),  # type: ignore[attr-defined]
        )
        parts.append(run_proxy(client_config, pc))

    async def run_all() -> None:
        async with asyncio.TaskGroup() as tg:
            for coro in parts:
                tg.create_task(coro)

    try:
        return asyncio.run(_run_until_signal(run_all(), "pinnace agent"))
    except Exception as e:
        log.critical("pinnace agent crashed: %s", e, exc_info=True)
        return 1
