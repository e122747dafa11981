"""autoscaling/v2 and autoscaling/v1: HorizontalPodAutoscaler.

One resource, ``horizontalpodautoscalers``, served in two versions and
stored as v2 (v2 is listed first: it is the preferred version). The
apiserver must convert objects between the versions on the way in and out,
with :func:`pinnace.api.conversion.autoscaling.hpa_v1_to_v2` and
:func:`~pinnace.api.conversion.autoscaling.hpa_v2_to_v1`: v1 carries the
CPU target as ``targetCPUUtilizationPercentage`` and everything else in
``autoscaling.alpha.kubernetes.io/*`` annotations, as upstream does.

The autoscaling/v1 Scale kinds (the ``scale`` subresource) are declared with
the core kinds. Facts follow kubernetes/api ``autoscaling/v1`` and ``v2`` as
of v1.32; descriptions are our own. Defaults: minReplicas 1 in both, and a
v2 HPA without metrics gets a CPU target of 80%, as upstream; the defaults of
``behavior`` (filled in only where a behavior is given) belong to the
registry strategy.
"""

from __future__ import annotations

from pinnace.api.printers import autoscaling as printers
from pinnace.api.schema import Field, Resource, Struct, field, struct

GROUP = "autoscaling"
V1 = "io.k8s.api.autoscaling.v1"
V2 = "io.k8s.api.autoscaling.v2"
DEFAULT_CPU_UTILIZATION = 80


def _kind(pkg: str, version: str, kind: str, description: str, fields: list[Field]) -> Struct:
    s = struct(
        pkg,
        kind,
        description,
        [
            field("apiVersion", "string", "The versioned schema of this representation."),
            field("kind", "string", f"The REST kind of this object ({kind})."),
            field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
            *fields,
        ],
    )
    s.gvk = (GROUP, version, kind)
    return s


def _list(pkg: str, version: str) -> None:
    s = struct(
        pkg,
        "HorizontalPodAutoscalerList",
        "A list of horizontal pod autoscalers.",
        [
            field("apiVersion", "string", "The versioned schema of this representation."),
            field("kind", "string", "The REST kind of this object (HorizontalPodAutoscalerList)."),
            field("metadata", "ListMeta", "Standard list metadata.", proto=1),
            field(
                "items",
                "[]HorizontalPodAutoscaler",
                "The autoscalers.",
                proto=2,
                required=True,
            ),
        ],
    )
    s.gvk = (GROUP, version, "HorizontalPodAutoscalerList")


def _cross_version_ref(pkg: str) -> None:
    struct(
        pkg,
        "CrossVersionObjectReference",
        "Names an object in the same namespace, with its API version.",
        [
            field("kind", "string", "Kind of the object.", proto=1, required=True),
            field("name", "string", "Name of the object.", proto=2, required=True),
            field("apiVersion", "string", "API version of the object.", proto=3),
        ],
        map_type="atomic",
    )


def _condition(pkg: str) -> None:
    struct(
        pkg,
        "HorizontalPodAutoscalerCondition",
        "One observed aspect of an autoscaler's state.",
        [
            field(
                "type",
                "string",
                "AbleToScale, ScalingActive or ScalingLimited.",
                proto=1,
                required=True,
            ),
            field("status", "string", "True, False or Unknown.", proto=2, required=True),
            field("lastTransitionTime", "Time", "When the status last changed.", proto=3),
            field("reason", "string", "Machine-readable cause of the last change.", proto=4),
            field("message", "string", "Human-readable detail about the last change.", proto=5),
        ],
    )


_MIN = "Fewest replicas the autoscaler may set (default 1)."
_MAX = "Most replicas the autoscaler may set."
_TARGET_REF = "The object whose scale subresource is adjusted."

# -- autoscaling/v2 ------------------------------------------------------------

_cross_version_ref(V2)

struct(
    V2,
    "MetricIdentifier",
    "Names a metric, optionally narrowed by labels.",
    [
        field("name", "string", "Name of the metric.", proto=1, required=True),
        field("selector", "LabelSelector", "Labels that narrow the metric down.", proto=2),
    ],
)

