"""The components ``pinnace server`` / ``pinnace up`` run, each with its own
identity and talking to the API only through ``pinnace.client`` (see
``ServerConfig.components``): inside the server's process, except the
scheduler of ``pinnace server``, which runs as a child process of the server
unless ``--scheduler-in-process`` (see :mod:`pinnace.cli.childproc`). ``--disable
NAME`` leaves one out; each is also its own subcommand for running elsewhere."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pinnace.apiserver.config import Component, ServerConfig
from pinnace.cli.childproc import ChildComponent
from pinnace.client.config import ClientConfig

log = logging.getLogger("pinnace.cli.components")


@dataclass
class ControllerManagerComponent:
    name: str = "controller-manager"
    user: str = "system:kube-controller-manager"
    groups: tuple[str, ...] = ()
    controllers: str = "*"
    leader_elect: bool = False

    async def run(self, client_config: ClientConfig) -> None:
        from pinnace.client import Client
        from pinnace.controllers.manager import LeaderElectionLost, run_controller_manager

        async with Client.from_config(client_config) as client:
            while True:
                try:
                    await run_controller_manager(
                        client, self.controllers, leader_elect=self.leader_elect
                    )
                    return
                except LeaderElectionLost as e:
                    # upstream's process exits here and its supervisor starts it
                    # again; this server stays up and campaigns again
                    log.warning("controller manager: %s; campaigning again", e)


@dataclass
class SchedulerComponent:
    name: str = "scheduler"
    user: str = "system:kube-scheduler"
    groups: tuple[str, ...] = ()
    config_file: str | None = None
    leader_elect: bool = False

    async def run(self, client_config: ClientConfig) -> None:
        from pinnace.scheduler.scheduler import run_scheduler

        while True:
            await run_scheduler(
                client_config, config_file=self.config_file, leader_elect=self.leader_elect
            )
            # run_scheduler returns only when it lost its lease (--leader-elect
            # or the config file's leaderElection): campaign again
            log.warning("scheduler: leader election lost; campaigning again")


@dataclass
class SimComponent:
    """Simulated nodes inside the server (``--sim-nodes N``)."""

    nodes: int
    name: str = "sim"
    user: str = "system:node-simulator"
    groups: tuple[str, ...] = ("system:nodes",)

    async def run(self, client_config: ClientConfig) -> None:
        from pinnace.sim import run_sim

        await run_sim(client_config, nodes=self.nodes)


@dataclass
class KubeletComponent:
    """The node agent inside the server (``pinnace up``, ``pinnace server --agent``)."""

    kubelet_config: object
    pki_dir: str
    name: str = "kubelet"
    user: str = "system:node"
    groups: tuple[str, ...] = ("system:nodes",)

    def __post_init__(self) -> None:
        node_name = getattr(self.kubelet_config, "node_name", "")
        self.user = f"system:node:{node_name}"

    async def run(self, client_config: ClientConfig) -> None:
        from pathlib import Path

        from pinnace.client import Client
        from pinnace.kubelet import services
        from pinnace.kubelet.config import KubeletConfig
        from pinnace.kubelet.kubelet import Kubelet

        assert isinstance(self.kubelet_config, KubeletConfig)
        async with Client.from_config(client_config.with_rate_limits(100, 200)) as client:
            factory = services.server_factory_from_pki(Path(self.pki_dir))
            await Kubelet(client, self.kubelet_config, server_factory=factory).run()


@dataclass
class ProxyComponent:
    """kube-proxy beside the in-process node agent."""

    proxy_config: object
    name: str = "proxy"
    user: str = "system:kube-proxy"
    groups: tuple[str, ...] = ()

    async def run(self, client_config: ClientConfig) -> None:
        from pinnace.proxy import run_proxy

        await run_proxy(client_config, self.proxy_config)  # type: ignore[arg-type]


@dataclass
class DnsComponent:
    """Cluster DNS inside the server (it keeps the kube-dns Service pointing at itself)."""

    dns_config: object
    name: str = "dns"
    user: str = "system:serviceaccount:kube-system:coredns"
    groups: tuple[str, ...] = ("system:serviceaccounts", "system:serviceaccounts:kube-system")

    async def run(self, client_config: ClientConfig) -> None:
        from pinnace.dns import run_dns

        await run_dns(client_config, self.dns_config)  # type: ignore[arg-type]


def scheduler_process(config: ServerConfig) -> ChildComponent:
    """The scheduler as a child process of the server (the default)."""
    command = ["scheduler", "--kube-api-qps", "0"]
    if config.extra.get("scheduler_config"):
        command += ["--config", config.extra["scheduler_config"]]
    if config.extra.get("leader_elect"):
        command.append("--leader-elect")
    command += ["-v", config.extra.get("log_verbosity") or "0"]
    command += ["--log-format", config.extra.get("log_format") or "text"]
    return ChildComponent(
        name="scheduler",
        user="system:kube-scheduler",
        command=command,
        run_dir=Path(config.data_dir).absolute() / "run",
    )


def server_components(config: ServerConfig) -> list[Component]:
    """What runs inside the server by default (minus ``--disable``).

    With ``--leader-elect`` (the default on etcd, where several servers may
    share the cluster) the controller manager and the scheduler only work
    while they hold their Leases, ``kube-system/kube-controller-manager`` and
    ``kube-system/kube-scheduler``, as upstream's do by default; the other
    servers' copies wait as candidates."""
    leader_elect = bool(config.extra.get("leader_elect"))
    comps: list[Component] = [
        ControllerManagerComponent(
            controllers=config.extra.get("controllers", "*"), leader_elect=leader_elect
        ),
        (
            SchedulerComponent(
                config_file=config.extra.get("scheduler_config") or None, leader_elect=leader_elect
            )
            if config.extra.get("scheduler_in_process")
            else scheduler_process(config)
        ),
    ]
    sim_nodes = int(config.extra.get("sim_nodes") or 0)
    if sim_nodes > 0:
        comps.append(SimComponent(nodes=sim_nodes))
    if config.kubelet is not None:
        comps.append(KubeletComponent(config.kubelet, str(config.pki_dir)))
        if "proxy" not in config.disable:
            comps.append(ProxyComponent(_proxy_config(config)))
    if "dns" not in config.disable and config.extra.get("dns_port") != "0":
        comps.append(DnsComponent(_dns_config(config)))
    return [c for c in comps if c.name not in config.disable]


