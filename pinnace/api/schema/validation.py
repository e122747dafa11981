"""Structural validation derived from the schema declarations.

``validate_structure`` walks a JSON object against a struct declaration and
reports what upstream's decoder and generic validation would: values of the
wrong type, out-of-range integers, malformed quantities, times and base64,
missing required fields, values outside an enum, and unknown fields.

Unknown fields are not field errors upstream: under ``fieldValidation=Strict``
they fail the request with 400 BadRequest (``strict decoding error: unknown
field "spec.foo"``), under ``Warn`` (the default for non-kubectl clients) they
come back as ``Warning`` headers, under ``Ignore`` they are dropped silently.
So they are returned apart from the field errors. Duplicate JSON keys are the
same kind of problem, but only a raw decoder sees them: ``find_duplicate_fields``.

``FieldError`` mirrors upstream's ``field.Error`` and renders the same
messages, so a 422 ``Status`` built from it reads like upstream's
(``status_invalid``).

The walk is plain recursion over dicts with a per-struct plan computed once
per registry generation; paths are formatted only when something is wrong.
Pure functions, safe from any task.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pinnace.api.schema.types import REGISTRY, Field, SchemaRegistry, Struct, TypeRef

ErrorType = Literal[
    "FieldValueRequired",
    "FieldValueInvalid",
    "FieldValueNotSupported",
    "FieldValueTypeInvalid",
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueTooLong",
    "FieldValueTooMany",
    "FieldValueNotFound",
    "InternalError",
]

# ErrorType.String() upstream
_TYPE_TEXT: dict[str, str] = {
    "FieldValueRequired": "Required value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueTypeInvalid": "Invalid value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "FieldValueNotFound": "Not found",
    "InternalError": "Internal error",
}
# types whose message never shows the bad value
_NO_VALUE = {"FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong", "InternalError"}


class _Omit:
    """Upstream's omitValue: the message shows no value."""

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()


def format_value(value: Any) -> str:
    """A bad value as upstream prints it (``%q`` for strings, ``%v`` for numbers)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field: upstream's ``field.Error``."""

    type: ErrorType
    field: str  # e.g. "spec.containers[0].name"
    detail: str = ""
    bad_value: Any = OMIT

    @property
    def message(self) -> str:
        """``ErrorBody()``: what a StatusCause's message carries."""
        text = _TYPE_TEXT[self.type]
        if self.type not in _NO_VALUE and self.bad_value is not OMIT:
            text = f"{text}: {format_value(self.bad_value)}"
        if self.detail:
            text = f"{text}: {self.detail}"
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

    def to_cause(self) -> dict[str, str]:
        """A ``metav1.StatusCause``."""
        return {"reason": self.type, "message": self.message, "field": self.field}

    # constructors named like upstream's field.Required, field.Invalid, ...
    @classmethod
    def required(cls, path: str, detail: str = "") -> FieldError:
        return cls("FieldValueRequired", path, detail)

    @classmethod
    def invalid(cls, path: str, value: Any, detail: str) -> FieldError:
        return cls("FieldValueInvalid", path, detail, value)

    @classmethod
    def not_supported(cls, path: str, value: Any, supported: Iterable[str]) -> FieldError:
        quoted = ", ".join(json.dumps(s) for s in supported)
        return cls(
            "FieldValueNotSupported", path, f"supported values: {quoted}" if quoted else "", value
        )

    @classmethod
    def type_invalid(cls, path: str, value: Any, detail: str) -> FieldError:
        return cls("FieldValueTypeInvalid", path, detail, value)

    @classmethod
    def duplicate(cls, path: str, value: Any) -> FieldError:
        return cls("FieldValueDuplicate", path, "", value)

    @classmethod
    def forbidden(cls, path: str, detail: str) -> FieldError:
        return cls("FieldValueForbidden", path, detail)

    @classmethod
    def too_long(cls, path: str, value: Any, max_length: int) -> FieldError:
        if max_length >= 0:
            unit = "byte" if max_length == 1 else "bytes"
            detail = f"must have at most {max_length} {unit}"
        else:
            detail = "value is too long"
        return cls("FieldValueTooLong", path, detail, value)


def aggregate_message(errors: Sequence[FieldError]) -> str:
    """Upstream's ``ErrorList.ToAggregate().Error()``: one message, or
    ``[a, b]`` for several (duplicates removed)."""
    seen: list[str] = []
    for e in errors:
        s = str(e)
        if s not in seen:
            seen.append(s)
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]"


def status_invalid(
    group: str, kind: str, name: str, errors: Sequence[FieldError]
) -> dict[str, Any]:
    """The 422 ``metav1.Status`` upstream's ``NewInvalid`` builds."""
    qualified = f"{kind}.{group}" if group else kind
    details: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        details["group"] = group
    details["causes"] = [e.to_cause() for e in errors]
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'{qualified} "{name}" is invalid: {aggregate_message(errors)}',
        "reason": "Invalid",
        "details": details,
        "code": 422,
    }


