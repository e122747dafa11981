"""The RBAC authorizer: which rules apply to a user in a namespace, and does
one of them allow the request.

Rules come from ClusterRoleBindings (everywhere) and the RoleBindings of the
request's namespace, each pointing at a Role or ClusterRole, exactly as
upstream's rule resolver visits them; the first allowing rule wins and names
its binding in the reason (``RBAC: allowed by ClusterRoleBinding "x" of
ClusterRole "y" to User "alice"``). A request no rule allows gets no opinion
(the chain then denies it).

Built for the request hot path with thousands of bindings: the bindings are
indexed by subject (user name, group name, service-account user name) so a
request looks only at the bindings naming one of its subjects, and the rules
resolved for a (user, groups, namespace) are memoised. Both are rebuilt when
the revision stamp of the RBAC objects changes (the watch caches move it on
every write to roles or bindings). Everything runs on the event loop; there is
no locking because nothing awaits while indexing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pinnace.apiserver.authn import UserInfo
from pinnace.apiserver.authz import Attributes, Decision
from pinnace.apiserver.authz.rules import Rule, allows_path, allows_resource, go_quote

SA_PREFIX = "system:serviceaccount:"
MASTERS = "system:masters"

Obj = dict[str, Any]


class RbacSource(Protocol):
    """Where the authorizer reads RBAC objects (the API server's watch caches)."""

    def stamp(self) -> object:
        """A value that changes whenever any role or binding changes."""

    def cluster_role(self, name: str) -> Obj | None: ...

    def role(self, namespace: str, name: str) -> Obj | None: ...

    def cluster_role_bindings(self) -> list[Obj]: ...

    def role_bindings(self) -> list[Obj]:
        """Every RoleBinding in every namespace."""


@dataclass(frozen=True, slots=True)
class Grant:
    """One rule and where it came from (for the authorizer's reason)."""

    rule: Rule
    source: str


def _q(s: str) -> str:
    return go_quote(s)


def describe_subject(subject: Obj, binding_namespace: str) -> str:
    kind = str(subject.get("kind", ""))
    name = str(subject.get("name", ""))
    if kind == "ServiceAccount":
        ns = str(subject.get("namespace") or binding_namespace)
        return f"{kind} {_q(name + '/' + ns)}"
    return f"{kind} {_q(name)}"


def subject_key(subject: Obj, binding_namespace: str) -> tuple[str, str] | None:
    """The index key a subject matches: ("u", user name) or ("g", group)."""
    kind = subject.get("kind")
    name = str(subject.get("name", ""))
    if kind == "User":
        return ("u", name)
    if kind == "Group":
        return ("g", name)
    if kind == "ServiceAccount":
        ns = str(subject.get("namespace") or binding_namespace)
        if not ns:
            return None
        return ("u", f"{SA_PREFIX}{ns}:{name}")
    return None


def user_keys(user: UserInfo) -> list[tuple[str, str]]:
    return [("u", user.name), *(("g", g) for g in user.groups)]


_Entry = tuple[Obj, Obj]  # (binding, the subject that matched)


class RuleResolver:
    """Upstream's rule resolver over an indexed view of the bindings."""

    def __init__(self, source: RbacSource, memo_size: int = 4096) -> None:
        self.source = source
        self.memo_size = memo_size
        self._stamp: object = object()
        self._cluster: dict[tuple[str, str], list[_Entry]] = {}
        self._cluster_order: dict[int, int] = {}
        self._namespaced: dict[tuple[str, str, str], list[_Entry]] = {}
        self._ns_order: dict[int, int] = {}
        self._memo: dict[tuple[str, tuple[str, ...], str], list[Grant]] = {}

    def _refresh(self) -> None:
        stamp = self.source.stamp()
        if stamp == self._stamp:
            return
        self._stamp = stamp
        self._memo.clear()
        cluster: dict[tuple[str, str], list[_Entry]] = {}
        cluster_order: dict[int, int] = {}
        for i, b in enumerate(self.source.cluster_role_bindings()):
            cluster_order[id(b)] = i
            for s in b.get("subjects") or ():
                key = subject_key(s, "")
                if key is not None:
                    cluster.setdefault(key, []).append((b, s))
        namespaced: dict[tuple[str, str, str], list[_Entry]] = {}
        ns_order: dict[int, int] = {}
        for i, b in enumerate(self.source.role_bindings()):
            ns_order[id(b)] = i
            ns = str(b["metadata"].get("namespace", ""))
            for s in b.get("subjects") or ():
                key = subject_key(s, ns)
                if key is not None:
                    namespaced.setdefault((ns, *key), []).append((b, s))
        self._cluster, self._cluster_order = cluster, cluster_order
        self._namespaced, self._ns_order = namespaced, ns_order

    def _role_rules(self, ref: Obj, namespace: str) -> list[Rule] | None:
        kind, name = ref.get("kind"), str(ref.get("name", ""))
        if kind == "ClusterRole":
            role = self.source.cluster_role(name)
        elif kind == "Role" and namespace:
            role = self.source.role(namespace, name)
        else:
            return None
        if role is None:
            return None
        return list(role.get("rules") or [])

    def _matching(
        self, index: dict[Any, list[_Entry]], order: dict[int, int], keys: list[Any]
    ) -> list[_Entry]:
        """Bindings naming any of the keys, once each, in list order (the
        subject recorded is the first of the binding's subjects that applies)."""
        found: dict[int, _Entry] = {}
        for k in keys:
            for b, s in index.get(k, ()):
                if id(b) not in found:
                    found[id(b)] = (b, s)
                else:
                    prev = found[id(b)][1]
                    subjects = b.get("subjects") or []
                    if _index_of(subjects, s) < _index_of(subjects, prev):
                        found[id(b)] = (b, s)
        return sorted(found.values(), key=lambda e: order.get(id(e[0]), 0))

    def grants(self, user: UserInfo, namespace: str) -> list[Grant]:
        """Every rule that applies to the user in the namespace ("" = cluster
        scope only), cluster bindings first, each with its source."""
        self._refresh()
        memo_key = (user.name, user.groups, namespace)
        cached = self._memo.get(memo_key)
        if cached is not None:
            return cached
        out: list[Grant] = []
        keys = user_keys(user)
        for b, s in self._matching(self._cluster, self._cluster_order, keys):
            rules = self._role_rules(b.get("roleRef") or {}, "")
            if rules is None:
                continue
            ref = b.get("roleRef") or {}
            source = (
                f"ClusterRoleBinding {_q(str(b['metadata'].get('name', '')))} of "
                f"{ref.get('kind')} {_q(str(ref.get('name', '')))} to {describe_subject(s, '')}"
            )
            out.extend(Grant(r, source) for r in rules)
        if namespace:
            ns_keys = [(namespace, *k) for k in keys]
            for b, s in self._matching(self._namespaced, self._ns_order, ns_keys):
                rules = self._role_rules(b.get("roleRef") or {}, namespace)
                if rules is None:
                    continue
                ref = b.get("roleRef") or {}
                name = f"{b['metadata'].get('name', '')}/{namespace}"
                source = (
                    f"RoleBinding {_q(name)} of {ref.get('kind')} "
                    f"{_q(str(ref.get('name', '')))} to {describe_subject(s, namespace)}"
                )
                out.extend(Grant(r, source) for r in rules)
        if len(self._memo) >= self.memo_size:
            self._memo.clear()
        self._memo[memo_key] = out
        return out

    def rules_for(self, user: UserInfo, namespace: str) -> list[Rule]:
        return [g.rule for g in self.grants(user, namespace)]

    def role_ref_rules(self, ref: Obj, namespace: str) -> list[Rule] | None:
        """The rules a binding's roleRef points at (None: the role is missing)."""
        return self._role_rules(ref, namespace)


def _index_of(items: list[Obj], item: Obj) -> int:
    for i, x in enumerate(items):
        if x is item:
            return i
    return len(items)


def allows(grant_rule: Rule, attrs: Attributes) -> bool:
    if attrs.resource_request:
        return allows_resource(
            grant_rule, attrs.verb, attrs.api_group, attrs.resource, attrs.subresource, attrs.name
        )
    return allows_path(grant_rule, attrs.verb, attrs.path)


class RbacAuthorizer:
    def __init__(self, resolver: RuleResolver) -> None:
        self.resolver = resolver

    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        return self.decide(attrs)

    def decide(self, attrs: Attributes) -> tuple[Decision, str]:
        ns = attrs.namespace if attrs.resource_request else ""
        for g in self.resolver.grants(attrs.user, ns):
            if allows(g.rule, attrs):
                return "allow", f"RBAC: allowed by {g.source}"
        return "no-opinion", ""


class PrivilegedGroups:
    """Members of ``system:masters`` may do anything (upstream puts this in
    front of every other authorizer: the loopback identities rely on it)."""

    def __init__(self, groups: tuple[str, ...] = (MASTERS,)) -> None:
        self.groups = groups

    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        if any(g in self.groups for g in attrs.user.groups):
            return "allow", ""
        return "no-opinion", ""
