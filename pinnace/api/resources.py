"""The catalog of every resource the API serves, built from the kind modules
in ``pinnace.api.kinds``. Each kind module exposes ``RESOURCES: list[Resource]``
and declares its structs on import.

Lookups used by the apiserver, the client and kubectl-facing code:
``by_plural(group, version, plural)``, ``by_kind(group, version, kind)``,
``groups()`` (for discovery, preferred version first).
"""

from __future__ import annotations

import importlib
from functools import cache

from pinnace.api.schema import REGISTRY, Resource

# Order matters only for discovery output (groups listed as upstream lists them).
KIND_MODULES = (
    "meta",
    "core",
    "apps",
    "batch",
    "autoscaling",
    "networking",
    "rbac",
    "coordination",
    "discovery",
    "policy",
    "storage",
    "events",
    "scheduling",
    "admissionregistration",
    "authentication",
    "authorization",
)

# preferred version per group (first listed); groups in upstream's discovery order
GROUP_ORDER = (
    "",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
    "flowcontrol.apiserver.k8s.io",
)


class Catalog:
    def __init__(self, resources: list[Resource]) -> None:
        self.resources = resources
        self._by_plural = {(r.group, r.version, r.plural): r for r in resources}
        self._by_kind = {(r.group, r.version, r.kind): r for r in resources}

    def by_plural(self, group: str, version: str, plural: str) -> Resource | None:
        return self._by_plural.get((group, version, plural))

    def by_kind(self, group: str, version: str, kind: str) -> Resource | None:
        return self._by_kind.get((group, version, kind))

    def groups(self) -> list[tuple[str, list[str]]]:
        """[(group, [versions, preferred first])] in discovery order."""
        seen: dict[str, list[str]] = {}
        for r in self.resources:
            versions = seen.setdefault(r.group, [])
            if r.version not in versions:
                versions.append(r.version)
        order = {g: i for i, g in enumerate(GROUP_ORDER)}
        return sorted(seen.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))

    def in_group_version(self, group: str, version: str) -> list[Resource]:
        return [r for r in self.resources if r.group == group and r.version == version]


@cache
def catalog() -> Catalog:
    resources: list[Resource] = []
    for name in KIND_MODULES:
        try:
            mod = importlib.import_module(f"pinnace.api.kinds.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"pinnace.api.kinds.{name}":
                continue  # group not declared yet
            raise
        resources.extend(getattr(mod, "RESOURCES", []))
    REGISTRY.resolve()
    return Catalog(resources)
