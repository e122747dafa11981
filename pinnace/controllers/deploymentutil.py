"""Pure helpers of the Deployment controller (upstream ``pkg/controller/deployment/util``
and ``pkg/util/hash``): the pod-template hash, rolling-update arithmetic,
proportional scaling, revision annotations and conditions.

Everything here is synchronous and side-effect free on its inputs except the
functions documented as mutating the replica set / status dict they are given
(callers pass their own copies, never cached objects).

**The pod-template hash.** Upstream's ``ComputeHash`` is FNV-32a over
``spew``'s deep print (``%#v``, sorted map keys) of the Go ``PodTemplateSpec``,
then the ``collisionCount`` as 8 little-endian bytes (the low 4 set), printed as
a decimal and mapped through ``rand.SafeEncodeString``. We hash a canonical
JSON of the (server-defaulted) template instead of Go's deep print — sorted
keys, no whitespace, ``null``, empty maps and empty lists dropped so that
``{}``/absent compare equal as they do for Go's zero values. Everything after
the print is as upstream: the hash is stable for a given template and changes
with ``collisionCount``, but is not bit-identical to Go's value for the same
template (which would need Go's struct layout for every field of ``PodSpec``).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cmp_to_key
from typing import Any

from pinnace.client import Obj
from pinnace.client.events import format_time
from pinnace.controllers.controller_utils import parse_time

__all__ = [
    "DEFAULT_DEPLOYMENT_UNIQUE_LABEL",
    "DESIRED_REPLICAS_ANNOTATION",
    "MAX_REPLICAS_ANNOTATION",
    "REVISION_ANNOTATION",
    "REVISION_HISTORY_ANNOTATION",
    "compute_hash",
    "deployment_complete",
    "equal_ignore_hash",
    "find_active_or_latest",
    "find_new_replica_set",
    "find_old_replica_sets",
    "get_proportion",
    "is_saturated",
    "max_revision",
    "max_surge",
    "max_unavailable",
    "new_rs_new_replicas",
    "resolve_fenceposts",
    "safe_encode_string",
    "scaled_value",
    "set_new_replica_set_annotations",
]

DEFAULT_DEPLOYMENT_UNIQUE_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
ROLLBACK_TO_ANNOTATION = "deprecated.deployment.rollback.to"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
#: upstream ``maxRevHistoryLengthInChars``
MAX_REV_HISTORY_LENGTH_IN_CHARS = 2000
#: annotations of a Deployment never copied to its replica sets
ANNOTATIONS_TO_SKIP = frozenset(
    {
        LAST_APPLIED_ANNOTATION,
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        DESIRED_REPLICAS_ANNOTATION,
        MAX_REPLICAS_ANNOTATION,
        ROLLBACK_TO_ANNOTATION,
    }
)

# condition reasons (upstream deploymentutil)
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
NEW_RS_REASON = "NewReplicaSetCreated"
FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"
RS_UPDATED_REASON = "ReplicaSetUpdated"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
PAUSED_DEPLOY_REASON = "DeploymentPaused"
RESUMED_DEPLOY_REASON = "DeploymentResumed"
MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"

INT32_MAX = 2**31 - 1


# --- small accessors --------------------------------------------------------------------


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def spec_replicas(obj: Obj | None) -> int:
    if obj is None:
        return 0
    v = (obj.get("spec") or {}).get("replicas")
    return 1 if v is None else _int(v)  # (the API server defaults replicas to 1)


def status_int(obj: Obj | None, field: str) -> int:
    if obj is None:
        return 0
    return _int((obj.get("status") or {}).get(field))


def annotations_of(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def creation_key(obj: Obj) -> tuple[float, str]:
    """Sort key of ``ReplicaSetsByCreationTimestamp`` (time, then name)."""
    m = obj.get("metadata") or {}
    t = parse_time(m.get("creationTimestamp"))
    return (t.timestamp() if t is not None else 0.0, str(m.get("name") or ""))


# --- the pod-template hash ---------------------------------------------------------------

_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def safe_encode_string(s: str) -> str:
    """``rand.SafeEncodeString``: map each character onto a vowel-free alphabet."""
    return "".join(_ALPHANUMS[ord(c) % len(_ALPHANUMS)] for c in s)


def _prune(v: Any) -> Any:
    """Drop nulls, empty maps and empty lists (Go's nil/zero values print alike)."""
    if isinstance(v, dict):
        out = {k: _prune(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x is not None and x != {} and x != []}
    if isinstance(v, list):
        return [_prune(x) for x in v]
    return v


def _fnv32a(data: bytes, h: int = 0x811C9DC5) -> int:
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def compute_hash(template: Obj, collision_count: int | None) -> str:
    """upstream ``controller.ComputeHash`` (see the module docstring for the print)."""
    printed = json.dumps(_prune(template), sort_keys=True, separators=(",", ":"))
    h = _fnv32a(printed.encode())
    if collision_count is not None:
        h = _fnv32a((collision_count & 0xFFFFFFFF).to_bytes(4, "little") + b"\0\0\0\0", h)
    return safe_encode_string(str(h))


def _without_hash(template: Obj | None) -> Any:
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(DEFAULT_DEPLOYMENT_UNIQUE_LABEL, None)
    return _prune(t)


def equal_ignore_hash(a: Obj | None, b: Obj | None) -> bool:
    """``EqualIgnoreHash``: templates equal apart from the ``pod-template-hash`` label."""
    return bool(_without_hash(a) == _without_hash(b))


# --- finding replica sets -----------------------------------------------------------------


def find_new_replica_set(d: Obj, rss: Iterable[Obj]) -> Obj | None:
    """The oldest replica set whose template equals the Deployment's (upstream
    ``FindNewReplicaSet``)."""
    template = (d.get("spec") or {}).get("template")
    for rs in sorted(rss, key=creation_key):
        if equal_ignore_hash((rs.get("spec") or {}).get("template"), template):
            return rs
    return None


def find_old_replica_sets(d: Obj, rss: Sequence[Obj]) -> tuple[list[Obj], list[Obj]]:
    """(old replica sets with pods, all old replica sets)."""
    new = find_new_replica_set(d, rss)
    new_uid = (new or {}).get("metadata", {}).get("uid")
    required: list[Obj] = []
    all_old: list[Obj] = []
    for rs in rss:
        if new is not None and rs["metadata"].get("uid") == new_uid:
            continue
        all_old.append(rs)
        if spec_replicas(rs) != 0:
            required.append(rs)
    return required, all_old


def revision_of(obj: Obj) -> int:
    v = annotations_of(obj).get(REVISION_ANNOTATION)
    try:
        return int(v) if v is not None else 0
    except ValueError:
        return 0


def max_revision(rss: Iterable[Obj]) -> int:
    return max((revision_of(rs) for rs in rss), default=0)


def filter_active(rss: Iterable[Obj | None]) -> list[Obj]:
    return [rs for rs in rss if rs is not None and spec_replicas(rs) > 0]


def find_active_or_latest(new_rs: Obj | None, old_rss: list[Obj]) -> Obj | None:
    """upstream ``FindActiveOrLatest``: the only active replica set, or the newest one
    when none is active; None when several are active."""
    if new_rs is None and not old_rss:
        return None
    olds = sorted(old_rss, key=creation_key, reverse=True)
    active = filter_active([*olds, new_rs])
    if not active:
        return new_rs if new_rs is not None else olds[0]
    if len(active) == 1:
        return active[0]
    return None


# --- rolling-update arithmetic -------------------------------------------------------------


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``: an int, or ``"N%"`` of ``total``."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    s = str(value)
    if not s.endswith("%"):
        raise ValueError("invalid value for IntOrString: invalid type: string is not a percentage")
    try:
        pct = int(s[:-1])
    except ValueError:
        raise ValueError(f"invalid value {s!r}: {s[:-1]!r} is not an integer") from None
    return math.ceil(pct * total / 100) if round_up else math.floor(pct * total / 100)


def resolve_fenceposts(max_surge_v: Any, max_unavailable_v: Any, desired: int) -> tuple[int, int]:
    """upstream ``ResolveFenceposts``: (surge, unavailable); both 0 → unavailable 1."""
    surge = scaled_value(0 if max_surge_v is None else max_surge_v, desired, True)
    unavailable = scaled_value(
        0 if max_unavailable_v is None else max_unavailable_v, desired, False
    )
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def is_rolling_update(d: Obj) -> bool:
    strategy = ((d.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate")
    return bool(strategy == "RollingUpdate")


def _rolling(d: Obj) -> dict[str, Any]:
    return ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}


def max_unavailable(d: Obj) -> int:
    replicas = spec_replicas(d)
    if not is_rolling_update(d) or replicas == 0:
        return 0
    ru = _rolling(d)
    _, unavailable = resolve_fenceposts(ru.get("maxSurge"), ru.get("maxUnavailable"), replicas)
    return min(unavailable, replicas)


def max_surge(d: Obj) -> int:
    if not is_rolling_update(d):
        return 0
    ru = _rolling(d)
    surge, _ = resolve_fenceposts(ru.get("maxSurge"), ru.get("maxUnavailable"), spec_replicas(d))
    return surge


def replica_count(rss: Iterable[Obj | None]) -> int:
    """``GetReplicaCountForReplicaSets`` (sum of ``spec.replicas``)."""
    return sum(spec_replicas(rs) for rs in rss if rs is not None)


def pod_count_upper_bound(rss: Iterable[Obj | None]) -> int:
    """Sum over replica sets of max(spec.replicas, status.replicas): the most pods that
    may exist right now, counting pods a scaled-down replica set has not deleted yet."""
    return sum(max(spec_replicas(rs), status_int(rs, "replicas")) for rs in rss if rs is not None)


def available_count(rss: Iterable[Obj | None]) -> int:
    """``GetAvailableReplicaCountForReplicaSets`` (sum of ``status.availableReplicas``)."""
    return sum(status_int(rs, "availableReplicas") for rs in rss if rs is not None)


def available_lower_bound(rss: Iterable[Obj | None]) -> int:
    """Sum of min(status.availableReplicas, spec.replicas): a replica set scaled down
    keeps at most ``spec.replicas`` of its available pods, whatever its (lagging)
    status says."""
    return sum(
        min(status_int(rs, "availableReplicas"), spec_replicas(rs)) for rs in rss if rs is not None
    )


def new_rs_new_replicas(
    d: Obj, all_rss: Sequence[Obj | None], new_rs: Obj, *, conservative: bool = False
) -> int:
    """upstream ``NewRSNewReplicas``: how big the new replica set may be now.

    ``conservative`` counts current pods with :func:`pod_count_upper_bound` instead of
    ``spec.replicas`` only, so that pods of a replica set being scaled down still count
    against ``maxSurge`` until they are gone (upstream may briefly overshoot here).
    """
    strategy = ((d.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate")
    replicas = spec_replicas(d)
    if strategy == "Recreate":
        return replicas
    if strategy != "RollingUpdate":
        raise ValueError(f"deployment type {strategy} isn't supported")
    surge = scaled_value(_rolling(d).get("maxSurge"), replicas, True)
    current = pod_count_upper_bound(all_rss) if conservative else replica_count(all_rss)
    max_total = replicas + surge
    if current >= max_total:
        return spec_replicas(new_rs)
    scale_up = min(max_total - current, replicas - spec_replicas(new_rs))
    return spec_replicas(new_rs) + scale_up


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    if rs is None:
        return False
    try:
        desired = int(annotations_of(rs).get(DESIRED_REPLICAS_ANNOTATION, ""))
    except ValueError:
        return False
    replicas = spec_replicas(d)
    return (
        spec_replicas(rs) == replicas
        and desired == replicas
        and status_int(rs, "availableReplicas") == replicas
    )


# --- proportional scaling ----------------------------------------------------------------


def round_to_int(x: float) -> int:
    """Go's ``math.Round`` (half away from zero)."""
    return math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)


def _max_replicas_annotation(rs: Obj) -> int | None:
    try:
        return int(annotations_of(rs)[MAX_REPLICAS_ANNOTATION])
    except (KeyError, ValueError):
        return None


def replica_set_fraction(rs: Obj, d: Obj) -> int:
    """upstream ``getReplicaSetFraction``."""
    replicas = spec_replicas(d)
    if replicas == 0:
        return -spec_replicas(rs)
    deployment_max = replicas + max_surge(d)
    before = _max_replicas_annotation(rs)
    if not before:
        before = status_int(d, "replicas")
        if before == 0:
            return replicas
    new_size = spec_replicas(rs) * deployment_max / before
    return round_to_int(new_size) - spec_replicas(rs)


def get_proportion(rs: Obj | None, d: Obj, to_add: int, added: int) -> int:
    """upstream ``GetProportion``: this replica set's share of ``to_add`` replicas."""
    if rs is None or spec_replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = replica_set_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _by_size(newer_first: bool) -> Any:
    def cmp(a: Obj, b: Obj) -> int:
        ra, rb = spec_replicas(a), spec_replicas(b)
        if ra != rb:
            return -1 if ra > rb else 1
        ka, kb = creation_key(a), creation_key(b)
        if ka == kb:
            return 0
        older = -1 if ka < kb else 1
        return -older if newer_first else older

    return cmp_to_key(cmp)


def proportional_sizes(d: Obj, active_rss: list[Obj]) -> tuple[list[tuple[Obj, int]], str]:
    """The proportional-scaling plan of ``DeploymentController.scale`` for the active
    replica sets of a rolling Deployment whose size changed mid-rollout: each
    (replica set, new size) in upstream's order, and the operation ("up"/"down"/"")."""
    total = replica_count(active_rss)
    replicas = spec_replicas(d)
    allowed = replicas + max_surge(d) if replicas > 0 else 0
    to_add = allowed - total
    rss = list(active_rss)
    operation = ""
    if to_add > 0:
        rss.sort(key=_by_size(newer_first=True))
        operation = "up"
    elif to_add < 0:
        rss.sort(key=_by_size(newer_first=False))
        operation = "down"
    added = 0
    sizes: list[int] = []
    for rs in rss:
        if to_add != 0:
            p = get_proportion(rs, d, to_add, added)
            sizes.append(spec_replicas(rs) + p)
            added += p
        else:
            sizes.append(spec_replicas(rs))
    if rss and to_add != 0:
        sizes[0] = max(0, sizes[0] + to_add - added)
    return list(zip(rss, sizes, strict=True)), operation


# --- annotations -------------------------------------------------------------------------


def copy_deployment_annotations(d: Obj, rs: Obj) -> bool:
    """Copy the Deployment's annotations (but the skipped ones) onto ``rs`` (mutated)."""
    changed = False
    rs_ann = rs["metadata"].setdefault("annotations", {})
    for k, v in annotations_of(d).items():
        if k in ANNOTATIONS_TO_SKIP or rs_ann.get(k) == v:
            continue
        rs_ann[k] = v
        changed = True
    return changed


def set_replicas_annotations(rs: Obj, desired: int, max_replicas: int) -> bool:
    ann = rs["metadata"].setdefault("annotations", {})
    changed = False
    for k, v in ((DESIRED_REPLICAS_ANNOTATION, desired), (MAX_REPLICAS_ANNOTATION, max_replicas)):
        if ann.get(k) != str(v):
            ann[k] = str(v)
            changed = True
    return changed


def replicas_annotations_need_update(rs: Obj, desired: int, max_replicas: int) -> bool:
    ann = annotations_of(rs)
    return ann.get(DESIRED_REPLICAS_ANNOTATION) != str(desired) or ann.get(
        MAX_REPLICAS_ANNOTATION
    ) != str(max_replicas)


def set_new_replica_set_annotations(
    d: Obj,
    rs: Obj,
    new_revision: str,
    exists: bool,
    limit: int = MAX_REV_HISTORY_LENGTH_IN_CHARS,
) -> bool:
    """upstream ``SetNewReplicaSetAnnotations`` (``rs`` is mutated): copy annotations,
    move the revision up to ``new_revision`` remembering the old one in
    ``revision-history`` (a rollback), and give a replica set about to be created its
    desired/max replicas annotations. True when something changed."""
    changed = copy_deployment_annotations(d, rs)
    ann = rs["metadata"].setdefault("annotations", {})
    had = REVISION_ANNOTATION in ann
    old_revision = ann.get(REVISION_ANNOTATION, "")
    try:
        old_int = int(old_revision) if old_revision else 0
    except ValueError:
        return False
    try:
        new_int = int(new_revision)
    except ValueError:
        return False
    if old_int < new_int:
        ann[REVISION_ANNOTATION] = new_revision
        changed = True
    if had and old_int < new_int:
        history = ann.get(REVISION_HISTORY_ANNOTATION, "")
        olds = history.split(",")
        if not olds[0]:
            ann[REVISION_HISTORY_ANNOTATION] = old_revision
        else:
            total = len(history) + len(old_revision) + 1
            start = 0
            while total > limit and start < len(olds):
                total -= len(olds[start]) + 1
                start += 1
            if total <= limit:
                ann[REVISION_HISTORY_ANNOTATION] = ",".join([*olds[start:], old_revision])
    if not exists:
        replicas = spec_replicas(d)
        if set_replicas_annotations(rs, replicas, replicas + max_surge(d)):
            changed = True
    return changed


# --- status and conditions ---------------------------------------------------------------


def new_condition(type_: str, status: str, reason: str, message: str, now: datetime) -> Obj:
    t = format_time(now)
    return {
        "type": type_,
        "status": status,
        "lastUpdateTime": t,
        "lastTransitionTime": t,
        "reason": reason,
        "message": message,
    }


def get_condition(status: Obj, type_: str) -> Obj | None:
    for c in status.get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == type_:
            return c
    return None


def set_condition(status: Obj, cond: Obj) -> None:
    """upstream ``SetDeploymentCondition``: same status and reason → no change; same
    status → keep lastTransitionTime; the condition moves to the end."""
    current = get_condition(status, cond["type"])
    if (
        current is not None
        and current.get("status") == cond["status"]
        and current.get("reason") == cond["reason"]
    ):
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, cond["type"])
    status.setdefault("conditions", []).append(cond)


def remove_condition(status: Obj, type_: str) -> None:
    conds = [c for c in status.get("conditions") or [] if c.get("type") != type_]
    if conds:
        status["conditions"] = conds
    else:
        status.pop("conditions", None)


def has_progress_deadline(d: Obj) -> bool:
    pds = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return isinstance(pds, int) and pds != INT32_MAX


def deployment_complete(d: Obj, status: Obj) -> bool:
    replicas = spec_replicas(d)
    return (
        _int(status.get("updatedReplicas")) == replicas
        and _int(status.get("replicas")) == replicas
        and _int(status.get("availableReplicas")) == replicas
        and _int(status.get("observedGeneration")) >= _int(d["metadata"].get("generation"))
    )


def deployment_progressing(d: Obj, new: Obj) -> bool:
    old = d.get("status") or {}
    old_old = _int(old.get("replicas")) - _int(old.get("updatedReplicas"))
    new_old = _int(new.get("replicas")) - _int(new.get("updatedReplicas"))
    return (
        _int(new.get("updatedReplicas")) > _int(old.get("updatedReplicas"))
        or new_old < old_old
        or _int(new.get("readyReplicas")) > _int(old.get("readyReplicas"))
        or _int(new.get("availableReplicas")) > _int(old.get("availableReplicas"))
    )


def deployment_timed_out(d: Obj, new: Obj, now: datetime) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = get_condition(new, "Progressing")
    if cond is None:
        return False
    if cond.get("reason") == NEW_RS_AVAILABLE_REASON:
        return False
    if cond.get("reason") == TIMED_OUT_REASON:
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return False
    deadline = since.timestamp() + _int((d.get("spec") or {}).get("progressDeadlineSeconds"))
    return deadline < now.timestamp()
