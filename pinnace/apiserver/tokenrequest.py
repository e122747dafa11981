"""Service account token endpoints and the token authenticators' wiring:

- ``POST /api/v1/namespaces/NS/serviceaccounts/NAME/token`` (TokenRequest,
  what ``kubectl create token`` and the kubelet's projected volumes call):
  checks the request as upstream's TokenREST does (minimum lifetime, bound
  object exists with the given uid and, for pods, runs as this account),
  caps the lifetime at ``--service-account-max-token-expiration`` (with a
  warning), and signs a bound JWT;
- ``POST /apis/authentication.k8s.io/v1/tokenreviews`` (TokenReview): runs a
  token through every bearer-token authenticator, as a request's
  ``Authorization`` header would be, and reports the user or upstream's error;
- ``install(server)``: loads (or creates) the signing key and appends the
  static-token-file, service-account and bootstrap-token authenticators to the
  server's bearer chain, and registers the TokenReview handler.

Concurrency: handlers run on the event loop; every read is from the watch
caches (synchronous, never blocking), signing is one RSA operation. Key
generation and token-file parsing happen once, in ``install``, at start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pinnace.api.schema import Resource
from pinnace.apiserver import errors, negotiation
from pinnace.apiserver.authn import TokenAuthenticator, UserInfo
from pinnace.apiserver.authn.bootstrap import BootstrapTokenAuthenticator
from pinnace.apiserver.authn.serviceaccount import (
    EXTENDED_EXPIRATION_SECONDS,
    WARN_ONLY_EXPIRATION_SECONDS,
    BoundRef,
    GetObject,
    ServiceAccountTokenAuthenticator,
    TokenIssuer,
    TokenResult,
    load_or_create_signing_key,
)
from pinnace.apiserver.authn.tokenfile import load_token_file
from pinnace.apiserver.negotiation import Accept
from pinnace.apiserver.registry import RequestContext, ResourceStore
from pinnace.apiserver.requestinfo import RequestInfo
from pinnace.client.clock import REAL_CLOCK, Clock

if TYPE_CHECKING:
    from pinnace.apiserver.handlers import ResourceHandlers
    from pinnace.apiserver.server import ApiServer

log = logging.getLogger("pinnace.apiserver.tokenrequest")

Obj = dict[str, Any]
GROUP = "authentication.k8s.io"
API_VERSION = f"{GROUP}/v1"
DEFAULT_EXPIRATION_SECONDS = 3600
MIN_EXPIRATION_SECONDS = 600
MAX_EXPIRATION_SECONDS = 1 << 32
INVALID_BEARER_TOKEN = "invalid bearer token"


@dataclass(slots=True)
class ServiceAccountTokens:
    """What the token endpoints need: the signer, the server's audiences and
    the lifetime cap (0 = none); the authenticator, for wiring and tests."""

    issuer: TokenIssuer
    authenticator: ServiceAccountTokenAuthenticator
    api_audiences: tuple[str, ...]
    max_expiration_seconds: int = 0
    extend_expiration: bool = True
    clock: Clock = REAL_CLOCK


def cache_getter(server: ApiServer) -> GetObject:
    """``get_object`` reading the server's watch caches (None when absent)."""

    def get(group: str, version: str, plural: str, namespace: str, name: str) -> Obj | None:
        store = server.stores.get((group, version, plural))
        if store is None:
            return None
        try:
            return store.get(namespace if store.resource.namespaced else "", name)
        except errors.ApiError:
            return None

    return get


def install(server: ApiServer, *, clock: Clock = REAL_CLOCK) -> ServiceAccountTokens:
    """Set up token authentication on ``server`` from its config: the static
    token file (if any), service account JWTs and bootstrap tokens, in
    upstream's order, after the loopback tokens; TokenReview. Blocking (key
    generation, file read): call once at start-up. ``StartupError`` for a bad
    token file or signing key."""
    config = server.config
    if config.token_auth_file:
        server.token_authenticators.append(load_token_file(config.token_auth_file))
    key = load_or_create_signing_key(config.pki_dir)
    audiences = (config.service_account_issuer,)
    get = cache_getter(server)
    authenticator = ServiceAccountTokenAuthenticator(
        [key], [config.service_account_issuer], audiences, get, clock=clock
    )
    tokens = ServiceAccountTokens(
        TokenIssuer(key, config.service_account_issuer, clock=clock),
        authenticator,
        audiences,
        max_expiration_seconds=int(config.service_account_max_token_expiration),
        clock=clock,
    )
    server.token_authenticators.append(authenticator)
    server.token_authenticators.append(BootstrapTokenAuthenticator(get, clock=clock))
    server.service_account_tokens = tokens

    async def token_review(
        request: web.Request, namespace: str, body: Obj, ctx: RequestContext
    ) -> Obj:
        return await review(server.token_authenticators, tokens.api_audiences, body, namespace)

    server.virtual[(GROUP, "tokenreviews")] = token_review
    return tokens


# -- TokenReview ---------------------------------------------------------------


