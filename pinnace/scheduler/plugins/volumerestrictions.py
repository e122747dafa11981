"""VolumeRestrictions (PreFilter): a ``ReadWriteOncePod`` claim may be used by
one pod only (upstream's message when another pod already uses it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pinnace.scheduler.framework.interface import CycleState, PreFilterResult
from pinnace.scheduler.framework.status import Status
from pinnace.scheduler.framework.types import PodInfo
from pinnace.scheduler.plugins.volumebinding import pod_claims

NAME = "VolumeRestrictions"
ERR_REASON_RWOP = (
    "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"
)


class VolumeRestrictions:
    name = NAME

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def pre_filter(
        self, state: CycleState, pod: PodInfo
    ) -> tuple[PreFilterResult | None, Status | None]:
        claims = pod_claims(pod)
        if not claims:
            return None, Status.skip()
        rwop = set()
        for claim in claims:
            pvc = self.handle.get_object("persistentvolumeclaims", pod.namespace, claim)
            if pvc is not None and "ReadWriteOncePod" in (
                (pvc.get("spec") or {}).get("accessModes") or []
            ):
                rwop.add(claim)
        if not rwop:
            return None, Status.skip()
        for ni in self.handle.snapshot.node_list():
            for other in ni.pods.values():
                if other.namespace != pod.namespace or other.uid == pod.uid:
                    continue
                if rwop & set(pod_claims(other)):
                    return None, Status.unresolvable(ERR_REASON_RWOP)
        return None, Status.skip()


def new(args: Mapping[str, Any], handle: Any) -> VolumeRestrictions:
    return VolumeRestrictions(handle)
