"""Strategic merge patch: directives and list strategies, on small private
schemas and on the real Pod/Deployment declarations."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pinnace.api.patch.errors import PatchError
from pinnace.api.patch.strategic import strategic_merge
from pinnace.api.resources import catalog
from pinnace.api.schema.types import SchemaRegistry, field, struct

PKG = "io.pinnace.test.v1"
R = SchemaRegistry()
struct(PKG, "Env", "", [field("name", "string", ""), field("value", "string", "")], registry=R)
struct(
    PKG,
    "Box",
    "",
    [
        field("name", "string", ""),
        field("image", "string", ""),
        field("env", "[]Env", "", merge_key="name", patch_strategy="merge"),
        field("args", "[]string", ""),
    ],
    registry=R,
)
struct(
    PKG,
    "Thing",
    "",
    [
        field("finalizers", "[]string", "", patch_strategy="merge"),
        field("boxes", "[]Box", "", merge_key="name", patch_strategy="merge"),
        field("labels", "map[string]string", ""),
        field("selector", "map[string]string", "", patch_strategy="replace"),
        field("extra", "object", ""),
        field("matrix", "[][]string", "", patch_strategy="merge"),
    ],
    registry=R,
)
THING = f"{PKG}.Thing"


def smp(original: dict[str, Any], patch: Any) -> dict[str, Any]:
    before = copy.deepcopy(original)
    out = strategic_merge(original, patch, THING, registry=R)
    assert original == before, "original mutated"
    return out


BOXES = {
    "boxes": [
        {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y"}]},
        {"name": "b", "image": "b:1"},
    ]
}


def test_env_merges_by_name() -> None:
    out = smp(
        BOXES,
        {
            "boxes": [
                {"name": "a", "env": [{"name": "Z", "value": "3"}, {"name": "X", "value": "9"}]}
            ]
        },
    )
    # patch items first in patch order, server-only ones where they were
    assert out["boxes"][0]["env"] == [
        {"name": "Z", "value": "3"},
        {"name": "X", "value": "9"},
        {"name": "Y"},
    ]
    assert out["boxes"][1] == {"name": "b", "image": "b:1"}


def test_new_item_appended_and_null_deletes() -> None:
    out = smp(BOXES, {"boxes": [{"name": "c", "image": "c:1"}, {"name": "b", "image": None}]})
    # upstream order: patch items in patch order; a server-only item goes
    # before a patch item only if it was before it in the original
    assert out["boxes"] == [{"name": "c", "image": "c:1"}, BOXES["boxes"][0], {"name": "b"}]


def test_delete_item_directive() -> None:
    out = smp(BOXES, {"boxes": [{"$patch": "delete", "name": "a"}]})
    assert [b["name"] for b in out["boxes"]] == ["b"]


def test_replace_list_directive() -> None:
    out = smp(BOXES, {"boxes": [{"$patch": "replace"}, {"name": "z", "image": "z:1"}]})
    assert out["boxes"] == [{"name": "z", "image": "z:1"}]


def test_replace_and_delete_map_directives() -> None:
    orig = {"labels": {"a": "1", "b": "2"}}
    assert smp(orig, {"labels": {"$patch": "replace", "c": "3"}}) == {"labels": {"c": "3"}}
    assert smp(orig, {"labels": {"$patch": "delete"}}) == {"labels": {}}


def test_replace_strategy_on_map_field() -> None:
    out = smp({"selector": {"a": "1"}}, {"selector": {"b": "2"}})
    assert out == {"selector": {"b": "2"}}


def test_primitive_list_merges_as_set() -> None:
    out = smp({"finalizers": ["a", "b"]}, {"finalizers": ["c", "a"]})
    assert out["finalizers"] == ["c", "a", "b"]
    out = smp(
        {"finalizers": ["a", "b", "c"]},
        {"$deleteFromPrimitiveList/finalizers": ["b"], "finalizers": ["d"]},
    )
    assert out["finalizers"] == ["d", "a", "c"]


def test_list_without_merge_strategy_replaces() -> None:
    out = smp(
        {"boxes": [{"name": "a", "args": ["x", "y"]}]}, {"boxes": [{"name": "a", "args": ["z"]}]}
    )
    assert out["boxes"][0]["args"] == ["z"]


def test_unknown_and_free_form_fields_behave_like_merge_patch() -> None:
    orig = {"unknown": {"a": 1, "l": [1, 2]}, "extra": {"k": {"x": 1}, "l": [1]}}
    out = smp(orig, {"unknown": {"b": 2, "l": [3]}, "extra": {"k": {"y": 2}, "l": [2]}})
    assert out == {
        "unknown": {"a": 1, "b": 2, "l": [3]},
        "extra": {"k": {"x": 1, "y": 2}, "l": [2]},
    }


def test_set_element_order() -> None:
    out = smp(
        BOXES,
        {
            "$setElementOrder/boxes": [{"name": "b"}, {"name": "a"}],
            "boxes": [{"name": "b", "image": "b:2"}],
        },
    )
    assert [(b["name"], b["image"]) for b in out["boxes"]] == [("b", "b:2"), ("a", "a:1")]


def test_errors_match_upstream() -> None:
    with pytest.raises(PatchError) as e:
        smp(BOXES, {"boxes": [{"image": "x"}]})
    assert e.value.message == "map: map[image:x] does not contain declared merge key: name"
    assert e.value.code == 500

    with pytest.raises(PatchError) as e:
        smp({"labels": {}}, {"labels": {"$retainKeys": "a"}})
    assert e.value.message == "invalid patch format of retainKeys"
    assert e.value.code == 400

    with pytest.raises(PatchError) as e:
        smp({"labels": {"a": "1"}}, {"labels": {"$retainKeys": ["a"], "b": "2"}})
    assert e.value.message == "invalid patch format of retainKeys"

    with pytest.raises(PatchError) as e:
        smp({"matrix": [["a"]]}, {"matrix": [["b"]]})
    assert e.value.message == "lists of lists are not supported"
    assert e.value.code == 422

    with pytest.raises(PatchError) as e:
        smp({"labels": {"a": "1"}}, {"labels": {"$patch": "merge"}})
    assert e.value.message == "unknown patch type: merge in map: map[$patch:merge]"

    with pytest.raises(PatchError) as e:
        smp({}, [1])
    assert e.value.code == 400


# -- the real kinds --------------------------------------------------------------

DEPLOYMENT = catalog().by_kind("apps", "v1", "Deployment")
POD = catalog().by_kind("", "v1", "Pod")
assert DEPLOYMENT is not None and POD is not None


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "finalizers": ["a.example.com/x"]},
        "spec": {
            "replicas": 2,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "image": "nginx:1.25",
                            "ports": [
                                {"containerPort": 80, "protocol": "TCP"},
                                {"containerPort": 443, "protocol": "TCP"},
                            ],
                            "env": [{"name": "A", "value": "1"}],
                        },
                        {"name": "sidecar", "image": "busybox"},
                    ]
                },
            },
        },
    }


def test_kubectl_apply_patch_removing_a_container_port() -> None:
    # what kubectl apply (client-side) sends after port 443 left the manifest
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}},
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
                    "containers": [
                        {
                            "$setElementOrder/ports": [{"containerPort": 80}],
                            "name": "nginx",
                            "ports": [{"$patch": "delete", "containerPort": 443}],
                        }
                    ],
                }
            }
        },
    }
    orig = _deployment()
    out = strategic_merge(orig, patch, DEPLOYMENT.schema)
    nginx = out["spec"]["template"]["spec"]["containers"][0]
    assert nginx["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert nginx["image"] == "nginx:1.25"
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == [
        "nginx",
        "sidecar",
    ]
    assert out["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/last-applied-configuration": "{}\n"
    }
    assert orig == _deployment()


def test_kubectl_apply_patch_removing_a_field_with_null() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
                    "containers": [{"env": None, "name": "nginx"}],
                }
            }
        }
    }
    out = strategic_merge(_deployment(), patch, DEPLOYMENT.schema)
    assert "env" not in out["spec"]["template"]["spec"]["containers"][0]


def test_retain_keys_on_deployment_strategy() -> None:
    # kubectl apply switching to Recreate: strategy has patchStrategy retainKeys
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    out = strategic_merge(_deployment(), patch, DEPLOYMENT.schema)
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_env_merge_and_finalizers_on_real_schemas() -> None:
    patch = {
        "metadata": {"finalizers": ["b.example.com/y"]},
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "nginx", "env": [{"name": "B", "value": "2"}]}]}
            }
        },
    }
    out = strategic_merge(_deployment(), patch, DEPLOYMENT.schema)
    assert out["metadata"]["finalizers"] == ["b.example.com/y", "a.example.com/x"]
    assert out["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "B", "value": "2"},
        {"name": "A", "value": "1"},
    ]


def test_pod_container_image_patch() -> None:
    pod = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "old"}, {"name": "d", "image": "d"}]},
    }
    out = strategic_merge(
        pod, {"spec": {"containers": [{"name": "c", "image": "new"}]}}, POD.schema
    )
    assert out["spec"]["containers"] == [{"name": "c", "image": "new"}, {"name": "d", "image": "d"}]
