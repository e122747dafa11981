"""pinnace.scheduler — kube-scheduler with upstream semantics.

* :mod:`.framework` — extension points, statuses, snapshot with assumed pods;
* :mod:`.plugins` — the in-tree plugins (one module each) and their registry;
* :mod:`.config` — KubeSchedulerConfiguration (profiles, plugins, weights, args);
* :mod:`.queue` — activeQ / backoffQ / unschedulable pods, nominations;
* :mod:`.scheduler` — :class:`Scheduler` and :func:`run_scheduler`;
* :mod:`.metrics` — ``scheduler_*`` metrics in :data:`metrics.REGISTRY`.
"""

from pinnace.scheduler.config import SchedulerConfig, load_config, parse_config
from pinnace.scheduler.scheduler import Scheduler, run_scheduler

__all__ = ["Scheduler", "SchedulerConfig", "load_config", "parse_config", "run_scheduler"]
