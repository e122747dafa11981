"""Checking CronJob schedules the way upstream does: with robfig/cron's
standard parser (five fields, month and weekday names, ``@hourly``-style
descriptors, ``@every <duration>``), so the error texts are the ones kubectl
users see. Only validation: computing run times belongs to the controller.
"""

from __future__ import annotations

import re

_BOUNDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (
        1,
        12,
        {
            m: i + 1
            for i, m in enumerate(
                ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
            )
        },
    ),
    (0, 6, {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}),
)
DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_duration = re.compile(r"^([0-9]+(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$")


class CronError(ValueError):
    pass


def _atoi(expr: str) -> int:
    try:
        if not re.fullmatch(r"[+-]?[0-9]+", expr):
            raise ValueError
        num = int(expr)
    except ValueError:
        raise CronError(
            f'failed to parse int from {expr}: strconv.Atoi: parsing "{expr}": invalid syntax'
        ) from None
    if num < 0:
        raise CronError(f"negative number ({num}) not allowed: {expr}")
    return num


def _int_or_name(expr: str, names: dict[str, int]) -> int:
    if names and expr.lower() in names:
        return names[expr.lower()]
    return _atoi(expr)


def _range(expr: str, lo: int, hi: int, names: dict[str, int]) -> None:
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    single = len(low_high) == 1
    if low_high[0] in ("*", "?"):
        start, end = lo, hi
    else:
        start = _int_or_name(low_high[0], names)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _int_or_name(low_high[1], names)
        else:
            raise CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _atoi(range_and_step[1])
        if single:
            end = hi
    else:
        raise CronError(f"too many slashes: {expr}")
    if start < lo:
        raise CronError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
    if end > hi:
        raise CronError(f"end of range ({end}) above maximum ({hi}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")


def parse_error(spec: str) -> str | None:
    """Why ``cron.ParseStandard(spec)`` fails (None when it parses)."""
    try:
        _parse(spec)
    except CronError as e:
        return str(e)
    return None


def _parse(spec: str) -> None:
    if not spec:
        raise CronError("empty spec string")
    if spec.startswith(("TZ=", "CRON_TZ=")):
        head, _, spec = spec.partition(" ")
        zone = head.split("=", 1)[1]
        if not _zone_ok(zone):
            raise CronError(f"provided bad location {zone}: unknown time zone {zone}")
        spec = spec.strip()
    if spec.startswith("@"):
        if spec in DESCRIPTORS:
            return
        if spec.startswith("@every "):
            d = spec[len("@every ") :]
            if not _duration.match(d):
                raise CronError(f'failed to parse duration {spec}: time: invalid duration "{d}"')
            return
        raise CronError(f"unrecognized descriptor: {spec}")
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    for f, (lo, hi, names) in zip(fields, _BOUNDS, strict=True):
        for part in f.split(","):
            _range(part, lo, hi, names)


def _zone_ok(zone: str) -> bool:
    return zone_error(zone) is None


def zone_error(zone: str) -> str | None:
    """``time.LoadLocation``'s error for ``zone`` (None when it loads)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if zone in ("", "UTC", "Local"):
        return None
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {zone}"
    return None
