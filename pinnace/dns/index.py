"""The record index: what cluster DNS knows about Services, EndpointSlices
and Namespaces, shaped so that answering a query is a few dict lookups.

It is fed whole API objects (``set_service``/``delete_service``,
``set_slice``/``delete_slice``, ``set_namespace``/``delete_namespace``) by the
informer handlers of :mod:`pinnace.dns.source` — or directly by tests and the
benchmark. Every change bumps :attr:`ClusterIndex.generation`, which the answer
cache compares against to drop cluster answers that may be stale, and records
:attr:`ClusterIndex.modified` (the SOA serial, as CoreDNS takes the last change
time).

What is kept mirrors CoreDNS's view of the objects: a Service's type, cluster
IPs, ExternalName and ports; per EndpointSlice the addresses of *ready*
endpoints (``conditions.ready`` unset counts as ready) with their hostname
and the slice's ports (a slice without ports gets the sentinel port ``-1``,
which answers A queries but never SRV); reverse maps from IP to Service and
to endpoints for PTR.

Concurrency model: plain data on one event loop, mutated only by the informer
handlers; readers see a consistent state between two awaits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["ClusterIndex", "EndpointAddress", "PortInfo", "ServiceInfo", "endpoint_hostname"]

Obj = dict[str, Any]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True, slots=True)
class PortInfo:
    name: str
    port: int
    protocol: str


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    namespace: str
    name: str
    type: str
    cluster_ips: tuple[str, ...]
    external_name: str
    ports: tuple[PortInfo, ...]

    @property
    def headless(self) -> bool:
        return not self.cluster_ips and self.type != "ExternalName"


@dataclass(frozen=True, slots=True)
class EndpointAddress:
    ip: str
    #: the endpoint's DNS label: its ``hostname``, else the dashed IP
    hostname: str
    ports: tuple[PortInfo, ...]


def endpoint_hostname(ip: str, hostname: str | None) -> str:
    """CoreDNS's endpoint label: the hostname if set, else the IP with dashes
    (an IPv6 address ending in ``::`` gets a trailing ``0``)."""
    if hostname:
        return hostname
    if "." in ip:
        return ip.replace(".", "-")
    dashed = ip.replace(":", "-")
    return dashed + "0" if dashed.endswith("-") else dashed


def service_info(obj: Obj) -> ServiceInfo:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    ips = [ip for ip in (spec.get("clusterIPs") or []) if ip and ip != "None"]
    if not ips and spec.get("clusterIP") not in (None, "", "None"):
        ips = [spec["clusterIP"]]
    ports = tuple(
        PortInfo(str(p.get("name") or ""), int(p.get("port") or 0), str(p.get("protocol") or "TCP"))
        for p in spec.get("ports") or []
    )
    return ServiceInfo(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        type=str(spec.get("type") or "ClusterIP"),
        cluster_ips=tuple(ips) if spec.get("type") != "ExternalName" else (),
        external_name=str(spec.get("externalName") or ""),
        ports=ports,
    )


def slice_addresses(obj: Obj) -> list[EndpointAddress]:
    """The ready addresses of an EndpointSlice, each with the slice's ports."""
    raw_ports = obj.get("ports") or []
    if raw_ports:
        ports = tuple(
            PortInfo(
                str(p.get("name") or ""),
                int(p["port"]) if p.get("port") is not None else -1,
                str(p.get("protocol") or "TCP"),
            )
            for p in raw_ports
        )
    else:
        ports = (PortInfo("", -1, ""),)
    out: list[EndpointAddress] = []
    for ep in obj.get("endpoints") or []:
        ready = (ep.get("conditions") or {}).get("ready")
        if ready is False:
            continue
        for ip in ep.get("addresses") or []:
            out.append(EndpointAddress(ip, endpoint_hostname(ip, ep.get("hostname")), ports))
    return out


_SvcKey = tuple[str, str]  # (namespace, name)
_SliceKey = tuple[str, str]  # (namespace, slice name)