async def review_one(
    a: TokenAuthenticator, token: str, requested: Sequence[str], api_audiences: Sequence[str]
) -> TokenResult:
    """One authenticator's verdict. Audience-aware ones (``review_token``)
    check the audiences themselves; the others are good for the API
    server's audiences only, like upstream's audience-agnostic wrapper."""
    reviewer = getattr(a, "review_token", None)
    if reviewer is not None:
        result: TokenResult = reviewer(token, list(requested) or None)
        return result
    granted = tuple(x for x in api_audiences if x in requested) if requested else ()
    if requested and not granted:
        return TokenResult()
    user = await a.authenticate_token(token)
    if user is None:
        return TokenResult()
    return TokenResult(user, granted or tuple(api_audiences))


async def review(
    authenticators: Sequence[TokenAuthenticator],
    api_audiences: Sequence[str],
    body: Obj,
    namespace: str = "",
) -> Obj:
    """The TokenReview answer to ``body``: the first authenticator that
    accepts the token wins; otherwise the refusals' messages (aggregated as
    upstream's union authenticator does) or ``invalid bearer token``."""
    if namespace:
        raise errors.bad_request(f"namespace is not allowed on this type: {namespace}")
    raw_spec = body.get("spec")
    spec: Obj = raw_spec if isinstance(raw_spec, dict) else {}
    token = spec.get("token")
    if not isinstance(token, str) or not token:
        raise errors.bad_request("token is required for TokenReview in authentication")
    requested = [str(a) for a in spec.get("audiences") or []]
    errs: list[str] = []
    found: TokenResult | None = None
    for a in authenticators:
        result = await review_one(a, token, requested, api_audiences)
        if result.user is not None:
            found = result
            break
        if result.error:
            errs.append(result.error)
    status: Obj = {}
    if found is not None and found.user is not None:
        status["authenticated"] = True
        status["user"] = user_info(found.user)
        if found.audiences:
            status["audiences"] = list(found.audiences)
    else:
        status["user"] = {}
        uniq = list(dict.fromkeys(errs))
        if not uniq:
            status["error"] = INVALID_BEARER_TOKEN
        else:
            status["error"] = uniq[0] if len(uniq) == 1 else "[" + ", ".join(uniq) + "]"
    meta = dict(body.get("metadata") or {})
    meta.setdefault("creationTimestamp", None)
    out_spec: Obj = {"token": token}
    if requested:
        out_spec["audiences"] = requested
    return {
        "kind": "TokenReview",
        "apiVersion": API_VERSION,
        "metadata": meta,
        "spec": out_spec,
        "status": status,
    }


def user_info(user: UserInfo) -> Obj:
    """authentication/v1 UserInfo of a user (empty fields omitted)."""
    out: Obj = {"username": user.name}
    if user.uid:
        out["uid"] = user.uid
    if user.groups:
        out["groups"] = list(user.groups)
    if user.extra:
        out["extra"] = {k: list(v) for k, v in user.extra.items()}
    return out


# -- TokenRequest --------------------------------------------------------------


def _invalid(name: str, field: str, value: Any, message: str) -> errors.ApiError:
    shown = f'"{value}"' if isinstance(value, str) else str(value)
    detail = f"Invalid value: {shown}: {message}"
    return errors.ApiError(
        422,
        "Invalid",
        f'TokenRequest.{GROUP} "{name}" is invalid: {field}: {detail}',
        {
            **({"name": name} if name else {}),
            "group": GROUP,
            "kind": "TokenRequest",
            "causes": [{"reason": "FieldValueInvalid", "message": detail, "field": field}],
        },
    )


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def handle(
    handlers: ResourceHandlers,
    request: web.Request,
    info: RequestInfo,
    resource: Resource,
    store: ResourceStore,
    namespace: str,
    accept: Accept,
) -> web.StreamResponse:
    """``serviceaccounts/<name>/token``: only create (POST)."""
    if info.verb != "create":
        raise errors.method_not_allowed()
    tokens: ServiceAccountTokens | None = getattr(handlers.server, "service_account_tokens", None)
    if tokens is None:
        raise errors.ApiError(
            404, "NotFound", "the server could not find the requested resource", {}
        )
    ctx = handlers.context(request)
    body = negotiation.decode_body(
        await handlers.read_body(request), request.headers.get("Content-Type", "")
    )
    if not isinstance(body, dict):
        raise errors.bad_request("the request body must be a TokenRequest")
    out = await create_token(handlers.server, tokens, namespace, info.name, body, ctx)
    headers = {}
    if ctx.warnings:
        headers["Warning"] = ", ".join(
            '299 - "' + w.replace('"', '\\"') + '"' for w in dict.fromkeys(ctx.warnings)
        )
    return negotiation.encode(out, accept, 201, headers)


