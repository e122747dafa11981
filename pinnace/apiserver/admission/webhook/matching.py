"""Which webhooks a request goes to (upstream's ``webhook/predicates``):

- rules: operation, API group, API version and resource (``*``, ``pods``,
  ``pods/status``, ``pods/*``, ``*/status``, ``*/*``) and scope (``Cluster``,
  ``Namespaced``, ``*``; a Namespace is cluster-scoped); under matchPolicy
  Equivalent a rule may also match the same objects served at another
  version or group (HPA autoscaling/v1 and v2, core and events.k8s.io
  Events): the webhook is then sent that version (``Invocation.resource``);
- ``namespaceSelector`` against the labels of the object's namespace (a
  Namespace is judged by its own labels; other cluster-scoped objects always
  match); a namespace that does not exist is a 404 when the rules match;
- ``objectSelector`` against the labels of the new or the old object;
- the webhook configuration kinds themselves are never sent to webhooks, so
  a broken webhook cannot lock its own fix out.

Pure functions over the ``AdmissionRequest`` and ``Hook``; no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from pinnace.api.resources import catalog
from pinnace.api.schema import Resource
from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.admission.webhook.hooks import Hook
from pinnace.apiserver.errors import not_found_plain

Obj = dict[str, Any]
GetNamespace = Callable[[str], Obj | None]

ADMISSION_GROUP = "admissionregistration.k8s.io"
EXEMPT_RESOURCES = frozenset(
    {
        "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations",
        "validatingadmissionpolicies",
        "validatingadmissionpolicybindings",
        "mutatingadmissionpolicies",
        "mutatingadmissionpolicybindings",
    }
)


def is_exempt(req: AdmissionRequest) -> bool:
    """Admission configuration objects are never sent to webhooks."""
    return req.resource.group == ADMISSION_GROUP and req.resource.plural in EXEMPT_RESOURCES


def _is_namespace(req: AdmissionRequest) -> bool:
    return req.resource.group == "" and req.resource.plural == "namespaces"


def _resource_matches(resources: list[Any], plural: str, sub: str) -> bool:
    if not sub:
        return "*" in resources or plural in resources
    return any(r in resources for r in ("*/*", f"{plural}/{sub}", f"*/{sub}", f"{plural}/*"))


@dataclass(frozen=True, slots=True)
class Invocation:
    """A webhook to call and the version of the resource it is sent."""

    hook: Hook
    resource: Resource


def rule_matches(rule: Obj, req: AdmissionRequest, resource: Resource | None = None) -> bool:
    """One ``RuleWithOperations`` against the request (as ``resource``, an
    equivalent of the request's, when given)."""
    ops = rule.get("operations") or []
    if "*" not in ops and req.operation not in ops:
        return False
    r = resource or req.resource
    groups = rule.get("apiGroups") or []
    if "*" not in groups and r.group not in groups:
        return False
    versions = rule.get("apiVersions") or []
    if "*" not in versions and r.version not in versions:
        return False
    if not _resource_matches(rule.get("resources") or [], r.plural, req.subresource):
        return False
    scope = rule.get("scope") or "*"
    namespaced = r.namespaced and not _is_namespace(req)
    if scope == "Cluster":
        return not namespaced
    if scope == "Namespaced":
        return namespaced
    return True


def rules_match(hook: Hook, req: AdmissionRequest, resource: Resource | None = None) -> bool:
    return any(rule_matches(rule, req, resource) for rule in hook.rules)


@cache
def _storage_groups() -> dict[tuple[str, str], tuple[Resource, ...]]:
    out: dict[tuple[str, str], list[Resource]] = {}
    for r in catalog().resources:
        out.setdefault((r.storage_group or "", r.storage_resource), []).append(r)
    return {k: tuple(v) for k, v in out.items()}


def equivalents(resource: Resource) -> tuple[Resource, ...]:
    """The other group/versions serving the same stored objects."""
    same = _storage_groups().get((resource.storage_group or "", resource.storage_resource), ())
    return tuple(r for r in same if r is not resource and r.kind == resource.kind)


def matched_resource(hook: Hook, req: AdmissionRequest) -> Resource | None:
    """The resource version ``hook``'s rules accept this request as, if any."""
    if rules_match(hook, req):
        return req.resource
    if hook.match_policy == "Equivalent":
        for e in equivalents(req.resource):
            if rules_match(hook, req, e):
                return e
    return None


def _labels(obj: Obj | None) -> dict[str, str] | None:
    if not isinstance(obj, dict):
        return None
    labels = (obj.get("metadata") or {}).get("labels")
    return labels if isinstance(labels, dict) else {}


def namespace_labels(req: AdmissionRequest, get_namespace: GetNamespace) -> dict[str, str] | None:
    """The labels a namespaceSelector is matched against; None when the
    selector does not apply (cluster-scoped objects other than Namespaces).
    Raises the 404 upstream answers when the namespace does not exist."""
    if _is_namespace(req):
        if req.object is not None and not req.subresource:
            return _labels(req.object) or {}
        ns = get_namespace(req.name)
        if ns is None and req.old_object is not None:
            ns = req.old_object
        if ns is None:
            raise not_found_plain(f'namespaces "{req.name}" not found')
        return _labels(ns) or {}
    if not req.resource.namespaced:
        return None
    ns = get_namespace(req.namespace)
    if ns is None:
        raise not_found_plain(f'namespaces "{req.namespace}" not found')
    return _labels(ns) or {}


def namespace_matches(hook: Hook, req: AdmissionRequest, get_namespace: GetNamespace) -> bool:
    sel = hook.namespace_selector
    if sel is None:
        return False
    if sel.empty():
        return True
    labels = namespace_labels(req, get_namespace)
    return labels is None or sel.matches(labels)


def object_matches(hook: Hook, req: AdmissionRequest) -> bool:
    sel = hook.object_selector
    if sel is None:
        return False
    if sel.empty():
        return True
    for obj in (req.object, req.old_object):
        labels = _labels(obj)
        if labels is not None and sel.matches(labels):
            return True
    return False


def invocation(hook: Hook, req: AdmissionRequest, get_namespace: GetNamespace) -> Invocation | None:
    """How ``hook`` gets this request, or None when it does not. A missing
    namespace is only an error for a webhook that would otherwise be called,
    so it is looked up last."""
    resource = matched_resource(hook, req)
    if resource is None:
        return None
    if object_matches(hook, req) and namespace_matches(hook, req, get_namespace):
        return Invocation(hook, resource)
    return None


def should_call(hook: Hook, req: AdmissionRequest, get_namespace: GetNamespace) -> bool:
    return invocation(hook, req, get_namespace) is not None
