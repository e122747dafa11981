"""Value transformers: how one stored value is encrypted and decrypted, with
upstream's on-disk formats, so a database written by kube-apiserver's
EncryptionConfiguration providers and one written by pinnace read the same.

A stored value is ``<provider prefix><key name>:<payload>``:

* ``k8s:enc:aesgcm:v1:NAME:`` + 12-byte random nonce + AES-GCM ciphertext and
  16-byte tag. The storage key is the authenticated data, so a value copied
  to another key does not decrypt.
* ``k8s:enc:aescbc:v1:NAME:`` + 16-byte random IV + AES-CBC ciphertext with
  PKCS#7 padding (no authenticated data: CBC has none).
* ``k8s:enc:secretbox:v1:NAME:`` + 24-byte random nonce + NaCl secretbox
  (XSalsa20-Poly1305; no authenticated data).
* identity: the plain value; it refuses values that start with ``k8s:enc:``.

``PrefixTransformers`` chooses by prefix, in order, as upstream's prefix
transformer does: the first entry writes; a read through any other entry (or
through a non-first key of a provider) is *stale*, which tells the store to
write the value again even when the object did not change (key rotation).
Error texts are upstream's (Go's ``crypto`` texts included), because they
reach users in Status messages.

Concurrency model: the transformers are immutable and synchronous (pure CPU
work on one value, microseconds for an object), called on the event loop.
PyNaCl is imported only when a secretbox provider is configured.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENCRYPTED_PREFIX = b"k8s:enc:"
AESGCM_PREFIX = b"k8s:enc:aesgcm:v1:"
AESCBC_PREFIX = b"k8s:enc:aescbc:v1:"
SECRETBOX_PREFIX = b"k8s:enc:secretbox:v1:"

_GCM_NONCE = 12
_BLOCK = 16
_SECRETBOX_NONCE = 24
_SECRETBOX_OVERHEAD = 16
_SHORT = "the stored data was shorter than the required size"


class TransformError(Exception):
    """A stored value could not be turned back into plain data (the message
    is upstream's text)."""


class Transformer(Protocol):
    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        """The plain value and whether it is stale; raises TransformError."""

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        """The value as it is to be stored."""


class AesGcm:
    """AES-GCM with a random 96-bit nonce; ``context`` is authenticated."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        if len(data) < _GCM_NONCE:
            raise TransformError(_SHORT)
        try:
            return self._aead.decrypt(data[:_GCM_NONCE], data[_GCM_NONCE:], context), False
        except InvalidTag:
            raise TransformError("cipher: message authentication failed") from None

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        nonce = os.urandom(_GCM_NONCE)
        return nonce + self._aead.encrypt(nonce, data, context)


class AesCbc:
    """AES-CBC with a random IV and PKCS#7 padding; unauthenticated."""

    def __init__(self, key: bytes) -> None:
        self._algorithm = algorithms.AES(key)

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        if len(data) < _BLOCK:
            raise TransformError(_SHORT)
        iv, body = data[:_BLOCK], data[_BLOCK:]
        if len(body) % _BLOCK != 0:
            raise TransformError("the stored data is not a multiple of the block size")
        if not body:
            raise TransformError("invalid PKCS7 data (empty or not padded)")
        decryptor = Cipher(self._algorithm, modes.CBC(iv)).decryptor()
        plain = decryptor.update(body) + decryptor.finalize()
        pad = plain[-1]
        if pad == 0 or pad > len(plain):
            raise TransformError("invalid PKCS7 data (empty or not padded)")
        if plain[-pad:] != bytes([pad]) * pad:
            raise TransformError("invalid padding on input")
        return plain[:-pad], False

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        iv = os.urandom(_BLOCK)
        pad = _BLOCK - len(data) % _BLOCK
        encryptor = Cipher(self._algorithm, modes.CBC(iv)).encryptor()
        return iv + encryptor.update(data + bytes([pad]) * pad) + encryptor.finalize()


class Secretbox:
    """NaCl secretbox (XSalsa20-Poly1305) with a random 24-byte nonce."""

    def __init__(self, key: bytes) -> None:
        from nacl.secret import SecretBox  # only needed when configured

        self._box = SecretBox(key)

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        from nacl.exceptions import CryptoError

        if len(data) < _SECRETBOX_OVERHEAD + _SECRETBOX_NONCE:
            raise TransformError(_SHORT)
        try:
            plain: bytes = self._box.decrypt(data[_SECRETBOX_NONCE:], data[:_SECRETBOX_NONCE])
        except CryptoError:
            # upstream's text for a failed open, odd as it reads
            raise TransformError("output array was not large enough for encryption") from None
        return plain, False

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        nonce = os.urandom(_SECRETBOX_NONCE)
        # EncryptedMessage is nonce + ciphertext (with its MAC first), as Go's Seal
        return bytes(self._box.encrypt(data, nonce))


class Identity:
    """No transformation; refuses encrypted data so a later provider can try."""

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        if data.startswith(ENCRYPTED_PREFIX):
            raise TransformError("identity transformer tried to read encrypted data")
        return data, False

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        return data


@dataclass(frozen=True, slots=True)
class PrefixTransformer:
    prefix: bytes
    transformer: Transformer


class PrefixTransformers:
    """Tries each entry whose prefix the value starts with, in order; the
    first entry writes. A failure does not stop the search (two providers
    of one kind share a prefix while a key is being rotated)."""

    def __init__(self, entries: Sequence[PrefixTransformer], no_match: str) -> None:
        if not entries:
            raise ValueError("at least one transformer is required")
        self.entries = tuple(entries)
        self._no_match = no_match

    @property
    def write_prefix(self) -> bytes:
        """The prefix new values are written with (nested key names included)."""
        first = self.entries[0]
        inner = first.transformer
        if isinstance(inner, PrefixTransformers):
            return first.prefix + inner.write_prefix
        return first.prefix

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        errs: list[str] = []
        for i, entry in enumerate(self.entries):
            if not data.startswith(entry.prefix):
                continue
            try:
                out, stale = entry.transformer.from_storage(data[len(entry.prefix) :], context)
            except TransformError as e:
                if entry.prefix:  # identity's refusal is not an error worth reporting
                    errs.append(str(e))
                continue
            return out, stale or i != 0
        if errs:
            # Go's aggregate: one error as is, several as "[a, b]"
            raise TransformError(errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]")
        raise TransformError(self._no_match)

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        first = self.entries[0]
        return first.prefix + first.transformer.to_storage(data, context)
