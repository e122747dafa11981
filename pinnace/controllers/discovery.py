"""Which resources exist, from the catalog, and metadata-only access to them.

Controllers that act on *every* resource (the namespace controller, the garbage
collector) discover them from :func:`pinnace.api.resources.catalog` — the same
declaration the API server serves discovery from — like upstream's
``ServerPreferredResources`` filtered by verbs:

* :func:`preferred_resources`: one entry per (group, resource), taken from the
  group's preferred version when it serves it (else the first version that
  does);
* :func:`resolve` maps an ownerReference's ``apiVersion``/``kind`` to a resource
  (exact version, else any served version of the same group and kind).

:class:`MetadataClient` is upstream's metadata client: lists and watches come
back as ``PartialObjectMetadata`` (only ``metadata``), which is all the garbage
collector and the namespace controller read, so the server sends, and we keep,
a fraction of each object. It shares the transport and the rate limiter of the
client it wraps; writes go through unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from pinnace.api.resources import catalog
from pinnace.api.schema import Resource
from pinnace.client import Client
from pinnace.client.errors import error_from_response
from pinnace.client.transport import StreamResponse

__all__ = [
    "MetadataClient",
    "preferred_resources",
    "resolve",
    "split_api_version",
]

_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
_WATCH_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"


def split_api_version(api_version: str) -> tuple[str, str]:
    """``"apps/v1"`` → ``("apps", "v1")``; ``"v1"`` → ``("", "v1")``."""
    group, sep, version = api_version.rpartition("/")
    return (group, version) if sep else ("", api_version)


def preferred_resources(*, verbs: Iterable[str] = ()) -> list[Resource]:
    """Every resource supporting all of ``verbs``, once per (group, plural), at the
    group's preferred version (discovery order)."""
    cat = catalog()
    wanted = set(verbs)
    seen: set[tuple[str, str]] = set()
    out: list[Resource] = []
    for group, versions in cat.groups():
        for version in versions:
            for r in cat.in_group_version(group, version):
                if (group, r.plural) in seen or not wanted <= set(r.verbs):
                    continue
                seen.add((group, r.plural))
                out.append(r)
    return out


def resolve(api_version: str, kind: str) -> Resource | None:
    """The resource serving ``kind`` at ``api_version`` (or at another version of the
    same group), or None when the kind is unknown."""
    group, version = split_api_version(api_version)
    cat = catalog()
    r = cat.by_kind(group, version, kind)
    if r is not None:
        return r
    for _, versions in (g for g in cat.groups() if g[0] == group):
        for v in versions:
            r = cat.by_kind(group, v, kind)
            if r is not None:
                return r
    return None


class MetadataClient(Client):
    """A :class:`Client` whose GETs and watches return ``PartialObjectMetadata``."""

    def __init__(self, base: Client) -> None:
        super().__init__(base.transport, clock=base.clock, max_retries=base.max_retries)
        self.limiter = base.limiter  # one request budget for both views

    async def close(self) -> None:
        """The transport belongs to the wrapped client: leave it open."""

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
        if method != "GET":
            return await super().request(
                method, path, params=params, body=body, content_type=content_type, timeout=timeout
            )
        resp = await self._send(method, path, params, {"Accept": _LIST_ACCEPT}, None, timeout)
        return resp.json()

    @contextlib.asynccontextmanager
    async def stream(
        self,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[StreamResponse]:
        await self.limiter.wait()
        async with self.transport.stream(
            "GET", path, params=params, headers={"Accept": _WATCH_ACCEPT}, timeout=timeout
        ) as resp:
            if not 200 <= resp.status < 300:
                raise error_from_response(resp.status, await resp.read())
            yield resp
