"""The registry's create/update sequence around a strategy, without storage:
prepare → schema defaults → strategy defaults → validate. Shared by the
strategy tests."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from pinnace.api.resources import catalog
from pinnace.api.schema.defaulting import apply_defaults
from pinnace.api.schema.validation import FieldError, validate_structure
from pinnace.api.strategy import Strategy, strategy_for

Obj = dict[str, Any]


def strategy(group: str, kind: str, version: str = "v1") -> Strategy:
    r = catalog().by_kind(group, version, kind)
    assert r is not None, (group, version, kind)
    return strategy_for(r)


def create(s: Strategy, obj: Obj) -> tuple[Obj, list[FieldError]]:
    """What create would store (and the field errors it would answer with)."""
    obj = copy.deepcopy(obj)
    obj.setdefault("metadata", {})
    obj["metadata"].setdefault("uid", str(uuid.UUID(int=1)))
    if s.resource.namespaced:
        obj["metadata"].setdefault("namespace", "default")
    s.prepare_for_create(obj)
    apply_defaults(obj, s.resource.schema)
    s.default(obj)
    # upstream's order: decode, default, then validate (so a status the
    # server drops, or a field the server defaults, is not "required")
    errs, _ = validate_structure(obj, s.resource.schema, strict=False)
    required = [e for e in errs if e.type == "FieldValueRequired"]
    return obj, required + s.validate(obj)


def update(s: Strategy, new: Obj, old: Obj) -> tuple[Obj, list[FieldError]]:
    new = copy.deepcopy(new)
    s.prepare_for_update(new, old)
    apply_defaults(new, s.resource.schema)
    s.default(new)
    return new, s.validate_update(new, old)


def messages(errs: list[FieldError]) -> list[str]:
    return [str(e) for e in errs]
