"""Pure Deployment helpers: hashing, rolling-update arithmetic, proportional scaling,
revision annotations (cases from upstream's deployment_util_test.go / sync_test.go)."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.controllers import deploymentutil as du

TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {
        "containers": [{"name": "web", "image": "nginx:1.25", "resources": {}}],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
    },
}


def deployment(
    replicas: int, surge: Any = 0, unavailable: Any = 0, strategy: str = "RollingUpdate", **kw: Any
) -> dict[str, Any]:
    s: dict[str, Any] = {"type": strategy}
    if strategy == "RollingUpdate":
        s["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {
        "metadata": {"name": "foo", "generation": 1},
        "spec": {"replicas": replicas, "strategy": s, "template": TEMPLATE, **kw},
        "status": {},
    }


def rs(
    name: str, size: int, created: str = "2025-01-01T00:00:00Z", **status: int
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": name, "creationTimestamp": created, "annotations": {}},
        "spec": {"replicas": size},
        "status": dict(status),
    }


# --- hashing ---------------------------------------------------------------------------


def test_fnv32a_vectors() -> None:
    assert du._fnv32a(b"") == 0x811C9DC5
    assert du._fnv32a(b"a") == 0xE40C292C
    assert du._fnv32a(b"foobar") == 0xBF9CF968


def test_safe_encode_string() -> None:
    assert du.safe_encode_string("0123456789") == "456789bcdf"
    assert set(du.safe_encode_string("4294967295")) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_compute_hash_is_stable_and_canonical() -> None:
    h = du.compute_hash(TEMPLATE, None)
    assert h == du.compute_hash(TEMPLATE, None)
    # key order, nulls and empty maps/lists do not matter
    shuffled = {
        "spec": {
            "terminationGracePeriodSeconds": 30,
            "restartPolicy": "Always",
            "containers": [{"resources": {}, "image": "nginx:1.25", "name": "web"}],
            "volumes": [],
            "nodeSelector": None,
        },
        "metadata": {"labels": {"app": "web"}, "annotations": {}},
    }
    assert du.compute_hash(shuffled, None) == h
    # pinned: changing this value renames every ReplicaSet of existing Deployments
    assert h == "55cf9bd678", h
    assert 8 <= len(h) <= 10


def test_compute_hash_changes_with_template_and_collision_count() -> None:
    h = du.compute_hash(TEMPLATE, None)
    other = {**TEMPLATE, "metadata": {"labels": {"app": "web", "x": "y"}}}
    assert du.compute_hash(other, None) != h
    assert du.compute_hash(TEMPLATE, 1) != h
    assert du.compute_hash(TEMPLATE, 1) != du.compute_hash(TEMPLATE, 2)
    assert du.compute_hash(TEMPLATE, 0) != h  # a set count is hashed, even 0 (as upstream)


def test_equal_ignore_hash() -> None:
    a = {**TEMPLATE, "metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}}}
    assert du.equal_ignore_hash(a, TEMPLATE)
    b = {**TEMPLATE, "metadata": {"labels": {"app": "db"}}}
    assert not du.equal_ignore_hash(b, TEMPLATE)


# --- fenceposts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("25%", "25%", 10, (3, 2)),
        ("25%", "25%", 4, (1, 1)),
        (0, 0, 10, (0, 1)),
        ("0%", "0%", 1, (0, 1)),
        (2, 1, 10, (2, 1)),
        ("50%", "50%", 1, (1, 0)),
        (None, None, 5, (0, 1)),
        ("10%", "10%", 5, (1, 0)),
    ],
)
def test_resolve_fenceposts(
    surge: Any, unavailable: Any, desired: int, expected: tuple[int, int]
) -> None:
    assert du.resolve_fenceposts(surge, unavailable, desired) == expected


def test_resolve_fenceposts_rejects_non_percent_strings() -> None:
    with pytest.raises(ValueError):
        du.resolve_fenceposts("5", 0, 10)


def test_max_unavailable_and_surge() -> None:
    assert du.max_unavailable(deployment(10, 2, 1)) == 1
    assert du.max_unavailable(deployment(0, 2, 1)) == 0
    assert du.max_unavailable(deployment(2, 0, 5)) == 2  # capped at replicas
    assert du.max_unavailable(deployment(3, strategy="Recreate")) == 0
    assert du.max_surge(deployment(10, "25%", "25%")) == 3
    assert du.max_surge(deployment(3, strategy="Recreate")) == 0


# --- NewRSNewReplicas --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replicas", "surge", "new", "old", "expected"),
    [
        (10, 2, 0, 10, 2),  # first step of a rollout
        (10, 2, 2, 9, 3),
        (10, 2, 2, 10, 2),  # at maxSurge: no scale-up
        (10, 2, 9, 1, 10),  # never beyond replicas
        (1, 1, 0, 1, 1),
        (5, "20%", 0, 5, 1),
    ],
)
def test_new_rs_new_replicas(replicas: int, surge: Any, new: int, old: int, expected: int) -> None:
    d = deployment(replicas, surge, 1)
    new_rs, old_rs = rs("new", new), rs("old", old)
    assert du.new_rs_new_replicas(d, [old_rs, new_rs], new_rs) == expected


def test_new_rs_new_replicas_recreate() -> None:
    d = deployment(4, strategy="Recreate")
    new_rs = rs("new", 0)
    assert du.new_rs_new_replicas(d, [rs("old", 4), new_rs], new_rs) == 4


def test_new_rs_new_replicas_conservative_counts_pods_still_there() -> None:
    d = deployment(10, 2, 1)
    new_rs = rs("new", 2, replicas=2)
    old_rs = rs("old", 9, replicas=10)  # scaled down, one pod not gone yet
    assert du.new_rs_new_replicas(d, [old_rs, new_rs], new_rs) == 3  # upstream
    assert du.new_rs_new_replicas(d, [old_rs, new_rs], new_rs, conservative=True) == 2


# --- proportional scaling (upstream TestScale) -----------------------------------------------


def _annotated(old_replicas: int, *rss: dict[str, Any]) -> list[dict[str, Any]]:
    for r in rss:
        du.set_replicas_annotations(r, old_replicas, old_replicas)  # maxSurge 0
    return list(rss)


@pytest.mark.parametrize(
    ("replicas", "old_replicas", "sets", "expected"),
    [
        (10, 5, [("foo-v2", 2, "2025-01-02"), ("foo-v1", 3, "2025-01-01")], {"foo-v2": 4, "foo-v1": 6}),
        (3, 5, [("foo-v2", 2, "2025-01-02"), ("foo-v1", 3, "2025-01-01")], {"foo-v2": 1, "foo-v1": 2}),
        (4, 9, [("foo-v2", 8, "2025-01-02"), ("foo-v1", 1, "2025-01-01")], {"foo-v2": 4, "foo-v1": 0}),
        (
            10, 7,
            [("foo-v3", 2, "2025-01-03"), ("foo-v2", 3, "2025-01-02"), ("foo-v1", 2, "2025-01-01")],
            {"foo-v3": 3, "foo-v2": 4, "foo-v1": 3},
        ),
        (
            8, 13,
            [("foo-v3", 2, "2025-01-03"), ("foo-v2", 8, "2025-01-02"), ("foo-v1", 3, "2025-01-01")],
            {"foo-v3": 1, "foo-v2": 5, "foo-v1": 2},
        ),
        # leftovers go to the largest replica set
        (12, 10, [("foo-v2", 5, "2025-01-02"), ("foo-v1", 5, "2025-01-01")], {"foo-v2": 6, "foo-v1": 6}),
        (0, 10, [("foo-v2", 5, "2025-01-02"), ("foo-v1", 5, "2025-01-01")], {"foo-v2": 0, "foo-v1": 0}),
    ],
)  # fmt: skip
def test_proportional_scaling(
    replicas: int, old_replicas: int, sets: list[tuple[str, int, str]], expected: dict[str, int]
) -> None:
    d = deployment(replicas, 0, 0)
    d["status"]["replicas"] = old_replicas
    active = _annotated(old_replicas, *(rs(n, r, f"{t}T00:00:00Z") for n, r, t in sets))
    plan, op = du.proportional_sizes(d, active)
    assert {r["metadata"]["name"]: size for r, size in plan} == expected
    assert op == ("up" if replicas > old_replicas else "down")


def test_proportion_without_annotation_uses_status_replicas() -> None:
    d = deployment(10, 0, 0)
    d["status"]["replicas"] = 5
    a = rs("a", 5)
    assert du.get_proportion(a, d, 5, 0) == 5


def test_round_to_int_is_half_away_from_zero() -> None:
    assert [du.round_to_int(x) for x in (0.5, 1.5, 2.5, -0.5, -2.5, 1.49)] == [1, 2, 3, -1, -3, 1]


def test_find_active_or_latest() -> None:
    old1, old2 = rs("a", 0, "2025-01-01T00:00:00Z"), rs("b", 0, "2025-01-02T00:00:00Z")
    assert du.find_active_or_latest(None, [old1, old2]) is old2
    new = rs("c", 0, "2025-01-03T00:00:00Z")
    assert du.find_active_or_latest(new, [old1, old2]) is new
    old1["spec"]["replicas"] = 3
    assert du.find_active_or_latest(new, [old1, old2]) is old1
    new["spec"]["replicas"] = 1
    assert du.find_active_or_latest(new, [old1, old2]) is None


# --- revision annotations ----------------------------------------------------------------


def test_new_replica_set_annotations_on_create() -> None:
    d = deployment(4, 1, 1)
    d["metadata"]["annotations"] = {
        "team": "a",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
        du.REVISION_ANNOTATION: "7",
    }
    new = rs("n", 0)
    assert du.set_new_replica_set_annotations(d, new, "3", False)
    assert new["metadata"]["annotations"] == {
        "team": "a",
        du.REVISION_ANNOTATION: "3",
        du.DESIRED_REPLICAS_ANNOTATION: "4",
        du.MAX_REPLICAS_ANNOTATION: "5",
    }


def test_rollback_records_revision_history() -> None:
    d = deployment(4, 1, 1)
    old = rs("o", 0)
    old["metadata"]["annotations"] = {du.REVISION_ANNOTATION: "1"}
    assert du.set_new_replica_set_annotations(d, old, "3", True)
    ann = old["metadata"]["annotations"]
    assert (ann[du.REVISION_ANNOTATION], ann[du.REVISION_HISTORY_ANNOTATION]) == ("3", "1")
    assert du.set_new_replica_set_annotations(d, old, "5", True)
    assert old["metadata"]["annotations"][du.REVISION_HISTORY_ANNOTATION] == "1,3"
    assert not du.set_new_replica_set_annotations(d, old, "5", True)  # nothing to do


def test_revision_history_is_bounded() -> None:
    d = deployment(1)
    r = rs("o", 0)
    r["metadata"]["annotations"] = {
        du.REVISION_ANNOTATION: "9",
        du.REVISION_HISTORY_ANNOTATION: "1,3,5,7",
    }
    du.set_new_replica_set_annotations(d, r, "11", True, limit=8)
    assert r["metadata"]["annotations"][du.REVISION_HISTORY_ANNOTATION] == "3,5,7,9"


# --- conditions --------------------------------------------------------------------------


def test_set_condition_keeps_transition_time_for_same_status() -> None:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    status: dict[str, Any] = {}
    du.set_condition(status, du.new_condition("Progressing", "True", "A", "m", t0))
    du.set_condition(
        status, du.new_condition("Progressing", "True", "B", "m2", t0 + timedelta(seconds=5))
    )
    (c,) = status["conditions"]
    assert (c["reason"], c["lastTransitionTime"], c["lastUpdateTime"]) == (
        "B", "2025-01-01T00:00:00Z", "2025-01-01T00:00:05Z",
    )  # fmt: skip
    # same status and reason: unchanged
    du.set_condition(status, du.new_condition("Progressing", "True", "B", "m3", t0))
    assert status["conditions"][0]["message"] == "m2"


def test_timed_out() -> None:
    from datetime import UTC, datetime

    d = deployment(1, progressDeadlineSeconds=600)
    status: dict[str, Any] = {
        "conditions": [
            du.new_condition(
                "Progressing", "True", du.RS_UPDATED_REASON, "", datetime(2025, 1, 1, tzinfo=UTC)
            )
        ]
    }
    assert not du.deployment_timed_out(d, status, datetime(2025, 1, 1, 0, 10, tzinfo=UTC))
    assert du.deployment_timed_out(d, status, datetime(2025, 1, 1, 0, 10, 1, tzinfo=UTC))
    status["conditions"][0]["reason"] = du.NEW_RS_AVAILABLE_REASON
    assert not du.deployment_timed_out(d, status, datetime(2025, 1, 2, tzinfo=UTC))
