from __future__ import annotations

import copy
import gc
from typing import Any, cast

import orjson

from pinnace.client import PODS, Client, SharedInformerFactory
from pinnace.client.compact import CacheCompactor
from pinnace.client.objects import Obj
from tests.unit.client.fake_apiserver import FakeApiServer, until

IMAGE_ID = "docker.io/library/nginx@sha256:" + "b07c1fa29c8dc936d6db6891b04d7647d88ecb270969a682"


def loads(data: bytes) -> Obj:
    return cast(Obj, orjson.loads(data))


def pod(name: str, node: str = "n1", ts: str = "2026-01-01T00:00:00Z") -> Obj:
    """A pod of one ReplicaSet, as a JSON decoder hands it out (fresh objects)."""
    return loads(
        orjson.dumps(
            {
                "metadata": {
                    "name": name,
                    "namespace": "default",
                    "uid": f"uid-{name}",
                    "labels": {"app": "web", "pod-template-hash": "847d789f4d"},
                    "ownerReferences": [
                        {"kind": "ReplicaSet", "name": "web-847d789f4d", "controller": True}
                    ],
                    "managedFields": [{"manager": "kube-controller-manager"}],
                },
                "spec": {
                    "nodeName": node,
                    "containers": [
                        {"name": "c", "resources": {"requests": {"cpu": "10m"}}, "ports": []}
                    ],
                    "tolerations": [
                        {"key": "node.kubernetes.io/not-ready", "tolerationSeconds": 300},
                        {"key": "node.kubernetes.io/unreachable", "tolerationSeconds": 300},
                    ],
                },
                "status": {
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": ts}],
                    "containerStatuses": [{"name": "c", "imageID": IMAGE_ID, "ready": True}],
                },
            }
        )
    )


def test_equal_subtrees_of_different_objects_are_one_object() -> None:
    c = CacheCompactor()
    pods = [c(pod(f"p{i}", node=f"n{i}")) for i in range(4)]
    # the first sighting is not shared; from the second on, one copy
    for p in pods[2:]:
        assert p["spec"]["tolerations"] is pods[1]["spec"]["tolerations"]
        assert p["metadata"]["ownerReferences"] is pods[1]["metadata"]["ownerReferences"]
        assert p["metadata"]["labels"] is pods[1]["metadata"]["labels"]
        assert p["status"] is pods[1]["status"]
        assert p["spec"]["containers"] is pods[1]["spec"]["containers"]
        # long strings are shared too
        assert p["status"]["containerStatuses"][0]["imageID"] is IMAGE_ID or (
            p["status"]["containerStatuses"][0]["imageID"]
            is pods[1]["status"]["containerStatuses"][0]["imageID"]
        )
    # what differs stays apart
    assert pods[2]["spec"] is not pods[3]["spec"]
    assert pods[2]["metadata"] is not pods[3]["metadata"]
    assert pods[2]["spec"]["nodeName"] == "n2"
    assert pods[3]["spec"]["nodeName"] == "n3"


def test_compacted_objects_keep_their_content_and_key_order() -> None:
    c = CacheCompactor()
    for i in range(5):
        want = pod(f"p{i}", node=f"n{i % 2}", ts=f"2026-01-01T00:00:0{i % 3}Z")
        del want["metadata"]["managedFields"]
        got = c(pod(f"p{i}", node=f"n{i % 2}", ts=f"2026-01-01T00:00:0{i % 3}Z"))
        assert got == want
        assert orjson.dumps(got) == orjson.dumps(want)


def test_managed_fields_are_dropped() -> None:
    assert "managedFields" not in CacheCompactor()(pod("p"))["metadata"]


def test_values_equal_in_python_but_not_in_json_are_never_merged() -> None:
    c = CacheCompactor()
    variants: list[Any] = [1, True, 1.0, "1", None, 0, False, [], {}]
    out = []
    for _ in range(3):  # every content seen several times, so each becomes canonical
        for v in variants:
            out.append(c({"metadata": {"name": "x"}, "spec": {"value": v}})["spec"])
    for i, o in enumerate(out):
        want = variants[i % len(variants)]
        assert type(o["value"]) is type(want)
        assert o["value"] == want
    # and equal ones were shared
    assert out[-1] is out[-1 - len(variants)]


def test_key_order_and_nested_differences_are_kept_apart() -> None:
    c = CacheCompactor()
    a = [c({"spec": {"x": {"a": 1, "b": 2}}})["spec"]["x"] for _ in range(3)]
    b = [c({"spec": {"x": {"b": 2, "a": 1}}})["spec"]["x"] for _ in range(3)]
    n = [c({"spec": {"x": {"a": 1, "b": [2]}}})["spec"]["x"] for _ in range(3)]
    assert a[1] is a[2] and b[1] is b[2] and n[1] is n[2]
    assert list(a[2]) == ["a", "b"] and list(b[2]) == ["b", "a"]
    assert n[2] == {"a": 1, "b": [2]}


def test_a_hash_collision_never_shares_unequal_content() -> None:
    c = CacheCompactor()
    first = {"spec": {"x": {"a": 1}}}
    c(first)
    c({"spec": {"x": {"a": 1}}})  # the second sighting makes it canonical
    # forge a collision: every entry now holds a different dict
    for h in list(c._table):
        c._table[h] = {"something": "else"}
    got = c({"spec": {"x": {"a": 1}}})
    assert got == {"spec": {"x": {"a": 1}}}


