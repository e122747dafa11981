"""Strategies for workload kinds (apps/v1 and batch/v1): conditional defaults
(``pkg/apis/apps/v1/defaults.go``, ``pkg/apis/batch/v1/defaults.go``), the
Job's generated selector (``pkg/registry/batch/job/strategy.go``) and
validation with upstream's messages (``pkg/apis/apps/validation``,
``pkg/apis/batch/validation``).
"""

from __future__ import annotations

import copy
import re
from typing import Any, ClassVar

from pinnace.api import validation_common as vc
from pinnace.api.strategies import cron, podspec
from pinnace.api.strategies._common import (
    INT32_MAX,
    as_dict,
    as_list,
    dig,
    int_or_percent_value,
    is_int,
    nonneg,
    not_more_than_100_percent,
    positive_int_or_percent,
    selector_is_empty,
    validate_label_selector,
    validate_selector_matches_template,
)
from pinnace.api.strategies.core import validate_always_restart
from pinnace.api.strategy import FIELD_IMMUTABLE, FieldError, Obj, Strategy, invalid, register

# -- shared --------------------------------------------------------------------------


def _validate_selector(spec: Obj, kind: str) -> list[FieldError]:
    """Selector present (the schema reports a missing one), valid and non-empty."""
    sel = spec.get("selector")
    if not isinstance(sel, dict):
        return []
    errs = validate_label_selector(sel, "spec.selector")
    if selector_is_empty(sel):
        errs.append(
            FieldError.invalid("spec.selector", sel, f"empty selector is invalid for {kind}")
        )
    return errs


def _validate_status_counts(status: Obj, fields: tuple[str, ...]) -> list[FieldError]:
    errs: list[FieldError] = []
    for f in (*fields, "observedGeneration", "collisionCount"):
        errs += nonneg(status.get(f), f"status.{f}")
    replicas = status.get("replicas")
    if is_int(replicas):
        for f in fields:
            v = status.get(f)
            # a Deployment's unavailableReplicas counts pods its ReplicaSets want
            # but do not have yet, so it may exceed status.replicas (upstream
            # does not bound it)
            if f not in ("replicas", "unavailableReplicas") and is_int(v) and v > replicas:
                errs.append(
                    FieldError.invalid(f"status.{f}", v, "cannot be greater than status.replicas")
                )
    return errs


def _available_within_ready(status: Obj) -> list[FieldError]:
    """Deployments and ReplicaSets: an available pod is a ready one."""
    available, ready = status.get("availableReplicas"), status.get("readyReplicas")
    if is_int(available) and is_int(ready) and available > ready:
        return [
            FieldError.invalid(
                "status.availableReplicas", available, "cannot be greater than readyReplicas"
            )
        ]
    return []


def _collision_decremented(new: Obj, old: Obj) -> list[FieldError]:
    n, o = dig(new, "status", "collisionCount"), dig(old, "status", "collisionCount")
    if is_int(o) and (n is None or (is_int(n) and n < o)):
        return [FieldError.invalid("status.collisionCount", n or 0, "cannot be decremented")]
    return []


class _Workload(Strategy):
    tracks_generation: ClassVar[bool] = True
    status_resets_labels: ClassVar[bool] = True
    status_fields: ClassVar[tuple[str, ...]] = ()

    def default(self, obj: Obj) -> None:
        podspec.default_template(dig(obj, "spec", "template"))

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        ns, os_ = as_dict(new.get("spec")), as_dict(old.get("spec"))
        if ns.get("selector") != os_.get("selector"):
            errs.append(invalid("spec.selector", ns.get("selector"), FIELD_IMMUTABLE))
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = _validate_status_counts(as_dict(new.get("status")), self.status_fields)
        return errs + _collision_decremented(new, old)


