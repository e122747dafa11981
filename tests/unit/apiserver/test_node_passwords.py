"""Node passwords: the first claim of a node name fixes its password."""

from __future__ import annotations

from pinnace.apiserver.nodecredentials import _hash, _matches, secret_name


def test_hash_round_trip_and_salt() -> None:
    a = _hash("p" * 32, b"salt-1")
    assert _matches(a, "p" * 32)
    assert not _matches(a, "q" * 32)
    assert _hash("p" * 32, b"salt-2") != a
    assert not _matches("not-hex:abc", "p" * 32)


def test_secret_name() -> None:
    assert secret_name("worker-1") == "worker-1.node-password.pinnace"
