"""The kubelet's HTTPS API (port 10250): what the API server calls for
``kubectl logs/exec/attach/port-forward``, and what metrics-server and
``kubectl top`` read.

Routes (upstream's paths)::

    /healthz                                       no authentication
    /pods                                          PodList of the pods bound here
    /containerLogs/{namespace}/{pod}/{container}   text/plain, PodLogOptions in the query
    /exec/{namespace}/{pod}[/{uid}]/{container}    upgrade (WebSocket or SPDY)
    /attach/{namespace}/{pod}[/{uid}]/{container}  upgrade
    /portForward/{namespace}/{pod}[/{uid}]         upgrade
    /stats/summary                                 stats API Summary (JSON)
    /metrics/resource                              Prometheus text for metrics-server

**Authentication** is TLS client certificates only (k3s runs its kubelets with
anonymous auth off and the cluster CA as client CA): a caller without a
certificate gets 401 ``Unauthorized``; the handshake itself fails for a
certificate the cluster CA did not sign. **Authorization** replaces upstream's
SubjectAccessReview webhook with a fixed rule, since the kubelet must not call
back into the API server per request: the API server's kubelet-client
identity (CN ``kube-apiserver-kubelet-client``) or any member of
``system:masters`` may do everything; anyone else gets upstream's 403 text,
``Forbidden (user=..., verb=..., resource=nodes, subresource(s)=[...])``.

Errors are plain text, as upstream's kubelet writes them (the API server turns
them into ``metav1.Status``).

The streaming routes only find the pod and hand the request to
:mod:`pinnace.kubelet.streaming`, which does the protocol work; what this
module needs from the kubelet core is the small :class:`KubeletBackend`.

Concurrency model: one aiohttp server; each request a task. Handlers are
cancelled when their client disconnects (``handler_cancellation``), which is
what ends a ``follow`` log stream whose container is quiet.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import orjson
from aiohttp import web

from pinnace.certidentity import identity_from_peercert
from pinnace.kubelet import logs as klogs
from pinnace.kubelet import stats as kstats

__all__ = [
    "KUBELET_CLIENT_USER",
    "KubeletBackend",
    "KubeletError",
    "KubeletServer",
    "kubelet_ssl_context",
]

log = logging.getLogger("pinnace.kubelet.server")

KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"
MASTERS_GROUP = "system:masters"

Obj = dict[str, Any]


class KubeletError(Exception):
    """An answer other than success, with its HTTP status and plain-text body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class KubeletBackend(Protocol):
    """What the API needs from the kubelet core."""

    def pods(self) -> list[Obj]:
        """The pods bound to this node, as the kubelet knows them (``/pods``)."""
        ...

    def get_pod(self, namespace: str, name: str) -> Obj | None:
        """One of those pods, with the status the kubelet last computed
        (container states and ids are what the log route reads)."""
        ...

    async def container_log_path(self, container_id: str) -> Path | None:
        """The CRI log file of a container (``ContainerStatus.log_path``), or
        None when the runtime no longer knows it."""
        ...

    def container_running(self, container_id: str) -> bool:
        """Whether the container is still running (ends ``follow``)."""
        ...

    async def exec_url(
        self, namespace: str, pod: str, uid: str, container: str, options: Any
    ) -> str:
        """CRI ``Exec`` for the container: the runtime's streaming URL.
        ``options`` is :class:`pinnace.kubelet.streaming.remotecommand.ExecOptions`;
        ``uid`` is empty unless the path had one. Raise :class:`KubeletError`
        (e.g. ``500, 'container not found ("x")'``)."""
        ...

    async def attach_url(
        self, namespace: str, pod: str, uid: str, container: str, options: Any
    ) -> str:
        """CRI ``Attach``, like :meth:`exec_url`."""
        ...

    async def portforward_url(self, namespace: str, pod: str, uid: str) -> str:
        """CRI ``PortForward`` for the pod's sandbox."""
        ...

    async def stats_summary(self) -> Obj:
        """The ``/stats/summary`` document (see :class:`pinnace.kubelet.stats.StatsProvider`)."""
        ...


