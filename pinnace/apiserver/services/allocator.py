"""Race-free allocation of Service cluster IPs and node ports over the shared
storage Backend: one storage key per allocated value.

Why one key per value (like upstream's newer IPAddress-object allocator rather
than its older bitmap-in-one-key): several API servers may share one store, and
the Backend's create-if-absent is the only arbiter needed. Two servers racing
for the same value both try ``create``; one succeeds, the other gets
``KeyExistsError`` and picks another value. Nothing has to be read, merged and
written back under contention, and a released value is a deleted key.

* keys: ``/registry/pinnace.io/serviceips/<ip>`` and
  ``/registry/pinnace.io/servicenodeports/<port>``;
* values: JSON ``{"namespace", "name", "uid"}`` of the owning Service, so
  repair can tell leaked keys (owner gone) from conflicts, and a release can be
  guarded by the owner's uid (never deleting a key someone else now holds).

Dynamic choices are random, from an in-memory hint of the values in use (this
server's own allocations, plus what :meth:`KeyAllocator.refresh` last read);
the hint may be stale when other servers allocate too, which only costs a
retry. Like upstream (KEP-3070, KEP-3668) each range has a small *static band*
at its start that dynamic allocation uses only when the rest is full, so
values users pick by hand rarely collide with generated ones; the first usable
address of the service CIDR (10.96.0.1 for 10.96.0.0/12) is never handed out
dynamically: it is the ``kubernetes`` Service's. Network and broadcast
addresses are never allocated.

Concurrency model: coroutines on the API server's event loop; the hint is only
touched between awaits, and correctness never depends on it (the Backend
decides).
"""

from __future__ import annotations

import ipaddress
import logging
import random
from dataclasses import dataclass
from typing import Generic, TypeVar

import orjson

from pinnace.storage import Backend, ConflictError, KeyExistsError, KeyNotFoundError

__all__ = [
    "IP_PREFIX",
    "NODE_PORT_PREFIX",
    "AllocationError",
    "AlreadyAllocated",
    "Holding",
    "IPAllocator",
    "KeyAllocator",
    "NotInRange",
    "Owner",
    "PortAllocator",
    "RangeFull",
    "parse_port_range",
    "parse_service_cidr",
]

log = logging.getLogger("pinnace.apiserver.services")

IP_PREFIX = "/registry/pinnace.io/serviceips/"
NODE_PORT_PREFIX = "/registry/pinnace.io/servicenodeports/"

#: how many create attempts a dynamic allocation makes before giving up
_MAX_ATTEMPTS = 32

V = TypeVar("V", str, int)


@dataclass(frozen=True, slots=True)
class Owner:
    """The Service a value belongs to."""

    namespace: str
    name: str
    uid: str

    def encode(self) -> bytes:
        return orjson.dumps({"namespace": self.namespace, "name": self.name, "uid": self.uid})

    @staticmethod
    def decode(data: bytes) -> Owner:
        try:
            d = orjson.loads(data)
            return Owner(str(d.get("namespace", "")), str(d.get("name", "")), str(d.get("uid", "")))
        except (orjson.JSONDecodeError, AttributeError):
            return Owner("", "", "")

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Holding:
    """One allocated value as stored: its owner and the key's mod revision."""

    owner: Owner
    mod_revision: int


class AllocationError(Exception):
    """A value cannot be allocated; ``str()`` is upstream's message."""


class AlreadyAllocated(AllocationError):
    pass


class NotInRange(AllocationError):
    pass


class RangeFull(AllocationError):
    def __init__(self) -> None:
        super().__init__("range is full")


