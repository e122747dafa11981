"""CronJob schedules: parse a schedule and compute its next activation, as robfig/cron
v3's standard parser (which upstream's CronJob controller uses) does.

Hand-written rather than ``croniter`` because upstream's semantics differ from
croniter's in ways users can see: robfig ANDs day-of-month and day-of-week when
either field starts with ``*`` (else ORs them), accepts ``?``, month and weekday
names, the ``@yearly``…``@hourly`` descriptors, ``@every <duration>`` and a
``TZ=``/``CRON_TZ=`` prefix; and it is only ~150 lines. Times are computed in
the schedule's zone (``zoneinfo``): wall-clock fields are matched on local
time, local times skipped by a DST jump do not fire, repeated ones fire once.

Pure functions, no I/O; the CronJob controller supplies "now" from its clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

__all__ = ["CronSchedule", "EverySchedule", "Schedule", "ScheduleError", "load_zone", "parse"]


class ScheduleError(ValueError):
    pass


_MONTHS = {
    m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())
}
_DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
# (low, high, names) for minute, hour, day of month, month, day of week
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, _MONTHS),
    (0, 6, _DAYS),
)
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
#: how far ahead to look for a match before calling a schedule impossible (robfig: 5 years)
_HORIZON_YEARS = 5


def load_zone(name: str | None) -> tzinfo:
    """``time.LoadLocation``: ``""``/None/``UTC`` → UTC, ``Local`` → the host's zone."""
    if not name or name == "UTC":
        return UTC
    if name == "Local":
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError) as e:
        raise ScheduleError(f"unknown time zone {name}") from e


def _value(text: str, names: dict[str, int]) -> int:
    if names and text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise ScheduleError(f"failed to parse int from {text}")
    return int(text)


def _parse_field(text: str, lo: int, hi: int, names: dict[str, int]) -> tuple[frozenset[int], bool]:
    """The values a field allows, and whether it is a star (``*``/``?``) field."""
    values: set[int] = set()
    star = False
    for part in text.split(","):
        rng, _, step_text = part.partition("/")
        step = _value(step_text, {}) if step_text else 1
        if step <= 0:
            raise ScheduleError(f"step of range should be a positive number: {part}")
        if rng in ("*", "?"):
            start, end = lo, hi
            star = star or step == 1  # robfig: `*/n` with n > 1 is no star
        else:
            a, dash, b = rng.partition("-")
            start = _value(a, names)
            end = _value(b, names) if dash else (hi if step_text else start)
        if start < lo or end > hi or start > end:
            raise ScheduleError(f"value out of range ({lo}-{hi}): {part}")
        values.update(range(start, end + 1, step))
    return frozenset(values), star


class Schedule:
    def next(self, t: datetime) -> datetime | None:
        """The first activation strictly after ``t`` (None: never)."""
        raise NotImplementedError


@dataclass(frozen=True)
class EverySchedule(Schedule):
    """``@every <duration>`` (robfig's ConstantDelaySchedule: whole seconds, ≥ 1 s)."""

    seconds: int

    def next(self, t: datetime) -> datetime | None:
        base = t.replace(microsecond=0)
        return base + timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class CronSchedule(Schedule):
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: frozenset[int]
    months: frozenset[int]
    dow: frozenset[int]
    dom_star: bool
    dow_star: bool
    zone: tzinfo = UTC

    def _day_matches(self, d: datetime) -> bool:
        dom_ok = d.day in self.dom
        dow_ok = (d.isoweekday() % 7) in self.dow
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def next(self, t: datetime) -> datetime | None:
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        local = t.astimezone(self.zone)
        # the first whole minute after t, as a naive wall-clock time
        cur = local.replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=1)
        limit = cur.year + _HORIZON_YEARS
        while cur.year <= limit:
            if cur.month not in self.months:
                cur = (cur.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self._day_matches(cur):
                cur = cur.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if cur.hour not in self.hours:
                cur = cur.replace(minute=0) + timedelta(hours=1)
                continue
            if cur.minute not in self.minutes:
                cur += timedelta(minutes=1)
                continue
            aware = cur.replace(tzinfo=self.zone)
            # skipped by a DST jump: the wall time does not exist in this zone
            if aware.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) != cur:
                cur += timedelta(minutes=1)
                continue
            result = aware.astimezone(UTC)
            if result > t:
                return result
            cur += timedelta(minutes=1)  # a repeated wall time already past
        return None


def _parse_duration(text: str) -> float:
    pos, total = 0, 0.0
    if not text:
        raise ScheduleError(f'time: invalid duration "{text}"')
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if m is None:
            raise ScheduleError(f'time: invalid duration "{text}"')
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return total


def parse(spec: str, zone: tzinfo = UTC) -> Schedule:
    """``cron.ParseStandard`` with ``zone`` as the default location."""
    spec = spec.strip()
    if not spec:
        raise ScheduleError("empty spec string")
    if spec.startswith(("TZ=", "CRON_TZ=")):
        head, _, spec = spec.partition(" ")
        zone = load_zone(head.split("=", 1)[1])
        spec = spec.strip()
    if spec.startswith("@every "):
        seconds = _parse_duration(spec[len("@every ") :].strip())
        return EverySchedule(max(1, int(seconds)))
    if spec.startswith("@"):
        if spec not in _DESCRIPTORS:
            raise ScheduleError(f"unrecognized descriptor: {spec}")
        spec = _DESCRIPTORS[spec]
    fields = spec.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: {fields}")
    parsed = [
        _parse_field(f, lo, hi, names) for f, (lo, hi, names) in zip(fields, _FIELDS, strict=True)
    ]
    dow = frozenset(d % 7 for d in parsed[4][0])  # 7 is Sunday too
    return CronSchedule(
        minutes=parsed[0][0],
        hours=parsed[1][0],
        dom=parsed[2][0],
        months=parsed[3][0],
        dow=dow,
        dom_star=parsed[2][1],
        dow_star=parsed[4][1],
        zone=zone,
    )
