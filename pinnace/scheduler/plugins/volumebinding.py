"""VolumeBinding (PreFilter, Filter, PreBind): the pod's claims and the node.

Upstream's ``pkg/scheduler/framework/plugins/volumebinding`` over the informer
caches:

* PreFilter: every PVC the pod mounts must exist and not be terminating; an
  unbound claim whose StorageClass binds ``Immediate`` (or has no class) blocks
  scheduling (``pod has unbound immediate PersistentVolumeClaims``: the PV
  controller binds those). Bound claims contribute their volume's
  ``spec.nodeAffinity``; unbound ``WaitForFirstConsumer`` claims are bound here.
* Filter: a bound claim's volume must admit the node (``node(s) had volume
  node affinity conflict``). For each unbound delayed claim: a claim already
  given a ``volume.kubernetes.io/selected-node`` fits that node only; else an
  Available volume that matches it (:func:`find_matching_volume` with the
  node: class, access modes, size — smallest fitting —, selector, and node
  affinity) or, failing that, a class whose provisioner can make one (not
  ``kubernetes.io/no-provisioner``, ``allowedTopologies`` admitting the node).
  Otherwise ``node(s) didn't find available persistent volumes to bind``.
* PreBind, once the node is chosen: a matched volume is pre-bound to its claim
  (``claimRef`` + ``pv.kubernetes.io/bound-by-controller``; the PV controller
  completes the binding), a claim to provision gets
  ``volume.kubernetes.io/selected-node: <node>`` (the provisioner makes the
  volume there).

Unlike upstream, PreBind does not wait for the claims to become Bound before
the pod is bound (upstream waits up to ``bindTimeoutSeconds``): pinnace's
kubelets do not mount claims, and a class served by no provisioner would hold
the pod in PreBind for ten minutes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pinnace.client import ApiError, Obj
from pinnace.controllers.persistentvolume import (
    ANN_BOUND_BY_CONTROLLER,
    ANN_SELECTED_NODE,
    NO_PROVISIONER,
    PVCS,
    PVS,
    claim_class,
    find_matching_volume,
)
from pinnace.scheduler.framework.interface import CycleState, PreFilterResult
from pinnace.scheduler.framework.status import Status
from pinnace.scheduler.framework.types import NodeInfo, PodInfo
from pinnace.scheduler.selectors import NodeSelector

NAME = "VolumeBinding"
ERR_REASON_NODE_CONFLICT = "node(s) had volume node affinity conflict"
ERR_REASON_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
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


class _State:
    """What PreFilter found: bound volumes' node selectors, unbound delayed claims."""

    __slots__ = ("selectors", "to_bind")

    def __init__(self) -> None:
        self.selectors: list[NodeSelector] = []
        self.to_bind: list[Obj] = []


def _allowed_topologies_match(sc: Obj, labels: Mapping[str, str]) -> bool:
    terms = sc.get("allowedTopologies") or []
    if not terms:
        return True
    for term in terms:
        exprs = term.get("matchLabelExpressions") or []
        if all(labels.get(str(e.get("key"))) in (e.get("values") or []) for e in exprs):
            return True
    return False


