"""The schema DSL: one declaration per struct and per kind, from which pinnace
derives validation, defaulting, strict unknown-field checks, strategic-merge
and apply metadata, OpenAPI v2/v3 (and so ``kubectl explain``), protobuf
decoding, discovery and Table columns.

Declarations live in ``pinnace.api.kinds.*`` modules, written like::

    PKG = "io.k8s.api.core.v1"
    struct(PKG, "ConfigMapKeySelector", "Selects a key of a ConfigMap.", [
        field("name", "string", "Name of the referent.", proto=1),
        field("key", "string", "The key to select.", proto=2, required=True),
        field("optional", "bool", "Whether the ConfigMap or its key must be defined.", proto=3),
    ])

Type expressions (strings): ``string``, ``bool``, ``int32``, ``int64``,
``double``, ``bytes`` (base64 in JSON), ``Quantity``, ``Time``, ``MicroTime``,
``IntOrString``, ``Duration``, ``object`` (free-form JSON, kept as is),
``[]T`` (list), ``map[string]T`` (map), or the name of a struct. A struct
name is resolved in the declaring package first, then in the meta package,
then in core/v1, and may always be given fully qualified
(``io.k8s.api.core.v1.PodTemplateSpec``).

This module holds only the data model; nothing here knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Literal

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
CORE = "io.k8s.api.core.v1"

PRIMITIVES: dict[str, tuple[str, str | None]] = {
    # name: (openapi type, openapi format)
    "string": ("string", None),
    "bool": ("boolean", None),
    "int32": ("integer", "int32"),
    "int64": ("integer", "int64"),
    "double": ("number", "double"),
    "bytes": ("string", "byte"),
    "Quantity": ("string", None),  # resource.Quantity; proto: message{1: string}
    "Time": ("string", "date-time"),  # metav1.Time; proto: message{1: seconds, 2: nanos}
    "MicroTime": ("string", "date-time"),
    "IntOrString": ("string", "int-or-string"),  # proto: message{1 type, 2 intVal, 3 strVal}
    "Duration": ("string", None),  # metav1.Duration; proto: message{1: string}
    "object": ("object", None),  # free-form JSON (RawExtension, JSON)
}

PatchStrategy = Literal["merge", "replace", "retainKeys", "merge,retainKeys"]
ListType = Literal["atomic", "set", "map"]


@dataclass(slots=True)
class TypeRef:
    """A parsed type expression."""

    kind: Literal["primitive", "list", "map", "struct"]
    name: str = ""  # primitive name or fully qualified struct name
    item: TypeRef | None = None  # for list and map

    def __str__(self) -> str:
        if self.kind == "list":
            return f"[]{self.item}"
        if self.kind == "map":
            return f"map[string]{self.item}"
        return self.name.rsplit(".", 1)[-1]


@dataclass(slots=True)
class Field:
    name: str
    type_expr: str
    description: str
    proto: int = 0  # protobuf field number in upstream's generated.proto (0 = unknown)
    required: bool = False
    default: Any = None  # applied when the field is absent (simple defaults only)
    enum: tuple[str, ...] = ()
    # strategic merge patch + server-side apply metadata (for lists/maps):
    merge_key: str | None = None  # x-kubernetes-patch-merge-key
    patch_strategy: PatchStrategy | None = None  # x-kubernetes-patch-strategy
    list_type: ListType | None = None  # x-kubernetes-list-type
    list_map_keys: tuple[str, ...] = ()  # x-kubernetes-list-map-keys
    map_type: Literal["atomic", "granular"] | None = None  # x-kubernetes-map-type
    # For a field flattened into its struct from a Go struct embedded inline
    # (json ",inline", e.g. Volume's VolumeSource) that protobuf still nests in
    # a sub-message: the parent's proto field number of that sub-message, and
    # ``proto`` is then the field's number inside it. 0 = not embedded.
    proto_embed: int = 0
    # A Go pointer field (``*int32``, ``*bool``, ``*string``, ...): an explicit
    # zero value means something (``replicas: 0``). Protobuf writes non-pointer
    # scalars even when zero, so the protobuf decoder drops zero scalars
    # (as Go's JSON ``omitempty`` would) unless the field is a pointer.
    # None = guess: a number or bool with a non-zero default is a pointer.
    pointer: bool | None = None
    type: TypeRef = dc_field(default_factory=lambda: TypeRef("primitive", "object"))


@dataclass(slots=True)
class Struct:
    """A named object type (an OpenAPI definition)."""

    package: str  # e.g. io.k8s.api.core.v1
    name: str  # e.g. PodSpec
    description: str
    fields: dict[str, Field]
    map_type: Literal["atomic", "granular"] | None = None  # x-kubernetes-map-type
    # for top-level kinds: (group, version, kind)
    gvk: tuple[str, str, str] | None = None

    @property
    def full_name(self) -> str:
        return f"{self.package}.{self.name}"


class SchemaError(Exception):
    """A declaration is malformed (a programming error caught at import/test time)."""


class SchemaRegistry:
    """All declared structs by fully qualified name."""

    def __init__(self) -> None:
        self.structs: dict[str, Struct] = {}
        self._resolved = False

    def add(self, s: Struct) -> Struct:
        if s.full_name in self.structs:
            raise SchemaError(f"struct {s.full_name} declared twice")
        self.structs[s.full_name] = s
        self._resolved = False
        return s

    def get(self, full_name: str) -> Struct:
        self.resolve()
        return self.structs[full_name]

    def find(self, name: str, package: str) -> Struct | None:
        """Look up a struct by short or full name from ``package``'s view."""
        for candidate in (name, f"{package}.{name}", f"{META}.{name}", f"{CORE}.{name}"):
            s = self.structs.get(candidate)
            if s is not None:
                return s
        return None

    def parse(self, expr: str, package: str) -> TypeRef:
        if expr.startswith("[]"):
            return TypeRef("list", item=self.parse(expr[2:], package))
        if expr.startswith("map[string]"):
            return TypeRef("map", item=self.parse(expr[len("map[string]") :], package))
        if expr in PRIMITIVES:
            return TypeRef("primitive", expr)
        s = self.find(expr, package)
        if s is None:
            raise SchemaError(f"unknown type {expr!r} (from package {package})")
        return TypeRef("struct", s.full_name)

    def resolve(self) -> None:
        """Parse every field's type expression (done lazily once all modules load)."""
        if self._resolved:
            return
        for s in self.structs.values():
            for f in s.fields.values():
                try:
                    f.type = self.parse(f.type_expr, s.package)
                except SchemaError as e:
                    raise SchemaError(f"{s.full_name}.{f.name}: {e}") from None
        self._resolved = True

    def field_type(self, t: TypeRef, name: str) -> Field | None:
        """The field ``name`` of struct type ``t`` (None if t is not a struct or
        has no such field)."""
        if t.kind != "struct":
            return None
        return self.get(t.name).fields.get(name)


