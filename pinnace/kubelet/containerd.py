"""A private containerd for the kubelet: its configuration, start-up and supervision.

pinnace's node agent does not share the host's containerd. :class:`Containerd`
renders a ``config.toml`` (version 2) whose root, state, socket, runc root,
``opt`` dir and CNI configuration all live under one ``state_dir``, starts
``containerd --config`` on it and keeps it running:

- **Its own session.** containerd is spawned with ``setsid`` (``posix_spawn``,
  no ``Popen`` object), so a signal to the agent's process group or the agent's
  death does not take it down, and neither do the pods' shims it leaves running.
  The pid is written to ``state_dir/containerd.pid``.
- **Reuse.** When :meth:`Containerd.start` finds a live containerd from an earlier
  run of the same ``state_dir`` (pid file, ``/proc/<pid>/cmdline`` names our
  config, the socket answers CRI ``Version``) and its config is what we would
  render now, it adopts it instead of starting another, so restarting the agent
  never restarts the runtime. A stale or differently configured one is stopped
  and replaced (running pods survive: their shims outlive containerd).
- **The CRI plugin must load.** containerd keeps running when the CRI plugin
  fails to initialise (a bad registry section is enough) and says so only in
  its log. The config lists the plugin in ``required_plugins`` so that
  containerd exits instead; start-up then reads the log written since the
  start, and raises :class:`ContainerdError` quoting containerd's reason. A
  socket that answers but has no ``runtime.v1.RuntimeService`` is reported the
  same way.
- **Supervision.** A background task waits on a pidfd of the process (works for
  a child and for an adopted process alike) and restarts containerd when it
  exits without :meth:`Containerd.stop` having been called, with a growing delay
  (1 s doubling to 30 s, reset after a minute of uptime), logging each death
  with the end of containerd's log.

Blocking work here is small (a few files in ``state_dir``, ``/proc`` reads,
``posix_spawn``) and done inline on the event loop; waiting is async.

The stream server (exec/attach/port-forward URLs) listens on 127.0.0.1 only;
``stream_port=0`` lets the kernel choose a free port, and containerd puts the
port it actually got into the URLs it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pinnace import aio
from pinnace.client.clock import REAL_CLOCK, Clock
from pinnace.kubelet.cri.client import CRIError, RuntimeClient

__all__ = [
    "CRI_PLUGIN",
    "DISABLED_PLUGINS",
    "Containerd",
    "ContainerdError",
    "Readiness",
    "cri_plugin_error",
    "render_config",
]

log = logging.getLogger("pinnace.kubelet.containerd")

CRI_PLUGIN = "io.containerd.grpc.v1.cri"
# Plugins a kubelet on overlayfs never uses: other snapshotters and
# OpenTelemetry export. (The v1 shim runtime must stay: containerd 1.6's tasks
# service, which the CRI plugin needs, refuses to load without it.)
DISABLED_PLUGINS = (
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
)

# sun_path holds 108 bytes including the NUL; containerd also binds
# "<address>.ttrpc" next to the gRPC socket.
_MAX_SOCKET_PATH = 107 - len(".ttrpc")
_LOG_TAIL_BYTES = 4096
_RESTART_DELAY_MIN = 1.0
_RESTART_DELAY_MAX = 30.0
_HEALTHY_UPTIME = 60.0
_SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


class ContainerdError(RuntimeError):
    """containerd could not be started or is unusable; the message says why."""


@dataclass(frozen=True)
class Readiness:
    """The runtime's CRI Status conditions."""

    runtime_ready: bool
    network_ready: bool
    runtime_reason: str = ""
    runtime_message: str = ""
    network_reason: str = ""
    network_message: str = ""


def _toml_str(value: str | Path) -> str:
    # A JSON string is a valid TOML basic string for everything we write here.
    return json.dumps(str(value))


