"""The generic REST client: CRUD on any resource, subresources, errors as exceptions.

One :class:`Client` per identity. Every method takes the resource (a
:class:`~pinnace.client.objects.ResourceRef` or an ``api.schema.Resource``)
and works on plain dicts; bodies are JSON (orjson). Errors come back as
:class:`~pinnace.client.errors.ApiError` subclasses carrying the Status.

Requests pass a client-side token bucket (client-go's ``qps``/``burst``,
defaults 5/10; components inside ``pinnace up`` use high limits). 429 and 503
answers with ``Retry-After`` are retried a few times after the advertised
delay, like client-go. The client is safe to share between tasks.

    client = Client.from_data_dir("/var/lib/pinnace")
    pod = await client.get(PODS, "web-0", namespace="default")
    await client.patch(DEPLOYMENTS, "web", {"spec": {"replicas": 3}}, namespace="default")
    async for type_, obj in client.watch(PODS, namespace="default", resource_version=rv):
        ...
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

import orjson

from pinnace.client.clock import REAL_CLOCK, Clock
from pinnace.client.config import ClientConfig
from pinnace.client.errors import error_from_response
from pinnace.client.objects import (
    PODS,
    Obj,
    ResourceLike,
    api_version_of,
    meta,
    resource_path,
)
from pinnace.client.ratelimit import TokenBucket
from pinnace.client.transport import Response, StreamResponse, Transport, transport_for

if TYPE_CHECKING:
    from pinnace.client.watch import WatchEvent

__all__ = ["PATCH_CONTENT_TYPES", "Client", "PatchType", "PropagationPolicy"]

PatchType = Literal["json", "merge", "strategic", "apply"]
PropagationPolicy = Literal["Background", "Foreground", "Orphan"]

PATCH_CONTENT_TYPES: dict[str, str] = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}

_RETRY_CODES = (429, 503)
_MAX_RETRY_AFTER = 10.0


def _put(params: dict[str, str], key: str, value: object) -> None:
    if value is None or value == "":
        return
    if isinstance(value, bool):
        params[key] = "true" if value else "false"
    else:
        params[key] = str(value)


class Client:
    """Async Kubernetes REST client over a :class:`~pinnace.client.transport.Transport`."""

    def __init__(
        self,
        transport: Transport,
        *,
        qps: float = 5.0,
        burst: int = 10,
        clock: Clock = REAL_CLOCK,
        max_retries: int = 3,
    ) -> None:
        self.transport = transport
        self.clock = clock
        self.limiter = TokenBucket(qps, burst, clock=clock)
        self.max_retries = max_retries

    @classmethod
    def from_config(
        cls,
        config: ClientConfig,
        *,
        clock: Clock = REAL_CLOCK,
        max_requests_in_flight: int | None = None,
    ) -> Client:
        """A client over HTTPS (or the Unix-socket loopback) for ``config``;
        ``max_requests_in_flight`` caps the one-shot requests in flight, and
        so the connections they need (see ``AiohttpTransport``; default: no cap
        below the pool's 100). A ``unix://`` server gets the
        ``LoopbackTransport``."""
        transport = transport_for(config, max_requests_in_flight=max_requests_in_flight)
        return cls(transport, qps=config.qps, burst=config.burst, clock=clock)

    @classmethod
    def from_kubeconfig(
        cls, path: str | os.PathLike[str] | None = None, *, context: str | None = None
    ) -> Client:
        return cls.from_config(ClientConfig.from_kubeconfig(path, context=context))

    @classmethod
    def from_data_dir(cls, data_dir: str | os.PathLike[str]) -> Client:
        return cls.from_config(ClientConfig.from_data_dir(data_dir))

    def with_own_limits(self, qps: float, burst: int) -> Client:
        """A client on the same transport (connections) with its own token bucket.

        Upstream's kubelet and scheduler send events through a client of their
        own (``eventRecordQPS``/``eventBurst``), so a burst of events never
        delays their API calls (a batch of 30 pods makes ~90 kubelet events).
        Close the original, not this one."""
        return Client(
            self.transport, qps=qps, burst=burst, clock=self.clock, max_retries=self.max_retries
        )

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- raw requests --------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> Any:
        """Send a request with a JSON body (``None``: no body); return the decoded JSON
        answer. Raises :class:`~pinnace.client.errors.ApiError` on non-2xx."""
        data = None if body is None else orjson.dumps(body)
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        resp = await self._send(method, path, params, headers, data, timeout)
        return resp.json()

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> Response:
        attempt = 0
        while True:
            await self.limiter.wait()
            resp = await self.transport.request(
                method, path, params=params, headers=headers, body=body, timeout=timeout
            )
            if 200 <= resp.status < 300:
                return resp
            retry_after = resp.header("Retry-After")
            if resp.status in _RETRY_CODES and retry_after and attempt < self.max_retries:
                attempt += 1
                try:
                    delay = min(float(retry_after), _MAX_RETRY_AFTER)
                except ValueError:
                    delay = 1.0
                await self.clock.sleep(delay)
                continue
            raise error_from_response(resp.status, resp.body)

    @contextlib.asynccontextmanager
    async def stream(
        self,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[StreamResponse]:
        """GET ``path`` and stream the answer (raises ``ApiError`` on non-2xx)."""
        await self.limiter.wait()
        async with self.transport.stream(
            "GET", path, params=params, headers={"Accept": "application/json"}, timeout=timeout
        ) as resp:
            if not 200 <= resp.status < 300:
                raise error_from_response(resp.status, await resp.read())
            yield resp

    # --- helpers -------------------------------------------------------------------------

    @staticmethod
    def _namespace(
        resource: ResourceLike, namespace: str | None, obj: Obj | None = None, *, required: bool
    ) -> str | None:
        if not resource.namespaced:
            return None
        ns = namespace or (meta(obj).get("namespace") if obj is not None else None)
        if required and not ns:
            raise ValueError(f"{resource.plural} are namespaced: a namespace is required")
        return str(ns) if ns else None

    @staticmethod
    def _write_params(
        field_manager: str | None, field_validation: str | None, dry_run: bool
    ) -> dict[str, str]:
        params: dict[str, str] = {}
        _put(params, "fieldManager", field_manager)
        _put(params, "fieldValidation", field_validation)
        if dry_run:
            params["dryRun"] = "All"
        return params

    @staticmethod
    def _with_type(resource: ResourceLike, obj: Obj) -> Obj:
        if (obj.get("kind") and obj.get("apiVersion")) or not resource.kind:
            return obj
        out = dict(obj)
        out.setdefault("apiVersion", api_version_of(resource))
        out.setdefault("kind", resource.kind)
        return out

    # --- CRUD ----------------------------------------------------------------------------

    async def get(
        self,
        resource: ResourceLike,
        name: str,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        resource_version: str | None = None,
    ) -> Obj:
        ns = self._namespace(resource, namespace, required=True)
        params: dict[str, str] = {}
        _put(params, "resourceVersion", resource_version)
        result: Obj = await self.request(
            "GET", resource_path(resource, ns, name, subresource), params=params
        )
        return result

    async def list(
        self,
        resource: ResourceLike,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
        timeout_seconds: int | None = None,
    ) -> Obj:
        """One page of a list (``namespace=None``: all namespaces). Returns the List
        object: ``items``, ``metadata.resourceVersion``, ``metadata.continue``."""
        ns = self._namespace(resource, namespace, required=False)
        params: dict[str, str] = {}
        _put(params, "labelSelector", label_selector)
        _put(params, "fieldSelector", field_selector)
        _put(params, "limit", limit)
        _put(params, "continue", continue_token)
        _put(params, "resourceVersion", resource_version)
        _put(params, "resourceVersionMatch", resource_version_match)
        _put(params, "timeoutSeconds", timeout_seconds)
        result: Obj = await self.request("GET", resource_path(resource, ns), params=params)
        if result.get("items") is None:
            result["items"] = []
        return result

    async def list_all(
        self,
        resource: ResourceLike,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int | None = 500,
        resource_version: str | None = None,
    ) -> Obj:
        """Every page of a list, merged into one List object."""
        result = await self.list(
            resource,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            limit=page_size,
            resource_version=resource_version,
        )
        items: list[Obj] = list(result["items"])
        while token := meta(result).get("continue"):
            result = await self.list(
                resource,
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                limit=page_size,
                continue_token=str(token),
            )
            items.extend(result["items"])
        result["items"] = items
        meta(result).pop("continue", None)
        return result

    async def create(
        self,
        resource: ResourceLike,
        obj: Obj,
        *,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
        field_manager: str | None = None,
        field_validation: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """POST ``obj``; with ``subresource`` (binding, eviction, token…) POST to
        ``.../<name>/<subresource>`` instead."""
        ns = self._namespace(
            resource, namespace, obj if subresource is None else None, required=True
        )
        params = self._write_params(field_manager, field_validation, dry_run)
        if subresource is None:
            path = resource_path(resource, ns)
            obj = self._with_type(resource, obj)
        else:
            if not name:
                raise ValueError("creating a subresource needs the parent's name")
            path = resource_path(resource, ns, name, subresource)
        result: Obj = await self.request("POST", path, params=params, body=obj)
        return result

    async def replace(
        self,
        resource: ResourceLike,
        obj: Obj,
        *,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
        field_manager: str | None = None,
        field_validation: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """PUT ``obj`` (its ``metadata.resourceVersion`` guards against lost updates:
        stale → :class:`~pinnace.client.errors.Conflict`)."""
        ns = self._namespace(resource, namespace, obj, required=True)
        name = name or meta(obj).get("name")
        if not name:
            raise ValueError("replace needs metadata.name or name=")
        params = self._write_params(field_manager, field_validation, dry_run)
        body = self._with_type(resource, obj) if subresource is None else obj
        result: Obj = await self.request(
            "PUT", resource_path(resource, ns, str(name), subresource), params=params, body=body
        )
        return result

    async def patch(
        self,
        resource: ResourceLike,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool | None = None,
        field_validation: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """PATCH with a JSON patch (list of ops), merge patch, strategic merge patch or
        server-side apply (``patch_type="apply"``, needs ``field_manager``)."""
        if patch_type not in PATCH_CONTENT_TYPES:
            raise ValueError(f"unknown patch type {patch_type!r}")
        if patch_type == "apply" and not field_manager:
            raise ValueError("server-side apply needs a field_manager")
        ns = self._namespace(resource, namespace, required=True)
        params = self._write_params(field_manager, field_validation, dry_run)
        if force is not None:
            if patch_type != "apply":
                raise ValueError("force is only valid for server-side apply")
            _put(params, "force", force)
        result: Obj = await self.request(
            "PATCH",
            resource_path(resource, ns, name, subresource),
            params=params,
            body=patch,
            content_type=PATCH_CONTENT_TYPES[patch_type],
        )
        return result

    async def apply(
        self,
        resource: ResourceLike,
        obj: Obj,
        *,
        field_manager: str,
        force: bool = False,
        namespace: str | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Server-side apply of ``obj`` (created when absent). JSON is valid YAML."""
        ns = self._namespace(resource, namespace, obj, required=True)
        name = meta(obj).get("name")
        if not name:
            raise ValueError("apply needs metadata.name")
        return await self.patch(
            resource,
            str(name),
            self._with_type(resource, obj) if subresource is None else obj,
            namespace=ns,
            patch_type="apply",
            subresource=subresource,
            field_manager=field_manager,
            force=force,
            dry_run=dry_run,
        )

    @staticmethod
    def _delete_options(
        propagation_policy: PropagationPolicy | None,
        grace_period_seconds: int | None,
        preconditions: Mapping[str, str] | None,
        dry_run: bool,
    ) -> Obj | None:
        opts: Obj = {}
        if propagation_policy is not None:
            opts["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            opts["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            opts["preconditions"] = dict(preconditions)
        if dry_run:
            opts["dryRun"] = ["All"]
        if not opts:
            return None
        return {"kind": "DeleteOptions", "apiVersion": "v1", **opts}

    async def delete(
        self,
        resource: ResourceLike,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: PropagationPolicy | None = None,
        grace_period_seconds: int | None = None,
        preconditions: Mapping[str, str] | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """DELETE; returns the deleted object (or the object with ``deletionTimestamp``
        set while finalizers/grace run, or a Status). ``preconditions`` takes
        ``uid`` and/or ``resourceVersion``."""
        ns = self._namespace(resource, namespace, required=True)
        body = self._delete_options(
            propagation_policy, grace_period_seconds, preconditions, dry_run
        )
        result: Obj = await self.request("DELETE", resource_path(resource, ns, name), body=body)
        return result

    async def delete_collection(
        self,
        resource: ResourceLike,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        propagation_policy: PropagationPolicy | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> Obj:
        ns = self._namespace(resource, namespace, required=False)
        params: dict[str, str] = {}
        _put(params, "labelSelector", label_selector)
        _put(params, "fieldSelector", field_selector)
        body = self._delete_options(propagation_policy, grace_period_seconds, None, dry_run)
        result: Obj = await self.request(
            "DELETE", resource_path(resource, ns), params=params, body=body
        )
        return result

    # --- subresources --------------------------------------------------------------------

    async def get_status(
        self, resource: ResourceLike, name: str, *, namespace: str | None = None
    ) -> Obj:
        return await self.get(resource, name, namespace=namespace, subresource="status")

    async def replace_status(
        self,
        resource: ResourceLike,
        obj: Obj,
        *,
        namespace: str | None = None,
        field_manager: str | None = None,
    ) -> Obj:
        return await self.replace(
            resource, obj, namespace=namespace, subresource="status", field_manager=field_manager
        )

    async def patch_status(
        self,
        resource: ResourceLike,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
        field_manager: str | None = None,
        force: bool | None = None,
    ) -> Obj:
        return await self.patch(
            resource,
            name,
            patch,
            namespace=namespace,
            patch_type=patch_type,
            subresource="status",
            field_manager=field_manager,
            force=force,
        )

    async def get_scale(
        self, resource: ResourceLike, name: str, *, namespace: str | None = None
    ) -> Obj:
        return await self.get(resource, name, namespace=namespace, subresource="scale")

    async def replace_scale(
        self, resource: ResourceLike, scale: Obj, *, namespace: str | None = None
    ) -> Obj:
        return await self.replace(resource, scale, namespace=namespace, subresource="scale")

    async def patch_scale(
        self,
        resource: ResourceLike,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
    ) -> Obj:
        return await self.patch(
            resource, name, patch, namespace=namespace, patch_type=patch_type, subresource="scale"
        )

    async def bind(
        self,
        namespace: str,
        pod_name: str,
        node_name: str,
        *,
        pod_uid: str | None = None,
    ) -> Obj:
        """POST a ``Binding`` to ``pods/<pod>/binding`` (what the scheduler does)."""
        binding: Obj = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": pod_name, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
        }
        if pod_uid:
            binding["metadata"]["uid"] = pod_uid
        return await self.create(
            PODS, binding, namespace=namespace, name=pod_name, subresource="binding"
        )

    async def evict(
        self,
        namespace: str,
        pod_name: str,
        *,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """POST a policy/v1 ``Eviction`` (429 TooManyRequests when a PDB forbids it)."""
        eviction: Obj = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": pod_name, "namespace": namespace},
        }
        opts = self._delete_options(None, grace_period_seconds, None, dry_run)
        if opts is not None:
            eviction["deleteOptions"] = opts
        return await self.create(
            PODS, eviction, namespace=namespace, name=pod_name, subresource="eviction"
        )

    # --- watch ---------------------------------------------------------------------------

    def watch(
        self,
        resource: ResourceLike,
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
        allow_bookmarks: bool = True,
    ) -> AsyncGenerator[WatchEvent, None]:
        """See :func:`pinnace.client.watch.watch`."""
        from pinnace.client.watch import watch

        return watch(
            self,
            resource,
            namespace=namespace,
            resource_version=resource_version,
            label_selector=label_selector,
            field_selector=field_selector,
            timeout_seconds=timeout_seconds,
            allow_bookmarks=allow_bookmarks,
        )
