import asyncio

from pinnace.client import FakeClock
from pinnace.scheduler.queue import ASSIGNED_POD_ADD, NODE_ADD, SchedulingQueue
from tests.unit.scheduler.helpers import pod


def test_priority_order_then_fifo() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock=clock)
    q.add(pod("low", priority=1))
    q.add(pod("high1", priority=100))
    q.add(pod("high2", priority=100))
    q.add(pod("mid", priority=50))
    names = []
    while (x := q.pop_nowait()) is not None:
        names.append(x.pod.name)
    assert names == ["high1", "high2", "mid", "low"]


def test_backoff_is_exponential_and_capped() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock=clock)
    q.add(pod("p"))
    x = q.pop_nowait()
    assert x is not None
    durations = []
    for attempts in range(1, 7):
        x.attempts = attempts
        durations.append(q.backoff_duration(x))
    assert durations == [1, 2, 4, 8, 10, 10]


async def test_failed_pod_backs_off_then_returns() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock=clock)
    q.add(pod("p"))
    x = q.pop_nowait()
    assert x is not None
    q.add_unschedulable_if_not_present(x, q.scheduling_cycle, error=True)
    assert q.where(x.uid) == "backoff"
    await clock.advance(0.5)
    assert q.flush_backoff_completed() == 0
    await clock.advance(0.6)
    assert q.flush_backoff_completed() == 1
    assert q.where(x.uid) == "active"


async def test_unschedulable_moves_on_node_add_but_not_on_unrelated_event() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock=clock)
    q.add(pod("p"))
    x = q.pop_nowait()
    assert x is not None
    cycle = q.scheduling_cycle
    x.unschedulable_plugins = {"NodeResourcesFit"}
    q.add_unschedulable_if_not_present(x, cycle)
    assert q.where(x.uid) == "unschedulable"
    q.move_all_to_active_or_backoff(ASSIGNED_POD_ADD)  # NodeResourcesFit doesn't care
    assert q.where(x.uid) == "unschedulable"
    await clock.advance(5)
    q.move_all_to_active_or_backoff(NODE_ADD)
    assert q.where(x.uid) == "active"


async def test_event_during_attempt_sends_pod_to_backoff() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock=clock)
    q.add(pod("p"))
    x = q.pop_nowait()
    assert x is not None
    cycle = q.scheduling_cycle
    q.move_all_to_active_or_backoff(NODE_ADD)  # arrives while p is in flight
    q.add_unschedulable_if_not_present(x, cycle)
    assert q.where(x.uid) == "backoff"


async def test_leftover_flush_after_five_minutes_and_run_loop() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock=clock)
    q.add(pod("p"))
    x = q.pop_nowait()
    assert x is not None
    x.unschedulable_plugins = {"NodeResourcesFit"}
    q.add_unschedulable_if_not_present(x, q.scheduling_cycle)
    task = asyncio.ensure_future(q.run())
    await clock.advance(290)
    assert q.where(x.uid) == "unschedulable"
    await clock.advance(40)
    assert q.where(x.uid) == "active"
    got = await asyncio.wait_for(q.pop(), 1)
    assert got.uid == x.uid and got.attempts == 2
    task.cancel()


def test_scheduling_gates_and_nominations() -> None:
    from pinnace.scheduler.framework.status import Status

    q = SchedulingQueue(
        clock=FakeClock(),
        pre_enqueue=lambda p: (
            Status.unresolvable("gated", plugin="SchedulingGates")
            if p.spec.get("schedulingGates")
            else None
        ),
    )
    gated = pod("g", spec={"schedulingGates": [{"name": "wait"}]})
    q.add(gated)
    assert q.where(gated["metadata"]["uid"]) == "gated"
    ungated = {**gated, "spec": {**gated["spec"], "schedulingGates": []}}
    q.update(gated, ungated)
    assert q.where(gated["metadata"]["uid"]) == "active"
    nominated = pod("n")
    nominated["status"]["nominatedNodeName"] = "node-1"
    q.add(nominated)
    assert [p.name for p in q.nominated_pods_for_node("node-1")] == ["n"]
    q.delete(nominated)
    assert q.nominated_pods_for_node("node-1") == []
