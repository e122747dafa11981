"""scheduling.k8s.io/v1: PriorityClass, the named priorities pods refer to by
``spec.priorityClassName``.

Facts follow kubernetes/api ``scheduling/v1`` as of v1.32; descriptions are
our own.
"""

from __future__ import annotations

from pinnace.api.printers import scheduling as printers
from pinnace.api.schema import Resource, field, struct

GROUP = "scheduling.k8s.io"
VERSION = "v1"
PKG = "io.k8s.api.scheduling.v1"

_pc = struct(
    PKG,
    "PriorityClass",
    "A name for a pod priority value.",
    [
        field("apiVersion", "string", "The versioned schema of this representation."),
        field("kind", "string", "The REST kind of this object (PriorityClass)."),
        field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
        field("value", "int32", "The priority pods of this class get.", proto=2, required=True),
        field(
            "globalDefault",
            "bool",
            "Whether pods that name no class get this one (only one class may say so).",
            proto=3,
        ),
        field("description", "string", "Free text saying when to use this class.", proto=4),
        field(
            "preemptionPolicy",
            "string",
            "Whether pods of this class may preempt lower-priority pods.",
            proto=5,
            default="PreemptLowerPriority",
            enum=("Never", "PreemptLowerPriority"),
        ),
    ],
)
_pc.gvk = (GROUP, VERSION, "PriorityClass")

_pc_list = struct(
    PKG,
    "PriorityClassList",
    "A list of priority classes.",
    [
        field("apiVersion", "string", "The versioned schema of this representation."),
        field("kind", "string", "The REST kind of this object (PriorityClassList)."),
        field("metadata", "ListMeta", "Standard list metadata.", proto=1),
        field("items", "[]PriorityClass", "The priority classes.", proto=2, required=True),
    ],
)
_pc_list.gvk = (GROUP, VERSION, "PriorityClassList")

RESOURCES: list[Resource] = [
    Resource(
        GROUP,
        VERSION,
        "PriorityClass",
        "priorityclasses",
        namespaced=False,
        schema=f"{PKG}.PriorityClass",
        short_names=("pc",),
        columns=printers.PRIORITY_CLASS_COLUMNS,
    ),
]
