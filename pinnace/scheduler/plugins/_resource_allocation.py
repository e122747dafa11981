"""The resource-allocation scorers shared by NodeResourcesFit and
NodeResourcesBalancedAllocation (upstream ``resource_allocation.go``,
``least_allocated.go``, ``most_allocated.go``,
``requested_to_capacity_ratio.go``, ``balanced_allocation.go``).

All arithmetic is integer where upstream's is, so scores match exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from pinnace.scheduler.framework.columns import EXACT_LIMIT, NodeColumns, node_positions
from pinnace.scheduler.framework.interface import MAX_NODE_SCORE, CycleState
from pinnace.scheduler.framework.types import NodeInfo, PodInfo
from pinnace.scheduler.quantity import CPU, MEMORY

__all__ = [
    "LEAST_ALLOCATED",
    "MOST_ALLOCATED",
    "REQUESTED_TO_CAPACITY_RATIO",
    "ResourceSpec",
    "balanced_score",
    "broken_linear",
    "config_error",
    "is_extended",
    "least_allocated",
    "most_allocated",
    "pod_request_for",
    "requested_to_capacity_ratio",
    "resource_specs",
    "score_nodes",
    "validate_balanced_args",
    "validate_fit_args",
]

LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
REQUESTED_TO_CAPACITY_RATIO = "RequestedToCapacityRatio"
MAX_UTILIZATION = 100
MAX_CUSTOM_PRIORITY_SCORE = 10

ResourceSpec = tuple[str, int]  # (name, weight)


def resource_specs(items: Sequence[Mapping[str, Any]] | None) -> list[ResourceSpec]:
    """``resources`` as (name, weight), with upstream's v1 defaults: cpu and
    memory when empty, weight 1 when unset or 0."""
    if not items:
        return [(CPU, 1), (MEMORY, 1)]
    return [(str(r["name"]), int(r.get("weight") or 1)) for r in items]


# -- upstream's validation of the plugin args (validation_pluginargs.go) ----------
# Errors read as upstream's field errors, the path starting at the args.

_STRATEGIES = (LEAST_ALLOCATED, MOST_ALLOCATED, REQUESTED_TO_CAPACITY_RATIO)


def _invalid(path: str, value: Any, detail: str) -> str:
    return f"{path}: Invalid value: {_show(value)}: {detail}"


def _show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def _weights_as_ints(items: Any, path: str, errs: list[str]) -> list[tuple[str, Any]]:
    out = []
    for i, r in enumerate(items or []):
        if not isinstance(r, Mapping) or not r.get("name"):
            errs.append(f"{path}[{i}].name: Required value")
            continue
        w = r.get("weight") or 1  # v1 defaulting: 0 or unset is 1
        if not isinstance(w, int) or isinstance(w, bool):
            errs.append(_invalid(f"{path}[{i}].weight", w, "must be an integer"))
            continue
        out.append((str(r["name"]), w))
    return out


def _shape_errors(shape: Any, path: str) -> list[str]:
    if not shape:
        return [f"{path}: Required value: at least one point must be specified"]
    if not isinstance(shape, list) or not all(isinstance(p, Mapping) for p in shape):
        return [_invalid(path, shape, "must be a list of points")]
    errs: list[str] = []
    points = [(p.get("utilization") or 0, p.get("score") or 0) for p in shape]
    if not all(isinstance(x, int) for pt in points for x in pt):
        return [_invalid(path, shape, "utilization and score must be integers")]
    for i in range(1, len(points)):
        if points[i - 1][0] >= points[i][0]:
            errs.append(
                _invalid(
                    f"{path}[{i}].utilization",
                    points[i][0],
                    "values must be sorted in increasing order",
                )
            )
            break
    for i, (u, sc) in enumerate(points):
        if not 0 <= u <= MAX_UTILIZATION:
            errs.append(_invalid(f"{path}[{i}].utilization", u, "not in valid range [0, 100]"))
        if not 0 <= sc <= MAX_CUSTOM_PRIORITY_SCORE:
            errs.append(_invalid(f"{path}[{i}].score", sc, "not in valid range [0, 10]"))
    return errs


def validate_fit_args(args: Mapping[str, Any]) -> list[str]:
    """NodeResourcesFitArgs' scoringStrategy as upstream validates it (after
    its v1 defaults: LeastAllocated over cpu and memory)."""
    strategy = args.get("scoringStrategy") or {}
    if not isinstance(strategy, Mapping):
        return [_invalid("scoringStrategy", strategy, "must be an object")]
    errs: list[str] = []
    kind = strategy.get("type") or LEAST_ALLOCATED
    if kind not in _STRATEGIES:
        supported = ", ".join(f'"{k}"' for k in sorted(_STRATEGIES))
        errs.append(
            f"scoringStrategy.type: Unsupported value: {_show(kind)}: supported values: {supported}"
        )
    path = "scoringStrategy.resources"
    for i, (name, w) in enumerate(_weights_as_ints(strategy.get("resources"), path, errs)):
        if not 0 < w <= 100:
            errs.append(
                _invalid(
                    f"{path}[{i}].weight",
                    w,
                    f"resource weight of {name} not in valid range (0, 100]",
                )
            )
    rtcr = strategy.get("requestedToCapacityRatio")
    if kind == REQUESTED_TO_CAPACITY_RATIO:
        if rtcr is None:
            errs.append(
                "scoringStrategy.requestedToCapacityRatio: Required value: "
                "must be specified when type is RequestedToCapacityRatio"
            )
        else:
            shape = rtcr.get("shape") if isinstance(rtcr, Mapping) else None
            errs += _shape_errors(shape, "scoringStrategy.requestedToCapacityRatio.shape")
    elif rtcr is not None:
        errs.append(
            "scoringStrategy.requestedToCapacityRatio: Forbidden: "
            "must be nil when type is not RequestedToCapacityRatio"
        )
    return errs


def validate_balanced_args(args: Mapping[str, Any]) -> list[str]:
    """NodeResourcesBalancedAllocationArgs as upstream validates them: each
    resource once, each with weight 1."""
    errs: list[str] = []
    seen: set[str] = set()
    for i, (name, w) in enumerate(_weights_as_ints(args.get("resources"), "resources", errs)):
        if name in seen:
            errs.append(f'resources[{i}].name: Duplicate value: "{name}"')
        seen.add(name)
        if w != 1:
            errs.append(_invalid(f"resources[{i}].weight", w, "must be 1"))
    return errs


def config_error(kind: str, errs: list[str]) -> str:
    """Errors of one args object, aggregated as upstream prints them."""
    return f"{kind}: " + (errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]")


def is_extended(name: str) -> bool:
    return "/" in name and "kubernetes.io/" not in name and not name.startswith("requests.")


def _is_scalar(name: str) -> bool:
    return name not in (CPU, MEMORY, "ephemeral-storage", "pods")


def pod_request_for(pod: PodInfo, resource: str, use_requested: bool) -> int:
    if not use_requested:
        if resource == CPU:
            return pod.non_zero_cpu
        if resource == MEMORY:
            return pod.non_zero_mem
    return pod.requests.get(resource, 0)


def allocatable_and_requested(
    node: NodeInfo, resource: str, pod_request: int, use_requested: bool
) -> tuple[int, int]:
    if pod_request == 0 and _is_scalar(resource):
        return 0, 0
    if not use_requested:
        if resource == CPU:
            return node.allocatable.get(CPU, 0), node.non_zero_cpu + pod_request
        if resource == MEMORY:
            return node.allocatable.get(MEMORY, 0), node.non_zero_mem + pod_request
    if _is_scalar(resource) and resource not in node.allocatable:
        return 0, 0
    return node.allocatable.get(resource, 0), node.requested.get(resource, 0) + pod_request


Scorer = Callable[[list[int], list[int], list[int]], int]


def least_allocated(requested: list[int], allocatable: list[int], weights: list[int]) -> int:
    node_score = weight_sum = 0
    for req, cap, w in zip(requested, allocatable, weights, strict=True):
        if cap == 0:
            continue
        s = 0 if req > cap else ((cap - req) * MAX_NODE_SCORE) // cap
        node_score += s * w
        weight_sum += w
    return node_score // weight_sum if weight_sum else 0


def most_allocated(requested: list[int], allocatable: list[int], weights: list[int]) -> int:
    node_score = weight_sum = 0
    for req, cap, w in zip(requested, allocatable, weights, strict=True):
        if cap == 0:
            continue
        r = min(req, cap)
        node_score += (r * MAX_NODE_SCORE) // cap * w
        weight_sum += w
    return node_score // weight_sum if weight_sum else 0


def broken_linear(shape: Sequence[tuple[int, int]]) -> Callable[[int], int]:
    """Upstream ``buildBrokenLinearFunction`` (integer division toward zero)."""

    def fn(p: int) -> int:
        for i, (util, score) in enumerate(shape):
            if p <= util:
                if i == 0:
                    return shape[0][1]
                pu, ps = shape[i - 1]
                return ps + int((score - ps) * (p - pu) / (util - pu))
        return shape[-1][1]

    return fn


def requested_to_capacity_ratio(shape: Sequence[Mapping[str, Any]]) -> Scorer:
    """The scorer of a shape that :func:`validate_fit_args` accepted (points
    in increasing utilization, at least one)."""
    pts = [(int(p.get("utilization") or 0), int(p.get("score") or 0)) for p in shape]
    scaled = [(u, s * (MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE)) for u, s in pts]
    raw = broken_linear(scaled)

    def resource_score(req: int, cap: int) -> int:
        if cap == 0 or req > cap:
            return raw(MAX_UTILIZATION)
        return raw(req * MAX_UTILIZATION // cap)

    def scorer(requested: list[int], allocatable: list[int], weights: list[int]) -> int:
        node_score = weight_sum = 0
        for req, cap, w in zip(requested, allocatable, weights, strict=True):
            if cap == 0:
                continue
            node_score += resource_score(req, cap) * w
            weight_sum += w
        return math.floor(node_score / weight_sum + 0.5) if weight_sum else 0

    return scorer


def balanced_score(requested: list[int], allocatable: list[int], weights: list[int]) -> int:
    fractions = []
    for req, cap in zip(requested, allocatable, strict=True):
        if cap == 0:
            continue
        fractions.append(min(req / cap, 1.0))
    std = 0.0
    if len(fractions) == 2:
        std = abs((fractions[0] - fractions[1]) / 2)
    elif len(fractions) > 2:
        mean = sum(fractions) / len(fractions)
        std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / len(fractions))
    return int((1 - std) * MAX_NODE_SCORE)


def score_nodes(
    nodes: Sequence[NodeInfo],
    pod_requests: list[int],
    resources: list[ResourceSpec],
    use_requested: bool,
    scorer: Scorer,
    state: CycleState | None = None,
) -> list[int]:
    """:func:`score_node` for each of ``nodes``.

    The default resources (cpu and memory, positive weights) with one of the
    built-in scorers take a loop over the nodes' plain-int fields with the same
    integer (and, for balanced allocation, float) arithmetic as the scorer;
    a node with no cpu or memory allocatable, and every other configuration,
    goes through :func:`score_node`.
    """
    fast = _FAST.get(scorer)
    if (
        fast is None
        or len(resources) != 2
        or resources[0][0] != CPU
        or resources[1][0] != MEMORY
        or resources[0][1] <= 0
        or resources[1][1] <= 0
    ):
        return [score_node(n, pod_requests, resources, use_requested, scorer) for n in nodes]
    pc, pm = pod_requests
    wc, wm = resources[0][1], resources[1][1]
    # int64 arithmetic: requests within the columns' exact range, and weights
    # small enough that score * weight cannot overflow (upstream allows 1-100)
    exact = -EXACT_LIMIT < pc < EXACT_LIMIT and -EXACT_LIMIT < pm < EXACT_LIMIT
    found = node_positions(nodes, state) if exact and wc + wm < _MAX_WEIGHTS else None
    if found is not None:
        out = _VECTOR[scorer](found[0], found[1], pc, pm, wc, wm, use_requested)
    else:
        out = fast(nodes, pc, pm, wc, wm, use_requested)
    if out and min(out) < 0:
        for i, v in enumerate(out):
            if v < 0:  # a node without cpu or memory allocatable
                out[i] = score_node(nodes[i], pod_requests, resources, use_requested, scorer)
    return out


# The fast loops below are written out (no min/abs calls, no per-node tuples):
# at 5,000 nodes they run over 500 nodes per pod and dominate the cycle.
# They return -1 for a node without cpu or memory allocatable.


def _least_fast(
    nodes: Sequence[NodeInfo], pc: int, pm: int, wc: int, wm: int, use_requested: bool
) -> list[int]:
    ws = wc + wm
    out: list[int] = []
    append = out.append
    for n in nodes:
        cc = n.alloc_cpu
        cm = n.alloc_mem
        if not cc or not cm:
            append(-1)
            continue
        if use_requested:
            rc = n.req_cpu + pc
            rm = n.req_mem + pm
        else:
            rc = n.non_zero_cpu + pc
            rm = n.non_zero_mem + pm
        sc = 0 if rc > cc else (cc - rc) * MAX_NODE_SCORE // cc
        sm = 0 if rm > cm else (cm - rm) * MAX_NODE_SCORE // cm
        append((sc * wc + sm * wm) // ws)
    return out


def _most_fast(
    nodes: Sequence[NodeInfo], pc: int, pm: int, wc: int, wm: int, use_requested: bool
) -> list[int]:
    ws = wc + wm
    out: list[int] = []
    append = out.append
    for n in nodes:
        cc = n.alloc_cpu
        cm = n.alloc_mem
        if not cc or not cm:
            append(-1)
            continue
        if use_requested:
            rc = n.req_cpu + pc
            rm = n.req_mem + pm
        else:
            rc = n.non_zero_cpu + pc
            rm = n.non_zero_mem + pm
        if rc > cc:
            rc = cc
        if rm > cm:
            rm = cm
        append((rc * MAX_NODE_SCORE // cc * wc + rm * MAX_NODE_SCORE // cm * wm) // ws)
    return out


def _balanced_fast(
    nodes: Sequence[NodeInfo], pc: int, pm: int, wc: int, wm: int, use_requested: bool
) -> list[int]:
    # the weights do not enter the balanced score; same float steps as balanced_score
    out: list[int] = []
    append = out.append
    for n in nodes:
        cc = n.alloc_cpu
        cm = n.alloc_mem
        if not cc or not cm:
            append(-1)
            continue
        if use_requested:
            fc = (n.req_cpu + pc) / cc
            fm = (n.req_mem + pm) / cm
        else:
            fc = (n.non_zero_cpu + pc) / cc
            fm = (n.non_zero_mem + pm) / cm
        if fc > 1.0:
            fc = 1.0
        if fm > 1.0:
            fm = 1.0
        d = (fc - fm) / 2
        if d < 0:
            d = -d
        append(int((1 - d) * MAX_NODE_SCORE))
    return out


def score_node(
    node: NodeInfo,
    pod_requests: list[int],
    resources: list[ResourceSpec],
    use_requested: bool,
    scorer: Scorer,
) -> int:
    if len(resources) == 2 and resources[0][0] == CPU and resources[1][0] == MEMORY:
        # fast path for the default cpu+memory resources (the hot path at scale)
        alloc = node.allocatable
        cpu_cap = alloc.get(CPU, 0)
        mem_cap = alloc.get(MEMORY, 0)
        if use_requested:
            cpu_req = node.requested.get(CPU, 0) + pod_requests[0]
            mem_req = node.requested.get(MEMORY, 0) + pod_requests[1]
        else:
            cpu_req = node.non_zero_cpu + pod_requests[0]
            mem_req = node.non_zero_mem + pod_requests[1]
        if cpu_cap and mem_cap:
            return scorer(
                [cpu_req, mem_req], [cpu_cap, mem_cap], [resources[0][1], resources[1][1]]
            )
    requested: list[int] = []
    allocatable: list[int] = []
    weights: list[int] = []
    for (name, w), preq in zip(resources, pod_requests, strict=True):
        cap, req = allocatable_and_requested(node, name, preq, use_requested)
        if cap == 0:
            continue
        requested.append(req)
        allocatable.append(cap)
        weights.append(w)
    return scorer(requested, allocatable, weights)


_MAX_WEIGHTS = 1 << 32

# The same three scorers over numpy columns (framework/columns.py): the same
# integer and float64 steps, element-wise; -1 for a node without cpu or
# memory allocatable, as above.


def _gather(
    cols: NodeColumns, idx: Any, pc: int, pm: int, use_requested: bool
) -> tuple[Any, Any, Any, Any, Any]:
    cc = cols.alloc_cpu[idx]
    cm = cols.alloc_mem[idx]
    if use_requested:
        rc = cols.req_cpu[idx] + pc
        rm = cols.req_mem[idx] + pm
    else:
        rc = cols.non_zero_cpu[idx] + pc
        rm = cols.non_zero_mem[idx] + pm
    missing = (cc == 0) | (cm == 0)
    if missing.any():  # divide by 1 there; those rows become -1 at the end
        cc = np.where(missing, 1, cc)
        cm = np.where(missing, 1, cm)
    return cc, cm, rc, rm, missing


def _least_vector(
    cols: NodeColumns, idx: Any, pc: int, pm: int, wc: int, wm: int, use_requested: bool
) -> list[int]:
    cc, cm, rc, rm, missing = _gather(cols, idx, pc, pm, use_requested)
    sc = np.where(rc > cc, 0, (cc - rc) * MAX_NODE_SCORE // cc)
    sm = np.where(rm > cm, 0, (cm - rm) * MAX_NODE_SCORE // cm)
    out = (sc * wc + sm * wm) // (wc + wm)
    return np.where(missing, -1, out).tolist()  # type: ignore[no-any-return]


def _most_vector(
    cols: NodeColumns, idx: Any, pc: int, pm: int, wc: int, wm: int, use_requested: bool
) -> list[int]:
    cc, cm, rc, rm, missing = _gather(cols, idx, pc, pm, use_requested)
    rc = np.minimum(rc, cc)
    rm = np.minimum(rm, cm)
    out = (rc * MAX_NODE_SCORE // cc * wc + rm * MAX_NODE_SCORE // cm * wm) // (wc + wm)
    return np.where(missing, -1, out).tolist()  # type: ignore[no-any-return]


def _balanced_vector(
    cols: NodeColumns, idx: Any, pc: int, pm: int, wc: int, wm: int, use_requested: bool
) -> list[int]:
    cc, cm, rc, rm, missing = _gather(cols, idx, pc, pm, use_requested)
    fc = np.minimum(rc / cc, 1.0)
    fm = np.minimum(rm / cm, 1.0)
    d = np.abs((fc - fm) / 2)
    out = ((1 - d) * MAX_NODE_SCORE).astype(np.int64)  # truncates, as int()
    return np.where(missing, -1, out).tolist()  # type: ignore[no-any-return]


_FastScorer = Callable[[Sequence[NodeInfo], int, int, int, int, bool], list[int]]
_VectorScorer = Callable[[NodeColumns, Any, int, int, int, int, bool], list[int]]
_FAST: dict[Scorer, _FastScorer] = {
    least_allocated: _least_fast,
    most_allocated: _most_fast,
    balanced_score: _balanced_fast,
}
_VECTOR: dict[Scorer, _VectorScorer] = {
    least_allocated: _least_vector,
    most_allocated: _most_vector,
    balanced_score: _balanced_vector,
}
