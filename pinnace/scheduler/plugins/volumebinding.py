"""VolumeBinding (PreFilter, Filter) as far as pinnace's storage model goes.

There is no dynamic provisioning or PV binding controller here yet, so the
plugin checks what can be checked from the API objects: every PVC the pod
mounts must exist and not be terminating; an unbound PVC whose StorageClass
binds ``Immediate`` (or has no class) blocks scheduling (``pod has unbound
immediate PersistentVolumeClaims``); a bound PVC's PV ``spec.nodeAffinity``
must match the node (``node(s) had volume node affinity conflict``). Unbound
``WaitForFirstConsumer`` claims do not block (nothing would bind them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pinnace.scheduler.framework.interface import CycleState, PreFilterResult
from pinnace.scheduler.framework.status import Status
from pinnace.scheduler.framework.types import NodeInfo, PodInfo
from pinnace.scheduler.selectors import NodeSelector

NAME = "VolumeBinding"
ERR_REASON_NODE_CONFLICT = "node(s) had volume node affinity conflict"
ERR_REASON_UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
_KEY = "PreFilter" + NAME


def pod_claims(pod: PodInfo) -> list[str]:
    names = []
    for v in pod.spec.get("volumes") or []:
        pvc = v.get("persistentVolumeClaim")
        if pvc and pvc.get("claimName"):
            names.append(str(pvc["claimName"]))
        elif v.get("ephemeral"):
            names.append(f"{pod.name}-{v.get('name')}")
    return names


class VolumeBinding:
    name = NAME

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def pre_filter(
        self, state: CycleState, pod: PodInfo
    ) -> tuple[PreFilterResult | None, Status | None]:
        claims = pod_claims(pod)
        if not claims:
            return None, Status.skip()
        selectors: list[NodeSelector] = []
        for claim in claims:
            pvc = self.handle.get_object("persistentvolumeclaims", pod.namespace, claim)
            if pvc is None:
                return None, Status.unresolvable(f'persistentvolumeclaim "{claim}" not found')
            if (pvc.get("metadata") or {}).get("deletionTimestamp"):
                return None, Status.unresolvable(
                    f'persistentvolumeclaim "{claim}" is being deleted'
                )
            volume = (pvc.get("spec") or {}).get("volumeName")
            if not volume:
                sc_name = (pvc.get("spec") or {}).get("storageClassName")
                sc = self.handle.get_object("storageclasses", "", sc_name) if sc_name else None
                mode = (sc or {}).get("volumeBindingMode") or "Immediate"
                if mode == "Immediate":
                    return None, Status.unresolvable(ERR_REASON_UNBOUND_IMMEDIATE)
                continue
            pv = self.handle.get_object("persistentvolumes", "", volume)
            if pv is None:
                return None, Status.unresolvable(f'persistentvolume "{volume}" not found')
            req = ((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required")
            if req is not None:
                selectors.append(NodeSelector.from_terms(req.get("nodeSelectorTerms")))
        if not selectors:
            return None, Status.skip()
        state.write(_KEY, selectors)
        return None, None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        selectors: list[NodeSelector] = state.read(_KEY) or []
        for sel in selectors:
            if not sel.matches(node.labels, node.name):
                return Status.unresolvable(ERR_REASON_NODE_CONFLICT)
        return None


def new(args: Mapping[str, Any], handle: Any) -> VolumeBinding:
    return VolumeBinding(handle)
