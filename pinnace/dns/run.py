"""Cluster DNS as one component: :class:`ClusterDns` assembles the record
index (fed by informers), the resolver, the cache, the forwarder, the UDP/TCP
server, the metrics/health HTTP server and the kube-dns add-on reconciler;
:func:`run_dns` is the entry point ``pinnace dns`` and ``pinnace up`` call.

Start order: the HTTP server (so ``/health`` answers during start-up), the
informers (wait for their first list: answering NXDOMAIN for names we simply
have not loaded yet would be cached by clients), the DNS listeners, one pass
of the add-on reconciler, then ``ready``.

Concurrency model: everything on the caller's event loop; ``run`` returns
only by cancellation (or an error at start-up), and stops what it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from pinnace.client import ApiError, Client, ClientConfig, Obj, SharedInformerFactory
from pinnace.dns.addon import AddonReconciler
from pinnace.dns.cache import AnswerCache
from pinnace.dns.config import DnsConfig, parse_host_port
from pinnace.dns.forward import Forwarder
from pinnace.dns.index import ClusterIndex
from pinnace.dns.metrics import DnsStats, metrics_app, new_registry
from pinnace.dns.records import Resolver
from pinnace.dns.server import DnsServer
from pinnace.dns.source import IndexSource

__all__ = ["ClusterDns", "run_dns"]

log = logging.getLogger("pinnace.dns")


def _upstreams(config: DnsConfig) -> list[str]:
    """The configured upstreams minus this server itself (a forwarding loop)."""
    out: list[str] = []
    for u in config.upstreams:
        host, port = parse_host_port(u)
        if port == config.port and host in (config.listen_address, config.advertise_ip):
            log.warning("ignoring upstream %s: that is this DNS server", u)
            continue
        out.append(u)
    return out


class ClusterDns:
    """The cluster DNS server and the objects it keeps in the API."""

    def __init__(self, client: Client, config: DnsConfig) -> None:
        self.client = client
        self.config = config
        self.index = ClusterIndex()
        self.stats = DnsStats(server=f"dns://{config.listen_address}:{config.port}")
        self.resolver = Resolver(
            self.index, config.cluster_domain, ttl=config.ttl, dns_ip=config.service_ip
        )
        self.cache = AnswerCache(
            self.index,
            capacity=config.cache_size,
            max_ttl=config.cache_ttl,
            min_ttl=config.cache_min_ttl,
        )
        self.forwarder = Forwarder(
            _upstreams(config), timeout=config.upstream_timeout, stats=self.stats
        )
        self.server = DnsServer(self.resolver, self.cache, self.forwarder, self.stats)
        self.addon: AddonReconciler | None = None
        self.metrics_address: tuple[str, int] | None = None
        self._ready = False

    @property
    def ready(self) -> bool:
        return self._ready

    def _poke(self, obj: Obj) -> None:
        if self.addon is not None:
            self.addon.poke(obj)

    async def _start_http(self) -> web.AppRunner:
        app = metrics_app(new_registry(self.stats), lambda: self._ready)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host = self.config.metrics_address or self.config.listen_address
        site = web.TCPSite(runner, host, self.config.metrics_port)
        await site.start()
        server = site._server  # the bound port when metrics_port is 0
        sockets = getattr(server, "sockets", None) or []
        port = sockets[0].getsockname()[1] if sockets else self.config.metrics_port
        self.metrics_address = (host, int(port))
        return runner

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Serve until cancelled."""
        cfg = self.config
        factory = SharedInformerFactory(self.client)
        source = IndexSource(factory, self.index, on_change=self._poke)
        runner = await self._start_http()
        addon_task: asyncio.Task[None] | None = None
        try:
            factory.start()
            await factory.wait_for_cache_sync()
            await self.server.start(cfg.listen_address, cfg.port)
            assert self.server.udp_address is not None and self.metrics_address is not None
            self.addon = AddonReconciler(
                self.client,
                service_ip=cfg.service_ip,
                advertise_ip=cfg.advertise_ip,
                dns_port=self.server.udp_address[1],
                metrics_port=self.metrics_address[1],
                resync=cfg.addon_resync_seconds,
                cached_slices=source.slices.list,
            )
            try:
                await self.addon.ensure()
            except (ApiError, OSError) as e:
                log.warning("creating the kube-dns Service and EndpointSlice: %s (will retry)", e)
            addon_task = asyncio.get_running_loop().create_task(self.addon.run(), name="dns-addon")
            self._ready = True
            if ready is not None:
                ready.set()
            log.info(
                "cluster DNS ready",
                extra={"domain": cfg.cluster_domain, "service_ip": cfg.service_ip},
            )
            await addon_task
        finally:
            self._ready = False
            if addon_task is not None:
                addon_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await addon_task
            if self.addon is not None:
                # best effort: kube-proxy stops sending queries here at once
                with contextlib.suppress(ApiError, OSError, TimeoutError):
                    await asyncio.wait_for(self.addon.remove_own_slice(), 2.0)
            await self.server.close()
            await factory.stop()
            await runner.cleanup()


async def run_dns(
    client_config: ClientConfig, config: DnsConfig, *, ready: asyncio.Event | None = None
) -> None:
    """Run cluster DNS against the cluster ``client_config`` points at, until
    cancelled; ``ready`` is set once the informers synced and the sockets are bound."""
    async with Client.from_config(client_config) as client:
        await ClusterDns(client, config).run(ready)
