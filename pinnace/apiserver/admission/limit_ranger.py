"""LimitRanger admission: a namespace's LimitRanges default and bound the compute
resources of pods and the storage of claims.

Upstream's ``plugin/pkg/admission/limitranger``:

* mutating (pod CREATE): each LimitRange item of type ``Container`` fills in the
  ``default`` limits and ``defaultRequest`` requests a container (or init
  container) does not state, and the pod is annotated
  ``kubernetes.io/limit-ranger: LimitRanger plugin set: cpu request for container
  app; cpu limit for container app``;
* validating (pod CREATE, claim CREATE/UPDATE): ``min``, ``max`` and
  ``maxLimitRequestRatio`` per Container, per Pod (the sums) and per
  PersistentVolumeClaim (its storage request), with upstream's messages joined
  as one aggregate (``[a, b]`` when more than one) in a 403 Forbidden.

Pods are not looked at on update (their containers' resources cannot change
there), nor are objects being deleted. An item's missing ``default`` falls back
to its ``max`` and a missing ``defaultRequest`` to ``default`` then ``min``
(upstream's LimitRange API defaulting, applied here when the item is read).

Concurrency model: called on the request's task; LimitRanges are listed through
a callable (the API server's watch cache). Pure dict work otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from typing import Any

from pinnace.api.quota import canonical, format_quantity, parse_list, quantity
from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.errors import ApiError

__all__ = ["LIMIT_RANGER_ANNOTATION", "LimitRanger", "effective_item", "validate_pod"]

Obj = dict[str, Any]

LIMIT_RANGER_ANNOTATION = "kubernetes.io/limit-ranger"


def _text(value: Any) -> str:
    return canonical(value)


def effective_item(item: Obj) -> Obj:
    """A LimitRange item with upstream's API defaults (``SetDefaults_LimitRangeItem``)."""
    out = dict(item)
    if out.get("type") == "Container":
        default = dict(out.get("default") or {})
        for k, v in (out.get("max") or {}).items():
            default.setdefault(k, v)
        default_request = dict(out.get("defaultRequest") or {})
        for k, v in default.items():
            default_request.setdefault(k, v)
        for k, v in (out.get("min") or {}).items():
            default_request.setdefault(k, v)
        out["default"], out["defaultRequest"] = default, default_request
    return out


def _merge(
    c: Obj, requests: Mapping[str, Any], limits: Mapping[str, Any], prefix: str
) -> list[str]:
    res = c.setdefault("resources", {})
    notes: list[str] = []
    set_limits: list[str] = []
    set_requests: list[str] = []
    if limits:
        have = res.setdefault("limits", {})
        for k, v in limits.items():
            if k not in have:
                have[k] = v
                set_limits.append(k)
    if requests:
        have = res.setdefault("requests", {})
        for k, v in requests.items():
            if k not in have:
                have[k] = v
                set_requests.append(k)
    name = c.get("name") or ""
    if set_requests:
        notes.append(f"{', '.join(sorted(set_requests))} request for {prefix} {name}")
    if set_limits:
        notes.append(f"{', '.join(sorted(set_limits))} limit for {prefix} {name}")
    for key in ("limits", "requests"):
        if key in res and not res[key]:
            del res[key]
    return notes


def default_pod(limit_range: Obj, pod: Obj) -> None:
    """Fill in one LimitRange's container defaults (upstream ``PodMutateLimitFunc``)."""
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    for item in (limit_range.get("spec") or {}).get("limits") or []:
        item = effective_item(item)
        if item.get("type") == "Container":
            requests.update(item.get("defaultRequest") or {})
            limits.update(item.get("default") or {})
    if not requests and not limits:
        return
    spec = pod.setdefault("spec", {})
    notes: list[str] = []
    for c in spec.get("containers") or []:
        notes += _merge(c, requests, limits, "container")
    for c in spec.get("initContainers") or []:
        notes += _merge(c, requests, limits, "init container")
    if notes:
        annotations = pod.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[LIMIT_RANGER_ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)


# -- constraints ---------------------------------------------------------------------


def _min(
    kind: str, res: str, enforced: Any, req: Mapping[str, Any], lim: Mapping[str, Any]
) -> str | None:
    e = quantity(enforced)
    if res not in req:
        return f"minimum {res} usage per {kind} is {_text(enforced)}.  No request is specified"
    if quantity(req[res]) < e:
        return (
            f"minimum {res} usage per {kind} is {_text(enforced)}, but request is {_text(req[res])}"
        )
    if res in lim and quantity(lim[res]) < e:
        return (
            f"minimum {res} usage per {kind} is {_text(enforced)}, but limit is {_text(lim[res])}"
        )
    return None


def _max(
    kind: str, res: str, enforced: Any, req: Mapping[str, Any], lim: Mapping[str, Any]
) -> str | None:
    e = quantity(enforced)
    if res not in lim:
        return f"maximum {res} usage per {kind} is {_text(enforced)}.  No limit is specified"
    if quantity(lim[res]) > e:
        return (
            f"maximum {res} usage per {kind} is {_text(enforced)}, but limit is {_text(lim[res])}"
        )
    if res in req and quantity(req[res]) > e:
        return (
            f"maximum {res} usage per {kind} is {_text(enforced)}, but request is {_text(req[res])}"
        )
    return None