class ClusterIndex:
    """Services, ready endpoints and namespaces, indexed for DNS lookups."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.services: dict[_SvcKey, ServiceInfo] = {}
        self.namespaces: set[str] = set()
        # slice -> (service key, addresses)
        self._slices: dict[_SliceKey, tuple[_SvcKey, list[EndpointAddress]]] = {}
        # service key -> slice name -> addresses; flattened on demand and memoized
        self._by_service: dict[_SvcKey, dict[str, list[EndpointAddress]]] = {}
        self._flat: dict[_SvcKey, tuple[EndpointAddress, ...]] = {}
        self._svc_by_ip: dict[str, set[_SvcKey]] = {}
        # ip -> slice key -> [(hostname, service key)]
        self._ep_by_ip: dict[str, dict[_SliceKey, list[tuple[str, _SvcKey]]]] = {}
        self.generation = 0
        self.modified = int(clock())

    def _changed(self) -> None:
        self.generation += 1
        self.modified = int(self._clock())

    # --- feeding -------------------------------------------------------------------------

    def set_service(self, obj: Obj) -> None:
        info = service_info(obj)
        key = (info.namespace, info.name)
        old = self.services.get(key)
        if old == info:
            return
        if old is not None:
            self._unindex_service_ips(key, old)
        self.services[key] = info
        for ip in info.cluster_ips:
            self._svc_by_ip.setdefault(ip, set()).add(key)
        self._changed()

    def delete_service(self, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        old = self.services.pop(key, None)
        if old is not None:
            self._unindex_service_ips(key, old)
            self._changed()

    def _unindex_service_ips(self, key: _SvcKey, info: ServiceInfo) -> None:
        for ip in info.cluster_ips:
            keys = self._svc_by_ip.get(ip)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._svc_by_ip[ip]

    def set_slice(self, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        ns = str(meta.get("namespace") or "")
        skey = (ns, str(meta.get("name") or ""))
        svc = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if not svc:
            self._remove_slice(skey)
            return
        addrs = slice_addresses(obj)
        old = self._slices.get(skey)
        if old is not None and old == ((ns, svc), addrs):
            return
        self._remove_slice(skey, bump=False)
        svc_key = (ns, str(svc))
        self._slices[skey] = (svc_key, addrs)
        self._by_service.setdefault(svc_key, {})[skey[1]] = addrs
        self._flat.pop(svc_key, None)
        for a in addrs:
            self._ep_by_ip.setdefault(a.ip, {}).setdefault(skey, []).append((a.hostname, svc_key))
        self._changed()

    def delete_slice(self, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        self._remove_slice((str(meta.get("namespace") or ""), str(meta.get("name") or "")))

    def _remove_slice(self, skey: _SliceKey, *, bump: bool = True) -> None:
        old = self._slices.pop(skey, None)
        if old is None:
            return
        svc_key, addrs = old
        per = self._by_service.get(svc_key)
        if per is not None:
            per.pop(skey[1], None)
            if not per:
                del self._by_service[svc_key]
        self._flat.pop(svc_key, None)
        for a in addrs:
            slices = self._ep_by_ip.get(a.ip)
            if slices is not None:
                slices.pop(skey, None)
                if not slices:
                    del self._ep_by_ip[a.ip]
        if bump:
            self._changed()

    def set_namespace(self, obj: Obj) -> None:
        name = str((obj.get("metadata") or {}).get("name") or "")
        if name and name not in self.namespaces:
            self.namespaces.add(name)
            self._changed()

    def delete_namespace(self, obj: Obj) -> None:
        name = str((obj.get("metadata") or {}).get("name") or "")
        if name in self.namespaces:
            self.namespaces.discard(name)
            self._changed()

    def load(
        self,
        services: Iterable[Obj] = (),
        slices: Iterable[Obj] = (),
        namespaces: Iterable[str] = (),
    ) -> None:
        """Add many objects at once (tests, the benchmark)."""
        for name in namespaces:
            self.set_namespace({"metadata": {"name": name}})
        for s in services:
            self.set_service(s)
        for sl in slices:
            self.set_slice(sl)

    # --- lookups -------------------------------------------------------------------------

    def service(self, namespace: str, name: str) -> ServiceInfo | None:
        return self.services.get((namespace, name))

    def endpoints(self, namespace: str, name: str) -> tuple[EndpointAddress, ...]:
        key = (namespace, name)
        flat = self._flat.get(key)
        if flat is None:
            per = self._by_service.get(key) or {}
            flat = tuple(a for name_ in sorted(per) for a in per[name_])
            self._flat[key] = flat
        return flat

    def services_by_ip(self, ip: str) -> list[ServiceInfo]:
        return [self.services[k] for k in sorted(self._svc_by_ip.get(ip, ())) if k in self.services]

    def endpoints_by_ip(self, ip: str) -> list[tuple[str, str, str]]:
        """``(hostname, namespace, service)`` of every ready endpoint with this IP."""
        out: list[tuple[str, str, str]] = []
        for _, entries in sorted((self._ep_by_ip.get(ip) or {}).items()):
            for hostname, (ns, svc) in entries:
                out.append((hostname, ns, svc))
        return out