def _validate_rs_template(spec: Obj, kind: str) -> list[FieldError]:
    """``ValidatePodTemplateSpecForReplicaSet``."""
    template = spec.get("template")
    if not isinstance(template, dict):
        return []
    errs = validate_selector_matches_template(spec.get("selector"), template, "spec.template")
    errs += podspec.validate_pod_template_spec(template, "spec.template")
    errs += validate_always_restart(template, "spec.template", kind)
    return errs


# -- Deployment -------------------------------------------------------------------------


@register("apps", "Deployment")
class DeploymentStrategy(_Workload):
    status_fields = (
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
    )

    def default(self, obj: Obj) -> None:
        super().default(obj)
        strategy = dig(obj, "spec", "strategy")
        if isinstance(strategy, dict) and strategy.get("type") == "RollingUpdate":
            ru = strategy.get("rollingUpdate")
            if not isinstance(ru, dict):
                ru = strategy["rollingUpdate"] = {}
            ru.setdefault("maxUnavailable", "25%")
            ru.setdefault("maxSurge", "25%")

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs = nonneg(spec.get("replicas"), "spec.replicas")
        errs += _validate_selector(spec, "deployment")
        # upstream reuses the ReplicaSet template checks (and their wording)
        errs += _validate_rs_template(spec, "ReplicaSet")
        errs += _validate_deployment_strategy(as_dict(spec.get("strategy")))
        errs += nonneg(spec.get("minReadySeconds"), "spec.minReadySeconds")
        errs += nonneg(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
        pds = spec.get("progressDeadlineSeconds")
        if is_int(pds):
            errs += nonneg(pds, "spec.progressDeadlineSeconds")
            if pds <= (spec.get("minReadySeconds") or 0):
                errs.append(
                    FieldError.invalid(
                        "spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"
                    )
                )
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_status_update(new, old)
        return errs + _available_within_ready(as_dict(new.get("status")))


def _validate_deployment_strategy(strategy: Obj) -> list[FieldError]:
    stype = strategy.get("type")
    ru = strategy.get("rollingUpdate")
    if stype == "Recreate":
        if ru is not None:
            return [
                FieldError.forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                )
            ]
        return []
    if stype == "RollingUpdate":
        if not isinstance(ru, dict):
            return [
                FieldError.required(
                    "spec.strategy.rollingUpdate", "this should be defaulted and never be nil"
                )
            ]
        p = "spec.strategy.rollingUpdate"
        mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
        errs = positive_int_or_percent(mu, f"{p}.maxUnavailable")
        errs += positive_int_or_percent(ms, f"{p}.maxSurge")
        if int_or_percent_value(mu) == 0 and int_or_percent_value(ms) == 0:
            errs.append(
                FieldError.invalid(f"{p}.maxUnavailable", mu, "may not be 0 when `maxSurge` is 0")
            )
        errs += not_more_than_100_percent(mu, f"{p}.maxUnavailable")
        return errs
    return [FieldError.not_supported("spec.strategy", strategy, ["Recreate", "RollingUpdate"])]


# -- ReplicaSet ---------------------------------------------------------------------------


@register("apps", "ReplicaSet")
class ReplicaSetStrategy(_Workload):
    status_fields = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs = nonneg(spec.get("replicas"), "spec.replicas")
        errs += nonneg(spec.get("minReadySeconds"), "spec.minReadySeconds")
        # upstream's message says "deployment" here too
        errs += _validate_selector(spec, "deployment")
        errs += _validate_rs_template(spec, "ReplicaSet")
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_status_update(new, old)
        return errs + _available_within_ready(as_dict(new.get("status")))


# -- StatefulSet ----------------------------------------------------------------------------

STATEFULSET_UPDATE_FORBIDDEN = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
    "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
)
_STS_MUTABLE = (
    "replicas",
    "template",
    "updateStrategy",
    "minReadySeconds",
    "ordinals",
    "persistentVolumeClaimRetentionPolicy",
)


