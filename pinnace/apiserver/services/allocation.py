"""What a Service holds and how a write changes it: the cluster IP and node
port bookkeeping of upstream's Service REST storage (``alloc.go``), over the
allocators of :mod:`pinnace.apiserver.services.allocator`.

Level-based rather than case-by-case: :func:`held_values` says which IPs and
node ports an object holds; a create or update *fills in* what the new object
still lacks (dynamic values) or asks for (requested values it did not hold
before), and the values the old object held but the new one does not are
released once the write is stored. Every value this request created is
recorded in a :class:`Transaction`, so a failure anywhere after allocating
(validation, admission, a storage conflict before a retry, an existing name)
gives them back: never a half-written state.

Errors are upstream's: a requested value that is taken or out of range is a
422 on ``spec.clusterIPs`` / ``spec.ports[i].nodePort`` with the allocator's
message; a full range is a 500 ("failed to allocate a serviceIP: range is
full").

Concurrency model: coroutines on the API server's loop; the allocators'
Backend writes are what make concurrent requests (on this or other servers)
safe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from pinnace.api.schema import Resource
from pinnace.api.schema.validation import FieldError
from pinnace.apiserver import errors
from pinnace.apiserver.services.allocator import (
    AllocationError,
    IPAllocator,
    Owner,
    PortAllocator,
    RangeFull,
)

__all__ = [
    "HeldValues",
    "ServiceAllocators",
    "Transaction",
    "held_values",
    "needs_health_check",
    "should_allocate_node_ports",
]

log = logging.getLogger("pinnace.apiserver.services")

Obj = dict[str, Any]
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


def _spec(obj: Obj | None) -> Obj:
    spec = (obj or {}).get("spec")
    return spec if isinstance(spec, dict) else {}


def _type(spec: Obj) -> str:
    return str(spec.get("type") or "ClusterIP")


def needs_health_check(spec: Obj) -> bool:
    """Upstream's ``NeedsHealthCheck``: a LoadBalancer with externalTrafficPolicy Local."""
    return _type(spec) == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def should_allocate_node_ports(spec: Obj) -> bool:
    t = _type(spec)
    if t == "NodePort":
        return True
    return t == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False


def _ports(spec: Obj) -> list[Obj]:
    return [p for p in spec.get("ports") or [] if isinstance(p, dict)]


def _is_port(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool) and v != 0


@dataclass(frozen=True, slots=True)
class HeldValues:
    ips: frozenset[str] = frozenset()
    ports: frozenset[int] = frozenset()


def held_values(obj: Obj | None) -> HeldValues:
    """The cluster IPs and node ports a stored Service holds."""
    spec = _spec(obj)
    if not spec:
        return HeldValues()
    ips: set[str] = set()
    if _type(spec) != "ExternalName":
        listed = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
        ips = {str(ip) for ip in listed if isinstance(ip, str) and ip and ip != "None"}
    ports: set[int] = set()
    if _type(spec) in NODE_PORT_TYPES:
        ports = {p["nodePort"] for p in _ports(spec) if _is_port(p.get("nodePort"))}
    if needs_health_check(spec) and _is_port(spec.get("healthCheckNodePort")):
        ports.add(spec["healthCheckNodePort"])
    return HeldValues(frozenset(ips), frozenset(ports))


@dataclass
class Transaction:
    """The values one request created (to give back on failure) and the
    values it will release once its write is stored."""

    allocators: ServiceAllocators
    created_ips: list[str] = field(default_factory=list)
    created_ports: list[int] = field(default_factory=list)
    to_release: HeldValues = HeldValues()
    release_uid: str = ""

    async def revert(self) -> None:
        """Give back what this request created (nothing is released)."""
        ips, ports = self.created_ips, self.created_ports
        self.created_ips, self.created_ports = [], []
        self.to_release = HeldValues()
        for ip in ips:
            await self._quietly(self.allocators.ips.release(ip))
        for port in ports:
            await self._quietly(self.allocators.ports.release(port))

    async def commit(self) -> None:
        """The write is stored: release what the old object held and the new
        one does not (only while the Service still owns them)."""
        rel, self.to_release = self.to_release, HeldValues()
        self.created_ips, self.created_ports = [], []
        await self.allocators.release(rel, self.release_uid)

    @staticmethod
    async def _quietly(coro: Any) -> None:
        try:
            await coro
        except Exception:  # left to the repair loop, which releases leaked values
            log.warning("cannot give back an allocation", exc_info=True)


