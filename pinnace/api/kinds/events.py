"""events.k8s.io/v1: Event.

Upstream keeps a single store of events and serves it both as core/v1 Event
and as events.k8s.io/v1 Event, renaming fields between the two (``note`` is
``message``, ``regarding`` is ``involvedObject``, ``deprecatedSource`` is
``source``, ``reportingController`` is ``reportingComponent``, ...). This
resource therefore names ``events`` as its storage resource; the apiserver
must read and write the core store and convert with
:mod:`pinnace.api.conversion.events`.

Facts follow kubernetes/api ``events/v1`` as of v1.32; descriptions are our
own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pinnace.api.printers import events as printers
from pinnace.api.schema import Resource, field, struct

GROUP = "events.k8s.io"
VERSION = "v1"
PKG = "io.k8s.api.events.v1"

struct(
    PKG,
    "EventSeries",
    "How often an event has repeated.",
    [
        field("count", "int32", "Occurrences up to the last heartbeat.", proto=1, required=True),
        field(
            "lastObservedTime",
            "MicroTime",
            "When the last occurrence before the heartbeat was seen.",
            proto=2,
            required=True,
        ),
    ],
)

_event = struct(
    PKG,
    "Event",
    "A report of something that happened to an object in the cluster.",
    [
        field("apiVersion", "string", "The versioned schema of this representation."),
        field("kind", "string", "The REST kind of this object (Event)."),
        field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
        field(
            "eventTime",
            "MicroTime",
            "When the event was first seen.",
            proto=2,
            required=True,
        ),
        field("series", "EventSeries", "Repetition data; unset for a one-off event.", proto=3),
        field(
            "reportingController",
            "string",
            "The controller that reported it, like example.com/my-controller.",
            proto=4,
        ),
        field("reportingInstance", "string", "The instance of that controller.", proto=5),
        field("action", "string", "What was done, or failed, in machine-readable form.", proto=6),
        field("reason", "string", "Why it was done, in machine-readable form.", proto=7),
        field(
            "regarding",
            "io.k8s.api.core.v1.ObjectReference",
            "The object the event is about.",
            proto=8,
        ),
        field(
            "related",
            "io.k8s.api.core.v1.ObjectReference",
            "A second object involved, if any.",
            proto=9,
        ),
        field("note", "string", "What happened, in words (at most 1 kB).", proto=10),
        field("type", "string", "Normal or Warning.", proto=11),
        field(
            "deprecatedSource",
            "io.k8s.api.core.v1.EventSource",
            "The core/v1 source, kept for compatibility.",
            proto=12,
        ),
        field(
            "deprecatedFirstTimestamp",
            "Time",
            "The core/v1 first timestamp, kept for compatibility.",
            proto=13,
        ),
        field(
            "deprecatedLastTimestamp",
            "Time",
            "The core/v1 last timestamp, kept for compatibility.",
            proto=14,
        ),
        field(
            "deprecatedCount",
            "int32",
            "The core/v1 count, kept for compatibility.",
            proto=15,
        ),
    ],
)
_event.gvk = (GROUP, VERSION, "Event")

_event_list = struct(
    PKG,
    "EventList",
    "A list of events.",
    [
        field("apiVersion", "string", "The versioned schema of this representation."),
        field("kind", "string", "The REST kind of this object (EventList)."),
        field("metadata", "ListMeta", "Standard list metadata.", proto=1),
        field("items", "[]Event", "The events.", proto=2, required=True),
    ],
)
_event_list.gvk = (GROUP, VERSION, "EventList")


def _at(*path: str) -> Callable[[dict[str, Any]], str]:
    def get(obj: dict[str, Any]) -> str:
        cur: Any = obj
        for p in path:
            cur = cur.get(p) if isinstance(cur, dict) else None
        return "" if cur is None else str(cur)

    return get


# upstream's field label conversions for events.k8s.io/v1 (on this version's names)
FIELD_SELECTORS = {
    **{
        f"regarding.{k}": _at("regarding", k)
        for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
    },
    "reason": _at("reason"),
    "reportingController": _at("reportingController"),
    "type": _at("type"),
}

RESOURCES: list[Resource] = [
    Resource(
        GROUP,
        VERSION,
        "Event",
        "events",
        namespaced=True,
        schema=f"{PKG}.Event",
        short_names=("ev",),
        field_selectors=FIELD_SELECTORS,
        columns=printers.EVENT_COLUMNS,
        # the same store as core/v1 events; the apiserver converts (module docstring)
        storage_resource="events",
        storage_group="",
    ),
]
