"""The audit policy (``audit.k8s.io/v1`` ``Policy``): parsing the file given
to ``--audit-policy-file`` and deciding, per request, at which level it is
recorded and which stages are left out.

Semantics follow kube-apiserver: rules are tried in order and the first that
matches decides; no match means level ``None``. A rule matches when every
field it sets matches (users, userGroups, verbs; then either resources and
namespaces for resource requests, or nonResourceURLs for the others). The
policy's ``omitStages`` are added to every rule's, and a rule's
``omitManagedFields`` (when set) overrides the policy's.

A file that cannot be used is refused with :class:`PolicyError`, whose message
names the file and each bad field (upstream's validation rules and texts), so
the server refuses to start instead of auditing less than asked.

Concurrency model: pure data and functions; the file is read once at start-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pinnace.apiserver.authn import UserInfo

__all__ = [
    "LEVELS",
    "STAGES",
    "AuditAttributes",
    "GroupResources",
    "Policy",
    "PolicyError",
    "PolicyRule",
    "RequestAuditConfig",
    "evaluate",
    "load_policy",
    "parse_policy",
]

LEVELS = ("None", "Metadata", "Request", "RequestResponse")
STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
_GROUP_VERSIONS = ("audit.k8s.io/v1", "audit.k8s.io/v1beta1", "audit.k8s.io/v1alpha1")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class PolicyError(Exception):
    """The policy file cannot be used; the message says why and where."""


@dataclass(frozen=True, slots=True)
class GroupResources:
    group: str = ""
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PolicyRule:
    level: str
    users: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    resources: tuple[GroupResources, ...] = ()
    namespaces: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    rules: tuple[PolicyRule, ...]
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool = False


@dataclass(frozen=True, slots=True)
class RequestAuditConfig:
    """What the policy says about one request."""

    level: str
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool = False


@dataclass(frozen=True, slots=True)
class AuditAttributes:
    """The request as the policy sees it. ``user`` is None when authentication
    failed (rules naming users or groups then never match)."""

    user: UserInfo | None
    verb: str
    resource_request: bool
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""


# --------------------------------------------------------------------------
# evaluation


def evaluate(policy: Policy, attrs: AuditAttributes) -> RequestAuditConfig:
    """The first matching rule's level and stages; level None when none matches."""
    for rule in policy.rules:
        if _rule_matches(rule, attrs):
            omit_mf = (
                policy.omit_managed_fields
                if rule.omit_managed_fields is None
                else rule.omit_managed_fields
            )
            return RequestAuditConfig(rule.level, rule.omit_stages | policy.omit_stages, omit_mf)
    return RequestAuditConfig("None", policy.omit_stages, policy.omit_managed_fields)


def _rule_matches(rule: PolicyRule, attrs: AuditAttributes) -> bool:
    user = attrs.user
    if rule.users and (user is None or user.name not in rule.users):
        return False
    if rule.user_groups and (user is None or not any(g in rule.user_groups for g in user.groups)):
        return False
    if rule.verbs and attrs.verb not in rule.verbs:
        return False
    if rule.namespaces or rule.resources:
        return _matches_resource(rule, attrs)
    if rule.non_resource_urls:
        return not attrs.resource_request and any(
            _path_matches(attrs.path, spec) for spec in rule.non_resource_urls
        )
    return True


def _path_matches(path: str, spec: str) -> bool:
    if spec in ("*", path):
        return True
    return spec.endswith("*") and path.startswith(spec.rstrip("*"))


def _matches_resource(rule: PolicyRule, attrs: AuditAttributes) -> bool:
    if not attrs.resource_request:
        return False
    if rule.namespaces and attrs.namespace not in rule.namespaces:
        return False  # cluster-scoped resources have namespace ""
    if not rule.resources:
        return True
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    for gr in rule.resources:
        if gr.group != attrs.api_group:
            continue
        if not gr.resources:
            return True
        if gr.resource_names and attrs.name not in gr.resource_names:
            continue
        for res in gr.resources:
            if res in ("*", combined):
                return True
            if attrs.subresource and res.startswith("*/") and res[2:] == attrs.subresource:
                return True
            if res.endswith("/*") and res[:-2] == attrs.resource:
                return True
    return False


# --------------------------------------------------------------------------
# parsing


def load_policy(path: str | Path) -> Policy:
    """Read and check the policy file; :class:`PolicyError` when it is unusable."""
    try:
        text = Path(path).read_bytes()
    except OSError as e:
        raise PolicyError(f'failed to read file path "{path}": {e.strerror or e}') from e
    try:
        return parse_policy(text)
    except PolicyError as e:
        raise PolicyError(f"{e}: from file {path}") from e


