"""Test helper: a real ``pinnace server`` process on a free loopback port with
its own data dir, and a real ``kubectl`` pointed at it (with its own cache
dir), so tests drive pinnace exactly as a user would."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PINNACE = [sys.executable, "-m", "pinnace"]
KUBECTL = os.environ.get("KUBECTL", "/usr/bin/kubectl")


_handed_out: set[int] = set()


def wait_until(what: str, fn: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll ``fn`` until it returns something true (returned), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def free_port() -> int:
    """A port free now that this process has not handed out before.

    The kernel may give the same ephemeral port to two binds in a row once the
    first socket is closed; two flags of one command line (say, the DNS port
    and its metrics port) then collide when the server binds both.
    """
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def free_dns_port() -> int:
    """A port free for both TCP and UDP on every address (cluster DNS binds
    both on the node's address): :func:`free_port` checks TCP on loopback
    only, and a UDP socket elsewhere (a DNS forwarder's query socket) could
    hold the same number."""
    while True:
        port = free_port()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
                u.bind(("0.0.0.0", port))
                t.bind(("0.0.0.0", port))
        except OSError:
            continue
        return port


@dataclass
class Server:
    data_dir: Path
    port: int = 0
    storage: str = ""
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    extra_args: list[str] = field(default_factory=list)

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "admin.kubeconfig"

    def start(self, timeout: float = 60.0) -> Server:
        if not self.port:
            self.port = free_port()
        if self.kubeconfig.exists():
            self.kubeconfig.unlink()
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-server.log"
        args = [*PINNACE, "server", "--data-dir", str(self.data_dir), "--port", str(self.port)]
        if self.storage:
            args += ["--storage", self.storage]
        if "--dns-port" not in self.extra_args and "dns" not in self.extra_args:
            # cluster DNS would listen on the host's port 53: only clusters
            # that test it run it, on ports of their own
            args += ["--disable", "dns"]
        args += self.extra_args
        logf = open(self.log_path, "ab")
        # an in-process server of an earlier test sets this for its local-path
        # provisioner; this server must pick its own (under its data dir)
        env = {k: v for k, v in os.environ.items() if k != "PINNACE_LOCAL_PATH_DIR"}
        self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pinnace server exited early:\n{self.log()}")
            if self.kubeconfig.exists():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"pinnace server did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path else ""

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        rc = self.proc.returncode
        self.proc = None
        return rc

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)

    # -- kubectl --------------------------------------------------------------

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.data_dir.parent / "kubecache"),
            "KUBECTL_EXTERNAL_DIFF": "diff -u -N",
        }
        env.pop("KUBERNETES_SERVICE_HOST", None)
        p = subprocess.run(
            [KUBECTL, *args],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        if check and p.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
            )
        return p

    def kubectl_popen(self, *args: str) -> subprocess.Popen[str]:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.data_dir.parent / "kubecache"),
        }
        return subprocess.Popen(
            [KUBECTL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )

    # -- official Python client -------------------------------------------------

    def api_client(self) -> Any:
        from kubernetes import client, config

        cfg = client.Configuration()
        config.load_kube_config(config_file=str(self.kubeconfig), client_configuration=cfg)
        return client.ApiClient(cfg)


def add_ready_node(server: Server, name: str) -> None:
    """A Node object ``name`` with 4 CPUs, 8 GiB and a Ready condition, and no
    kubelet behind it (for scheduling without one)."""
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
    }
    server.kubectl("apply", "-f", "-", input=json.dumps(node))
    status = {
        "status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        }
    }
    server.kubectl(
        "patch", "node", name, "--subresource=status", "--type=merge", "-p", json.dumps(status)
    )


class RawClient:
    """Plain HTTPS requests with the admin client certificate, for tests that
    must control the exact bytes (malformed bodies, odd media types)."""

    def __init__(self, server: Server) -> None:
        import base64
        import ssl
        import tempfile

        import yaml

        cfg = yaml.safe_load(server.kubeconfig.read_text())
        cluster = cfg["clusters"][0]["cluster"]
        user = cfg["users"][0]["user"]
        self.base = cluster["server"]
        d = Path(tempfile.mkdtemp(prefix="pinnace-raw-"))
        ca = d / "ca.crt"
        ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        crt = d / "client.crt"
        crt.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key = d / "client.key"
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        self.ctx = ssl.create_default_context(cafile=str(ca))
        self.ctx.load_cert_chain(str(crt), str(key))
        self.anon_ctx = ssl.create_default_context(cafile=str(ca))

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        anonymous: bool = False,
    ) -> tuple[int, dict[str, str], bytes]:
        import http.client
        from urllib.parse import urlparse

        u = urlparse(self.base)
        conn = http.client.HTTPSConnection(
            u.hostname, u.port, context=self.anon_ctx if anonymous else self.ctx, timeout=30
        )
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, obj: Any = None, **kw: Any) -> tuple[int, Any]:
        import json as _json

        body = None if obj is None else _json.dumps(obj).encode()
        headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
        status, _, data = self.request(method, path, body, headers, **kw)
        try:
            return status, _json.loads(data) if data else None
        except ValueError:
            return status, data
