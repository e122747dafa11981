"""Addresses for simulated nodes and their pods.

Nothing ever connects to these addresses: simulated nodes run nothing, and
pinnace's own components never send traffic to a simulated node or pod. Still,
they are chosen so that a stray packet would not reach anybody:

* node ``InternalIP``\\ s come from ``198.18.0.0/15`` (RFC 2544, reserved for
  benchmarking network devices, never routed on the Internet; 131,070
  addresses);
* each node gets one ``/24`` pod CIDR from the cluster CIDR, by default
  ``10.128.0.0/9`` (32,768 nodes' worth), like the node IPAM controller does;
  pod IPs come from the node's CIDR. A cluster mixing real and simulated nodes
  should give the sim a cluster CIDR that its real nodes blackhole.

:class:`SubnetPool` hands out the cluster CIDR's subnets and :class:`AddressPool`
the node addresses, both skipping what other nodes already use.
:class:`PodIPPool` is one node's pod addresses: a bitmask over the subnet,
allocated round-robin (like CNI host-local, so that a freed address is not
reused at once), skipping the network address, the gateway (``.1``) and the
broadcast address. Everything is small ints; a pool costs a few dozen bytes.
"""

from __future__ import annotations

import ipaddress

__all__ = [
    "DEFAULT_CLUSTER_CIDR",
    "DEFAULT_NODE_CIDR",
    "AddressPool",
    "PodIPPool",
    "PoolExhausted",
    "SubnetPool",
]

DEFAULT_CLUSTER_CIDR = "10.128.0.0/9"
DEFAULT_NODE_CIDR = "198.18.0.0/15"


class PoolExhausted(RuntimeError):
    """No address (or subnet) is left."""


class SubnetPool:
    """The ``/prefix`` subnets of a cluster CIDR, handed out in order."""

    def __init__(self, cidr: str = DEFAULT_CLUSTER_CIDR, prefix: int = 24) -> None:
        try:
            self.network = ipaddress.IPv4Network(cidr)
        except ValueError as e:
            raise ValueError(f"cluster CIDR {cidr!r} is not an IPv4 network: {e}") from None
        if not self.network.prefixlen <= prefix <= 30:
            raise ValueError(f"node subnet /{prefix} does not fit in {cidr}")
        self.prefix = prefix
        self._base = int(self.network.network_address)
        self._step = 1 << (32 - prefix)
        self._size = 1 << (prefix - self.network.prefixlen)
        self._used: set[int] = set()
        self._next = 0

    def reserve(self, cidr: str) -> bool:
        """Mark a subnet taken (a node already has it); False if not one of ours."""
        try:
            net = ipaddress.IPv4Network(cidr)
        except ValueError:
            return False
        if net.prefixlen != self.prefix or not net.subnet_of(self.network):
            return False
        self._used.add((int(net.network_address) - self._base) // self._step)
        return True

    def allocate(self) -> str:
        for _ in range(self._size):
            i = self._next
            self._next = (self._next + 1) % self._size
            if i not in self._used:
                self._used.add(i)
                addr = ipaddress.IPv4Address(self._base + i * self._step)
                return f"{addr}/{self.prefix}"
        raise PoolExhausted(f"no /{self.prefix} left in {self.network}")


class AddressPool:
    """Single host addresses from a CIDR (node InternalIPs)."""

    def __init__(self, cidr: str = DEFAULT_NODE_CIDR) -> None:
        self.network = ipaddress.IPv4Network(cidr)
        self._first = int(self.network.network_address) + 1
        self._last = int(self.network.broadcast_address) - 1
        self._used: set[int] = set()
        self._next = self._first

    def reserve(self, address: str) -> bool:
        try:
            a = int(ipaddress.IPv4Address(address))
        except ValueError:
            return False
        if not self._first <= a <= self._last:
            return False
        self._used.add(a)
        return True

    def allocate(self) -> str:
        for _ in range(self._last - self._first + 1):
            a = self._next
            self._next = a + 1 if a < self._last else self._first
            if a not in self._used:
                self._used.add(a)
                return str(ipaddress.IPv4Address(a))
        raise PoolExhausted(f"no address left in {self.network}")


class PodIPPool:
    """One node's pod addresses (see the module docstring)."""

    __slots__ = ("_base", "_cursor", "_size", "_used")

    def __init__(self, cidr: str) -> None:
        net = ipaddress.IPv4Network(cidr)
        self._base = int(net.network_address)
        self._size = net.num_addresses
        # network address, gateway and broadcast are never handed out
        self._used = 1 | 2 | (1 << (self._size - 1))
        self._cursor = 2

    def allocate(self) -> str:
        for _ in range(self._size):
            i = self._cursor
            self._cursor = i + 1 if i + 1 < self._size else 0
            if not self._used >> i & 1:
                self._used |= 1 << i
                return str(ipaddress.IPv4Address(self._base + i))
        raise PoolExhausted(f"no pod IP left in {self.cidr}")

    def reserve(self, address: str) -> bool:
        """Mark an address in use (a pod already has it); False if not in this pool."""
        i = self._offset(address)
        if i is None:
            return False
        self._used |= 1 << i
        return True

    def release(self, address: str) -> None:
        i = self._offset(address)
        if i is not None and 2 <= i < self._size - 1:
            self._used &= ~(1 << i)

    def in_use(self) -> int:
        return bin(self._used).count("1") - 3

    @property
    def cidr(self) -> str:
        prefix = 32 - (self._size.bit_length() - 1)
        return f"{ipaddress.IPv4Address(self._base)}/{prefix}"

    def _offset(self, address: str) -> int | None:
        try:
            i = int(ipaddress.IPv4Address(address)) - self._base
        except ValueError:
            return None
        return i if 0 <= i < self._size else None