def _max_request(kind: str, res: str, enforced: Any, req: Mapping[str, Any]) -> str | None:
    if res not in req:
        return f"maximum {res} usage per {kind} is {_text(enforced)}.  No request is specified"
    if quantity(req[res]) > quantity(enforced):
        return (
            f"maximum {res} usage per {kind} is {_text(enforced)}, but request is {_text(req[res])}"
        )
    return None


def _ratio(
    kind: str, res: str, enforced: Any, req: Mapping[str, Any], lim: Mapping[str, Any]
) -> str | None:
    r = quantity(req[res]) if res in req else Fraction(0)
    limit = quantity(lim[res]) if res in lim else Fraction(0)
    e = _text(enforced)
    if r == 0:
        return (
            f"{res} max limit to request ratio per {kind} is {e}, "
            "but no request is specified or request is 0"
        )
    if limit == 0:
        return (
            f"{res} max limit to request ratio per {kind} is {e}, "
            "but no limit is specified or limit is 0"
        )
    observed = limit / r
    if observed > quantity(enforced):
        return (
            f"{res} max limit to request ratio per {kind} is {e}, "
            f"but provided ratio is {float(observed):f}"
        )
    return None


def _check(kind: str, item: Obj, req: Mapping[str, Any], lim: Mapping[str, Any]) -> list[str]:
    out: list[str | None] = []
    out += [_min(kind, k, v, req, lim) for k, v in sorted((item.get("min") or {}).items())]
    out += [_max(kind, k, v, req, lim) for k, v in sorted((item.get("max") or {}).items())]
    out += [
        _ratio(kind, k, v, req, lim)
        for k, v in sorted((item.get("maxLimitRequestRatio") or {}).items())
    ]
    return [m for m in out if m]


def _pod_sums(pod: Obj) -> tuple[dict[str, Fraction], dict[str, Fraction]]:
    """The pod's requests and limits for the Pod limit type: the app containers add up,
    each init container is a floor."""
    spec = pod.get("spec") or {}
    totals: list[dict[str, Fraction]] = [{}, {}]
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        for i, key in enumerate(("requests", "limits")):
            for k, v in parse_list(res.get(key)).items():
                totals[i][k] = totals[i].get(k, Fraction(0)) + v
    for c in spec.get("initContainers") or []:
        res = c.get("resources") or {}
        for i, key in enumerate(("requests", "limits")):
            for k, v in parse_list(res.get(key)).items():
                if v > totals[i].get(k, Fraction(0)):
                    totals[i][k] = v
    return totals[0], totals[1]


def _containers(spec: Obj) -> Iterable[Obj]:
    yield from spec.get("containers") or []
    yield from spec.get("initContainers") or []


def validate_pod(limit_range: Obj, pod: Obj) -> list[str]:
    """Upstream ``PodValidateLimitFunc``: the messages of every violated bound."""
    errs: list[str] = []
    spec = pod.get("spec") or {}
    for item in (limit_range.get("spec") or {}).get("limits") or []:
        item = effective_item(item)
        kind = item.get("type")
        if kind == "Container":
            for c in _containers(spec):
                res = c.get("resources") or {}
                errs += _check(
                    "Container", item, res.get("requests") or {}, res.get("limits") or {}
                )
        elif kind == "Pod":
            reqs, lims = _pod_sums(pod)
            errs += _check(
                "Pod",
                item,
                {k: format_quantity(v) for k, v in reqs.items()},
                {k: format_quantity(v) for k, v in lims.items()},
            )
    return errs


def validate_claim(limit_range: Obj, pvc: Obj) -> list[str]:
    """Upstream ``PersistentVolumeClaimValidateLimitFunc``: bounds on the storage request."""
    errs: list[str | None] = []
    requests = ((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}
    for item in (limit_range.get("spec") or {}).get("limits") or []:
        if item.get("type") != "PersistentVolumeClaim":
            continue
        kind = "PersistentVolumeClaim"
        errs += [_min(kind, k, v, requests, {}) for k, v in sorted((item.get("min") or {}).items())]
        errs += [
            _max_request(kind, k, v, requests) for k, v in sorted((item.get("max") or {}).items())
        ]
    return [m for m in errs if m]


def _aggregate(messages: list[str]) -> str:
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


class LimitRanger:
    name = "LimitRanger"

    def __init__(self, list_limit_ranges: Callable[[str], list[Obj]]) -> None:
        self._list = list_limit_ranges

    @staticmethod
    def _kind(req: AdmissionRequest) -> str:
        r = req.resource
        if r.group != "" or req.subresource or req.object is None:
            return ""
        if r.plural == "pods" and req.operation == "CREATE":
            return "pods"
        if r.plural == "persistentvolumeclaims" and req.operation in ("CREATE", "UPDATE"):
            if (req.old_object or {}).get("metadata", {}).get("deletionTimestamp"):
                return ""
            return "persistentvolumeclaims"
        return ""

    async def admit(self, req: AdmissionRequest) -> None:
        if self._kind(req) != "pods":
            return
        for lr in self._list(req.namespace):
            default_pod(lr, req.object or {})

    async def validate(self, req: AdmissionRequest) -> None:
        kind = self._kind(req)
        if not kind:
            return
        for lr in self._list(req.namespace):
            obj = req.object or {}
            errs = validate_pod(lr, obj) if kind == "pods" else validate_claim(lr, obj)
            if errs:
                what = f'{req.resource.plural} "{req.name}"' if req.name else req.resource.plural
                raise ApiError(
                    403,
                    "Forbidden",
                    f"{what} is forbidden: {_aggregate(errs)}",
                    {"name": req.name, "kind": req.resource.plural},
                )
