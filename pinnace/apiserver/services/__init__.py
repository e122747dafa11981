"""Service support in the API server: cluster IP and node port allocation
(``allocator``, ``allocation``), the Service store that uses them (``store``),
the repair loop (``repair``) and the ``kubernetes`` Service (``kubernetes``).

:class:`ServiceSupport` is what the server assembles: it is built from the
server config before the stores are (:meth:`ServiceSupport.build`, which turns
bad ranges into a :class:`~pinnace.apiserver.errors.StartupError`), gives the
server its Service store, and once the caches are up runs the first repair
pass and the first ``kubernetes`` Service pass before the server serves
(:meth:`ServiceSupport.start`), then both periodically as background tasks
until :meth:`ServiceSupport.stop`.

Concurrency model: everything runs on the API server's event loop; the two
periodic loops are tasks cancelled on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from pinnace import aio
from pinnace.api.schema import Resource
from pinnace.api.strategy import Strategy
from pinnace.apiserver.admission import AdmissionChain
from pinnace.apiserver.cache import WatchCache
from pinnace.apiserver.config import ServerConfig
from pinnace.apiserver.errors import StartupError
from pinnace.apiserver.registry import RequestContext, ResourceStore, StoreHooks
from pinnace.apiserver.services.allocation import ServiceAllocators
from pinnace.apiserver.services.allocator import (
    IPAllocator,
    PortAllocator,
    parse_port_range,
    parse_service_cidr,
)
from pinnace.apiserver.services.kubernetes import KubernetesService, advertise_address
from pinnace.apiserver.services.repair import ServiceRepair
from pinnace.apiserver.services.store import ServiceStore
from pinnace.netutil import default_route_ip
from pinnace.storage import Backend

__all__ = ["ServiceSupport"]

log = logging.getLogger("pinnace.apiserver.services")


class ServiceSupport:
    def __init__(
        self,
        backend: Backend,
        service_cidr: str,
        node_port_range: str,
        *,
        advertise: str,
        port: int,
        repair_interval: float | None = None,
        endpoint_interval: float | None = None,
    ) -> None:
        self.backend = backend
        try:
            cidr = parse_service_cidr(service_cidr)
            first, last = parse_port_range(node_port_range)
        except ValueError as e:
            raise StartupError(f"{e} (see --service-cidr / --service-node-port-range)") from None
        self.ips = IPAllocator(backend, cidr)
        self.ports = PortAllocator(backend, first, last)
        self.advertise = advertise
        self.port = port
        self.repair_interval = repair_interval
        self.endpoint_interval = endpoint_interval
        self.allocators: ServiceAllocators | None = None
        self.repair: ServiceRepair | None = None
        self.kubernetes: KubernetesService | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def build(cls, config: ServerConfig, backend: Backend) -> ServiceSupport:
        """From the server's config (``config.port`` is the bound port by now)."""
        return cls(
            backend,
            config.service_cidr,
            config.service_node_port_range,
            advertise=advertise_address(
                config.advertise_address, config.bind_address, default_route_ip
            ),
            port=config.port,
        )

    def make_store(
        self,
        resource: Resource,
        cache: WatchCache,
        strategy: Strategy,
        admission: AdmissionChain,
        hooks: StoreHooks,
    ) -> ServiceStore:
        self.allocators = ServiceAllocators(resource, self.ips, self.ports)
        return ServiceStore(resource, self.backend, cache, strategy, admission, hooks).attach(
            self.allocators
        )

    async def start(
        self,
        services: ResourceStore,
        endpoints: ResourceStore,
        slices: ResourceStore,
        ctx_factory: Callable[[], RequestContext],
    ) -> None:
        """First passes (awaited), then the periodic loops."""
        assert self.allocators is not None, "make_store first"
        self.repair = ServiceRepair(self.allocators, services.cache.list_objects)
        if self.repair_interval is not None:
            self.repair.interval = self.repair_interval
        try:
            await self.repair.run_once()
        except Exception as e:
            raise StartupError(
                f"cannot check the service IP and node port allocations in storage: {e}"
            ) from e
        self.kubernetes = KubernetesService(
            self.backend,
            services,
            endpoints,
            slices,
            ctx_factory,
            self.ips.first,
            self.advertise,
            self.port,
        )
        if self.endpoint_interval is not None:
            self.kubernetes.interval = self.endpoint_interval
        try:
            await self.kubernetes.reconcile_once()
        except Exception as e:
            log.warning("cannot set up the kubernetes service yet (retrying): %s", e)
        self._tasks = [
            asyncio.create_task(self.repair.run(), name="service-repair"),
            asyncio.create_task(self.kubernetes.run(), name="kubernetes-service"),
        ]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        if self.kubernetes is not None:
            with contextlib.suppress(Exception):
                await aio.wait_for(self.kubernetes.remove_lease(), 2.0)
