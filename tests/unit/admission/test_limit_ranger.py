"""LimitRanger: container defaults with the limit-ranger annotation, and the
min/max/ratio checks with upstream's messages for Container, Pod and claims."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api.resources import catalog
from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.admission.limit_ranger import LimitRanger, effective_item
from pinnace.apiserver.authn import UserInfo
from pinnace.apiserver.errors import ApiError

USER = UserInfo("alice")


def request(
    plural: str, obj: dict[str, Any], op: str = "CREATE", old: Any = None
) -> AdmissionRequest:
    r = catalog().by_plural("", "v1", plural)
    assert r is not None
    return AdmissionRequest(op, r, "ns", obj["metadata"]["name"], obj, old, USER)  # type: ignore[arg-type]


def limit_range(*items: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "lr", "namespace": "ns"}, "spec": {"limits": list(items)}}


def pod(*containers: dict[str, Any], init: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": list(containers)}
    if init:
        spec["initContainers"] = init
    return {"metadata": {"name": "x", "namespace": "ns"}, "spec": spec}


def container(name: str = "c", requests: Any = None, limits: Any = None) -> dict[str, Any]:
    res: dict[str, Any] = {}
    if requests:
        res["requests"] = requests
    if limits:
        res["limits"] = limits
    return {"name": name, "image": "busybox", "resources": res}


async def run(lrs: list[dict[str, Any]], req: AdmissionRequest) -> None:
    p = LimitRanger(lambda ns: lrs if ns == "ns" else [])
    await p.admit(req)
    await p.validate(req)


async def test_defaults_and_annotation() -> None:
    lr = limit_range(
        {
            "type": "Container",
            "default": {"cpu": "500m", "memory": "256Mi"},
            "defaultRequest": {"cpu": "100m"},
        }
    )
    mem = {"memory": "128Mi"}
    obj = pod(container("c", requests=dict(mem), limits=dict(mem)), init=[container("i")])
    await run([lr], request("pods", obj))
    c = obj["spec"]["containers"][0]["resources"]
    assert c == {
        "limits": {"memory": "128Mi", "cpu": "500m"},
        "requests": {"memory": "128Mi", "cpu": "100m"},
    }
    # defaultRequest falls back to default (LimitRange API defaulting)
    i = obj["spec"]["initContainers"][0]["resources"]
    assert i == {
        "limits": {"cpu": "500m", "memory": "256Mi"},
        "requests": {"cpu": "100m", "memory": "256Mi"},
    }
    assert obj["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu request for container c; cpu limit for container c; "
        "cpu, memory request for init container i; cpu, memory limit for init container i"
    )


def test_item_defaults_follow_max_and_min() -> None:
    item = effective_item({"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "1Mi"}})
    assert item["default"] == {"cpu": "2"}
    assert item["defaultRequest"] == {"cpu": "2", "memory": "1Mi"}


async def test_container_min_max_message() -> None:
    lr = limit_range({"type": "Container", "min": {"cpu": "100m"}, "max": {"memory": "1Gi"}})
    obj = pod(
        container(requests={"cpu": "50m", "memory": "512Mi"}, limits={"cpu": "1", "memory": "2Gi"})
    )
    with pytest.raises(ApiError) as e:
        await LimitRanger(lambda ns: [lr]).validate(request("pods", obj))
    assert e.value.code == 403
    assert e.value.message == (
        'pods "x" is forbidden: [minimum cpu usage per Container is 100m, but request is 50m, '
        "maximum memory usage per Container is 1Gi, but limit is 2Gi]"
    )


async def test_single_error_is_not_bracketed_and_missing_limit() -> None:
    lr = limit_range({"type": "Container", "max": {"cpu": "1"}})
    obj = pod(container(requests={"cpu": "100m"}))
    with pytest.raises(ApiError) as e:
        await LimitRanger(lambda ns: [lr]).validate(request("pods", obj))
    assert e.value.message == (
        'pods "x" is forbidden: maximum cpu usage per Container is 1.  No limit is specified'
    )


async def test_ratio() -> None:
    lr = limit_range({"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}})
    obj = pod(container(requests={"cpu": "100m"}, limits={"cpu": "400m"}))
    with pytest.raises(ApiError) as e:
        await LimitRanger(lambda ns: [lr]).validate(request("pods", obj))
    assert e.value.message.endswith(
        "cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000"
    )
    ok = pod(container(requests={"cpu": "100m"}, limits={"cpu": "200m"}))
    await LimitRanger(lambda ns: [lr]).validate(request("pods", ok))


async def test_pod_type_sums_containers() -> None:
    lr = limit_range({"type": "Pod", "max": {"memory": "1Gi"}})
    obj = pod(
        container("a", limits={"memory": "768Mi"}, requests={"memory": "768Mi"}),
        container("b", limits={"memory": "512Mi"}, requests={"memory": "512Mi"}),
    )
    with pytest.raises(ApiError) as e:
        await run([lr], request("pods", obj))
    assert e.value.message == (
        'pods "x" is forbidden: maximum memory usage per Pod is 1Gi, but limit is 1280Mi'
    )


async def test_claims() -> None:
    lr = limit_range(
        {"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}}
    )
    claim = {
        "metadata": {"name": "data", "namespace": "ns"},
        "spec": {"resources": {"requests": {"storage": "20Gi"}}},
    }
    with pytest.raises(ApiError) as e:
        await run([lr], request("persistentvolumeclaims", claim))
    assert e.value.message == (
        'persistentvolumeclaims "data" is forbidden: maximum storage usage per '
        "PersistentVolumeClaim is 10Gi, but request is 20Gi"
    )
    claim["spec"]["resources"]["requests"]["storage"] = "5Gi"
    await run([lr], request("persistentvolumeclaims", claim, op="UPDATE", old=claim))


async def test_pod_updates_are_not_checked() -> None:
    lr = limit_range({"type": "Container", "min": {"cpu": "1"}, "default": {"cpu": "2"}})
    obj = pod(container())
    await run([lr], request("pods", obj, op="UPDATE", old=obj))
    assert obj["spec"]["containers"][0]["resources"] == {}