def kubelet_ssl_context(cert_file: Path, key_file: Path, client_ca_file: Path) -> ssl.SSLContext:
    """The serving context: our certificate, client certificates requested
    and verified against the cluster CA (a client without one still connects
    and is answered 401)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile=str(cert_file), keyfile=str(key_file))
    ctx.load_verify_locations(cafile=str(client_ca_file))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _allowed(user: str, groups: list[str]) -> bool:
    return user == KUBELET_CLIENT_USER or MASTERS_GROUP in groups


_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch"}


def _subresource(path: str) -> str:
    """Upstream's mapping of kubelet paths to ``nodes/<subresource>``."""
    for prefix, sub in (
        ("/stats", "stats"),
        ("/metrics", "metrics"),
        ("/logs", "log"),
        ("/checkpoint", "checkpoint"),
        ("/pods", "pods"),
        ("/healthz", "healthz"),
        ("/configz", "configz"),
    ):
        if path == prefix or path.startswith(prefix + "/"):
            return sub
    return "proxy"


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message)


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        resp: web.StreamResponse = await handler(request)
        return resp
    except KubeletError as e:
        return _text(e.status, e.message)
    except web.HTTPException:
        raise
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception as e:
        log.exception("internal error serving %s %s", request.method, request.path)
        return _text(500, str(e) or "internal error")


