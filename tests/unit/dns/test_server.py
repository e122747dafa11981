"""The server on real sockets (127.0.0.1): UDP and TCP listeners, forwarding
to a fake upstream (TC → TCP retry, timeouts → SERVFAIL), ExternalName chased
upstream, and the metrics/health HTTP app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from aiohttp.test_utils import TestClient, TestServer

from pinnace.dns.cache import AnswerCache
from pinnace.dns.forward import Forwarder
from pinnace.dns.metrics import DnsStats, metrics_app, new_registry
from pinnace.dns.records import Resolver
from pinnace.dns.server import DnsServer
from tests.unit.dns.dnsfakes import FakeUpstream, Handler, answer_a, cluster_index

Factory = Callable[[Handler], Awaitable[FakeUpstream]]


@pytest.fixture
async def start_server() -> AsyncIterator[Callable[..., Awaitable[DnsServer]]]:
    servers: list[DnsServer] = []

    async def start(upstreams: list[str], timeout: float = 2.0) -> DnsServer:
        idx = cluster_index()
        srv = DnsServer(
            Resolver(idx), AnswerCache(idx), Forwarder(upstreams, timeout=timeout), DnsStats()
        )
        await srv.start("127.0.0.1", 0)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        await srv.close()


async def udp(srv: DnsServer, name: str, rdtype: str = "A", **kw: object) -> dns.message.Message:
    assert srv.udp_address is not None
    q = dns.message.make_query(name, rdtype, **kw)  # type: ignore[arg-type]
    return await dns.asyncquery.udp(q, "127.0.0.1", port=srv.udp_address[1], timeout=10)


async def tcp(srv: DnsServer, name: str, rdtype: str = "A") -> dns.message.Message:
    assert srv.tcp_address is not None
    q = dns.message.make_query(name, rdtype)
    return await dns.asyncquery.tcp(q, "127.0.0.1", port=srv.tcp_address[1], timeout=10)


async def test_cluster_names_over_udp_and_tcp(
    start_server: Callable[..., Awaitable[DnsServer]],
) -> None:
    srv = await start_server([])
    for ask in (udp, tcp):
        r = await ask(srv, "web.default.svc.cluster.local")
        assert r.rcode() == dns.rcode.NOERROR
        assert [str(rd) for rd in r.answer[0]] == ["10.96.0.20"]
    # the second UDP query is a cache hit (the TCP one was cached first)
    assert srv.stats.cache_hits["success"] >= 1
    assert srv.stats.requests[("tcp", "1", "A")] == 1


async def test_other_names_are_forwarded_and_cached(
    start_server: Callable[..., Awaitable[DnsServer]], upstream_factory: Factory
) -> None:
    up = await upstream_factory(answer_a("192.0.2.7", ttl=120))
    srv = await start_server([up.address])
    r = await udp(srv, "www.example.com")
    assert r.rcode() == dns.rcode.NOERROR
    assert [str(rd) for rd in r.answer[0]] == ["192.0.2.7"]
    assert r.flags & dns.flags.RA and not r.flags & dns.flags.AA
    r = await udp(srv, "www.example.com")
    assert [str(rd) for rd in r.answer[0]] == ["192.0.2.7"]
    assert r.answer[0].ttl <= 30  # cache 30
    assert len(up.udp_queries) == 1
    assert srv.stats.forward_requests == {up.address: 1}
    # unknown reverse names fall through to upstream too
    await udp(srv, "1.2.0.192.in-addr.arpa", "PTR")
    assert len(up.udp_queries) == 2


async def test_truncated_upstream_reply_is_retried_over_tcp(
    start_server: Callable[..., Awaitable[DnsServer]], upstream_factory: Factory
) -> None:
    def big(q: dns.message.Message) -> dns.message.Message:
        r = dns.message.make_response(q, recursion_available=True)
        rrset = dns.rrset.RRset(q.question[0].name, dns.rdataclass.IN, dns.rdatatype.A)
        for i in range(1, 61):
            rrset.add(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.A, f"192.0.2.{i}"), 60)
        r.answer.append(rrset)
        r.flags |= dns.flags.TC  # over UDP the fake says "truncated"; over TCP it is whole
        return r

    up = await upstream_factory(big)
    srv = await start_server([up.address])
    r = await udp(srv, "big.example.com", use_edns=0, payload=4096)
    assert not r.flags & dns.flags.TC
    assert len(r.answer[0]) == 60
    assert len(up.udp_queries) == 1 and len(up.tcp_queries) == 1
    # a client with a 512-byte limit gets TC and retries over TCP itself
    r = await udp(srv, "big2.example.com")
    assert r.flags & dns.flags.TC
    r = await tcp(srv, "big2.example.com")
    assert not r.flags & dns.flags.TC and len(r.answer[0]) == 60


async def test_upstream_timeout_is_servfail_and_next_upstream_is_tried(
    start_server: Callable[..., Awaitable[DnsServer]], upstream_factory: Factory
) -> None:
    silent = await upstream_factory(lambda q: None)
    srv = await start_server([silent.address], timeout=0.2)
    r = await udp(srv, "www.example.com")
    assert r.rcode() == dns.rcode.SERVFAIL
    assert srv.stats.responses.get(("SERVFAIL", "")) == 1
    # SERVFAIL is not cached: once an upstream answers, so do we
    good = await upstream_factory(answer_a("192.0.2.8"))
    srv2 = await start_server([silent.address, good.address], timeout=0.2)
    for _ in range(3):  # whichever upstream is tried first, the answer comes back
        r = await udp(srv2, "www.example.com")
        assert r.rcode() == dns.rcode.NOERROR


async def test_no_upstreams_is_servfail(start_server: Callable[..., Awaitable[DnsServer]]) -> None:
    srv = await start_server([])
    r = await udp(srv, "www.example.com")
    assert r.rcode() == dns.rcode.SERVFAIL


async def test_external_name_target_is_looked_up_upstream(
    start_server: Callable[..., Awaitable[DnsServer]], upstream_factory: Factory
) -> None:
    up = await upstream_factory(answer_a("192.0.2.9"))
    srv = await start_server([up.address])
    r = await udp(srv, "ext.default.svc.cluster.local")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert [(rr.rdtype, [str(rd) for rd in rr]) for rr in r.answer] == [
        (dns.rdatatype.CNAME, ["example.com."]),
        (dns.rdatatype.A, ["192.0.2.9"]),
    ]
    assert str(up.udp_queries[0].question[0].name) == "example.com."


async def test_metrics_health_and_ready() -> None:
    stats = DnsStats(server="dns://127.0.0.1:53")
    stats.request("udp", "1", "A")
    stats.response("NOERROR", "kubernetes")
    stats.duration.observe(0.0001)
    stats.cache_hits["success"] += 3
    stats.cache_misses += 1
    stats.forwarded("127.0.0.1:53", "NOERROR", 0.01)
    ready = False
    app = metrics_app(new_registry(stats), lambda: ready)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/metrics")
        text = await resp.text()
        assert resp.status == 200
        for line in (
            'coredns_dns_requests_total{family="1",proto="udp",server="dns://127.0.0.1:53",'
            'type="A",view="",zone="."} 1.0',
            'coredns_dns_responses_total{plugin="kubernetes",rcode="NOERROR",'
            'server="dns://127.0.0.1:53",view="",zone="."} 1.0',
            'coredns_cache_hits_total{server="dns://127.0.0.1:53",type="success",view="",'
            'zones="."} 3.0',
            'coredns_cache_misses_total{server="dns://127.0.0.1:53",view="",zones="."} 1.0',
            'coredns_forward_requests_total{to="127.0.0.1:53"} 1.0',
            'coredns_dns_request_duration_seconds_bucket{le="0.00025",'
            'server="dns://127.0.0.1:53",view="",zone="."} 1.0',
        ):
            assert line in text, line
        assert (await client.get("/health")).status == 200
        assert (await client.get("/ready")).status == 503
        ready = True
        assert (await client.get("/ready")).status == 200
