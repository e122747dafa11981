"""A throwaway etcd cluster on 127.0.0.1 for tests (reusable by any test).

    cluster = EtcdCluster(tmp_dir, size=3)
    cluster.start()            # waits until every member is healthy
    cluster.endpoints          # ["127.0.0.1:PORT", ...] (client URLs)
    cluster.kill(i) / cluster.restart(i)
    cluster.stop()             # always call it (a fixture's finally)

Members run ``/usr/bin/etcd`` with short heartbeat/election timeouts, so a
killed leader is replaced in well under a second. Each member is started with
PR_SET_PDEATHSIG, so even a ``kill -9`` of the test process does not leave
etcd processes behind; ``stop()`` and an atexit hook handle normal exits.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ETCD_BINARY = "/usr/bin/etcd"
_PR_SET_PDEATHSIG = 1
# Loopback only, and never through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def etcd_available() -> bool:
    return os.access(ETCD_BINARY, os.X_OK)


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class EtcdCluster:
    def __init__(self, base_dir: Path, size: int = 3, *, binary: str = ETCD_BINARY) -> None:
        self.base_dir = Path(base_dir)
        self.size = size
        self.binary = binary
        ports = _free_ports(2 * size)
        self.client_ports = ports[:size]
        self.peer_ports = ports[size:]
        self.names = [f"m{i}" for i in range(size)]
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * size
        self._initial_cluster = ",".join(
            f"{name}=http://127.0.0.1:{port}"
            for name, port in zip(self.names, self.peer_ports, strict=True)
        )
        atexit.register(self.stop)

    @property
    def endpoints(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.client_ports]

    def _spawn(self, i: int, state: str) -> None:
        client = f"http://127.0.0.1:{self.client_ports[i]}"
        peer = f"http://127.0.0.1:{self.peer_ports[i]}"
        data_dir = self.base_dir / self.names[i]
        args = [
            self.binary,
            "--name", self.names[i],
            "--data-dir", str(data_dir),
            "--listen-client-urls", client,
            "--advertise-client-urls", client,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", self._initial_cluster,
            "--initial-cluster-token", f"pinnace-test-{self.client_ports[0]}",
            "--initial-cluster-state", state,
            "--heartbeat-interval", "25",
            "--election-timeout", "250",
            "--experimental-watch-progress-notify-interval", "2s",
            "--logger", "zap",
            "--log-level", "warn",
        ]  # fmt: skip
        log = open(self.base_dir / f"{self.names[i]}.log", "ab")
        try:
            self.procs[i] = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()

    def start(self, timeout: float = 20.0) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        try:
            for i in range(self.size):
                self._spawn(i, "new")
            self.wait_healthy(timeout=timeout)
        except BaseException:
            self.stop()
            raise

    def _get(self, i: int, path: str, body: bytes | None = None) -> dict[str, object]:
        url = f"http://127.0.0.1:{self.client_ports[i]}{path}"
        req = urllib.request.Request(url, data=body, method="POST" if body else "GET")
        with _OPENER.open(req, timeout=1.0) as resp:
            reply = json.loads(resp.read())
        assert isinstance(reply, dict)
        return reply

    def healthy(self, i: int) -> bool:
        try:
            return self._get(i, "/health").get("health") == "true"
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def wait_healthy(self, members: list[int] | None = None, timeout: float = 20.0) -> None:
        members = list(range(self.size)) if members is None else members
        deadline = time.monotonic() + timeout
        while True:
            for i in members:
                proc = self.procs[i]
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"etcd {self.names[i]} exited: {self.log_tail(i)}")
            if all(self.healthy(i) for i in members):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"etcd cluster not healthy after {timeout}s: {self.log_tail(0)}")
            time.sleep(0.05)

    def leader_index(self) -> int:
        """Index of the leader all live members agree on (RuntimeError if none)."""
        member_ids: dict[str, int] = {}
        leaders: set[str] = set()
        for i in range(self.size):
            if self.procs[i] is None:
                continue
            try:
                status = self._get(i, "/v3/maintenance/status", b"{}")
            except (OSError, urllib.error.URLError, ValueError):
                raise RuntimeError(f"etcd {self.names[i]} does not answer") from None
            header = status.get("header")
            if isinstance(header, dict):
                member_ids[str(header.get("member_id"))] = i
            leaders.add(str(status.get("leader", "")))
        if len(leaders) == 1 and (leader := leaders.pop()) in member_ids:
            return member_ids[leader]
        raise RuntimeError("the live etcd members do not agree on a live leader")

    def wait_leader(self, timeout: float = 10.0) -> int:
        """Wait until the live members agree on a live leader; its index."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.leader_index()
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        if proc is not None:
            proc.kill()
            proc.wait()
            self.procs[i] = None

    def restart(self, i: int, timeout: float = 20.0) -> None:
        """Start a killed member again on its old data dir."""
        if self.procs[i] is None:
            self._spawn(i, "existing")
        self.wait_healthy(timeout=timeout)

    def log_tail(self, i: int, n: int = 2000) -> str:
        try:
            return (self.base_dir / f"{self.names[i]}.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Kill every member (SIGKILL: a graceful stop of a whole cluster waits
        for leadership transfers that cannot happen; the data is throwaway)."""
        for i in range(self.size):
            self.kill(i)
        atexit.unregister(self.stop)

    def remove_data(self) -> None:
        shutil.rmtree(self.base_dir, ignore_errors=True)
