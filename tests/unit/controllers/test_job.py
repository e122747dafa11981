"""The Job controller's passes against an in-memory fake API, in virtual time.

The controller's caches are filled by hand (``store.put``) and its ``reconcile``
called directly, so each test states exactly what the controller sees. The
:class:`FakeApi` is shared with the CronJob and TTL tests.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from pinnace.client import PODS as PODS_REF
from pinnace.client import (
    AlreadyExists,
    Conflict,
    FakeClock,
    NotFound,
    Obj,
    ResourceLike,
    SharedInformerFactory,
)
from pinnace.controllers.base import ControllerContext, Requeue
from pinnace.controllers.job import JobController
from pinnace.controllers.jobutil import JOB_TRACKING_FINALIZER, format_time
from pinnace.controllers.jobutil import JOBS as JOBS_REF

NS = "ns"


def _error(cls: type[Exception], code: int, reason: str, msg: str) -> Exception:
    return cls({"code": code, "reason": reason, "message": msg})  # type: ignore[call-arg]


class FakeApi:
    """Just enough of :class:`pinnace.client.Client` for the batch controllers."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.calls: list[tuple[str, str, str]] = []
        self._rv = itertools.count(100)
        self._names = itertools.count(1)

    def _key(self, r: ResourceLike, ns: str | None, name: str) -> tuple[str, str, str]:
        return (r.plural, ns or "", name)

    def put(self, r: ResourceLike, obj: Obj) -> Obj:
        m = obj.setdefault("metadata", {})
        m.setdefault("namespace", NS)
        m.setdefault("uid", f"uid-{m['name']}")
        m.setdefault("creationTimestamp", format_time(self.clock.wall()))
        m["resourceVersion"] = str(next(self._rv))
        self.objects[self._key(r, m["namespace"], m["name"])] = copy.deepcopy(obj)
        return copy.deepcopy(obj)

    def of(self, plural: str) -> list[Obj]:
        return [copy.deepcopy(o) for (p, _, _), o in self.objects.items() if p == plural]

    async def create(
        self, r: ResourceLike, obj: Obj, *, namespace: str | None = None, **_: Any
    ) -> Obj:
        obj = copy.deepcopy(obj)
        m = obj.setdefault("metadata", {})
        if not m.get("name"):
            m["name"] = f"{m['generateName']}{next(self._names):05d}"
        m["namespace"] = namespace or m.get("namespace") or NS
        if self._key(r, m["namespace"], m["name"]) in self.objects:
            raise _error(AlreadyExists, 409, "AlreadyExists", f"{m['name']} already exists")
        self.calls.append(("create", r.plural, m["name"]))
        return self.put(r, obj)

    async def get(
        self, r: ResourceLike, name: str, *, namespace: str | None = None, **_: Any
    ) -> Obj:
        try:
            return copy.deepcopy(self.objects[self._key(r, namespace, name)])
        except KeyError:
            raise _error(NotFound, 404, "NotFound", f"{name} not found") from None

    async def replace_status(self, r: ResourceLike, obj: Obj, **_: Any) -> Obj:
        m = obj["metadata"]
        cur = await self.get(r, m["name"], namespace=m.get("namespace"))
        if cur["metadata"]["resourceVersion"] != m.get("resourceVersion"):
            raise _error(Conflict, 409, "Conflict", "the object has been modified")
        cur["status"] = copy.deepcopy(obj.get("status") or {})
        self.calls.append(("status", r.plural, m["name"]))
        return self.put(r, cur)

    async def patch(
        self, r: ResourceLike, name: str, patch: Any, *, namespace: str | None = None, **_: Any
    ) -> Obj:
        cur = await self.get(r, name, namespace=namespace)
        drop = (patch.get("metadata") or {}).get("$deleteFromPrimitiveList/finalizers") or []
        fins = [f for f in cur["metadata"].get("finalizers") or [] if f not in drop]
        cur["metadata"]["finalizers"] = fins
        self.calls.append(("patch", r.plural, name))
        return self.put(r, cur)

    async def delete(
        self, r: ResourceLike, name: str, *, namespace: str | None = None, **kw: Any
    ) -> Obj:
        cur = await self.get(r, name, namespace=namespace)
        pre = kw.get("preconditions") or {}
        if (
            pre.get("resourceVersion")
            and pre["resourceVersion"] != cur["metadata"]["resourceVersion"]
        ):
            raise _error(Conflict, 409, "Conflict", "precondition failed")
        self.calls.append(("delete", r.plural, name))
        if cur["metadata"].get("finalizers"):
            cur["metadata"]["deletionTimestamp"] = format_time(self.clock.wall())
            return self.put(r, cur)
        del self.objects[self._key(r, namespace, name)]
        return cur

    async def list(self, r: ResourceLike, **_: Any) -> Obj:
        return {"items": self.of(r.plural)}

    def events(self) -> list[tuple[str, str]]:
        return [(e["reason"], e["message"]) for e in self.of("events")]


