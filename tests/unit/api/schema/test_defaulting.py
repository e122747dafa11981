"""Defaults from the schema, applied recursively."""

from __future__ import annotations

from typing import Any

from pinnace.api.schema import CORE, SchemaRegistry, field, struct
from pinnace.api.schema.defaulting import apply_defaults
from tests.unit.api.schema import mini_schema

REG, _ = mini_schema.build()
DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"


def test_deployment_defaults_reach_list_items_and_nested_structs() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "a",
                            "ports": [
                                {"containerPort": 80},
                                {"containerPort": 53, "protocol": "UDP"},
                            ],
                        },
                        {"name": "b", "terminationMessagePath": "/tmp/x"},
                    ],
                    "volumes": [{"name": "v", "configMap": {"name": "c"}}],
                }
            },
        },
    }
    apply_defaults(obj, DEPLOYMENT, registry=REG)
    spec = obj["spec"]
    assert spec["replicas"] == 1
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    # a struct default ({}) is set and then defaulted itself
    assert spec["strategy"] == {"type": "RollingUpdate"}
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Always"
    assert pod["terminationGracePeriodSeconds"] == 30
    a, b = pod["containers"]
    assert a["terminationMessagePath"] == "/dev/termination-log"
    assert b["terminationMessagePath"] == "/tmp/x"  # present values win
    assert [p["protocol"] for p in a["ports"]] == ["TCP", "UDP"]
    assert pod["volumes"][0]["configMap"] == {"name": "c", "defaultMode": 420}
    # metadata has no defaults anywhere below: untouched
    assert obj["metadata"] == {"name": "web"}
    # absent optional structs are not created
    assert "status" not in obj


def test_explicit_zero_and_null() -> None:
    obj: dict[str, Any] = {"spec": {"replicas": 0, "revisionHistoryLimit": None}}
    apply_defaults(obj, DEPLOYMENT, registry=REG)
    assert obj["spec"]["replicas"] == 0
    assert obj["spec"]["revisionHistoryLimit"] == 10


def test_mutable_defaults_are_copied() -> None:
    a: dict[str, Any] = {"spec": {}}
    b: dict[str, Any] = {"spec": {}}
    apply_defaults(a, DEPLOYMENT, registry=REG)
    apply_defaults(b, DEPLOYMENT, registry=REG)
    a["spec"]["strategy"]["type"] = "Recreate"
    assert b["spec"]["strategy"]["type"] == "RollingUpdate"


def test_map_values_and_wrong_types() -> None:
    reg = SchemaRegistry()
    struct(CORE, "Item", "An item.", [field("mode", "string", "Mode.", default="rw")], registry=reg)
    struct(CORE, "Box", "A box.", [field("items", "map[string]Item", "Items.")], registry=reg)
    obj: dict[str, Any] = {"items": {"a": {}, "b": {"mode": "ro"}}}
    apply_defaults(obj, f"{CORE}.Box", registry=reg)
    assert obj == {"items": {"a": {"mode": "rw"}, "b": {"mode": "ro"}}}
    weird: dict[str, Any] = {"items": ["not", "a", "map"]}
    apply_defaults(weird, f"{CORE}.Box", registry=reg)  # left for validation to report
    assert weird == {"items": ["not", "a", "map"]}


def test_plans_follow_registry_changes() -> None:
    reg = SchemaRegistry()
    struct(CORE, "A", "A.", [field("x", "string", "X.")], registry=reg)
    obj: dict[str, Any] = {}
    apply_defaults(obj, f"{CORE}.A", registry=reg)
    assert obj == {}
    struct(CORE, "B", "B.", [field("y", "int32", "Y.", default=7)], registry=reg)
    obj = {}
    apply_defaults(obj, f"{CORE}.B", registry=reg)
    assert obj == {"y": 7}


def test_real_deployment_defaults() -> None:
    import pytest

    from pinnace.api.resources import catalog

    if catalog().by_kind("apps", "v1", "Deployment") is None:
        pytest.skip("apps/v1 Deployment is not declared yet")
    obj: dict[str, Any] = {
        "spec": {
            "selector": {},
            "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}},
        }
    }
    apply_defaults(obj, DEPLOYMENT)
    assert obj["spec"]["replicas"] == 1
    assert obj["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert obj["spec"]["template"]["spec"]["containers"][0]["terminationMessagePolicy"] == "File"
