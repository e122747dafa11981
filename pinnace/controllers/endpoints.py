"""The endpoints controller: an ``Endpoints`` object per Service with a selector.

Upstream's ``pkg/controller/endpoint``. For a Service with a non-empty
``spec.selector`` (and not ``type: ExternalName``), the Endpoints object of the
same name lists the IPs of the selected pods:

* pods without an IP, finished pods (``Succeeded``/``Failed``) and — unless
  ``publishNotReadyAddresses`` — pods being deleted are left out;
* a Ready pod (or any pod with ``publishNotReadyAddresses``) is in
  ``addresses``, the others in ``notReadyAddresses``; each address carries
  ``nodeName``, a ``targetRef`` to the pod and the pod's ``hostname`` when its
  ``subdomain`` is the Service's name;
* every Service port is resolved per pod (:func:`find_port`): a numeric
  ``targetPort`` as is, a named one through the pod's container ports of that
  name and protocol (pods lacking it are left out of that port);
* the (address, port) pairs are packed into subsets as upstream's
  ``RepackSubsets`` does: addresses offering the same ports share a subset;
* labels: the Service's, plus ``endpointslice.kubernetes.io/skip-mirror:
  "true"`` and ``service.kubernetes.io/headless`` for headless Services; more
  than :data:`MAX_CAPACITY` addresses are truncated with the
  ``endpoints.kubernetes.io/over-capacity: truncated`` annotation.

The object is written only when subsets, labels or that annotation change.
When the Service goes away its Endpoints are deleted. Failed writes record
``FailedToCreateEndpoint``/``FailedToUpdateEndpoint`` events on the Service.

The pod helpers here (:func:`find_port`, :func:`should_pod_be_in_endpoints`,
:func:`should_set_hostname`, :func:`service_selector`) are shared with the
EndpointSlice controller.

Concurrency model: the base's work queue keyed by the Service's
``namespace/name``; pod events enqueue the Services (in the pod's namespace)
whose selector matches the pod's old or new labels. Reconcile reads the
caches; writes carry the cached resourceVersion, so a stale cache costs one
Conflict and a retry, never a lost update.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any

from pinnace.api.selectors import LabelSelector, SelectorError, label_selector_from_dict
from pinnace.client import (
    PODS,
    WARNING,
    AlreadyExists,
    ApiError,
    Conflict,
    NotFound,
    Obj,
    key_of,
)
from pinnace.client.objects import ENDPOINTS, SERVICES
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue
from pinnace.controllers.controller_utils import is_pod_ready

__all__ = [
    "ENDPOINTS",
    "SERVICES",
    "EndpointsController",
    "desired_subsets",
    "find_port",
    "repack_subsets",
    "service_selector",
    "should_pod_be_in_endpoints",
    "should_set_hostname",
]


#: upstream ``maxCapacity``: addresses beyond it are dropped
MAX_CAPACITY = 1000
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
HEADLESS = "service.kubernetes.io/headless"


# --- pod and service helpers (shared with the EndpointSlice controller) ---------------


def service_selector(svc: Obj) -> LabelSelector | None:
    """The Service's selector; None when it has none (its endpoints are not ours),
    it is an ExternalName Service, or the selector does not parse."""
    spec = svc.get("spec") or {}
    sel = spec.get("selector")
    if not sel or not isinstance(sel, dict) or spec.get("type") == "ExternalName":
        return None
    try:
        return label_selector_from_dict({"matchLabels": sel})
    except SelectorError:
        return None


def pod_ip(pod: Obj) -> str:
    """The pod's IPv4 address ("" when it has none)."""
    st = pod.get("status") or {}
    ips = [str(p.get("ip")) for p in st.get("podIPs") or [] if isinstance(p, dict) and p.get("ip")]
    if st.get("podIP"):
        ips.insert(0, str(st["podIP"]))
    for ip in ips:
        if ":" not in ip:
            return ip
    return ""


def should_pod_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """upstream ``ShouldPodBeInEndpoints``."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    if not pod_ip(pod):
        return False
    return include_terminating or not (pod.get("metadata") or {}).get("deletionTimestamp")


def should_set_hostname(pod: Obj, svc: Obj) -> bool:
    spec = pod.get("spec") or {}
    return (
        bool(spec.get("hostname"))
        and spec.get("subdomain") == (svc.get("metadata") or {}).get("name")
        and (svc.get("metadata") or {}).get("namespace")
        == (pod.get("metadata") or {}).get("namespace")
    )


def find_port(pod: Obj, svc_port: Obj) -> int | None:
    """upstream ``podutil.FindPort``: the pod's port for a Service port (None: none)."""
    target = svc_port.get("targetPort")
    if target is None or target == "" or target == 0:
        target = svc_port.get("port")
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = svc_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    for c in [*(spec.get("containers") or []), *sidecars]:
        for p in c.get("ports") or []:
            if p.get("name") == target and (p.get("protocol") or "TCP") == protocol:
                port = p.get("containerPort")
                return port if isinstance(port, int) else None
    return None