def make_ctx(clock: FakeClock) -> tuple[FakeApi, ControllerContext]:
    api = FakeApi(clock)
    client: Any = api
    return api, ControllerContext(
        client, SharedInformerFactory(client, clock=clock), clock, host="t"
    )


def job_obj(name: str = "j", **spec: Any) -> Obj:
    """A Job as the server stores it (defaulted, selector generated)."""
    s: dict[str, Any] = {
        "completions": 1,
        "parallelism": 1,
        "backoffLimit": 6,
        "completionMode": "NonIndexed",
        "suspend": False,
        "podReplacementPolicy": "TerminatingOrFailed",
        "template": {
            "metadata": {"labels": {"batch.kubernetes.io/job-name": name}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox"}],
            },
        },
    }
    s.update(spec)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NS},
        "spec": s,
    }


class Harness:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.api, ctx = make_ctx(clock)
        self.c = JobController(ctx)

    def add_job(self, job: Obj) -> Obj:
        stored = self.api.put(JOBS_REF, job)
        self.sync_cache()
        return stored

    def job(self, name: str = "j") -> Obj:
        return self.api.objects[("jobs", NS, name)]

    def pods(self) -> list[Obj]:
        return sorted(self.api.of("pods"), key=lambda p: p["metadata"]["name"])

    def sync_cache(self) -> None:
        """Make the informer caches show what the fake API holds."""
        self.c.jobs.store.replace(self.api.of("jobs"))
        self.c.pods.store.replace(self.api.of("pods"))

    def set_pod(self, name: str, phase: str, *, exit_code: int = 0, ready: bool = False) -> None:
        pod = self.api.objects[("pods", NS, name)]
        st: dict[str, Any] = {"phase": phase}
        if phase in ("Succeeded", "Failed"):
            st["containerStatuses"] = [{
                "name": "main",
                "state": {"terminated": {"exitCode": exit_code, "finishedAt": format_time(self.clock.wall())}},
            }]  # fmt: skip
        if ready:
            st["conditions"] = [{"type": "Ready", "status": "True"}]
        pod["status"] = st
        self.api.put(PODS_REF, pod)

    async def sync(self, name: str = "j") -> Requeue | None:
        self.sync_cache()
        result = await self.c.reconcile(f"{NS}/{name}")
        self.sync_cache()
        return result


@pytest.fixture
def h() -> Harness:
    return Harness(FakeClock())


def conds(job: Obj) -> list[tuple[str, str, str]]:
    return [
        (c["type"], c["status"], c.get("reason", "")) for c in job["status"].get("conditions") or []
    ]


async def test_creates_pods_up_to_parallelism_with_finalizer_and_owner(h: Harness) -> None:
    h.add_job(job_obj(completions=3, parallelism=2))
    await h.sync()
    pods = h.pods()
    assert len(pods) == 2
    m = pods[0]["metadata"]
    assert m["name"].startswith("j-")
    assert m["finalizers"] == [JOB_TRACKING_FINALIZER]
    ref = m["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"], ref["blockOwnerDeletion"]) == (
        "Job", "j", "uid-j", True, True,
    )  # fmt: skip
    st = h.job()["status"]
    assert st["active"] == 2 and st["ready"] == 0 and st["terminating"] == 0
    assert st["startTime"] == format_time(h.clock.wall())
    await h.c.recorder.flush()
    assert ("SuccessfulCreate", f"Created pod: {m['name']}") in h.api.events()


async def test_waits_for_the_cache_to_show_its_own_pods(h: Harness) -> None:
    h.add_job(job_obj(completions=3, parallelism=2))
    await h.c.reconcile(f"{NS}/j")  # the pod cache has not seen the new pods yet
    h.c.jobs.store.replace(h.api.of("jobs"))
    await h.c.reconcile(f"{NS}/j")
    assert len(h.pods()) == 2  # no duplicates


