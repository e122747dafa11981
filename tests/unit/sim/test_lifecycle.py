from __future__ import annotations

from typing import Any

import pytest

from pinnace.client import FakeClock
from pinnace.sim.lifecycle import (
    JOB_DEFAULT_DURATION,
    PodState,
    adopt,
    normalize_image,
    parse_duration,
    step,
)


def pod(
    annotations: dict[str, str] | None = None,
    *,
    restart_policy: str = "Always",
    owner: str | None = None,
    phase: str = "Pending",
    init: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p", "namespace": "ns", "uid": "u1"}
    if annotations:
        meta["annotations"] = annotations
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": "o", "uid": "x", "controller": True}]
    spec: dict[str, Any] = {
        "nodeName": "sim-0",
        "restartPolicy": restart_policy,
        "containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "busybox:1.36"}],
    }
    if init:
        spec["initContainers"] = [{"name": "setup", "image": "busybox"}]
    return {"metadata": meta, "spec": spec, "status": {"phase": phase}}


def state_of(obj: dict[str, Any]) -> PodState:
    s = PodState("ns", "p")
    s.observe(obj)
    s.ip, s.host_ip = "10.128.0.2", "198.18.0.1"
    return s


def status(result: Any) -> dict[str, Any]:
    assert result.patch is not None
    st: dict[str, Any] = result.patch["status"]
    return st


def conditions(st: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in st["conditions"]}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5s", 5.0), ("1m30s", 90.0), ("500ms", 0.5), ("2h", 7200.0), ("1.5", 1.5), ("0", 0.0),
     ("1h2m3s", 3723.0)],
)  # fmt: skip
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5 s", "s", "-1", "5d", "1m x"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_normalize_image() -> None:
    assert normalize_image("nginx")[0] == "docker.io/library/nginx:latest"
    assert normalize_image("me/app:1")[0] == "docker.io/me/app:1"
    assert normalize_image("localhost:5000/app:2")[0] == "localhost:5000/app:2"
    ref, image_id = normalize_image("quay.io/x/y@sha256:abc")
    assert ref == "quay.io/x/y@sha256:abc"
    assert image_id.startswith("quay.io/x/y@sha256:")
    assert normalize_image("nginx") == normalize_image("nginx")  # stable


async def test_plain_pod_runs_for_ever() -> None:
    clock = FakeClock()
    s = state_of(pod(init=True))
    r = step(s, now=clock.now(), wall=clock.wall())
    st = status(r)
    assert r.due is None and not r.terminal
    assert st["phase"] == "Running"
    assert conditions(st) == {
        "PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True",
        "ContainersReady": "True", "PodScheduled": "True",
    }  # fmt: skip
    assert st["podIP"] == "10.128.0.2" and st["podIPs"] == [{"ip": "10.128.0.2"}]
    assert st["hostIP"] == "198.18.0.1" and st["hostIPs"] == [{"ip": "198.18.0.1"}]
    assert st["startTime"] == "2025-01-01T00:00:00Z"
    cs = st["containerStatuses"]
    assert [c["name"] for c in cs] == ["a", "b"]
    a = cs[0]
    assert a["ready"] and a["started"] and a["restartCount"] == 0
    assert a["state"] == {"running": {"startedAt": "2025-01-01T00:00:00Z"}}
    assert a["containerID"].startswith("pinnace-sim://")
    assert a["image"] == "docker.io/library/nginx:latest"
    assert a["imageID"].startswith("docker.io/library/nginx@sha256:")
    init = st["initContainerStatuses"][0]
    assert init["state"]["terminated"]["reason"] == "Completed"
    assert init["state"]["terminated"]["exitCode"] == 0
    await clock.advance(3600)
    again = step(s, now=clock.now(), wall=clock.wall())
    assert again.patch is None and again.due is None


async def test_scheduled_condition_is_left_to_the_scheduler() -> None:
    obj = pod()
    obj["status"]["conditions"] = [{"type": "PodScheduled", "status": "True"}]
    s = state_of(obj)
    st = status(step(s, now=0.0, wall=FakeClock().wall()))
    assert "PodScheduled" not in conditions(st)