struct(
    V2,
    "MetricTarget",
    "The value a metric should have.",
    [
        field(
            "type",
            "string",
            "Which of the values below is used: Utilization, Value or AverageValue.",
            proto=1,
            required=True,
        ),
        field("value", "Quantity", "Target value of the metric.", proto=2),
        field(
            "averageValue", "Quantity", "Target value of the metric averaged over pods.", proto=3
        ),
        field(
            "averageUtilization",
            "int32",
            "Target average as a percentage of the pods' resource requests.",
            proto=4,
        ),
    ],
)

struct(
    V2,
    "MetricValueStatus",
    "The value a metric has now.",
    [
        field("value", "Quantity", "Current value of the metric.", proto=1),
        field("averageValue", "Quantity", "Current value averaged over pods.", proto=2),
        field(
            "averageUtilization",
            "int32",
            "Current average as a percentage of the pods' resource requests.",
            proto=3,
        ),
    ],
)

struct(
    V2,
    "ObjectMetricSource",
    "A metric of one object other than the pods, such as an Ingress.",
    [
        field(
            "describedObject",
            "CrossVersionObjectReference",
            "The object the metric describes.",
            proto=1,
            required=True,
        ),
        field("target", "MetricTarget", "The value to aim for.", proto=2, required=True),
        field("metric", "MetricIdentifier", "The metric.", proto=3, required=True),
    ],
)

struct(
    V2,
    "PodsMetricSource",
    "A metric of each pod of the target, averaged.",
    [
        field("metric", "MetricIdentifier", "The metric.", proto=1, required=True),
        field("target", "MetricTarget", "The value to aim for.", proto=2, required=True),
    ],
)

struct(
    V2,
    "ResourceMetricSource",
    "A resource (such as cpu) of the target's pods, against their requests.",
    [
        field("name", "string", "The resource, like cpu or memory.", proto=1, required=True),
        field("target", "MetricTarget", "The value to aim for.", proto=2, required=True),
    ],
)

struct(
    V2,
    "ContainerResourceMetricSource",
    "A resource of one container in each of the target's pods.",
    [
        field("name", "string", "The resource, like cpu or memory.", proto=1, required=True),
        field("target", "MetricTarget", "The value to aim for.", proto=2, required=True),
        field("container", "string", "The container to measure.", proto=3, required=True),
    ],
)

struct(
    V2,
    "ExternalMetricSource",
    "A metric from outside the cluster's objects, such as a queue length.",
    [
        field("metric", "MetricIdentifier", "The metric.", proto=1, required=True),
        field("target", "MetricTarget", "The value to aim for.", proto=2, required=True),
    ],
)

struct(
    V2,
    "MetricSpec",
    "One metric to scale on; exactly the member named by type is set.",
    [
        field(
            "type",
            "string",
            "ContainerResource, External, Object, Pods or Resource.",
            proto=1,
            required=True,
        ),
        field("object", "ObjectMetricSource", "A metric of another object.", proto=2),
        field("pods", "PodsMetricSource", "A per-pod metric.", proto=3),
        field("resource", "ResourceMetricSource", "A resource of the pods.", proto=4),
        field(
            "containerResource",
            "ContainerResourceMetricSource",
            "A resource of one container in each pod.",
            proto=7,
        ),
        field("external", "ExternalMetricSource", "A metric from outside the cluster.", proto=5),
    ],
)

struct(
    V2,
    "HPAScalingPolicy",
    "A limit on how much the replica count may change in a period.",
    [
        field("type", "string", "Pods or Percent.", proto=1, required=True),
        field(
            "value",
            "int32",
            "How many pods, or what percentage, may change.",
            proto=2,
            required=True,
        ),
        field(
            "periodSeconds",
            "int32",
            "The window, in seconds, the limit applies to.",
            proto=3,
            required=True,
        ),
    ],
)

