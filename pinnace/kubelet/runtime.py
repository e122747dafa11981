"""The kubelet's view of the container runtime: what runs, per pod.

``RuntimeView.relist()`` asks CRI for every sandbox and container (two list
calls) and groups them by pod UID (the ``io.kubernetes.pod.uid`` label), so
one relist per second is cheap; details that lists do not carry (exit codes,
reasons, times, pod IPs) come from per-object status calls whose answers are
cached, since a sandbox's IP and an exited container's status never change.
Like upstream's PLEG, the relist also reports which pods changed, so only
their workers wake up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pinnace.kubelet.cri import api_pb2 as cri
from pinnace.kubelet.cri.client import CRIError, RuntimeClient
from pinnace.kubelet.podconfig import (
    ANN_CONTAINER_HASH,
    ANN_RESTART_COUNT,
    LABEL_CONTAINER_NAME,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
)

__all__ = ["ContainerInfo", "PodRuntime", "RuntimeView", "SandboxInfo"]

log = logging.getLogger("pinnace.kubelet.runtime")

RUNNING = cri.CONTAINER_RUNNING
EXITED = cri.CONTAINER_EXITED
CREATED = cri.CONTAINER_CREATED


@dataclass
class SandboxInfo:
    id: str
    attempt: int
    ready: bool
    created_at: int
    ip: str = ""


@dataclass
class ContainerInfo:
    id: str
    sandbox_id: str
    name: str
    attempt: int
    state: int
    created_at: int
    image: str
    image_ref: str
    restart_count: int
    hash: str
    annotations: dict[str, str]
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    log_path: str = ""

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    @property
    def exited(self) -> bool:
        return self.state in (EXITED, cri.CONTAINER_UNKNOWN)


@dataclass
class PodRuntime:
    uid: str
    name: str = ""
    namespace: str = ""
    sandboxes: list[SandboxInfo] = field(default_factory=list)
    """Newest first."""
    containers: list[ContainerInfo] = field(default_factory=list)
    """Newest first."""

    @property
    def sandbox(self) -> SandboxInfo | None:
        return self.sandboxes[0] if self.sandboxes else None

    def latest(self, name: str) -> ContainerInfo | None:
        for c in self.containers:
            if c.name == name:
                return c
        return None

    def previous(self, name: str) -> ContainerInfo | None:
        seen = False
        for c in self.containers:
            if c.name == name:
                if seen:
                    return c
                seen = True
        return None

    def running_containers(self) -> list[ContainerInfo]:
        return [c for c in self.containers if c.running or c.state == CREATED]

    def fingerprint(self) -> tuple[object, ...]:
        return (
            tuple((s.id, s.ready) for s in self.sandboxes),
            tuple((c.id, c.state) for c in self.containers),
        )


class RuntimeView:
    def __init__(self, runtime: RuntimeClient) -> None:
        self.runtime = runtime
        self.pods: dict[str, PodRuntime] = {}
        self._status_cache: dict[str, cri.ContainerStatus] = {}
        self._ip_cache: dict[str, str] = {}
        self._fingerprints: dict[str, tuple[object, ...]] = {}
        # refresh_pod: a sequence number per refresh, and each pod's latest
        self._seq = 0
        self._refreshed: dict[str, int] = {}

    async def relist(self) -> set[str]:
        """Refresh ``pods``; returns the UIDs whose runtime state changed."""
        began = self._seq
        sandboxes = await self.runtime.list_pod_sandbox()
        containers = await self.runtime.list_containers()
        pods = await self._build(sandboxes, containers)
        live_ids = {c.id for c in containers} | {s.id for s in sandboxes}
        for cache in (self._status_cache, self._ip_cache):
            for key in [k for k in cache if k not in live_ids]:
                del cache[key]
        # A pod refreshed on its own after this relist began (refresh_pod) is
        # newer here than in the lists above: keep that view of it.
        for uid, seq in list(self._refreshed.items()):
            if seq > began:
                if uid in self.pods:
                    pods[uid] = self.pods[uid]
                else:
                    pods.pop(uid, None)
            else:
                del self._refreshed[uid]
        changed: set[str] = set()
        for uid in set(pods) | set(self._fingerprints):
            fp = pods[uid].fingerprint() if uid in pods else None
            if fp != self._fingerprints.get(uid):
                changed.add(uid)
                if fp is None:
                    self._fingerprints.pop(uid, None)
                else:
                    self._fingerprints[uid] = fp
        self.pods = pods
        return changed

    async def refresh_pod(self, uid: str) -> PodRuntime:
        """Re-read one pod's sandboxes and containers (lists filtered by its
        UID label, as upstream reads a new sandbox's status instead of waiting
        for the next relist) and return its new view. A relist that began
        before this call keeps this newer view of the pod."""
        labels = {LABEL_POD_UID: uid}
        sandboxes = await self.runtime.list_pod_sandbox(label_selector=labels)
        containers = await self.runtime.list_containers(label_selector=labels)
        pod = (await self._build(sandboxes, containers)).get(uid) or PodRuntime(uid)
        self._remember(uid, pod)
        return pod

    async def sandbox_created(
        self, uid: str, sandbox_id: str, removed: Iterable[str] = ()
    ) -> PodRuntime:
        """The pod's view once ``sandbox_id`` was made for it and the ``removed``
        sandboxes (with their containers) are gone: one ``PodSandboxStatus``
        call, as upstream reads a new sandbox's IP, instead of re-listing. A
        relist that began before this call keeps this view (see
        :meth:`refresh_pod`)."""
        status = await self.runtime.pod_sandbox_status(sandbox_id)
        ready = status.state == cri.SANDBOX_READY
        ip = status.network.ip if ready else ""
        if ip:
            self._ip_cache[sandbox_id] = ip
        old = self.pods.get(uid) or PodRuntime(uid)
        gone = {*removed, sandbox_id}
        meta = status.metadata
        pod = PodRuntime(
            uid,
            name=meta.name or old.name,
            namespace=meta.namespace or old.namespace,
            sandboxes=[
                SandboxInfo(sandbox_id, meta.attempt, ready, status.created_at, ip),
                *(s for s in old.sandboxes if s.id not in gone),
            ],
            containers=[c for c in old.containers if c.sandbox_id not in gone],
        )
        self._remember(uid, pod)
        return pod

    def _remember(self, uid: str, pod: PodRuntime) -> None:
        self._seq += 1
        self._refreshed[uid] = self._seq
        self.pods = {**self.pods, uid: pod}
        self._fingerprints[uid] = pod.fingerprint()

    async def _build(
        self, sandboxes: Sequence[cri.PodSandbox], containers: Sequence[cri.Container]
    ) -> dict[str, PodRuntime]:
        """The pods these runtime objects make up, statuses filled in."""
        # The per-object status calls run concurrently: while pods start in a
        # batch the runtime answers each slowly, and one after another they
        # made a relist (which every starting pod waits for) take seconds.
        ips = dict(
            zip(
                [sb.id for sb in sandboxes],
                await asyncio.gather(
                    *(self._ip(sb.id, sb.state == cri.SANDBOX_READY) for sb in sandboxes)
                ),
                strict=True,
            )
        )
        pods: dict[str, PodRuntime] = {}
        for sb in sandboxes:
            uid = sb.labels.get(LABEL_POD_UID) or sb.metadata.uid
            pod = pods.setdefault(uid, PodRuntime(uid))
            pod.name = sb.metadata.name
            pod.namespace = sb.metadata.namespace
            ready = sb.state == cri.SANDBOX_READY
            pod.sandboxes.append(
                SandboxInfo(sb.id, sb.metadata.attempt, ready, sb.created_at, ips[sb.id])
            )  # fmt: skip
        infos: list[ContainerInfo] = []
        for c in containers:
            uid = c.labels.get(LABEL_POD_UID)
            if not uid:
                continue
            pod = pods.setdefault(uid, PodRuntime(uid))
            pod.name = pod.name or c.labels.get(LABEL_POD_NAME, "")
            pod.namespace = pod.namespace or c.labels.get(LABEL_POD_NAMESPACE, "")
            info = ContainerInfo(
                id=c.id,
                sandbox_id=c.pod_sandbox_id,
                name=c.labels.get(LABEL_CONTAINER_NAME, c.metadata.name),
                attempt=c.metadata.attempt,
                state=c.state,
                created_at=c.created_at,
                image=c.image.image,
                image_ref=c.image_ref,
                restart_count=int(c.annotations.get(ANN_RESTART_COUNT, c.metadata.attempt) or 0),
                hash=c.annotations.get(ANN_CONTAINER_HASH, ""),
                annotations=dict(c.annotations),
            )
            infos.append(info)
            pod.containers.append(info)
        await asyncio.gather(*(self._fill_status(info) for info in infos))
        for pod in pods.values():
            pod.sandboxes.sort(key=lambda s: s.created_at, reverse=True)
            pod.containers.sort(key=lambda c: (c.attempt, c.created_at), reverse=True)
        return pods

    async def _ip(self, sandbox_id: str, ready: bool) -> str:
        if sandbox_id in self._ip_cache:
            return self._ip_cache[sandbox_id]
        if not ready:
            return ""
        try:
            sb_status = await self.runtime.pod_sandbox_status(sandbox_id)
        except CRIError as e:
            log.debug("sandbox %s status: %s", sandbox_id[:12], e)
            return ""
        ip = sb_status.network.ip
        self._ip_cache[sandbox_id] = ip
        return ip

    async def _fill_status(self, info: ContainerInfo) -> None:
        status = self._status_cache.get(info.id)
        if status is None or status.state != info.state:
            try:
                status = await self.runtime.container_status(info.id)
            except CRIError as e:
                log.debug("container %s status: %s", info.id[:12], e)
                return
            if status.state in (EXITED, RUNNING):
                self._status_cache[info.id] = status
        info.state = status.state
        info.started_at = status.started_at
        info.finished_at = status.finished_at
        info.exit_code = status.exit_code
        info.reason = status.reason
        info.message = status.message
        info.log_path = status.log_path
        if status.image_ref:
            info.image_ref = status.image_ref

    def get(self, uid: str) -> PodRuntime:
        return self.pods.get(uid) or PodRuntime(uid)

    def forget(self, ids: Iterable[str]) -> None:
        for i in ids:
            self._status_cache.pop(i, None)
            self._ip_cache.pop(i, None)
