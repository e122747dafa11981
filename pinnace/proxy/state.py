"""The proxier's view of the cluster, kept current from informer events, and
which Services changed since the last successful sync.

Upstream splits this into ``ServiceChangeTracker``/``EndpointsChangeTracker``
(accumulate changes) and ``ServicePortMap``/``EndpointsMap`` (apply them at
sync time). Here one object does both, eagerly: each event recomputes the
derived values of the one Service it concerns (:mod:`pinnace.proxy.model`)
and, only if they differ from before, marks that Service *dirty*. A sync
takes the dirty set (:meth:`ProxyState.take_dirty`) and rewrites only those
Services' chains — upstream's partial sync. An update that changes nothing
the proxier programs (a status write, a label) costs a comparison and no
sync.

Concurrency model: owned by one event loop; handlers run inline in the
informer task and only touch dictionaries.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pinnace.proxy.model import (
    Endpoint,
    ServicePortInfo,
    ServicePortName,
    merge_endpoints,
    service_ports,
    slice_endpoints,
    slice_service,
)

__all__ = ["ProxyState"]

Obj = Mapping[str, Any]
_NO_ENDPOINTS: tuple[Endpoint, ...] = ()


def _key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


class ProxyState:
    def __init__(self, node_name: str) -> None:
        self.node_name = node_name
        #: Service key -> its proxied ports
        self._ports: dict[str, dict[ServicePortName, ServicePortInfo]] = {}
        #: Service key -> slice key -> that slice's endpoints
        self._slices: dict[str, dict[str, dict[ServicePortName, list[Endpoint]]]] = {}
        #: slice key -> Service key (a slice's label may change)
        self._slice_owner: dict[str, str] = {}
        #: Service key -> merged endpoints per port
        self._endpoints: dict[str, dict[ServicePortName, tuple[Endpoint, ...]]] = {}
        self._dirty: set[str] = set()
        self.node_labels: dict[str, str] = {}
        self._labels_changed = False

    # --- events --------------------------------------------------------------------------

    def set_service(self, svc: Obj) -> bool:
        """Add or update a Service; True if what the proxier programs changed."""
        key = _key(svc)
        ports = service_ports(svc)
        if self._ports.get(key, {}) == ports:
            return False
        if ports:
            self._ports[key] = ports
        else:
            self._ports.pop(key, None)
        self._dirty.add(key)
        return True

    def delete_service(self, svc: Obj) -> bool:
        key = _key(svc)
        if self._ports.pop(key, None) is None:
            return False
        self._dirty.add(key)
        return True

    def set_slice(self, es: Obj) -> bool:
        """Add or update an EndpointSlice; True if some Service's endpoints changed."""
        skey = _key(es)
        owner = slice_service(es)
        changed = False
        old_owner = self._slice_owner.get(skey)
        if old_owner is not None and old_owner != owner:
            changed = self._drop_slice(skey, old_owner)
        if owner is None:
            return changed
        self._slice_owner[skey] = owner
        self._slices.setdefault(owner, {})[skey] = slice_endpoints(es, self.node_name)
        return self._remerge(owner) or changed

    def delete_slice(self, es: Obj) -> bool:
        skey = _key(es)
        owner = self._slice_owner.get(skey)
        return self._drop_slice(skey, owner) if owner is not None else False

    def set_node_labels(self, labels: Mapping[str, str] | None) -> bool:
        """This node's labels (its zone matters for topology hints)."""
        new = dict(labels or {})
        if new == self.node_labels:
            return False
        self.node_labels = new
        self._labels_changed = True
        return True

    def node_labels_changed(self) -> bool:
        """True once after the node's labels changed (every Service needs rendering)."""
        changed, self._labels_changed = self._labels_changed, False
        return changed

    def _drop_slice(self, skey: str, owner: str) -> bool:
        self._slice_owner.pop(skey, None)
        slices = self._slices.get(owner, {})
        slices.pop(skey, None)
        if not slices:
            self._slices.pop(owner, None)
        return self._remerge(owner)

    def _remerge(self, owner: str) -> bool:
        merged = merge_endpoints(self._slices.get(owner, {}).values())
        if self._endpoints.get(owner, {}) == merged:
            return False
        if merged:
            self._endpoints[owner] = merged
        else:
            self._endpoints.pop(owner, None)
        self._dirty.add(owner)
        return True

    # --- reads ---------------------------------------------------------------------------

    def take_dirty(self) -> set[str]:
        """The Services changed since the last call (and forget them)."""
        dirty, self._dirty = self._dirty, set()
        return dirty

    def mark_dirty(self, keys: set[str]) -> None:
        """Put keys back (a sync that took them failed)."""
        self._dirty |= keys

    @property
    def has_dirty(self) -> bool:
        return bool(self._dirty)

    def service_keys(self) -> list[str]:
        return sorted(self._ports)

    def ports_of(self, key: str) -> dict[ServicePortName, ServicePortInfo]:
        return self._ports.get(key, {})

    def endpoints_of(self, spn: ServicePortName) -> tuple[Endpoint, ...]:
        return self._endpoints.get(spn.service, {}).get(spn, _NO_ENDPOINTS)

    def items(self) -> Iterator[tuple[ServicePortInfo, tuple[Endpoint, ...]]]:
        """Every proxied port with its endpoints, in a stable order."""
        for key in sorted(self._ports):
            eps = self._endpoints.get(key, {})
            for spn in sorted(self._ports[key]):
                yield self._ports[key][spn], eps.get(spn, _NO_ENDPOINTS)

    def health_check_node_ports(self) -> dict[str, int]:
        """Service key -> its ``healthCheckNodePort`` (Services that have one)."""
        out: dict[str, int] = {}
        for key, ports in self._ports.items():
            for sp in ports.values():
                if sp.health_check_node_port:
                    out[key] = sp.health_check_node_port
        return out

    def local_ready_endpoints(self) -> dict[str, int]:
        """Service key -> distinct local ready endpoints (``ip:port``) over its ports."""
        out: dict[str, int] = {}
        for key, per_port in self._endpoints.items():
            local = {str(ep) for eps in per_port.values() for ep in eps if ep.is_local and ep.ready}
            if local:
                out[key] = len(local)
        return out

    def total_endpoints(self) -> int:
        return sum(
            len(self._endpoints.get(key, {}).get(spn, ()))
            for key, ports in self._ports.items()
            for spn in ports
        )
