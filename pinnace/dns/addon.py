"""The kube-dns add-on objects: the ``kube-system/kube-dns`` Service pods are
told to use (kubelet ``clusterDNS``), and the EndpointSlice that sends its
traffic to this server.

* Service: labels as upstream's kube-dns Service (``k8s-app: kube-dns``,
  ``kubernetes.io/cluster-service: "true"``, ``kubernetes.io/name: CoreDNS``),
  ports ``dns`` 53/UDP, ``dns-tcp`` 53/TCP, ``metrics`` 9153/TCP, the configured
  ``clusterIP`` and no selector (nothing but this server fills its endpoints).
* EndpointSlice ``kube-system/kube-dns``: labels
  ``kubernetes.io/service-name: kube-dns`` and
  ``endpointslice.kubernetes.io/managed-by: dns.pinnace.io`` (so the
  EndpointSlice controller leaves it alone), one ready endpoint at the
  advertised address, ports named as the Service's but numbered with the ports
  this server really listens on — kube-proxy then DNATs ``<dns ip>:53`` there.

:class:`AddonReconciler` is level-triggered: it reads both objects from the
API, creates what is missing and merge-patches what differs (lists such as
ports are replaced whole; labels others added are kept). It runs at start,
whenever an informer reports a change to either object (:meth:`poke`), and
every ``resync`` seconds. A Service that exists with another ClusterIP cannot
be fixed in place (the field is immutable): that is logged, not fought.

Concurrency model: one task; pokes set an :class:`asyncio.Event`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

from pinnace import aio
from pinnace.client import AlreadyExists, ApiError, Client, NotFound, Obj
from pinnace.client.objects import SERVICES
from pinnace.dns.source import ENDPOINTSLICES

__all__ = [
    "KUBE_DNS",
    "MANAGED_BY",
    "NAMESPACE",
    "AddonReconciler",
    "desired_service",
    "desired_slice",
    "service_differences",
    "slice_differences",
]

log = logging.getLogger("pinnace.dns.addon")

KUBE_DNS = "kube-dns"
NAMESPACE = "kube-system"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
#: a label value (no "/" allowed), in the style of endpointslice-controller.k8s.io
MANAGED_BY = "dns.pinnace.io"
SERVICE_LABELS = {
    "k8s-app": "kube-dns",
    "kubernetes.io/cluster-service": "true",
    "kubernetes.io/name": "CoreDNS",
}
SERVICE_ANNOTATIONS = {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}
_PORTS = (("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP"))


def desired_service(service_ip: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": KUBE_DNS,
            "namespace": NAMESPACE,
            "labels": dict(SERVICE_LABELS),
            "annotations": dict(SERVICE_ANNOTATIONS),
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": service_ip,
            "ports": [
                {"name": n, "port": p, "protocol": proto, "targetPort": p} for n, p, proto in _PORTS
            ],
        },
    }


def desired_slice(advertise_ip: str, dns_port: int, metrics_port: int) -> Obj:
    family = ipaddress.ip_address(advertise_ip).version
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": KUBE_DNS,
            "namespace": NAMESPACE,
            "labels": {SERVICE_NAME_LABEL: KUBE_DNS, MANAGED_BY_LABEL: MANAGED_BY},
        },
        "addressType": "IPv6" if family == 6 else "IPv4",
        "endpoints": [
            {
                "addresses": [advertise_ip],
                "conditions": {"ready": True, "serving": True, "terminating": False},
            }
        ],
        "ports": [
            {"name": "dns", "port": dns_port, "protocol": "UDP"},
            {"name": "dns-tcp", "port": dns_port, "protocol": "TCP"},
            {"name": "metrics", "port": metrics_port, "protocol": "TCP"},
        ],
    }


def _port_set(ports: Any) -> set[tuple[str, int, str]]:
    return {
        (str(p.get("name") or ""), int(p.get("port") or 0), str(p.get("protocol") or "TCP"))
        for p in ports or []
    }


def _labels_missing(current: Obj, desired: Obj) -> bool:
    have = (current.get("metadata") or {}).get("labels") or {}
    want = desired["metadata"]["labels"]
    return any(have.get(k) != v for k, v in want.items())


def service_differences(current: Obj, desired: Obj) -> Obj:
    """A merge patch bringing ``current`` to ``desired`` (empty: nothing to do).
    The ClusterIP is not part of it (immutable)."""
    patch: Obj = {}
    if _labels_missing(current, desired):
        patch.setdefault("metadata", {})["labels"] = desired["metadata"]["labels"]
    spec = current.get("spec") or {}
    want = desired["spec"]
    spec_patch: Obj = {}
    if spec.get("selector"):
        spec_patch["selector"] = None
    if spec.get("type", "ClusterIP") != "ClusterIP":
        spec_patch["type"] = "ClusterIP"
    if _port_set(spec.get("ports")) != _port_set(want["ports"]):
        spec_patch["ports"] = want["ports"]
    if spec_patch:
        patch["spec"] = spec_patch
    return patch


def slice_differences(current: Obj, desired: Obj) -> Obj:
    """A merge patch bringing the EndpointSlice ``current`` to ``desired``."""
    patch: Obj = {}
    if _labels_missing(current, desired):
        patch["metadata"] = {"labels": desired["metadata"]["labels"]}
    eps = current.get("endpoints") or []
    want_ep = desired["endpoints"][0]
    if (
        len(eps) != 1
        or eps[0].get("addresses") != want_ep["addresses"]
        or (eps[0].get("conditions") or {}).get("ready") is not True
    ):
        patch["endpoints"] = desired["endpoints"]
    if _port_set(current.get("ports")) != _port_set(desired["ports"]):
        patch["ports"] = desired["ports"]
    return patch


class AddonReconciler:
    """Keeps the kube-dns Service and EndpointSlice as :func:`desired_service`
    and :func:`desired_slice` say."""

    def __init__(
        self,
        client: Client,
        *,
        service_ip: str,
        advertise_ip: str,
        dns_port: int,
        metrics_port: int,
        resync: float = 60.0,
    ) -> None:
        self.client = client
        self.service = desired_service(service_ip)
        self.slice = desired_slice(advertise_ip, dns_port, metrics_port)
        self.resync = resync
        self._wake = asyncio.Event()
        self._warned_ip: str | None = None

    def poke(self, obj: Obj) -> None:
        """Informer hook: wake up if ``obj`` is one of the two objects."""
        m = obj.get("metadata") or {}
        if m.get("namespace") != NAMESPACE:
            return
        if m.get("name") == KUBE_DNS or (m.get("labels") or {}).get(SERVICE_NAME_LABEL) == KUBE_DNS:
            self._wake.set()

    async def run(self) -> None:
        delay = 1.0
        while True:
            self._wake.clear()
            try:
                await self.ensure()
                timeout = self.resync
                delay = 1.0
            except (ApiError, OSError) as e:
                log.warning("keeping the kube-dns Service and EndpointSlice: %s", e)
                timeout, delay = delay, min(delay * 2, 30.0)
            try:
                await aio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    async def ensure(self) -> None:
        await self._ensure_service()
        await self._ensure_slice()

    async def _get(self, resource: Any, name: str) -> Obj | None:
        try:
            return await self.client.get(resource, name, namespace=NAMESPACE)
        except NotFound:
            return None

    async def _ensure_service(self) -> None:
        cur = await self._get(SERVICES, KUBE_DNS)
        if cur is None:
            try:
                await self.client.create(SERVICES, self.service, namespace=NAMESPACE)
                log.info("created Service kube-system/kube-dns")
                return
            except AlreadyExists:
                cur = await self._get(SERVICES, KUBE_DNS)
                if cur is None:
                    return
        want_ip = self.service["spec"]["clusterIP"]
        have_ip = (cur.get("spec") or {}).get("clusterIP")
        if have_ip != want_ip and self._warned_ip != have_ip:
            self._warned_ip = have_ip
            log.warning(
                "Service kube-system/kube-dns has clusterIP %s, not %s: pods are told to use "
                "%s; delete the Service to have it recreated",
                have_ip,
                want_ip,
                want_ip,
            )
        patch = service_differences(cur, self.service)
        if patch:
            await self.client.patch(SERVICES, KUBE_DNS, patch, namespace=NAMESPACE)
            log.info("corrected Service kube-system/kube-dns", extra={"patch": patch})

    async def _ensure_slice(self) -> None:
        cur = await self._get(ENDPOINTSLICES, KUBE_DNS)
        if cur is not None and cur.get("addressType") != self.slice["addressType"]:
            await self.client.delete(ENDPOINTSLICES, KUBE_DNS, namespace=NAMESPACE)
            cur = None
        if cur is None:
            try:
                await self.client.create(ENDPOINTSLICES, self.slice, namespace=NAMESPACE)
                log.info("created EndpointSlice kube-system/kube-dns")
                return
            except AlreadyExists:
                cur = await self._get(ENDPOINTSLICES, KUBE_DNS)
                if cur is None:
                    return
        patch = slice_differences(cur, self.slice)
        if patch:
            await self.client.patch(ENDPOINTSLICES, KUBE_DNS, patch, namespace=NAMESPACE)
            log.info("corrected EndpointSlice kube-system/kube-dns", extra={"patch": patch})
