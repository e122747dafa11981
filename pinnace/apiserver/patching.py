"""Applying a PATCH body to the current object: JSON patch (RFC 6902), merge
patch (RFC 7386), strategic merge patch and server-side apply, each from
``pinnace.api.patch``; their errors become upstream's Statuses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pinnace.api.patch.apply import apply as ssa_apply
from pinnace.api.patch.errors import ApplyConflict, PatchError
from pinnace.api.patch.json_patch import json_patch
from pinnace.api.patch.merge_patch import merge_patch
from pinnace.api.patch.strategic import strategic_merge
from pinnace.api.schema import Resource
from pinnace.apiserver import errors
from pinnace.apiserver.registry import RequestContext, now_rfc3339

if TYPE_CHECKING:
    from pinnace.apiserver.registry import ResourceStore

Obj = dict[str, Any]

SCALE_SCHEMA = "io.k8s.api.autoscaling.v1.Scale"


def _from(e: PatchError | ApplyConflict) -> errors.ApiError:
    st = e.status()
    return errors.ApiError(st["code"], st.get("reason", ""), st["message"], st.get("details"))


def apply_patch(
    ptype: str,
    current: Obj | None,
    patch: Any,
    resource: Resource,
    store: ResourceStore,
    ctx: RequestContext,
    *,
    subresource: str = "",
    force: bool = False,
) -> Obj:
    schema = SCALE_SCHEMA if subresource == "scale" else resource.schema
    try:
        if ptype == "json":
            out = json_patch(current or {}, patch)
            if not isinstance(out, dict):
                raise errors.ApiError(422, "Invalid", "the patch result is not an object")
            return out
        if ptype == "merge":
            out = merge_patch(current or {}, patch)
            if not isinstance(out, dict):
                raise errors.ApiError(422, "Invalid", "the patch result is not an object")
            return out
        if ptype == "strategic":
            return strategic_merge(current or {}, patch, schema)
        if ptype == "apply":
            if not isinstance(patch, dict):
                raise errors.bad_request("the body of an apply patch must be an object")
            ignored: list[tuple[str, ...]] = []
            if "status" in resource.subresources and subresource != "status":
                ignored.append(("status",))
            out = ssa_apply(
                current,
                patch,
                ctx.field_manager,
                force=force,
                schema=schema,
                now=now_rfc3339(),
                operation_manager_api_version=resource.api_version,
                subresource=subresource,
                ignored_fields=ignored,
            )
            ctx.applied = True
            return out
    except (PatchError, ApplyConflict) as e:
        raise _from(e) from None
    raise errors.unsupported_media_type(ptype)
