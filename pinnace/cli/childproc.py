"""Components that ``pinnace server`` runs as child processes of its own.

CPython runs one thread of Python at a time, so a component inside the
server's process shares one core with the API server. The scheduler is the
busiest of them, and ``pinnace server`` runs it as ``pinnace scheduler`` in
a child process by default (as upstream deploys kube-scheduler beside
kube-apiserver; ``pinnace up`` keeps it inside, for memory):

* the child gets a kubeconfig in the server's private run directory (mode
  0600) with the same loopback URL and token an in-process component gets,
  so it talks to the API exactly as it would inside the server;
* it serves its metrics on a Unix socket in that directory, and the server's
  ``/metrics`` appends them (:func:`pinnace.metrics.register_remote`), so
  ``scheduler_*`` stay on the server's endpoint;
* it dies with the server (``PR_SET_PDEATHSIG``, set by the child itself, see
  :func:`die_with_parent`), is restarted with a back-off when it exits on its
  own, and is stopped (SIGTERM, then SIGKILL) when the server stops.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

import pinnace.metrics
from pinnace.client.config import ClientConfig
from pinnace.fileutil import atomic_write

__all__ = ["PARENT_ENV", "ChildComponent", "die_with_parent", "token_kubeconfig"]

log = logging.getLogger("pinnace.children")

PARENT_ENV = "PINNACE_PARENT_PID"
_PR_SET_PDEATHSIG = 1
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes
RESTART_DELAY_MAX = 30.0
STABLE_AFTER = 60.0  # a child that ran this long restarts without back-off


def die_with_parent() -> None:
    """In a child that :class:`ChildComponent` started: have the kernel send
    SIGTERM when the server's process ends, and stop at once if it already
    has. Does nothing in a process started any other way."""
    parent = os.environ.pop(PARENT_ENV, "")
    if not parent.isdigit():
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != int(parent):  # the server died before the prctl
        os.kill(os.getpid(), signal.SIGTERM)


def token_kubeconfig(config: ClientConfig) -> str:
    """A kubeconfig (YAML) for ``config``'s server, CA and bearer token."""
    cluster: dict[str, object] = {"server": config.server}
    if config.ca_data:
        cluster["certificate-authority-data"] = base64.b64encode(config.ca_data).decode()
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "pinnace", "cluster": cluster}],
        "users": [{"name": "component", "user": {"token": config.token or ""}}],
        "contexts": [{"name": "pinnace", "context": {"cluster": "pinnace", "user": "component"}}],
        "current-context": "pinnace",
    }
    return yaml.safe_dump(doc, default_flow_style=False, sort_keys=False)


@dataclass
class ChildComponent:
    """A server component run as ``python -m pinnace <command...> --kubeconfig F
    [--metrics-socket S]`` and supervised from the server's event loop."""

    name: str
    user: str
    command: Sequence[str]
    run_dir: Path
    groups: tuple[str, ...] = ()
    metrics: bool = True
    stop_timeout: float = 10.0
    pid: int | None = field(default=None, init=False)

    def _argv(self, kubeconfig: Path, metrics_socket: Path | None) -> list[str]:
        argv = [sys.executable, "-m", "pinnace", *self.command, "--kubeconfig", str(kubeconfig)]
        if metrics_socket is not None:
            argv += ["--metrics-socket", str(metrics_socket)]
        return argv

    async def run(self, client_config: ClientConfig) -> None:
        self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        kubeconfig = self.run_dir / f"{self.name}.kubeconfig"
        text = token_kubeconfig(client_config).encode()
        await asyncio.to_thread(atomic_write, kubeconfig, text, mode=0o600)
        metrics_socket: Path | None = self.run_dir / f"{self.name}-metrics.sock"
        if not self.metrics:
            metrics_socket = None
        elif len(os.fsencode(str(metrics_socket))) > SOCKET_PATH_MAX:
            log.warning("data dir path too long for a Unix socket: /metrics leaves out the %s's",
                        self.name)  # fmt: skip
            metrics_socket = None
        if metrics_socket is not None:
            pinnace.metrics.register_remote(self.name, _unix_metrics_fetcher(metrics_socket))
        env = {**os.environ, PARENT_ENV: str(os.getpid())}
        argv = self._argv(kubeconfig, metrics_socket)
        proc: asyncio.subprocess.Process | None = None
        delay = 1.0
        try:
            while True:
                started = time.monotonic()
                proc = await asyncio.create_subprocess_exec(
                    *argv, env=env, stdin=asyncio.subprocess.DEVNULL
                )
                self.pid = proc.pid
                log.info("started the %s (pid %d)", self.name, proc.pid)
                rc = await proc.wait()
                self.pid = None
                if time.monotonic() - started > STABLE_AFTER:
                    delay = 1.0
                log.warning("the %s (pid %d) exited with %s; restarting it in %.0fs",
                            self.name, proc.pid, rc, delay)  # fmt: skip
                proc = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, RESTART_DELAY_MAX)
        finally:
            if proc is not None and proc.returncode is None:
                await _stop(proc, self.stop_timeout)
            self.pid = None
            if metrics_socket is not None:
                pinnace.metrics.unregister_remote(self.name)
            for path in (kubeconfig, metrics_socket):
                if path is not None:
                    with contextlib.suppress(OSError):
                        path.unlink()


async def _stop(proc: asyncio.subprocess.Process, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(asyncio.shield(proc.wait()), timeout)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def _unix_metrics_fetcher(path: Path) -> pinnace.metrics.RemoteFetch:
    """GET /metrics from a child's Unix socket (the loopback client; a new
    connection each time, the endpoint is scraped every few seconds at most)."""
    from pinnace.client.loopback import LoopbackTransport
    from pinnace.client.transport import UNIX_SCHEME

    config = ClientConfig(server=UNIX_SCHEME + str(path), timeout=5.0)

    async def fetch() -> bytes:
        transport = LoopbackTransport(config)
        try:
            resp = await transport.request("GET", "/metrics")
        finally:
            await transport.close()
        if resp.status != 200:
            raise OSError(f"GET /metrics answered {resp.status}")
        return resp.body

    return fetch
