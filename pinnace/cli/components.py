"""The components ``pinnace server`` / ``pinnace up`` run inside the server
process, each with its own identity and talking to the API only through
``pinnace.client`` (see ``ServerConfig.components``). ``--disable NAME``
leaves one out; each is also its own subcommand for running elsewhere."""

from __future__ import annotations

from dataclasses import dataclass

from pinnace.apiserver.config import Component, ServerConfig
from pinnace.client.config import ClientConfig


@dataclass
class ControllerManagerComponent:
    name: str = "controller-manager"
    user: str = "system:kube-controller-manager"
    groups: tuple[str, ...] = ()
    controllers: str = "*"

    async def run(self, client_config: ClientConfig) -> None:
        from pinnace.client import Client
        from pinnace.controllers.manager import run_controller_manager

        async with Client.from_config(client_config) as client:
            await run_controller_manager(client, self.controllers)


@dataclass
class SchedulerComponent:
    name: str = "scheduler"
    user: str = "system:kube-scheduler"
    groups: tuple[str, ...] = ()
    config_file: str | None = None

    async def run(self, client_config: ClientConfig) -> None:
        from pinnace.scheduler.scheduler import run_scheduler

        await run_scheduler(client_config, config_file=self.config_file)


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


def server_components(config: ServerConfig) -> list[Component]:
    """What runs inside the server by default (minus ``--disable``)."""
    comps: list[Component] = [
        ControllerManagerComponent(controllers=config.extra.get("controllers", "*")),
        SchedulerComponent(config_file=config.extra.get("scheduler_config") or None),
    ]
    sim_nodes = int(config.extra.get("sim_nodes") or 0)
    if sim_nodes > 0:
        comps.append(SimComponent(nodes=sim_nodes))
    return [c for c in comps if c.name not in config.disable]
