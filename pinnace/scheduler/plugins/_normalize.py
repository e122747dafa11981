"""Upstream ``helper.DefaultNormalizeScore``."""

from __future__ import annotations

from pinnace.scheduler.framework.interface import MAX_NODE_SCORE, NodeScore

__all__ = ["default_normalize_score"]


def default_normalize_score(
    scores: list[NodeScore], reverse: bool, max_priority: int = MAX_NODE_SCORE
) -> None:
    max_count = max((s.score for s in scores), default=0)
    if max_count == 0:
        if reverse:
            for s in scores:
                s.score = max_priority
        return
    for s in scores:
        v = max_priority * s.score // max_count
        s.score = max_priority - v if reverse else v
