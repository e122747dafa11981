"""ResourceQuota admission: charging, upstream's refusal messages, required
requests/limits, status-unknown, update deltas, dry-run, and the CAS commit that
lets only one of two racing creates take the last slot."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from pinnace.api.resources import catalog
from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.admission.resource_quota import QuotaMutation, ResourceQuota
from pinnace.apiserver.authn import UserInfo
from pinnace.apiserver.errors import ApiError

USER = UserInfo("alice")


def request(
    plural: str, obj: dict[str, Any], op: str = "CREATE", old: Any = None, dry_run: bool = False
) -> AdmissionRequest:
    r = catalog().by_plural("", "v1", plural)
    assert r is not None
    name = obj["metadata"]["name"]
    return AdmissionRequest(op, r, "ns", name, obj, old, USER, "", dry_run)  # type: ignore[arg-type]


class Quotas:
    """An in-memory quota store with resourceVersion compare-and-swap."""

    def __init__(self, *quotas: dict[str, Any]) -> None:
        self.objs = {q["metadata"]["name"]: q for q in quotas}
        self.rv = {name: 1 for name in self.objs}
        self.writes = 0

    def list(self, ns: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(q) for q in self.objs.values()] if ns == "ns" else []

    async def update(self, ns: str, name: str, mutate: QuotaMutation) -> dict[str, Any]:
        while True:
            seen = self.rv[name]
            current = copy.deepcopy(self.objs[name])
            await asyncio.sleep(0)  # let a racing request interleave
            new = await mutate(current)
            if self.rv[name] != seen:
                continue  # conflict: re-read and retry
            self.objs[name] = new
            self.rv[name] += 1
            self.writes += 1
            return new


def quota(
    name: str, hard: dict[str, str], used: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    used = used if used is not None else {k: "0" for k in hard}
    return {
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"hard": hard, **spec},
        "status": {"hard": dict(hard), "used": used},
    }


def pod(name: str = "p", requests: Any = None, limits: Any = None, **spec: Any) -> dict[str, Any]:
    res: dict[str, Any] = {}
    if requests:
        res["requests"] = requests
    if limits:
        res["limits"] = limits
    return {
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "resources": res}], **spec},
    }


async def test_charges_used() -> None:
    qs = Quotas(quota("q", {"pods": "2", "requests.cpu": "1"}))
    plugin = ResourceQuota(qs.list, qs.update)
    await plugin.validate(request("pods", pod(requests={"cpu": "500m"})))
    assert qs.objs["q"]["status"]["used"] == {"pods": "1", "requests.cpu": "500m"}


async def test_exceeded_message() -> None:
    qs = Quotas(quota("compute", {"pods": "2"}, {"pods": "2"}))
    with pytest.raises(ApiError) as e:
        await ResourceQuota(qs.list, qs.update).validate(request("pods", pod()))
    assert e.value.code == 403
    assert e.value.message == (
        'pods "p" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, '
        "limited: pods=2"
    )
    assert qs.writes == 0


async def test_exceeded_lists_only_exceeded_resources() -> None:
    qs = Quotas(
        quota(
            "q", {"pods": "5", "requests.memory": "1Gi"}, {"pods": "1", "requests.memory": "768Mi"}
        )
    )
    with pytest.raises(ApiError) as e:
        await ResourceQuota(qs.list, qs.update).validate(
            request("pods", pod(requests={"memory": "512Mi"}))
        )
    assert e.value.message.endswith(
        "exceeded quota: q, requested: requests.memory=512Mi, used: requests.memory=768Mi, "
        "limited: requests.memory=1Gi"
    )


async def test_must_specify() -> None:
    qs = Quotas(quota("q", {"limits.cpu": "2", "requests.cpu": "1", "pods": "3"}))
    with pytest.raises(ApiError) as e:
        await ResourceQuota(qs.list, qs.update).validate(request("pods", pod()))
    assert e.value.message == (
        'pods "p" is forbidden: failed quota: q: must specify limits.cpu for: c; '
        "requests.cpu for: c"
    )


async def test_status_unknown() -> None:
    q = quota("q", {"pods": "3"})
    q["status"] = {"hard": {"pods": "3"}}
    qs = Quotas(q)
    with pytest.raises(ApiError) as e:
        await ResourceQuota(qs.list, qs.update).validate(request("pods", pod()))
    assert e.value.message == 'pods "p" is forbidden: status unknown for quota: q, resources: pods'


async def test_dry_run_charges_nothing() -> None:
    qs = Quotas(quota("q", {"pods": "1"}))
    await ResourceQuota(qs.list, qs.update).validate(request("pods", pod(), dry_run=True))
    assert qs.writes == 0


async def test_concurrent_creates_cannot_both_take_the_last_slot() -> None:
    qs = Quotas(quota("q", {"pods": "3"}, {"pods": "2"}))
    plugin = ResourceQuota(qs.list, qs.update)
    results = await asyncio.gather(
        *(plugin.validate(request("pods", pod(f"p{i}"))) for i in range(4)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, ApiError)]
    assert len(refused) == 3
    assert qs.objs["q"]["status"]["used"] == {"pods": "3"}
    assert (
        "exceeded quota: q, requested: pods=1, used: pods=3, limited: pods=3" in refused[0].message
    )


async def test_scopes_select_pods() -> None:
    qs = Quotas(
        quota("be", {"pods": "1"}, scopes=["BestEffort"]),
        quota("term", {"pods": "5"}, scopes=["Terminating"]),
    )
    plugin = ResourceQuota(qs.list, qs.update)
    await plugin.validate(request("pods", pod(requests={"cpu": "1"})))
    assert qs.writes == 0
    await plugin.validate(request("pods", pod()))
    assert qs.objs["be"]["status"]["used"] == {"pods": "1"}
    await plugin.validate(request("pods", pod(requests={"cpu": "1"}, activeDeadlineSeconds=10)))
    assert qs.objs["term"]["status"]["used"] == {"pods": "1"}


async def test_service_update_charges_the_growth() -> None:
    qs = Quotas(
        quota(
            "q",
            {"services.nodeports": "2", "services": "5"},
            {"services.nodeports": "0", "services": "1"},
        )
    )
    plugin = ResourceQuota(qs.list, qs.update)
    old = {
        "metadata": {"name": "s", "namespace": "ns", "resourceVersion": "5"},
        "spec": {"type": "ClusterIP", "ports": [{"port": 80}, {"port": 81}]},
    }
    new = copy.deepcopy(old)
    new["spec"]["type"] = "NodePort"
    await plugin.validate(request("services", new, op="UPDATE", old=old))
    assert qs.objs["q"]["status"]["used"] == {"services.nodeports": "2", "services": "1"}
    # no growth, no charge
    await plugin.validate(request("services", new, op="UPDATE", old=copy.deepcopy(new)))
    old = copy.deepcopy(new)
    new["spec"]["ports"].append({"port": 82})
    with pytest.raises(ApiError) as e:
        await plugin.validate(request("services", new, op="UPDATE", old=old))
    assert e.value.message.endswith(
        "exceeded quota: q, requested: services.nodeports=1, used: services.nodeports=2, "
        "limited: services.nodeports=2"
    )


async def test_object_counts() -> None:
    qs = Quotas(
        quota("q", {"configmaps": "1", "count/configmaps": "1", "count/deployments.apps": "1"})
    )
    plugin = ResourceQuota(qs.list, qs.update)
    cm = {"metadata": {"name": "c", "namespace": "ns"}}
    await plugin.validate(request("configmaps", cm))
    assert qs.objs["q"]["status"]["used"] == {
        "configmaps": "1",
        "count/configmaps": "1",
        "count/deployments.apps": "0",
    }
    with pytest.raises(ApiError, match="requested: configmaps=1,count/configmaps=1"):
        await plugin.validate(request("configmaps", {"metadata": {"name": "d", "namespace": "ns"}}))
