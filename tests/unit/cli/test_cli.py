"""The ``pinnace`` command line, driven as a user drives it: through
``.venv/bin/pinnace`` (or the same ``main`` with a stand-in API server when the
test is about the CLI's own behaviour, not the server's)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import free_port

ROOT = Path(__file__).resolve().parents[3]
PINNACE = ROOT / ".venv" / "bin" / "pinnace"

# `pinnace ARGS` with a stand-in for pinnace.apiserver.server: it writes the
# kubeconfig, reports ready and serves until cancelled (or fails if told to).
FAKE_SERVER = r"""
import asyncio, os, sys, types
from pinnace.apiserver.errors import StartupError

async def serve(config, *, ready=None):
    if os.environ.get("FAKE_FAIL"):
        raise StartupError(os.environ["FAKE_FAIL"])
    config.admin_kubeconfig.write_text("fake")
    ready.set()
    try:
        await asyncio.Event().wait()
    finally:
        print("fake server: cancelled", file=sys.stderr, flush=True)

fake = types.ModuleType("pinnace.apiserver.server")
fake.serve = serve
sys.modules["pinnace.apiserver.server"] = fake
from pinnace.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PINNACE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


class Running:
    """A pinnace process whose stderr is collected line by line."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            argv,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, needle: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if needle in line:
                    return line
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line with {needle!r}; stderr:\n" + "\n".join(self.lines))

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout)
        self._reader.join(5)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for r in started:
        r.kill()


def fake_pinnace(running: list[Running], *args: str, env: dict[str, str] | None = None) -> Running:
    r = Running([sys.executable, "-c", FAKE_SERVER, *args], env=env)
    running.append(r)
    return r


# --------------------------------------------------------------------------
# help, version, flags


def test_help_lists_the_commands() -> None:
    r = run("--help")
    assert r.returncode == 0, r.stderr
    for command in ("server", "up", "version"):
        assert command in r.stdout


@pytest.mark.parametrize("command", ["server", "up"])
def test_command_help_lists_every_flag(command: str) -> None:
    r = run(command, "--help")
    assert r.returncode == 0, r.stderr
    for flag in (
        "--data-dir",
        "--port",
        "--bind-address",
        "--storage",
        "--disable",
        "--tls-san",
        "--log-format",
        "--v",
    ):
        assert flag in r.stdout, flag


def test_version() -> None:
    r = run("version")
    assert r.returncode == 0
    assert r.stdout.startswith("pinnace ")


def test_no_command_prints_usage() -> None:
    r = run()
    assert r.returncode == 2
    assert "usage:" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--port", "0"],
        ["--port", "http"],
        ["--bind-address", "localhost:80"],
        ["--storage", "postgres://db"],
        ["--storage", "sqlite://"],
        ["--v", "-1"],
        ["--log-format", "xml"],
        ["--eviction-hard", "memory.available>1Gi"],
        ["--eviction-hard", "imagefs.available<15%"],
        ["--housekeeping-interval", "often"],
    ],
)
def test_bad_flags_are_usage_errors(args: list[str], tmp_path: Path) -> None:
    r = run("server", "--data-dir", str(tmp_path), *args)
    assert r.returncode == 2
    assert "error: argument" in r.stderr


def test_server_needs_a_data_dir_unless_the_environment_names_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PINNACE_DATA_DIR"}
    r = subprocess.run(
        [str(PINNACE), "server"], capture_output=True, text=True, env=env, timeout=60
    )
    assert r.returncode == 2
    assert "--data-dir" in r.stderr
    a_file = tmp_path / "file"
    a_file.write_text("")
    r = run("server", env={"PINNACE_DATA_DIR": str(a_file)})
    assert r.returncode == 1
    assert str(a_file) in r.stderr


def test_up_takes_its_data_dir_from_the_environment(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    r = run("up", env={"PINNACE_DATA_DIR": str(a_file)})
    assert r.returncode == 1
    assert f"data dir {a_file} exists and is not a directory" in r.stderr


# --------------------------------------------------------------------------
# failing fast


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    a_file = tmp_path / "data"
    a_file.write_text("not a directory")
    r = run("server", "--data-dir", str(a_file), "--port", str(free_port()))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f"data dir {a_file} exists and is not a directory" in lines[0]
    assert "Traceback" not in r.stderr


def test_data_dir_below_a_file(tmp_path: Path) -> None:
    a_file = tmp_path / "data"
    a_file.write_text("")
    r = run("server", "--data-dir", str(a_file / "sub"))
    assert r.returncode == 1
    assert f"cannot create data dir {a_file / 'sub'}: Not a directory" in r.stderr


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run("server", "--data-dir", str(tmp_path), "--port", str(port))
    assert r.returncode == 1
    assert f"port {port} is already in use on 127.0.0.1" in r.stderr
    assert "Traceback" not in r.stderr


def test_errors_are_json_with_log_format_json(tmp_path: Path) -> None:
    a_file = tmp_path / "data"
    a_file.write_text("")
    r = run("server", "--data-dir", str(a_file), "--log-format", "json")
    assert r.returncode == 1
    record = json.loads(r.stderr.strip())
    assert record["level"] == "error"
    assert record["component"] == "cli"
    assert "is not a directory" in record["msg"]


# --------------------------------------------------------------------------
# running in the foreground (stand-in server)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_runs_until_signalled_then_exits_cleanly(
    sig: signal.Signals, tmp_path: Path, running: list[Running]
) -> None:
    data = tmp_path / "data"
    r = fake_pinnace(running, "server", "--data-dir", str(data), "--port", str(free_port()))
    hint = r.wait_for("kubectl get ns")
    assert f"export KUBECONFIG={data / 'admin.kubeconfig'}; kubectl get ns" in hint
    r.wait_for(f"admin kubeconfig: {data / 'admin.kubeconfig'}")
    assert r.stop(sig) == 0
    r.wait_for("fake server: cancelled")
    r.wait_for("pinnace server stopped")


def test_startup_error_is_one_line_and_exit_1(tmp_path: Path, running: list[Running]) -> None:
    r = fake_pinnace(
        running,
        "up",
        "--data-dir",
        str(tmp_path),
        "--port",
        str(free_port()),
        env={"FAKE_FAIL": "storage etcd://x:1 unreachable"},
    )
    assert r.proc.wait(30) == 1
    r._reader.join(5)
    line = r.wait_for("unreachable")
    assert line.startswith("E") and "pinnace up: storage etcd://x:1 unreachable" in line
    assert not any("Traceback" in x for x in r.lines)


def test_flags_reach_the_server_config(tmp_path: Path) -> None:
    from pinnace.cli.main import build_parser, config_from_args

    args = build_parser({}).parse_args(
        [
            "server",
            "--data-dir",
            str(tmp_path),
            "--port",
            "7443",
            "--bind-address",
            "::",
            "--storage",
            "etcd://127.0.0.1:2379,127.0.0.1:22379",
            "--disable",
            "scheduler,controllers",
            "--disable",
            "kubelet",
            "--tls-san",
            "api.example.test",
            "--tls-san",
            "192.0.2.1",
        ]
    )
    config = config_from_args(args)
    assert config.data_dir == tmp_path
    assert config.port == 7443
    assert config.bind_address == "::"
    assert config.storage_url() == "etcd://127.0.0.1:2379,127.0.0.1:22379"
    assert config.disable == {"scheduler", "controllers", "kubelet"}
    assert config.tls_sans == ("api.example.test", "192.0.2.1")


@pytest.mark.parametrize(
    ("argv", "in_process"),
    [
        (["server"], False),
        (["server", "--scheduler-in-process"], True),
        (["up"], True),
        (["up", "--scheduler-process"], False),
    ],
)
def test_where_the_scheduler_runs(argv: list[str], in_process: bool, tmp_path: Path) -> None:
    from pinnace.cli.childproc import ChildComponent
    from pinnace.cli.components import SchedulerComponent, server_components
    from pinnace.cli.main import build_parser, config_from_args

    args = build_parser({}).parse_args([*argv, "--data-dir", str(tmp_path), "--scheduler-config",
                                        "sched.yaml", "-v", "4"])  # fmt: skip
    config = config_from_args(args)
    [sched] = [c for c in server_components(config) if c.name == "scheduler"]
    if in_process:
        assert isinstance(sched, SchedulerComponent)
        assert sched.config_file == "sched.yaml"
    else:
        assert isinstance(sched, ChildComponent)
        assert sched.user == "system:kube-scheduler"
        assert sched.run_dir == tmp_path / "run"
        cmd = list(sched.command)
        assert cmd[:3] == ["scheduler", "--kube-api-qps", "0"]
        assert cmd[cmd.index("--config") + 1] == "sched.yaml"
        assert cmd[cmd.index("-v") + 1] == "4"


@pytest.mark.parametrize(
    ("argv", "elected"),
    [
        (["server"], False),
        (["server", "--storage", "etcd://127.0.0.1:2379"], True),
        (["server", "--storage", "etcd://127.0.0.1:2379", "--no-leader-elect"], False),
        (["server", "--leader-elect"], True),
        (["up", "--scheduler-process", "--storage", "etcd://127.0.0.1:2379"], True),
        (["up", "--scheduler-in-process"], False),
    ],
)
def test_leader_election_of_the_servers_components(
    argv: list[str], elected: bool, tmp_path: Path
) -> None:
    from pinnace.cli.childproc import ChildComponent
    from pinnace.cli.components import (
        ControllerManagerComponent,
        SchedulerComponent,
        server_components,
    )
    from pinnace.cli.main import build_parser, config_from_args

    args = build_parser({}).parse_args([*argv, "--data-dir", str(tmp_path)])
    comps = {c.name: c for c in server_components(config_from_args(args))}
    cm = comps["controller-manager"]
    assert isinstance(cm, ControllerManagerComponent) and cm.leader_elect is elected
    sched = comps["scheduler"]
    if isinstance(sched, SchedulerComponent):
        assert sched.leader_elect is elected
    else:
        assert isinstance(sched, ChildComponent)
        assert ("--leader-elect" in sched.command) is elected


def test_node_flags_reach_the_kubelet_and_proxy_configs(tmp_path: Path) -> None:
    from pinnace.cli.components import server_components
    from pinnace.cli.main import build_parser, config_from_args

    args = build_parser({}).parse_args(
        [
            "server", "--data-dir", str(tmp_path), "--agent", "--node-name", "n1",
            "--eviction-hard", "memory.available<300Mi,nodefs.available<7%",
            "--housekeeping-interval", "2.5", "--service-cidr", "10.55.0.0/16",
            "--proxy-mode", "nftables",
        ]
    )  # fmt: skip
    config = config_from_args(args)
    kc = config.kubelet
    assert (kc.eviction_hard_memory, kc.eviction_hard_nodefs) == ("300Mi", "7%")  # type: ignore[attr-defined]
    assert kc.housekeeping_interval == 2.5  # type: ignore[attr-defined]
    proxy = next(c for c in server_components(config) if c.name == "proxy")
    assert proxy.proxy_config.service_cidr == "10.55.0.0/16"  # type: ignore[attr-defined]
    assert proxy.proxy_config.mode == "nftables"  # type: ignore[attr-defined]


# --------------------------------------------------------------------------
# the real server, once it exists


@pytest.mark.slow
def test_real_server_serves_writes_kubeconfig_and_stops(
    tmp_path: Path, running: list[Running]
) -> None:
    if importlib.util.find_spec("pinnace.apiserver.server") is None:
        pytest.skip("pinnace.apiserver.server not written yet")
    data = tmp_path / "data"
    r = Running([str(PINNACE), "server", "--data-dir", str(data), "--port", str(free_port())])
    running.append(r)
    r.wait_for("kubectl get ns", timeout=60)
    assert (data / "admin.kubeconfig").is_file()
    assert r.stop(signal.SIGTERM) == 0


def test_the_cli_and_the_node_agent_do_not_load_cryptography() -> None:
    """``cryptography`` costs the node agent about 12 MB of its 60 MB budget;
    only the commands that make certificates load it, when they run."""
    code = (
        "import sys\n"
        "import pinnace.cli.main, pinnace.kubelet.kubelet, pinnace.kubelet.services\n"
        "import pinnace.proxy.proxy\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cryptography', 'jwt')))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
