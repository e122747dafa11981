"""The API server: assembles storage, watch caches, per-resource stores,
authentication, authorization and admission behind one aiohttp application
served over HTTPS.

Request path: TLS → authn (x509 chain) → request info → authz → resource
handler (→ registry → admission → Backend) or discovery/OpenAPI/health.
Every error leaves as a ``metav1.Status``; unexpected exceptions are logged
with their traceback and answered with a generic 500 Status.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import errno
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from pinnace import gcpolicy
from pinnace.api.resources import Catalog, catalog
from pinnace.api.strategy import strategy_for
from pinnace.apiserver import audit, errors, metrics, negotiation, nodecredentials, tokenrequest
from pinnace.apiserver.admission import AdmissionChain
from pinnace.apiserver.admission.config_file import pod_security_config
from pinnace.apiserver.admission.default_storage_class import IS_DEFAULT, DefaultStorageClass
from pinnace.apiserver.admission.default_toleration_seconds import DefaultTolerationSeconds
from pinnace.apiserver.admission.limit_ranger import LimitRanger
from pinnace.apiserver.admission.namespace_lifecycle import NamespaceLifecycle
from pinnace.apiserver.admission.node_restriction import NodeRestriction
from pinnace.apiserver.admission.pod_security import PodSecurity
from pinnace.apiserver.admission.priority import SYSTEM_CLASSES, Priority
from pinnace.apiserver.admission.rbac_escalation import RbacEscalation
from pinnace.apiserver.admission.resource_quota import QuotaMutation, ResourceQuota
from pinnace.apiserver.admission.service_account import ServiceAccount
from pinnace.apiserver.admission.webhook import (
    EndpointsResolver,
    MutatingWebhooks,
    ValidatingWebhooks,
    WebhookClient,
)
from pinnace.apiserver.authn import (
    ANONYMOUS,
    AuthenticatorChain,
    BearerTokenAuthenticator,
    TokenAuthenticator,
    TrustedIdentityAuthenticator,
    UserInfo,
    X509Authenticator,
    impersonation,
    peer_certificate,
)
from pinnace.apiserver.authn.tokens import LoopbackTokens
from pinnace.apiserver.authz import (
    AlwaysAllow,
    AlwaysDeny,
    Attributes,
    Authorizer,
    AuthorizerChain,
    bootstrap_policy,
)
from pinnace.apiserver.authz.bootstrap import ensure_bootstrap_policy
from pinnace.apiserver.authz.node import NodeAuthorizer
from pinnace.apiserver.authz.rbac import PrivilegedGroups, RbacAuthorizer, RuleResolver
from pinnace.apiserver.authz.reviews import Reviews
from pinnace.apiserver.authz.source import CacheRbacSource
from pinnace.apiserver.cache import WatchCache
from pinnace.apiserver.certs import Pki
from pinnace.apiserver.clientcerts import ClientCertificateVerifier
from pinnace.apiserver.config import ServerConfig
from pinnace.apiserver.discovery import AGGREGATED_V2, AGGREGATED_V2BETA1, Discovery
from pinnace.apiserver.encryption import EncryptingBackend, encrypting_backend
from pinnace.apiserver.handlers import ResourceHandlers, fields_function
from pinnace.apiserver.legacytokens import LegacyTokenFiller
from pinnace.apiserver.registry import RequestContext, ResourceStore
from pinnace.apiserver.requestinfo import parse_request
from pinnace.apiserver.schemahooks import SchemaHooks
from pinnace.apiserver.services import ServiceSupport
from pinnace.apiserver.tokenrequest import ServiceAccountTokens
from pinnace.client.transport import UNIX_SCHEME
from pinnace.storage import Backend, open_backend

log = logging.getLogger("pinnace.apiserver")

KUBERNETES_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0+pinnace",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-11-26T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

ANONYMOUS_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version", "/cacerts"})
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
#: the default StorageClass every cluster starts with (the local-path provisioner's)
LOCAL_PATH_CLASS: dict[str, Any] = {
    "apiVersion": "storage.k8s.io/v1",
    "kind": "StorageClass",
    "metadata": {"name": "local-path", "annotations": {IS_DEFAULT: "true"}},
    "provisioner": "pinnace.io/local-path",
    "reclaimPolicy": "Delete",
    "volumeBindingMode": "WaitForFirstConsumer",
}
#: answers a create of a computed kind: (request, namespace, body, ctx) -> object
VirtualCreate = Callable[
    [web.Request, str, dict[str, Any], RequestContext], Awaitable[dict[str, Any]]
]
AR = "admissionregistration.k8s.io"
SYSTEM_USER = UserInfo("system:apiserver", ("system:masters", "system:authenticated"))


class ApiServer:
    def __init__(self, config: ServerConfig, *, backend: Backend | None = None) -> None:
        self.config = config
        self.catalog: Catalog = catalog()
        self.backend: Backend | None = backend
        self.caches: dict[str, WatchCache] = {}
        self.stores: dict[tuple[str, str, str], ResourceStore] = {}
        self.hooks = SchemaHooks()
        self.loopback_tokens = LoopbackTokens()
        self.ca_pem = b""
        # bearer-token kinds in order; more are appended as they are set up
        # (static token file, bootstrap tokens, service account JWTs)
        self.token_authenticators: list[TokenAuthenticator] = [self.loopback_tokens]
        self.bearer = BearerTokenAuthenticator(self.token_authenticators)
        # its certificate verifier is set by serve(), from the cluster CA
        self.x509 = X509Authenticator()
        self.authn = AuthenticatorChain([TrustedIdentityAuthenticator(), self.x509, self.bearer])
        self.rbac_resolver = RuleResolver(CacheRbacSource(self.stores))
        self.rbac = RbacAuthorizer(self.rbac_resolver)
        self.authz = AuthorizerChain(self._authorizers(config.authorization_mode))
        # create-only kinds computed by the server (reviews): (group, plural) -> handler
        self.virtual: dict[tuple[str, str], VirtualCreate] = {}
        self.virtual.update(Reviews(self.authz, self.rbac_resolver).handlers())
        # the cluster CA and certificates (set by serve())
        self.pki: Pki | None = None
        # service account tokens and TokenRequest (tokenrequest.install, at serve())
        self.service_account_tokens: ServiceAccountTokens | None = None
        self.webhook_client = WebhookClient(
            EndpointsResolver(self._cached_get("", "services"), self._cached_get("", "endpoints"))
        )
        limit_ranger = LimitRanger(self._list_in_namespace("", "limitranges"))
        service_account = ServiceAccount(self._cached_get("", "serviceaccounts"))
        self.admission = AdmissionChain(
            mutating=[
                limit_ranger,
                service_account,
                Priority(self._get_priority_class, self._list_priority_classes),
                DefaultTolerationSeconds(),
                DefaultStorageClass(self._list_storage_classes),
                MutatingWebhooks(
                    lambda: self._cached_list(AR, "mutatingwebhookconfigurations"),
                    self._get_namespace,
                    self.webhook_client,
                ),
            ],
            validating=[
                NamespaceLifecycle(self._get_namespace),
                limit_ranger,
                service_account,
                PodSecurity(
                    self._get_namespace,
                    self._list_pods,
                    pod_security_config(config.admission_control_config_file),
                ),
                ValidatingWebhooks(
                    lambda: self._cached_list(AR, "validatingwebhookconfigurations"),
                    self._get_namespace,
                    self.webhook_client,
                ),
            ],
        )
        off = set(config.disable_admission_plugins)
        self.admission.mutating = [p for p in self.admission.mutating if p.name not in off]
        self.admission.validating = [p for p in self.admission.validating if p.name not in off]
        if "Node" in config.authorization_mode.split(",") and "NodeRestriction" not in off:
            self.admission.validating.append(NodeRestriction())
        if "RBAC" in config.authorization_mode.split(","):
            self.admission.validating.append(
                RbacEscalation(self.rbac_resolver, self.authz.authorize)
            )
        if "ResourceQuota" not in off:  # upstream: last of the validating plugins
            self.admission.validating.append(
                ResourceQuota(
                    self._list_in_namespace("", "resourcequotas"), self._update_quota_status
                )
            )
        self.discovery = Discovery(self.catalog, f"{config.bind_address}:{config.port}")
        self.handlers = ResourceHandlers(self)
        self.min_request_timeout = 1800.0
        self.bookmark_interval = 60.0
        self.ready = asyncio.Event()
        self.app = self._build_app()
        # cluster IP / node port allocation and the `kubernetes` Service (start_storage)
        self.services: ServiceSupport | None = None

    def _authorizers(self, mode: str) -> list[Authorizer]:
        """The chain ``--authorization-mode`` names (kube-apiserver's flag):
        a comma list of AlwaysAllow, AlwaysDeny, Node, RBAC."""
        out: list[Authorizer] = []
        names = [m.strip() for m in mode.split(",") if m.strip()]
        if any(n != "AlwaysAllow" for n in names):
            out.append(PrivilegedGroups())  # system:masters, as upstream always does
        for name in names:
            if name == "AlwaysAllow":
                out.append(AlwaysAllow())
            elif name == "AlwaysDeny":
                out.append(AlwaysDeny())
            elif name == "Node":
                out.append(self._node_authorizer())
            elif name == "RBAC":
                out.append(self.rbac)
            else:
                raise errors.StartupError(
                    f"unknown authorization mode {name!r} (AlwaysAllow, AlwaysDeny, Node, RBAC)"
                )
        return out

    def _node_passwords(self) -> nodecredentials.NodePasswords:
        return nodecredentials.NodePasswords(
            self.store("", "v1", "secrets"),
            lambda: RequestContext(user=SYSTEM_USER, field_manager="pinnace-apiserver"),
        )

    def _node_authorizer(self) -> NodeAuthorizer:
        node_role = next(
            r for r in bootstrap_policy.cluster_roles() if r["metadata"]["name"] == "system:node"
        )
        return NodeAuthorizer(
            self._list_in_namespace("", "pods"),
            self._cached_get("", "persistentvolumeclaims"),
            list(node_role.get("rules") or []),
        )

    # -- lifecycle ------------------------------------------------------------

    async def start_storage(self) -> None:
        if self.backend is None:
            self.backend = open_backend(self.config.storage_url())
        if self.config.encryption_provider_config and not isinstance(
            self.backend, EncryptingBackend
        ):
            self.backend = encrypting_backend(
                self.backend, self.config.encryption_provider_config, self.catalog.resources
            )
        try:
            await self.backend.start()
        except Exception as e:
            raise errors.StartupError(
                f"cannot open storage {self.config.storage_url()}: {e}"
            ) from e
        self.services = ServiceSupport.build(self.config, self.backend)
        for r in self.catalog.resources:
            if not r.stored:
                continue
            prefix = r.key_prefix()
            cache = self.caches.get(prefix)
            if cache is None:
                sharing = [x for x in self.catalog.resources if x.key_prefix() == prefix]
                cache = WatchCache(
                    self.backend,
                    prefix,
                    fields_fn=fields_function(sharing),
                    value_decoder=self.hooks.value_decoder(r),
                )
                self.caches[prefix] = cache
            if (r.group, r.plural) == ("", "services"):
                self.stores[(r.group, r.version, r.plural)] = self.services.make_store(
                    r, cache, strategy_for(r), self.admission, self.hooks
                )
                continue
            self.stores[(r.group, r.version, r.plural)] = ResourceStore(
                r, self.backend, cache, strategy_for(r), self.admission, self.hooks
            )
        await asyncio.gather(*(c.start() for c in self.caches.values()))
        await self._bootstrap()
        await self.services.start(
            self.store("", "v1", "services"),
            self.store("", "v1", "endpoints"),
            self.store("discovery.k8s.io", "v1", "endpointslices"),
            lambda: RequestContext(user=SYSTEM_USER, field_manager="pinnace-apiserver"),
        )

    async def stop(self) -> None:
        await self.webhook_client.close()
        if self.services is not None:
            await self.services.stop()
        for c in self.caches.values():
            await c.stop()
        if self.backend is not None:
            await self.backend.close()

    async def _bootstrap(self) -> None:
        """Objects every cluster has: the default namespaces, the built-in
        priority classes and the default (local-path) StorageClass."""
        ctx = RequestContext(user=SYSTEM_USER, field_manager="pinnace-apiserver")
        pc_store = self.store("scheduling.k8s.io", "v1", "priorityclasses")
        for pc_name, value in SYSTEM_CLASSES.items():
            if pc_store.cache.get_entry(pc_store.key("", pc_name)) is None:
                body = {
                    "apiVersion": "scheduling.k8s.io/v1",
                    "kind": "PriorityClass",
                    "metadata": {"name": pc_name},
                    "value": value,
                    "description": "Built-in: cluster components that must run somewhere."
                    if pc_name == "system-cluster-critical"
                    else "Built-in: node components that must stay on their node.",
                }
                try:
                    await pc_store.create("", body, ctx)
                except errors.ApiError as e:
                    if e.code != 409:
                        raise
        sc_store = self.store("storage.k8s.io", "v1", "storageclasses")
        if sc_store.cache.get_entry(sc_store.key("", LOCAL_PATH_CLASS["metadata"]["name"])) is None:
            try:
                await sc_store.create("", copy.deepcopy(LOCAL_PATH_CLASS), ctx)
            except errors.ApiError as e:
                if e.code != 409:
                    raise
        ns_store = self.store("", "v1", "namespaces")
        for name in DEFAULT_NAMESPACES:
            if ns_store.cache.get_entry(ns_store.key("", name)) is None:
                try:
                    await ns_store.create(
                        "",
                        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                        RequestContext(user=SYSTEM_USER, field_manager="pinnace-apiserver"),
                    )
                except errors.ApiError as e:
                    if e.code != 409:
                        raise
        await ensure_bootstrap_policy(
            lambda plural: self.store("rbac.authorization.k8s.io", "v1", plural),
            lambda: RequestContext(user=SYSTEM_USER, field_manager="pinnace-apiserver"),
        )

    def loopback_client_config(
        self, url: str, ca_pem: bytes, user: str, groups: tuple[str, ...]
    ) -> Any:
        """A client config for an in-process component: HTTPS to this server
        with a loopback token for the component's own identity, and no
        client-side rate limit (like upstream's loopback client)."""
        from pinnace.client.config import ClientConfig

        token = self.loopback_tokens.issue(UserInfo(user, (*groups, "system:authenticated")))
        return ClientConfig(
            server=url, ca_data=ca_pem, token=token, qps=0.0, burst=0, user_agent=f"pinnace/{user}"
        )

    def store(self, group: str, version: str, plural: str) -> ResourceStore:
        return self.stores[(group, version, plural)]

    def _get_priority_class(self, name: str) -> dict[str, Any] | None:
        s = self.stores.get(("scheduling.k8s.io", "v1", "priorityclasses"))
        return s.cache.get(s.key("", name)) if s is not None else None

    def _list_priority_classes(self) -> list[dict[str, Any]]:
        s = self.stores.get(("scheduling.k8s.io", "v1", "priorityclasses"))
        return s.cache.list_objects() if s is not None else []

    def _list_storage_classes(self) -> list[dict[str, Any]]:
        s = self.stores.get(("storage.k8s.io", "v1", "storageclasses"))
        return s.cache.list_objects() if s is not None else []

    def _cached_get(self, group: str, plural: str) -> Callable[[str, str], dict[str, Any] | None]:
        def get(ns: str, name: str) -> dict[str, Any] | None:
            s = self.stores.get((group, "v1", plural))
            return s.cache.get(s.key(ns, name)) if s is not None else None

        return get

    def _cached_list(self, group: str, plural: str) -> list[dict[str, Any]]:
        s = self.stores.get((group, "v1", plural))
        return s.cache.list_objects() if s is not None else []

    def _list_in_namespace(self, group: str, plural: str) -> Callable[[str], list[dict[str, Any]]]:
        def list_(namespace: str) -> list[dict[str, Any]]:
            s = self.stores.get((group, "v1", plural))
            return [] if s is None else s.cache.list_objects(s.list_prefix(namespace))

        return list_

    async def _update_quota_status(
        self, namespace: str, name: str, mutate: QuotaMutation
    ) -> dict[str, Any]:
        """ResourceQuota admission's charge: a CAS update of the quota's status."""
        ctx = RequestContext(user=SYSTEM_USER, field_manager="pinnace-apiserver")
        store = self.store("", "v1", "resourcequotas")
        obj, _ = await store.guaranteed_update(namespace, name, mutate, ctx, subresource="status")
        return obj

    def _list_pods(self, namespace: str) -> list[dict[str, Any]]:
        s = self.stores.get(("", "v1", "pods"))
        return [] if s is None else s.cache.list_objects(s.list_prefix(namespace))

    def _get_namespace(self, name: str) -> dict[str, Any] | None:
        s = self.stores.get(("", "v1", "namespaces"))
        if s is None:
            return None
        return s.cache.get(s.key("", name))

    # -- HTTP -----------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._error_middleware],
            client_max_size=self.config.max_request_bytes,
        )
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # audit middleware in front of _error_middleware (only with --audit-policy-file)
        audit.install(app, self.config)
        return app

    @web.middleware
    async def _error_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            resp: web.StreamResponse = await handler(request)
            return resp
        except errors.ApiError as e:
            return negotiation.json_response(e.status(), e.code, e.headers or None)
        except web.HTTPRequestEntityTooLarge:
            e2 = errors.too_large()
            return negotiation.json_response(e2.status(), 413)
        except web.HTTPException as e:
            return negotiation.json_response(
                errors.status_body(e.status, e.reason.replace(" ", ""), e.text or e.reason),
                e.status,
            )
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:
            log.exception("internal error serving %s %s", request.method, request.path)
            e3 = errors.internal()
            return negotiation.json_response(e3.status(), 500)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path in ANONYMOUS_PATHS or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            return self._non_resource(request, path)
        user = await self.authenticate(request)
        if impersonation.requested(request):
            request["authenticated_user"] = user
            request["user"] = user  # who to blame if impersonation is refused
            user = await impersonation.impersonate(request, user, self.authz.authorize)
        request["user"] = user
        watch_param = request.query.get("watch", "").lower() in ("true", "1")
        info = parse_request(request.method, path, watch_param)
        request["request_info"] = info
        audit.request_authenticated(request)
        if not info.is_resource:
            await self._authorize(
                Attributes(user, request.method.lower(), False, path=path), request
            )
            if path == nodecredentials.PATH:
                return await nodecredentials.handle(
                    request, self.pki, self.config.cert_validity, self._node_passwords()
                )
            return await self._non_resource_authenticated(request, path, info)
        resource = self.catalog.by_plural(info.group, info.version, info.resource)
        if resource is None:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource", {}
            )
        await self._authorize(
            Attributes(
                user,
                info.verb,
                True,
                api_group=info.group,
                api_version=info.version,
                resource=info.resource,
                subresource=info.subresource,
                namespace=info.namespace,
                name=info.name,
                path=path,
            ),
            request,
        )
        verb = info.verb.upper() if info.verb != "watch" else "WATCH"
        labels = (verb, info.group, info.version, info.resource, info.subresource)
        start = time.perf_counter()
        code = 500
        try:
            resp = await self.handlers.handle(request, info, resource)
            code = resp.status
            return resp
        except errors.ApiError as e:
            code = e.code
            raise
        finally:
            metrics.REQUESTS.labels(*labels, str(code)).inc()
            if verb != "WATCH":
                metrics.REQUEST_DURATION.labels(*labels).observe(time.perf_counter() - start)

    async def authenticate(self, request: web.Request) -> UserInfo:
        """The request's user: the first authenticator that recognises its
        credentials; system:anonymous when it carries none (and anonymous
        requests are allowed); 401 when it carries credentials no one accepts."""
        user = await self.authn.authenticate(request)
        if user is not None:
            return user
        if self.config.anonymous_auth and not _carries_credentials(request):
            return ANONYMOUS
        raise errors.unauthorized()

    async def _authorize(self, attrs: Attributes, request: web.Request | None = None) -> None:
        decision, reason = await self.authz.authorize(attrs)
        if request is not None:  # for the audit log
            request["authz_decision"] = "allow" if decision == "allow" else "forbid"
            request["authz_reason"] = reason
        if decision != "allow":
            if attrs.resource_request:
                raise errors.forbidden(
                    attrs.user.name,
                    attrs.verb,
                    attrs.resource,
                    attrs.api_group,
                    attrs.namespace,
                    attrs.name,
                    attrs.subresource,
                    reason,
                )
            raise errors.ApiError(
                403,
                "Forbidden",
                f'forbidden: User "{attrs.user.name}" cannot {attrs.verb} path "{attrs.path}"',
            )

    def _non_resource(self, request: web.Request, path: str) -> web.Response:
        if path == "/version":
            return negotiation.json_response(KUBERNETES_VERSION)
        if path == "/cacerts":  # public: agents joining with a token check it by hash
            return web.Response(body=self.ca_pem, content_type="application/x-pem-file")
        ok = self.ready.is_set() or path.startswith(("/livez", "/healthz"))
        if "verbose" in request.query:
            text = "[+]ping ok\n[+]storage ok\n" + (
                "healthz check passed\n" if ok else "check failed\n"
            )
            return web.Response(text=text, status=200 if ok else 500)
        return web.Response(text="ok" if ok else "not ready", status=200 if ok else 500)

    async def _non_resource_authenticated(
        self, request: web.Request, path: str, info: Any
    ) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise errors.method_not_allowed()
        accept = request.headers.get("Accept", "")
        p = path.rstrip("/") or "/"
        if p in ("/api", "/apis"):
            legacy = p == "/api"
            if "as=APIGroupDiscoveryList" in accept:
                version = (
                    "v2"
                    if "v=v2;" in accept.replace(" ", "") + ";" or "v=v2," in accept
                    else "v2beta1"
                )
                if "v=v2;" not in accept.replace(" ", "") and "v=v2beta1" in accept:
                    version = "v2beta1"
                ctype = AGGREGATED_V2 if version == "v2" else AGGREGATED_V2BETA1
                body = self.discovery.aggregated(legacy, version)
                import orjson

                return web.Response(body=orjson.dumps(body), headers={"Content-Type": ctype})
            return negotiation.json_response(
                self.discovery.api_versions() if legacy else self.discovery.api_group_list
            )
        parts = p.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            doc = self.discovery.api_resource_list("", parts[1])
            if doc is not None:
                return negotiation.json_response(doc)
        if parts[0] == "apis" and len(parts) == 2:
            doc = self.discovery.api_group(parts[1])
            if doc is not None:
                return negotiation.json_response(doc)
        if parts[0] == "apis" and len(parts) == 3:
            doc = self.discovery.api_resource_list(parts[1], parts[2])
            if doc is not None:
                return negotiation.json_response(doc)
        if p == "/metrics":
            import pinnace.metrics

            return web.Response(
                body=await pinnace.metrics.render_all(),
                headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
            )
        if parts[0] == "openapi":
            from pinnace.apiserver import openapi_handlers

            return openapi_handlers.serve(request, p)
        if p in ("/version", "/healthz", "/livez", "/readyz"):
            return self._non_resource(request, p)
        raise errors.ApiError(
            404, "NotFound", "the server could not find the requested resource", {}
        )


