"""The scheduling framework: extension-point protocols, statuses, cycle state,
node/pod infos, the snapshot (scheduler cache) and the runtime that runs a
profile's plugins. See each module's docstring."""

from pinnace.scheduler.framework.errors import (
    Diagnosis,
    FitError,
    NoNodesAvailable,
    fit_error_message,
)
from pinnace.scheduler.framework.interface import (
    MAX_NODE_SCORE,
    CycleState,
    NodeScore,
    PostFilterResult,
    PreFilterResult,
)
from pinnace.scheduler.framework.runtime import Cluster, Framework, StaticCluster
from pinnace.scheduler.framework.snapshot import Snapshot
from pinnace.scheduler.framework.status import Code, Status
from pinnace.scheduler.framework.types import NodeInfo, PodInfo

__all__ = [
    "MAX_NODE_SCORE",
    "Cluster",
    "Code",
    "CycleState",
    "Diagnosis",
    "FitError",
    "Framework",
    "NoNodesAvailable",
    "NodeInfo",
    "NodeScore",
    "PodInfo",
    "PostFilterResult",
    "PreFilterResult",
    "Snapshot",
    "StaticCluster",
    "Status",
    "fit_error_message",
]
