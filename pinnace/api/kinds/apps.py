"""apps/v1: Deployment, ReplicaSet, StatefulSet, DaemonSet, ControllerRevision.

Facts (JSON names, protobuf field numbers, merge/list metadata, required
fields, enums) follow kubernetes/api ``apps/v1`` as of v1.32; descriptions are
our own. Pod templates, selectors and claims come from the core and meta
modules by name.

Defaults declared here are the unconditional ones from upstream's
``SetDefaults_*``; the conditional one (a ``RollingUpdate`` strategy given
without its ``rollingUpdate`` block gets one) belongs to the registry
strategy.
"""

from __future__ import annotations

from typing import Any

from pinnace.api.printers import apps as printers
from pinnace.api.schema import Field, Resource, field, struct

GROUP = "apps"
VERSION = "v1"
PKG = "io.k8s.api.apps.v1"
POD_TEMPLATE = "io.k8s.api.core.v1.PodTemplateSpec"


def _type_meta(kind: str) -> list[Field]:
    return [
        field("apiVersion", "string", "The versioned schema of this representation."),
        field("kind", "string", f"The REST kind of this object ({kind})."),
    ]


def _list(kind: str, what: str) -> None:
    s = struct(
        PKG,
        f"{kind}List",
        f"A list of {what}.",
        [
            *_type_meta(f"{kind}List"),
            field("metadata", "ListMeta", "Standard list metadata.", proto=1),
            field("items", f"[]{kind}", f"The {what}.", proto=2, required=True),
        ],
    )
    s.gvk = (GROUP, VERSION, f"{kind}List")


def _condition(kind: str, what: str, *, update_time: bool = False) -> None:
    fields = [
        field("type", "string", f"The kind of {what} condition.", proto=1, required=True),
        field("status", "string", "True, False or Unknown.", proto=2, required=True),
    ]
    if update_time:
        fields.append(
            field("lastUpdateTime", "Time", "When this condition was last updated.", proto=6)
        )
        fields.append(field("lastTransitionTime", "Time", "When the status last changed.", proto=7))
    else:
        fields.append(field("lastTransitionTime", "Time", "When the status last changed.", proto=3))
    fields += [
        field("reason", "string", "Machine-readable cause of the last change.", proto=4),
        field("message", "string", "Human-readable detail about the last change.", proto=5),
    ]
    struct(PKG, f"{kind}Condition", f"One observed aspect of a {what}'s state.", fields)


def _conditions(kind: str, proto: int) -> Field:
    return field(
        "conditions",
        f"[]{kind}Condition",
        "Latest observations of the object's state, one per type.",
        proto=proto,
        merge_key="type",
        patch_strategy="merge",
        list_type="map",
        list_map_keys=("type",),
    )


# -- Deployment ----------------------------------------------------------------

struct(
    PKG,
    "RollingUpdateDeployment",
    "How far a rolling update may go below or above the desired pod count.",
    [
        field(
            "maxUnavailable",
            "IntOrString",
            "Pods (count or percentage) that may be unavailable during the update.",
            proto=1,
            default="25%",
        ),
        field(
            "maxSurge",
            "IntOrString",
            "Pods (count or percentage) that may exist beyond the desired count.",
            proto=2,
            default="25%",
        ),
    ],
)

struct(
    PKG,
    "DeploymentStrategy",
    "How a Deployment replaces old pods with new ones.",
    [
        field(
            "type",
            "string",
            "Recreate or RollingUpdate.",
            proto=1,
            enum=("Recreate", "RollingUpdate"),
            default="RollingUpdate",
        ),
        field(
            "rollingUpdate",
            "RollingUpdateDeployment",
            "Parameters used when type is RollingUpdate.",
            proto=2,
        ),
    ],
)

