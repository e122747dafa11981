"""The controller manager: runs the selected controllers together, optionally as the
elected leader among several managers.

:func:`run_controller_manager` builds one :class:`~pinnace.client.SharedInformerFactory`
(so every controller shares one watch and cache per resource), creates the
controllers ``--controllers`` selects (see :mod:`pinnace.controllers.registry`)
and runs them concurrently under one task group: a controller that crashes (or
returns, which it never should) is logged with its name and stops all the
others, and the manager raises :class:`ControllerManagerError` — loudly, as a
crash in a component must stop the whole process. ``ready`` is set once every
controller's caches have synced.

With ``leader_elect=True`` the controllers only run while this manager holds
the Lease ``kube-system/kube-controller-manager`` (client-go's algorithm, see
:class:`~pinnace.client.LeaderElector`); losing it raises
:class:`LeaderElectionLost`, as upstream exits when it stops leading (the
process supervisor restarts it as a candidate). Cancelling the manager stops
the controllers and releases the lease.

Concurrency model: one event loop; one task per controller (each with its own
informer, source and worker tasks inside), plus the shared informers' tasks,
stopped when the manager returns.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Mapping

from pinnace.client import (
    REAL_CLOCK,
    Client,
    Clock,
    LeaderElector,
    SharedInformerFactory,
)
from pinnace.client.compact import CacheCompactor
from pinnace.controllers.base import Controller, ControllerContext
from pinnace.controllers.registry import CONTROLLERS, select_controllers

__all__ = [
    "LEASE_NAME",
    "LEASE_NAMESPACE",
    "ControllerManagerError",
    "LeaderElectionLost",
    "default_identity",
    "run_controller_manager",
]

log = logging.getLogger("pinnace.controllers.manager")

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "kube-controller-manager"


class ControllerManagerError(Exception):
    """A controller crashed (or stopped on its own); every controller was stopped."""


class LeaderElectionLost(ControllerManagerError):
    """This manager was the leader and could not renew its lease."""


def default_identity() -> str:
    """Upstream's leader-election identity: ``<hostname>_<uuid>``."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


async def run_controller_manager(
    client: Client,
    names: str = "*",
    *,
    leader_elect: bool = False,
    identity: str | None = None,
    clock: Clock = REAL_CLOCK,
    ready: asyncio.Event | None = None,
    workers: Mapping[str, int] | None = None,
    lease_duration: float = 15.0,
    renew_deadline: float = 10.0,
    retry_period: float = 2.0,
) -> None:
    """Run the controllers ``names`` selects (``--controllers`` syntax) until cancelled.

    Raises :class:`ValueError` for an unknown controller name (before starting
    anything), :class:`ControllerManagerError` when a controller crashes and
    :class:`LeaderElectionLost` when leadership is lost.
    """
    selected = select_controllers(names, CONTROLLERS)
    log.info("controller manager: controllers %s", ", ".join(selected) or "(none)")

    async def run_controllers() -> None:
        factory = SharedInformerFactory(client, clock=clock, transform=CacheCompactor())
        ctx = ControllerContext(client, factory, clock, workers=dict(workers or {}))
        controllers = [CONTROLLERS[name].factory(ctx) for name in selected]
        try:
            async with asyncio.TaskGroup() as tg:
                for c in controllers:
                    tg.create_task(_run_one(c), name=f"controller-{c.NAME}")
                tg.create_task(_signal_ready(controllers, ready), name="controllers-ready")
        except ExceptionGroup as eg:
            crashed = [str(e) for e in _leaves(eg)]
            raise ControllerManagerError("; ".join(crashed)) from eg
        finally:
            await factory.stop()

    if not leader_elect:
        await run_controllers()
        return

    elector = LeaderElector(
        client,
        lock_namespace=LEASE_NAMESPACE,
        lock_name=LEASE_NAME,
        identity=identity or default_identity(),
        on_started_leading=run_controllers,
        on_new_leader=lambda holder: log.info("controller manager: the leader is now %s", holder),
        lease_duration=lease_duration,
        renew_deadline=renew_deadline,
        retry_period=retry_period,
        clock=clock,
    )
    await elector.run()
    raise LeaderElectionLost(f"leader election lost ({LEASE_NAMESPACE}/{LEASE_NAME})")


async def _run_one(controller: Controller) -> None:
    try:
        await controller.run()
    except asyncio.CancelledError:
        raise
    except Exception as e:
        log.critical("controller %s crashed: %s", controller.NAME, e, exc_info=True)
        raise ControllerManagerError(f"controller {controller.NAME} crashed: {e!r}") from e
    log.critical("controller %s stopped on its own", controller.NAME)
    raise ControllerManagerError(f"controller {controller.NAME} stopped on its own")


async def _signal_ready(controllers: list[Controller], ready: asyncio.Event | None) -> None:
    await asyncio.gather(*(c.ready.wait() for c in controllers))
    log.info("controller manager: all controllers ready")
    if ready is not None:
        ready.set()


def _leaves(eg: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for e in eg.exceptions:
        if isinstance(e, BaseExceptionGroup):
            out.extend(_leaves(e))
        else:
            out.append(e)
    return out