def render_config(
    state_dir: Path,
    *,
    sandbox_image: str,
    cni_conf_dir: Path,
    cni_bin_dir: Path = Path("/usr/lib/cni"),
    registry_config_dir: Path | None = None,
    stream_port: int = 0,
    disabled_plugins: Sequence[str] = DISABLED_PLUGINS,
) -> str:
    """The containerd ``config.toml`` (version 2) for a private instance in ``state_dir``."""
    sd = Path(state_dir)
    cri = f'[plugins."{CRI_PLUGIN}"]'
    lines = [
        "# Written by pinnace (pinnace.kubelet.containerd); rewritten on start.",
        "version = 2",
        f"root = {_toml_str(sd / 'root')}",
        f"state = {_toml_str(sd / 'state')}",
        f"disabled_plugins = [{', '.join(_toml_str(p) for p in disabled_plugins)}]",
        # containerd exits when the CRI plugin fails to load instead of
        # running on without it.
        f"required_plugins = [{_toml_str(CRI_PLUGIN)}]",
        "oom_score = 0",
        "",
        "[grpc]",
        f"address = {_toml_str(sd / 'containerd.sock')}",
        "",
        "[timeouts]",
        # Fail instead of waiting forever when another containerd holds the database.
        '"io.containerd.timeout.bolt.open" = "10s"',
        "",
        '[plugins."io.containerd.internal.v1.opt"]',
        f"path = {_toml_str(sd / 'opt')}",
        "",
        cri,
        f"sandbox_image = {_toml_str(sandbox_image)}",
        # Root lacks CAP_SYS_RESOURCE in some VMs; without this runc cannot
        # lower oom_score_adj and every sandbox fails to start.
        "restrict_oom_score_adj = true",
        "enable_unprivileged_ports = true",
        "enable_unprivileged_icmp = true",
        'stream_server_address = "127.0.0.1"',
        f"stream_server_port = {_toml_str(str(stream_port))}",
        "enable_tls_streaming = false",
        # Pod network namespaces are mounted under state_dir, not /var/run/netns.
        "netns_mounts_under_state_dir = true",
        "disable_tcp_service = true",
        "",
        f"{cri[:-1]}.containerd]",
        'snapshotter = "overlayfs"',
        'default_runtime_name = "runc"',
        "",
        f"{cri[:-1]}.containerd.runtimes.runc]",
        'runtime_type = "io.containerd.runc.v2"',
        "",
        f"{cri[:-1]}.containerd.runtimes.runc.options]",
        f"Root = {_toml_str(sd / 'runc')}",
        "SystemdCgroup = false",
        "",
        f"{cri[:-1]}.cni]",
        f"bin_dir = {_toml_str(cni_bin_dir)}",
        f"conf_dir = {_toml_str(cni_conf_dir)}",
        "max_conf_num = 1",
    ]
    if registry_config_dir is not None:
        # Never together with registry.mirrors: containerd refuses that
        # combination and the CRI plugin does not load.
        lines += ["", f"{cri[:-1]}.registry]", f"config_path = {_toml_str(registry_config_dir)}"]
    return "\n".join(lines) + "\n"


_LOG_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def _log_fields(line: str) -> dict[str, str]:
    fields = {}
    for key, raw in _LOG_FIELD.findall(line):
        if raw.startswith('"'):
            try:
                raw = json.loads(raw)
            except ValueError:
                raw = raw[1:-1]
        fields[key] = raw
    return fields


def cri_plugin_error(log_text: str) -> str | None:
    """containerd's reason for not loading the CRI plugin, from its log, or None.

    containerd 1.6 logs ``level=warning msg="failed to load plugin <id>" error=...``
    and, for a required plugin, ends with ``containerd: load required plugin <id>: ...``.
    """
    for line in log_text.splitlines():
        if CRI_PLUGIN not in line:
            continue
        if line.startswith("containerd: load required plugin"):
            return line.split(f"{CRI_PLUGIN}: ", 1)[-1].strip()
        fields = _log_fields(line)
        if fields.get("msg") == f"failed to load plugin {CRI_PLUGIN}":
            return fields.get("error") or fields["msg"]
    return None


def _read_from(path: Path, offset: int, limit: int = 1 << 20) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(limit).decode(errors="replace")
    except FileNotFoundError:
        return ""


def _tail(path: Path, offset: int = 0) -> str:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return ""
    return _read_from(path, max(offset, size - _LOG_TAIL_BYTES)).strip()


