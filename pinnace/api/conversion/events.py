"""core/v1 Event <-> events.k8s.io/v1 Event.

Both groups serve the same stored objects, as upstream does: the newer group
renames some fields and keeps the legacy ones under ``deprecated*`` names.
Fields with the same name in both (eventTime, series, reportingInstance,
action, reason, related, type, metadata) are carried as they are.
"""

from __future__ import annotations

from typing import Any

# core/v1 name -> events.k8s.io/v1 name
RENAMED = {
    "involvedObject": "regarding",
    "message": "note",
    "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount",
    "reportingComponent": "reportingController",
}
_BACK = {v: k for k, v in RENAMED.items()}


def _rename(obj: dict[str, Any], mapping: dict[str, str], api_version: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        out[mapping.get(key, key)] = value
    return {"apiVersion": api_version, "kind": "Event", **out}


def core_to_events_v1(obj: dict[str, Any]) -> dict[str, Any]:
    """A core/v1 Event as an events.k8s.io/v1 Event (a new dict)."""
    return _rename(obj, RENAMED, "events.k8s.io/v1")


def events_v1_to_core(obj: dict[str, Any]) -> dict[str, Any]:
    """An events.k8s.io/v1 Event as a core/v1 Event (a new dict)."""
    return _rename(obj, _BACK, "v1")