def target_ref(pod: Obj) -> Obj:
    m = pod.get("metadata") or {}
    return {
        "kind": "Pod",
        "namespace": m.get("namespace", ""),
        "name": m.get("name", ""),
        "uid": m.get("uid", ""),
    }


def endpoint_port(svc_port: Obj, port: int) -> Obj:
    out: Obj = {"port": port, "protocol": svc_port.get("protocol") or "TCP"}
    if svc_port.get("name"):
        out["name"] = svc_port["name"]
    if svc_port.get("appProtocol"):
        out["appProtocol"] = svc_port["appProtocol"]
    return out


# --- subsets --------------------------------------------------------------------------


def _address(pod: Obj, svc: Obj) -> Obj:
    addr: Obj = {"ip": pod_ip(pod)}
    spec = pod.get("spec") or {}
    if should_set_hostname(pod, svc):
        addr["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        addr["nodeName"] = spec["nodeName"]
    addr["targetRef"] = target_ref(pod)
    return addr


def _freeze(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)


def repack_subsets(entries: Iterable[tuple[Obj, Obj | None, bool]]) -> list[Obj]:
    """upstream ``RepackSubsets``: ``(address, port or None, ready)`` triples → subsets
    where addresses offering the same set of ports share one. An address ready for
    a port in one entry stays ready for it. Sorted: addresses by IP, ports by name
    and number, subsets by their first address."""
    addrs: dict[str, Obj] = {}
    # port (frozen; "" for "no ports") -> address key -> ready
    by_port: dict[str, dict[str, bool]] = {}
    ports: dict[str, Obj] = {}
    for addr, port, ready in entries:
        akey = f"{addr.get('ip')}/{(addr.get('targetRef') or {}).get('uid', '')}"
        addrs.setdefault(akey, addr)
        pkey = _freeze(port) if port is not None else ""
        if port is not None:
            ports[pkey] = port
        ready_map = by_port.setdefault(pkey, {})
        ready_map[akey] = ready_map.get(akey, False) or ready
    # group ports by the exact (address, readiness) set that offers them
    groups: dict[str, tuple[dict[str, bool], list[Obj]]] = {}
    for pkey, ready_map in by_port.items():
        gkey = _freeze(ready_map)
        group = groups.setdefault(gkey, (ready_map, []))
        if pkey:
            group[1].append(ports[pkey])
    subsets: list[Obj] = []
    for ready_map, group_ports in groups.values():
        ready_addrs = sorted((addrs[a] for a, r in ready_map.items() if r), key=_addr_sort)
        not_ready_addrs = sorted((addrs[a] for a, r in ready_map.items() if not r), key=_addr_sort)
        subset: Obj = {}
        if ready_addrs:
            subset["addresses"] = ready_addrs
        if not_ready_addrs:
            subset["notReadyAddresses"] = not_ready_addrs
        if group_ports:
            subset["ports"] = sorted(
                group_ports, key=lambda p: (p.get("name", ""), p["port"], p["protocol"])
            )
        subsets.append(subset)
    subsets.sort(key=_subset_sort)
    return subsets


def _ip_key(ip: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in ip.split("."))
    except ValueError:
        return (1 << 16,)


def _addr_sort(a: Obj) -> tuple[tuple[int, ...], str]:
    return _ip_key(str(a.get("ip", ""))), str((a.get("targetRef") or {}).get("uid", ""))


def _subset_sort(s: Obj) -> tuple[Any, ...]:
    first = (s.get("addresses") or s.get("notReadyAddresses") or [{}])[0]
    return _addr_sort(first), _freeze(s.get("ports") or [])


def desired_subsets(svc: Obj, pods: Iterable[Obj]) -> list[Obj]:
    """The subsets the Endpoints of ``svc`` should have, given its selected pods."""
    spec = svc.get("spec") or {}
    tolerate_unready = bool(spec.get("publishNotReadyAddresses"))
    svc_ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    entries: list[tuple[Obj, Obj | None, bool]] = []
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, tolerate_unready):
            continue
        addr = _address(pod, svc)
        ready = tolerate_unready or is_pod_ready(pod)
        if not svc_ports:
            # headless without ports: addresses only
            entries.append((addr, None, ready))
            continue
        for sp in svc_ports:
            port = find_port(pod, sp)
            if port is None:
                continue
            entries.append((addr, endpoint_port(sp, port), ready))
    return repack_subsets(entries)


def truncate(subsets: list[Obj], limit: int = MAX_CAPACITY) -> tuple[list[Obj], bool]:
    """At most ``limit`` addresses, ready ones first (upstream keeps a proportional
    share per subset; this keeps the first ones, which is as correct)."""
    total = sum(
        len(s.get("addresses") or []) + len(s.get("notReadyAddresses") or []) for s in subsets
    )
    if total <= limit:
        return subsets, False
    left = limit
    out: list[Obj] = []
    for field in ("addresses", "notReadyAddresses"):
        for s in subsets:
            take = (s.get(field) or [])[: max(0, left)]
            left -= len(take)
            if take:
                out_s = next((o for o in out if o.get("ports") == s.get("ports")), None)
                if out_s is None:
                    out_s = {k: v for k, v in s.items() if k == "ports"}
                    out.append(out_s)
                out_s[field] = take
    return out, True


