"""The audit seam of the API server: an aiohttp middleware that records each
request as audit events at the level the policy gives it.

It sits in front of the server's error middleware, so it sees every response
exactly as the client gets it (errors already turned into ``Status``
objects). What the request path learned is read from the request mapping:
``user`` (the effective user, set after authentication),
``authenticated_user`` (the real one, when impersonating), ``request_info``,
``authz_decision``/``authz_reason`` and an optional ``audit_annotations``
dict (admission plugins may add to it). A request without ``user`` that was
answered 401 failed authentication: like upstream it gets one
``ResponseStarted`` event with an empty user.

Stages: ``RequestReceived`` then ``ResponseComplete``; long-running requests
(watch, exec, attach, port-forward, logs, proxy) also ``ResponseStarted``,
emitted from the response-prepare hook when their headers go out; ``Panic``
for an exception no handler turned into a response. ``RequestReceived`` is
stamped with the arrival time; it is written when the request path calls
:func:`request_authenticated` (if wired in) or else together with the next
stage. The ``Audit-ID`` response header carries the event's ID (the client's
own ``Audit-ID`` header is kept, as upstream does).

Concurrency model: runs in the request's task; the only shared state is the
log writer's queue (see :mod:`.logwriter`). Encoding a line is done here
(orjson, microseconds); the disk is written by the writer's thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from pinnace.api.ids import new_uid
from pinnace.apiserver import negotiation
from pinnace.apiserver.audit.event import (
    EventBuilder,
    ObjectRef,
    response_status,
    without_managed_fields,
)
from pinnace.apiserver.audit.logwriter import AuditLogWriter
from pinnace.apiserver.audit.policy import AuditAttributes, Policy, RequestAuditConfig, evaluate
from pinnace.apiserver.authn import ANONYMOUS, UserInfo
from pinnace.apiserver.requestinfo import RequestInfo, parse_request

__all__ = ["AUDIT_ID_HEADER", "Auditor", "request_authenticated"]

log = logging.getLogger("pinnace.apiserver.audit")

AUDIT_ID_HEADER = "Audit-ID"
_LONG_RUNNING_VERBS = frozenset({"watch", "proxy"})
_LONG_RUNNING_SUBRESOURCES = frozenset({"attach", "exec", "proxy", "log", "portforward"})
_BODY_VERBS = frozenset({"create", "update", "patch"})
_DECISIONS = {"allow": "allow"}  # anything else the authorizer said is a forbid

_CLOSED_EARLY = {"kind": "Status", "status": "Success", "message": "Connection closed early"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _RequestAudit:
    """One request's audit state, kept on the request."""

    __slots__ = ("audit_id", "builder", "config", "received", "sent_received", "started")

    def __init__(self, audit_id: str, received: dt.datetime) -> None:
        self.audit_id = audit_id
        self.received = received
        self.builder: EventBuilder | None = None
        self.config: RequestAuditConfig | None = None
        self.sent_received = False
        self.started = False


_STATE: web.RequestKey[_RequestAudit] = web.RequestKey("pinnace.audit", _RequestAudit)


def request_authenticated(request: web.Request) -> None:
    """Optional hook for the request path: call it once the user is known
    (after authentication and ``request_info``) to write the
    ``RequestReceived`` event before the request is handled. Does nothing
    when auditing is off or the request is not audited."""
    state = request.get(_STATE)
    auditor = request.get(_AUDITOR)
    if state is not None and auditor is not None:
        auditor._received(request, state)


