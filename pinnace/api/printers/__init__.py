"""Table printers: the cell functions behind ``kubectl get`` columns.

Each ``printers/<group>.py`` module holds the cell functions for one API
group; the kind modules in ``pinnace.api.kinds`` wire them into ``Column``
declarations. This package module holds the helpers every group shares:
human durations and ages (like upstream's ``duration.HumanDuration`` and
``translateTimestampSince``), label and selector formatting, and the NAME/AGE
columns every kind starts and ends with.

Cell functions are pure: they take the object as a plain JSON dict and return
a JSON-able cell value (usually a string, an int for integer columns). Ages
are computed against the wall clock at call time, as upstream computes them
at response time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pinnace.api.schema import Column

__all__ = [
    "AGE",
    "NAME",
    "NONE",
    "UNKNOWN",
    "age",
    "age_column",
    "dig",
    "format_label_selector",
    "format_labels",
    "human_duration",
    "join_or_none",
    "name",
    "name_column",
    "parse_time",
    "short_human_duration",
    "translate_age",
    "translate_timestamp_since",
]

NONE = "<none>"
UNKNOWN = "<unknown>"


def human_duration(seconds: float) -> str:
    """A succinct duration with ~2-3 significant figures, like upstream's
    ``duration.HumanDuration``: 5s, 119s, 3m20s, 10m, 5h10m, 10h, 3d4h, 30d,
    2y40d, 9y."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 60 * 2:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rem = s % 60
        return f"{minutes}m" if rem == 0 else f"{minutes}m{rem}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rem = minutes % 60
        return f"{hours}h" if rem == 0 else f"{hours}h{rem}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rem = hours % 24
        return f"{hours // 24}d" if rem == 0 else f"{hours // 24}d{rem}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def short_human_duration(seconds: float) -> str:
    """A one-unit duration, like upstream's ``duration.ShortHumanDuration``."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    hours = s // 3600
    if hours < 24:
        return f"{hours}h"
    if hours < 24 * 365:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: Any) -> datetime | None:
    """Parse an RFC 3339 timestamp (``Time`` or ``MicroTime``) into an aware
    datetime; None when absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python < 3.11-style parsers choke on >6 fractional digits; trim them.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            digits += rest[i]
            i += 1
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[i:]}"
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t


def translate_timestamp_since(timestamp: Any, now: datetime | None = None) -> str:
    """Human age of ``timestamp`` relative to ``now`` (default: the wall clock),
    ``<unknown>`` when there is no timestamp (upstream's
    ``translateTimestampSince``)."""
    t = parse_time(timestamp)
    if t is None:
        return UNKNOWN
    now = now or datetime.now(UTC)
    return human_duration((now - t).total_seconds())


def translate_age(timestamp: Any, now: datetime | None = None) -> str:
    """Alias of :func:`translate_timestamp_since` (age of a creation timestamp)."""
    return translate_timestamp_since(timestamp, now)


def dig(obj: Any, *path: str | int, default: Any = None) -> Any:
    """``obj[p0][p1]...`` tolerating missing keys, ``None`` and wrong types."""
    cur = obj
    for p in path:
        if isinstance(p, int):
            if not isinstance(cur, list) or not -len(cur) <= p < len(cur):
                return default
            cur = cur[p]
        else:
            if not isinstance(cur, Mapping):
                return default
            cur = cur.get(p)
        if cur is None:
            return default
    return cur


def name(obj: Mapping[str, Any]) -> str:
    """The NAME cell: ``metadata.name``."""
    return str(dig(obj, "metadata", "name", default=""))


def age(obj: Mapping[str, Any]) -> str:
    """The AGE cell: time since ``metadata.creationTimestamp``, now."""
    return translate_timestamp_since(dig(obj, "metadata", "creationTimestamp"))


def join_or_none(items: Iterable[str], sep: str = ",") -> str:
    """``a,b,c`` or ``<none>`` when there is nothing to join."""
    joined = sep.join(items)
    return joined if joined else NONE


def format_labels(labels: Mapping[str, str] | None) -> str:
    """``k1=v1,k2=v2`` sorted by key, or ``<none>`` (upstream's
    ``labels.FormatLabels``)."""
    if not labels:
        return NONE
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def format_label_selector(selector: Mapping[str, Any] | None) -> str:
    """A ``LabelSelector`` as selector text (``app=web,tier in (a,b),!x``), or
    ``<none>`` for a missing or empty selector (upstream's
    ``metav1.FormatLabelSelector``)."""
    if not selector:
        return NONE
    reqs: list[tuple[str, str]] = []
    for k, v in (selector.get("matchLabels") or {}).items():
        reqs.append((k, f"{k}={v}"))
    for expr in selector.get("matchExpressions") or []:
        key = str(expr.get("key", ""))
        op = expr.get("operator", "")
        values = sorted(set(expr.get("values") or []))
        if op == "In":
            reqs.append((key, f"{key} in ({','.join(values)})"))
        elif op == "NotIn":
            reqs.append((key, f"{key} notin ({','.join(values)})"))
        elif op == "Exists":
            reqs.append((key, key))
        elif op == "DoesNotExist":
            reqs.append((key, f"!{key}"))
        else:
            return "<error>"
    reqs.sort(key=lambda r: r[0])
    return ",".join(text for _, text in reqs) or NONE


def name_column(description: str = "Name of the object, unique within its namespace.") -> Column:
    """The NAME column every kind prints first."""
    return Column("Name", "string", description, name, format="name")


def age_column(
    description: str = "How long ago the object was created (from its creationTimestamp).",
) -> Column:
    """The AGE column most kinds print."""
    return Column("Age", "string", description, age)


NAME = name_column()
AGE = age_column()
