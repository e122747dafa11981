"""Resource quantities as the scheduler and the kubelet count them, and a pod's effective requests.

The scheduler works in integers: CPU in millicores (``Quantity.MilliValue``,
rounded up), everything else (memory, ephemeral storage, hugepages, extended
resources) in whole units (``Quantity.Value``, rounded up). Parsing is cached:
the same few strings ("100m", "1Gi") appear in thousands of pods.

:func:`pod_requests` implements upstream's ``resource.PodRequests``: the sum of
the app containers, the max with each init container (regular init containers
also count the restartable "sidecar" init containers started before them;
sidecars add to the running total), plus ``spec.overhead``. With
``non_zero=True`` a container that requests no CPU/memory counts as 100m /
200Mi (upstream's ``DefaultMilliCPURequest``/``DefaultMemoryRequest``), which
only scoring uses.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from typing import Any

__all__ = [
    "CPU",
    "DEFAULT_MEMORY_REQUEST",
    "DEFAULT_MILLI_CPU_REQUEST",
    "EPHEMERAL_STORAGE",
    "MEMORY",
    "MULTIPLIERS",
    "PODS",
    "parse_quantity",
    "pod_requests",
    "quantity_value",
]

CPU = "cpu"
MEMORY = "memory"
EPHEMERAL_STORAGE = "ephemeral-storage"
PODS = "pods"

DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}

MULTIPLIERS: dict[str, Fraction] = {**_DECIMAL, **{k: Fraction(v) for k, v in _BINARY.items()}}
"""Every quantity suffix and what it multiplies by ("" included)."""


@lru_cache(maxsize=4096)
def parse_quantity(text: str) -> Fraction:
    """A Kubernetes quantity string as an exact number (``ValueError`` if malformed)."""
    s = text.strip()
    if not s:
        raise ValueError("empty quantity")
    for suffix, mult in _BINARY.items():
        if s.endswith(suffix):
            return Fraction(s[: -len(suffix)]) * mult
    low = s.lower()
    if "e" in low and not s.endswith("E"):
        mantissa, _, exp = low.partition("e")
        return Fraction(mantissa) * Fraction(10) ** int(exp)
    if s[-1] in _DECIMAL and not s[-1].isdigit():
        return Fraction(s[:-1]) * _DECIMAL[s[-1]]
    return Fraction(s)


def quantity_value(name: str, value: Any) -> int:
    """The scheduler's integer for resource ``name``: millicores for cpu, else units."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        q = Fraction(value)
    else:
        try:
            q = parse_quantity(str(value))
        except (ValueError, ZeroDivisionError):
            return 0
    if name == CPU:
        q *= 1000
    return math.ceil(q)


def _container_requests(c: dict[str, Any], non_zero: bool) -> dict[str, int]:
    res = c.get("resources") or {}
    reqs = res.get("requests") or {}
    limits = res.get("limits") or {}
    out: dict[str, int] = {}
    for name, v in reqs.items():
        out[name] = quantity_value(name, v)
    for name, v in limits.items():  # API defaulting: requests default to limits
        if name not in reqs:
            out[name] = quantity_value(name, v)
    if non_zero:
        if not out.get(CPU):
            out[CPU] = DEFAULT_MILLI_CPU_REQUEST
        if not out.get(MEMORY):
            out[MEMORY] = DEFAULT_MEMORY_REQUEST
    return out


def _add(into: dict[str, int], other: dict[str, int]) -> None:
    for k, v in other.items():
        into[k] = into.get(k, 0) + v


def _max(into: dict[str, int], other: dict[str, int]) -> None:
    for k, v in other.items():
        if v > into.get(k, 0):
            into[k] = v


def pod_requests(pod: dict[str, Any], *, non_zero: bool = False) -> dict[str, int]:
    """Effective resource requests of ``pod`` (upstream ``resource.PodRequests``)."""
    spec = pod.get("spec") or {}
    reqs: dict[str, int] = {}
    for c in spec.get("containers") or []:
        _add(reqs, _container_requests(c, non_zero))
    sidecars: dict[str, int] = {}
    init_max: dict[str, int] = {}
    for c in spec.get("initContainers") or []:
        creqs = _container_requests(c, non_zero)
        if c.get("restartPolicy") == "Always":
            _add(reqs, creqs)
            _add(sidecars, creqs)
            effective = dict(sidecars)
        else:
            effective = dict(creqs)
            _add(effective, sidecars)
        _max(init_max, effective)
    _max(reqs, init_max)
    overhead = spec.get("overhead") or {}
    for name, v in overhead.items():
        reqs[name] = reqs.get(name, 0) + quantity_value(name, v)
    return reqs
