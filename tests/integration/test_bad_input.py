"""Bad input: each answered with the right Status, and nothing stored."""

from __future__ import annotations

import json

import pytest

from tests.cluster import RawClient, Server

NS = "bad"


@pytest.fixture(scope="module")
def raw(server: Server) -> RawClient:
    c = RawClient(server)
    status, _ = c.json(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
    )
    assert status == 201
    return c


def _names(raw: RawClient) -> list[str]:
    status, body = raw.json("GET", f"/api/v1/namespaces/{NS}/configmaps")
    assert status == 200
    # every namespace gets kube-root-ca.crt from the root CA publisher: not ours
    return [
        i["metadata"]["name"] for i in body["items"] if i["metadata"]["name"] != "kube-root-ca.crt"
    ]


def _is_status(body: object, code: int, reason: str | None = None) -> None:
    assert isinstance(body, dict), body
    assert body["kind"] == "Status" and body["code"] == code, body
    if reason:
        assert body["reason"] == reason, body


def test_anonymous_is_forbidden_and_bad_token_unauthorized(raw: RawClient) -> None:
    # no credentials: system:anonymous, whom RBAC grants nothing here (upstream's 403)
    status, _, data = raw.request("GET", "/api/v1/namespaces", anonymous=True)
    assert status == 403
    body = json.loads(data)
    _is_status(body, 403, "Forbidden")
    assert 'User "system:anonymous" cannot list resource "namespaces"' in body["message"]
    # credentials nobody accepts: 401
    status, _, data = raw.request(
        "GET", "/api/v1/namespaces", anonymous=True, headers={"Authorization": "Bearer garbage"}
    )
    assert status == 401
    _is_status(json.loads(data), 401, "Unauthorized")


def test_malformed_json(raw: RawClient) -> None:
    status, _, data = raw.request(
        "POST",
        f"/api/v1/namespaces/{NS}/configmaps",
        b'{"apiVersion": "v1", "kind": ',
        {"Content-Type": "application/json"},
    )
    assert status == 400
    _is_status(json.loads(data), 400, "BadRequest")
    assert _names(raw) == []


def test_malformed_yaml(raw: RawClient) -> None:
    status, _, data = raw.request(
        "POST",
        f"/api/v1/namespaces/{NS}/configmaps",
        b"kind: [unclosed\n  - x: :",
        {"Content-Type": "application/yaml"},
    )
    assert status == 400
    _is_status(json.loads(data), 400)


def test_body_too_large(raw: RawClient) -> None:
    big = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "big"},
        "data": {"a": "x" * (3 * 1024 * 1024 + 10)},
    }
    status, body = raw.json("POST", f"/api/v1/namespaces/{NS}/configmaps", big)
    assert status == 413
    _is_status(body, 413, "RequestEntityTooLarge")
    assert "big" not in _names(raw)


def test_unknown_field_strict(raw: RawClient) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "strict"},
        "data": {},
        "spec": {"foo": 1},
    }
    status, body = raw.json(
        "POST", f"/api/v1/namespaces/{NS}/configmaps?fieldValidation=Strict", cm
    )
    assert status == 400
    _is_status(body, 400, "BadRequest")
    assert 'unknown field "spec"' in body["message"]
    assert "strict" not in _names(raw)
    # default (Warn): accepted with a Warning header
    st, headers, _ = raw.request(
        "POST",
        f"/api/v1/namespaces/{NS}/configmaps",
        json.dumps(cm).encode(),
        {"Content-Type": "application/json"},
    )
    assert st == 201
    assert "unknown field" in headers.get("warning", "")


def test_invalid_name_and_labels(raw: RawClient) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "Bad_Name", "labels": {"a": "-x-"}},
    }
    status, body = raw.json("POST", f"/api/v1/namespaces/{NS}/configmaps", cm)
    assert status == 422
    _is_status(body, 422, "Invalid")
    fields = {c["field"] for c in body["details"]["causes"]}
    assert "metadata.name" in fields and "metadata.labels" in fields
    assert body["details"]["kind"] == "ConfigMap" and body["details"]["name"] == "Bad_Name"
    assert "Bad_Name" not in _names(raw)


