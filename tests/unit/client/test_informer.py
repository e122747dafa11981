from __future__ import annotations

import pytest

from pinnace.client import (
    PODS,
    Client,
    FakeClock,
    Informer,
    ResourceRef,
    SharedInformerFactory,
    Store,
    key_of,
    split_key,
    trim_for_cache,
)
from pinnace.client.objects import Obj
from tests.unit.client.fake_apiserver import FakeApiServer, until

NODES = ResourceRef("", "v1", "nodes", False, "Node")


def pod(name: str, ns: str = "default", node: str = "", **labels: str) -> Obj:
    return {
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"nodeName": node},
    }


def test_keys() -> None:
    assert key_of(pod("a", "ns")) == "ns/a"
    assert key_of({"metadata": {"name": "n1"}}) == "n1"
    assert split_key("ns/a") == ("ns", "a")
    assert split_key("n1") == (None, "n1")
    with pytest.raises(ValueError):
        split_key("a/b/c")


def test_store_indexes() -> None:
    def by_node(obj: Obj) -> list[str]:
        node = obj["spec"].get("nodeName")
        return [node] if node else []

    store = Store({"node": by_node})
    store.put(pod("a", "ns1", "n1"))
    store.put(pod("b", "ns1", "n2"))
    store.put(pod("c", "ns2", "n1"))
    assert [o["metadata"]["name"] for o in store.by_index("namespace", "ns1")] == ["a", "b"]
    assert [o["metadata"]["name"] for o in store.by_index("node", "n1")] == ["a", "c"]
    # moving an object updates its index entries
    old = store.put(pod("a", "ns1", "n2"))
    assert old is not None and old["spec"]["nodeName"] == "n1"
    assert [o["metadata"]["name"] for o in store.by_index("node", "n1")] == ["c"]
    assert store.remove("ns2/c") is not None
    assert store.by_index("node", "n1") == []
    assert store.get("ns1/a") is not None and store.get_by_name("ns1", "b") is not None
    # indexers added later cover existing objects
    store.add_indexers({"name": lambda o: [o["metadata"]["name"]]})
    assert len(store.by_index("name", "b")) == 1
    with pytest.raises(KeyError):
        store.by_index("missing", "x")
    store.replace([pod("z", "ns3", "n9")])
    assert store.keys() == ["ns3/z"] and store.by_index("node", "n2") == []
    assert len(store.by_index("node", "n9")) == 1


class Events:
    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []

    def add(self, obj: Obj) -> None:
        self.log.append(("add", key_of(obj)))

    def update(self, old: Obj, new: Obj) -> None:
        self.log.append(("update", key_of(new)))

    async def delete(self, obj: Obj) -> None:  # async handlers work too
        self.log.append(("delete", key_of(obj)))


async def test_informer_lists_watches_and_notifies(client: Client, fake_api: FakeApiServer) -> None:
    fake_api.put("pods", pod("a", node="n1"))
    fake_api.put("pods", pod("b"))
    informer = Informer(client, PODS, namespace="default")
    ev = Events()
    informer.add_event_handler(ev.add, ev.update, ev.delete)
    assert not informer.has_synced()
    informer.start()
    try:
        assert await informer.wait_synced(3)
        assert sorted(ev.log) == [("add", "default/a"), ("add", "default/b")]
        assert informer.get("default/a") is not None
        ev.log.clear()

        await until(lambda: len(fake_api.watchers) == 1)
        fake_api.put("pods", pod("c"))
        fake_api.put("pods", pod("a", node="n2"))
        fake_api.remove("pods", "default", "b")
        fake_api.put("pods", pod("x", ns="elsewhere"))  # other namespace: not seen
        await until(lambda: len(ev.log) == 3)
        assert ev.log == [("add", "default/c"), ("update", "default/a"), ("delete", "default/b")]
        assert informer.get("default/a")["spec"]["nodeName"] == "n2"  # type: ignore[index]
        assert informer.get("default/b") is None
        assert sorted(key_of(o) for o in informer.list()) == ["default/a", "default/c"]
        assert informer.last_sync_resource_version == "5"  # "6" was elsewhere

        # a relist (after 410) reports survivors as updates, vanished objects as deletes
        ev.log.clear()
        fake_api.drop_watches()
        fake_api.remove("pods", "default", "c")
        fake_api.put("pods", pod("d"))
        fake_api.compact()
        await until(lambda: informer.reflector.lists == 2)
        assert sorted(ev.log) == [
            ("add", "default/d"),
            ("delete", "default/c"),
            ("update", "default/a"),
        ]

        # a handler added late is caught up with adds
        late = Events()
        informer.add_event_handler(on_add=late.add)
        await until(lambda: len(late.log) == 2)
        assert sorted(late.log) == [("add", "default/a"), ("add", "default/d")]
    finally:
        await informer.stop()
    assert not informer.started