async def test_counts_each_finished_pod_once_and_completes(h: Harness) -> None:
    h.add_job(job_obj(completions=2, parallelism=2))
    await h.sync()
    a, b = (p["metadata"]["name"] for p in h.pods())
    h.set_pod(a, "Succeeded")
    await h.sync()
    st = h.job()["status"]
    assert st["succeeded"] == 1 and st["active"] == 1
    assert not h.pods()[0]["metadata"]["finalizers"]
    await h.sync()  # a pass with the cache showing the finalizer gone changes nothing
    assert h.job()["status"]["succeeded"] == 1
    h.set_pod(b, "Succeeded")
    await h.sync()
    job = h.job()
    assert conds(job) == [
        ("SuccessCriteriaMet", "True", "CompletionsReached"),
        ("Complete", "True", "CompletionsReached"),
    ]
    assert job["status"]["succeeded"] == 2 and "active" not in job["status"]
    assert job["status"]["completionTime"]
    await h.c.recorder.flush()
    assert ("Completed", "Job completed") in h.api.events()


async def test_failed_pods_are_replaced_after_the_backoff(h: Harness) -> None:
    h.add_job(job_obj(backoffLimit=6))
    await h.sync()
    (first,) = (p["metadata"]["name"] for p in h.pods())
    h.set_pod(first, "Failed", exit_code=1)
    result = await h.sync()
    assert h.job()["status"]["failed"] == 1
    assert len(h.pods()) == 1  # no replacement yet
    assert result is not None and result.after == pytest.approx(10.0)
    await h.clock.advance(4)
    result = await h.sync()
    assert result is not None and result.after == pytest.approx(6.0)
    await h.clock.advance(6)
    await h.sync()
    assert len(h.pods()) == 2
    # the second failure doubles the back-off
    second = h.pods()[1]["metadata"]["name"]
    h.set_pod(second, "Failed", exit_code=1)
    result = await h.sync()
    assert result is not None and result.after == pytest.approx(20.0)


async def test_backoff_limit_exceeded(h: Harness) -> None:
    h.add_job(job_obj(backoffLimit=0))
    await h.sync()
    h.set_pod(h.pods()[0]["metadata"]["name"], "Failed", exit_code=1)
    await h.sync()
    job = h.job()
    assert conds(job) == [
        ("FailureTarget", "True", "BackoffLimitExceeded"),
        ("Failed", "True", "BackoffLimitExceeded"),
    ]
    assert job["status"]["failed"] == 1 and "completionTime" not in job["status"]
    await h.c.recorder.flush()
    assert ("BackoffLimitExceeded", "Job has reached the specified backoff limit") in h.api.events()
    assert await h.sync() is None and len(h.pods()) == 1  # finished: nothing more


async def test_pod_failure_policy_ignore_and_fail_job(h: Harness) -> None:
    policy = {"rules": [
        {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [3]}},
        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
    ]}  # fmt: skip
    h.add_job(job_obj(backoffLimit=0, podFailurePolicy=policy, podReplacementPolicy="Failed"))
    await h.sync()
    h.set_pod(h.pods()[0]["metadata"]["name"], "Failed", exit_code=3)
    result = await h.sync()
    st = h.job()["status"]
    assert "failed" not in st and not conds(h.job())  # ignored: not counted
    assert result is not None and result.after == pytest.approx(10.0)  # (upstream backs off)
    await h.clock.advance(10)
    await h.sync()
    assert len(h.pods()) == 2
    h.set_pod(h.pods()[1]["metadata"]["name"], "Failed", exit_code=42)
    await h.sync()
    (target, failed) = h.job()["status"]["conditions"]
    assert (target["type"], failed["type"], failed["reason"]) == (
        "FailureTarget", "Failed", "PodFailurePolicy",
    )  # fmt: skip
    assert "failed with exit code 42 matching FailJob rule at index 1" in failed["message"]


async def test_active_deadline(h: Harness) -> None:
    h.add_job(job_obj(activeDeadlineSeconds=30))
    result = await h.sync()
    assert result is not None and result.after == pytest.approx(30.0)
    h.set_pod(h.pods()[0]["metadata"]["name"], "Running")
    await h.clock.advance(30)
    await h.sync()
    job = h.job()
    assert ("Failed", "True", "DeadlineExceeded") in conds(job)
    assert h.pods()[0]["metadata"].get("deletionTimestamp")  # the running pod was deleted
    assert job["status"]["failed"] == 1


