"""What a Pod Security check is, and the helpers every check shares.

A check reads a pod's metadata and spec (plain JSON dicts, as stored) and
returns a ``CheckResult``: allowed, or a short reason plus a detail naming the
offending containers or fields. The reason and detail texts are upstream's
(pod-security-admission ``policy/``), because users and tools match on them.
Each check may have several versions (the first Kubernetes minor it applies
from); restricted checks may replace ("override") a baseline check. Pure
functions, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pinnace.apiserver.admission.pod_security.levels import Level

Obj = dict[str, Any]
CheckFn = Callable[[Obj, Obj], "CheckResult"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    allowed: bool
    reason: str = ""
    detail: str = ""


ALLOWED = CheckResult(True)


@dataclass(frozen=True, slots=True)
class VersionedCheck:
    minimum_minor: int  # applies from v1.<minimum_minor> on
    check: CheckFn
    overrides: tuple[str, ...] = ()  # baseline check ids this replaces


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    level: Level
    versions: tuple[VersionedCheck, ...]  # by increasing minimum_minor


def forbid(reason: str, detail: str) -> CheckResult:
    return CheckResult(False, reason, detail)


def quote(s: str) -> str:
    """Go's ``%q`` for the strings these messages quote."""
    return json.dumps(s, ensure_ascii=False)


def join_quote(items: Sequence[str]) -> str:
    return ", ".join(quote(i) for i in items)


def pluralize(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def containers_phrase(names: Sequence[str]) -> str:
    """``container "a"`` / ``containers "a", "b"``."""
    return f"{pluralize('container', 'containers', len(names))} {join_quote(names)}"


def containers(spec: Obj) -> Iterator[Obj]:
    """Init containers, then containers, then ephemeral containers."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or ():
            if isinstance(c, dict):
                yield c


def container_sc(c: Obj) -> Obj:
    sc = c.get("securityContext")
    return sc if isinstance(sc, dict) else {}


def pod_sc(spec: Obj) -> Obj:
    sc = spec.get("securityContext")
    return sc if isinstance(sc, dict) else {}


def sub(obj: Obj, key: str) -> Obj | None:
    """``obj[key]`` when it is an object (a non-nil pointer upstream)."""
    v = obj.get(key)
    return v if isinstance(v, dict) else None


def is_windows(spec: Obj) -> bool:
    os_ = sub(spec, "os")
    return os_ is not None and os_.get("name") == "windows"


def annotations_of(meta: Obj) -> dict[str, str]:
    a = meta.get("annotations")
    return a if isinstance(a, dict) else {}


def unless_windows(check: CheckFn) -> CheckFn:
    """From v1.25 some restricted checks do not apply to Windows pods."""

    def run(meta: Obj, spec: Obj) -> CheckResult:
        if is_windows(spec):
            return ALLOWED
        return check(meta, spec)

    return run