def test_kind_mismatch(raw: RawClient) -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}
    status, body = raw.json("POST", f"/api/v1/namespaces/{NS}/configmaps", svc)
    assert status == 400
    _is_status(body, 400, "BadRequest")


def test_namespace_mismatch(raw: RawClient) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "nsm", "namespace": "default"},
    }
    status, body = raw.json("POST", f"/api/v1/namespaces/{NS}/configmaps", cm)
    assert status == 400
    _is_status(body, 400, "BadRequest")
    assert "does not match the namespace" in body["message"]


def test_stale_resource_version(raw: RawClient) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "stale"},
        "data": {"a": "1"},
    }
    status, created = raw.json("POST", f"/api/v1/namespaces/{NS}/configmaps", cm)
    assert status == 201
    upd = dict(created, data={"a": "2"})
    status, _ = raw.json("PUT", f"/api/v1/namespaces/{NS}/configmaps/stale", upd)
    assert status == 200
    upd2 = dict(created, data={"a": "3"})  # carries the old resourceVersion
    status, body = raw.json("PUT", f"/api/v1/namespaces/{NS}/configmaps/stale", upd2)
    assert status == 409
    _is_status(body, 409, "Conflict")
    status, cur = raw.json("GET", f"/api/v1/namespaces/{NS}/configmaps/stale")
    assert cur["data"] == {"a": "2"}


def test_duplicate_create(raw: RawClient) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dup"}}
    assert raw.json("POST", f"/api/v1/namespaces/{NS}/configmaps", cm)[0] == 201
    status, body = raw.json("POST", f"/api/v1/namespaces/{NS}/configmaps", cm)
    assert status == 409
    _is_status(body, 409, "AlreadyExists")
    assert body["message"] == 'configmaps "dup" already exists'
    assert body["details"] == {"name": "dup", "kind": "configmaps"}


def test_unknown_resource(raw: RawClient) -> None:
    status, body = raw.json("GET", f"/api/v1/namespaces/{NS}/widgets")
    assert status == 404
    _is_status(body, 404, "NotFound")
    status, body = raw.json("GET", "/apis/nope.example.com/v1/things")
    assert status == 404


def test_unsupported_media_type(raw: RawClient) -> None:
    status, _, data = raw.request(
        "POST",
        f"/api/v1/namespaces/{NS}/configmaps",
        b"<xml/>",
        {"Content-Type": "application/xml"},
    )
    assert status == 415
    _is_status(json.loads(data), 415, "UnsupportedMediaType")


def test_patch_that_does_not_apply(raw: RawClient) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pt"}, "data": {"a": "1"}}
    assert raw.json("POST", f"/api/v1/namespaces/{NS}/configmaps", cm)[0] == 201
    status, _, data = raw.request(
        "PATCH",
        f"/api/v1/namespaces/{NS}/configmaps/pt",
        json.dumps(
            [
                {"op": "test", "path": "/data/a", "value": "2"},
                {"op": "replace", "path": "/data/a", "value": "3"},
            ]
        ).encode(),
        {"Content-Type": "application/json-patch+json"},
    )
    assert status == 422
    _is_status(json.loads(data), 422)
    status, cur = raw.json("GET", f"/api/v1/namespaces/{NS}/configmaps/pt")
    assert cur["data"] == {"a": "1"}
    # a patch that produces an invalid object is also a 422 and changes nothing
    status, _, data = raw.request(
        "PATCH",
        f"/api/v1/namespaces/{NS}/configmaps/pt",
        json.dumps({"metadata": {"labels": {"bad key!": "x"}}}).encode(),
        {"Content-Type": "application/merge-patch+json"},
    )
    assert status == 422


def test_no_500_on_garbage(raw: RawClient) -> None:
    for body in (b"[]", b"42", b'"x"', b"null", b"{}"):
        status, _, data = raw.request(
            "POST",
            f"/api/v1/namespaces/{NS}/configmaps",
            body,
            {"Content-Type": "application/json"},
        )
        assert 400 <= status < 500, (body, status, data)
