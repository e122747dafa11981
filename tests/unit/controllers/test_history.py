"""ControllerRevision helpers: Go-compatible patch bytes, FNV-1 hashing, numbering,
equality and truncation (upstream ``pkg/controller/history``)."""

from __future__ import annotations

import json
from typing import Any

from pinnace.controllers import history as h

TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
}


def owner(template: dict[str, Any] | None = None, name: str = "web") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": "u-1"},
        "spec": {"template": template or TEMPLATE},
    }


def rev(name: str, number: int, data: Any = None) -> dict[str, Any]:
    return {"metadata": {"name": name}, "revision": number, "data": data or {}}


def test_fnv1_32_vectors() -> None:
    # Go's hash/fnv New32 (FNV-1, not FNV-1a), as upstream HashControllerRevision uses
    assert h.fnv32(b"") == 0x811C9DC5
    assert h.fnv32(b"a") == 0x050C5D7E
    assert h.fnv32(b"foobar") == 0x31F0B262


def test_go_json_sorts_compacts_and_escapes_like_go() -> None:
    assert h.go_json({"b": 1, "a": {"d": "<&>", "c": None}}) == (
        b'{"a":{"c":null,"d":"\\u003c\\u0026\\u003e"},"b":1}'
    )
    assert h.go_json({"x": "é"}) == '{"x":"é"}'.encode()


def test_template_patch_is_upstreams_shape_with_go_zero_values() -> None:
    patch = h.template_patch(owner())
    assert patch == {
        "spec": {
            "template": {
                "$patch": "replace",
                "metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
                "spec": {"containers": [{"image": "nginx:1.25", "name": "web", "resources": {}}]},
            }
        }
    }
    # keys in Go's order, so the server echoes the same bytes kubectl computes
    assert list(patch["spec"]["template"]) == ["$patch", "metadata", "spec"]
    assert h.patch_bytes(owner()).startswith(b'{"spec":{"template":{"$patch":"replace",')
    # the owner is not modified
    assert "resources" not in TEMPLATE["spec"]["containers"][0]


def test_hash_is_stable_and_changes_with_data_and_collisions() -> None:
    data = h.template_patch(owner())
    a = h.hash_controller_revision(data, 0)
    assert a == h.hash_controller_revision(h.go_json(data), 0)
    assert a == h.hash_controller_revision(json.loads(h.go_json(data)), 0)
    assert a != h.hash_controller_revision(data, 1)
    assert a != h.hash_controller_revision(data, None)
    other = h.template_patch(
        owner({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "x"}]}})
    )
    assert a != h.hash_controller_revision(other, 0)
    assert set(a) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_new_controller_revision() -> None:
    data = h.template_patch(owner())
    r = h.new_controller_revision(owner(), "apps/v1", "StatefulSet", {"app": "web"}, data, 3, 0)
    hash_ = h.hash_controller_revision(data, 0)
    assert r["metadata"]["name"] == f"web-{hash_}"
    assert r["metadata"]["labels"] == {"app": "web", h.CONTROLLER_REVISION_HASH_LABEL: hash_}
    ref = r["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["uid"], ref["controller"]) == ("StatefulSet", "u-1", True)
    assert r["revision"] == 3 and r["data"] is data


def test_revision_name_truncates_long_prefixes() -> None:
    assert h.revision_name("a" * 300, "hash") == "a" * 223 + "-hash"
    assert h.revision_name("web", "x") == "web-x"


def test_equal_revisions_compare_data_ignoring_nulls_and_empties() -> None:
    a = rev("a", 1, {"spec": {"template": {"metadata": {"creationTimestamp": None}, "x": 1}}})
    b = rev("b", 2, {"spec": {"template": {"x": 1, "metadata": {}}}})
    c = rev("c", 3, {"spec": {"template": {"x": 2}}})
    assert h.equal_revision(a, b)
    assert not h.equal_revision(a, c)
    assert h.find_equal_revisions([a, b, c], b) == [a, b]
    assert h.equal_revision(None, None) and not h.equal_revision(a, None)


def test_sorting_numbering_and_truncation() -> None:
    revs = h.sort_revisions([rev("c", 3), rev("a", 1), rev("b", 2)])
    assert [r["metadata"]["name"] for r in revs] == ["a", "b", "c"]
    assert h.next_revision(revs) == 4
    assert h.next_revision([]) == 1
    assert h.max_revision(revs) == 3
    # live revisions are never truncated; the oldest others go first
    many = [rev(f"r{i}", i) for i in range(1, 7)]
    assert [r["metadata"]["name"] for r in h.revisions_to_truncate(many, {"r1", "r6"}, 2)] == [
        "r2",
        "r3",
    ]
    assert h.revisions_to_truncate(many, {"r6"}, 10) == []
    assert len(h.revisions_to_truncate(many, set(), 0)) == 6


def test_apply_revision_restores_the_template() -> None:
    old = h.template_patch(owner())
    cur = owner({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "y"}]}})
    restored = h.apply_revision(cur, {"data": old})
    assert restored["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert "$patch" not in restored["spec"]["template"]
    assert cur["spec"]["template"]["spec"]["containers"][0]["name"] == "y"
