"""Random identifiers the API server makes: object uids (version 4 UUIDs)
and the five-character suffixes of ``metadata.generateName``.

Both draw from the operating system's random bytes, as ``uuid.uuid4`` and
``secrets.choice`` do, but from a per-thread buffer refilled 4 KiB at a time:
those two made one ``getrandom`` call per uid and one per suffix character,
and on a busy 2-core VM the calls were 3-4 % of the API server's CPU in a
pod-creation benchmark (``bench/scheduler.py``).
"""

from __future__ import annotations

import os
import threading

__all__ = ["NAME_SUFFIX_CHARS", "name_suffix", "new_uid"]

#: upstream's alphabet for generated names (no vowels, no 0/1/3: no words, no look-alikes)
NAME_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_SUFFIX_LEN = 5
# bytes below this map evenly onto the alphabet (byte % 27); others are redrawn
_UNBIASED = 256 - 256 % len(NAME_SUFFIX_CHARS)
_REFILL = 4096


class _Bytes(threading.local):
    def __init__(self) -> None:
        self.buf = b""
        self.at = 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.buf):
            self.buf, self.at = os.urandom(_REFILL), 0
        out = self.buf[self.at : self.at + n]
        self.at += n
        return out


_bytes = _Bytes()


def new_uid() -> str:
    """A random (version 4, RFC 4122 variant) UUID in its usual string form."""
    b = bytearray(_bytes.take(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def name_suffix() -> str:
    """Five random characters of :data:`NAME_SUFFIX_CHARS`, uniformly drawn."""
    chars = NAME_SUFFIX_CHARS
    out: list[str] = []
    while len(out) < _SUFFIX_LEN:
        for byte in _bytes.take(_SUFFIX_LEN):
            if byte < _UNBIASED and len(out) < _SUFFIX_LEN:
                out.append(chars[byte % len(chars)])
    return "".join(out)
