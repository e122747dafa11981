"""Impersonation (``kubectl --as``, ``--as-group``, ``--as-uid``): the
``Impersonate-*`` headers turn the authenticated user into another one, if the
authenticated user may ``impersonate`` each part (the user or service
account, every group, the uid, every extra value), as upstream's
impersonation filter decides. The authorizer is passed in, so the checks go
through the same chain as any request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from aiohttp import web

from pinnace.apiserver import errors
from pinnace.apiserver.authn import UserInfo
from pinnace.apiserver.authz import Attributes, Decision

USER = "Impersonate-User"
GROUP = "Impersonate-Group"
UID = "Impersonate-Uid"
EXTRA_PREFIX = "Impersonate-Extra-"
SA_PREFIX = "system:serviceaccount:"
ANONYMOUS = "system:anonymous"

Authorize = Callable[[Attributes], Awaitable[tuple[Decision, str]]]


def requested(request: web.Request) -> bool:
    return any(h.lower().startswith("impersonate-") for h in request.headers)


async def impersonate(request: web.Request, actor: UserInfo, authorize: Authorize) -> UserInfo:
    """The user the request acts as: ``actor`` itself without impersonation
    headers; 400 for headers without a user; 403 naming the first part the
    actor may not impersonate."""
    username = request.headers.get(USER, "")
    groups = request.headers.getall(GROUP, [])
    uid = request.headers.get(UID, "")
    extra: dict[str, list[str]] = {}
    for h, v in request.headers.items():
        if h.lower().startswith(EXTRA_PREFIX.lower()):
            key = unquote(h[len(EXTRA_PREFIX) :]).lower()
            extra.setdefault(key, []).append(v)
    if not username:
        if groups or uid or extra:
            raise errors.bad_request(
                "requested "
                + str([*(f"group {g}" for g in groups), *(f"extra {k}" for k in extra)])
                + " without impersonating a user"
            )
        return actor

    async def check(
        group: str, resource: str, name: str, namespace: str = "", sub: str = ""
    ) -> None:
        attrs = Attributes(
            actor,
            "impersonate",
            True,
            api_group=group,
            resource=resource,
            subresource=sub,
            namespace=namespace,
            name=name,
        )
        decision, reason = await authorize(attrs)
        if decision != "allow":
            raise errors.forbidden(
                actor.name, "impersonate", resource, group, namespace, name, sub, reason
            )

    sa_groups: list[str] = []
    if username.startswith(SA_PREFIX):
        ns, _, sa = username[len(SA_PREFIX) :].partition(":")
        await check("", "serviceaccounts", sa, ns)
        sa_groups = ["system:serviceaccounts", f"system:serviceaccounts:{ns}"]
    else:
        await check("", "users", username)
    for g in groups:
        await check("", "groups", g)
    if uid:
        await check("authentication.k8s.io", "uids", uid)
    for key, values in extra.items():
        for v in values:
            await check("authentication.k8s.io", "userextras", v, sub=key)
    out_groups = list(groups) if groups else sa_groups
    if username == ANONYMOUS:
        if "system:unauthenticated" not in out_groups:
            out_groups.append("system:unauthenticated")
    elif "system:authenticated" not in out_groups:
        out_groups.append("system:authenticated")
    return UserInfo(username, tuple(out_groups), uid, extra)