struct(
    PKG,
    "DeploymentSpec",
    "The desired state of a Deployment.",
    [
        field("replicas", "int32", "Desired number of pods.", proto=1, default=1),
        field(
            "selector",
            "LabelSelector",
            "Which pods belong to this Deployment; must match the template labels.",
            proto=2,
            required=True,
        ),
        field("template", POD_TEMPLATE, "The pods to create.", proto=3, required=True),
        field(
            "strategy",
            "DeploymentStrategy",
            "How existing pods are replaced by new ones.",
            proto=4,
            patch_strategy="retainKeys",
            default={
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
        ),
        field(
            "minReadySeconds",
            "int32",
            "Seconds a new pod must stay ready before it counts as available.",
            proto=5,
        ),
        field(
            "revisionHistoryLimit",
            "int32",
            "How many old ReplicaSets to keep for rollback.",
            proto=6,
            default=10,
        ),
        field("paused", "bool", "Stops the controller from rolling out changes.", proto=7),
        field(
            "progressDeadlineSeconds",
            "int32",
            "Seconds without progress after which the rollout is reported as failed.",
            proto=9,
            default=600,
        ),
    ],
)

_condition("Deployment", "deployment", update_time=True)

struct(
    PKG,
    "DeploymentStatus",
    "The observed state of a Deployment.",
    [
        field(
            "observedGeneration", "int64", "The generation the controller last acted on.", proto=1
        ),
        field("replicas", "int32", "Non-terminated pods selected by this Deployment.", proto=2),
        field("updatedReplicas", "int32", "Selected pods that run the current template.", proto=3),
        field("readyReplicas", "int32", "Selected pods with a Ready condition.", proto=7),
        field(
            "availableReplicas",
            "int32",
            "Selected pods ready for at least minReadySeconds.",
            proto=4,
        ),
        field(
            "unavailableReplicas",
            "int32",
            "Pods still missing for the Deployment to be fully available.",
            proto=5,
        ),
        _conditions("Deployment", 6),
        field(
            "collisionCount",
            "int32",
            "Template hash collisions seen; used to make new ReplicaSet names unique.",
            proto=8,
        ),
    ],
)

_deployment = struct(
    PKG,
    "Deployment",
    "Declarative updates for a set of identical pods through ReplicaSets.",
    [
        *_type_meta("Deployment"),
        field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
        field("spec", "DeploymentSpec", "The desired state.", proto=2),
        field("status", "DeploymentStatus", "The most recently observed state.", proto=3),
    ],
)
_deployment.gvk = (GROUP, VERSION, "Deployment")
_list("Deployment", "deployments")

# -- ReplicaSet ----------------------------------------------------------------

struct(
    PKG,
    "ReplicaSetSpec",
    "The desired state of a ReplicaSet.",
    [
        field("replicas", "int32", "Desired number of pods.", proto=1, default=1),
        field(
            "minReadySeconds",
            "int32",
            "Seconds a new pod must stay ready before it counts as available.",
            proto=4,
        ),
        field(
            "selector",
            "LabelSelector",
            "Which pods count towards the replicas; must match the template labels.",
            proto=2,
            required=True,
        ),
        field("template", POD_TEMPLATE, "The pods to create when too few exist.", proto=3),
    ],
)

_condition("ReplicaSet", "replica set")

struct(
    PKG,
    "ReplicaSetStatus",
    "The observed state of a ReplicaSet.",
    [
        field("replicas", "int32", "Pods currently selected.", proto=1, required=True),
        field(
            "fullyLabeledReplicas",
            "int32",
            "Selected pods whose labels match the whole template's labels.",
            proto=2,
        ),
        field("readyReplicas", "int32", "Selected pods with a Ready condition.", proto=4),
        field(
            "availableReplicas",
            "int32",
            "Selected pods ready for at least minReadySeconds.",
            proto=5,
        ),
        field(
            "observedGeneration", "int64", "The generation the controller last acted on.", proto=3
        ),
        _conditions("ReplicaSet", 6),
    ],
)

_replicaset = struct(
    PKG,
    "ReplicaSet",
    "Keeps a given number of identical pods running.",
    [
        *_type_meta("ReplicaSet"),
        field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
        field("spec", "ReplicaSetSpec", "The desired state.", proto=2),
        field("status", "ReplicaSetStatus", "The most recently observed state.", proto=3),
    ],
)
_replicaset.gvk = (GROUP, VERSION, "ReplicaSet")
_list("ReplicaSet", "replica sets")

# -- StatefulSet ---------------------------------------------------------------

struct(
    PKG,
    "RollingUpdateStatefulSetStrategy",
    "Parameters of a StatefulSet rolling update.",
    [
        field(
            "partition",
            "int32",
            "Only pods with an ordinal at or above this are updated.",
            proto=1,
            default=0,
        ),
        field(
            "maxUnavailable",
            "IntOrString",
            "Pods (count or percentage) that may be unavailable during the update.",
            proto=2,
        ),
    ],
)

struct(
    PKG,
    "StatefulSetUpdateStrategy",
    "How a StatefulSet rolls out template changes.",
    [
        field(
            "type",
            "string",
            "RollingUpdate or OnDelete.",
            proto=1,
            enum=("OnDelete", "RollingUpdate"),
            default="RollingUpdate",
        ),
        field(
            "rollingUpdate",
            "RollingUpdateStatefulSetStrategy",
            "Parameters used when type is RollingUpdate.",
            proto=2,
        ),
    ],
)

struct(
    PKG,
    "StatefulSetPersistentVolumeClaimRetentionPolicy",
    "What happens to claims made from volumeClaimTemplates.",
    [
        field(
            "whenDeleted",
            "string",
            "Retain or Delete the claims when the StatefulSet is deleted.",
            proto=1,
            default="Retain",
        ),
        field(
            "whenScaled",
            "string",
            "Retain or Delete the claims of pods removed by scaling down.",
            proto=2,
            default="Retain",
        ),
    ],
)

struct(
    PKG,
    "StatefulSetOrdinals",
    "How the pods of a StatefulSet are numbered.",
    [field("start", "int32", "The ordinal of the first pod (default 0).", proto=1)],
)

struct(
    PKG,
    "StatefulSetSpec",
    "The desired state of a StatefulSet.",
    [
        field("replicas", "int32", "Desired number of pods.", proto=1, default=1),
        field(
            "selector",
            "LabelSelector",
            "Which pods belong to this set; must match the template labels.",
            proto=2,
            required=True,
        ),
        field(
            "template",
            POD_TEMPLATE,
            "The pods to create, each with a stable identity.",
            proto=3,
            required=True,
        ),
        field(
            "volumeClaimTemplates",
            "[]io.k8s.api.core.v1.PersistentVolumeClaim",
            "Claims made for each pod and mounted by name from its volumes.",
            proto=4,
            list_type="atomic",
        ),
        field(
            "serviceName",
            "string",
            "The headless Service that gives the pods their DNS names.",
            proto=5,
            required=True,
        ),
        field(
            "podManagementPolicy",
            "string",
            "OrderedReady creates and deletes pods one at a time in order; Parallel does not wait.",
            proto=6,
            enum=("OrderedReady", "Parallel"),
            default="OrderedReady",
        ),
        field(
            "updateStrategy",
            "StatefulSetUpdateStrategy",
            "How template changes reach existing pods.",
            proto=7,
            default={"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        ),
        field(
            "revisionHistoryLimit",
            "int32",
            "How many old ControllerRevisions to keep.",
            proto=8,
            default=10,
        ),
        field(
            "minReadySeconds",
            "int32",
            "Seconds a new pod must stay ready before it counts as available.",
            proto=9,
        ),
        field(
            "persistentVolumeClaimRetentionPolicy",
            "StatefulSetPersistentVolumeClaimRetentionPolicy",
            "Whether claims from volumeClaimTemplates outlive deletion and scale-down.",
            proto=10,
            default={"whenDeleted": "Retain", "whenScaled": "Retain"},
        ),
        field("ordinals", "StatefulSetOrdinals", "How pods are numbered.", proto=11),
    ],
)

_condition("StatefulSet", "stateful set")

struct(
    PKG,
    "StatefulSetStatus",
    "The observed state of a StatefulSet.",
    [
        field(
            "observedGeneration", "int64", "The generation the controller last acted on.", proto=1
        ),
        field("replicas", "int32", "Pods created by the controller.", proto=2, required=True),
        field("readyReplicas", "int32", "Pods with a Ready condition.", proto=3),
        field("currentReplicas", "int32", "Pods at the currentRevision.", proto=4),
        field("updatedReplicas", "int32", "Pods at the updateRevision.", proto=5),
        field(
            "currentRevision",
            "string",
            "The revision of the pods below the update partition.",
            proto=6,
        ),
        field("updateRevision", "string", "The revision being rolled out.", proto=7),
        field(
            "collisionCount",
            "int32",
            "Revision hash collisions seen; used to make revision names unique.",
            proto=9,
        ),
        _conditions("StatefulSet", 10),
        field("availableReplicas", "int32", "Pods ready for at least minReadySeconds.", proto=11),
    ],
)

_statefulset = struct(
    PKG,
    "StatefulSet",
    "Pods with stable names and storage, created and updated in order.",
    [
        *_type_meta("StatefulSet"),
        field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
        field("spec", "StatefulSetSpec", "The desired state.", proto=2),
        field("status", "StatefulSetStatus", "The most recently observed state.", proto=3),
    ],
)
_statefulset.gvk = (GROUP, VERSION, "StatefulSet")
_list("StatefulSet", "stateful sets")

# -- DaemonSet -----------------------------------------------------------------

struct(
    PKG,
    "RollingUpdateDaemonSet",
    "Parameters of a DaemonSet rolling update.",
    [
        field(
            "maxUnavailable",
            "IntOrString",
            "Nodes (count or percentage) whose daemon pod may be unavailable during the update.",
            proto=1,
            default=1,
        ),
        field(
            "maxSurge",
            "IntOrString",
            "Nodes (count or percentage) that may run an old and a new pod at once.",
            proto=2,
            default=0,
        ),
    ],
)

struct(
    PKG,
    "DaemonSetUpdateStrategy",
    "How a DaemonSet rolls out template changes.",
    [
        field(
            "type",
            "string",
            "RollingUpdate or OnDelete.",
            proto=1,
            enum=("OnDelete", "RollingUpdate"),
            default="RollingUpdate",
        ),
        field(
            "rollingUpdate",
            "RollingUpdateDaemonSet",
            "Parameters used when type is RollingUpdate.",
            proto=2,
        ),
    ],
)

struct(
    PKG,
    "DaemonSetSpec",
    "The desired state of a DaemonSet.",
    [
        field(
            "selector",
            "LabelSelector",
            "Which pods belong to this set; must match the template labels.",
            proto=1,
            required=True,
        ),
        field(
            "template",
            POD_TEMPLATE,
            "The pod to run on every eligible node.",
            proto=2,
            required=True,
        ),
        field(
            "updateStrategy",
            "DaemonSetUpdateStrategy",
            "How template changes reach existing pods.",
            proto=3,
            default={
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
            },
        ),
        field(
            "minReadySeconds",
            "int32",
            "Seconds a new pod must stay ready before it counts as available.",
            proto=4,
        ),
        field(
            "revisionHistoryLimit",
            "int32",
            "How many old ControllerRevisions to keep.",
            proto=6,
            default=10,
        ),
    ],
)

_condition("DaemonSet", "daemon set")

struct(
    PKG,
    "DaemonSetStatus",
    "The observed state of a DaemonSet.",
    [
        field(
            "currentNumberScheduled",
            "int32",
            "Nodes that run the daemon pod and should.",
            proto=1,
            required=True,
        ),
        field(
            "numberMisscheduled",
            "int32",
            "Nodes that run the daemon pod but should not.",
            proto=2,
            required=True,
        ),
        field(
            "desiredNumberScheduled",
            "int32",
            "Nodes that should run the daemon pod.",
            proto=3,
            required=True,
        ),
        field(
            "numberReady",
            "int32",
            "Nodes that should run the daemon pod and have a ready one.",
            proto=4,
            required=True,
        ),
        field(
            "observedGeneration", "int64", "The generation the controller last acted on.", proto=5
        ),
        field("updatedNumberScheduled", "int32", "Nodes running the current template.", proto=6),
        field(
            "numberAvailable",
            "int32",
            "Nodes whose daemon pod has been ready for minReadySeconds.",
            proto=7,
        ),
        field(
            "numberUnavailable",
            "int32",
            "Nodes that should run the daemon pod but have no available one.",
            proto=8,
        ),
        field(
            "collisionCount",
            "int32",
            "Revision hash collisions seen; used to make revision names unique.",
            proto=9,
        ),
        _conditions("DaemonSet", 10),
    ],
)

_daemonset = struct(
    PKG,
    "DaemonSet",
    "Runs one copy of a pod on each eligible node.",
    [
        *_type_meta("DaemonSet"),
        field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
        field("spec", "DaemonSetSpec", "The desired state.", proto=2),
        field("status", "DaemonSetStatus", "The most recently observed state.", proto=3),
    ],
)
_daemonset.gvk = (GROUP, VERSION, "DaemonSet")
_list("DaemonSet", "daemon sets")

# -- ControllerRevision --------------------------------------------------------

_revision = struct(
    PKG,
    "ControllerRevision",
    "An immutable snapshot of a controller's template, used for history and rollback.",
    [
        *_type_meta("ControllerRevision"),
        field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
        field("data", "object", "The serialized state this revision records.", proto=2),
        field("revision", "int64", "The revision number of this state.", proto=3, required=True),
    ],
)
_revision.gvk = (GROUP, VERSION, "ControllerRevision")
_list("ControllerRevision", "controller revisions")

# -- resources -----------------------------------------------------------------


def _status_replicas(obj: dict[str, Any]) -> str:
    return str((obj.get("status") or {}).get("replicas") or 0)


RESOURCES: list[Resource] = [
    Resource(
        GROUP,
        VERSION,
        "ControllerRevision",
        "controllerrevisions",
        namespaced=True,
        schema=f"{PKG}.ControllerRevision",
        columns=printers.CONTROLLERREVISION_COLUMNS,
    ),
    Resource(
        GROUP,
        VERSION,
        "DaemonSet",
        "daemonsets",
        namespaced=True,
        schema=f"{PKG}.DaemonSet",
        short_names=("ds",),
        categories=("all",),
        subresources=("status",),
        columns=printers.DAEMONSET_COLUMNS,
    ),
    Resource(
        GROUP,
        VERSION,
        "Deployment",
        "deployments",
        namespaced=True,
        schema=f"{PKG}.Deployment",
        short_names=("deploy",),
        categories=("all",),
        subresources=("status", "scale"),
        columns=printers.DEPLOYMENT_COLUMNS,
    ),
    Resource(
        GROUP,
        VERSION,
        "ReplicaSet",
        "replicasets",
        namespaced=True,
        schema=f"{PKG}.ReplicaSet",
        short_names=("rs",),
        categories=("all",),
        subresources=("status", "scale"),
        field_selectors={"status.replicas": _status_replicas},
        columns=printers.REPLICASET_COLUMNS,
    ),
    Resource(
        GROUP,
        VERSION,
        "StatefulSet",
        "statefulsets",
        namespaced=True,
        schema=f"{PKG}.StatefulSet",
        short_names=("sts",),
        categories=("all",),
        subresources=("status", "scale"),
        columns=printers.STATEFULSET_COLUMNS,
    ),
]