class Containerd:
    """A supervised private containerd rooted in ``state_dir``.

    ``address`` is the socket path (``endpoint`` the ``unix://`` form). Call
    :meth:`start`, then :meth:`wait_ready`; :meth:`stop` terminates containerd,
    :meth:`close` only stops supervising it and leaves it (and the pods) running
    for the next agent to adopt.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        sandbox_image: str,
        cni_conf_dir: Path,
        cni_bin_dir: Path = Path("/usr/lib/cni"),
        registry_config_dir: Path | None = None,
        log_path: Path | None = None,
        binary: str = "containerd",
        stream_port: int = 0,
        log_level: str = "info",
        start_timeout: float = 30.0,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.sandbox_image = sandbox_image
        self.cni_conf_dir = Path(cni_conf_dir).absolute()
        self.cni_bin_dir = Path(cni_bin_dir)
        self.registry_config_dir = (
            Path(registry_config_dir).absolute() if registry_config_dir is not None else None
        )
        self.log_path = Path(log_path).absolute() if log_path else self.state_dir / "containerd.log"
        self.binary = binary
        self.stream_port = stream_port
        self.log_level = log_level
        self.start_timeout = start_timeout
        self.clock = clock
        self.config_path = self.state_dir / "config.toml"
        self.pid_file = self.state_dir / "containerd.pid"
        self.address = str(self.state_dir / "containerd.sock")
        self.pid: int | None = None
        self.reused = False  # True when start() adopted a running containerd
        self.restarts = 0
        self._own_child = False
        self._exit_status: int | None = None
        self._started_at = 0.0
        self._stopping = False
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def endpoint(self) -> str:
        return "unix://" + self.address

    def render_config(self) -> str:
        return render_config(
            self.state_dir,
            sandbox_image=self.sandbox_image,
            cni_conf_dir=self.cni_conf_dir,
            cni_bin_dir=self.cni_bin_dir,
            registry_config_dir=self.registry_config_dir,
            stream_port=self.stream_port,
        )

    def client(self, **kwargs: float) -> RuntimeClient:
        """A new (unconnected) CRI client for this containerd."""
        return RuntimeClient(self.address, **kwargs)

    # ------------------------------------------------------------- start

    async def start(self) -> None:
        """Adopt the running containerd of this state_dir or start one; wait until
        its CRI socket answers; then supervise it. Raises ContainerdError."""
        if self._supervisor is not None:
            return
        if len(self.address.encode()) > _MAX_SOCKET_PATH:
            raise ContainerdError(
                f"containerd socket path {self.address} is longer than {_MAX_SOCKET_PATH} "
                "bytes; use a shorter state directory"
            )
        if shutil.which(self.binary) is None:
            raise ContainerdError(f"{self.binary} not found; install the containerd package")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._stopping = False
        config = self.render_config()
        if not await self._adopt(config):
            self._write_config(config)
            await self._spawn_and_wait()
        self._supervisor = asyncio.create_task(
            self._supervise(), name=f"containerd supervisor {self.state_dir}"
        )

    def _write_config(self, config: str) -> None:
        tmp = self.config_path.with_suffix(".toml.tmp")
        tmp.write_text(config)
        tmp.replace(self.config_path)

    def _recorded_pid(self) -> int | None:
        """The pid in the pid file if that process is a containerd on our config."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None
        name = Path(cmdline[0].decode(errors="replace")).name if cmdline else ""
        if name != Path(self.binary).name:
            return None
        if str(self.config_path).encode() not in cmdline:
            return None
        return pid

    async def _adopt(self, config: str) -> bool:
        pid = self._recorded_pid()
        if pid is None:
            return False
        current = self.config_path.read_text() if self.config_path.exists() else ""
        answers = await self._cri_answers(pid, own_child=False, timeout=10.0)
        if answers and current == config:
            self.pid, self._own_child, self.reused = pid, False, True
            self._started_at = self.clock.now()
            log.info("reusing running containerd", extra={"pid": pid, "address": self.address})
            return True
        why = "its configuration changed" if answers else "its CRI socket does not answer"
        log.warning("replacing containerd from an earlier run: %s", why, extra={"pid": pid})
        await self._terminate(pid, own_child=False, timeout=10.0)
        return False

    async def _spawn_and_wait(self) -> None:
        """Start containerd and wait for its CRI socket; on failure nothing is left
        running, ``pid`` is None and ContainerdError says why."""
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.address)
        pid = self._spawn()
        ok = await self._cri_answers(pid, own_child=True, timeout=self.start_timeout)
        reason = cri_plugin_error(_read_from(self.log_path, offset))
        if ok and reason is None:
            log.info("containerd started", extra={"pid": pid, "address": self.address})
            return
        exited = self._exited(pid, own_child=True)
        if not exited:
            await self._terminate(pid, own_child=True, timeout=10.0)
        self.pid = None
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        if reason is None:
            # The process may have logged its reason while being stopped.
            reason = cri_plugin_error(_read_from(self.log_path, offset))
        if reason is not None:
            raise ContainerdError(
                f"containerd's CRI plugin failed to load: {reason} "
                f"(config {self.config_path}, log {self.log_path})"
            )
        if exited:
            raise ContainerdError(
                f"containerd exited during start-up (status {self._exit_status}); "
                f"end of {self.log_path}:\n{_tail(self.log_path, offset)}"
            )
        raise ContainerdError(
            f"containerd's CRI socket {self.address} did not answer within "
            f"{self.start_timeout:g}s; end of {self.log_path}:\n{_tail(self.log_path, offset)}"
        )

    def _spawn(self) -> int:
        binary = shutil.which(self.binary) or self.binary
        argv = [binary, "--config", str(self.config_path), "--log-level", self.log_level]
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        try:
            pid = os.posix_spawn(
                binary,
                argv,
                _spawn_env(),
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, log_fd, 1),
                    (os.POSIX_SPAWN_DUP2, log_fd, 2),
                ],
                setsid=True,
            )
        finally:
            os.close(log_fd)
        self.pid, self._own_child, self.reused = pid, True, False
        self._exit_status = None
        self._started_at = self.clock.now()
        self.pid_file.write_text(f"{pid}\n")
        log.debug("spawned %s", " ".join(argv), extra={"pid": pid})
        return pid

    async def _cri_answers(self, pid: int, *, own_child: bool, timeout: float) -> bool:
        """Poll CRI Version until it answers, the process is gone or time is up.
        A socket without the CRI service counts as not answering."""
        deadline = self.clock.now() + timeout
        async with RuntimeClient(self.address, timeout=2.0) as rt:
            while not self._exited(pid, own_child=own_child):
                if os.path.exists(self.address):
                    try:
                        await rt.version()
                        return True
                    except CRIError as err:
                        if err.is_unimplemented:
                            return False
                if self.clock.now() >= deadline:
                    return False
                await self.clock.sleep(0.05)
        return False

    # ------------------------------------------------------------- ready

    async def readiness(self, *, timeout: float = 5.0) -> Readiness:
        """The current RuntimeReady/NetworkReady conditions (one CRI Status call)."""
        async with RuntimeClient(self.address, timeout=timeout) as rt:
            conds = await rt.conditions()
        r = conds.get("RuntimeReady")
        n = conds.get("NetworkReady")
        return Readiness(
            runtime_ready=bool(r and r.status),
            network_ready=bool(n and n.status),
            runtime_reason=r.reason if r else "",
            runtime_message=r.message if r else "",
            network_reason=n.reason if n else "",
            network_message=n.message if n else "",
        )

    async def wait_ready(self, timeout: float = 30.0, *, network: bool = False) -> Readiness:
        """Wait until CRI Status reports RuntimeReady (and NetworkReady when
        ``network``, which needs a CNI config in ``cni_conf_dir``); returns both
        conditions. Raises ContainerdError with the last conditions on timeout."""
        deadline = self.clock.now() + timeout
        last: Readiness | str = "no answer"
        while True:
            try:
                last = await self.readiness()
                if last.runtime_ready and (last.network_ready or not network):
                    return last
            except CRIError as err:
                last = str(err)
            if self.clock.now() >= deadline:
                raise ContainerdError(f"containerd at {self.address} not ready: {last}")
            await self.clock.sleep(0.1)

    def rss_bytes(self) -> int | None:
        """containerd's resident set size (not counting shims), or None if not running."""
        if self.pid is None:
            return None
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except (FileNotFoundError, ProcessLookupError):
            return None
        return None

    # ----------------------------------------------------------- supervise

    def _reap(self, pid: int) -> int | None:
        """Our child's exit code once it has exited (collecting the zombie), None
        while it runs; -1 when it was collected already."""
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return self._exit_status if self._exit_status is not None else -1
        if got == 0:
            return None
        self._exit_status = os.waitstatus_to_exitcode(status)
        return self._exit_status

    def _exited(self, pid: int, *, own_child: bool) -> bool:
        if own_child:
            return self._reap(pid) is not None
        return not _alive(pid)

    async def _wait_exit(self, pid: int, *, own_child: bool) -> None:
        """Return once process ``pid`` has exited (a pidfd works for children and
        adopted processes alike); collects our own child's status."""
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            pidfd = -1
        if pidfd >= 0:
            loop = asyncio.get_running_loop()
            done: asyncio.Future[None] = loop.create_future()

            def readable() -> None:
                if not done.done():
                    done.set_result(None)

            loop.add_reader(pidfd, readable)
            try:
                await done
            finally:
                loop.remove_reader(pidfd)
                os.close(pidfd)
        if own_child:
            self._reap(pid)

    async def _supervise(self) -> None:
        delay = _RESTART_DELAY_MIN
        while True:
            pid = self.pid
            if pid is not None:
                await self._wait_exit(pid, own_child=self._own_child)
                if self._stopping:
                    return
                uptime = self.clock.now() - self._started_at
                if uptime >= _HEALTHY_UPTIME:
                    delay = _RESTART_DELAY_MIN
                log.error(
                    "containerd exited unexpectedly (status %s after %.0fs); restarting in "
                    "%gs; end of its log:\n%s",
                    self._exit_status if self._own_child else "unknown",
                    uptime,
                    delay,
                    _tail(self.log_path),
                    extra={"pid": pid},
                )
                self.pid = None
            await self.clock.sleep(delay)
            delay = min(delay * 2, _RESTART_DELAY_MAX)
            try:
                self._write_config(self.render_config())
                await self._spawn_and_wait()
            except (ContainerdError, OSError) as err:
                log.error("restarting containerd failed: %s", err)
                continue
            self.restarts += 1

    # -------------------------------------------------------------- stop

    async def close(self) -> None:
        """Stop supervising; containerd keeps running (a later start() adopts it)."""
        self._stopping = True
        await self._cancel_supervisor()

    async def stop(self, timeout: float = 10.0) -> None:
        """Terminate containerd (SIGTERM, SIGKILL after ``timeout``) and stop
        supervising. Pods' shims keep running, as with any containerd restart."""
        self._stopping = True
        await self._cancel_supervisor()
        pid: int | None = self.pid
        own_child = self._own_child
        if pid is None:
            pid, own_child = self._recorded_pid(), False
        if pid is not None:
            await self._terminate(pid, own_child=own_child, timeout=timeout)
            log.info("containerd stopped", extra={"pid": pid})
        self.pid = None
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()

    async def _cancel_supervisor(self) -> None:
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _terminate(self, pid: int, *, own_child: bool, timeout: float) -> None:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            if self._exited(pid, own_child=own_child):
                return
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                self._exited(pid, own_child=own_child)
                return
            try:
                await aio.wait_for(self._wait_exit(pid, own_child=own_child), wait)
                return
            except TimeoutError:
                if sig == signal.SIGTERM:
                    log.warning("containerd did not exit %gs after SIGTERM; killing it", wait)
        raise ContainerdError(f"containerd (pid {pid}) survived SIGKILL")


def _spawn_env() -> dict[str, str]:
    """The agent's environment, with the system bin dirs on PATH: containerd finds
    its shim, and the shim finds runc (in /usr/sbin on Debian), through PATH."""
    env = dict(os.environ)
    path = [p for p in env.get("PATH", "").split(":") if p]
    path += [p for p in _SYSTEM_PATH if p not in path]
    env["PATH"] = ":".join(path)
    return env


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # A zombie is dead for our purposes.
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
