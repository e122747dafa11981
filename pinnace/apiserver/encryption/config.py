"""Reading upstream's ``EncryptionConfiguration`` file
(``apiserver.config.k8s.io/v1``, YAML or JSON): which resources are encrypted
at rest and by which providers, in order.

The file is checked the way kube-apiserver checks it, with upstream's field
paths and messages (``resources[0].providers[1].aescbc.keys[0].secret:
Invalid value: "REDACTED": secret is not of the expected length, got 8,
expected one of [16 24 32]``), and every problem is reported at once, so an
administrator fixes the file in one go. The server refuses to start on any of
them. Key material is never echoed in a message.

Concurrency model: none; the file is read once at start-up (a blocking read
of a small file, before the event loop serves).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

API_VERSION = "apiserver.config.k8s.io/v1"
KIND = "EncryptionConfiguration"

ProviderKind = Literal["aesgcm", "aescbc", "secretbox", "identity"]
_KEYED: dict[str, list[int]] = {"aesgcm": [16, 24, 32], "aescbc": [16, 24, 32], "secretbox": [32]}
_KNOWN = ("kms", "aesgcm", "aescbc", "secretbox", "identity")
_NO_PROVIDER = (
    "provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, "
    "Identity"
)


class EncryptionConfigError(ValueError):
    """The file cannot be used; the message names every problem found."""


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    secret: bytes = b""

    def __repr__(self) -> str:  # never print key material
        return f"Key(name={self.name!r})"


@dataclass(frozen=True, slots=True)
class Provider:
    kind: ProviderKind
    keys: tuple[Key, ...] = ()


@dataclass(frozen=True, slots=True)
class ResourceRule:
    """One ``resources[]`` entry: these resources use these providers."""

    resources: tuple[str, ...]
    providers: tuple[Provider, ...]


@dataclass(frozen=True, slots=True)
class EncryptionConfig:
    rules: tuple[ResourceRule, ...]


def load_encryption_config(path: str | Path) -> EncryptionConfig:
    """Read and check the file at ``path``; raises EncryptionConfigError."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise EncryptionConfigError(
            f"error reading encryption provider configuration file {str(path)!r}: {e.strerror or e}"
        ) from None
    if not data.strip():
        raise EncryptionConfigError(
            f"encryption provider configuration file {str(path)!r} is empty"
        )
    return parse_encryption_config(data, str(path))


def parse_encryption_config(data: str | bytes, source: str = "<config>") -> EncryptionConfig:
    """Parse and check a document (YAML or JSON, JSON being YAML)."""
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as e:
        raise EncryptionConfigError(
            f"error decoding encryption provider configuration file {source!r}: {e}"
        ) from None
    if not isinstance(doc, dict):
        raise EncryptionConfigError(
            f"error decoding encryption provider configuration file {source!r}: "
            "expected an EncryptionConfiguration object"
        )
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if kind != KIND or api_version != API_VERSION:
        raise EncryptionConfigError(
            f"error decoding encryption provider configuration file {source!r}: "
            f"got apiVersion {api_version!r} kind {kind!r}, expected apiVersion "
            f"{API_VERSION!r} kind {KIND!r}"
        )
    errs: list[str] = []
    rules = _rules(doc.get("resources"), errs)
    if errs:
        raise EncryptionConfigError(
            f"encryption provider configuration file {source!r}: " + _aggregate(errs)
        )
    return EncryptionConfig(tuple(rules))


def _aggregate(errs: list[str]) -> str:
    """Go's aggregate error text: one error as is, several as ``[a, b]``."""
    return errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"


def _required(path: str, detail: str) -> str:
    return f"{path}: Required value: {detail}"


def _invalid(path: str, value: str, detail: str) -> str:
    return f"{path}: Invalid value: {value}: {detail}"


def _rules(resources: Any, errs: list[str]) -> list[ResourceRule]:
    if not resources:
        errs.append(_required("resources", "at least one resources is required"))
        return []
    if not isinstance(resources, list):
        errs.append(_invalid("resources", _show(resources), "must be a list"))
        return []
    rules = []
    for i, entry in enumerate(resources):
        path = f"resources[{i}]"
        if not isinstance(entry, dict):
            errs.append(_invalid(path, _show(entry), "must be an object"))
            continue
        names = _resource_names(entry.get("resources"), f"{path}.resources", errs)
        providers = _providers(entry.get("providers"), f"{path}.providers", errs)
        rules.append(ResourceRule(tuple(names), tuple(providers)))
    return rules


