"""Table columns for horizontalpodautoscalers (autoscaling/v1 and v2), as
``kubectl get hpa`` shows them against a v1.32 API server (upstream's
``printHorizontalPodAutoscaler`` and ``formatHPAMetrics``; the metric name
prefix such as ``cpu:`` is there since v1.30).

Cells accept either version: v1 objects are converted to v2 first, as
upstream prints from its internal (v2-shaped) type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pinnace.api.conversion.autoscaling import hpa_v1_to_v2
from pinnace.api.printers import AGE, NAME, dig
from pinnace.api.schema import Column

Obj = Mapping[str, Any]


def _as_v2(o: Obj) -> Obj:
    if o.get("apiVersion") == "autoscaling/v1":
        return hpa_v1_to_v2(dict(o))
    return o


def _str(value: Any) -> str:
    """A Quantity as Go's ``%s`` prints a possibly-nil pointer to one."""
    return "<nil>" if value is None else str(value)


def _metric_text(spec: Obj, status: Obj | None) -> str:
    kind = spec.get("type")
    if kind in ("Resource", "ContainerResource"):
        key = "resource" if kind == "Resource" else "containerResource"
        src = spec.get(key) or {}
        cur = (status or {}).get(key)
        target = src.get("target") or {}
        if target.get("averageValue") is not None:
            current = "<unknown>"
            if cur is not None:
                current = _str((cur.get("current") or {}).get("averageValue"))
            return f"{src.get('name', '')}: {current}/{target['averageValue']}"
        current = "<unknown>"
        if cur is not None and (cur.get("current") or {}).get("averageUtilization") is not None:
            current = f"{cur['current']['averageUtilization']}%"
        want = "<auto>"
        if target.get("averageUtilization") is not None:
            want = f"{target['averageUtilization']}%"
        return f"{src.get('name', '')}: {current}/{want}"
    if kind == "Pods":
        cur = (status or {}).get("pods")
        current = (
            "<unknown>" if cur is None else _str((cur.get("current") or {}).get("averageValue"))
        )
        return f"{current}/{_str(dig(spec, 'pods', 'target', 'averageValue'))}"
    if kind in ("Object", "External"):
        key = kind.lower()
        cur = (status or {}).get(key)
        target = dig(spec, key, "target", default={})
        if target.get("averageValue") is not None:
            current = "<unknown>"
            if cur is not None and (cur.get("current") or {}).get("averageValue") is not None:
                current = str(cur["current"]["averageValue"])
            return f"{current}/{target['averageValue']} (avg)"
        current = "<unknown>" if cur is None else _str((cur.get("current") or {}).get("value"))
        return f"{current}/{_str(target.get('value'))}"
    return "<unknown type>"


def hpa_targets(o: Obj) -> str:
    """Current against target for each metric: the first two, then a count of
    the rest; ``<none>`` without metrics."""
    o = _as_v2(o)
    specs = dig(o, "spec", "metrics", default=[])
    statuses = dig(o, "status", "currentMetrics", default=[])
    if not specs:
        return "<none>"
    texts = [
        _metric_text(spec, statuses[i] if i < len(statuses) else None)
        for i, spec in enumerate(specs)
    ]
    if len(texts) > 2:
        return f"{', '.join(texts[:2])} + {len(texts) - 2} more..."
    return ", ".join(texts)


def hpa_reference(o: Obj) -> str:
    ref = dig(o, "spec", "scaleTargetRef", default={})
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


def hpa_min_pods(o: Obj) -> Any:
    value = dig(o, "spec", "minReplicas")
    return "<unset>" if value is None else value


HPA_COLUMNS = (
    NAME,
    Column("Reference", "string", "The object whose scale is adjusted.", hpa_reference),
    Column("Targets", "string", "Current and target value of each metric.", hpa_targets),
    Column("MinPods", "string", "Fewest replicas the autoscaler may set.", hpa_min_pods),
    Column(
        "MaxPods",
        "integer",
        "Most replicas the autoscaler may set.",
        lambda o: int(dig(o, "spec", "maxReplicas", default=0)),
    ),
    Column(
        "Replicas",
        "integer",
        "Replicas the target has now.",
        lambda o: int(dig(o, "status", "currentReplicas", default=0)),
    ),
    AGE,
)
