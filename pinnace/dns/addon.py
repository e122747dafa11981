"""The kube-dns add-on objects: the ``kube-system/kube-dns`` Service pods are
told to use (kubelet ``clusterDNS``), and the EndpointSlice that sends its
traffic to this server.

* Service: labels as upstream's kube-dns Service (``k8s-app: kube-dns``,
  ``kubernetes.io/cluster-service: "true"``, ``kubernetes.io/name: CoreDNS``),
  ports ``dns`` 53/UDP, ``dns-tcp`` 53/TCP, ``metrics`` 9153/TCP, the configured
  ``clusterIP`` and no selector (nothing but the servers fill its endpoints).
* EndpointSlice ``kube-system/kube-dns-<address>-<port>``, one per DNS server
  (several API servers sharing one etcd each run one): labels
  ``kubernetes.io/service-name: kube-dns`` and
  ``endpointslice.kubernetes.io/managed-by: dns.pinnace.io`` (so the
  EndpointSlice controller leaves it alone), one ready endpoint at the
  advertised address, ports named as the Service's but numbered with the ports
  this server really listens on — kube-proxy then DNATs ``<dns ip>:53`` to
  every server's slice, as it does for a Service with several slices.

:class:`AddonReconciler` is level-triggered: it reads the objects from the
API, creates what is missing and merge-patches what differs (lists such as
ports are replaced whole; labels others added are kept). It runs at start,
whenever an informer reports a change to the Service or a kube-dns slice
(:meth:`poke`), and every ``resync`` seconds. A Service that exists with
another ClusterIP cannot be fixed in place (the field is immutable): that is
logged, not fought. Each server only writes its own slice, so servers never
undo each other's writes. Its annotation ``dns.pinnace.io/renew-time`` is
brought up to date every ``resync`` (a write per minute, like a lease); a
server deletes the other slices whose renewal is over ``3 * resync`` old
(their server is gone: this compares two machines' clocks, with minutes of
slack) and the single ``kube-dns`` slice older versions kept.
:meth:`remove_own_slice` takes this server's slice away when it stops.

Concurrency model: one task; pokes set an :class:`asyncio.Event`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pinnace import aio
from pinnace.client import AlreadyExists, ApiError, Client, Conflict, NotFound, Obj
from pinnace.client.events import format_time
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
    "slice_name",
]

log = logging.getLogger("pinnace.dns.addon")

KUBE_DNS = "kube-dns"
NAMESPACE = "kube-system"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
RENEW_TIME = "dns.pinnace.io/renew-time"
#: a slice not renewed for this many resync periods belongs to a server that is gone
STALE_AFTER_RESYNCS = 3
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


def slice_name(advertise_ip: str, dns_port: int) -> str:
    """This server's slice: ``kube-dns-10-0-0-1-53`` (the same after a restart)."""
    address = ipaddress.ip_address(advertise_ip).exploded.replace(".", "-").replace(":", "-")
    return f"{KUBE_DNS}-{address}-{dns_port}"


def desired_slice(advertise_ip: str, dns_port: int, metrics_port: int) -> Obj:
    family = ipaddress.ip_address(advertise_ip).version
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": slice_name(advertise_ip, dns_port),
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
        now: Callable[[], float] = time.time,
        cached_slices: Callable[[], Iterable[Obj]],
    ) -> None:
        """``cached_slices`` lists the EndpointSlices of an informer's cache
        (the DNS's own), where the sweep of stale slices looks."""
        self.client = client
        self._now = now
        self._cached_slices = cached_slices
        self.service = desired_service(service_ip)
        self.slice = desired_slice(advertise_ip, dns_port, metrics_port)
        self.slice_name = str(self.slice["metadata"]["name"])
        self.resync = resync
        self._wake = asyncio.Event()
        self._warned_ip: str | None = None

    def poke(self, obj: Obj) -> None:
        """Informer hook: wake up if ``obj`` is the Service or a kube-dns slice."""
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
        await self._remove_stale_slices()

    async def remove_own_slice(self) -> None:
        """Take this server's endpoints out of the Service (on the way out)."""
        with contextlib.suppress(NotFound):
            await self.client.delete(ENDPOINTSLICES, self.slice_name, namespace=NAMESPACE)
            log.info("deleted EndpointSlice kube-system/%s", self.slice_name)

    def _kube_dns_slices(self) -> list[Obj]:
        out = []
        for s in self._cached_slices():
            meta = s.get("metadata") or {}
            labels = meta.get("labels") or {}
            if (
                meta.get("namespace") == NAMESPACE
                and labels.get(SERVICE_NAME_LABEL) == KUBE_DNS
                and labels.get(MANAGED_BY_LABEL) == MANAGED_BY
            ):
                out.append(s)
        return out

    async def _remove_stale_slices(self) -> None:
        oldest = self._now() - STALE_AFTER_RESYNCS * self.resync
        for other in self._kube_dns_slices():
            name = _name(other)
            if name == self.slice_name:
                continue
            if name != KUBE_DNS and _renew_time(other) >= oldest:
                continue  # another live server's
            # the resourceVersion precondition keeps a slice whose server
            # renewed it after the version this pass looked at (a cache lags)
            rv = (other.get("metadata") or {}).get("resourceVersion")
            with contextlib.suppress(NotFound, Conflict):
                await self.client.delete(
                    ENDPOINTSLICES,
                    name,
                    namespace=NAMESPACE,
                    preconditions={"resourceVersion": rv} if rv else None,
                )
                log.info("deleted EndpointSlice kube-system/%s (its server is gone)", name)

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
        name = self.slice_name
        cur = await self._get(ENDPOINTSLICES, name)
        if cur is not None and cur.get("addressType") != self.slice["addressType"]:
            await self.client.delete(ENDPOINTSLICES, name, namespace=NAMESPACE)
            cur = None
        if cur is None:
            body = {**self.slice, "metadata": {**self.slice["metadata"]}}
            body["metadata"]["annotations"] = {RENEW_TIME: _renew_stamp(self._now())}
            try:
                await self.client.create(ENDPOINTSLICES, body, namespace=NAMESPACE)
                log.info("created EndpointSlice kube-system/%s", name)
                return
            except AlreadyExists:
                cur = await self._get(ENDPOINTSLICES, name)
                if cur is None:
                    return
        patch = slice_differences(cur, self.slice)
        if patch:
            log.info("correcting EndpointSlice kube-system/%s", name, extra={"patch": patch})
        if patch or _renew_time(cur) < self._now() - self.resync / 2:
            patch.setdefault("metadata", {})["annotations"] = {
                RENEW_TIME: _renew_stamp(self._now())
            }
            await self.client.patch(ENDPOINTSLICES, name, patch, namespace=NAMESPACE)


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _renew_stamp(t: float) -> str:
    return format_time(datetime.fromtimestamp(t, UTC))


def _renew_time(obj: Obj) -> float:
    """When the slice's server last renewed it (0: never, or unreadable)."""
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(RENEW_TIME)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
