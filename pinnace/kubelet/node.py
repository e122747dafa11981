"""The Node object a kubelet keeps: registration, status and the heartbeat Lease.

Upstream's split is kept: the Lease in ``kube-node-lease`` is the cheap
heartbeat (renewed every ``leaseDuration/4``), while the Node's status is
recomputed every ``nodeStatusUpdateFrequency`` but only *sent* when something
in it changed or ``nodeStatusReportFrequency`` has passed. Everything the
status says comes from the host (``/proc``, ``statvfs``, ``uname``) and from
the container runtime (readiness, version, images) through injected callables,
so this module knows nothing of CRI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from pinnace import aio
from pinnace.api.quantity import parse_quantity
from pinnace.client import Client, Obj
from pinnace.client.clock import REAL_CLOCK, Clock
from pinnace.client.errors import AlreadyExists, ApiError, NotFound
from pinnace.client.objects import LEASES, NODES
from pinnace.kubelet.config import KubeletConfig
from pinnace.netutil import default_route_ip

__all__ = [
    "KUBELET_VERSION",
    "NodeAgent",
    "RuntimeState",
    "host_capacity",
    "node_addresses",
]

log = logging.getLogger("pinnace.kubelet.node")

KUBELET_VERSION = "v1.32.0+pinnace"
NODE_LEASE_NAMESPACE = "kube-node-lease"
FIELD_MANAGER = "kubelet"
MAX_IMAGES_IN_STATUS = 50


@dataclass
class RuntimeState:
    """What the container runtime says about itself (CRI ``Version``/``Status``)."""

    version: str = ""
    runtime_ready: bool = False
    network_ready: bool = False
    message: str = ""
    images: list[Obj] = field(default_factory=list)
    """``[{names: [...], sizeBytes: N}]``, biggest first."""


def _format_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _format_micro(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _read(path: str, default: str = "") -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default


def _meminfo_kib() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def host_capacity(root_dir: Path, *, max_pods: int) -> dict[str, str]:
    """``status.capacity`` from the host: CPUs, memory, disk under ``root_dir``, pods."""
    st = os.statvfs(root_dir)
    return {
        "cpu": str(os.cpu_count() or 1),
        "ephemeral-storage": f"{st.f_blocks * st.f_frsize // 1024}Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": f"{_meminfo_kib()}Ki",
        "pods": str(max_pods),
    }


def _q(text: str) -> Fraction:
    return parse_quantity(text)


def allocatable(capacity: dict[str, str], config: KubeletConfig) -> dict[str, str]:
    """Capacity minus kube/system reservations and the hard eviction threshold for
    memory (upstream's node allocatable formula), never below zero."""
    out = dict(capacity)
    for res in ("cpu", "memory", "ephemeral-storage", "pods"):
        if res not in capacity:
            continue
        total = _q(capacity[res])
        minus = _q(config.kube_reserved.get(res, "0")) + _q(config.system_reserved.get(res, "0"))
        if res == "memory":
            minus += _q(config.eviction_hard_memory)
        left = max(total - minus, Fraction(0))
        if res == "cpu":
            out[res] = str(int(left)) if left.denominator == 1 else f"{int(left * 1000)}m"
        elif res == "pods":
            out[res] = str(int(left))
        else:
            out[res] = f"{int(left) // 1024}Ki"
    return out


def node_addresses(node_name: str, node_ip: str | None) -> list[Obj]:
    ip = node_ip or default_route_ip() or "127.0.0.1"
    return [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": node_name}]


# (type, (reason, message) when fine, (reason, message) under pressure)
_CONDITIONS: tuple[tuple[str, tuple[str, str], tuple[str, str]], ...] = (
    ("MemoryPressure",
     ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
     ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available")),
    ("DiskPressure",
     ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
     ("KubeletHasDiskPressure", "kubelet has disk pressure")),
    ("PIDPressure",
     ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
     ("KubeletHasInsufficientPID", "kubelet has insufficient PID available")),
)  # fmt: skip
NODEFS_MIN_AVAILABLE = 0.10  # upstream's evictionHard nodefs.available<10%
PID_MAX_USED = 0.90


def pressures(
    root_dir: Path, memory_threshold_bytes: int, nodefs_min_available: float = NODEFS_MIN_AVAILABLE
) -> dict[str, bool]:
    """Which resources are below upstream's hard eviction thresholds right now:
    memory.available (MemAvailable) < the threshold, nodefs.available < 10 %
    (the filesystem holding ``root_dir``), and processes > 90 % of pid_max.
    (The eviction manager, :mod:`pinnace.kubelet.eviction`, acts on them.)"""
    mem_available = None
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemAvailable:"):
            mem_available = int(line.split()[1]) * 1024
    st = os.statvfs(root_dir)
    disk_ok = st.f_blocks == 0 or st.f_bavail / st.f_blocks >= nodefs_min_available
    pid_max = int(_read("/proc/sys/kernel/pid_max", "0") or 0)
    running = 0
    with contextlib.suppress(OSError):
        running = sum(1 for name in os.listdir("/proc") if name.isdigit())
    return {
        "MemoryPressure": mem_available is not None and mem_available < memory_threshold_bytes,
        "DiskPressure": not disk_ok,
        "PIDPressure": pid_max > 0 and running > PID_MAX_USED * pid_max,
    }


class NodeAgent:
    """Registers the Node, keeps its status and Lease fresh.

    ``runtime_state`` is awaited for each status computation; ``kubelet_port``
    is read when the status is built (the API server is bound first).
    """

    def __init__(
        self,
        client: Client,
        config: KubeletConfig,
        *,
        runtime_state: Callable[[], Awaitable[RuntimeState]],
        kubelet_port: Callable[[], int],
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.client = client
        self.config = config
        self.runtime_state = runtime_state
        self.kubelet_port = kubelet_port
        self.clock = clock
        self.node: Obj | None = None
        self.pod_cidr: str | None = config.pod_cidr
        self.pod_cidr_known = asyncio.Event()
        self._boot_id = _read("/proc/sys/kernel/random/boot_id") or str(uuid.uuid4())
        self._last_sent: Obj | None = None
        self._last_sent_at = 0.0
        self._transitions: dict[str, tuple[str, str]] = {}
        self.status_changed = asyncio.Event()

    @property
    def name(self) -> str:
        return self.config.node_name

    # --- the Node object ---------------------------------------------------------------

    def _labels(self) -> dict[str, str]:
        arch = _arch()
        return {
            "beta.kubernetes.io/arch": arch,
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": arch,
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            **self.config.node_labels,
        }

    def _new_node(self) -> Obj:
        spec: Obj = {}
        if self.config.register_with_taints:
            spec["taints"] = [dict(t) for t in self.config.register_with_taints]
        if self.config.pod_cidr:
            spec["podCIDR"] = self.config.pod_cidr
            spec["podCIDRs"] = [self.config.pod_cidr]
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": self._labels(),
                "annotations": {
                    "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                },
            },
            "spec": spec,
        }

    async def register(self) -> Obj:
        """Create the Node, or adopt the existing one (refreshing our labels)."""
        while True:
            # as upstream's initialNode: the Node is created with its status, so
            # no reader ever sees it without capacity and conditions
            body = self._new_node()
            body["status"] = await self.build_status()
            try:
                node = await self.client.create(NODES, body, field_manager=FIELD_MANAGER)
                log.info("registered node %s", self.name)
                break
            except AlreadyExists:
                try:
                    node = await self.client.patch(
                        NODES,
                        self.name,
                        {"metadata": {"labels": self._labels()}},
                        field_manager=FIELD_MANAGER,
                    )
                    log.info("node %s already registered; adopted it", self.name)
                    break
                except NotFound:
                    continue  # deleted in between: create again
            except ApiError as e:
                log.warning("registering node %s failed: %s (retrying)", self.name, e)
                await self.clock.sleep(2.0)
        self._observe(node)
        return node

    def _observe(self, node: Obj) -> None:
        self.node = node
        cidr = (node.get("spec") or {}).get("podCIDR")
        if cidr and not self.pod_cidr:
            self.pod_cidr = cidr
        if self.pod_cidr:
            self.pod_cidr_known.set()

    # --- status ---------------------------------------------------------------------------

    def _conditions(self, rt: RuntimeState, now: str) -> list[Obj]:
        ready = rt.runtime_ready and rt.network_ready
        if ready:
            ready_cond = ("True", "KubeletReady", "kubelet is posting ready status")
        else:
            ready_cond = ("False", "KubeletNotReady", rt.message or "container runtime is down")
        thresholds = self.config.eviction_thresholds()
        under = pressures(
            self.config.root_dir, thresholds.memory_available, thresholds.nodefs_available
        )
        wanted = [
            (t, "True", *bad) if under.get(t) else (t, "False", *fine)
            for t, fine, bad in _CONDITIONS
        ]
        wanted.append(("Ready", *ready_cond))
        out: list[Obj] = []
        for type_, status, reason, message in wanted:
            prev = self._transitions.get(type_)
            if prev is None or prev[0] != status:
                self._transitions[type_] = (status, now)
            out.append(
                {
                    "type": type_,
                    "status": status,
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": self._transitions[type_][1],
                    "reason": reason,
                    "message": message,
                }
            )
        return out

    async def build_status(self) -> Obj:
        rt = await self.runtime_state()
        now = _format_time(datetime.now(UTC))
        capacity = host_capacity(self.config.root_dir, max_pods=self.config.max_pods)
        return {
            "capacity": capacity,
            "allocatable": allocatable(capacity, self.config),
            "conditions": self._conditions(rt, now),
            "addresses": node_addresses(self.name, self.config.node_ip),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port()}},
            "nodeInfo": {
                "machineID": _read("/etc/machine-id") or self._boot_id.replace("-", ""),
                "systemUUID": _read("/sys/class/dmi/id/product_uuid") or self._boot_id,
                "bootID": self._boot_id,
                "kernelVersion": platform.release(),
                "osImage": _os_image(),
                "containerRuntimeVersion": rt.version,
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": _arch(),
            },
            "images": rt.images[:MAX_IMAGES_IN_STATUS],
        }

    @staticmethod
    def _comparable(status: Obj) -> Any:
        """The status without heartbeat times (they change every time)."""
        conds = [
            {k: v for k, v in c.items() if k != "lastHeartbeatTime"}
            for c in status.get("conditions", [])
        ]
        return {**status, "conditions": conds}

    async def sync_status(self, *, force: bool = False) -> bool:
        """Send the status if it changed (or the report period passed). True if sent."""
        status = await self.build_status()
        now = self.clock.now()
        changed = self._last_sent is None or self._comparable(status) != self._comparable(
            self._last_sent
        )
        due = now - self._last_sent_at >= self.config.node_status_report_frequency
        if not (changed or due or force):
            return False
        try:
            node = await self.client.patch_status(
                NODES, self.name, {"status": status}, field_manager=FIELD_MANAGER
            )
        except NotFound:
            log.warning("node %s was deleted; registering it again", self.name)
            await self.register()
            return False
        self._observe(node)
        self._log_readiness(status)
        self._last_sent = status
        self._last_sent_at = now
        return True

    def _log_readiness(self, status: Obj) -> None:
        """One clear line when the node becomes Ready (or stops being Ready)."""

        def ready(s: Obj | None) -> str:
            conds = (s or {}).get("conditions") or []
            return next((c["status"] for c in conds if c["type"] == "Ready"), "Unknown")

        now, before = ready(status), ready(self._last_sent)
        if now == before:
            return
        if now == "True":
            log.info("node %s is Ready", self.name)
        elif before == "True":
            log.warning("node %s is not Ready any more", self.name)

    # --- lease ----------------------------------------------------------------------------

    async def renew_lease(self) -> None:
        now = _format_micro(datetime.now(UTC))
        spec = {
            "holderIdentity": self.name,
            "leaseDurationSeconds": self.config.node_lease_duration,
            "renewTime": now,
        }
        try:
            await self.client.patch(
                LEASES, self.name, {"spec": spec}, namespace=NODE_LEASE_NAMESPACE
            )
            return
        except NotFound:
            pass
        meta: Obj = {"name": self.name, "namespace": NODE_LEASE_NAMESPACE}
        if self.node is not None:
            meta["ownerReferences"] = [
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "name": self.name,
                    "uid": self.node["metadata"]["uid"],
                }
            ]
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta}
        lease["spec"] = {**spec, "acquireTime": now}
        with contextlib.suppress(AlreadyExists):
            await self.client.create(LEASES, lease, namespace=NODE_LEASE_NAMESPACE)

    # --- loops ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Register, then keep the Lease and status fresh until cancelled."""
        await self.register()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._lease_loop(), name="node-lease")
            tg.create_task(self._status_loop(), name="node-status")

    async def _lease_loop(self) -> None:
        interval = self.config.node_lease_duration / 4
        while True:
            try:
                await self.renew_lease()
            except ApiError as e:
                log.warning("renewing the node lease failed: %s", e)
            except OSError as e:
                log.warning("renewing the node lease failed: %s", e)
            await self.clock.sleep(interval)

    async def _status_loop(self) -> None:
        while True:
            try:
                await self.sync_status()
            except (ApiError, OSError) as e:
                log.warning("updating node status failed: %s", e)
            self.status_changed.clear()
            with contextlib.suppress(TimeoutError):
                await aio.wait_for(
                    self.status_changed.wait(), self.config.node_status_update_frequency
                )
            if not self.pod_cidr:
                with contextlib.suppress(ApiError, OSError):
                    self._observe(await self.client.get(NODES, self.name))
