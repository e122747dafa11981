"""RuntimeView: a pod refreshed on its own is not lost to a relist that began
before it (the worker would otherwise make a second sandbox)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pinnace.kubelet.cri import api_pb2 as cri
from pinnace.kubelet.runtime import RuntimeView

UID = "uid-1"


def sandbox(sid: str) -> cri.PodSandbox:
    return cri.PodSandbox(
        id=sid,
        state=cri.SANDBOX_READY,
        created_at=1,
        metadata=cri.PodSandboxMetadata(name="p", uid=UID, namespace="ns", attempt=0),
        labels={"io.kubernetes.pod.uid": UID},
    )


class FakeRuntime:
    def __init__(self) -> None:
        self.sandboxes: list[cri.PodSandbox] = []
        self.hold_list: asyncio.Event | None = None
        self.listed = asyncio.Event()
        self.lists = 0

    async def list_pod_sandbox(
        self, *, label_selector: Mapping[str, str] | None = None, **_: Any
    ) -> list[cri.PodSandbox]:
        self.lists += 1
        snapshot = list(self.sandboxes)
        if label_selector is None and self.hold_list is not None:
            self.listed.set()
            await self.hold_list.wait()
        return snapshot

    async def list_containers(self, **_: Any) -> list[cri.Container]:
        return []

    async def pod_sandbox_status(self, sid: str, **_: Any) -> cri.PodSandboxStatus:
        return cri.PodSandboxStatus(
            id=sid,
            state=cri.SANDBOX_READY,
            created_at=2,
            metadata=cri.PodSandboxMetadata(name="p", uid=UID, namespace="ns", attempt=1),
            network=cri.PodSandboxNetworkStatus(ip="10.0.0.9"),
        )


async def test_refresh_reads_the_new_sandbox() -> None:
    rt = FakeRuntime()
    view = RuntimeView(rt)  # type: ignore[arg-type]
    await view.relist()
    assert view.get(UID).sandbox is None
    rt.sandboxes.append(sandbox("s1"))
    pod = await view.refresh_pod(UID)
    assert pod.sandbox is not None and (pod.sandbox.id, pod.sandbox.ip) == ("s1", "10.0.0.9")
    assert view.get(UID).sandbox is not None
    # the next relist sees nothing new for the pod
    assert await view.relist() == set()


async def test_an_older_relist_keeps_the_refreshed_pod() -> None:
    rt = FakeRuntime()
    view = RuntimeView(rt)  # type: ignore[arg-type]
    rt.hold_list = asyncio.Event()
    relist = asyncio.create_task(view.relist())  # lists before the sandbox exists
    await rt.listed.wait()
    rt.sandboxes.append(sandbox("s1"))
    await view.refresh_pod(UID)
    rt.hold_list.set()
    await relist
    sb = view.get(UID).sandbox
    assert sb is not None and sb.id == "s1"
    # a relist that begins afterwards takes over again
    rt.hold_list = None
    rt.sandboxes.clear()
    assert await view.relist() == {UID}
    assert view.get(UID).sandbox is None


async def test_a_new_sandbox_is_read_with_one_status_call_and_survives_an_older_relist() -> None:
    rt = FakeRuntime()
    view = RuntimeView(rt)  # type: ignore[arg-type]
    rt.sandboxes.append(sandbox("s0"))
    await view.relist()
    assert view.get(UID).sandbox is not None
    rt.hold_list = asyncio.Event()
    relist = asyncio.create_task(view.relist())  # lists before the new sandbox exists
    await rt.listed.wait()
    lists = rt.lists
    rt.sandboxes[:] = [sandbox("s1")]  # s0 removed, s1 made
    pod = await view.sandbox_created(UID, "s1", removed=["s0"])
    assert rt.lists == lists  # no list call
    assert [(s.id, s.attempt, s.ip) for s in pod.sandboxes] == [("s1", 1, "10.0.0.9")]
    assert (pod.name, pod.namespace) == ("p", "ns")
    rt.hold_list.set()
    await relist
    sb = view.get(UID).sandbox
    assert sb is not None and sb.id == "s1"
