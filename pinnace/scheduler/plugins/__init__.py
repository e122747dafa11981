"""The in-tree plugins, one module each, and the registry (name → factory).

Every module has ``NAME`` and ``new(args, handle)``. Default weights and the
default plugin set live in :mod:`pinnace.scheduler.config` (data, not code).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pinnace.scheduler.plugins import (
    balancedallocation,
    defaultbinder,
    defaultpreemption,
    imagelocality,
    interpodaffinity,
    nodeaffinity,
    nodename,
    nodeports,
    noderesourcesfit,
    nodeunschedulable,
    podtopologyspread,
    prioritysort,
    schedulinggates,
    tainttoleration,
    volumebinding,
    volumerestrictions,
)

__all__ = ["REGISTRY"]

_MODULES = (
    schedulinggates,
    prioritysort,
    nodeunschedulable,
    nodename,
    tainttoleration,
    nodeaffinity,
    nodeports,
    noderesourcesfit,
    volumerestrictions,
    volumebinding,
    podtopologyspread,
    interpodaffinity,
    defaultpreemption,
    balancedallocation,
    imagelocality,
    defaultbinder,
)

REGISTRY: dict[str, Callable[[Mapping[str, Any], Any], Any]] = {m.NAME: m.new for m in _MODULES}
