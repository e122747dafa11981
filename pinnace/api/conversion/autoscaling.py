"""autoscaling/v1 HorizontalPodAutoscaler <-> autoscaling/v2.

HPAs are stored as v2. The v1 shape only knows a CPU utilization target, so,
as upstream does:

- a v2 ``Resource`` metric for ``cpu`` with an ``averageUtilization`` target
  becomes ``spec.targetCPUUtilizationPercentage``, and a ``cpu`` utilization
  in ``status.currentMetrics`` becomes ``status.currentCPUUtilizationPercentage``;
- everything v1 cannot express travels in annotations, encoded as JSON:
  the other metrics (``autoscaling.alpha.kubernetes.io/metrics``, in the
  v1 ``MetricSpec`` encoding), all current metrics
  (``.../current-metrics``, v1 ``MetricStatus`` encoding), the conditions
  (``.../conditions``) and the behavior (``.../behavior``, which upstream
  writes with Go field names such as ``ScaleUp``);
- going back to v2, those annotations are removed and their content
  restored; the CPU target (if any) is appended after the other metrics.

All functions are pure: they return new dicts and never modify their input.
"""

from __future__ import annotations

import json
from typing import Any

METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
ROUND_TRIP_ANNOTATIONS = (
    METRICS_ANNOTATION,
    CURRENT_METRICS_ANNOTATION,
    CONDITIONS_ANNOTATION,
    BEHAVIOR_ANNOTATION,
)

Obj = dict[str, Any]


def _compact(d: Obj) -> Obj:
    """Drop keys whose value is None."""
    return {k: v for k, v in d.items() if v is not None}


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _is_cpu_utilization_target(metric: Obj) -> bool:
    res = metric.get("resource")
    return (
        metric.get("type") == "Resource"
        and isinstance(res, dict)
        and res.get("name") == "cpu"
        and (res.get("target") or {}).get("averageUtilization") is not None
    )


# -- metric specs (v2 <-> the v1 annotation encoding) -------------------------


def _spec_v2_to_v1(m: Obj) -> Obj:
    out: Obj = {"type": m.get("type")}
    if (r := m.get("resource")) is not None:
        t = r.get("target") or {}
        out["resource"] = _compact(
            {
                "name": r.get("name"),
                "targetAverageUtilization": t.get("averageUtilization"),
                "targetAverageValue": t.get("averageValue"),
            }
        )
    if (r := m.get("containerResource")) is not None:
        t = r.get("target") or {}
        out["containerResource"] = _compact(
            {
                "name": r.get("name"),
                "targetAverageUtilization": t.get("averageUtilization"),
                "targetAverageValue": t.get("averageValue"),
                "container": r.get("container"),
            }
        )
    if (p := m.get("pods")) is not None:
        out["pods"] = _compact(
            {
                "metricName": (p.get("metric") or {}).get("name"),
                "targetAverageValue": (p.get("target") or {}).get("averageValue"),
                "selector": (p.get("metric") or {}).get("selector"),
            }
        )
    if (o := m.get("object")) is not None:
        t = o.get("target") or {}
        out["object"] = _compact(
            {
                "target": o.get("describedObject"),
                "metricName": (o.get("metric") or {}).get("name"),
                "targetValue": t.get("value"),
                "selector": (o.get("metric") or {}).get("selector"),
                "averageValue": t.get("averageValue"),
            }
        )
    if (e := m.get("external")) is not None:
        t = e.get("target") or {}
        out["external"] = _compact(
            {
                "metricName": (e.get("metric") or {}).get("name"),
                "metricSelector": (e.get("metric") or {}).get("selector"),
                "targetValue": t.get("value"),
                "targetAverageValue": t.get("averageValue"),
            }
        )
    return _compact(out)


