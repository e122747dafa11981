"""Glue between the kubelet core and its parts: volumes, environment, DNS,
probes, lifecycle hooks, image credentials and the kubelet API.

:func:`build` turns a :class:`~pinnace.kubelet.kubelet.Kubelet` into the
:class:`~pinnace.kubelet.podworker.PodServices` its pod workers call, so the
sync logic stays free of construction details and tests can fake every seam.
:class:`Backend` is what the kubelet API (``server.py``) asks of the core.
The kubelet API's serving certificate is self-signed, as upstream's kubelet
does by default; clients must present a certificate from the cluster CA.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pinnace.client import ClientConfig, Obj
from pinnace.client.errors import ApiError
from pinnace.client.objects import SECRETS, SERVICES
from pinnace.image.registries import AuthConfig
from pinnace.kubelet.podconfig import MountSpec
from pinnace.kubelet.podworker import PodServices

if TYPE_CHECKING:
    from pinnace.kubelet.kubelet import Kubelet

__all__ = ["Backend", "build", "credentials", "server_factory", "server_factory_from_pki"]

log = logging.getLogger("pinnace.kubelet")


async def _exec_sync(k: Kubelet, container_id: str, cmd: list[str], timeout: float) -> Any:
    assert k.runtime is not None
    return await k.runtime.exec_sync(container_id, cmd, exec_timeout=timeout)


def build(k: Kubelet) -> PodServices:
    from pinnace.kubelet import dns as dnsmod
    from pinnace.kubelet.envvars import container_env
    from pinnace.kubelet.lifecycle import run_hook
    from pinnace.kubelet.prober import ProbeManager
    from pinnace.kubelet.volumes.manager import VolumeManager

    cfg = k.config
    host_resolv: str | None
    try:
        host_resolv = cfg.resolv_conf.read_text()
    except OSError:
        host_resolv = None
    volumes = VolumeManager(cfg.pods_dir, k.client, node_name=cfg.node_name, recorder=k.recorder)
    k.volumes = volumes

    def on_change(uid: str) -> None:
        if k.workers is not None:
            k.workers.update(uid)

    def on_liveness_failure(uid: str, name: str, message: str, probe_type: str) -> None:
        k._liveness[(uid, name)] = f"{message}, will be restarted"
        on_change(uid)

    def event4(pod: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        k.recorder.event(dict(pod), type_, reason, message, kind="Pod", api_version="v1")

    async def exec_sync(container_id: str, cmd: list[str], timeout: float) -> Any:
        return await _exec_sync(k, container_id, cmd, timeout)

    prober = ProbeManager(
        exec_sync=exec_sync,
        on_change=on_change,
        on_liveness_failure=on_liveness_failure,
        event=event4,
    )
    k.prober = prober
    services_cache: dict[str, tuple[float, list[Obj]]] = {}

    async def services_for(namespace: str) -> list[Obj]:
        now = asyncio.get_running_loop().time()
        hit = services_cache.get(namespace)
        if hit is not None and now - hit[0] < 5.0:
            return hit[1]
        out: list[Obj] = []
        for ns in dict.fromkeys((namespace, "default")):
            try:
                listed = await k.client.list(SERVICES, namespace=ns)
                out += list(listed.get("items") or [])
            except ApiError as e:
                log.debug("listing services in %s: %s", ns, e)
        services_cache[namespace] = (now, out)
        return out

    def allocatable() -> dict[str, str]:
        node = k.node.node if k.node is not None else None
        return dict(((node or {}).get("status") or {}).get("allocatable") or {})

    async def env(pod: Obj, ctr: Obj) -> list[tuple[str, str]]:
        ns = pod["metadata"].get("namespace", "default")
        return await container_env(
            k.client, pod, ctr,
            services=await services_for(ns),
            node_allocatable=allocatable(),
            recorder=k.recorder,
            host_ips=[k._host_ip],
        )  # fmt: skip

    def mounts(
        pod: Obj, ctr: Obj, paths: dict[str, Path], env_list: list[tuple[str, str]]
    ) -> list[MountSpec]:
        out = volumes.container_mounts(pod, ctr, paths, env=env_list)
        return [
            MountSpec(m.container_path, str(m.host_path), m.readonly, _propagation(m.propagation))
            for m in out
        ]

    def dns(pod: Obj) -> tuple[list[str], list[str], list[str]] | None:
        if (pod.get("spec") or {}).get("hostNetwork") and (pod.get("spec") or {}).get(
            "dnsPolicy"
        ) != "ClusterFirstWithHostNet":
            conf = dnsmod.parse_resolv_conf(host_resolv or "")
            return conf.servers, conf.searches, conf.options
        c = dnsmod.pod_dns_config(
            pod, cluster_dns=cfg.cluster_dns, cluster_domain=cfg.cluster_domain,
            host_resolv_conf=host_resolv, node_ips=[k._host_ip], recorder=k.recorder,
        )  # fmt: skip
        return c.servers, c.searches, c.options

    def hosts(pod: Obj, ips: list[str]) -> str | None:
        return dnsmod.hosts_file(pod, pod_ips=ips, cluster_domain=cfg.cluster_domain)

    def hostname(pod: Obj) -> str:
        return dnsmod.kernel_hostname(pod, cluster_domain=cfg.cluster_domain)

    async def hook(
        handler: Obj, pod: Obj, cid: str, pod_ip: str, _name: str, ctr: Obj
    ) -> str | None:
        return await run_hook(
            handler, pod=pod, container=ctr, container_id=cid, pod_ip=pod_ip,
            exec_sync=exec_sync, event=event4,
        )  # fmt: skip

    def probes_container(uid: str, name: str, cid: str, started_ns: int, pod_ip: str) -> None:
        started = dt.datetime.fromtimestamp(started_ns / 1e9, dt.UTC) if started_ns else None
        prober.update_container(uid, name, cid, started, pod_ip)

    def liveness_failed(uid: str, name: str) -> str | None:
        return k._liveness.pop((uid, name), None)

    async def refresh(pod: Obj) -> None:
        await volumes.refresh(pod)

    return PodServices(
        setup_volumes=volumes.setup,
        refresh_volumes=refresh,
        teardown_volumes=volumes.teardown,
        container_mounts=mounts,
        container_env=env,
        dns=dns,
        hosts_file=hosts,
        hostname=hostname,
        run_hook=hook,
        probes_add=prober.add_pod,
        probes_remove=prober.remove_pod,
        probes_container=probes_container,
        is_ready=prober.is_ready,
        is_started=prober.is_started,
        liveness_failed=liveness_failed,
        event=k.event,
        update_qos=k.update_qos_cgroups,
    )


def _propagation(name: str) -> str:
    return {
        "PROPAGATION_HOST_TO_CONTAINER": "HostToContainer",
        "PROPAGATION_BIDIRECTIONAL": "Bidirectional",
    }.get(name, "None")


def credentials(k: Kubelet) -> Callable[[Obj, str], Awaitable[AuthConfig | None]]:
    """Pull credentials: the pod's imagePullSecrets first, then registries.yaml."""
    from pinnace.image.registries import RegistriesConfig, auth_from_pull_secrets

    registries = (
        RegistriesConfig.load(k.config.registry_config) if k.config.registry_config else None
    )

    async def get(pod: Obj, image: str) -> AuthConfig | None:
        secrets: list[Obj] = []
        ns = pod["metadata"].get("namespace", "default")
        for ref in (pod.get("spec") or {}).get("imagePullSecrets") or []:
            try:
                secrets.append(await k.client.get(SECRETS, ref.get("name", ""), namespace=ns))
            except ApiError as e:
                log.debug("image pull secret %s/%s: %s", ns, ref.get("name"), e)
        auth = auth_from_pull_secrets(secrets, image) if secrets else None
        if auth is None and registries is not None:
            auth = registries.auth_for(image)
        return auth

    return get


