"""API server metrics under upstream's names."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

import pinnace.metrics

REGISTRY = pinnace.metrics.register(CollectorRegistry(auto_describe=True))

REQUESTS = Counter(
    "apiserver_request_total",
    "Counter of apiserver requests broken out for each verb, group, version, resource and code.",
    ["verb", "group", "version", "resource", "subresource", "code"],
    registry=REGISTRY,
)
REQUEST_DURATION = Histogram(
    "apiserver_request_duration_seconds",
    "Response latency distribution in seconds for each verb, group, version and resource.",
    ["verb", "group", "version", "resource", "subresource"],
    buckets=(
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.2,
        0.4,
        0.6,
        0.8,
        1.0,
        1.25,
        1.5,
        2,
        3,
        4,
        5,
        6,
        8,
        10,
        15,
        20,
        30,
        45,
        60,
    ),
    registry=REGISTRY,
)
