"""The kubelet's HTTPS API with a fake backend: client-certificate auth,
/pods, container logs, the streaming routes' pod lookup, stats."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from pinnace.apiserver.certs import Pki, ensure_pki, issue_client_cert
from pinnace.kubelet import stats
from pinnace.kubelet.server import KubeletError, KubeletServer, kubelet_ssl_context

LOG = (
    "2024-05-01T12:00:00.000000001Z stdout F hello\n2024-05-01T12:00:01.000000001Z stderr F world\n"
)


def pod(name: str, state: dict[str, Any], containers: tuple[str, ...] = ("app",)) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": {"containers": [{"name": c, "image": "busybox"} for c in containers]},
        "status": {
            "containerStatuses": [
                {"name": containers[0], "containerID": f"containerd://{name}-1", **state}
            ]
        },
    }


@dataclass
class FakeBackend:
    logs_dir: Path
    running: set[str] = field(default_factory=set)
    pod_list: list[dict[str, Any]] = field(default_factory=list)
    exec_calls: list[tuple[Any, ...]] = field(default_factory=list)

    def pods(self) -> list[dict[str, Any]]:
        return self.pod_list

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        for p in self.pod_list:
            if (p["metadata"]["namespace"], p["metadata"]["name"]) == (namespace, name):
                return p
        return None

    async def container_log_path(self, container_id: str) -> Path | None:
        p = self.logs_dir / f"{container_id}.log"
        return p if p.exists() else None

    def container_running(self, container_id: str) -> bool:
        return container_id in self.running

    async def exec_url(
        self, namespace: str, pod: str, uid: str, container: str, options: Any
    ) -> str:
        self.exec_calls.append((namespace, pod, uid, container))
        raise KubeletError(500, f'container not found ("{container}")')

    async def attach_url(
        self, namespace: str, pod: str, uid: str, container: str, options: Any
    ) -> str:
        raise KubeletError(500, f'container not found ("{container}")')

    async def portforward_url(self, namespace: str, pod: str, uid: str) -> str:
        raise KubeletError(500, "no sandbox")

    async def stats_summary(self) -> dict[str, Any]:
        return {
            "node": {
                "nodeName": "n1",
                "startTime": "2024-05-01T00:00:00Z",
                "cpu": {"time": "2024-05-01T12:00:00Z", "usageCoreNanoSeconds": 5_000_000_000},
                "memory": {"time": "2024-05-01T12:00:00Z", "workingSetBytes": 1000},
                "fs": {"time": "2024-05-01T12:00:00Z", "usedBytes": 1},
            },
            "pods": [],
        }


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return ensure_pki(tmp_path_factory.mktemp("pki"), hosts=[])


def client_ctx(
    tmp: Path, pki: Pki | None, cn: str = "", groups: tuple[str, ...] = ()
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if pki is not None and cn:
        cert, key = issue_client_cert(pki, cn, groups)
        (tmp / f"{cn}.crt").write_bytes(cert)
        (tmp / f"{cn}.key").write_bytes(key)
        ctx.load_cert_chain(tmp / f"{cn}.crt", tmp / f"{cn}.key")
    return ctx


@pytest.fixture
def backend(tmp_path: Path) -> FakeBackend:
    (tmp_path / "logs").mkdir()
    return FakeBackend(tmp_path / "logs")


@pytest.fixture
async def kubelet(tmp_path: Path, pki: Pki, backend: FakeBackend) -> AsyncIterator[KubeletServer]:
    cert, key = issue_client_cert(pki, "kubelet-serving", [])
    (tmp_path / "serving.crt").write_bytes(cert)
    (tmp_path / "serving.key").write_bytes(key)
    ctx = kubelet_ssl_context(tmp_path / "serving.crt", tmp_path / "serving.key", pki.ca_cert)
    srv = KubeletServer(backend, ssl_context=ctx, host="127.0.0.1", port=0, log_poll_interval=0.01)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def api(tmp_path: Path, pki: Pki, kubelet: KubeletServer) -> AsyncIterator[Any]:
    """A session that talks to the kubelet as the API server does."""
    ctx = client_ctx(tmp_path, pki, "kube-apiserver-kubelet-client", ("system:masters",))
    async with aiohttp.ClientSession(base_url=f"https://127.0.0.1:{kubelet.port}") as s:
        s.ctx = ctx
        yield s


async def get(session: Any, path: str, ctx: ssl.SSLContext | None = None) -> tuple[int, str]:
    async with session.get(path, ssl=ctx or session.ctx) as r:
        return r.status, await r.text()


# --------------------------------------------------------------------------
# authentication and authorization


async def test_healthz_needs_no_certificate(kubelet: KubeletServer, tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as s:
        status, text = await get(
            s, f"https://127.0.0.1:{kubelet.port}/healthz", client_ctx(tmp_path, None)
        )
    assert (status, text) == (200, "ok")


async def test_no_certificate_is_unauthorized(kubelet: KubeletServer, tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as s:
        status, text = await get(
            s, f"https://127.0.0.1:{kubelet.port}/pods", client_ctx(tmp_path, None)
        )
    assert (status, text) == (401, "Unauthorized")


@pytest.mark.parametrize(
    ("cn", "groups", "allowed"),
    [
        ("kube-apiserver-kubelet-client", (), True),
        ("someone", ("system:masters",), True),
        ("system:node:other", ("system:nodes",), False),
    ],
)
async def test_certificate_identity_decides(
    kubelet: KubeletServer,
    pki: Pki,
    tmp_path: Path,
    cn: str,
    groups: tuple[str, ...],
    allowed: bool,
) -> None:
    ctx = client_ctx(tmp_path, pki, cn, groups)
    async with aiohttp.ClientSession() as s:
        status, text = await get(s, f"https://127.0.0.1:{kubelet.port}/stats/summary", ctx)
    if allowed:
        assert status == 200
    else:
        assert status == 403
        assert text == (
            f"Forbidden (user={cn}, verb=get, resource=nodes, subresource(s)=[stats])\n"
        )


async def test_certificate_from_another_ca_fails_the_handshake(
    kubelet: KubeletServer, tmp_path: Path
) -> None:
    other = ensure_pki(tmp_path / "other-pki", hosts=[])
    ctx = client_ctx(tmp_path, other, "kube-apiserver-kubelet-client")
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientError):
            await get(s, f"https://127.0.0.1:{kubelet.port}/pods", ctx)


# --------------------------------------------------------------------------
# routes


async def test_pods_is_a_pod_list(api: Any, backend: FakeBackend) -> None:
    backend.pod_list.append(pod("web", {"state": {"running": {}}}))
    async with api.get("/pods", ssl=api.ctx) as r:
        body = await r.json()
    assert body["kind"] == "PodList" and [p["metadata"]["name"] for p in body["items"]] == ["web"]


async def test_container_logs(api: Any, backend: FakeBackend) -> None:
    backend.pod_list.append(pod("web", {"state": {"running": {}}}))
    (backend.logs_dir / "web-1.log").write_text(LOG)
    assert await get(api, "/containerLogs/default/web/app") == (200, "hello\nworld\n")
    assert await get(api, "/containerLogs/default/web/app?tailLines=1") == (200, "world\n")
    status, text = await get(api, "/containerLogs/default/web/app?timestamps=true&limitBytes=36")
    assert (status, text) == (200, "2024-05-01T12:00:00.000000001Z hello")


async def test_container_logs_errors(api: Any, backend: FakeBackend) -> None:
    backend.pod_list.append(pod("web", {"state": {"waiting": {"reason": "ContainerCreating"}}}))
    assert await get(api, "/containerLogs/default/nope/app") == (404, 'pod "nope" does not exist')
    assert await get(api, "/containerLogs/default/web/other") == (
        404,
        'container "other" not found in pod "web"',
    )
    assert await get(api, "/containerLogs/default/web/app") == (
        400,
        'container "app" in pod "web" is waiting to start: ContainerCreating',
    )
    assert await get(api, "/containerLogs/default/web/app?tailLines=-1") == (
        422,
        '{"message": "Invalid request."}',
    )
    assert await get(api, "/containerLogs/default/web/app?tailLines=x") == (
        400,
        '{"message": "Unable to decode query."}',
    )


async def test_follow_ends_when_the_container_stops(api: Any, backend: FakeBackend) -> None:
    backend.pod_list.append(pod("web", {"state": {"running": {}}}))
    logfile = backend.logs_dir / "web-1.log"
    logfile.write_text(LOG)
    backend.running.add("web-1")
    async with api.get("/containerLogs/default/web/app?follow=true", ssl=api.ctx) as r:
        assert r.status == 200
        got = b""
        async with asyncio.timeout(10):
            while b"world\n" not in got:
                got += await r.content.readany()
            with logfile.open("a") as f:
                f.write("2024-05-01T12:00:02Z stdout F bye\n")
            while b"bye\n" not in got:
                got += await r.content.readany()
            backend.running.discard("web-1")
            got += await r.content.read()  # the stream ends
    assert got == b"hello\nworld\nbye\n"


async def test_exec_needs_a_known_pod_and_relays_backend_errors(
    api: Any, backend: FakeBackend
) -> None:
    status, text = await get(api, "/exec/default/nope/app?command=ls&output=1")
    assert (status, text) == (404, "pod does not exist")
    backend.pod_list.append(pod("web", {"state": {"running": {}}}))
    with pytest.raises(aiohttp.WSServerHandshakeError) as e:
        await api.ws_connect(
            "/exec/default/web/app?command=ls&output=1",
            ssl=api.ctx,
            protocols=("v5.channel.k8s.io",),
        )
    assert e.value.status == 500
    assert backend.exec_calls == [("default", "web", "", "app")]


async def test_stats_summary_and_resource_metrics(api: Any) -> None:
    async with api.get("/stats/summary", ssl=api.ctx) as r:
        summary = await r.json()
    assert summary["node"]["nodeName"] == "n1"
    async with api.get("/stats/summary?only_cpu_and_memory=true", ssl=api.ctx) as r:
        assert "fs" not in (await r.json())["node"]
    status, text = await get(api, "/metrics/resource")
    assert status == 200
    assert "node_cpu_usage_seconds_total 5 1714564800000" in text
    assert "node_memory_working_set_bytes 1000 1714564800000" in text


# --------------------------------------------------------------------------
# stats from CRI answers and a fake host


def u64(v: int) -> SimpleNamespace:
    return SimpleNamespace(value=v)


def cri_container(cid: str, t_ns: int, cpu_ns: int) -> SimpleNamespace:
    return SimpleNamespace(
        attributes=SimpleNamespace(id=cid, metadata=SimpleNamespace(name="app")),
        cpu=SimpleNamespace(
            timestamp=t_ns, usage_core_nano_seconds=u64(cpu_ns), usage_nano_cores=None
        ),
        memory=SimpleNamespace(
            timestamp=t_ns,
            working_set_bytes=u64(4096),
            usage_bytes=u64(8192),
            rss_bytes=u64(2048),
            available_bytes=None,
            page_faults=u64(10),
            major_page_faults=u64(1),
        ),
        writable_layer=SimpleNamespace(timestamp=t_ns, used_bytes=u64(100), inodes_used=u64(3)),
    )


@pytest.fixture
def host(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    (proc / "stat").write_text("cpu  100 0 100 800 0 0 0 0 0 0\nbtime 1714521600\n")
    (proc / "meminfo").write_text(
        "MemTotal: 1000 kB\nMemFree: 200 kB\nInactive(file): 100 kB\nAnonPages: 300 kB\n"
    )
    (proc / "vmstat").write_text("pgfault 50\npgmajfault 5\n")
    (proc / "net" / "dev").write_text(
        "Inter-|   Receive\n face |bytes packets errs drop fifo frame compressed multicast|bytes\n"
        "    lo: 5 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n"
        "  eth0: 1000 10 1 0 0 0 0 0 2000 20 2 0 0 0 0 0\n"
    )
    (proc / "net" / "route").write_text("Iface\tDestination\tGateway\neth0\t00000000\t0102A8C0\n")
    cgroup = tmp_path / "cgroup"
    (cgroup / "cpuacct").mkdir(parents=True)
    (cgroup / "cpuacct" / "cpuacct.usage").write_text("1000000000\n")
    yield proc, cgroup


async def test_summary_from_cri_and_host(tmp_path: Path, host: tuple[Path, Path]) -> None:
    proc, cgroup = host
    now = [1714564800.0]
    provider = stats.StatsProvider("n1", tmp_path, proc=proc, cgroup=cgroup, clock=lambda: now[0])
    logdir = tmp_path / "pods" / "app"
    logdir.mkdir(parents=True)
    (logdir / "0.log").write_bytes(b"x" * 5000)
    info = stats.PodInfo(
        name="web",
        namespace="default",
        uid="u1",
        start_time="2024-05-01T11:00:00Z",
        containers=[stats.ContainerInfo("app", "c1", "2024-05-01T11:00:01Z", logdir)],
    )
    t0 = int(now[0] * 1e9)
    first = await provider.summary([info], [cri_container("c1", t0, 1_000_000_000)])
    node = first["node"]
    assert node["nodeName"] == "n1" and node["startTime"] == "2024-05-01T00:00:00Z"
    assert node["cpu"]["usageCoreNanoSeconds"] == 1_000_000_000
    assert "usageNanoCores" not in node["cpu"]  # needs two samples
    assert node["memory"]["workingSetBytes"] == 700 * 1024
    assert node["memory"]["availableBytes"] == 300 * 1024
    assert node["network"]["name"] == "eth0" and node["network"]["rxBytes"] == 1000
    assert [i["name"] for i in node["network"]["interfaces"]] == ["eth0"]
    (c,) = first["pods"][0]["containers"]
    assert c["memory"]["workingSetBytes"] == 4096 and c["rootfs"]["usedBytes"] == 100
    assert c["logs"]["usedBytes"] >= 5000
    assert first["pods"][0]["podRef"] == {"name": "web", "namespace": "default", "uid": "u1"}

    # one second later the container used half a core
    now[0] += 1
    (cgroup / "cpuacct" / "cpuacct.usage").write_text("3000000000\n")
    second = await provider.summary(
        [info], [cri_container("c1", t0 + 1_000_000_000, 1_500_000_000)]
    )
    assert second["pods"][0]["containers"][0]["cpu"]["usageNanoCores"] == 500_000_000
    assert second["pods"][0]["cpu"]["usageNanoCores"] == 500_000_000  # summed, no sandbox stats
    assert second["node"]["cpu"]["usageNanoCores"] == 2_000_000_000
    text = stats.resource_metrics(second)
    assert (
        'container_cpu_usage_seconds_total{container="app",namespace="default",pod="web"} 1.5'
        in text
    )
