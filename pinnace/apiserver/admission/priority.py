"""Priority admission: resolves a pod's ``spec.priorityClassName`` to
``spec.priority`` (and ``preemptionPolicy``) from the PriorityClasses, falls
back to the global default class (or 0), and keeps the built-in
``system-*`` classes from being changed or deleted."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.errors import ApiError

Obj = dict[str, Any]

SYSTEM_CLASSES = {
    "system-node-critical": 2000001000,
    "system-cluster-critical": 2000000000,
}


def _forbidden(req: AdmissionRequest, message: str) -> ApiError:
    what = f'{req.resource.plural} "{req.name}"' if req.name else req.resource.plural
    return ApiError(
        403,
        "Forbidden",
        f"{what} is forbidden: {message}",
        {"name": req.name, "kind": req.resource.plural},
    )


class Priority:
    name = "Priority"

    def __init__(
        self,
        get_class: Callable[[str], Obj | None],
        list_classes: Callable[[], Iterable[Obj]],
    ) -> None:
        self._get = get_class
        self._list = list_classes

    async def admit(self, req: AdmissionRequest) -> None:
        r = req.resource
        if r.group == "scheduling.k8s.io" and r.kind == "PriorityClass":
            self._guard_system_class(req)
            return
        if r.group != "" or r.kind != "Pod" or req.operation != "CREATE" or req.subresource:
            return
        pod = req.object or {}
        spec = pod.setdefault("spec", {})
        class_name = spec.get("priorityClassName") or ""
        if class_name:
            pc = self._get(class_name)
            if pc is None:
                raise _forbidden(req, f"no PriorityClass with name {class_name} was found")
        else:
            pc = self._global_default()
        value = int(pc.get("value", 0)) if pc else 0
        policy = (pc or {}).get("preemptionPolicy") or "PreemptLowerPriority"
        given = spec.get("priority")
        if given is not None and given != value:
            raise _forbidden(
                req,
                f"the integer value of priority ({given}) must not be provided in pod spec; "
                f"priority admission controller computed {value} from the given PriorityClass name",
            )
        spec["priority"] = value
        if pc is not None and class_name == "":
            spec["priorityClassName"] = pc["metadata"]["name"]
        spec.setdefault("preemptionPolicy", policy)

    def _global_default(self) -> Obj | None:
        defaults = [pc for pc in self._list() if pc.get("globalDefault")]
        if not defaults:
            return None
        return min(defaults, key=lambda pc: int(pc.get("value", 0)))

    def _guard_system_class(self, req: AdmissionRequest) -> None:
        if req.name in SYSTEM_CLASSES and req.operation in ("UPDATE", "DELETE"):
            if (
                req.operation == "DELETE"
                or (req.object or {}).get("value") != SYSTEM_CLASSES[req.name]
            ):
                raise _forbidden(req, f"this is a system priority class: {req.name}")
