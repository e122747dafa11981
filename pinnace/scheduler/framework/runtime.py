"""A profile's plugins wired to the extension points, and the code that runs them.

:class:`Framework` is upstream's ``frameworkImpl``: built from a
:class:`~pinnace.scheduler.config.ProfileConfig` and a plugin registry, it
keeps one ordered plugin list per extension point and runs them with upstream
semantics (first failing filter wins; PreFilter/PreScore ``Skip`` skips that
plugin's Filter/Score; scores are normalized per plugin, then weighted and
summed; PostFilter stops at the first plugin that succeeds).

Hot path: Filter and Score run plugin by plugin over a list of nodes
(:meth:`Framework.run_filter_batch`, :meth:`Framework.run_score`), through a
plugin's ``filter_nodes``/``score_nodes`` when it has them, so the per-node
cost is a loop inside one plugin call rather than a call per plugin and
node. Results are the same as node by node: each plugin only sees the nodes
the plugins before it accepted, and a node's status is the first failure.

It is also the plugins' :class:`~pinnace.scheduler.framework.interface.Handle`:
cluster access (listers, client, events, nominated pods) comes from a
:class:`Cluster` object the scheduler provides (tests use
:class:`StaticCluster`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pinnace import aio
from pinnace.scheduler.config import IGNORED_PLUGINS, ConfigError, PluginRef, ProfileConfig
from pinnace.scheduler.framework.interface import (
    MAX_NODE_SCORE,
    BatchFilterPlugin,
    BatchNormalizePlugin,
    BatchScorePlugin,
    BindPlugin,
    CycleState,
    FilterPlugin,
    FilterSkipPlugin,
    NodeScore,
    PermitPlugin,
    PostBindPlugin,
    PostFilterPlugin,
    PostFilterResult,
    PreBindPlugin,
    PreEnqueuePlugin,
    PreFilterExtensions,
    PreFilterPlugin,
    PreFilterResult,
    PreScorePlugin,
    QueueSortPlugin,
    ReservePlugin,
    ScoreExtensions,
    ScorePlugin,
)
from pinnace.scheduler.framework.snapshot import Snapshot
from pinnace.scheduler.framework.status import Code, Status
from pinnace.scheduler.framework.types import NodeInfo, PodInfo

if TYPE_CHECKING:
    pass

__all__ = ["Cluster", "Framework", "PluginFactory", "StaticCluster"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
PluginFactory = Callable[[Mapping[str, Any], "Framework"], Any]

_POINT_PROTOCOLS: dict[str, type] = {
    "preEnqueue": PreEnqueuePlugin,
    "queueSort": QueueSortPlugin,
    "preFilter": PreFilterPlugin,
    "filter": FilterPlugin,
    "postFilter": PostFilterPlugin,
    "preScore": PreScorePlugin,
    "score": ScorePlugin,
    "reserve": ReservePlugin,
    "permit": PermitPlugin,
    "preBind": PreBindPlugin,
    "bind": BindPlugin,
    "postBind": PostBindPlugin,
}


class Cluster(Protocol):
    """Cluster access the scheduler gives to plugins (via the framework)."""

    snapshot: Snapshot

    @property
    def api(self) -> Any: ...

    def namespace_labels(self, namespace: str) -> Mapping[str, str] | None: ...

    def lister(self, plural: str) -> Sequence[Obj]: ...

    def get_object(self, plural: str, namespace: str, name: str) -> Obj | None: ...

    def nominated_pods_for_node(self, node: str) -> list[PodInfo]: ...

    def record_event(
        self, obj: Obj, type_: str, reason: str, message: str, scheduler_name: str
    ) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...


@dataclass
class StaticCluster:
    """A :class:`Cluster` over fixed objects (unit tests, tools)."""

    snapshot: Snapshot
    objects: dict[str, list[Obj]] = field(default_factory=dict)
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    nominated: dict[str, list[PodInfo]] = field(default_factory=dict)
    api: Any = None
    events: list[tuple[str, str, str, str]] = field(default_factory=list)
    spawned: list[Coroutine[Any, Any, Any]] = field(default_factory=list)

    def namespace_labels(self, namespace: str) -> Mapping[str, str] | None:
        return self.namespaces.get(namespace, {})

    def lister(self, plural: str) -> Sequence[Obj]:
        return self.objects.get(plural, [])

    def get_object(self, plural: str, namespace: str, name: str) -> Obj | None:
        for o in self.objects.get(plural, []):
            m = o.get("metadata") or {}
            if m.get("name") == name and (m.get("namespace") or "") == namespace:
                return o
        return None

    def nominated_pods_for_node(self, node: str) -> list[PodInfo]:
        return self.nominated.get(node, [])

    def record_event(
        self, obj: Obj, type_: str, reason: str, message: str, scheduler_name: str
    ) -> None:
        name = (obj.get("metadata") or {}).get("name", "")
        self.events.append((str(name), type_, reason, message))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.spawned.append(coro)


class Framework:
    """One profile: plugins per extension point, and the code that runs them."""

    def __init__(
        self,
        profile: ProfileConfig,
        cluster: Cluster,
        registry: Mapping[str, PluginFactory] | None = None,
    ) -> None:
        if registry is None:
            from pinnace.scheduler.plugins import REGISTRY

            registry = REGISTRY
        self.profile = profile
        self.cluster = cluster
        self.percentage_of_nodes_to_score = profile.percentage_of_nodes_to_score
        self.plugins: dict[str, Any] = {}
        points = self._resolve(profile, registry)
        self.pre_enqueue_plugins: list[Any] = points["preEnqueue"]
        sorts = points["queueSort"]
        if len(sorts) != 1:
            raise ConfigError(
                f"profile {profile.scheduler_name}: exactly one queueSort plugin is needed"
            )
        self.queue_sort: QueueSortPlugin = sorts[0]
        self.pre_filter_plugins: list[Any] = points["preFilter"]
        self.filter_plugins: list[Any] = points["filter"]
        self.post_filter_plugins: list[Any] = points["postFilter"]
        self.pre_score_plugins: list[Any] = points["preScore"]
        self.score_plugins: list[tuple[Any, int]] = [
            (p, self._weights.get(p.name) or 1) for p in points["score"]
        ]
        self.reserve_plugins: list[Any] = points["reserve"]
        self.permit_plugins: list[Any] = points["permit"]
        self.pre_bind_plugins: list[Any] = points["preBind"]
        self.bind_plugins: list[Any] = points["bind"]
        if not self.bind_plugins:
            raise ConfigError(
                f"profile {profile.scheduler_name}: at least one bind plugin is needed"
            )
        self.post_bind_plugins: list[Any] = points["postBind"]
        self.pre_filter_extensions = [
            p for p in self.pre_filter_plugins if isinstance(p, PreFilterExtensions)
        ]
        self._filter_skippers = [p for p in self.filter_plugins if isinstance(p, FilterSkipPlugin)]
        # (plugin, its batch filter or None)
        self._filter_runners: list[tuple[Any, Callable[..., list[Status | None]] | None]] = [
            (p, p.filter_nodes if isinstance(p, BatchFilterPlugin) else None)
            for p in self.filter_plugins
        ]
        # (plugin, weight, its batch score, its normalize, its batch normalize;
        # None where it has none)
        self._score_runners: list[
            tuple[
                Any,
                int,
                Callable[..., list[int]] | None,
                Callable[..., Status | None] | None,
                Callable[..., list[int]] | None,
            ]
        ] = [
            (
                p,
                w,
                p.score_nodes if isinstance(p, BatchScorePlugin) else None,
                p.normalize_score if isinstance(p, ScoreExtensions) else None,
                p.normalize_scores if isinstance(p, BatchNormalizePlugin) else None,
            )
            for p, w in self.score_plugins
        ]
        self.waiting_pods: dict[str, asyncio.Future[Status | None]] = {}

    # --- construction --------------------------------------------------------------------

    def _resolve(
        self, profile: ProfileConfig, registry: Mapping[str, PluginFactory]
    ) -> dict[str, list[Any]]:
        self._weights: dict[str, int] = {}

        def instance(ref: PluginRef) -> Any | None:
            if ref.name in IGNORED_PLUGINS and ref.name not in registry:
                log.info("plugin %s is not implemented by pinnace; ignoring it", ref.name)
                return None
            if ref.name not in self.plugins:
                factory = registry.get(ref.name)
                if factory is None:
                    raise ConfigError(
                        f"profile {profile.scheduler_name}: unknown plugin {ref.name!r}"
                    )
                args = profile.plugin_args.get(ref.name, {})
                self.plugins[ref.name] = factory(args, self)
            return self.plugins[ref.name]

        points: dict[str, list[Any]] = {}
        for point, proto in _POINT_PROTOCOLS.items():
            disabled = profile.disabled.get(point, set())
            chosen: list[Any] = []
            names: set[str] = set()
            for ref in profile.enabled.get(point, []):
                pl = instance(ref)
                if pl is None:
                    continue
                if not isinstance(pl, proto):
                    raise ConfigError(f"plugin {ref.name} does not implement {point}")
                if ref.name not in names:
                    chosen.append(pl)
                    names.add(ref.name)
                if point == "score" and ref.weight:
                    self._weights[ref.name] = ref.weight
            if "*" not in disabled:
                for ref in profile.multi_point:
                    if ref.name in disabled or ref.name in names:
                        continue
                    pl = instance(ref)
                    if pl is None or not isinstance(pl, proto):
                        continue
                    chosen.append(pl)
                    names.add(ref.name)
                    if point == "score" and ref.name not in self._weights:
                        self._weights[ref.name] = ref.weight or 1
            points[point] = chosen
        for pc_name in profile.plugin_args:
            if (
                pc_name not in self.plugins
                and pc_name not in registry
                and pc_name not in IGNORED_PLUGINS
            ):
                raise ConfigError(f"pluginConfig for unknown plugin {pc_name!r}")
        return points

    # --- Handle --------------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        return self.cluster.snapshot

    @property
    def scheduler_name(self) -> str:
        return self.profile.scheduler_name

    @property
    def api(self) -> Any:
        return self.cluster.api

    def namespace_labels(self, namespace: str) -> Mapping[str, str] | None:
        return self.cluster.namespace_labels(namespace)

    def lister(self, plural: str) -> Sequence[Obj]:
        return self.cluster.lister(plural)

    def get_object(self, plural: str, namespace: str, name: str) -> Obj | None:
        return self.cluster.get_object(plural, namespace, name)

    def nominated_pods_for_node(self, node: str) -> list[PodInfo]:
        return self.cluster.nominated_pods_for_node(node)

    def record_event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        self.cluster.record_event(obj, type_, reason, message, self.scheduler_name)

    def spawn(self, coro: Any) -> None:
        self.cluster.spawn(coro)

    def has_filter(self, name: str) -> bool:
        return any(p.name == name for p in self.filter_plugins)

    # --- queue ---------------------------------------------------------------------------

    def run_pre_enqueue(self, pod: PodInfo) -> Status | None:
        for p in self.pre_enqueue_plugins:
            s: Status | None = p.pre_enqueue(pod)
            if s is not None and not s.is_success():
                return s.with_plugin(p.name)
        return None

    # --- scheduling cycle ----------------------------------------------------------------

    def run_pre_filter(
        self, state: CycleState, pod: PodInfo
    ) -> tuple[PreFilterResult | None, Status | None]:
        result: PreFilterResult | None = None
        with_nodes: list[str] = []
        for p in self.pre_filter_plugins:
            r, s = p.pre_filter(state, pod)
            if s is not None:
                if s.code == Code.SKIP:
                    state.skip_filter.add(p.name)
                    continue
                if s.code != Code.SUCCESS:
                    s.with_plugin(p.name)
                    if s.code == Code.ERROR:
                        return None, s
                    return None, s
            if r is not None and r.node_names is not None:
                with_nodes.append(p.name)
                result = r if result is None else result.merge(r)
                if not result.node_names:
                    if len(with_nodes) > 1:
                        msg = f"node(s) didn't satisfy plugin(s) [{' '.join(with_nodes)}] simultaneously"
                    else:
                        msg = f"node(s) didn't satisfy plugin {with_nodes[0]}"
                    return None, Status.unresolvable(msg, plugin=p.name)
        skip = state.skip_filter
        for p in self._filter_skippers:
            if p.name not in skip and p.filter_skippable(state, pod):
                skip.add(p.name)
        return result, None

    def run_filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        skip = state.skip_filter
        for p in self.filter_plugins:
            if skip and p.name in skip:
                continue
            s: Status | None = p.filter(state, pod, node)
            if s is not None and s.code != Code.SUCCESS:
                return s.with_plugin(p.name)
        return None

    def run_filter_batch(
        self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
    ) -> tuple[list[NodeInfo], list[tuple[NodeInfo, Status]]]:
        """:meth:`run_filter` on every node of ``nodes``: (the nodes that pass, in
        order; (node, first failing status) for the others)."""
        skip = state.skip_filter
        failed: list[tuple[NodeInfo, Status]] = []
        survivors = nodes
        for p, batch in self._filter_runners:
            if skip and p.name in skip:
                continue
            if not survivors:
                break
            if batch is not None:
                statuses = batch(state, pod, survivors)
            else:
                f = p.filter
                statuses = [f(state, pod, n) for n in survivors]
            if not any(statuses):
                continue
            keep: list[NodeInfo] = []
            for n, st in zip(survivors, statuses, strict=True):
                if st is None or st.code == Code.SUCCESS:
                    keep.append(n)
                else:
                    failed.append((n, st.with_plugin(p.name)))
            survivors = keep
        return survivors, failed

    def run_filter_with_nominated_pods(
        self, state: CycleState, pod: PodInfo, node: NodeInfo
    ) -> Status | None:
        """Filter as if the nominated pods of equal or higher priority were running
        on ``node`` too, then (if any) also without them (upstream semantics)."""
        nominated = [
            p
            for p in self.cluster.nominated_pods_for_node(node.name)
            if p.priority >= pod.priority and p.uid != pod.uid
        ]
        if not nominated:
            return self.run_filter(state, pod, node)
        state2 = state.clone()
        node2 = node.clone()
        for np_ in nominated:
            node2.add_pod(np_)
            s = self.run_pre_filter_extension_add_pod(state2, pod, np_, node2)
            if s is not None and not s.is_success():
                return s
        status = self.run_filter(state2, pod, node2)
        if status is not None and not status.is_success():
            return status
        return self.run_filter(state, pod, node)

    def run_pre_filter_extension_add_pod(
        self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo
    ) -> Status | None:
        for p in self.pre_filter_extensions:
            if p.name in state.skip_filter:
                continue
            s = p.add_pod(state, pod, added, node)
            if s is not None and not s.is_success():
                return s.with_plugin(p.name)
        return None

    def run_pre_filter_extension_remove_pod(
        self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo
    ) -> Status | None:
        for p in self.pre_filter_extensions:
            if p.name in state.skip_filter:
                continue
            s = p.remove_pod(state, pod, removed, node)
            if s is not None and not s.is_success():
                return s.with_plugin(p.name)
        return None

    def run_post_filter(
        self, state: CycleState, pod: PodInfo, statuses: Mapping[str, Status]
    ) -> tuple[PostFilterResult | None, Status]:
        result: PostFilterResult | None = None
        reasons: list[str] = []
        rejector = ""
        for p in self.post_filter_plugins:
            r, s = p.post_filter(state, pod, statuses)
            if s.is_success():
                return r, s
            if s.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return r, s.with_plugin(p.name)
            if not s.is_rejected():
                return None, Status(Code.ERROR, *s.reasons, plugin=p.name)
            if r is not None and r.nominated_node_name:
                result = r
            reasons.extend(s.reasons)
            rejector = rejector or p.name
        return result, Status(Code.UNSCHEDULABLE, *reasons, plugin=rejector)

    def run_pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Status | None:
        for p in self.pre_score_plugins:
            s = p.pre_score(state, pod, nodes)
            if s is None:
                continue
            if s.code == Code.SKIP:
                state.skip_score.add(p.name)
            elif s.code != Code.SUCCESS:
                return Status(Code.ERROR, *s.reasons, plugin=p.name)
        return None

    def run_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        """Total weighted score per node (same order as ``nodes``)."""
        totals: list[int] | None = None
        skip = state.skip_score
        for p, weight, batch, normalize, normalize_batch in self._score_runners:
            if skip and p.name in skip:
                continue
            if batch is not None:
                raw = batch(state, pod, nodes)
            else:
                score = p.score
                raw = [score(state, pod, n) for n in nodes]
            if normalize_batch is not None:
                raw = normalize_batch(state, pod, nodes, raw)
            elif normalize is not None:
                scores = [NodeScore(n.name, s) for n, s in zip(nodes, raw, strict=True)]
                st = normalize(state, pod, scores)
                if st is not None and not st.is_success():
                    raise RuntimeError(f"{p.name} NormalizeScore failed: {st.message()}")
                raw = [s.score for s in scores]
            if raw and (min(raw) < 0 or max(raw) > MAX_NODE_SCORE):
                for i, s in enumerate(raw):
                    if s < 0 or s > MAX_NODE_SCORE:
                        raise RuntimeError(
                            f"plugin {p.name} returned an invalid score {s} "
                            f"for node {nodes[i].name}"
                        )
            if totals is None:
                totals = list(raw) if weight == 1 else [s * weight for s in raw]
            elif weight == 1:
                totals = [t + s for t, s in zip(totals, raw, strict=True)]
            else:
                totals = [t + s * weight for t, s in zip(totals, raw, strict=True)]
        return totals if totals is not None else [0] * len(nodes)

    def run_reserve(self, state: CycleState, pod: PodInfo, node: str) -> Status | None:
        for p in self.reserve_plugins:
            s: Status | None = p.reserve(state, pod, node)
            if s is not None and not s.is_success():
                return s.with_plugin(p.name)
        return None

    def run_unreserve(self, state: CycleState, pod: PodInfo, node: str) -> None:
        for p in reversed(self.reserve_plugins):
            try:
                p.unreserve(state, pod, node)
            except Exception:
                log.exception("unreserve of %s failed for %s", p.name, pod.key)

    def run_permit(self, state: CycleState, pod: PodInfo, node: str) -> tuple[Status | None, float]:
        """(status, max wait); WAIT means the binding cycle must wait for allow/reject."""
        wait = 0.0
        for p in self.permit_plugins:
            s, timeout = p.permit(state, pod, node)
            if s is None or s.is_success():
                continue
            if s.code == Code.WAIT:
                wait = max(wait, timeout)
                continue
            return s.with_plugin(p.name), 0.0
        if wait > 0:
            return Status(Code.WAIT), wait
        return None, 0.0

    async def wait_on_permit(self, pod: PodInfo, timeout: float) -> Status | None:
        fut: asyncio.Future[Status | None] = asyncio.get_running_loop().create_future()
        self.waiting_pods[pod.uid] = fut
        try:
            return await aio.wait_for(fut, timeout)
        except TimeoutError:
            return Status.unschedulable("rejected due to timeout after waiting at permit")
        finally:
            self.waiting_pods.pop(pod.uid, None)

    def allow_waiting_pod(self, uid: str) -> None:
        fut = self.waiting_pods.get(uid)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def reject_waiting_pod(self, uid: str, message: str) -> None:
        fut = self.waiting_pods.get(uid)
        if fut is not None and not fut.done():
            fut.set_result(Status.unschedulable(message))

    # --- binding cycle -------------------------------------------------------------------

    async def run_pre_bind(self, state: CycleState, pod: PodInfo, node: str) -> Status | None:
        for p in self.pre_bind_plugins:
            s: Status | None = await p.pre_bind(state, pod, node)
            if s is not None and not s.is_success():
                return s.with_plugin(p.name)
        return None

    async def run_bind(self, state: CycleState, pod: PodInfo, node: str) -> Status | None:
        for p in self.bind_plugins:
            s: Status | None = await p.bind(state, pod, node)
            if s is not None and s.code == Code.SKIP:
                continue
            if s is not None and not s.is_success():
                return s.with_plugin(p.name)
            return None
        return Status.error("no bind plugin bound the pod")

    def run_post_bind(self, state: CycleState, pod: PodInfo, node: str) -> None:
        for p in self.post_bind_plugins:
            try:
                p.post_bind(state, pod, node)
            except Exception:
                log.exception("postBind of %s failed for %s", p.name, pod.key)
