"""The scale subresource (autoscaling/v1 Scale) of Deployments, ReplicaSets,
StatefulSets and ReplicationControllers."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pinnace.api.schema import Resource
from pinnace.api.selectors import label_selector_from_dict
from pinnace.apiserver import errors, negotiation
from pinnace.apiserver.negotiation import Accept
from pinnace.apiserver.registry import ResourceStore
from pinnace.apiserver.requestinfo import RequestInfo

if TYPE_CHECKING:
    from pinnace.apiserver.handlers import ResourceHandlers

Obj = dict[str, Any]


def selector_string(resource: Resource, obj: Obj) -> str:
    sel = obj.get("spec", {}).get("selector")
    if resource.kind == "ReplicationController":
        sel = {
            "matchLabels": sel
            or obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels")
            or {}
        }
    if sel is None:
        return ""
    return str(label_selector_from_dict(sel))


def to_scale(resource: Resource, obj: Obj) -> Obj:
    meta = obj["metadata"]
    scale_meta = {
        k: meta[k]
        for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        if k in meta
    }
    status: Obj = {"replicas": int(obj.get("status", {}).get("replicas") or 0)}
    sel = selector_string(resource, obj)
    if sel:
        status["selector"] = sel
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": int(obj.get("spec", {}).get("replicas") or 0)},
        "status": status,
    }


def _replicas_from(scale: Any, name: str) -> int:
    if not isinstance(scale, dict):
        raise errors.bad_request("body must be a Scale")
    r = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(r, int) or isinstance(r, bool):
        raise errors.bad_request("spec.replicas must be an integer")
    if r < 0:
        raise errors.ApiError(
            422,
            "Invalid",
            f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: {r}: must be greater than or equal to 0',
            {
                "name": name,
                "group": "autoscaling",
                "kind": "Scale",
                "causes": [
                    {
                        "reason": "FieldValueInvalid",
                        "message": f"Invalid value: {r}: must be greater than or equal to 0",
                        "field": "spec.replicas",
                    }
                ],
            },
        )
    return r


async def handle(
    h: ResourceHandlers,
    request: web.Request,
    info: RequestInfo,
    resource: Resource,
    store: ResourceStore,
    ns: str,
    accept: Accept,
) -> web.Response:
    name = info.name
    if info.verb == "get":
        return negotiation.encode(to_scale(resource, store.get(ns, name)), accept)
    ctx = h.context(request)
    if info.verb == "update":
        body = negotiation.decode_body(
            await h.read_body(request), request.headers.get("Content-Type", "")
        )
        replicas = _replicas_from(body, name)
        rv = ((body.get("metadata") or {}).get("resourceVersion")) or ""

        async def set_replicas(current: Obj) -> Obj:
            current.setdefault("spec", {})["replicas"] = replicas
            return current

        new, _ = await store.guaranteed_update(ns, name, set_replicas, ctx, precondition_rv=rv)
        return negotiation.encode(to_scale(resource, new), accept)
    if info.verb == "patch":

        def transform(current: Obj) -> Obj:
            return to_scale(resource, current)

        def untransform(current: Obj, new_scale: Obj) -> Obj:
            replicas = _replicas_from(new_scale, name)
            out = copy.deepcopy(current)
            out.setdefault("spec", {})["replicas"] = replicas
            return out

        new, _ = await h.patch(
            request, resource, store, ns, name, ctx, "scale", transform, untransform
        )
        return negotiation.encode(to_scale(resource, new), accept)
    raise errors.method_not_allowed()