# --- the kubelet API ---------------------------------------------------------------------


#: volume kinds whose usage the summary reports (upstream's metrics providers)
MEASURED_VOLUMES = (
    "emptyDir", "configMap", "secret", "downwardAPI", "projected", "persistentVolumeClaim",
)  # fmt: skip


class Backend:
    """What the kubelet API needs of the kubelet (``server.KubeletBackend``)."""

    def __init__(self, k: Kubelet) -> None:
        self.k = k
        from pinnace.kubelet.stats import StatsProvider

        self.stats = StatsProvider(k.config.node_name, k.config.root_dir)

    def pods(self) -> list[Obj]:
        return self.k.informer.list() if self.k.informer is not None else []

    def get_pod(self, namespace: str, name: str) -> Obj | None:
        k = self.k
        p = k.informer.store.get_by_name(namespace, name) if k.informer is not None else None
        if p is None:
            return None
        st = k.syncer.states.get(p["metadata"]["uid"]) if k.syncer is not None else None
        if st is not None and st.last_status is not None:
            return {**p, "status": st.last_status}
        return p

    async def container_log_path(self, container_id: str) -> Path | None:
        assert self.k.runtime is not None
        from pinnace.kubelet.cri.client import CRIError

        try:
            status = await self.k.runtime.container_status(container_id)
        except CRIError:
            return None
        return Path(status.log_path) if status.log_path else None

    def container_running(self, container_id: str) -> bool:
        view = self.k.view
        if view is None:
            return False
        for pod in view.pods.values():
            for c in pod.containers:
                if c.id == container_id:
                    return c.running
        return False

    def _container_id(self, namespace: str, pod: str, container: str) -> str:
        from pinnace.kubelet.server import KubeletError

        p = self.get_pod(namespace, pod)
        if p is None or self.k.view is None:
            raise KubeletError(404, f'pod "{pod}" not found')
        c = self.k.view.get(p["metadata"]["uid"]).latest(container)
        if c is None or not c.running:
            raise KubeletError(500, f'container not found ("{container}")')
        return c.id

    async def exec_url(
        self, namespace: str, pod: str, uid: str, container: str, options: Any
    ) -> str:
        assert self.k.runtime is not None
        cid = self._container_id(namespace, pod, container)
        return await self.k.runtime.exec(
            cid, list(options.command), tty=options.tty, stdin=options.stdin,
            stdout=options.stdout, stderr=options.stderr,
        )  # fmt: skip

    async def attach_url(
        self, namespace: str, pod: str, uid: str, container: str, options: Any
    ) -> str:
        assert self.k.runtime is not None
        cid = self._container_id(namespace, pod, container)
        return await self.k.runtime.attach(
            cid, tty=options.tty, stdin=options.stdin, stdout=options.stdout, stderr=options.stderr
        )

    async def portforward_url(self, namespace: str, pod: str, uid: str) -> str:
        from pinnace.kubelet.server import KubeletError

        assert self.k.runtime is not None and self.k.view is not None
        p = self.get_pod(namespace, pod)
        if p is None:
            raise KubeletError(404, f'pod "{pod}" not found')
        sb = self.k.view.get(p["metadata"]["uid"]).sandbox
        if sb is None or not sb.ready:
            raise KubeletError(500, f'pod "{pod}" has no running sandbox')
        return await self.k.runtime.port_forward(sb.id, [])

    async def stats_summary(self) -> Obj:
        from pinnace.kubelet.stats import ContainerInfo as StatsContainer
        from pinnace.kubelet.stats import PodInfo

        k = self.k
        assert k.runtime is not None and k.view is not None and k.syncer is not None
        infos: list[PodInfo] = []
        for p in self.pods():
            m = p["metadata"]
            rt = k.view.get(m["uid"])
            sb = rt.sandbox
            log_dir = k.syncer.log_dir(p)
            infos.append(
                PodInfo(
                    name=m["name"], namespace=m.get("namespace", "default"), uid=m["uid"],
                    sandbox_id=sb.id if sb else "",
                    start_time=(p.get("status") or {}).get("startTime", ""),
                    containers=[
                        StatsContainer(name=c.name, container_id=c.id, log_dir=log_dir / c.name)
                        for c in rt.containers if c.running
                    ],
                    volumes=self._volumes(p),
                )
            )  # fmt: skip
        cstats = await k.runtime.list_container_stats()
        sstats: list[Any] = []
        try:
            sstats = await k.runtime.list_pod_sandbox_stats()
        except Exception as e:  # containerd 1.6 may not implement it on every setup
            log.debug("ListPodSandboxStats: %s", e)
        fs = await k.runtime.image_fs_info()
        return await self.stats.summary(infos, cstats, sstats, fs)

    def _volumes(self, pod: Obj) -> list[Any]:
        """The pod's set-up volumes for the summary: where each is, its claim,
        and whether it counts as local ephemeral storage."""
        from pinnace.kubelet.eviction import local_ephemeral
        from pinnace.kubelet.stats import VolumeInfo

        assert self.k.syncer is not None
        st = self.k.syncer.states.get(pod["metadata"]["uid"])
        paths = st.volume_paths if st is not None and st.volume_paths else {}
        out: list[Any] = []
        ns = pod["metadata"].get("namespace", "default")
        for v in (pod.get("spec") or {}).get("volumes") or []:
            path = paths.get(v.get("name", ""))
            # as upstream, hostPath (and the like) reports no usage: walking
            # a host directory could mean walking the whole host
            if path is None or not any(k in v for k in MEASURED_VOLUMES):
                continue
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            out.append(
                VolumeInfo(
                    name=v["name"], path=path, pvc=(ns, claim) if claim else None,
                    ephemeral=local_ephemeral(v),
                )
            )  # fmt: skip
        return out


