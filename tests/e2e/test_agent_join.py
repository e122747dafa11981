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
        agent.terminate()
        try:
            agent.wait(20)
        except subprocess.TimeoutExpired:
            agent.kill()
        cleanup_agent_runtime(agent_dir, bridge)
