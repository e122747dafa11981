"""The schema-derived steps of the registry's write path: structural
validation, defaulting, managedFields tracking, and the storage decoder
for the watch cache."""

from __future__ import annotations

import logging
from typing import Any

from pinnace.api.patch.apply import update_managed_fields
from pinnace.api.schema import Resource
from pinnace.api.schema.defaulting import apply_defaults
from pinnace.api.schema.validation import FieldError, validate_structure
from pinnace.apiserver.cache import ValueDecoder
from pinnace.apiserver.registry import RequestContext, StoreHooks, now_rfc3339

log = logging.getLogger("pinnace.apiserver.schemahooks")

Obj = dict[str, Any]


class SchemaHooks(StoreHooks):
    def validate_structure(
        self, resource: Resource, obj: Obj, strict: bool
    ) -> tuple[list[str], list[FieldError], list[str]]:
        errs, unknown = validate_structure(obj, resource.schema, strict=False)
        type_errors = [str(e) for e in errs if e.type == "FieldValueTypeInvalid"]
        others = [e for e in errs if e.type != "FieldValueTypeInvalid"]
        # unknown field texts come back as 'unknown field "x"'; keep the paths
        paths = [
            u[len('unknown field "') : -1] if u.startswith('unknown field "') else u
            for u in unknown
        ]
        return type_errors, others, paths

    def apply_defaults(self, resource: Resource, obj: Obj) -> None:
        apply_defaults(obj, resource.schema)

    def track_managed_fields(
        self, resource: Resource, old: Obj | None, new: Obj, ctx: RequestContext, subresource: str
    ) -> None:
        if ctx.applied:
            return  # server-side apply already recorded ownership
        ignored: list[tuple[str, ...]] = []
        if "status" in resource.subresources and subresource != "status":
            ignored.append(("status",))
        schema = resource.schema
        try:
            out = update_managed_fields(
                old,
                new,
                ctx.field_manager,
                schema=schema,
                now=now_rfc3339(),
                api_version=resource.api_version,
                subresource=subresource,
                ignored_fields=ignored,
            )
            mf = out.get("metadata", {}).get("managedFields")
            if mf is None:
                new["metadata"].pop("managedFields", None)
            else:
                new["metadata"]["managedFields"] = mf
        except Exception:
            # ownership tracking must never fail a write
            log.warning("managedFields tracking failed for %s", resource.plural, exc_info=True)

    def value_decoder(self, resource: Resource) -> ValueDecoder:
        """The at-rest transformation the watch cache undoes (identity until
        secrets encryption arrives)."""

        def decode(data: bytes) -> bytes:
            return self.decode(resource, data)

        return decode