def strict_decoding_message(problems: Sequence[str]) -> str:
    """The 400 message for ``fieldValidation=Strict`` from ``unknown field``
    and ``duplicate field`` problems. Upstream prefixes it with
    ``<Kind> in version "<v>" cannot be handled as a <Kind>: ``."""
    return "strict decoding error: " + ", ".join(problems)


# -- primitive checks ---------------------------------------------------------

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

QUANTITY_REGEXP = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_quantity_re = re.compile(QUANTITY_REGEXP)
_QUANTITY_SUFFIXES = {"", "n", "u", "m", "k", "M", "G", "T", "P", "E"}
_QUANTITY_SUFFIXES |= {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}
_exponent_re = re.compile(r"^[eE][-+]?[0-9]+$")
_rfc3339_re = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def quantity_problem(value: str) -> str | None:
    """Why ``value`` is not a ``resource.Quantity`` (None when it is one)."""
    m = _quantity_re.match(value)
    if m is None:
        return f"quantities must match the regular expression '{QUANTITY_REGEXP}'"
    number, suffix = m.group(1), m.group(2)
    digits = number.lstrip("+-")
    if digits.count(".") > 1 or not any(c.isdigit() for c in digits):
        return f"quantities must match the regular expression '{QUANTITY_REGEXP}'"
    if suffix not in _QUANTITY_SUFFIXES and not _exponent_re.match(suffix):
        return "unable to parse quantity's suffix"
    return None


def time_problem(value: str) -> str | None:
    if _rfc3339_re.match(value):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            return None
        except ValueError:
            pass
    return 'must be an RFC3339 date-time, like "2006-01-02T15:04:05Z"'


def base64_problem(value: str) -> str | None:
    try:
        base64.b64decode(value, validate=True)
        return None
    except (binascii.Error, ValueError) as e:
        return f"illegal base64 data: {e}"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _primitive_problem(name: str, v: Any) -> tuple[ErrorType, str] | None:
    """(error type, detail) if ``v`` is not a valid value of primitive ``name``."""
    if name == "string":
        return None if isinstance(v, str) else ("FieldValueTypeInvalid", "must be of type string")
    if name == "bool":
        return None if isinstance(v, bool) else ("FieldValueTypeInvalid", "must be of type boolean")
    if name == "int32" or name == "int64":
        if not _is_int(v):
            return ("FieldValueTypeInvalid", f"must be of type {name}")
        lo, hi = (INT32_MIN, INT32_MAX) if name == "int32" else (INT64_MIN, INT64_MAX)
        if not lo <= v <= hi:
            return ("FieldValueInvalid", f"must be in the range of {name}: [{lo}, {hi}]")
        return None
    if name == "double":
        ok = isinstance(v, int | float) and not isinstance(v, bool)
        return None if ok else ("FieldValueTypeInvalid", "must be of type number")
    if name == "bytes":
        if not isinstance(v, str):
            return ("FieldValueTypeInvalid", "must be of type string (base64)")
        p = base64_problem(v)
        return None if p is None else ("FieldValueInvalid", p)
    if name == "Quantity":
        if isinstance(v, int | float) and not isinstance(v, bool):
            return None  # upstream accepts a JSON number
        if not isinstance(v, str):
            return ("FieldValueTypeInvalid", "must be of type string or number")
        p = quantity_problem(v)
        return None if p is None else ("FieldValueInvalid", p)
    if name == "IntOrString":
        if isinstance(v, str):
            return None
        if not _is_int(v):
            return ("FieldValueTypeInvalid", "must be of type integer or string")
        if not INT32_MIN <= v <= INT32_MAX:
            return (
                "FieldValueInvalid",
                f"must be in the range of int32: [{INT32_MIN}, {INT32_MAX}]",
            )
        return None
    if name == "Time" or name == "MicroTime":
        if not isinstance(v, str):
            return ("FieldValueTypeInvalid", "must be of type string (RFC3339 date-time)")
        p = time_problem(v)
        return None if p is None else ("FieldValueInvalid", p)
    if name == "Duration":
        return None if isinstance(v, str) else ("FieldValueTypeInvalid", "must be of type string")
    return None  # "object": anything goes


# -- the walk -----------------------------------------------------------------

# fields every kind's top level accepts whether or not its struct declares them
_TYPE_META = ("apiVersion", "kind")


# required fields that upstream's validators accept empty (its decoder never
# checks OpenAPI's required list; these are the cases where "" or [] is valid)
EMPTY_ALLOWED = frozenset(
    {
        ("io.k8s.apimachinery.pkg.apis.meta.v1.Condition", "message"),
        ("io.k8s.api.discovery.v1.EndpointSlice", "endpoints"),
    }
)


def _missing(v: Any, t: TypeRef) -> bool:
    """A required field counts as missing when absent, null, or (like upstream's
    ``len(x) == 0`` checks) an empty string, list or map; ``{}`` for a struct
    is present."""
    if v is None:
        return True
    if v == "" or v == []:
        return True
    return v == {} and t.kind == "map"


