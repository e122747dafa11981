"""Encryption of resources at rest (kube-apiserver's
``--encryption-provider-config``): the EncryptionConfiguration file
(``config``), the value transformers with upstream's on-disk formats
(``transformers``), the per-resource choice (``providers``) and the Backend
wrapper that applies them (``backend``)."""

from __future__ import annotations

from pinnace.apiserver.encryption.backend import (
    EncryptingBackend,
    encrypting_backend,
    write_prefix,
)
from pinnace.apiserver.encryption.config import (
    EncryptionConfig,
    EncryptionConfigError,
    load_encryption_config,
    parse_encryption_config,
)
from pinnace.apiserver.encryption.providers import transformers_by_prefix
from pinnace.apiserver.encryption.transformers import TransformError

__all__ = [
    "EncryptingBackend",
    "EncryptionConfig",
    "EncryptionConfigError",
    "TransformError",
    "encrypting_backend",
    "load_encryption_config",
    "parse_encryption_config",
    "transformers_by_prefix",
    "write_prefix",
]
