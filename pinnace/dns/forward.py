"""Forwarding names outside the cluster to upstream resolvers (CoreDNS's
``forward . /etc/resolv.conf``).

Each upstream gets one connected UDP socket shared by every outstanding
query: a query goes out under a fresh random ID and the reply is matched back
by that ID *and* the question bytes (so a stray or spoofed datagram cannot
answer it), then handed back under the client's ID. A reply with TC set is
asked again over TCP (a connection per query; rare). An upstream that times
out or refuses (ICMP port unreachable surfaces as an error on the connected
socket) is skipped for the next one, starting from a random upstream each
time as CoreDNS's default ``random`` policy does; when all fail the caller
answers SERVFAIL.

Concurrency model: asyncio; a pending query is a future in a dict owned by
the upstream's datagram protocol; nothing blocks.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
from typing import cast

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from pinnace import aio
from pinnace.dns.config import parse_host_port
from pinnace.dns.metrics import DnsStats
from pinnace.dns.wire import HEADER, WireError, question_end

__all__ = ["ForwardError", "Forwarder", "Upstream"]

log = logging.getLogger("pinnace.dns.forward")

_TC = 0x0200


class ForwardError(Exception):
    """No upstream answered."""


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, tuple[bytes, asyncio.Future[bytes]]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: object) -> None:
        if len(data) < HEADER:
            return
        qid = (data[0] << 8) | data[1]
        entry = self.pending.get(qid)
        if entry is None:
            return
        question, fut = entry
        if data[HEADER : HEADER + len(question)].lower() != question.lower():
            return  # not the reply to that question
        del self.pending[qid]
        if not fut.done():
            fut.set_result(data)

    def _fail_all(self, exc: Exception) -> None:
        pending, self.pending = self.pending, {}
        for _, fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)

    def error_received(self, exc: Exception) -> None:
        self._fail_all(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail_all(exc or ConnectionError("upstream socket closed"))


class Upstream:
    """One upstream resolver (``host:port``)."""

    def __init__(self, address: str) -> None:
        self.host, self.port = parse_host_port(address)
        self.label = (
            f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        )
        self._proto: _UdpProtocol | None = None
        self._opening: asyncio.Lock | None = None

    async def _udp_protocol(self) -> _UdpProtocol:
        if self._proto is not None and self._proto.transport is not None:
            return self._proto
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._proto is None or self._proto.transport is None:
                loop = asyncio.get_running_loop()
                _, proto = await loop.create_datagram_endpoint(
                    _UdpProtocol, remote_addr=(self.host, self.port)
                )
                self._proto = proto
        return self._proto

    async def udp(self, query: bytes, timeout: float) -> bytes:
        proto = await self._udp_protocol()
        assert proto.transport is not None
        question = query[HEADER : question_end(query)]
        qid = random.getrandbits(16)
        while qid in proto.pending:
            qid = random.getrandbits(16)
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        proto.pending[qid] = (question, fut)
        try:
            proto.transport.sendto(struct.pack("!H", qid) + query[2:])
            reply = await aio.wait_for(fut, timeout)
        finally:
            entry = proto.pending.get(qid)
            if entry is not None and entry[1] is fut:
                del proto.pending[qid]
        return query[:2] + reply[2:]

    async def tcp(self, query: bytes, timeout: float) -> bytes:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(self.host, self.port)
            try:
                writer.write(struct.pack("!H", len(query)) + query)
                await writer.drain()
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                reply = await reader.readexactly(length)
            finally:
                writer.close()
        if reply[:2] != query[:2]:
            raise WireError("TCP reply with another ID")
        return reply

    def close(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        self._proto = None


class Forwarder:
    """Sends queries to the first upstream that answers."""

    def __init__(
        self, upstreams: list[str], *, timeout: float = 2.0, stats: DnsStats | None = None
    ) -> None:
        self.upstreams = [Upstream(u) for u in upstreams]
        self.timeout = timeout
        self.stats = stats

    async def query(self, wire: bytes) -> bytes:
        """The upstream's reply to ``wire`` (under ``wire``'s ID)."""
        if not self.upstreams:
            raise ForwardError("no upstream resolvers configured")
        start = random.randrange(len(self.upstreams))
        order = self.upstreams[start:] + self.upstreams[:start]
        errors: list[str] = []
        for up in order:
            t0 = time.perf_counter()
            try:
                reply = await up.udp(wire, self.timeout)
                if len(reply) >= 4 and reply[2] << 8 & _TC:
                    reply = await up.tcp(wire, self.timeout)
            except (TimeoutError, OSError, WireError, asyncio.IncompleteReadError) as e:
                errors.append(f"{up.label}: {e!r}")
                log.debug("upstream %s failed: %r", up.label, e)
                continue
            if self.stats is not None:
                rcode = dns.rcode.to_text(dns.rcode.Rcode(reply[3] & 0xF))
                self.stats.forwarded(up.label, rcode, time.perf_counter() - t0)
            return reply
        raise ForwardError("; ".join(errors))

    async def lookup(self, name: dns.name.Name, rdtype: int) -> list[dns.rrset.RRset] | None:
        """The answer section for ``name``/``rdtype`` from upstream (``None`` if no
        upstream answered)."""
        q = dns.message.make_query(name, dns.rdatatype.RdataType(rdtype))
        try:
            reply = await self.query(q.to_wire())
            return list(dns.message.from_wire(reply).answer)
        except (ForwardError, dns.exception.DNSException) as e:
            log.debug("looking up %s upstream failed: %s", name, e)
            return None

    def close(self) -> None:
        for up in self.upstreams:
            up.close()
