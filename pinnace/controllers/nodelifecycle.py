"""The node lifecycle controller: node health from heartbeats, taints, and the
eviction of pods from tainted nodes.

Upstream's ``pkg/controller/nodelifecycle`` plus its taint-eviction manager
(``pkg/controller/tainteviction``), in three parts:

**Health.** Every :attr:`NodeLifecycleController.monitor_period` seconds each
node is looked at. Its *probe time* moves to "now" whenever the kubelet posts a
new ``Ready`` heartbeat (``lastHeartbeatTime``) or renews its Lease in
``kube-node-lease`` (:class:`HealthTracker`). A node not probed for the grace
period (:data:`DEFAULT_GRACE_PERIOD` 40 s, or ``$PINNACE_NODE_MONITOR_GRACE_PERIOD``
seconds; 60 s for a node that never posted ``Ready``) gets its ``Ready``,
``MemoryPressure``, ``DiskPressure`` and ``PIDPressure`` conditions set to
``Unknown`` (reason ``NodeStatusUnknown``, "Kubelet stopped posting node
status."; ``NodeStatusNeverUpdated`` for conditions never posted). On the
transition away from ``Ready=True`` the node gets a ``NodeNotReady`` event and
its pods' ``Ready`` condition is set to ``False`` (upstream
``MarkPodsNotReady``), so Services stop sending them traffic.

**Taints** (:func:`desired_taints`). ``NoSchedule`` taints follow the
conditions (upstream ``TaintNodesByCondition``): ``not-ready`` (Ready=False),
``unreachable`` (Ready=Unknown), ``memory-pressure``, ``disk-pressure``,
``pid-pressure``, ``network-unavailable`` and ``unschedulable`` (for a cordoned
node). ``NoExecute`` taints ``node.kubernetes.io/not-ready`` and
``node.kubernetes.io/unreachable`` follow ``Ready`` (swapped at once when it
changes between False and Unknown, removed when it is True again) — except
that, as upstream, when every node is not ready the controller assumes it is
cut off itself and removes them all, and in a small zone (≤ 50 nodes) where
more than 2 nodes and at least 55 % are not ready it adds none. (Upstream's
0.1 node/s tainting rate limit is not modelled.) Added taints carry
``timeAdded``; every write carries the node's resourceVersion.

**Eviction** (a second work loop, keyed by pod). A pod on a node with
``NoExecute`` taints that it does not tolerate is deleted at once; one it
tolerates for ``tolerationSeconds`` (the DefaultTolerationSeconds admission
plugin gives every pod 300 s for not-ready/unreachable) is deleted that long
after the taint's ``timeAdded``; an untimed toleration keeps it. Before the
delete the pod gets the ``DisruptionTarget`` condition (reason
``DeletionByTaintManager``) and a ``TaintManagerEviction`` event "Marking for
deletion Pod ns/name"; a planned eviction whose taint went away is cancelled
("Cancelling deletion of Pod ns/name").

Concurrency model: the base's work queue keyed by node name (one worker: the
health map is per controller) fed by node events and a background loop that
re-adds every node each monitor period; the eviction queue keyed by
``namespace/name`` with several workers, fed by node taint changes and pod
events, with ``Requeue(after=...)`` for evictions that are due later. All
timers read the injectable clock.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from pinnace.client import LEASES, NORMAL, PODS, Conflict, NotFound, Obj, ResourceRef
from pinnace.client.events import format_time
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue
from pinnace.controllers.controller_utils import is_pod_ready, parse_time

__all__ = [
    "DEFAULT_GRACE_PERIOD",
    "NODES",
    "NOT_READY",
    "POD_NODE_INDEX",
    "UNREACHABLE",
    "HealthTracker",
    "NodeLifecycleController",
    "ZoneState",
    "desired_taints",
    "eviction_deadline",
    "pod_node_index",
    "tolerates",
    "zone_state",
]

NODES = ResourceRef("", "v1", "nodes", False, "Node")
NODE_LEASE_NAMESPACE = "kube-node-lease"

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
#: condition type -> status -> NoSchedule taint key (upstream nodeConditionToTaintKeyStatusMap)
CONDITION_TAINTS: Mapping[str, Mapping[str, str]] = {
    "Ready": {"False": NOT_READY, "Unknown": UNREACHABLE},
    "MemoryPressure": {"True": "node.kubernetes.io/memory-pressure"},
    "DiskPressure": {"True": "node.kubernetes.io/disk-pressure"},
    "NetworkUnavailable": {"True": "node.kubernetes.io/network-unavailable"},
    "PIDPressure": {"True": "node.kubernetes.io/pid-pressure"},
}
_NO_SCHEDULE_KEYS = frozenset(
    [UNSCHEDULABLE, *(k for m in CONDITION_TAINTS.values() for k in m.values())]
)
_NO_EXECUTE_KEYS = frozenset([NOT_READY, UNREACHABLE])
#: the conditions set to Unknown when the kubelet stops posting
UNKNOWN_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")

#: upstream ``--node-monitor-grace-period`` (as the brief of this project: 40 s)
DEFAULT_GRACE_PERIOD = 40.0
#: upstream ``--node-startup-grace-period``
STARTUP_GRACE_PERIOD = 60.0
#: upstream ``--node-monitor-period``
MONITOR_PERIOD = 5.0
GRACE_PERIOD_ENV = "PINNACE_NODE_MONITOR_GRACE_PERIOD"
#: upstream ``--unhealthy-zone-threshold`` and ``--large-cluster-size-threshold``
UNHEALTHY_ZONE_THRESHOLD = 0.55
LARGE_CLUSTER_THRESHOLD = 50

POD_NODE_INDEX = "spec.nodeName"
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"


def pod_node_index(pod: Obj) -> list[str]:
    """Index pods by ``spec.nodeName`` (unbound pods are not indexed). One module-level
    function, shared by every controller adding the index (node lifecycle, pod GC)."""
    node = (pod.get("spec") or {}).get("nodeName")
    return [str(node)] if node else []


def env_seconds(name: str, default: float) -> float:
    """A duration in seconds from the environment (``default`` when unset or bad)."""
    raw = os.environ.get(name, "").strip().removesuffix("s")
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if value > 0 else default


def condition(obj: Obj, type_: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == type_:
            return c
    return None


def ready_status(node: Obj) -> str | None:
    c = condition(node, "Ready")
    return None if c is None else str(c.get("status") or "Unknown")


# --- health ---------------------------------------------------------------------------


@dataclass
class _Health:
    probe: float
    heartbeat: Any  # the Ready condition's lastHeartbeatTime when last probed
    lease_renew: datetime | None
    has_ready: bool


class HealthTracker:
    """When each node last showed a sign of life (upstream ``nodeHealthMap``)."""

    def __init__(self) -> None:
        self._nodes: dict[str, _Health] = {}

    def observe(self, node: Obj, lease: Obj | None, now: float) -> float:
        """Update from the node's Ready heartbeat and its Lease; the probe time."""
        name = str(node["metadata"]["name"])
        ready = condition(node, "Ready")
        heartbeat = ready.get("lastHeartbeatTime") if ready is not None else None
        renew = parse_time((lease or {}).get("spec", {}).get("renewTime")) if lease else None
        h = self._nodes.get(name)
        if h is None:
            # first sight (or a restart of the controller): a full grace period from now
            h = self._nodes[name] = _Health(now, heartbeat, renew, ready is not None)
            return now
        if ready is not None and (not h.has_ready or heartbeat != h.heartbeat):
            h.probe = now
        h.heartbeat, h.has_ready = heartbeat, ready is not None
        if renew is not None and (h.lease_renew is None or renew > h.lease_renew):
            h.probe = now
            h.lease_renew = renew
        return h.probe

    def forget(self, name: str) -> None:
        self._nodes.pop(name, None)

    def names(self) -> list[str]:
        return list(self._nodes)


