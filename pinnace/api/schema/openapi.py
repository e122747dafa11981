"""OpenAPI v3 (per group-version) and v2 (one Swagger 2.0 document), derived
from the schema declarations and the resource catalog.

What reads these, and what it needs:

- ``kubectl apply/create/replace`` (``--validate=strict``, the default) look in
  ``/openapi/v3/<gv>`` for a ``patch`` operation carrying the kind's
  ``x-kubernetes-group-version-kind`` and check that the operation's *own*
  ``parameters`` list ``fieldValidation`` (the first such operation decides,
  so every patch operation lists it); then they send ``fieldValidation=Strict``.
- client-side ``kubectl apply`` computes strategic merge patches from the v3
  component schemas (``x-kubernetes-patch-merge-key``/``-strategy``) when the
  kind's patch operation accepts ``application/strategic-merge-patch+json``.
- ``kubectl explain`` (v3) finds the kind through a path's operation GVK, then
  the component whose ``x-kubernetes-group-version-kind`` contains it, and
  follows ``allOf``/``$ref`` through the same document: so each GV document
  holds every schema transitively referenced (apps/v1 carries core/v1's
  PodSpec), as upstream's do.
- ``kubectl`` also fetches ``/openapi/v2`` (as protobuf) before apply/create
  with validation; see ``OpenAPI.v2_document`` for what it accepts.

Documents are built once per catalog and cached as bytes with their hash
(uppercase hex SHA-512, as upstream's ``?hash=``), since kubectl caches by hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from pinnace.api.schema.types import (
    META,
    PRIMITIVES,
    REGISTRY,
    Field,
    Resource,
    SchemaRegistry,
    Struct,
    TypeRef,
)

QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
TIME = f"{META}.Time"
MICRO_TIME = f"{META}.MicroTime"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
RAW_EXTENSION = "io.k8s.apimachinery.pkg.runtime.RawExtension"
STATUS = f"{META}.Status"
DELETE_OPTIONS = f"{META}.DeleteOptions"
PATCH = f"{META}.Patch"
WATCH_EVENT = f"{META}.WatchEvent"

# primitives that are named component schemas upstream
_NAMED_PRIMITIVES = {
    "Quantity": QUANTITY,
    "Time": TIME,
    "MicroTime": MICRO_TIME,
    "IntOrString": INT_OR_STRING,
}

V2_PROTOBUF_CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
PATCH_CONTENT_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
RESPONSE_CONTENT_TYPES = (
    "application/json",
    "application/vnd.kubernetes.protobuf",
    "application/yaml",
)

_QUANTITY_DESC = (
    "Quantity is a fixed-point representation of a number, like 100m, 1.5, 128Mi or 2Gi: "
    "a signed decimal number followed by an optional suffix: a binary SI one "
    "(Ki, Mi, Gi, Ti, Pi, Ei), a decimal SI one (n, u, m, k, M, G, T, P, E) or a "
    "decimal exponent (e3, E-6)."
)
_TIME_DESC = (
    "Time is a timestamp, serialized as an RFC 3339 date-time in UTC (2006-01-02T15:04:05Z)."
)
_MICRO_TIME_DESC = (
    "MicroTime is a timestamp with microsecond precision (2006-01-02T15:04:05.000000Z)."
)
_INT_OR_STRING_DESC = (
    "IntOrString holds either an int32 or a string, such as a port number or a port "
    "name, or a number or a percentage."
)
_RAW_DESC = "RawExtension holds an embedded object, kept as JSON."

# upstream's descriptions of the common query parameters, shortened
_PARAMS: dict[str, tuple[str, str]] = {
    "dryRun": (
        "string",
        "When present, indicates that modifications should not be persisted. Valid values "
        "are: - All: all dry run stages will be processed",
    ),
    "fieldManager": (
        "string",
        "fieldManager is a name associated with the actor or entity that is making these "
        "changes. Required for apply requests (application/apply-patch), optional otherwise.",
    ),
    "fieldValidation": (
        "string",
        "fieldValidation determines how the server should respond to unknown/duplicate "
        "fields in the object in the request. Valid values are: - Ignore: ignores "
        "unknown/duplicate fields. - Warn: responds with a warning for each unknown/duplicate "
        "field, but successfully serves the request. - Strict: fails the request on "
        "unknown/duplicate fields.",
    ),
    "force": (
        "boolean",
        'Force is going to "force" Apply requests. It means user will re-acquire conflicting '
        "fields owned by other people. Force flag must be unset for non-apply patch requests.",
    ),
    "pretty": ("string", "If 'true', then the output is pretty printed."),
    "gracePeriodSeconds": (
        "integer",
        "The duration in seconds before the object should be deleted. Zero means delete "
        "immediately.",
    ),
    "orphanDependents": (
        "boolean",
        "Deprecated: please use the PropagationPolicy. Should the dependent objects be orphaned.",
    ),
    "propagationPolicy": (
        "string",
        "Whether and how garbage collection will be performed: 'Orphan', 'Background' or "
        "'Foreground'.",
    ),
    "allowWatchBookmarks": (
        "boolean",
        'allowWatchBookmarks requests watch events with type "BOOKMARK".',
    ),
    "continue": ("string", "The continue token of a previous chunked list call."),
    "fieldSelector": (
        "string",
        "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
    ),
    "labelSelector": (
        "string",
        "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
    ),
    "limit": ("integer", "limit is a maximum number of responses to return for a list call."),
    "resourceVersion": (
        "string",
        "resourceVersion sets a constraint on what resource versions a request may be served from.",
    ),
    "resourceVersionMatch": (
        "string",
        "resourceVersionMatch determines how resourceVersion is applied to list calls.",
    ),
    "sendInitialEvents": (
        "boolean",
        "With watch=true, start the watch stream with synthetic events for the current objects.",
    ),
    "timeoutSeconds": ("integer", "Timeout for the list/watch call."),
    "watch": (
        "boolean",
        "Watch for changes to the described resources and return them as a stream of add, "
        "update, and remove notifications. Specify resourceVersion.",
    ),
}
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_PATCH_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force")
_DELETE_PARAMS = ("dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy")
_DELETECOLLECTION_PARAMS = (
    "continue",
    "dryRun",
    "fieldSelector",
    "gracePeriodSeconds",
    "labelSelector",
    "limit",
    "orphanDependents",
    "propagationPolicy",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
)
_LIST_PARAMS = (
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
)


def gv_path(group: str, version: str) -> str:
    """The key of a group-version in the ``/openapi/v3`` index: ``api/v1``, ``apis/apps/v1``."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def doc_hash(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest().upper()


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "kind": kind, "version": version}


