"""The controller manager: all selected controllers run, one crash stops them all."""

from __future__ import annotations

import asyncio

import pytest

from pinnace.client import Client
from pinnace.controllers import manager
from pinnace.controllers.base import Controller, ControllerContext, Requeue
from pinnace.controllers.registry import ControllerSpec
from tests.unit.controllers.test_base import NoTransport


class Idle(Controller):
    NAME = "idle"
    stopped = False

    async def reconcile(self, key: str) -> Requeue | None:
        return None

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            type(self).stopped = True


class Crashing(Controller):
    NAME = "crashing"

    async def reconcile(self, key: str) -> Requeue | None:
        raise AssertionError("not called")

    async def run(self) -> None:
        self.ready.set()
        await asyncio.sleep(0.01)
        raise RuntimeError("kaboom")


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        manager,
        "CONTROLLERS",
        {
            "idle": ControllerSpec("idle", Idle),
            "crashing": ControllerSpec("crashing", Crashing, enabled_by_default=False),
        },
    )
    Idle.stopped = False


def client() -> Client:
    return Client(NoTransport(), qps=0)  # type: ignore[arg-type]


async def test_runs_selected_until_cancelled(table: None) -> None:
    ready = asyncio.Event()
    task = asyncio.create_task(manager.run_controller_manager(client(), "*", ready=ready))
    await asyncio.wait_for(ready.wait(), 5)
    assert not Idle.stopped
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert Idle.stopped


async def test_a_crash_stops_everything_loudly(
    table: None, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(manager.ControllerManagerError, match=r"crashing crashed.*kaboom"):
        await asyncio.wait_for(manager.run_controller_manager(client(), "*,crashing"), 5)
    assert Idle.stopped
    assert "controller crashing crashed" in caplog.text


async def test_unknown_controller(table: None) -> None:
    with pytest.raises(ValueError, match="not in the list"):
        await manager.run_controller_manager(client(), "*,-nope")


def test_context_defaults() -> None:
    c = client()
    ctx = ControllerContext(c, manager.SharedInformerFactory(c))
    assert ctx.host and ctx.workers == {}
