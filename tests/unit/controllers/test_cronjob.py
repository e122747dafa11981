"""CronJob schedules and decisions in virtual time: next activations, missed
schedules, starting deadlines, Allow/Forbid/Replace, history limits."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pinnace.client import FakeClock, Obj
from pinnace.controllers.cronjob import (
    SCHEDULED_TIMESTAMP,
    CronJobController,
    job_name,
    most_recent_schedule_time,
    next_schedule_delay,
)
from pinnace.controllers.cronschedule import EverySchedule, ScheduleError, load_zone, parse
from pinnace.controllers.jobutil import CRONJOBS, JOBS, format_time
from tests.unit.controllers.test_job import NS, make_ctx

T0 = datetime(2025, 1, 1, tzinfo=UTC)  # a Wednesday


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def nexts(spec: str, start: datetime, n: int, zone: str | None = None) -> list[datetime]:
    s = parse(spec, load_zone(zone))
    out: list[datetime] = []
    t: datetime | None = start
    for _ in range(n):
        assert t is not None
        t = s.next(t)
        assert t is not None
        out.append(t)
    return out


# --- schedules -------------------------------------------------------------------------------


def test_every_n_minutes() -> None:
    assert nexts("*/15 * * * *", at(0), 3) == [at(15), at(30), at(45)]
    assert nexts("*/1 * * * *", at(0.5), 2) == [at(1), at(2)]


def test_ranges_steps_and_names() -> None:
    got = nexts("30 6-16/4 * * MON-FRI", T0, 4)
    assert [(d.day, d.hour, d.minute) for d in got] == [
        (1, 6, 30),
        (1, 10, 30),
        (1, 14, 30),
        (2, 6, 30),
    ]
    assert nexts("0 0 1 jan,jul *", T0, 2) == [
        datetime(2025, 7, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    ]


def test_day_of_month_or_day_of_week() -> None:
    # both restricted: either matches (robfig/cron, like Vixie cron)
    got = nexts("0 0 13 * FRI", T0, 3)
    assert [d.date().isoformat() for d in got] == ["2025-01-03", "2025-01-10", "2025-01-13"]
    # a star in either: both must match
    assert [d.day for d in nexts("0 0 * * FRI", T0, 2)] == [3, 10]


def test_descriptors_and_every() -> None:
    assert nexts("@hourly", at(1), 1) == [at(60)]
    assert nexts("@daily", at(1), 1) == [datetime(2025, 1, 2, tzinfo=UTC)]
    assert nexts("@weekly", T0, 1) == [datetime(2025, 1, 5, tzinfo=UTC)]  # Sunday
    assert nexts("@monthly", T0, 1) == [datetime(2025, 2, 1, tzinfo=UTC)]
    assert nexts("@yearly", T0, 1) == [datetime(2026, 1, 1, tzinfo=UTC)]
    assert nexts("@every 90s", T0, 2) == [T0 + timedelta(seconds=90), T0 + timedelta(seconds=180)]


def test_time_zone() -> None:
    (t,) = nexts("0 9 * * *", T0, 1, "America/New_York")
    assert t == datetime(2025, 1, 1, 14, tzinfo=UTC)
    (t,) = nexts("CRON_TZ=Asia/Tokyo 0 9 * * *", T0, 1)
    assert t == datetime(2025, 1, 2, 0, tzinfo=UTC)


def test_impossible_and_bad_schedules() -> None:
    assert parse("59 23 31 2 *").next(T0) is None
    for bad in ("", "* * * *", "61 * * * *", "@fortnightly", "*/0 * * * *"):
        with pytest.raises(ScheduleError):
            parse(bad)
    with pytest.raises(ScheduleError):
        load_zone("Mars/Olympus")


# --- most recent unmet time --------------------------------------------------------------------


def cronjob(
    schedule: str = "*/1 * * * *",
    *,
    created: datetime = T0,
    last: datetime | None = None,
    **spec: Any,
) -> Obj:
    cj: Obj = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "cj", "namespace": NS, "creationTimestamp": format_time(created)},
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": "Allow",
            "suspend": False,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {
                "metadata": {"labels": {"team": "a"}},
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}},
            },
            **spec,
        },
        "status": {},
    }  # fmt: skip
    if last is not None:
        cj["status"]["lastScheduleTime"] = format_time(last)
    return cj


def test_nothing_due_before_the_first_time() -> None:
    d = most_recent_schedule_time(cronjob(), at(0.5), parse("*/1 * * * *"), True)
    assert (d.most_recent, d.missed) == (None, "none")
    assert next_schedule_delay(cronjob(), at(0.5), parse("*/1 * * * *")) == pytest.approx(30.1)


def test_one_due() -> None:
    d = most_recent_schedule_time(cronjob(), at(1.5), parse("*/1 * * * *"), True)
    assert (d.most_recent, d.missed) == (at(1), "none")


def test_few_missed_picks_the_latest() -> None:
    d = most_recent_schedule_time(cronjob(last=at(1)), at(5.5), parse("*/1 * * * *"), True)
    assert (d.most_recent, d.missed) == (at(5), "few")
    # irregular schedules are exact too
    s = parse("30 6-16/4 * * 1-5")
    d = most_recent_schedule_time(
        cronjob("30 6-16/4 * * 1-5"), datetime(2025, 1, 6, 12, tzinfo=UTC), s, True
    )
    assert d.most_recent == datetime(2025, 1, 6, 10, 30, tzinfo=UTC)


def test_too_many_missed() -> None:
    d = most_recent_schedule_time(
        cronjob("@hourly"), T0 + timedelta(days=7), parse("@hourly"), True
    )
    assert d.missed == "many" and d.most_recent == T0 + timedelta(days=7)


def test_starting_deadline_limits_the_look_back() -> None:
    cj = cronjob("@hourly", startingDeadlineSeconds=600)
    d = most_recent_schedule_time(cj, T0 + timedelta(days=7, minutes=5), parse("@hourly"), True)
    assert d.missed == "none" and d.most_recent == T0 + timedelta(days=7)
    d = most_recent_schedule_time(cj, T0 + timedelta(days=7, minutes=30), parse("@hourly"), True)
    assert d.most_recent is None  # the last run is more than 10 min ago: nothing to do


def test_impossible_schedule_raises() -> None:
    with pytest.raises(ScheduleError):
        most_recent_schedule_time(cronjob(), at(10), EverySchedule(0), True)


def test_job_names_are_minutes_since_epoch() -> None:
    assert job_name("cj", at(1)) == f"cj-{int(at(1).timestamp()) // 60}"


# --- decisions ---------------------------------------------------------------------------------


class Harness:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.api, ctx = make_ctx(clock)
        self.c = CronJobController(ctx)

    def add(self, cj: Obj) -> None:
        self.api.put(CRONJOBS, cj)

    def cj(self) -> Obj:
        return self.api.objects[("cronjobs", NS, "cj")]

    def jobs(self) -> list[Obj]:
        return sorted(self.api.of("jobs"), key=lambda j: j["metadata"]["name"])

    def finish(self, name: str, ctype: str = "Complete") -> None:
        job = copy.deepcopy(self.api.objects[("jobs", NS, name)])
        job["status"] = {
            "startTime": format_time(self.clock.wall()),
            "completionTime": format_time(self.clock.wall()),
            "conditions": [{"type": ctype, "status": "True"}],
        }
        self.api.put(JOBS, job)

    async def sync(self) -> float | None:
        self.c.cronjobs.store.replace(self.api.of("cronjobs"))
        self.c.jobs.store.replace(self.api.of("jobs"))
        r = await self.c.reconcile(f"{NS}/cj")
        return None if r is None else r.after

    async def reasons(self) -> list[str]:
        await self.c.recorder.flush()
        return [r for r, _ in self.api.events()]


@pytest.fixture
def h() -> Harness:
    return Harness(FakeClock(wall_start=T0 + timedelta(seconds=1)))


async def test_creates_the_job_for_the_scheduled_minute(h: Harness) -> None:
    h.add(cronjob())
    delay = await h.sync()
    assert h.jobs() == [] and delay == pytest.approx(59.1)
    await h.clock.advance(delay)
    delay = await h.sync()
    (job,) = h.jobs()
    assert job["metadata"]["name"] == job_name("cj", at(1))
    assert job["metadata"]["annotations"][SCHEDULED_TIMESTAMP] == "2025-01-01T00:01:00Z"
    assert job["metadata"]["labels"] == {"team": "a"}
    ref = job["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["controller"]) == ("CronJob", "cj", True)
    st = h.cj()["status"]
    assert st["lastScheduleTime"] == "2025-01-01T00:01:00Z"
    assert [a["name"] for a in st["active"]] == [job["metadata"]["name"]]
    assert delay == pytest.approx(60.0)
    assert "SuccessfulCreate" in await h.reasons()
    await h.sync()
    assert len(h.jobs()) == 1  # the same minute is never run twice


async def test_scheduled_timestamp_in_the_time_zone(h: Harness) -> None:
    h.add(cronjob(timeZone="America/New_York"))
    await h.clock.advance(60)
    await h.sync()
    ann = h.jobs()[0]["metadata"]["annotations"][SCHEDULED_TIMESTAMP]
    assert ann == "2024-12-31T19:01:00-05:00"


async def test_forbid_skips_while_a_job_runs(h: Harness) -> None:
    h.add(cronjob(concurrencyPolicy="Forbid"))
    await h.clock.advance(60)
    await h.sync()
    for _ in range(3):
        await h.clock.advance(60)
        await h.sync()
        assert len(h.jobs()) == 1
    assert "JobAlreadyActive" in await h.reasons()
    first = h.jobs()[0]["metadata"]["name"]
    h.finish(first)
    await h.sync()  # sees it finished and runs the latest missed time right away
    names = [j["metadata"]["name"] for j in h.jobs()]
    assert names == sorted([first, job_name("cj", at(4))])
    st = h.cj()["status"]
    assert [a["name"] for a in st["active"]] == [job_name("cj", at(4))]
    assert st["lastSuccessfulTime"] == format_time(h.clock.wall())
    assert "SawCompletedJob" in await h.reasons()


async def test_replace_deletes_the_running_job(h: Harness) -> None:
    h.add(cronjob(concurrencyPolicy="Replace"))
    await h.clock.advance(60)
    await h.sync()
    await h.clock.advance(60)
    await h.sync()
    assert [j["metadata"]["name"] for j in h.jobs()] == [job_name("cj", at(2))]
    assert ("delete", "jobs", job_name("cj", at(1))) in h.api.calls
    assert [a["name"] for a in h.cj()["status"]["active"]] == [job_name("cj", at(2))]
    assert "SuccessfulDelete" in await h.reasons()


async def test_allow_runs_concurrently(h: Harness) -> None:
    h.add(cronjob())
    for _ in range(2):
        await h.clock.advance(60)
        await h.sync()
    assert len(h.jobs()) == 2 and len(h.cj()["status"]["active"]) == 2


async def test_missed_start_deadline(h: Harness) -> None:
    h.add(cronjob("@hourly", startingDeadlineSeconds=10, created=T0 - timedelta(minutes=1)))
    await h.clock.advance(30)  # 30 s after the hour: too late
    delay = await h.sync()
    assert h.jobs() == []  # (upstream: the deadline moves the look-back, nothing to run)
    assert delay == pytest.approx(3600 - 31 + 0.1)


async def test_too_many_missed_warns_and_still_runs_the_latest(h: Harness) -> None:
    h.add(cronjob(created=T0 - timedelta(hours=3)))
    await h.sync()
    assert [j["metadata"]["name"] for j in h.jobs()] == [job_name("cj", at(0))]
    assert "TooManyMissedTimes" in await h.reasons()


async def test_suspended_and_bad_time_zone_start_nothing(h: Harness) -> None:
    h.add(cronjob(suspend=True))
    await h.clock.advance(120)
    assert await h.sync() is None and h.jobs() == []
    cj = cronjob(timeZone="Mars/Olympus")
    h.api.objects.clear()
    h.add(cj)
    assert await h.sync() is None and h.jobs() == []
    assert "UnknownTimeZone" in await h.reasons()


async def test_history_limits_delete_the_oldest(h: Harness) -> None:
    h.add(cronjob(successfulJobsHistoryLimit=1, failedJobsHistoryLimit=0))
    for i in range(3):
        await h.clock.advance(60)
        await h.sync()
        h.finish(h.jobs()[-1]["metadata"]["name"], "Failed" if i == 0 else "Complete")
    await h.sync()
    assert [j["metadata"]["name"] for j in h.jobs()] == [job_name("cj", at(3))]
    assert "SuccessfulDelete" in await h.reasons()