async def test_duration_then_succeeded() -> None:
    clock = FakeClock()
    s = state_of(pod({"pinnace.io/sim-duration": "5s"}, restart_policy="Never"))
    r = step(s, now=clock.now(), wall=clock.wall())
    assert r.due == 5.0
    await clock.advance(4)
    assert step(s, now=clock.now(), wall=clock.wall()).patch is None
    await clock.advance(1)
    r = step(s, now=clock.now(), wall=clock.wall())
    st = status(r)
    assert r.terminal and r.due is None
    assert st["phase"] == "Succeeded"
    c = conditions(st)
    assert c["Ready"] == "False" and c["ContainersReady"] == "False"
    assert [x.get("reason") for x in st["conditions"] if x["type"] == "Ready"] == ["PodCompleted"]
    term = st["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    assert term["startedAt"] == "2025-01-01T00:00:00Z"
    assert term["finishedAt"] == "2025-01-01T00:00:05Z"
    assert step(s, now=clock.now(), wall=clock.wall()).terminal


async def test_job_pods_finish_after_the_default() -> None:
    clock = FakeClock()
    s = state_of(pod(owner="Job", restart_policy="Never"))
    assert s.run_for == JOB_DEFAULT_DURATION
    step(s, now=clock.now(), wall=clock.wall())
    await clock.advance(JOB_DEFAULT_DURATION)
    assert status(step(s, now=clock.now(), wall=clock.wall()))["phase"] == "Succeeded"


@pytest.mark.parametrize(
    ("annotations", "code"),
    [({"pinnace.io/sim-fail": "true"}, 1), ({"pinnace.io/sim-exit-code": "3"}, 3)],
)
async def test_failure(annotations: dict[str, str], code: int) -> None:
    clock = FakeClock()
    s = state_of(pod(annotations, restart_policy="Never"))
    step(s, now=clock.now(), wall=clock.wall())
    await clock.advance(JOB_DEFAULT_DURATION)
    st = status(step(s, now=clock.now(), wall=clock.wall()))
    assert st["phase"] == "Failed"
    term = st["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == code and term["reason"] == "Error"


async def test_restart_policy_always_restarts_with_backoff() -> None:
    clock = FakeClock()
    s = state_of(pod({"pinnace.io/sim-duration": "2s", "pinnace.io/sim-fail": "true"}))
    step(s, now=clock.now(), wall=clock.wall())
    await clock.advance(2)
    r = step(s, now=clock.now(), wall=clock.wall())
    st = status(r)
    assert st["phase"] == "Running" and not r.terminal
    assert conditions(st)["Ready"] == "False"
    a = st["containerStatuses"][0]
    assert a["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert a["lastState"]["terminated"]["exitCode"] == 1
    assert a["restartCount"] == 0
    assert r.due == pytest.approx(12.0)  # 10 s backoff
    await clock.advance(10)
    r = step(s, now=clock.now(), wall=clock.wall())
    st = status(r)
    a = st["containerStatuses"][0]
    assert a["restartCount"] == 1 and a["ready"] and "running" in a["state"]
    assert a["lastState"]["terminated"]["reason"] == "Error"
    assert conditions(st)["Ready"] == "True"
    await clock.advance(2)
    r = step(s, now=clock.now(), wall=clock.wall())
    assert r.due == pytest.approx(clock.now() + 20.0)  # backoff doubles


async def test_on_failure_succeeds_on_exit_zero() -> None:
    clock = FakeClock()
    s = state_of(pod({"pinnace.io/sim-duration": "1s"}, restart_policy="OnFailure"))
    step(s, now=clock.now(), wall=clock.wall())
    await clock.advance(1)
    assert status(step(s, now=clock.now(), wall=clock.wall()))["phase"] == "Succeeded"


async def test_terminal_phase_set_elsewhere_is_respected() -> None:
    s = state_of(pod(phase="Failed"))
    r = step(s, now=0.0, wall=FakeClock().wall())
    assert r.terminal and r.patch is None


async def test_bad_annotation_is_reported_and_ignored() -> None:
    s = state_of(pod({"pinnace.io/sim-duration": "soon"}))
    assert s.run_for is None and "sim-duration" in s.bad_annotation


async def test_adopt_a_running_pod_keeps_its_deadline() -> None:
    clock = FakeClock()
    first = state_of(pod({"pinnace.io/sim-duration": "10s"}, restart_policy="Never"))
    st = status(step(first, now=clock.now(), wall=clock.wall()))
    await clock.advance(4)
    obj = pod({"pinnace.io/sim-duration": "10s"}, restart_policy="Never", phase="Running")
    obj["status"] = st
    s = PodState("ns", "p")
    s.observe(obj)
    assert adopt(s, obj, now=clock.now(), wall=clock.wall())
    assert s.stage == "running" and s.ip == "10.128.0.2"
    assert s.due == pytest.approx(clock.now() + 6.0)
    # a pod some other runtime runs is not ours
    other = pod(phase="Running")
    other["status"]["containerStatuses"] = [{"name": "a", "containerID": "containerd://x"}]
    s2 = PodState("ns", "p")
    s2.observe(other)
    assert not adopt(s2, other, now=clock.now(), wall=clock.wall())
