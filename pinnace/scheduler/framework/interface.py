"""The extension points: one protocol per point, plus the per-cycle state and
the handle plugins use to reach the rest of the scheduler.

A plugin is any object with a ``name`` and the methods of the points it
implements (``pre_filter``, ``filter``, ``score`` ...). The framework finds
the points a plugin implements with ``isinstance`` against these
runtime-checkable protocols. Methods return ``Status | None``; ``None`` is
success and the hot path's common answer.

Three optional methods are pinnace's own, with no upstream counterpart; they
only make the hot path cheaper and never change a result: ``filter_nodes``
and ``score_nodes`` answer ``filter``/``score`` for a list of nodes in one
call (Python pays per call, Go does not), and ``filter_skippable`` lets a
plugin whose Filter would accept every node this cycle say so, which the
framework treats like a PreFilter ``Skip``.

Scheduling-cycle methods are synchronous (the cycle never yields the loop;
see :mod:`pinnace.scheduler.framework.snapshot`); binding-cycle methods
(``pre_bind``, ``bind``) and ``permit`` waiting are async.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pinnace.scheduler.framework.status import Status
from pinnace.scheduler.framework.types import NodeInfo, PodInfo

if TYPE_CHECKING:
    from pinnace.scheduler.framework.snapshot import Snapshot

__all__ = [
    "MAX_NODE_SCORE",
    "BatchFilterPlugin",
    "BatchScorePlugin",
    "BindPlugin",
    "CycleState",
    "FilterPlugin",
    "FilterSkipPlugin",
    "Handle",
    "NodeScore",
    "PermitPlugin",
    "Plugin",
    "PostBindPlugin",
    "PostFilterPlugin",
    "PostFilterResult",
    "PreBindPlugin",
    "PreEnqueuePlugin",
    "PreFilterExtensions",
    "PreFilterPlugin",
    "PreFilterResult",
    "PreScorePlugin",
    "QueueSortPlugin",
    "ReservePlugin",
    "ScoreExtensions",
    "ScorePlugin",
]

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0
Obj = dict[str, Any]


class CycleState:
    """Per-pod, per-cycle scratch space shared by plugins (upstream ``CycleState``).

    ``clone()`` copies the dict and asks values with a ``clone()`` method to
    copy themselves (preemption mutates cloned PreFilter state).
    """

    __slots__ = ("data", "skip_filter", "skip_score")

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.skip_filter: set[str] = set()
        self.skip_score: set[str] = set()

    def read(self, key: str) -> Any:
        return self.data.get(key)

    def write(self, key: str, value: Any) -> None:
        self.data[key] = value

    def clone(self) -> CycleState:
        c = CycleState()
        c.data = {k: (v.clone() if hasattr(v, "clone") else v) for k, v in self.data.items()}
        c.skip_filter = set(self.skip_filter)
        c.skip_score = set(self.skip_score)
        return c


@dataclass(slots=True)
class NodeScore:
    name: str
    score: int


@dataclass(slots=True)
class PreFilterResult:
    """``node_names=None`` means all nodes are eligible."""

    node_names: set[str] | None = None

    def merge(self, other: PreFilterResult | None) -> PreFilterResult:
        if other is None or other.node_names is None:
            return self
        if self.node_names is None:
            return PreFilterResult(set(other.node_names))
        return PreFilterResult(self.node_names & other.node_names)


@dataclass(slots=True)
class PostFilterResult:
    nominated_node_name: str = ""
    victims: list[PodInfo] = field(default_factory=list)


class Handle(Protocol):
    """What plugins may use of the scheduler (upstream ``framework.Handle``)."""

    @property
    def snapshot(self) -> Snapshot: ...

    @property
    def scheduler_name(self) -> str: ...

    def namespace_labels(self, namespace: str) -> Mapping[str, str] | None: ...

    def lister(self, plural: str) -> Sequence[Obj]:
        """Cached objects of a resource (``poddisruptionbudgets``, ``services`` ...)."""
        ...

    def get_object(self, plural: str, namespace: str, name: str) -> Obj | None: ...

    def nominated_pods_for_node(self, node: str) -> list[PodInfo]: ...

    def run_filter_with_nominated_pods(
        self, state: CycleState, pod: PodInfo, node: NodeInfo
    ) -> Status | None: ...

    def run_pre_filter_extension_add_pod(
        self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo
    ) -> Status | None: ...

    def run_pre_filter_extension_remove_pod(
        self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo
    ) -> Status | None: ...

    @property
    def api(self) -> Any:
        """The :class:`pinnace.client.Client` (None in unit tests)."""
        ...

    def record_event(self, obj: Obj, type_: str, reason: str, message: str) -> None: ...

    def spawn(self, coro: Any) -> None:
        """Run an API call in the background (tracked, errors logged)."""
        ...


@runtime_checkable
class Plugin(Protocol):
    name: str


@runtime_checkable
class PreEnqueuePlugin(Protocol):
    name: str

    def pre_enqueue(self, pod: PodInfo) -> Status | None: ...


@runtime_checkable
class QueueSortPlugin(Protocol):
    name: str

    def sort_key(self, pod: PodInfo, timestamp: float) -> tuple[Any, ...]:
        """Smaller keys pop first (upstream ``Less`` expressed as a heap key)."""
        ...


@runtime_checkable
class PreFilterExtensions(Protocol):
    name: str

    def add_pod(
        self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo
    ) -> Status | None: ...

    def remove_pod(
        self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo
    ) -> Status | None: ...


@runtime_checkable
class PreFilterPlugin(Protocol):
    name: str

    def pre_filter(
        self, state: CycleState, pod: PodInfo
    ) -> tuple[PreFilterResult | None, Status | None]: ...


@runtime_checkable
class FilterPlugin(Protocol):
    name: str

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None: ...


@runtime_checkable
class BatchFilterPlugin(Protocol):
    name: str

    def filter_nodes(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> list[Status | None]:
        """``[filter(state, pod, n) for n in nodes]``, computed faster."""
        ...


@runtime_checkable
class FilterSkipPlugin(Protocol):
    name: str

    def filter_skippable(self, state: CycleState, pod: PodInfo) -> bool:
        """True when ``filter`` would accept every node of the snapshot for ``pod``
        (checked after PreFilter; the snapshot cannot change within a cycle)."""
        ...


@runtime_checkable
class PostFilterPlugin(Protocol):
    name: str

    def post_filter(
        self, state: CycleState, pod: PodInfo, statuses: Mapping[str, Status]
    ) -> tuple[PostFilterResult | None, Status]: ...


@runtime_checkable
class PreScorePlugin(Protocol):
    name: str

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Status | None: ...


@runtime_checkable
class ScorePlugin(Protocol):
    name: str

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int: ...


@runtime_checkable
class BatchScorePlugin(Protocol):
    name: str

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        """``[score(state, pod, n) for n in nodes]``, computed faster."""
        ...


@runtime_checkable
class ScoreExtensions(Protocol):
    name: str

    def normalize_score(
        self, state: CycleState, pod: PodInfo, scores: list[NodeScore]
    ) -> Status | None: ...


@runtime_checkable
class BatchNormalizePlugin(Protocol):
    name: str

    def normalize_scores(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], scores: list[int]
    ) -> list[int]:
        """What ``normalize_score`` makes of ``scores`` (one per node of
        ``nodes``), as a new list, without a :class:`NodeScore` per node."""
        ...


@runtime_checkable
class ReservePlugin(Protocol):
    name: str

    def reserve(self, state: CycleState, pod: PodInfo, node: str) -> Status | None: ...

    def unreserve(self, state: CycleState, pod: PodInfo, node: str) -> None: ...


@runtime_checkable
class PermitPlugin(Protocol):
    name: str

    def permit(self, state: CycleState, pod: PodInfo, node: str) -> tuple[Status | None, float]:
        """(status, timeout seconds for ``Wait``)."""
        ...


@runtime_checkable
class PreBindPlugin(Protocol):
    name: str

    async def pre_bind(self, state: CycleState, pod: PodInfo, node: str) -> Status | None: ...


@runtime_checkable
class BindPlugin(Protocol):
    name: str

    async def bind(self, state: CycleState, pod: PodInfo, node: str) -> Status | None:
        """``Status(SKIP)`` passes the pod to the next bind plugin."""
        ...


@runtime_checkable
class PostBindPlugin(Protocol):
    name: str

    def post_bind(self, state: CycleState, pod: PodInfo, node: str) -> None: ...
