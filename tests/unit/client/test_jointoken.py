from __future__ import annotations

import hashlib

import pytest

from pinnace.client.jointoken import JoinToken, JoinTokenError


def test_round_trip_and_hash_of_the_ca() -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n"
    token = JoinToken.for_ca(pem, "s3cret")
    text = str(token)
    assert text == f"K10{hashlib.sha256(pem).hexdigest()}::node:s3cret"
    assert JoinToken.parse(text) == token
    assert JoinToken.parse("  plain-secret \n") == JoinToken(None, "plain-secret")


@pytest.mark.parametrize(
    "bad", ["", "K10abc::node:x", "K10" + "0" * 64 + "::node:", "K10" + "0" * 64 + "::x"]
)
def test_malformed_tokens_are_refused(bad: str) -> None:
    with pytest.raises(JoinTokenError):
        JoinToken.parse(bad)