class KeyAllocator(Generic[V]):
    """Values of one range, one storage key each. Subclasses map values to
    offsets in ``[0, size)`` and say which offsets are usable."""

    #: what the "already allocated" message calls a value ("IP", "port")
    NOUN = ""

    def __init__(self, backend: Backend, prefix: str, size: int) -> None:
        self.backend = backend
        self.prefix = prefix
        self.size = size
        self._used: set[int] = set()
        self._random = random.SystemRandom()

    # -- the range (subclasses) ----------------------------------------------

    def offset(self, value: V) -> int | None:
        """The value's offset in the range, None when it is not a usable value."""
        raise NotImplementedError

    def value(self, offset: int) -> V:
        raise NotImplementedError

    def parse(self, text: str) -> V:
        raise NotImplementedError

    def not_in_range(self, value: V) -> NotInRange:
        raise NotImplementedError

    def dynamic_bands(self) -> list[tuple[int, int]]:
        """Half-open offset ranges dynamic allocation tries, in order."""
        return [(0, self.size)]

    # -- storage ---------------------------------------------------------------

    def key(self, value: V) -> str:
        return f"{self.prefix}{value}"

    def contains(self, value: V) -> bool:
        return self.offset(value) is not None

    async def allocate(self, value: V, owner: Owner) -> bool:
        """Take ``value`` for ``owner``. True when this call created the key,
        False when ``owner`` (same uid) already held it. Raises NotInRange or
        AlreadyAllocated."""
        off = self.offset(value)
        if off is None:
            raise self.not_in_range(value)
        try:
            await self.backend.create(self.key(value), owner.encode())
        except KeyExistsError:
            self._used.add(off)
            held = await self.holder(value)
            if held is not None and held.owner.uid == owner.uid:
                return False
            if held is None:  # released in between: try once more
                return await self.allocate(value, owner)
            raise AlreadyAllocated(f"provided {self.NOUN} is already allocated") from None
        self._used.add(off)
        return True

    async def check(self, value: V, owner: Owner) -> None:
        """What :meth:`allocate` would raise, without allocating (dry run)."""
        if self.offset(value) is None:
            raise self.not_in_range(value)
        held = await self.holder(value)
        if held is not None and held.owner.uid != owner.uid:
            raise AlreadyAllocated(f"provided {self.NOUN} is already allocated")

    async def allocate_next(self, owner: Owner) -> V:
        """A free value for ``owner`` (random, outside the static band when
        possible). Raises RangeFull."""
        refreshed = False
        for _ in range(_MAX_ATTEMPTS):
            off = self._pick()
            if off is None:
                if refreshed:
                    raise RangeFull()
                await self.refresh()
                refreshed = True
                continue
            value = self.value(off)
            try:
                await self.backend.create(self.key(value), owner.encode())
            except KeyExistsError:
                self._used.add(off)  # someone else (another server) has it
                continue
            self._used.add(off)
            return value
        raise RangeFull()

    def _pick(self) -> int | None:
        for lo, hi in self.dynamic_bands():
            n = hi - lo
            if n <= 0:
                continue
            start = self._random.randrange(n)
            for i in range(n):
                off = lo + (start + i) % n
                if off not in self._used:
                    return off
        return None

    async def holder(self, value: V) -> Holding | None:
        kv = await self.backend.get(self.key(value))
        if kv is None:
            return None
        return Holding(Owner.decode(kv.value), kv.mod_revision)

    async def release(self, value: V, uid: str | None = None, mod_revision: int = 0) -> bool:
        """Free ``value`` if it is held by the Service ``uid`` (any holder when
        None; only at ``mod_revision`` when given). True when a key was deleted."""
        key = self.key(value)
        if uid is not None or not mod_revision:
            kv = await self.backend.get(key)
            if kv is None:
                self._discard(value)
                return False
            if uid is not None and Owner.decode(kv.value).uid != uid:
                return False
            if mod_revision and kv.mod_revision != mod_revision:
                return False
            mod_revision = kv.mod_revision
        try:
            await self.backend.delete(key, mod_revision)
        except (ConflictError, KeyNotFoundError):
            return False
        self._discard(value)
        return True

    def _discard(self, value: V) -> None:
        off = self.offset(value)
        if off is not None:
            self._used.discard(off)

    async def list(self) -> dict[V, Holding]:
        """Every allocated value (also refreshes the hint)."""
        out: dict[V, Holding] = {}
        used: set[int] = set()
        start: str | None = None
        revision = 0
        while True:
            res = await self.backend.range(
                self.prefix, revision=revision, limit=1000, start_key=start
            )
            revision = res.revision
            for kv in res.kvs:
                try:
                    value = self.parse(kv.key[len(self.prefix) :])
                except ValueError:
                    log.warning("ignoring malformed allocation key %s", kv.key)
                    continue
                out[value] = Holding(Owner.decode(kv.value), kv.mod_revision)
                off = self.offset(value)
                if off is not None:
                    used.add(off)
            if not res.more or not res.kvs:
                break
            start = res.kvs[-1].key + "\x00"
        self._used = used
        return out

    async def refresh(self) -> None:
        """Re-read which values are in use (the hint for dynamic choices)."""
        await self.list()

    @property
    def used_count(self) -> int:
        return len(self._used)