def _resource_target_v1_to_v2(r: Obj) -> Obj:
    util = r.get("targetAverageUtilization")
    return _compact(
        {
            "type": "AverageValue" if util is None else "Utilization",
            "averageUtilization": util,
            "averageValue": r.get("targetAverageValue"),
        }
    )


def _metric_id(name: Any, selector: Any) -> Obj:
    return _compact({"name": name, "selector": selector})


def _spec_v1_to_v2(m: Obj) -> Obj:
    out: Obj = {"type": m.get("type")}
    if (r := m.get("resource")) is not None:
        out["resource"] = {"name": r.get("name"), "target": _resource_target_v1_to_v2(r)}
    if (r := m.get("containerResource")) is not None:
        out["containerResource"] = {
            "name": r.get("name"),
            "target": _resource_target_v1_to_v2(r),
            "container": r.get("container"),
        }
    if (p := m.get("pods")) is not None:
        out["pods"] = {
            "metric": _metric_id(p.get("metricName"), p.get("selector")),
            "target": _compact(
                {"type": "AverageValue", "averageValue": p.get("targetAverageValue")}
            ),
        }
    if (o := m.get("object")) is not None:
        avg = o.get("averageValue")
        out["object"] = {
            "describedObject": o.get("target"),
            "target": _compact(
                {
                    "type": "Value" if avg is None else "AverageValue",
                    "value": o.get("targetValue"),
                    "averageValue": avg,
                }
            ),
            "metric": _metric_id(o.get("metricName"), o.get("selector")),
        }
    if (e := m.get("external")) is not None:
        value = e.get("targetValue")
        out["external"] = {
            "metric": _metric_id(e.get("metricName"), e.get("metricSelector")),
            "target": _compact(
                {
                    "type": "AverageValue" if value is None else "Value",
                    "value": value,
                    "averageValue": e.get("targetAverageValue"),
                }
            ),
        }
    return _compact(out)


# -- metric statuses -----------------------------------------------------------


def _status_v2_to_v1(m: Obj) -> Obj:
    out: Obj = {"type": m.get("type")}
    if (r := m.get("resource")) is not None:
        c = r.get("current") or {}
        out["resource"] = _compact(
            {
                "name": r.get("name"),
                "currentAverageUtilization": c.get("averageUtilization"),
                "currentAverageValue": c.get("averageValue"),
            }
        )
    if (r := m.get("containerResource")) is not None:
        c = r.get("current") or {}
        out["containerResource"] = _compact(
            {
                "name": r.get("name"),
                "currentAverageUtilization": c.get("averageUtilization"),
                "currentAverageValue": c.get("averageValue"),
                "container": r.get("container"),
            }
        )
    if (p := m.get("pods")) is not None:
        out["pods"] = _compact(
            {
                "metricName": (p.get("metric") or {}).get("name"),
                "currentAverageValue": (p.get("current") or {}).get("averageValue"),
                "selector": (p.get("metric") or {}).get("selector"),
            }
        )
    if (o := m.get("object")) is not None:
        c = o.get("current") or {}
        out["object"] = _compact(
            {
                "target": o.get("describedObject"),
                "metricName": (o.get("metric") or {}).get("name"),
                "currentValue": c.get("value"),
                "selector": (o.get("metric") or {}).get("selector"),
                "averageValue": c.get("averageValue"),
            }
        )
    if (e := m.get("external")) is not None:
        c = e.get("current") or {}
        out["external"] = _compact(
            {
                "metricName": (e.get("metric") or {}).get("name"),
                "metricSelector": (e.get("metric") or {}).get("selector"),
                "currentValue": c.get("value"),
                "currentAverageValue": c.get("averageValue"),
            }
        )
    return _compact(out)


