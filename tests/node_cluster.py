"""Test helper: a one-node cluster that runs real containers.

``pinnace server --agent`` (API server, controllers, scheduler and the node
agent in one process, as ``pinnace up``) with its own data dir, a private
containerd under it, a pod bridge and pod CIDR of its own, and image pulls of
``docker.io`` mirrored to a loopback registry holding the test images (see
``tests/images.py``), so manifests say ``image: busybox`` as users write them.

Teardown leaves nothing behind: every sandbox is stopped and removed over CRI
(which stops the containers and their shims), containerd is stopped, and the
bridge is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.cluster import Server, free_dns_port, free_port

__all__ = ["NodeCluster", "cleanup_agent_runtime", "cleanup_proxy_rules"]


def write_registries_yaml(path: Path, registry: str) -> Path:
    path.write_text(f'mirrors:\n  "docker.io":\n    endpoint:\n      - "http://{registry}"\n')
    return path


async def _cleanup_runtime(address: str) -> None:
    from pinnace.kubelet.cgroups import remove_pod_cgroups
    from pinnace.kubelet.cri.client import CRIError, RuntimeClient

    async with RuntimeClient(address, timeout=30) as rt:
        sandboxes = await rt.list_pod_sandbox()
        for sb in sandboxes:
            with contextlib.suppress(CRIError):
                await rt.stop_pod_sandbox(sb.id)
            with contextlib.suppress(CRIError):
                await rt.remove_pod_sandbox(sb.id)
        for sb in sandboxes:
            remove_pod_cgroups(sb.metadata.uid)


def _remove_idle_portmap_chains() -> None:
    """The portmap plugin's shared chains, once no pod uses them (it never removes them)."""
    rules = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True).stdout
    if any(line.startswith("-A CNI-HOSTPORT-DNAT") or line.startswith("-A CNI-DN-")
           for line in rules.splitlines()):  # fmt: skip
        return
    for line in rules.splitlines():
        if line.startswith("-A ") and "-j CNI-HOSTPORT-" in line and not line.startswith("-A CNI-"):
            import shlex

            subprocess.run(
                ["iptables", "-t", "nat", "-D", *shlex.split(line)[1:]], capture_output=True
            )
    for chain in ("CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK"):
        subprocess.run(["iptables", "-t", "nat", "-F", chain], capture_output=True)
        subprocess.run(["iptables", "-t", "nat", "-X", chain], capture_output=True)


def cleanup_agent_runtime(agent_dir: Path, bridge: str) -> None:
    """Stop every pod of the agent's containerd, then containerd; delete the bridge."""
    cdir = agent_dir / "containerd"
    sock = cdir / "containerd.sock"
    if sock.exists():
        with contextlib.suppress(Exception):
            asyncio.run(asyncio.wait_for(_cleanup_runtime(str(sock)), 60))
    pid_file = cdir / "containerd.pid"
    if pid_file.exists():
        with contextlib.suppress(ValueError, OSError):
            pid = int(pid_file.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
    subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    from pinnace.kubelet.cni import remove_masquerade

    remove_masquerade(bridge)
    _remove_idle_portmap_chains()
    # mounts left under the agent dir (tmpfs volumes, shm) would keep the dir busy
    with contextlib.suppress(OSError):
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        targets = [m.split()[1] for m in mounts if m.split()[1].startswith(str(agent_dir))]
        for t in sorted(targets, key=len, reverse=True):
            subprocess.run(["umount", "-l", t], capture_output=True)


def cleanup_proxy_rules() -> None:
    """What kube-proxy programmed on the host (``pinnace proxy --cleanup``)."""
    import sys

    subprocess.run(
        [sys.executable, "-m", "pinnace", "proxy", "--cleanup"], capture_output=True, timeout=60
    )


class NodeCluster(Server):
    """A :class:`Server` with the node agent; ``node`` is its node name."""

    def __init__(self, data_dir: Path, *, registry: str, bridge: str, node: str = "node-1",
                 pod_cidr: str = "10.244.0.0/24", proxy_mode: str = "iptables",
                 extra_args: list[str] | None = None) -> None:  # fmt: skip
        regfile = write_registries_yaml(
            data_dir.parent / f"{data_dir.name}-registries.yaml", registry
        )
        super().__init__(data_dir)
        self.node = node
        self.bridge = bridge
        self.dns_port = free_dns_port()
        self.extra_args = [
            "--agent",
            "--node-name", node,
            "--kubelet-port", "0",  # any free port, picked at bind time (no race)
            "--housekeeping-interval", "1",  # evictions within a second or two
            "--registry-config", str(regfile),
            "--cni-bridge", bridge,
            "--pod-cidr", pod_cidr,
            "--cluster-cidr", pod_cidr,
            "--proxy-mode", proxy_mode,
            # cluster DNS on a free port of the node's address (the kube-dns
            # Service's port 53 leads there), never forwarding off this machine
            "--dns-port", str(self.dns_port),
            "--dns-metrics-port", str(free_port()),
            *(extra_args or ["--dns-upstream", "127.0.0.1:9"]),
        ]  # fmt: skip

    @property
    def agent_dir(self) -> Path:
        return self.data_dir / "agent"

    def wait_node_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            p = self.kubectl("get", "node", self.node, "-o", "json", check=False)
            if p.returncode == 0:
                node = json.loads(p.stdout)
                conds = {c["type"]: c for c in node.get("status", {}).get("conditions", [])}
                ready = conds.get("Ready", {})
                if ready.get("status") == "True":
                    return
                last = ready.get("message", "")
            time.sleep(0.5)
        raise AssertionError(f"node {self.node} not Ready: {last}\n{self.log()}")

    def pod(self, name: str, namespace: str = "default") -> dict[str, Any]:
        return json.loads(self.kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout)

    def wait_pod(self, name: str, predicate: Any, *, timeout: float = 90.0,
                 namespace: str = "default") -> dict[str, Any]:  # fmt: skip
        deadline = time.monotonic() + timeout
        pod: dict[str, Any] = {}
        while time.monotonic() < deadline:
            p = self.kubectl("get", "pod", name, "-n", namespace, "-o", "json", check=False)
            if p.returncode == 0:
                pod = json.loads(p.stdout)
                if predicate(pod):
                    return pod
            time.sleep(0.3)
        raise AssertionError(
            f"pod {name} never got there: {json.dumps(pod.get('status'), indent=1)}\n"
            + self.kubectl("get", "events", "-n", namespace, check=False).stdout
            + self.log()
        )

    def shutdown(self) -> None:
        with contextlib.suppress(Exception):
            self.kubectl("delete", "pods", "--all", "-A", "--wait=false", check=False, timeout=30)
        self.stop()
        cleanup_agent_runtime(self.agent_dir, self.bridge)
        cleanup_proxy_rules()