struct(
    V2,
    "HPAScalingRules",
    "How fast the autoscaler may scale in one direction.",
    [
        field(
            "stabilizationWindowSeconds",
            "int32",
            "Seconds of past recommendations considered before scaling.",
            proto=3,
        ),
        field(
            "selectPolicy",
            "string",
            "Which policy wins: Max, Min, or Disabled to forbid scaling.",
            proto=1,
        ),
        field(
            "policies",
            "[]HPAScalingPolicy",
            "The limits to choose from.",
            proto=2,
            list_type="atomic",
        ),
    ],
)

struct(
    V2,
    "HorizontalPodAutoscalerBehavior",
    "Separate scaling rules for scaling up and scaling down.",
    [
        field("scaleUp", "HPAScalingRules", "Rules for scaling up.", proto=1),
        field("scaleDown", "HPAScalingRules", "Rules for scaling down.", proto=2),
    ],
)

struct(
    V2,
    "HorizontalPodAutoscalerSpec",
    "The desired behaviour of a v2 autoscaler.",
    [
        field(
            "scaleTargetRef",
            "CrossVersionObjectReference",
            _TARGET_REF,
            proto=1,
            required=True,
        ),
        field("minReplicas", "int32", _MIN, proto=2, default=1),
        field("maxReplicas", "int32", _MAX, proto=3, required=True),
        field(
            "metrics",
            "[]MetricSpec",
            "Metrics to scale on; the largest resulting replica count wins.",
            proto=4,
            list_type="atomic",
            default=[
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": DEFAULT_CPU_UTILIZATION,
                        },
                    },
                }
            ],
        ),
        field(
            "behavior",
            "HorizontalPodAutoscalerBehavior",
            "How fast to scale up and down.",
            proto=5,
        ),
    ],
)

struct(
    V2,
    "ObjectMetricStatus",
    "The current value of an object metric.",
    [
        field("metric", "MetricIdentifier", "The metric.", proto=1, required=True),
        field("current", "MetricValueStatus", "Its current value.", proto=2, required=True),
        field(
            "describedObject",
            "CrossVersionObjectReference",
            "The object the metric describes.",
            proto=3,
            required=True,
        ),
    ],
)

struct(
    V2,
    "PodsMetricStatus",
    "The current value of a per-pod metric.",
    [
        field("metric", "MetricIdentifier", "The metric.", proto=1, required=True),
        field("current", "MetricValueStatus", "Its current value.", proto=2, required=True),
    ],
)

struct(
    V2,
    "ResourceMetricStatus",
    "The current use of a resource by the pods.",
    [
        field("name", "string", "The resource.", proto=1, required=True),
        field("current", "MetricValueStatus", "Its current value.", proto=2, required=True),
    ],
)

struct(
    V2,
    "ContainerResourceMetricStatus",
    "The current use of a resource by one container of each pod.",
    [
        field("name", "string", "The resource.", proto=1, required=True),
        field("current", "MetricValueStatus", "Its current value.", proto=2, required=True),
        field("container", "string", "The container measured.", proto=3, required=True),
    ],
)

struct(
    V2,
    "ExternalMetricStatus",
    "The current value of an external metric.",
    [
        field("metric", "MetricIdentifier", "The metric.", proto=1, required=True),
        field("current", "MetricValueStatus", "Its current value.", proto=2, required=True),
    ],
)

struct(
    V2,
    "MetricStatus",
    "The current value of one metric; the member named by type is set.",
    [
        field(
            "type",
            "string",
            "ContainerResource, External, Object, Pods or Resource.",
            proto=1,
            required=True,
        ),
        field("object", "ObjectMetricStatus", "An object metric.", proto=2),
        field("pods", "PodsMetricStatus", "A per-pod metric.", proto=3),
        field("resource", "ResourceMetricStatus", "A resource of the pods.", proto=4),
        field(
            "containerResource",
            "ContainerResourceMetricStatus",
            "A resource of one container in each pod.",
            proto=7,
        ),
        field("external", "ExternalMetricStatus", "An external metric.", proto=5),
    ],
)

