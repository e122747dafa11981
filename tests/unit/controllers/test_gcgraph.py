"""The garbage collector's dependency graph, without an API server."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.controllers.gcgraph import DependencyGraph, Identity, Node, OwnerRef


class Recorder:
    def __init__(self) -> None:
        self.delete: list[str] = []
        self.later: list[str] = []
        self.orphan: list[str] = []
        self.invalid: list[tuple[str, str]] = []

    def graph(self) -> DependencyGraph:
        return DependencyGraph(
            attempt_to_delete=self.delete.append,
            attempt_to_delete_later=self.later.append,
            attempt_to_orphan=self.orphan.append,
            report_invalid_namespace=lambda n, ref: self.invalid.append((n.uid, ref.uid)),
        )


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def deploy(name: str, uid: str, ns: str = "default") -> Identity:
    return Identity("apps/v1", "Deployment", name, uid, ns)


def rs(name: str, uid: str, ns: str = "default") -> Identity:
    return Identity("apps/v1", "ReplicaSet", name, uid, ns)


def ref(owner: Identity, block: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": owner.api_version,
        "kind": owner.kind,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": block,
    }


def test_unknown_owner_becomes_virtual_and_is_checked(rec: Recorder) -> None:
    g = rec.graph()
    d = deploy("d", "u-d")
    g.observe(rs("r", "u-r"), {"ownerReferences": [ref(d)]})
    owner = g.get("u-d")
    assert owner is not None and owner.virtual
    assert rec.delete == ["u-d"]  # the collector verifies the owner exists
    # the informer then reports the owner: it becomes real
    g.observe(d, {})
    assert not owner.virtual
    assert [n.uid for n in owner.dependents] == ["u-r"]


def test_owner_deleted_queues_dependents(rec: Recorder) -> None:
    g = rec.graph()
    d = deploy("d", "u-d")
    g.observe(d, {})
    g.observe(rs("r", "u-r"), {"ownerReferences": [ref(d)]})
    rec.delete.clear()
    g.observe_deleted("u-d", d)
    assert g.get("u-d") is None
    assert rec.delete == ["u-r"]
    assert g.is_absent(d)


def test_virtual_delete_removes_virtual_node(rec: Recorder) -> None:
    g = rec.graph()
    d = deploy("d", "u-d")
    g.observe(rs("r", "u-r"), {"ownerReferences": [ref(d)]})
    rec.delete.clear()
    g.virtual_delete(d)
    assert g.get("u-d") is None
    assert rec.delete == ["u-r"]


def test_virtual_delete_does_not_remove_an_observed_node_seen_elsewhere(rec: Recorder) -> None:
    g = rec.graph()
    d = deploy("d", "u-d")
    g.observe(d, {})
    g.virtual_delete(d.with_namespace("other"))
    assert g.get("u-d") is not None


def test_foreground_transition_queues_dependents_and_owner(rec: Recorder) -> None:
    g = rec.graph()
    d = deploy("d", "u-d")
    g.observe(d, {})
    g.observe(rs("r", "u-r"), {"ownerReferences": [ref(d)]})
    rec.delete.clear()
    deleting = {"deletionTimestamp": "2025-01-01T00:00:00Z", "finalizers": ["foregroundDeletion"]}
    g.observe(d, deleting)
    assert sorted(rec.delete) == ["u-d", "u-r"]
    node = g.get("u-d")
    assert node is not None and node.deleting_dependents
    assert [n.uid for n in node.blocking_dependents()] == ["u-r"]
    # no second transition on a resync
    rec.delete.clear()
    g.observe(d, deleting)
    assert rec.delete == []
    # the blocking dependent goes away: the owner is looked at again
    g.observe_deleted("u-r")
    assert rec.delete == ["u-d"]


def test_removing_a_blocking_reference_unblocks_the_owner(rec: Recorder) -> None:
    g = rec.graph()
    d = deploy("d", "u-d")
    g.observe(d, {"deletionTimestamp": "t", "finalizers": ["foregroundDeletion"]})
    g.observe(rs("r", "u-r"), {"ownerReferences": [ref(d)]})
    rec.delete.clear()
    g.observe(rs("r", "u-r"), {"ownerReferences": [ref(d, block=False)]})
    assert rec.delete == ["u-d"]
    node = g.get("u-d")
    assert node is not None and node.blocking_dependents() == []


def test_orphan_transition(rec: Recorder) -> None:
    g = rec.graph()
    d = deploy("d", "u-d")
    g.observe(d, {})
    g.observe(d, {"deletionTimestamp": "t", "finalizers": ["orphan"]})
    assert rec.orphan == ["u-d"]
    g.observe(d, {"deletionTimestamp": "t", "finalizers": ["orphan"]})
    assert rec.orphan == ["u-d"]


def test_owner_in_another_namespace_is_reported(rec: Recorder) -> None:
    g = rec.graph()
    d = deploy("d", "u-d", ns="a")
    g.observe(d, {})
    g.observe(rs("r", "u-r", ns="b"), {"ownerReferences": [ref(d)]})
    assert rec.invalid == [("u-r", "u-d")]
    assert "u-r" in rec.delete


def test_cluster_scoped_owner_of_namespaced_dependents_is_fine(rec: Recorder) -> None:
    g = rec.graph()
    ns_owner = Identity("v1", "Namespace", "default", "u-ns", "")
    g.observe(ns_owner, {})
    g.observe(rs("r", "u-r", ns="x"), {"ownerReferences": [ref(ns_owner)]})
    assert rec.invalid == []
    assert "u-r" not in rec.delete


def test_first_sighting_with_other_coordinates_requeues_dependents(rec: Recorder) -> None:
    g = rec.graph()
    claimed = Identity("apps/v1", "Deployment", "d", "u-d", "b")
    g.observe(rs("r", "u-r", ns="b"), {"ownerReferences": [ref(claimed)]})
    rec.delete.clear()
    g.observe(deploy("d", "u-d", ns="a"), {})  # really in namespace a
    assert rec.invalid == [("u-r", "u-d")]
    assert rec.delete == ["u-r"]


def test_owner_refs_parse_and_match() -> None:
    r = OwnerRef.parse({"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u"})
    assert r.matches(Identity("v1", "Pod", "p", "u", "ns"))
    assert not r.matches(Identity("v1", "Pod", "q", "u", "ns"))
    assert str(Identity("v1", "Pod", "p", "u", "ns")) == "[v1/Pod, namespace: ns, name: p, uid: u]"
    assert repr(Node(Identity("v1", "Pod", "p", "u"), virtual=True)).endswith("virtual)")
