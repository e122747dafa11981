"""The EndpointSlice controller: the scalable form of a Service's endpoints.

Upstream's ``pkg/controller/endpointslice`` (and its ``reconciler``). For a
Service with a selector (not ExternalName), the slices labelled
``kubernetes.io/service-name: <svc>`` and
``endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io``
(owned by the Service, ``addressType: IPv4``, ``generateName: <svc>-``) hold
one endpoint per selected pod with an IPv4 address that has not finished:

* ``conditions``: ``serving`` = the pod is Ready, ``terminating`` = it is being
  deleted, ``ready`` = serving and not terminating (always true with
  ``publishNotReadyAddresses``);
* ``targetRef`` (the pod), ``nodeName``, ``zone`` (the node's
  ``topology.kubernetes.io/zone``), ``hostname`` when the pod's subdomain is
  the Service's name;
* ports are resolved per pod (named ``targetPort`` through the pod's container
  ports, :func:`~pinnace.controllers.endpoints.find_port`): pods with the same
  resolved ports share slices, so a Service whose pods name a port differently
  gets one set of slices per port mapping;
* at most :data:`MAX_ENDPOINTS_PER_SLICE` (100, upstream's
  ``--max-endpoints-per-slice``) endpoints per slice.

Reconciling keeps endpoints where they are when they did not change, updates
changed ones in place, fills slices that have room before creating new ones
and deletes slices left empty — so a pod becoming ready rewrites one slice,
not all of them (:func:`plan_slices` is the pure part, unit-tested). Like
upstream, a Service with no endpoints keeps one empty placeholder slice
(``PLACEHOLDER``). Slices of a
Service that lost its selector or went away are deleted (the garbage collector
would remove the latter too, through the owner reference).

Concurrency model: the base's work queue keyed by the Service's
``namespace/name``. Pod, node-zone and slice events enqueue the Services they
concern. Because a slice this controller just wrote may not be in its cache
yet, every write is remembered (:class:`SliceTracker`, upstream's
``EndpointSliceTracker``) and a Service whose slices the cache has not caught
up with is looked at again shortly instead of acting on stale data (which
would create duplicate slices).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pinnace.client import (
    PODS,
    WARNING,
    ApiError,
    Conflict,
    NotFound,
    Obj,
    ResourceRef,
    key_of,
)
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue
from pinnace.controllers.controller_utils import is_pod_ready, new_controller_ref
from pinnace.controllers.endpoints import (
    HEADLESS,
    SERVICES,
    endpoint_port,
    find_port,
    pod_ip,
    service_selector,
    should_pod_be_in_endpoints,
    should_set_hostname,
    target_ref,
)

__all__ = [
    "CONTROLLER_NAME",
    "ENDPOINTSLICES",
    "MANAGED_BY",
    "MAX_ENDPOINTS_PER_SLICE",
    "SERVICE_NAME",
    "EndpointSliceController",
    "SlicePlan",
    "desired_endpoints",
    "plan_slices",
]

ENDPOINTSLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices", True, "EndpointSlice")
NODES = ResourceRef("", "v1", "nodes", False, "Node")
SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
ZONE = "topology.kubernetes.io/zone"
#: upstream ``--max-endpoints-per-slice`` default
MAX_ENDPOINTS_PER_SLICE = 100
SERVICE_INDEX = "endpointslice/service"


def slice_service_index(obj: Obj) -> list[str]:
    m = obj.get("metadata") or {}
    svc = (m.get("labels") or {}).get(SERVICE_NAME)
    return [f"{m.get('namespace', '')}/{svc}"] if svc else []


def _freeze(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)


def _ep_key(ep: Obj) -> str:
    ref = ep.get("targetRef") or {}
    return f"{(ep.get('addresses') or [''])[0]}/{ref.get('uid', '')}"


# --- desired state (pure) -------------------------------------------------------------


def desired_endpoints(
    svc: Obj, pods: Iterable[Obj], zones: dict[str, str] | None = None
) -> dict[str, tuple[list[Obj], list[Obj]]]:
    """The endpoints of ``svc`` grouped by their resolved ports: ``{ports key: (ports,
    endpoints)}``. ``zones`` maps node names to their zone."""
    spec = svc.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    svc_ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    zones = zones or {}
    out: dict[str, tuple[list[Obj], list[Obj]]] = {}
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, include_terminating=True):
            continue
        ports = []
        for sp in svc_ports:
            port = find_port(pod, sp)
            if port is not None:
                # a slice port always has a name ("" when the Service's has none), as the
                # API server defaults it: the stored slice must compare equal to this
                ports.append({"name": "", **endpoint_port(sp, port)})
        serving = is_pod_ready(pod)
        terminating = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
        ep: Obj = {
            "addresses": [pod_ip(pod)],
            "conditions": {
                "ready": publish or (serving and not terminating),
                "serving": serving,
                "terminating": terminating,
            },
            "targetRef": target_ref(pod),
        }
        pspec = pod.get("spec") or {}
        node = pspec.get("nodeName")
        if node:
            ep["nodeName"] = node
            if zones.get(node):
                ep["zone"] = zones[node]
        if should_set_hostname(pod, svc):
            ep["hostname"] = pspec["hostname"]
        pkey = _freeze(ports)
        out.setdefault(pkey, (ports, []))[1].append(ep)
    return out


@dataclass
class SlicePlan:
    """What to write: slices to create (bodies without names), to update (whole
    objects) and to delete (names)."""

    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.create or self.update or self.delete)


def _is_placeholder(s: Obj) -> bool:
    return not (s.get("endpoints") or []) and not (s.get("ports") or [])


def plan_slices(
    desired: dict[str, tuple[list[Obj], list[Obj]]],
    existing: list[Obj],
    labels: dict[str, str],
    new_slice: Any,
    max_per_slice: int = MAX_ENDPOINTS_PER_SLICE,
    *,
    placeholder: bool = True,
) -> SlicePlan:
    """Upstream's reconciler, simplified: keep unchanged endpoints in place, update
    changed ones where they are, fill slices that have room, create new slices for
    the rest, delete slices left empty; with ``placeholder``, keep one empty slice
    when nothing is left. ``new_slice(ports)`` builds the body of a new slice."""
    plan = SlicePlan()
    by_ports: dict[str, list[Obj]] = {}
    for s in existing:
        by_ports.setdefault(_freeze(s.get("ports") or []), []).append(s)
    total = sum(len(eps) for _, eps in desired.values())
    kept: list[Obj] = []
    for pkey, slices in by_ports.items():
        want = desired.get(pkey)
        if want is None:
            plan.delete.extend(str(s["metadata"]["name"]) for s in slices)
            continue
        wanted = {_ep_key(ep): ep for ep in want[1]}
        placed: set[str] = set()
        touched: list[tuple[Obj, bool]] = []
        for s in slices:
            eps: list[Obj] = []
            changed = False
            for ep in s.get("endpoints") or []:
                k = _ep_key(ep)
                if k in wanted and k not in placed:
                    placed.add(k)
                    if wanted[k] != ep:
                        changed = True
                    eps.append(wanted[k])
                else:
                    changed = True
            new = copy.deepcopy(s)
            new["endpoints"] = eps
            if (s["metadata"].get("labels") or {}) != labels:
                new["metadata"]["labels"] = dict(labels)
                changed = True
            touched.append((new, changed))
        missing = [ep for k, ep in wanted.items() if k not in placed]
        # fill slices being written anyway first, then the others
        for new, changed in sorted(touched, key=lambda t: not t[1]):
            room = max_per_slice - len(new["endpoints"])
            if missing and room > 0:
                new["endpoints"].extend(missing[:room])
                missing = missing[room:]
                changed = True
            if not new["endpoints"]:
                plan.delete.append(str(new["metadata"]["name"]))
            elif changed:
                plan.update.append(new)
                kept.append(new)
            else:
                kept.append(new)
        while missing:
            body = new_slice(want[0])
            body["endpoints"] = missing[:max_per_slice]
            missing = missing[max_per_slice:]
            plan.create.append(body)
    for pkey, (ports, eps) in desired.items():
        if pkey in by_ports or not eps:
            continue
        for i in range(0, len(eps), max_per_slice):
            body = new_slice(ports)
            body["endpoints"] = eps[i : i + max_per_slice]
            plan.create.append(body)
    if total == 0 and placeholder:
        # nothing to serve: exactly one placeholder slice
        placeholders = [s for s in existing if _is_placeholder(s)]
        if placeholders:
            keep = placeholders[0]
            plan.delete = [n for n in plan.delete if n != keep["metadata"]["name"]]
            if (keep["metadata"].get("labels") or {}) != labels:
                new = copy.deepcopy(keep)
                new["metadata"]["labels"] = dict(labels)
                plan.update.append(new)
        else:
            body = new_slice([])
            body["endpoints"] = []
            plan.create.append(body)
    return plan


# --- tracking our own writes ----------------------------------------------------------


class SliceTracker:
    """Which slice versions this controller wrote, per Service, until its cache shows
    them (upstream ``EndpointSliceTracker``). Entries expire after ``timeout``."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        # service key -> slice name -> (resourceVersion written, or None: deleted; deadline)
        self._writes: dict[str, dict[str, tuple[int | None, float]]] = {}

    def wrote(self, svc: str, name: str, rv: Any, now: float) -> None:
        try:
            v: int | None = int(rv)
        except (TypeError, ValueError):
            return
        self._writes.setdefault(svc, {})[name] = (v, now + self.timeout)

    def deleted(self, svc: str, name: str, now: float) -> None:
        self._writes.setdefault(svc, {})[name] = (None, now + self.timeout)

    def stale(self, svc: str, cached: dict[str, Obj], now: float) -> bool:
        """True while the cache (slice name -> slice) lacks one of our writes."""
        writes = self._writes.get(svc)
        if not writes:
            return False
        for name, (rv, deadline) in list(writes.items()):
            s = cached.get(name)
            if deadline < now:
                del writes[name]
            elif rv is None:
                if s is None:
                    del writes[name]
            elif s is not None:
                try:
                    seen = int((s.get("metadata") or {}).get("resourceVersion") or 0)
                except ValueError:
                    seen = rv
                if seen >= rv:
                    del writes[name]
        if not writes:
            del self._writes[svc]
            return False
        return True

    def forget(self, svc: str) -> None:
        self._writes.pop(svc, None)


