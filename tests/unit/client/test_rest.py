from __future__ import annotations

import pytest

from pinnace.client import (
    PODS,
    AlreadyExists,
    ApiError,
    Client,
    Conflict,
    Gone,
    NotFound,
    ResourceRef,
    resource_path,
)
from pinnace.client.clock import FakeClock
from pinnace.client.errors import Expired, Invalid, api_error, status_from_response
from pinnace.client.transport import Response
from tests.unit.client.fake_apiserver import FakeApiServer

DEPLOYMENTS = ResourceRef("apps", "v1", "deployments", True, "Deployment")
NODES = ResourceRef("", "v1", "nodes", False, "Node")
CONFIGMAPS = ResourceRef("", "v1", "configmaps", True, "ConfigMap")


def pod(name: str, ns: str = "default", **labels: str) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": {}}


def test_resource_paths() -> None:
    assert resource_path(PODS) == "/api/v1/pods"
    assert resource_path(PODS, "ns") == "/api/v1/namespaces/ns/pods"
    assert resource_path(PODS, "ns", "p", "status") == "/api/v1/namespaces/ns/pods/p/status"
    assert resource_path(DEPLOYMENTS, "ns", "d") == "/apis/apps/v1/namespaces/ns/deployments/d"
    assert resource_path(NODES, "ignored", "n1") == "/api/v1/nodes/n1"
    with pytest.raises(ValueError):
        resource_path(PODS, "ns", None, "status")


def test_error_classes_from_status() -> None:
    body = (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"services \\"x\\" already exists","reason":"AlreadyExists",'
        b'"details":{"name":"x","kind":"services"},"code":409}'
    )
    err = api_error(status_from_response(409, body))
    assert isinstance(err, AlreadyExists) and not isinstance(err, Conflict)
    assert err.code == 409 and err.reason == "AlreadyExists"
    assert err.message == 'services "x" already exists'
    assert err.details["name"] == "x"
    assert isinstance(api_error({"code": 410, "reason": "Expired"}), Expired)
    assert isinstance(api_error({"code": 410, "reason": "Expired"}), Gone)
    assert isinstance(api_error({"code": 410}), Gone)
    assert isinstance(api_error({"code": 422, "reason": "Invalid"}), Invalid)
    assert type(api_error({"code": 418})) is ApiError
    # non-Status bodies become a synthesized Status
    s = status_from_response(502, b"bad gateway")
    assert s["code"] == 502 and s["message"] == "bad gateway" and s["reason"] == "InternalError"


async def test_crud_roundtrip(client: Client, fake_api: FakeApiServer) -> None:
    created = await client.create(PODS, pod("a", app="web"))
    assert created["metadata"]["resourceVersion"] == "1"
    post = fake_api.requests_to("POST")[0]
    assert post.path == "/api/v1/namespaces/default/pods"
    assert post.body["kind"] == "Pod" and post.body["apiVersion"] == "v1"  # filled in
    assert post.headers["Content-Type"] == "application/json"

    got = await client.get(PODS, "a", namespace="default")
    assert got["metadata"]["uid"] == created["metadata"]["uid"]

    got["spec"] = {"nodeName": "n1"}
    replaced = await client.replace(PODS, got)
    assert replaced["metadata"]["resourceVersion"] == "2"

    # a stale resourceVersion conflicts
    got["metadata"]["resourceVersion"] = "1"
    with pytest.raises(Conflict) as e:
        await client.replace(PODS, got)
    assert e.value.code == 409 and "modified" in e.value.message

    with pytest.raises(AlreadyExists):
        await client.create(PODS, pod("a"))

    deleted = await client.delete(PODS, "a", namespace="default")
    assert deleted["metadata"]["name"] == "a"
    with pytest.raises(NotFound) as nf:
        await client.get(PODS, "a", namespace="default")
    assert nf.value.reason == "NotFound" and nf.value.code == 404


async def test_namespace_required_for_namespaced(client: Client) -> None:
    with pytest.raises(ValueError, match="namespace"):
        await client.get(PODS, "a")
    with pytest.raises(ValueError, match="namespace"):
        await client.create(PODS, {"metadata": {"name": "x"}})


