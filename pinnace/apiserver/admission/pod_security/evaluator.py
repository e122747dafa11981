"""Which checks a level and version run, and the aggregate verdict.

For ``baseline:v1.N`` every baseline check runs in the version it had at
v1.N; ``restricted:v1.N`` adds the restricted checks and drops the baseline
checks they override. Versions newer than the newest check version (and
``latest``) use the newest. Checks run in upstream's order (baseline ids
sorted, then restricted ids sorted), which fixes the order of reasons in
messages. The per level-version check lists are computed once and cached; no
I/O, no locks needed (asyncio, one thread)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pinnace.apiserver.admission.pod_security.baseline import BASELINE_CHECKS
from pinnace.apiserver.admission.pod_security.checks import (
    Check,
    CheckFn,
    CheckResult,
    Obj,
    VersionedCheck,
)
from pinnace.apiserver.admission.pod_security.levels import Level, LevelVersion
from pinnace.apiserver.admission.pod_security.restricted import RESTRICTED_CHECKS

UNKNOWN_FORBIDDEN_REASON = "unknown forbidden reason"


@dataclass(slots=True)
class Verdict:
    """Upstream's AggregateCheckResult."""

    reasons: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.reasons

    def forbidden_reason(self) -> str:
        return ", ".join(self.reasons)

    def forbidden_detail(self) -> str:
        return ", ".join(
            f"{r} ({d})" if d else r for r, d in zip(self.reasons, self.details, strict=True)
        )


def aggregate(results: Sequence[CheckResult]) -> Verdict:
    v = Verdict()
    for r in results:
        if not r.allowed:
            v.reasons.append(r.reason or UNKNOWN_FORBIDDEN_REASON)
            v.details.append(r.detail)
    return v


def _at(check: Check, minor: int) -> VersionedCheck | None:
    chosen = None
    for vc in check.versions:
        if vc.minimum_minor <= minor:
            chosen = vc
    return chosen


class Evaluator:
    def __init__(self, checks: Sequence[Check] = BASELINE_CHECKS + RESTRICTED_CHECKS) -> None:
        self._baseline = sorted((c for c in checks if c.level is Level.BASELINE), key=_id)
        self._restricted = sorted((c for c in checks if c.level is Level.RESTRICTED), key=_id)
        self.max_minor = max(vc.minimum_minor for c in checks for vc in c.versions)
        self._cache: dict[tuple[Level, int], list[CheckFn]] = {}

    def checks_for(self, lv: LevelVersion) -> list[CheckFn]:
        if lv.level is Level.PRIVILEGED:
            return []
        minor = self.max_minor
        if not lv.version.latest and lv.version.minor < minor:
            minor = lv.version.minor
        key = (lv.level, minor)
        fns = self._cache.get(key)
        if fns is None:
            fns = self._build(lv.level, minor)
            self._cache[key] = fns
        return fns

    def _build(self, level: Level, minor: int) -> list[CheckFn]:
        restricted: list[VersionedCheck] = []
        if level is Level.RESTRICTED:
            restricted = [vc for c in self._restricted if (vc := _at(c, minor)) is not None]
        overridden = {o for vc in restricted for o in vc.overrides}
        baseline = [
            vc
            for c in self._baseline
            if c.id not in overridden and (vc := _at(c, minor)) is not None
        ]
        return [vc.check for vc in baseline + restricted]

    def evaluate(self, lv: LevelVersion, meta: Obj, spec: Obj) -> Verdict:
        return aggregate([fn(meta, spec) for fn in self.checks_for(lv)])


def _id(c: Check) -> str:
    return c.id
