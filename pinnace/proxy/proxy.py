"""kube-proxy assembled: informers → :class:`~pinnace.proxy.state.ProxyState` →
a proxier (iptables or nftables) driven by a :class:`~pinnace.proxy.syncloop.SyncLoop`.

:func:`run_proxy` watches Services and EndpointSlices (skipping, as upstream
does, objects labelled ``service.kubernetes.io/service-proxy-name`` — another
proxy's — or ``service.kubernetes.io/headless``) and this node's Node (for its
zone). Handlers only update the state; when something the rules depend on
changed they ask the sync loop for a sync. The first sync waits until both
caches are complete, so a restarted proxy never programs a partial view; the
``ready`` event is set after it succeeds. After every sync the
:class:`~pinnace.proxy.healthcheck.ServiceHealthServer` (unless
``healthz_servers`` is off) gets the current ``healthCheckNodePort``s and
local endpoint counts.

``ipvs`` mode is refused at start: this kernel has no IPVS.

Concurrency model: one event loop — the informer tasks and the sync task;
syncs never overlap.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import time
from typing import Protocol

from pinnace.client import Client, ClientConfig, Obj, ResourceRef, SharedInformerFactory
from pinnace.client.apiservers import follow_api_servers_in_background
from pinnace.client.clock import REAL_CLOCK, Clock
from pinnace.proxy import metrics
from pinnace.proxy.config import ProxyConfig, ProxyError
from pinnace.proxy.healthcheck import ServiceHealthServer
from pinnace.proxy.iptables_proxier import IptablesProxier, SyncResult, nodeport_ips
from pinnace.proxy.nftables_proxier import NftablesProxier
from pinnace.proxy.state import ProxyState
from pinnace.proxy.syncloop import SyncLoop

__all__ = ["ENDPOINTSLICES", "Proxier", "check_mode", "make_proxier", "run_proxy", "sync_once"]

log = logging.getLogger("pinnace.proxy")

SERVICES = ResourceRef("", "v1", "services", True, "Service")
ENDPOINTSLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices", True, "EndpointSlice")
NODES = ResourceRef("", "v1", "nodes", False, "Node")
SERVICE_SELECTOR = "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"


class Proxier(Protocol):
    mode: str
    state: ProxyState
    last_text: str

    def prepare(self) -> None: ...

    async def sync(self, now: float) -> SyncResult: ...

    def request_full_sync(self) -> None: ...


def check_mode(config: ProxyConfig) -> None:
    """Refuse ``ipvs`` with the reason (this kernel has no IPVS)."""
    if config.mode != "ipvs":
        return
    if not os.path.exists("/proc/net/ip_vs") and shutil.which("modprobe"):
        subprocess.run(["modprobe", "-q", "ip_vs"], capture_output=True)
    if not os.path.exists("/proc/net/ip_vs"):
        raise ProxyError(
            "proxy mode ipvs: this kernel has no IPVS (/proc/net/ip_vs is missing and the "
            "ip_vs module cannot be loaded); use --proxy-mode=iptables (default) or nftables"
        )
    raise ProxyError("proxy mode ipvs is not supported by pinnace; use iptables or nftables")


def make_proxier(config: ProxyConfig, state: ProxyState | None = None) -> Proxier:
    check_mode(config)
    state = state or ProxyState(config.node_name)
    if config.mode == "nftables":
        return NftablesProxier(config, state)
    return IptablesProxier(config, state)


async def sync_once(proxier: Proxier, clock: Clock = REAL_CLOCK) -> float | None:
    """One sync with metrics and logs; seconds until it wants to run again."""
    start = time.perf_counter()
    result = await proxier.sync(clock.now())
    if result != "skipped":
        took = time.perf_counter() - start
        metrics.SYNC_DURATION.observe(took)
        (metrics.SYNC_FULL_DURATION if result == "full" else metrics.SYNC_PARTIAL_DURATION).observe(
            took
        )
        metrics.SYNC_LAST_TIMESTAMP.set(time.time())
        log.log(15, "synced %s rules (%s) in %.1f ms", proxier.mode, result, took * 1000)
    wakeup = getattr(proxier, "next_wakeup", None)
    return wakeup(clock.now()) if wakeup is not None else None


async def run_proxy(
    client_config: ClientConfig,
    config: ProxyConfig,
    *,
    ready: asyncio.Event | None = None,
    clock: Clock = REAL_CLOCK,
) -> None:
    """Run kube-proxy until cancelled."""
    proxier = make_proxier(config)
    await asyncio.to_thread(proxier.prepare)  # runs iptables-save & co once: off the loop
    state = proxier.state
    health = ServiceHealthServer(nodeport_ips(config)) if config.healthz_servers else None

    async def guarded() -> float | None:
        try:
            wakeup = await sync_once(proxier, clock)
        except Exception:
            metrics.RESTORE_FAILURES.inc()
            if health is not None:
                health.proxy_healthy = False
            raise
        if health is not None:
            health.proxy_healthy = True
            await health.sync(state.health_check_node_ports(), state.local_ready_endpoints())
        return wakeup

    loop = SyncLoop(
        guarded, min_interval=config.min_sync_period, max_interval=config.sync_period, clock=clock
    )

    def changed(flag: bool) -> None:
        if flag:
            loop.request()

    async with (
        Client.from_config(client_config) as client,
        follow_api_servers_in_background(client),
    ):
        factory = SharedInformerFactory(client, clock=clock)
        svcs = factory.informer(SERVICES, label_selector=SERVICE_SELECTOR)
        slices = factory.informer(ENDPOINTSLICES, label_selector=SERVICE_SELECTOR)
        svcs.add_event_handler(
            on_add=lambda o: changed(state.set_service(o)),
            on_update=lambda _o, n: changed(state.set_service(n)),
            on_delete=lambda o: changed(state.delete_service(o)),
        )
        slices.add_event_handler(
            on_add=lambda o: changed(state.set_slice(o)),
            on_update=lambda _o, n: changed(state.set_slice(n)),
            on_delete=lambda o: changed(state.delete_slice(o)),
        )
        if config.node_name:
            nodes = factory.informer(NODES, field_selector=f"metadata.name={config.node_name}")

            def node_labels(o: Obj) -> None:
                changed(state.set_node_labels((o.get("metadata") or {}).get("labels")))

            nodes.add_event_handler(
                on_add=node_labels,
                on_update=lambda _o, n: node_labels(n),
                on_delete=lambda _o: changed(state.set_node_labels({})),
            )
        factory.start()
        try:
            await svcs.wait_synced()
            await slices.wait_synced()
            log.info(
                "kube-proxy starting in %s mode on node %s", config.mode, config.node_name or "-"
            )
            backoff = max(config.min_sync_period, 0.5)
            while True:
                try:
                    await loop.run_once()
                    break
                except Exception as e:
                    log.error("first proxy sync failed (retrying in %.1fs): %s", backoff, e)
                    await clock.sleep(backoff)
                    backoff = min(config.sync_period, backoff * 2)
            if ready is not None:
                ready.set()
            await loop.run()
        finally:
            if health is not None:
                await health.close()
            await factory.stop()