# --- the controller -------------------------------------------------------------------


class EndpointSliceController(Controller):
    NAME = "endpointslice"
    EVENT_COMPONENT = "endpoint-slice-controller"
    WORKERS = 5  # upstream --concurrent-service-endpoint-syncs
    MAX_ENDPOINTS_PER_SLICE: ClassVar[int] = MAX_ENDPOINTS_PER_SLICE
    #: upstream keeps an empty placeholder slice for a Service without endpoints; our
    #: API schema requires a non-empty ``endpoints`` list, so there is none here
    PLACEHOLDER: ClassVar[bool] = True

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.tracker = SliceTracker()
        self.services = self.informer(SERVICES)
        self.enqueue_handlers(self.services)
        self.slices = self.informer(ENDPOINTSLICES)
        self.slices.add_indexers({SERVICE_INDEX: slice_service_index})
        self.slices.add_event_handler(
            on_add=self._on_slice,
            on_update=lambda _old, new: self._on_slice(new),
            on_delete=self._on_slice,
        )
        self.pods = self.informer(PODS)
        self.pods.add_event_handler(
            on_add=self._on_pod, on_update=self._on_pod_update, on_delete=self._on_pod
        )
        self.nodes = self.informer(NODES)
        self.nodes.add_event_handler(on_update=self._on_node_update)

    # --- event handlers ------------------------------------------------------------------

    def _on_slice(self, s: Obj) -> None:
        labels = (s.get("metadata") or {}).get("labels") or {}
        if labels.get(MANAGED_BY) == CONTROLLER_NAME:
            for key in slice_service_index(s):
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
        if (old.get("metadata") or {}).get("resourceVersion") == (new.get("metadata") or {}).get(
            "resourceVersion"
        ):
            return
        keys = set(self._services_for(new))
        if (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"):
            keys.update(self._services_for(old))
        for key in keys:
            self.queue.add(key)

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        zone_old = ((old.get("metadata") or {}).get("labels") or {}).get(ZONE)
        zone_new = ((new.get("metadata") or {}).get("labels") or {}).get(ZONE)
        if zone_old == zone_new:
            return
        for svc in self.services.list():
            self.queue.add(key_of(svc))

    # --- reconcile -----------------------------------------------------------------------

    def _labels(self, svc: Obj) -> dict[str, str]:
        m = svc.get("metadata") or {}
        labels = {
            k: v for k, v in (m.get("labels") or {}).items() if k not in (SERVICE_NAME, MANAGED_BY)
        }
        labels[SERVICE_NAME] = str(m.get("name", ""))
        labels[MANAGED_BY] = CONTROLLER_NAME
        if (svc.get("spec") or {}).get("clusterIP") == "None":
            labels[HEADLESS] = ""
        else:
            labels.pop(HEADLESS, None)
        return labels

    def _new_slice(self, svc: Obj, labels: dict[str, str], ports: list[Obj]) -> Obj:
        m = svc.get("metadata") or {}
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "generateName": f"{m.get('name', '')}-",
                "namespace": m.get("namespace", ""),
                "labels": dict(labels),
                "ownerReferences": [new_controller_ref(svc, "v1", "Service")],
            },
            "addressType": "IPv4",
            "endpoints": [],
            "ports": copy.deepcopy(ports),
        }

    async def reconcile(self, key: str) -> Requeue | None:
        ns = key.partition("/")[0]
        now = self.clock.now()
        existing = [
            s
            for s in self.slices.by_index(SERVICE_INDEX, key)
            if ((s.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY) == CONTROLLER_NAME
            and s.get("addressType") == "IPv4"
        ]
        if self.tracker.stale(key, {str(s["metadata"]["name"]): s for s in existing}, now):
            return Requeue(after=0.2)
        svc = self.services.get(key)
        sel = service_selector(svc) if svc is not None else None
        if svc is None or sel is None:
            # gone, selector-less or ExternalName: no managed slices
            for s in existing:
                await self._delete(key, s)
            if svc is None:
                self.tracker.forget(key)
            return None
        pods = [
            p
            for p in self.pods.by_index("namespace", ns)
            if sel.matches((p.get("metadata") or {}).get("labels") or {})
        ]
        zones: dict[str, str] = {}
        for p in pods:
            node_name = (p.get("spec") or {}).get("nodeName")
            if node_name and node_name not in zones:
                node = self.nodes.get(str(node_name))
                zones[node_name] = ((node or {}).get("metadata", {}).get("labels") or {}).get(
                    ZONE, ""
                )
        labels = self._labels(svc)
        plan = plan_slices(
            desired_endpoints(svc, pods, zones),
            existing,
            labels,
            lambda ports: self._new_slice(svc, labels, ports),
            self.MAX_ENDPOINTS_PER_SLICE,
            placeholder=self.PLACEHOLDER,
        )
        if plan.empty():
            return None
        try:
            for body in plan.create:
                created = await self.client.create(ENDPOINTSLICES, body, namespace=ns)
                cm = created.get("metadata") or {}
                self.tracker.wrote(key, str(cm.get("name")), cm.get("resourceVersion"), now)
            for s in plan.update:
                updated = await self.client.replace(ENDPOINTSLICES, s)
                um = updated.get("metadata") or {}
                self.tracker.wrote(key, str(um.get("name")), um.get("resourceVersion"), now)
            for slice_name in plan.delete:
                await self._delete(key, {"metadata": {"name": slice_name, "namespace": ns}})
        except (Conflict, NotFound):
            return Requeue(after=0.2)  # the cache was behind: look again
        except ApiError as e:
            if e.code == 403:
                return None  # the namespace is terminating
            self.recorder.eventf(
                svc, WARNING, "FailedToUpdateEndpointSlices",
                "Error updating Endpoint Slices for Service %s: %s", key, e.message,
                kind="Service", api_version="v1",
            )  # fmt: skip
            raise
        self.log.log(
            DETAIL,
            "endpointslice: service %s: %d created, %d updated, %d deleted",
            key,
            len(plan.create),
            len(plan.update),
            len(plan.delete),
        )
        return None

    async def _delete(self, svc_key: str, s: Obj) -> None:
        m = s["metadata"]
        try:
            await self.client.delete(ENDPOINTSLICES, str(m["name"]), namespace=str(m["namespace"]))
        except NotFound:
            pass
        self.tracker.deleted(svc_key, str(m["name"]), self.clock.now())