async def create_token(
    server: ApiServer,
    tokens: ServiceAccountTokens,
    namespace: str,
    name: str,
    body: Obj,
    ctx: RequestContext,
) -> Obj:
    """Upstream's TokenREST.Create: the TokenRequest answer for ``body``."""
    if not namespace:
        raise errors.bad_request("namespace is required")
    meta = dict(body.get("metadata") or {})
    if meta.get("name") and meta["name"] != name:
        raise _invalid(
            name, "metadata.name", meta["name"], "must match the service account name if specified"
        )
    if meta.get("namespace") and meta["namespace"] != namespace:
        raise _invalid(
            name,
            "metadata.namespace",
            meta["namespace"],
            "must match the service account namespace if specified",
        )
    sa = server.store("", "v1", "serviceaccounts").get(namespace, name)
    spec = dict(body.get("spec") or {})
    audiences = [str(a) for a in spec.get("audiences") or []] or list(tokens.api_audiences)
    raw_exp = spec.get("expirationSeconds")
    expiration = DEFAULT_EXPIRATION_SECONDS if raw_exp is None else raw_exp
    if isinstance(expiration, bool) or not isinstance(expiration, int):
        raise errors.bad_request("spec.expirationSeconds must be an integer")
    now = tokens.clock.wall().replace(microsecond=0)
    if expiration < MIN_EXPIRATION_SECONDS:
        raise _invalid(
            "",
            "spec.expirationSeconds",
            expiration,
            "may not specify a duration less than 10 minutes",
        )
    if expiration > MAX_EXPIRATION_SECONDS:
        raise _invalid(
            "",
            "spec.expirationSeconds",
            expiration,
            "may not specify a duration larger than 2^32 seconds",
        )
    pod: BoundRef | None = None
    secret: BoundRef | None = None
    node: BoundRef | None = None
    ref = spec.get("boundObjectRef")
    if isinstance(ref, dict) and ref:
        api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
        group, _, version = api_version.rpartition("/")
        ref_name, ref_uid = str(ref.get("name") or ""), str(ref.get("uid") or "")
        if group == "" and kind == "Pod":
            obj = server.store("", "v1", "pods").get(namespace, ref_name)
            if (obj.get("spec") or {}).get("serviceAccountName") != name:
                raise errors.bad_request(
                    f'cannot bind token for serviceaccount "{name}" to pod running with '
                    "different serviceaccount name."
                )
            pod = BoundRef(ref_name, str(obj["metadata"].get("uid") or ""))
            actual = pod.uid
            node_name = str((obj.get("spec") or {}).get("nodeName") or "")
            if node_name:
                n = cache_getter(server)("", "v1", "nodes", "", node_name)
                node = BoundRef(node_name, str((n or {}).get("metadata", {}).get("uid") or ""))
        elif group == "" and kind == "Node":
            obj = server.store("", "v1", "nodes").get("", ref_name)
            actual = str(obj["metadata"].get("uid") or "")
            node = BoundRef(ref_name, actual)
        elif group == "" and kind == "Secret":
            obj = server.store("", "v1", "secrets").get(namespace, ref_name)
            actual = str(obj["metadata"].get("uid") or "")
            secret = BoundRef(ref_name, actual)
        else:
            gvk = f"{group}/{version}, Kind={kind}" if group else f"/{version}, Kind={kind}"
            raise errors.bad_request(f"cannot bind token to object of type {gvk}")
        if ref_uid and ref_uid != actual:
            raise errors.ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {kind} "{ref_name}": the UID in the bound '
                f"object reference ({ref_uid}) does not match the UID in record. The object "
                "might have been deleted and then recreated",
                {"name": ref_name, "kind": kind},
            )
    cap = tokens.max_expiration_seconds
    if cap > 0 and expiration > cap:
        ctx.warnings.append(
            f"requested expiration of {expiration} seconds shortened to {cap} seconds"
        )
        expiration = cap
    warn_after = 0
    lifetime = expiration
    if (
        tokens.extend_expiration
        and pod is not None
        and expiration == WARN_ONLY_EXPIRATION_SECONDS
        and all(a in tokens.api_audiences for a in audiences)
    ):
        warn_after, lifetime = expiration, EXTENDED_EXPIRATION_SECONDS
    token, _claims = tokens.issuer.issue(
        sa,
        audiences=audiences,
        expiration_seconds=lifetime,
        pod=pod,
        secret=secret,
        node=node,
        warn_after_seconds=warn_after,
    )
    out_meta = {**meta, "name": name, "namespace": namespace, "creationTimestamp": _rfc3339(now)}
    out_spec: Obj = {"audiences": audiences, "expirationSeconds": expiration}
    if isinstance(ref, dict) and ref:
        out_spec["boundObjectRef"] = ref
    log.debug(
        "issued a token for service account %s/%s",
        namespace,
        name,
        extra={"namespace": namespace, "serviceaccount": name},
    )
    return {
        "kind": "TokenRequest",
        "apiVersion": API_VERSION,
        "metadata": out_meta,
        "spec": out_spec,
        "status": {
            "token": token,
            "expirationTimestamp": _rfc3339(now + timedelta(seconds=expiration)),
        },
    }
