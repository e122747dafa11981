"""NodeRestriction: a node changes only its own Node, lease and pods."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api.resources import catalog
from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.node_restriction import NodeRestriction
from pinnace.apiserver.authn import UserInfo
from pinnace.apiserver.errors import ApiError

N1 = UserInfo("system:node:n1", ("system:nodes", "system:authenticated"))


def req(
    op: Operation,
    plural: str,
    name: str,
    *,
    group: str = "",
    ns: str = "",
    obj: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    sub: str = "",
    user: UserInfo = N1,
) -> AdmissionRequest:
    version = "v1"
    r = catalog().by_plural(group, version, plural)
    assert r is not None
    return AdmissionRequest(op, r, ns, name, obj, old, user, sub)


def pod(node: str) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"nodeName": node}}


async def test_own_node_and_lease_only() -> None:
    p = NodeRestriction()
    await p.validate(req("UPDATE", "nodes", "n1", obj={}, old={}, sub="status"))
    with pytest.raises(ApiError) as e:
        await p.validate(req("UPDATE", "nodes", "n2", obj={}, old={}, sub="status"))
    assert e.value.code == 403
    assert (
        e.value.message == 'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'
    )
    await p.validate(
        req("UPDATE", "leases", "n1", group="coordination.k8s.io", ns="kube-node-lease", obj={})
    )
    with pytest.raises(ApiError, match="can only access node lease with the same name"):
        await p.validate(
            req("UPDATE", "leases", "n2", group="coordination.k8s.io", ns="kube-node-lease", obj={})
        )


async def test_pods_bound_to_itself_only() -> None:
    p = NodeRestriction()
    await p.validate(req("UPDATE", "pods", "p", ns="d", obj=pod("n1"), old=pod("n1"), sub="status"))
    await p.validate(req("DELETE", "pods", "p", ns="d", old=pod("n1")))
    with pytest.raises(ApiError) as e:
        await p.validate(
            req("UPDATE", "pods", "p", ns="d", obj=pod("n2"), old=pod("n2"), sub="status")
        )
    assert e.value.message == (
        'pods "p" is forbidden: node "n1" can only update pod status for pods with '
        "spec.nodeName set to itself"
    )
    with pytest.raises(ApiError, match=r"can only delete pods with spec\.nodeName set to itself"):
        await p.validate(req("DELETE", "pods", "p", ns="d", old=pod("n2")))
    with pytest.raises(ApiError, match="can only create mirror pods"):
        await p.validate(req("CREATE", "pods", "p", ns="d", obj=pod("n1")))
    with pytest.raises(ApiError, match="can only create and delete mirror pods"):
        await p.validate(req("UPDATE", "pods", "p", ns="d", obj=pod("n1"), old=pod("n1")))


async def test_other_users_are_not_restricted() -> None:
    admin = UserInfo("alice", ("system:authenticated",))
    await NodeRestriction().validate(req("DELETE", "pods", "p", ns="d", old=pod("n2"), user=admin))
    agent = UserInfo("system:node-agent", ("system:nodes",))
    await NodeRestriction().validate(req("DELETE", "pods", "p", ns="d", old=pod("n2"), user=agent))