def _camel_group(group: str) -> str:
    """Upstream's operation id group part: core, apps, rbac.authorization.k8s.io
    -> Core, Apps, RbacAuthorization."""
    if not group:
        return "Core"
    g = group.removesuffix(".k8s.io")
    return "".join(p[:1].upper() + p[1:] for p in g.replace("-", ".").split("."))


# -- schemas --------------------------------------------------------------------


class _Schemas:
    """Builds component schemas (v3) or definitions (v2) for a registry."""

    def __init__(self, registry: SchemaRegistry, v3: bool, gvks: dict[str, list[dict[str, str]]]):
        self.registry = registry
        self.v3 = v3
        self.gvks = gvks  # struct name -> GVKs it serves as
        self.prefix = "#/components/schemas/" if v3 else "#/definitions/"

    def ref(self, name: str) -> dict[str, Any]:
        return {"$ref": self.prefix + name}

    def named(self, name: str, extra: dict[str, Any]) -> dict[str, Any]:
        """A property or item referring to a named schema."""
        if self.v3:
            return {"allOf": [self.ref(name)], **extra}
        return {**self.ref(name), **extra}

    def type_schema(self, t: TypeRef, f: Field | None) -> dict[str, Any]:
        if t.kind == "struct":
            return self.named(t.name, {})
        if t.kind == "list":
            assert t.item is not None
            item = self.type_schema(t.item, None)
            if self.v3 and t.item.kind == "struct":
                item["default"] = {}
            return {"items": item, "type": "array"}
        if t.kind == "map":
            assert t.item is not None
            return {"additionalProperties": self.type_schema(t.item, None), "type": "object"}
        if t.name in _NAMED_PRIMITIVES:
            return self.named(_NAMED_PRIMITIVES[t.name], {})
        if t.name == "object":
            return {"type": "object"}
        if t.name == "Duration":
            return {"type": "string"}
        typ, fmt = PRIMITIVES[t.name]
        out: dict[str, Any] = {"type": typ}
        if fmt:
            out["format"] = fmt
        return out

    def property(self, f: Field) -> dict[str, Any]:
        p = self.type_schema(f.type, f)
        if f.description:
            p["description"] = f.description
        if f.default is not None:
            p["default"] = f.default
        if f.enum:
            p["enum"] = list(f.enum)
        if f.merge_key:
            p["x-kubernetes-patch-merge-key"] = f.merge_key
        if f.patch_strategy:
            p["x-kubernetes-patch-strategy"] = f.patch_strategy
        list_type = f.list_type or ("map" if f.list_map_keys else None)
        if list_type:
            p["x-kubernetes-list-type"] = list_type
        if f.list_map_keys:
            p["x-kubernetes-list-map-keys"] = list(f.list_map_keys)
        if f.map_type:
            p["x-kubernetes-map-type"] = f.map_type
        return p

    def struct(self, s: Struct) -> dict[str, Any]:
        out: dict[str, Any] = {"description": s.description}
        props = {name: self.property(f) for name, f in sorted(s.fields.items())}
        if props:
            out["properties"] = props
        required = [f.name for f in s.fields.values() if f.required]
        if required:
            out["required"] = required
        out["type"] = "object"
        gvks = self.gvks.get(s.full_name)
        if gvks:
            out["x-kubernetes-group-version-kind"] = gvks
        if s.map_type:
            out["x-kubernetes-map-type"] = s.map_type
        return out

    def builtin(self, name: str) -> dict[str, Any]:
        """Schemas of the named primitives and of meta types the kinds may not declare."""
        if name == QUANTITY:
            if self.v3:
                return {
                    "description": _QUANTITY_DESC,
                    "oneOf": [{"type": "string"}, {"type": "number"}],
                }
            return {"description": _QUANTITY_DESC, "type": "string"}
        if name == TIME:
            return {"description": _TIME_DESC, "format": "date-time", "type": "string"}
        if name == MICRO_TIME:
            return {"description": _MICRO_TIME_DESC, "format": "date-time", "type": "string"}
        if name == INT_OR_STRING:
            if self.v3:
                return {
                    "description": _INT_OR_STRING_DESC,
                    "format": "int-or-string",
                    "oneOf": [{"type": "integer"}, {"type": "string"}],
                    "x-kubernetes-int-or-string": True,
                }
            return {"description": _INT_OR_STRING_DESC, "format": "int-or-string", "type": "string"}
        if name == RAW_EXTENSION:
            return {"description": _RAW_DESC, "type": "object"}
        if name == PATCH:
            return {
                "description": "Patch is provided to give a concrete name and type to the "
                "Kubernetes PATCH request body.",
                "type": "object",
            }
        if name == STATUS:
            return {
                "description": "Status is a return value for calls that don't return other objects.",
                "properties": {
                    "apiVersion": {"type": "string"},
                    "code": {"format": "int32", "type": "integer"},
                    "details": {"type": "object"},
                    "kind": {"type": "string"},
                    "message": {"type": "string"},
                    "metadata": {"type": "object"},
                    "reason": {"type": "string"},
                    "status": {"type": "string"},
                },
                "type": "object",
                "x-kubernetes-group-version-kind": [_gvk("", "v1", "Status")],
            }
        if name == DELETE_OPTIONS:
            return {
                "description": "DeleteOptions may be provided when deleting an API object.",
                "properties": {
                    "apiVersion": {"type": "string"},
                    "dryRun": {"items": {"type": "string"}, "type": "array"},
                    "gracePeriodSeconds": {"format": "int64", "type": "integer"},
                    "kind": {"type": "string"},
                    "orphanDependents": {"type": "boolean"},
                    "preconditions": {"type": "object"},
                    "propagationPolicy": {"type": "string"},
                },
                "type": "object",
            }
        if name == WATCH_EVENT:
            return {
                "description": "Event represents a single event to a watched resource.",
                "properties": {
                    "object": {
                        "description": "The object: the new state, or the state at deletion."
                    },
                    "type": {"type": "string"},
                },
                "required": ["type", "object"],
                "type": "object",
            }
        raise KeyError(name)

    def closure(self, roots: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Every schema reachable from ``roots`` (struct or builtin names), built."""
        out: dict[str, dict[str, Any]] = {}
        todo = list(roots)
        while todo:
            name = todo.pop()
            if name in out:
                continue
            s = self.registry.structs.get(name)
            if s is None:
                try:
                    out[name] = self.builtin(name)
                except KeyError:
                    continue
                continue
            out[name] = self.struct(s)
            for f in s.fields.values():
                todo.extend(_referenced(f.type))
        return dict(sorted(out.items()))


def _referenced(t: TypeRef) -> list[str]:
    while t.kind in ("list", "map"):
        assert t.item is not None
        t = t.item
    if t.kind == "struct":
        return [t.name]
    if t.name in _NAMED_PRIMITIVES:
        return [_NAMED_PRIMITIVES[t.name]]
    return []


# -- paths ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Kind:
    """What the paths of one resource refer to."""

    resource: Resource
    schema: str  # the kind's schema name
    list_schema: str  # its List's schema name


class _Paths:
    def __init__(self, schemas: _Schemas) -> None:
        self.s = schemas
        self.v3 = schemas.v3

    def param(self, name: str, where: str = "query", description: str = "") -> dict[str, Any]:
        typ, desc = _PARAMS.get(name, ("string", description))
        p: dict[str, Any] = {"description": description or desc, "in": where, "name": name}
        if where == "path":
            p["required"] = True
        if self.v3:
            p["schema"] = {"type": typ, "uniqueItems": True}
        else:
            p["type"] = typ
            p["uniqueItems"] = True
        return p

    def params(self, names: Iterable[str]) -> list[dict[str, Any]]:
        return [self.param(n) for n in names]

    def responses(self, schema: str, codes: Iterable[tuple[str, str]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for code, desc in codes:
            if self.v3:
                out[code] = {
                    "content": {
                        ct: {"schema": self.s.ref(schema)} for ct in RESPONSE_CONTENT_TYPES
                    },
                    "description": desc,
                }
            else:
                out[code] = {"description": desc, "schema": self.s.ref(schema)}
        out["401"] = {"description": "Unauthorized"}
        return out

    def op(
        self,
        *,
        action: str,
        op_id: str,
        description: str,
        gvk: dict[str, str],
        tag: str,
        response: str,
        codes: Iterable[tuple[str, str]] = (("200", "OK"),),
        params: Iterable[str] = (),
        body: str | None = None,
        body_types: Iterable[str] = ("*/*",),
    ) -> dict[str, Any]:
        o: dict[str, Any] = {"description": description, "operationId": op_id}
        ps = self.params(params)
        body_types = tuple(body_types)
        if body is not None and not self.v3:
            ps.insert(
                0, {"in": "body", "name": "body", "required": True, "schema": self.s.ref(body)}
            )
        if ps:
            o["parameters"] = ps
        if body is not None and self.v3:
            o["requestBody"] = {
                "content": {ct: {"schema": self.s.ref(body)} for ct in body_types},
                "required": True,
            }
        o["responses"] = self.responses(response, codes)
        o["tags"] = [tag]
        if not self.v3:
            o["consumes"] = list(body_types)
            o["produces"] = list(RESPONSE_CONTENT_TYPES)
            o["schemes"] = ["https"]
        o["x-kubernetes-action"] = action
        o["x-kubernetes-group-version-kind"] = gvk
        return o

    def for_kind(self, k: _Kind, scale_schema: str | None) -> dict[str, dict[str, Any]]:
        r = k.resource
        prefix = f"/apis/{r.group}/{r.version}" if r.group else f"/api/{r.version}"
        ns = "/namespaces/{namespace}" if r.namespaced else ""
        gvk = _gvk(r.group, r.version, r.kind)
        gv = f"{_camel_group(r.group)}{r.version[:1].upper()}{r.version[1:]}"
        tag = f"{r.group.removesuffix('.k8s.io').replace('.', '_') or 'core'}_{r.version}"
        scope = "Namespaced" if r.namespaced else ""
        kind = r.kind
        verbs = set(r.verbs)
        common = (
            [
                self.param(
                    "namespace",
                    "path",
                    "object name and auth scope, such as for teams and projects",
                )
            ]
            if r.namespaced
            else []
        )
        pretty = self.param("pretty")
        paths: dict[str, dict[str, Any]] = {}

        collection: dict[str, Any] = {}
        if "list" in verbs or "watch" in verbs:
            collection["get"] = self.op(
                action="list",
                op_id=f"list{gv}{scope}{kind}",
                description=f"list or watch objects of kind {kind}",
                gvk=gvk,
                tag=tag,
                response=k.list_schema,
                params=_LIST_PARAMS,
            )
        if "create" in verbs:
            collection["post"] = self.op(
                action="post",
                op_id=f"create{gv}{scope}{kind}",
                description=f"create a {kind}",
                gvk=gvk,
                tag=tag,
                response=k.schema,
                codes=(("200", "OK"), ("201", "Created"), ("202", "Accepted")),
                params=_WRITE_PARAMS,
                body=k.schema,
            )
        if "deletecollection" in verbs:
            collection["delete"] = self.op(
                action="deletecollection",
                op_id=f"delete{gv}Collection{scope}{kind}",
                description=f"delete collection of {kind}",
                gvk=gvk,
                tag=tag,
                response=STATUS,
                params=_DELETECOLLECTION_PARAMS,
                body=DELETE_OPTIONS,
            )
        if collection:
            collection["parameters"] = [*common, pretty]
            paths[f"{prefix}{ns}/{r.plural}"] = collection
        if r.namespaced and "list" in verbs:
            paths[f"{prefix}/{r.plural}"] = {
                "get": self.op(
                    action="list",
                    op_id=f"list{gv}{kind}ForAllNamespaces",
                    description=f"list or watch objects of kind {kind}",
                    gvk=gvk,
                    tag=tag,
                    response=k.list_schema,
                ),
                "parameters": [self.param(n) for n in sorted((*_LIST_PARAMS, "pretty"))],
            }

        name_param = self.param("name", "path", f"name of the {kind}")
        item: dict[str, Any] = {}
        if "get" in verbs:
            item["get"] = self.op(
                action="get",
                op_id=f"read{gv}{scope}{kind}",
                description=f"read the specified {kind}",
                gvk=gvk,
                tag=tag,
                response=k.schema,
            )
        if "update" in verbs:
            item["put"] = self.op(
                action="put",
                op_id=f"replace{gv}{scope}{kind}",
                description=f"replace the specified {kind}",
                gvk=gvk,
                tag=tag,
                response=k.schema,
                codes=(("200", "OK"), ("201", "Created")),
                params=_WRITE_PARAMS,
                body=k.schema,
            )
        if "patch" in verbs:
            item["patch"] = self.patch_op(f"patch{gv}{scope}{kind}", kind, gvk, tag, k.schema)
        if "delete" in verbs:
            item["delete"] = self.op(
                action="delete",
                op_id=f"delete{gv}{scope}{kind}",
                description=f"delete a {kind}",
                gvk=gvk,
                tag=tag,
                response=STATUS,
                codes=(("200", "OK"), ("202", "Accepted")),
                params=_DELETE_PARAMS,
                body=DELETE_OPTIONS,
            )
        if item:
            item["parameters"] = [name_param, *common, pretty]
            paths[f"{prefix}{ns}/{r.plural}/{{name}}"] = item

        for sub in r.subresources:
            if sub == "status":
                sub_gvk, sub_schema, suffix = gvk, k.schema, "Status"
            elif sub == "scale" and scale_schema is not None:
                sub_gvk, sub_schema, suffix = (
                    _gvk("autoscaling", "v1", "Scale"),
                    scale_schema,
                    "Scale",
                )
            else:
                continue
            ops: dict[str, Any] = {
                "get": self.op(
                    action="get",
                    op_id=f"read{gv}{scope}{kind}{suffix}",
                    description=f"read {sub} of the specified {kind}",
                    gvk=sub_gvk,
                    tag=tag,
                    response=sub_schema,
                ),
                "put": self.op(
                    action="put",
                    op_id=f"replace{gv}{scope}{kind}{suffix}",
                    description=f"replace {sub} of the specified {kind}",
                    gvk=sub_gvk,
                    tag=tag,
                    response=sub_schema,
                    codes=(("200", "OK"), ("201", "Created")),
                    params=_WRITE_PARAMS,
                    body=sub_schema,
                ),
                "patch": self.patch_op(
                    f"patch{gv}{scope}{kind}{suffix}", kind, sub_gvk, tag, sub_schema, sub
                ),
                "parameters": [name_param, *common, pretty],
            }
            paths[f"{prefix}{ns}/{r.plural}/{{name}}/{sub}"] = ops
        return paths

    def patch_op(
        self, op_id: str, kind: str, gvk: dict[str, str], tag: str, schema: str, sub: str = ""
    ) -> dict[str, Any]:
        what = f"{sub} of the specified {kind}" if sub else f"the specified {kind}"
        return self.op(
            action="patch",
            op_id=op_id,
            description=f"partially update {what}",
            gvk=gvk,
            tag=tag,
            response=schema,
            codes=(("200", "OK"), ("201", "Created")),
            params=_PATCH_PARAMS,
            body=PATCH,
            body_types=PATCH_CONTENT_TYPES,
        )


# -- documents ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Document:
    """One served document: its JSON bytes and their hash."""

    body: bytes
    hash: str


class OpenAPI:
    """Every OpenAPI document for one set of resources, built on first use."""

    def __init__(
        self,
        resources: list[Resource],
        registry: SchemaRegistry = REGISTRY,
        version: str = "unversioned",
    ) -> None:
        registry.resolve()
        self.registry = registry
        self.resources = resources
        self.version = version
        self._gv: dict[str, Document] = {}
        self._index: Document | None = None
        self._v2: Document | None = None
        self._v2pb: Document | None = None
        self.kinds = [self._kind(r) for r in resources]
        gvks: dict[str, list[dict[str, str]]] = {}
        for name, s in registry.structs.items():
            if s.gvk is not None:
                gvks.setdefault(name, []).append(_gvk(*s.gvk))
        for k in self.kinds:
            r = k.resource
            for name, kind in ((k.schema, r.kind), (k.list_schema, r.list_kind)):
                entry = _gvk(r.group, r.version, kind)
                if entry not in gvks.setdefault(name, []):
                    gvks[name].append(entry)
        self.gvks = gvks
        scale = "io.k8s.api.autoscaling.v1.Scale"
        self.scale_schema = scale if scale in registry.structs else None

    def _kind(self, r: Resource) -> _Kind:
        # the kind modules declare <Kind>List next to <Kind>; if one did not,
        # _schemas synthesizes it under that name
        return _Kind(r, r.schema, f"{r.schema}List")

    def group_versions(self) -> list[tuple[str, str]]:
        seen: dict[tuple[str, str], None] = {}
        for r in self.resources:
            seen[(r.group, r.version)] = None
        return list(seen)

    def _schemas(self, v3: bool, kinds: list[_Kind]) -> tuple[_Schemas, dict[str, Any]]:
        schemas = _Schemas(self.registry, v3, self.gvks)
        roots = [STATUS, DELETE_OPTIONS, PATCH, WATCH_EVENT, f"{META}.ListMeta"]
        for k in kinds:
            roots += [k.schema, k.list_schema]
        if self.scale_schema and any("scale" in k.resource.subresources for k in kinds):
            roots.append(self.scale_schema)
        built = schemas.closure(roots)
        for k in kinds:  # Lists the kind modules did not declare
            if k.list_schema not in built:
                built[k.list_schema] = self._list_schema(schemas, k)
        return schemas, dict(sorted(built.items()))

    def _list_schema(self, schemas: _Schemas, k: _Kind) -> dict[str, Any]:
        r = k.resource
        item = schemas.named(k.schema, {"default": {}} if schemas.v3 else {})
        meta = schemas.named(f"{META}.ListMeta", {"description": "Standard list metadata."})
        props: dict[str, Any] = {
            "apiVersion": {
                "description": "The versioned schema of this representation.",
                "type": "string",
            },
            "items": {"description": f"The list of {r.plural}.", "items": item, "type": "array"},
            "kind": {"description": "The REST kind of this object.", "type": "string"},
        }
        if f"{META}.ListMeta" in self.registry.structs:
            props["metadata"] = meta
        return {
            "description": f"{r.kind}List is a list of {r.kind} objects.",
            "properties": props,
            "required": ["items"],
            "type": "object",
            "x-kubernetes-group-version-kind": [_gvk(r.group, r.version, r.list_kind)],
        }

    # v3 ---------------------------------------------------------------------------

    def v3_document(self, group: str, version: str) -> dict[str, Any] | None:
        """The v3 document of one group-version (None if none is served)."""
        kinds = [
            k for k in self.kinds if (k.resource.group, k.resource.version) == (group, version)
        ]
        if not kinds:
            return None
        schemas, components = self._schemas(True, kinds)
        paths_builder = _Paths(schemas)
        paths: dict[str, Any] = {}
        for k in kinds:
            paths.update(paths_builder.for_kind(k, self.scale_schema))
        return {
            "components": {"schemas": components},
            "info": {"title": "Kubernetes", "version": self.version},
            "openapi": "3.0.0",
            "paths": dict(sorted(paths.items())),
        }

    def v3(self, path: str) -> Document | None:
        """The served document for an index key like ``apis/apps/v1``."""
        doc = self._gv.get(path)
        if doc is None:
            parts = path.strip("/").split("/")
            if len(parts) == 2 and parts[0] == "api":
                gv: tuple[str, str] = ("", parts[1])
            elif len(parts) == 3 and parts[0] == "apis":
                gv = (parts[1], parts[2])
            else:
                return None
            built = self.v3_document(*gv)
            if built is None:
                return None
            doc = self._gv[path] = _document(built)
        return doc

    def v3_index(self) -> Document:
        """``/openapi/v3``: every group-version with its hashed URL."""
        if self._index is None:
            paths = {}
            for group, version in self.group_versions():
                key = gv_path(group, version)
                doc = self.v3(key)
                assert doc is not None
                paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={doc.hash}"}
            self._index = _document({"paths": dict(sorted(paths.items()))})
        return self._index

    # v2 ---------------------------------------------------------------------------

    def v2_document(self) -> dict[str, Any]:
        """One Swagger 2.0 document for everything.

        kubectl 1.32 asks for it as ``application/com.github.proto-openapi.spec.v2@v1.0+protobuf``
        and decodes the answer as protobuf without looking at Content-Type: a JSON
        body fails to decode and a 406 is an error, and both make ``kubectl
        apply/create -f`` fail before sending anything (``f.Validator`` parses v2
        eagerly unless ``--validate=false``). Serve ``v2_protobuf()`` for that
        Accept header and this JSON otherwise. (An empty protobuf body would
        also parse, as an empty document.)
        """
        schemas, definitions = self._schemas(False, self.kinds)
        paths_builder = _Paths(schemas)
        paths: dict[str, Any] = {}
        for k in self.kinds:
            paths.update(paths_builder.for_kind(k, self.scale_schema))
        return {
            "definitions": definitions,
            "info": {"title": "Kubernetes", "version": self.version},
            "paths": dict(sorted(paths.items())),
            "security": [{"BearerToken": []}],
            "securityDefinitions": {
                "BearerToken": {
                    "description": "Bearer Token authentication",
                    "in": "header",
                    "name": "authorization",
                    "type": "apiKey",
                }
            },
            "swagger": "2.0",
        }

    def v2(self) -> Document:
        if self._v2 is None:
            self._v2 = _document(self.v2_document())
        return self._v2

    def v2_protobuf(self) -> Document:
        """``/openapi/v2`` for ``Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf``
        (answer with that Content-Type)."""
        if self._v2pb is None:
            body = v2_to_protobuf(self.v2_document())
            self._v2pb = Document(body, doc_hash(body))
        return self._v2pb


def _document(doc: dict[str, Any]) -> Document:
    body = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    return Document(body, doc_hash(body))


@cache
def openapi() -> OpenAPI:
    """The documents for the served catalog (built lazily, once)."""
    from pinnace.api.resources import catalog  # late: the catalog imports the kinds

    return OpenAPI(catalog().resources)


# -- v2 as gnostic protobuf ------------------------------------------------------------
# kubectl decodes /openapi/v2 into gnostic's openapi_v2.Document (field numbers
# from google/gnostic openapiv2/OpenAPIv2.proto). Vendor extensions and
# defaults/enums travel as ``Any{yaml}``: JSON text is valid YAML.


def _pb_len(num: int, payload: bytes) -> bytes:
    return _pb_varint((num << 3) | 2) + _pb_varint(len(payload)) + payload


def _pb_varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _pb_str(num: int, s: str) -> bytes:
    return _pb_len(num, s.encode()) if s else b""


def _pb_bool(num: int, b: bool) -> bytes:
    return _pb_varint(num << 3) + b"\x01" if b else b""


def _pb_any(num: int, value: Any) -> bytes:
    return _pb_len(num, _pb_str(2, orjson.dumps(value).decode()))


def _pb_extensions(num: int, node: dict[str, Any]) -> bytes:
    return b"".join(
        _pb_len(num, _pb_str(1, k) + _pb_any(2, v)) for k, v in node.items() if k.startswith("x-")
    )


def _pb_schema(s: dict[str, Any]) -> bytes:
    out = _pb_str(1, s.get("$ref", "")) + _pb_str(2, s.get("format", ""))
    out += _pb_str(4, s.get("description", ""))
    if "default" in s:
        out += _pb_any(5, s["default"])
    out += b"".join(_pb_str(19, r) for r in s.get("required", ()))
    out += b"".join(_pb_any(20, e) for e in s.get("enum", ()))
    if isinstance(s.get("additionalProperties"), dict):
        out += _pb_len(21, _pb_len(1, _pb_schema(s["additionalProperties"])))
    if "type" in s:
        out += _pb_len(22, _pb_str(1, s["type"]))
    if "items" in s:
        out += _pb_len(23, _pb_len(1, _pb_schema(s["items"])))
    if "properties" in s:
        props = b"".join(
            _pb_len(1, _pb_str(1, k) + _pb_len(2, _pb_schema(v)))
            for k, v in s["properties"].items()
        )
        out += _pb_len(25, props)
    return out + _pb_extensions(31, s)


def _pb_parameter(p: dict[str, Any]) -> bytes:
    if p["in"] == "body":
        body = _pb_str(2, p["name"]) + _pb_str(3, "body") + _pb_bool(4, p.get("required", False))
        body += _pb_len(5, _pb_schema(p["schema"]))
        return _pb_len(1, _pb_len(1, body))
    sub = _pb_bool(1, p.get("required", False)) + _pb_str(2, p["in"])
    sub += _pb_str(3, p.get("description", "")) + _pb_str(4, p["name"])
    if p["in"] == "path":  # PathParameterSubSchema
        sub += _pb_str(5, p.get("type", "")) + _pb_bool(19, p.get("uniqueItems", False))
        which = 4
    else:  # QueryParameterSubSchema
        sub += _pb_str(6, p.get("type", "")) + _pb_bool(20, p.get("uniqueItems", False))
        which = 3
    return _pb_len(1, _pb_len(2, _pb_len(which, sub)))


def _pb_operation(o: dict[str, Any]) -> bytes:
    out = b"".join(_pb_str(1, t) for t in o.get("tags", ()))
    out += _pb_str(3, o.get("description", "")) + _pb_str(5, o.get("operationId", ""))
    out += b"".join(_pb_str(6, t) for t in o.get("produces", ()))
    out += b"".join(_pb_str(7, t) for t in o.get("consumes", ()))
    out += b"".join(_pb_len(8, _pb_parameter(p)) for p in o.get("parameters", ()))
    codes = b""
    for code, r in o.get("responses", {}).items():
        resp = _pb_str(1, r.get("description", ""))
        if "schema" in r:
            resp += _pb_len(2, _pb_len(1, _pb_schema(r["schema"])))
        codes += _pb_len(1, _pb_str(1, code) + _pb_len(2, _pb_len(1, resp)))
    out += _pb_len(9, codes)
    out += b"".join(_pb_str(10, s) for s in o.get("schemes", ()))
    return out + _pb_extensions(13, o)


_PATH_ITEM_FIELDS = {"get": 2, "put": 3, "post": 4, "delete": 5, "patch": 8}


def v2_to_protobuf(doc: dict[str, Any]) -> bytes:
    """A Swagger 2.0 document (as ``OpenAPI.v2_document`` builds it) encoded as
    gnostic's ``openapi_v2.Document``."""
    out = _pb_str(1, doc.get("swagger", "2.0"))
    info = doc.get("info", {})
    out += _pb_len(2, _pb_str(1, info.get("title", "")) + _pb_str(2, info.get("version", "")))
    paths = b""
    for path, item in doc.get("paths", {}).items():
        body = b"".join(
            _pb_len(num, _pb_operation(item[verb]))
            for verb, num in _PATH_ITEM_FIELDS.items()
            if verb in item
        )
        body += b"".join(_pb_len(9, _pb_parameter(p)) for p in item.get("parameters", ()))
        paths += _pb_len(2, _pb_str(1, path) + _pb_len(2, body))
    out += _pb_len(8, paths)
    defs = b"".join(
        _pb_len(1, _pb_str(1, name) + _pb_len(2, _pb_schema(s)))
        for name, s in doc.get("definitions", {}).items()
    )
    return out + _pb_len(9, defs)
