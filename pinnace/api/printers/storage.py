"""Table columns for storage.k8s.io/v1 storageclasses (upstream's
``printStorageClass``): the default class is marked ``(default)``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pinnace.api.printers import AGE, dig
from pinnace.api.schema import Column

DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


def is_default_class(o: Mapping[str, Any]) -> bool:
    annotations = dig(o, "metadata", "annotations", default={})
    return any(annotations.get(a) == "true" for a in DEFAULT_CLASS_ANNOTATIONS)


def storageclass_name(o: Mapping[str, Any]) -> str:
    name = str(dig(o, "metadata", "name", default=""))
    return f"{name} (default)" if is_default_class(o) else name


STORAGECLASS_COLUMNS = (
    Column(
        "Name",
        "string",
        "Name of the class, marked (default) for the default one.",
        storageclass_name,
        format="name",
    ),
    Column(
        "Provisioner",
        "string",
        "The volume plugin that provisions volumes of this class.",
        lambda o: str(o.get("provisioner", "")),
    ),
    Column(
        "ReclaimPolicy",
        "string",
        "What happens to a released volume.",
        lambda o: str(o.get("reclaimPolicy") or "Delete"),
    ),
    Column(
        "VolumeBindingMode",
        "string",
        "When volumes are provisioned and bound.",
        lambda o: str(o.get("volumeBindingMode") or "Immediate"),
    ),
    Column(
        "AllowVolumeExpansion",
        "string",
        "Whether claims of this class may grow.",
        lambda o: bool(o.get("allowVolumeExpansion") or False),
    ),
    AGE,
)
