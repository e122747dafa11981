"""RBAC rule matching, coverage (escalation) and the resolver's binding index."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.apiserver.authn import UserInfo
from pinnace.apiserver.authz import Attributes
from pinnace.apiserver.authz.rbac import PrivilegedGroups, RbacAuthorizer, RuleResolver
from pinnace.apiserver.authz.rules import (
    allows_path,
    allows_resource,
    compact,
    compact_string,
    uncovered,
)

Obj = dict[str, Any]


def rule(
    verbs: list[str], groups: list[str], resources: list[str], names: list[str] | None = None
) -> Obj:
    r: Obj = {"verbs": verbs, "apiGroups": groups, "resources": resources}
    if names:
        r["resourceNames"] = names
    return r


@pytest.mark.parametrize(
    ("r", "args", "ok"),
    [
        (rule(["get"], [""], ["pods"]), ("get", "", "pods", "", "x"), True),
        (rule(["get"], [""], ["pods"]), ("list", "", "pods", "", ""), False),
        (rule(["*"], ["*"], ["*"]), ("delete", "apps", "deployments", "scale", "d"), True),
        (rule(["get"], [""], ["pods"]), ("get", "", "pods", "log", "x"), False),
        (rule(["get"], [""], ["pods/log"]), ("get", "", "pods", "log", "x"), True),
        (rule(["get"], [""], ["*/log"]), ("get", "", "pods", "log", "x"), True),
        (rule(["get"], [""], ["*/log"]), ("get", "", "pods", "", "x"), False),
        (rule(["get"], ["apps"], ["pods"]), ("get", "", "pods", "", "x"), False),
        (rule(["get"], [""], ["pods"], ["a"]), ("get", "", "pods", "", "a"), True),
        (rule(["get"], [""], ["pods"], ["a"]), ("get", "", "pods", "", "b"), False),
        (rule(["list"], [""], ["pods"], ["a"]), ("list", "", "pods", "", ""), False),
    ],
)
def test_resource_rules(r: Obj, args: tuple[str, str, str, str, str], ok: bool) -> None:
    assert allows_resource(r, *args) is ok


def test_non_resource_urls() -> None:
    r = {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/apis/*"]}
    assert allows_path(r, "get", "/healthz")
    assert allows_path(r, "get", "/apis/apps/v1")
    assert not allows_path(r, "get", "/api")
    assert not allows_path(r, "post", "/healthz")
    assert allows_path({"verbs": ["*"], "nonResourceURLs": ["*"]}, "put", "/anything")


def test_coverage_and_missing_rules_text() -> None:
    owner = [rule(["get", "list"], [""], ["pods"]), rule(["*"], ["apps"], ["*/scale"])]
    assert uncovered(owner, [rule(["get"], [""], ["pods"])]) == []
    assert uncovered(owner, [rule(["update"], ["apps"], ["deployments/scale"])]) == []
    missing = uncovered(owner, [rule(["get", "create", "delete"], [""], ["pods", "secrets"])])
    texts = sorted(compact_string(m) for m in compact(missing))
    assert texts == [
        '{APIGroups:[""], Resources:["pods"], Verbs:["create" "delete"]}',
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "create" "delete"]}',
    ]
    # a rule limited to names does not cover the unnamed rule, the reverse does
    named = [rule(["get"], [""], ["pods"], ["a"])]
    assert uncovered(named, [rule(["get"], [""], ["pods"])])
    assert not uncovered([rule(["get"], [""], ["pods"])], named)
    # "*" verbs are only covered by "*"
    assert uncovered([rule(["get", "list"], [""], ["pods"])], [rule(["*"], [""], ["pods"])])


class Source:
    def __init__(self) -> None:
        self.croles: dict[str, Obj] = {}
        self.roles: dict[tuple[str, str], Obj] = {}
        self.crbs: list[Obj] = []
        self.rbs: list[Obj] = []
        self.version = 0

    def stamp(self) -> object:
        return self.version

    def cluster_role(self, name: str) -> Obj | None:
        return self.croles.get(name)

    def role(self, namespace: str, name: str) -> Obj | None:
        return self.roles.get((namespace, name))

    def cluster_role_bindings(self) -> list[Obj]:
        return self.crbs

    def role_bindings(self) -> list[Obj]:
        return self.rbs


def binding(name: str, ns: str, kind: str, role: str, subjects: list[Obj]) -> Obj:
    meta: Obj = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {"metadata": meta, "roleRef": {"kind": kind, "name": role}, "subjects": subjects}


ALICE = UserInfo("alice", ("devs", "system:authenticated"))


def attrs(user: UserInfo, verb: str, resource: str, ns: str = "", name: str = "") -> Attributes:
    return Attributes(user, verb, True, resource=resource, namespace=ns, name=name)


async def test_resolver_role_bindings_and_reason() -> None:
    src = Source()
    src.roles[("dev", "reader")] = {"rules": [rule(["get", "list"], [""], ["pods"])]}
    src.rbs.append(
        binding("alice-read", "dev", "Role", "reader", [{"kind": "User", "name": "alice"}])
    )
    authz = RbacAuthorizer(RuleResolver(src))
    decision, reason = await authz.authorize(attrs(ALICE, "list", "pods", "dev"))
    assert decision == "allow"
    assert (
        reason == 'RBAC: allowed by RoleBinding "alice-read/dev" of Role "reader" to User "alice"'
    )
    assert (await authz.authorize(attrs(ALICE, "list", "pods", "prod")))[0] == "no-opinion"
    assert (await authz.authorize(attrs(ALICE, "create", "pods", "dev")))[0] == "no-opinion"
    bob = UserInfo("bob", ("system:authenticated",))
    assert (await authz.authorize(attrs(bob, "list", "pods", "dev")))[0] == "no-opinion"


async def test_resolver_groups_service_accounts_and_refresh() -> None:
    src = Source()
    src.croles["view"] = {"rules": [rule(["get"], ["*"], ["*"])]}
    src.crbs.append(
        binding("devs-view", "", "ClusterRole", "view", [{"kind": "Group", "name": "devs"}])
    )
    # a RoleBinding's ServiceAccount subject without namespace means the binding's
    src.rbs.append(
        binding("sa", "ci", "ClusterRole", "view", [{"kind": "ServiceAccount", "name": "builder"}])
    )
    authz = RbacAuthorizer(RuleResolver(src))
    decision, reason = await authz.authorize(attrs(ALICE, "get", "secrets", "", "x"))
    assert decision == "allow" and 'to Group "devs"' in reason
    sa = UserInfo("system:serviceaccount:ci:builder", ("system:serviceaccounts",))
    decision, reason = await authz.authorize(attrs(sa, "get", "pods", "ci", "p"))
    assert decision == "allow" and 'ServiceAccount "builder/ci"' in reason
    assert (await authz.authorize(attrs(sa, "get", "pods", "other", "p")))[0] == "no-opinion"
    # changing the objects (a new stamp) is seen at once
    src.crbs.clear()
    src.version += 1
    assert (await authz.authorize(attrs(ALICE, "get", "secrets", "", "x")))[0] == "no-opinion"
    # a binding to a missing role grants nothing
    src.crbs.append(binding("x", "", "ClusterRole", "missing", [{"kind": "User", "name": "alice"}]))
    src.version += 1
    assert (await authz.authorize(attrs(ALICE, "get", "secrets", "", "x")))[0] == "no-opinion"


async def test_non_resource_only_from_cluster_bindings_and_masters() -> None:
    src = Source()
    src.croles["disc"] = {"rules": [{"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*"]}]}
    src.crbs.append(
        binding("d", "", "ClusterRole", "disc", [{"kind": "Group", "name": "system:authenticated"}])
    )
    authz = RbacAuthorizer(RuleResolver(src))
    ok = Attributes(ALICE, "get", False, path="/api/v1")
    assert (await authz.authorize(ok))[0] == "allow"
    assert (await authz.authorize(Attributes(ALICE, "get", False, path="/apis")))[0] == "no-opinion"
    admin = UserInfo("root", ("system:masters",))
    assert (await PrivilegedGroups().authorize(attrs(admin, "delete", "nodes")))[0] == "allow"
    assert (await PrivilegedGroups().authorize(attrs(ALICE, "delete", "nodes")))[0] == "no-opinion"
