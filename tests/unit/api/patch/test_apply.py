"""Server-side apply and managedFields, on the real Deployment schema."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from pinnace.api.patch.apply import apply, decode_managed_fields, update_managed_fields
from pinnace.api.patch.errors import ApplyConflict, PatchError
from pinnace.api.patch.fieldpath import FieldSet, path_string
from pinnace.api.resources import catalog

DEPLOYMENT = catalog().by_kind("apps", "v1", "Deployment")
assert DEPLOYMENT is not None
SCHEMA = DEPLOYMENT.schema
T0, T1, T2, T3 = (f"2024-05-01T10:00:0{i}Z" for i in range(4))


def manifest(replicas: int | None = 3, image: str = "nginx:1.25") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {
            "metadata": {"labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": image}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default", "labels": {"app": "nginx"}},
        "spec": spec,
    }


def do_apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    manager: str = "kubectl",
    *,
    force: bool = False,
    now: str = T0,
) -> dict[str, Any]:
    before = copy.deepcopy(live)
    out = apply(
        live,
        applied,
        manager,
        force=force,
        schema=SCHEMA,
        now=now,
        operation_manager_api_version="apps/v1",
    )
    assert live == before, "live object mutated"
    return out


def do_update(
    old: dict[str, Any] | None, new: dict[str, Any], manager: str, now: str = T1
) -> dict[str, Any]:
    return update_managed_fields(old, new, manager, schema=SCHEMA, now=now, api_version="apps/v1")


def entries(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["manager"]: e for e in obj["metadata"]["managedFields"]}


APPLY_FIELDS = {
    "f:metadata": {"f:labels": {"f:app": {}}},
    "f:spec": {
        "f:replicas": {},
        "f:selector": {},
        "f:template": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:containers": {'k:{"name":"nginx"}': {".": {}, "f:image": {}, "f:name": {}}}
            },
        },
    },
}


def test_create_via_apply_managed_fields_exact() -> None:
    obj = do_apply(None, manifest())
    assert obj["metadata"]["managedFields"] == [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": APPLY_FIELDS,
        }
    ]
    # serialized exactly as upstream (key order, "." first)
    assert json.dumps(obj["metadata"]["managedFields"][0]["fieldsV1"], separators=(",", ":")) == (
        '{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},'
        '"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":'
        '{"k:{\\"name\\":\\"nginx\\"}":{".":{},"f:image":{},"f:name":{}}}}}}}'
    )
    assert obj["spec"]["replicas"] == 3
    assert obj["spec"]["template"]["spec"]["containers"] == [
        {"name": "nginx", "image": "nginx:1.25"}
    ]


def test_reapply_without_a_field_removes_it() -> None:
    live = do_apply(None, manifest())
    out = do_apply(live, manifest(replicas=None), now=T1)
    assert "replicas" not in out["spec"]
    assert "f:replicas" not in entries(out)["kubectl"]["fieldsV1"]["f:spec"]
    assert entries(out)["kubectl"]["time"] == T1


def test_reapply_removing_list_item_and_label() -> None:
    m = manifest()
    m["spec"]["template"]["spec"]["containers"].append({"name": "log", "image": "busybox"})
    applied = do_apply(None, m)
    # defaulting added an unowned field to the container that goes away
    applied["spec"]["template"]["spec"]["containers"][1]["terminationMessagePath"] = "/dev/x"
    labelled = copy.deepcopy(applied)
    labelled["metadata"]["labels"]["extra"] = "x"
    live = do_update(applied, labelled, "labeller")
    m2 = manifest()
    del m2["metadata"]["labels"]
    out = do_apply(live, m2, now=T1)
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["nginx"]
    # the label another manager owns stays, the applier's goes
    assert out["metadata"]["labels"] == {"extra": "x"}
    assert "f:metadata" not in entries(out)["kubectl"]["fieldsV1"]


def test_unchanged_reapply_keeps_time() -> None:
    live = do_apply(None, manifest())
    out = do_apply(live, manifest(), now=T2)
    assert entries(out)["kubectl"]["time"] == T0
    assert out["spec"] == live["spec"]


def test_two_appliers_conflict() -> None:
    live = do_apply(None, manifest())
    with pytest.raises(ApplyConflict) as e:
        do_apply(live, manifest(replicas=5), "other", now=T1)
    assert (
        e.value.message == 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'
    )
    status = e.value.status()
    assert status["code"] == 409
    assert status["reason"] == "Conflict"
    assert status["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kubectl"',
            "field": ".spec.replicas",
        }
    ]


def test_conflict_with_updater_names_its_api_version_and_lists_all() -> None:
    created = do_update(None, manifest(), "kubectl-client-side-apply", now=T0)
    with pytest.raises(ApplyConflict) as e:
        do_apply(created, manifest(replicas=5, image="nginx:2"), "kubectl", now=T2)
    assert e.value.message == (
        "Apply failed with 2 conflicts: conflicts with "
        '"kubectl-client-side-apply" using apps/v1:\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="nginx"].image'
    )


def test_force_takes_ownership() -> None:
    live = do_apply(None, manifest())
    out = do_apply(live, manifest(replicas=5), "other", force=True, now=T1)
    assert out["spec"]["replicas"] == 5
    mf = entries(out)
    assert "f:replicas" not in mf["kubectl"]["fieldsV1"]["f:spec"]
    assert "f:replicas" in mf["other"]["fieldsV1"]["f:spec"]
    # and the first applier dropping replicas no longer removes it
    out2 = do_apply(out, manifest(replicas=None), "kubectl", now=T2)
    assert out2["spec"]["replicas"] == 5


def test_shared_ownership_keeps_the_field() -> None:
    live = do_apply(None, manifest())
    shared = do_apply(live, manifest(), "other", now=T1)  # same values: no conflict
    mf = entries(shared)
    assert "f:replicas" in mf["kubectl"]["fieldsV1"]["f:spec"]
    assert "f:replicas" in mf["other"]["fieldsV1"]["f:spec"]
    out = do_apply(shared, manifest(replicas=None), "kubectl", now=T2)
    assert out["spec"]["replicas"] == 3
    assert "f:replicas" not in entries(out)["kubectl"]["fieldsV1"]["f:spec"]


def test_update_after_apply_shifts_ownership() -> None:
    live = do_apply(None, manifest())
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 10
    out = do_update(live, scaled, "kube-controller-manager", now=T1)
    mf = entries(out)
    assert mf["kube-controller-manager"] == {
        "manager": "kube-controller-manager",
        "operation": "Update",
        "apiVersion": "apps/v1",
        "time": T1,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:replicas": {}}},
    }
    assert "f:replicas" not in mf["kubectl"]["fieldsV1"]["f:spec"]
    # order: Apply entries before Update entries
    assert [e["manager"] for e in out["metadata"]["managedFields"]] == [
        "kubectl",
        "kube-controller-manager",
    ]
    # re-applying replicas now conflicts with the updater
    with pytest.raises(ApplyConflict) as e:
        do_apply(out, manifest(replicas=3), now=T2)
    assert e.value.conflicts == [('"kube-controller-manager" using apps/v1', ".spec.replicas")]
    # and an apply without replicas leaves it to the controller
    out2 = do_apply(out, manifest(replicas=None), now=T2)
    assert out2["spec"]["replicas"] == 10


def test_create_by_update_marks_new_maps_and_items_like_upstream() -> None:
    m = manifest()
    m["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
    out = do_update(None, m, "kubectl-create", now=T0)
    assert entries(out)["kubectl-create"]["fieldsV1"] == {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"nginx"}': {
                            ".": {},
                            "f:image": {},
                            "f:name": {},
                            "f:ports": {
                                ".": {},
                                'k:{"containerPort":80,"protocol":"TCP"}': {
                                    ".": {},
                                    "f:containerPort": {},
                                },
                            },
                        }
                    }
                },
            },
        },
    }


def test_update_merges_same_manager_and_removed_fields_leave_all_sets() -> None:
    live = do_update(None, manifest(), "a", now=T0)
    new = copy.deepcopy(live)
    new["spec"]["paused"] = True
    out = do_update(live, new, "a", now=T1)
    assert len(out["metadata"]["managedFields"]) == 1
    assert "f:paused" in entries(out)["a"]["fieldsV1"]["f:spec"]
    assert entries(out)["a"]["time"] == T1
    new2 = copy.deepcopy(out)
    del new2["spec"]["replicas"]
    out2 = do_update(out, new2, "b", now=T2)
    assert "f:replicas" not in entries(out2)["a"]["fieldsV1"]["f:spec"]
    assert "b" not in entries(out2)  # removing fields owns nothing


def test_update_with_empty_managed_fields_resets() -> None:
    live = do_update(None, manifest(), "a", now=T0)
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = []
    out = do_update(live, new, "b", now=T1)
    assert "managedFields" not in out["metadata"]


def test_update_managers_are_capped() -> None:
    obj = do_update(None, manifest(), "m0", now="2024-05-01T10:00:00Z")
    for i in range(1, 12):
        new = copy.deepcopy(obj)
        new["metadata"]["labels"][f"l{i}"] = "x"
        obj = do_update(obj, new, f"m{i}", now=f"2024-05-01T10:00:{i:02d}Z")
    managers = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(managers) == 10
    assert "ancient-changes" in managers
    assert "m0" not in managers and "m1" not in managers and "m2" not in managers


def test_apply_rejects_managed_fields_in_body() -> None:
    m = manifest()
    m["metadata"]["managedFields"] = [{"manager": "x"}]
    with pytest.raises(PatchError) as e:
        do_apply(None, m)
    assert e.value.message == "metadata.managedFields must be nil"
    assert e.value.code == 400


def test_set_items_and_fieldsv1_round_trip() -> None:
    m = manifest()
    m["metadata"]["finalizers"] = ["b.example.com", "a.example.com"]
    obj = do_apply(None, m)
    fin = entries(obj)["kubectl"]["fieldsV1"]["f:metadata"]["f:finalizers"]
    assert list(fin) == ['v:"a.example.com"', 'v:"b.example.com"']
    decoded = decode_managed_fields(obj["metadata"]["managedFields"])
    (entry,) = decoded.values()
    assert entry.fields.to_fields_v1() == entries(obj)["kubectl"]["fieldsV1"]
    assert FieldSet.from_fields_v1(APPLY_FIELDS).to_fields_v1() == APPLY_FIELDS
    paths = [path_string(p) for p in FieldSet.from_fields_v1(APPLY_FIELDS).paths()]
    assert '.spec.template.spec.containers[name="nginx"].image' in paths
    assert '.metadata.finalizers[="a.example.com"]' in [
        path_string(p) for p in entry.fields.paths()
    ]


def test_duplicate_keys_in_applied_config_fail() -> None:
    m = manifest()
    m["spec"]["template"]["spec"]["containers"].append({"name": "nginx", "image": "x"})
    live = do_apply(None, manifest())
    with pytest.raises(PatchError) as e:
        do_apply(live, m)
    assert 'duplicate entries for key [name="nginx"]' in e.value.message


def test_ignored_fields_are_not_tracked() -> None:
    m = manifest()
    m["status"] = {"replicas": 1}
    obj = apply(
        None,
        m,
        "kubectl",
        force=False,
        schema=SCHEMA,
        now=T0,
        operation_manager_api_version="apps/v1",
        ignored_fields=[("status",)],
    )
    assert "f:status" not in entries(obj)["kubectl"]["fieldsV1"]
    new = copy.deepcopy(obj)
    new["status"] = {"replicas": 2}
    out = update_managed_fields(
        obj,
        new,
        "kcm",
        schema=SCHEMA,
        now=T1,
        api_version="apps/v1",
        subresource="status",
    )
    assert entries(out)["kcm"]["subresource"] == "status"
    assert entries(out)["kcm"]["fieldsV1"] == {"f:status": {"f:replicas": {}}}


def test_small_private_schema_set_and_atomic_list() -> None:
    from pinnace.api.schema.types import SchemaRegistry, field, struct

    reg = SchemaRegistry()
    struct(
        "io.pinnace.test.v1",
        "Thing",
        "",
        [
            field("tags", "[]string", "", list_type="set"),
            field("args", "[]string", ""),
            field("data", "map[string]string", "", map_type="atomic"),
            field("free", "object", ""),
        ],
        registry=reg,
    )
    obj = apply(
        None,
        {"tags": ["b", "a"], "args": ["x"], "data": {"k": "v"}, "free": {"a": {"b": [1]}}},
        "m",
        force=False,
        schema="io.pinnace.test.v1.Thing",
        now=T0,
        operation_manager_api_version="v1",
        registry=reg,
    )
    assert obj["metadata"]["managedFields"][0]["fieldsV1"] == {
        "f:args": {},
        "f:data": {},
        "f:free": {"f:a": {".": {}, "f:b": {}}},  # keys of free-form maps are members
        "f:tags": {'v:"a"': {}, 'v:"b"': {}},
    }
    # a second applier adding a set item shares the set, no conflict
    out = apply(
        obj,
        {"tags": ["c"]},
        "n",
        force=False,
        schema="io.pinnace.test.v1.Thing",
        now=T1,
        operation_manager_api_version="v1",
        registry=reg,
    )
    assert out["tags"] == ["b", "a", "c"]
    # a different atomic list value conflicts as a whole
    with pytest.raises(ApplyConflict) as e:
        apply(
            obj,
            {"args": ["y"]},
            "n",
            force=False,
            schema="io.pinnace.test.v1.Thing",
            now=T1,
            operation_manager_api_version="v1",
            registry=reg,
        )
    assert e.value.conflicts == [('"m"', ".args")]


def _walked_update(old: dict[str, Any] | None, new: dict[str, Any], manager: str) -> Any:
    """What update_managed_fields records, with its field-set cache emptied
    first (so every set is decoded and encoded by walking it)."""
    import importlib

    mod = importlib.import_module("pinnace.api.patch.apply")
    mod._SETS.clear()
    mod._CREATES.clear()
    return update_managed_fields(old, new, manager, schema=SCHEMA, now=T1, api_version="apps/v1")[
        "metadata"
    ]["managedFields"]


def test_cached_field_sets_match_walked_ones_and_are_not_shared() -> None:
    created = update_managed_fields(
        None, manifest(), "creator", schema=SCHEMA, now=T0, api_version="apps/v1"
    )
    changed = copy.deepcopy(created)
    changed["spec"]["replicas"] = 5
    expected = _walked_update(created, copy.deepcopy(changed), "scaler")
    # the creator's set now comes from the cache (decoded and encoded before)
    first = update_managed_fields(
        created, copy.deepcopy(changed), "scaler", schema=SCHEMA, now=T1, api_version="apps/v1"
    )["metadata"]["managedFields"]
    assert first == expected
    # results are fresh dicts: changing one does not leak into the next
    first[0]["fieldsV1"]["f:spec"].clear()
    second = update_managed_fields(
        created, copy.deepcopy(changed), "scaler", schema=SCHEMA, now=T1, api_version="apps/v1"
    )["metadata"]["managedFields"]
    assert second == expected


def test_create_and_unchanged_subtrees_record_as_a_full_walk_does() -> None:
    obj = manifest()
    obj["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox"})
    obj["metadata"]["finalizers"] = ["a", "a"]  # a duplicate set item: owned as a whole
    fields = decode_managed_fields(_walked_update(None, obj, "creator"))
    (entry,) = fields.values()
    paths = {path_string(p) for p in entry.fields.paths()}
    assert '.metadata.finalizers[="a"]' in paths
    assert '.spec.template.spec.containers[name="side"].image' in paths
    # an update that changes nothing owned by anyone else keeps the creator's set
    again = copy.deepcopy(obj)
    again["metadata"]["managedFields"] = _walked_update(None, obj, "creator")
    same = copy.deepcopy(again)
    assert _walked_update(again, same, "other") == again["metadata"]["managedFields"]


def test_creates_from_one_template_share_a_set_and_match_a_full_walk() -> None:
    # the second create differs only in what no manager owns (name, uid, ...):
    # its set comes from the create cache, and equals a walk without caches
    first = manifest()
    second = manifest()
    second["metadata"].update(name="nginx-2", uid="u-2", creationTimestamp=T1)
    expected = _walked_update(None, copy.deepcopy(second), "rs")
    do_update(None, first, "rs")  # fills the cache
    got = do_update(None, copy.deepcopy(second), "rs")["metadata"]["managedFields"]
    assert got == expected
    assert got[0]["time"] == T1 and got[0]["manager"] == "rs"
    # results are fresh: changing one does not leak into the next create
    got[0]["fieldsV1"]["f:spec"].clear()
    again = do_update(None, copy.deepcopy(second), "rs")["metadata"]["managedFields"]
    assert again == expected
    # a field that differs is another set
    third = manifest(replicas=None)
    assert (
        "f:replicas"
        not in do_update(None, third, "rs")["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]
    )


def test_create_cache_keeps_ignored_fields_apart() -> None:
    m = manifest()
    m["status"] = {"replicas": 1}
    plain = update_managed_fields(
        None, copy.deepcopy(m), "c", schema=SCHEMA, now=T0, api_version="apps/v1"
    )
    ignoring = update_managed_fields(
        None,
        copy.deepcopy(m),
        "c",
        schema=SCHEMA,
        now=T0,
        api_version="apps/v1",
        ignored_fields=[("status",)],
    )
    assert "f:status" in entries(plain)["c"]["fieldsV1"]
    assert "f:status" not in entries(ignoring)["c"]["fieldsV1"]
