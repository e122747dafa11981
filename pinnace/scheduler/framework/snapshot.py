"""The scheduler's view of the cluster: nodes with their pods, including
*assumed* pods (upstream's scheduler cache and its snapshot in one object).

Concurrency model: everything runs on one event loop and a scheduling cycle
never awaits, so the informer handlers that update this object can never run
in the middle of a cycle. That is why, unlike upstream, there is no separate
copy-on-cycle snapshot: the cache *is* a consistent snapshot for the length of
a cycle, and updating it is O(changed objects), never O(cluster).

Assumed pods: the moment a pod is chosen for a node, :meth:`assume_pod` adds it
to that node, so the next cycle sees the capacity as taken although the bind
call has not returned yet. When the pod comes back from the informer with
``spec.nodeName`` set, the assumption is confirmed (:meth:`add_pod`); when the
bind fails, :meth:`forget_pod` removes it. After :meth:`finish_binding`, an
assumed pod the informer never confirms expires after ``assumed_ttl`` seconds
(:meth:`cleanup_expired`), a safety net for lost watch events.

Counters: how many nodes are cordoned and how many carry a taint of each
effect, kept up to date as nodes change, so that plugins can tell in O(1)
that their Filter or Score cannot tell nodes apart this cycle.

Node order: :meth:`node_list` interleaves zones (upstream's ``nodeTree``), so
that scoring only a sample of the nodes still spreads across zones.

Columns: with the node list the snapshot builds :class:`NodeColumns`, the
nodes' cpu, memory and pod-slot figures, generations and topology labels as
numpy arrays in list order, and rewrites a node's row whenever the node or
its pods change; the resource filter and scorers and PodTopologySpread's
score read them (framework/columns.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pinnace.scheduler.framework.columns import ZONE_LABEL, NodeColumns
from pinnace.scheduler.framework.types import ImageState, NodeInfo, PodInfo

__all__ = ["ZONE_LABEL", "Snapshot"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
REGION_LABEL = "topology.kubernetes.io/region"


@dataclass(slots=True)
class _PodState:
    info: PodInfo
    node: str
    assumed: bool = False
    binding_finished: bool = False
    deadline: float | None = None


class Snapshot:
    def __init__(self, *, assumed_ttl: float = 300.0) -> None:
        self.assumed_ttl = assumed_ttl
        self._nodes: dict[str, NodeInfo] = {}
        self._pods: dict[str, _PodState] = {}
        self._node_list: list[NodeInfo] | None = None
        self._rows: list[NodeInfo] = []  # the list the columns were built for
        self._cols: NodeColumns | None = None
        self._affinity_list: list[NodeInfo] | None = None
        self._anti_affinity_list: list[NodeInfo] | None = None
        self.images: dict[str, ImageState] = {}
        self.unschedulable_nodes = 0
        self.taint_effects: dict[str, int] = {}  # effect -> nodes with such a taint

    @classmethod
    def from_objects(cls, nodes: Iterable[Obj], pods: Iterable[Obj] = ()) -> Snapshot:
        """A snapshot of ``nodes`` with the assigned ``pods`` on them (for tests/tools)."""
        s = cls()
        for n in nodes:
            s.add_node(n)
        for p in pods:
            if (p.get("spec") or {}).get("nodeName"):
                s.add_pod(p)
        return s

    # --- readers -------------------------------------------------------------------------

    def node_list(self) -> list[NodeInfo]:
        """Every node that exists, zones interleaved (stable between changes)."""
        if self._node_list is None:
            zones: dict[str, list[NodeInfo]] = {}
            for ni in self._nodes.values():
                if not ni.node:
                    continue
                zone = f"{ni.labels.get(REGION_LABEL, '')}:\x00:{ni.labels.get(ZONE_LABEL, '')}"
                zones.setdefault(zone, []).append(ni)
            groups = list(zones.values())
            out: list[NodeInfo] = []
            i = 0
            while groups:
                rest = []
                for g in groups:
                    if i < len(g):
                        out.append(g[i])
                        rest.append(g)
                groups = [g for g in rest if i + 1 < len(g)]
                i += 1
            NodeColumns.detach(self._rows)
            self._cols = NodeColumns(out)  # sets every node's pos and cols
            self._rows = out
            self._node_list = out
        return self._node_list

    def columns_of(self, nodes: list[NodeInfo]) -> NodeColumns | None:
        """The columns whose rows are ``nodes`` in order, when ``nodes`` is the
        current :meth:`node_list` and the columns are usable; else None."""
        cols = self._cols
        if nodes is self._node_list and cols is not None and cols.exact:
            return cols
        return None

    def nodes_with_affinity_pods(self) -> list[NodeInfo]:
        if self._affinity_list is None:
            self._affinity_list = [ni for ni in self.node_list() if ni.pods_with_affinity]
        return self._affinity_list

    def nodes_with_required_anti_affinity_pods(self) -> list[NodeInfo]:
        if self._anti_affinity_list is None:
            self._anti_affinity_list = [
                ni for ni in self.node_list() if ni.pods_with_required_anti_affinity
            ]
        return self._anti_affinity_list

    def get(self, name: str) -> NodeInfo | None:
        ni = self._nodes.get(name)
        return ni if ni is not None and ni.node else None

    def __len__(self) -> int:
        return len(self.node_list())

    def num_nodes(self) -> int:
        return len(self.node_list())

    def image_state(self, name: str) -> ImageState | None:
        return self.images.get(name)

    def pod_node(self, uid: str) -> str | None:
        st = self._pods.get(uid)
        return st.node if st is not None else None

    def is_assumed(self, uid: str) -> bool:
        st = self._pods.get(uid)
        return st is not None and st.assumed

    def assumed_count(self) -> int:
        return sum(1 for st in self._pods.values() if st.assumed)

    def nodes_with_taint_effect(self, *effects: str) -> int:
        """How many nodes have a taint with one of ``effects`` (an upper bound
        when a node has taints of several of them)."""
        return sum(self.taint_effects.get(e, 0) for e in effects)

    # --- nodes ---------------------------------------------------------------------------

    def _count(self, ni: NodeInfo, n: int) -> None:
        if not ni.node:
            return
        if ni.unschedulable:
            self.unschedulable_nodes += n
        effects = {str(t.get("effect") or "") for t in ni.taints}
        for e in effects:
            self.taint_effects[e] = self.taint_effects.get(e, 0) + n

    def _invalidate(self, structure: bool = True) -> None:
        if structure:
            self._node_list = None
        self._affinity_list = None
        self._anti_affinity_list = None

    def add_node(self, node: Obj) -> NodeInfo:
        name = str((node.get("metadata") or {}).get("name") or "")
        ni = self._nodes.get(name)
        if ni is None:
            ni = NodeInfo()
            self._nodes[name] = ni
        else:
            self._remove_images(ni)
            self._count(ni, -1)
        ni.set_node(node)
        self._add_images(ni)
        self._count(ni, 1)
        self._invalidate()
        return ni

    def update_node(self, node: Obj) -> NodeInfo:
        name = str((node.get("metadata") or {}).get("name") or "")
        ni = self._nodes.get(name)
        labels_before = ni.labels if ni is not None and ni.node else None
        if ni is None or not ni.node:
            return self.add_node(node)
        self._remove_images(ni)
        self._count(ni, -1)
        ni.set_node(node)
        self._add_images(ni)
        self._count(ni, 1)
        # zone interleaving depends on labels only
        self._invalidate(structure=labels_before != ni.labels)
        _sync(ni)
        return ni

    def remove_node(self, name: str) -> None:
        ni = self._nodes.get(name)
        if ni is None:
            return
        self._remove_images(ni)
        self._count(ni, -1)
        if ni.pods:
            # pods may still be deleted later; keep them on a node-less entry
            ni.node = {}
            ni.labels = {}
            ni.images = {}
        else:
            del self._nodes[name]
        self._invalidate()

    def _add_images(self, ni: NodeInfo) -> None:
        for img, size in ni.images.items():
            st = self.images.get(img)
            if st is None:
                st = self.images[img] = ImageState(size)
            st.size = size
            st.nodes.add(ni.name)

    def _remove_images(self, ni: NodeInfo) -> None:
        for img in ni.images:
            st = self.images.get(img)
            if st is not None:
                st.nodes.discard(ni.name)
                if not st.nodes:
                    del self.images[img]

    # --- pods ----------------------------------------------------------------------------

    def _node_for(self, name: str) -> NodeInfo:
        ni = self._nodes.get(name)
        if ni is None:
            ni = NodeInfo()
            ni.name = name
            self._nodes[name] = ni
        return ni

    def _place(self, pi: PodInfo, node: str) -> None:
        ni = self._node_for(node)
        had_aff, had_anti = bool(ni.pods_with_affinity), bool(ni.pods_with_required_anti_affinity)
        ni.add_pod(pi)
        _sync(ni)
        if had_aff != bool(ni.pods_with_affinity) or had_anti != bool(
            ni.pods_with_required_anti_affinity
        ):
            self._invalidate(structure=False)

    def _unplace(self, pi: PodInfo, node: str) -> None:
        ni = self._nodes.get(node)
        if ni is None:
            return
        had_aff, had_anti = bool(ni.pods_with_affinity), bool(ni.pods_with_required_anti_affinity)
        ni.remove_pod(pi)
        _sync(ni)
        if had_aff != bool(ni.pods_with_affinity) or had_anti != bool(
            ni.pods_with_required_anti_affinity
        ):
            self._invalidate(structure=False)
        if not ni.node and not ni.pods:
            del self._nodes[node]

    def add_pod(self, pod: Obj | PodInfo) -> None:
        """An assigned pod from the informer (confirms an assumed pod)."""
        pi = pod if isinstance(pod, PodInfo) else PodInfo(pod)
        st = self._pods.get(pi.uid)
        if st is not None:
            self._unplace(st.info, st.node)
        node = pi.node_name or (st.node if st is not None else "")
        if not node:
            return
        self._place(pi, node)
        self._pods[pi.uid] = _PodState(pi, node)

    def update_pod(self, pod: Obj) -> None:
        self.add_pod(pod)

    def remove_pod(self, pod: Obj | PodInfo) -> None:
        uid = pod.uid if isinstance(pod, PodInfo) else str((pod.get("metadata") or {}).get("uid"))
        st = self._pods.pop(uid, None)
        if st is not None:
            self._unplace(st.info, st.node)

    def assume_pod(self, pi: PodInfo, node: str) -> None:
        if pi.uid in self._pods:
            raise ValueError(f"pod {pi.key} is already in the cache")
        self._place(pi, node)
        self._pods[pi.uid] = _PodState(pi, node, assumed=True)

    def finish_binding(self, uid: str, now: float) -> None:
        st = self._pods.get(uid)
        if st is not None and st.assumed:
            st.binding_finished = True
            st.deadline = now + self.assumed_ttl if self.assumed_ttl > 0 else None

    def forget_pod(self, uid: str) -> None:
        st = self._pods.get(uid)
        if st is not None and st.assumed:
            del self._pods[uid]
            self._unplace(st.info, st.node)

    def cleanup_expired(self, now: float) -> list[PodInfo]:
        expired = [
            st
            for st in self._pods.values()
            if st.assumed and st.binding_finished and st.deadline is not None and st.deadline <= now
        ]
        for st in expired:
            log.warning("assumed pod %s on %s expired", st.info.key, st.node)
            self.forget_pod(st.info.uid)
        return [st.info for st in expired]


def _sync(ni: NodeInfo) -> None:
    """Rewrite ``ni``'s row of the columns after its figures changed."""
    if ni.cols is not None:
        ni.cols.sync(ni)
