"""policy/v1: PodDisruptionBudget.

(The Eviction kind of this group is declared with the core kinds, since it is
a subresource of pods.) Facts follow kubernetes/api ``policy/v1`` as of v1.32;
descriptions are our own.
"""

from __future__ import annotations

from pinnace.api.printers import policy as printers
from pinnace.api.schema import Resource, field, struct

GROUP = "policy"
VERSION = "v1"
PKG = "io.k8s.api.policy.v1"

struct(
    PKG,
    "PodDisruptionBudgetSpec",
    "How many selected pods voluntary disruptions must leave running.",
    [
        field(
            "minAvailable",
            "IntOrString",
            "Pods (count or percentage) that must stay available after an eviction.",
            proto=1,
        ),
        field(
            "selector",
            "LabelSelector",
            "The pods the budget covers; an empty selector covers every pod in the namespace.",
            proto=2,
            patch_strategy="replace",
        ),
        field(
            "maxUnavailable",
            "IntOrString",
            "Pods (count or percentage) that may be unavailable after an eviction.",
            proto=3,
        ),
        field(
            "unhealthyPodEvictionPolicy",
            "string",
            "When pods that are not ready may be evicted: IfHealthyBudget or AlwaysAllow.",
            proto=4,
            enum=("AlwaysAllow", "IfHealthyBudget"),
        ),
    ],
)

struct(
    PKG,
    "PodDisruptionBudgetStatus",
    "The observed state of a PodDisruptionBudget.",
    [
        field(
            "observedGeneration",
            "int64",
            "The generation the status was computed for.",
            proto=1,
        ),
        field(
            "disruptedPods",
            "map[string]Time",
            "Pods evicted but not yet gone, by name, with the eviction time.",
            proto=2,
        ),
        field(
            "disruptionsAllowed",
            "int32",
            "Evictions allowed right now.",
            proto=3,
            required=True,
        ),
        field("currentHealthy", "int32", "Healthy pods now.", proto=4, required=True),
        field("desiredHealthy", "int32", "Fewest healthy pods allowed.", proto=5, required=True),
        field("expectedPods", "int32", "Pods the budget counts.", proto=6, required=True),
        field(
            "conditions",
            "[]Condition",
            "Latest observations, such as DisruptionAllowed.",
            proto=7,
            merge_key="type",
            patch_strategy="merge",
            list_type="map",
            list_map_keys=("type",),
        ),
    ],
)

_pdb = struct(
    PKG,
    "PodDisruptionBudget",
    "Limits how many pods of a set voluntary disruptions may take down at once.",
    [
        field("apiVersion", "string", "The versioned schema of this representation."),
        field("kind", "string", "The REST kind of this object (PodDisruptionBudget)."),
        field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
        field("spec", "PodDisruptionBudgetSpec", "The desired budget.", proto=2),
        field("status", "PodDisruptionBudgetStatus", "The most recently observed state.", proto=3),
    ],
)
_pdb.gvk = (GROUP, VERSION, "PodDisruptionBudget")

_pdb_list = struct(
    PKG,
    "PodDisruptionBudgetList",
    "A list of pod disruption budgets.",
    [
        field("apiVersion", "string", "The versioned schema of this representation."),
        field("kind", "string", "The REST kind of this object (PodDisruptionBudgetList)."),
        field("metadata", "ListMeta", "Standard list metadata.", proto=1),
        field("items", "[]PodDisruptionBudget", "The budgets.", proto=2, required=True),
    ],
)
_pdb_list.gvk = (GROUP, VERSION, "PodDisruptionBudgetList")

RESOURCES: list[Resource] = [
    Resource(
        GROUP,
        VERSION,
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        namespaced=True,
        schema=f"{PKG}.PodDisruptionBudget",
        short_names=("pdb",),
        subresources=("status",),
        columns=printers.PDB_COLUMNS,
    ),
]
