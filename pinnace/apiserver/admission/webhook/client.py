"""The HTTPS call to a webhook: POST the AdmissionReview as JSON to its URL
(``?timeout=Ns`` appended, as client-go does) and decode the answer.

- ``url`` webhooks are called as given; ``service`` webhooks are resolved by
  a ``ServiceResolver`` (``EndpointsResolver`` reads the Service and its
  Endpoints from the server's caches) and their certificate is verified for
  ``<service>.<namespace>.svc``, as upstream does.
- Trust: the webhook's ``caBundle`` or, when empty, the system trust store.
  SSL contexts are cached per bundle (building one parses PEM).
- One aiohttp session, created on first use on the server's loop and kept
  for connection reuse; ``close()`` it when the server stops.
- The whole call is bounded by the webhook's ``timeoutSeconds``.

Failures become ``CallError`` with Go's wording where it is predictable
(``Post "URL": dial tcp HOST:PORT: connect: connection refused``,
``context deadline exceeded``), so messages read like upstream's.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import orjson

from pinnace.apiserver.admission.webhook.hooks import Hook
from pinnace.apiserver.admission.webhook.review import CallError

Obj = dict[str, Any]


class ServiceResolver(Protocol):
    def __call__(self, namespace: str, name: str, port: int) -> tuple[str, int]:
        """The address to dial for a Service port; raises ``LookupError``
        with the reason when there is none."""
        ...


class EndpointsResolver:
    """Resolves a Service port to a ready endpoint address (the Service's
    port → its targetPort by name or number → an Endpoints address)."""

    def __init__(
        self,
        get_service: Callable[[str, str], Obj | None],
        get_endpoints: Callable[[str, str], Obj | None],
    ) -> None:
        self._service = get_service
        self._endpoints = get_endpoints

    def __call__(self, namespace: str, name: str, port: int) -> tuple[str, int]:
        svc = self._service(namespace, name)
        if svc is None:
            raise LookupError(f'service "{name}" not found')
        svc_port = next(
            (p for p in (svc.get("spec") or {}).get("ports") or [] if p.get("port") == port),
            None,
        )
        if svc_port is None:
            raise LookupError(f"no service port {port} found for service {name!r}")
        port_name = svc_port.get("name") or ""
        target = svc_port.get("targetPort", port)
        eps = self._endpoints(namespace, name) or {}
        for subset in eps.get("subsets") or []:
            addresses = subset.get("addresses") or []
            for ep_port in subset.get("ports") or []:
                if (ep_port.get("name") or "") != port_name:
                    continue
                if isinstance(target, int) and not port_name and ep_port.get("port") != target:
                    continue
                if addresses:
                    return str(addresses[0]["ip"]), int(ep_port["port"])
        raise LookupError(f'no endpoints available for service "{name}"')


def _go_error(e: BaseException, host: str, port: int | None) -> str:
    """An aiohttp failure in the words Go's net/http would use."""
    if isinstance(e, asyncio.TimeoutError | TimeoutError):
        return "context deadline exceeded"
    if isinstance(e, aiohttp.ClientConnectorCertificateError):
        return f"tls: failed to verify certificate: {e.certificate_error}"
    if isinstance(e, aiohttp.ClientConnectorError):
        os_err = e.os_error
        if isinstance(os_err, ConnectionRefusedError):
            return f"dial tcp {host}:{port}: connect: connection refused"
        return f"dial tcp {host}:{port}: {os_err.strerror or os_err}"
    return str(e) or type(e).__name__


class WebhookClient:
    """Calls webhooks; shared by both plugins of a server."""

    def __init__(self, resolve_service: ServiceResolver | None = None) -> None:
        self._resolve = resolve_service
        self._session: aiohttp.ClientSession | None = None
        self._contexts: dict[bytes, ssl.SSLContext] = {}

    def _ssl(self, ca_bundle: bytes) -> ssl.SSLContext:
        ctx = self._contexts.get(ca_bundle)
        if ctx is None:
            if ca_bundle:
                ctx = ssl.create_default_context(cadata=ca_bundle.decode("ascii", "replace"))
            else:
                ctx = ssl.create_default_context()
            self._contexts[ca_bundle] = ctx
        return ctx

    def _target(self, hook: Hook) -> tuple[str, str | None]:
        """(URL to post to, TLS server name override)."""
        if hook.url:
            return hook.url, None
        svc = hook.service or {}
        ns, name = str(svc.get("namespace") or ""), str(svc.get("name") or "")
        port = int(svc.get("port") or 443)
        server_name = f"{name}.{ns}.svc"
        path = str(svc.get("path") or "")
        if self._resolve is None:
            raise CallError(hook.name, f"failed to call webhook: no resolver for {server_name}")
        try:
            host, target_port = self._resolve(ns, name, port)
        except LookupError as e:
            raise CallError(hook.name, f"failed to call webhook: {e}") from None
        shown = f"[{host}]" if ":" in host else host
        return f"https://{shown}:{target_port}{path}", server_name

    async def post(self, hook: Hook, review: Obj) -> Any:
        """POST ``review`` to ``hook``; the decoded answer, or ``CallError``."""
        url, server_name = self._target(hook)
        url = f"{url}{'&' if '?' in url else '?'}timeout={hook.timeout_seconds}s"
        parts = urlsplit(url)
        try:
            ssl_ctx = self._ssl(hook.ca_bundle)
        except (ssl.SSLError, ValueError) as e:
            raise CallError(
                hook.name, f"failed to call webhook: could not load caBundle: {e}"
            ) from None
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(json_serialize=lambda o: orjson.dumps(o).decode())
        body = orjson.dumps(review)
        try:
            async with asyncio.timeout(hook.timeout_seconds):
                async with self._session.post(
                    url,
                    data=body,
                    headers={"Content-Type": "application/json", "Accept": "application/json"},
                    ssl=ssl_ctx,
                    server_hostname=server_name,
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            reason = _go_error(e, parts.hostname or "", parts.port or 443)
            raise CallError(hook.name, f'failed to call webhook: Post "{url}": {reason}') from None
        if not 200 <= status < 300:
            raise CallError(
                hook.name,
                f"failed to call webhook: the server responded with the status code {status} "
                "but did not return more information",
            )
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise CallError(hook.name, f"received invalid webhook response: {e}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
