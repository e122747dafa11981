"""Strategies for workload kinds (apps/v1, batch/v1)."""

from __future__ import annotations

from pinnace.api.strategy import FIELD_IMMUTABLE, FieldError, Obj, Strategy, invalid, register


class _SelectorImmutable(Strategy):
    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        if new.get("spec", {}).get("selector") != old.get("spec", {}).get("selector"):
            errs.append(
                invalid("spec.selector", new.get("spec", {}).get("selector"), FIELD_IMMUTABLE)
            )
        return errs


for _kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"):
    register("apps", _kind)(type(f"{_kind}Strategy", (_SelectorImmutable,), {}))
