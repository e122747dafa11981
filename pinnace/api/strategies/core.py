"""Strategies for core/v1 kinds whose server-side behaviour differs from the
generic one."""

from __future__ import annotations

from typing import Any, ClassVar

from pinnace.api.strategy import FIELD_IMMUTABLE, FieldError, Obj, Strategy, invalid, register


@register("", "Namespace")
class NamespaceStrategy(Strategy):
    name_validator: ClassVar[str] = "label"
    return_deleted_object: ClassVar[bool] = True

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"phase": "Active"}
        spec = obj.setdefault("spec", {})
        fins = spec.get("finalizers") or []
        if "kubernetes" not in fins:
            fins = [*fins, "kubernetes"]
        spec["finalizers"] = fins
        # upstream labels every namespace with its name
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"][
            "name"
        ]

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        # spec.finalizers only change through the finalize subresource
        new["spec"] = old.get("spec", {})
        new["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = new["metadata"][
            "name"
        ]

    def prepare_for_delete(self, obj: Obj) -> bool:
        obj.setdefault("status", {})["phase"] = "Terminating"
        return True

    def lingers_on_delete(self, obj: Obj) -> bool:
        return bool(obj.get("spec", {}).get("finalizers"))


@register("", "Pod")
class PodStrategy(Strategy):
    return_deleted_object: ClassVar[bool] = True

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj.get("spec", {}))}

    def grace_period(self, obj: Obj, requested: int | None) -> int:
        spec = obj.get("spec", {})
        if not spec.get("nodeName"):
            return 0  # never scheduled: nothing to stop
        phase = obj.get("status", {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return max(requested, 0)
        g = spec.get("terminationGracePeriodSeconds")
        return 30 if g is None else int(g)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        # upstream: pod updates may change only images, activeDeadlineSeconds,
        # tolerations (additions) and terminationGracePeriodSeconds
        ns, os_ = new.get("spec", {}), old.get("spec", {})
        mutable = {"activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"}
        changed = any(
            ns.get(k) != os_.get(k)
            for k in set(ns) | set(os_)
            if k not in mutable and k not in ("containers", "initContainers")
        )
        for list_name in ("containers", "initContainers"):
            a = [_without_image(c) for c in ns.get(list_name) or []]
            b = [_without_image(c) for c in os_.get(list_name) or []]
            changed = changed or a != b
        if changed:
            errs.append(FieldError.forbidden("spec", POD_UPDATE_FORBIDDEN))
        return errs


POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
    "set to 1 if it was previously negative)"
)


def _without_image(c: Any) -> Any:
    if isinstance(c, dict):
        return {k: v for k, v in c.items() if k != "image"}
    return c


def qos_class(spec: Obj) -> str:
    """Upstream's QoS class: Guaranteed when every container has equal cpu and
    memory requests and limits, BestEffort when none has any, else Burstable."""
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req = res.get("requests") or {}
        lim = res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim:
                guaranteed = False
            elif r in req and str(req[r]) != str(lim[r]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


@register("", "Service")
class ServiceStrategy(Strategy):
    name_validator: ClassVar[str] = "dns1035"
    return_deleted_object: ClassVar[bool] = True

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        oc = old.get("spec", {}).get("clusterIP")
        nc = new.get("spec", {}).get("clusterIP")
        if oc and nc != oc and old.get("spec", {}).get("type") != "ExternalName":
            errs.append(invalid("spec.clusterIPs[0]", nc or "", FIELD_IMMUTABLE))
        return errs


@register("", "Node")
class NodeStrategy(Strategy):
    pass


@register("", "Event")
class EventStrategy(Strategy):
    name_validator: ClassVar[str] = "path"
    allow_create_on_update: ClassVar[bool] = True


@register("", "Endpoints")
class EndpointsStrategy(Strategy):
    allow_create_on_update: ClassVar[bool] = True


@register("", "ConfigMap")
class ConfigMapStrategy(Strategy):
    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        if old.get("immutable") and (
            new.get("data") != old.get("data") or new.get("binaryData") != old.get("binaryData")
        ):
            errs.append(FieldError.forbidden("data", "field is immutable when `immutable` is set"))
        return errs


@register("", "Secret")
class SecretStrategy(Strategy):
    def default(self, obj: Obj) -> None:
        obj.setdefault("type", "Opaque")

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        if new.get("type") != old.get("type"):
            errs.append(invalid("type", new.get("type"), FIELD_IMMUTABLE))
        if old.get("immutable") and new.get("data") != old.get("data"):
            errs.append(FieldError.forbidden("data", "field is immutable when `immutable` is set"))
        return errs
