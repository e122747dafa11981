"""Driving one pod's containers toward its spec: the kubelet's sync loop.

One asyncio task per pod UID (:class:`PodWorkers`) runs :meth:`PodSyncer.sync`
whenever something about the pod may have changed: the pod in the API, the
runtime state (the relist), a probe result, a back-off timer, or the periodic
resync (configMap/secret volume refresh). Each sync is level-triggered:
it looks at the whole desired state (the pod) and the whole actual state
(:class:`~pinnace.kubelet.runtime.PodRuntime`), takes the next steps —
sandbox, then init containers one at a time, then every container — and
reports the resulting status. After it acts it asks for a fresh relist
before looking again, so a container is never started twice from a stale
view.

Termination: a pod with ``deletionTimestamp`` (or gone from the API, or
terminal) has its containers stopped — preStop hooks first, then
``StopContainer`` with what is left of the grace period — and its sandbox
stopped; a deleted pod is then removed from the API with grace 0, and its
runtime objects, volumes and logs are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pinnace import aio
from pinnace.client import Client, Obj
from pinnace.client.errors import ApiError, NotFound
from pinnace.client.objects import PODS
from pinnace.kubelet.cgroups import apply_pod_resources, remove_pod_cgroups
from pinnace.kubelet.config import KubeletConfig
from pinnace.kubelet.cri import api_pb2 as cri
from pinnace.kubelet.cri.client import CRIError, RuntimeClient
from pinnace.kubelet.eviction import EVICTED, Eviction
from pinnace.kubelet.images import Backoff, ImageError, ImageManager
from pinnace.kubelet.podconfig import (
    ANN_GRACE_PERIOD,
    ANN_PRE_STOP,
    MountSpec,
    container_config,
    container_hash,
    pod_cgroup_parent,
    pod_resources,
    qos_class,
    sandbox_config,
)
from pinnace.kubelet.runtime import ContainerInfo, PodRuntime, RuntimeView
from pinnace.kubelet.status import ContainerHold, PodStatusInputs, compute_status, now_str

__all__ = ["PodServices", "PodSyncer", "PodWorkers"]

log = logging.getLogger("pinnace.kubelet.pods")

TERMINATION_MESSAGE_LIMIT = 4096
FALLBACK_LOG_LINES = 80
FALLBACK_LOG_BYTES = 2048


async def _nothing() -> None:
    return None


@dataclass
class PodServices:
    """What a pod sync needs besides the runtime (injected so tests can fake it)."""

    setup_volumes: Callable[[Obj], Awaitable[dict[str, Path]]]
    refresh_volumes: Callable[[Obj], Awaitable[None]]
    teardown_volumes: Callable[[str], Awaitable[None]]
    container_mounts: Callable[[Obj, Obj, dict[str, Path], list[tuple[str, str]]], list[MountSpec]]
    container_env: Callable[[Obj, Obj], Awaitable[list[tuple[str, str]]]]
    dns: Callable[[Obj], tuple[list[str], list[str], list[str]] | None]
    hosts_file: Callable[[Obj, list[str]], str | None]
    hostname: Callable[[Obj], str]
    run_hook: Callable[[Obj, Obj, str, str, str, Obj], Awaitable[str | None]]
    """run_hook(handler, pod, container_id, pod_ip, hook_name, container) -> error or None"""
    probes_add: Callable[[Obj], None]
    probes_remove: Callable[[str], None]
    probes_container: Callable[[str, str, str, int, str], None]
    """(pod_uid, container_name, container_id, started_at_ns, pod_ip)"""
    is_ready: Callable[[str, str], bool]
    is_started: Callable[[str, str], bool | None]
    liveness_failed: Callable[[str, str], str | None]
    """(pod_uid, name) -> failure message once after a liveness/startup failure"""
    event: Callable[[Obj, str, str, str, str], None]
    """event(pod, type, reason, message, field_path)"""
    update_qos: Callable[[], Awaitable[None]] = _nothing
    """Resize the QoS-level cgroups for the node's current pods."""


