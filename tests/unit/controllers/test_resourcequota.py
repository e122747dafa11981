"""The resource quota controller and the shared usage evaluators: status.hard
copied from spec, status.used recounted from the objects (usage of deleted and
finished objects given back), replenishment on deletes, stale writes retried."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from pinnace.api import quota as q
from pinnace.client import Conflict, Obj
from pinnace.controllers.base import ControllerContext, Requeue
from pinnace.controllers.resourcequota import ResourceQuotaController

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class FakeInformer:
    def __init__(self, objs: list[Obj]) -> None:
        self.objs = {
            f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}": o for o in objs
        }
        self.handlers: list[dict[str, Callable[..., None] | None]] = []

    def add_event_handler(self, **kw: Callable[..., None] | None) -> None:
        self.handlers.append(kw)

    def get(self, key: str) -> Obj | None:
        return self.objs.get(key)

    def list(self) -> list[Obj]:
        return list(self.objs.values())

    def by_index(self, index: str, value: str) -> list[Obj]:
        return [o for o in self.objs.values() if o["metadata"].get("namespace") == value]


def pod(name: str, cpu: str = "", phase: str = "Running", ns: str = "ns") -> Obj:
    res = {"requests": {"cpu": cpu}, "limits": {"cpu": cpu}} if cpu else {}
    return {
        "metadata": {"name": name, "namespace": ns},
        "spec": {"containers": [{"name": "c", "resources": res}]},
        "status": {"phase": phase},
    }


def quota(hard: dict[str, str], status: Obj | None = None) -> Obj:
    return {
        "metadata": {"name": "q", "namespace": "ns", "resourceVersion": "7"},
        "spec": {"hard": hard},
        "status": status or {},
    }


class Client:
    def __init__(self, conflict: bool = False) -> None:
        self.written: list[Obj] = []
        self.conflict = conflict
        self.listed: list[str] = []

    async def replace_status(self, resource: Any, obj: Obj, **kw: Any) -> Obj:
        if self.conflict:
            raise Conflict({"code": 409, "reason": "Conflict", "message": "stale"})
        self.written.append(obj)
        return obj

    async def list_all(self, resource: Any, namespace: str | None = None, **kw: Any) -> Obj:
        self.listed.append(f"{resource.group}/{resource.plural}")
        items = (
            [{"metadata": {"name": "d1", "namespace": namespace}}]
            if resource.plural == "deployments"
            else []
        )
        return {"items": items}


def controller(
    client: Client, **objs: list[Obj]
) -> tuple[ResourceQuotaController, dict[str, FakeInformer]]:
    informers: dict[str, FakeInformer] = {}

    class Factory:
        def informer(self, resource: Any, **kw: Any) -> FakeInformer:
            return informers.setdefault(
                resource.plural, FakeInformer(objs.get(resource.plural, []))
            )

    ctx = ControllerContext(client, Factory(), host="here")  # type: ignore[arg-type]
    return ResourceQuotaController(ctx), informers


async def test_recount_sets_hard_and_used() -> None:
    client = Client()
    c, _ = controller(
        client,
        resourcequotas=[
            quota(
                {"pods": "10", "requests.cpu": "4", "count/deployments.apps": "2", "secrets": "3"}
            )
        ],
        pods=[
            pod("a", "500m"),
            pod("b", "1"),
            pod("done", "2", phase="Succeeded"),
            pod("other", "1", ns="x"),
        ],
    )
    assert await c.reconcile("ns/q") is None
    (written,) = client.written
    assert written["status"] == {
        "hard": {"pods": "10", "requests.cpu": "4", "count/deployments.apps": "2", "secrets": "3"},
        "used": {
            "pods": "2",
            "requests.cpu": "1500m",
            "count/deployments.apps": "1",
            "secrets": "0",
        },
    }
    assert written["metadata"]["resourceVersion"] == "7"
    assert client.listed == ["apps/deployments"]
    await c.recorder.stop(flush=False, timeout=0.1)


async def test_up_to_date_status_is_not_written_and_conflict_requeues() -> None:
    status = {"hard": {"pods": "1"}, "used": {"pods": "1"}}
    client = Client()
    c, _ = controller(client, resourcequotas=[quota({"pods": "1"}, status)], pods=[pod("a")])
    assert await c.reconcile("ns/q") is None
    assert client.written == []
    stale = Client(conflict=True)
    c2, _ = controller(
        stale,
        resourcequotas=[quota({"pods": "1"}, {"hard": {"pods": "1"}, "used": {"pods": "2"}})],
        pods=[pod("a")],
    )
    assert await c2.reconcile("ns/q") == Requeue()
    await c.recorder.stop(flush=False, timeout=0.1)
    await c2.recorder.stop(flush=False, timeout=0.1)


async def test_deletes_and_finished_pods_requeue_the_namespace_quotas() -> None:
    c, informers = controller(Client(), resourcequotas=[quota({"pods": "1"})])
    (pod_handlers,) = informers["pods"].handlers
    on_delete = pod_handlers["on_delete"]
    on_update = pod_handlers["on_update"]
    assert on_delete is not None and on_update is not None
    on_update(pod("a"), pod("a"))
    assert len(c.queue) == 0
    on_update(pod("a"), pod("a", phase="Failed"))
    assert len(c.queue) == 1
    (cm_handlers,) = informers["configmaps"].handlers
    assert cm_handlers.get("on_delete") is not None and cm_handlers.get("on_add") is None
    await c.recorder.stop(flush=False, timeout=0.1)


def test_pod_usage() -> None:
    p = {
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {
                    "name": "a",
                    "resources": {
                        "requests": {"cpu": "250m", "memory": "64Mi"},
                        "limits": {"memory": "128Mi"},
                    },
                },
                {"name": "b", "resources": {"requests": {"cpu": "250m", "example.com/gpu": "1"}}},
            ],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2"}}}],
        },
    }
    assert q.format_list(q.pod_usage(p, NOW)) == {
        "count/pods": "1",
        "pods": "1",
        "cpu": "2",
        "requests.cpu": "2",
        "memory": "64Mi",
        "requests.memory": "64Mi",
        "limits.memory": "128Mi",
        "requests.example.com/gpu": "1",
    }
    p["status"] = {"phase": "Succeeded"}
    assert q.pod_usage(p, NOW) == {"count/pods": Fraction(1)}


def test_format_quantity() -> None:
    cases = {
        Fraction(1, 2): "500m",
        Fraction(3, 2): "1500m",
        Fraction(2000): "2k",
        Fraction(2 * 10**9): "2G",
        Fraction(2**30): "1Gi",
        Fraction(1280 * 2**20): "1280Mi",
        Fraction(1000): "1k",
        Fraction(0): "0",
        Fraction(7): "7",
    }
    for value, text in cases.items():
        assert q.format_quantity(value) == text
    assert q.format_quantity(Fraction(2048), decimal_only=True) == "2048"


def test_services_and_claims() -> None:
    svc = {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 443}]}}
    assert q.format_list(q.object_usage("", "services", svc)) == {
        "services": "1",
        "count/services": "1",
        "services.loadbalancers": "1",
        "services.nodeports": "2",
    }
    pvc = {"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "5Gi"}}}}
    usage = q.format_list(q.object_usage("", "persistentvolumeclaims", pvc))
    assert usage["requests.storage"] == "5Gi"
    assert usage["fast.storageclass.storage.k8s.io/requests.storage"] == "5Gi"
    assert usage["fast.storageclass.storage.k8s.io/persistentvolumeclaims"] == "1"
    assert q.matching_resources("apps", "deployments", ["count/deployments.apps", "pods"]) == [
        "count/deployments.apps"
    ]


def test_priority_class_scope_selector() -> None:
    quota_obj = {
        "spec": {
            "hard": {"pods": "1"},
            "scopeSelector": {
                "matchExpressions": [
                    {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}
                ]
            },
        }
    }
    high = {"spec": {"priorityClassName": "high", "containers": []}}
    low = {"spec": {"priorityClassName": "low", "containers": []}}
    assert q.quota_matches(quota_obj, "", "pods", high)
    assert not q.quota_matches(quota_obj, "", "pods", low)
    assert not q.quota_matches(quota_obj, "", "configmaps", {})


def test_canonical_keeps_the_written_format() -> None:
    assert q.canonical("0.5") == "500m"
    assert q.canonical("2000m") == "2"
    assert q.canonical("1024Mi") == "1Gi"
    assert q.canonical("1000Mi") == "1000Mi"
    assert q.canonical("2048") == "2048"
    assert q.canonical(3) == "3"