def _static_band(size: int, lo: int, hi: int, divisor: int) -> int:
    """Upstream's static band: size/divisor, at least ``lo``, at most ``hi``
    (and never the whole range)."""
    band = min(max(lo, size // divisor), hi)
    return band if band < size else 0


def parse_service_cidr(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The service CIDR (``--service-cidr``); ValueError with a readable message."""
    try:
        net = ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as e:
        raise ValueError(f"invalid service CIDR {text!r}: {e}") from None
    if net.num_addresses < 8:
        raise ValueError(f"service CIDR {text!r} is too small (at least 8 addresses)")
    if net.version == 6 and net.prefixlen < 108:
        raise ValueError(f"service CIDR {text!r} is too large (IPv6: /108 or smaller)")
    return net


class IPAllocator(KeyAllocator[str]):
    """Cluster IPs from one service CIDR. Offset 0 is the first usable address
    (network + 1); the network address and (IPv4) the broadcast address are
    not in the range."""

    NOUN = "IP"

    def __init__(
        self, backend: Backend, cidr: ipaddress.IPv4Network | ipaddress.IPv6Network
    ) -> None:
        self.cidr = cidr
        self.family = "IPv4" if cidr.version == 4 else "IPv6"
        self._base = int(cidr.network_address) + 1
        usable = cidr.num_addresses - (2 if cidr.version == 4 else 1)
        super().__init__(backend, IP_PREFIX, usable)

    def offset(self, value: str) -> int | None:
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            return None
        if ip.version != self.cidr.version:
            return None
        off = int(ip) - self._base
        return off if 0 <= off < self.size else None

    def value(self, offset: int) -> str:
        return str(ipaddress.ip_address(self._base + offset))

    def parse(self, text: str) -> str:
        return str(ipaddress.ip_address(text))

    def not_in_range(self, value: str) -> NotInRange:
        return NotInRange(
            f"the provided IP ({value}) is not in the valid range. "
            f"The range of valid IPs is {self.cidr}"
        )

    @property
    def first(self) -> str:
        """The ``kubernetes`` Service's address: the first usable one."""
        return self.value(0)

    def dynamic_bands(self) -> list[tuple[int, int]]:
        band = _static_band(self.size, 16, 256, 16)
        # offset 0 (the kubernetes Service's address) is never chosen dynamically
        return [(max(band, 1), self.size), (1, max(band, 1))]


def parse_port_range(text: str) -> tuple[int, int]:
    """``--service-node-port-range`` ("30000-32767", or one port); inclusive."""
    base, sep, last = text.strip().partition("-")
    try:
        lo = int(base)
        hi = int(last) if sep else lo
    except ValueError:
        raise ValueError(f"invalid node port range {text!r}: expected FIRST-LAST") from None
    if not (0 < lo <= hi <= 65535):
        raise ValueError(f"invalid node port range {text!r}: expected 1 <= FIRST <= LAST <= 65535")
    return lo, hi


class PortAllocator(KeyAllocator[int]):
    """Node ports of one inclusive range. One port number serves every
    protocol, as upstream."""

    NOUN = "port"

    def __init__(self, backend: Backend, first: int, last: int) -> None:
        self.first = first
        self.last = last
        super().__init__(backend, NODE_PORT_PREFIX, last - first + 1)

    @property
    def range_text(self) -> str:
        return f"{self.first}-{self.last}"

    def offset(self, value: int) -> int | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        off = value - self.first
        return off if 0 <= off < self.size else None

    def value(self, offset: int) -> int:
        return self.first + offset

    def parse(self, text: str) -> int:
        return int(text)

    def not_in_range(self, value: int) -> NotInRange:
        return NotInRange(
            "provided port is not in the valid range. "
            f"The range of valid ports is {self.range_text}"
        )

    def dynamic_bands(self) -> list[tuple[int, int]]:
        band = _static_band(self.size, 16, 128, 32)
        return [(band, self.size), (0, band)]
