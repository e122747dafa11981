"""Audit events (``audit.k8s.io/v1`` ``Event``) as plain JSON dicts.

An :class:`EventBuilder` holds what is known about one request (who, what,
when, at which level) and renders the event of each stage with
:meth:`EventBuilder.render`. Keys are emitted in upstream's field order and
empty optional fields are left out as upstream's ``omitempty`` does, so a
line looks like one kube-apiserver writes; ``user`` is always present (``{}``
when authentication failed, as upstream records it).

Concurrency model: pure data; one builder per request, used by one task.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pinnace.apiserver.authn import UserInfo

__all__ = [
    "LEVEL_ORDER",
    "EventBuilder",
    "ObjectRef",
    "micro_time",
    "response_status",
    "user_info",
    "without_managed_fields",
]

Obj = dict[str, Any]
LEVEL_ORDER = {"None": 0, "Metadata": 1, "Request": 2, "RequestResponse": 3}
_MAX_USER_AGENT = 1024


def micro_time(t: dt.datetime) -> str:
    """RFC 3339 with microseconds in UTC, as metav1.MicroTime serialises."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def user_info(user: UserInfo | None) -> Obj:
    """authentication.k8s.io/v1 UserInfo; ``{}`` for no user."""
    if user is None:
        return {}
    out: Obj = {"username": user.name}
    if user.uid:
        out["uid"] = user.uid
    if user.groups:
        out["groups"] = list(user.groups)
    out["extra"] = {k: list(v) for k, v in user.extra.items()}
    if not out["extra"]:
        del out["extra"]
    return out


def response_status(code: int, body: Any = None) -> Obj:
    """The event's ``responseStatus``: the code, plus status/message/reason/
    details when the response was a ``Status``."""
    out: Obj = {"metadata": {}}
    if isinstance(body, dict) and body.get("kind") == "Status":
        for key in ("status", "message", "reason", "details"):
            if body.get(key):
                out[key] = body[key]
    out["code"] = code
    return out


def without_managed_fields(obj: Any) -> Any:
    """A copy of ``obj`` (an object, a list or a Table) without
    ``metadata.managedFields``; shares everything else with ``obj``."""
    if not isinstance(obj, dict):
        return obj
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    items = out.get("items")
    if isinstance(items, list):
        out["items"] = [without_managed_fields(i) for i in items]
    rows = out.get("rows")
    if out.get("kind") == "Table" and isinstance(rows, list):
        out["rows"] = [
            {**r, "object": without_managed_fields(r["object"])}
            if isinstance(r, dict) and "object" in r
            else r
            for r in rows
        ]
    return out


@dataclass(slots=True)
class ObjectRef:
    resource: str = ""
    namespace: str = ""
    name: str = ""
    uid: str = ""
    api_group: str = ""
    api_version: str = ""
    resource_version: str = ""
    subresource: str = ""

    def to_json(self) -> Obj:
        out: Obj = {}
        for key, value in (
            ("resource", self.resource),
            ("namespace", self.namespace),
            ("name", self.name),
            ("uid", self.uid),
            ("apiGroup", self.api_group),
            ("apiVersion", self.api_version),
            ("resourceVersion", self.resource_version),
            ("subresource", self.subresource),
        ):
            if value:
                out[key] = value
        return out

    def fill_from(self, obj: Any) -> None:
        """Take namespace, name, uid and resourceVersion from the request
        object's metadata where the URL did not say (upstream does the same)."""
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        if not isinstance(meta, dict):
            return
        self.namespace = self.namespace or str(meta.get("namespace") or "")
        self.name = self.name or str(meta.get("name") or "")
        self.uid = self.uid or str(meta.get("uid") or "")
        self.resource_version = self.resource_version or str(meta.get("resourceVersion") or "")


@dataclass(slots=True)
class EventBuilder:
    """Everything one request's events share; the stage-specific parts are
    filled in as the request goes on."""

    level: str
    audit_id: str
    request_uri: str
    verb: str
    received: dt.datetime
    user: UserInfo | None = None
    impersonated_user: UserInfo | None = None
    source_ips: list[str] = field(default_factory=list)
    user_agent: str = ""
    object_ref: ObjectRef | None = None
    response_status: Obj | None = None
    request_object: Any = None
    response_object: Any = None
    annotations: dict[str, str] = field(default_factory=dict)

    def at_least(self, level: str) -> bool:
        return LEVEL_ORDER[self.level] >= LEVEL_ORDER[level]

    def render(self, stage: str, now: dt.datetime) -> Obj:
        """The event for ``stage``; RequestReceived is stamped with the time
        the request arrived, the other stages with ``now``."""
        ev: Obj = {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": self.level,
            "auditID": self.audit_id,
            "stage": stage,
            "requestURI": self.request_uri,
            "verb": self.verb,
            "user": user_info(self.user),
        }
        if self.impersonated_user is not None:
            ev["impersonatedUser"] = user_info(self.impersonated_user)
        if self.source_ips:
            ev["sourceIPs"] = list(self.source_ips)
        if self.user_agent:
            ua = self.user_agent
            ev["userAgent"] = (
                ua[:_MAX_USER_AGENT] + "...TRUNCATED" if len(ua) > _MAX_USER_AGENT else ua
            )
        if self.object_ref is not None:
            ev["objectRef"] = self.object_ref.to_json()
        if self.response_status is not None and stage != "RequestReceived":
            ev["responseStatus"] = self.response_status
        if self.request_object is not None and self.at_least("Request"):
            ev["requestObject"] = self.request_object
        if (
            self.response_object is not None
            and stage != "RequestReceived"
            and self.at_least("RequestResponse")
        ):
            ev["responseObject"] = self.response_object
        ev["requestReceivedTimestamp"] = micro_time(self.received)
        ev["stageTimestamp"] = micro_time(self.received if stage == "RequestReceived" else now)
        if self.annotations:
            ev["annotations"] = dict(self.annotations)
        return ev
