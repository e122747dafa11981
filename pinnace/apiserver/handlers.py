"""HTTP handlers for resource requests: get, list, watch, create, update,
patch, delete, deletecollection, and the status / scale / binding /
eviction / finalize subresources. Generic over resources: everything
kind-specific lives in the resource's Strategy and schema.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from pinnace.api.schema import Resource
from pinnace.api.selectors import (
    SelectorError,
    label_selector_from_dict,
    parse_field_selector,
    parse_label_selector,
)
from pinnace.apiserver import errors, negotiation, tables
from pinnace.apiserver.cache import Entry, Predicate
from pinnace.apiserver.negotiation import Accept
from pinnace.apiserver.registry import (
    DeleteOptions,
    RequestContext,
    ResourceStore,
    default_manager,
    now_rfc3339,
)
from pinnace.apiserver.requestinfo import RequestInfo

if TYPE_CHECKING:
    from pinnace.apiserver.server import ApiServer

log = logging.getLogger("pinnace.apiserver.handlers")

Obj = dict[str, Any]

_GENERIC_FIELDS = ("metadata.name", "metadata.namespace")


def _bool_param(v: str | None) -> bool:
    return v is not None and v.lower() in ("true", "1", "yes")


def _int_param(q: Any, name: str) -> int | None:
    v = q.get(name)
    if v is None or v == "":
        return None
    try:
        return int(v)
    except ValueError:
        raise errors.bad_request(f"invalid value for {name}: {v!r}") from None


def field_values(resource: Resource, obj: Obj) -> dict[str, str]:
    meta = obj.get("metadata", {})
    vals = {"metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", "")}
    for name, fn in resource.field_selectors.items():
        try:
            vals[name] = fn(obj)
        except Exception:
            vals[name] = ""
    return vals


def fields_function(resources: list[Resource]) -> Callable[[Obj], dict[str, str]]:
    """Field-selector values the watch cache keeps per entry: those of every
    resource stored under one prefix without conversion."""
    plain = [r for r in resources if r.api_version == r.storage_api_version]

    def fields(obj: Obj) -> dict[str, str]:
        vals: dict[str, str] = {}
        for r in plain:
            vals.update(field_values(r, obj))
        if not plain:
            meta = obj.get("metadata", {})
            vals = {
                "metadata.name": meta.get("name", ""),
                "metadata.namespace": meta.get("namespace", ""),
            }
        return vals

    return fields


def build_predicate(resource: Resource, query: Any, store: ResourceStore) -> Predicate | None:
    """A selector predicate over cached entries (labels and fields are kept
    per entry; kinds served through a conversion are decoded and converted)."""
    try:
        ls = parse_label_selector(query.get("labelSelector"))
        fs = parse_field_selector(query.get("fieldSelector"))
        if not fs.empty():
            fs.check_supported((*_GENERIC_FIELDS, *resource.field_selectors))
    except SelectorError as e:
        raise errors.bad_request(str(e)) from None
    if ls.empty() and fs.empty():
        return None
    if store.converts:

        def slow(e: Entry) -> bool:
            o = store.load(e)
            return ls.matches(o.get("metadata", {}).get("labels") or {}) and fs.matches(
                field_values(resource, o)
            )

        return slow
    if fs.empty():
        return lambda e: ls.matches(e.labels)
    if ls.empty():
        return lambda e: fs.matches(e.fields)
    return lambda e: ls.matches(e.labels) and fs.matches(e.fields)


class ResourceHandlers:
    def __init__(self, server: ApiServer) -> None:
        self.server = server

    # -- context --------------------------------------------------------------

    def context(self, request: web.Request) -> RequestContext:
        q = request.query
        dry = q.getall("dryRun", [])
        for d in dry:
            if d != "All":
                raise errors.bad_request(f'Invalid dryRun value: "{d}"; supported values: "All"')
        fv = q.get("fieldValidation", "")
        if fv and fv not in ("Strict", "Warn", "Ignore"):
            raise errors.bad_request(
                f'fieldValidation must be one of "Ignore", "Warn", or "Strict", got {fv!r}'
            )
        ua = request.headers.get("User-Agent", "")
        manager = q.get("fieldManager") or ""
        if len(manager) > 128:
            raise errors.bad_request("fieldManager: Too long: may not be more than 128 bytes")
        annotations: dict[str, str] = {}
        request["audit_annotations"] = annotations  # the audit log reads what admission notes
        return RequestContext(
            user=request["user"],
            dry_run=bool(dry),
            field_manager=manager or default_manager(ua),
            field_validation=fv or "Warn",
            user_agent=ua,
            audit_annotations=annotations,
        )

    def respond(
        self,
        request: web.Request,
        resource: Resource,
        obj: Obj,
        accept: Accept,
        ctx: RequestContext | None,
        status: int = 200,
    ) -> web.Response:
        headers = {}
        if ctx is not None and ctx.warnings:
            headers["Warning"] = ", ".join(
                '299 - "' + w.replace('"', '\\"') + '"' for w in dict.fromkeys(ctx.warnings)
            )
        if accept.table:
            include = request.query.get("includeObject", "Metadata")
            body = tables.table(resource, [obj], include_object=include)
            return negotiation.json_response(body, status, headers)
        if accept.partial_metadata:
            return negotiation.json_response(tables.partial_metadata(obj), status, headers)
        return negotiation.encode(obj, accept, status, headers)

    async def read_body(self, request: web.Request) -> bytes:
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise errors.too_large() from None

    # -- dispatch -------------------------------------------------------------

    async def handle(
        self, request: web.Request, info: RequestInfo, resource: Resource
    ) -> web.StreamResponse:
        if not resource.stored:
            return await self.virtual_create(request, info, resource)
        store = self.server.stores[(resource.group, resource.version, resource.plural)]
        accept = negotiation.parse_accept(request.headers.get("Accept", ""))
        if accept.protobuf_only:
            raise errors.not_acceptable(request.headers.get("Accept", ""))
        if resource.namespaced and not info.namespace and info.verb not in ("list", "watch"):
            if info.verb == "deletecollection" or info.name or info.verb == "create":
                raise errors.ApiError(
                    404, "NotFound", "the server could not find the requested resource", {}
                )
        if info.verb not in resource.verbs and not info.subresource:
            raise errors.method_not_allowed()
        if info.subresource:
            return await self.subresource(request, info, resource, store, accept)
        ns = info.namespace if resource.namespaced else ""
        verb = info.verb
        if verb == "get":
            if not (accept.table or accept.partial_metadata or accept.yaml or store.converts):
                raw = store.get_entry(ns, info.name).raw  # the cached JSON as is
                return web.Response(body=raw, content_type="application/json")
            return self.respond(request, resource, store.get(ns, info.name), accept, None)
        if verb == "list":
            return self.list(request, resource, store, ns, accept)
        if verb == "watch":
            from pinnace.apiserver.watch import serve_watch

            return await serve_watch(request, self.server, resource, store, ns, info.name, accept)
        if verb == "create":
            ctx = self.context(request)
            body = negotiation.decode_body(
                await self.read_body(request), request.headers.get("Content-Type", "")
            )
            obj = await store.create(ns, body, ctx)
            return self.respond(request, resource, obj, accept, ctx, 201)
        if verb == "update":
            ctx = self.context(request)
            body = negotiation.decode_body(
                await self.read_body(request), request.headers.get("Content-Type", "")
            )
            obj, created = await store.update(ns, info.name, body, ctx)
            return self.respond(request, resource, obj, accept, ctx, 201 if created else 200)
        if verb == "patch":
            ctx = self.context(request)
            obj, created = await self.patch(request, resource, store, ns, info.name, ctx, "")
            return self.respond(request, resource, obj, accept, ctx, 201 if created else 200)
        if verb == "delete":
            return await self.delete(request, resource, store, ns, info.name, accept)
        if verb == "deletecollection":
            return await self.delete_collection(request, resource, store, ns, accept)
        raise errors.method_not_allowed()

    async def virtual_create(
        self, request: web.Request, info: RequestInfo, resource: Resource
    ) -> web.StreamResponse:
        """A create of a computed kind (a review): validated against the
        kind's schema, answered by the handler registered for it, never stored."""
        if info.verb != "create":
            raise errors.method_not_allowed()
        if resource.namespaced and not info.namespace:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource", {}
            )
        handler = self.server.virtual.get((resource.group, resource.plural))
        if handler is None:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource", {}
            )
        accept = negotiation.parse_accept(request.headers.get("Accept", ""))
        ctx = self.context(request)
        body = negotiation.decode_body(
            await self.read_body(request), request.headers.get("Content-Type", "")
        )
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be an object")
        obj = await handler(request, info.namespace, body, ctx)
        return self.respond(request, resource, obj, accept, ctx, 201)

    # -- list -------------------------------------------------------------------

    def list(
        self,
        request: web.Request,
        resource: Resource,
        store: ResourceStore,
        ns: str,
        accept: Accept,
    ) -> web.Response:
        q = request.query
        pred = build_predicate(resource, q, store)
        limit = _int_param(q, "limit") or 0
        res = store.list_objects(ns, pred, limit, q.get("continue", ""))
        if accept.table:
            body = tables.table(
                resource,
                res.items,
                resource_version=res.resource_version,
                continue_token=res.continue_token,
                remaining=res.remaining,
                include_object=q.get("includeObject", "Metadata"),
            )
            return negotiation.json_response(body)
        meta: Obj = {"resourceVersion": res.resource_version}
        if res.continue_token:
            meta["continue"] = res.continue_token
        if res.remaining is not None:
            meta["remainingItemCount"] = res.remaining
        if accept.partial_metadata_list or accept.partial_metadata:
            body = {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
                "items": [tables.partial_metadata(o) for o in res.items],
            }
            return negotiation.json_response(body)
        if accept.yaml:
            return negotiation.encode(
                {
                    "kind": resource.list_kind,
                    "apiVersion": resource.api_version,
                    "metadata": meta,
                    "items": res.items,
                },
                accept,
            )
        # fast path: splice the cached JSON of each item (lists of 10k objects)
        head = orjson.dumps(
            {"kind": resource.list_kind, "apiVersion": resource.api_version, "metadata": meta}
        )[:-1]
        if store.converts:
            items = orjson.dumps(res.items)
        else:
            items = b"[" + b",".join(e.raw for e in res.entries) + b"]"
        raw = head + b',"items":' + items + b"}"
        return web.Response(body=raw, content_type="application/json")

    # -- patch ------------------------------------------------------------------

    async def patch(
        self,
        request: web.Request,
        resource: Resource,
        store: ResourceStore,
        ns: str,
        name: str,
        ctx: RequestContext,
        subresource: str,
        transform: Callable[[Obj], Obj] | None = None,
        untransform: Callable[[Obj, Obj], Obj] | None = None,
    ) -> tuple[Obj, bool]:
        ptype = negotiation.PATCH_TYPES.get(
            negotiation.media_type(request.headers.get("Content-Type", ""))
        )
        if ptype is None:
            raise errors.unsupported_media_type(request.headers.get("Content-Type", ""))
        raw = await self.read_body(request)
        from pinnace.apiserver import patching

        if ptype == "apply":
            patch: Any = negotiation.loads_yaml(raw)
            if not request.query.get("fieldManager"):
                raise errors.invalid_plain(
                    'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                    "is required for apply patch",
                    "fieldManager",
                )
        else:
            patch = negotiation.loads_json(raw)
        if _bool_param(request.query.get("force")) and ptype != "apply":
            raise errors.bad_request("force: Forbidden: may not be specified for non-apply patch")
        force = _bool_param(request.query.get("force"))
        ctx_apply = ptype == "apply"

        async def mutate(current: Obj) -> Obj:
            base = transform(current) if transform else current
            new = patching.apply_patch(
                ptype, base, patch, resource, store, ctx, subresource=subresource, force=force
            )
            return untransform(current, new) if untransform else new

        async def create_with_apply() -> Obj:
            obj = patching.apply_patch(
                ptype, None, patch, resource, store, ctx, subresource=subresource, force=force
            )
            return await store.create(ns, obj, ctx)

        if ctx_apply:
            ctx.field_validation = request.query.get("fieldValidation") or "Strict"
        return await store.guaranteed_update(
            ns,
            name,
            mutate,
            ctx,
            subresource=subresource,
            on_missing=create_with_apply if (ctx_apply and not subresource) else None,
        )

    # -- delete -----------------------------------------------------------------

    def delete_options(self, request: web.Request, raw: bytes) -> DeleteOptions:
        q = request.query
        opts = DeleteOptions(
            grace_period_seconds=_int_param(q, "gracePeriodSeconds"),
            propagation_policy=q.get("propagationPolicy") or None,
        )
        if q.get("orphanDependents") is not None:
            opts.orphan_dependents = _bool_param(q.get("orphanDependents"))
        if raw.strip():
            body = negotiation.decode_body(raw, request.headers.get("Content-Type", ""))
            if not isinstance(body, dict):
                raise errors.bad_request("DeleteOptions must be an object")
            if body.get("gracePeriodSeconds") is not None:
                opts.grace_period_seconds = int(body["gracePeriodSeconds"])
            if body.get("propagationPolicy"):
                opts.propagation_policy = body["propagationPolicy"]
            if body.get("orphanDependents") is not None:
                opts.orphan_dependents = bool(body["orphanDependents"])
            pre = body.get("preconditions") or {}
            opts.precondition_uid = pre.get("uid")
            opts.precondition_rv = pre.get("resourceVersion")
            if body.get("dryRun"):
                for d in body["dryRun"]:
                    if d != "All":
                        raise errors.bad_request(f'Invalid dryRun value: "{d}"')
        if opts.propagation_policy not in (None, "Background", "Foreground", "Orphan"):
            raise errors.invalid_plain(
                f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
                f'"{opts.propagation_policy}": supported values: "Foreground", "Background", "Orphan", "nil"',
                "propagationPolicy",
            )
        if opts.orphan_dependents is not None and opts.propagation_policy:
            raise errors.invalid_plain(
                'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: '
                f'"{opts.propagation_policy}": orphanDependents and deletionPropagation cannot be both set',
                "propagationPolicy",
            )
        return opts

    async def delete(
        self,
        request: web.Request,
        resource: Resource,
        store: ResourceStore,
        ns: str,
        name: str,
        accept: Accept,
    ) -> web.Response:
        ctx = self.context(request)
        raw = await self.read_body(request)
        opts = self.delete_options(request, raw)
        if raw.strip():
            try:
                b = orjson.loads(raw)
                if isinstance(b, dict) and b.get("dryRun"):
                    ctx.dry_run = True
            except orjson.JSONDecodeError:
                pass
        obj, lingering = await store.delete(ns, name, opts, ctx)
        if lingering or store.strategy.return_deleted_object:
            return self.respond(request, resource, obj, accept, ctx, 200)
        details: Obj = {
            "name": name,
            "kind": resource.plural,
            "uid": obj["metadata"].get("uid", ""),
        }
        if resource.group:
            details["group"] = resource.group
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }
        return negotiation.json_response(body)

    async def delete_collection(
        self,
        request: web.Request,
        resource: Resource,
        store: ResourceStore,
        ns: str,
        accept: Accept,
    ) -> web.Response:
        ctx = self.context(request)
        raw = await self.read_body(request)
        opts = self.delete_options(request, raw)
        pred = build_predicate(resource, request.query, store)
        res = store.list_objects(ns, pred)
        deleted = []
        for o in res.items:
            meta = o["metadata"]
            try:
                d, _ = await store.delete(meta.get("namespace", ""), meta["name"], opts, ctx)
                deleted.append(d)
            except errors.ApiError as e:
                if e.code != 404:
                    raise
        body = {
            "kind": resource.list_kind,
            "apiVersion": resource.api_version,
            "metadata": {"resourceVersion": str(store.cache.revision)},
            "items": deleted,
        }
        return negotiation.encode(body, accept)

    # -- subresources -----------------------------------------------------------

    async def subresource(
        self,
        request: web.Request,
        info: RequestInfo,
        resource: Resource,
        store: ResourceStore,
        accept: Accept,
    ) -> web.StreamResponse:
        sub = info.subresource
        ns = info.namespace if resource.namespaced else ""
        if sub.split("/", 1)[0] not in resource.subresources:  # proxy/<path> too
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource", {}
            )
        verb = info.verb
        if sub in ("status", "finalize"):
            if verb == "get" and sub == "status":
                return self.respond(request, resource, store.get(ns, info.name), accept, None)
            ctx = self.context(request)
            if verb == "update":
                body = negotiation.decode_body(
                    await self.read_body(request), request.headers.get("Content-Type", "")
                )
                if sub == "finalize":
                    return await self.finalize(
                        request, resource, store, ns, info.name, body, accept, ctx
                    )
                obj = store._check_body(body, ns)

                async def replace(current: Obj) -> Obj:
                    return copy.deepcopy(obj)

                rv = obj["metadata"].get("resourceVersion") or ""
                new, _ = await store.guaranteed_update(
                    ns, info.name, replace, ctx, subresource="status", precondition_rv=rv
                )
                return self.respond(request, resource, new, accept, ctx)
            if verb == "patch" and sub == "status":
                new, _ = await self.patch(request, resource, store, ns, info.name, ctx, "status")
                return self.respond(request, resource, new, accept, ctx)
            raise errors.method_not_allowed()
        if sub == "scale":
            from pinnace.apiserver import scale

            return await scale.handle(self, request, info, resource, store, ns, accept)
        if sub == "token" and resource.plural == "serviceaccounts":
            from pinnace.apiserver import tokenrequest

            return await tokenrequest.handle(self, request, info, resource, store, ns, accept)
        if sub == "binding" and verb == "create":
            return await self.bind(request, resource, store, ns, info.name)
        if sub == "eviction" and verb == "create":
            return await self.evict(request, resource, store, ns, info.name)
        if resource.plural == "pods" and sub in ("log", "exec", "attach", "portforward"):
            from pinnace.apiserver import nodeproxy

            if sub == "log":
                if verb != "get":
                    raise errors.method_not_allowed()
                return await nodeproxy.pod_log(self.server, request, store, ns, info.name)
            return await nodeproxy.pod_stream(self.server, request, store, ns, info.name, sub)
        if sub == "proxy" or sub.startswith("proxy/"):
            from pinnace.apiserver import nodeproxy

            subpath = sub[len("proxy/") :] if sub.startswith("proxy/") else ""
            if resource.plural == "nodes":
                return await nodeproxy.node_proxy(self.server, request, info.name, subpath)
            if resource.plural == "pods":
                return await nodeproxy.pod_proxy(
                    self.server, request, store, ns, info.name, subpath
                )
        raise errors.method_not_allowed()

    async def finalize(
        self,
        request: web.Request,
        resource: Resource,
        store: ResourceStore,
        ns: str,
        name: str,
        body: Any,
        accept: Accept,
        ctx: RequestContext,
    ) -> web.Response:
        if not isinstance(body, dict):
            raise errors.bad_request("body must be a Namespace")
        fins = list((body.get("spec") or {}).get("finalizers") or [])

        async def set_finalizers(current: Obj) -> Obj:
            current.setdefault("spec", {})["finalizers"] = fins
            return current

        # the namespace strategy pins spec on ordinary updates; write directly
        new, _ = await store.finalize(ns, name, fins, ctx)
        return self.respond(request, resource, new, accept, ctx)

    async def bind(
        self, request: web.Request, resource: Resource, store: ResourceStore, ns: str, name: str
    ) -> web.Response:
        ctx = self.context(request)
        body = negotiation.decode_body(
            await self.read_body(request), request.headers.get("Content-Type", "")
        )
        if not isinstance(body, dict):
            raise errors.bad_request("body must be a Binding")
        target = body.get("target") or {}
        node = target.get("name") or ""
        if not node:
            raise errors.invalid_plain(
                f'Binding "{name}" is invalid: target.name: Required value', "target.name"
            )

        async def assign(pod: Obj) -> Obj:
            spec = pod.setdefault("spec", {})
            if pod["metadata"].get("deletionTimestamp"):
                raise errors.conflict(
                    resource, name, "pod is being deleted, cannot be assigned to a host"
                )
            if spec.get("nodeName"):
                raise errors.conflict(
                    resource, name, f'pod {name} is already assigned to node "{spec["nodeName"]}"'
                )
            spec["nodeName"] = node
            status = pod.setdefault("status", {})
            conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
            conds.append(
                {
                    "type": "PodScheduled",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": now_rfc3339(),
                }
            )
            status["conditions"] = conds
            return pod

        await store.guaranteed_update(ns, name, assign, ctx, subresource="binding")
        return negotiation.json_response(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "code": 201,
            },
            201,
        )

    async def evict(
        self, request: web.Request, resource: Resource, store: ResourceStore, ns: str, name: str
    ) -> web.Response:
        ctx = self.context(request)
        raw = await self.read_body(request)
        opts = DeleteOptions()
        if raw.strip():
            body = negotiation.decode_body(raw, request.headers.get("Content-Type", ""))
            if isinstance(body, dict) and isinstance(body.get("deleteOptions"), dict):
                do = body["deleteOptions"]
                opts.grace_period_seconds = do.get("gracePeriodSeconds")
                opts.propagation_policy = do.get("propagationPolicy")
                if do.get("dryRun"):
                    ctx.dry_run = True
        pod = store.get(ns, name)
        if not _can_ignore_pdb(pod):
            await self._check_disruption_budget(pod, ns, ctx)
        await store.delete(ns, name, opts, ctx)
        return negotiation.json_response(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "code": 201,
            },
            201,
        )

    async def _check_disruption_budget(self, pod: Obj, ns: str, ctx: RequestContext) -> None:
        """Upstream's eviction check: the pod's PodDisruptionBudget (at most one) must
        allow a disruption; its ``disruptionsAllowed`` is decremented and the pod noted
        in ``disruptedPods`` (a status write, retried on conflict), else 429."""
        pdb_store = self.server.store("policy", "v1", "poddisruptionbudgets")
        labels = (pod.get("metadata") or {}).get("labels") or {}
        pdbs = []
        for pdb in pdb_store.list_objects(ns).items:
            try:
                selector = label_selector_from_dict((pdb.get("spec") or {}).get("selector"))
            except SelectorError:
                continue
            if selector.matches(labels):
                pdbs.append(pdb)
        if not pdbs:
            return
        if len(pdbs) > 1:
            raise errors.internal(
                "This pod has more than one PodDisruptionBudget, "
                "which the eviction subresource does not support."
            )
        pdb = pdbs[0]
        if not _pod_ready(pod):
            policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy")
            st = pdb.get("status") or {}
            desired = int(st.get("desiredHealthy") or 0)
            if policy == "AlwaysAllow" or (
                int(st.get("currentHealthy") or 0) >= desired and desired > 0
            ):
                return  # an unhealthy pod of a healthy application: no budget spent
        pod_name = str(pod["metadata"]["name"])

        async def decrement(current: Obj) -> Obj:
            st = current.setdefault("status", {})
            name = current["metadata"]["name"]
            generation = int(current["metadata"].get("generation") or 0)
            if int(st.get("observedGeneration") or 0) < generation:
                raise _budget_error(
                    f"The disruption budget {name} is still being processed by the server.", 10
                )
            allowed = int(st.get("disruptionsAllowed") or 0)
            if allowed < 0:
                raise _pdb_forbidden(name, "pdb disruptions allowed is negative")
            disrupted = st.get("disruptedPods") or {}
            if len(disrupted) > MAX_DISRUPTED_PODS:
                raise _pdb_forbidden(
                    name,
                    "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
                )
            if allowed == 0:
                raise _budget_error(
                    f"The disruption budget {name} needs {int(st.get('desiredHealthy') or 0)} "
                    f"healthy pods and has {int(st.get('currentHealthy') or 0)} currently"
                )
            st["disruptionsAllowed"] = allowed - 1
            if allowed - 1 == 0:
                _set_insufficient_pods(current)
            st["disruptedPods"] = {**disrupted, pod_name: now_rfc3339()}
            return current

        await pdb_store.guaranteed_update(
            ns, str(pdb["metadata"]["name"]), decrement, ctx, subresource="status"
        )


