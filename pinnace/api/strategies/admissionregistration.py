"""Strategies for admissionregistration.k8s.io/v1 webhook configurations
(upstream's ``pkg/apis/admissionregistration/validation``): fully qualified,
unique webhook names; rules (operations, groups, versions, resources with
the ``*`` and ``res/sub`` forms); side effects; the 1..30 s timeout; label
selectors; exactly one of ``url`` (https, no user, query or fragment) and
``service`` (name, namespace, port, DNS-subdomain path segments);
AdmissionReview versions.

Like upstream, an update is held to the create rules only where the old
object already met them: an object that had webhooks with side effects
``Some``/``Unknown``, unrecognised review versions or duplicate names may
keep them. CEL ``matchConditions`` are stored but not compiled here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pinnace.api import validation_common as vc
from pinnace.api.strategies._common import as_dict, as_list, validate_label_selector
from pinnace.api.strategy import FieldError, Obj, Strategy, register

GROUP = "admissionregistration.k8s.io"

SUPPORTED_OPERATIONS = ("*", "CONNECT", "CREATE", "DELETE", "UPDATE")
NO_SIDE_EFFECTS = ("None", "NoneOnDryRun")
ALL_SIDE_EFFECTS = ("None", "NoneOnDryRun", "Some", "Unknown")
ACCEPTED_REVIEW_VERSIONS = ("v1", "v1beta1")
_URL_FORM = "; desired format: https://host[/path]"


def is_fully_qualified_name(name: str, path: str) -> list[FieldError]:
    """``IsFullyQualifiedName``: a DNS subdomain of at least three labels."""
    if not name:
        return [FieldError.required(path)]
    errs = vc.is_dns1123_subdomain(name)
    if errs:
        return [FieldError.invalid(path, name, ",".join(errs))]
    if len(name.split(".")) < 3:
        return [
            FieldError.invalid(
                path, name, "should be a domain with at least three segments separated by dots"
            )
        ]
    return []


def _validate_resources(resources: list[Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not resources:
        errs.append(FieldError.required(path))
    with_wild_sub: set[str] = set()  # x/*
    sub_with_wild_res: set[str] = set()  # */x
    double_wild = single_wild = plain = False
    for i, rs in enumerate(resources):
        rs = str(rs) if rs is not None else ""
        if rs == "":
            errs.append(FieldError.required(f"{path}[{i}]"))
            continue
        double_wild = double_wild or rs == "*/*"
        single_wild = single_wild or rs == "*"
        if "/" not in rs:
            plain = rs != "*"
            continue
        res, sub = rs.split("/", 1)
        if res in with_wild_sub:
            errs.append(
                FieldError.invalid(
                    f"{path}[{i}]", rs, f"if '{res}/*' is present, must not specify {rs}"
                )
            )
        if sub in sub_with_wild_res:
            errs.append(
                FieldError.invalid(
                    f"{path}[{i}]", rs, f"if '*/{sub}' is present, must not specify {rs}"
                )
            )
        if sub == "*":
            with_wild_sub.add(res)
        if res == "*":
            sub_with_wild_res.add(sub)
    if len(resources) > 1 and double_wild:
        errs.append(
            FieldError.invalid(
                path, resources, "if '*/*' is present, must not specify other resources"
            )
        )
    if single_wild and plain:
        errs.append(
            FieldError.invalid(
                path,
                resources,
                "if '*' is present, must not specify other resources without subresources",
            )
        )
    return errs


def validate_rule(rule: Obj, path: str) -> list[FieldError]:
    """``validateRuleWithOperations`` (the scope's values are the schema's enum)."""
    errs: list[FieldError] = []
    ops = as_list(rule.get("operations"))
    if not ops:
        errs.append(FieldError.required(f"{path}.operations"))
    if len(ops) > 1 and "*" in ops:
        errs.append(
            FieldError.invalid(
                f"{path}.operations", ops, "if '*' is present, must not specify other operations"
            )
        )
    for i, op in enumerate(ops):
        if op not in SUPPORTED_OPERATIONS:
            errs.append(
                FieldError.not_supported(f"{path}.operations[{i}]", op, SUPPORTED_OPERATIONS)
            )
    groups = as_list(rule.get("apiGroups"))
    if not groups:
        errs.append(FieldError.required(f"{path}.apiGroups"))
    if len(groups) > 1 and "*" in groups:
        errs.append(
            FieldError.invalid(
                f"{path}.apiGroups", groups, "if '*' is present, must not specify other API groups"
            )
        )
    versions = as_list(rule.get("apiVersions"))
    if not versions:
        errs.append(FieldError.required(f"{path}.apiVersions"))
    if len(versions) > 1 and "*" in versions:
        errs.append(
            FieldError.invalid(
                f"{path}.apiVersions",
                versions,
                "if '*' is present, must not specify other API versions",
            )
        )
    for i, v in enumerate(versions):
        if not v:
            errs.append(FieldError.required(f"{path}.apiVersions[{i}]"))
    errs += _validate_resources(as_list(rule.get("resources")), f"{path}.resources")
    return errs


def validate_webhook_url(url: str, path: str) -> list[FieldError]:
    """``ValidateWebhookURL`` with https forced."""
    try:
        u = urlsplit(url)
        host = u.netloc.rpartition("@")[2]
    except ValueError as e:
        return [FieldError.required(path, f"url must be a valid URL: {e}{_URL_FORM}")]
    errs: list[FieldError] = []
    if u.scheme != "https":
        errs.append(
            FieldError.invalid(path, u.scheme, "'https' is the only allowed URL scheme" + _URL_FORM)
        )
    if not host:
        errs.append(FieldError.invalid(path, host, "host must be provided" + _URL_FORM))
    if "@" in u.netloc:
        errs.append(
            FieldError.invalid(
                path, u.netloc.rpartition("@")[0], "user information is not permitted in the URL"
            )
        )
    if u.fragment:
        errs.append(FieldError.invalid(path, u.fragment, "fragments are not permitted in the URL"))
    if u.query:
        errs.append(
            FieldError.invalid(path, u.query, "query parameters are not permitted in the URL")
        )
    return errs


def validate_webhook_service(svc: Obj, path: str) -> list[FieldError]:
    """``ValidateWebhookService``."""
    errs: list[FieldError] = []
    if not svc.get("name"):
        errs.append(FieldError.required(f"{path}.name", "service name is required"))
    if not svc.get("namespace"):
        errs.append(FieldError.required(f"{path}.namespace", "service namespace is required"))
    port = svc.get("port", 443)
    if isinstance(port, int) and not isinstance(port, bool):
        bad = vc.is_valid_port_num(port)
        if bad:
            errs.append(
                FieldError.invalid(f"{path}.port", port, "port is not valid: " + ", ".join(bad))
            )
    url_path = svc.get("path")
    if not isinstance(url_path, str) or url_path in ("", "/"):
        return errs
    if url_path == "//":
        return [*errs, FieldError.invalid(f"{path}.path", url_path, "segment[0] may not be empty")]
    if not url_path.startswith("/"):
        errs.append(FieldError.invalid(f"{path}.path", url_path, "must start with a '/'"))
    check = url_path[1:]
    if check.endswith("/"):
        check = check[:-1]
    for i, step in enumerate(check.split("/")):
        if not step:
            errs.append(
                FieldError.invalid(f"{path}.path", url_path, f"segment[{i}] may not be empty")
            )
            continue
        for failure in vc.is_dns1123_subdomain(step):
            errs.append(FieldError.invalid(f"{path}.path", url_path, f"segment[{i}]: {failure}"))
    return errs


def validate_review_versions(
    versions: list[Any], require_known: bool, path: str
) -> list[FieldError]:
    """``validateAdmissionReviewVersions``."""
    if not versions:
        return [
            FieldError.required(path, "must specify one of " + ", ".join(ACCEPTED_REVIEW_VERSIONS))
        ]
    errs: list[FieldError] = []
    seen: set[str] = set()
    known = False
    for i, v in enumerate(versions):
        v = str(v)
        if v in seen:
            errs.append(FieldError.invalid(f"{path}[{i}]", v, "duplicate version"))
            continue
        seen.add(v)
        errs += [FieldError.invalid(f"{path}[{i}]", v, m) for m in vc.is_dns1035_label(v)]
        known = known or v in ACCEPTED_REVIEW_VERSIONS
    if require_known and not known:
        errs.append(
            FieldError.invalid(
                path,
                versions,
                "must include at least one of " + ", ".join(ACCEPTED_REVIEW_VERSIONS),
            )
        )
    return errs


def validate_webhook(hook: Obj, path: str, no_side_effects: bool) -> list[FieldError]:
    """One ``MutatingWebhook``/``ValidatingWebhook`` (enums are the schema's)."""
    errs: list[FieldError] = []
    name = hook.get("name")
    if isinstance(name, str) and name:  # a missing name is the schema's Required
        errs += is_fully_qualified_name(name, f"{path}.name")
    for i, rule in enumerate(as_list(hook.get("rules"))):
        errs += validate_rule(as_dict(rule), f"{path}.rules[{i}]")
    allowed = NO_SIDE_EFFECTS if no_side_effects else ALL_SIDE_EFFECTS
    side = hook.get("sideEffects")
    if side is None or side == "":
        errs.append(
            FieldError.required(f"{path}.sideEffects", "must specify one of " + ", ".join(allowed))
        )
    elif side not in allowed:
        errs.append(FieldError.not_supported(f"{path}.sideEffects", side, allowed))
    timeout = hook.get("timeoutSeconds")
    if isinstance(timeout, int) and not isinstance(timeout, bool) and not 1 <= timeout <= 30:
        errs.append(
            FieldError.invalid(
                f"{path}.timeoutSeconds",
                timeout,
                "the timeout value must be between 1 and 30 seconds",
            )
        )
    for sel in ("namespaceSelector", "objectSelector"):
        errs += validate_label_selector(hook.get(sel), f"{path}.{sel}")
    cc = as_dict(hook.get("clientConfig"))
    url, svc = cc.get("url"), cc.get("service")
    if (url is None) == (svc is None):
        errs.append(
            FieldError.required(f"{path}.clientConfig", "exactly one of url or service is required")
        )
    elif url is not None:
        errs += validate_webhook_url(str(url), f"{path}.clientConfig.url")
    else:
        errs += validate_webhook_service(as_dict(svc), f"{path}.clientConfig.service")
    return errs


def _all_no_side_effects(hooks: list[Any]) -> bool:
    return all(as_dict(h).get("sideEffects") in NO_SIDE_EFFECTS for h in hooks)


def _all_known_versions(hooks: list[Any]) -> bool:
    for h in hooks:
        versions = as_list(as_dict(h).get("admissionReviewVersions"))
        if versions and not any(v in ACCEPTED_REVIEW_VERSIONS for v in versions):
            return False
    return True


def _unique_names(hooks: list[Any]) -> bool:
    names = [as_dict(h).get("name") for h in hooks]
    return len(names) == len(set(names))


class _WebhookConfiguration(Strategy):
    """Both kinds validate alike; the mutating one's reinvocationPolicy is an
    enum the schema checks."""

    def validate(self, obj: Obj) -> list[FieldError]:
        return self._validate(obj, no_side_effects=True, known_versions=True, unique=True)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        old_hooks = as_list(old.get("webhooks"))
        return self._validate(
            new,
            no_side_effects=_all_no_side_effects(old_hooks),
            known_versions=_all_known_versions(old_hooks),
            unique=_unique_names(old_hooks),
        )

    def _validate(
        self, obj: Obj, *, no_side_effects: bool, known_versions: bool, unique: bool
    ) -> list[FieldError]:
        errs: list[FieldError] = []
        names: set[str] = set()
        for i, hook in enumerate(as_list(obj.get("webhooks"))):
            hook = as_dict(hook)
            path = f"webhooks[{i}]"
            errs += validate_webhook(hook, path, no_side_effects)
            errs += validate_review_versions(
                as_list(hook.get("admissionReviewVersions")),
                known_versions,
                f"{path}.admissionReviewVersions",
            )
            name = hook.get("name")
            if unique and isinstance(name, str) and name:
                if name in names:
                    errs.append(FieldError.duplicate(f"{path}.name", name))
                names.add(name)
        return errs


@register(GROUP, "MutatingWebhookConfiguration")
class MutatingWebhookConfigurationStrategy(_WebhookConfiguration):
    pass


@register(GROUP, "ValidatingWebhookConfiguration")
class ValidatingWebhookConfigurationStrategy(_WebhookConfiguration):
    pass
