"""The pure parts of the StatefulSet controller: identity, claims and their retention
references, the ordering decisions of ``plan_sync`` (OrderedReady and Parallel,
scale-down, rolling update with partition) and status (cases after upstream's
stateful_set_control_test.go / stateful_set_utils_test.go)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pinnace.controllers import history
from pinnace.controllers import statefulset as s

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
T0 = "2025-01-01T11:00:00Z"


def sts(replicas: int = 3, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "replicas": replicas,
        "serviceName": "web-svc",
        "selector": {"matchLabels": {"app": "web"}},
        "podManagementPolicy": "OrderedReady",
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "img:1"}]},
        },
    }
    base.update(spec)
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "ns", "uid": "sts-uid", "generation": 2},
        "spec": base,
        "status": {},
    }


def revision_of(obj: dict[str, Any], name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "revision": 1, "data": history.template_patch(obj)}


def pod(
    set_: dict[str, Any],
    ordinal: int,
    rev: str = "rev-a",
    *,
    ready: bool = True,
    phase: str = "Running",
    terminating: bool = False,
) -> dict[str, Any]:
    p = s.new_stateful_pod(set_, ordinal)
    p["metadata"]["uid"] = f"uid-{ordinal}"
    p["metadata"]["labels"]["controller-revision-hash"] = rev
    if terminating:
        p["metadata"]["deletionTimestamp"] = T0
    p["status"] = {
        "phase": phase,
        "conditions": [
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": T0}
        ],
    }
    return p


def plan(
    set_: dict[str, Any],
    pods: list[dict[str, Any]],
    cur: str = "rev-a",
    upd: str = "rev-a",
    **kw: Any,
) -> s.Plan:
    return s.plan_sync(set_, pods, revision_of(set_, cur), revision_of(set_, upd), NOW, **kw)


# --- identity ---------------------------------------------------------------------------


def test_parent_and_ordinal() -> None:
    assert s.ordinal_of({"metadata": {"name": "web-12"}}) == 12
    assert s.parent_of({"metadata": {"name": "my-web-3"}}) == "my-web"
    assert s.ordinal_of({"metadata": {"name": "web"}}) == -1
    assert s.parent_of({"metadata": {"name": "web-x"}}) == ""


def test_new_pod_identity_storage_and_owner() -> None:
    set_ = sts(
        volumeClaimTemplates=[
            {"metadata": {"name": "data", "labels": {"tier": "db"}}, "spec": {"resources": {}}}
        ],
        ordinals={"start": 5},
    )
    set_["spec"]["template"]["spec"]["volumes"] = [
        {"name": "data", "emptyDir": {}},
        {"name": "cfg", "configMap": {"name": "c"}},
    ]
    p = s.new_stateful_pod(set_, 5)
    m = p["metadata"]
    assert m["name"] == "web-5" and m["namespace"] == "ns"
    assert m["labels"] == {
        "app": "web",
        s.POD_NAME_LABEL: "web-5",
        s.POD_INDEX_LABEL: "5",
    }
    assert p["spec"]["hostname"] == "web-5" and p["spec"]["subdomain"] == "web-svc"
    # the claim replaces a template volume of the same name; others stay
    assert p["spec"]["volumes"] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-5"}},
        {"name": "cfg", "configMap": {"name": "c"}},
    ]
    ref = m["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
        "StatefulSet",
        "web",
        "sts-uid",
        True,
    )
    assert s.identity_matches(set_, p) and s.storage_matches(set_, p)
    claims = s.claims_for(set_, 5)
    assert claims["data"]["metadata"]["name"] == "data-web-5"
    assert claims["data"]["metadata"]["labels"] == {"tier": "db", "app": "web"}
    broken = copy.deepcopy(p)
    broken["metadata"]["labels"][s.POD_INDEX_LABEL] = "4"
    assert not s.identity_matches(set_, broken)


# --- ordering: OrderedReady ---------------------------------------------------------------


def test_ordered_scale_up_creates_one_pod_at_a_time() -> None:
    set_ = sts(4)
    p = plan(set_, [])
    assert p.actions() == [("create", "web-0")]
    # web-0 exists but is not ready yet: nothing more
    p = plan(set_, [pod(set_, 0, ready=False)])
    assert p.actions() == [] and "web-0" in p.blocked
    # web-0 Pending
    p = plan(set_, [pod(set_, 0, ready=False, phase="Pending")])
    assert p.actions() == []
    # web-0 ready: web-1 next
    assert plan(set_, [pod(set_, 0)]).actions() == [("create", "web-1")]
    # a pod we created that the cache does not show yet counts as not ready
    assert plan(set_, [pod(set_, 0)], in_flight={"web-1"}).actions() == []


def test_ordered_min_ready_seconds_waits_for_availability() -> None:
    set_ = sts(2, minReadySeconds=3600 * 2)
    assert plan(set_, [pod(set_, 0)]).actions() == []
    set_ = sts(2, minReadySeconds=60)
    assert plan(set_, [pod(set_, 0)]).actions() == [("create", "web-1")]


def test_ordered_scale_down_highest_first_one_at_a_time() -> None:
    set_ = sts(0)
    pods = [pod(set_, i) for i in range(4)]
    assert plan(set_, pods).actions() == [("delete", "web-3")]
    # web-3 terminating: wait for it to go
    pods[3] = pod(set_, 3, terminating=True)
    assert plan(set_, pods).actions() == []
    assert plan(set_, pods[:3]).actions() == [("delete", "web-2")]


def test_ordered_scale_down_waits_for_unhealthy_predecessors() -> None:
    set_ = sts(1)
    pods = [pod(set_, 0), pod(set_, 1, ready=False), pod(set_, 2)]
    # web-2 is healthy and deletable; web-1 is the first unhealthy one
    assert plan(set_, pods).actions() == [("delete", "web-2")]
    # with web-2 gone, the unhealthy web-1 itself may go
    assert plan(set_, pods[:2]).actions() == [("delete", "web-1")]
    # an unhealthy replica in range blocks every scale-down
    pods = [pod(set_, 0, ready=False), pod(set_, 1)]
    assert plan(set_, pods).actions() == []


def test_failed_pods_are_recreated() -> None:
    set_ = sts(2)
    pods = [pod(set_, 0, phase="Failed", ready=False), pod(set_, 1)]
    assert plan(set_, pods).actions() == [("delete", "web-0")]


# --- Parallel -----------------------------------------------------------------------------


def test_parallel_creates_and_deletes_everything_at_once() -> None:
    set_ = sts(4, podManagementPolicy="Parallel")
    assert plan(set_, []).actions() == [("create", f"web-{i}") for i in range(4)]
    set_ = sts(1, podManagementPolicy="Parallel")
    pods = [pod(set_, 0), pod(set_, 1, ready=False), pod(set_, 2)]
    assert plan(set_, pods).actions() == [("delete", "web-2"), ("delete", "web-1")]


def test_ordinals_start() -> None:
    set_ = sts(2, ordinals={"start": 3})
    assert plan(set_, []).actions() == [("create", "web-3")]
    pods = [pod(set_, 3), pod(set_, 4), pod(set_, 0)]
    assert plan(set_, pods).actions() == [("delete", "web-0")]


# --- rolling update -----------------------------------------------------------------------


def test_rolling_update_highest_first_waiting_for_ready() -> None:
    set_ = sts(3)
    pods = [pod(set_, i, "rev-a") for i in range(3)]
    assert plan(set_, pods, "rev-a", "rev-b").actions() == [("delete", "web-2")]
    # web-2 recreated at the new revision but not ready: wait
    pods[2] = pod(set_, 2, "rev-b", ready=False)
    assert plan(set_, pods, "rev-a", "rev-b").actions() == []
    pods[2] = pod(set_, 2, "rev-b")
    assert plan(set_, pods, "rev-a", "rev-b").actions() == [("delete", "web-1")]


def test_rolling_update_respects_partition() -> None:
    set_ = sts(3, updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    pods = [pod(set_, 0, "rev-a"), pod(set_, 1, "rev-a"), pod(set_, 2, "rev-b")]
    assert plan(set_, pods, "rev-a", "rev-b").actions() == []
    # a pod below the partition is recreated at the current revision
    p = plan(set_, [pod(set_, 0, "rev-a")], "rev-a", "rev-b")
    assert p.replica_actions[0][1]["metadata"]["labels"]["controller-revision-hash"] == "rev-a"
    # ... above it at the update revision
    p = plan(set_, [pod(set_, 0, "rev-a"), pod(set_, 1, "rev-a")], "rev-a", "rev-b")
    assert p.replica_actions[0][1]["metadata"]["labels"]["controller-revision-hash"] == "rev-b"


def test_on_delete_never_deletes_for_updates() -> None:
    set_ = sts(2, updateStrategy={"type": "OnDelete"})
    pods = [pod(set_, i, "rev-a") for i in range(2)]
    assert plan(set_, pods, "rev-a", "rev-b").actions() == []


def test_deleting_set_does_nothing() -> None:
    set_ = sts(2)
    set_["metadata"]["deletionTimestamp"] = T0
    assert plan(set_, []).actions() == []


# --- claims and retention policy -------------------------------------------------------------


def claim(name: str, *refs: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "ownerReferences": list(refs)}}


def set_ref() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": "web",
        "uid": "sts-uid",
        "controller": True,
    }


def pod_ref(ordinal: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": f"web-{ordinal}",
        "uid": f"uid-{ordinal}",
        "controller": True,
    }


@pytest.mark.parametrize(
    ("when_deleted", "when_scaled", "ordinal", "expected"),
    [
        ("Retain", "Retain", 0, set()),
        ("Delete", "Retain", 0, {"StatefulSet"}),
        ("Delete", "Retain", 5, {"StatefulSet"}),
        ("Retain", "Delete", 0, set()),
        ("Retain", "Delete", 5, {"Pod"}),
        ("Delete", "Delete", 0, {"StatefulSet"}),
        ("Delete", "Delete", 5, {"Pod"}),
    ],
)
def test_claim_references_follow_the_retention_policy(
    when_deleted: str, when_scaled: str, ordinal: int, expected: set[str]
) -> None:
    set_ = sts(
        2,
        persistentVolumeClaimRetentionPolicy={
            "whenDeleted": when_deleted,
            "whenScaled": when_scaled,
        },
    )
    p = pod(set_, ordinal)
    c = claim(f"data-web-{ordinal}")
    refs = s.updated_claim_refs(c, set_, p)
    assert {r["kind"] for r in refs} == expected
    assert all(r["controller"] is True for r in refs)
    c["metadata"]["ownerReferences"] = refs
    assert s.claim_owner_up_to_date(c, set_, p)
    if expected:
        assert not s.claim_owner_up_to_date(claim(c["metadata"]["name"]), set_, p)


def test_claim_with_a_foreign_controller_is_left_alone() -> None:
    set_ = sts(
        2, persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete", "whenScaled": "Retain"}
    )
    other = {"apiVersion": "x/v1", "kind": "X", "name": "x", "uid": "x", "controller": True}
    c = claim("data-web-0", other)
    assert s.claim_owner_up_to_date(c, set_, pod(set_, 0))
    assert s.updated_claim_refs(c, set_, pod(set_, 0)) == [other]


def test_stale_claim_blocks_creation_until_collected() -> None:
    set_ = sts(
        1,
        persistentVolumeClaimRetentionPolicy={"whenDeleted": "Retain", "whenScaled": "Delete"},
        volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {}}],
    )
    stale = claim("data-web-0", pod_ref(0))
    p = plan(set_, [], claims={"data-web-0": stale})
    assert p.actions() == [] and "stale" in p.blocked
    assert plan(set_, []).actions() == [("create", "web-0")]


def test_scaled_down_pod_claims_get_their_pod_reference_before_deletion() -> None:
    set_ = sts(
        1,
        persistentVolumeClaimRetentionPolicy={"whenDeleted": "Retain", "whenScaled": "Delete"},
        volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {}}],
    )
    pods = [pod(set_, 0), pod(set_, 1)]
    claims = {"data-web-0": claim("data-web-0"), "data-web-1": claim("data-web-1")}
    p = plan(set_, pods, claims=claims)
    assert p.actions() == [("claims", "web-1"), ("delete", "web-1")]


# --- status --------------------------------------------------------------------------------


def test_status_counts_and_completes_rolling_update() -> None:
    set_ = sts(3)
    pods = [pod(set_, 0, "rev-a"), pod(set_, 1, "rev-b"), pod(set_, 2, "rev-b", ready=False)]
    st = s.compute_status(set_, pods, "rev-a", "rev-b", 0, NOW)
    assert st == {
        "observedGeneration": 2,
        "replicas": 3,
        "readyReplicas": 2,
        "currentReplicas": 1,
        "updatedReplicas": 2,
        "availableReplicas": 2,
        "currentRevision": "rev-a",
        "updateRevision": "rev-b",
        "collisionCount": 0,
    }
    pods = [pod(set_, i, "rev-b") for i in range(3)]
    st = s.compute_status(set_, pods, "rev-a", "rev-b", 0, NOW)
    assert st["currentRevision"] == "rev-b" and st["currentReplicas"] == 3
    # minReadySeconds: ready but not yet available
    set_ = sts(1, minReadySeconds=3600 * 24)
    st = s.compute_status(set_, [pod(set_, 0)], "rev-a", "rev-a", 0, NOW)
    assert st["readyReplicas"] == 1 and "availableReplicas" not in st
    late = NOW + timedelta(days=2)
    assert s.compute_status(set_, [pod(set_, 0)], "rev-a", "rev-a", 0, late)["availableReplicas"]
