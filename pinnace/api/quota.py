"""Quota accounting: what an object costs against a ResourceQuota, and the quantity
arithmetic and formatting that goes with it.

Upstream's ``pkg/quota/v1`` evaluators, as pure functions on JSON dicts so that
both the ResourceQuota admission plugin (which charges a new object's usage
before it is stored) and the resourcequota controller (which recounts the real
objects) share one definition of usage:

* pods: ``pods``/``count/pods``, ``requests.*``/``limits.*`` for cpu, memory and
  ephemeral-storage (bare ``cpu``/``memory`` mean requests), ``requests.<name>``
  for hugepages and extended resources; terminal pods (and pods past their
  deletion grace period) count only towards ``count/pods``;
* services: ``services``, ``services.loadbalancers``, ``services.nodeports``;
* persistentvolumeclaims: ``persistentvolumeclaims``, ``requests.storage`` and
  the per-StorageClass ``<class>.storageclass.storage.k8s.io/...`` names;
* every resource: ``count/<plural>.<group>`` (``count/<plural>`` for the core
  group), plus the legacy names of the core object counts (``configmaps``,
  ``secrets``, ``resourcequotas``, ``replicationcontrollers``).

Scopes (``spec.scopes`` and ``spec.scopeSelector``) only ever match pods.

Quantities are exact :class:`fractions.Fraction` values; :func:`format_quantity`
gives upstream's canonical text (``500m``, ``1Gi``, ``2``). Upstream keeps each
sum in the format of its inputs; this module picks the shorter of the decimal and
binary canonical spellings, which agrees for every value written the usual way.

Pure: no I/O, no clock of its own (callers pass ``now``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from pinnace.api.quantity import parse_quantity

__all__ = [
    "ResourceList",
    "add",
    "canonical",
    "format_list",
    "format_quantity",
    "matching_resources",
    "object_usage",
    "parse_list",
    "pod_constraints",
    "pretty_print",
    "quantity",
    "quota_matches",
    "tracks_operation",
]

Obj = dict[str, Any]
ResourceList = dict[str, Fraction]

POD_RESOURCES = frozenset(
    {
        "pods",
        "count/pods",
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
    }
)
SERVICE_RESOURCES = frozenset(
    {"services", "count/services", "services.loadbalancers", "services.nodeports"}
)
PVC_RESOURCES = frozenset(
    {"persistentvolumeclaims", "count/persistentvolumeclaims", "requests.storage"}
)
#: core kinds counted under their bare plural as well as count/<plural>
LEGACY_COUNTS = frozenset({"configmaps", "secrets", "resourcequotas", "replicationcontrollers"})
STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"
#: resources whose presence a quota on them makes mandatory in every container
VALIDATION_SET = frozenset(
    {"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"}
)
_NATIVE = ("cpu", "memory", "ephemeral-storage")

# -- quantities -----------------------------------------------------------------------

_DECIMAL_SUFFIXES = ((18, "E"), (15, "P"), (12, "T"), (9, "G"), (6, "M"), (3, "k"), (0, ""))
_SMALL_SUFFIXES = ((-3, "m"), (-6, "u"), (-9, "n"))
_BINARY_SUFFIXES = ((60, "Ei"), (50, "Pi"), (40, "Ti"), (30, "Gi"), (20, "Mi"), (10, "Ki"))


def quantity(value: Any) -> Fraction:
    """A quantity (string or number) as an exact value; malformed is 0."""
    if isinstance(value, bool):
        return Fraction(0)
    if isinstance(value, int | float):
        return Fraction(value)
    try:
        return parse_quantity(str(value))
    except (ValueError, ZeroDivisionError):
        return Fraction(0)


def _decimal(v: Fraction) -> str:
    sign = "-" if v < 0 else ""
    v = abs(v)
    for exp, suffix in _DECIMAL_SUFFIXES + _SMALL_SUFFIXES:
        scaled = v / Fraction(10) ** exp
        if scaled.denominator == 1:
            return f"{sign}{scaled.numerator}{suffix}"
    # finer than nano: upstream rounds up to the nearest nano unit
    return f"{sign}{math.ceil(v * 10**9)}n"


def format_quantity(v: Fraction, *, decimal_only: bool = False) -> str:
    """Upstream's canonical spelling of a quantity (``Quantity.String``)."""
    if v == 0:
        return "0"
    text = _decimal(v)
    if decimal_only or v.denominator != 1 or abs(v) < 1024:
        return text
    for exp, suffix in _BINARY_SUFFIXES:
        if v.numerator % (1 << exp) == 0:
            binary = f"{v.numerator >> exp}{suffix}"
            return binary if len(binary) < len(text) else text
    return text


