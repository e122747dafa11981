"""Strategy for policy/v1 PodDisruptionBudget (``pkg/apis/policy/validation``)."""

from __future__ import annotations

from typing import ClassVar

from pinnace.api.strategies._common import (
    as_dict,
    nonneg,
    not_more_than_100_percent,
    positive_int_or_percent,
    validate_label_selector,
)
from pinnace.api.strategy import FieldError, Obj, Strategy, register

UNHEALTHY_POD_EVICTION_POLICIES = ("IfHealthyBudget", "AlwaysAllow")


@register("policy", "PodDisruptionBudget")
class PodDisruptionBudgetStrategy(Strategy):
    tracks_generation: ClassVar[bool] = True

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs: list[FieldError] = []
        min_a, max_u = spec.get("minAvailable"), spec.get("maxUnavailable")
        if min_a is not None and max_u is not None:
            errs.append(
                FieldError.invalid(
                    "spec", spec, "minAvailable and maxUnavailable cannot be both set"
                )
            )
        for name, value in (("minAvailable", min_a), ("maxUnavailable", max_u)):
            if value is not None:
                errs += positive_int_or_percent(value, f"spec.{name}")
                errs += not_more_than_100_percent(value, f"spec.{name}")
        errs += validate_label_selector(spec.get("selector"), "spec.selector")
        policy = spec.get("unhealthyPodEvictionPolicy")
        if policy is not None and policy not in UNHEALTHY_POD_EVICTION_POLICIES:
            errs.append(
                FieldError.not_supported(
                    "spec.unhealthyPodEvictionPolicy", policy, UNHEALTHY_POD_EVICTION_POLICIES
                )
            )
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        st = as_dict(new.get("status"))
        errs: list[FieldError] = []
        for f in (
            "observedGeneration",
            "disruptionsAllowed",
            "currentHealthy",
            "desiredHealthy",
            "expectedPods",
        ):
            errs += nonneg(st.get(f), f"status.{f}")
        return errs