# --- the controller -------------------------------------------------------------------


class EndpointsController(Controller):
    NAME = "endpoint"
    EVENT_COMPONENT = "endpoint-controller"
    WORKERS = 5  # upstream --concurrent-endpoint-syncs

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.services = self.informer(SERVICES)
        self.enqueue_handlers(self.services)
        self.endpoints = self.informer(ENDPOINTS)
        self.endpoints.add_event_handler(
            on_update=lambda _old, new: self._on_endpoints(new), on_delete=self._on_endpoints
        )
        self.pods = self.informer(PODS)
        self.pods.add_event_handler(
            on_add=self._on_pod,
            on_update=self._on_pod_update,
            on_delete=self._on_pod,
        )

    # --- event handlers ------------------------------------------------------------------

    def _on_endpoints(self, ep: Obj) -> None:
        key = key_of(ep)
        if self.services.get(key) is not None:
            self.queue.add(key)

    def _services_for(self, pod: Obj) -> list[str]:
        m = pod.get("metadata") or {}
        labels = m.get("labels") or {}
        out: list[str] = []
        for svc in self.services.by_index("namespace", str(m.get("namespace") or "")):
            sel = service_selector(svc)
            if sel is not None and sel.matches(labels):
                out.append(key_of(svc))
        return out

    def _on_pod(self, pod: Obj) -> None:
        for key in self._services_for(pod):
            self.queue.add(key)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        if old.get("metadata", {}).get("resourceVersion") == new.get("metadata", {}).get(
            "resourceVersion"
        ):
            return  # a resync: nothing changed
        keys = set(self._services_for(new))
        if (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"):
            keys.update(self._services_for(old))
        for key in keys:
            self.queue.add(key)

    # --- reconcile -----------------------------------------------------------------------

    async def reconcile(self, key: str) -> Requeue | None:
        ns, _, name = key.partition("/")
        svc = self.services.get(key)
        if svc is None:
            # the Service is gone: so are its endpoints
            try:
                await self.client.delete(ENDPOINTS, name, namespace=ns)
            except NotFound:
                pass
            return None
        sel = service_selector(svc)
        if sel is None:
            return None  # not ours: Endpoints of selector-less Services are the user's
        pods = [
            p
            for p in self.pods.by_index("namespace", ns)
            if sel.matches((p.get("metadata") or {}).get("labels") or {})
        ]
        subsets, truncated = truncate(desired_subsets(svc, pods))
        current = self.endpoints.get(key)
        labels = dict((svc.get("metadata") or {}).get("labels") or {})
        labels[SKIP_MIRROR] = "true"
        if (svc.get("spec") or {}).get("clusterIP") == "None":
            labels[HEADLESS] = ""
        else:
            labels.pop(HEADLESS, None)
        if current is not None:
            cm = current.get("metadata") or {}
            annotations = dict(cm.get("annotations") or {})
            if (
                (current.get("subsets") or []) == subsets
                and (cm.get("labels") or {}) == labels
                and (OVER_CAPACITY in annotations) == truncated
            ):
                return None
            new = copy.deepcopy(current)
            if truncated:
                annotations[OVER_CAPACITY] = "truncated"
            else:
                annotations.pop(OVER_CAPACITY, None)
            new["metadata"]["labels"] = labels
            if annotations:
                new["metadata"]["annotations"] = annotations
            else:
                new["metadata"].pop("annotations", None)
            new["subsets"] = subsets
            try:
                await self.client.replace(ENDPOINTS, new)
            except Conflict:
                return Requeue(after=0.1)  # the cache is behind: look again shortly
            except NotFound:
                return Requeue(after=0.1)
            except ApiError as e:
                self.recorder.eventf(
                    svc, WARNING, "FailedToUpdateEndpoint",
                    "Failed to update endpoint %s: %s", key, e.message,
                    kind="Service", api_version="v1",
                )  # fmt: skip
                raise
            self.log.log(DETAIL, "endpoint: updated %s", key)
            return None
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "subsets": subsets,
        }
        if truncated:
            body["metadata"]["annotations"] = {OVER_CAPACITY: "truncated"}
        try:
            await self.client.create(ENDPOINTS, body, namespace=ns)
        except AlreadyExists:
            return Requeue(after=0.1)  # the cache is behind: look again shortly
        except ApiError as e:
            if e.code == 403:
                return None  # the namespace is terminating: nothing to keep
            self.recorder.eventf(
                svc, WARNING, "FailedToCreateEndpoint",
                "Failed to create endpoint for service %s: %s", key, e.message,
                kind="Service", api_version="v1",
            )  # fmt: skip
            raise
        self.log.log(DETAIL, "endpoint: created %s", key)
        return None