REGISTRY = SchemaRegistry()


def field(
    name: str,
    type_expr: str,
    description: str,
    *,
    proto: int = 0,
    required: bool = False,
    default: Any = None,
    enum: tuple[str, ...] = (),
    merge_key: str | None = None,
    patch_strategy: PatchStrategy | None = None,
    list_type: ListType | None = None,
    list_map_keys: tuple[str, ...] = (),
    map_type: Literal["atomic", "granular"] | None = None,
    proto_embed: int = 0,
    pointer: bool | None = None,
) -> Field:
    """Declare one field (see module docstring)."""
    if merge_key and not list_map_keys and type_expr.startswith("[]"):
        # upstream marks merge-keyed lists as list-type=map keyed by the merge key
        # unless told otherwise
        list_map_keys = (merge_key,)
        list_type = list_type or "map"
    return Field(
        name=name,
        type_expr=type_expr,
        description=description,
        proto=proto,
        required=required,
        default=default,
        enum=enum,
        merge_key=merge_key,
        patch_strategy=patch_strategy,
        list_type=list_type,
        list_map_keys=list_map_keys,
        map_type=map_type,
        proto_embed=proto_embed,
        pointer=pointer,
    )


def struct(
    package: str,
    name: str,
    description: str,
    fields: list[Field],
    *,
    map_type: Literal["atomic", "granular"] | None = None,
    registry: SchemaRegistry = REGISTRY,
) -> Struct:
    """Declare a struct and register it."""
    return registry.add(
        Struct(package, name, description, {f.name: f for f in fields}, map_type=map_type)
    )


# ---------------------------------------------------------------------------
# Resources (kinds served by the API)


@dataclass(frozen=True, slots=True)
class Column:
    """One Table column, as upstream's printers declare it."""

    name: str
    type: str  # string | integer | number | boolean | date
    description: str
    cell: Callable[[dict[str, Any]], Any]
    format: str = ""  # e.g. "name" for the NAME column
    priority: int = 0  # 1 = only with -o wide


@dataclass(slots=True)
class Resource:
    """One API resource (a kind in a group/version) as served by the apiserver."""

    group: str  # "" for core
    version: str
    kind: str
    plural: str
    namespaced: bool
    schema: str  # full struct name, e.g. io.k8s.api.core.v1.Pod
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = (
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    )
    subresources: tuple[str, ...] = ()  # e.g. ("status", "scale")
    # extra field selectors beyond metadata.name / metadata.namespace:
    # name -> function extracting the value as a string
    field_selectors: dict[str, Callable[[dict[str, Any]], str]] = dc_field(default_factory=dict)
    columns: tuple[Column, ...] = ()  # Table columns (NAME and AGE included explicitly)
    # where the object is stored; defaults to the plural of the preferred version
    storage_resource: str = ""
    # the version objects are stored in (for kinds served at several versions)
    storage_version: str = ""
    # the group whose storage holds the objects (events.k8s.io Events live in
    # core's store); "" = this resource's own group
    storage_group: str | None = None
    # False for create-only "virtual" kinds that are computed, never stored
    # (TokenReview, SubjectAccessReview, SelfSubjectReview...): the server
    # answers a create with a handler registered for the resource
    stored: bool = True

    def __post_init__(self) -> None:
        if not self.singular:
            self.singular = self.kind.lower()
        if not self.storage_resource:
            self.storage_resource = self.plural
        if not self.storage_version:
            self.storage_version = self.version
        if self.storage_group is None:
            self.storage_group = self.group

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def key_prefix(self) -> str:
        """The storage key prefix, like upstream: /registry/<group>/<resource>/."""
        g = self.storage_group or "core"
        return f"/registry/{g}/{self.storage_resource}/"

    @property
    def storage_api_version(self) -> str:
        """apiVersion of the objects as stored."""
        g = self.storage_group
        return f"{g}/{self.storage_version}" if g else self.storage_version

    def key(self, namespace: str | None, name: str) -> str:
        if self.namespaced:
            return f"{self.key_prefix()}{namespace}/{name}"
        return f"{self.key_prefix()}{name}"
