"""Cluster records: a question about the cluster zone → the answer CoreDNS's
``kubernetes`` plugin gives (with ``pods insecure`` and ``fallthrough
in-addr.arpa ip6.arpa``, as the default Corefile has them).

Names under the cluster domain (``cluster.local``):

* ``<svc>.<ns>.svc`` — A/AAAA of the ClusterIP(s); for a headless Service one
  record per ready endpoint address; an ExternalName Service answers a CNAME
  (followed here when the target is in the cluster zone, otherwise the caller
  looks the target up upstream: :attr:`Answer.chase`);
* ``_<port>._<proto>.<svc>.<ns>.svc`` — SRV per matching named port, target
  the Service name (or, headless, ``<hostname-or-dashed-ip>.<svc>.<ns>.svc``)
  with its address in the additional section; weight ``floor(100/n)``;
* ``<hostname>.<svc>.<ns>.svc`` — one endpoint (StatefulSet pods);
* ``<a-b-c-d>.<ns>.pod`` — insecure pod records: the IP is read from the name;
* ``<ns>.svc``, ``svc``, ``pod`` and the apex exist (NODATA); an unknown
  namespace, Service or a name with too many labels is NXDOMAIN — so the
  search-path expansions a pod's resolver tries fail fast;
* ``dns-version`` TXT ``1.1.0`` (the spec's schema version), ``ns.dns`` A →
  the DNS Service IP, apex SOA/NS.

Negative answers carry the zone SOA (``ns.dns.<zone>``,
``hostmaster.<zone>``, serial = last change time, 7200 1800 86400, minimum =
TTL) in the authority section; every answer here is authoritative. PTR for a
Service or endpoint IP is answered; any other reverse name returns ``None``
(forward it, as ``fallthrough`` does); so does every name outside the zone.

One deliberate difference: CoreDNS answers TXT on an existing name that has
no records of its own (e.g. the apex) with NXDOMAIN; here every type other
than the ones answered follows the name's existence (NODATA vs NXDOMAIN).

Pure and synchronous: reads :class:`~pinnace.dns.index.ClusterIndex`, builds
dnspython RRsets; no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset
from dns.rdtypes.ANY import CNAME as _CNAME
from dns.rdtypes.ANY import NS as _NS
from dns.rdtypes.ANY import PTR as _PTR
from dns.rdtypes.ANY import SOA as _SOA
from dns.rdtypes.ANY import TXT as _TXT
from dns.rdtypes.IN import AAAA as _AAAA
from dns.rdtypes.IN import SRV as _SRV
from dns.rdtypes.IN import A as _A

from pinnace.dns.index import ClusterIndex

__all__ = ["DNS_SCHEMA_VERSION", "Answer", "Resolver"]

# dnspython's rdata constructors are not annotated
_RdataFactory = Callable[..., dns.rdata.Rdata]
A = cast(_RdataFactory, _A.A)
AAAA = cast(_RdataFactory, _AAAA.AAAA)
CNAME = cast(_RdataFactory, _CNAME.CNAME)
NS = cast(_RdataFactory, _NS.NS)
PTR = cast(_RdataFactory, _PTR.PTR)
SOA = cast(_RdataFactory, _SOA.SOA)
SRV = cast(_RdataFactory, _SRV.SRV)
TXT = cast(_RdataFactory, _TXT.TXT)

#: the version of the Kubernetes DNS specification served (``dns-version`` TXT)
DNS_SCHEMA_VERSION = "1.1.0"
_TXT_TTL = 28800
_MAX_CNAME_CHAIN = 10
_IN = dns.rdataclass.IN
_T = dns.rdatatype
_REVERSE_V4 = ("in-addr", "arpa")
_REVERSE_V6 = ("ip6", "arpa")


@dataclass
class Answer:
    """What to put in the response (sections as dnspython RRsets)."""

    rcode: int = dns.rcode.NOERROR
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    additional: list[dns.rrset.RRset] = field(default_factory=list)
    authoritative: bool = True
    #: an ExternalName target outside the zone: (target, qtype) to look up upstream;
    #: then call :meth:`complete_chase`
    chase: tuple[dns.name.Name, int] | None = None
    #: the SOA to put in the authority section if the answer ends up empty
    soa: dns.rrset.RRset | None = None

    def complete_chase(self, rrsets: list[dns.rrset.RRset] | None) -> None:
        """Add the upstream answer to a chased CNAME. ``None`` (the lookup failed)
        drops the CNAME, as CoreDNS does, which leaves NODATA."""
        self.chase = None
        if rrsets is None:
            self.answer = [r for r in self.answer if r.rdtype != _T.CNAME]
        else:
            self.answer.extend(rrsets)
        if not self.answer and self.soa is not None:
            self.authority = [self.soa]


@dataclass(slots=True)
class _Rec:
    """One CoreDNS ``msg.Service``: an address (or ExternalName) with a port and
    the labels (relative to the zone) of the name it is known by."""

    host: str
    port: int
    key: tuple[str, ...]
    cname: bool = False


class _Items:
    """Records in the order added, merged into one RRset per (name, type)."""

    def __init__(self) -> None:
        self._sets: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = {}

    def add(self, name: dns.name.Name, rd: dns.rdata.Rdata, ttl: int) -> None:
        key = (name, rd.rdtype)
        rrset = self._sets.get(key)
        if rrset is None:
            rrset = self._sets[key] = dns.rrset.RRset(name, _IN, rd.rdtype)
        rrset.add(rd, ttl)

    def __bool__(self) -> bool:
        return bool(self._sets)

    def rrsets(self) -> list[dns.rrset.RRset]:
        return list(self._sets.values())


def _strip_underscore(s: str) -> str:
    return s[1:] if s.startswith("_") else s


def _match_port(qport: str, pname: str, qproto: str, pproto: str) -> bool:
    return (not qport or qport == pname.lower()) and (not qproto or qproto == pproto.lower())


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class Resolver:
    """Answers questions about the cluster zone from a :class:`ClusterIndex`."""

    def __init__(
        self,
        index: ClusterIndex,
        cluster_domain: str = "cluster.local",
        *,
        ttl: int = 5,
        dns_ip: str = "10.96.0.10",
    ) -> None:
        self.index = index
        self.zone = dns.name.from_text(cluster_domain.strip(".") + ".")
        self._zone_labels = tuple(
            label.decode("latin-1").lower() for label in self.zone.labels[:-1]
        )
        self.ttl = ttl
        self.dns_ip = dns_ip

    # --- entry ---------------------------------------------------------------------------

    def resolve(self, qname: dns.name.Name, qtype: int) -> Answer | None:
        """The answer for ``qname``/``qtype`` (class IN), or ``None`` when the
        question is not ours to answer (forward it)."""
        labels = [label.decode("latin-1").lower() for label in qname.labels[:-1]]
        nz = len(self._zone_labels)
        if len(labels) >= nz and tuple(labels[len(labels) - nz :]) == self._zone_labels:
            cut = len(labels) - nz
            zone = dns.name.Name(qname.labels[cut:])  # the zone as the query spelled it
            return self._cluster(qname, qtype, labels[:cut], zone)
        if qtype == _T.PTR and tuple(labels[-2:]) in (_REVERSE_V4, _REVERSE_V6):
            return self._reverse(qname)
        return None

    # --- cluster zone --------------------------------------------------------------------

    def _soa(self, zone: dns.name.Name) -> dns.rrset.RRset:
        rrset = dns.rrset.RRset(zone, _IN, _T.SOA)
        rd = SOA(
            _IN,
            _T.SOA,
            dns.name.Name((b"ns", b"dns", *zone.labels)),
            dns.name.Name((b"hostmaster", *zone.labels)),
            self.index.modified & 0xFFFFFFFF,
            7200,
            1800,
            86400,
            self.ttl,
        )
        rrset.add(rd, min(self.ttl, 300))
        return rrset

    def _negative(self, rcode: int, zone: dns.name.Name) -> Answer:
        soa = self._soa(zone)
        return Answer(rcode=rcode, authority=[soa], soa=soa)

    def _ok(
        self,
        zone: dns.name.Name,
        answer: list[dns.rrset.RRset],
        additional: list[dns.rrset.RRset] | None = None,
    ) -> Answer:
        if not answer:
            return self._negative(dns.rcode.NOERROR, zone)
        return Answer(answer=answer, additional=additional or [])

    def _cluster(
        self, qname: dns.name.Name, qtype: int, base: list[str], zone: dns.name.Name
    ) -> Answer:
        if qtype in (_T.AXFR, _T.IXFR):
            return Answer(rcode=dns.rcode.REFUSED, authoritative=False)
        if qtype == _T.SOA:
            return self._ok(zone, [self._soa(zone)] if not base else [])
        if qtype == _T.NS and not base:
            return self._ns(zone)
        if base == ["ns", "dns"]:
            return self._default_ns(qname, qtype, zone)
        if qtype == _T.TXT and base == ["dns-version"]:
            items = _Items()
            items.add(qname, TXT(_IN, _T.TXT, [DNS_SCHEMA_VERSION.encode()]), _TXT_TTL)
            return self._ok(zone, items.rrsets())
        if qtype in (_T.A, _T.AAAA):
            return self._address(qname, qtype, base, zone, 0)
        if qtype == _T.SRV:
            return self._srv(qname, base, zone)
        recs, nx = self._records(base)
        if nx:
            return self._negative(dns.rcode.NXDOMAIN, zone)
        if qtype == _T.CNAME:
            items = _Items()
            for r in recs:
                if r.cname:
                    items.add(qname, CNAME(_IN, _T.CNAME, self._target(r.host)), self.ttl)
                    break
            return self._ok(zone, items.rrsets())
        return self._negative(dns.rcode.NOERROR, zone)

    def _ns(self, zone: dns.name.Name) -> Answer:
        ns_name = dns.name.Name((b"ns", b"dns", *zone.labels))
        ans, extra = _Items(), _Items()
        ans.add(zone, NS(_IN, _T.NS, ns_name), self.ttl)
        self._add_address(extra, ns_name, self.dns_ip, None)
        return self._ok(zone, ans.rrsets(), extra.rrsets())

    def _default_ns(self, qname: dns.name.Name, qtype: int, zone: dns.name.Name) -> Answer:
        items = _Items()
        if qtype in (_T.A, _T.AAAA):
            self._add_address(items, qname, self.dns_ip, qtype)
        return self._ok(zone, items.rrsets())

    def _add_address(
        self, items: _Items, name: dns.name.Name, host: str, qtype: int | None
    ) -> bool:
        ip = _ip(host)
        if ip is None:
            return False
        if ip.version == 4 and qtype in (None, _T.A):
            items.add(name, A(_IN, _T.A, str(ip)), self.ttl)
            return True
        if ip.version == 6 and qtype in (None, _T.AAAA):
            items.add(name, AAAA(_IN, _T.AAAA, str(ip)), self.ttl)
            return True
        return False

    @staticmethod
    def _target(host: str) -> dns.name.Name:
        return dns.name.from_text(host.strip(".") + ".")

    def _name(self, key: tuple[str, ...], zone: dns.name.Name) -> dns.name.Name:
        return dns.name.Name(tuple(k.encode() for k in key) + zone.labels)

    def _address(
        self, qname: dns.name.Name, qtype: int, base: list[str], zone: dns.name.Name, depth: int
    ) -> Answer:
        recs, nx = self._records(base)
        if nx:
            return self._negative(dns.rcode.NXDOMAIN, zone)
        items = _Items()
        chase: tuple[dns.name.Name, int] | None = None
        extra_sets: list[dns.rrset.RRset] = []
        seen: set[str] = set()
        for r in recs:
            if r.cname:
                target = self._target(r.host)
                if target == qname or depth >= _MAX_CNAME_CHAIN:
                    continue  # x CNAME x is a loop
                cname = CNAME(_IN, _T.CNAME, target)
                if target.is_subdomain(zone):
                    sub_labels = [
                        x.decode("latin-1").lower()
                        for x in target.labels[: len(target.labels) - len(zone.labels)]
                    ]
                    sub = self._address(target, qtype, sub_labels, zone, depth + 1)
                    if sub.answer:
                        items.add(qname, cname, self.ttl)
                        extra_sets.extend(sub.answer)
                    continue
                items.add(qname, cname, self.ttl)
                chase = (target, qtype)
                continue
            if r.host not in seen and self._add_address(items, qname, r.host, qtype):
                seen.add(r.host)
        answer = items.rrsets() + extra_sets
        if chase is not None:
            soa = self._soa(zone)
            return Answer(answer=answer, chase=chase, soa=soa)
        return self._ok(zone, answer)

    def _srv(self, qname: dns.name.Name, base: list[str], zone: dns.name.Name) -> Answer:
        recs, nx = self._records(base)
        if nx:
            return self._negative(dns.rcode.NXDOMAIN, zone)
        recs = [r for r in recs if not r.cname]  # SRV for ExternalName is not served
        weight = max(1, 100 // len(recs)) if recs else 0
        ans, extra = _Items(), _Items()
        srv_seen: set[tuple[dns.name.Name, int]] = set()
        addr_seen: set[tuple[dns.name.Name, str]] = set()
        for r in recs:
            if r.port < 0:
                continue
            target = self._name(r.key, zone)
            if (target, r.port) not in srv_seen:
                srv_seen.add((target, r.port))
                ans.add(qname, SRV(_IN, _T.SRV, 0, weight, r.port, target), self.ttl)
            if (target, r.host) not in addr_seen:
                addr_seen.add((target, r.host))
                self._add_address(extra, target, r.host, None)
        return self._ok(zone, ans.rrsets(), extra.rrsets())

    def _records(self, base: list[str]) -> tuple[list[_Rec], bool]:
        """CoreDNS's ``Records``: the matching services/endpoints/pods and whether
        the name does not exist (NXDOMAIN)."""
        if not base or base == ["svc"] or base == ["pod"]:
            return [], False
        kind = base[-1]
        if kind not in ("svc", "pod") or len(base) > 5:
            return [], True
        ns = base[-2]
        rest = base[:-2]
        service = endpoint = port = proto = ""
        if len(rest) == 1:
            service = rest[0]
        elif len(rest) == 2:
            endpoint, service = rest
        elif len(rest) == 3:
            port, proto, service = _strip_underscore(rest[0]), _strip_underscore(rest[1]), rest[2]
        if ns not in self.index.namespaces:
            return [], True
        if kind == "pod":
            return self._pods(ns, service)
        return self._services(ns, service, endpoint, port, proto)

    def _pods(self, ns: str, podname: str) -> tuple[list[_Rec], bool]:
        if not podname:
            return [], False
        if podname.count("-") == 3 and "--" not in podname:
            text = podname.replace("-", ".")
        else:
            text = podname.replace("-", ":")
        if _ip(text) is None:
            return [], True
        return [_Rec(text, 0, (podname, ns, "pod"))], False

    def _services(
        self, ns: str, service: str, endpoint: str, port: str, proto: str
    ) -> tuple[list[_Rec], bool]:
        if not service:
            return [], False
        svc = self.index.service(ns, service)
        if svc is None:
            return [], True
        key = (service, ns, "svc")
        if svc.type == "ExternalName":
            host = svc.external_name
            if endpoint or port or proto or not host or _ip(host) is not None:
                return [], True
            return [_Rec(host, 0, key, cname=True)], False
        recs: list[_Rec] = []
        found = False
        if svc.headless or endpoint:
            for a in self.index.endpoints(ns, service):
                if endpoint and a.hostname.lower() != endpoint:
                    continue
                for p in a.ports:
                    if _match_port(port, p.name, proto, p.protocol):
                        recs.append(_Rec(a.ip, p.port, (a.hostname, *key)))
                        found = True
            return recs, not found
        for p in svc.ports:
            if _match_port(port, p.name, proto, p.protocol):
                found = True
                recs.extend(_Rec(ip, p.port, key) for ip in svc.cluster_ips)
        return recs, not found

    # --- reverse -------------------------------------------------------------------------

    def _reverse(self, qname: dns.name.Name) -> Answer | None:
        try:
            ip = str(ipaddress.ip_address(dns.reversename.to_address(qname)))
        except (ValueError, dns.exception.SyntaxError):
            return None
        items = _Items()
        for svc in self.index.services_by_ip(ip):
            target = self._name((svc.name, svc.namespace, "svc"), self.zone)
            items.add(qname, PTR(_IN, _T.PTR, target), self.ttl)
            break
        else:
            for hostname, ns, svc_name in self.index.endpoints_by_ip(ip):
                target = self._name((hostname, svc_name, ns, "svc"), self.zone)
                items.add(qname, PTR(_IN, _T.PTR, target), self.ttl)
        if not items:
            return None
        return Answer(answer=items.rrsets())
