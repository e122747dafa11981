"""Cluster records: each query answered from a fixed set of objects, checked
against what CoreDNS's kubernetes plugin answers (through the server's
synchronous path, so the wire encoding is covered too)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest

from pinnace.dns.cache import AnswerCache
from pinnace.dns.forward import Forwarder
from pinnace.dns.index import ClusterIndex
from pinnace.dns.records import Resolver
from pinnace.dns.server import DnsServer
from tests.unit.dns.dnsfakes import cluster_index, endpoint_slice, service


def make_server(idx: ClusterIndex | None = None) -> DnsServer:
    idx = idx or cluster_index()
    return DnsServer(Resolver(idx), AnswerCache(idx, max_ttl=0), Forwarder([]))


def ask(
    srv: DnsServer, name: str, rdtype: str = "A", *, payload: int | None = None
) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, use_edns=payload is not None, payload=payload or 512)
    wire = srv.answer(q.to_wire())
    assert isinstance(wire, bytes), "cluster names are answered synchronously"
    r = dns.message.from_wire(wire)
    assert r.id == q.id
    return r


def records(r: dns.message.Message, section: str = "answer") -> list[str]:
    out: list[str] = []
    for rrset in getattr(r, section):
        for rd in rrset:
            out.append(f"{rrset.name} {rrset.ttl} {dns.rdatatype.to_text(rrset.rdtype)} {rd}")
    return sorted(out)


def assert_negative(r: dns.message.Message, rcode: int) -> None:
    assert r.rcode() == rcode
    assert not r.answer
    assert r.flags & dns.flags.AA
    soa = records(r, "authority")
    assert len(soa) == 1
    assert soa[0].startswith("cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local.")
    assert soa[0].endswith(" 7200 1800 86400 5")


def test_service_a_record_is_the_cluster_ip_authoritative() -> None:
    r = ask(make_server(), "web.default.svc.cluster.local")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert not r.flags & dns.flags.RA
    assert records(r) == ["web.default.svc.cluster.local. 5 A 10.96.0.20"]


def test_aaaa_for_an_ipv4_service_is_nodata() -> None:
    assert_negative(ask(make_server(), "web.default.svc.cluster.local", "AAAA"), dns.rcode.NOERROR)


def test_names_are_case_insensitive_and_the_question_keeps_its_case() -> None:
    r = ask(make_server(), "WeB.DeFault.SVC.Cluster.Local")
    assert r.question[0].name.to_text() == "WeB.DeFault.SVC.Cluster.Local."
    assert [str(rd) for rrset in r.answer for rd in rrset] == ["10.96.0.20"]


def test_headless_service_answers_every_ready_endpoint() -> None:
    r = ask(make_server(), "db.default.svc.cluster.local")
    # 10.42.0.7 is not ready; an endpoint without conditions.ready counts as ready
    assert records(r) == [
        "db.default.svc.cluster.local. 5 A 10.42.0.5",
        "db.default.svc.cluster.local. 5 A 10.42.0.6",
    ]


def test_headless_service_without_endpoints_is_nxdomain() -> None:
    assert_negative(ask(make_server(), "empty.default.svc.cluster.local"), dns.rcode.NXDOMAIN)


def test_endpoint_hostname_record() -> None:
    srv = make_server()
    r = ask(srv, "db-0.db.default.svc.cluster.local")
    assert records(r) == ["db-0.db.default.svc.cluster.local. 5 A 10.42.0.5"]
    # endpoints without a hostname are known by their dashed IP
    r = ask(srv, "10-42-0-6.db.default.svc.cluster.local")
    assert records(r) == ["10-42-0-6.db.default.svc.cluster.local. 5 A 10.42.0.6"]
    assert_negative(ask(srv, "db-9.db.default.svc.cluster.local"), dns.rcode.NXDOMAIN)
    # a ClusterIP service's endpoints are reachable by name too (CoreDNS does this)
    r = ask(srv, "10-42-0-9.web.default.svc.cluster.local")
    assert records(r) == ["10-42-0-9.web.default.svc.cluster.local. 5 A 10.42.0.9"]


def test_srv_for_a_named_port_of_a_cluster_ip_service() -> None:
    r = ask(make_server(), "_http._tcp.web.default.svc.cluster.local", "SRV")
    assert records(r) == [
        "_http._tcp.web.default.svc.cluster.local. 5 SRV 0 100 80 web.default.svc.cluster.local."
    ]
    assert records(r, "additional") == ["web.default.svc.cluster.local. 5 A 10.96.0.20"]


def test_srv_for_a_headless_service_names_each_endpoint() -> None:
    r = ask(make_server(), "_pg._tcp.db.default.svc.cluster.local", "SRV")
    assert records(r) == [
        "_pg._tcp.db.default.svc.cluster.local. 5 SRV 0 50 5432 10-42-0-6.db.default.svc.cluster.local.",
        "_pg._tcp.db.default.svc.cluster.local. 5 SRV 0 50 5432 db-0.db.default.svc.cluster.local.",
    ]
    assert records(r, "additional") == [
        "10-42-0-6.db.default.svc.cluster.local. 5 A 10.42.0.6",
        "db-0.db.default.svc.cluster.local. 5 A 10.42.0.5",
    ]


def test_srv_without_port_lists_every_port_and_wrong_port_is_nxdomain() -> None:
    srv = make_server()
    r = ask(srv, "web.default.svc.cluster.local", "SRV")
    assert records(r) == [
        "web.default.svc.cluster.local. 5 SRV 0 50 53 web.default.svc.cluster.local.",
        "web.default.svc.cluster.local. 5 SRV 0 50 80 web.default.svc.cluster.local.",
    ]
    assert_negative(ask(srv, "_http._udp.web.default.svc.cluster.local", "SRV"), dns.rcode.NXDOMAIN)
    assert_negative(ask(srv, "_nope._tcp.web.default.svc.cluster.local", "SRV"), dns.rcode.NXDOMAIN)
    r = ask(srv, "_DNS._UDP.web.default.svc.cluster.local", "SRV")
    assert [rd.port for rrset in r.answer for rd in rrset] == [53]


def test_external_name_is_a_cname() -> None:
    srv = make_server()
    r = ask(srv, "ext.default.svc.cluster.local", "CNAME")
    assert records(r) == ["ext.default.svc.cluster.local. 5 CNAME example.com."]
    # an in-cluster target is followed
    r = ask(srv, "alias.default.svc.cluster.local")
    assert records(r) == [
        "alias.default.svc.cluster.local. 5 CNAME web.default.svc.cluster.local.",
        "web.default.svc.cluster.local. 5 A 10.96.0.20",
    ]
    # SRV is not served for ExternalName services, and they have no ports/endpoints
    assert_negative(ask(srv, "ext.default.svc.cluster.local", "SRV"), dns.rcode.NOERROR)
    assert_negative(ask(srv, "x.ext.default.svc.cluster.local"), dns.rcode.NXDOMAIN)


def test_external_name_outside_the_cluster_asks_to_be_chased() -> None:
    res = Resolver(cluster_index())
    ans = res.resolve(dns.name.from_text("ext.default.svc.cluster.local"), dns.rdatatype.A)
    assert ans is not None and ans.chase is not None
    assert ans.chase == (dns.name.from_text("example.com."), dns.rdatatype.A)
    assert [r.rdtype for r in ans.answer] == [dns.rdatatype.CNAME]
    ans.complete_chase(None)  # the upstream lookup failed: CoreDNS drops the CNAME
    assert not ans.answer and ans.authority and ans.authority[0].rdtype == dns.rdatatype.SOA


def test_pod_records_in_insecure_mode() -> None:
    srv = make_server()
    r = ask(srv, "10-244-1-7.default.pod.cluster.local")
    assert records(r) == ["10-244-1-7.default.pod.cluster.local. 5 A 10.244.1.7"]
    assert_negative(ask(srv, "10-244-1-7.default.pod.cluster.local", "AAAA"), dns.rcode.NOERROR)
    r = ask(srv, "fd00--1.default.pod.cluster.local", "AAAA")
    assert records(r) == ["fd00--1.default.pod.cluster.local. 5 AAAA fd00::1"]
    assert_negative(ask(srv, "not-an-ip.default.pod.cluster.local"), dns.rcode.NXDOMAIN)
    assert_negative(ask(srv, "10-244-1-7.nowhere.pod.cluster.local"), dns.rcode.NXDOMAIN)
    assert_negative(ask(srv, "default.pod.cluster.local"), dns.rcode.NOERROR)


@pytest.mark.parametrize(
    ("name", "rcode"),
    [
        ("cluster.local", dns.rcode.NOERROR),
        ("svc.cluster.local", dns.rcode.NOERROR),
        ("pod.cluster.local", dns.rcode.NOERROR),
        ("default.svc.cluster.local", dns.rcode.NOERROR),
        ("nowhere.svc.cluster.local", dns.rcode.NXDOMAIN),
        ("nope.default.svc.cluster.local", dns.rcode.NXDOMAIN),
        ("web.nowhere.svc.cluster.local", dns.rcode.NXDOMAIN),
        ("foo.cluster.local", dns.rcode.NXDOMAIN),
        ("web.default.cluster.local", dns.rcode.NXDOMAIN),
        # what a pod's search path makes of an already qualified name
        ("web.default.svc.cluster.local.default.svc.cluster.local", dns.rcode.NXDOMAIN),
        ("web.default.svc.cluster.local.svc.cluster.local", dns.rcode.NXDOMAIN),
        ("web.default.svc.cluster.local.cluster.local", dns.rcode.NXDOMAIN),
        ("web.default.default.svc.cluster.local", dns.rcode.NXDOMAIN),
        ("a.b.c.web.default.svc.cluster.local", dns.rcode.NXDOMAIN),
    ],
)
def test_existence_nodata_vs_nxdomain(name: str, rcode: int) -> None:
    assert_negative(ask(make_server(), name), rcode)


def test_other_types_follow_the_names_existence() -> None:
    srv = make_server()
    assert_negative(ask(srv, "web.default.svc.cluster.local", "MX"), dns.rcode.NOERROR)
    assert_negative(ask(srv, "web.default.svc.cluster.local", "TXT"), dns.rcode.NOERROR)
    assert_negative(ask(srv, "nope.default.svc.cluster.local", "MX"), dns.rcode.NXDOMAIN)
    assert_negative(ask(srv, "nope.default.svc.cluster.local", "TXT"), dns.rcode.NXDOMAIN)


def test_apex_soa_ns_and_dns_version() -> None:
    srv = make_server()
    r = ask(srv, "cluster.local", "SOA")
    assert records(r) == [
        "cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. "
        "1700000000 7200 1800 86400 5"
    ]
    r = ask(srv, "cluster.local", "NS")
    assert records(r) == ["cluster.local. 5 NS ns.dns.cluster.local."]
    assert records(r, "additional") == ["ns.dns.cluster.local. 5 A 10.96.0.10"]
    assert records(ask(srv, "ns.dns.cluster.local")) == ["ns.dns.cluster.local. 5 A 10.96.0.10"]
    r = ask(srv, "dns-version.cluster.local", "TXT")
    assert records(r) == ['dns-version.cluster.local. 28800 TXT "1.1.0"']


def test_zone_transfers_are_refused() -> None:
    q = dns.message.make_query("cluster.local", "AXFR")
    wire = make_server().answer(q.to_wire(), "tcp")
    assert isinstance(wire, bytes)
    assert dns.message.from_wire(wire).rcode() == dns.rcode.REFUSED


def test_ptr_for_service_and_endpoint_ips() -> None:
    srv = make_server()
    r = ask(srv, "20.0.96.10.in-addr.arpa", "PTR")
    assert records(r) == ["20.0.96.10.in-addr.arpa. 5 PTR web.default.svc.cluster.local."]
    assert r.flags & dns.flags.AA
    r = ask(srv, "5.0.42.10.in-addr.arpa", "PTR")
    assert records(r) == ["5.0.42.10.in-addr.arpa. 5 PTR db-0.db.default.svc.cluster.local."]
    r = ask(srv, "6.0.42.10.in-addr.arpa", "PTR")
    assert records(r) == ["6.0.42.10.in-addr.arpa. 5 PTR 10-42-0-6.db.default.svc.cluster.local."]


def test_unknown_reverse_names_and_other_zones_are_not_ours() -> None:
    res = Resolver(cluster_index())
    for name, rdtype in [
        ("7.0.42.10.in-addr.arpa", dns.rdatatype.PTR),  # endpoint not ready
        ("1.1.168.192.in-addr.arpa", dns.rdatatype.PTR),
        ("20.0.96.10.in-addr.arpa", dns.rdatatype.A),
        ("example.com", dns.rdatatype.A),
        ("local", dns.rdatatype.A),
    ]:
        assert res.resolve(dns.name.from_text(name), rdtype) is None, name


def test_custom_cluster_domain_and_ttl() -> None:
    idx = cluster_index()
    srv = DnsServer(
        Resolver(idx, "corp.example", ttl=30), AnswerCache(idx, max_ttl=0), Forwarder([])
    )
    r = ask(srv, "web.default.svc.corp.example")
    assert records(r) == ["web.default.svc.corp.example. 30 A 10.96.0.20"]
    r = ask(srv, "20.0.96.10.in-addr.arpa", "PTR")
    assert records(r) == ["20.0.96.10.in-addr.arpa. 30 PTR web.default.svc.corp.example."]


def test_index_follows_updates_and_deletes() -> None:
    idx = cluster_index()
    srv = make_server(idx)
    gen = idx.generation
    idx.set_service(service("default", "web", "10.96.0.21", [("http", 80, "TCP")]))
    assert idx.generation > gen
    assert records(ask(srv, "web.default.svc.cluster.local")) == [
        "web.default.svc.cluster.local. 5 A 10.96.0.21"
    ]
    assert Resolver(idx).resolve(dns.name.from_text("20.0.96.10.in-addr.arpa"), 12) is None
    idx.set_slice(
        endpoint_slice(
            "default",
            "db-1",
            "db",
            [{"addresses": ["10.42.0.8"], "conditions": {"ready": True}}],
            [("pg", 5432, "TCP")],
        )
    )
    assert records(ask(srv, "db.default.svc.cluster.local")) == [
        "db.default.svc.cluster.local. 5 A 10.42.0.8"
    ]
    idx.delete_slice({"metadata": {"namespace": "default", "name": "db-1"}})
    assert_negative(ask(srv, "db.default.svc.cluster.local"), dns.rcode.NXDOMAIN)
    idx.delete_namespace({"metadata": {"name": "default"}})
    assert_negative(ask(srv, "default.svc.cluster.local"), dns.rcode.NXDOMAIN)
    # an unchanged object does not invalidate anything
    gen = idx.generation
    idx.set_service(service("kube-system", "kube-dns", "10.96.0.10", [("dns", 53, "UDP")]))
    assert idx.generation == gen


def test_large_answer_is_truncated_over_udp_but_not_tcp() -> None:
    idx = cluster_index()
    idx.set_slice(
        endpoint_slice(
            "default",
            "db-1",
            "db",
            [{"addresses": [f"10.42.1.{i}"], "conditions": {"ready": True}} for i in range(1, 101)],
            [("pg", 5432, "TCP")],
        )
    )
    srv = make_server(idx)
    r = ask(srv, "db.default.svc.cluster.local")  # no EDNS: 512 bytes
    assert r.flags & dns.flags.TC
    assert len(r.to_wire()) <= 512
    r = ask(srv, "db.default.svc.cluster.local", payload=4096)
    assert not r.flags & dns.flags.TC
    assert len(r.answer[0]) == 100
    q = dns.message.make_query("db.default.svc.cluster.local", "A")
    wire = srv.answer(q.to_wire(), "tcp")
    assert isinstance(wire, bytes)
    r = dns.message.from_wire(wire)
    assert not r.flags & dns.flags.TC and len(r.answer[0]) == 100


def test_malformed_queries() -> None:
    srv = make_server()
    assert srv.answer(b"\x12") is None  # not even a header: dropped
    reply = srv.answer(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05abc")
    assert isinstance(reply, bytes)
    assert reply[:2] == b"\x12\x34" and reply[3] & 0xF == dns.rcode.FORMERR
    q = dns.message.make_query("web.default.svc.cluster.local", "A")
    q.flags |= dns.flags.QR  # a response, not a query
    assert srv.answer(q.to_wire()) is None
    q = dns.message.make_query("web.default.svc.cluster.local", "A")
    q.set_opcode(dns.opcode.NOTIFY)
    reply = srv.answer(q.to_wire())
    assert isinstance(reply, bytes) and reply[3] & 0xF == dns.rcode.NOTIMP
