"""pinnace.scheduler — kube-scheduler with upstream semantics.

* :mod:`.framework` — extension points, statuses, snapshot with assumed pods;
* :mod:`.plugins` — the in-tree plugins (one module each) and their registry;
* :mod:`.config` — KubeSchedulerConfiguration (profiles, plugins, weights, args);
* :mod:`.queue` — activeQ / backoffQ / unschedulable pods, nominations;
* :mod:`.scheduler` — :class:`Scheduler` and :func:`run_scheduler`;
* :mod:`.metrics` — ``scheduler_*`` metrics in :data:`metrics.REGISTRY`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pinnace.scheduler.config import SchedulerConfig, load_config, parse_config
    from pinnace.scheduler.scheduler import Scheduler, run_scheduler

__all__ = ["Scheduler", "SchedulerConfig", "load_config", "parse_config", "run_scheduler"]

# Imported on first use (PEP 562): the controllers import small modules of this
# package (selectors, quantities), and importing the scheduler with them would
# load numpy and register the scheduler's metrics in a process that runs no
# scheduler (its /metrics would show a second, empty set).
_LAZY = {
    "SchedulerConfig": "pinnace.scheduler.config",
    "load_config": "pinnace.scheduler.config",
    "parse_config": "pinnace.scheduler.config",
    "Scheduler": "pinnace.scheduler.scheduler",
    "run_scheduler": "pinnace.scheduler.scheduler",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