def test_one_object_never_holds_the_same_shared_node_twice() -> None:
    """A deep copy of a cached object must not alias two of its paths."""
    c = CacheCompactor()

    def deployment() -> Obj:
        return loads(
            b'{"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},'
            b'"template":{"metadata":{"labels":{"app":"web"}}}}}'
        )

    for _ in range(4):
        d = c(deployment())
        sel = d["spec"]["selector"]["matchLabels"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert sel == labels and sel is not labels
    d2 = copy.deepcopy(d)
    d2["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = "abc"
    assert d2["spec"]["selector"]["matchLabels"] == {"app": "web"}


def test_sweep_forgets_nodes_no_object_holds_any_more() -> None:
    c = CacheCompactor()
    kept = [c(pod(f"p{i}")) for i in range(3)]
    gone = [c(pod(f"q{i}", ts="2026-02-02T00:00:00Z")) for i in range(3)]
    assert c.sweep() == 0  # everything is still referenced
    n = len(c)
    del gone
    gc.collect()
    dropped = c.sweep()
    # the conditions that only the dropped pods had, with their parents
    assert dropped > 0 and len(c) == n - dropped
    # what the kept pods hold is still shared with newcomers
    again = c(pod("p9"))
    assert again["spec"]["tolerations"] is kept[1]["spec"]["tolerations"]
    assert again["status"] is kept[1]["status"]


def test_unchanged_parts_of_the_previous_version_are_reused_without_the_table() -> None:
    c = CacheCompactor()
    v1 = c.transform_with_previous(pod("p", node=""), None)
    v2 = pod("p", node="n1")
    v2["status"]["phase"] = "Pending"
    v2 = c.transform_with_previous(v2, v1)
    assert v2["metadata"] is v1["metadata"]  # unchanged (managedFields dropped from both)
    assert v2["spec"]["tolerations"] is v1["spec"]["tolerations"]
    assert v2["spec"] is not v1["spec"] and v2["spec"]["nodeName"] == "n1"
    assert v2["status"]["phase"] == "Pending" and v1["status"]["phase"] == "Running"
    assert v2["status"]["conditions"] is v1["status"]["conditions"]
    # versions of one object are not "seen twice": its unique parts stay out of the table
    v3 = pod("p", node="n1")
    v3["status"]["phase"] = "Pending"
    v3 = c.transform_with_previous(v3, v2)
    assert v3["metadata"] is v1["metadata"] and v3["status"] is v2["status"]
    assert len(c) == 0


def test_a_kept_part_and_a_walked_part_never_share_a_node() -> None:
    """The spec kept whole from the previous version holds a shared node; an
    equal node in the changed metadata stays a copy of its own."""
    c = CacheCompactor()

    def obj(app: str) -> Obj:
        return loads(
            b'{"spec":{"selector":{"app":"web"}},'
            b'"metadata":{"name":"o","labels":{"app":"' + app.encode() + b'"}}}'
        )

    for i in range(3):  # make {"app": "web"} a shared node
        c(loads(b'{"metadata":{"name":"x%d"},"data":{"app":"web"}}' % i))
    v1 = c.transform_with_previous(obj("db"), None)
    assert v1["spec"]["selector"] is c(loads(b'{"data":{"app":"web"}}'))["data"]
    # the labels change to what the kept spec's selector (a shared node) holds
    v2 = c.transform_with_previous(obj("web"), v1)
    assert v2["spec"] is v1["spec"]
    assert v2["metadata"]["labels"] == v2["spec"]["selector"]
    assert v2["metadata"]["labels"] is not v2["spec"]["selector"]
    d = copy.deepcopy(v2)
    d["metadata"]["labels"]["tier"] = "db"
    assert d["spec"]["selector"] == {"app": "web"}


async def test_an_informer_gives_the_compactor_the_cached_version(
    client: Client, fake_api: FakeApiServer
) -> None:
    for i in range(3):
        fake_api.put("pods", pod(f"p{i}", node=f"n{i}"))
    factory = SharedInformerFactory(client, transform=CacheCompactor())
    informer = factory.informer(PODS)
    updates: list[tuple[Obj, Obj]] = []
    informer.add_event_handler(on_update=lambda old, new: updates.append((old, new)))
    factory.start()
    try:
        assert await factory.wait_for_cache_sync(3)
        await until(lambda: len(fake_api.watchers) == 1)
        a, b, c = (informer.get(f"default/p{i}") for i in range(3))
        assert a is not None and b is not None and c is not None
        assert b["spec"]["tolerations"] is c["spec"]["tolerations"]
        assert "managedFields" not in a["metadata"]
        changed = pod("p2", node="n2")
        changed["status"]["phase"] = "Failed"
        fake_api.put("pods", changed)
        await until(lambda: len(updates) == 1)
        old, new = updates[0]
        assert old is c and new["status"]["phase"] == "Failed"
        assert new["spec"] is old["spec"]
        assert old["status"]["phase"] == "Running"
    finally:
        await factory.stop()
