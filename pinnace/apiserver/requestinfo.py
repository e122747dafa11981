"""Parse a request path into what it asks for (upstream's RequestInfo)."""

from __future__ import annotations

from dataclasses import dataclass

# subresources of a namespace (so /api/v1/namespaces/x/status is not a resource "status")
NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@dataclass(slots=True)
class RequestInfo:
    is_resource: bool
    path: str
    verb: str = ""
    api_prefix: str = ""
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    name: str = ""
    subresource: str = ""
    # legacy /watch/ path prefix
    legacy_watch: bool = False


def parse_request(method: str, path: str, watch_param: bool) -> RequestInfo:
    parts = [p for p in path.strip("/").split("/") if p != ""] if path.strip("/") else []
    info = RequestInfo(is_resource=False, path=path, verb=method.lower())
    if not parts or parts[0] not in ("api", "apis"):
        return info
    info.api_prefix = parts[0]
    rest = parts[1:]
    if parts[0] == "api":
        if not rest:
            return info  # /api
        info.version = rest[0]
        rest = rest[1:]
    else:
        if len(rest) < 2:
            return info  # /apis, /apis/group
        info.group, info.version = rest[0], rest[1]
        rest = rest[2:]
    if not rest:
        return info  # group-version discovery
    info.is_resource = True
    if rest[0] == "watch":
        info.legacy_watch = True
        rest = rest[1:]
    if rest and rest[0] == "namespaces":
        if len(rest) > 1:
            info.namespace = rest[1]
            if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
                rest = rest[2:]
    if not rest:
        info.is_resource = False
        return info
    info.resource = rest[0]
    if len(rest) > 1:
        info.name = rest[1]
    if len(rest) > 2:
        info.subresource = rest[2]
    if len(rest) > 3:
        info.subresource = "/".join(rest[2:])  # e.g. pods/x/proxy/path (not served yet)
    if info.resource == "namespaces" and info.name and info.namespace == info.name:
        info.namespace = ""
    m = method.upper()
    if m in ("GET", "HEAD"):
        if info.legacy_watch or watch_param:
            info.verb = "watch"
        elif info.name:
            info.verb = "get"
        else:
            info.verb = "list"
    elif m == "POST":
        info.verb = "create"
    elif m == "PUT":
        info.verb = "update"
    elif m == "PATCH":
        info.verb = "patch"
    elif m == "DELETE":
        info.verb = "delete" if info.name else "deletecollection"
    else:
        info.verb = m.lower()
    return info
