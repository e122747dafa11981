"""Defaulting derived from the schema: ``Field.default`` applied recursively.

A field's default is set when the field is absent (or JSON null), inside
every struct that is present: nested structs, list items and map values.
A default that is itself a struct value (``{}``, ``{"type": "RollingUpdate"}``)
is defaulted further once set.

This runs on every write, so each struct gets a plan once per registry
generation: the fields with a default, and the fields whose type can reach
a default somewhere below. Subtrees that can reach none are never visited.
Conditional defaults (one field's default depends on another) belong to the
per-resource strategies, not here.
"""

from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass
from typing import Any

from pinnace.api.schema.types import REGISTRY, SchemaRegistry, TypeRef


@dataclass(frozen=True, slots=True)
class _Plan:
    # (field name, default value, whether the default is mutable and needs a copy)
    defaults: tuple[tuple[str, Any, bool], ...]
    # (field name, type) of fields whose subtree holds defaults
    nested: tuple[tuple[str, TypeRef], ...]


_EMPTY = _Plan((), ())


class _Plans:
    """Plans for one registry, rebuilt when structs are added to it."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        self.generation = -1
        self.plans: dict[str, _Plan] = {}

    def get(self, name: str) -> _Plan:
        reg = self.registry
        if self.generation != len(reg.structs):
            reg.resolve()
            self.plans = _build(reg)
            self.generation = len(reg.structs)
        return self.plans.get(name, _EMPTY)


def _build(reg: SchemaRegistry) -> dict[str, _Plan]:
    # which structs can reach a default: a fixed point over the type graph
    has_default = {
        name
        for name, s in reg.structs.items()
        if any(f.default is not None for f in s.fields.values())
    }
    reaches = set(has_default)

    def type_reaches(t: TypeRef) -> bool:
        while t.kind in ("list", "map"):
            assert t.item is not None
            t = t.item
        return t.kind == "struct" and t.name in reaches

    changed = True
    while changed:
        changed = False
        for name, s in reg.structs.items():
            if name in reaches:
                continue
            if any(type_reaches(f.type) for f in s.fields.values()):
                reaches.add(name)
                changed = True
    plans: dict[str, _Plan] = {}
    for name in reaches:
        s = reg.structs[name]
        defaults = tuple(
            (f.name, f.default, isinstance(f.default, dict | list))
            for f in s.fields.values()
            if f.default is not None
        )
        nested = tuple((f.name, f.type) for f in s.fields.values() if type_reaches(f.type))
        plans[name] = _Plan(defaults, nested)
    return plans


_by_registry: weakref.WeakKeyDictionary[SchemaRegistry, _Plans] = weakref.WeakKeyDictionary()


def _plans(registry: SchemaRegistry) -> _Plans:
    p = _by_registry.get(registry)
    if p is None:
        p = _by_registry[registry] = _Plans(registry)
    return p


def apply_defaults(
    obj: dict[str, Any], struct_name: str, *, registry: SchemaRegistry = REGISTRY
) -> dict[str, Any]:
    """Fill in the declared defaults of ``obj`` (a ``struct_name``) in place;
    returns ``obj`` for convenience. Values of the wrong type are left alone
    (validation reports them)."""
    plans = _plans(registry)
    _apply_struct(obj, plans.get(struct_name), plans)
    return obj


def _apply_struct(obj: Any, plan: _Plan, plans: _Plans) -> None:
    if not isinstance(obj, dict):
        return
    for name, default, mutable in plan.defaults:
        if obj.get(name) is None:
            obj[name] = copy.deepcopy(default) if mutable else default
    for name, t in plan.nested:
        v = obj.get(name)
        if v is not None:
            _apply_value(v, t, plans)


def _apply_value(v: Any, t: TypeRef, plans: _Plans) -> None:
    if t.kind == "struct":
        _apply_struct(v, plans.get(t.name), plans)
    elif t.kind == "list":
        if isinstance(v, list):
            assert t.item is not None
            for x in v:
                _apply_value(x, t.item, plans)
    elif t.kind == "map" and isinstance(v, dict):
        assert t.item is not None
        for x in v.values():
            _apply_value(x, t.item, plans)
