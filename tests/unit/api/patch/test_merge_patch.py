"""JSON merge patch (RFC 7386) with upstream's (evanphx/json-patch) quirks."""

from __future__ import annotations

import pytest

from pinnace.api.patch.errors import PatchError
from pinnace.api.patch.merge_patch import merge_patch


def test_merges_objects_and_replaces_lists() -> None:
    doc = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"ports": [1, 2], "x": 1}}
    patch = {"metadata": {"labels": {"b": None, "c": "3"}}, "spec": {"ports": [3]}}
    assert merge_patch(doc, patch) == {
        "metadata": {"labels": {"a": "1", "c": "3"}},
        "spec": {"ports": [3], "x": 1},
    }


def test_rfc7386_examples() -> None:
    assert merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": "b"}, {"b": "c"}) == {"a": "b", "b": "c"}
    assert merge_patch({"a": "b"}, {"a": None}) == {}
    assert merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert merge_patch({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}
    assert merge_patch({"a": "foo"}, {"a": {"b": None, "c": 1}}) == {"a": {"c": 1}}


def test_inputs_not_mutated_and_untouched_subtrees_shared() -> None:
    spec = {"deep": {"x": 1}}
    doc = {"metadata": {"name": "a"}, "spec": spec}
    out = merge_patch(doc, {"metadata": {"name": "b"}})
    assert doc == {"metadata": {"name": "a"}, "spec": {"deep": {"x": 1}}}
    assert out["spec"] is spec


def test_null_or_scalar_patch_is_bad_request() -> None:
    for patch in (None, 5, "x"):
        with pytest.raises(PatchError) as e:
            merge_patch({"a": 1}, patch)
        assert e.value.message == "Invalid JSON Patch"
        assert e.value.code == 400
        assert e.value.status()["reason"] == "BadRequest"


def test_array_patch_replaces_document() -> None:
    assert merge_patch({"a": 1}, [{"b": None}]) == [{}]
