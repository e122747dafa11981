"""The PodSecurity plugin's configuration: cluster-wide default levels (for
namespaces without labels) and exemptions, as upstream's
``PodSecurityConfiguration`` (``pod-security.admission.config.k8s.io/v1``).

A plain frozen dataclass; ``from_dict`` reads the upstream document (as found
in an AdmissionConfiguration's plugin ``configuration``) so a config file can
be wired in later without changing the plugin."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pinnace.apiserver.admission.pod_security.levels import (
    LevelVersion,
    Policy,
    parse_level,
    parse_version,
)

API_VERSIONS = (
    "pod-security.admission.config.k8s.io/v1",
    "pod-security.admission.config.k8s.io/v1beta1",
    "pod-security.admission.config.k8s.io/v1alpha1",
)
KIND = "PodSecurityConfiguration"


@dataclass(frozen=True, slots=True)
class PodSecurityConfig:
    defaults: Policy = field(default_factory=Policy)
    exempt_usernames: frozenset[str] = field(default_factory=frozenset)
    exempt_namespaces: frozenset[str] = field(default_factory=frozenset)
    exempt_runtime_classes: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> PodSecurityConfig:
        """Parse a ``PodSecurityConfiguration``; ``ValueError`` says what is wrong."""
        api_version = doc.get("apiVersion")
        if api_version is not None and api_version not in API_VERSIONS:
            raise ValueError(f"unsupported PodSecurityConfiguration apiVersion {api_version!r}")
        if doc.get("kind") not in (None, KIND):
            raise ValueError(f"expected kind {KIND}, got {doc.get('kind')!r}")
        d = doc.get("defaults") or {}
        e = doc.get("exemptions") or {}
        return cls(
            defaults=Policy(
                _level_version(d, "enforce"),
                _level_version(d, "audit"),
                _level_version(d, "warn"),
            ),
            exempt_usernames=frozenset(e.get("usernames") or ()),
            exempt_namespaces=frozenset(e.get("namespaces") or ()),
            exempt_runtime_classes=frozenset(e.get("runtimeClasses") or ()),
        )


def _level_version(defaults: Mapping[str, Any], mode: str) -> LevelVersion:
    raw_level = defaults.get(mode, "privileged")
    level = parse_level(str(raw_level))
    if level is None:
        raise ValueError(
            f"defaults.{mode}: Invalid value: {raw_level!r}: must be one of privileged, "
            "baseline, restricted"
        )
    raw_version = defaults.get(f"{mode}-version", "latest")
    version = parse_version(str(raw_version))
    if version is None:
        raise ValueError(
            f'defaults.{mode}-version: Invalid value: {raw_version!r}: must be "latest" or "v1.x"'
        )
    return LevelVersion(level, version)
