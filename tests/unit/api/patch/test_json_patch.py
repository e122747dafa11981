"""JSON patch (RFC 6902) with upstream's messages and quirks."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api.patch.errors import GENERIC_INVALID_MESSAGE, PatchError
from pinnace.api.patch.json_patch import json_patch

DOC: dict[str, Any] = {
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"replicas": 1, "containers": [{"name": "a"}, {"name": "b"}]},
}


def _error(patch: Any) -> PatchError:
    with pytest.raises(PatchError) as e:
        json_patch(DOC, patch)
    return e.value


def test_operations() -> None:
    out = json_patch(
        DOC,
        [
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "add", "path": "/metadata/labels/tier", "value": "fe"},
            {"op": "remove", "path": "/spec/containers/0"},
            {"op": "add", "path": "/spec/containers/-", "value": {"name": "c"}},
            {"op": "test", "path": "/spec/replicas", "value": 3},
            {"op": "move", "from": "/metadata/labels/app", "path": "/metadata/labels/x~1y"},
            {"op": "copy", "from": "/spec/containers/-1", "path": "/spec/containers/0"},
        ],
    )
    assert out == {
        "metadata": {"name": "web", "labels": {"tier": "fe", "x/y": "web"}},
        "spec": {"replicas": 3, "containers": [{"name": "c"}, {"name": "b"}, {"name": "c"}]},
    }


def test_document_not_mutated() -> None:
    before = repr(DOC)
    json_patch(DOC, [{"op": "add", "path": "/spec/containers/0/image", "value": "x"}])
    json_patch(DOC, [{"op": "remove", "path": "/metadata/labels/app"}])
    assert repr(DOC) == before


def test_upstream_quirks() -> None:
    # replace of a missing member adds it; add without value adds null;
    # test of a missing member passes for null
    out = json_patch(
        DOC,
        [
            {"op": "replace", "path": "/metadata/labels/new", "value": "1"},
            {"op": "add", "path": "/metadata/annotations"},
            {"op": "test", "path": "/metadata/missing", "value": None},
        ],
    )
    assert out["metadata"]["labels"]["new"] == "1"
    assert out["metadata"]["annotations"] is None


def test_failed_test_is_422_with_generic_message() -> None:
    e = _error([{"op": "test", "path": "/spec/replicas", "value": 2}])
    assert e.message == "testing value /spec/replicas failed: test failed"
    assert e.code == 422
    status = e.status()
    assert status["reason"] == "Invalid"
    assert status["message"] == GENERIC_INVALID_MESSAGE
    assert status["message"] == "the server rejected our request due to an error in our request"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            [{"op": "add", "path": "/metadata/annotations/a", "value": "1"}],
            'add operation does not apply: doc is missing path: "/metadata/annotations/a": '
            "missing value",
        ),
        (
            [{"op": "remove", "path": "/metadata/labels/nope"}],
            "error in remove for path: '/metadata/labels/nope': Unable to remove nonexistent "
            "key: nope: missing value",
        ),
        (
            [{"op": "replace", "path": "/spec/containers/7", "value": {}}],
            "replace operation does not apply: doc is missing key: /spec/containers/7: "
            "missing value",
        ),
        (
            [{"op": "add", "path": "/spec/containers/9", "value": {}}],
            "error in add for path: '/spec/containers/9': Unable to access invalid index: 9: "
            "invalid index referenced",
        ),
        (
            [{"op": "test", "path": "/nope/x", "value": 1}],
            "test operation does not apply: is missing path: /nope/x: missing value",
        ),
        (
            [{"op": "move", "from": "/nope/x", "path": "/a"}],
            "move operation does not apply: doc is missing from path: /nope/x: missing value",
        ),
        ([{"op": "frobnicate", "path": "/a"}], "Unexpected kind: frobnicate"),
        ([{"path": "/a"}], "Unexpected kind: unknown"),
        ([{"op": "add", "value": 1}], "add operation failed to decode path: missing value"),
        (
            [{"op": "test", "value": 1}],
            "test operation failed to decode path: operation missing path field: missing value",
        ),
    ],
)
def test_operation_errors(patch: Any, message: str) -> None:
    e = _error(patch)
    assert e.message == message
    assert e.code == 422


def test_undecodable_patch_is_bad_request() -> None:
    e = _error({"op": "add"})
    assert e.message == "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
    assert e.code == 400
    assert e.status()["message"] == e.message
    e = _error(["add"])
    assert e.message == "json: cannot unmarshal string into Go value of type jsonpatch.Operation"


def test_too_many_operations() -> None:
    e = _error([{"op": "test", "path": "/spec/replicas", "value": 1}] * 10001)
    assert e.code == 413
    assert e.status()["message"] == (
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, "
        "got 10001"
    )