def _proxy_config(config: ServerConfig) -> object:
    from pinnace.cli.network import proxy_config
    from pinnace.kubelet.config import KubeletConfig

    kc = config.kubelet
    assert isinstance(kc, KubeletConfig)
    return proxy_config(
        mode=config.extra.get("proxy_mode") or "iptables",
        node_name=kc.node_name,
        node_ip=kc.node_ip,
        cluster_cidr=config.extra.get("cluster_cidr") or kc.pod_cidr,
        service_cidr=kc.service_cidr,
        state_dir=str(kc.root_dir / "proxy"),
    )


def _dns_config(config: ServerConfig) -> object:
    from pinnace.cli.network import cluster_dns_ip, dns_config
    from pinnace.kubelet.config import KubeletConfig

    kc = config.kubelet
    node_ip = kc.node_ip if isinstance(kc, KubeletConfig) else None
    upstreams = [u for u in (config.extra.get("dns_upstreams") or "").split(",") if u]
    return dns_config(
        advertise_ip=node_ip,
        listen=None,
        port=int(config.extra.get("dns_port") or 53),
        service_ip=cluster_dns_ip(config.service_cidr),
        cluster_domain=kc.cluster_domain if isinstance(kc, KubeletConfig) else "cluster.local",
        upstreams=upstreams,
        metrics_port=int(config.extra.get("dns_metrics_port") or 9153),
    )
