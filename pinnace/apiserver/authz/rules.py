"""RBAC policy rules as plain data: does a rule allow a request, does one set
of rules cover another (the escalation check), and the compact text form of a
rule that error messages print.

Pure functions over ``rbac.authorization.k8s.io/v1`` ``PolicyRule`` dicts with
upstream's semantics (``*`` wildcards, ``*/subresource`` and
``resource/subresource`` entries, resource names restricting only requests
that name an object, non-resource URL prefixes ending in ``*``). Nothing here
knows where rules come from; :mod:`pinnace.apiserver.authz.rbac` resolves
them for a user.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

Rule = dict[str, Any]

ALL = "*"


def _has(items: Sequence[str] | None, value: str) -> bool:
    return bool(items) and value in items  # type: ignore[operator]


def verb_matches(rule: Rule, verb: str) -> bool:
    verbs = rule.get("verbs") or ()
    return ALL in verbs or verb in verbs


def group_matches(rule: Rule, group: str) -> bool:
    groups = rule.get("apiGroups") or ()
    return ALL in groups or group in groups


def resource_matches(rule: Rule, resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for r in rule.get("resources") or ():
        if r == ALL or r == combined:
            return True
        if subresource and r == "*/" + subresource:
            return True
    return False


def name_matches(rule: Rule, name: str) -> bool:
    names = rule.get("resourceNames") or ()
    if not names:
        return True
    return name in names


def url_matches(rule: Rule, path: str) -> bool:
    for u in rule.get("nonResourceURLs") or ():
        if u == ALL or u == path:
            return True
        if u.endswith("*") and path.startswith(u[:-1]):
            return True
    return False


def allows_resource(
    rule: Rule, verb: str, group: str, resource: str, subresource: str, name: str
) -> bool:
    return (
        verb_matches(rule, verb)
        and group_matches(rule, group)
        and resource_matches(rule, resource, subresource)
        and name_matches(rule, name)
    )


def allows_path(rule: Rule, verb: str, path: str) -> bool:
    return verb_matches(rule, verb) and url_matches(rule, path)


# -- coverage (escalation prevention) ---------------------------------------------


def breakdown(rule: Rule) -> list[Rule]:
    """One rule per (group, resource, verb[, name]) and per (URL, verb):
    the units in which one rule set is checked against another."""
    out: list[Rule] = []
    verbs = rule.get("verbs") or []
    names = rule.get("resourceNames") or []
    for g in rule.get("apiGroups") or []:
        for r in rule.get("resources") or []:
            for v in verbs:
                if names:
                    for n in names:
                        out.append(
                            {"verbs": [v], "apiGroups": [g], "resources": [r], "resourceNames": [n]}
                        )
                else:
                    out.append({"verbs": [v], "apiGroups": [g], "resources": [r]})
    for u in rule.get("nonResourceURLs") or []:
        for v in verbs:
            out.append({"verbs": [v], "nonResourceURLs": [u]})
    return out


def _has_all(owner: Sequence[str], wanted: Sequence[str]) -> bool:
    return all(w in owner for w in wanted)


def _resources_cover(owner: Sequence[str], wanted: Sequence[str]) -> bool:
    if ALL in owner or _has_all(owner, wanted):
        return True
    for path in wanted:
        if path in owner:
            continue
        if "/" not in path:
            return False
        if "*/" + path.split("/", 1)[1] not in owner:
            return False
    return True


def _url_covers(owner: str, path: str) -> bool:
    return owner == path or (owner.endswith("*") and path.startswith(owner.rstrip("*")))


def _urls_cover(owner: Sequence[str], wanted: Sequence[str]) -> bool:
    return all(any(_url_covers(o, w) for o in owner) for w in wanted)


def rule_covers(owner: Rule, sub: Rule) -> bool:
    o_verbs = owner.get("verbs") or []
    o_groups = owner.get("apiGroups") or []
    o_names = owner.get("resourceNames") or []
    s_names = sub.get("resourceNames") or []
    verbs_ok = ALL in o_verbs or _has_all(o_verbs, sub.get("verbs") or [])
    groups_ok = ALL in o_groups or _has_all(o_groups, sub.get("apiGroups") or [])
    resources_ok = _resources_cover(owner.get("resources") or [], sub.get("resources") or [])
    urls_ok = _urls_cover(owner.get("nonResourceURLs") or [], sub.get("nonResourceURLs") or [])
    if not s_names:
        names_ok = not o_names
    else:
        names_ok = not o_names or _has_all(o_names, s_names)
    return verbs_ok and groups_ok and resources_ok and names_ok and urls_ok


def uncovered(owner: Iterable[Rule], wanted: Iterable[Rule]) -> list[Rule]:
    """The broken-down parts of ``wanted`` no rule of ``owner`` covers."""
    owner = list(owner)
    return [
        sub for w in wanted for sub in breakdown(w) if not any(rule_covers(o, sub) for o in owner)
    ]


def compact(rules: Iterable[Rule]) -> list[Rule]:
    """Merge broken-down rules that differ only in their verb (as the
    escalation error lists what is missing)."""
    merged: dict[tuple[tuple[str, ...], ...], Rule] = {}
    for r in rules:
        key = tuple(
            tuple(r.get(k) or ())
            for k in ("apiGroups", "resources", "resourceNames", "nonResourceURLs")
        )
        if key in merged:
            verbs = merged[key]["verbs"]
            verbs.extend(v for v in r.get("verbs") or [] if v not in verbs)
        else:
            merged[key] = {**r, "verbs": list(r.get("verbs") or [])}
    return list(merged.values())


def go_quote(s: str) -> str:
    """Go's ``%q`` of a string (JSON quoting agrees for the names RBAC holds)."""
    return json.dumps(s)


def go_quote_list(items: Sequence[str]) -> str:
    """Go's ``%q`` of a string slice: ``["a" "b"]``."""
    return "[" + " ".join(go_quote(i) for i in items) + "]"


def compact_string(rule: Rule) -> str:
    """A rule the way upstream prints it in errors:
    ``{APIGroups:[""], Resources:["pods"], Verbs:["create"]}``."""
    parts = []
    for key, label in (
        ("apiGroups", "APIGroups"),
        ("resources", "Resources"),
        ("nonResourceURLs", "NonResourceURLs"),
        ("resourceNames", "ResourceNames"),
        ("verbs", "Verbs"),
    ):
        values = rule.get(key) or []
        if values:
            parts.append(f"{label}:{go_quote_list(values)}")
    return "{" + ", ".join(parts) + "}"
