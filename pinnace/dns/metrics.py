"""Cluster DNS metrics under CoreDNS's names, and the small HTTP server for
``/metrics``, ``/health`` and ``/ready`` (CoreDNS spreads these over ports
9153, 8080 and 8181; here one port serves all three).

Counting happens on the hot path, so :class:`DnsStats` keeps plain ints in
dicts (no locks, no label lookups per query) and :class:`_Collector` turns
them into Prometheus families only when scraped. Families:

* ``coredns_dns_requests_total{server,zone,view,proto,family,type}``
* ``coredns_dns_responses_total{server,zone,view,rcode,plugin}``
* ``coredns_dns_request_duration_seconds{server,zone,view}`` (CoreDNS's buckets:
  0.25 ms doubling to 8 s)
* ``coredns_cache_requests_total``, ``coredns_cache_hits_total{type}``,
  ``coredns_cache_misses_total``, ``coredns_cache_entries{type}``
* ``coredns_forward_requests_total{to}`` (CoreDNS before 1.11) and
  ``coredns_proxy_request_duration_seconds{proxy_name,to,rcode}`` (after).

Concurrency model: one event loop; the aiohttp server runs on it too.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

__all__ = ["TIME_BUCKETS", "DnsStats", "Histogram", "metrics_app", "new_registry"]

#: CoreDNS's ``plugin.TimeBuckets``: ExponentialBuckets(0.00025, 2, 16)
TIME_BUCKETS = tuple(0.00025 * 2**i for i in range(16))
_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Histogram:
    """Bucket counts kept as ints; rendered cumulatively on scrape."""

    __slots__ = ("count", "counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(TIME_BUCKETS) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(TIME_BUCKETS, seconds)] += 1
        self.total += seconds
        self.count += 1

    def buckets(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        acc = 0
        for le, n in zip(TIME_BUCKETS, self.counts, strict=False):
            acc += n
            out.append((repr(le), acc))
        out.append(("+Inf", self.count))
        return out


class DnsStats:
    """The counters, keyed by their label values."""

    def __init__(self, server: str = "dns://:53", zone: str = ".") -> None:
        self.server = server
        self.zone = zone
        #: (proto, family, type) -> n
        self.requests: dict[tuple[str, str, str], int] = {}
        #: (rcode, plugin) -> n
        self.responses: dict[tuple[str, str], int] = {}
        self.duration = Histogram()
        self.cache_hits: dict[str, int] = {"success": 0, "denial": 0}
        self.cache_misses = 0
        self.forward_requests: dict[str, int] = {}
        #: (to, rcode) -> histogram
        self.proxy: dict[tuple[str, str], Histogram] = {}
        self.cache_counts: Callable[[], dict[str, int]] = dict

    def request(self, proto: str, family: str, qtype: str) -> None:
        key = (proto, family, qtype)
        self.requests[key] = self.requests.get(key, 0) + 1

    def response(self, rcode: str, plugin: str) -> None:
        key = (rcode, plugin)
        self.responses[key] = self.responses.get(key, 0) + 1

    def forwarded(self, to: str, rcode: str, seconds: float) -> None:
        self.forward_requests[to] = self.forward_requests.get(to, 0) + 1
        h = self.proxy.get((to, rcode))
        if h is None:
            h = self.proxy[(to, rcode)] = Histogram()
        h.observe(seconds)


class _Collector(Collector):
    def __init__(self, stats: DnsStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Any]:
        s = self.stats
        base = [s.server, s.zone, ""]
        req = CounterMetricFamily(
            "coredns_dns_requests",
            "Counter of DNS requests made per zone, protocol and family.",
            labels=["server", "zone", "view", "proto", "family", "type"],
        )
        for (proto, family, qtype), n in sorted(s.requests.items()):
            req.add_metric([*base, proto, family, qtype], n)
        yield req
        resp = CounterMetricFamily(
            "coredns_dns_responses",
            "Counter of response status codes.",
            labels=["server", "zone", "view", "rcode", "plugin"],
        )
        for (rcode, plugin), n in sorted(s.responses.items()):
            resp.add_metric([*base, rcode, plugin], n)
        yield resp
        dur = HistogramMetricFamily(
            "coredns_dns_request_duration_seconds",
            "Histogram of the time (in seconds) each request took per zone.",
            labels=["server", "zone", "view"],
        )
        dur.add_metric(base, s.duration.buckets(), s.duration.total)
        yield dur
        cbase = [s.server, s.zone, ""]
        hits_total = sum(s.cache_hits.values())
        creq = CounterMetricFamily(
            "coredns_cache_requests",
            "The count of cache requests.",
            labels=["server", "zones", "view"],
        )
        creq.add_metric(cbase, hits_total + s.cache_misses)
        yield creq
        hits = CounterMetricFamily(
            "coredns_cache_hits",
            "The count of cache hits.",
            labels=["server", "type", "zones", "view"],
        )
        for kind, n in sorted(s.cache_hits.items()):
            hits.add_metric([s.server, kind, s.zone, ""], n)
        yield hits
        misses = CounterMetricFamily(
            "coredns_cache_misses",
            "The count of cache misses.",
            labels=["server", "zones", "view"],
        )
        misses.add_metric(cbase, s.cache_misses)
        yield misses
        entries = GaugeMetricFamily(
            "coredns_cache_entries",
            "The number of elements in the cache.",
            labels=["server", "type", "zones", "view"],
        )
        counts = s.cache_counts()
        for kind in ("denial", "success"):
            entries.add_metric([s.server, kind, s.zone, ""], counts.get(kind, 0))
        yield entries
        fwd = CounterMetricFamily(
            "coredns_forward_requests",
            "Counter of requests made per upstream.",
            labels=["to"],
        )
        for to, n in sorted(s.forward_requests.items()):
            fwd.add_metric([to], n)
        yield fwd
        proxy = HistogramMetricFamily(
            "coredns_proxy_request_duration_seconds",
            "Histogram of the time each request took.",
            labels=["proxy_name", "to", "rcode"],
        )
        for (to, rcode), h in sorted(s.proxy.items()):
            proxy.add_metric(["forward", to, rcode], h.buckets(), h.total)
        yield proxy


def new_registry(stats: DnsStats) -> CollectorRegistry:
    """A registry of its own holding the DNS families."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(stats))
    return registry


def metrics_app(registry: CollectorRegistry, ready: Callable[[], bool]) -> web.Application:
    """``/metrics`` (Prometheus text), ``/health`` (200 while the process runs) and
    ``/ready`` (200 once the informers synced and the listeners are bound, 503 before)."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": _CONTENT_TYPE})

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def ready_(_: web.Request) -> web.Response:
        if ready():
            return web.Response(text="OK")
        return web.Response(status=503, text="not ready")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready_)
    return app