class VolumeSetupError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class PodState:
    """What the kubelet remembers about a pod between syncs (not in the runtime)."""

    start_time: str = ""
    holds: dict[str, ContainerHold] = field(default_factory=dict)
    last_status: Obj | None = None
    failed_message: str | None = None
    failed_reason: str | None = None
    eviction: Eviction | None = None
    """Set by the eviction manager; the next sync ends the pod."""
    volume_paths: dict[str, Path] | None = None
    last_refresh: float = 0.0


def _field_path(kind: str, name: str) -> str:
    return f"spec.{kind}{{{name}}}"


def _container_specs(pod: Obj) -> dict[str, Obj]:
    """Init and regular containers of ``pod`` by name."""
    spec = pod.get("spec") or {}
    return {
        c["name"]: c for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])
    }


def _should_restart(policy: str, c: ContainerInfo) -> bool:
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return c.exit_code != 0
    return False


MIN_STOP_GRACE = 2


def stop_grace(grace: int, pre_stop_seconds: float) -> int:
    """The seconds StopContainer gets after a preStop hook that took
    ``pre_stop_seconds`` of the ``grace`` period. As upstream's
    ``killContainer``: the hook's time counts in whole seconds, and a
    container always keeps at least 2 s between SIGTERM and SIGKILL, unless
    the grace period itself is shorter (0 is an immediate kill)."""
    left = grace - int(pre_stop_seconds)
    return max(left, min(grace, MIN_STOP_GRACE))


