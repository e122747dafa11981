"""kube-proxy's metrics under upstream's names (``pkg/proxy/metrics``), in one
``CollectorRegistry`` registered with :mod:`pinnace.metrics` so that the API
server's ``/metrics`` shows them when the proxy runs in the same process.

Several proxiers in one process (tests) share these; the values are the
process's, as upstream's are.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from pinnace import metrics as _metrics

__all__ = [
    "REGISTRY",
    "RESTORE_FAILURES",
    "SYNC_DURATION",
    "SYNC_FULL_DURATION",
    "SYNC_LAST_TIMESTAMP",
    "SYNC_PARTIAL_DURATION",
]

REGISTRY = _metrics.register(CollectorRegistry(auto_describe=True))
#: upstream: exponential buckets from 1 ms, doubling, 15 of them
_BUCKETS = tuple(0.001 * 2**i for i in range(15))

SYNC_DURATION = Histogram(
    "kubeproxy_sync_proxy_rules_duration_seconds",
    "SyncProxyRules latency in seconds",
    buckets=_BUCKETS,
    registry=REGISTRY,
)
SYNC_FULL_DURATION = Histogram(
    "kubeproxy_sync_full_proxy_rules_duration_seconds",
    "SyncProxyRules latency in seconds for full resyncs",
    buckets=_BUCKETS,
    registry=REGISTRY,
)
SYNC_PARTIAL_DURATION = Histogram(
    "kubeproxy_sync_partial_proxy_rules_duration_seconds",
    "SyncProxyRules latency in seconds for partial resyncs",
    buckets=_BUCKETS,
    registry=REGISTRY,
)
SYNC_LAST_TIMESTAMP = Gauge(
    "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
    "The last time proxy rules were successfully synced",
    registry=REGISTRY,
)
RESTORE_FAILURES = Counter(
    "kubeproxy_sync_proxy_rules_iptables_restore_failures",
    "Cumulative proxy iptables/nftables restore failures",
    registry=REGISTRY,
)