def mark_unknown(node: Obj, now: str) -> bool:
    """Set the kubelet-owned conditions of ``node`` (in place) to Unknown; True if
    something changed."""
    status = node.setdefault("status", {})
    conditions = status.setdefault("conditions", [])
    changed = False
    created = (node.get("metadata") or {}).get("creationTimestamp") or now
    for type_ in UNKNOWN_CONDITIONS:
        c = condition(node, type_)
        if c is None:
            conditions.append(
                {
                    "type": type_,
                    "status": "Unknown",
                    "reason": "NodeStatusNeverUpdated",
                    "message": "Kubelet never posted node status.",
                    "lastHeartbeatTime": created,
                    "lastTransitionTime": now,
                }
            )
            changed = True
        elif c.get("status") != "Unknown":
            c.update(
                status="Unknown",
                reason="NodeStatusUnknown",
                message="Kubelet stopped posting node status.",
                lastTransitionTime=now,
            )
            changed = True
    return changed


# --- zones ----------------------------------------------------------------------------


class ZoneState:
    NORMAL = "Normal"
    PARTIAL = "PartialDisruption"
    FULL = "FullDisruption"


def zone_key(node: Obj) -> str:
    labels = (node.get("metadata") or {}).get("labels") or {}
    region, zone = labels.get(REGION_LABEL, ""), labels.get(ZONE_LABEL, "")
    return f"{region}:\x00:{zone}" if region or zone else ""