class PodSyncer:
    def __init__(
        self,
        client: Client,
        config: KubeletConfig,
        runtime: RuntimeClient,
        view: RuntimeView,
        images: ImageManager,
        services: PodServices,
        *,
        host_ip: Callable[[], str],
        memory_capacity: int,
        relist: Callable[[], Awaitable[None]],
    ) -> None:
        self.client = client
        self.config = config
        self.runtime = runtime
        self.view = view
        self.images = images
        self.svc = services
        self.host_ip = host_ip
        self.memory_capacity = memory_capacity
        self.relist = relist
        self.states: dict[str, PodState] = {}
        self.crash_backoff = Backoff()

    # --- paths ----------------------------------------------------------------------------

    def pod_dir(self, uid: str) -> Path:
        return self.config.pods_dir / uid

    def log_dir(self, pod: Obj) -> Path:
        m = pod["metadata"]
        return self.config.logs_dir / f"{m.get('namespace', 'default')}_{m['name']}_{m['uid']}"

    def termination_file(self, uid: str, name: str, attempt: int) -> Path:
        return self.pod_dir(uid) / "containers" / name / f"termination-{attempt}"

    # --- the sync -------------------------------------------------------------------------

    async def sync(self, uid: str, pod: Obj | None) -> float | None:
        """One pass; returns seconds until the pod wants another pass (None: only on
        events), or raises :class:`PodDone` when the worker can stop."""
        st = self.states.setdefault(uid, PodState(start_time=now_str()))
        rt = self.view.get(uid)
        if pod is None:
            await self.kill_pod(None, rt, grace=None)
            await self.cleanup(uid, rt)
            raise PodDone
        meta = pod["metadata"]
        phase = (pod.get("status") or {}).get("phase")
        if meta.get("deletionTimestamp"):
            grace = meta.get("deletionGracePeriodSeconds")
            await self.kill_pod(pod, rt, grace=int(grace) if grace is not None else None)
            await self.relist()
            rt = self.view.get(uid)
            await self.report(pod, rt, st)
            await self.cleanup(uid, rt)
            with contextlib.suppress(NotFound):
                await self.client.delete(
                    PODS, meta["name"], namespace=meta.get("namespace"),
                    grace_period_seconds=0, preconditions={"uid": uid},
                )  # fmt: skip
            raise PodDone
        if st.eviction is not None and phase not in ("Succeeded", "Failed"):
            await self._end_evicted(pod, rt, st, st.eviction)
            return None
        if phase in ("Succeeded", "Failed"):
            if rt.running_containers() or any(s.ready for s in rt.sandboxes):
                await self.kill_pod(pod, rt, grace=None)
                await self.relist()
            self.svc.probes_remove(uid)
            return None
        return await self._sync_running(pod, uid, rt, st)

    def request_eviction(self, eviction: Eviction) -> bool:
        """Mark the pod for eviction (its next sync ends it); False when it
        already is."""
        uid = eviction.pod["metadata"]["uid"]
        st = self.states.setdefault(uid, PodState(start_time=now_str()))
        if st.eviction is not None:
            return False
        st.eviction = eviction
        return True

    async def _end_evicted(self, pod: Obj, rt: PodRuntime, st: PodState, e: Eviction) -> None:
        """Kill an evicted pod at once and report it Failed/Evicted (upstream
        evicts with no grace period)."""
        await self.kill_pod(pod, rt, grace=0)
        await self.relist()
        st.failed_message = e.message
        st.failed_reason = EVICTED
        st.holds.clear()
        await self.report(pod, self.view.get(pod["metadata"]["uid"]), st)

    async def _sync_running(self, pod: Obj, uid: str, rt: PodRuntime, st: PodState) -> float | None:
        self.svc.probes_add(pod)
        sandbox = rt.sandbox
        # A first sandbox needs the pod's cgroup and directories, made now and
        # awaited before the sandbox. It needs none of the volumes: it is made
        # while they are set up (their objects fetched from the API), and the
        # containers wait for both. Upstream waits for the volumes before it
        # makes the sandbox; until the volumes are ready the pod's status
        # shows no sandbox (no IP), as upstream's would (see ``report``).
        prepared: asyncio.Future[None] | None = None
        volumes: asyncio.Future[dict[str, Path]] | None = None
        try:
            if st.volume_paths is None and sandbox is None:
                prepared = asyncio.ensure_future(self.prepare_pod(pod))
                volumes = asyncio.ensure_future(self.svc.setup_volumes(pod))
            elif st.volume_paths is None:
                st.volume_paths = await self.svc.setup_volumes(pod)
                st.last_refresh = time.monotonic()
            elif time.monotonic() - st.last_refresh > self.config.sync_frequency:
                await self.svc.refresh_volumes(pod)
                st.last_refresh = time.monotonic()
        except Exception as e:  # the volume manager records FailedMount itself
            log.debug("volumes of pod %s: %s", uid, e)
            await self.report(pod, rt, st)
            return 5.0
        try:
            return await self._sync_sandbox_and_containers(pod, uid, rt, st, prepared, volumes)
        finally:
            if volumes is not None and not volumes.done():  # cancelled, or a step raised
                volumes.cancel()
                await asyncio.gather(volumes, return_exceptions=True)

    @staticmethod
    async def _volumes_ready(
        uid: str, volumes: asyncio.Future[dict[str, Path]], st: PodState
    ) -> bool:
        """Wait for the volumes being set up beside the first sandbox."""
        try:
            st.volume_paths = await volumes
        except Exception as e:  # the volume manager records FailedMount itself
            log.debug("volumes of pod %s: %s", uid, e)
            return False
        st.last_refresh = time.monotonic()
        return True

    async def _sync_sandbox_and_containers(
        self,
        pod: Obj,
        uid: str,
        rt: PodRuntime,
        st: PodState,
        prepared: asyncio.Future[None] | None,
        volumes: asyncio.Future[dict[str, Path]] | None,
    ) -> float | None:
        spec = pod.get("spec") or {}
        policy = spec.get("restartPolicy", "Always")
        sandbox = rt.sandbox
        # sandbox
        if sandbox is None or not sandbox.ready:
            ran_before = sandbox is not None and any(c.exited for c in rt.containers)
            if ran_before and policy == "Never":
                await self.kill_pod(pod, rt, grace=None)
                await self.report(pod, rt, st)
                return None
            if rt.running_containers():
                await self.kill_pod(pod, rt, grace=None)
            if sandbox is not None:
                self.svc.event(
                    pod, "Normal", "SandboxChanged",
                    "Pod sandbox changed, it will be killed and re-created.", "",
                )  # fmt: skip
            attempt = sandbox.attempt + 1 if sandbox is not None else 0
            try:
                sandbox_id = await self.create_sandbox(pod, attempt, prepared)
            except CRIError as e:
                msg = f"Failed to create pod sandbox: {e.message}"
                self.svc.event(pod, "Warning", "FailedCreatePodSandBox", msg, "")
                if volumes is not None:
                    await self._volumes_ready(uid, volumes, st)
                await self.report(pod, rt, st)
                return 5.0
            removed: list[str] = []
            for old in rt.sandboxes:
                with contextlib.suppress(CRIError):
                    await self.runtime.stop_pod_sandbox(old.id)
                    await self.runtime.remove_pod_sandbox(old.id)
                    removed.append(old.id)
            try:
                rt = await self.view.sandbox_created(uid, sandbox_id, removed)
            except CRIError as e:
                log.debug("status of the new sandbox of pod %s: %s", uid, e)
                rt = await self.view.refresh_pod(uid)
            sandbox = rt.sandbox
            if volumes is not None and not await self._volumes_ready(uid, volumes, st):
                await self.report(pod, rt, st)
                return 5.0
            if sandbox is None or not sandbox.ready:
                await self.report(pod, rt, st)
                return 2.0
        pod_ip = self.host_ip() if spec.get("hostNetwork") else sandbox.ip
        wake: float | None = None
        acted = False
        # init containers, one at a time; sidecars keep running
        for ic in spec.get("initContainers") or []:
            c = rt.latest(ic["name"])
            sidecar = ic.get("restartPolicy") == "Always"
            fp = _field_path("initContainers", ic["name"])
            if c is not None and c.running:
                if sidecar:
                    acted |= await self._check_running(pod, ic, c, fp, rt, st)
                    started = self.svc.is_started(uid, ic["name"])
                    if started is False:
                        break
                    continue
                break  # a regular init container still running: wait
            if c is not None and c.exited and not sidecar and c.exit_code == 0:
                continue
            if c is not None and c.exited and not sidecar and policy == "Never":
                st.failed_message = None
                await self.report(pod, rt, st)
                return None
            delay = await self._start_or_backoff(
                pod, ic, c, sandbox.id, sandbox.attempt, pod_ip, fp, st
            )
            if delay is not None:
                wake = delay if wake is None else min(wake, delay)
            acted = True
            if not sidecar or delay is not None:
                break
        else:
            # regular containers
            for ctr in spec.get("containers") or []:
                c = rt.latest(ctr["name"])
                fp = _field_path("containers", ctr["name"])
                if c is not None and (c.running or c.state == cri.CONTAINER_CREATED):
                    if c.state == cri.CONTAINER_CREATED:
                        continue
                    acted |= await self._check_running(pod, ctr, c, fp, rt, st)
                    continue
                if c is not None and c.exited and not _should_restart(policy, c):
                    st.holds.pop(ctr["name"], None)
                    continue
                delay = await self._start_or_backoff(
                    pod, ctr, c, sandbox.id, sandbox.attempt, pod_ip, fp, st
                )
                if delay is not None:
                    wake = delay if wake is None else min(wake, delay)
                acted = True
        if acted:
            rt = await self.view.refresh_pod(uid)
        await self.report(pod, rt, st)
        periodic = self.config.sync_frequency
        return periodic if wake is None else min(wake, periodic)

    async def _check_running(
        self, pod: Obj, ctr: Obj, c: ContainerInfo, fp: str, rt: PodRuntime, st: PodState
    ) -> bool:
        """Kill a running container whose spec changed or that failed liveness."""
        uid = pod["metadata"]["uid"]
        st.holds.pop(ctr["name"], None)
        sb = rt.sandbox
        pod_ip = (
            self.host_ip() if (pod.get("spec") or {}).get("hostNetwork") else (sb.ip if sb else "")
        )
        self.svc.probes_container(uid, ctr["name"], c.id, c.started_at, pod_ip)
        if c.hash and c.hash != container_hash(ctr):
            self.svc.event(
                pod, "Normal", "Killing",
                f"Container {ctr['name']} definition changed, will be restarted", fp,
            )  # fmt: skip
            await self.kill_container(pod, ctr, c, grace=None, announce=False)
            return True
        failure = self.svc.liveness_failed(uid, ctr["name"])
        if failure:
            self.svc.event(pod, "Normal", "Killing", failure, fp)
            await self.kill_container(pod, ctr, c, grace=None, announce=False)
            return True
        return False

    async def _start_or_backoff(
        self,
        pod: Obj,
        ctr: Obj,
        last: ContainerInfo | None,
        sandbox_id: str,
        sandbox_attempt: int,
        pod_ip: str,
        fp: str,
        st: PodState,
    ) -> float | None:
        """Start the next instance of ``ctr`` unless it is in crash back-off; returns
        seconds to wait when it is held back."""
        meta = pod["metadata"]
        name = ctr["name"]
        key = f"{meta['uid']}/{name}"
        attempt = 0
        if last is not None:
            attempt = last.restart_count + 1
            finished = last.finished_at / 1e9 if last.finished_at else time.time()
            if last.finished_at and last.started_at and finished - last.started_at / 1e9 > 600:
                self.crash_backoff.reset(key)
            left = self.crash_backoff.in_backoff_since(key, finished)
            if left > 0:
                delay = self.crash_backoff.current(key)
                msg = (
                    f"back-off {int(delay)}s restarting failed container={name} "
                    f"pod={meta['name']}_{meta.get('namespace', 'default')}({meta['uid']})"
                )
                if st.holds.get(name) != ContainerHold("CrashLoopBackOff", msg):
                    self.svc.event(
                        pod, "Warning", "BackOff",
                        f"Back-off restarting failed container {name} in pod "
                        f"{meta['name']}_{meta.get('namespace', 'default')}({meta['uid']})",
                        fp,
                    )  # fmt: skip
                st.holds[name] = ContainerHold("CrashLoopBackOff", msg)
                return left
            self.crash_backoff.next(key)
        try:
            await self.start_container(pod, ctr, attempt, sandbox_id, sandbox_attempt, pod_ip, fp)
        except ImageError as e:
            st.holds[name] = ContainerHold(e.reason, e.message)
            return 10.0
        except _StartError as e:
            st.holds[name] = ContainerHold(e.reason, e.message)
            self.svc.event(pod, "Warning", "Failed", f"Error: {e.message}", fp)
            return 5.0
        st.holds.pop(name, None)
        if last is not None:
            await self._prune(pod, name, keep=last.id)
        return None

    async def _prune(self, pod: Obj, name: str, *, keep: str) -> None:
        """Remove exited instances of a container older than ``keep`` (the previous one
        stays for ``logs --previous`` and ``lastState``)."""
        rt = self.view.get(pod["metadata"]["uid"])
        for c in rt.containers:
            if c.name == name and c.exited and c.id != keep:
                with contextlib.suppress(CRIError):
                    await self.runtime.remove_container(c.id)

    # --- sandbox & containers -------------------------------------------------------------

    def _sandbox_config(self, pod: Obj, attempt: int) -> cri.PodSandboxConfig:
        return sandbox_config(
            pod,
            attempt=attempt,
            # host-network pods keep the node's UTS namespace: no hostname of their own
            hostname="" if (pod.get("spec") or {}).get("hostNetwork") else self.svc.hostname(pod),
            log_directory=str(self.log_dir(pod)),
            dns=self.svc.dns(pod),
        )

    async def prepare_pod(self, pod: Obj) -> None:
        """The pod's directories and its cgroup with the pod's resources."""
        uid = pod["metadata"]["uid"]
        pod_dir, log_dir = self.pod_dir(uid), self.log_dir(pod)

        def make_dirs() -> None:
            pod_dir.mkdir(parents=True, exist_ok=True)
            log_dir.mkdir(parents=True, exist_ok=True)

        await asyncio.to_thread(make_dirs)
        if qos_class(pod) == "Burstable":  # its CPU requests join the burstable cgroup's
            await self.svc.update_qos()
        await asyncio.to_thread(
            apply_pod_resources, pod_cgroup_parent(pod), pod_resources(pod),
            root=self.config.cgroup_root,
        )  # fmt: skip

    async def create_sandbox(
        self, pod: Obj, attempt: int, prepared: asyncio.Future[None] | None = None
    ) -> str:
        """Run the pod's sandbox; ``prepared`` is a :meth:`prepare_pod` already
        under way (a failure of it is raised here), else it is done now."""
        if prepared is not None:
            await prepared
        else:
            await self.prepare_pod(pod)
        return await self.runtime.run_pod_sandbox(self._sandbox_config(pod, attempt))

    async def start_container(
        self,
        pod: Obj,
        ctr: Obj,
        attempt: int,
        sandbox_id: str,
        sandbox_attempt: int,
        pod_ip: str,
        fp: str,
    ) -> str:
        uid = pod["metadata"]["uid"]
        st = self.states[uid]
        image = await self.images.ensure(pod, ctr, fp)
        # the environment (fieldRef status.podIP/hostIP) sees the addresses this sync knows
        # even before they reach the API
        status = dict(pod.get("status") or {})
        if pod_ip:
            status.update(podIP=pod_ip, podIPs=[{"ip": pod_ip}])
        status.update(hostIP=self.host_ip(), hostIPs=[{"ip": self.host_ip()}])
        env_pod = {**pod, "status": status}
        try:
            env = await self.svc.container_env(env_pod, ctr)
        except Exception as e:
            message = getattr(e, "message", None) or str(e)
            raise _StartError("CreateContainerConfigError", message) from e
        try:
            mounts = list(self.svc.container_mounts(pod, ctr, st.volume_paths or {}, env))
        except Exception as e:
            message = getattr(e, "message", None) or str(e)
            raise _StartError("CreateContainerConfigError", message) from e
        hosts = self.svc.hosts_file(pod, [pod_ip] if pod_ip else [])
        hosts_path: Path | None = None
        if hosts is not None and not any(m.container_path == "/etc/hosts" for m in mounts):
            hosts_path = self.pod_dir(uid) / "etc-hosts"
            mounts.append(MountSpec("/etc/hosts", str(hosts_path)))
        tpath = ctr.get("terminationMessagePath", "/dev/termination-log")
        tfile = self.termination_file(uid, ctr["name"], attempt) if tpath else None
        if tfile is not None:
            mounts.append(MountSpec(tpath, str(tfile)))
        log_dir = self.log_dir(pod) / ctr["name"]

        def prepare_files() -> None:
            if hosts_path is not None and hosts is not None:
                hosts_path.write_text(hosts)
            if tfile is not None:
                tfile.parent.mkdir(parents=True, exist_ok=True)
                tfile.write_bytes(b"")
                os.chmod(tfile, 0o666)
            log_dir.mkdir(parents=True, exist_ok=True)

        # In a thread: during a batch each of these takes a millisecond or more
        # on the node's disk, and the event loop serves every pod.
        await asyncio.to_thread(prepare_files)
        from pinnace.kubelet.envvars import expand_command_and_args

        command, args = expand_command_and_args(ctr, env)
        config = container_config(
            pod,
            ctr,
            attempt=attempt,
            image=image,
            env=env,
            mounts=mounts,
            log_path=f"{ctr['name']}/{attempt}.log",
            memory_capacity=self.memory_capacity,
        )
        config.ClearField("command")
        config.ClearField("args")
        config.command.extend(command)
        config.args.extend(args)
        try:
            cid = await self.runtime.create_container(
                sandbox_id, config, self._sandbox_config(pod, sandbox_attempt)
            )
        except CRIError as e:
            raise _StartError("CreateContainerError", e.message) from e
        self.svc.event(pod, "Normal", "Created", f"Created container: {ctr['name']}", fp)
        try:
            await self.runtime.start_container(cid)
        except CRIError as e:
            raise _StartError("RunContainerError", e.message) from e
        self.svc.event(pod, "Normal", "Started", f"Started container {ctr['name']}", fp)
        self.svc.probes_container(uid, ctr["name"], cid, time.time_ns(), pod_ip)
        post_start = (ctr.get("lifecycle") or {}).get("postStart")
        if post_start:
            err = await self.svc.run_hook(post_start, pod, cid, pod_ip, "PostStart", ctr)
            if err:
                self.svc.event(pod, "Warning", "FailedPostStartHook", err, fp)
                with contextlib.suppress(CRIError):
                    await self.runtime.stop_container(cid, 0)
        return cid

    async def kill_container(
        self, pod: Obj | None, ctr: Obj | None, c: ContainerInfo, *, grace: int | None,
        announce: bool = True,
    ) -> None:  # fmt: skip
        """preStop, then StopContainer with what is left of the grace period."""
        if not (c.running or c.state == cri.CONTAINER_CREATED):
            return
        if grace is None:
            grace = int(c.annotations.get(ANN_GRACE_PERIOD, "30") or 30)
            if pod is not None:
                grace = int((pod.get("spec") or {}).get("terminationGracePeriodSeconds", grace))
        if pod is not None and announce:
            self.svc.event(pod, "Normal", "Killing", f"Stopping container {c.name}", "")
        started = time.monotonic()
        handler: Any = None
        if ctr is not None:
            handler = (ctr.get("lifecycle") or {}).get("preStop")
        elif c.annotations.get(ANN_PRE_STOP):
            import orjson

            handler = orjson.loads(c.annotations[ANN_PRE_STOP])
        if handler and c.running and pod is not None and grace > 0:
            ip = self.view.get(pod["metadata"]["uid"]).sandbox
            pod_ip = ip.ip if ip else ""
            try:
                err = await aio.wait_for(
                    self.svc.run_hook(
                        handler, pod, c.id, pod_ip, "PreStop", ctr or {"name": c.name}
                    ),
                    grace,
                )
            except TimeoutError:
                err = f"PreStop hook for container {c.name} did not complete in {grace}s"
            if err:
                self.svc.event(pod, "Warning", "FailedPreStopHook", err, "")
        left = stop_grace(grace, time.monotonic() - started)
        try:
            await self.runtime.stop_container(c.id, left, timeout=left + 30)
        except CRIError as e:
            if not e.is_not_found:
                log.warning("stopping container %s: %s", c.id[:12], e)

    async def kill_pod(self, pod: Obj | None, rt: PodRuntime, *, grace: int | None) -> None:
        specs = _container_specs(pod) if pod is not None else {}
        running = rt.running_containers()
        # regular containers first, in parallel; sidecars (init) after them
        init_names = {
            c["name"] for c in ((pod or {}).get("spec") or {}).get("initContainers") or []
        }
        first = [c for c in running if c.name not in init_names]
        later = [c for c in running if c.name in init_names]
        for group in (first, later):
            if group:
                await asyncio.gather(
                    *(self.kill_container(pod, specs.get(c.name), c, grace=grace) for c in group)
                )
        for sb in rt.sandboxes:
            if sb.ready:
                try:
                    await self.runtime.stop_pod_sandbox(sb.id)
                except CRIError as e:
                    log.warning("stopping sandbox %s: %s", sb.id[:12], e)
        if pod is not None:
            self.svc.probes_remove(pod["metadata"]["uid"])

    async def cleanup(self, uid: str, rt: PodRuntime) -> None:
        """Remove everything left of a pod that is gone: containers, sandboxes,
        volumes, its directory and logs."""
        for c in rt.containers:
            with contextlib.suppress(CRIError):
                await self.runtime.remove_container(c.id)
        for sb in rt.sandboxes:
            with contextlib.suppress(CRIError):
                await self.runtime.stop_pod_sandbox(sb.id)
                await self.runtime.remove_pod_sandbox(sb.id)
        self.svc.probes_remove(uid)
        try:
            await self.svc.teardown_volumes(uid)
        except Exception as e:
            log.warning("tearing down volumes of pod %s: %s", uid, e)
        shutil.rmtree(self.pod_dir(uid), ignore_errors=True)
        await asyncio.to_thread(remove_pod_cgroups, uid, root=self.config.cgroup_root)
        await self.svc.update_qos()
        if rt.name:
            d = self.config.logs_dir / f"{rt.namespace}_{rt.name}_{uid}"
            shutil.rmtree(d, ignore_errors=True)
        self.states.pop(uid, None)

    # --- status ---------------------------------------------------------------------------

    def termination_message(self, pod: Obj, c: ContainerInfo) -> str:
        uid = pod["metadata"]["uid"]
        path = self.termination_file(uid, c.name, c.restart_count)
        msg = ""
        with contextlib.suppress(OSError):
            msg = path.read_bytes()[:TERMINATION_MESSAGE_LIMIT].decode(errors="replace")
        if msg or c.exit_code == 0:
            return msg
        spec = _container_specs(pod).get(c.name, {})
        if spec.get("terminationMessagePolicy") != "FallbackToLogsOnError" or not c.log_path:
            return ""
        with contextlib.suppress(OSError):
            lines = Path(c.log_path).read_bytes().splitlines()[-FALLBACK_LOG_LINES:]
            text = b"\n".join(
                line.split(b" ", 3)[3] if line.count(b" ") >= 3 else line for line in lines
            )
            return text[-FALLBACK_LOG_BYTES:].decode(errors="replace")
        return ""

    async def report(self, pod: Obj, rt: PodRuntime, st: PodState) -> None:
        uid = pod["metadata"]["uid"]
        spec = pod.get("spec") or {}
        if st.volume_paths is None and rt.sandboxes and not rt.containers:
            # A first sandbox made while the volumes are set up: until they are,
            # the status shows none (no IP, PodReadyToStartContainers False),
            # as upstream's kubelet, which makes it only after the volumes.
            rt = PodRuntime(rt.uid, name=rt.name, namespace=rt.namespace)
        status = compute_status(
            PodStatusInputs(
                pod=pod,
                runtime=rt,
                host_ip=self.host_ip(),
                start_time=(pod.get("status") or {}).get("startTime") or st.start_time,
                holds=st.holds,
                is_ready=lambda name: self.svc.is_ready(uid, name),
                is_started=lambda name: self.svc.is_started(uid, name),
                termination_message=lambda c: self.termination_message(pod, c),
                pod_failed_message=st.failed_message,
                pod_failed_reason=st.failed_reason,
                disruption_message=(
                    st.eviction.message
                    if st.eviction is not None and st.eviction.disruption
                    else None
                ),
                host_network=bool(spec.get("hostNetwork")),
            )
        )
        if status == st.last_status:
            return
        meta = pod["metadata"]
        try:
            await self.client.patch_status(
                PODS,
                meta["name"],
                {"metadata": {"uid": uid}, "status": status},
                namespace=meta.get("namespace"),
                field_manager="kubelet",
            )
            st.last_status = status
        except NotFound:
            pass
        except ApiError as e:
            log.warning("updating status of pod %s/%s: %s", meta.get("namespace"), meta["name"], e)


