"""Scheduler metrics under upstream's names, in their own registry.

:data:`REGISTRY` is a ``prometheus_client.CollectorRegistry`` the API server
(or ``pinnace scheduler``) can expose at ``/metrics`` with
``prometheus_client.generate_latest(REGISTRY)``. Buckets follow upstream's
``pkg/scheduler/metrics``. Metrics are process-wide: several schedulers in one
process (tests) share them, told apart by the ``profile`` label.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

import pinnace.metrics

__all__ = [
    "E2E_SCHEDULING_DURATION",
    "PENDING_PODS",
    "POD_SCHEDULING_ATTEMPTS",
    "POD_SCHEDULING_SLI_DURATION",
    "PREEMPTION_ATTEMPTS",
    "PREEMPTION_VICTIMS",
    "QUEUE_INCOMING_PODS",
    "REGISTRY",
    "SCHEDULE_ATTEMPTS",
    "SCHEDULING_ATTEMPT_DURATION",
    "exponential_buckets",
]

REGISTRY = pinnace.metrics.register(CollectorRegistry(auto_describe=True))


def exponential_buckets(start: float, factor: float, count: int) -> list[float]:
    return [start * factor**i for i in range(count)]


SCHEDULE_ATTEMPTS = Counter(
    "scheduler_schedule_attempts",
    "Number of attempts to schedule pods, by the result. 'unschedulable' means a pod "
    "could not be scheduled, while 'error' means an internal scheduler problem.",
    ["result", "profile"],
    registry=REGISTRY,
)
SCHEDULING_ATTEMPT_DURATION = Histogram(
    "scheduler_scheduling_attempt_duration_seconds",
    "Scheduling attempt latency in seconds (scheduling algorithm + binding)",
    ["result", "profile"],
    buckets=exponential_buckets(0.001, 2, 15),
    registry=REGISTRY,
)
E2E_SCHEDULING_DURATION = SCHEDULING_ATTEMPT_DURATION  # upstream's deprecated alias
POD_SCHEDULING_SLI_DURATION = Histogram(
    "scheduler_pod_scheduling_sli_duration_seconds",
    "E2e latency for a pod being scheduled, from the time the pod enters the scheduling "
    "queue and might involve multiple scheduling attempts.",
    ["attempts"],
    buckets=exponential_buckets(0.01, 2, 20),
    registry=REGISTRY,
)
POD_SCHEDULING_ATTEMPTS = Histogram(
    "scheduler_pod_scheduling_attempts",
    "Number of attempts to successfully schedule a pod.",
    buckets=exponential_buckets(1, 2, 5),
    registry=REGISTRY,
)
PENDING_PODS = Gauge(
    "scheduler_pending_pods",
    "Number of pending pods, by the queue type. 'active' means number of pods in activeQ; "
    "'backoff' means number of pods in backoffQ; 'unschedulable' means number of pods in "
    "unschedulablePods that the scheduler attempted to schedule and failed; 'gated' is the "
    "number of unschedulable pods that the scheduler never attempted to schedule because "
    "they are gated.",
    ["queue"],
    registry=REGISTRY,
)
QUEUE_INCOMING_PODS = Counter(
    "scheduler_queue_incoming_pods",
    "Number of pods added to scheduling queues by event and queue type.",
    ["queue", "event"],
    registry=REGISTRY,
)
PREEMPTION_ATTEMPTS = Counter(
    "scheduler_preemption_attempts",
    "Total preemption attempts in the cluster till now",
    registry=REGISTRY,
)
PREEMPTION_VICTIMS = Histogram(
    "scheduler_preemption_victims",
    "Number of selected preemption victims",
    buckets=exponential_buckets(1, 2, 7),
    registry=REGISTRY,
)
