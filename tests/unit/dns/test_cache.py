"""The answer cache and the server's fast path: a repeated query is answered
from the cached bytes with only the ID changed, TTLs count down, entries
expire, and cluster answers die when the index changes."""

from __future__ import annotations

import dns.message
import dns.rcode
import dns.rrset

from pinnace.dns.cache import AnswerCache
from pinnace.dns.forward import Forwarder
from pinnace.dns.records import Resolver
from pinnace.dns.server import DnsServer
from pinnace.dns.wire import scan
from tests.unit.dns.dnsfakes import cluster_index, service


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock) -> tuple[DnsServer, AnswerCache]:
    idx = cluster_index()
    cache = AnswerCache(idx, max_ttl=30, min_ttl=5, clock=clock)
    return DnsServer(Resolver(idx), cache, Forwarder([])), cache


def query(name: str, qid: int, rdtype: str = "A") -> bytes:
    q = dns.message.make_query(name, rdtype)
    q.id = qid
    return q.to_wire()


def test_repeated_query_is_answered_from_cache_with_its_own_id() -> None:
    srv, cache = make(Clock())
    first = srv.answer(query("web.default.svc.cluster.local", 1))
    assert isinstance(first, bytes)
    assert srv.stats.cache_misses == 1
    assert len(cache.entries) == 1
    hit = srv.cached(query("web.default.svc.cluster.local", 0xBEEF), "udp", 0.0)
    assert hit is not None
    assert hit[:2] == b"\xbe\xef"
    assert hit[2:] == first[2:]
    assert srv.stats.cache_hits["success"] == 1
    assert srv.stats.requests[("udp", "1", "A")] == 2
    assert srv.stats.responses[("NOERROR", "cache")] == 1
    # a different question (or the same one with other bytes) is another entry
    assert srv.cached(query("web.default.svc.cluster.local", 1, "AAAA"), "udp", 0.0) is None
    assert srv.cached(query("WEB.default.svc.cluster.local", 1), "udp", 0.0) is None


def test_cluster_answers_are_invalidated_when_the_index_changes() -> None:
    srv, _cache = make(Clock())
    srv.answer(query("web.default.svc.cluster.local", 1))
    assert srv.cached(query("web.default.svc.cluster.local", 2), "udp", 0.0) is not None
    srv.resolver.index.set_service(service("default", "web", "10.96.0.99", [("http", 80, "TCP")]))
    assert srv.cached(query("web.default.svc.cluster.local", 3), "udp", 0.0) is None
    wire = srv.answer(query("web.default.svc.cluster.local", 4))
    assert isinstance(wire, bytes)
    r = dns.message.from_wire(wire)
    assert [str(rd) for rd in r.answer[0]] == ["10.96.0.99"]


def test_entries_expire_and_ttls_count_down() -> None:
    clock = Clock()
    srv, _cache = make(clock)
    srv.answer(query("web.default.svc.cluster.local", 1))  # TTL 5: cached 5 s
    clock.now += 2.5
    hit = srv.cached(query("web.default.svc.cluster.local", 2), "udp", 0.0)
    assert hit is not None
    assert dns.message.from_wire(hit).answer[0].ttl == 3
    clock.now += 2.5
    assert srv.cached(query("web.default.svc.cluster.local", 3), "udp", 0.0) is None


def test_negative_answers_are_cached_by_the_soa() -> None:
    clock = Clock()
    srv, cache = make(clock)
    srv.answer(query("nope.default.svc.cluster.local", 1))
    hit = srv.cached(query("nope.default.svc.cluster.local", 2), "udp", 0.0)
    assert hit is not None
    assert dns.message.from_wire(hit).rcode() == dns.rcode.NXDOMAIN
    assert srv.stats.cache_hits["denial"] == 1
    assert cache.counts() == {"success": 0, "denial": 1}


def _response(ttl: int, rcode: int = 0) -> bytes:
    q = dns.message.make_query("example.com", "A")
    r = dns.message.make_response(q)
    r.set_rcode(dns.rcode.Rcode(rcode))
    if rcode == 0:
        r.answer.append(dns.rrset.from_text("example.com.", ttl, "IN", "A", "192.0.2.1"))
    return r.to_wire()


def test_cache_durations_follow_the_cache_plugin() -> None:
    clock = Clock()
    cache = AnswerCache(cluster_index(), max_ttl=30, min_ttl=5, clock=clock)
    assert cache.duration(scan(_response(300))) == 30  # capped
    assert cache.duration(scan(_response(1))) == 5  # raised to the minimum
    assert cache.duration(scan(_response(12))) == 12
    assert cache.duration(scan(_response(60, dns.rcode.SERVFAIL))) is None
    assert cache.duration(scan(_response(60, dns.rcode.REFUSED))) is None
    e = cache.put(b"k", _response(300), cluster=False)
    assert e is not None and e.generation == -1
    cache.index.generation += 1  # upstream answers do not depend on the index
    assert cache.get(b"k") is not None
    clock.now += 30
    assert cache.get(b"k") is None


def test_cache_capacity_drops_the_oldest() -> None:
    cache = AnswerCache(cluster_index(), capacity=2, clock=Clock())
    for key in (b"a", b"b", b"c"):
        cache.put(key, _response(60), cluster=False)
    assert list(cache.entries) == [b"b", b"c"]


def test_cache_off() -> None:
    cache = AnswerCache(cluster_index(), max_ttl=0, clock=Clock())
    assert cache.put(b"a", _response(60), cluster=False) is None
