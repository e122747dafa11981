"""The node IPAM controller: a ``podCIDR`` per node, cut from the cluster CIDR.

Upstream's ``pkg/controller/nodeipam`` with the ``RangeAllocator``: the cluster
CIDR (default ``10.244.0.0/16``, as flannel and the simulated nodes use) is cut
into per-node subnets (``/24``); a Node without ``spec.podCIDR`` gets the
lowest free one as ``spec.podCIDR`` and ``spec.podCIDRs``. A node that already
has one keeps it (the API server makes it immutable) and its subnet counts as
taken — so the simulated nodes, which bring their own, are never fought. When
the range is used up the node gets a ``CIDRNotAvailable`` event and is tried
again later.

:class:`CIDRSet` is the pure part (unit-tested): which subnets are taken, the
next free one.

Concurrency model: the base's work queue keyed by node name, one worker (as
upstream's allocator, so two nodes never get the same subnet). Taken subnets
are recomputed from the node cache at every allocation, plus the ones this
controller handed out that the cache has not shown yet; the patch carries the
node's resourceVersion, so a node changed meanwhile is looked at again.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import ClassVar

from pinnace.client import WARNING, Conflict, NotFound, Obj, ResourceRef
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue

__all__ = ["DEFAULT_CLUSTER_CIDR", "NODES", "CIDRSet", "CIDRSetFull", "NodeIpamController"]

NODES = ResourceRef("", "v1", "nodes", False, "Node")
DEFAULT_CLUSTER_CIDR = "10.244.0.0/16"
DEFAULT_NODE_MASK_SIZE = 24


class CIDRSetFull(Exception):
    """No subnet of the cluster CIDR is free."""


class CIDRSet:
    """The per-node subnets of one cluster CIDR and which of them are taken."""

    def __init__(self, cluster_cidr: str, mask_size: int) -> None:
        self.network = ipaddress.IPv4Network(cluster_cidr, strict=False)
        if not self.network.prefixlen <= mask_size <= 32:
            raise ValueError(
                f"node CIDR mask /{mask_size} does not fit in cluster CIDR {cluster_cidr}"
            )
        self.mask_size = mask_size
        self.size = 1 << (mask_size - self.network.prefixlen)
        self._step = 1 << (32 - mask_size)
        self._base = int(self.network.network_address)
        self.used: set[int] = set()

    def _index(self, cidr: str) -> int | None:
        try:
            net = ipaddress.IPv4Network(cidr, strict=False)
        except ValueError:
            return None
        if net.prefixlen != self.mask_size or not net.subnet_of(self.network):
            return None
        return (int(net.network_address) - self._base) // self._step

    def occupy(self, cidr: str) -> bool:
        """Mark ``cidr`` taken; False when it is not one of our subnets."""
        i = self._index(cidr)
        if i is None:
            return False
        self.used.add(i)
        return True

    def release(self, cidr: str) -> None:
        i = self._index(cidr)
        if i is not None:
            self.used.discard(i)

    def allocate(self) -> str:
        """The lowest free subnet, now taken (raises :class:`CIDRSetFull`)."""
        for i in range(self.size):
            if i not in self.used:
                self.used.add(i)
                addr = ipaddress.IPv4Address(self._base + i * self._step)
                return f"{addr}/{self.mask_size}"
        raise CIDRSetFull(f"no free /{self.mask_size} left in {self.network}")


def node_cidrs(node: Obj) -> list[str]:
    spec = node.get("spec") or {}
    cidrs = [str(c) for c in spec.get("podCIDRs") or [] if c]
    if not cidrs and spec.get("podCIDR"):
        cidrs = [str(spec["podCIDR"])]
    return cidrs


class NodeIpamController(Controller):
    NAME = "node-ipam"
    EVENT_COMPONENT = "cidrAllocator"
    WORKERS = 1
    CLUSTER_CIDR: ClassVar[str] = DEFAULT_CLUSTER_CIDR
    NODE_MASK_SIZE: ClassVar[int] = DEFAULT_NODE_MASK_SIZE
    #: how long to wait before trying a node again when the range is full
    FULL_RETRY: ClassVar[float] = 30.0

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.nodes = self.informer(NODES)
        self.nodes.add_event_handler(
            on_add=self._on_node, on_update=lambda _old, new: self._on_node(new)
        )
        #: subnets handed out and not yet seen in the cache (node name -> cidr)
        self._assigned: dict[str, str] = {}

    def _on_node(self, node: Obj) -> None:
        if not node_cidrs(node):
            self.queue.add(str(node["metadata"]["name"]))

    def _taken(self, nodes: Iterable[Obj]) -> CIDRSet:
        cidrs = CIDRSet(self.CLUSTER_CIDR, self.NODE_MASK_SIZE)
        seen: set[str] = set()
        for n in nodes:
            name = str(n["metadata"]["name"])
            seen.add(name)
            for c in node_cidrs(n):
                cidrs.occupy(c)
        for name, c in list(self._assigned.items()):
            if name not in seen:
                del self._assigned[name]  # the node is gone
            else:
                cidrs.occupy(c)
        return cidrs

    async def reconcile(self, key: str) -> Requeue | None:
        node = self.nodes.get(key)
        if node is None:
            self._assigned.pop(key, None)
            return None
        if node_cidrs(node):
            self._assigned.pop(key, None)
            return None
        if key in self._assigned:
            return Requeue(after=1.0)  # patched already: wait for the cache to show it
        cidrs = self._taken(self.nodes.list())
        try:
            cidr = cidrs.allocate()
        except CIDRSetFull:
            self.recorder.eventf(
                node, WARNING, "CIDRNotAvailable", "Node %s status is now: CIDRNotAvailable", key,
                kind="Node", api_version="v1",
            )  # fmt: skip
            return Requeue(after=self.FULL_RETRY)
        patch = {
            "metadata": {"resourceVersion": node["metadata"].get("resourceVersion")},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        }
        try:
            await self.client.patch(NODES, key, patch)
        except NotFound:
            return None
        except Conflict:
            return Requeue(after=0.1)  # changed meanwhile: look again from the cache
        self._assigned[key] = cidr
        self.log.log(DETAIL, "node-ipam: node %s gets podCIDR %s", key, cidr)
        return None