def canonical(value: Any) -> str:
    """One quantity in upstream's canonical spelling, keeping its format: binary
    (``1Gi``) only when it was written with a binary suffix, else decimal (``500m``)."""
    text = str(value).strip()
    binary = isinstance(value, str) and text.endswith(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))
    return format_quantity(quantity(value), decimal_only=not binary)


def _is_cpu(name: str) -> bool:
    return name in ("cpu", "requests.cpu", "limits.cpu")


def format_list(values: Mapping[str, Fraction]) -> dict[str, str]:
    return {k: format_quantity(v, decimal_only=_is_cpu(k)) for k, v in values.items()}


def parse_list(values: Mapping[str, Any] | None) -> ResourceList:
    return {k: quantity(v) for k, v in (values or {}).items()}


def add(a: Mapping[str, Fraction], b: Mapping[str, Fraction]) -> ResourceList:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, Fraction(0)) + v
    return out


def pretty_print(values: Mapping[str, Fraction]) -> str:
    """``a=1,b=2`` in name order, as upstream's quota messages print lists."""
    return ",".join(
        f"{k}={format_quantity(values[k], decimal_only=_is_cpu(k))}" for k in sorted(values)
    )


# -- pods ------------------------------------------------------------------------------


def _container_lists(c: Obj) -> tuple[ResourceList, ResourceList]:
    res = c.get("resources") or {}
    return parse_list(res.get("requests")), parse_list(res.get("limits"))


def _max_into(into: ResourceList, other: Mapping[str, Fraction]) -> None:
    for k, v in other.items():
        if v > into.get(k, Fraction(0)):
            into[k] = v


def _pod_totals(pod: Obj) -> tuple[ResourceList, ResourceList]:
    """The pod's effective requests and limits (upstream ``PodRequests``/``PodLimits``):
    app containers and sidecars add up, each init container is a floor, plus overhead."""
    spec = pod.get("spec") or {}
    reqs: ResourceList = {}
    lims: ResourceList = {}
    for c in spec.get("containers") or []:
        r, lim = _container_lists(c)
        reqs, lims = add(reqs, r), add(lims, lim)
    side_r: ResourceList = {}
    side_l: ResourceList = {}
    init_r: ResourceList = {}
    init_l: ResourceList = {}
    for c in spec.get("initContainers") or []:
        r, lim = _container_lists(c)
        if c.get("restartPolicy") == "Always":
            reqs, lims = add(reqs, r), add(lims, lim)
            side_r, side_l = add(side_r, r), add(side_l, lim)
            _max_into(init_r, side_r)
            _max_into(init_l, side_l)
        else:
            _max_into(init_r, add(r, side_r))
            _max_into(init_l, add(lim, side_l))
    _max_into(reqs, init_r)
    _max_into(lims, init_l)
    overhead = parse_list(spec.get("overhead"))
    reqs = add(reqs, overhead)
    lims = add(lims, {k: v for k, v in overhead.items() if k in lims})
    return reqs, lims


def _is_extended(name: str) -> bool:
    return "/" in name and not name.startswith("kubernetes.io/")