#: the disruption controller's message (pinnace's schema wants a non-empty one)
_INSUFFICIENT = "Not enough pods are healthy to allow a disruption"
#: upstream ``MaxDisruptedPodSize``
MAX_DISRUPTED_PODS = 2000


def _can_ignore_pdb(pod: Obj) -> bool:
    """Terminal, pending and terminating pods are evicted without asking a budget."""
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or bool(
        (pod.get("metadata") or {}).get("deletionTimestamp")
    )


def _pod_ready(pod: Obj) -> bool:
    return any(
        isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _budget_error(cause: str, retry_after: int = 0) -> errors.ApiError:
    details: dict[str, Any] = {"causes": [{"reason": "DisruptionBudget", "message": cause}]}
    headers = {}
    if retry_after:
        details["retryAfterSeconds"] = retry_after
        headers["Retry-After"] = str(retry_after)
    return errors.ApiError(
        429,
        "TooManyRequests",
        "Cannot evict pod as it would violate the pod's disruption budget.",
        details,
        headers,
    )


def _pdb_forbidden(name: str, why: str) -> errors.ApiError:
    return errors.ApiError(
        403,
        "Forbidden",
        f'poddisruptionbudget.policy "{name}" is forbidden: {why}',
        {"name": name, "group": "policy", "kind": "poddisruptionbudget"},
    )


def _set_insufficient_pods(pdb: Obj) -> None:
    """``UpdateDisruptionAllowedCondition`` for a budget with no disruption left."""
    st = pdb["status"]
    conditions = [c for c in st.get("conditions") or [] if isinstance(c, dict)]
    for c in conditions:
        if c.get("type") == "DisruptionAllowed":
            if c.get("status") != "False":
                c["lastTransitionTime"] = now_rfc3339()
            c.update(status="False", reason="InsufficientPods", message=_INSUFFICIENT)
            c["observedGeneration"] = st.get("observedGeneration", 0)
            break
    else:
        conditions.append(
            {
                "type": "DisruptionAllowed",
                "status": "False",
                "reason": "InsufficientPods",
                "message": _INSUFFICIENT,
                "observedGeneration": st.get("observedGeneration", 0),
                "lastTransitionTime": now_rfc3339(),
            }
        )
    st["conditions"] = conditions
