"""OpenAPI documents: what kubectl's field-validation check, client-side apply
and explain read from them."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from pinnace.api.schema.openapi import PATCH_CONTENT_TYPES, OpenAPI, doc_hash
from tests.unit.api.schema import mini_schema

REG, RESOURCES = mini_schema.build()
GVK_DEPLOYMENT = {"group": "apps", "kind": "Deployment", "version": "v1"}


@pytest.fixture(scope="module")
def api() -> OpenAPI:
    return OpenAPI(RESOURCES, REG)


def doc(api: OpenAPI, path: str) -> dict[str, Any]:
    d = api.v3(path)
    assert d is not None
    return orjson.loads(d.body)  # type: ignore[no-any-return]


def test_index_points_at_hashed_documents(api: OpenAPI) -> None:
    index = orjson.loads(api.v3_index().body)
    assert set(index["paths"]) == {"api/v1", "apis/apps/v1"}
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    body = api.v3("apis/apps/v1")
    assert body is not None
    assert url == f"/openapi/v3/apis/apps/v1?hash={body.hash}"
    assert body.hash == doc_hash(body.body) and body.hash.isupper() and len(body.hash) == 128
    assert api.v3("apis/apps/v1") is body  # cached
    assert api.v3("apis/batch/v1") is None and api.v3("nonsense") is None


def supports_query_param(d: dict[str, Any], gvk: dict[str, str], param: str) -> bool:
    """kubectl's supportsQueryParamV3: the first patch operation for the GVK decides."""
    for item in d["paths"].values():
        op = item.get("patch")
        if op is None or op.get("x-kubernetes-group-version-kind") != gvk:
            continue
        return any(p["name"] == param for p in op.get("parameters", []))
    return False


def test_every_patch_operation_declares_field_validation(api: OpenAPI) -> None:
    apps = doc(api, "apis/apps/v1")
    assert supports_query_param(apps, GVK_DEPLOYMENT, "fieldValidation")
    core = doc(api, "api/v1")
    for kind in ("Pod", "ConfigMap"):
        assert supports_query_param(
            core, {"group": "", "kind": kind, "version": "v1"}, "fieldValidation"
        )
    for d in (apps, core):
        for item in d["paths"].values():
            if "patch" in item:
                names = {p["name"] for p in item["patch"]["parameters"]}
                assert {"fieldValidation", "fieldManager", "dryRun", "force"} <= names
                assert set(item["patch"]["requestBody"]["content"]) == set(PATCH_CONTENT_TYPES)


def test_paths_and_operations(api: OpenAPI) -> None:
    apps = doc(api, "apis/apps/v1")
    assert sorted(apps["paths"]) == [
        "/apis/apps/v1/deployments",
        "/apis/apps/v1/namespaces/{namespace}/deployments",
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status",
    ]
    item = apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    assert set(item) == {"get", "put", "patch", "delete", "parameters"}
    assert [p["name"] for p in item["parameters"]] == ["name", "namespace", "pretty"]
    assert item["get"]["operationId"] == "readAppsV1NamespacedDeployment"
    assert item["patch"]["x-kubernetes-action"] == "patch"
    assert item["get"]["x-kubernetes-group-version-kind"] == GVK_DEPLOYMENT
    ok = item["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/io.k8s.api.apps.v1.Deployment"}
    coll = apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]
    assert coll["post"]["x-kubernetes-action"] == "post"
    assert coll["get"]["x-kubernetes-action"] == "list"
    assert coll["delete"]["x-kubernetes-action"] == "deletecollection"
    assert "fieldValidation" in {p["name"] for p in coll["post"]["parameters"]}
    core = doc(api, "api/v1")
    assert "/api/v1/namespaces/{namespace}/pods/{name}/status" in core["paths"]
    assert core["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["put"][
        "operationId"
    ] == ("replaceCoreV1NamespacedConfigMap")