def parse_policy(text: bytes | str) -> Policy:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise PolicyError(f"failed decoding: {e}") from e
    if not isinstance(doc, dict):
        raise PolicyError("failed decoding: the policy is not a YAML or JSON object")
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if api_version not in _GROUP_VERSIONS or kind != "Policy":
        raise PolicyError(
            f"unknown group version field {api_version or ''}, Kind={kind or ''} in policy "
            f"(want apiVersion audit.k8s.io/v1, kind Policy)"
        )
    errs: list[str] = []
    raw_rules = doc.get("rules") or []
    if not isinstance(raw_rules, list):
        raise PolicyError("failed decoding: rules: must be a list")
    rules = [_parse_rule(r, f"rules[{i}]", errs) for i, r in enumerate(raw_rules)]
    omit = _stages(doc.get("omitStages"), "omitStages", errs)
    omit_mf = doc.get("omitManagedFields", False)
    if not isinstance(omit_mf, bool):
        errs.append(f"omitManagedFields: Invalid value: {omit_mf!r}: must be true or false")
    if errs:
        raise PolicyError(errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]")
    if not rules:
        raise PolicyError("loaded illegal policy with 0 rules")
    return Policy(tuple(r for r in rules if r is not None), omit, bool(omit_mf))


def _strings(v: Any, where: str, errs: list[str]) -> tuple[str, ...]:
    if v is None:
        return ()
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        errs.append(f"{where}: Invalid value: {v!r}: must be a list of strings")
        return ()
    return tuple(v)


def _stages(v: Any, where: str, errs: list[str]) -> frozenset[str]:
    out = _strings(v, where, errs)
    for i, s in enumerate(out):
        if s not in STAGES:
            errs.append(
                f'{where}[{i}]: Invalid value: "{s}": allowed stages are {",".join(STAGES)}'
            )
    return frozenset(out)


def _parse_rule(raw: Any, where: str, errs: list[str]) -> PolicyRule | None:
    if not isinstance(raw, dict):
        errs.append(f"{where}: Invalid value: {raw!r}: must be an object")
        return None
    level = raw.get("level") or ""
    if not level:
        errs.append(f"{where}.level: Required value")
    elif level not in LEVELS:
        supported = ", ".join(f'"{x}"' for x in LEVELS)
        errs.append(f'{where}.level: Unsupported value: "{level}": supported values: {supported}')
    urls = _strings(raw.get("nonResourceURLs"), f"{where}.nonResourceURLs", errs)
    for i, url in enumerate(urls):
        if url == "*":
            continue
        if not url.startswith("/"):
            errs.append(
                f'{where}.nonResourceURLs[{i}]: Invalid value: "{url}": '
                "non-resource URL rules must begin with a '/' character"
            )
        if url and "*" in url[:-1]:
            errs.append(
                f'{where}.nonResourceURLs[{i}]: Invalid value: "{url}": '
                "non-resource URL wildcards '*' must be the final character of the rule"
            )
    resources = _parse_resources(raw.get("resources"), f"{where}.resources", errs)
    namespaces = _strings(raw.get("namespaces"), f"{where}.namespaces", errs)
    if urls and (resources or namespaces):
        errs.append(
            f"{where}.nonResourceURLs: Invalid value: {list(urls)!r}: "
            "rules cannot apply to both regular resources and non-resource URLs"
        )
    omit_mf = raw.get("omitManagedFields")
    if omit_mf is not None and not isinstance(omit_mf, bool):
        errs.append(f"{where}.omitManagedFields: Invalid value: {omit_mf!r}: must be true or false")
        omit_mf = None
    return PolicyRule(
        level=level,
        users=_strings(raw.get("users"), f"{where}.users", errs),
        user_groups=_strings(raw.get("userGroups"), f"{where}.userGroups", errs),
        verbs=_strings(raw.get("verbs"), f"{where}.verbs", errs),
        resources=resources,
        namespaces=namespaces,
        non_resource_urls=urls,
        omit_stages=_stages(raw.get("omitStages"), f"{where}.omitStages", errs),
        omit_managed_fields=omit_mf,
    )


def _parse_resources(v: Any, where: str, errs: list[str]) -> tuple[GroupResources, ...]:
    if v is None:
        return ()
    if not isinstance(v, list):
        errs.append(f"{where}: Invalid value: {v!r}: must be a list")
        return ()
    out: list[GroupResources] = []
    for gr in v:
        if not isinstance(gr, dict):
            errs.append(f"{where}: Invalid value: {gr!r}: must be an object")
            continue
        group = gr.get("group") or ""
        if not isinstance(group, str) or (group and not _DNS_SUBDOMAIN.match(group)):
            errs.append(
                f'{where}.group: Invalid value: "{group}": a lowercase RFC 1123 subdomain must '
                "consist of lower case alphanumeric characters, '-' or '.', and must start and "
                "end with an alphanumeric character"
            )
            continue
        resources = _strings(gr.get("resources"), f"{where}.resources", errs)
        names = _strings(gr.get("resourceNames"), f"{where}.resourceNames", errs)
        if names and not resources:
            errs.append(
                f"{where}.resourceNames: Invalid value: {list(names)!r}: "
                "using resourceNames requires at least one resource"
            )
        out.append(GroupResources(group, resources, names))
    return tuple(out)
