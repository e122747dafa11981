"""The audit middleware in front of a small stand-in for the server's request
path: event shape, stages, levels, 401/403 records, the Audit-ID header."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pinnace.apiserver import errors, negotiation
from pinnace.apiserver.audit.auditor import Auditor, request_authenticated
from pinnace.apiserver.audit.logwriter import AuditLogWriter
from pinnace.apiserver.audit.policy import parse_policy
from pinnace.apiserver.authn import UserInfo
from pinnace.apiserver.requestinfo import parse_request

POLICY = """
apiVersion: audit.k8s.io/v1
kind: Policy
omitManagedFields: true
rules:
  - level: None
    nonResourceURLs: ["/healthz*"]
  - level: Metadata
    resources: [{group: "", resources: ["secrets"]}]
  - level: RequestResponse
    resources: [{group: "", resources: ["configmaps"]}]
  - level: Request
    resources: [{group: "", resources: ["pods"]}]
    omitStages: [RequestReceived]
  - level: Metadata
"""
ALICE = UserInfo("alice", ("dev", "system:authenticated"), uid="u-1", extra={"scope": ["a"]})
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class Collect(AuditLogWriter):
    def __init__(self) -> None:
        super().__init__("-")
        self.events: list[dict[str, Any]] = []

    def write(self, line: bytes) -> None:
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        self.events.append(orjson.loads(line))


SINK = web.AppKey("sink", Collect)


async def dispatch(request: web.Request) -> web.StreamResponse:
    """Like ApiServer._dispatch: authenticate, parse, authorize, handle."""
    if request.path == "/healthz":
        return web.Response(text="ok")
    token = request.headers.get("Authorization", "")
    if token == "Bearer garbage":
        raise errors.unauthorized()
    request["user"] = ALICE
    if request.headers.get("Impersonate-User"):
        request["authenticated_user"] = ALICE
        request["user"] = UserInfo(request.headers["Impersonate-User"], ("system:authenticated",))
    info = parse_request(request.method, request.path, request.query.get("watch") == "true")
    request["request_info"] = info
    if info.namespace == "forbidden":
        request["authz_decision"] = "forbid"
        request["authz_reason"] = ""
        raise errors.ApiError(
            403, "Forbidden", 'secrets is forbidden: User "alice" cannot list resource "secrets"'
        )
    request["authz_decision"] = "allow"
    request["authz_reason"] = 'RBAC: allowed by ClusterRoleBinding "x"'
    if info.resource == "events":
        request_authenticated(request)
        request_authenticated(request)  # idempotent
        stages = [e["stage"] for e in request.app[SINK].events]
        return negotiation.json_response({"stagesSoFar": stages})
    if info.verb == "watch":
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)
        await resp.write(b'{"type":"ADDED","object":{}}\n')
        return resp
    if info.verb == "create":
        body = await request.json()
        body["metadata"].update(uid="uid-9", resourceVersion="7", managedFields=[{"m": 1}])
        return negotiation.json_response(body, 201)
    if info.resource == "boom":
        raise RuntimeError("kaboom")
    return negotiation.json_response({"kind": "PodList", "items": []})


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        resp: web.StreamResponse = await handler(request)
        return resp
    except errors.ApiError as e:
        return negotiation.json_response(e.status(), e.code)


@pytest.fixture
async def client() -> AsyncIterator[tuple[TestClient[Any, Any], Collect]]:
    app = web.Application(middlewares=[error_middleware])
    app.router.add_route("*", "/{tail:.*}", dispatch)
    sink = Collect()
    app[SINK] = sink
    Auditor(parse_policy(POLICY), sink).install(app)
    c = TestClient(TestServer(app))
    await c.start_server()
    try:
        yield c, sink
    finally:
        await c.close()


async def test_create_at_request_response_level(
    client: tuple[TestClient[Any, Any], Collect],
) -> None:
    c, sink = client
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}
    r = await c.post(
        "/api/v1/namespaces/ns/configmaps?fieldManager=kubectl",
        json=cm,
        headers={"User-Agent": "kubectl/v1.32", "X-Forwarded-For": "192.0.2.7"},
    )
    assert r.status == 201
    audit_id = r.headers["Audit-ID"]
    received, complete = sink.events
    assert received["stage"] == "RequestReceived"
    assert complete["stage"] == "ResponseComplete"
    assert list(complete) == [
        "kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user",
        "sourceIPs", "userAgent", "objectRef", "responseStatus", "requestObject",
        "responseObject", "requestReceivedTimestamp", "stageTimestamp", "annotations",
    ]  # fmt: skip
    assert complete["kind"] == "Event" and complete["apiVersion"] == "audit.k8s.io/v1"
    assert complete["level"] == "RequestResponse"
    assert complete["auditID"] == received["auditID"] == audit_id
    assert complete["requestURI"] == "/api/v1/namespaces/ns/configmaps?fieldManager=kubectl"
    assert complete["verb"] == "create"
    assert complete["user"] == {
        "username": "alice",
        "uid": "u-1",
        "groups": ["dev", "system:authenticated"],
        "extra": {"scope": ["a"]},
    }
    assert complete["sourceIPs"] == ["192.0.2.7", "127.0.0.1"]
    assert complete["userAgent"] == "kubectl/v1.32"
    assert complete["objectRef"] == {
        "resource": "configmaps",
        "namespace": "ns",
        "name": "c",
        "apiVersion": "v1",
    }
    assert complete["responseStatus"] == {"metadata": {}, "code": 201}
    assert complete["requestObject"] == cm
    assert complete["responseObject"]["metadata"] == {
        "name": "c",
        "uid": "uid-9",
        "resourceVersion": "7",
    }  # managedFields omitted (omitManagedFields)
    assert complete["annotations"] == {
        "authorization.k8s.io/decision": "allow",
        "authorization.k8s.io/reason": 'RBAC: allowed by ClusterRoleBinding "x"',
    }
    assert "responseStatus" not in received and "responseObject" not in received
    assert received["stageTimestamp"] == received["requestReceivedTimestamp"]
    for ev in sink.events:
        assert STAMP.match(ev["stageTimestamp"]) and STAMP.match(ev["requestReceivedTimestamp"])


async def test_metadata_level_has_no_objects(client: tuple[TestClient[Any, Any], Collect]) -> None:
    c, sink = client
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"k": "c2VjcmV0"},
    }
    r = await c.post("/api/v1/namespaces/ns/secrets", json=secret)
    assert r.status == 201
    complete = sink.events[-1]
    assert complete["level"] == "Metadata"
    assert "requestObject" not in complete and "responseObject" not in complete
    assert "c2VjcmV0" not in orjson.dumps(sink.events).decode()


async def test_request_level_and_omitted_stage(
    client: tuple[TestClient[Any, Any], Collect],
) -> None:
    c, sink = client
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    await c.post("/api/v1/namespaces/ns/pods", json=pod)
    (only,) = sink.events  # RequestReceived omitted by the rule
    assert only["stage"] == "ResponseComplete"
    assert only["level"] == "Request"
    assert only["requestObject"] == pod
    assert "responseObject" not in only


async def test_forbidden_is_recorded_with_its_status(
    client: tuple[TestClient[Any, Any], Collect],
) -> None:
    c, sink = client
    r = await c.get("/api/v1/namespaces/forbidden/secrets")
    assert r.status == 403
    complete = sink.events[-1]
    assert complete["responseStatus"] == {
        "metadata": {},
        "status": "Failure",
        "message": 'secrets is forbidden: User "alice" cannot list resource "secrets"',
        "reason": "Forbidden",
        "code": 403,
    }
    assert complete["annotations"] == {
        "authorization.k8s.io/decision": "forbid",
        "authorization.k8s.io/reason": "",
    }


async def test_failed_authentication_gets_one_event_without_user(
    client: tuple[TestClient[Any, Any], Collect],
) -> None:
    c, sink = client
    r = await c.get("/api/v1/namespaces/ns/secrets", headers={"Authorization": "Bearer garbage"})
    assert r.status == 401
    (ev,) = sink.events
    assert ev["stage"] == "ResponseStarted"
    assert ev["user"] == {}
    assert ev["verb"] == "list"
    assert ev["objectRef"] == {"resource": "secrets", "namespace": "ns", "apiVersion": "v1"}
    assert ev["responseStatus"]["code"] == 401
    assert ev["responseStatus"]["reason"] == "Unauthorized"
    assert r.headers["Audit-ID"] == ev["auditID"]


async def test_watch_has_response_started(client: tuple[TestClient[Any, Any], Collect]) -> None:
    c, sink = client
    r = await c.get("/api/v1/namespaces/ns/pods?watch=true")
    await r.read()
    assert [e["stage"] for e in sink.events] == ["ResponseStarted", "ResponseComplete"]
    assert all(e["verb"] == "watch" and e["responseStatus"]["code"] == 200 for e in sink.events)
    assert "Audit-ID" in r.headers


async def test_impersonation_and_client_audit_id(
    client: tuple[TestClient[Any, Any], Collect],
) -> None:
    c, sink = client
    r = await c.get(
        "/api/v1/namespaces/ns/services",
        headers={"Impersonate-User": "bob", "Audit-ID": "my-id"},
    )
    assert r.headers["Audit-ID"] == "my-id"
    ev = sink.events[-1]
    assert ev["auditID"] == "my-id"
    assert ev["user"]["username"] == "alice"
    assert ev["impersonatedUser"] == {"username": "bob", "groups": ["system:authenticated"]}


async def test_level_none_and_panic(client: tuple[TestClient[Any, Any], Collect]) -> None:
    c, sink = client
    r = await c.get("/healthz")
    assert r.status == 200
    assert sink.events == []
    assert "Audit-ID" in r.headers
    r = await c.get("/api/v1/boom")
    assert r.status == 500
    assert [e["stage"] for e in sink.events] == ["RequestReceived", "Panic"]
    assert sink.events[-1]["responseStatus"]["message"] == "APIServer panic'd: kaboom"


async def test_no_policy_file_installs_nothing(tmp_path: Any) -> None:
    from pinnace.apiserver.audit import install
    from pinnace.apiserver.config import ServerConfig

    app = web.Application(middlewares=[error_middleware])
    assert install(app, ServerConfig(data_dir=tmp_path)) is None
    assert list(app.middlewares) == [error_middleware]
    assert len(app.on_response_prepare) == 0


def test_bad_policy_refuses_start(tmp_path: Any) -> None:
    from pinnace.apiserver.audit import build_auditor
    from pinnace.apiserver.config import ServerConfig

    p = tmp_path / "policy.yaml"
    p.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Loud}]\n")
    cfg = ServerConfig(data_dir=tmp_path, audit_policy_file=str(p), audit_log_path="-")
    with pytest.raises(errors.StartupError, match=r'invalid audit policy file: .*"Loud"'):
        build_auditor(cfg)
    p.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Metadata}]\n")
    cfg.audit_log_path = ""
    with pytest.raises(errors.StartupError, match="needs --audit-log-path"):
        build_auditor(cfg)
    cfg.audit_log_path = str(tmp_path / "file-not-dir") + "/x/audit.log"
    (tmp_path / "file-not-dir").write_text("")
    with pytest.raises(errors.StartupError, match="cannot open audit log"):
        build_auditor(cfg)


async def test_request_received_written_when_the_request_path_says(
    client: tuple[TestClient[Any, Any], Collect],
) -> None:
    c, sink = client
    r = await c.get("/api/v1/namespaces/ns/events")
    assert (await r.json())["stagesSoFar"] == ["RequestReceived"]
    assert [e["stage"] for e in sink.events] == ["RequestReceived", "ResponseComplete"]
