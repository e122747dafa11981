"""Components as child processes of the server: the kubeconfig they get, the
metrics they hand over, and the supervision (restart, stop)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter

import pinnace.metrics
from pinnace.cli.childproc import ChildComponent, _unix_metrics_fetcher, token_kubeconfig
from pinnace.client.config import ClientConfig
from tests.cluster import process_alive


def test_token_kubeconfig_reads_back_as_the_same_client_config() -> None:
    unix = ClientConfig(server="unix:///var/lib/pinnace/run/loopback.sock", token="t0k")
    back = ClientConfig.from_dict(yaml.safe_load(token_kubeconfig(unix)))
    assert (back.server, back.token, back.ca_data) == (unix.server, "t0k", None)

    https = ClientConfig(server="https://127.0.0.1:6443", token="abc", ca_data=b"-----PEM-----\n")
    back = ClientConfig.from_dict(yaml.safe_load(token_kubeconfig(https)))
    assert (back.server, back.token, back.ca_data) == (https.server, "abc", b"-----PEM-----\n")


@pytest.fixture
def remotes() -> object:
    saved = dict(pinnace.metrics._REMOTES)
    pinnace.metrics._REMOTES.clear()
    yield pinnace.metrics._REMOTES
    pinnace.metrics._REMOTES.clear()
    pinnace.metrics._REMOTES.update(saved)


async def test_render_all_appends_the_remotes_that_answer(
    remotes: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pinnace.metrics, "REMOTE_TIMEOUT", 0.2)

    async def good() -> bytes:
        return b"# TYPE child_total counter\nchild_total 3.0"

    async def broken() -> bytes:
        raise OSError("connection refused")

    async def stuck() -> bytes:
        await asyncio.sleep(30)
        return b"stuck_remote_total 1.0"

    pinnace.metrics.register_remote("good", good)
    pinnace.metrics.register_remote("broken", broken)
    pinnace.metrics.register_remote("stuck", stuck)
    out = await pinnace.metrics.render_all()
    assert out.startswith(pinnace.metrics.render())
    assert out.endswith(b"child_total 3.0\n")
    assert b"stuck_remote_total" not in out
    pinnace.metrics.unregister_remote("good")
    assert b"child_total" not in await pinnace.metrics.render_all()


async def test_metrics_socket_serves_this_process_registries(tmp_path: Path) -> None:
    registry = pinnace.metrics.register(CollectorRegistry())
    Counter("childproc_test_things", "things", registry=registry).inc(2)
    sock = tmp_path / "m.sock"
    served = asyncio.ensure_future(pinnace.metrics.serve_unix(sock))
    try:
        for _ in range(100):
            if sock.exists():
                break
            await asyncio.sleep(0.02)
        assert sock.stat().st_mode & 0o777 == 0o600
        body = await _unix_metrics_fetcher(sock)()
        assert b"childproc_test_things_total 2.0" in body
    finally:
        served.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await served
        pinnace.metrics._REGISTRIES.remove(registry)
    assert not sock.exists()
    with pytest.raises(OSError):
        await _unix_metrics_fetcher(sock)()


async def test_child_is_restarted_when_it_exits_and_stopped_with_its_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, remotes: object
) -> None:
    comp = ChildComponent(name="sleeper", user="system:test", command=[], run_dir=tmp_path / "run")
    pids = tmp_path / "pids"
    # each child writes its pid; the first exits at once, the next one stays
    script = (
        "import os, pathlib, sys, time\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "first = not p.exists()\n"
        "with p.open('a') as f: f.write(f'{os.getpid()}\\n')\n"
        "if first: sys.exit(3)\n"
        "time.sleep(60)\n"
    )

    def argv(kubeconfig: Path, metrics_socket: Path | None) -> list[str]:
        assert kubeconfig.stat().st_mode & 0o777 == 0o600
        assert "tok" in kubeconfig.read_text()
        assert metrics_socket == tmp_path / "run" / "sleeper-metrics.sock"
        return [sys.executable, "-c", script, str(pids)]

    def seen() -> list[int]:
        return [int(x) for x in pids.read_text().split()] if pids.exists() else []

    monkeypatch.setattr(comp, "_argv", argv)
    task = asyncio.ensure_future(comp.run(ClientConfig(server="unix:///nowhere", token="tok")))
    try:
        for _ in range(500):  # the first exits; the second starts after the 1 s back-off
            if len(seen()) == 2 and comp.pid == seen()[1]:
                break
            await asyncio.sleep(0.02)
        assert len(seen()) == 2 and comp.pid == seen()[1], (seen(), comp.pid)
        assert "sleeper" in pinnace.metrics._REMOTES
        assert process_alive(seen()[1])
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert not process_alive(seen()[1])
    assert comp.pid is None
    assert "sleeper" not in pinnace.metrics._REMOTES
    assert not (tmp_path / "run" / "sleeper.kubeconfig").exists()
    assert os.stat(tmp_path / "run").st_mode & 0o777 == 0o700
