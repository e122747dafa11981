"""Keeps a :class:`~pinnace.dns.index.ClusterIndex` current from the API:
informers on Services, EndpointSlices (discovery.k8s.io/v1) and Namespaces,
whose handlers write straight into the index (each event is a few dict
operations, so there is no work queue in between).

Concurrency model: the informers' tasks on the caller's loop; handlers run
inline in them. ``on_change`` (optional) is called after every event, e.g. to
wake the add-on reconciler.
"""

from __future__ import annotations

from collections.abc import Callable

from pinnace.client import Informer, Obj, ResourceRef, SharedInformerFactory
from pinnace.client.objects import SERVICES
from pinnace.dns.index import ClusterIndex

__all__ = ["ENDPOINTSLICES", "NAMESPACES", "IndexSource"]

ENDPOINTSLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices", True, "EndpointSlice")
NAMESPACES = ResourceRef("", "v1", "namespaces", False, "Namespace")


class IndexSource:
    """Wires the three informers of ``factory`` to ``index``."""

    def __init__(
        self,
        factory: SharedInformerFactory,
        index: ClusterIndex,
        on_change: Callable[[Obj], None] | None = None,
    ) -> None:
        self.index = index
        self._on_change = on_change
        self.services = factory.informer(SERVICES)
        self.slices = factory.informer(ENDPOINTSLICES)
        self.namespaces = factory.informer(NAMESPACES)
        self._wire(self.services, index.set_service, index.delete_service)
        self._wire(self.slices, index.set_slice, index.delete_slice)
        self._wire(self.namespaces, index.set_namespace, index.delete_namespace)

    def _wire(
        self,
        informer: Informer,
        put: Callable[[Obj], None],
        delete: Callable[[Obj], None],
    ) -> None:
        def on_add(obj: Obj) -> None:
            put(obj)
            self._changed(obj)

        def on_update(_old: Obj, new: Obj) -> None:
            put(new)
            self._changed(new)

        def on_delete(obj: Obj) -> None:
            delete(obj)
            self._changed(obj)

        informer.add_event_handler(on_add, on_update, on_delete)

    def _changed(self, obj: Obj) -> None:
        if self._on_change is not None:
            self._on_change(obj)