def _self_signed(
    pki: Path, node_name: str, ips: list[str], validity_days: int = 365
) -> tuple[Path, Path]:
    """The kubelet's own serving certificate (kept in ``pki``; made again when
    it nears its end: it was written when made, so its age is its file's).

    Made in a child process: loading ``cryptography`` would add ~12 MB to the
    agent for the rest of its life, for a certificate it makes rarely."""
    import time

    cert_path, key_path = pki / "kubelet.crt", pki / "kubelet.key"
    renew_before = min(30.0, validity_days / 3) * 86400
    try:
        age = time.time() - cert_path.stat().st_mtime
        fresh = key_path.exists() and age < validity_days * 86400 - renew_before
    except FileNotFoundError:
        fresh = False
    if not fresh:
        import subprocess
        import sys

        subprocess.run(
            [
                sys.executable,
                "-m",
                "pinnace.kubelet.servingcert",
                "--validity-days",
                str(validity_days),
                str(pki),
                node_name,
                *ips,
            ],
            check=True,
            timeout=60,
        )
    return cert_path, key_path


def _make_server(k: Kubelet, client_ca: Path) -> Any:
    from pinnace.kubelet.server import KubeletServer, kubelet_ssl_context

    cert, key = _self_signed(
        k.config.pki_dir,
        k.config.node_name,
        [k._host_ip],
        k.config.serving_cert_validity_days,
    )
    ctx = kubelet_ssl_context(cert, key, client_ca)
    return KubeletServer(
        Backend(k), ssl_context=ctx, host=k.config.bind_address, port=k.config.port
    )


def server_factory_from_pki(pki_dir: Path) -> Callable[[Kubelet], Any]:
    """In the server process: trust the cluster CA in ``pki_dir``."""
    return lambda k: _make_server(k, pki_dir / "ca.crt")


def server_factory(client_config: ClientConfig) -> Callable[[Kubelet], Any]:
    """A joined agent: trust the CA its kubeconfig names."""

    def make(k: Kubelet) -> Any:
        ca = k.config.pki_dir / "cluster-ca.crt"
        k.config.pki_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if client_config.ca_data:
            ca.write_bytes(client_config.ca_data)
        elif client_config.ca_file:
            ca.write_bytes(Path(client_config.ca_file).read_bytes())
        else:
            raise RuntimeError(
                "the agent's kubeconfig names no CA: cannot authenticate the API server"
            )
        return _make_server(k, ca)

    return make
