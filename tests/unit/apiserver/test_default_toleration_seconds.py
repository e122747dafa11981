"""DefaultTolerationSeconds: 300 s not-ready/unreachable tolerations for pods."""

from __future__ import annotations

from typing import Any

from pinnace.api.resources import catalog
from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.admission.default_toleration_seconds import DefaultTolerationSeconds
from pinnace.apiserver.authn import UserInfo

PODS = next(r for r in catalog().resources if r.group == "" and r.plural == "pods")
USER = UserInfo("u", ())


async def admit(tolerations: list[Any] | None, subresource: str = "") -> Any:
    obj: Any = {"spec": {"containers": []}}
    if tolerations is not None:
        obj["spec"]["tolerations"] = tolerations
    req = AdmissionRequest("CREATE", PODS, "ns", "p", obj, None, USER, subresource)
    await DefaultTolerationSeconds().admit(req)
    return obj["spec"].get("tolerations")


async def test_adds_both() -> None:
    assert await admit(None) == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300},
    ]  # fmt: skip


async def test_keeps_existing() -> None:
    mine = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 2}
    out = await admit([mine])
    assert out[0] == mine
    assert [t["key"] for t in out] == [
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/not-ready",
    ]
    everything = [{"operator": "Exists"}]
    assert await admit(everything) == everything
    no_schedule = [
        {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule", "operator": "Exists"}
    ]
    assert len(await admit(no_schedule)) == 3


async def test_subresources_untouched() -> None:
    assert await admit(None, subresource="status") is None
