"""Table columns for events.k8s.io/v1 events.

Upstream serves these from the core event store and prints them with the
core event printer, so ``kubectl get events.events.k8s.io`` shows the same
columns as ``kubectl get events``: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE
(and with ``-o wide`` SUBOBJECT, SOURCE, FIRST SEEN, COUNT, NAME). Cells
read the events.k8s.io field names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pinnace.api.printers import dig, name, translate_timestamp_since
from pinnace.api.schema import Column

Obj = Mapping[str, Any]


def first_seen(o: Obj) -> str:
    first = o.get("deprecatedFirstTimestamp")
    return translate_timestamp_since(first if first else o.get("eventTime"))


def last_seen(o: Obj) -> str:
    if o.get("series") is not None:
        return translate_timestamp_since(dig(o, "series", "lastObservedTime"))
    last = o.get("deprecatedLastTimestamp")
    return translate_timestamp_since(last) if last else first_seen(o)


def event_count(o: Obj) -> int:
    if o.get("series") is not None:
        return int(dig(o, "series", "count", default=0))
    return int(o.get("deprecatedCount") or 0) or 1


def event_object(o: Obj) -> str:
    kind = str(dig(o, "regarding", "kind", default="")).lower()
    target = dig(o, "regarding", "name", default="")
    return f"{kind}/{target}" if target else kind


def event_source(o: Obj) -> str:
    component = dig(o, "deprecatedSource", "component") or o.get("reportingController") or ""
    instance = dig(o, "deprecatedSource", "host") or o.get("reportingInstance") or ""
    if not component:
        return "<unknown>"
    return f"{component}, {instance}" if instance else component


EVENT_COLUMNS = (
    Column("Last Seen", "string", "How long ago the event last happened.", last_seen),
    Column("Type", "string", "Normal or Warning.", lambda o: str(o.get("type", ""))),
    Column("Reason", "string", "Why the event happened.", lambda o: str(o.get("reason", ""))),
    Column("Object", "string", "The object the event is about.", event_object),
    Column(
        "Subobject",
        "string",
        "The part of the object concerned.",
        lambda o: str(dig(o, "regarding", "fieldPath", default="")),
        priority=1,
    ),
    Column("Source", "string", "Who reported the event.", event_source, priority=1),
    Column(
        "Message",
        "string",
        "What happened, in words.",
        lambda o: str(o.get("note") or "").strip(),
    ),
    Column(
        "First Seen", "string", "How long ago the event first happened.", first_seen, priority=1
    ),
    Column("Count", "string", "How many times it happened.", event_count, priority=1),
    Column("Name", "string", "Name of the event object.", name, format="name", priority=1),
)