class Auditor:
    """Records requests per ``policy`` into ``writer``."""

    def __init__(
        self,
        policy: Policy,
        writer: AuditLogWriter,
        *,
        now: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.policy = policy
        self.writer = writer
        self._now = now

    # -- wiring ---------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        """Put the middleware in front of ``app``'s others and hook the
        response-prepare signal and the writer's start and stop."""
        app.middlewares.insert(0, self.middleware)
        app.on_response_prepare.append(self._on_prepare)
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)

    async def _on_startup(self, app: web.Application) -> None:
        self.writer.start()

    async def _on_cleanup(self, app: web.Application) -> None:
        await asyncio.to_thread(self.writer.close)

    # -- request path -----------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        audit_id = request.headers.get(AUDIT_ID_HEADER) or new_uid()
        state = _RequestAudit(audit_id, self._now())
        request[_STATE] = state
        request[_AUDITOR] = self
        try:
            resp = await handler(request)
        except asyncio.CancelledError:
            # the client went away; like upstream, a request that sent nothing
            # is recorded as a 200 closed early
            self._complete(request, state, _CLOSED_EARLY, 200)
            raise
        except Exception as e:
            self._panic(request, state, e)
            raise
        await self._finish(request, state, resp)
        return resp

    async def _on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        state = request.get(_STATE)
        if not isinstance(state, _RequestAudit):
            return
        response.headers[AUDIT_ID_HEADER] = state.audit_id
        info = request.get("request_info")
        if isinstance(info, RequestInfo) and "user" in request and _long_running(info):
            builder = self._builder(request, state)
            if builder is None:
                return
            self._received(request, state)
            builder.response_status = response_status(response.status)
            state.started = True
            self._emit(state, "ResponseStarted")

    def _builder(
        self, request: web.Request, state: _RequestAudit, default_user: UserInfo | None = None
    ) -> EventBuilder | None:
        """The request's event builder, made (and the policy evaluated) the
        first time it is asked for; None when the policy says level None."""
        if state.config is not None:
            return state.builder
        user: UserInfo | None = request.get("user", default_user)
        real = request.get("authenticated_user")
        info = request.get("request_info")
        if not isinstance(info, RequestInfo):
            watch = request.query.get("watch", "").lower() in ("true", "1")
            info = parse_request(request.method, request.path, watch)
        attrs = AuditAttributes(
            user=real if isinstance(real, UserInfo) else user,
            verb=info.verb,
            resource_request=info.is_resource,
            api_group=info.group,
            resource=info.resource,
            subresource=info.subresource,
            namespace=info.namespace,
            name=info.name,
            path=request.path,
        )
        state.config = evaluate(self.policy, attrs)
        if state.config.level == "None":
            return None
        builder = EventBuilder(
            level=state.config.level,
            audit_id=state.audit_id,
            request_uri=request.raw_path,
            verb=info.verb,
            received=state.received,
            user=attrs.user,
            impersonated_user=user if isinstance(real, UserInfo) and user != real else None,
            source_ips=_source_ips(request),
            user_agent=request.headers.get("User-Agent", ""),
        )
        if info.is_resource:
            builder.object_ref = ObjectRef(
                resource=info.resource,
                namespace=info.namespace,
                name=info.name,
                api_group=info.group,
                api_version=info.version,
                subresource=info.subresource,
            )
        state.builder = builder
        return builder

    def _received(self, request: web.Request, state: _RequestAudit) -> None:
        if state.sent_received:
            return
        state.sent_received = True
        if self._builder(request, state) is not None:
            self._emit(state, "RequestReceived")

    async def _finish(
        self, request: web.Request, state: _RequestAudit, resp: web.StreamResponse
    ) -> None:
        if "user" not in request and resp.status == 401:
            self._failed_authentication(request, state, resp)
            return
        # paths the server answers before authentication (/healthz, /version, ...)
        # count as system:anonymous; the builder made here is the one used below
        builder = self._builder(request, state, ANONYMOUS)
        if builder is None:
            return
        body = _json_body(resp)
        if builder.object_ref is not None and resp.status not in (401, 403):
            info = request.get("request_info")
            if isinstance(info, RequestInfo) and info.verb in _BODY_VERBS:
                req_obj = await _request_object(request, info)
                if req_obj is not None:
                    builder.object_ref.fill_from(req_obj)
                    if builder.at_least("Request"):
                        builder.request_object = self._trim(state, req_obj)
        if builder.at_least("RequestResponse") and body is not None and not state.started:
            builder.response_object = self._trim(state, body)
        self._complete(request, state, body, resp.status)

    def _complete(self, request: web.Request, state: _RequestAudit, body: Any, code: int) -> None:
        builder = self._builder(request, state) if "user" in request else state.builder
        if builder is None:
            return
        self._received(request, state)
        if not state.started or builder.response_status is None:
            builder.response_status = response_status(code, body)
        elif isinstance(body, dict):
            builder.response_status = response_status(builder.response_status["code"], body)
        self._annotate(request, builder)
        self._emit(state, "ResponseComplete")

    def _failed_authentication(
        self, request: web.Request, state: _RequestAudit, resp: web.StreamResponse
    ) -> None:
        builder = self._builder(request, state)
        if builder is None:
            return
        builder.response_status = response_status(resp.status, _json_body(resp))
        self._emit(state, "ResponseStarted")

    def _panic(self, request: web.Request, state: _RequestAudit, exc: BaseException) -> None:
        builder = self._builder(request, state) if "user" in request else None
        if builder is None:
            return
        self._received(request, state)
        builder.response_status = {
            "metadata": {},
            "status": "Failure",
            "message": f"APIServer panic'd: {exc}",
            "reason": "InternalError",
            "code": 500,
        }
        self._emit(state, "Panic")

    def _annotate(self, request: web.Request, builder: EventBuilder) -> None:
        decision = request.get("authz_decision")
        if isinstance(decision, str) and decision:
            builder.annotations["authorization.k8s.io/decision"] = _DECISIONS.get(
                decision, "forbid"
            )
            reason = request.get("authz_reason")
            if isinstance(reason, str):
                builder.annotations["authorization.k8s.io/reason"] = reason
        extra = request.get("audit_annotations")
        if isinstance(extra, dict):
            for k, v in extra.items():
                builder.annotations.setdefault(str(k), str(v))

    def _trim(self, state: _RequestAudit, obj: Any) -> Any:
        if state.config is not None and state.config.omit_managed_fields:
            return without_managed_fields(obj)
        return obj

    def _emit(self, state: _RequestAudit, stage: str) -> None:
        builder, config = state.builder, state.config
        if builder is None or config is None or stage in config.omit_stages:
            return
        try:
            line = orjson.dumps(builder.render(stage, self._now()))
        except TypeError as e:  # an object that is not JSON data: log without it
            log.error("cannot encode audit event %s: %s", state.audit_id, e)
            builder.request_object = builder.response_object = None
            line = orjson.dumps(builder.render(stage, self._now()))
        self.writer.write(line + b"\n")


