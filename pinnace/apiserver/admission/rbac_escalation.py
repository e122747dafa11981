"""RBAC escalation prevention: nobody can grant permissions they do not hold.

Creating or changing a Role/ClusterRole is allowed when the user is in
``system:masters``, may ``escalate`` on that resource, or already holds every
rule the role grants (in the role's namespace). Creating or changing a
binding is allowed when the user is in ``system:masters``, may ``bind`` the
referenced role, or already holds every rule of the referenced role. The
refusal is upstream's 403: ``roles.rbac.authorization.k8s.io "r" is
forbidden: user "alice" (groups=["system:authenticated"]) is attempting to
grant RBAC permissions not currently held:`` followed by the missing rules.

Upstream does this in the RBAC registry strategies; here it is a validating
admission step for the four RBAC resources, so it sees the final object
after defaulting and the other plugins."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pinnace.apiserver import errors
from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.authz import Attributes, Decision
from pinnace.apiserver.authz.rbac import MASTERS, RuleResolver
from pinnace.apiserver.authz.rules import (
    compact,
    compact_string,
    go_quote,
    go_quote_list,
    uncovered,
)

GROUP = "rbac.authorization.k8s.io"
ROLES = ("roles", "clusterroles")
BINDINGS = ("rolebindings", "clusterrolebindings")

Authorize = Callable[[Attributes], Awaitable[tuple[Decision, str]]]


class RbacEscalation:
    name = "RBACEscalation"

    def __init__(self, resolver: RuleResolver, authorize: Authorize) -> None:
        self.resolver = resolver
        self.authorize = authorize

    async def validate(self, req: AdmissionRequest) -> None:
        r = req.resource
        if r.group != GROUP or req.operation not in ("CREATE", "UPDATE") or req.subresource:
            return
        if r.plural not in ROLES + BINDINGS or req.object is None:
            return
        if MASTERS in req.user.groups:
            return
        obj: dict[str, Any] = req.object
        old = req.old_object
        if r.plural in ROLES:
            if old is not None and (old.get("rules") or []) == (obj.get("rules") or []):
                return
            if await self._allowed("escalate", r.plural, req.namespace, req.name, req):
                return
            self._confirm(req, list(obj.get("rules") or []))
            return
        ref = obj.get("roleRef") or {}
        if (
            old is not None
            and old.get("roleRef") == ref
            and old.get("subjects") == obj.get("subjects")
        ):
            return
        ref_plural = "clusterroles" if ref.get("kind") == "ClusterRole" else "roles"
        if await self._allowed("bind", ref_plural, req.namespace, str(ref.get("name", "")), req):
            return
        rules = self.resolver.role_ref_rules(ref, req.namespace)
        if rules is None:
            what = "clusterrole" if ref.get("kind") == "ClusterRole" else "role"
            raise errors.forbidden_object(
                r.plural,
                GROUP,
                req.name,
                f'{what}.rbac.authorization.k8s.io "{ref.get("name", "")}" not found',
            )
        self._confirm(req, rules)

    async def _allowed(
        self, verb: str, plural: str, namespace: str, name: str, req: AdmissionRequest
    ) -> bool:
        attrs = Attributes(
            req.user,
            verb,
            True,
            api_group=GROUP,
            api_version="*",
            resource=plural,
            namespace=namespace,
            name=name,
        )
        decision, _ = await self.authorize(attrs)
        return decision == "allow"

    def _confirm(self, req: AdmissionRequest, rules: list[dict[str, Any]]) -> None:
        owner = self.resolver.rules_for(req.user, req.namespace)
        missing = uncovered(owner, rules)
        if not missing:
            return
        lines = sorted({compact_string(m) for m in compact(missing)})
        message = (
            f"user {go_quote(req.user.name)} (groups={go_quote_list(req.user.groups)}) is attempting "
            "to grant RBAC permissions not currently held:\n" + "\n".join(lines)
        )
        raise errors.forbidden_object(req.resource.plural, GROUP, req.name, message)
