"""The eviction manager: the kubelet ends pods that outgrow their local
storage limits, and pods on a node short of memory or disk, as upstream's
eviction manager does.

Every ``interval`` seconds it reads the stats summary (what ``/stats/summary``
serves) and:

1. **Local storage limits** (checked first; every offender is evicted at
   once, with no grace period):
   - an ``emptyDir`` whose usage exceeds its ``sizeLimit``:
     ``Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". ``;
   - a container whose writable layer plus logs exceed its
     ``limits.ephemeral-storage``:
     ``Container app exceeded its local ephemeral storage limit "2Mi". ``;
   - a pod whose local ephemeral storage (disk emptyDirs, configMap volumes,
     containers' writable layers and logs) exceeds the sum of its containers'
     limits: ``Pod ephemeral local storage usage exceeds the total limit of
     containers 4Mi. ``.
2. **Node pressure** (only when nothing was evicted in step 1): when
   ``memory.available`` or ``nodefs.available`` is under its hard threshold,
   one pod is evicted per pass, ranked as upstream ranks them: pods using
   more than they request first, then lower priority, then by how far usage
   exceeds requests. The message names the resource, the threshold and what
   was available, and each container using more than its request.

An evicted pod is killed and its status becomes phase ``Failed``, reason
``Evicted`` with that message; node-pressure evictions also add the
``DisruptionTarget`` condition (reason ``TerminationByKubelet``). A Warning
``Evicted`` event is recorded. Static, mirror and critical pods are not
treated specially yet (pinnace has no static pods).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from pinnace.api.quota import canonical, format_quantity
from pinnace.kubelet.volumes.emptydir import quantity_bytes

__all__ = [
    "EVICTED",
    "Eviction",
    "EvictionManager",
    "Thresholds",
    "active",
    "local_ephemeral",
    "local_storage_evictions",
    "parse_eviction_hard",
    "pressure_eviction",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

EVICTED = "Evicted"


@dataclass(frozen=True)
class Eviction:
    pod: Obj
    message: str
    disruption: bool
    """Node-pressure evictions carry the DisruptionTarget condition; local
    storage limit evictions do not (as upstream)."""


@dataclass(frozen=True)
class Thresholds:
    """Hard eviction thresholds (``--eviction-hard``): bytes of memory, and the
    fraction of the node filesystem, that must stay available."""

    memory_available: int = 100 * 1024 * 1024
    nodefs_available: float = 0.10


def _fmt(n: int) -> str:
    """Bytes as upstream prints a quantity (``100Mi``, ``1536Ki``, ``7``)."""
    return format_quantity(Fraction(n))


# --- local storage limits ------------------------------------------------------------------


def _uid(pod: Obj) -> str:
    return str(pod["metadata"]["uid"])


def _used(fs: Obj | None) -> int:
    return int((fs or {}).get("usedBytes") or 0)


def local_ephemeral(volume: Obj) -> bool:
    """Volumes counted in a pod's local ephemeral storage (upstream's
    ``IsLocalEphemeralVolume``): disk emptyDirs, configMaps, gitRepos."""
    empty = volume.get("emptyDir")
    if empty is not None:
        return bool((empty or {}).get("medium", "") == "")
    return "configMap" in volume or "gitRepo" in volume


def _container_limit(container: Obj) -> Any:
    return ((container.get("resources") or {}).get("limits") or {}).get("ephemeral-storage")


def _emptydir_eviction(pod: Obj, stats: Obj) -> str | None:
    used = {v.get("name"): _used(v) for v in stats.get("volume") or []}
    for v in (pod.get("spec") or {}).get("volumes") or []:
        empty = v.get("emptyDir")
        if empty is None:
            continue
        raw = (empty or {}).get("sizeLimit")
        limit = quantity_bytes(raw)
        if not limit or limit <= 0 or v["name"] not in used:
            continue
        if used[v["name"]] > limit:
            return f'Usage of EmptyDir volume "{v["name"]}" exceeds the limit "{canonical(raw)}". '
    return None


def _pod_ephemeral_eviction(pod: Obj, stats: Obj) -> str | None:
    spec = pod.get("spec") or {}
    limits = [_container_limit(c) for c in spec.get("containers") or []]
    init = [quantity_bytes(_container_limit(c)) or 0 for c in spec.get("initContainers") or []]
    present = [quantity_bytes(x) for x in limits if x is not None]
    if not present and not any(init):
        return None
    total = max(sum(x or 0 for x in present), max(init, default=0))
    ephemeral_names = {v["name"] for v in spec.get("volumes") or [] if local_ephemeral(v)}
    used = sum(_used(v) for v in stats.get("volume") or [] if v.get("name") in ephemeral_names)
    for c in stats.get("containers") or []:
        used += _used(c.get("rootfs")) + _used(c.get("logs"))
    if used > total:
        return (
            "Pod ephemeral local storage usage exceeds the total limit of containers "
            f"{_fmt(total)}. "
        )
    return None


def _container_ephemeral_eviction(pod: Obj, stats: Obj) -> str | None:
    specs = {c["name"]: c for c in (pod.get("spec") or {}).get("containers") or []}
    for c in stats.get("containers") or []:
        spec = specs.get(c.get("name", ""))
        raw = _container_limit(spec) if spec is not None else None
        limit = quantity_bytes(raw)
        if not limit:
            continue
        if _used(c.get("rootfs")) + _used(c.get("logs")) > limit:
            return (
                f"Container {c['name']} exceeded its local ephemeral storage limit "
                f'"{canonical(raw)}". '
            )
    return None


def local_storage_evictions(pods: list[Obj], summary: Obj) -> list[Eviction]:
    """Every pod over one of its local storage limits (upstream checks, in
    this order, emptyDir size limits, the pod's total, each container's)."""
    by_uid = {
        (p.get("podRef") or {}).get("uid"): p for p in summary.get("pods") or [] if p.get("podRef")
    }
    out: list[Eviction] = []
    for pod in pods:
        stats = by_uid.get(_uid(pod))
        if stats is None:
            continue
        for check in (_emptydir_eviction, _pod_ephemeral_eviction, _container_ephemeral_eviction):
            message = check(pod, stats)
            if message is not None:
                out.append(Eviction(pod, message, disruption=False))
                break
    return out


# --- node pressure -------------------------------------------------------------------------


def _requests(pod: Obj, resource: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in (pod.get("spec") or {}).get("containers") or []:
        raw = ((c.get("resources") or {}).get("requests") or {}).get(resource)
        out[c["name"]] = quantity_bytes(raw) or 0
    return out


def _usage(stats: Obj, resource: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in stats.get("containers") or []:
        if resource == "memory":
            out[c["name"]] = int((c.get("memory") or {}).get("workingSetBytes") or 0)
        else:
            out[c["name"]] = _used(c.get("rootfs")) + _used(c.get("logs"))
    return out


def _pod_usage(stats: Obj, resource: str) -> int:
    if resource == "memory":
        mem = stats.get("memory") or {}
        if "workingSetBytes" in mem:
            return int(mem["workingSetBytes"])
        return sum(_usage(stats, "memory").values())
    return _used(stats.get("ephemeral-storage"))


def _signal(summary: Obj, thresholds: Thresholds) -> tuple[str, str, str, str] | None:
    """``(signal, resource, threshold text, available text)`` for the first
    threshold crossed, or None."""
    node = summary.get("node") or {}
    mem = node.get("memory") or {}
    available = mem.get("availableBytes")
    if available is not None and int(available) < thresholds.memory_available:
        return (
            "memory.available",
            "memory",
            _fmt(thresholds.memory_available),
            _fmt(int(available)),
        )
    fs = node.get("fs") or {}
    cap, free = fs.get("capacityBytes"), fs.get("availableBytes")
    if cap and free is not None and int(free) < thresholds.nodefs_available * int(cap):
        return (
            "nodefs.available",
            "ephemeral-storage",
            _fmt(int(thresholds.nodefs_available * int(cap))),
            _fmt(int(free)),
        )
    return None


def pressure_eviction(pods: list[Obj], summary: Obj, thresholds: Thresholds) -> Eviction | None:
    """The one pod to evict when the node is under a hard threshold, else None."""
    crossed = _signal(summary, thresholds)
    if crossed is None:
        return None
    signal, resource, threshold, available = crossed
    by_uid = {(p.get("podRef") or {}).get("uid"): p for p in summary.get("pods") or []}
    ranked: list[tuple[tuple[bool, int, int], Obj, Obj]] = []
    for pod in pods:
        stats = by_uid.get(_uid(pod))
        if stats is None:
            continue
        usage = _pod_usage(stats, resource)
        request = sum(_requests(pod, resource).values())
        priority = int((pod.get("spec") or {}).get("priority") or 0)
        # upstream's order: exceeds requests first, then lower priority,
        # then the largest usage above requests
        ranked.append(((usage <= request, priority, -(usage - request)), pod, stats))
    if not ranked:
        return None
    ranked.sort(key=lambda r: r[0])
    _, pod, stats = ranked[0]
    message = f"The node was low on resource: {resource}. "
    message += f"Threshold quantity: {threshold}, available: {available}. "
    requests = _requests(pod, resource)
    for name, used in _usage(stats, resource).items():
        req = requests.get(name, 0)
        if used > req:
            message += (
                f"Container {name} was using {_fmt(used)}, request is "
                f"{_fmt(req)}, has larger consumption of {resource}. "
            )
    log.info("%s under its threshold (%s < %s)", signal, available, threshold)
    return Eviction(pod, message, disruption=True)


# --- the loop ------------------------------------------------------------------------------


class EvictionManager:
    """Runs the checks every ``interval`` seconds over ``active_pods()``
    (this node's pods that are not finished) with ``summary()``, and hands
    each eviction to ``evict``."""

    def __init__(
        self,
        *,
        active_pods: Callable[[], list[Obj]],
        summary: Callable[[], Awaitable[Obj]],
        evict: Callable[[Eviction], Awaitable[None]],
        thresholds: Thresholds,
        interval: float = 10.0,
    ) -> None:
        self.active_pods = active_pods
        self.summary = summary
        self.evict = evict
        self.thresholds = thresholds
        self.interval = interval

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.synchronize()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("eviction pass failed")

    async def synchronize(self) -> list[Eviction]:
        """One pass; returns what it evicted."""
        pods = self.active_pods()
        if not pods:
            return []
        summary = await self.summary()
        done = local_storage_evictions(pods, summary)
        if not done:
            one = pressure_eviction(pods, summary, self.thresholds)
            done = [one] if one is not None else []
        for e in done:
            await self.evict(e)
        return done


def active(pods: list[Obj]) -> list[Obj]:
    """Pods not yet finished nor being deleted."""
    return [
        p
        for p in pods
        if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        and not p["metadata"].get("deletionTimestamp")
    ]


def parse_eviction_hard(text: str) -> Thresholds:
    """``memory.available<100Mi,nodefs.available<10%`` (upstream's
    ``--eviction-hard``); signals it does not know are refused."""
    memory = Thresholds().memory_available
    nodefs = Thresholds().nodefs_available
    for item in filter(None, (t.strip() for t in text.split(","))):
        signal, sep, value = item.partition("<")
        if not sep or not value:
            raise ValueError(f"{item!r}: expected SIGNAL<QUANTITY")
        if signal == "memory.available":
            if value.endswith("%"):
                raise ValueError(f"{item!r}: give memory.available as a quantity")
            parsed = quantity_bytes(value)
            if parsed is None:
                raise ValueError(f"{item!r}: not a quantity")
            memory = parsed
        elif signal == "nodefs.available":
            if not value.endswith("%"):
                raise ValueError(f"{item!r}: give nodefs.available as a percentage")
            nodefs = float(value[:-1]) / 100
        else:
            raise ValueError(f"{item!r}: unknown signal {signal!r}")
    return Thresholds(memory, nodefs)
