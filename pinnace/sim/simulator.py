"""The simulator: many fake kubelets in one asyncio process.

:class:`SimNodes` registers its nodes (Node, status, Lease), then keeps them
alive and moves the pods bound to them through their lifecycle
(:mod:`pinnace.sim.lifecycle`). It talks to the API server only through
:class:`pinnace.client.Client`.

Concurrency model — built so that 5,000 nodes cost little:

* No task per node or per pod. Two :class:`~pinnace.client.WorkQueue`\\ s hold
  every timer in one heap each: the *node* queue (keys ``("lease", node)`` and
  ``("status", node)``) and the *pod* queue (``namespace/name``). A fixed number
  of worker tasks drains each queue, so API calls are concurrent but bounded
  (``SimOptions.heartbeat_workers``, ``SimOptions.pod_workers``); the queue
  never gives one key to two workers.
* First renewals are spread evenly over the interval, so 5,000 leases renewed
  every 10 s are a steady 500 small merge patches a second, not bursts.
* Node status (the conditions' ``lastHeartbeatTime``) is posted every
  ``status_report_interval`` (5 min, the kubelet's ``nodeStatusReportFrequency``)
  or at once when the conditions in the API differ from what we report (say the
  node lifecycle controller marked the node ``Unknown``).
* One watch on simulated nodes (label ``pinnace.io/simulated=true``) and one on
  all pods that have a ``spec.nodeName``; both list in pages and keep only a
  small slotted record per node/pod of ours, never the objects.

A node is *dead* while :meth:`SimNodes.kill` says so or while the Node carries
the annotation ``pinnace.io/sim-state: dead``: it renews nothing, posts no
status and leaves its pods alone, like a kubelet that lost power. Reviving
resumes all of that at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from pinnace.client import (
    LEASES,
    PODS,
    REAL_CLOCK,
    AlreadyExists,
    ApiError,
    Client,
    Clock,
    Gone,
    ItemExponentialLimiter,
    NotFound,
    Obj,
    ResourceLike,
    ResourceRef,
    ShutDown,
    TooManyRequests,
    TransportError,
    WorkQueue,
)
from pinnace.sim import lifecycle
from pinnace.sim.ipam import (
    DEFAULT_CLUSTER_CIDR,
    DEFAULT_NODE_CIDR,
    AddressPool,
    PodIPPool,
    PoolExhausted,
    SubnetPool,
)
from pinnace.sim.lifecycle import PodState
from pinnace.sim.objects import (
    DEAD,
    HEALTHY,
    NODE_LEASE_NAMESPACE,
    SIMULATED,
    STATE_ANNOTATION,
    build_lease,
    build_node,
    conditions_patch,
    format_micro,
    node_status,
)
from pinnace.sim.profile import NodeSpec

__all__ = ["NODES", "SimNodes", "SimOptions"]

log = logging.getLogger("pinnace.sim")

NODES = ResourceRef("", "v1", "nodes", False, "Node")
FIELD_MANAGER = "pinnace-sim"
_T = TypeVar("_T")
NodeKey = tuple[str, str]  # ("lease" | "status", node name)


@dataclass(frozen=True)
class SimOptions:
    """Tunables (the defaults are upstream kubelet's)."""

    lease_duration: int = 40
    lease_renew_interval: float = 10.0  # kubelet: leaseDurationSeconds / 4
    status_report_interval: float = 300.0  # kubelet nodeStatusReportFrequency
    cluster_cidr: str = DEFAULT_CLUSTER_CIDR
    node_cidr_prefix: int = 24
    node_address_cidr: str = DEFAULT_NODE_CIDR
    heartbeat_workers: int = 8
    pod_workers: int = 16
    register_workers: int = 16
    page_size: int = 100
    watch_timeout: float = 300.0

    def __post_init__(self) -> None:
        if not 0 < self.lease_renew_interval < self.lease_duration:
            raise ValueError("the lease renew interval must be above 0 and below its duration")
        if self.status_report_interval <= 0:
            raise ValueError("the node status report interval must be above 0")
        if min(self.heartbeat_workers, self.pod_workers, self.register_workers) < 1:
            raise ValueError("worker counts must be at least 1")


#: at least one heartbeat worker per this many nodes. Each worker renews one
#: lease at a time, so N nodes renewing every ``lease_renew_interval`` seconds
#: stay alive only while a renewal takes under workers * interval / N seconds:
#: with a fixed 8 workers, 1,000 nodes at 30 s died as soon as a busy API
#: server took 250 ms per request (1 node in 25 gives 0.75 s at 30 s, 0.25 s
#: at 10 s — and every real kubelet has its own).
NODES_PER_HEARTBEAT_WORKER = 25


def scaled_options(options: SimOptions, nodes: int) -> SimOptions:
    """``options`` with enough heartbeat workers for ``nodes`` nodes."""
    workers = max(options.heartbeat_workers, -(-nodes // NODES_PER_HEARTBEAT_WORKER))
    return replace(options, heartbeat_workers=workers)


@dataclass(slots=True, eq=False)
class NodeState:
    """What the simulator keeps per node (small: no objects)."""

    name: str
    address: str = ""
    cidr: str = ""
    uid: str = ""
    pool: PodIPPool | None = None
    spec: NodeSpec | None = None  # dropped once registered
    exists: bool = False  # found in the API before we registered
    cidr_in_api: bool = False  # ... with a podCIDR we can keep
    registered: bool = False
    killed: bool = False  # SimNodes.kill()
    dead_annotation: bool = False  # pinnace.io/sim-state: dead
    deleted: bool = False
    unhealthy: frozenset[str] = frozenset()  # condition types the API shows wrong
    pods: set[str] = field(default_factory=set)

    @property
    def alive(self) -> bool:
        return self.registered and not (self.killed or self.dead_annotation or self.deleted)


class SimNodes:
    """A set of simulated nodes; see the module docstring. ``run()`` until cancelled."""

    def __init__(
        self,
        client: Client,
        specs: list[NodeSpec],
        *,
        options: SimOptions | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.client = client
        self.options = options or SimOptions()
        self.clock = clock
        self.nodes: dict[str, NodeState] = {s.name: NodeState(s.name, spec=s) for s in specs}
        self.pods: dict[str, PodState] = {}
        self.ready = asyncio.Event()
        self._node_queue: WorkQueue[NodeKey] = WorkQueue(
            "sim-nodes", clock=clock, rate_limiter=ItemExponentialLimiter(0.5, 10.0)
        )
        self._pod_queue: WorkQueue[str] = WorkQueue(
            "sim-pods", clock=clock, rate_limiter=ItemExponentialLimiter(0.05, 30.0)
        )
        self._pending: dict[str, Obj] = {}  # pod key -> status patch not yet accepted

    # --- public controls -----------------------------------------------------------------

    def node_names(self) -> list[str]:
        return list(self.nodes)

    def kill(self, name: str) -> None:
        """Stop ``name``'s heartbeats and pod handling (as if its kubelet died)."""
        node = self.nodes[name]
        node.killed = True
        log.info("node %s killed: no more heartbeats", name)

    def revive(self, name: str) -> None:
        """Undo :meth:`kill` (the ``dead`` annotation, if set, still holds it down)."""
        node = self.nodes[name]
        was_alive = node.alive
        node.killed = False
        if node.alive and not was_alive:
            log.info("node %s revived", name)
            self._wake(node)

    def is_alive(self, name: str) -> bool:
        return self.nodes[name].alive

    # --- running -------------------------------------------------------------------------

    async def run(self) -> None:
        """Register the nodes, then heartbeat and run pods until cancelled."""
        try:
            await self._register_all()
            registered = sum(1 for n in self.nodes.values() if n.registered)
            log.info("registered %d simulated node(s)", registered)
            pods_synced = asyncio.Event()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._watch_nodes(), name="sim-node-watch")
                tg.create_task(self._watch_pods(pods_synced), name="sim-pod-watch")
                for i in range(self.options.heartbeat_workers):
                    tg.create_task(self._node_worker(), name=f"sim-heartbeat-{i}")
                for i in range(self.options.pod_workers):
                    tg.create_task(self._pod_worker(), name=f"sim-pods-{i}")
                await pods_synced.wait()
                self.ready.set()
                log.info("simulated nodes ready")
        finally:
            self._node_queue.shutdown()
            self._pod_queue.shutdown()

    # --- registration --------------------------------------------------------------------

    async def _register_all(self) -> None:
        opts = self.options
        subnets = SubnetPool(opts.cluster_cidr, opts.node_cidr_prefix)
        addresses = AddressPool(opts.node_address_cidr)
        # what other nodes use (and what ours already have, after a restart)
        delay = 1.0
        while True:
            try:
                await self._note_existing_nodes(subnets, addresses)
                break
            except (TransportError, ApiError) as e:
                if isinstance(e, ApiError) and e.code < 500 and e.code != 429:
                    raise
                log.warning("cannot list nodes (%s); retrying in %.0f s", e, delay)
                await self.clock.sleep(delay)
                delay = min(delay * 2, 30.0)
        for node in self.nodes.values():
            if not node.cidr:
                node.cidr = subnets.allocate()
            if not node.address:
                node.address = addresses.allocate()
            node.pool = PodIPPool(node.cidr)
        sem = asyncio.Semaphore(opts.register_workers)
        names = list(self.nodes)

        async def one(i: int, name: str) -> None:
            async with sem:
                try:
                    await self._retry(lambda: self._register(self.nodes[name]))
                except (ApiError, TransportError) as e:
                    log.error("cannot register node %s: %s", name, e)
                    return
            # first heartbeats spread evenly over their intervals
            frac = i / max(1, len(names))
            self._node_queue.add_after(("lease", name), opts.lease_renew_interval * frac)
            self._node_queue.add_after(
                ("status", name), opts.status_report_interval * (0.5 + 0.5 * frac)
            )

        await asyncio.gather(*(one(i, n) for i, n in enumerate(names)))
        if names and not any(n.registered for n in self.nodes.values()):
            raise RuntimeError("no simulated node could be registered")

    async def _note_existing_nodes(self, subnets: SubnetPool, addresses: AddressPool) -> None:
        async for node in self._list_pages(NODES):
            meta, spec = node.get("metadata") or {}, node.get("spec") or {}
            name = str(meta.get("name") or "")
            ips = [
                str(a.get("address"))
                for a in (node.get("status") or {}).get("addresses") or ()
                if isinstance(a, dict) and a.get("type") == "InternalIP"
            ]
            cidr = str(spec.get("podCIDR") or "")
            ours = self.nodes.get(name)
            if ours is not None:
                ours.exists, ours.uid = True, str(meta.get("uid") or "")
                if cidr and (subnets.reserve(cidr) or _is_ipv4_network(cidr)):
                    ours.cidr, ours.cidr_in_api = cidr, True  # kept even outside our range
                if ips and addresses.reserve(ips[0]):
                    ours.address = ips[0]
            else:
                if cidr:
                    subnets.reserve(cidr)
                for ip in ips:
                    addresses.reserve(ip)

    async def _register(self, node: NodeState) -> None:
        assert node.spec is not None
        if not node.exists:
            try:
                created = await self.client.create(
                    NODES, build_node(node.spec, pod_cidr=node.cidr), field_manager=FIELD_MANAGER
                )
                node.uid = str((created.get("metadata") or {}).get("uid") or "")
            except AlreadyExists:
                got = await self.client.get(NODES, node.name)
                node.uid = str((got.get("metadata") or {}).get("uid") or "")
                if not (got.get("spec") or {}).get("podCIDR"):
                    await self._set_pod_cidr(node)
            node.exists = True
        elif not node.cidr_in_api:
            # adopted without a podCIDR: set ours (allowed from "" to a value)
            with contextlib.suppress(ApiError):
                await self._set_pod_cidr(node)
        status = node_status(node.spec, address=node.address, now=self.clock.wall())
        await self.client.patch_status(
            NODES, node.name, {"status": status}, patch_type="strategic",
            field_manager=FIELD_MANAGER,
        )  # fmt: skip
        await self._renew_lease(node)
        node.registered = True
        node.spec = None

    async def _set_pod_cidr(self, node: NodeState) -> None:
        await self.client.patch(
            NODES, node.name, {"spec": {"podCIDR": node.cidr, "podCIDRs": [node.cidr]}},
            field_manager=FIELD_MANAGER,
        )  # fmt: skip

    async def _retry(self, fn: Callable[[], Awaitable[_T]], attempts: int = 5) -> _T:
        """Retry transient failures (connection errors, 429, 5xx) with backoff."""
        delay = 0.5
        for attempt in range(attempts):
            try:
                return await fn()
            except (TransportError, TooManyRequests) as e:
                err: Exception = e
            except ApiError as e:
                if e.code < 500:
                    raise
                err = e
            if attempt == attempts - 1:
                raise err
            await self.clock.sleep(delay * (1 + random.random() * 0.2))
            delay *= 2
        raise AssertionError("unreachable")

    # --- heartbeats ----------------------------------------------------------------------

    def _wake(self, node: NodeState) -> None:
        self._node_queue.add(("lease", node.name))
        self._node_queue.add(("status", node.name))
        for key in node.pods:
            self._pod_queue.add(key)

    async def _node_worker(self) -> None:
        q = self._node_queue
        while True:
            try:
                key = await q.get()
            except ShutDown:
                return
            kind, name = key
            node = self.nodes.get(name)
            try:
                if node is None or not node.alive:
                    continue  # revive()/the annotation going away re-adds the keys
                if kind == "lease":
                    await self._renew_lease(node)
                    q.add_after(key, self.options.lease_renew_interval)
                else:
                    await self._post_status(node)
                    q.add_after(key, self.options.status_report_interval)
                q.forget(key)
            except NotFound:
                log.warning("node %s is gone: no more heartbeats", name)
                if node is not None:
                    node.deleted = True
            except (ApiError, TransportError) as e:
                log.warning("node %s: %s failed: %s", name, kind, e)
                q.add_rate_limited(key)
            except Exception:
                log.exception("node %s: %s failed", name, kind)
                q.add_rate_limited(key)
            finally:
                q.done(key)

    async def _renew_lease(self, node: NodeState) -> None:
        now = self.clock.wall()
        patch = {
            "spec": {
                "holderIdentity": node.name,
                "leaseDurationSeconds": self.options.lease_duration,
                "renewTime": format_micro(now),
            }
        }
        try:
            await self.client.patch(
                LEASES, node.name, patch, namespace=NODE_LEASE_NAMESPACE,
                field_manager=FIELD_MANAGER,
            )  # fmt: skip
        except NotFound:
            lease = build_lease(node.name, node.uid, duration=self.options.lease_duration, now=now)
            with contextlib.suppress(AlreadyExists):
                await self.client.create(
                    LEASES, lease, namespace=NODE_LEASE_NAMESPACE, field_manager=FIELD_MANAGER
                )

    async def _post_status(self, node: NodeState) -> None:
        transitioned = node.unhealthy
        patch = {"status": {"conditions": conditions_patch(self.clock.wall(), transitioned)}}
        await self.client.patch_status(
            NODES, node.name, patch, patch_type="strategic", field_manager=FIELD_MANAGER
        )
        if node.unhealthy is transitioned:
            node.unhealthy = frozenset()

    # --- watching ------------------------------------------------------------------------

    async def _list_pages(
        self, resource: ResourceLike, *, label_selector: str = "", field_selector: str = "",
        meta_out: dict[str, Any] | None = None,
    ) -> Any:  # fmt: skip
        """Yield the items of a paged list (the list's metadata goes to ``meta_out``)."""
        token: str | None = None
        while True:
            page = await self.client.list(
                resource, label_selector=label_selector or None,
                field_selector=field_selector or None, limit=self.options.page_size,
                continue_token=token,
            )  # fmt: skip
            meta = page.get("metadata") or {}
            for item in page.get("items") or ():
                yield item
            token = meta.get("continue") or None
            if meta_out is not None:
                meta_out.update(meta)
            if not token:
                return

    async def _list_watch(
        self,
        resource: ResourceLike,
        *,
        label_selector: str = "",
        field_selector: str = "",
        on_object: Callable[[Obj], None],
        on_delete: Callable[[Obj], None],
        on_listed: Callable[[set[str]], None],
    ) -> None:
        """list (in pages) + watch until cancelled; relist on 410, back off on errors.
        ``on_listed`` gets the keys seen by a list (to forget what vanished)."""
        backoff = 0.8
        while True:
            try:
                meta: dict[str, Any] = {}
                seen: set[str] = set()
                async for obj in self._list_pages(
                    resource, label_selector=label_selector, field_selector=field_selector,
                    meta_out=meta,
                ):  # fmt: skip
                    seen.add(_key(obj))
                    on_object(obj)
                on_listed(seen)
                rv = str(meta.get("resourceVersion") or "")
                while True:
                    timeout = int(self.options.watch_timeout * (1 + random.random()))
                    stream = self.client.watch(
                        resource, resource_version=rv or None,
                        label_selector=label_selector or None,
                        field_selector=field_selector or None, timeout_seconds=timeout,
                    )  # fmt: skip
                    async with contextlib.aclosing(stream):
                        async for ev in stream:
                            obj = ev.object
                            rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                            if ev.type == "DELETED":
                                on_delete(obj)
                            elif ev.type in ("ADDED", "MODIFIED"):
                                on_object(obj)
                            backoff = 0.8
            except asyncio.CancelledError:
                raise
            except Gone:
                log.info("watch on %s expired; relisting", resource.plural)
                continue
            except (ApiError, TransportError) as e:
                log.warning("list/watch of %s failed: %s; retrying", resource.plural, e)
                await self.clock.sleep(backoff * (1 + random.random() * 0.2))
                backoff = min(backoff * 2, 30.0)

    async def _watch_nodes(self) -> None:
        def on_object(obj: Obj) -> None:
            meta = obj.get("metadata") or {}
            node = self.nodes.get(str(meta.get("name") or ""))
            if node is None or not node.registered:
                return
            was_alive = node.alive
            if node.deleted and meta.get("uid") != node.uid:
                return  # someone re-created it: not ours any more
            node.uid = str(meta.get("uid") or node.uid)
            node.dead_annotation = (meta.get("annotations") or {}).get(STATE_ANNOTATION) == DEAD
            conditions = {
                c.get("type"): c.get("status")
                for c in (obj.get("status") or {}).get("conditions") or ()
                if isinstance(c, dict)
            }
            node.unhealthy = frozenset(t for t, s in HEALTHY.items() if conditions.get(t) != s)
            if node.alive and not was_alive:
                log.info("node %s is alive again", node.name)
                self._wake(node)
            elif was_alive and not node.alive:
                log.info("node %s is dead (annotation %s)", node.name, STATE_ANNOTATION)
            elif node.alive and node.unhealthy:
                self._node_queue.add(("status", node.name))

        def on_delete(obj: Obj) -> None:
            meta = obj.get("metadata") or {}
            node = self.nodes.get(str(meta.get("name") or ""))
            if node is not None and node.registered and meta.get("uid") in ("", None, node.uid):
                if not node.deleted:
                    log.info("node %s was deleted: no more heartbeats", node.name)
                node.deleted = True

        def on_listed(seen: set[str]) -> None:
            for node in self.nodes.values():
                if node.registered and node.name not in seen and not node.deleted:
                    log.info("node %s was deleted: no more heartbeats", node.name)
                    node.deleted = True

        await self._list_watch(
            NODES, label_selector=f"{SIMULATED}=true", on_object=on_object,
            on_delete=on_delete, on_listed=on_listed,
        )  # fmt: skip

    async def _watch_pods(self, synced: asyncio.Event) -> None:
        def on_listed(seen: set[str]) -> None:
            for key in [k for k in self.pods if k not in seen]:
                self._forget_pod(key)
            synced.set()

        await self._list_watch(
            PODS, field_selector="spec.nodeName!=", on_object=self._on_pod,
            on_delete=lambda obj: self._forget_pod(_key(obj)), on_listed=on_listed,
        )  # fmt: skip

    def _on_pod(self, pod: Obj) -> None:
        node_name = str((pod.get("spec") or {}).get("nodeName") or "")
        node = self.nodes.get(node_name)
        if node is None:
            return
        key = _key(pod)
        meta = pod.get("metadata") or {}
        state = self.pods.get(key)
        if state is not None and state.uid != meta.get("uid"):
            self._forget_pod(key)  # a new pod with the same name
            state = None
        if state is None:
            state = PodState(str(meta.get("namespace") or ""), str(meta.get("name") or ""))
            state.observe(pod)
            self.pods[key] = state
            node.pods.add(key)
            if state.bad_annotation:
                log.warning("pod %s: ignoring %s", key, state.bad_annotation)
            if lifecycle.adopt(state, pod, now=self.clock.now(), wall=self.clock.wall()):
                if state.ip and node.pool is not None:
                    node.pool.reserve(state.ip)
        else:
            state.observe(pod)
        self._pod_queue.add(key)

    def _forget_pod(self, key: str) -> None:
        state = self.pods.pop(key, None)
        self._pending.pop(key, None)
        if state is None:
            return
        node = self.nodes.get(state.node)
        if node is not None:
            node.pods.discard(key)
            self._release_ip(node, state)

    @staticmethod
    def _release_ip(node: NodeState, state: PodState) -> None:
        if state.ip and node.pool is not None and not state.host_network:
            node.pool.release(state.ip)
        state.ip = None if not state.host_network else state.ip

    # --- pods ----------------------------------------------------------------------------

    async def _pod_worker(self) -> None:
        q = self._pod_queue
        while True:
            try:
                key = await q.get()
            except ShutDown:
                return
            try:
                await self._sync_pod(key)
                q.forget(key)
            except NotFound:
                pass  # deleted meanwhile: the watch tells us
            except (ApiError, TransportError) as e:
                log.warning("pod %s: status update failed: %s", key, e)
                q.add_rate_limited(key)
            except Exception:
                log.exception("pod %s: sync failed", key)
                q.add_rate_limited(key)
            finally:
                q.done(key)

    async def _sync_pod(self, key: str) -> None:
        state = self.pods.get(key)
        if state is None:
            return
        node = self.nodes.get(state.node)
        if node is None or not node.alive:
            return
        ns, name = state.namespace, state.name
        if state.deleting:
            # the containers are "stopped" at once: finish the graceful deletion (once:
            # with grace 0 already set, only finalizers can hold the pod now)
            if state.deletion_grace == 0:
                return
            await self.client.delete(
                PODS, name, namespace=ns, grace_period_seconds=0,
                preconditions={"uid": state.uid},
            )  # fmt: skip
            return
        pending = self._pending.pop(key, None)
        if pending is not None:
            await self._patch_pod(key, state, pending)
        if state.stage == "new" and state.phase not in lifecycle.TERMINAL_PHASES:
            state.host_ip = node.address
            if state.host_network:
                state.ip = node.address
            elif state.ip is None and node.pool is not None:
                try:
                    state.ip = node.pool.allocate()
                except PoolExhausted:
                    log.warning("pod %s: node %s has no pod IP left", key, node.name)
                    self._pod_queue.add_after(key, 5.0)
                    return
        now = self.clock.now()
        result = lifecycle.step(state, now=now, wall=self.clock.wall())
        if result.terminal:
            self._release_ip(node, state)
        if result.patch is not None:
            await self._patch_pod(key, state, result.patch)
        if result.due is not None:
            self._pod_queue.add_after(key, result.due - now)

    async def _patch_pod(self, key: str, state: PodState, patch: Obj) -> None:
        try:
            await self.client.patch_status(
                PODS, state.name, patch, namespace=state.namespace, patch_type="strategic",
                field_manager=FIELD_MANAGER,
            )  # fmt: skip
        except NotFound:
            raise
        except (ApiError, TransportError):
            self._pending[key] = patch  # send it again before anything newer
            raise


def _is_ipv4_network(cidr: str) -> bool:
    try:
        ipaddress.IPv4Network(cidr)
    except ValueError:
        return False
    return True


def _key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name") or "")