def zone_state(ready_statuses: Sequence[str | None]) -> str:
    """upstream ``ComputeZoneState``."""
    ready = sum(1 for s in ready_statuses if s == "True")
    not_ready = len(ready_statuses) - ready
    if ready == 0 and not_ready > 0:
        return ZoneState.FULL
    if not_ready > 2 and not_ready / len(ready_statuses) >= UNHEALTHY_ZONE_THRESHOLD:
        return ZoneState.PARTIAL
    return ZoneState.NORMAL


# --- taints ---------------------------------------------------------------------------


def _same_taint(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return a.get("key") == b.get("key") and a.get("effect") == b.get("effect")


def desired_taints(
    node: Obj, now: str, *, no_execute: bool = True, keep_no_execute: bool = False
) -> list[Obj]:
    """The node's taints as this controller wants them: others' kept as they are, the
    condition NoSchedule taints and (when ``no_execute``) the Ready NoExecute taint
    matching the conditions; ``timeAdded`` kept for taints that stay. With
    ``keep_no_execute`` (a zone where tainting is paused) an existing NoExecute
    taint is kept — swapped between not-ready and unreachable as Ready changes —
    but none is added."""
    old = [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]
    want: list[dict[str, str]] = []
    for c in (node.get("status") or {}).get("conditions") or []:
        if not isinstance(c, dict):
            continue
        key = CONDITION_TAINTS.get(str(c.get("type")), {}).get(str(c.get("status")))
        if key:
            want.append({"key": key, "effect": "NoSchedule"})
    if (node.get("spec") or {}).get("unschedulable"):
        want.append({"key": UNSCHEDULABLE, "effect": "NoSchedule"})
    ne_key = {"False": NOT_READY, "Unknown": UNREACHABLE}.get(ready_status(node) or "")
    has_ne = any(t.get("effect") == "NoExecute" and t.get("key") in _NO_EXECUTE_KEYS for t in old)
    if ne_key and (no_execute or (keep_no_execute and has_ne)):
        want.append({"key": ne_key, "effect": "NoExecute"})
    out: list[Obj] = []
    for t in old:
        key, effect = t.get("key"), t.get("effect")
        ours = (effect == "NoSchedule" and key in _NO_SCHEDULE_KEYS) or (
            effect == "NoExecute" and key in _NO_EXECUTE_KEYS
        )
        if not ours or any(_same_taint(t, w) for w in want):
            out.append(t)
    for w in want:
        if not any(_same_taint(t, w) for t in out):
            out.append({**w, "timeAdded": now})
    return out


# --- eviction -------------------------------------------------------------------------


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """``v1.Toleration.ToleratesTaint``."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def eviction_deadline(
    taints: Iterable[Mapping[str, Any]],
    tolerations: Sequence[Mapping[str, Any]],
    started: Mapping[str, datetime],
) -> datetime | bool | None:
    """When a pod with ``tolerations`` must leave a node with these NoExecute
    ``taints``: ``True`` — now (a taint is not tolerated); ``None`` — never; else
    the earliest ``start of the taint + tolerationSeconds`` of the first toleration
    matching each taint. ``started`` maps taint keys to when each taint began
    (its ``timeAdded``, or when it was first seen)."""
    deadline: datetime | None = None
    for taint in taints:
        if taint.get("effect") != "NoExecute":
            continue
        tol = next((t for t in tolerations if tolerates(t, taint)), None)
        if tol is None:
            return True
        secs = tol.get("tolerationSeconds")
        if not isinstance(secs, int):
            continue
        start = started.get(str(taint.get("key")))
        if start is None:
            continue
        due = start + timedelta(seconds=max(0, secs))
        deadline = due if deadline is None or due < deadline else deadline
    return deadline


# --- the controller -------------------------------------------------------------------


class NodeLifecycleController(Controller):
    NAME = "node-lifecycle"
    EVENT_COMPONENT = "node-controller"
    WORKERS = 1
    EVICTION_WORKERS: ClassVar[int] = 8  # upstream taint-eviction UpdateWorkerSize

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.grace_period = env_seconds(GRACE_PERIOD_ENV, DEFAULT_GRACE_PERIOD)
        self.startup_grace_period = max(STARTUP_GRACE_PERIOD, self.grace_period)
        # a short grace period (tests) needs a faster look
        self.monitor_period = min(MONITOR_PERIOD, max(0.5, self.grace_period / 4))
        self.health = HealthTracker()
        self._last_ready: dict[str, str | None] = {}
        self._mark_pods_retry: set[str] = set()
        self._zone_states: dict[str, str] = {}
        self._all_disrupted = False
        self._taint_seen: dict[tuple[str, str], datetime] = {}
        self._scheduled: set[str] = set()
        #: uids of pods deleted by the eviction loop that the cache still shows alive
        self._evicted: set[str] = set()

        self.nodes = self.informer(NODES)
        self.nodes.add_event_handler(
            on_add=self._on_node, on_update=self._on_node_update, on_delete=self._on_node_delete
        )
        self.leases = self.informer(LEASES, namespace=NODE_LEASE_NAMESPACE)
        self.pods = self.informer(PODS)
        self.pods.add_indexers({POD_NODE_INDEX: pod_node_index})
        self.pods.add_event_handler(
            on_add=self._on_pod,
            on_update=lambda _old, new: self._on_pod(new),
            on_delete=self._on_pod_delete,
        )
        self.evictions = self.add_work_loop(
            f"{self.NAME}-eviction", self.reconcile_pod, self.EVICTION_WORKERS
        )

    # --- event handlers ------------------------------------------------------------------

    def _on_node(self, node: Obj) -> None:
        self.queue.add(str(node["metadata"]["name"]))

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        name = str(new["metadata"]["name"])
        if old.get("spec") != new.get("spec") or old.get("status") != new.get("status"):
            self.queue.add(name)
        if _no_execute(old) != _no_execute(new):
            for pod in self.pods.by_index(POD_NODE_INDEX, name):
                self.evictions.add(_pod_key(pod))

    def _on_node_delete(self, node: Obj) -> None:
        name = str((node.get("metadata") or {}).get("name") or "")
        self.health.forget(name)
        self._last_ready.pop(name, None)
        self._mark_pods_retry.discard(name)
        for k in [k for k in self._taint_seen if k[0] == name]:
            del self._taint_seen[k]

    def _on_pod(self, pod: Obj) -> None:
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name or (pod.get("metadata") or {}).get("deletionTimestamp"):
            return
        node = self.nodes.get(str(node_name))
        if node is not None and _no_execute(node):
            self.evictions.add(_pod_key(pod))

    def _on_pod_delete(self, pod: Obj) -> None:
        self._evicted.discard(str((pod.get("metadata") or {}).get("uid") or ""))

    # --- the monitor loop ----------------------------------------------------------------

    def background(self) -> list[Any]:
        return [self._monitor()]

    async def _monitor(self) -> None:
        await self.ready.wait()
        while True:
            self._update_zone_states()
            for node in self.nodes.list():
                self.queue.add(str(node["metadata"]["name"]))
            await self.clock.sleep(self.monitor_period)

    def _update_zone_states(self) -> None:
        zones: dict[str, list[str | None]] = {}
        for node in self.nodes.list():
            zones.setdefault(zone_key(node), []).append(ready_status(node))
        states = {z: zone_state(s) for z, s in zones.items()}
        all_full = bool(states) and all(s == ZoneState.FULL for s in states.values())
        if all_full and not self._all_disrupted:
            self.log.warning(
                "node-lifecycle: every node is not ready: assuming a disruption of the "
                "control plane's network, no NoExecute taints"
            )
        elif self._all_disrupted and not all_full:
            self.log.info("node-lifecycle: some nodes are ready again, tainting resumes")
        self._all_disrupted = all_full
        for z, s in states.items():
            if self._zone_states.get(z) != s:
                self.log.info("node-lifecycle: zone %r is now in state %s", z, s)
        self._zone_states = states

    def _may_taint(self, node: Obj) -> bool:
        if self._all_disrupted:
            return False
        z = zone_key(node)
        if self._zone_states.get(z) != ZoneState.PARTIAL:
            return True
        size = sum(1 for n in self.nodes.list() if zone_key(n) == z)
        return size > LARGE_CLUSTER_THRESHOLD

    # --- node reconcile ------------------------------------------------------------------

    async def reconcile(self, key: str) -> Requeue | None:
        node = self.nodes.get(key)
        if node is None:
            self.health.forget(key)
            return None
        now = self.clock.now()
        wall = format_time(self.clock.wall())
        lease = self.leases.get(f"{NODE_LEASE_NAMESPACE}/{key}")
        probe = self.health.observe(node, lease, now)
        grace = (
            self.grace_period
            if condition(node, "Ready") is not None
            else (self.startup_grace_period)
        )
        if now > probe + grace:
            new = copy.deepcopy(node)
            if mark_unknown(new, wall):
                try:
                    node = await self.client.replace_status(NODES, new)
                except Conflict:
                    return Requeue(after=0.2)
                except NotFound:
                    return None
                self.log.info(
                    "node-lifecycle: node %s: no heartbeat for %.0fs, conditions set to Unknown",
                    key,
                    now - probe,
                )
        ready = ready_status(node)
        prev = self._last_ready.get(key)
        self._last_ready[key] = ready
        if prev == "True" and ready != "True":
            self.recorder.eventf(
                node, NORMAL, "NodeNotReady", "Node %s status is now: NodeNotReady", key,
                kind="Node", api_version="v1",
            )  # fmt: skip
            self._mark_pods_retry.add(key)
        elif prev is not None and prev != "True" and ready == "True":
            self.recorder.eventf(
                node, NORMAL, "NodeReady", "Node %s status is now: NodeReady", key,
                kind="Node", api_version="v1",
            )  # fmt: skip
            self._mark_pods_retry.discard(key)
        if key in self._mark_pods_retry:
            await self._mark_pods_not_ready(key, wall)
            self._mark_pods_retry.discard(key)
        await self._update_taints(node, wall)
        return None

    async def _mark_pods_not_ready(self, node_name: str, now: str) -> None:
        """upstream ``MarkPodsNotReady``: the Ready condition of the node's pods → False."""
        for pod in self.pods.by_index(POD_NODE_INDEX, node_name):
            if not is_pod_ready(pod):
                continue
            m = pod["metadata"]
            patch = {
                "status": {
                    "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now}]
                }
            }
            try:
                await self.client.patch_status(
                    PODS, str(m["name"]), patch, namespace=str(m["namespace"]),
                    patch_type="strategic",
                )  # fmt: skip
            except NotFound:
                continue
            self.log.log(
                DETAIL, "node-lifecycle: pod %s/%s: Ready=False", m["namespace"], m["name"]
            )

    async def _update_taints(self, node: Obj, now: str) -> None:
        may = self._may_taint(node)
        taints = desired_taints(
            node, now, no_execute=may, keep_no_execute=not may and not self._all_disrupted
        )
        old = (node.get("spec") or {}).get("taints") or []
        if taints == old:
            return
        patch = {
            "metadata": {"resourceVersion": node["metadata"].get("resourceVersion")},
            "spec": {"taints": taints or None},
        }
        name = str(node["metadata"]["name"])
        try:
            await self.client.patch(NODES, name, patch)
        except Conflict:
            self.queue.add_after(name, 0.2)
            return
        except NotFound:
            return
        added = [f"{t['key']}:{t['effect']}" for t in taints if t not in old]
        removed = [f"{t.get('key')}:{t.get('effect')}" for t in old if t not in taints]
        self.log.info("node-lifecycle: node %s taints: +%s -%s", name, added, removed)

    # --- eviction reconcile --------------------------------------------------------------

    async def reconcile_pod(self, key: str) -> Requeue | None:
        pod = self.pods.get(key)
        if pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
            self._scheduled.discard(key)
            if pod is not None:
                self._evicted.discard(str(pod["metadata"].get("uid") or ""))
            return None
        if str(pod["metadata"].get("uid") or "") in self._evicted:
            return None  # deleted already; the cache has not caught up
        node_name = str((pod.get("spec") or {}).get("nodeName") or "")
        node = self.nodes.get(node_name) if node_name else None
        taints = _no_execute(node) if node is not None else []
        deadline: datetime | bool | None = None
        if taints:
            now_wall = self.clock.wall()
            started: dict[str, datetime] = {}
            for t in taints:
                k = str(t.get("key"))
                t0 = parse_time(t.get("timeAdded"))
                if t0 is None:
                    t0 = self._taint_seen.setdefault((node_name, k), now_wall)
                started[k] = t0
            tolerations = [
                t for t in (pod.get("spec") or {}).get("tolerations") or [] if isinstance(t, dict)
            ]
            deadline = eviction_deadline(taints, tolerations, started)
        if deadline is None:
            if key in self._scheduled:
                self._scheduled.discard(key)
                self.recorder.eventf(
                    pod, NORMAL, "TaintManagerEviction", "Cancelling deletion of Pod %s", key,
                    kind="Pod", api_version="v1",
                )  # fmt: skip
            return None
        if deadline is not True:
            assert isinstance(deadline, datetime)
            left = (deadline - self.clock.wall()).total_seconds()
            if left > 0:
                self._scheduled.add(key)
                return Requeue(after=left)
        await self._evict(pod, key)
        return None

    async def _evict(self, pod: Obj, key: str) -> None:
        m = pod["metadata"]
        ns, name = str(m["namespace"]), str(m["name"])
        self._scheduled.discard(key)
        self.recorder.eventf(
            pod, NORMAL, "TaintManagerEviction", "Marking for deletion Pod %s", key,
            kind="Pod", api_version="v1",
        )  # fmt: skip
        cond = condition(pod, "DisruptionTarget")
        try:
            if cond is None or cond.get("status") != "True":
                patch = {
                    "status": {
                        "conditions": [
                            {
                                "type": "DisruptionTarget",
                                "status": "True",
                                "reason": "DeletionByTaintManager",
                                "message": "Taint manager: deleting due to NoExecute taint",
                                "lastTransitionTime": format_time(self.clock.wall()),
                            }
                        ]
                    }
                }
                await self.client.patch_status(
                    PODS, name, patch, namespace=ns, patch_type="strategic"
                )
            await self.client.delete(
                PODS, name, namespace=ns, preconditions={"uid": str(m.get("uid") or "")}
            )
        except (NotFound, Conflict):
            return  # gone or replaced meanwhile
        self._evicted.add(str(m.get("uid") or ""))
        self.log.info("node-lifecycle: evicted pod %s from node %s", key, pod["spec"]["nodeName"])


def _no_execute(node: Obj) -> list[Obj]:
    return [
        t
        for t in (node.get("spec") or {}).get("taints") or []
        if isinstance(t, dict) and t.get("effect") == "NoExecute"
    ]


def _pod_key(pod: Obj) -> str:
    m = pod.get("metadata") or {}
    return f"{m.get('namespace', '')}/{m.get('name', '')}"
