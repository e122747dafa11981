"""Pod Security levels, versions and the per-namespace policy read from the
``pod-security.kubernetes.io/*`` labels.

Pure data and parsing, no I/O. The label semantics follow upstream's
pod-security-admission: an invalid enforce level fails closed (restricted), an
invalid audit or warn level fails open (privileged), an invalid version means
``latest``; each bad label is also reported as a field error so that namespace
writes carrying one can be refused. A namespace that sets only a stricter
enforce level gets the same warn level, so users see what enforce refuses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from pinnace.api.schema.validation import FieldError

LABEL_PREFIX = "pod-security.kubernetes.io/"
ENFORCE_LEVEL_LABEL = LABEL_PREFIX + "enforce"
ENFORCE_VERSION_LABEL = LABEL_PREFIX + "enforce-version"
AUDIT_LEVEL_LABEL = LABEL_PREFIX + "audit"
AUDIT_VERSION_LABEL = LABEL_PREFIX + "audit-version"
WARN_LEVEL_LABEL = LABEL_PREFIX + "warn"
WARN_VERSION_LABEL = LABEL_PREFIX + "warn-version"

_VERSION_RE = re.compile(r"^v1\.([0-9]|[1-9][0-9]*)$")
_LEVEL_ERROR = "must be one of privileged, baseline, restricted"
_VERSION_ERROR = 'must be "latest" or "v1.x"'


class Level(StrEnum):
    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Level.PRIVILEGED: 0, Level.BASELINE: 1, Level.RESTRICTED: 2}


@dataclass(frozen=True, slots=True)
class Version:
    """``v1.<minor>`` or ``latest`` (newer than any numbered version)."""

    minor: int = 0
    latest: bool = False

    def __str__(self) -> str:
        return "latest" if self.latest else f"v1.{self.minor}"

    def older_than(self, other: Version) -> bool:
        if self.latest:
            return False
        return other.latest or self.minor < other.minor


LATEST = Version(latest=True)


@dataclass(frozen=True, slots=True)
class LevelVersion:
    level: Level
    version: Version = LATEST

    def __str__(self) -> str:
        return f"{self.level.value}:{self.version}"

    def equivalent(self, other: LevelVersion) -> bool:
        if self.level is Level.PRIVILEGED and other.level is Level.PRIVILEGED:
            return True
        return self == other


@dataclass(frozen=True, slots=True)
class Policy:
    enforce: LevelVersion = LevelVersion(Level.PRIVILEGED)
    audit: LevelVersion = LevelVersion(Level.PRIVILEGED)
    warn: LevelVersion = LevelVersion(Level.PRIVILEGED)

    def fully_privileged(self) -> bool:
        return all(lv.level is Level.PRIVILEGED for lv in (self.enforce, self.audit, self.warn))

    def equivalent(self, other: Policy) -> bool:
        return (
            self.enforce.equivalent(other.enforce)
            and self.audit.equivalent(other.audit)
            and self.warn.equivalent(other.warn)
        )


def parse_level(value: str) -> Level | None:
    try:
        return Level(value)
    except ValueError:
        return None


def parse_version(value: str) -> Version | None:
    if value == "latest":
        return LATEST
    m = _VERSION_RE.match(value)
    return Version(int(m.group(1))) if m else None


def _label_path(label: str) -> str:
    return f"metadata.labels[{label}]"


def policy_from_labels(
    labels: Mapping[str, str] | None, defaults: Policy
) -> tuple[Policy, list[FieldError]]:
    """The policy a namespace's labels select, over the cluster defaults, and
    the errors of any label that does not parse."""
    if not labels:
        return defaults, []
    errs: list[FieldError] = []

    def level(label: str, current: Level, fallback: Level) -> tuple[Level, bool]:
        if label not in labels:
            return current, False
        parsed = parse_level(labels[label])
        if parsed is None:
            errs.append(FieldError.invalid(_label_path(label), labels[label], _LEVEL_ERROR))
            return fallback, False
        return parsed, True

    def version(label: str, current: Version) -> tuple[Version, bool]:
        if label not in labels:
            return current, False
        parsed = parse_version(labels[label])
        if parsed is None:
            errs.append(FieldError.invalid(_label_path(label), labels[label], _VERSION_ERROR))
            return LATEST, True
        return parsed, True

    enforce_level, has_enforce = level(
        ENFORCE_LEVEL_LABEL, defaults.enforce.level, Level.RESTRICTED
    )
    enforce_version, _ = version(ENFORCE_VERSION_LABEL, defaults.enforce.version)
    audit_level, _ = level(AUDIT_LEVEL_LABEL, defaults.audit.level, Level.PRIVILEGED)
    audit_version, _ = version(AUDIT_VERSION_LABEL, defaults.audit.version)
    has_warn_level = WARN_LEVEL_LABEL in labels
    warn_level, _ = level(WARN_LEVEL_LABEL, defaults.warn.level, Level.PRIVILEGED)
    warn_version, has_warn_version = version(WARN_VERSION_LABEL, defaults.warn.version)
    if not has_warn_level and has_enforce and enforce_level.rank > warn_level.rank:
        warn_level = enforce_level
        if not has_warn_version:
            warn_version = enforce_version
    return (
        Policy(
            LevelVersion(enforce_level, enforce_version),
            LevelVersion(audit_level, audit_version),
            LevelVersion(warn_level, warn_version),
        ),
        errs,
    )
