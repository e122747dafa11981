"""Creates and keeps up to date the default RBAC policy at server start, as
kube-apiserver's RBAC post-start hook does: missing roles and bindings are
created; existing ones annotated ``rbac.authorization.kubernetes.io/autoupdate``
(anything but ``"false"``) get the rules, aggregation selectors and subjects
they lack added (never removed, so an admin's additions survive). An object
whose autoupdate annotation is ``"false"`` is left alone.

Runs once per start, before the server answers requests; with several API
servers sharing storage a losing create (409) or update conflict is retried
by ``guaranteed_update`` or is simply someone else's identical work."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pinnace.apiserver import errors
from pinnace.apiserver.authz import bootstrap_policy as policy
from pinnace.apiserver.authz.rules import uncovered

if TYPE_CHECKING:
    from pinnace.apiserver.registry import RequestContext, ResourceStore

log = logging.getLogger("pinnace.apiserver.rbac")

GROUP = "rbac.authorization.k8s.io"
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
Obj = dict[str, Any]


def _wanted() -> list[tuple[str, str, Obj]]:
    """(plural, namespace, object) for every default object, roles first."""
    out: list[tuple[str, str, Obj]] = []
    out += [("clusterroles", "", o) for o in policy.cluster_roles()]
    out += [("clusterroles", "", o) for o in policy.pinnace_cluster_roles()]
    for ns_roles in (policy.namespace_roles(), policy.pinnace_namespace_roles()):
        for ns, roles in ns_roles.items():
            out += [("roles", ns, o) for o in roles]
    out += [("clusterrolebindings", "", o) for o in policy.cluster_role_bindings()]
    out += [("clusterrolebindings", "", o) for o in policy.pinnace_cluster_role_bindings()]
    for ns_bindings in (policy.namespace_role_bindings(), policy.pinnace_namespace_role_bindings()):
        for ns, bindings in ns_bindings.items():
            out += [("rolebindings", ns, o) for o in bindings]
    return out


def _reconciled(current: Obj, want: Obj, plural: str) -> Obj | None:
    """The object with what it lacks added, or None when it lacks nothing."""
    if (current.get("metadata", {}).get("annotations") or {}).get(AUTOUPDATE) == "false":
        return None
    new = copy.deepcopy(current)
    changed = False
    if plural in ("clusterroles", "roles"):
        if want.get("aggregationRule"):
            have = (new.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
            for sel in want["aggregationRule"].get("clusterRoleSelectors") or []:
                if sel not in have:
                    have.append(copy.deepcopy(sel))
                    changed = True
            if changed:
                new["aggregationRule"] = {"clusterRoleSelectors": have}
        else:
            rules = list(new.get("rules") or [])
            for rule in want.get("rules") or []:
                if uncovered(rules, [rule]):
                    rules.append(copy.deepcopy(rule))
                    changed = True
            new["rules"] = rules
    else:
        subjects = list(new.get("subjects") or [])
        for s in want.get("subjects") or []:
            if s not in subjects:
                subjects.append(copy.deepcopy(s))
                changed = True
        new["subjects"] = subjects
    for k, v in ((want.get("metadata") or {}).get("labels") or {}).items():
        if (new["metadata"].get("labels") or {}).get(k) != v:
            new["metadata"].setdefault("labels", {})[k] = v
            changed = True
    return new if changed else None


async def ensure_bootstrap_policy(
    store: Callable[[str], ResourceStore], ctx_factory: Callable[[], RequestContext]
) -> None:
    created = updated = 0
    for plural, ns, want in _wanted():
        s = store(plural)
        name = want["metadata"]["name"]
        entry = s.cache.get_entry(s.key(ns, name))
        if entry is None:
            try:
                await s.create(ns, copy.deepcopy(want), ctx_factory())
                created += 1
            except errors.ApiError as e:
                if e.code != 409:
                    raise
            continue
        if _reconciled(entry.obj(), want, plural) is None:
            continue

        async def mutate(current: Obj, want: Obj = want, plural: str = plural) -> Obj:
            new = _reconciled(current, want, plural)
            return new if new is not None else current

        await s.guaranteed_update(ns, name, mutate, ctx_factory())
        updated += 1
    if created or updated:
        log.info("RBAC bootstrap policy: %d objects created, %d updated", created, updated)
