"""From a checked ``EncryptionConfig`` to one transformer per stored
resource, keyed by the resource's storage key prefix.

Each ``resources[]`` rule turns into an ordered list of provider entries
(``k8s:enc:aesgcm:v1:`` → per-key entries ``NAME:`` → AES-GCM, and so on;
identity has the empty prefix). A group-resource named in several rules gets
the entries of all of them, in file order, as upstream does, so the first
provider of the first rule naming it writes and every other entry still
reads. Lookup is by the resource's *storage* group-resource: exact name
first, then ``*.group``, then ``*.*``; a rule masked by an earlier wildcard
is an error, as upstream.

Concurrency model: none; done once at start-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from pinnace.apiserver.encryption.config import (
    EncryptionConfig,
    EncryptionConfigError,
    Provider,
    parse_group_resource,
)
from pinnace.apiserver.encryption.transformers import (
    AESCBC_PREFIX,
    AESGCM_PREFIX,
    SECRETBOX_PREFIX,
    AesCbc,
    AesGcm,
    Identity,
    PrefixTransformer,
    PrefixTransformers,
    Secretbox,
    Transformer,
)

GroupResource = tuple[str, str]  # (group, resource); "*" as a wildcard


class StoredResource(Protocol):
    """What is needed of a catalog resource (``pinnace.api.schema.Resource``)."""

    @property
    def storage_group(self) -> str | None: ...

    @property
    def storage_resource(self) -> str: ...

    def key_prefix(self) -> str: ...


def provider_entry(provider: Provider) -> PrefixTransformer:
    """One provider as a prefix entry (keyed providers nest one entry per key)."""
    if provider.kind == "identity":
        return PrefixTransformer(b"", Identity())
    if provider.kind == "secretbox":
        try:
            keys = [
                PrefixTransformer(k.name.encode() + b":", Secretbox(k.secret))
                for k in provider.keys
            ]
        except ImportError:
            raise EncryptionConfigError(
                "the secretbox provider needs PyNaCl: pip install pynacl"
            ) from None
        return PrefixTransformer(
            SECRETBOX_PREFIX,
            PrefixTransformers(
                keys, "no matching key was found for the provided Secretbox transformer"
            ),
        )
    cls, prefix = (AesGcm, AESGCM_PREFIX) if provider.kind == "aesgcm" else (AesCbc, AESCBC_PREFIX)
    keys = [PrefixTransformer(k.name.encode() + b":", cls(k.secret)) for k in provider.keys]
    return PrefixTransformer(
        prefix,
        PrefixTransformers(keys, "no matching key was found for the provided AES transformer"),
    )


def _yaml_name(gr: GroupResource) -> str:
    group, resource = gr
    if not group:
        return "*." if resource == "*" else resource
    return f"{resource}.{group}"


def group_resource_transformers(
    config: EncryptionConfig,
) -> dict[GroupResource, PrefixTransformers]:
    """The transformer of every group-resource (or wildcard) the file names."""
    entries: dict[GroupResource, list[PrefixTransformer]] = {}
    for rule in config.rules:
        chain = [provider_entry(p) for p in rule.providers]
        for name in rule.resources:
            gr = parse_group_resource(name)
            for mask in ((gr[0], "*"), ("*", "*")):
                if mask in entries and mask != gr:
                    raise EncryptionConfigError(
                        f"resource {_yaml_name(gr)!r} is masked by earlier rule "
                        f"{_yaml_name(mask)!r}".replace("'", '"')
                    )
            entries.setdefault(gr, []).extend(chain)
    return {
        gr: PrefixTransformers(chain, "no matching prefix found") for gr, chain in entries.items()
    }


def transformers_by_prefix(
    config: EncryptionConfig, resources: Iterable[StoredResource]
) -> dict[str, Transformer]:
    """Storage key prefix (``/registry/core/secrets/``) → transformer, for every
    resource in ``resources`` the file covers; resources it does not cover are
    absent (stored as they are)."""
    by_gr = group_resource_transformers(config)
    out: dict[str, Transformer] = {}
    for r in resources:
        group, resource = r.storage_group or "", r.storage_resource
        t = by_gr.get((group, resource)) or by_gr.get((group, "*")) or by_gr.get(("*", "*"))
        if t is not None:
            out.setdefault(r.key_prefix(), t)
    return out
