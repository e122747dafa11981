"""Key-space helpers shared by the backends: prefix ranges.

Keys are ``str``; both backends order them by their UTF-8 bytes, which is the
same order as Python's code-point comparison, so a prefix maps to the half-open
range ``[prefix, prefix_end(prefix))``.
"""

from __future__ import annotations

_MAX_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``,
    or None when there is none (empty prefix, or only U+10FFFF characters)."""
    chars = list(prefix)
    while chars:
        nxt = ord(chars[-1]) + 1
        if nxt <= _MAX_CODE_POINT:
            if nxt in _SURROGATES:  # not encodable in UTF-8; skip the block
                nxt = _SURROGATES.stop
            chars[-1] = chr(nxt)
            return "".join(chars)
        chars.pop()
    return None


def prefix_end_bytes(prefix: bytes) -> bytes | None:
    """Byte-wise ``prefix_end`` (etcd's rule): None means "to the end"."""
    buf = bytearray(prefix)
    while buf:
        if buf[-1] < 0xFF:
            buf[-1] += 1
            return bytes(buf)
        buf.pop()
    return None


def range_start(prefix: str, start_key: str | None) -> str:
    """Where a (possibly resumed) prefix range starts."""
    if start_key is None or start_key < prefix:
        return prefix
    return start_key