def _status_v1_to_v2(m: Obj) -> Obj:
    out: Obj = {"type": m.get("type")}
    if (r := m.get("resource")) is not None:
        out["resource"] = {
            "name": r.get("name"),
            "current": _compact(
                {
                    "averageUtilization": r.get("currentAverageUtilization"),
                    "averageValue": r.get("currentAverageValue"),
                }
            ),
        }
    if (r := m.get("containerResource")) is not None:
        out["containerResource"] = {
            "name": r.get("name"),
            "current": _compact(
                {
                    "averageUtilization": r.get("currentAverageUtilization"),
                    "averageValue": r.get("currentAverageValue"),
                }
            ),
            "container": r.get("container"),
        }
    if (p := m.get("pods")) is not None:
        out["pods"] = {
            "metric": _metric_id(p.get("metricName"), p.get("selector")),
            "current": _compact({"averageValue": p.get("currentAverageValue")}),
        }
    if (o := m.get("object")) is not None:
        out["object"] = {
            "metric": _metric_id(o.get("metricName"), o.get("selector")),
            "current": _compact(
                {"value": o.get("currentValue"), "averageValue": o.get("averageValue")}
            ),
            "describedObject": o.get("target"),
        }
    if (e := m.get("external")) is not None:
        out["external"] = {
            "metric": _metric_id(e.get("metricName"), e.get("metricSelector")),
            "current": _compact(
                {"value": e.get("currentValue"), "averageValue": e.get("currentAverageValue")}
            ),
        }
    return _compact(out)


# -- behavior (upstream marshals its internal type: Go field names) ------------


def _rules_to_go(rules: Obj | None) -> Obj | None:
    if rules is None:
        return None
    policies = rules.get("policies")
    return {
        "StabilizationWindowSeconds": rules.get("stabilizationWindowSeconds"),
        "SelectPolicy": rules.get("selectPolicy"),
        "Policies": None
        if policies is None
        else [
            {
                "Type": p.get("type"),
                "Value": p.get("value"),
                "PeriodSeconds": p.get("periodSeconds"),
            }
            for p in policies
        ],
    }


def _rules_from_go(rules: Obj | None) -> Obj | None:
    if rules is None:
        return None
    policies = rules.get("Policies")
    return _compact(
        {
            "stabilizationWindowSeconds": rules.get("StabilizationWindowSeconds"),
            "selectPolicy": rules.get("SelectPolicy"),
            "policies": None
            if policies is None
            else [
                _compact(
                    {
                        "type": p.get("Type"),
                        "value": p.get("Value"),
                        "periodSeconds": p.get("PeriodSeconds"),
                    }
                )
                for p in policies
            ],
        }
    )


# -- whole objects -------------------------------------------------------------


def hpa_v2_to_v1(obj: Obj) -> Obj:
    """An autoscaling/v2 HorizontalPodAutoscaler as autoscaling/v1 (a new dict)."""
    spec = obj.get("spec") or {}
    status = obj.get("status")
    metrics = spec.get("metrics") or []

    v1_spec = _compact(
        {
            "scaleTargetRef": spec.get("scaleTargetRef"),
            "minReplicas": spec.get("minReplicas"),
            "maxReplicas": spec.get("maxReplicas"),
        }
    )
    for m in metrics:
        if _is_cpu_utilization_target(m):
            v1_spec["targetCPUUtilizationPercentage"] = m["resource"]["target"][
                "averageUtilization"
            ]
            break
    other = [_spec_v2_to_v1(m) for m in metrics if not _is_cpu_utilization_target(m)]

    annotations = dict((obj.get("metadata") or {}).get("annotations") or {})
    current = (status or {}).get("currentMetrics") or []
    conditions = (status or {}).get("conditions") or []
    if other:
        annotations[METRICS_ANNOTATION] = _json(other)
    if current:
        annotations[CURRENT_METRICS_ANNOTATION] = _json([_status_v2_to_v1(m) for m in current])
    if spec.get("behavior") is not None:
        b = spec["behavior"]
        annotations[BEHAVIOR_ANNOTATION] = _json(
            {
                "ScaleUp": _rules_to_go(b.get("scaleUp")),
                "ScaleDown": _rules_to_go(b.get("scaleDown")),
            }
        )
    if conditions:
        annotations[CONDITIONS_ANNOTATION] = _json(conditions)

    out: Obj = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "spec", "status")}
    out = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", **out}
    if annotations:
        out["metadata"] = {**(obj.get("metadata") or {}), "annotations": annotations}
    out["spec"] = v1_spec
    if status is not None:
        v1_status = _compact(
            {
                "observedGeneration": status.get("observedGeneration"),
                "lastScaleTime": status.get("lastScaleTime"),
                "currentReplicas": status.get("currentReplicas", 0),
                "desiredReplicas": status.get("desiredReplicas", 0),
            }
        )
        for m in current:
            res = m.get("resource") or {}
            if m.get("type") == "Resource" and res.get("name") == "cpu":
                util = (res.get("current") or {}).get("averageUtilization")
                if util is not None:
                    v1_status["currentCPUUtilizationPercentage"] = util
        out["status"] = v1_status
    return out


