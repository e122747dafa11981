"""The PodSecurity validating admission plugin (upstream's Pod Security
Admission): pods, and objects with pod templates, are checked against the
Pod Security Standards level their namespace's ``pod-security.kubernetes.io``
labels select.

- enforce: a pod that violates the level is refused (403, upstream's text);
  workload objects (Deployments, Jobs, ...) are never refused, only warned
  about and audited, as upstream does.
- warn: the violations go back as a ``Warning`` (``req.warnings``), unless
  the request is refused anyway.
- audit: the violations become audit annotations
  (``pod-security.kubernetes.io/audit-violations`` and friends), written
  into ``req.audit_annotations`` when the request carries that dict and
  always returned by ``review``.
- namespaces: invalid labels are refused (422) on create, and on update when
  they change; raising the enforce level warns about the existing pods that
  would now be refused.

Concurrency: ``review`` is synchronous and reads only in-memory state (the
namespace and pod getters are expected to read the watch cache), so it never
yields to the event loop mid-decision; ``validate`` wraps it for the chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pinnace.api.schema.validation import FieldError, aggregate_message
from pinnace.apiserver import errors
from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.admission.pod_security.config import PodSecurityConfig
from pinnace.apiserver.admission.pod_security.evaluator import Evaluator, Verdict
from pinnace.apiserver.admission.pod_security.levels import (
    AUDIT_LEVEL_LABEL,
    AUDIT_VERSION_LABEL,
    ENFORCE_LEVEL_LABEL,
    ENFORCE_VERSION_LABEL,
    LABEL_PREFIX,
    LATEST,
    WARN_LEVEL_LABEL,
    WARN_VERSION_LABEL,
    Level,
    LevelVersion,
    Policy,
    policy_from_labels,
)

Obj = dict[str, Any]

AUDIT_ANNOTATION_PREFIX = LABEL_PREFIX
ENFORCE_POLICY_KEY = "enforce-policy"
AUDIT_VIOLATIONS_KEY = "audit-violations"
EXEMPT_KEY = "exempt"
ERROR_KEY = "error"

# pod subresources that cannot change what the pod runs
IGNORED_POD_SUBRESOURCES = frozenset(
    {"exec", "attach", "binding", "eviction", "log", "portforward", "proxy", "status"}
)


def _template(obj: Obj, *path: str) -> tuple[Obj, Obj] | None:
    cur: Any = obj
    for key in path:
        cur = cur.get(key) if isinstance(cur, dict) else None
    if not isinstance(cur, dict):
        return None
    meta = cur.get("metadata")
    spec = cur.get("spec")
    return (meta if isinstance(meta, dict) else {}), (spec if isinstance(spec, dict) else {})


# (group, resource) -> where its pod template is
POD_TEMPLATE_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "replicationcontrollers"): ("spec", "template"),
    ("", "podtemplates"): ("template",),
    ("apps", "replicasets"): ("spec", "template"),
    ("apps", "deployments"): ("spec", "template"),
    ("apps", "statefulsets"): ("spec", "template"),
    ("apps", "daemonsets"): ("spec", "template"),
    ("batch", "jobs"): ("spec", "template"),
    ("batch", "cronjobs"): ("spec", "jobTemplate", "spec", "template"),
}


@dataclass(slots=True)
class Decision:
    """What the plugin decided about one request."""

    error: errors.ApiError | None = None
    warnings: list[str] = field(default_factory=list)
    # keys without the ``pod-security.kubernetes.io/`` prefix, as upstream's library
    audit_annotations: dict[str, str] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.error is None

    def prefixed_annotations(self) -> dict[str, str]:
        return {AUDIT_ANNOTATION_PREFIX + k: v for k, v in self.audit_annotations.items()}


def _exempt(reason: str) -> Decision:
    return Decision(audit_annotations={EXEMPT_KEY: reason})


def _labels(obj: Obj | None) -> dict[str, str]:
    labels = ((obj or {}).get("metadata") or {}).get("labels")
    return labels if isinstance(labels, dict) else {}


def _images(containers: Any) -> list[Any]:
    return [c.get("image") for c in containers or () if isinstance(c, dict)]


def is_significant_pod_update(pod: Obj, old: Obj) -> bool:
    """Only a change of what runs is re-checked: container counts, images,
    or an added or changed ephemeral container (upstream's rule)."""
    spec = pod.get("spec") or {}
    old_spec = old.get("spec") or {}
    for key in ("containers", "initContainers"):
        if _images(spec.get(key)) != _images(old_spec.get(key)):
            return True
    old_ephemeral = {
        c.get("name"): c.get("image")
        for c in old_spec.get("ephemeralContainers") or ()
        if isinstance(c, dict)
    }
    for c in spec.get("ephemeralContainers") or ():
        if isinstance(c, dict):
            name = c.get("name")
            if name not in old_ephemeral or old_ephemeral[name] != c.get("image"):
                return True
    return False


class PodSecurity:
    name = "PodSecurity"

    def __init__(
        self,
        get_namespace: Callable[[str], Obj | None],
        list_pods: Callable[[str], Iterable[Obj]],
        config: PodSecurityConfig | None = None,
        *,
        max_pods_to_check: int = 3000,
        evaluator: Evaluator | None = None,
    ) -> None:
        self._get_namespace = get_namespace
        self._list_pods = list_pods
        self.config = config or PodSecurityConfig()
        self.max_pods_to_check = max_pods_to_check
        self.evaluator = evaluator or Evaluator()

    # -- the admission seam ---------------------------------------------------

    async def validate(self, req: AdmissionRequest) -> None:
        d = self.review(req)
        req.warnings.extend(d.warnings)
        sink = getattr(req, "audit_annotations", None)
        if isinstance(sink, dict) and d.audit_annotations:
            sink.update(d.prefixed_annotations())
        if d.error is not None:
            raise d.error

    def review(self, req: AdmissionRequest) -> Decision:
        if req.operation not in ("CREATE", "UPDATE"):
            return Decision()
        r = req.resource
        if r.group == "" and r.plural == "namespaces":
            return self._review_namespace(req)
        if r.group == "" and r.plural == "pods":
            return self._review_pod(req)
        path = POD_TEMPLATE_PATHS.get((r.group, r.plural))
        if path is not None:
            return self._review_workload(req, path)
        return Decision()

    # -- policy -----------------------------------------------------------------

    def policy(self, labels: Mapping[str, str] | None) -> tuple[Policy, list[FieldError]]:
        return policy_from_labels(labels, self.config.defaults)

    def _exempt_namespace(self, ns: str) -> bool:
        return bool(ns) and ns in self.config.exempt_namespaces

    def _exempt_user(self, user: str) -> bool:
        return bool(user) and user in self.config.exempt_usernames

    def _exempt_runtime_class(self, spec: Obj) -> bool:
        rc = spec.get("runtimeClassName")
        return bool(rc) and rc in self.config.exempt_runtime_classes

    # -- namespaces -------------------------------------------------------------

    def _review_namespace(self, req: AdmissionRequest) -> Decision:
        if req.subresource:
            return Decision()
        obj = req.object or {}
        name = str((obj.get("metadata") or {}).get("name") or req.name)
        labels = _labels(obj)
        new_policy, new_errs = self.policy(labels)
        if req.operation == "CREATE":
            if new_errs:
                return Decision(
                    errors.invalid(req.resource, name, [e.to_cause() for e in new_errs])
                )
            if self._exempt_namespace(name):
                return self._exempt_namespace_decision(name, new_policy, labels)
            return Decision()
        old_policy, old_errs = self.policy(_labels(req.old_object))
        if new_errs and (not old_errs or new_errs != old_errs):
            return Decision(errors.invalid(req.resource, name, [e.to_cause() for e in new_errs]))
        new, old = new_policy.enforce, old_policy.enforce
        if new == old or new.level is Level.PRIVILEGED:
            return Decision()
        if new.version == old.version and new.level.rank <= old.level.rank:
            return Decision()
        if self._exempt_namespace(name):
            return self._exempt_namespace_decision(name, new_policy, labels)
        return Decision(warnings=self.check_existing_pods(name, new))

    def _exempt_namespace_decision(
        self, name: str, policy: Policy, labels: Mapping[str, str]
    ) -> Decision:
        if policy.fully_privileged() or policy.equivalent(self.config.defaults):
            return Decision()
        parts = []
        for mode, lv, level_label, version_label in (
            ("enforce", policy.enforce, ENFORCE_LEVEL_LABEL, ENFORCE_VERSION_LABEL),
            ("audit", policy.audit, AUDIT_LEVEL_LABEL, AUDIT_VERSION_LABEL),
            ("warn", policy.warn, WARN_LEVEL_LABEL, WARN_VERSION_LABEL),
        ):
            if lv.level is not Level.PRIVILEGED and (
                level_label in labels or version_label in labels
            ):
                parts.append(f"{mode}={lv}")
        return Decision(
            warnings=[
                f'namespace "{name}" is exempt from Pod Security, and the policy '
                f"({', '.join(parts)}) will be ignored"
            ]
        )

    def check_existing_pods(self, namespace: str, enforce: LevelVersion) -> list[str]:
        """Warnings for the pods in ``namespace`` the new enforce level would refuse."""
        pods = self._prioritized(list(self._list_pods(namespace)))
        total = len(pods)
        checked = pods[: self.max_pods_to_check]
        first_pod: dict[str, str] = {}
        counts: dict[str, int] = {}
        order: list[str] = []
        for pod in checked:
            meta = pod.get("metadata") or {}
            verdict = self.evaluator.evaluate(enforce, meta, pod.get("spec") or {})
            if verdict.allowed:
                continue
            reason = verdict.forbidden_reason()
            pod_name = str(meta.get("name", ""))
            if reason not in counts:
                order.append(reason)
                first_pod[reason] = pod_name
                counts[reason] = 0
            elif pod_name < first_pod[reason]:
                first_pod[reason] = pod_name
            counts[reason] += 1
        warnings = []
        if len(checked) < total:
            warnings.append(
                "new PodSecurity enforce level only checked against the first "
                f"{len(checked)} of {total} existing pods"
            )
        if order:
            warnings.append(
                f'existing pods in namespace "{namespace}" violate the new PodSecurity enforce '
                f'level "{enforce}"'
            )
        lines = []
        for reason in order:
            n = counts[reason]
            if n == 1:
                lines.append(f"{first_pod[reason]}: {reason}")
            elif n == 2:
                lines.append(f"{first_pod[reason]} (and 1 other pod): {reason}")
            else:
                lines.append(f"{first_pod[reason]} (and {n - 1} other pods): {reason}")
        return warnings + sorted(lines)

    def _prioritized(self, pods: list[Obj]) -> list[Obj]:
        """One pod per controller first, then the rest of the replicas, so a
        capped check still covers every workload; exempt pods are skipped."""
        first: list[Obj] = []
        duplicates: list[Obj] = []
        seen: set[str] = set()
        for pod in pods:
            if self._exempt_runtime_class(pod.get("spec") or {}):
                continue
            owner = next(
                (
                    o
                    for o in (pod.get("metadata") or {}).get("ownerReferences") or ()
                    if isinstance(o, dict) and o.get("controller") is True
                ),
                None,
            )
            if owner is None:
                first.append(pod)
            elif owner.get("uid") in seen:
                duplicates.append(pod)
            else:
                seen.add(str(owner.get("uid")))
                first.append(pod)
        return first + duplicates

    # -- pods and workloads -----------------------------------------------------------

    def _review_pod(self, req: AdmissionRequest) -> Decision:
        if req.subresource in IGNORED_POD_SUBRESOURCES:
            return Decision()
        if self._exempt_namespace(req.namespace):
            return _exempt("namespace")
        if self._exempt_user(req.user.name):
            return _exempt("user")
        ns = self._get_namespace(req.namespace)
        if ns is None:
            err = errors.internal(f'failed to lookup namespace "{req.namespace}"')
            return Decision(err, audit_annotations={ERROR_KEY: err.message})
        policy, policy_errs = self.policy(_labels(ns))
        if not policy_errs and policy.fully_privileged():
            return Decision(
                audit_annotations={ENFORCE_POLICY_KEY: str(LevelVersion(Level.PRIVILEGED, LATEST))}
            )
        pod = req.object or {}
        if req.operation == "UPDATE" and not is_significant_pod_update(pod, req.old_object or {}):
            return Decision()
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        return self._evaluate(req, policy, policy_errs, meta, spec, enforce=True)

    def _review_workload(self, req: AdmissionRequest, path: tuple[str, ...]) -> Decision:
        if req.subresource:
            return Decision()
        if self._exempt_namespace(req.namespace):
            return _exempt("namespace")
        if self._exempt_user(req.user.name):
            return _exempt("user")
        ns = self._get_namespace(req.namespace)
        if ns is None:
            return Decision(
                audit_annotations={
                    ERROR_KEY: f'failed to lookup namespace "{req.namespace}": '
                    f'namespaces "{req.namespace}" not found'
                }
            )
        policy, policy_errs = self.policy(_labels(ns))
        if (
            not policy_errs
            and policy.warn.level is Level.PRIVILEGED
            and policy.audit.level is Level.PRIVILEGED
        ):
            return Decision()
        template = _template(req.object or {}, *path)
        if template is None:
            return Decision()
        meta, spec = template
        return self._evaluate(req, policy, policy_errs, meta, spec, enforce=False)

    def _evaluate(
        self,
        req: AdmissionRequest,
        policy: Policy,
        policy_errs: list[FieldError],
        meta: Obj,
        spec: Obj,
        *,
        enforce: bool,
    ) -> Decision:
        if self._exempt_runtime_class(spec):
            return _exempt("runtimeClass")
        d = Decision()
        if policy_errs:
            d.audit_annotations[ERROR_KEY] = (
                f"Failed to parse policy: {aggregate_message(policy_errs)}"
            )
        results: dict[LevelVersion, Verdict] = {}

        def verdict(lv: LevelVersion) -> Verdict:
            v = results.get(lv)
            if v is None:
                v = results[lv] = self.evaluator.evaluate(lv, meta, spec)
            return v

        if enforce:
            d.audit_annotations[ENFORCE_POLICY_KEY] = str(policy.enforce)
            v = verdict(policy.enforce)
            if not v.allowed:
                d.error = self._forbidden(
                    req, f'violates PodSecurity "{policy.enforce}": {v.forbidden_detail()}'
                )
        v = verdict(policy.audit)
        if not v.allowed:
            d.audit_annotations[AUDIT_VIOLATIONS_KEY] = (
                f'would violate PodSecurity "{policy.audit}": {v.forbidden_detail()}'
            )
        if d.allowed:
            v = verdict(policy.warn)
            if not v.allowed:
                d.warnings.append(
                    f'would violate PodSecurity "{policy.warn}": {v.forbidden_detail()}'
                )
        return d

    @staticmethod
    def _forbidden(req: AdmissionRequest, message: str) -> errors.ApiError:
        r = req.resource
        name = req.name or str(((req.object or {}).get("metadata") or {}).get("name") or "")
        what = errors.qualified(r)
        details: Obj = {}
        if name:
            details["name"] = name
        if r.group:
            details["group"] = r.group
        details["kind"] = r.plural
        text = (
            f'{what} "{name}" is forbidden: {message}'
            if name
            else f"{what} is forbidden: {message}"
        )
        return errors.ApiError(403, "Forbidden", text, details)
