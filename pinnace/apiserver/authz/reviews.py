"""The access-review kinds the server computes on create (never stored):
``SelfSubjectAccessReview`` (``kubectl auth can-i``),
``SubjectAccessReview`` / ``LocalSubjectAccessReview`` (asking about another
user, for admins and webhooks), ``SelfSubjectRulesReview`` (``kubectl auth
can-i --list``) and authentication.k8s.io's ``SelfSubjectReview``
(``kubectl auth whoami``).

Each handler takes the decoded body, checks it the way upstream validates
it (422 with field causes), asks the same authorizer chain real requests go
through, and returns the body with ``status`` filled in.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pinnace.apiserver import errors
from pinnace.apiserver.authn import UserInfo
from pinnace.apiserver.authz import Attributes, AuthorizerChain
from pinnace.apiserver.authz.rbac import RuleResolver
from pinnace.apiserver.registry import RequestContext

Obj = dict[str, Any]
AUTHZ = "authorization.k8s.io/v1"
AUTHN = "authentication.k8s.io/v1"


def _invalid(kind: str, causes: list[tuple[str, str, str]]) -> errors.ApiError:
    """422 like upstream's field validation: (field, value, detail) causes."""
    parts = [f"{f}: Invalid value: {v}: {d}" if v else f"{f}: {d}" for f, v, d in causes]
    return errors.ApiError(
        422,
        "Invalid",
        f"{kind}.{AUTHZ.split('/')[0]} is invalid: " + ", ".join(parts)
        if len(parts) > 1
        else f"{kind}.{AUTHZ.split('/')[0]} is invalid: {parts[0]}",
        {
            "group": "authorization.k8s.io",
            "kind": kind,
            "causes": [
                {
                    "reason": "FieldValueInvalid",
                    "message": (f"Invalid value: {v}: {d}" if v else d),
                    "field": f,
                }
                for f, v, d in causes
            ],
        },
    )


def _answer(body: Obj, kind: str, api_version: str, status: Obj) -> Obj:
    meta = dict(body.get("metadata") or {})
    meta.setdefault("creationTimestamp", None)
    return {
        "kind": kind,
        "apiVersion": api_version,
        "metadata": meta,
        "spec": body.get("spec") or {},
        "status": status,
    }


def _attributes(user: UserInfo, spec: Obj, kind: str) -> Attributes:
    ra = spec.get("resourceAttributes")
    nra = spec.get("nonResourceAttributes")
    if (ra is None) == (nra is None):
        raise _invalid(
            kind,
            [
                (
                    "spec.resourceAttributes",
                    '""',
                    "exactly one of nonResourceAttributes or resourceAttributes must be specified",
                )
            ],
        )
    if ra is not None:
        return Attributes(
            user,
            str(ra.get("verb") or ""),
            True,
            api_group=str(ra.get("group") or ""),
            api_version=str(ra.get("version") or ""),
            resource=str(ra.get("resource") or ""),
            subresource=str(ra.get("subresource") or ""),
            namespace=str(ra.get("namespace") or ""),
            name=str(ra.get("name") or ""),
        )
    assert nra is not None
    return Attributes(user, str(nra.get("verb") or ""), False, path=str(nra.get("path") or ""))


