"""ProbeManager workers on a FakeClock: periods, initial delays, thresholds,
startup gating, liveness restarts, callbacks and events. Exec probes go to a fake
ExecSync whose exit code per command the test sets."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from pinnace.client.clock import FakeClock
from pinnace.kubelet import prober as prober_mod
from pinnace.kubelet.prober import ProbeManager, termination_grace_period
from pinnace.kubelet.probes.handlers import ProbeOutcome, Result

UID = "uid-1"


@dataclass
class FakeExec:
    """Exit codes per command name (``ready``, ``live``, ``start``); records calls
    with the virtual time they happened at."""

    clock: FakeClock
    codes: dict[str, int | BaseException] = field(default_factory=dict)
    calls: list[tuple[float, str, str]] = field(default_factory=list)

    async def __call__(
        self, container_id: str, cmd: list[str], timeout: float
    ) -> tuple[int, bytes, bytes]:
        self.calls.append((self.clock.now(), container_id, cmd[0]))
        code = self.codes.get(cmd[0], 0)
        if isinstance(code, BaseException):
            raise code
        return code, f"{cmd[0]} says {code}".encode(), b""

    def times(self, name: str) -> list[float]:
        return [t for t, _, n in self.calls if n == name]


@dataclass
class Recorder:
    changes: list[str] = field(default_factory=list)
    failures: list[tuple[str, str, str, str]] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)

    def on_change(self, uid: str) -> None:
        self.changes.append(uid)

    def on_liveness_failure(self, uid: str, name: str, message: str, probe_type: str) -> None:
        self.failures.append((uid, name, message, probe_type))

    def event(self, pod: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        assert pod["metadata"]["uid"] == UID
        self.events.append((type_, reason, message))


@dataclass
class Env:
    clock: FakeClock
    exec: FakeExec
    rec: Recorder
    manager: ProbeManager


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FakeClock()
    fake = FakeExec(clock)
    rec = Recorder()
    manager = ProbeManager(
        exec_sync=fake,
        clock=clock,
        on_change=rec.on_change,
        on_liveness_failure=rec.on_liveness_failure,
        event=rec.event,
        random=lambda: 0.0,
    )
    try:
        yield Env(clock, fake, rec, manager)
    finally:
        await manager.close()


def probe(name: str, **fields: Any) -> dict[str, Any]:
    return {"exec": {"command": [name]}, **fields}


def pod(**container: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": UID},
        "spec": {"containers": [{"name": "c", "image": "busybox", **container}]},
    }


async def start(env: Env, container_id: str = "cid-1", **kw: Any) -> None:
    env.manager.update_container(UID, "c", container_id, pod_ip="10.0.0.5", **kw)
    await env.clock.settle()


async def test_no_probes_ready_and_started_once_running(env: Env) -> None:
    env.manager.add_pod(pod())
    assert env.manager.worker_count() == 0
    await start(env)
    assert env.manager.is_ready(UID, "c") is True
    assert env.manager.is_started(UID, "c") is True
    env.manager.container_stopped(UID, "c")
    assert env.manager.is_ready(UID, "c") is False
    assert env.manager.is_started(UID, "c") is False
    assert env.manager.is_started("other", "c") is None


async def test_readiness_false_until_first_success(env: Env) -> None:
    env.manager.add_pod(pod(readinessProbe=probe("ready", periodSeconds=5)))
    await env.clock.settle()
    assert env.manager.is_ready(UID, "c") is False
    assert env.exec.calls == []  # nothing to probe before the container runs
    env.exec.codes["ready"] = 1
    await start(env)
    assert env.exec.times("ready") == [0.0]
    assert env.manager.is_ready(UID, "c") is False
    assert env.rec.events == [("Warning", "Unhealthy", "Readiness probe failed: ready says 1")]
    env.exec.codes["ready"] = 0
    await env.clock.advance(5)
    assert env.exec.times("ready") == [0.0, 5.0]
    assert env.manager.is_ready(UID, "c") is True
    assert env.rec.changes == [UID]


async def test_readiness_failure_threshold(env: Env) -> None:
    env.manager.add_pod(pod(readinessProbe=probe("ready", periodSeconds=10, failureThreshold=3)))
    await start(env)
    assert env.manager.is_ready(UID, "c") is True
    env.exec.codes["ready"] = 1
    await env.clock.advance(10)
    await env.clock.advance(10)
    assert env.manager.is_ready(UID, "c") is True  # 2 failures < 3
    await env.clock.advance(10)
    assert env.manager.is_ready(UID, "c") is False
    assert env.exec.times("ready") == [0.0, 10.0, 20.0, 30.0]
    assert env.rec.changes == [UID, UID]
    unhealthy = [e for e in env.rec.events if e[1] == "Unhealthy"]
    assert len(unhealthy) == 3
    assert env.rec.failures == []  # readiness never restarts the container


async def test_readiness_success_threshold(env: Env) -> None:
    env.manager.add_pod(pod(readinessProbe=probe("ready", periodSeconds=1, successThreshold=3)))
    await start(env)
    await env.clock.advance(1)
    assert env.manager.is_ready(UID, "c") is False
    await env.clock.advance(1)
    assert env.manager.is_ready(UID, "c") is True


async def test_initial_delay(env: Env) -> None:
    env.manager.add_pod(pod(readinessProbe=probe("ready", initialDelaySeconds=7, periodSeconds=5)))
    await start(env)
    assert env.exec.calls == []
    await env.clock.advance(6.9)
    assert env.exec.calls == []
    await env.clock.advance(0.1)
    assert env.exec.times("ready") == [7.0]
    await env.clock.advance(5)
    assert env.exec.times("ready") == [7.0, 12.0]


async def test_initial_delay_counts_from_started_at(env: Env) -> None:
    env.manager.add_pod(pod(readinessProbe=probe("ready", initialDelaySeconds=30)))
    started = env.clock.wall() - datetime.timedelta(seconds=25)
    await start(env, started_at=started.isoformat().replace("+00:00", "Z"))
    assert env.exec.calls == []
    await env.clock.advance(5)
    assert env.exec.times("ready") == [5.0]


async def test_liveness_failure_restarts_and_holds_until_new_container(env: Env) -> None:
    env.manager.add_pod(pod(livenessProbe=probe("live", periodSeconds=10, failureThreshold=2)))
    await start(env)
    env.exec.codes["live"] = 1
    await env.clock.advance(10)
    assert env.rec.failures == []
    await env.clock.advance(10)
    assert env.rec.failures == [(UID, "c", "Container c failed liveness probe", "liveness")]
    assert env.rec.events[-1] == ("Warning", "Unhealthy", "Liveness probe failed: live says 1")
    await env.clock.advance(100)
    assert env.exec.times("live") == [0.0, 10.0, 20.0]  # on hold
    # The kubelet restarted it: a new container id starts over.
    env.exec.codes["live"] = 0
    await start(env, "cid-2")
    assert env.exec.calls[-1] == (120.0, "cid-2", "live")
    env.exec.codes["live"] = 1
    await env.clock.advance(10)
    assert len(env.rec.failures) == 1  # the old failures do not count
    await env.clock.advance(10)
    assert len(env.rec.failures) == 2
    assert env.exec.times("live")[-2:] == [130.0, 140.0]


async def test_liveness_does_not_affect_readiness(env: Env) -> None:
    env.manager.add_pod(pod(livenessProbe=probe("live", failureThreshold=1)))
    env.exec.codes["live"] = 1
    await start(env)
    assert len(env.rec.failures) == 1
    assert env.manager.is_ready(UID, "c") is True


async def test_startup_gates_liveness_and_readiness(env: Env) -> None:
    env.manager.add_pod(
        pod(
            startupProbe=probe("start", periodSeconds=2, failureThreshold=30),
            readinessProbe=probe("ready", periodSeconds=10),
            livenessProbe=probe("live", periodSeconds=10),
        )
    )
    env.exec.codes["start"] = 1
    await start(env)
    await env.clock.advance(4)
    assert env.exec.times("start") == [0.0, 2.0, 4.0]
    assert env.exec.times("ready") == env.exec.times("live") == []
    assert env.manager.is_started(UID, "c") is False
    assert env.manager.is_ready(UID, "c") is False
    env.exec.codes["start"] = 0
    await env.clock.advance(2)
    assert env.manager.is_started(UID, "c") is True
    # readiness runs as soon as the container has started
    assert env.exec.times("ready") == [6.0]
    assert env.manager.is_ready(UID, "c") is True
    await env.clock.advance(20)
    assert env.exec.times("start") == [0.0, 2.0, 4.0, 6.0]  # no more startup probes
    assert env.exec.times("live") == [10.0, 20.0]
    assert env.rec.changes.count(UID) >= 1


async def test_startup_failure_restarts(env: Env) -> None:
    env.manager.add_pod(
        pod(
            startupProbe=probe("start", periodSeconds=1, failureThreshold=3),
            livenessProbe=probe("live", periodSeconds=1),
        )
    )
    env.exec.codes["start"] = 1
    await start(env)
    await env.clock.advance(5)
    assert env.rec.failures == [(UID, "c", "Container c failed startup probe", "startup")]
    assert env.exec.times("start") == [0.0, 1.0, 2.0]
    assert env.exec.times("live") == []
    assert env.rec.events[-1] == ("Warning", "Unhealthy", "Startup probe failed: start says 1")


async def test_probe_that_cannot_run_is_retried_and_discarded(env: Env) -> None:
    env.manager.add_pod(pod(readinessProbe=probe("ready", periodSeconds=10)))
    await start(env)
    assert env.manager.is_ready(UID, "c") is True
    env.exec.codes["ready"] = RuntimeError("runtime is gone")
    await env.clock.advance(10)
    assert env.exec.times("ready") == [0.0, 10.0, 10.0, 10.0]
    assert env.rec.events == [
        (
            "Warning",
            "Unhealthy",
            "Readiness probe errored and resulted in unknown state: runtime is gone",
        )
    ]
    assert env.manager.is_ready(UID, "c") is True  # the result was thrown away


async def test_probe_warning_event(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    async def warn(*_a: Any, **_k: Any) -> ProbeOutcome:
        return ProbeOutcome(Result.WARNING, "Probe terminated redirects, Response body: ")

    monkeypatch.setattr(prober_mod, "run_probe", warn)
    env.manager.add_pod(pod(readinessProbe={"httpGet": {"port": 80}}))
    await start(env)
    assert env.rec.events == [
        (
            "Warning",
            "ProbeWarning",
            "Readiness probe warning: Probe terminated redirects, Response body: ",
        )
    ]
    assert env.manager.is_ready(UID, "c") is True


async def test_probes_get_the_pod_ip(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str]] = []

    async def record(*_a: Any, **kw: Any) -> ProbeOutcome:
        seen.append((kw["pod_ip"], kw["container_id"]))
        return ProbeOutcome(Result.SUCCESS, "")

    monkeypatch.setattr(prober_mod, "run_probe", record)
    env.manager.add_pod(pod(readinessProbe={"tcpSocket": {"port": 80}}))
    await start(env)
    assert seen == [("10.0.0.5", "cid-1")]


async def test_container_stopped_and_restarted(env: Env) -> None:
    env.manager.add_pod(pod(readinessProbe=probe("ready", periodSeconds=10)))
    await start(env)
    assert env.manager.is_ready(UID, "c") is True
    env.manager.container_stopped(UID, "c")
    assert env.manager.is_ready(UID, "c") is False
    assert env.rec.changes == [UID, UID]
    await env.clock.advance(30)
    assert env.exec.times("ready") == [0.0]  # nothing runs to probe
    await start(env, "cid-2")
    assert env.manager.is_ready(UID, "c") is True
    assert env.exec.calls[-1] == (30.0, "cid-2", "ready")


async def test_first_probe_jitter_after_kubelet_start() -> None:
    clock = FakeClock()
    fake = FakeExec(clock)
    manager = ProbeManager(exec_sync=fake, clock=clock, random=lambda: 0.5)
    try:
        manager.add_pod(pod(readinessProbe=probe("ready", periodSeconds=10)))
        manager.update_container(UID, "c", "cid", pod_ip="10.0.0.5")
        await clock.advance(4.9)
        assert fake.calls == []
        await clock.advance(0.1)
        assert fake.times("ready") == [5.0]
        # Pods added once the kubelet is older than a period are not delayed.
        await clock.advance(20)
        second = pod(readinessProbe=probe("ready", periodSeconds=10))
        second["metadata"]["uid"] = "uid-2"
        manager.add_pod(second)
        manager.update_container("uid-2", "c", "cid-b", pod_ip="10.0.0.6")
        await clock.settle()
        assert (25.0, "cid-b", "ready") in fake.calls
    finally:
        await manager.close()


async def test_remove_pod_stops_workers(env: Env) -> None:
    env.manager.add_pod(
        pod(readinessProbe=probe("ready"), livenessProbe=probe("live"), startupProbe=probe("start"))
    )
    await start(env)
    assert env.manager.worker_count() == 3
    env.manager.remove_pod(UID)
    await env.clock.settle()
    assert env.manager.worker_count() == 0
    calls = len(env.exec.calls)
    await env.clock.advance(100)
    assert len(env.exec.calls) == calls
    assert env.clock.sleepers == 0
    assert env.manager.is_started(UID, "c") is None


async def test_stop_liveness_and_startup_keeps_readiness(env: Env) -> None:
    env.manager.add_pod(
        pod(readinessProbe=probe("ready", periodSeconds=10), livenessProbe=probe("live"))
    )
    await start(env)
    env.manager.stop_liveness_and_startup(UID)
    await env.clock.advance(10)
    assert env.exec.times("live") == [0.0]
    assert env.exec.times("ready") == [0.0, 10.0]
    assert env.manager.worker_count() == 1


async def test_sidecar_probes(env: Env) -> None:
    p = pod()
    p["spec"]["initContainers"] = [
        {"name": "side", "restartPolicy": "Always", "readinessProbe": probe("ready")},
        {"name": "init", "readinessProbe": probe("ready")},
    ]
    env.manager.add_pod(p)
    assert env.manager.worker_count() == 1
    assert env.manager.is_ready(UID, "side") is False


async def test_async_callbacks_run_as_tasks() -> None:
    clock = FakeClock()
    fake = FakeExec(clock, codes={"live": 1})
    killed: list[str] = []
    manager: ProbeManager

    async def kill(uid: str, name: str, message: str, probe_type: str) -> None:
        manager.remove_pod(uid)  # would cancel the calling worker if awaited inline
        killed.append(message)

    manager = ProbeManager(
        exec_sync=fake, clock=clock, on_liveness_failure=kill, random=lambda: 0.0
    )
    try:
        manager.add_pod(pod(livenessProbe=probe("live", failureThreshold=1)))
        manager.update_container(UID, "c", "cid")
        await clock.settle()
        assert killed == ["Container c failed liveness probe"]
        assert manager.worker_count() == 0
    finally:
        await manager.close()


def test_termination_grace_period() -> None:
    p = pod(
        livenessProbe=probe("live", terminationGracePeriodSeconds=5),
        startupProbe=probe("start"),
    )
    assert termination_grace_period(p, "c", "liveness") == 2  # pod value unset
    p["spec"]["terminationGracePeriodSeconds"] = 30
    assert termination_grace_period(p, "c", "liveness") == 5
    assert termination_grace_period(p, "c", "startup") == 30
    assert termination_grace_period(p, "c", None) == 30
    p["metadata"]["deletionGracePeriodSeconds"] = 0
    assert termination_grace_period(p, "c", "liveness") == 0