@register("apps", "StatefulSet")
class StatefulSetStrategy(_Workload):
    name_validator: ClassVar[str] = "label"
    status_fields = (
        "replicas",
        "readyReplicas",
        "currentReplicas",
        "updatedReplicas",
        "availableReplicas",
    )

    def default(self, obj: Obj) -> None:
        super().default(obj)
        for t in as_list(dig(obj, "spec", "volumeClaimTemplates")):
            spec = as_dict(t).get("spec")
            if isinstance(spec, dict) and not spec.get("volumeMode"):
                spec["volumeMode"] = "Filesystem"

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs: list[FieldError] = []
        pmp = spec.get("podManagementPolicy") or ""
        if not pmp:
            errs.append(FieldError.required("spec.podManagementPolicy"))
        elif pmp not in ("OrderedReady", "Parallel"):
            errs.append(
                FieldError.invalid(
                    "spec.podManagementPolicy", pmp, "must be 'OrderedReady' or 'Parallel'"
                )
            )
        us = as_dict(spec.get("updateStrategy"))
        utype = us.get("type") or ""
        ru = us.get("rollingUpdate")
        if not utype:
            errs.append(FieldError.required("spec.updateStrategy"))
        elif utype == "OnDelete":
            if ru is not None:
                errs.append(
                    FieldError.invalid(
                        "spec.updateStrategy.rollingUpdate",
                        ru,
                        "only allowed for updateStrategy 'RollingUpdate'",
                    )
                )
        elif utype == "RollingUpdate":
            if isinstance(ru, dict):
                p = "spec.updateStrategy.rollingUpdate"
                errs += nonneg(ru.get("partition"), f"{p}.partition")
                mu = ru.get("maxUnavailable")
                if mu is not None:
                    errs += positive_int_or_percent(mu, f"{p}.maxUnavailable")
                    if int_or_percent_value(mu) == 0:
                        errs.append(FieldError.invalid(f"{p}.maxUnavailable", mu, "cannot be 0"))
                    errs += not_more_than_100_percent(mu, f"{p}.maxUnavailable")
        else:
            errs.append(
                FieldError.invalid(
                    "spec.updateStrategy", us, "must be 'RollingUpdate' or 'OnDelete'"
                )
            )
        policy = as_dict(spec.get("persistentVolumeClaimRetentionPolicy"))
        for f in ("whenDeleted", "whenScaled"):
            v = policy.get(f)
            if f in policy and v not in ("Retain", "Delete"):
                errs.append(
                    FieldError.not_supported(
                        f"spec.persistentVolumeClaimRetentionPolicy.{f}", v, ["Retain", "Delete"]
                    )
                )
        errs += nonneg(spec.get("replicas"), "spec.replicas")
        errs += nonneg(spec.get("minReadySeconds"), "spec.minReadySeconds")
        errs += nonneg(dig(spec, "ordinals", "start"), "spec.ordinals.start")
        errs += _validate_selector(spec, "statefulset")
        template = spec.get("template")
        if isinstance(template, dict):
            # upstream checks only the template's metadata for StatefulSets
            errs += validate_selector_matches_template(
                spec.get("selector"), template, "spec.template"
            )
            meta = as_dict(template.get("metadata"))
            errs += vc.validate_labels(as_dict(meta.get("labels")), "spec.template.labels")
            errs += vc.validate_annotations(
                as_dict(meta.get("annotations")), "spec.template.annotations"
            )
            tspec = as_dict(template.get("spec"))
            rp = tspec.get("restartPolicy")
            if rp != "Always":
                errs.append(
                    FieldError.not_supported("spec.template.spec.restartPolicy", rp, ["Always"])
                )
            if tspec.get("activeDeadlineSeconds") is not None:
                errs.append(
                    FieldError.forbidden(
                        "spec.template.spec.activeDeadlineSeconds",
                        "activeDeadlineSeconds in StatefulSet is not Supported",
                    )
                )
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        ns = {k: v for k, v in as_dict(new.get("spec")).items() if k not in _STS_MUTABLE}
        os_ = {k: v for k, v in as_dict(old.get("spec")).items() if k not in _STS_MUTABLE}
        if ns != os_:
            errs.append(FieldError.forbidden("spec", STATEFULSET_UPDATE_FORBIDDEN))
        return errs


