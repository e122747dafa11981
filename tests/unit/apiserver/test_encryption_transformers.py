"""The value transformers: upstream's on-disk formats, round trips, and
clean failures with upstream's texts."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.secret import SecretBox

from pinnace.apiserver.encryption.config import Key, Provider
from pinnace.apiserver.encryption.providers import provider_entry
from pinnace.apiserver.encryption.transformers import (
    AesCbc,
    AesGcm,
    Identity,
    PrefixTransformer,
    PrefixTransformers,
    Secretbox,
    TransformError,
)

K16 = bytes(range(16))
K32 = bytes(range(32))
OTHER32 = bytes(range(1, 33))
CTX = b"/registry/core/secrets/default/s1"
PLAIN = b'{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}'


def chain(kind: str, *keys: tuple[str, bytes]) -> PrefixTransformers:
    entry = provider_entry(Provider(kind, tuple(Key(n, s) for n, s in keys)))  # type: ignore[arg-type]
    return PrefixTransformers([entry], "no matching prefix found")


@pytest.mark.parametrize("cls,key", [(AesGcm, K16), (AesGcm, K32), (AesCbc, K16), (Secretbox, K32)])
def test_round_trip_and_random_nonce(cls: type, key: bytes) -> None:
    t = cls(key)
    a, b = t.to_storage(PLAIN, CTX), t.to_storage(PLAIN, CTX)
    assert a != b and PLAIN not in a
    assert t.from_storage(a, CTX) == (PLAIN, False)
    assert t.from_storage(b, CTX) == (PLAIN, False)


def test_aesgcm_format_nonce_then_sealed_with_key_as_authenticated_data() -> None:
    out = chain("aesgcm", ("k1", K32)).to_storage(PLAIN, CTX)
    prefix = b"k8s:enc:aesgcm:v1:k1:"
    assert out.startswith(prefix)
    body = out[len(prefix) :]
    assert len(body) == 12 + len(PLAIN) + 16
    # what any AES-GCM implementation opens with the storage key as the AAD
    assert AESGCM(K32).decrypt(body[:12], body[12:], CTX) == PLAIN
    # the same value under another key does not authenticate
    with pytest.raises(TransformError, match="cipher: message authentication failed"):
        chain("aesgcm", ("k1", K32)).from_storage(out, b"/registry/core/secrets/default/s2")


def test_aescbc_format_iv_then_pkcs7_without_authenticated_data() -> None:
    out = chain("aescbc", ("k1", K16)).to_storage(PLAIN, CTX)
    prefix = b"k8s:enc:aescbc:v1:k1:"
    assert out.startswith(prefix)
    body = out[len(prefix) :]
    assert (len(body) - 16) % 16 == 0 and len(body) == 16 + (len(PLAIN) // 16 + 1) * 16
    d = Cipher(algorithms.AES(K16), modes.CBC(body[:16])).decryptor()
    padded = d.update(body[16:]) + d.finalize()
    pad = padded[-1]
    assert padded[-pad:] == bytes([pad]) * pad and padded[:-pad] == PLAIN
    # CBC authenticates nothing: another storage key still reads
    assert chain("aescbc", ("k1", K16)).from_storage(out, b"/other")[0] == PLAIN


def test_secretbox_format_nonce_then_box() -> None:
    out = chain("secretbox", ("k1", K32)).to_storage(PLAIN, CTX)
    prefix = b"k8s:enc:secretbox:v1:k1:"
    assert out.startswith(prefix)
    body = out[len(prefix) :]
    assert len(body) == 24 + 16 + len(PLAIN)
    assert SecretBox(K32).decrypt(body[24:], body[:24]) == PLAIN


@pytest.mark.parametrize(
    "kind,key,wrong,message",
    [
        ("aesgcm", K32, OTHER32, "cipher: message authentication failed"),
        ("secretbox", K32, OTHER32, "output array was not large enough for encryption"),
    ],
)
def test_wrong_key_fails_cleanly(kind: str, key: bytes, wrong: bytes, message: str) -> None:
    out = chain(kind, ("k1", key)).to_storage(PLAIN, CTX)
    with pytest.raises(TransformError) as e:
        chain(kind, ("k1", wrong)).from_storage(out, CTX)
    assert str(e.value) == message


def test_aescbc_wrong_key_fails_on_padding_or_garbles() -> None:
    # CBC has no MAC: a wrong key is caught by the padding check almost always
    failures = 0
    for _ in range(20):
        out = chain("aescbc", ("k1", K16)).to_storage(PLAIN, CTX)
        try:
            got, _ = chain("aescbc", ("k1", bytes(16))).from_storage(out, CTX)
            assert got != PLAIN
        except TransformError as e:
            assert str(e) in (
                "invalid padding on input",
                "invalid PKCS7 data (empty or not padded)",
            )
            failures += 1
    assert failures >= 15


def test_unknown_key_name_and_unknown_prefix() -> None:
    out = chain("aesgcm", ("old", K32)).to_storage(PLAIN, CTX)
    with pytest.raises(TransformError) as e:
        chain("aesgcm", ("new", K32)).from_storage(out, CTX)
    assert str(e.value) == "no matching key was found for the provided AES transformer"
    with pytest.raises(TransformError) as e:
        chain("secretbox", ("k", K32)).from_storage(out, CTX)
    assert str(e.value) == "no matching prefix found"
    # plaintext without identity in the list is unreadable too, as upstream
    with pytest.raises(TransformError, match="no matching prefix found"):
        chain("aesgcm", ("k", K32)).from_storage(PLAIN, CTX)


@pytest.mark.parametrize(
    "kind,data,message",
    [
        ("aesgcm", b"short", "the stored data was shorter than the required size"),
        ("aescbc", b"short", "the stored data was shorter than the required size"),
        ("aescbc", bytes(20), "the stored data is not a multiple of the block size"),
        ("secretbox", bytes(30), "the stored data was shorter than the required size"),
    ],
)
def test_truncated_data(kind: str, data: bytes, message: str) -> None:
    t = chain(kind, ("k", K32))
    with pytest.raises(TransformError) as e:
        t.from_storage(f"k8s:enc:{kind}:v1:k:".encode() + data, CTX)
    assert str(e.value) == message


def test_identity_refuses_encrypted_data_and_passes_plain() -> None:
    assert Identity().from_storage(PLAIN, CTX) == (PLAIN, False)
    assert Identity().to_storage(PLAIN, CTX) == PLAIN
    with pytest.raises(TransformError, match="identity transformer tried to read encrypted data"):
        Identity().from_storage(b"k8s:enc:aescbc:v1:k:xxxx", CTX)


def test_first_provider_writes_others_read_and_are_stale() -> None:
    gcm = provider_entry(Provider("aesgcm", (Key("new", K32), Key("old", OTHER32))))
    ident = PrefixTransformer(b"", Identity())
    t = PrefixTransformers([gcm, ident], "no matching prefix found")
    assert t.write_prefix == b"k8s:enc:aesgcm:v1:new:"
    fresh = t.to_storage(PLAIN, CTX)
    assert fresh.startswith(b"k8s:enc:aesgcm:v1:new:")
    assert t.from_storage(fresh, CTX) == (PLAIN, False)
    # written under the provider's second key: readable, stale
    old_only = chain("aesgcm", ("old", OTHER32)).to_storage(PLAIN, CTX)
    assert t.from_storage(old_only, CTX) == (PLAIN, True)
    # plaintext through the identity entry: readable, stale
    assert t.from_storage(PLAIN, CTX) == (PLAIN, True)


def test_identity_first_reads_encrypted_through_later_provider() -> None:
    cbc = provider_entry(Provider("aescbc", (Key("k", K16),)))
    t = PrefixTransformers([PrefixTransformer(b"", Identity()), cbc], "no matching prefix found")
    enc = chain("aescbc", ("k", K16)).to_storage(PLAIN, CTX)
    assert t.from_storage(enc, CTX) == (PLAIN, True)
    assert t.to_storage(PLAIN, CTX) == PLAIN
    assert t.write_prefix == b""


def test_same_kind_twice_during_rotation_tries_both() -> None:
    first = provider_entry(Provider("aescbc", (Key("2", K32),)))
    second = provider_entry(Provider("aescbc", (Key("1", K16),)))
    t = PrefixTransformers([first, second], "no matching prefix found")
    old = chain("aescbc", ("1", K16)).to_storage(PLAIN, CTX)
    assert t.from_storage(old, CTX) == (PLAIN, True)
