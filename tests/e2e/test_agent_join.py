"""A node agent in its own process joining with the server's URL and join token
(``pinnace agent --server URL --token T``), as on a second machine."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import PINNACE, ROOT, Server, free_port
from tests.node_cluster import cleanup_agent_runtime, write_registries_yaml

pytestmark = [pytest.mark.node, pytest.mark.slow]


def stop_agent(agent: subprocess.Popen[bytes]) -> None:
    agent.terminate()
    try:
        agent.wait(20)
    except subprocess.TimeoutExpired:
        agent.kill()


@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path / "server").start()
    try:
        yield server
    finally:
        server.stop()


def test_agent_joins_with_a_token_and_runs_a_pod(
    control_plane: Server, registry: str, tmp_path: Path
) -> None:
    c = control_plane
    token = (c.data_dir / "node-token").read_text().strip()
    assert token.startswith("K10") and "::node:" in token
    agent_dir = tmp_path / "agent"
    bridge = f"pnj{free_port() % 10000}"
    log = open(tmp_path / "agent.log", "ab")
    args = [
        *PINNACE, "agent", "--server", f"https://127.0.0.1:{c.port}", "--token", token,
        "--data-dir", str(agent_dir), "--node-name", "joined-1",
        "--kubelet-port", str(free_port()),
        "--registry-config", str(write_registries_yaml(tmp_path / "registries.yaml", registry)),
        "--cni-bridge", bridge, "--pod-cidr", "10.244.230.0/24",
    ]  # fmt: skip
    agent = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        ready: dict[str, Any] = {}
        while time.monotonic() < deadline:
            p = c.kubectl("get", "node", "joined-1", "-o", "json", check=False)
            if p.returncode == 0:
                conds = {
                    x["type"]: x
                    for x in (json.loads(p.stdout).get("status") or {}).get("conditions", [])
                }
                ready = conds.get("Ready", {})
                if ready.get("status") == "True":
                    break
            assert agent.poll() is None, (tmp_path / "agent.log").read_text()
            time.sleep(0.5)
        assert ready.get("status") == "True", (tmp_path / "agent.log").read_text()
        c.kubectl(
            "run",
            "joined-pod",
            "--image=busybox",
            "--restart=Never",
            "--",
            "sh",
            "-c",
            "echo joined; sleep 3600",
        )
        deadline = time.monotonic() + 60
        out = ""
        while "joined" not in out and time.monotonic() < deadline:
            out = c.kubectl("logs", "joined-pod", check=False).stdout
            time.sleep(0.5)
        assert out == "joined\n"
        # a wrong token is refused before anything is registered
        bad = subprocess.run(
            [*PINNACE, "agent", "--server", f"https://127.0.0.1:{c.port}",
             "--token", "K10" + "0" * 64 + "::node:nope", "--data-dir", str(tmp_path / "bad")],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip
        assert bad.returncode == 1 and "not the one in the token" in bad.stderr
    finally:
        c.kubectl("delete", "pods", "--all", "--wait=false", check=False)
        stop_agent(agent)
        cleanup_agent_runtime(agent_dir, bridge)


def test_agent_fails_over_between_servers_sharing_etcd(registry: str, tmp_path: Path) -> None:
    """``--server A,B``: when A stops, the agent's kubelet carries on through B
    (its Lease keeps being renewed and a new pod runs)."""
    import shutil

    from tests.etcd_cluster import EtcdCluster, etcd_available

    if not etcd_available():
        pytest.skip("/usr/bin/etcd is not installed (scripts/setup installs etcd-server)")
    etcd = EtcdCluster(tmp_path / "etcd", size=1)
    etcd.start()
    storage = "etcd://" + ",".join(etcd.endpoints)
    a = Server(tmp_path / "a", storage=storage).start()
    (tmp_path / "b" / "pki").mkdir(parents=True)
    for name in ("pki/ca.crt", "pki/ca.key", "pki/service-account.key", "node-token"):
        shutil.copy(tmp_path / "a" / name, tmp_path / "b" / name)
    b = Server(tmp_path / "b", storage=storage).start()
    token = (a.data_dir / "node-token").read_text().strip()
    agent_dir = tmp_path / "agent"
    bridge = f"pnf{free_port() % 10000}"
    log_path = tmp_path / "agent.log"
    args = [
        *PINNACE, "agent", "--token", token,
        "--server", f"https://127.0.0.1:{a.port},https://127.0.0.1:{b.port}",
        "--data-dir", str(agent_dir), "--node-name", "ha-1",
        "--kubelet-port", str(free_port()),
        "--registry-config", str(write_registries_yaml(tmp_path / "registries.yaml", registry)),
        "--cni-bridge", bridge, "--pod-cidr", "10.244.231.0/24",
    ]  # fmt: skip
    agent = subprocess.Popen(args, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, cwd=ROOT)

    def renew_time(server: Server) -> str:
        p = server.kubectl("get", "lease", "-n", "kube-node-lease", "ha-1", "-o",
                           "jsonpath={.spec.renewTime}", check=False)  # fmt: skip
        return p.stdout if p.returncode == 0 else ""

    def wait(what: str, fn: Any, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = fn()
            if value:
                return value
            assert agent.poll() is None, log_path.read_text()
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}:\n{log_path.read_text()[-3000:]}")

    try:
        wait("the node", lambda: b.kubectl("get", "node", "ha-1", check=False).returncode == 0)
        first = wait("a lease renewal", lambda: renew_time(b))
        a.stop()
        # the kubelet renews every 10 s: a renewal after A stopped came through B
        wait("a renewal through B", lambda: renew_time(b) not in ("", first), timeout=40)
        b.kubectl("run", "ha-pod", "--image=busybox", "--restart=Never", "--overrides",
                  json.dumps({"spec": {"nodeName": "ha-1"}}), "--", "sh", "-c",
                  "echo through-b; sleep 3600")  # fmt: skip
        wait(
            "the pod's log through B",
            lambda: b.kubectl("logs", "ha-pod", check=False).stdout == "through-b\n",
        )
        assert "unreachable" in log_path.read_text()  # the agent said it moved on
    finally:
        b.kubectl("delete", "pods", "--all", "--wait=false", check=False)
        stop_agent(agent)
        cleanup_agent_runtime(agent_dir, bridge)
        a.stop()
        b.stop()
        etcd.stop()
