"""Schema declarations and the machinery derived from them (see ``types``)."""

from pinnace.api.schema.types import (
    CORE,
    META,
    REGISTRY,
    Column,
    Field,
    Resource,
    SchemaError,
    SchemaRegistry,
    Struct,
    TypeRef,
    field,
    struct,
)

__all__ = [
    "CORE",
    "META",
    "REGISTRY",
    "Column",
    "Field",
    "Resource",
    "SchemaError",
    "SchemaRegistry",
    "Struct",
    "TypeRef",
    "field",
    "struct",
]
