"""The ``kubernetes`` Service in ``default``, its Endpoints and its
EndpointSlice: how pods reach the API server (upstream's
``controlplane/controller/kubernetesservice`` with the lease endpoint
reconciler).

* Service ``default/kubernetes``: labels ``component: apiserver``,
  ``provider: kubernetes``, type ClusterIP on the first address of the
  service CIDR, port ``https`` 443/TCP to the API server's port;
* Endpoints ``default/kubernetes`` (labelled
  ``endpointslice.kubernetes.io/skip-mirror: "true"``) and EndpointSlice
  ``default/kubernetes`` (``kubernetes.io/service-name: kubernetes``,
  ``addressType: IPv4``, every endpoint ready) listing the advertise address
  of every live API server.

Several API servers may share one store. Each keeps a lease key
``/registry/pinnace.io/apiserverleases/<address>:<port>`` whose value says
until when it is valid, renews it on every pass and deletes it when it stops;
the endpoints are the live leases, ordered, so every server computes the
same objects and they do not fight. (When servers listen on different ports,
the Endpoints get one subset per port and the slice and the Service's
targetPort take the lowest, as upstream's adapter takes the first subset.)

Concurrency model: one task on the API server's loop, a pass every
``interval`` seconds (first pass awaited at start-up); writes go through the
servers' own stores with the API server's identity, so they are validated
and watched like any other write.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from pinnace.apiserver import errors
from pinnace.apiserver.registry import RequestContext, ResourceStore
from pinnace.storage import Backend, ConflictError, KeyExistsError, KeyNotFoundError

__all__ = ["LEASE_PREFIX", "KubernetesService", "advertise_address"]

log = logging.getLogger("pinnace.apiserver.services.kubernetes")

Obj = dict[str, Any]

NAMESPACE = "default"
NAME = "kubernetes"
LEASE_PREFIX = "/registry/pinnace.io/apiserverleases/"
SERVICE_LABELS = {"component": "apiserver", "provider": "kubernetes"}
SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
#: upstream: endpoint reconcile every 10 s, master leases live 15 s
RECONCILE_INTERVAL = 10.0
LEASE_TTL = 15.0


def advertise_address(
    configured: str, bind_address: str, default_route: Callable[[], str | None]
) -> str:
    """The address other hosts reach this API server at: the configured one,
    else the bind address unless it is unspecified, else the host's
    default-route address (loopback when there is none)."""
    if configured:
        return configured
    try:
        unspecified = ipaddress.ip_address(bind_address).is_unspecified
    except ValueError:
        unspecified = False
    if bind_address and not unspecified:
        return bind_address
    return default_route() or "127.0.0.1"


class KubernetesService:
    def __init__(
        self,
        backend: Backend,
        services: ResourceStore,
        endpoints: ResourceStore,
        slices: ResourceStore,
        ctx_factory: Callable[[], RequestContext],
        cluster_ip: str,
        address: str,
        port: int,
        interval: float = RECONCILE_INTERVAL,
        lease_ttl: float = LEASE_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.services = services
        self.endpoints = endpoints
        self.slices = slices
        self.ctx_factory = ctx_factory
        self.cluster_ip = cluster_ip
        self.address = address
        self.port = port
        self.interval = interval
        self.lease_ttl = lease_ttl
        self.clock = clock
        self.lease_key = f"{LEASE_PREFIX}{address}:{port}"

    # -- lifecycle ---------------------------------------------------------------

    async def run(self) -> None:
        """A pass every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.reconcile_once()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("cannot reconcile the kubernetes service: %s", e)

    async def remove_lease(self) -> None:
        """This server stops: others drop it from the endpoints on their next pass."""
        with contextlib.suppress(KeyNotFoundError):
            await self.backend.delete(self.lease_key)

    # -- one pass ------------------------------------------------------------------

    async def reconcile_once(self) -> None:
        members = await self._renew_and_list_leases()
        await self._ensure_service(members)
        await self._ensure_endpoints(members)

    async def _renew_and_list_leases(self) -> list[tuple[str, int]]:
        now = self.clock()
        value = orjson.dumps(
            {"address": self.address, "port": self.port, "expires": now + self.lease_ttl}
        )
        kv = await self.backend.get(self.lease_key)
        try:
            if kv is None:
                await self.backend.create(self.lease_key, value)
            else:
                await self.backend.update(self.lease_key, value, kv.mod_revision)
        except (KeyExistsError, ConflictError, KeyNotFoundError):
            pass  # a concurrent pass of our own; the next pass renews
        members = {(self.address, self.port)}
        res = await self.backend.range(LEASE_PREFIX)
        for lease in res.kvs:
            try:
                d = orjson.loads(lease.value)
                addr, port, expires = str(d["address"]), int(d["port"]), float(d["expires"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            if expires < now:
                with contextlib.suppress(ConflictError, KeyNotFoundError):
                    await self.backend.delete(lease.key, lease.mod_revision)
                continue
            members.add((addr, port))
        return sorted(members, key=lambda m: (m[1], _ip_key(m[0])))

    async def _ensure_service(self, members: list[tuple[str, int]]) -> None:
        target = members[0][1]
        ports = [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": target}]
        key = self.services.key(NAMESPACE, NAME)
        cur = self.services.cache.get_entry(key)
        if cur is None:
            body: Obj = {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(SERVICE_LABELS)},
                "spec": {
                    "type": "ClusterIP",
                    "clusterIP": self.cluster_ip,
                    "ports": ports,
                    "sessionAffinity": "None",
                },
            }
            try:
                await self.services.create(NAMESPACE, body, self.ctx_factory())
                log.info("created the kubernetes service (%s)", self.cluster_ip)
            except errors.ApiError as e:
                if e.code != 409:
                    raise
            return
        obj = cur.obj()
        spec = obj.get("spec") or {}
        if spec.get("clusterIP") != self.cluster_ip:
            log.error(
                "the kubernetes service has cluster IP %s, not %s: delete it to have it re-created",
                spec.get("clusterIP"),
                self.cluster_ip,
            )
        labels = (obj.get("metadata") or {}).get("labels") or {}
        have = [
            {k: p.get(k) for k in ("name", "port", "protocol", "targetPort")}
            for p in spec.get("ports") or []
        ]
        if (
            have == ports
            and spec.get("type") == "ClusterIP"
            and all(labels.get(k) == v for k, v in SERVICE_LABELS.items())
        ):
            return

        async def fix(current: Obj) -> Obj:
            current.setdefault("metadata", {}).setdefault("labels", {}).update(SERVICE_LABELS)
            s = current.setdefault("spec", {})
            s["type"] = "ClusterIP"
            s["ports"] = [dict(p) for p in ports]
            return current

        await self.services.guaranteed_update(NAMESPACE, NAME, fix, self.ctx_factory())

    async def _ensure_endpoints(self, members: list[tuple[str, int]]) -> None:
        by_port: dict[int, list[str]] = {}
        for addr, port in members:
            by_port.setdefault(port, []).append(addr)
        subsets: list[Obj] = [
            {
                "addresses": [{"ip": a} for a in addrs],
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
            }
            for port, addrs in sorted(by_port.items())
        ]
        await self._put(
            self.endpoints,
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {SKIP_MIRROR: "true"}},
                "subsets": subsets,
            },
            ("subsets",),
        )
        first = subsets[0]
        family = "IPv6" if all(":" in a["ip"] for a in first["addresses"]) else "IPv4"
        await self._put(
            self.slices,
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": NAME,
                    "namespace": NAMESPACE,
                    "labels": {SERVICE_NAME_LABEL: NAME},
                },
                "addressType": family,
                "endpoints": [
                    {"addresses": [a["ip"]], "conditions": {"ready": True}}
                    for a in first["addresses"]
                ],
                "ports": first["ports"],
            },
            ("addressType", "endpoints", "ports"),
        )

    async def _put(self, store: ResourceStore, desired: Obj, fields: tuple[str, ...]) -> None:
        """Create ``desired`` or bring the existing object's ``fields`` and labels to it."""
        cur = store.cache.get_entry(store.key(NAMESPACE, NAME))
        labels: dict[str, str] = desired["metadata"]["labels"]
        if cur is None:
            try:
                await store.create(NAMESPACE, desired, self.ctx_factory())
            except errors.ApiError as e:
                if e.code != 409:
                    raise
            return
        obj = cur.obj()
        have_labels = (obj.get("metadata") or {}).get("labels") or {}
        if all(_same(obj.get(f), desired[f]) for f in fields) and all(
            have_labels.get(k) == v for k, v in labels.items()
        ):
            return

        async def fix(current: Obj) -> Obj:
            current.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
            for f in fields:
                current[f] = desired[f]
            return current

        await store.guaranteed_update(NAMESPACE, NAME, fix, self.ctx_factory())


def _same(have: Any, want: Any) -> bool:
    """``have`` (as stored, with defaults filled in) agrees with ``want``."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_same(have.get(k), v) for k, v in want.items())
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(have) == len(want)
            and all(_same(h, w) for h, w in zip(have, want, strict=True))
        )
    return bool(have == want)


def _ip_key(addr: str) -> tuple[int, int]:
    try:
        ip = ipaddress.ip_address(addr)
        return (ip.version, int(ip))
    except ValueError:
        return (0, 0)
