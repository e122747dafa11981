"""A throwaway OCI registry on 127.0.0.1 for tests: Debian's ``docker-registry`` (distribution 2.8).

    with RegistryServer(tmp_path) as reg:          # or: async with RegistryServer(...)
        reg.address                                # "127.0.0.1:PORT"
        reg.url                                    # "http://127.0.0.1:PORT"

The registry gets a minimal config of its own (loopback address on a free
port, filesystem storage under the given dir, deletes enabled, no access log)
instead of Debian's default, which turns on htpasswd auth. Give
``users={"name": "password"}`` to turn on basic auth with an htpasswd file of
our own (bcrypt hashes made with the ``crypt`` module). Start-up waits until
``GET /v2/`` answers; the process is started with PR_SET_PDEATHSIG and always
stopped on exit by its own handle.
"""

from __future__ import annotations

import asyncio
import ctypes
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from types import TracebackType

REGISTRY_BINARY = "/usr/bin/docker-registry"
_PR_SET_PDEATHSIG = 1
# Loopback only, and never through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bcrypt(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))


class RegistryServer:
    def __init__(
        self,
        base_dir: Path,
        *,
        users: dict[str, str] | None = None,
        binary: str = REGISTRY_BINARY,
        start_timeout: float = 30.0,
    ) -> None:
        self.base_dir = Path(base_dir)
        self.users = dict(users or {})
        self.binary = binary
        self.start_timeout = start_timeout
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def _write_config(self) -> Path:
        storage = self.base_dir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        lines = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {storage}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: {self.address}",
        ]
        if self.users:
            htpasswd = self.base_dir / "htpasswd"
            htpasswd.write_text("".join(f"{u}:{_bcrypt(p)}\n" for u, p in self.users.items()))
            lines += ["auth:", "  htpasswd:", "    realm: pinnace-test", f"    path: {htpasswd}"]
        config = self.base_dir / "config.yml"
        config.write_text("\n".join(lines) + "\n")
        return config

    def _answers(self) -> bool:
        try:
            with _OPENER.open(f"{self.url}/v2/", timeout=2) as resp:
                return bool(resp.status == 200)
        except urllib.error.HTTPError as e:
            return e.code == 401 and bool(self.users)
        except OSError:
            return False

    def start(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # a free port can be taken between choosing and binding
            self.port = _free_port()
            config = self._write_config()
            log = open(self.base_dir / "registry.log", "ab")
            self.proc = subprocess.Popen(
                [self.binary, "serve", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
            log.close()
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if self._answers():
                    return
                time.sleep(0.05)
            self.stop()
        text = (self.base_dir / "registry.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"docker-registry did not start:\n{text}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> RegistryServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> RegistryServer:
        try:
            await asyncio.to_thread(self.start)
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
