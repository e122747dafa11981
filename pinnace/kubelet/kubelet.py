"""The node agent, assembled: runtime, node, pods, probes, volumes, API.

Start-up order: the container runtime (a supervised private containerd unless
``--container-runtime-endpoint`` names one) with the pause image imported;
the Node registered; once the node has a pod CIDR, the CNI configuration; the
kubelet API; then the pod informer (pods bound to this node, by field
selector) and the relist loop feed :class:`~pinnace.kubelet.podworker.PodWorkers`.

Restart safety: nothing about running pods lives only in this process. A new
agent adopts the running containerd, rebuilds its view from CRI labels and
annotations, and its workers find the sandboxes and containers already
running, so pods are neither restarted nor run twice; runtime pods whose UID
is no longer in the API (deleted while the agent was down) are stopped and
removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pinnace.client import Client, ClientConfig, Obj
from pinnace.client.apiservers import follow_api_servers_in_background
from pinnace.client.events import EventRecorder
from pinnace.client.informer import Informer
from pinnace.client.objects import PODS
from pinnace.kubelet.cgroups import apply_qos_resources
from pinnace.kubelet.cni import (
    enable_bridge_netfilter,
    ensure_bridge,
    ensure_masquerade,
    ensure_service_route,
    write_conflist,
)
from pinnace.kubelet.config import KubeletConfig
from pinnace.kubelet.cri.client import CRIError, RuntimeClient
from pinnace.kubelet.eviction import EVICTED, Eviction, EvictionManager, active
from pinnace.kubelet.images import ImageManager
from pinnace.kubelet.node import NodeAgent, RuntimeState, host_capacity, node_addresses
from pinnace.kubelet.podconfig import qos_resources
from pinnace.kubelet.podworker import PodServices, PodSyncer, PodWorkers
from pinnace.kubelet.runtime import RuntimeView

__all__ = ["Kubelet", "run_kubelet"]

log = logging.getLogger("pinnace.kubelet")

#: upstream KubeletConfiguration eventRecordQPS / eventBurst defaults
EVENT_RECORD_QPS = 50.0
EVENT_BURST = 100


def _meminfo_bytes() -> int:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


class Kubelet:
    def __init__(
        self,
        client: Client,
        config: KubeletConfig,
        *,
        server_factory: Callable[[Kubelet], Any] | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.server_factory = server_factory
        self.containerd: Any = None
        self.runtime: RuntimeClient | None = None
        self.view: RuntimeView | None = None
        self.node: NodeAgent | None = None
        self.workers: PodWorkers | None = None
        self.syncer: PodSyncer | None = None
        self.informer: Informer | None = None
        self.server: Any = None
        # events have their own budget (upstream's eventRecordQPS/eventBurst, 50/100)
        self.recorder = EventRecorder(
            client.with_own_limits(EVENT_RECORD_QPS, EVENT_BURST), "kubelet", config.node_name
        )
        self.ready = asyncio.Event()
        self._trimmed_once = False
        self._relist_next: asyncio.Future[set[str]] | None = None
        self._relist_runner: asyncio.Task[None] | None = None
        self._host_ip = node_addresses(config.node_name, config.node_ip)[0]["address"]
        self.prober: Any = None
        self.volumes: Any = None
        self._liveness: dict[tuple[str, str], str] = {}
        self._qos_lock = asyncio.Lock()
        self._capacity: dict[str, str] | None = None

    # --- runtime --------------------------------------------------------------------------

    async def _start_runtime(self) -> RuntimeClient:
        if self.config.container_runtime_endpoint:
            rt = RuntimeClient(self.config.container_runtime_endpoint)
            await rt.connect()
            return rt
        from pinnace.image import PAUSE_IMAGE
        from pinnace.kubelet.containerd import Containerd

        registry_dir = None
        if self.config.registry_config is not None:
            from pinnace.image.registries import RegistriesConfig

            registry_dir = self.config.containerd_dir / "certs.d"
            RegistriesConfig.load(self.config.registry_config).write_hosts_dir(registry_dir)
        self.config.cni_conf_dir.mkdir(parents=True, exist_ok=True)
        self.containerd = Containerd(
            self.config.containerd_dir,
            sandbox_image=PAUSE_IMAGE,
            cni_conf_dir=self.config.cni_conf_dir,
            cni_bin_dir=self.config.cni_bin_dir,
            registry_config_dir=registry_dir,
        )
        await self.containerd.start()
        await self.containerd.wait_ready()
        rt = RuntimeClient(self.containerd.address)
        await rt.connect()
        await self._ensure_pause_image(rt, PAUSE_IMAGE)
        return rt

    async def _ensure_pause_image(self, rt: RuntimeClient, ref: str) -> None:
        if await rt.image_status(ref) is not None:
            return
        from pinnace.image.importer import import_into_containerd
        from pinnace.image.recipes import build

        layout = self.config.root_dir / "images" / "pause"
        await asyncio.to_thread(build, "pause", layout, ref=ref)
        assert self.containerd is not None
        await import_into_containerd(layout, ref, address=self.containerd.address)
        log.info("imported the pause image %s", ref)

    async def runtime_state(self) -> RuntimeState:
        rt = self.runtime
        if rt is None:
            return RuntimeState(message="container runtime is starting")
        try:
            version = await rt.version()
            conds = await rt.conditions()
            images = await rt.list_images()
        except CRIError as e:
            return RuntimeState(message=f"container runtime is down: {e}")
        runtime = conds.get("RuntimeReady")
        network = conds.get("NetworkReady")
        msg = ""
        if not (network and network.status):
            msg = (
                "container runtime network not ready: NetworkReady=false "
                f"reason:{network.reason if network else ''} "
                f"message:{network.message if network else ''}"
            )
        listed = sorted(images, key=lambda i: -int(i.size))
        return RuntimeState(
            version=f"{version.runtime_name}://{version.runtime_version}",
            runtime_ready=bool(runtime and runtime.status),
            network_ready=bool(network and network.status),
            message=msg,
            images=[
                {"names": list(i.repo_digests) + list(i.repo_tags), "sizeBytes": int(i.size)}
                for i in listed
            ],
        )

    # --- relist -----------------------------------------------------------------------------

    async def relist(self) -> set[str]:
        """A relist that starts after this call (so it sees what the caller just did).

        Callers arriving while one runs share the next one instead of queueing a
        relist each: with 30 pods starting at once, workers would otherwise wait
        behind each other's full relists (measured: 0.3 s median wait for 24 ms
        of work)."""
        assert self.view is not None
        if self._relist_next is None:
            self._relist_next = asyncio.get_running_loop().create_future()
            if self._relist_runner is None or self._relist_runner.done():
                self._relist_runner = asyncio.create_task(
                    self._run_relists(), name="kubelet-relist-run"
                )
        return await asyncio.shield(self._relist_next)

    async def _run_relists(self) -> None:
        assert self.view is not None
        while self._relist_next is not None:
            fut, self._relist_next = self._relist_next, None
            try:
                fut.set_result(await self.view.relist())
            except Exception as e:
                fut.set_exception(e)
                fut.exception()  # retrieved here: each waiter re-raises it

    async def _relist_loop(self) -> None:
        assert self.view is not None and self.workers is not None and self.informer is not None
        while True:
            try:
                changed = await self.relist()
            except CRIError as e:
                log.warning("relisting the runtime failed: %s", e)
                changed = set()
            for uid in changed:
                self.workers.update(uid)
            if self.informer.has_synced():
                known = {p["metadata"]["uid"] for p in self.informer.list()}
                for uid in set(self.view.pods) - known - self.workers.known():
                    log.info("stopping runtime pod %s: not in the API", uid)
                    self.workers.update(uid)
            await asyncio.sleep(self.config.relist_period)

    # --- pods ------------------------------------------------------------------------------

    def get_pod(self, uid: str) -> Obj | None:
        assert self.informer is not None
        for p in self.informer.store.by_index("uid", uid):
            return p
        return None

    def _on_pod(self, pod: Obj, *_: Obj) -> None:
        if self.workers is not None:
            self.workers.update(pod["metadata"]["uid"])

    def event(self, pod: Obj, type_: str, reason: str, message: str, field_path: str) -> None:
        self.recorder.event(pod, type_, reason, message, kind="Pod", api_version="v1",
                            field_path=field_path or None)  # fmt: skip

    def _services(self) -> PodServices:
        from pinnace.kubelet import services

        return services.build(self)

    # --- run ------------------------------------------------------------------------------

    async def run(self) -> None:
        cfg = self.config
        for d in (cfg.root_dir, cfg.pods_dir, cfg.logs_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.runtime = await self._start_runtime()
        self.view = RuntimeView(self.runtime)
        if self.server_factory is not None:
            self.server = self.server_factory(self)
            await self.server.start()
        self.node = NodeAgent(
            self.client,
            cfg,
            runtime_state=self.runtime_state,
            kubelet_port=lambda: int(getattr(self.server, "port", cfg.port) or cfg.port),
        )
        images = ImageManager(self.runtime, event=self.event, credentials=self._credentials())
        self.syncer = PodSyncer(
            self.client, cfg, self.runtime, self.view, images, self._services(),
            host_ip=lambda: self._host_ip, memory_capacity=_meminfo_bytes(),
            relist=self._relist_for_worker,
        )  # fmt: skip
        self.informer = Informer(
            self.client,
            PODS,
            field_selector=f"spec.nodeName={cfg.node_name}",
            indexers={"uid": lambda p: [p["metadata"]["uid"]]},
        )
        self.workers = PodWorkers(self.syncer, self.get_pod)
        self.informer.add_event_handler(
            on_add=self._on_pod, on_update=self._on_pod, on_delete=self._on_pod
        )
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.node.run(), name="kubelet-node")
                await self.node.pod_cidr_known.wait()
                assert self.node.pod_cidr is not None
                write_conflist(
                    cfg.cni_conf_dir, self.node.pod_cidr, bridge=cfg.cni_bridge,
                    ipam_dir=cfg.cni_state_dir,
                )  # fmt: skip
                try:
                    await asyncio.to_thread(ensure_masquerade, self.node.pod_cidr, cfg.cni_bridge)
                except (OSError, RuntimeError) as e:
                    log.warning("pods cannot reach outside their network: %s", e)
                try:
                    await asyncio.to_thread(self._ensure_node_network, self.node.pod_cidr)
                except (OSError, RuntimeError) as e:
                    log.warning("cannot route the service CIDR %s: %s", cfg.service_cidr, e)
                log.info("pod network %s on bridge %s", self.node.pod_cidr, cfg.cni_bridge)
                self.node.status_changed.set()
                await self.relist()
                tg.create_task(self.informer.run(), name="kubelet-pods")
                tg.create_task(self._relist_loop(), name="kubelet-relist")
                if self.prober is not None and hasattr(self.prober, "run"):
                    tg.create_task(self.prober.run(), name="kubelet-probes")
                tg.create_task(self._trim_loop(), name="kubelet-trim")
                tg.create_task(self._qos_loop(), name="kubelet-qos")
                tg.create_task(self._eviction_manager().run(), name="kubelet-eviction")
                self.ready.set()
        finally:
            await self._shutdown()

    def _eviction_manager(self) -> EvictionManager:
        from pinnace.kubelet.services import Backend

        cfg = self.config
        stats = Backend(self)
        return EvictionManager(
            active_pods=lambda: active(self.informer.list() if self.informer else []),
            summary=stats.stats_summary,
            evict=self._evict,
            thresholds=cfg.eviction_thresholds(),
            interval=cfg.housekeeping_interval,
        )

    async def _evict(self, eviction: Eviction) -> None:
        assert self.syncer is not None and self.workers is not None
        pod = eviction.pod
        if not self.syncer.request_eviction(eviction):
            return
        m = pod["metadata"]
        log.info("evicting pod %s/%s: %s", m.get("namespace"), m["name"], eviction.message)
        self.event(pod, "Warning", EVICTED, eviction.message, "")
        self.workers.update(m["uid"])

    def _ensure_node_network(self, pod_cidr: str) -> None:
        """The bridge exists before the first pod, service VIPs stay on the
        node, and iptables sees bridged traffic (see :mod:`pinnace.kubelet.cni`)."""
        cfg = self.config
        ensure_bridge(cfg.cni_bridge, pod_cidr)
        if cfg.service_cidr:
            ensure_service_route(cfg.service_cidr, cfg.cni_bridge)
        enable_bridge_netfilter()

    async def update_qos_cgroups(self) -> None:
        """Size the QoS-level cgroups for the pods this node runs now (one
        update at a time, each from the pods of that moment)."""
        cfg = self.config
        async with self._qos_lock:
            if self._capacity is None:
                self._capacity = host_capacity(cfg.root_dir, max_pods=cfg.max_pods)
            pods = [
                p
                for p in (self.informer.list() if self.informer is not None else [])
                if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            ]
            res = qos_resources(pods, self._capacity, (cfg.kube_reserved, cfg.system_reserved))
            await asyncio.to_thread(apply_qos_resources, res, root=cfg.cgroup_root)

    async def _qos_loop(self) -> None:
        """Upstream refreshes the QoS cgroups every minute besides on pod
        changes; that also covers pods adopted after a restart. The first
        update waits for the pod list (at most 30 s)."""
        if self.informer is not None:
            await self.informer.wait_synced(30.0)
        while True:
            try:
                await self.update_qos_cgroups()
            except OSError as e:
                log.warning("updating the QoS cgroups: %s", e)
            await asyncio.sleep(60.0)

    async def _trim_loop(self) -> None:
        """Give freed memory back to the system now and then: start-up (imports,
        the first lists) leaves free heap that glibc keeps otherwise."""
        import ctypes
        import gc

        try:
            trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            return
        while True:
            await asyncio.sleep(2.0 if not self._trimmed_once else 60.0)
            self._trimmed_once = True
            gc.collect()
            trim(0)

    async def _relist_for_worker(self) -> None:
        assert self.workers is not None
        for uid in await self.relist():
            self.workers.update(uid)

    def _credentials(self) -> Callable[[Obj, str], Awaitable[Any]] | None:
        from pinnace.kubelet import services

        return services.credentials(self)

    async def _shutdown(self) -> None:
        if self._relist_runner is not None:
            self._relist_runner.cancel()
        if self.workers is not None:
            await self.workers.stop()
        if self.server is not None:
            with contextlib.suppress(Exception):
                await self.server.stop()
        if self.runtime is not None:
            await self.runtime.close()
        if self.containerd is not None:
            if self.config.stop_runtime_on_exit:
                await self.containerd.stop()
            else:
                await self.containerd.close()
        await self.recorder.stop()


#: the kubelet's one-shot API requests in flight at once (so the connections
#: they need; watches are not counted). Starting a batch of
#: pods makes bursts of ~100 requests (tokens, ConfigMaps, status, events):
#: without a cap each burst opened that many new TLS connections, and their
#: handshakes cost the API server more than the requests themselves.
API_REQUESTS_IN_FLIGHT = 8


async def run_kubelet(client_config: ClientConfig, config: KubeletConfig) -> None:
    """Run a kubelet until cancelled (what ``pinnace agent`` and ``pinnace up`` call)."""
    from pinnace.kubelet import services

    async with Client.from_config(
        client_config, max_requests_in_flight=API_REQUESTS_IN_FLIGHT
    ) as client:
        kubelet = Kubelet(client, config, server_factory=services.server_factory(client_config))
        async with follow_api_servers_in_background(client):
            await kubelet.run()
