"""Strategies for rbac.authorization.k8s.io/v1 (``pkg/apis/rbac/v1/defaults.go``,
``pkg/apis/rbac/validation``): rule shape, role references, subjects, the
immutable roleRef. Names only need to be path segments.
"""

from __future__ import annotations

from typing import ClassVar

from pinnace.api import validation_common as vc
from pinnace.api.strategies._common import as_dict, as_list, validate_label_selector
from pinnace.api.strategy import FieldError, Obj, Strategy, register

GROUP = "rbac.authorization.k8s.io"
SUBJECT_KINDS = ("ServiceAccount", "User", "Group")


class _Role(Strategy):
    name_validator: ClassVar[str] = "path"
    namespaced_rules: ClassVar[bool] = True

    def validate(self, obj: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        for i, rule in enumerate(as_list(obj.get("rules"))):
            errs += _validate_rule(as_dict(rule), self.namespaced_rules, f"rules[{i}]")
        return errs


def _validate_rule(rule: Obj, namespaced: bool, path: str) -> list[FieldError]:
    """``ValidatePolicyRule`` (missing verbs are reported by the schema)."""
    errs: list[FieldError] = []
    urls = as_list(rule.get("nonResourceURLs"))
    if urls:
        if namespaced:
            errs.append(
                FieldError.invalid(
                    f"{path}.nonResourceURLs",
                    urls,
                    "namespaced rules cannot apply to non-resource URLs",
                )
            )
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            errs.append(
                FieldError.invalid(
                    f"{path}.nonResourceURLs",
                    urls,
                    "rules cannot apply to both regular resources and non-resource URLs",
                )
            )
        return errs
    if not rule.get("apiGroups"):
        errs.append(
            FieldError.required(
                f"{path}.apiGroups", "resource rules must supply at least one api group"
            )
        )
    if not rule.get("resources"):
        errs.append(
            FieldError.required(
                f"{path}.resources", "resource rules must supply at least one resource"
            )
        )
    return errs


@register(GROUP, "Role")
class RoleStrategy(_Role):
    pass


@register(GROUP, "ClusterRole")
class ClusterRoleStrategy(_Role):
    namespaced_rules = False

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        agg = obj.get("aggregationRule")
        if isinstance(agg, dict):
            for i, sel in enumerate(as_list(agg.get("clusterRoleSelectors"))):
                errs += validate_label_selector(sel, f"aggregationRule.clusterRoleSelectors[{i}]")
        return errs


class _Binding(Strategy):
    name_validator: ClassVar[str] = "path"
    role_kinds: ClassVar[tuple[str, ...]] = ("Role", "ClusterRole")
    namespaced: ClassVar[bool] = True

    def default(self, obj: Obj) -> None:
        ref = obj.get("roleRef")
        if isinstance(ref, dict) and not ref.get("apiGroup"):
            ref["apiGroup"] = GROUP
        for s in as_list(obj.get("subjects")):
            if isinstance(s, dict) and not s.get("apiGroup"):
                if s.get("kind") == "ServiceAccount":
                    s["apiGroup"] = ""
                elif s.get("kind") in ("User", "Group"):
                    s["apiGroup"] = GROUP

    def validate(self, obj: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        ref = as_dict(obj.get("roleRef"))
        if ref.get("apiGroup") and ref["apiGroup"] != GROUP:
            errs.append(FieldError.not_supported("roleRef.apiGroup", ref["apiGroup"], [GROUP]))
        kind = ref.get("kind")
        if kind and kind not in self.role_kinds:
            errs.append(FieldError.not_supported("roleRef.kind", kind, self.role_kinds))
        name = ref.get("name")
        if isinstance(name, str) and name:
            errs += [
                FieldError.invalid("roleRef.name", name, m)
                for m in vc.is_valid_path_segment_name(name)
            ]
        for i, s in enumerate(as_list(obj.get("subjects"))):
            errs += _validate_subject(as_dict(s), self.namespaced, f"subjects[{i}]")
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        if new.get("roleRef") != old.get("roleRef"):
            errs.append(FieldError.invalid("roleRef", new.get("roleRef"), "cannot change roleRef"))
        return errs


def _validate_subject(s: Obj, namespaced: bool, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name = s.get("name") or ""
    kind = s.get("kind")
    group = s.get("apiGroup") or ""
    if kind == "ServiceAccount":
        if name:
            errs += [
                FieldError.invalid(f"{path}.name", name, m) for m in vc.is_dns1123_subdomain(name)
            ]
        if group:
            errs.append(FieldError.not_supported(f"{path}.apiGroup", group, [""]))
        if not namespaced and not s.get("namespace"):
            errs.append(FieldError.required(f"{path}.namespace"))
    elif kind in ("User", "Group"):
        if group != GROUP:
            errs.append(FieldError.not_supported(f"{path}.apiGroup", group, [GROUP]))
    elif kind:
        errs.append(FieldError.not_supported(f"{path}.kind", kind, SUBJECT_KINDS))
    return errs


@register(GROUP, "RoleBinding")
class RoleBindingStrategy(_Binding):
    pass


@register(GROUP, "ClusterRoleBinding")
class ClusterRoleBindingStrategy(_Binding):
    role_kinds = ("ClusterRole",)
    namespaced = False
