"""DefaultStorageClass: a claim that names no StorageClass gets the default one.

Upstream's ``plugin/pkg/admission/storage/storageclass/setdefault``: on
PersistentVolumeClaim CREATE (not subresources), when ``spec.storageClassName``
is absent (``null`` — an explicit ``""`` means "no class" and is kept) and the
claim has no beta ``volume.beta.kubernetes.io/storage-class`` annotation, it is
set to the default StorageClass: the one annotated
``storageclass.kubernetes.io/is-default-class: "true"`` (or the beta
annotation). With several defaults the newest wins, ties by name, as upstream
since 1.26. Without one the claim is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pinnace.apiserver.admission import AdmissionRequest

Obj = dict[str, Any]

IS_DEFAULT = "storageclass.kubernetes.io/is-default-class"
BETA_IS_DEFAULT = "storageclass.beta.kubernetes.io/is-default-class"
BETA_CLASS = "volume.beta.kubernetes.io/storage-class"


def is_default_class(sc: Obj) -> bool:
    ann = (sc.get("metadata") or {}).get("annotations") or {}
    return ann.get(IS_DEFAULT) == "true" or ann.get(BETA_IS_DEFAULT) == "true"


def default_class(classes: Iterable[Obj]) -> Obj | None:
    """upstream ``GetDefaultClass``: the newest default class (by creationTimestamp,
    then name)."""
    defaults = [sc for sc in classes if is_default_class(sc)]
    if not defaults:
        return None

    def newest_first(sc: Obj) -> tuple[str, str]:
        m = sc.get("metadata") or {}
        return (str(m.get("creationTimestamp") or ""), str(m.get("name") or ""))

    # newest timestamp first; among equal timestamps the smallest name
    defaults.sort(key=lambda sc: newest_first(sc)[1])
    defaults.sort(key=lambda sc: newest_first(sc)[0], reverse=True)
    return defaults[0]


class DefaultStorageClass:
    name = "DefaultStorageClass"

    def __init__(self, list_classes: Callable[[], Iterable[Obj]]) -> None:
        self._list = list_classes

    async def admit(self, req: AdmissionRequest) -> None:
        r = req.resource
        if r.group != "" or r.plural != "persistentvolumeclaims" or req.subresource:
            return
        if req.operation != "CREATE" or not isinstance(req.object, dict):
            return
        spec = req.object.get("spec")
        if not isinstance(spec, dict) or spec.get("storageClassName") is not None:
            return
        annotations = (req.object.get("metadata") or {}).get("annotations") or {}
        if BETA_CLASS in annotations:
            return
        sc = default_class(self._list())
        if sc is not None:
            spec["storageClassName"] = sc["metadata"]["name"]
