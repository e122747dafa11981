"""exec, attach and port-forward through our handlers to a real containerd 1.6.

A private containerd (tests/containerd.py) runs a busybox pod on a bridge
private to the test: one container serving ``nc -ll -p 8080 -e cat`` (an echo
server inside the pod's network namespace) and one reading its stdin. Our
handlers run in a small aiohttp app on 127.0.0.1 and get their URLs from CRI
``Exec``/``Attach``/``PortForward``; clients are aiohttp's WebSocket client
(v5 frames as kubectl sends them), the official Python client, and our own
SPDY client (kubectl's SPDY port-forward, plain and tunnelled in WebSocket).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pinnace.kubelet.cri import RuntimeClient
from pinnace.kubelet.cri import api_pb2 as cri
from pinnace.kubelet.streaming import spdy
from pinnace.kubelet.streaming.portforward import serve_portforward
from pinnace.kubelet.streaming.remotecommand import ExecOptions, serve_attach, serve_exec
from tests.containerd import BUSYBOX_IMAGE, private_containerd

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("containerd") is None, reason="needs containerd"),
]


@pytest.fixture(scope="session")
def layout_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("streaming-images")


@dataclass
class Pod:
    rt: RuntimeClient
    sandbox_id: str
    echo_id: str  # nc -ll -p 8080 -e cat
    reader_id: str  # reads stdin, answers "got:<line>"
    base: str  # our handlers: /exec/{id}, /attach/{id}, /portForward, /api/v1/... for the Python client


async def _wait_listening(rt: RuntimeClient, container_id: str, port: int) -> None:
    """Until something listens on ``port`` in the pod (read from /proc/net/tcp* in it)."""
    hex_port = f":{port:04X} "
    for _ in range(200):
        result = await rt.exec_sync(
            container_id, ["cat", "/proc/net/tcp", "/proc/net/tcp6"], timeout=10
        )
        if hex_port in result.stdout.decode():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing listens on {port} in the pod")


async def fake_pod(request: web.Request) -> web.Response:
    """Just enough of a pod for kubectl exec/cp/port-forward to go on to the stream."""
    return web.json_response(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": request.match_info["pod"], "namespace": request.match_info["ns"]},
            "spec": {"containers": [{"name": "echo", "image": BUSYBOX_IMAGE}]},
            "status": {"phase": "Running"},
        }
    )


DISCOVERY: dict[str, dict[str, object]] = {
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {
                "name": "pods",
                "singularName": "pod",
                "namespaced": True,
                "kind": "Pod",
                "verbs": ["get", "list"],
                "shortNames": ["po"],
            },
            {
                "name": "pods/exec",
                "singularName": "",
                "namespaced": True,
                "kind": "PodExecOptions",
                "verbs": ["create", "get"],
            },
            {
                "name": "pods/portforward",
                "singularName": "",
                "namespaced": True,
                "kind": "PodPortForwardOptions",
                "verbs": ["create", "get"],
            },
        ],
    },
}


async def discovery(body: dict[str, object], request: web.Request) -> web.Response:
    return web.json_response(body)


@pytest.fixture
async def pod(tmp_path: Path, layout_dir: Path) -> AsyncIterator[Pod]:
    async with private_containerd(
        tmp_path, layout_dir=layout_dir, busybox=True, network=True
    ) as env:
        rt = env.rt
        logs = env.log_dir / "default_p_uid-p"
        logs.mkdir()
        sandbox_config = cri.PodSandboxConfig(
            metadata=cri.PodSandboxMetadata(name="p", uid="uid-p", namespace="default"),
            hostname="p",
            log_directory=str(logs),
            linux=cri.LinuxPodSandboxConfig(
                security_context=cri.LinuxSandboxSecurityContext(
                    namespace_options=cri.NamespaceOption(
                        network=cri.POD, pid=cri.CONTAINER, ipc=cri.POD
                    )
                )
            ),
        )
        sandbox_id = await rt.run_pod_sandbox(sandbox_config)

        async def container(name: str, command: list[str], stdin: bool = False) -> str:
            config = cri.ContainerConfig(
                metadata=cri.ContainerMetadata(name=name),
                image=cri.ImageSpec(image=BUSYBOX_IMAGE),
                command=command,
                log_path=f"{name}/0.log",
                stdin=stdin,
            )
            cid = await rt.create_container(sandbox_id, config, sandbox_config)
            await rt.start_container(cid)
            return cid

        echo_id = await container("echo", ["nc", "-ll", "-p", "8080", "-e", "cat"])
        reader_id = await container(
            "reader", ["sh", "-c", 'while read l; do echo "got:$l"; done'], stdin=True
        )
        await _wait_listening(rt, echo_id, 8080)

        async def exec_(request: web.Request) -> web.StreamResponse:
            cid = request.match_info.get("cid", echo_id)

            async def url(o: ExecOptions) -> str:
                return await rt.exec(
                    cid, o.command, tty=o.tty, stdin=o.stdin, stdout=o.stdout, stderr=o.stderr
                )

            return await serve_exec(request, url)

        async def attach(request: web.Request) -> web.StreamResponse:
            async def url(o: ExecOptions) -> str:
                return await rt.attach(
                    request.match_info["cid"],
                    tty=o.tty,
                    stdin=o.stdin,
                    stdout=o.stdout,
                    stderr=o.stderr,
                )

            return await serve_attach(request, url)

        async def portforward(request: web.Request) -> web.StreamResponse:
            async def url() -> str:
                return await rt.port_forward(sandbox_id)

            return await serve_portforward(request, url)

        app = web.Application()
        app.router.add_route("*", "/exec/{cid}", exec_)
        app.router.add_route("*", "/attach/{cid}", attach)
        app.router.add_route("*", "/portForward", portforward)
        app.router.add_route("*", "/api/v1/namespaces/{ns}/pods/{pod}/exec", exec_)
        app.router.add_route("*", "/api/v1/namespaces/{ns}/pods/{pod}/portforward", portforward)
        app.router.add_get("/api/v1/namespaces/{ns}/pods/{pod}", fake_pod)
        for path, body in DISCOVERY.items():
            app.router.add_get(path, functools.partial(discovery, body))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            yield Pod(rt, sandbox_id, echo_id, reader_id, str(server.make_url("")).rstrip("/"))
        finally:
            await server.close()


async def ws_exec(
    base: str, query: str, frames: list[bytes], protocol: str = "v5.channel.k8s.io"
) -> dict[int, bytes]:
    got: dict[int, bytes] = {}
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(base + "?" + query, protocols=(protocol,)) as ws,
    ):
        assert ws.protocol == protocol
        for frame in frames:
            await ws.send_bytes(frame)
        async for msg in ws:
            assert msg.type == aiohttp.WSMsgType.BINARY
            got[msg.data[0]] = got.get(msg.data[0], b"") + msg.data[1:]
        assert ws.close_code == 1000
    return got


async def test_exec(pod: Pod) -> None:
    base = f"{pod.base}/exec/{pod.echo_id}"

    # Exit code and both output streams (as kubectl exec p -- sh -c '...; exit 3').
    script = "echo out; echo err >&2; exit 3"
    query = urlencode([("command", "sh"), ("command", "-c"), ("command", script)])
    got = await ws_exec(base, query + "&stdout=true&stderr=true", [])
    assert got.get(1) == b"out\n" and got.get(2) == b"err\n", got
    status = json.loads(got[3])
    assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]

    # Binary stdin ended by the v5 close signal (what kubectl cp relies on).
    payload = bytes(range(256)) * 2000
    frames = [b"\x00" + payload[i : i + 32768] for i in range(0, len(payload), 32768)]
    got = await ws_exec(base, "command=cat&input=1&output=1&error=1", [*frames, b"\xff\x00"])
    assert got[1] == payload
    assert json.loads(got[3]) == {"metadata": {}, "status": "Success"}

    # A terminal: stderr is merged, resize goes through, the shell sees the size.
    got = await ws_exec(
        base,
        "command=sh&stdin=true&stdout=true&stderr=true&tty=true",
        [
            b'\x04{"Width":123,"Height":45}',
            b'\x00while [ -z "$(stty size 2>/dev/null)" ]; do sleep 0.1; done; stty size; exit 0\r',
        ],
    )
    assert b"45 123" in got[1]
    assert 2 not in got or got[2] == b""

    # The same with a v4-only client (no close signal) and the SPDY passthrough.
    got = await ws_exec(base, "command=true&output=1", [], protocol="v4.channel.k8s.io")
    assert json.loads(got[3])["status"] == "Success"
    session, chosen = await spdy.dial(
        base
        + "?"
        + urlencode([("command", "sh"), ("command", "-c"), ("command", "cat; exit 7")])
        + "&input=1&output=1",
        ["v5.channel.k8s.io", "v4.channel.k8s.io"],
    )
    try:
        assert chosen == "v4.channel.k8s.io"
        error = await session.open_stream(spdy.make_headers({"streamType": "error"}))
        stdin = await session.open_stream(spdy.make_headers({"streamType": "stdin"}))
        stdout = await session.open_stream(spdy.make_headers({"streamType": "stdout"}))
        await stdin.write(b"via spdy")
        await stdin.close()
        assert await stdout.read_all() == b"via spdy"
        assert json.loads(await error.read_all())["details"]["causes"][0]["message"] == "7"
    finally:
        await session.close()


async def test_python_client(pod: Pod) -> None:
    from kubernetes import client
    from kubernetes.stream import portforward, stream

    api = client.CoreV1Api(client.ApiClient(client.Configuration(host=pod.base)))

    def run() -> tuple[bytes, int | None, bytes]:
        resp = stream(
            api.connect_get_namespaced_pod_exec,
            "p",
            "default",
            command=["sh", "-c", "cat; exit 4"],
            stdin=True,
            stdout=True,
            stderr=True,
            tty=False,
            binary=True,
            _preload_content=False,
        )
        resp.write_stdin(b"\x00python\xff")
        resp.close_channel(0)
        resp.run_forever(timeout=60)
        out: bytes = resp.read_stdout()
        code = resp.returncode
        resp.close()
        resp.sock.shutdown()

        pf = portforward(api.connect_get_namespaced_pod_portforward, "p", "default", ports="8080")
        sock = pf.socket(8080)
        sock.settimeout(60)
        sock.sendall(b"echo me")
        echoed = b""
        while len(echoed) < 7:
            chunk = sock.recv(100)
            assert chunk
            echoed += chunk
        sock.close()
        pf.close()
        pf.websocket.close()
        return out, code, echoed

    out, code, echoed = await asyncio.to_thread(run)
    assert out == b"\x00python\xff"
    assert code == 4
    assert echoed == b"echo me"


async def _forward(session: spdy.SpdySession, rid: str, payload: bytes) -> bytes:
    h = spdy.make_headers
    error = await session.open_stream(h({"streamType": "error", "port": "8080", "requestID": rid}))
    await error.close()
    data = await session.open_stream(h({"streamType": "data", "port": "8080", "requestID": rid}))
    await data.write(payload)
    received = bytearray()
    while len(received) < len(payload):
        chunk = await data.read()
        assert chunk, f"data stream ended early: {await error.read_all()!r}"
        received += chunk
    await data.close()
    await data.reset()
    return bytes(received)


async def test_portforward(pod: Pod) -> None:
    # kubectl's SPDY port-forward: two connections over one SPDY session.
    session, chosen = await spdy.dial(pod.base + "/portForward", ["portforward.k8s.io"])
    try:
        assert chosen == "portforward.k8s.io"
        payload = os.urandom(300_000)
        assert await _forward(session, "0", payload) == payload
        assert await _forward(session, "1", b"second") == b"second"
    finally:
        await session.close()

    # kubectl 1.31+: the same SPDY tunnelled in WebSocket binary messages.
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            pod.base + "/portForward", protocols=("SPDY/3.1+portforward.k8s.io",)
        ) as ws,
    ):
        reader = asyncio.StreamReader()

        async def pump() -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    reader.feed_data(msg.data)
            reader.feed_eof()

        class Pipe:
            async def send(self, data: bytes) -> None:
                await ws.send_bytes(data)

            async def aclose(self) -> None:
                await ws.close()

        task = asyncio.ensure_future(pump())
        tunnel = spdy.SpdySession(reader, Pipe(), server=False)
        tunnel.start()
        try:
            assert await _forward(tunnel, "0", b"tunnelled") == b"tunnelled"
        finally:
            await tunnel.close()
            task.cancel()

    # WebSocket v4 channels with a port nobody listens on: the error channel says so.
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            pod.base + "/portForward?ports=8081", protocols=("v4.channel.k8s.io",)
        ) as ws,
    ):
        assert await ws.receive_bytes() == b"\x00" + struct.pack("<H", 8081)
        assert await ws.receive_bytes() == b"\x01" + struct.pack("<H", 8081)
        await ws.send_bytes(b"\x00hello")
        msg = await ws.receive_bytes()
        assert msg[0] == 1 and b"8081" in msg, msg


async def test_attach(pod: Pod) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            f"{pod.base}/attach/{pod.reader_id}?input=1&output=1&error=1",
            protocols=("v5.channel.k8s.io",),
        ) as ws,
    ):
        await ws.send_bytes(b"\x00hello\n")
        seen = b""
        while b"got:hello\n" not in seen:
            msg = await ws.receive_bytes()
            if msg[0] == 1:
                seen += msg[1:]


KUBECTL = shutil.which("kubectl")


async def kubectl(
    tmp_path: Path, base: str, *args: str, stdin: bytes = b"", websockets: bool = True
) -> tuple[int, bytes, bytes]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": base}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    flag = "true" if websockets else "false"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "KUBECONFIG": str(kubeconfig),
        "KUBECACHEDIR": str(tmp_path / "kubecache"),
        "KUBECTL_REMOTE_COMMAND_WEBSOCKETS": flag,
        "KUBECTL_PORT_FORWARD_WEBSOCKETS": flag,
    }
    assert KUBECTL is not None
    proc = await asyncio.create_subprocess_exec(
        KUBECTL,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout=60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out, err


@pytest.mark.kubectl
@pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")
@pytest.mark.parametrize("websockets", [True, False], ids=["websocket", "spdy"])
async def test_kubectl(pod: Pod, tmp_path: Path, websockets: bool) -> None:
    run = functools.partial(kubectl, tmp_path, pod.base, websockets=websockets)
    code, out, err = await run("exec", "p", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (code, out, err) == (3, b"out\n", b"err\ncommand terminated with exit code 3\n"), err

    payload = os.urandom(200_000)
    # "; echo stored" keeps the shell's stdout open while cat reads: containerd 1.6
    # closes the exec's stdin as soon as its stdout ends (containerd#13934), which
    # would truncate "sh -c 'cat > f'" whichever client is used (kubectl's SPDY too).
    code, out, err = await run(
        "exec", "-i", "p", "--", "sh", "-c", "cat > /tmp/blob; echo stored", stdin=payload
    )
    assert (code, out) == (0, b"stored\n"), err
    code, out, err = await run("exec", "p", "--", "cat", "/tmp/blob")
    assert (code, out) == (0, payload), err

    # kubectl cp both ways (tar over stdin/stdout; needs the stdin close).
    src = tmp_path / "src.bin"
    src.write_bytes(payload)
    code, out, err = await run("cp", str(src), "p:/tmp/copied.bin")
    assert code == 0, err
    back = tmp_path / "back.bin"
    code, out, err = await run("cp", "p:/tmp/copied.bin", str(back))
    assert code == 0, err
    assert back.read_bytes() == payload

    # port-forward: kubectl listens locally until stopped (by its own handle).
    kubeconfig_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
        "KUBECACHEDIR": str(tmp_path / "kubecache"),
        "KUBECTL_PORT_FORWARD_WEBSOCKETS": "true" if websockets else "false",
    }
    assert KUBECTL is not None
    proc = await asyncio.create_subprocess_exec(
        KUBECTL,
        "port-forward",
        "--address=127.0.0.1",
        "p",
        ":8080",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=kubeconfig_env,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=60)).decode()
        assert line.startswith("Forwarding from 127.0.0.1:"), line
        local = int(line.split("127.0.0.1:")[1].split(" ")[0])
        for message in (b"first connection", b"second connection"):
            reader, writer = await asyncio.open_connection("127.0.0.1", local)
            writer.write(message)
            await writer.drain()
            echoed = await asyncio.wait_for(reader.readexactly(len(message)), timeout=60)
            writer.close()
            await writer.wait_closed()
            assert echoed == message
    finally:
        proc.terminate()
        await proc.wait()


@pytest.mark.kubectl
@pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")
async def test_kubectl_tty(pod: Pod, tmp_path: Path) -> None:
    """kubectl exec -it on a terminal: the terminal's size reaches the container."""
    import fcntl
    import pty
    import termios

    await kubectl(tmp_path, pod.base, "version", "--client")  # writes the kubeconfig
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
        "KUBECACHEDIR": str(tmp_path / "kubecache"),
        "TERM": "dumb",
    }
    assert KUBECTL is not None
    proc = await asyncio.create_subprocess_exec(
        KUBECTL,
        "exec",
        "-it",
        "p",
        "--",
        "sh",
        "-c",
        # The size arrives on the resize stream just after the process starts.
        'while [ -z "$(stty size 2>/dev/null)" ]; do sleep 0.1; done; stty size; exit 5',
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    output = bytearray()
    try:

        def read_all() -> None:
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO once kubectl has exited and closed the terminal
                    return
                if not chunk:
                    return
                output.extend(chunk)

        await asyncio.wait_for(asyncio.to_thread(read_all), timeout=60)
        code = await asyncio.wait_for(proc.wait(), timeout=60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        os.close(master)
    assert b"33 101" in output, bytes(output)
    assert code == 5, bytes(output)