def resolve(d: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow ``allOf``/``$ref`` as kubectl explain does."""
    while True:
        if "$ref" in schema:
            schema = d["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        elif "allOf" in schema and "properties" not in schema:
            schema = schema["allOf"][0]
        elif "items" in schema:
            schema = schema["items"]
        else:
            return schema


def explain(d: dict[str, Any], gvk: dict[str, str], path: str) -> dict[str, Any]:
    """Find the kind's component by GVK (as explain's template does), then walk fields."""
    kinds = [
        s
        for s in d["components"]["schemas"].values()
        if gvk in s.get("x-kubernetes-group-version-kind", [])
    ]
    assert len(kinds) == 1
    schema = kinds[0]
    for part in path.split(".") if path else []:
        schema = resolve(d, schema["properties"][part])
    return schema


def test_explain_can_walk_into_core_types_from_apps(api: OpenAPI) -> None:
    apps = doc(api, "apis/apps/v1")
    spec = explain(apps, GVK_DEPLOYMENT, "spec")
    assert spec["description"] == "A deployment's desired state."
    assert spec["required"] == ["selector", "template"]
    containers = explain(apps, GVK_DEPLOYMENT, "spec.template.spec.containers")
    assert containers["description"] == "A container in a pod."
    assert containers["properties"]["name"] == {"description": "Container name.", "type": "string"}
    core = doc(api, "api/v1")
    pod_containers = explain(core, {"group": "", "kind": "Pod", "version": "v1"}, "spec.containers")
    assert pod_containers == containers


def test_component_schema_details(api: OpenAPI) -> None:
    schemas = doc(api, "apis/apps/v1")["components"]["schemas"]
    # every $ref resolves inside the same document
    refs: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"].rsplit("/", 1)[1])
            for v in node.values():
                collect(v)
        elif isinstance(node, list):
            for v in node:
                collect(v)

    collect(doc(api, "apis/apps/v1"))
    assert set(refs) <= set(schemas)
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-list-type"] == "map"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    assert containers["items"] == {
        "allOf": [{"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}],
        "default": {},
    }
    ports = schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"]
    assert ports["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    assert ports["x-kubernetes-list-type"] == "map"
    assert (
        schemas["io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"]["x-kubernetes-map-type"]
        == "atomic"
    )
    assert (
        schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["nodeSelector"]["x-kubernetes-map-type"]
        == "atomic"
    )
    assert schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["replicas"] == {
        "default": 1,
        "description": "Desired pods.",
        "format": "int32",
        "type": "integer",
    }
    ios = schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert ios["x-kubernetes-int-or-string"] is True and ios["format"] == "int-or-string"
    assert schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["format"] == "date-time"
    assert "io.k8s.apimachinery.pkg.api.resource.Quantity" in schemas
    assert schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"] == [
        GVK_DEPLOYMENT
    ]
    # the List is synthesized when the kind module declares none
    lst = schemas["io.k8s.api.apps.v1.DeploymentList"]
    assert lst["x-kubernetes-group-version-kind"] == [{**GVK_DEPLOYMENT, "kind": "DeploymentList"}]
    for meta in ("Status", "DeleteOptions", "Patch", "WatchEvent"):
        assert f"io.k8s.apimachinery.pkg.apis.meta.v1.{meta}" in schemas


def test_v2_document(api: OpenAPI) -> None:
    v2 = orjson.loads(api.v2().body)
    assert v2["swagger"] == "2.0"
    assert "io.k8s.api.apps.v1.Deployment" in v2["definitions"]
    assert "io.k8s.api.core.v1.ConfigMap" in v2["definitions"]
    spec = v2["definitions"]["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["template"]
    assert spec["$ref"] == "#/definitions/io.k8s.api.core.v1.PodTemplateSpec"
    patch = v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" in patch["consumes"]
    assert patch["parameters"][0]["in"] == "body"
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert v2["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["type"] == "string"


def test_real_catalog_documents() -> None:
    from pinnace.api.resources import catalog
    from pinnace.api.schema.openapi import openapi

    if (
        catalog().by_kind("apps", "v1", "Deployment") is None
        or catalog().by_kind("", "v1", "Pod") is None
    ):
        pytest.skip("apps/v1 and core/v1 kinds are not declared yet")
    real = openapi()
    index = orjson.loads(real.v3_index().body)
    assert {"api/v1", "apis/apps/v1"} <= set(index["paths"])
    apps = doc(real, "apis/apps/v1")
    assert supports_query_param(apps, GVK_DEPLOYMENT, "fieldValidation")
    containers = explain(apps, GVK_DEPLOYMENT, "spec.template.spec.containers")
    assert "name" in containers["properties"] and containers.get("description")
    core = doc(real, "api/v1")
    pod = {"group": "", "kind": "Pod", "version": "v1"}
    assert supports_query_param(core, pod, "fieldValidation")
    assert explain(core, pod, "spec.containers")["properties"]["image"]
    # every reference resolves within its own document, in every document
    for key in index["paths"]:
        d = doc(real, key)
        text = real.v3(key).body.decode()  # type: ignore[union-attr]
        for ref in {p.split('"')[0] for p in text.split('"$ref":"#/components/schemas/')[1:]}:
            assert ref in d["components"]["schemas"], (key, ref)
    assert orjson.loads(real.v2().body)["swagger"] == "2.0"


def test_v2_protobuf_is_a_gnostic_document(api: OpenAPI) -> None:
    from pinnace.api.schema.protobuf import _fields

    def msg(buf: bytes) -> dict[int, list[Any]]:
        out: dict[int, list[Any]] = {}
        for num, _wt, v in _fields(buf):
            out.setdefault(num, []).append(v)
        return out

    d = msg(api.v2_protobuf().body)
    assert d[1] == [b"2.0"]
    assert msg(d[2][0])[1] == [b"Kubernetes"]
    defs = {msg(e)[1][0].decode(): msg(msg(e)[2][0]) for e in msg(d[9][0])[1]}
    dep = defs["io.k8s.api.apps.v1.Deployment"]
    assert msg(dep[22][0])[1] == [b"object"]  # type
    ext = {msg(x)[1][0]: msg(msg(x)[2][0])[2][0] for x in dep[31]}  # vendor extensions, Any.yaml
    assert orjson.loads(ext[b"x-kubernetes-group-version-kind"]) == [GVK_DEPLOYMENT]
    # kubectl's v2 fallback verifier: the patch operation's query parameters
    paths = {msg(p)[1][0].decode(): msg(msg(p)[2][0]) for p in msg(d[8][0])[2]}
    patch = msg(paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"][8][0])
    names = []
    for item in patch[8]:
        param = msg(msg(item)[1][0])
        if 2 in param:  # NonBodyParameter -> QueryParameterSubSchema
            names.append(msg(msg(param[2][0])[3][0])[4][0])
    assert b"fieldValidation" in names
    assert b"application/strategic-merge-patch+json" in patch[7]
