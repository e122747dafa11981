from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest

from pinnace.client import Client, FakeClock, LeaderElector
from pinnace.client.leaderelection import format_micro_time
from pinnace.client.objects import Obj
from tests.unit.client.fake_apiserver import FakeApiServer

KEY = ("leases", "kube-system", "ctrl")


class Candidate:
    def __init__(self, client: Client, clock: FakeClock, identity: str, **kw: object) -> None:
        self.started = asyncio.Event()
        self.stopped = 0
        self.leaders: list[str] = []

        async def lead() -> None:
            self.started.set()
            await asyncio.Event().wait()

        def stop() -> None:
            self.stopped += 1

        self.elector = LeaderElector(
            client,
            lock_namespace="kube-system",
            lock_name="ctrl",
            identity=identity,
            on_started_leading=lead,
            on_stopped_leading=stop,
            on_new_leader=self.leaders.append,
            clock=clock,
            **kw,  # type: ignore[arg-type]
        )
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.elector.run())

    async def cancel(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def spec(fake_api: FakeApiServer) -> Obj:
    result: Obj = fake_api.objects[KEY]["spec"]
    return result


async def advance_until(
    clock: FakeClock, cond: Callable[[], bool], sleepers: int, limit: float = 60.0
) -> None:
    """Advance virtual time in 0.5 s steps, letting HTTP finish between steps."""
    start = clock.now()
    while not cond():
        if clock.now() - start > limit:
            raise AssertionError("condition not met in virtual time")
        await clock.wait_for_sleepers(sleepers)
        await clock.advance(0.5)


def test_validation() -> None:
    async def lead() -> None:
        pass

    with pytest.raises(ValueError):
        LeaderElector(
            None,  # type: ignore[arg-type]
            lock_namespace="n", lock_name="l", identity="a", on_started_leading=lead,
            lease_duration=10, renew_deadline=10,
        )  # fmt: skip
    with pytest.raises(ValueError):
        LeaderElector(
            None,  # type: ignore[arg-type]
            lock_namespace="n", lock_name="l", identity="a", on_started_leading=lead,
            renew_deadline=2, retry_period=2,
        )  # fmt: skip


async def test_acquire_renew_and_release(client: Client, fake_api: FakeApiServer) -> None:
    clock = FakeClock()
    a = Candidate(client, clock, "a")
    a.start()
    await asyncio.wait_for(a.started.wait(), 3)
    assert a.elector.is_leader() and a.leaders == ["a"]
    t0 = format_micro_time(clock.wall())
    s = spec(fake_api)
    assert s == {
        "holderIdentity": "a",
        "leaseDurationSeconds": 15,
        "leaseTransitions": 0,
        "acquireTime": t0,
        "renewTime": t0,
    }
    # renewals every retry period keep acquireTime
    await advance_until(clock, lambda: spec(fake_api)["renewTime"] != t0, sleepers=1)
    assert clock.now() == 2.0
    assert spec(fake_api)["acquireTime"] == t0
    assert spec(fake_api)["renewTime"] == format_micro_time(clock.wall())

    await a.cancel()
    assert a.stopped == 1
    s = spec(fake_api)
    assert s["holderIdentity"] == "" and s["leaseDurationSeconds"] == 1
    assert s["leaseTransitions"] == 0


async def test_takeover_after_expiry(client: Client, fake_api: FakeApiServer) -> None:
    clock = FakeClock()
    a = Candidate(client, clock, "a", release_on_cancel=False)
    b = Candidate(client, clock, "b")
    a.start()
    await asyncio.wait_for(a.started.wait(), 3)
    b.start()
    await clock.wait_for_sleepers(2)
    assert not b.elector.is_leader() and b.elector.get_leader() == "a"
    assert b.leaders == ["a"]

    await a.cancel()  # a dies without releasing: b must wait for expiry
    assert a.stopped == 1 and spec(fake_api)["holderIdentity"] == "a"
    await advance_until(clock, b.started.is_set, sleepers=1)
    assert 15.0 <= clock.now() <= 20.0
    s = spec(fake_api)
    assert s["holderIdentity"] == "b" and s["leaseTransitions"] == 1
    assert b.leaders == ["a", "b"]
    await b.cancel()


async def test_released_lease_is_taken_at_once(client: Client, fake_api: FakeApiServer) -> None:
    clock = FakeClock()
    a = Candidate(client, clock, "a")
    b = Candidate(client, clock, "b")
    a.start()
    await asyncio.wait_for(a.started.wait(), 3)
    b.start()
    await clock.wait_for_sleepers(2)
    await a.cancel()  # releases
    await advance_until(clock, b.started.is_set, sleepers=1)
    assert clock.now() <= 5.0  # one acquire retry, not a whole lease duration
    await b.cancel()


async def test_leader_steps_down_when_lease_is_lost(
    client: Client, fake_api: FakeApiServer
) -> None:
    clock = FakeClock()
    a = Candidate(client, clock, "a")
    a.start()
    await asyncio.wait_for(a.started.wait(), 3)
    stolen = dict(fake_api.objects[KEY])
    stolen["spec"] = dict(stolen["spec"], holderIdentity="x", leaseTransitions=1)
    fake_api.put("leases", stolen)
    assert a.task is not None
    task = a.task
    await advance_until(clock, task.done, sleepers=1)
    await task  # returns normally after losing the lease
    assert a.stopped == 1 and not a.elector.is_leader()
    assert a.elector.get_leader() == "x"
    assert spec(fake_api)["holderIdentity"] == "x"  # not released: it was not ours
    assert 8.0 <= clock.now() <= 12.0  # within the renew deadline (10 s) of the first failure


async def test_leading_function_error_propagates(client: Client, fake_api: FakeApiServer) -> None:
    async def lead() -> None:
        raise RuntimeError("controller crashed")

    stopped: list[int] = []
    elector = LeaderElector(
        client,
        lock_namespace="kube-system",
        lock_name="ctrl",
        identity="a",
        on_started_leading=lead,
        on_stopped_leading=lambda: stopped.append(1),
        clock=FakeClock(),
    )
    with pytest.raises(RuntimeError, match="controller crashed"):
        await elector.run()
    assert stopped == [1]
    assert spec(fake_api)["holderIdentity"] == ""  # released
