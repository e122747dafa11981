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

import re
from typing import Any, ClassVar

from pinnace.api.schema import Resource
from pinnace.api.schema.validation import FieldError

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

# --- names ---------------------------------------------------------------------

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def dns1123_label(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _DNS1123_LABEL.match(value):
        errs.append(DNS1123_LABEL_MSG)
    return errs


def dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not _DNS1123_SUBDOMAIN.match(value):
        errs.append(DNS1123_SUBDOMAIN_MSG)
    return errs


def dns1035_label(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _DNS1035_LABEL.match(value):
        errs.append(DNS1035_LABEL_MSG)
    return errs


def path_segment_name(value: str) -> list[str]:
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    for bad in ("/", "%"):
        if bad in value:
            return [f"may not contain '{bad}'"]
    return []


def qualified_name(value: str) -> list[str]:
    """Label/annotation keys: optional DNS subdomain prefix + '/' + name."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + e for e in dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
            "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') "
            "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if name and not _QUALIFIED_NAME.match(name):
        errs.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
            "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
            "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        )
    return errs


def label_value(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _LABEL_VALUE.match(value):
        errs.append(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
            "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
            "'my_value',  or '12345', regex used for validation is "
            "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        )
    return errs


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if labels is None:
        return errs
    if not isinstance(labels, dict):
        return [invalid(path, labels, "must be a map of string keys and values")]
    for k, v in labels.items():
        for m in qualified_name(k):
            errs.append(invalid(path, k, m))
        if not isinstance(v, str):
            errs.append(invalid(path, v, "must be a string"))
            continue
        for m in label_value(v):
            errs.append(invalid(path, v, m))
    return errs


TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024


def validate_annotations(ann: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if ann is None:
        return errs
    if not isinstance(ann, dict):
        return [invalid(path, ann, "must be a map of string keys and values")]
    total = 0
    for k, v in ann.items():
        for m in qualified_name(k.lower()):
            errs.append(invalid(path, k, m))
        if not isinstance(v, str):
            errs.append(invalid(f"{path}[{k}]", v, "must be a string"))
            continue
        total += len(k) + len(v)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, "", TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


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

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.has_status = "status" in resource.subresources

    # -- create ---------------------------------------------------------------

    def prepare_for_create(self, obj: Obj) -> None:
        """Clear what clients may not set; set generation."""
        if self.has_status:
            obj.pop("status", None)
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
        gen = old.get("metadata", {}).get("generation", 1) or 1
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
        new["metadata"]["generation"] = old.get("metadata", {}).get("generation", 1)
        # upstream status strategies drop metadata changes except managedFields
        meta = dict(old.get("metadata", {}))
        if "managedFields" in new["metadata"]:
            meta["managedFields"] = new["metadata"]["managedFields"]
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
            return dns1123_label(name)
        if self.name_validator == "dns1035":
            return dns1035_label(name)
        if self.name_validator == "path":
            return path_segment_name(name)
        return dns1123_subdomain(name)
