"""meta.k8s.io/v1 Table responses from the columns each kind declares
(``Resource.columns``); kinds without columns get upstream's default
NAME / CREATED AT pair."""

from __future__ import annotations

import logging
from typing import Any

from pinnace.api.schema import Column, Resource

log = logging.getLogger("pinnace.apiserver.tables")

_DEFAULT_COLUMNS = (
    Column(
        "Name",
        "string",
        "Name must be unique within a namespace.",
        lambda o: o.get("metadata", {}).get("name", ""),
        format="name",
    ),
    Column(
        "Created At",
        "date",
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
        lambda o: o.get("metadata", {}).get("creationTimestamp"),
    ),
)


def columns_of(resource: Resource) -> tuple[Column, ...]:
    return resource.columns or _DEFAULT_COLUMNS


def column_definitions(resource: Resource) -> list[dict[str, Any]]:
    return [
        {
            "name": c.name,
            "type": c.type,
            "format": c.format,
            "description": c.description,
            "priority": c.priority,
        }
        for c in columns_of(resource)
    ]


def partial_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def row(resource: Resource, obj: dict[str, Any], include_object: str) -> dict[str, Any]:
    cells = []
    for c in columns_of(resource):
        try:
            v = c.cell(obj)
        except Exception:  # a printer must never break a list
            log.debug("column %s of %s failed", c.name, resource.plural, exc_info=True)
            v = "<unknown>"
        cells.append(v)
    r: dict[str, Any] = {"cells": cells}
    if include_object == "Object":
        r["object"] = obj
    elif include_object != "None":
        r["object"] = partial_metadata(obj)
    return r


def table(
    resource: Resource,
    objs: list[dict[str, Any]],
    *,
    resource_version: str = "",
    continue_token: str = "",
    remaining: int | None = None,
    include_object: str = "Metadata",
) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if resource_version:
        meta["resourceVersion"] = resource_version
    if continue_token:
        meta["continue"] = continue_token
    if remaining is not None:
        meta["remainingItemCount"] = remaining
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": column_definitions(resource),
        "rows": [row(resource, o, include_object) for o in objs],
    }
