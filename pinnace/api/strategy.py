"""Per-resource strategies (the shape of kubernetes ``pkg/registry``): what the
API server does to an object on create, update, status update and delete,
beyond the generic storage mechanics.

``Strategy`` holds the behaviour every kind shares (metadata checks,
generation bumps on spec changes, status kept apart from spec when the kind
has a status subresource). Kinds with more to say subclass it and register
with ``@register("group", "Kind")``; ``strategy_for(resource)`` finds the
right one. Strategies are pure: no I/O, no clock except the ``now`` passed in.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pinnace.api import validation_common as vc
from pinnace.api.schema import Resource
from pinnace.api.schema.defaulting import apply_defaults
from pinnace.api.schema.validation import FieldError

__all__ = [
    "FIELD_IMMUTABLE",
    "FieldError",
    "Obj",
    "Strategy",
    "invalid",
    "register",
    "strategy_for",
]

Obj = dict[str, Any]


def required(field: str, detail: str = "") -> FieldError:
    return FieldError.required(field, detail)


def invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError.invalid(field, value, detail)


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError.forbidden(field, detail)


def not_supported(field: str, value: Any, supported: list[str]) -> FieldError:
    return FieldError.not_supported(field, value, supported)


def too_long(field: str, value: Any, limit: int) -> FieldError:
    return FieldError.too_long(field, value, limit)


FIELD_IMMUTABLE = "field is immutable"

# --- strategies ------------------------------------------------------------------

_STRATEGIES: dict[tuple[str, str], type[Strategy]] = {}


def register(group: str, kind: str):  # type: ignore[no-untyped-def]
    def deco(cls: type[Strategy]) -> type[Strategy]:
        _STRATEGIES[(group, kind)] = cls
        return cls

    return deco


def strategy_for(resource: Resource) -> Strategy:
    # import the kind-specific strategies (they register on import)
    import pinnace.api.strategies  # noqa: F401

    cls = _STRATEGIES.get((resource.group, resource.kind), Strategy)
    return cls(resource)


class Strategy:
    """Behaviour shared by every kind. Override the hooks per kind."""

    # names must be DNS-1123 subdomains unless a kind says otherwise
    name_validator: ClassVar[str] = "subdomain"  # subdomain | label | dns1035 | path
    allow_create_on_update: ClassVar[bool] = False
    allow_unconditional_update: ClassVar[bool] = True
    # DELETE returns the object (True) or a Success Status (False)
    return_deleted_object: ClassVar[bool] = False
    # the fields that make up "spec" for generation bumps (None: all but
    # metadata and status)
    spec_fields: ClassVar[tuple[str, ...] | None] = None
    # whether the server keeps metadata.generation (1 on create, +1 on each
    # spec change): upstream's strategies do it only for some kinds
    # (workloads, Ingress, NetworkPolicy, PDB, PodTemplate, EndpointSlice...)
    tracks_generation: ClassVar[bool] = False
    # status writes may not change metadata.labels (upstream: apps workloads)
    status_resets_labels: ClassVar[bool] = False

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.has_status = "status" in resource.subresources

    # -- create ---------------------------------------------------------------

    def prepare_for_create(self, obj: Obj) -> None:
        """Clear what clients may not set; set generation."""
        if self.has_status:
            obj.pop("status", None)
        if self.tracks_generation:
            obj["metadata"]["generation"] = 1

    def default(self, obj: Obj) -> None:
        """Kind-specific defaulting beyond the schema's simple defaults."""

    def validate(self, obj: Obj) -> list[FieldError]:
        """Kind-specific validation of a new or updated object."""
        return []

    # -- update ---------------------------------------------------------------

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        """Keep status (when it has its own subresource); bump generation when
        the spec changed."""
        if self.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        old_gen = old.get("metadata", {}).get("generation")
        if not self.tracks_generation:
            # clients cannot change generation (rest.BeforeUpdate)
            if old_gen is None:
                new["metadata"].pop("generation", None)
            else:
                new["metadata"]["generation"] = old_gen
            return
        # upstream defaults while decoding, before PrepareForUpdate: compare
        # defaulted specs so an omitted default is not a change
        apply_defaults(new, self.resource.schema)
        self.default(new)
        gen = old_gen or 1
        if self._spec(new) != self._spec(old):
            gen += 1
        new["metadata"]["generation"] = gen

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        """Kind-specific checks of an update (immutable fields...)."""
        return self.validate(new)

    def prepare_for_status_update(self, new: Obj, old: Obj) -> None:
        """A status write changes only status (and not metadata's generation)."""
        for k in list(new):
            if k not in ("status", "metadata", "apiVersion", "kind"):
                del new[k]
        for k, v in old.items():
            if k not in ("status", "metadata"):
                new[k] = v
        # upstream status strategies reset spec (and a few metadata fields per
        # kind, ``status_resets_labels``) but keep label/annotation changes
        meta = dict(old.get("metadata", {}))
        new_meta = new["metadata"]
        for f in ("managedFields", "annotations") + (
            () if self.status_resets_labels else ("labels",)
        ):
            if f in new_meta:
                meta[f] = new_meta[f]
            else:
                meta.pop(f, None)
        meta["resourceVersion"] = new["metadata"].get(
            "resourceVersion", meta.get("resourceVersion")
        )
        new["metadata"] = meta

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return []

    # -- delete ---------------------------------------------------------------

    def grace_period(self, obj: Obj, requested: int | None) -> int:
        """Seconds of graceful deletion (0 = delete at once)."""
        return 0

    def prepare_for_delete(self, obj: Obj) -> bool:
        """Called when deletion starts on an object that will linger (finalizers
        or grace); returns True if it changed the object."""
        return False

    def finalizers_on_delete(self, obj: Obj) -> list[str]:
        """Finalizers the server adds itself when deletion starts."""
        return []

    # -- helpers --------------------------------------------------------------

    def _spec(self, obj: Obj) -> Any:
        if self.spec_fields is not None:
            return [obj.get(f) for f in self.spec_fields]
        return {
            k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")
        }

    def name_errors(self, name: str) -> list[str]:
        if self.name_validator == "label":
            return vc.name_is_dns_label(name, False)
        if self.name_validator == "dns1035":
            return vc.name_is_dns1035_label(name, False)
        if self.name_validator == "path":
            return vc.name_is_path_segment(name, False)
        return vc.name_is_dns_subdomain(name, False)
