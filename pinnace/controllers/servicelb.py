"""ServiceLB: a built-in load balancer for ``type: LoadBalancer`` Services
(k3s's idea, written anew): every node is the load balancer.

For a Service of type LoadBalancer without ``spec.loadBalancerClass`` (a
class means another implementation is responsible), the controller sets
``status.loadBalancer.ingress`` to one entry per Ready, schedulable node —
its ExternalIP when it has one, else its InternalIP — with ``ipMode: VIP``,
sorted by address. kube-proxy then accepts traffic for those addresses on the
Service's ports (and the node ports keep working as for any NodePort
Service). When the type changes away from LoadBalancer, the API server's
Service strategy clears the status (as upstream). No pods are run: unlike k3s's klipper-lb, the
forwarding is kube-proxy's job.

Concurrency model: the shared controller base — Service and Node informers,
a work queue of Service keys, level-triggered ``reconcile``. A node event
queues every LoadBalancer Service (the ingress list depends on all nodes).
Status is written through the ``services/status`` subresource with a merge
patch of ``status.loadBalancer`` only, so concurrent writers of other status
fields are not overwritten.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pinnace.client import NotFound, Obj, ResourceRef, split_key
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue

__all__ = ["NODES", "SERVICES", "ServiceLBController", "desired_ingress", "node_address"]

SERVICES = ResourceRef("", "v1", "services", True, "Service")
NODES = ResourceRef("", "v1", "nodes", False, "Node")
FIELD_MANAGER = "servicelb-controller"


def is_ours(svc: Obj) -> bool:
    spec = svc.get("spec") or {}
    return spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass")


def _ready(node: Obj) -> bool:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


def node_address(node: Obj) -> str | None:
    """The node's ExternalIP, else its InternalIP."""
    addrs = (node.get("status") or {}).get("addresses") or []
    for kind in ("ExternalIP", "InternalIP"):
        for a in addrs:
            if a.get("type") == kind and a.get("address"):
                return str(a["address"])
    return None


def _sort_key(addr: str) -> tuple[int, int, str]:
    try:
        ip = ipaddress.ip_address(addr)
        return (ip.version, int(ip), "")
    except ValueError:
        return (9, 0, addr)


def desired_ingress(svc: Obj, nodes: list[Obj]) -> list[Obj]:
    """The ``status.loadBalancer.ingress`` ServiceLB gives ``svc``."""
    if not is_ours(svc):
        return []
    addrs: set[str] = set()
    for n in nodes:
        if (n.get("spec") or {}).get("unschedulable") or not _ready(n):
            continue
        addr = node_address(n)
        if addr:
            addrs.add(addr)
    return [{"ip": a, "ipMode": "VIP"} for a in sorted(addrs, key=_sort_key)]


class ServiceLBController(Controller):
    NAME = "servicelb"
    EVENT_COMPONENT = "servicelb-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.services = self.informer(SERVICES)
        self.nodes = self.informer(NODES)
        self.services.add_event_handler(
            on_add=self.enqueue,
            on_update=self._service_updated,
            on_delete=lambda _svc: None,
        )
        self.nodes.add_event_handler(
            on_add=self._node_changed,
            on_update=self._node_updated,
            on_delete=self._node_changed,
        )

    def _service_updated(self, old: Obj, new: Obj) -> None:
        if is_ours(new):
            self.enqueue(new)

    def _node_changed(self, _node: Any) -> None:
        for svc in self.services.list():
            if is_ours(svc):
                self.enqueue(svc)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        def view(n: Obj) -> tuple[Any, ...]:
            return (
                _ready(n),
                bool((n.get("spec") or {}).get("unschedulable")),
                node_address(n),
            )

        if view(old) != view(new):
            self._node_changed(new)

    async def reconcile(self, key: str) -> Requeue | None:
        namespace, name = split_key(key)
        svc = self.services.get(key)
        # not ours (any more): a type change clears the status in the API
        # server; a class names another implementation, whose status we leave
        if svc is None or not is_ours(svc):
            return None
        want = desired_ingress(svc, self.nodes.list())
        if _ingress(svc) == want:
            return None
        self.log.log(DETAIL, "service %s: load balancer ingress %s", key, [i["ip"] for i in want])
        patch = {"status": {"loadBalancer": {"ingress": want or None}}}
        try:
            await self.client.patch_status(
                SERVICES, name, patch, namespace=namespace, field_manager=FIELD_MANAGER
            )
        except NotFound:
            return None
        return None


def _ingress(svc: Obj) -> list[Obj]:
    lb = (svc.get("status") or {}).get("loadBalancer") or {}
    return [dict(i) for i in lb.get("ingress") or []]