def _resource_names(value: Any, path: str, errs: list[str]) -> list[str]:
    if not value:
        errs.append(_required(path, f"at least one {path} is required"))
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errs.append(_invalid(path, _show(value), "must be a list of strings"))
        return []
    names: list[str] = value
    parsed = [parse_group_resource(n) for n in names]
    if len(set(parsed)) != len(parsed):
        errs.append(
            _invalid(path, _show(names), "the same resource cannot be specified multiple times")
        )
    if len(parsed) > 1 and _overlaps(parsed):
        errs.append(
            _invalid(
                path,
                _show(names),
                "using overlapping resources such as 'secrets' and '*.' in the same resource "
                "list is not allowed as they will be masked",
            )
        )
    for j, name in enumerate(names):
        group, resource = parse_group_resource(name)
        where, shown = f"{path}[{j}]", _show(name)
        if name != name.lower():
            errs.append(_invalid(where, shown, "resource name should not contain capital letters"))
        elif name == "*":
            errs.append(
                _invalid(
                    where,
                    shown,
                    "use '*.' to encrypt all the resources from core API group or *.* to "
                    "encrypt all resources",
                )
            )
        elif name in ("apiserveripinfo", "serviceipallocations", "servicenodeportallocations"):
            errs.append(
                _invalid(where, shown, "resources which do not have REST API/s cannot be encrypted")
            )
        elif group == "events.k8s.io":
            errs.append(
                _invalid(
                    where,
                    shown,
                    "'*.events.k8s.io' objects are stored using the 'events' API group in etcd. "
                    "Use 'events' instead in the config file",
                )
            )
        elif group == "extensions":
            errs.append(
                _invalid(
                    where,
                    shown,
                    "'extensions' group has been removed and cannot be used for encryption",
                )
            )
        elif group == "*" and resource != "*":
            errs.append(
                _invalid(
                    where, shown, "encrypting the same resource across groups is not supported"
                )
            )
    return names


def _overlaps(parsed: list[tuple[str, str]]) -> bool:
    for i, a in enumerate(parsed):
        for j, b in enumerate(parsed):
            if i == j or a == b:
                continue
            if a == ("*", "*"):
                return True
            if a[0] == b[0] and "*" in (a[1], b[1]):
                return True
    return False


def _providers(value: Any, path: str, errs: list[str]) -> list[Provider]:
    if not value:
        errs.append(_required(path, f"at least one {path} is required"))
        return []
    if not isinstance(value, list):
        errs.append(_invalid(path, _show(value), "must be a list"))
        return []
    out = []
    for j, entry in enumerate(value):
        where = f"{path}[{j}]"
        if not isinstance(entry, dict):
            errs.append(_invalid(where, "{}", _NO_PROVIDER))
            continue
        present = [k for k in _KNOWN if entry.get(k) is not None]
        unknown = sorted(k for k in entry if k not in _KNOWN)
        if not present:
            hint = f" (unknown provider {', '.join(map(repr, unknown))})" if unknown else ""
            # name the fields, never their values (they may hold keys)
            errs.append(_invalid(where, _show(unknown), _NO_PROVIDER + hint))
            continue
        if len(present) > 1:
            errs.append(
                _invalid(
                    where,
                    _show(present),
                    "more than one provider specified in a single element, should split into "
                    "different list elements",
                )
            )
            continue
        kind = present[0]
        if kind == "kms":
            errs.append(
                _invalid(
                    f"{where}.kms",
                    '"kms"',
                    "KMS providers are not supported by pinnace; use aesgcm, aescbc or secretbox",
                )
            )
            continue
        if kind == "identity":
            out.append(Provider("identity"))
            continue
        body = entry[kind]
        keys = _keys(
            body.get("keys") if isinstance(body, dict) else None,
            f"{where}.{kind}.keys",
            _KEYED[kind],
            errs,
        )
        out.append(Provider(kind, tuple(keys)))  # type: ignore[arg-type]
    return out


def _keys(value: Any, path: str, sizes: list[int], errs: list[str]) -> list[Key]:
    if not value or not isinstance(value, list):
        errs.append(_required(path, "at least one keys is required"))
        return []
    out = []
    for i, key in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(key, dict):
            errs.append(_invalid(where, _show(key), "must be an object with name and secret"))
            continue
        name, secret = key.get("name"), key.get("secret")
        ok = True
        if not name or not isinstance(name, str):
            errs.append(_required(f"{where}.name", "name is a mandatory field for a key"))
            ok = False
        if not secret or not isinstance(secret, str):
            errs.append(_required(f"{where}.secret", "secret is a mandatory field for a key"))
            continue
        try:
            raw = base64.b64decode(secret, validate=True)
        except (binascii.Error, ValueError):
            errs.append(_invalid(f"{where}.secret", '"REDACTED"', "secrets must be base64 encoded"))
            continue
        if len(raw) not in sizes:
            errs.append(
                _invalid(
                    f"{where}.secret",
                    '"REDACTED"',
                    f"secret is not of the expected length, got {len(raw)}, expected one of "
                    f"[{' '.join(map(str, sizes))}]",
                )
            )
            continue
        if ok:
            out.append(Key(str(name), raw))
    return out


def parse_group_resource(name: str) -> tuple[str, str]:
    """``deployments.apps`` → (``apps``, ``deployments``); ``secrets`` → (``""``,
    ``secrets``); ``*.`` → (``""``, ``*``), as upstream's ParseGroupResource."""
    resource, _, group = name.partition(".")
    return group, resource


def _show(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join('"' + v + '"' for v in value) + "}"
    return repr(value)
