"""The RBAC authorizer's view of roles and bindings: the API server's watch
caches, read directly (no copies), with the four caches' revisions as the
stamp that tells the authorizer to re-index."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pinnace.apiserver.registry import ResourceStore

GROUP = "rbac.authorization.k8s.io"


class CacheRbacSource:
    def __init__(self, stores: dict[tuple[str, str, str], ResourceStore]) -> None:
        self._stores = stores

    def _store(self, plural: str) -> ResourceStore | None:
        return self._stores.get((GROUP, "v1", plural))

    def stamp(self) -> object:
        return tuple(
            s.cache.revision if s is not None else -1
            for s in (
                self._store("roles"),
                self._store("clusterroles"),
                self._store("rolebindings"),
                self._store("clusterrolebindings"),
            )
        )

    def cluster_role(self, name: str) -> dict[str, Any] | None:
        s = self._store("clusterroles")
        return s.cache.get(s.key("", name)) if s is not None else None

    def role(self, namespace: str, name: str) -> dict[str, Any] | None:
        s = self._store("roles")
        return s.cache.get(s.key(namespace, name)) if s is not None else None

    def cluster_role_bindings(self) -> list[dict[str, Any]]:
        s = self._store("clusterrolebindings")
        return s.cache.list_objects() if s is not None else []

    def role_bindings(self) -> list[dict[str, Any]]:
        s = self._store("rolebindings")
        return s.cache.list_objects() if s is not None else []