def _compute_usage(reqs: Mapping[str, Fraction], lims: Mapping[str, Fraction]) -> ResourceList:
    """Upstream ``podComputeUsageHelper``."""
    out: ResourceList = {"pods": Fraction(1)}
    for name in ("cpu", "memory"):
        if name in reqs:
            out[name] = reqs[name]
            out[f"requests.{name}"] = reqs[name]
        if name in lims:
            out[f"limits.{name}"] = lims[name]
    if "ephemeral-storage" in reqs:
        out["requests.ephemeral-storage"] = reqs["ephemeral-storage"]
    if "ephemeral-storage" in lims:
        out["limits.ephemeral-storage"] = lims["ephemeral-storage"]
    for name, v in reqs.items():
        if name.startswith("hugepages-") or _is_extended(name):
            out[f"requests.{name}"] = v
    return out


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def pod_counts(pod: Obj, now: datetime | None = None) -> bool:
    """Whether a pod's compute resources count (upstream ``QuotaV1Pod``): not when it
    is Succeeded/Failed, nor once its deletion grace period has run out."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    meta = pod.get("metadata") or {}
    deleted = _parse_time(meta.get("deletionTimestamp"))
    grace = meta.get("deletionGracePeriodSeconds")
    if deleted is not None and isinstance(grace, int):
        if (now or datetime.now(UTC)) > deleted + timedelta(seconds=grace):
            return False
    return True


def pod_usage(pod: Obj, now: datetime | None = None) -> ResourceList:
    out: ResourceList = {"count/pods": Fraction(1)}
    if not pod_counts(pod, now):
        return out
    reqs, lims = _pod_totals(pod)
    out.update(_compute_usage(reqs, lims))
    return out


def pod_constraints(required: Iterable[str], pod: Obj) -> str | None:
    """Upstream's backward-compatible rule: a quota on cpu/memory requests or limits
    needs every container to state them. Returns ``must specify ...`` or None."""
    needed = set(required) & VALIDATION_SET
    if not needed:
        return None
    spec = pod.get("spec") or {}
    missing: dict[str, set[str]] = {}
    for c in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
        reqs, lims = _container_lists(c)
        have = set(_compute_usage(reqs, lims))
        for name in needed - have:
            missing.setdefault(name, set()).add(str(c.get("name") or ""))
    if not missing:
        return None
    parts = [f"{r} for: {','.join(sorted(missing[r]))}" for r in sorted(missing)]
    return "must specify " + "; ".join(parts)


def _best_effort(pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    for c in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
        reqs, lims = _container_lists(c)
        if any(n in reqs or n in lims for n in ("cpu", "memory")):
            return False
    return True


def _terminating(pod: Obj) -> bool:
    ads = (pod.get("spec") or {}).get("activeDeadlineSeconds")
    return isinstance(ads, int) and ads >= 0


def _cross_namespace_affinity(pod: Obj) -> bool:
    aff = (pod.get("spec") or {}).get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        a = aff.get(kind) or {}
        terms = list(a.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        terms += [
            w.get("podAffinityTerm") or {}
            for w in a.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        ]
        if any(t.get("namespaces") or t.get("namespaceSelector") is not None for t in terms):
            return True
    return False


def _scope_requirements(quota: Obj) -> list[Obj]:
    spec = quota.get("spec") or {}
    out: list[Obj] = [{"scopeName": s, "operator": "Exists"} for s in spec.get("scopes") or []]
    out += list((spec.get("scopeSelector") or {}).get("matchExpressions") or [])
    return out


def _pod_matches_scope(req: Obj, pod: Obj) -> bool:
    scope = req.get("scopeName")
    op = req.get("operator") or "Exists"
    if scope == "PriorityClass":
        pc = (pod.get("spec") or {}).get("priorityClassName") or ""
        values = req.get("values") or []
        if op == "In":
            return pc in values
        if op == "NotIn":
            return pc not in values
        if op == "Exists":
            return pc != ""
        return pc == ""  # DoesNotExist
    checks = {
        "Terminating": _terminating,
        "NotTerminating": lambda p: not _terminating(p),
        "BestEffort": _best_effort,
        "NotBestEffort": lambda p: not _best_effort(p),
        "CrossNamespacePodAffinity": _cross_namespace_affinity,
    }
    fn = checks.get(str(scope))
    if fn is None:
        return False
    matched = bool(fn(pod))
    return (not matched) if op == "DoesNotExist" else matched


# -- the other evaluators ----------------------------------------------------------------


def _count_name(group: str, plural: str) -> str:
    return f"count/{plural}.{group}" if group else f"count/{plural}"


def service_usage(svc: Obj) -> ResourceList:
    spec = svc.get("spec") or {}
    stype = spec.get("type") or "ClusterIP"
    ports = len(spec.get("ports") or [])
    out: ResourceList = {
        "services": Fraction(1),
        "count/services": Fraction(1),
        "services.loadbalancers": Fraction(1 if stype == "LoadBalancer" else 0),
        "services.nodeports": Fraction(ports if stype in ("NodePort", "LoadBalancer") else 0),
    }
    return out


def pvc_usage(pvc: Obj) -> ResourceList:
    spec = pvc.get("spec") or {}
    out: ResourceList = {
        "persistentvolumeclaims": Fraction(1),
        "count/persistentvolumeclaims": Fraction(1),
    }
    storage_class = spec.get("storageClassName") or ""
    if storage_class:
        out[f"{storage_class}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"] = Fraction(1)
    requested = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    if requested is not None:
        # upstream charges the larger of the request and the (resizing) allocation
        size = quantity(requested)
        allocated = ((pvc.get("status") or {}).get("allocatedResources") or {}).get("storage")
        if allocated is not None:
            size = max(size, quantity(allocated))
        out["requests.storage"] = size
        if storage_class:
            out[f"{storage_class}{STORAGE_CLASS_SUFFIX}requests.storage"] = size
    return out


def object_usage(group: str, plural: str, obj: Obj, now: datetime | None = None) -> ResourceList:
    """Everything ``obj`` (of resource ``group``/``plural``) costs."""
    if group == "":
        if plural == "pods":
            return pod_usage(obj, now)
        if plural == "services":
            return service_usage(obj)
        if plural == "persistentvolumeclaims":
            return pvc_usage(obj)
        if plural in LEGACY_COUNTS:
            return {plural: Fraction(1), _count_name(group, plural): Fraction(1)}
    return {_count_name(group, plural): Fraction(1)}


def matching_resources(group: str, plural: str, names: Iterable[str]) -> list[str]:
    """The quota resource names (of ``names``) the evaluator of ``group``/``plural`` tracks."""
    count = _count_name(group, plural)
    out: list[str] = []
    for n in names:
        if n == count:
            out.append(n)
        elif group == "" and plural == "pods":
            if n in POD_RESOURCES or (
                n.startswith("requests.")
                and (n[9:].startswith("hugepages-") or _is_extended(n[9:]))
            ):
                out.append(n)
        elif group == "" and plural == "services" and n in SERVICE_RESOURCES:
            out.append(n)
        elif group == "" and plural == "persistentvolumeclaims":
            if n in PVC_RESOURCES or (
                STORAGE_CLASS_SUFFIX in n
                and n.endswith(("/persistentvolumeclaims", "/requests.storage"))
            ):
                out.append(n)
        elif group == "" and plural in LEGACY_COUNTS and n == plural:
            out.append(n)
    return sorted(set(out))


def quota_matches(quota: Obj, group: str, plural: str, obj: Obj) -> bool:
    """Whether ``quota`` tracks ``obj`` at all: it names a resource the object's
    evaluator counts, and (pods only) every scope requirement holds."""
    hard = ((quota.get("status") or {}).get("hard")) or (quota.get("spec") or {}).get("hard") or {}
    if not matching_resources(group, plural, hard):
        return False
    reqs = _scope_requirements(quota)
    if not reqs:
        return True
    if group != "" or plural != "pods":
        return False
    return all(_pod_matches_scope(r, obj) for r in reqs)


def tracks_operation(group: str, plural: str, operation: str, subresource: str) -> bool:
    """Whether admission charges this request (upstream evaluators' ``Handles``):
    every object on create; services and claims also on update (type, ports and
    size can change)."""
    if subresource:
        return False
    if operation == "CREATE":
        return True
    return (
        operation == "UPDATE" and group == "" and plural in ("services", "persistentvolumeclaims")
    )


def calculate_usage(
    quota: Obj,
    objects: Mapping[tuple[str, str], Iterable[Obj]],
    now: datetime | None = None,
) -> ResourceList:
    """A quota's ``status.used`` from the namespace's objects, per ``(group, plural)``:
    every tracked resource named in ``spec.hard`` is present (0 when unused)."""
    hard = list(((quota.get("spec") or {}).get("hard") or {}).keys())
    used: ResourceList = {}
    for (group, plural), objs in objects.items():
        names = matching_resources(group, plural, hard)
        if not names:
            continue
        for n in names:
            used.setdefault(n, Fraction(0))
        for obj in objs:
            if not quota_matches(quota, group, plural, obj):
                continue
            usage = object_usage(group, plural, obj, now)
            for n in names:
                if n in usage:
                    used[n] += usage[n]
    return used


def tracked_kinds(hard: Iterable[str]) -> set[tuple[str, str]]:
    """The ``(group, plural)`` resources whose objects a quota with ``hard`` counts."""
    out: set[tuple[str, str]] = set()
    for n in hard:
        if n in POD_RESOURCES or (n.startswith("requests.") and n != "requests.storage"):
            out.add(("", "pods"))
        if n in SERVICE_RESOURCES:
            out.add(("", "services"))
        if n in PVC_RESOURCES or STORAGE_CLASS_SUFFIX in n:
            out.add(("", "persistentvolumeclaims"))
        if n in LEGACY_COUNTS:
            out.add(("", n))
        if n.startswith("count/"):
            plural, _, group = n[6:].partition(".")
            out.add((group, plural))
    return out