async def test_informer_handler_errors_do_not_stop_it(
    client: Client, fake_api: FakeApiServer
) -> None:
    fake_api.put("pods", pod("a"))
    seen: list[str] = []

    def bad(obj: Obj) -> None:
        raise RuntimeError("boom")

    informer = Informer(client, PODS)
    informer.add_event_handler(on_add=bad)
    informer.add_event_handler(on_add=lambda o: seen.append(key_of(o)))
    informer.start()
    try:
        assert await informer.wait_synced(3)
        await until(lambda: len(fake_api.watchers) == 1)
        fake_api.put("pods", pod("b"))
        await until(lambda: seen == ["default/a", "default/b"])
    finally:
        await informer.stop()


async def test_informer_resync_refires_updates(client: Client, fake_api: FakeApiServer) -> None:
    clock = FakeClock()
    fake_api.put("nodes", {"metadata": {"name": "n1"}})
    informer = Informer(client, NODES, resync_period=30, clock=clock)
    ev = Events()
    informer.add_event_handler(ev.add, ev.update)
    informer.start()
    try:
        assert await informer.wait_synced(3)
        await clock.wait_for_sleepers(1)
        await clock.advance(29)
        assert ev.log == [("add", "n1")]
        await clock.advance(1)
        assert ev.log == [("add", "n1"), ("update", "n1")]
        await clock.advance(30)
        assert ev.log == [("add", "n1"), ("update", "n1"), ("update", "n1")]
    finally:
        await informer.stop()


async def test_wait_synced_times_out(client: Client, fake_api: FakeApiServer) -> None:
    informer = Informer(client, PODS)
    assert not await informer.wait_synced(0.01)


async def test_shared_informer_factory(client: Client, fake_api: FakeApiServer) -> None:
    fake_api.put("pods", pod("a", app="web"))
    fake_api.put("pods", pod("b", app="db"))
    factory = SharedInformerFactory(client, resync_period=600)
    pods1 = factory.informer(PODS)
    pods2 = factory.informer(PODS)
    web = factory.informer(PODS, label_selector="app=web")
    nodes = factory.informer(NODES, namespace="ignored-for-cluster-scope")
    assert pods1 is pods2 and pods1 is not web
    assert nodes is factory.informer(NODES)
    assert factory.informer(PODS, resync_period=60) is pods1 and pods1.resync_period == 60
    assert len(factory.informers()) == 3
    factory.start()
    try:
        assert await factory.wait_for_cache_sync(3)
        assert len(pods1.list()) == 2
        assert [key_of(o) for o in web.list()] == ["default/a"]
        # informers created after start are started at once
        late = factory.informer(PODS, namespace="default")
        assert late.started
        assert await late.wait_synced(3)
    finally:
        await factory.stop()
    assert all(not i.started for i in factory.informers())


async def test_factory_transform_trims_objects_from_lists_and_watches(
    client: Client, fake_api: FakeApiServer
) -> None:
    managed = [{"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {}}}]
    first = pod("a")
    first["metadata"]["managedFields"] = managed
    fake_api.put("pods", first)
    factory = SharedInformerFactory(client, transform=trim_for_cache)
    informer = factory.informer(PODS)
    seen: list[Obj] = []
    informer.add_event_handler(on_add=seen.append, on_update=lambda old, new: seen.append(new))
    factory.start()
    try:
        assert await factory.wait_for_cache_sync(3)
        await until(lambda: len(fake_api.watchers) == 1)
        second = pod("b")
        second["metadata"]["managedFields"] = managed
        fake_api.put("pods", second)
        await until(lambda: len(seen) == 2)
        for obj in [*seen, *informer.list()]:
            assert "managedFields" not in obj["metadata"]
            assert obj["metadata"]["name"] in ("a", "b")
        # equal short strings are one shared object across cached objects
        a, b = informer.get("default/a"), informer.get("default/b")
        assert a is not None and b is not None
        assert a["metadata"]["namespace"] is b["metadata"]["namespace"]
    finally:
        await factory.stop()