async def test_suspend_deletes_pods_and_resume_restarts_the_clock(h: Harness) -> None:
    h.add_job(job_obj(completions=2, parallelism=2))
    await h.sync()
    for p in h.pods():
        h.set_pod(p["metadata"]["name"], "Running")
    job = copy.deepcopy(h.job())
    job["spec"]["suspend"] = True
    h.api.put(JOBS_REF, job)
    await h.sync()
    await h.sync()
    job = h.job()
    assert ("Suspended", "True", "JobSuspended") in conds(job)
    assert "startTime" not in job["status"] and "active" not in job["status"]
    assert "failed" not in job["status"]  # stopped by the suspension, not failures
    assert all(p["metadata"].get("deletionTimestamp") for p in h.pods())
    assert all(not p["metadata"].get("finalizers") for p in h.pods())
    for p in h.pods():
        del h.api.objects[("pods", NS, p["metadata"]["name"])]
    await h.clock.advance(100)
    job = copy.deepcopy(h.job())
    job["spec"]["suspend"] = False
    h.api.put(JOBS_REF, job)
    await h.sync()
    job = h.job()
    assert ("Suspended", "False", "JobResumed") in conds(job)
    assert job["status"]["startTime"] == format_time(h.clock.wall())
    assert len(h.pods()) == 2
    await h.c.recorder.flush()
    reasons = [r for r, _ in h.api.events()]
    assert "Suspended" in reasons and "Resumed" in reasons


async def test_indexed_job_bookkeeping(h: Harness) -> None:
    h.add_job(job_obj(completions=4, parallelism=2, completionMode="Indexed"))
    await h.sync()
    pods = h.pods()
    assert sorted(
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in pods
    ) == ["0", "1"]
    p0 = next(
        p
        for p in pods
        if p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == "0"
    )
    assert p0["metadata"]["name"].startswith("j-0-")
    assert p0["spec"]["hostname"] == "j-0"
    env = p0["spec"]["containers"][0]["env"]
    assert env[0]["name"] == "JOB_COMPLETION_INDEX"
    assert env[0]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    )
    h.set_pod(p0["metadata"]["name"], "Succeeded")
    await h.sync()
    st = h.job()["status"]
    assert st["completedIndexes"] == "0" and st["succeeded"] == 1
    idx = sorted(
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in h.pods()
    )
    assert idx == ["0", "1", "2"]  # the lowest pending index next
    for p in h.pods():
        if p.get("status", {}).get("phase") != "Succeeded":
            h.set_pod(p["metadata"]["name"], "Succeeded")
    await h.sync()
    assert h.job()["status"]["completedIndexes"] == "0-2"
    for p in h.pods():
        if p.get("status", {}).get("phase") != "Succeeded":
            h.set_pod(p["metadata"]["name"], "Succeeded")
    await h.sync()
    job = h.job()
    assert job["status"]["completedIndexes"] == "0-3" and job["status"]["succeeded"] == 4
    assert ("Complete", "True", "CompletionsReached") in conds(job)


async def test_backoff_limit_per_index(h: Harness) -> None:
    h.add_job(
        job_obj(
            completions=2, parallelism=2, completionMode="Indexed",
            backoffLimitPerIndex=1, backoffLimit=2**31 - 1,
        )
    )  # fmt: skip
    await h.sync()

    def pod_at(ix: str) -> Obj:
        return next(
            p for p in h.pods()
            if p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] == ix
            and p.get("status", {}).get("phase") not in ("Failed", "Succeeded")
        )  # fmt: skip

    h.set_pod(pod_at("1")["metadata"]["name"], "Failed", exit_code=1)
    result = await h.sync()
    assert result is not None and result.after == pytest.approx(10.0)
    await h.clock.advance(10)
    await h.sync()
    retry = pod_at("1")
    assert retry["metadata"]["annotations"]["batch.kubernetes.io/job-index-failure-count"] == "1"
    h.set_pod(retry["metadata"]["name"], "Failed", exit_code=1)
    await h.sync()
    assert h.job()["status"]["failedIndexes"] == "1"
    h.set_pod(pod_at("0")["metadata"]["name"], "Succeeded")
    await h.sync()
    job = h.job()
    assert ("Failed", "True", "FailedIndexes") in conds(job)
    assert job["status"]["completedIndexes"] == "0"


async def test_deleted_job_releases_its_pods(h: Harness) -> None:
    h.add_job(job_obj())
    await h.sync()
    del h.api.objects[("jobs", NS, "j")]
    await h.sync()
    assert not h.pods()[0]["metadata"]["finalizers"]


def test_registered_by_default() -> None:
    from pinnace.controllers.registry import CONTROLLERS, select_controllers

    names = select_controllers("*")
    for n in ("job", "cronjob", "ttl-after-finished"):
        assert n in names and CONTROLLERS[n].enabled_by_default