_AUDITOR: web.RequestKey[Auditor] = web.RequestKey("pinnace.audit.auditor", Auditor)


# --------------------------------------------------------------------------
# helpers


def _long_running(info: RequestInfo) -> bool:
    return info.verb in _LONG_RUNNING_VERBS or (
        info.subresource.split("/", 1)[0] in _LONG_RUNNING_SUBRESOURCES
    )


def _source_ips(request: web.Request) -> list[str]:
    """X-Forwarded-For entries, X-Real-Ip, then the peer (upstream's order)."""
    ips: list[str] = []
    fwd = request.headers.get("X-Forwarded-For", "")
    for part in fwd.split(","):
        if part.strip():
            ips.append(part.strip())
    real = request.headers.get("X-Real-Ip", "").strip()
    if real and real not in ips:
        ips.append(real)
    remote = request.remote
    if remote and remote not in ips:
        ips.append(remote)
    return ips


def _json_body(resp: web.StreamResponse) -> Any:
    """The response body as JSON data, when it is a JSON document held in
    memory (not a stream, not protobuf or text)."""
    if not isinstance(resp, web.Response):
        return None
    body = resp.body
    if not isinstance(body, bytes | bytearray) or not body:
        return None
    ctype = (resp.content_type or "").lower()
    if "json" not in ctype:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


async def _request_object(request: web.Request, info: RequestInfo) -> Any:
    """The request body as JSON data (patches as sent, as upstream logs them)."""
    try:
        raw = await request.read()
    except Exception:  # too large or the client went away; no body to log
        return None
    if not raw:
        return None
    ctype = (request.content_type or "").lower()
    try:
        if ctype == "application/vnd.kubernetes.protobuf":
            from pinnace.api.schema import protobuf

            return protobuf.decode(raw)
        if "yaml" in ctype:
            return negotiation.loads_yaml(raw)
        return orjson.loads(raw)
    except Exception:  # the handler already answered the bad body; log no object
        return None