def _carries_credentials(request: web.Request) -> bool:
    if request.headers.get("Authorization"):
        return True
    return peer_certificate(request) is not None


# -- serving -----------------------------------------------------------------


NODE_TOKEN_FILE = "node-token"


def _register_node_token(server: ApiServer, data_dir: Path, ca_pem: bytes) -> None:
    """Make (once) and accept the join token agents use (``pinnace agent --server
    URL --token T``); it is kept in ``<data-dir>/node-token`` (0600)."""
    from pinnace.client.jointoken import JoinToken, JoinTokenError, new_secret

    path = data_dir / NODE_TOKEN_FILE
    secret = ""
    with contextlib.suppress(OSError, JoinTokenError):
        secret = JoinToken.parse(path.read_text()).secret
    token = JoinToken.for_ca(ca_pem, secret or new_secret())
    if not path.exists() or path.read_text().strip() != str(token):
        tmp = path.with_suffix(".tmp")
        tmp.write_text(str(token) + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    server.loopback_tokens.register(
        token.secret, UserInfo("system:node-agent", ("system:nodes", "system:authenticated"))
    )


async def _run_component(comp: Any, client_config: Any) -> None:
    log.info("starting %s", comp.name)
    try:
        await comp.run(client_config)
    except asyncio.CancelledError:
        raise
    except Exception as e:
        log.critical("component %s crashed: %s", comp.name, e, exc_info=True)
        raise
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        return  # shutting down: the component wound up on its own
    raise RuntimeError(f"component {comp.name} stopped unexpectedly")


def _check_data_dir(data_dir: Path) -> None:
    if data_dir.exists() and not data_dir.is_dir():
        raise errors.StartupError(f"data dir {data_dir} exists and is not a directory")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "db").mkdir(exist_ok=True)
        probe = data_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise errors.StartupError(f"data dir {data_dir} is not usable: {e.strerror or e}") from e