class VolumeBinding:
    name = NAME

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def _class(self, name: str) -> Obj | None:
        if not name:
            return None
        sc: Obj | None = self.handle.get_object("storageclasses", "", name)
        return sc

    def pre_filter(
        self, state: CycleState, pod: PodInfo
    ) -> tuple[PreFilterResult | None, Status | None]:
        claims = pod_claims(pod)
        if not claims:
            return None, Status.skip()
        st = _State()
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
                sc = self._class(claim_class(pvc))
                mode = (sc or {}).get("volumeBindingMode") or "Immediate"
                if mode == "Immediate":
                    return None, Status.unresolvable(ERR_REASON_UNBOUND_IMMEDIATE)
                st.to_bind.append(pvc)
                continue
            pv = self.handle.get_object("persistentvolumes", "", volume)
            if pv is None:
                return None, Status.unresolvable(f'persistentvolume "{volume}" not found')
            req = ((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required")
            if req is not None:
                st.selectors.append(NodeSelector.from_terms(req.get("nodeSelectorTerms")))
        if not st.selectors and not st.to_bind:
            return None, Status.skip()
        state.write(_KEY, st)
        return None, None

    def _plan(
        self, claims: list[Obj], node: str, labels: Mapping[str, str]
    ) -> list[tuple[str, Obj, Obj | None]] | None:
        """For each claim to bind on ``node``: ``("bind", pvc, pv)`` or
        ``("provision", pvc, None)``; None when some claim cannot be served there."""
        plan: list[tuple[str, Obj, Obj | None]] = []
        chosen: set[str] = set()
        volumes = self.handle.lister("persistentvolumes")
        for pvc in claims:
            selected = ((pvc.get("metadata") or {}).get("annotations") or {}).get(ANN_SELECTED_NODE)
            if selected:
                if selected != node:
                    return None
                plan.append(("provision", pvc, None))
                continue
            pv = find_matching_volume(pvc, volumes, node=(node, labels), excluded=chosen)
            if pv is not None:
                chosen.add(str(pv["metadata"]["name"]))
                plan.append(("bind", pvc, pv))
                continue
            sc = self._class(claim_class(pvc))
            if sc is None or (sc.get("provisioner") or NO_PROVISIONER) == NO_PROVISIONER:
                return None
            if not _allowed_topologies_match(sc, labels):
                return None
            plan.append(("provision", pvc, None))
        return plan

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        st: _State | None = state.read(_KEY)
        if st is None:
            return None
        for sel in st.selectors:
            if not sel.matches(node.labels, node.name):
                return Status.unresolvable(ERR_REASON_NODE_CONFLICT)
        if st.to_bind and self._plan(st.to_bind, node.name, node.labels) is None:
            return Status.unresolvable(ERR_REASON_BIND_CONFLICT)
        return None

    async def pre_bind(self, state: CycleState, pod: PodInfo, node: str) -> Status | None:
        st: _State | None = state.read(_KEY)
        if st is None or not st.to_bind:
            return None
        api = self.handle.api
        if api is None:
            return None
        node_obj = self.handle.get_object("nodes", "", node)
        labels = ((node_obj or {}).get("metadata") or {}).get("labels") or {}
        # the claims as they are now (another pod may have bound one meanwhile)
        claims = []
        for pvc in st.to_bind:
            m = pvc.get("metadata") or {}
            cur = self.handle.get_object("persistentvolumeclaims", pod.namespace, m.get("name"))
            if cur is not None and not (cur.get("spec") or {}).get("volumeName"):
                claims.append(cur)
        plan = self._plan(claims, node, labels)
        if plan is None:
            return Status.error(f"{ERR_REASON_BIND_CONFLICT} on node {node}")
        try:
            for action, pvc, pv in plan:
                m = pvc["metadata"]
                if action == "bind" and pv is not None:
                    new = copy.deepcopy(pv)
                    new["spec"]["claimRef"] = {
                        "kind": "PersistentVolumeClaim",
                        "apiVersion": "v1",
                        "namespace": m.get("namespace"),
                        "name": m.get("name"),
                        "uid": m.get("uid"),
                        "resourceVersion": m.get("resourceVersion"),
                    }
                    new["metadata"].setdefault("annotations", {})[ANN_BOUND_BY_CONTROLLER] = "yes"
                    await api.replace(PVS, new)
                elif (m.get("annotations") or {}).get(ANN_SELECTED_NODE) != node:
                    patch = {"metadata": {"annotations": {ANN_SELECTED_NODE: node}}}
                    await api.patch(PVCS, m["name"], patch, namespace=m["namespace"])
        except ApiError as e:
            return Status.error(f"binding volumes: {e.message or e}")
        return None


def new(args: Mapping[str, Any], handle: Any) -> VolumeBinding:
    return VolumeBinding(handle)
