"""Strategy for HorizontalPodAutoscalers (autoscaling/v2 and v1):
behavior defaults (``pkg/apis/autoscaling/v2/defaults.go``) and validation
(``pkg/apis/autoscaling/validation``)."""

from __future__ import annotations

import copy
from typing import Any

from pinnace.api import validation_common as vc
from pinnace.api.strategies._common import as_dict, as_list, is_int
from pinnace.api.strategy import FieldError, Obj, Strategy, register

METRIC_SOURCES = {
    "Object": "object",
    "Pods": "pods",
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "External": "external",
}
SCALE_UP_DEFAULT: Obj = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
SCALE_DOWN_DEFAULT: Obj = {
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}
MAX_STABILIZATION_WINDOW = 3600
MAX_PERIOD = 1800


def _fill_rules(rules: Any, defaults: Obj) -> Obj:
    out = copy.deepcopy(defaults)
    for k, v in as_dict(rules).items():
        if v is not None:
            out[k] = v
    return out


@register("autoscaling", "HorizontalPodAutoscaler")
class HorizontalPodAutoscalerStrategy(Strategy):
    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        behavior = spec.get("behavior")
        if isinstance(behavior, dict):
            behavior["scaleUp"] = _fill_rules(behavior.get("scaleUp"), SCALE_UP_DEFAULT)
            behavior["scaleDown"] = _fill_rules(behavior.get("scaleDown"), SCALE_DOWN_DEFAULT)

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs: list[FieldError] = []
        min_r, max_r = spec.get("minReplicas"), spec.get("maxReplicas")
        if is_int(min_r) and min_r < 1:
            errs.append(
                FieldError.invalid("spec.minReplicas", min_r, "must be greater than or equal to 1")
            )
        if is_int(max_r):
            if max_r < 1:
                errs.append(FieldError.invalid("spec.maxReplicas", max_r, "must be greater than 0"))
            if is_int(min_r) and max_r < min_r:
                errs.append(
                    FieldError.invalid(
                        "spec.maxReplicas", max_r, "must be greater than or equal to `minReplicas`"
                    )
                )
        ref = as_dict(spec.get("scaleTargetRef"))
        for f in ("kind", "name"):
            v = ref.get(f)
            if isinstance(v, str) and v:
                errs += [
                    FieldError.invalid(f"spec.scaleTargetRef.{f}", v, m)
                    for m in vc.is_valid_path_segment_name(v)
                ]
        cpu = spec.get("targetCPUUtilizationPercentage")  # autoscaling/v1
        if is_int(cpu) and cpu < 1:
            errs.append(
                FieldError.invalid(
                    "spec.targetCPUUtilizationPercentage", cpu, "must be greater than 0"
                )
            )
        for i, m in enumerate(as_list(spec.get("metrics"))):
            errs += _validate_metric(as_dict(m), f"spec.metrics[{i}]")
        behavior = spec.get("behavior")
        if isinstance(behavior, dict):
            for d in ("scaleUp", "scaleDown"):
                errs += _validate_rules(as_dict(behavior.get(d)), f"spec.behavior.{d}")
        return errs


def _validate_metric(m: Obj, path: str) -> list[FieldError]:
    mtype = m.get("type") or ""
    if mtype not in METRIC_SOURCES:
        return (
            [FieldError.not_supported(f"{path}.type", mtype, sorted(METRIC_SOURCES))]
            if mtype
            else []
        )
    errs: list[FieldError] = []
    for t, key in METRIC_SOURCES.items():
        if t != mtype and m.get(key) is not None:
            errs.append(
                FieldError.forbidden(f"{path}.{key}", "must populate the given metric source only")
            )
    source = m.get(METRIC_SOURCES[mtype])
    if not isinstance(source, dict):
        errs.append(
            FieldError.required(
                f"{path}.{METRIC_SOURCES[mtype]}",
                "must populate information for the given metric source",
            )
        )
        return errs
    target = as_dict(source.get("target"))
    tp = f"{path}.{METRIC_SOURCES[mtype]}.target"
    ttype = target.get("type")
    if ttype is not None and ttype not in ("Utilization", "Value", "AverageValue"):
        errs.append(
            FieldError.not_supported(f"{tp}.type", ttype, ["Utilization", "Value", "AverageValue"])
        )
    util = target.get("averageUtilization")
    if is_int(util) and util < 1:
        errs.append(FieldError.invalid(f"{tp}.averageUtilization", util, "must be greater than 0"))
    return errs


def _validate_rules(rules: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    sw = rules.get("stabilizationWindowSeconds")
    if is_int(sw) and not 0 <= sw <= MAX_STABILIZATION_WINDOW:
        detail = (
            "must be greater than or equal to zero"
            if sw < 0
            else f"must be less than or equal to {MAX_STABILIZATION_WINDOW}"
        )
        errs.append(FieldError.invalid(f"{path}.stabilizationWindowSeconds", sw, detail))
    sp = rules.get("selectPolicy")
    if sp is not None and sp not in ("Max", "Min", "Disabled"):
        errs.append(
            FieldError.not_supported(f"{path}.selectPolicy", sp, ["Max", "Min", "Disabled"])
        )
    policies = as_list(rules.get("policies"))
    if "policies" in rules and not policies:
        errs.append(FieldError.required(f"{path}.policies", "must specify at least one Policy"))
    for i, p in enumerate(policies):
        p = as_dict(p)
        pp = f"{path}.policies[{i}]"
        ptype = p.get("type")
        if ptype not in ("Pods", "Percent"):
            errs.append(FieldError.not_supported(f"{pp}.type", ptype, ["Percent", "Pods"]))
        period = p.get("periodSeconds")
        if is_int(period) and period <= 0:
            errs.append(
                FieldError.invalid(f"{pp}.periodSeconds", period, "must be greater than zero")
            )
        elif is_int(period) and period > MAX_PERIOD:
            errs.append(
                FieldError.invalid(
                    f"{pp}.periodSeconds", period, f"must be less than or equal to {MAX_PERIOD}"
                )
            )
        value = p.get("value")
        if is_int(value) and value <= 0:
            errs.append(FieldError.invalid(f"{pp}.value", value, "must be greater than zero"))
    return errs
