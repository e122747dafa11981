"""The API server's relay to kubelets: pods/log through a real (in-process)
API server to a kubelet API registered as a Node, and the raw upgrade splice
for exec/attach/portforward (WebSocket and SPDY-style upgrades)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from pinnace.apiserver import nodeproxy
from pinnace.apiserver.certs import Pki, issue_client_cert
from pinnace.apiserver.config import ServerConfig
from pinnace.apiserver.server import ApiServer, serve
from pinnace.kubelet.server import KubeletServer, kubelet_ssl_context

LOG = "2024-05-01T12:00:00Z stdout F hello\n2024-05-01T12:00:01Z stderr F world\n"


# --------------------------------------------------------------------------
# pure parts


def test_kubelet_address_prefers_internal_ip_and_reads_the_port() -> None:
    node = {
        "status": {
            "addresses": [
                {"type": "Hostname", "address": "n1"},
                {"type": "InternalIP", "address": "10.0.0.5"},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        }
    }
    assert nodeproxy.kubelet_address(node) == ("10.0.0.5", 10250)
    node["status"]["addresses"] = [{"type": "Hostname", "address": "n1"}]
    del node["status"]["daemonEndpoints"]
    assert nodeproxy.kubelet_address(node) == ("n1", 10250)


def test_validate_container_messages() -> None:
    p = {
        "metadata": {"name": "p"},
        "spec": {
            "initContainers": [{"name": "init"}],
            "containers": [{"name": "a"}, {"name": "b"}],
        },
    }
    with pytest.raises(Exception) as e:
        nodeproxy.validate_container(p, "")
    assert str(e.value) == (
        "a container name must be specified for pod p, choose one of: [init a b]"
    )
    with pytest.raises(Exception, match="container c is not valid for pod p"):
        nodeproxy.validate_container(p, "c")
    assert nodeproxy.validate_container(p, "init") == "init"


def test_generic_kubelet_errors() -> None:
    e = nodeproxy.response_error(404, "pod not here", "pods/log", "p")
    assert (e.code, e.reason, e.message) == (
        404,
        "NotFound",
        "the server could not find the requested resource ( pods/log p)",
    )
    e = nodeproxy.response_error(400, "bad thing", "pods/log", "p")
    assert (e.code, e.reason, e.message) == (400, "BadRequest", "bad thing")


# --------------------------------------------------------------------------
# a real API server, a kubelet API registered as a Node


@dataclass
class FakeKubeletBackend:
    logs_dir: Path
    pod_list: list[dict[str, Any]] = field(default_factory=list)
    running: set[str] = field(default_factory=set)

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

    async def exec_url(self, *a: Any) -> str:
        raise NotImplementedError

    async def attach_url(self, *a: Any) -> str:
        raise NotImplementedError

    async def portforward_url(self, *a: Any) -> str:
        raise NotImplementedError

    async def stats_summary(self) -> dict[str, Any]:
        return {"node": {"nodeName": "n1"}, "pods": []}


@dataclass
class Cluster:
    server: ApiServer
    url: str
    pki: Pki
    ctx: ssl.SSLContext
    session: aiohttp.ClientSession
    tmp: Path

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.url + path, json=body, ssl=self.ctx) as r:
            ctype = r.headers.get("Content-Type", "")
            return r.status, (await r.json()) if "json" in ctype else await r.text()

    async def add_node(self, name: str, host: str, port: int) -> None:
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
        status, body = await self.request("POST", "/api/v1/nodes", node)
        assert status == 201, body
        body["status"] = {
            "addresses": [{"type": "InternalIP", "address": host}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        }
        status, out = await self.request("PUT", f"/api/v1/nodes/{name}/status", body)
        assert status == 200, out

    async def add_pod(self, name: str, node: str, containers: tuple[str, ...] = ("app",)) -> None:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "containers": [{"name": c, "image": "busybox"} for c in containers],
                **({"nodeName": node} if node else {}),
            },
        }
        status, body = await self.request("POST", "/api/v1/namespaces/default/pods", pod)
        assert status == 201, body


@pytest.fixture
async def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Cluster]:
    monkeypatch.setenv("PINNACE_LOCAL_PATH_DIR", str(tmp_path / "storage"))
    thresholds = gc.get_threshold()
    # no controllers run here: no default ServiceAccount for pods to use
    config = ServerConfig(
        data_dir=tmp_path / "data", port=0, disable_admission_plugins=("ServiceAccount",)
    )
    ready = asyncio.Event()
    out: list[ApiServer] = []
    task = asyncio.create_task(serve(config, ready=ready, server_out=out))
    try:
        async with asyncio.timeout(60):
            done, _ = await asyncio.wait(
                [task, asyncio.create_task(ready.wait())], return_when=asyncio.FIRST_COMPLETED
            )
        if task in done:
            task.result()
        pki = Pki.at(config.pki_dir)
        ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
        ctx.load_cert_chain(pki.admin_cert, pki.admin_key)
        async with aiohttp.ClientSession() as session:
            yield Cluster(out[0], f"https://127.0.0.1:{config.port}", pki, ctx, session, tmp_path)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@pytest.fixture
async def kubelet(cluster: Cluster) -> AsyncIterator[tuple[KubeletServer, FakeKubeletBackend]]:
    """Our kubelet API (trusting the cluster CA) with a fake backend, as node n1."""
    tmp = cluster.tmp
    (tmp / "logs").mkdir()
    backend = FakeKubeletBackend(tmp / "logs")
    cert, key = issue_client_cert(cluster.pki, "kubelet-serving", [])
    (tmp / "k.crt").write_bytes(cert)
    (tmp / "k.key").write_bytes(key)
    ctx = kubelet_ssl_context(tmp / "k.crt", tmp / "k.key", cluster.pki.ca_cert)
    srv = KubeletServer(backend, ssl_context=ctx, host="127.0.0.1", port=0, log_poll_interval=0.01)
    await srv.start()
    try:
        await cluster.add_node("n1", "127.0.0.1", srv.port)
        yield srv, backend
    finally:
        await srv.stop()


def kubelet_pod(
    name: str, state: dict[str, Any], containers: tuple[str, ...] = ("app",)
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": "u-" + name},
        "spec": {"containers": [{"name": c} for c in containers]},
        "status": {
            "containerStatuses": [
                {"name": containers[0], "containerID": f"containerd://{name}-1", **state}
            ]
        },
    }


LOG_PATH = "/api/v1/namespaces/default/pods/{}/log"


async def test_pod_log_through_the_api_server(
    cluster: Cluster, kubelet: tuple[KubeletServer, FakeKubeletBackend]
) -> None:
    _, backend = kubelet
    await cluster.add_pod("web", "n1")
    backend.pod_list.append(kubelet_pod("web", {"state": {"running": {}}}))
    (backend.logs_dir / "web-1.log").write_text(LOG)
    assert await cluster.request("GET", LOG_PATH.format("web")) == (200, "hello\nworld\n")
    assert await cluster.request("GET", LOG_PATH.format("web") + "?tailLines=1") == (
        200,
        "world\n",
    )


async def test_pod_log_follow_streams_until_the_container_stops(
    cluster: Cluster, kubelet: tuple[KubeletServer, FakeKubeletBackend]
) -> None:
    _, backend = kubelet
    await cluster.add_pod("web", "n1")
    backend.pod_list.append(kubelet_pod("web", {"state": {"running": {}}}))
    logfile = backend.logs_dir / "web-1.log"
    logfile.write_text(LOG)
    backend.running.add("web-1")
    url = cluster.url + LOG_PATH.format("web") + "?follow=true"
    async with cluster.session.get(url, ssl=cluster.ctx) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        got = b""
        async with asyncio.timeout(10):
            while b"world\n" not in got:
                got += await r.content.readany()
            with logfile.open("a") as f:
                f.write("2024-05-01T12:00:02Z stdout F more\n")
            while b"more\n" not in got:
                got += await r.content.readany()
            backend.running.clear()
            got += await r.content.read()
    assert got == b"hello\nworld\nmore\n"


async def test_pod_log_errors(
    cluster: Cluster, kubelet: tuple[KubeletServer, FakeKubeletBackend]
) -> None:
    _, backend = kubelet
    await cluster.add_pod("waiting", "n1")
    backend.pod_list.append(
        kubelet_pod("waiting", {"state": {"waiting": {"reason": "ContainerCreating"}}})
    )
    status, body = await cluster.request("GET", LOG_PATH.format("waiting"))
    assert (status, body["reason"], body["message"]) == (
        400,
        "BadRequest",
        'container "app" in pod "waiting" is waiting to start: ContainerCreating',
    )
    await cluster.add_pod("two", "n1", ("a", "b"))
    status, body = await cluster.request("GET", LOG_PATH.format("two"))
    assert (status, body["message"]) == (
        400,
        "a container name must be specified for pod two, choose one of: [a b]",
    )
    # the kubelet does not know the pod
    await cluster.add_pod("ghost", "n1")
    status, body = await cluster.request("GET", LOG_PATH.format("ghost"))
    assert (status, body["reason"], body["message"]) == (
        404,
        "NotFound",
        "the server could not find the requested resource ( pods/log ghost)",
    )
    status, body = await cluster.request("GET", LOG_PATH.format("ghost") + "?tailLines=-2")
    assert (status, body["reason"]) == (422, "Invalid")
    assert body["message"] == (
        'PodLogOptions "ghost" is invalid: tailLines: Invalid value: -2: '
        "must be greater than or equal to 0"
    )
    # not scheduled yet: no log, no error
    await cluster.add_pod("pending", "")
    assert await cluster.request("GET", LOG_PATH.format("pending")) == (200, "")


async def test_node_proxy_reaches_the_kubelet(
    cluster: Cluster, kubelet: tuple[KubeletServer, FakeKubeletBackend]
) -> None:
    status, body = await cluster.request("GET", "/api/v1/nodes/n1/proxy/stats/summary")
    assert status == 200 and body["node"]["nodeName"] == "n1"


# --------------------------------------------------------------------------
# the upgrade splice, against a fake kubelet


@dataclass
class FakeStreamKubelet:
    port: int = 0
    seen: list[str] = field(default_factory=list)


@pytest.fixture
async def stream_kubelet(cluster: Cluster) -> AsyncIterator[FakeStreamKubelet]:
    """A TLS server that answers exec with a WebSocket echo and portForward
    with a raw (SPDY-style) upgrade that echoes bytes upper-cased."""
    tmp = cluster.tmp
    cert, key = issue_client_cert(cluster.pki, "fake-kubelet", [])
    (tmp / "f.crt").write_bytes(cert)
    (tmp / "f.key").write_bytes(key)
    ctx = kubelet_ssl_context(tmp / "f.crt", tmp / "f.key", cluster.pki.ca_cert)
    fake = FakeStreamKubelet()

    async def ws_echo(request: web.Request) -> web.StreamResponse:
        fake.seen.append(request.path_qs)
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        assert peer, "the API server must present its kubelet client certificate"
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io",))
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_bytes(b"echo:" + msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/exec/{ns}/{pod}/{container}", ws_echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    ws_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def raw(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        fake.seen.append(head.decode().split("\r\n")[0])
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
            b"X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n"
        )
        while data := await reader.read(1024):
            writer.write(data.upper())
            await writer.drain()
        writer.close()

    raw_server = await asyncio.start_server(raw, "127.0.0.1", 0, ssl=ctx)
    raw_port = raw_server.sockets[0].getsockname()[1]
    await cluster.add_node("ws-node", "127.0.0.1", ws_port)
    await cluster.add_node("raw-node", "127.0.0.1", raw_port)
    try:
        yield fake
    finally:
        raw_server.close()
        await raw_server.wait_closed()
        await runner.cleanup()


async def test_exec_websocket_passes_through(
    cluster: Cluster, stream_kubelet: FakeStreamKubelet
) -> None:
    await cluster.add_pod("web", "ws-node")
    url = (
        cluster.url
        + "/api/v1/namespaces/default/pods/web/exec?command=sh&command=-c&stdin=true&stdout=true"
    )
    async with cluster.session.ws_connect(
        url, ssl=cluster.ctx, protocols=("v5.channel.k8s.io",)
    ) as ws:
        assert ws.protocol == "v5.channel.k8s.io"
        await ws.send_bytes(b"\x00ping")
        msg = await ws.receive(timeout=10)
        assert msg.data == b"echo:\x00ping"
        await ws.send_bytes(b"\x00again")
        assert (await ws.receive(timeout=10)).data == b"echo:\x00again"
    assert stream_kubelet.seen == ["/exec/default/web/app?input=1&output=1&command=sh&command=-c"]


async def test_portforward_raw_upgrade_passes_through(
    cluster: Cluster, stream_kubelet: FakeStreamKubelet
) -> None:
    await cluster.add_pod("web", "raw-node")
    host, port = cluster.url.removeprefix("https://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port), ssl=cluster.ctx)
    try:
        writer.write(
            b"POST /api/v1/namespaces/default/pods/web/portforward HTTP/1.1\r\n"
            b"Host: " + host.encode() + b"\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
            b"X-Stream-Protocol-Version: portforward.k8s.io\r\nContent-Length: 0\r\n\r\n"
        )
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101 ")
            assert b"X-Stream-Protocol-Version: portforward.k8s.io" in head
            writer.write(b"hello spdy")
            got = b""
            while got != b"HELLO SPDY":
                got += await reader.read(100)
            writer.write(b"\x00\x01binary\xff")
            got = b""
            while len(got) < 9:
                got += await reader.read(100)
            assert got == b"\x00\x01BINARY\xff"
    finally:
        writer.close()
    assert stream_kubelet.seen == ["POST /portForward/default/web HTTP/1.1"]


async def test_exec_without_upgrade_or_node(cluster: Cluster) -> None:
    await cluster.add_pod("pending", "")
    status, body = await cluster.request(
        "POST", "/api/v1/namespaces/default/pods/pending/exec?command=ls&stdout=true"
    )
    assert (status, body["message"]) == (400, "pod pending does not have a host assigned")


async def test_simulated_nodes_are_never_dialled(cluster: Cluster) -> None:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "sim-1", "labels": {"pinnace.io/simulated": "true"}},
    }
    status, body = await cluster.request("POST", "/api/v1/nodes", node)
    assert status == 201, body
    body["status"] = {
        "addresses": [{"type": "InternalIP", "address": "198.18.0.7"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
    }
    status, _ = await cluster.request("PUT", "/api/v1/nodes/sim-1/status", body)
    assert status == 200
    await cluster.add_pod("simpod", "sim-1")
    assert await cluster.request("GET", LOG_PATH.format("simpod")) == (200, "")
    status, body = await cluster.request(
        "POST", "/api/v1/namespaces/default/pods/simpod/exec?command=ls&stdout=true"
    )
    assert status == 400 and "simulated" in body["message"]
    status, body = await cluster.request("GET", "/api/v1/nodes/sim-1/proxy/pods")
    assert status == 400 and "simulated" in body["message"]