_condition(V2)

struct(
    V2,
    "HorizontalPodAutoscalerStatus",
    "The observed state of a v2 autoscaler.",
    [
        field(
            "observedGeneration",
            "int64",
            "The generation the autoscaler last acted on.",
            proto=1,
        ),
        field("lastScaleTime", "Time", "When the autoscaler last changed the scale.", proto=2),
        field("currentReplicas", "int32", "Replicas the target had when last seen.", proto=3),
        field(
            "desiredReplicas",
            "int32",
            "Replicas the autoscaler last decided on.",
            proto=4,
            required=True,
        ),
        field(
            "currentMetrics",
            "[]MetricStatus",
            "The last values read for each metric.",
            proto=5,
            list_type="atomic",
        ),
        field(
            "conditions",
            "[]HorizontalPodAutoscalerCondition",
            "Latest observations of the autoscaler's state.",
            proto=6,
            merge_key="type",
            patch_strategy="merge",
            list_type="map",
            list_map_keys=("type",),
        ),
    ],
)

_kind(
    V2,
    "v2",
    "HorizontalPodAutoscaler",
    "Adjusts the replica count of a scalable object to meet metric targets.",
    [
        field("spec", "HorizontalPodAutoscalerSpec", "The desired behaviour.", proto=2),
        field(
            "status", "HorizontalPodAutoscalerStatus", "The most recently observed state.", proto=3
        ),
    ],
)
_list(V2, "v2")

# -- autoscaling/v1 ------------------------------------------------------------

_cross_version_ref(V1)

struct(
    V1,
    "HorizontalPodAutoscalerSpec",
    "The desired behaviour of a v1 autoscaler.",
    [
        field(
            "scaleTargetRef",
            "CrossVersionObjectReference",
            _TARGET_REF,
            proto=1,
            required=True,
        ),
        field("minReplicas", "int32", _MIN, proto=2, default=1),
        field("maxReplicas", "int32", _MAX, proto=3, required=True),
        field(
            "targetCPUUtilizationPercentage",
            "int32",
            "Target average CPU use as a percentage of requests (80 when unset).",
            proto=4,
        ),
    ],
)

struct(
    V1,
    "HorizontalPodAutoscalerStatus",
    "The observed state of a v1 autoscaler.",
    [
        field(
            "observedGeneration",
            "int64",
            "The generation the autoscaler last acted on.",
            proto=1,
        ),
        field("lastScaleTime", "Time", "When the autoscaler last changed the scale.", proto=2),
        field(
            "currentReplicas",
            "int32",
            "Replicas the target had when last seen.",
            proto=3,
            required=True,
        ),
        field(
            "desiredReplicas",
            "int32",
            "Replicas the autoscaler last decided on.",
            proto=4,
            required=True,
        ),
        field(
            "currentCPUUtilizationPercentage",
            "int32",
            "Current average CPU use as a percentage of requests.",
            proto=5,
        ),
    ],
)

_kind(
    V1,
    "v1",
    "HorizontalPodAutoscaler",
    "Adjusts the replica count of a scalable object to meet a CPU target.",
    [
        field("spec", "HorizontalPodAutoscalerSpec", "The desired behaviour.", proto=2),
        field(
            "status", "HorizontalPodAutoscalerStatus", "The most recently observed state.", proto=3
        ),
    ],
)
_list(V1, "v1")


def _hpa(version: str, pkg: str) -> Resource:
    return Resource(
        GROUP,
        version,
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        namespaced=True,
        schema=f"{pkg}.HorizontalPodAutoscaler",
        short_names=("hpa",),
        categories=("all",),
        subresources=("status",),
        columns=printers.HPA_COLUMNS,
        # both versions share one store, in v2; the apiserver converts (module docstring)
        storage_version="v2",
    )


RESOURCES: list[Resource] = [_hpa("v2", V2), _hpa("v1", V1)]