async def test_list_with_selectors_and_paging(client: Client, fake_api: FakeApiServer) -> None:
    for i in range(5):
        fake_api.put("pods", pod(f"p{i}", app="web" if i % 2 else "db"))
    fake_api.put("pods", pod("other", ns="kube-system", app="web"))

    everything = await client.list(PODS)
    assert len(everything["items"]) == 6
    assert everything["metadata"]["resourceVersion"] == "6"
    assert fake_api.requests[-1].path == "/api/v1/pods"

    web = await client.list(PODS, namespace="default", label_selector="app=web")
    assert [p["metadata"]["name"] for p in web["items"]] == ["p1", "p3"]
    assert fake_api.requests[-1].query["labelSelector"] == "app=web"

    named = await client.list(PODS, field_selector="metadata.name=p2")
    assert [p["metadata"]["name"] for p in named["items"]] == ["p2"]

    page = await client.list(PODS, namespace="default", limit=2)
    assert len(page["items"]) == 2 and page["metadata"]["continue"] == "2"
    nxt = await client.list(PODS, namespace="default", limit=2, continue_token="2")
    assert [p["metadata"]["name"] for p in nxt["items"]] == ["p2", "p3"]

    all_pages = await client.list_all(PODS, namespace="default", page_size=2)
    assert len(all_pages["items"]) == 5
    assert "continue" not in all_pages["metadata"]
    assert [r.query.get("continue") for r in fake_api.requests[-3:]] == [None, "2", "4"]


async def test_patch_types_and_params(client: Client, fake_api: FakeApiServer) -> None:
    fake_api.put("deployments", {"metadata": {"name": "d", "namespace": "ns"}, "spec": {}})
    out = await client.patch(DEPLOYMENTS, "d", {"spec": {"replicas": 3}}, namespace="ns")
    assert out["spec"]["replicas"] == 3
    req = fake_api.requests[-1]
    assert req.method == "PATCH" and req.headers["Content-Type"] == "application/merge-patch+json"

    await client.patch(
        DEPLOYMENTS,
        "d",
        {"spec": {"paused": True}},
        namespace="ns",
        patch_type="strategic",
        field_manager="me",
    )
    req = fake_api.requests[-1]
    assert req.headers["Content-Type"] == "application/strategic-merge-patch+json"
    assert req.query == {"fieldManager": "me"}

    await client.patch(
        DEPLOYMENTS,
        "d",
        [{"op": "replace", "path": "/spec/replicas", "value": 1}],
        namespace="ns",
        patch_type="json",
    )
    assert fake_api.requests[-1].headers["Content-Type"] == "application/json-patch+json"

    await client.apply(
        DEPLOYMENTS,
        {"metadata": {"name": "d", "namespace": "ns"}, "spec": {"replicas": 2}},
        field_manager="ctl",
        force=True,
    )
    req = fake_api.requests[-1]
    assert req.headers["Content-Type"] == "application/apply-patch+yaml"
    assert req.query == {"fieldManager": "ctl", "force": "true"}
    assert req.body["kind"] == "Deployment" and req.body["apiVersion"] == "apps/v1"

    with pytest.raises(ValueError):
        await client.patch(DEPLOYMENTS, "d", {}, namespace="ns", patch_type="apply")
    with pytest.raises(ValueError):
        await client.patch(DEPLOYMENTS, "d", {}, namespace="ns", force=True)


async def test_delete_options_and_collection(client: Client, fake_api: FakeApiServer) -> None:
    fake_api.put("pods", pod("a"))
    await client.delete(
        PODS,
        "a",
        namespace="default",
        propagation_policy="Foreground",
        grace_period_seconds=0,
        preconditions={"uid": "uid-1"},
        dry_run=True,
    )
    body = fake_api.requests[-1].body
    assert body == {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "propagationPolicy": "Foreground",
        "gracePeriodSeconds": 0,
        "preconditions": {"uid": "uid-1"},
        "dryRun": ["All"],
    }
    fake_api.fail_next(200, {"kind": "Status", "status": "Success", "code": 200})
    await client.delete_collection(PODS, namespace="default", label_selector="app=web")
    req = fake_api.requests[-1]
    assert req.method == "DELETE" and req.path == "/api/v1/namespaces/default/pods"
    assert req.query == {"labelSelector": "app=web"}
    assert req.body is None