# struct identity -> names of its required fields
_required_cache: dict[int, tuple[Struct, tuple[Field, ...]]] = {}


def _required(s: Struct) -> tuple[Field, ...]:
    hit = _required_cache.get(id(s))
    if hit is not None and hit[0] is s:
        return hit[1]
    req = tuple(f for f in s.fields.values() if f.required)
    _required_cache[id(s)] = (s, req)
    return req


class _Walker:
    __slots__ = ("errors", "registry", "unknown")

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        self.errors: list[FieldError] = []
        self.unknown: list[str] = []

    def struct(self, obj: Any, s: Struct, path: str, top: bool = False) -> None:
        if not isinstance(obj, dict):
            self.errors.append(
                FieldError.type_invalid(path or "<root>", obj, "must be of type object")
            )
            return
        fields = s.fields
        for req in _required(s):
            v = obj.get(req.name)
            if v is not None and (s.full_name, req.name) in EMPTY_ALLOWED:
                continue
            if _missing(v, req.type):
                self.errors.append(FieldError.required(_join(path, req.name)))
        for key, value in obj.items():
            f = fields.get(key)
            if f is None:
                if top and key in _TYPE_META:
                    continue
                self.unknown.append(_join(path, key))
                continue
            if value is None:
                continue  # JSON null: Go decodes it to the zero value
            self.value(value, f.type, f, _join(path, key))

    def value(self, v: Any, t: TypeRef, f: Field | None, path: str) -> None:
        kind = t.kind
        if kind == "primitive":
            problem = _primitive_problem(t.name, v)
            if problem is not None:
                etype, detail = problem
                self.errors.append(FieldError(etype, path, detail, v))
            elif f is not None and f.enum and v != "" and v not in f.enum:
                self.errors.append(FieldError.not_supported(path, v, f.enum))
        elif kind == "struct":
            self.struct(v, self.registry.get(t.name), path)
        elif kind == "list":
            if not isinstance(v, list):
                self.errors.append(FieldError.type_invalid(path, v, "must be of type array"))
                return
            item = t.item
            assert item is not None
            for i, x in enumerate(v):
                if x is None and item.kind != "struct":
                    continue
                self.value(x, item, f if item.kind == "primitive" else None, f"{path}[{i}]")
        else:  # map
            if not isinstance(v, dict):
                self.errors.append(FieldError.type_invalid(path, v, "must be of type object"))
                return
            item = t.item
            assert item is not None
            for k, x in v.items():
                if x is None:
                    continue
                self.value(x, item, f if item.kind == "primitive" else None, f"{path}[{k}]")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def validate_structure(
    obj: dict[str, Any],
    struct_name: str,
    *,
    strict: bool,
    registry: SchemaRegistry = REGISTRY,
) -> tuple[list[FieldError], list[str]]:
    """Check ``obj`` against the struct ``struct_name`` (fully qualified).

    Returns ``(errors, unknown)``: the field errors (a 422 Invalid upstream),
    and the unknown-field problems. With ``strict=False`` each unknown field
    is one warning text, ``unknown field "spec.foo"``, for ``Warning``
    headers; with ``strict=True`` they are folded into the single 400
    message, ``strict decoding error: unknown field "spec.foo", unknown field
    "spec.bar"`` (empty list when there is none). Unknown fields are never
    field errors, and the caller answers 400 before 422 as upstream does.
    """
    w = _Walker(registry)
    w.struct(obj, registry.get(struct_name), "", top=True)
    problems = [f'unknown field "{p}"' for p in w.unknown]
    if strict and problems:
        problems = [strict_decoding_message(problems)]
    return w.errors, problems


def unknown_fields(
    obj: dict[str, Any], struct_name: str, *, registry: SchemaRegistry = REGISTRY
) -> list[str]:
    """Paths of the fields of ``obj`` its schema does not declare."""
    w = _Walker(registry)
    w.struct(obj, registry.get(struct_name), "", top=True)
    return w.unknown


# -- duplicate keys -----------------------------------------------------------


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as decoded, keys in order, duplicates kept."""


def find_duplicate_fields(raw: bytes | str) -> list[str]:
    """``duplicate field "x"`` problems in a JSON document (full paths, like
    upstream's strict decoder). orjson keeps the last of duplicate keys
    silently, so this re-parses with the stdlib: call it only when the
    request asked for ``fieldValidation=Strict`` (or Warn)."""
    try:
        doc = json.loads(raw, object_pairs_hook=_Pairs)
    except ValueError:
        return []  # the caller's decoder reports syntax errors
    out: list[str] = []
    _dups(doc, "", out)
    return out


def _dups(node: Any, path: str, out: list[str]) -> None:
    if isinstance(node, _Pairs):
        seen: set[str] = set()
        for k, v in node:
            p = _join(path, k)
            if k in seen:
                out.append(f'duplicate field "{p}"')
            seen.add(k)
            _dups(v, p, out)
    elif isinstance(node, list):
        for i, x in enumerate(node):
            _dups(x, f"{path}[{i}]", out)
