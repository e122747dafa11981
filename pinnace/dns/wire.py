"""Small DNS wire-format helpers for the hot path, where building dnspython
objects per packet would cost more than the answer itself.

* :func:`scan` walks a response once: where each record's TTL sits (so a
  cached answer can be aged by patching bytes), the rcode, TC, and the SOA
  minimum of a negative answer (for how long to cache it);
* :func:`question_end` finds the end of the question section;
* :func:`error_reply` and :func:`truncated_reply` build header-only replies
  from a query's bytes.

Pure functions over ``bytes``; malformed input raises :class:`WireError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = [
    "HEADER",
    "Scan",
    "WireError",
    "error_reply",
    "question_end",
    "scan",
    "truncated_reply",
    "udp_limit",
]

HEADER = 12
_OPT = 41
_SOA = 6
_QR = 0x8000
_TC = 0x0200
_RD = 0x0100
_OPCODE = 0x7800
_U16 = struct.Struct("!H")
_RR = struct.Struct("!HHIH")  # type, class, ttl, rdlength


class WireError(ValueError):
    """The bytes are not a well-formed DNS message."""


def _skip_name(wire: bytes, off: int) -> int:
    n = len(wire)
    while True:
        if off >= n:
            raise WireError("name runs past the end")
        length = wire[off]
        if length == 0:
            return off + 1
        if length & 0xC0 == 0xC0:
            return off + 2
        if length & 0xC0:
            raise WireError("bad label type")
        off += length + 1


def question_end(wire: bytes) -> int:
    """The offset just past the question section."""
    if len(wire) < HEADER:
        raise WireError("short header")
    off = HEADER
    for _ in range(_U16.unpack_from(wire, 4)[0]):
        off = _skip_name(wire, off) + 4
    if off > len(wire):
        raise WireError("question runs past the end")
    return off


@dataclass(slots=True)
class Scan:
    rcode: int
    truncated: bool
    answers: int
    #: (offset of the TTL field, TTL) of every record except OPT
    ttls: list[tuple[int, int]] = field(default_factory=list)
    #: the SOA in the authority section: min(its TTL, its MINIMUM)
    soa_ttl: int | None = None
    #: the query's EDNS UDP payload size if it had an OPT record
    payload: int | None = None


def scan(wire: bytes) -> Scan:
    """Walk every record of a message."""
    if len(wire) < HEADER:
        raise WireError("short header")
    flags = _U16.unpack_from(wire, 2)[0]
    _qd, an, ns, ar = struct.unpack_from("!HHHH", wire, 4)
    off = question_end(wire)
    out = Scan(rcode=flags & 0xF, truncated=bool(flags & _TC), answers=an)
    for i in range(an + ns + ar):
        off = _skip_name(wire, off)
        if off + 10 > len(wire):
            raise WireError("record runs past the end")
        rtype, rclass, ttl, rdlen = _RR.unpack_from(wire, off)
        rdata = off + 10
        if rdata + rdlen > len(wire):
            raise WireError("rdata runs past the end")
        if rtype == _OPT:
            out.payload = rclass
            out.rcode |= (ttl >> 24) << 4
        else:
            out.ttls.append((off + 4, ttl))
            if rtype == _SOA and an <= i < an + ns:
                # MINIMUM is the last 4 bytes of the rdata
                minimum = struct.unpack_from("!I", wire, rdata + rdlen - 4)[0]
                out.soa_ttl = min(ttl, minimum)
        off = rdata + rdlen
    return out


def udp_limit(query: bytes) -> int:
    """The largest UDP reply this query allows: its EDNS payload (at least 512),
    or 512 without EDNS."""
    try:
        payload = scan(query).payload
    except WireError:
        return 512
    return max(512, payload) if payload is not None else 512


def _reply_header(query: bytes, rcode: int, extra_flags: int, with_question: bool) -> bytes:
    flags = _U16.unpack_from(query, 2)[0]
    out_flags = _QR | (flags & (_OPCODE | _RD)) | extra_flags | (rcode & 0xF)
    return query[:2] + struct.pack("!HHHHH", out_flags, 1 if with_question else 0, 0, 0, 0)


def error_reply(query: bytes, rcode: int) -> bytes | None:
    """A reply with only the header (and the question, when it parses) carrying
    ``rcode``; ``None`` when even the header is missing."""
    if len(query) < HEADER:
        return None
    try:
        qend = question_end(query)
        with_q = _U16.unpack_from(query, 4)[0] == 1
    except WireError:
        with_q = False
    head = _reply_header(query, rcode, 0, with_q)
    return head + query[HEADER:qend] if with_q else head


def truncated_reply(query: bytes, flags_from: bytes | None = None) -> bytes:
    """An empty reply with TC set, telling the client to retry over TCP. With
    ``flags_from`` (a full response) its AA/RA bits and rcode are kept."""
    qend = question_end(query)
    extra = 0
    rcode = 0
    if flags_from is not None and len(flags_from) >= 4:
        rflags = _U16.unpack_from(flags_from, 2)[0]
        extra = rflags & 0x0480  # AA | RA
        rcode = rflags & 0xF
    return _reply_header(query, rcode, _TC | extra, True) + query[HEADER:qend]
