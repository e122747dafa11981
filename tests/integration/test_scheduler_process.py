"""``pinnace server`` runs its scheduler as a child process by default: it
schedules, its metrics are on the server's ``/metrics``, it is restarted when
it dies and goes when the server goes; ``--scheduler-in-process`` keeps it
inside the server."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import Server, add_ready_node, process_alive, wait_until


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live processes whose parent is ``pid``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            out.append((int(entry), cmdline))
    return out


def scheduler_children(server: Server) -> list[int]:
    assert server.proc is not None
    return [p for p, cmd in children(server.proc.pid) if " -m pinnace scheduler " in cmd]


def create_pod(server: Server, name: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    server.kubectl("create", "-f", "-", input=json.dumps(pod))


def node_of(server: Server, name: str) -> str:
    return server.kubectl("get", "pod", name, "-o", "jsonpath={.spec.nodeName}").stdout.strip()


def metric_families(text: str) -> list[str]:
    return [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d: Path = tmp_path_factory.mktemp("pinnace-schedproc")
    s = Server(d / "data").start()
    try:
        yield s
    finally:
        s.stop()


def test_child_scheduler_schedules_and_reports_metrics_on_the_server(server: Server) -> None:
    [child] = wait_until("the scheduler child", lambda: scheduler_children(server))
    add_ready_node(server, "n1")
    create_pod(server, "p1")
    assert wait_until("p1 bound", lambda: node_of(server, "p1")) == "n1"

    text = server.kubectl("get", "--raw", "/metrics").stdout
    families = metric_families(text)
    assert len(families) == len(set(families)), "a metric family appears twice"
    assert "apiserver_request_total" in families
    scheduled = [
        line for line in text.splitlines()
        if line.startswith('scheduler_schedule_attempts_total{profile="default-scheduler",result="scheduled"}')
    ]  # fmt: skip
    assert scheduled and float(scheduled[0].split()[-1]) >= 1
    assert scheduler_children(server) == [child]


def test_child_scheduler_is_restarted_after_it_dies(server: Server) -> None:
    [child] = wait_until("the scheduler child", lambda: scheduler_children(server))
    os.kill(child, signal.SIGKILL)
    new = wait_until(
        "a new scheduler child", lambda: [p for p in scheduler_children(server) if p != child]
    )
    assert len(new) == 1
    create_pod(server, "p2")
    assert wait_until("p2 bound", lambda: node_of(server, "p2")) == "n1"
    assert "exited with -9; restarting it" in server.log()


def test_child_scheduler_goes_with_the_server(tmp_path: Path) -> None:
    s = Server(tmp_path / "data").start()
    try:
        [child] = wait_until("the scheduler child", lambda: scheduler_children(s))
        s.kill9()
        wait_until("the scheduler child to exit", lambda: not process_alive(child), timeout=15)
    finally:
        s.stop()


def test_scheduler_in_process(tmp_path: Path) -> None:
    s = Server(tmp_path / "data", extra_args=["--scheduler-in-process"]).start()
    try:
        add_ready_node(s, "n1")
        create_pod(s, "p1")
        assert wait_until("p1 bound", lambda: node_of(s, "p1")) == "n1"
        assert scheduler_children(s) == []
        text = s.kubectl("get", "--raw", "/metrics").stdout
        families = metric_families(text)
        assert len(families) == len(set(families))
        assert "scheduler_schedule_attempts_total" in families
    finally:
        s.stop()
