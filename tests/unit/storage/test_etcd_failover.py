"""etcd-only behaviour: the backend survives losing the member it talks to
(which is also the Raft leader): writes fail over to another endpoint and an
open watch resumes there without losing or repeating events."""

from __future__ import annotations

import asyncio

import pytest

from pinnace.storage import Event
from pinnace.storage.etcd import EtcdBackend
from tests.etcd_cluster import EtcdCluster

pytestmark = pytest.mark.etcd


async def test_leader_loss_fails_over(etcd_cluster: EtcdCluster, prefix: str) -> None:
    leader = etcd_cluster.leader_index()
    order = [leader] + [i for i in range(etcd_cluster.size) if i != leader]
    store = EtcdBackend([etcd_cluster.endpoints[i] for i in order])
    await store.start()
    watch = store.watch(prefix, 0)
    try:
        first_batch = asyncio.ensure_future(anext(watch))
        await asyncio.sleep(0.2)
        before = await store.create(prefix + "before", b"1")
        assert [e.kv for e in await asyncio.wait_for(first_batch, 10)] == [before]

        etcd_cluster.kill(leader)
        # A write sent while the survivors are still electing may time out
        # with an unknown outcome (as with any etcd client); after that, every
        # request must go through another endpoint.
        new_leader = await asyncio.to_thread(etcd_cluster.wait_leader)
        assert new_leader != leader
        async with asyncio.timeout(20):
            after = await store.create(prefix + "after", b"2")
            updated = await store.update(prefix + "before", b"3", before.mod_revision)
            assert await store.get(prefix + "after") == after
            events: list[Event] = []
            while len(events) < 2:
                events.extend(await anext(watch))
        assert [e.kv for e in events] == [after, updated]
    finally:
        await watch.aclose()  # type: ignore[attr-defined]
        await store.close()
        etcd_cluster.restart(leader)