async def test_subresources(client: Client, fake_api: FakeApiServer) -> None:
    fake_api.put("pods", pod("p"))
    await client.bind("default", "p", "node-1")
    req = fake_api.requests[-1]
    assert req.path == "/api/v1/namespaces/default/pods/p/binding"
    assert req.body["kind"] == "Binding" and req.body["target"]["name"] == "node-1"
    assert (await client.get(PODS, "p", namespace="default"))["spec"]["nodeName"] == "node-1"

    await client.evict("default", "p", grace_period_seconds=5)
    req = fake_api.requests[-1]
    assert req.path == "/api/v1/namespaces/default/pods/p/eviction"
    assert req.body["apiVersion"] == "policy/v1"
    assert req.body["deleteOptions"]["gracePeriodSeconds"] == 5

    fake_api.put("deployments", {"metadata": {"name": "d", "namespace": "ns"}})
    await client.patch_scale(DEPLOYMENTS, "d", {"spec": {"replicas": 4}}, namespace="ns")
    assert fake_api.requests[-1].path == "/apis/apps/v1/namespaces/ns/deployments/d/scale"
    await client.get_status(DEPLOYMENTS, "d", namespace="ns")
    assert fake_api.requests[-1].path.endswith("/deployments/d/status")
    await client.patch_status(DEPLOYMENTS, "d", {"status": {"x": 1}}, namespace="ns")
    assert fake_api.requests[-1].path.endswith("/deployments/d/status")


async def test_cluster_scoped_ignores_namespace(client: Client, fake_api: FakeApiServer) -> None:
    await client.create(NODES, {"metadata": {"name": "n1"}})
    assert fake_api.requests[-1].path == "/api/v1/nodes"
    await client.get(NODES, "n1")
    assert fake_api.requests[-1].path == "/api/v1/nodes/n1"


async def test_retry_after_429(fake_api: FakeApiServer) -> None:
    from pinnace.client.config import ClientConfig
    from pinnace.client.transport import transport_for

    clock = FakeClock()
    c = Client(transport_for(ClientConfig(server=fake_api.url)), qps=0, clock=clock)
    try:
        fake_api.fail_next(429, {"kind": "Status", "code": 429, "reason": "TooManyRequests"},
                           **{"Retry-After": "1"})  # fmt: skip
        fake_api.put("pods", pod("a"))
        import asyncio

        task = asyncio.create_task(c.get(PODS, "a", namespace="default"))
        await clock.wait_for_sleepers(1)
        await clock.advance(1)
        got = await asyncio.wait_for(task, 2)
        assert got["metadata"]["name"] == "a"
        assert len(fake_api.requests_to("GET")) == 2
        # without Retry-After, the error surfaces
        fake_api.fail_next(500)
        with pytest.raises(ApiError) as e:
            await c.get(PODS, "a", namespace="default")
        assert e.value.code == 500
    finally:
        await c.close()


class TimedRecorder:
    """A transport that records (name requested, fake time) and answers 200."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, float]] = []

    async def request(self, method: str, path: str, **kw: object) -> Response:
        self.calls.append((path.rsplit("/", 1)[-1], self.clock.now()))
        return Response(200, b'{"kind":"Node"}')

    def stream(self, *a: object, **kw: object) -> object:
        raise NotImplementedError

    async def close(self) -> None:
        pass


async def test_client_rate_limiter_throttles() -> None:
    import asyncio

    clock = FakeClock()
    rec = TimedRecorder(clock)
    c = Client(rec, qps=5, burst=2, clock=clock)  # type: ignore[arg-type]
    tasks = [asyncio.create_task(c.get(NODES, f"n{i}")) for i in range(4)]
    await clock.settle()

    def times() -> list[float]:
        return [t for _, t in rec.calls]

    assert times() == [0.0, 0.0]  # the burst goes at once
    await clock.advance(0.2)
    assert times() == [0.0, 0.0, 0.2]
    await clock.advance(0.2)
    assert times() == [0.0, 0.0, 0.2, 0.4]
    await asyncio.gather(*tasks)


async def test_a_client_with_its_own_limits_shares_the_transport_not_the_bucket() -> None:
    import asyncio

    clock = FakeClock()
    rec = TimedRecorder(clock)
    calls = rec.calls
    main = Client(rec, qps=1, burst=1, clock=clock)  # type: ignore[arg-type]
    events = main.with_own_limits(1, 2)
    assert events.transport is main.transport
    tasks = [asyncio.create_task(events.get(NODES, f"e{i}")) for i in range(3)]
    tasks.append(asyncio.create_task(main.get(NODES, "m0")))
    await clock.settle()
    # the events' burst does not use up the main client's token, and vice versa
    assert sorted(calls) == [("e0", 0.0), ("e1", 0.0), ("m0", 0.0)]
    await clock.advance(1.0)
    assert ("e2", 1.0) in calls
    await asyncio.gather(*tasks)


def test_tls_read_buffers_are_bounded() -> None:
    # asyncio's default gives every TLS connection 256 KiB of resident buffer
    import asyncio.sslproto

    import pinnace.client.transport as transport

    assert asyncio.sslproto.SSLProtocol.max_size <= transport.TLS_READ_BUFFER == 64 * 1024
