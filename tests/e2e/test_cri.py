"""The CRI client and the supervised containerd against a real containerd 1.6.

A pod on a CNI bridge private to the test (busybox printing to a CRI log,
ExecSync, an Exec URL, the pod IP answering from the host), reuse of a running
containerd by a later agent, restart after a crash, and a clear error when the
CRI plugin cannot load. Every test leaves no containerd, shim, mount or bridge
behind, and checks that it does not.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pinnace.kubelet.containerd import CRI_PLUGIN, Containerd, ContainerdError
from pinnace.kubelet.cri import CRIError, RuntimeClient
from pinnace.kubelet.cri import api_pb2 as cri
from tests.containerd import (
    BUSYBOX_IMAGE,
    PAUSE_IMAGE,
    bridge_exists,
    leftover_processes,
    private_containerd,
)

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("containerd") is None, reason="needs containerd"),
]


@pytest.fixture(scope="session")
def layout_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One OCI layout for the session; the image recipes skip rebuilding."""
    return tmp_path_factory.mktemp("cri-images")


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path)
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]


async def _eventually(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _sandbox_config(name: str, log_dir: Path) -> cri.PodSandboxConfig:
    return cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(name=name, uid=f"uid-{name}", namespace="default"),
        hostname=name,
        log_directory=str(log_dir),
        labels={"io.kubernetes.pod.name": name},
        linux=cri.LinuxPodSandboxConfig(
            security_context=cri.LinuxSandboxSecurityContext(
                namespace_options=cri.NamespaceOption(
                    network=cri.POD, pid=cri.CONTAINER, ipc=cri.POD
                )
            )
        ),
    )


async def test_pod_on_a_bridge(tmp_path: Path, layout_dir: Path) -> None:
    async with private_containerd(
        tmp_path, layout_dir=layout_dir, busybox=True, network=True
    ) as env:
        rt = env.rt
        bridge = env.network
        assert bridge is not None

        version = await rt.version()
        assert (version.runtime_name, version.runtime_api_version) == ("containerd", "v1")
        ready = await env.containerd.readiness()
        assert ready.runtime_ready and ready.network_ready
        rss = env.containerd.rss_bytes()
        assert rss is not None and rss > 1 << 20

        pod_logs = env.log_dir / "default_web_uid-web"
        pod_logs.mkdir()
        sandbox_config = _sandbox_config("web", pod_logs)
        sandbox_id = await rt.run_pod_sandbox(sandbox_config)
        sandbox = await rt.pod_sandbox_status(sandbox_id)
        assert sandbox.state == cri.SANDBOX_READY
        assert sandbox.metadata.name == "web"
        pod_ip = ipaddress.IPv4Address(sandbox.network.ip)
        assert pod_ip in bridge.subnet and pod_ip != bridge.gateway
        assert bridge_exists(bridge.name)

        config = cri.ContainerConfig(
            metadata=cri.ContainerMetadata(name="main"),
            image=cri.ImageSpec(image=BUSYBOX_IMAGE),
            command=["sh", "-c", "echo hi; sleep 3600"],
            log_path="main/0.log",
            labels={"io.kubernetes.container.name": "main"},
        )
        container_id = await rt.create_container(sandbox_id, config, sandbox_config)
        await rt.start_container(container_id)

        status = await rt.container_status(container_id)
        assert status.state == cri.CONTAINER_RUNNING
        assert status.log_path == str(pod_logs / "main" / "0.log")
        listed = await rt.list_containers(pod_sandbox_id=sandbox_id, state=cri.CONTAINER_RUNNING)
        assert [c.id for c in listed] == [container_id]

        log_file = pod_logs / "main" / "0.log"
        await _eventually(lambda: log_file.exists() and "hi" in log_file.read_text(), "log")
        first = log_file.read_text().splitlines()[0]
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) stdout F hi", first
        )

        result = await rt.exec_sync(container_id, ["echo", "hello"], 10)
        assert (result.stdout, result.stderr, result.exit_code) == (b"hello\n", b"", 0)
        result = await rt.exec_sync(container_id, ["sh", "-c", "echo oops >&2; exit 3"], 10)
        assert (result.stderr, result.exit_code) == (b"oops\n", 3)

        url = await rt.exec(container_id, ["sh"], stdin=True, tty=True)
        assert re.fullmatch(r"http://127\.0\.0\.1:[1-9]\d*/exec/\S+", url), url

        # The pod IP answers from the host, through our bridge.
        await rt.exec_sync(
            container_id, ["sh", "-c", "echo pong | nc -l -p 8080 >/dev/null 2>&1 &"], 10
        )
        reply = b""
        for _ in range(100):
            try:
                reader, writer = await asyncio.open_connection(str(pod_ip), 8080)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            reply = await reader.read(100)
            writer.close()
            await writer.wait_closed()
            break
        assert reply == b"pong\n"

        await rt.stop_container(container_id, 5)
        status = await rt.container_status(container_id)
        assert status.state == cri.CONTAINER_EXITED
        await rt.stop_pod_sandbox(sandbox_id)
        assert (await rt.pod_sandbox_status(sandbox_id)).state == cri.SANDBOX_NOTREADY
        await rt.remove_pod_sandbox(sandbox_id)
        assert await rt.list_pod_sandbox() == []
        assert await rt.list_containers() == []
        with pytest.raises(CRIError) as info:
            await rt.container_status(container_id)
        assert info.value.is_not_found

    assert leftover_processes(tmp_path) == []
    assert not bridge_exists(bridge.name)
    assert _mounts_under(tmp_path) == []


