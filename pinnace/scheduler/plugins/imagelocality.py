"""ImageLocality (Score): prefer nodes that already have the pod's images,
weighted by image size and by how many nodes have them (spread), with
upstream's thresholds (23 MB minimum, 1000 MB per container maximum).

PreScore (pinnace's; upstream has none) normalizes the pod's image names once
and returns ``Skip`` when no node has any of them: every node would score 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pinnace.scheduler.framework.interface import MAX_NODE_SCORE, CycleState
from pinnace.scheduler.framework.status import Status
from pinnace.scheduler.framework.types import NodeInfo, PodInfo, normalized_image_name

NAME = "ImageLocality"
_KEY = "PreScore" + NAME
MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


class ImageLocality:
    name = NAME

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    @staticmethod
    def _images(pod: PodInfo) -> list[str]:
        spec = pod.spec
        containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        return [normalized_image_name(str(c.get("image") or "")) for c in containers]

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Status | None:
        images = self._images(pod)
        snapshot = self.handle.snapshot
        if not any(snapshot.image_state(name) is not None for name in images):
            return Status.skip()
        state.write(_KEY, images)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        images: list[str] | None = state.read(_KEY)
        if images is None:
            images = self._images(pod)
        if not node.images:
            return 0  # calculate_priority of nothing is always 0
        snapshot = self.handle.snapshot
        total = snapshot.num_nodes() or 1
        s = 0
        for name in images:
            if name in node.images:
                st = snapshot.image_state(name)
                n = len(st.nodes) if st is not None else 1
                s += int(node.images[name] * (n / total))
        return calculate_priority(s, len(images))


def calculate_priority(sum_scores: int, num_containers: int) -> int:
    max_threshold = MAX_CONTAINER_THRESHOLD * max(num_containers, 1)
    s = min(max(sum_scores, MIN_THRESHOLD), max_threshold)
    return MAX_NODE_SCORE * (s - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)


def new(args: Mapping[str, Any], handle: Any) -> ImageLocality:
    return ImageLocality(handle)