def _bind_socket(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise errors.StartupError(
                f"port {port} on {address} is already in use (is another pinnace or kube-apiserver running?)"
            ) from e
        raise errors.StartupError(f"cannot listen on {address}:{port}: {e.strerror or e}") from e
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def _start_loopback_site(runner: web.AppRunner, data_dir: Path) -> Path | None:
    """The listener for the components inside this process: plain HTTP on a
    Unix socket in a private directory of the data dir. Requests take the
    same path as over HTTPS (the loopback bearer token → authz → admission →
    registry) without TCP or TLS on either side. None (the components then use
    HTTPS loopback) when the socket cannot be made here."""
    run_dir = data_dir / "run"
    path = run_dir / "loopback.sock"
    if len(os.fsencode(path)) > 100:  # sun_path holds 108 bytes
        log.info("data dir path too long for a Unix socket; components use HTTPS loopback")
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        run_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(run_dir, 0o700)  # only the server's user reaches the socket
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # left by a server that did not stop cleanly
        sock.bind(str(path))
        sock.listen(1024)
        sock.setblocking(False)
        site = web.SockSite(runner, sock, shutdown_timeout=1.0)
        await site.start()
    except OSError as e:
        sock.close()
        log.warning("cannot listen on %s (%s); components use HTTPS loopback", path, e)
        return None
    return path


def serving_cert_hosts(config: ServerConfig) -> list[str]:
    """The names the serving certificate carries besides the fixed ones: the
    bind address, the advertise address and ``--tls-san``. The advertise
    address is what the ``kubernetes`` Endpoints list, and agents that learn
    the servers from there (``pinnace.client.apiservers``) connect to it, so
    it must verify, as upstream's self-signed serving certificate does."""
    from pinnace.apiserver.services.kubernetes import advertise_address
    from pinnace.netutil import default_route_ip

    advertise = advertise_address(config.advertise_address, config.bind_address, default_route_ip)
    return [config.bind_address, advertise, *config.tls_sans]


async def serve(
    config: ServerConfig,
    *,
    ready: asyncio.Event | None = None,
    server_out: list[ApiServer] | None = None,
) -> None:
    """Run the API server until cancelled; set ``ready`` once it serves and
    ``admin.kubeconfig`` is written."""
    from pinnace.apiserver.certs import ensure_pki, write_admin_kubeconfig
    from pinnace.apiserver.tls import local_server_url, server_ssl_context

    data_dir = Path(config.data_dir).absolute()
    _check_data_dir(data_dir)
    sock = _bind_socket(config.bind_address, config.port)
    port = sock.getsockname()[1]
    config.port = port
    try:
        pki = ensure_pki(
            config.pki_dir,
            hosts=serving_cert_hosts(config),
            cert_validity=config.cert_validity,
            ca_validity=config.ca_validity,
        )
    except Exception as e:
        sock.close()
        raise errors.StartupError(f"cannot set up certificates in {config.pki_dir}: {e}") from e
    server = ApiServer(config)
    server.ca_pem = pki.ca_pem()
    server.pki = pki
    server.x509.verifier = ClientCertificateVerifier(server.ca_pem)
    try:
        tokenrequest.install(server)
    except Exception:
        sock.close()
        raise
    _register_node_token(server, data_dir, server.ca_pem)
    if server_out is not None:
        server_out.append(server)
    try:
        await server.start_storage()
    except Exception:
        sock.close()
        raise
    gcpolicy.tune()
    loopback_path: Path | None = None
    runner = web.AppRunner(server.app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.SockSite(runner, sock, ssl_context=server_ssl_context(pki), shutdown_timeout=1.0)
    try:
        await site.start()
        url = local_server_url(config.bind_address, port)
        write_admin_kubeconfig(pki, config.admin_kubeconfig, server=url)
        server.ready.set()
        log.info("serving on %s (storage %s)", url, config.storage_url())
        # where the in-process local-path provisioner keeps its volumes
        os.environ.setdefault("PINNACE_LOCAL_PATH_DIR", str(config.data_dir / "storage"))
        components = config.components(config) if config.components else []
        if any(c.name not in config.disable for c in components):
            loopback_path = await _start_loopback_site(runner, data_dir)
        loopback_url = UNIX_SCHEME + str(loopback_path) if loopback_path else url
        async with asyncio.TaskGroup() as tg:
            tg.create_task(gcpolicy.periodic_full_gc(), name="gc")
            if server.service_account_tokens is not None:
                filler = LegacyTokenFiller(
                    server.store("", "v1", "secrets"),
                    server.store("", "v1", "serviceaccounts"),
                    server.service_account_tokens.issuer,
                    server.ca_pem,
                    lambda: RequestContext(user=SYSTEM_USER, field_manager="pinnace-apiserver"),
                )
                tg.create_task(filler.run(), name="legacy-token-filler")
            for comp in components:
                if comp.name in config.disable:
                    continue
                cc = server.loopback_client_config(
                    loopback_url, pki.ca_pem(), comp.user, comp.groups
                )
                tg.create_task(_run_component(comp, cc), name=comp.name)
            if ready is not None:
                ready.set()
            await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        if loopback_path is not None:
            with contextlib.suppress(OSError):
                loopback_path.unlink()
        await server.stop()
        if os.environ.get("PINNACE_DEBUG_STOP"):
            log.info("stopped")