async def test_cleanup_removes_pods_left_running(tmp_path: Path, layout_dir: Path) -> None:
    async with private_containerd(tmp_path, layout_dir=layout_dir, network=True) as env:
        bridge = env.network
        assert bridge is not None
        config = _sandbox_config("left", env.log_dir)
        await env.rt.run_pod_sandbox(config)
        assert any("containerd-shim" in cmd for _, cmd in leftover_processes(tmp_path))
    assert leftover_processes(tmp_path) == []
    assert not bridge_exists(bridge.name)
    assert _mounts_under(tmp_path) == []


_START_AND_DETACH = """
import asyncio, sys
from pathlib import Path
from pinnace.kubelet.containerd import Containerd

async def main():
    c = Containerd(Path(sys.argv[1]), sandbox_image=sys.argv[2], cni_conf_dir=Path(sys.argv[3]))
    await c.start()
    await c.close()
    print(c.pid)

asyncio.run(main())
"""


def _containerd(state_dir: Path, cni_dir: Path) -> Containerd:
    return Containerd(state_dir, sandbox_image=PAUSE_IMAGE, cni_conf_dir=cni_dir)


async def test_a_later_agent_reuses_the_running_containerd(tmp_path: Path) -> None:
    state_dir, cni_dir = tmp_path / "sd", tmp_path / "cni"
    cni_dir.mkdir()
    # An "agent" process starts containerd, then exits without stopping it.
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _START_AND_DETACH,
        str(state_dir),
        PAUSE_IMAGE,
        str(cni_dir),
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    )
    out, _ = await proc.communicate()
    first = _containerd(state_dir, cni_dir)
    second = _containerd(state_dir, cni_dir)
    try:
        assert proc.returncode == 0
        pid = int(out.decode().split()[-1])
        # It survived its parent: it runs in its own session.
        assert os.getsid(pid) == pid

        await first.start()
        assert first.reused and first.pid == pid
        await second.start()
        assert second.reused and second.pid == pid
        async with RuntimeClient(second.address) as rt:
            assert (await rt.version()).runtime_name == "containerd"
        ready = await second.wait_ready()
        assert ready.runtime_ready and not ready.network_ready  # no CNI config yet

        await second.close()  # stops supervising only
        assert os.path.exists(f"/proc/{pid}")
    finally:
        await first.stop()
        await second.stop()
    assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid)
    assert leftover_processes(tmp_path) == []


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


async def test_a_changed_config_replaces_the_running_containerd(tmp_path: Path) -> None:
    state_dir, cni_dir = tmp_path / "sd", tmp_path / "cni"
    first = _containerd(state_dir, cni_dir)
    second = Containerd(state_dir, sandbox_image="localhost/other:1", cni_conf_dir=cni_dir)
    try:
        await first.start()
        await first.close()
        await second.start()
        assert not second.reused
        assert second.pid != first.pid
        assert 'sandbox_image = "localhost/other:1"' in second.config_path.read_text()
    finally:
        await first.stop()
        await second.stop()
    assert leftover_processes(tmp_path) == []


async def test_supervisor_restarts_a_crashed_containerd(tmp_path: Path) -> None:
    c = _containerd(tmp_path / "sd", tmp_path / "cni")
    try:
        await c.start()
        crashed = c.pid
        assert crashed is not None
        os.kill(crashed, signal.SIGKILL)
        await _eventually(lambda: c.restarts == 1 and c.pid not in (None, crashed), "restart")
        async with RuntimeClient(c.address) as rt:
            assert (await rt.version()).runtime_name == "containerd"
        assert int(c.pid_file.read_text()) == c.pid
    finally:
        await c.stop()
    assert leftover_processes(tmp_path) == []


class _MirrorsAndConfigPath(Containerd):
    """A config containerd 1.6 rejects: registry mirrors next to config_path."""

    def render_config(self) -> str:
        return (
            super().render_config()
            + f'\n[plugins."{CRI_PLUGIN}".registry.mirrors."docker.io"]\n'
            + 'endpoint = ["http://127.0.0.1:5000"]\n'
        )


async def test_cri_plugin_failure_is_reported(tmp_path: Path) -> None:
    c = _MirrorsAndConfigPath(
        tmp_path / "sd",
        sandbox_image=PAUSE_IMAGE,
        cni_conf_dir=tmp_path / "cni",
        registry_config_dir=tmp_path / "certs.d",
    )
    try:
        with pytest.raises(ContainerdError, match="CRI plugin failed to load") as info:
            await c.start()
        assert "mirrors" in str(info.value)
        assert c.pid is None
    finally:
        await c.stop()
    assert leftover_processes(tmp_path) == []
