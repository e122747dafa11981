"""Encryption at rest as a storage Backend wrapper: values under the
configured resources' key prefixes are encrypted on the way to the inner
backend (SQLite or etcd) and decrypted on the way back, so nothing above it
(registry, watch cache, services) changes, and with no configuration the
wrapper is not there at all (no cost on the hot path).

Why a Backend wrapper: it is the one place that sees both the value and its
storage key, and AES-GCM authenticates the key (a value copied under another
key does not decrypt), as upstream's transformers do with the etcd key.

Values that cannot be decrypted (key removed from the config, tampering):

* ``get`` raises an ``InternalError`` ApiError with upstream's text (what
  kube-apiserver answers for that object);
* ``range`` and ``watch`` cannot fail one item without failing all, so they
  hand the value as ``UNREADABLE`` + reason; the watch cache keeps the reason
  instead of the object, and the registry answers that object (and lists
  containing it) with the same 500, as upstream does.

``stale(key)`` says whether the stored value was written by anything but the
current write provider/key: the registry then stores a no-op update anyway,
which is how ``kubectl replace`` of every Secret re-encrypts them under a new
key (upstream's rotation procedure).

Concurrency model: a thin async pass-through; transformation is synchronous
CPU work on the event loop (microseconds per object), done per call, with no
state of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path

from pinnace.apiserver import errors
from pinnace.apiserver.cache import UNREADABLE
from pinnace.apiserver.encryption.config import EncryptionConfigError, load_encryption_config
from pinnace.apiserver.encryption.providers import StoredResource, transformers_by_prefix
from pinnace.apiserver.encryption.transformers import (
    PrefixTransformers,
    Transformer,
    TransformError,
)
from pinnace.storage import Backend, ConflictError, Event, KeyValue, RangeResult


class EncryptingBackend:
    """A Backend that encrypts the values of keys under ``transformers``'
    prefixes (``/registry/core/secrets/`` → transformer)."""

    def __init__(self, inner: Backend, transformers: Mapping[str, Transformer]) -> None:
        self.inner = inner
        self._by_prefix = dict(transformers)

    # -- which keys ---------------------------------------------------------

    def transformer_for(self, key: str) -> Transformer | None:
        """The transformer of ``key``'s resource, or None (stored as is)."""
        # /registry/<group>/<resource>/...: the prefix ends at the third "/"
        end = key.find("/", key.find("/", 10) + 1)
        if end < 0:
            return None
        return self._by_prefix.get(key[: end + 1])

    def _overlaps(self, prefix: str) -> bool:
        return any(p.startswith(prefix) or prefix.startswith(p) for p in self._by_prefix)

    # -- transformation -----------------------------------------------------

    def _encode(self, key: str, value: bytes) -> bytes:
        t = self.transformer_for(key)
        return value if t is None else t.to_storage(value, key.encode())

    def _decode(self, kv: KeyValue | None) -> KeyValue | None:
        """``kv`` with its value readable, or the UNREADABLE marker + reason."""
        if kv is None or not kv.value:
            return kv
        t = self.transformer_for(kv.key)
        if t is None:
            return kv
        try:
            value, _ = t.from_storage(kv.value, kv.key.encode())
        except TransformError as e:
            value = UNREADABLE + str(e).encode()
        return KeyValue(kv.key, value, kv.create_revision, kv.mod_revision)

    def _plain(self, kv: KeyValue, value: bytes) -> KeyValue:
        return KeyValue(kv.key, value, kv.create_revision, kv.mod_revision)

    async def stale(self, key: str) -> bool:
        """Whether the stored value of ``key`` should be written again (it was
        written by an older provider or key). False for keys stored as is,
        absent keys and values that cannot be read at all."""
        t = self.transformer_for(key)
        if t is None:
            return False
        kv = await self.inner.get(key)
        if kv is None:
            return False
        try:
            return t.from_storage(kv.value, key.encode())[1]
        except TransformError:
            return False

    # -- Backend ------------------------------------------------------------

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def current_revision(self) -> int:
        return await self.inner.current_revision()

    async def compact_revision(self) -> int:
        return await self.inner.compact_revision()

    async def compact(self, revision: int) -> None:
        await self.inner.compact(revision)

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None:
        kv = await self.inner.get(key, revision=revision)
        if kv is None:
            return None
        t = self.transformer_for(key)
        if t is None:
            return kv
        try:
            value, _ = t.from_storage(kv.value, key.encode())
        except TransformError as e:
            raise errors.internal(str(e)) from None
        return self._plain(kv, value)

    async def range(
        self,
        prefix: str,
        *,
        revision: int = 0,
        limit: int = 0,
        start_key: str | None = None,
    ) -> RangeResult:
        res = await self.inner.range(prefix, revision=revision, limit=limit, start_key=start_key)
        if not self._overlaps(prefix):
            return res
        kvs = [self._decode(kv) for kv in res.kvs]
        return RangeResult([kv for kv in kvs if kv is not None], res.revision, res.more)

    async def create(self, key: str, value: bytes) -> KeyValue:
        kv = await self.inner.create(key, self._encode(key, value))
        return self._plain(kv, value)

    async def update(self, key: str, value: bytes, expected_mod_revision: int) -> KeyValue:
        try:
            kv = await self.inner.update(key, self._encode(key, value), expected_mod_revision)
        except ConflictError as e:
            raise ConflictError(key, self._decode(e.current)) from None
        return self._plain(kv, value)

    async def delete(self, key: str, expected_mod_revision: int | None = None) -> KeyValue:
        try:
            kv = await self.inner.delete(key, expected_mod_revision)
        except ConflictError as e:
            raise ConflictError(key, self._decode(e.current)) from None
        out = self._decode(kv)
        assert out is not None
        return out

    def watch(self, prefix: str, start_revision: int) -> AsyncIterator[list[Event]]:
        if not self._overlaps(prefix):
            return self.inner.watch(prefix, start_revision)
        return self._watch(prefix, start_revision)

    async def _watch(self, prefix: str, start_revision: int) -> AsyncIterator[list[Event]]:
        stream = self.inner.watch(prefix, start_revision)
        try:
            async for batch in stream:
                out = []
                for ev in batch:
                    kv = self._decode(ev.kv)
                    assert kv is not None
                    out.append(Event(ev.type, kv, self._decode(ev.prev_kv)))
                yield out
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()


def write_prefix(transformer: Transformer) -> bytes:
    """The prefix values are written with now (``k8s:enc:aesgcm:v1:key1:``, or
    ``b""`` for identity)."""
    if isinstance(transformer, PrefixTransformers):
        return transformer.write_prefix
    return b""


def encrypting_backend(
    backend: Backend, config_path: str | Path, resources: Iterable[StoredResource]
) -> Backend:
    """``backend`` wrapped to encrypt what the EncryptionConfiguration file at
    ``config_path`` names among ``resources`` (catalog resources; those not
    stored are skipped). Raises ``errors.StartupError`` naming the problem."""
    try:
        config = load_encryption_config(config_path)
        stored = [r for r in resources if getattr(r, "stored", True)]
        by_prefix = transformers_by_prefix(config, stored)
    except EncryptionConfigError as e:
        raise errors.StartupError(f"--encryption-provider-config: {e}") from None
    return EncryptingBackend(backend, by_prefix)