class KubeletServer:
    """The kubelet's HTTPS API. ``port`` 0 picks a free one; :attr:`port` is
    the bound port after :meth:`start`."""

    def __init__(
        self,
        backend: KubeletBackend,
        *,
        ssl_context: ssl.SSLContext | None,
        host: str = "0.0.0.0",
        port: int = 10250,
        authorize: Callable[[str, list[str]], bool] = _allowed,
        log_poll_interval: float = 0.25,
    ) -> None:
        self.backend = backend
        self.ssl_context = ssl_context
        self.host = host
        self._port = port
        self.authorize = authorize
        self.log_poll_interval = log_poll_interval
        self.app = self._build_app()
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        return self._port

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[_errors, self._auth])
        r = app.router
        r.add_get("/healthz", self._healthz)
        r.add_get("/pods", self._pods)
        r.add_get("/containerLogs/{namespace}/{pod}/{container}", self._container_logs)
        for kind in ("exec", "attach"):
            handler = self._exec if kind == "exec" else self._attach
            for path in (
                f"/{kind}/{{namespace}}/{{pod}}/{{container}}",
                f"/{kind}/{{namespace}}/{{pod}}/{{uid}}/{{container}}",
            ):
                r.add_route("GET", path, handler)
                r.add_route("POST", path, handler)
        for path in ("/portForward/{namespace}/{pod}", "/portForward/{namespace}/{pod}/{uid}"):
            r.add_route("GET", path, self._portforward)
            r.add_route("POST", path, self._portforward)
        r.add_get("/stats/summary", self._stats_summary)
        r.add_get("/metrics/resource", self._resource_metrics)
        return app

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            handler_cancellation=True,
            shutdown_timeout=1.0,
        )
        await runner.setup()
        site = web.SockSite(runner, sock, ssl_context=self.ssl_context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            sock.close()
            raise
        self._runner = runner
        log.info("kubelet API serving on %s:%d", self.host, self._port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- authentication and authorization ------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/healthz" or request.path.startswith("/healthz/"):
            resp: web.StreamResponse = await handler(request)
            return resp
        transport = request.transport
        peercert = transport.get_extra_info("peercert") if transport is not None else None
        ident = identity_from_peercert(peercert)
        if ident is None:
            return _text(401, "Unauthorized")
        user, groups = ident
        if not self.authorize(user, groups):
            verb = _VERBS.get(request.method, request.method.lower())
            if request.method == "DELETE":
                verb = "delete"
            return _text(
                403,
                f"Forbidden (user={user}, verb={verb}, resource=nodes, "
                f"subresource(s)=[{_subresource(request.path)}])\n",
            )
        resp = await handler(request)
        return resp

    # -- handlers --------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _pods(self, request: web.Request) -> web.Response:
        body = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": self.backend.pods()}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def _container_logs(self, request: web.Request) -> web.StreamResponse:
        ns = request.match_info["namespace"]
        name = request.match_info["pod"]
        container = request.match_info["container"]
        try:
            opts = klogs.parse_log_options(request.query, kubelet=True)
        except klogs.LogOptionsError as e:
            if e.decode:
                raise KubeletError(400, '{"message": "Unable to decode query."}') from None
            raise KubeletError(422, '{"message": "Invalid request."}') from None
        pod = self.backend.get_pod(ns, name)
        if pod is None:
            raise KubeletError(404, f'pod "{name}" does not exist')
        if not _has_container(pod, container):
            raise KubeletError(404, f'container "{container}" not found in pod "{name}"')
        try:
            cid = klogs.container_id_for_logs(pod, container, opts.previous)
        except klogs.LogSelectionError as e:
            raise KubeletError(400, str(e)) from None
        path = await self.backend.container_log_path(cid)
        if path is None:
            raise KubeletError(400, f'failed to get container status "{cid}": not found')
        try:
            f = open(path, "rb")
        except OSError as e:
            raise KubeletError(400, f'failed to open log file "{path}": {e}') from None
        f.close()

        resp = web.StreamResponse(status=200)
        resp.content_type = "text/plain"
        resp.enable_chunked_encoding()
        await resp.prepare(request)

        def running() -> bool:
            return self.backend.container_running(cid)

        try:
            await klogs.stream_log(
                path,
                opts,
                resp.write,
                is_running=running if opts.follow else None,
                poll_interval=self.log_poll_interval,
            )
        except OSError as e:
            # the status line is gone already: end the stream
            log.info("log stream of %s ended: %s", cid, e)
        await resp.write_eof()
        return resp

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        from pinnace.kubelet.streaming import remotecommand

        ns, name, uid, container = self._stream_target(request)

        async def get_url(options: Any) -> str:
            return await self.backend.exec_url(ns, name, uid, container, options)

        return await remotecommand.serve_exec(request, _url_errors(get_url))

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        from pinnace.kubelet.streaming import remotecommand

        ns, name, uid, container = self._stream_target(request)

        async def get_url(options: Any) -> str:
            return await self.backend.attach_url(ns, name, uid, container, options)

        return await remotecommand.serve_attach(request, _url_errors(get_url))

    async def _portforward(self, request: web.Request) -> web.StreamResponse:
        from pinnace.kubelet.streaming import portforward

        ns, name, uid, _ = self._stream_target(request)

        async def checked() -> str:
            try:
                return await self.backend.portforward_url(ns, name, uid)
            except KubeletError as e:
                raise _http_error(e) from None

        return await portforward.serve_portforward(request, checked)

    def _stream_target(self, request: web.Request) -> tuple[str, str, str, str]:
        ns = request.match_info["namespace"]
        name = request.match_info["pod"]
        if self.backend.get_pod(ns, name) is None:
            raise KubeletError(404, "pod does not exist")
        return ns, name, request.match_info.get("uid", ""), request.match_info.get("container", "")

    async def _stats_summary(self, request: web.Request) -> web.Response:
        summary = await self.backend.stats_summary()
        if request.query.get("only_cpu_and_memory", "").lower() == "true":
            summary = kstats.cpu_and_memory_only(summary)
        return web.Response(body=orjson.dumps(summary), content_type="application/json")

    async def _resource_metrics(self, request: web.Request) -> web.Response:
        summary = await self.backend.stats_summary()
        return web.Response(
            text=kstats.resource_metrics(summary),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )


def _has_container(pod: Obj, name: str) -> bool:
    spec = pod.get("spec") or {}
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for c in spec.get(key) or ():
            if c.get("name") == name:
                return True
    return False


_HTTP_ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    422: web.HTTPUnprocessableEntity,
    503: web.HTTPServiceUnavailable,
}


def _http_error(e: KubeletError) -> web.HTTPException:
    return _HTTP_ERRORS.get(e.status, web.HTTPInternalServerError)(text=e.message)


def _url_errors(get_url: Callable[[Any], Awaitable[str]]) -> Callable[[Any], Awaitable[str]]:
    """Turn :class:`KubeletError` from the backend into the HTTP answer the
    streaming handlers pass through unchanged."""

    async def wrapped(options: Any) -> str:
        try:
            return await get_url(options)
        except KubeletError as e:
            raise _http_error(e) from None

    return wrapped
