"""Plain-dict objects and the references that address them.

Objects stay JSON dicts (``Obj``) everywhere in the client. Treat objects you
get from a cache (informer store, handler arguments) as read-only: copy
(``copy.deepcopy``) before changing them.

:class:`ResourceRef` names a resource collection (group, version, plural, scope);
``pinnace.api.schema.Resource`` satisfies the same :class:`ResourceLike`
protocol, so the client takes either. ``key_of``/``split_key`` are the
``namespace/name`` cache keys controllers put on their work queues.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NewType, Protocol

__all__ = [
    "CONFIGMAPS",
    "EVENTS",
    "LEASES",
    "NODES",
    "PODS",
    "SECRETS",
    "SERVICES",
    "Key",
    "Obj",
    "ResourceLike",
    "ResourceRef",
    "key_of",
    "meta",
    "name_of",
    "namespace_of",
    "object_reference",
    "resource_path",
    "resource_version_of",
    "split_key",
]

Obj = dict[str, Any]
Key = NewType("Key", str)


class ResourceLike(Protocol):
    """Anything naming a resource: :class:`ResourceRef` or ``pinnace.api.schema.Resource``."""

    @property
    def group(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def plural(self) -> str: ...

    @property
    def namespaced(self) -> bool: ...

    @property
    def kind(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """A resource collection, e.g. ``ResourceRef("apps", "v1", "deployments", True, "Deployment")``."""

    group: str
    version: str
    plural: str
    namespaced: bool
    kind: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @classmethod
    def of(cls, resource: ResourceLike) -> ResourceRef:
        if isinstance(resource, ResourceRef):
            return resource
        return cls(
            resource.group, resource.version, resource.plural, resource.namespaced, resource.kind
        )

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


PODS = ResourceRef("", "v1", "pods", True, "Pod")
EVENTS = ResourceRef("", "v1", "events", True, "Event")
LEASES = ResourceRef("coordination.k8s.io", "v1", "leases", True, "Lease")
NODES = ResourceRef("", "v1", "nodes", False, "Node")
SERVICES = ResourceRef("", "v1", "services", True, "Service")
ENDPOINTS = ResourceRef("", "v1", "endpoints", True, "Endpoints")
CONFIGMAPS = ResourceRef("", "v1", "configmaps", True, "ConfigMap")
SECRETS = ResourceRef("", "v1", "secrets", True, "Secret")


def api_version_of(resource: ResourceLike) -> str:
    return f"{resource.group}/{resource.version}" if resource.group else resource.version


def resource_path(
    resource: ResourceLike,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """The REST path: ``/api/v1/namespaces/ns/pods/p/status``, ``/apis/apps/v1/deployments``…

    ``namespace=None`` on a namespaced resource addresses all namespaces (list/watch).
    """
    if resource.group:
        prefix = f"/apis/{resource.group}/{resource.version}"
    else:
        prefix = f"/api/{resource.version}"
    parts = [prefix]
    if resource.namespaced and namespace:
        parts.append(f"namespaces/{namespace}")
    parts.append(resource.plural)
    if name is not None:
        if not name:
            raise ValueError(f"empty name for {resource.plural}")
        parts.append(name)
        if subresource:
            parts.append(subresource)
    elif subresource:
        raise ValueError("a subresource needs a name")
    return "/".join(parts)


def meta(obj: Obj) -> dict[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def name_of(obj: Obj) -> str:
    return str(meta(obj).get("name") or "")


def namespace_of(obj: Obj) -> str:
    return str(meta(obj).get("namespace") or "")


def resource_version_of(obj: Obj) -> str:
    return str(meta(obj).get("resourceVersion") or "")


def key_of(obj: Obj) -> Key:
    """``namespace/name`` for namespaced objects, ``name`` otherwise
    (client-go ``MetaNamespaceKeyFunc``)."""
    m = meta(obj)
    ns = m.get("namespace")
    name = m.get("name") or ""
    return Key(f"{ns}/{name}" if ns else str(name))


def split_key(key: str) -> tuple[str | None, str]:
    """The inverse of :func:`key_of`: ``(namespace or None, name)``."""
    ns, sep, name = key.partition("/")
    if not sep:
        return None, key
    if "/" in name:
        raise ValueError(f"unexpected key format: {key!r}")
    return ns, name


def object_reference(
    obj: Obj,
    *,
    kind: str | None = None,
    api_version: str | None = None,
    field_path: str | None = None,
) -> dict[str, Any]:
    """A ``core/v1 ObjectReference`` to ``obj`` (for events, bindings, owners)."""
    m = meta(obj)
    ref: dict[str, Any] = {
        "kind": kind or obj.get("kind", ""),
        "apiVersion": api_version or obj.get("apiVersion", ""),
        "name": m.get("name", ""),
    }
    for k in ("namespace", "uid", "resourceVersion"):
        if m.get(k):
            ref[k] = m[k]
    if field_path:
        ref["fieldPath"] = field_path
    return ref
