"""Job, CronJob and TTL-after-finished against a live server, driven by the real kubectl.

One module fixture (SQLite only): a ``pinnace server`` without its in-process
controller manager, ``pinnace controller-manager --controllers=*,-cronjob`` (so
that the CronJob tests can run the CronJob controller in the test's event loop
on a :class:`~pinnace.client.FakeClock`, without a second one acting on the
same objects), ``pinnace scheduler`` and ``pinnace sim --nodes 2``: the
simulated kubelets run Job pods for 1 s (``pinnace.io/sim-duration`` to
change it, ``pinnace.io/sim-fail``/``sim-exit-code`` to fail them).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import subprocess
import textwrap
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pinnace.client import EVENTS, Client, FakeClock, SharedInformerFactory
from pinnace.controllers.base import ControllerContext
from pinnace.controllers.cronjob import SCHEDULED_TIMESTAMP, CronJobController
from pinnace.controllers.jobutil import CRONJOBS, JOBS, finished_condition
from tests.cluster import PINNACE, ROOT, Server

pytestmark = pytest.mark.kubectl

T = TypeVar("T")


class Proc:
    def __init__(self, args: list[str], log_path: Path) -> None:
        self.log_path = log_path
        with open(log_path, "ab") as logf:
            self.proc = subprocess.Popen(
                [*PINNACE, *args], stdout=logf, stderr=subprocess.STDOUT, cwd=ROOT
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def wait_until(what: str, fn: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d: Path = tmp_path_factory.mktemp("batch")
    s = Server(d / "data", extra_args=["--disable", "controller-manager"]).start()
    kc = str(s.kubeconfig)
    procs = [
        Proc(
            ["controller-manager", "--kubeconfig", kc, "--controllers", "*,-cronjob",
             "--kube-api-qps", "200", "--kube-api-burst", "400"],
            d / "controller-manager.log",
        ),
        Proc(["scheduler", "--kubeconfig", kc], d / "scheduler.log"),
        Proc(["sim", "--kubeconfig", kc, "--nodes", "2"], d / "sim.log"),
    ]  # fmt: skip
    try:
        wait_until("simulated nodes", lambda: len(_items(s, "nodes")) == 2 or None)
        yield s
    finally:
        for p in procs:
            p.stop()
        s.stop()


# --- helpers ------------------------------------------------------------------------------------


def get(s: Server, *args: str) -> dict[str, Any] | None:
    p = s.kubectl("get", *args, "-o", "json", check=False)
    if p.returncode != 0:
        assert "NotFound" in p.stderr, p.stderr
        return None
    result: dict[str, Any] = json.loads(p.stdout)
    return result


def _items(s: Server, *args: str) -> list[dict[str, Any]]:
    got = get(s, *args)
    return list((got or {}).get("items") or [])


def apply(s: Server, manifest: str) -> None:
    s.kubectl("apply", "-f", "-", input=manifest)


def job_manifest(name: str, spec: str = "", pod_annotations: str = "") -> str:
    """A Job running one busybox container: ``spec`` and ``pod_annotations`` are YAML
    flow/block snippets merged into the Job spec and the pod template's annotations."""
    import yaml

    job_spec = yaml.safe_load(textwrap.dedent(spec)) or {}
    annotations = yaml.safe_load("{" + pod_annotations + "}") if pod_annotations else {}
    job_spec["template"] = {
        "metadata": {"annotations": annotations} if annotations else {},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox", "command": ["true"]}],
        },
    }
    return json.dumps(
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": job_spec}
    )


def pods_of(s: Server, job: str) -> list[dict[str, Any]]:
    return _items(s, "pods", "-l", f"batch.kubernetes.io/job-name={job}")


def cond(obj: dict[str, Any] | None, ctype: str) -> dict[str, Any] | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype and c.get("status") == "True":
            return dict(c)
    return None


def events(s: Server, kind: str, name: str) -> list[tuple[str, str]]:
    evs = _items(
        s, "events", "--field-selector", f"involvedObject.kind={kind},involvedObject.name={name}"
    )
    return [(e.get("reason", ""), e.get("message", "")) for e in evs]


