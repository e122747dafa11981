"""Schema lookups shared by the strategic merge patch and server-side apply.

Both take the kind's schema as a struct name (``io.k8s.api.apps.v1.Deployment``,
or a short name found the way type expressions are: own package, meta, core)
or as a resolved :class:`TypeRef`. ``None`` stands for "no schema here" (a
field the schema does not declare, or a free-form ``object``): patches then
behave like JSON merge patch and apply treats values as deduced (maps
granular, lists atomic), as upstream does for untyped JSON.
"""

from __future__ import annotations

from pinnace.api.schema.types import CORE, REGISTRY, Field, SchemaRegistry, TypeRef


def resolve_root(schema: TypeRef | str, registry: SchemaRegistry = REGISTRY) -> TypeRef:
    """The struct TypeRef of a kind given by name or TypeRef."""
    if isinstance(schema, TypeRef):
        return schema
    registry.resolve()
    s = registry.structs.get(schema) or registry.find(schema, CORE)
    if s is None:
        raise KeyError(f"unknown schema {schema!r}")
    return TypeRef("struct", s.full_name)


def child(
    t: TypeRef | None, key: str, registry: SchemaRegistry = REGISTRY
) -> tuple[TypeRef | None, Field | None]:
    """The type of ``key`` inside a map-like value of type ``t`` and, for a
    struct field, its declaration. Unknown fields and free-form values give
    ``(None, None)``."""
    if t is None:
        return None, None
    if t.kind == "struct":
        f = registry.get(t.name).fields.get(key)
        if f is None:
            return None, None
        return _known(f.type), f
    if t.kind == "map":
        return _known(t.item), None
    return None, None


def _known(t: TypeRef | None) -> TypeRef | None:
    """``None`` for free-form JSON (``object``), else ``t``."""
    if t is None or (t.kind == "primitive" and t.name == "object"):
        return None
    return t