def _load(annotations: dict[str, str], key: str) -> Any:
    """The JSON in annotation ``key``, None when absent or unreadable (upstream
    ignores annotations it cannot decode)."""
    raw = annotations.get(key)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def hpa_v1_to_v2(obj: Obj) -> Obj:
    """An autoscaling/v1 HorizontalPodAutoscaler as autoscaling/v2 (a new dict)."""
    spec = obj.get("spec") or {}
    status = obj.get("status")
    metadata = obj.get("metadata") or {}
    annotations = dict(metadata.get("annotations") or {})
    other = _load(annotations, METRICS_ANNOTATION)
    current = _load(annotations, CURRENT_METRICS_ANNOTATION)
    conditions = _load(annotations, CONDITIONS_ANNOTATION)
    behavior = _load(annotations, BEHAVIOR_ANNOTATION)
    for key in ROUND_TRIP_ANNOTATIONS:
        annotations.pop(key, None)

    metrics: list[Obj] = []
    if isinstance(other, list):
        metrics.extend(_spec_v1_to_v2(m) for m in other if isinstance(m, dict))
    cpu = spec.get("targetCPUUtilizationPercentage")
    if cpu is not None:
        metrics.append(
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": cpu},
                },
            }
        )
    v2_spec = _compact(
        {
            "scaleTargetRef": spec.get("scaleTargetRef"),
            "minReplicas": spec.get("minReplicas"),
            "maxReplicas": spec.get("maxReplicas"),
        }
    )
    if metrics:
        v2_spec["metrics"] = metrics
    if isinstance(behavior, dict):
        v2_spec["behavior"] = _compact(
            {
                "scaleUp": _rules_from_go(behavior.get("ScaleUp")),
                "scaleDown": _rules_from_go(behavior.get("ScaleDown")),
            }
        )

    out: Obj = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "spec", "status")}
    out = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", **out}
    if "annotations" in metadata:
        new_meta = {k: v for k, v in metadata.items() if k != "annotations"}
        if annotations:
            new_meta["annotations"] = annotations
        out["metadata"] = new_meta
    out["spec"] = v2_spec
    if status is not None:
        v2_status = _compact(
            {
                "observedGeneration": status.get("observedGeneration"),
                "lastScaleTime": status.get("lastScaleTime"),
                "currentReplicas": status.get("currentReplicas"),
                "desiredReplicas": status.get("desiredReplicas", 0),
            }
        )
        if isinstance(current, list):
            v2_status["currentMetrics"] = [
                _status_v1_to_v2(m) for m in current if isinstance(m, dict)
            ]
        elif status.get("currentCPUUtilizationPercentage") is not None:
            v2_status["currentMetrics"] = [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "current": {
                            "averageUtilization": status["currentCPUUtilizationPercentage"]
                        },
                    },
                }
            ]
        if isinstance(conditions, list):
            v2_status["conditions"] = conditions
        out["status"] = v2_status
    return out
