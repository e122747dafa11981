"""TTL after finished: expiry from the finish condition, requeue until then, delete
with preconditions (virtual time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pinnace.client import FakeClock, Obj
from pinnace.controllers.jobutil import JOBS, format_time
from pinnace.controllers.ttlafterfinished import TTLAfterFinishedController, expires_at
from tests.unit.controllers.test_job import NS, make_ctx

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def finished_job(ttl: int | None, at: datetime = T0, ctype: str = "Complete") -> Obj:
    spec: Obj = {} if ttl is None else {"ttlSecondsAfterFinished": ttl}
    return {
        "metadata": {"name": "j", "namespace": NS},
        "spec": spec,
        "status": {
            "conditions": [{"type": ctype, "status": "True", "lastTransitionTime": format_time(at)}]
        },
    }


def test_expiry() -> None:
    assert expires_at(finished_job(30)) == T0 + timedelta(seconds=30)
    assert expires_at(finished_job(0, ctype="Failed")) == T0
    assert expires_at(finished_job(None)) is None
    running = finished_job(30)
    running["status"]["conditions"] = []
    assert expires_at(running) is None


async def test_deletes_at_expiry() -> None:
    clock = FakeClock(wall_start=T0)
    api, ctx = make_ctx(clock)
    c = TTLAfterFinishedController(ctx)
    api.put(JOBS, finished_job(30))
    c.jobs.store.replace(api.of("jobs"))
    r = await c.reconcile(f"{NS}/j")
    assert r is not None and r.after == pytest.approx(30)
    await clock.advance(30)
    assert await c.reconcile(f"{NS}/j") is None
    assert ("delete", "jobs", "j") in api.calls and api.of("jobs") == []


async def test_ttl_removed_meanwhile_keeps_the_job() -> None:
    clock = FakeClock(wall_start=T0 + timedelta(seconds=60))
    api, ctx = make_ctx(clock)
    c = TTLAfterFinishedController(ctx)
    api.put(JOBS, finished_job(30))
    c.jobs.store.replace(api.of("jobs"))  # the cache still shows the TTL
    api.put(JOBS, finished_job(None))
    assert await c.reconcile(f"{NS}/j") is None
    assert len(api.of("jobs")) == 1