def wait_condition(s: Server, job: str, ctype: str, timeout: float = 30.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        j = get(s, "job", job)
        return j if cond(j, ctype) else None

    return wait_until(f"job {job} {ctype}", check, timeout)


# --- Job ----------------------------------------------------------------------------------------


def test_job_runs_to_complete(batch: Server) -> None:
    s = batch
    s.kubectl("create", "job", "hello", "--image=busybox", "--", "true")
    s.kubectl("wait", "--for=condition=complete", "job/hello", "--timeout=30s")
    out = s.kubectl("get", "jobs", "hello").stdout.splitlines()
    assert out[0].split()[:3] == ["NAME", "STATUS", "COMPLETIONS"], out
    assert out[1].split()[:3] == ["hello", "Complete", "1/1"], out
    job = get(s, "job", "hello")
    assert job is not None
    st = job["status"]
    assert st["succeeded"] == 1 and st.get("failed", 0) == 0 and st.get("active", 0) == 0
    assert st["startTime"] and st["completionTime"]
    types = [c["type"] for c in st["conditions"]]
    assert types == ["SuccessCriteriaMet", "Complete"]
    pods = pods_of(s, "hello")
    assert len(pods) == 1
    assert not pods[0]["metadata"].get("finalizers")  # tracking finalizer removed once counted
    ref = pods[0]["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["controller"]) == ("Job", "hello", True)
    evs = events(s, "Job", "hello")
    assert ("SuccessfulCreate", f"Created pod: {pods[0]['metadata']['name']}") in evs
    assert ("Completed", "Job completed") in evs


def test_parallelism_caps_running_pods(batch: Server) -> None:
    s = batch
    apply(
        s,
        job_manifest(
            "par",
            "\ncompletions: 3\nparallelism: 2",
            pod_annotations='pinnace.io/sim-duration: "1500ms"',
        ),
    )
    most = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        running = [
            p
            for p in pods_of(s, "par")
            if p["status"].get("phase") not in ("Succeeded", "Failed")
            and not p["metadata"].get("deletionTimestamp")
        ]
        most = max(most, len(running))
        if cond(get(s, "job", "par"), "Complete"):
            break
        time.sleep(0.1)
    job = wait_condition(s, "par", "Complete", 5)
    assert most == 2, f"at most {most} pods ran at once"
    assert job["status"]["succeeded"] == 3
    assert len(pods_of(s, "par")) == 3


def test_indexed_job(batch: Server) -> None:
    s = batch
    apply(s, job_manifest("idx", "\ncompletions: 3\nparallelism: 3\ncompletionMode: Indexed"))
    job = wait_condition(s, "idx", "Complete")
    assert job["status"]["completedIndexes"] == "0-2"
    assert job["status"]["succeeded"] == 3
    pods = pods_of(s, "idx")
    seen = set()
    for p in pods:
        m = p["metadata"]
        ix = m["annotations"]["batch.kubernetes.io/job-completion-index"]
        assert m["labels"]["batch.kubernetes.io/job-completion-index"] == ix
        assert m["name"].startswith(f"idx-{ix}-")
        assert p["spec"]["hostname"] == f"idx-{ix}"
        env = p["spec"]["containers"][0]["env"]
        assert {
            "name": "JOB_COMPLETION_INDEX",
            "valueFrom": {
                "fieldRef": {
                    "apiVersion": "v1",
                    "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']",
                }
            },
        } in env
        seen.add(ix)
    assert seen == {"0", "1", "2"}


def test_failing_pods_back_off_then_fail(batch: Server) -> None:
    s = batch
    apply(
        s,
        job_manifest("fails", "\nbackoffLimit: 1", pod_annotations='pinnace.io/sim-fail: "true"'),
    )
    job = wait_condition(s, "fails", "Failed", 40)
    st = job["status"]
    assert st["failed"] == 2 and st.get("succeeded", 0) == 0
    failed = cond(job, "Failed")
    assert failed is not None and failed["reason"] == "BackoffLimitExceeded"
    assert failed["message"] == "Job has reached the specified backoff limit"
    assert cond(job, "FailureTarget") is not None
    pods = sorted(pods_of(s, "fails"), key=lambda p: p["metadata"]["creationTimestamp"])
    assert len(pods) == 2
    # the second pod waited out the 10 s back-off after the first one failed
    first_done = datetime.fromisoformat(
        pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"]
    )
    second = datetime.fromisoformat(pods[1]["metadata"]["creationTimestamp"])
    assert (second - first_done).total_seconds() >= 9
    evs = events(s, "Job", "fails")
    assert ("BackoffLimitExceeded", "Job has reached the specified backoff limit") in evs
    out = s.kubectl("get", "job", "fails").stdout.splitlines()[1].split()
    assert out[1:3] == ["Failed", "0/1"]


def test_pod_failure_policy_fail_job(batch: Server) -> None:
    s = batch
    apply(
        s,
        job_manifest(
            "pfp",
            """
            backoffLimit: 6
            podFailurePolicy:
              rules:
              - action: FailJob
                onExitCodes: {operator: In, values: [42]}
            """,
            pod_annotations='pinnace.io/sim-exit-code: "42"',
        ),
    )
    job = wait_condition(s, "pfp", "Failed", 20)
    failed = cond(job, "Failed")
    assert failed is not None and failed["reason"] == "PodFailurePolicy"
    assert "failed with exit code 42 matching FailJob rule at index 0" in failed["message"]
    assert len(pods_of(s, "pfp")) == 1


def test_active_deadline(batch: Server) -> None:
    s = batch
    apply(
        s,
        job_manifest(
            "deadline",
            "\nactiveDeadlineSeconds: 2",
            pod_annotations='pinnace.io/sim-duration: "10m"',
        ),
    )
    job = wait_condition(s, "deadline", "Failed", 20)
    failed = cond(job, "Failed")
    assert failed is not None and failed["reason"] == "DeadlineExceeded"
    assert failed["message"] == "Job was active longer than specified deadline"
    assert job["status"].get("active", 0) == 0
    assert ("DeadlineExceeded", "Job was active longer than specified deadline") in events(
        s, "Job", "deadline"
    )
    wait_until(
        "the deadline job's pods to go",
        lambda: all(p["metadata"].get("deletionTimestamp") or p["status"].get("phase") == "Failed"
                    for p in pods_of(s, "deadline")),
    )  # fmt: skip


def test_suspend_and_resume(batch: Server) -> None:
    s = batch
    apply(
        s,
        job_manifest(
            "sus",
            "\nsuspend: true\ncompletions: 2\nparallelism: 2",
            pod_annotations='pinnace.io/sim-duration: "10m"',
        ),
    )
    job = wait_condition(s, "sus", "Suspended")
    assert job["status"].get("startTime") is None
    assert cond(job, "Suspended")["reason"] == "JobSuspended"  # type: ignore[index]
    assert pods_of(s, "sus") == []
    assert s.kubectl("get", "job", "sus").stdout.splitlines()[1].split()[1] == "Suspended"

    s.kubectl("patch", "job", "sus", "--type=merge", "-p", '{"spec":{"suspend":false}}')

    def running() -> dict[str, Any] | None:
        j = get(s, "job", "sus")
        ok = j and j["status"].get("active") == 2 and j["status"].get("startTime")
        return j if ok else None

    job = wait_until("the resumed job's pods", running)
    resumed = next(c for c in job["status"]["conditions"] if c["type"] == "Suspended")
    assert (resumed["status"], resumed["reason"]) == ("False", "JobResumed")

    # suspending a running Job deletes its pods and does not count them as failures
    s.kubectl("patch", "job", "sus", "--type=merge", "-p", '{"spec":{"suspend":true}}')
    job = wait_condition(s, "sus", "Suspended")
    wait_until("the suspended job's pods to go", lambda: pods_of(s, "sus") == [] or None)
    job = get(s, "job", "sus")
    assert job is not None
    assert job["status"].get("active", 0) == 0 and job["status"].get("failed", 0) == 0
    reasons = [r for r, _ in events(s, "Job", "sus")]
    assert "Suspended" in reasons and "Resumed" in reasons and "SuccessfulDelete" in reasons


def test_ttl_after_finished_deletes_the_job(batch: Server) -> None:
    s = batch
    apply(s, job_manifest("ttl", "\nttlSecondsAfterFinished: 1"))
    # (the Job may be gone before a poll sees it Complete: its events tell)
    wait_until("the finished job to be deleted", lambda: get(s, "job", "ttl") is None, 20)
    assert ("Completed", "Job completed") in events(s, "Job", "ttl")
    wait_until("its pods to be collected", lambda: pods_of(s, "ttl") == [] or None, 15)


# --- CronJob ------------------------------------------------------------------------------------


def test_create_job_from_cronjob(batch: Server) -> None:
    s = batch
    s.kubectl("create", "cronjob", "nightly", "--image=busybox", "--schedule=@daily", "--", "true")
    s.kubectl("create", "job", "nightly-manual", "--from=cronjob/nightly")
    s.kubectl("wait", "--for=condition=complete", "job/nightly-manual", "--timeout=30s")
    job = get(s, "job", "nightly-manual")
    assert job is not None
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["metadata"]["ownerReferences"][0]["name"] == "nightly"


@contextlib.asynccontextmanager
async def fake_clock_cronjob_controller(
    s: Server,
) -> AsyncIterator[tuple[Client, FakeClock, CronJobController]]:
    """The CronJob controller in this event loop on virtual time, against the live API."""
    clock = FakeClock(wall_start=datetime.now(UTC))
    client = Client.from_kubeconfig(s.kubeconfig)
    ctx = ControllerContext(client, SharedInformerFactory(client), clock, host="test")
    c = CronJobController(ctx)
    task = asyncio.create_task(c.run())
    try:
        await asyncio.wait_for(c.ready.wait(), 10)
        yield client, clock, c
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()


async def _eventually(what: str, fn: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


def _cronjob(name: str, policy: str, duration: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {
            "schedule": "*/1 * * * *",
            "concurrencyPolicy": policy,
            "jobTemplate": {
                "spec": {
                    "template": {
                        "metadata": {"annotations": {"pinnace.io/sim-duration": duration}},
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "c", "image": "busybox"}],
                        },
                    }
                }
            },
        },
    }


