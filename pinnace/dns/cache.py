"""The answer cache (CoreDNS's ``cache 30``), keyed on the query's own bytes.

A DNS client repeating a question sends the same bytes every time except the
2-byte ID, so the key is ``query[2:]`` (flags, question, EDNS options
included) and the value is the encoded response minus its ID: a hit is one
dict lookup and one concatenation, no parsing. Whatever changes the answer
(the RD bit, the EDNS payload size and so truncation, the DO bit, 0x20 case)
is part of the key, so a hit is always the right reply for those bytes.

How long an entry lives follows the cache plugin: the smallest record TTL for
a positive answer, the SOA's ``min(TTL, MINIMUM)`` for a negative one, capped at
``max_ttl`` (30 s) and raised to ``min_ttl`` (5 s). Only NOERROR and NXDOMAIN
answers that were not truncated are kept. The TTLs served from the cache count
down: like the cache plugin, every record's TTL is set to the entry's
lifetime when stored (the first reply included) and to what is left of it on
a hit (the TTL fields are patched once per second of age, not per hit).
Entries for cluster names remember the :class:`~pinnace.dns.index.ClusterIndex`
generation they were built from and die as soon as the index changes; entries
from upstream only expire. When full, the oldest entry is dropped.

Concurrency model: plain dicts used from one event loop thread.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import Protocol

from pinnace.dns.wire import Scan, WireError, scan

__all__ = ["AnswerCache", "CacheEntry", "Generation"]

SUCCESS = "success"
DENIAL = "denial"
_NOERROR = 0
_NXDOMAIN = 3
_TTL = struct.Struct("!I")


class Generation(Protocol):
    generation: int


class CacheEntry:
    """One cached response (without its ID)."""

    __slots__ = (
        "age",
        "base",
        "expires",
        "generation",
        "kind",
        "qtype",
        "rcode",
        "stored_at",
        "tail",
        "ttls",
    )

    def __init__(
        self,
        base: bytes,
        ttls: list[tuple[int, int]],
        stored_at: float,
        expires: float,
        generation: int,
        kind: str,
        rcode: int,
    ) -> None:
        self.base = base
        self.tail = base  # what is sent after the ID: base with the TTLs aged
        self.ttls = ttls
        self.stored_at = stored_at
        self.expires = expires
        self.generation = generation
        self.kind = kind
        self.rcode = rcode
        self.age = 0
        #: the metrics ``type`` label of the question, filled in by the server
        self.qtype = "other"

    def aged(self, now: float) -> bytes:
        age = int(now - self.stored_at)
        if age != self.age:
            self.age = age
            buf = bytearray(self.base)
            for off, ttl in self.ttls:
                _TTL.pack_into(buf, off - 2, max(0, ttl - age))
            self.tail = bytes(buf)
        return self.tail


class AnswerCache:
    """Responses by query bytes, for cluster answers and forwarded ones alike."""

    def __init__(
        self,
        index: Generation,
        *,
        capacity: int = 9984,
        max_ttl: int = 30,
        min_ttl: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.index = index
        self.capacity = capacity
        self.max_ttl = max_ttl
        self.min_ttl = min_ttl
        self.clock = clock
        self.entries: dict[bytes, CacheEntry] = {}

    def get(self, key: bytes) -> CacheEntry | None:
        """The live entry for ``key`` (its ``tail`` aged to now), or ``None``."""
        e = self.entries.get(key)
        if e is None:
            return None
        now = self.clock()
        if now >= e.expires or (e.generation >= 0 and e.generation != self.index.generation):
            del self.entries[key]
            return None
        if e.ttls and int(now - e.stored_at) != e.age:
            e.aged(now)
        return e

    def duration(self, s: Scan) -> int | None:
        """How long a response may be cached (``None``: not at all)."""
        if self.max_ttl <= 0 or self.capacity <= 0 or s.truncated:
            return None
        if s.rcode == _NOERROR and s.answers:
            ttl = min(t for _, t in s.ttls) if s.ttls else self.min_ttl
        elif s.rcode in (_NOERROR, _NXDOMAIN):
            ttl = s.soa_ttl if s.soa_ttl is not None else self.min_ttl
        else:
            return None
        return max(self.min_ttl, min(ttl, self.max_ttl))

    def put(self, key: bytes, response: bytes, *, cluster: bool) -> CacheEntry | None:
        """Cache ``response`` (a whole message) for ``key``; ``cluster`` ties it to
        the index generation. Returns the entry, or ``None`` if not cacheable."""
        try:
            s = scan(response)
        except WireError:
            return None
        ttl = self.duration(s)
        if ttl is None:
            return None
        now = self.clock()
        kind = SUCCESS if s.rcode == _NOERROR and s.answers else DENIAL
        # as the cache plugin does, every record is served with the cache's TTL
        buf = bytearray(response)
        for off, _ in s.ttls:
            _TTL.pack_into(buf, off, ttl)
        e = CacheEntry(
            bytes(buf[2:]),
            [(off, ttl) for off, _ in s.ttls],
            now,
            now + ttl,
            self.index.generation if cluster else -1,
            kind,
            s.rcode,
        )
        if key not in self.entries and len(self.entries) >= self.capacity:
            del self.entries[next(iter(self.entries))]
        self.entries[key] = e
        return e

    def clear(self) -> None:
        self.entries.clear()

    def counts(self) -> dict[str, int]:
        out = {SUCCESS: 0, DENIAL: 0}
        for e in self.entries.values():
            out[e.kind] += 1
        return out
