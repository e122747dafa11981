"""Object uids and generateName suffixes (pinnace/api/ids.py)."""

import collections
import threading
import uuid

from pinnace.api.ids import NAME_SUFFIX_CHARS, name_suffix, new_uid


def test_uids_are_version_4_uuids_and_distinct() -> None:
    uids = [new_uid() for _ in range(5000)]  # crosses several buffer refills
    assert len(set(uids)) == len(uids)
    for u in uids[:200]:
        parsed = uuid.UUID(u)
        assert str(parsed) == u
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_name_suffixes_use_upstreams_alphabet_evenly() -> None:
    suffixes = [name_suffix() for _ in range(4000)]
    assert all(len(s) == 5 and set(s) <= set(NAME_SUFFIX_CHARS) for s in suffixes)
    counts = collections.Counter("".join(suffixes))
    assert set(counts) == set(NAME_SUFFIX_CHARS)
    expected = 20000 / len(NAME_SUFFIX_CHARS)  # ~741 per character
    # a modulo bias would give the first 13 characters 1/256 more each; far
    # smaller than this bound, which only catches gross errors (a stuck byte,
    # half the alphabet unused)
    assert all(abs(n - expected) < expected * 0.25 for n in counts.values())


def test_threads_draw_from_their_own_buffers() -> None:
    out: list[list[str]] = [[], []]

    def draw(i: int) -> None:
        out[i].extend(new_uid() for _ in range(2000))

    threads = [threading.Thread(target=draw, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not set(out[0]) & set(out[1])
