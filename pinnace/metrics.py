"""Process-wide metrics: every component keeps its own
``prometheus_client.CollectorRegistry`` (so several can share one process)
and registers it here; the API server's ``/metrics`` renders them all."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

_REGISTRIES: list[CollectorRegistry] = []


def register(registry: CollectorRegistry) -> CollectorRegistry:
    if registry not in _REGISTRIES:
        _REGISTRIES.append(registry)
    return registry


def render() -> bytes:
    """The Prometheus text exposition of every registered registry."""
    return b"".join(generate_latest(r) for r in _REGISTRIES)