# -- DaemonSet -----------------------------------------------------------------------------


@register("apps", "DaemonSet")
class DaemonSetStrategy(_Workload):
    status_fields = (
        "currentNumberScheduled",
        "numberMisscheduled",
        "desiredNumberScheduled",
        "numberReady",
        "updatedNumberScheduled",
        "numberAvailable",
        "numberUnavailable",
    )

    def default(self, obj: Obj) -> None:
        super().default(obj)
        us = dig(obj, "spec", "updateStrategy")
        if isinstance(us, dict) and us.get("type") == "RollingUpdate":
            ru = us.get("rollingUpdate")
            if not isinstance(ru, dict):
                ru = us["rollingUpdate"] = {}
            ru.setdefault("maxUnavailable", 1)
            ru.setdefault("maxSurge", 0)

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs = validate_label_selector(spec.get("selector"), "spec.selector")
        template = spec.get("template")
        if isinstance(template, dict):
            errs += validate_selector_matches_template(
                spec.get("selector"), template, "spec.template", skip_empty=False
            )
        sel = spec.get("selector")
        if isinstance(sel, dict) and selector_is_empty(sel):
            errs.append(
                FieldError.invalid("spec.selector", sel, "empty selector is invalid for daemonset")
            )
        if isinstance(template, dict):
            errs += podspec.validate_pod_template_spec(template, "spec.template")
            errs += validate_always_restart(template, "spec.template", "DaemonSet")
        errs += nonneg(spec.get("minReadySeconds"), "spec.minReadySeconds")
        errs += _validate_ds_update_strategy(as_dict(spec.get("updateStrategy")))
        errs += nonneg(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
        return errs


def _validate_ds_update_strategy(us: Obj) -> list[FieldError]:
    p = "spec.updateStrategy"
    utype = us.get("type")
    if utype == "OnDelete":
        return []
    if utype != "RollingUpdate":
        return [FieldError.not_supported(p, us, ["RollingUpdate", "OnDelete"])]
    ru = us.get("rollingUpdate")
    if not isinstance(ru, dict):
        return [FieldError.required(f"{p}.rollingUpdate")]
    p += ".rollingUpdate"
    mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
    errs = positive_int_or_percent(mu, f"{p}.maxUnavailable")
    errs += positive_int_or_percent(ms, f"{p}.maxSurge")
    errs += not_more_than_100_percent(mu, f"{p}.maxUnavailable")
    errs += not_more_than_100_percent(ms, f"{p}.maxSurge")
    has_u, has_s = int_or_percent_value(mu) != 0, int_or_percent_value(ms) != 0
    if has_u and has_s:
        errs.append(
            FieldError.invalid(
                f"{p}.maxSurge", ms, "may not be set when maxUnavailable is non-zero"
            )
        )
    elif not has_u and not has_s:
        errs.append(FieldError.required(f"{p}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    return errs


# -- ControllerRevision ------------------------------------------------------------------------


@register("apps", "ControllerRevision")
class ControllerRevisionStrategy(Strategy):
    def validate(self, obj: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        if obj.get("data") is None:
            errs.append(FieldError.required("data", "data is mandatory"))
        errs += nonneg(obj.get("revision"), "revision")
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        errs += vc.validate_immutable(new.get("data"), old.get("data"), "data")
        return errs


# -- Job -------------------------------------------------------------------------------------

CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
LEGACY_CONTROLLER_UID = "controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_JOB_NAME = "job-name"
MAX_INDEXED_COMPLETIONS = 100000
COMPLETION_MODES = ("NonIndexed", "Indexed")
POD_REPLACEMENT_POLICIES = ("TerminatingOrFailed", "Failed")


def default_job_spec(spec: Obj) -> None:
    """``SetDefaults_Job`` for the spec."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = INT32_MAX if spec.get("backoffLimitPerIndex") is not None else 6
    if spec.get("completionMode") is None:
        spec["completionMode"] = "NonIndexed"
    if spec.get("suspend") is None:
        spec["suspend"] = False
    pfp = spec.get("podFailurePolicy")
    if isinstance(pfp, dict):
        for rule in as_list(pfp.get("rules")):
            for pat in as_list(as_dict(rule).get("onPodConditions")):
                if isinstance(pat, dict) and not pat.get("status"):
                    pat["status"] = "True"
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if pfp is not None else "TerminatingOrFailed"
    if spec.get("manualSelector") is None:
        spec["manualSelector"] = False


@register("batch", "Job")
class JobStrategy(Strategy):
    tracks_generation: ClassVar[bool] = True

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        spec = obj.get("spec")
        if isinstance(spec, dict) and not spec.get("manualSelector"):
            generate_selector(obj)

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        default_job_spec(spec)
        labels = dig(spec, "template", "metadata", "labels")
        if isinstance(labels, dict) and labels and not obj["metadata"].get("labels"):
            obj["metadata"]["labels"] = dict(labels)
        podspec.default_template(spec.get("template"))

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs = validate_job_spec(spec, "spec")
        sel = spec.get("selector")
        if sel is None:
            errs.append(FieldError.required("spec.selector"))
        else:
            errs += validate_label_selector(sel, "spec.selector")
            template = spec.get("template")
            if isinstance(template, dict):
                errs += validate_selector_matches_template(
                    sel, template, "spec.template", skip_empty=False
                )
        errs += _validate_generated_selector(obj)
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        ns, os_ = as_dict(new.get("spec")), as_dict(old.get("spec"))
        for f in (
            "selector",
            "completionMode",
            "podFailurePolicy",
            "backoffLimitPerIndex",
            "manualSelector",
        ):
            errs += vc.validate_immutable(ns.get(f), os_.get(f), f"spec.{f}")
        if ns.get("completions") != os_.get("completions"):
            elastic = (
                ns.get("completionMode") == "Indexed"
                and ns.get("completions") == ns.get("parallelism")
                and os_.get("completions") == os_.get("parallelism")
            )
            if not elastic:
                errs.append(
                    FieldError.invalid("spec.completions", ns.get("completions"), FIELD_IMMUTABLE)
                )
        nt, ot = ns.get("template"), os_.get("template")
        if nt != ot:
            suspended_unstarted = os_.get("suspend") and not dig(old, "status", "startTime")
            if not (suspended_unstarted and _only_scheduling_changed(nt, ot)):
                errs.append(FieldError.invalid("spec.template", nt, FIELD_IMMUTABLE))
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        st = as_dict(new.get("status"))
        errs: list[FieldError] = []
        for f in ("active", "succeeded", "failed", "ready", "terminating"):
            errs += nonneg(st.get(f), f"status.{f}")
        return errs


def _only_scheduling_changed(new: Any, old: Any) -> bool:
    """A suspended Job that never started may change its pods' scheduling
    directives (node selector, affinity, tolerations, scheduling gates,
    labels and annotations)."""
    a, b = copy.deepcopy(as_dict(new)), copy.deepcopy(as_dict(old))
    for t in (a, b):
        t.setdefault("metadata", {})
        for f in ("labels", "annotations"):
            as_dict(t["metadata"]).pop(f, None)
        spec = as_dict(t.get("spec"))
        for f in ("nodeSelector", "affinity", "tolerations", "schedulingGates"):
            spec.pop(f, None)
    return a == b


def generate_selector(obj: Obj) -> None:
    """The Job strategy's ``generateSelector``: label the pod template with the
    Job's name and uid and select on the uid."""
    meta = obj["metadata"]
    name, uid = str(meta.get("name") or ""), str(meta.get("uid") or "")
    spec = obj["spec"]
    template = spec.get("template")
    if not isinstance(template, dict):
        return
    tmeta = template.get("metadata")
    if not isinstance(tmeta, dict):
        tmeta = template["metadata"] = {}
    labels = tmeta.get("labels")
    if not isinstance(labels, dict):
        labels = tmeta["labels"] = {}
    for key in (LEGACY_JOB_NAME, JOB_NAME):
        labels.setdefault(key, name)
    for key in (LEGACY_CONTROLLER_UID, CONTROLLER_UID):
        labels.setdefault(key, uid)
    sel = spec.get("selector")
    if not isinstance(sel, dict):
        sel = spec["selector"] = {}
    ml = sel.get("matchLabels")
    if not isinstance(ml, dict):
        ml = sel["matchLabels"] = {}
    ml.setdefault(CONTROLLER_UID, uid)


def _has_label(meta: Obj, key: str, expected: str, path: str) -> list[FieldError]:
    """``ValidateHasLabel``."""
    actual = as_dict(meta.get("labels")).get(key)
    if actual is None:
        return [FieldError.required(f"{path}.labels[{key}]", f"must be '{expected}'")]
    if actual != expected:
        return [FieldError.invalid(f"{path}.labels[{key}]", actual, f"must be '{expected}'")]
    return []


def _validate_generated_selector(obj: Obj) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    if spec.get("manualSelector") or spec.get("selector") is None:
        return []
    meta = obj["metadata"]
    uid, name = str(meta.get("uid") or ""), str(meta.get("name") or "")
    errs: list[FieldError] = []
    if not uid:
        errs.append(FieldError.required("metadata.uid"))
    tmeta = as_dict(dig(spec, "template", "metadata"))
    p = "spec.template.metadata"
    for key, value in (
        (LEGACY_CONTROLLER_UID, uid),
        (LEGACY_JOB_NAME, name),
        (CONTROLLER_UID, uid),
        (JOB_NAME, name),
    ):
        errs += _has_label(tmeta, key, value, p)
    if spec["selector"] != {"matchLabels": {CONTROLLER_UID: uid}}:
        errs.append(
            FieldError.invalid("spec.selector", spec["selector"], "`selector` not auto-generated")
        )
    return errs


def validate_job_spec(spec: Obj, path: str) -> list[FieldError]:
    """``validateJobSpec``: counts, completion mode, the pod template."""
    errs: list[FieldError] = []
    for f in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit"):
        errs += nonneg(spec.get(f), f"{path}.{f}")
    errs += nonneg(spec.get("ttlSecondsAfterFinished"), f"{path}.ttlSecondsAfterFinished")
    mode = spec.get("completionMode")
    if mode is not None and mode not in COMPLETION_MODES:
        errs.append(FieldError.not_supported(f"{path}.completionMode", mode, COMPLETION_MODES))
    if mode == "Indexed":
        comp = spec.get("completions")
        if comp is None:
            errs.append(
                FieldError.required(f"{path}.completions", "when completion mode is Indexed")
            )
        elif is_int(comp) and comp > MAX_INDEXED_COMPLETIONS:
            errs.append(
                FieldError.invalid(
                    f"{path}.completions",
                    comp,
                    f"must be less than or equal to {MAX_INDEXED_COMPLETIONS} when completion "
                    "mode is Indexed",
                )
            )
    elif spec.get("backoffLimitPerIndex") is not None:
        errs.append(
            FieldError.required(
                f"{path}.completionMode",
                "when backoffLimitPerIndex is specified, completionMode must be Indexed",
            )
        )
    prp = spec.get("podReplacementPolicy")
    if prp is not None and prp not in POD_REPLACEMENT_POLICIES:
        errs.append(
            FieldError.not_supported(f"{path}.podReplacementPolicy", prp, POD_REPLACEMENT_POLICIES)
        )
    template = spec.get("template")
    if isinstance(template, dict):
        errs += podspec.validate_pod_template_spec(template, f"{path}.template")
        rp = dig(template, "spec", "restartPolicy")
        if rp not in ("OnFailure", "Never"):
            errs.append(
                FieldError.not_supported(
                    f"{path}.template.spec.restartPolicy", rp, ["OnFailure", "Never"]
                )
            )
        elif rp == "OnFailure" and spec.get("podFailurePolicy") is not None:
            errs.append(
                FieldError.invalid(
                    f"{path}.template.spec.restartPolicy",
                    rp,
                    'only "Never" is supported when podFailurePolicy is specified',
                )
            )
    return errs


# -- CronJob ----------------------------------------------------------------------------------

CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
_tz_chars = re.compile(r"^[A-Za-z\.\-_0-9+]{1,14}$")


@register("batch", "CronJob")
class CronJobStrategy(Strategy):
    tracks_generation: ClassVar[bool] = True

    def default(self, obj: Obj) -> None:
        podspec.default_template(dig(obj, "spec", "jobTemplate", "spec", "template"))

    def validate(self, obj: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        name = obj["metadata"].get("name") or ""
        if len(name) > 52:
            errs.append(
                FieldError.invalid("metadata.name", name, "must be no more than 52 characters")
            )
        spec = as_dict(obj.get("spec"))
        schedule = spec.get("schedule")
        if isinstance(schedule, str) and schedule:
            problem = cron.parse_error(schedule)
            if problem is not None:
                errs.append(FieldError.invalid("spec.schedule", schedule, problem))
            if "TZ" in schedule:
                errs.append(
                    FieldError.invalid(
                        "spec.schedule",
                        schedule,
                        "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                    )
                )
        errs += _validate_time_zone(spec.get("timeZone"))
        policy = spec.get("concurrencyPolicy") or ""
        if not policy:
            errs.append(FieldError.required("spec.concurrencyPolicy"))
        elif policy not in CONCURRENCY_POLICIES:
            errs.append(
                FieldError.not_supported("spec.concurrencyPolicy", policy, CONCURRENCY_POLICIES)
            )
        for f in (
            "startingDeadlineSeconds",
            "successfulJobsHistoryLimit",
            "failedJobsHistoryLimit",
        ):
            errs += nonneg(spec.get(f), f"spec.{f}")
        jt = as_dict(spec.get("jobTemplate"))
        jmeta = as_dict(jt.get("metadata"))
        errs += vc.validate_labels(as_dict(jmeta.get("labels")), "spec.jobTemplate.metadata.labels")
        errs += vc.validate_annotations(
            as_dict(jmeta.get("annotations")), "spec.jobTemplate.metadata.annotations"
        )
        jspec = jt.get("spec")
        if isinstance(jspec, dict):
            errs += validate_job_spec(jspec, "spec.jobTemplate.spec")
            if jspec.get("manualSelector"):
                errs.append(
                    FieldError.not_supported(
                        "spec.jobTemplate.spec.manualSelector", True, ["nil", "false"]
                    )
                )
        return errs


def _validate_time_zone(tz: Any) -> list[FieldError]:
    if tz is None or not isinstance(tz, str):
        return []
    path = "spec.timeZone"
    if not tz:
        return [FieldError.invalid(path, tz, "timeZone must be nil or non-empty string")]
    for part in tz.split("/"):
        if part in (".", "..") or part.startswith("-") or not _tz_chars.match(part):
            return [FieldError.invalid(path, tz, f"unknown time zone {tz}")]
    errs: list[FieldError] = []
    if tz.lower() == "local":
        errs.append(
            FieldError.invalid(
                path,
                tz,
                "timeZone must be an explicit time zone as defined in "
                "https://www.iana.org/time-zones",
            )
        )
    problem = cron.zone_error(tz)
    if problem is not None:
        errs.append(FieldError.invalid(path, tz, problem))
    return errs