class ServiceAllocators:
    """The cluster IP and node port allocators of one API server, and the
    Service-level operations on them."""

    def __init__(self, resource: Resource, ips: IPAllocator, ports: PortAllocator) -> None:
        self.resource = resource
        self.ips = ips
        self.ports = ports

    # -- create / update -------------------------------------------------------

    async def allocate(
        self, new: Obj, old: Obj | None, txn: Transaction, *, dry_run: bool = False
    ) -> None:
        """Fill in ``new``'s cluster IPs and node ports (mutating it), taking
        what it needs that ``old`` did not hold. ``old`` is None on create.
        Dry runs check requested values but take nothing."""
        spec = new.get("spec")
        if not isinstance(spec, dict):
            return
        meta = new.get("metadata") or {}
        owner = Owner(str(meta.get("namespace", "")), str(meta.get("name", "")), str(meta["uid"]))
        before = held_values(old)
        name = str(meta.get("name", ""))
        await self._cluster_ips(spec, before, owner, txn, dry_run, name)
        await self._node_ports(spec, before, owner, txn, dry_run, name)
        after = held_values(new)
        txn.to_release = HeldValues(before.ips - after.ips, before.ports - after.ports)
        txn.release_uid = owner.uid

    def _invalid(self, name: str, err: FieldError) -> errors.ApiError:
        return errors.invalid(self.resource, name, [err.to_cause()])

    async def _cluster_ips(
        self, spec: Obj, before: HeldValues, owner: Owner, txn: Transaction, dry: bool, name: str
    ) -> None:
        if _type(spec) == "ExternalName":
            return
        ips = [ip for ip in spec.get("clusterIPs") or [] if isinstance(ip, str)]
        cip = spec.get("clusterIP")
        if not ips and isinstance(cip, str) and cip:
            ips = [cip]
        family = self.ips.family
        if ips and ips[0] == "None":
            spec["clusterIP"] = "None"
            spec["clusterIPs"] = ["None"]
            if not spec.get("ipFamilyPolicy"):
                # upstream: headless without a selector asks for every family
                spec["ipFamilyPolicy"] = (
                    "SingleStack" if spec.get("selector") else "RequireDualStack"
                )
            if not spec.get("ipFamilies"):
                other = "IPv6" if family == "IPv4" else "IPv4"
                multi = spec["ipFamilyPolicy"] != "SingleStack" and not spec.get("selector")
                spec["ipFamilies"] = [family, other] if multi else [family]
            return
        self._check_families(spec, ips, name)
        if not spec.get("ipFamilyPolicy"):
            spec["ipFamilyPolicy"] = "SingleStack"
        spec["ipFamilies"] = [family]
        if ips:
            ip = ips[0]
            if ip not in before.ips:
                try:
                    if dry:
                        await self.ips.check(ip, owner)
                    elif await self.ips.allocate(ip, owner):
                        txn.created_ips.append(ip)
                except AllocationError as e:
                    raise self._invalid(
                        name,
                        FieldError.invalid(
                            "spec.clusterIPs", ips, f"failed to allocate IP {ip}: {e}"
                        ),
                    ) from None
        elif dry:
            return
        else:
            try:
                ip = await self.ips.allocate_next(owner)
            except RangeFull as e:
                raise errors.internal(f"failed to allocate a serviceIP: {e}") from None
            txn.created_ips.append(ip)
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]

    def _check_families(self, spec: Obj, ips: list[str], name: str) -> None:
        family = self.ips.family
        errs: list[FieldError] = []
        if spec.get("ipFamilyPolicy") == "RequireDualStack":
            errs.append(
                FieldError.invalid(
                    "spec.ipFamilyPolicy",
                    "RequireDualStack",
                    "this cluster is not configured for dual-stack services",
                )
            )
        for i, fam in enumerate(spec.get("ipFamilies") or []):
            if fam != family:
                errs.append(
                    FieldError.invalid(
                        f"spec.ipFamilies[{i}]", fam, "not configured on this cluster"
                    )
                )
        for i, ip in enumerate(ips):
            fam = "IPv6" if ":" in ip else "IPv4"
            if fam != family:
                errs.append(
                    FieldError.invalid(
                        f"spec.clusterIPs[{i}]", ips, f"{fam} is not configured on this cluster"
                    )
                )
        if errs:
            raise errors.invalid(self.resource, name, [e.to_cause() for e in errs])

    async def _node_ports(
        self, spec: Obj, before: HeldValues, owner: Owner, txn: Transaction, dry: bool, name: str
    ) -> None:
        taken: dict[Any, int] = {}  # service port -> node port given in this request

        async def take(value: int, path: str) -> None:
            if value in before.ports or value in taken.values():
                return
            try:
                if dry:
                    await self.ports.check(value, owner)
                elif await self.ports.allocate(value, owner):
                    txn.created_ports.append(value)
            except AllocationError as e:
                raise self._invalid(name, FieldError.invalid(path, value, str(e))) from None

        async def take_next(what: str) -> int:
            try:
                value = await self.ports.allocate_next(owner)
            except RangeFull as e:
                raise errors.internal(f"failed to allocate a {what}: {e}") from None
            txn.created_ports.append(value)
            return value

        if _type(spec) in NODE_PORT_TYPES:
            ports = _ports(spec)
            for i, p in enumerate(ports):
                np = p.get("nodePort")
                if _is_port(np):
                    await take(np, f"spec.ports[{i}].nodePort")
                    taken.setdefault(p.get("port"), np)
            allocate = should_allocate_node_ports(spec)
            for p in ports:
                if _is_port(p.get("nodePort")) or not allocate:
                    continue
                # ports sharing a number (TCP and UDP 53) share a node port
                same = taken.get(p.get("port"))
                if same is not None:
                    p["nodePort"] = same
                elif not dry:
                    p["nodePort"] = await take_next("nodePort")
                    taken[p.get("port")] = p["nodePort"]
        if needs_health_check(spec):
            hc = spec.get("healthCheckNodePort")
            if _is_port(hc):
                if hc not in before.ports and hc not in taken.values():
                    try:
                        if dry:
                            await self.ports.check(hc, owner)
                        elif await self.ports.allocate(hc, owner):
                            txn.created_ports.append(hc)
                    except AllocationError as e:
                        raise errors.internal(
                            f"failed to allocate requested HealthCheck NodePort {hc}: {e}"
                        ) from None
            elif not dry:
                spec["healthCheckNodePort"] = await take_next("HealthCheck NodePort")

    # -- release -----------------------------------------------------------------

    async def release(self, values: HeldValues, uid: str) -> None:
        """Release values still held by the Service ``uid`` (errors are logged:
        repair releases what is left)."""
        for ip in values.ips:
            try:
                await self.ips.release(ip, uid)
            except Exception:
                log.warning("cannot release cluster IP %s", ip, exc_info=True)
        for port in values.ports:
            try:
                await self.ports.release(port, uid)
            except Exception:
                log.warning("cannot release node port %d", port, exc_info=True)

    async def release_all(self, obj: Obj) -> None:
        """The Service is gone: release everything it held."""
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        if uid:
            await self.release(held_values(obj), uid)