async def test_cronjob_schedules_jobs_and_forbid_never_overlaps(batch: Server) -> None:
    async with fake_clock_cronjob_controller(batch) as (client, clock, _c):
        await client.create(CRONJOBS, _cronjob("every-minute", "Forbid", "3s"), namespace="default")

        async def jobs() -> list[dict[str, Any]]:
            items = (await client.list(JOBS, namespace="default"))["items"]
            return [
                j
                for j in items
                if (j["metadata"].get("ownerReferences") or [{}])[0].get("name") == "every-minute"
            ]

        async def unfinished() -> int:
            return sum(1 for j in await jobs() if finished_condition(j) is None)

        # the first minute boundary: one Job, named after the scheduled minute
        await asyncio.sleep(0.5)
        assert await jobs() == []
        await clock.advance(61)
        first = (await _eventually("the first scheduled job", jobs))[0]
        stamp = first["metadata"]["annotations"][SCHEDULED_TIMESTAMP]
        scheduled = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        assert scheduled.second == 0 and stamp.endswith("Z")
        assert first["metadata"]["name"] == f"every-minute-{int(scheduled.timestamp()) // 60}"

        # while it runs, the next minutes start nothing (Forbid)
        for _ in range(2):
            await _eventually(
                "the cronjob status to list its job",
                lambda: _active_count(client, "every-minute", 1),
            )
            await clock.advance(60)
            await asyncio.sleep(0.5)
            assert len(await jobs()) == 1
            assert await unfinished() <= 1

        # once it finished, the run missed meanwhile starts at once (as upstream), and
        # the runs never overlap
        async def two_finished() -> bool:
            js = await jobs()
            return len(js) >= 2 and all(finished_condition(j) for j in js)

        await _eventually("a second run to finish", two_finished, 20)
        runs = sorted(await jobs(), key=lambda j: j["metadata"]["name"])
        for before, after in itertools.pairwise(runs):
            assert after["status"]["startTime"] >= before["status"]["completionTime"]
        cj = await client.get(CRONJOBS, "every-minute", namespace="default")
        assert cj["status"]["lastScheduleTime"] and cj["status"]["lastSuccessfulTime"]
        evs = (
            await client.list(
                EVENTS,
                namespace="default",
                field_selector="involvedObject.kind=CronJob,involvedObject.name=every-minute",
            )
        )["items"]
        reasons = {e["reason"] for e in evs}
        assert {"SuccessfulCreate", "JobAlreadyActive", "SawCompletedJob"} <= reasons


async def _active_count(client: Client, name: str, n: int) -> bool:
    cj = await client.get(CRONJOBS, name, namespace="default")
    return len((cj.get("status") or {}).get("active") or []) == n