class PodDone(Exception):
    """The pod is gone and cleaned up; its worker ends."""


class _StartError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class PodWorkers:
    """One task per pod; ``update(uid)`` wakes a pod's worker (starting it if needed)."""

    def __init__(self, syncer: PodSyncer, get_pod: Callable[[str], Obj | None]) -> None:
        self.syncer = syncer
        self.get_pod = get_pod
        self._wake: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def update(self, uid: str) -> None:
        ev = self._wake.get(uid)
        if ev is None:
            ev = self._wake[uid] = asyncio.Event()
            self._tasks[uid] = asyncio.create_task(self._run(uid, ev), name=f"pod-{uid[:8]}")
        ev.set()

    def known(self) -> set[str]:
        return set(self._tasks)

    async def _run(self, uid: str, ev: asyncio.Event) -> None:
        delay: float | None = None
        failures = 0
        try:
            while True:
                if delay is None:
                    await ev.wait()
                else:
                    with contextlib.suppress(TimeoutError):
                        await aio.wait_for(ev.wait(), delay)
                ev.clear()
                try:
                    delay = await self.syncer.sync(uid, self.get_pod(uid))
                    failures = 0
                except PodDone:
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    failures += 1
                    delay = min(2.0**failures, 30.0)
                    log.warning("syncing pod %s failed (retry in %.0fs): %s", uid, delay, e,
                                exc_info=log.isEnabledFor(logging.DEBUG))  # fmt: skip
        finally:
            self._wake.pop(uid, None)
            self._tasks.pop(uid, None)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