class Reviews:
    def __init__(self, authz: AuthorizerChain, resolver: RuleResolver) -> None:
        self.authz = authz
        self.resolver = resolver

    def handlers(self) -> dict[tuple[str, str], Any]:
        return {
            ("authorization.k8s.io", "selfsubjectaccessreviews"): self.self_subject_access,
            ("authorization.k8s.io", "subjectaccessreviews"): self.subject_access,
            ("authorization.k8s.io", "localsubjectaccessreviews"): self.local_subject_access,
            ("authorization.k8s.io", "selfsubjectrulesreviews"): self.self_subject_rules,
            ("authentication.k8s.io", "selfsubjectreviews"): self.self_subject,
        }

    async def _decide(self, attrs: Attributes) -> Obj:
        decision, reason = await self.authz.authorize(attrs)
        status: Obj = {"allowed": decision == "allow"}
        if decision == "deny":
            status["denied"] = True
        if reason:
            status["reason"] = reason
        return status

    async def self_subject_access(
        self, request: web.Request, namespace: str, body: Obj, ctx: RequestContext
    ) -> Obj:
        spec = body.get("spec") or {}
        attrs = _attributes(request["user"], spec, "SelfSubjectAccessReview")
        return _answer(body, "SelfSubjectAccessReview", AUTHZ, await self._decide(attrs))

    def _subject(self, spec: Obj, kind: str) -> UserInfo:
        user = str(spec.get("user") or "")
        groups = tuple(str(g) for g in spec.get("groups") or ())
        if not user and not groups:
            raise _invalid(
                kind, [("spec.user", '""', "at least one of user or group must be specified")]
            )
        extra = {str(k): [str(x) for x in v or ()] for k, v in (spec.get("extra") or {}).items()}
        return UserInfo(user, groups, str(spec.get("uid") or ""), extra)

    async def subject_access(
        self, request: web.Request, namespace: str, body: Obj, ctx: RequestContext
    ) -> Obj:
        spec = body.get("spec") or {}
        user = self._subject(spec, "SubjectAccessReview")
        attrs = _attributes(user, spec, "SubjectAccessReview")
        return _answer(body, "SubjectAccessReview", AUTHZ, await self._decide(attrs))

    async def local_subject_access(
        self, request: web.Request, namespace: str, body: Obj, ctx: RequestContext
    ) -> Obj:
        spec = body.get("spec") or {}
        user = self._subject(spec, "LocalSubjectAccessReview")
        if spec.get("nonResourceAttributes") is not None:
            raise _invalid(
                "LocalSubjectAccessReview",
                [
                    (
                        "spec.nonResourceAttributes",
                        "",
                        "disallowed on this kind of request",
                    )
                ],
            )
        ra = spec.get("resourceAttributes")
        if isinstance(ra, dict):
            if ra.get("namespace") and ra["namespace"] != namespace:
                raise errors.bad_request(
                    f"spec.resourceAttributes.namespace must match namespace: {namespace}"
                )
            ra["namespace"] = namespace
        meta_ns = (body.get("metadata") or {}).get("namespace")
        if meta_ns and meta_ns != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        attrs = _attributes(user, spec, "LocalSubjectAccessReview")
        out = _answer(body, "LocalSubjectAccessReview", AUTHZ, await self._decide(attrs))
        out["metadata"]["namespace"] = namespace
        return out

    async def self_subject_rules(
        self, request: web.Request, namespace: str, body: Obj, ctx: RequestContext
    ) -> Obj:
        spec = body.get("spec") or {}
        ns = str(spec.get("namespace") or "")
        user: UserInfo = request["user"]
        resource_rules: list[Obj] = []
        url_rules: list[Obj] = []
        for rule in self.resolver.rules_for(user, ns):
            if rule.get("resources"):
                rr: Obj = {"verbs": list(rule.get("verbs") or [])}
                for k in ("apiGroups", "resources", "resourceNames"):
                    if rule.get(k):
                        rr[k] = list(rule[k])
                resource_rules.append(rr)
            if rule.get("nonResourceURLs"):
                url_rules.append(
                    {
                        "verbs": list(rule.get("verbs") or []),
                        "nonResourceURLs": list(rule["nonResourceURLs"]),
                    }
                )
        status = {
            "resourceRules": resource_rules,
            "nonResourceRules": url_rules,
            "incomplete": False,
        }
        return _answer(body, "SelfSubjectRulesReview", AUTHZ, status)

    async def self_subject(
        self, request: web.Request, namespace: str, body: Obj, ctx: RequestContext
    ) -> Obj:
        user: UserInfo = request["user"]
        info: Obj = {"username": user.name}
        if user.uid:
            info["uid"] = user.uid
        if user.groups:
            info["groups"] = list(user.groups)
        if user.extra:
            info["extra"] = {k: list(v) for k, v in user.extra.items()}
        meta = dict(body.get("metadata") or {})
        meta.setdefault("creationTimestamp", None)
        return {
            "kind": "SelfSubjectReview",
            "apiVersion": AUTHN,
            "metadata": meta,
            "status": {"userInfo": info},
        }
