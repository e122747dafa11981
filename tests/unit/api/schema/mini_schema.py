"""A small private schema for the schema-machinery tests: a few structs shaped
like upstream's (same JSON names and protobuf field numbers), so the tests do
not depend on the real kind declarations."""

from __future__ import annotations

from typing import Any

from pinnace.api.schema import CORE, META, Resource, SchemaRegistry, field, struct

APPS = "io.k8s.api.apps.v1"


def build() -> tuple[SchemaRegistry, list[Resource]]:
    reg = SchemaRegistry()

    def S(pkg: str, name: str, desc: str, fields: list[Any], **kw: Any) -> None:
        struct(pkg, name, desc, fields, registry=reg, **kw)

    S(
        META,
        "ObjectMeta",
        "Standard object metadata.",
        [
            field("name", "string", "Name of the object.", proto=1),
            field("generateName", "string", "Prefix for a server-generated name.", proto=2),
            field("namespace", "string", "Namespace of the object.", proto=3),
            field("uid", "string", "Unique id.", proto=5),
            field("resourceVersion", "string", "Version for concurrency.", proto=6),
            field("generation", "int64", "Generation of the spec.", proto=7),
            field("creationTimestamp", "Time", "When it was created.", proto=8),
            field("deletionTimestamp", "Time", "When it will be deleted.", proto=9),
            field("labels", "map[string]string", "Labels.", proto=11),
            field("annotations", "map[string]string", "Annotations.", proto=12),
            field("finalizers", "[]string", "Finalizers.", proto=14, patch_strategy="merge"),
        ],
    )
    S(
        META,
        "ListMeta",
        "Standard list metadata.",
        [
            field("resourceVersion", "string", "Version of the list.", proto=2),
        ],
    )
    S(
        META,
        "LabelSelectorRequirement",
        "A selector requirement.",
        [
            field("key", "string", "The label key.", proto=1, required=True),
            field(
                "operator",
                "string",
                "The operator.",
                proto=2,
                required=True,
                enum=("DoesNotExist", "Exists", "In", "NotIn"),
            ),
            field("values", "[]string", "The values.", proto=3),
        ],
    )
    S(
        META,
        "LabelSelector",
        "A label query.",
        [
            field("matchLabels", "map[string]string", "Labels to match.", proto=1),
            field("matchExpressions", "[]LabelSelectorRequirement", "Requirements.", proto=2),
        ],
        map_type="atomic",
    )
    S(
        CORE,
        "ContainerPort",
        "A port of a container.",
        [
            field("name", "string", "Port name.", proto=1),
            field("hostPort", "int32", "Host port.", proto=2),
            field("containerPort", "int32", "Container port.", proto=3, required=True),
            field(
                "protocol",
                "string",
                "Protocol.",
                proto=4,
                default="TCP",
                enum=("SCTP", "TCP", "UDP"),
            ),
        ],
    )
    S(
        CORE,
        "EnvVar",
        "An environment variable.",
        [
            field("name", "string", "Variable name.", proto=1, required=True),
            field("value", "string", "Variable value.", proto=2),
        ],
    )
    S(
        CORE,
        "ResourceRequirements",
        "Compute resources.",
        [
            field("limits", "map[string]Quantity", "Limits.", proto=1),
            field("requests", "map[string]Quantity", "Requests.", proto=2),
        ],
    )
    S(
        CORE,
        "Container",
        "A container in a pod.",
        [
            field("name", "string", "Container name.", proto=1, required=True),
            field("image", "string", "Image reference.", proto=2),
            field("command", "[]string", "Entrypoint.", proto=3, list_type="atomic"),
            field("args", "[]string", "Arguments.", proto=4, list_type="atomic"),
            field("workingDir", "string", "Working directory.", proto=5),
            field(
                "ports",
                "[]ContainerPort",
                "Ports.",
                proto=6,
                merge_key="containerPort",
                patch_strategy="merge",
                list_map_keys=("containerPort", "protocol"),
            ),
            field(
                "env", "[]EnvVar", "Environment.", proto=7, merge_key="name", patch_strategy="merge"
            ),
            field("resources", "ResourceRequirements", "Resources.", proto=8),
            field(
                "terminationMessagePath",
                "string",
                "Termination message path.",
                proto=13,
                default="/dev/termination-log",
            ),
            field(
                "imagePullPolicy",
                "string",
                "Pull policy.",
                proto=14,
                enum=("Always", "IfNotPresent", "Never"),
            ),
            field("stdin", "bool", "Keep stdin open.", proto=16),
            field("tty", "bool", "Allocate a TTY.", proto=18),
            field(
                "terminationMessagePolicy",
                "string",
                "Message policy.",
                proto=20,
                default="File",
                enum=("FallbackToLogsOnError", "File"),
            ),
        ],
    )
    S(
        CORE,
        "ConfigMapVolumeSource",
        "A ConfigMap volume.",
        [
            field("name", "string", "ConfigMap name.", proto=1),
            field("defaultMode", "int32", "File mode.", proto=3, pointer=True, default=420),
        ],
    )
    S(
        CORE,
        "EmptyDirVolumeSource",
        "An empty directory.",
        [
            field("medium", "string", "Medium.", proto=1),
            field("sizeLimit", "Quantity", "Size limit.", proto=2),
        ],
    )
    S(
        CORE,
        "Volume",
        "A pod volume.",
        [
            field("name", "string", "Volume name.", proto=1, required=True),
            field("emptyDir", "EmptyDirVolumeSource", "An empty dir.", proto=2, proto_embed=2),
            field("configMap", "ConfigMapVolumeSource", "A ConfigMap.", proto=19, proto_embed=2),
        ],
    )
    S(
        CORE,
        "PodSpec",
        "A pod's desired state.",
        [
            field(
                "volumes",
                "[]Volume",
                "Volumes.",
                proto=1,
                merge_key="name",
                patch_strategy="merge,retainKeys",
            ),
            field(
                "containers",
                "[]Container",
                "Containers.",
                proto=2,
                required=True,
                merge_key="name",
                patch_strategy="merge",
            ),
            field(
                "restartPolicy",
                "string",
                "Restart policy.",
                proto=3,
                default="Always",
                enum=("Always", "Never", "OnFailure"),
            ),
            field(
                "terminationGracePeriodSeconds",
                "int64",
                "Grace period.",
                proto=4,
                pointer=True,
                default=30,
            ),
            field("dnsPolicy", "string", "DNS policy.", proto=6, default="ClusterFirst"),
            field(
                "nodeSelector", "map[string]string", "Node selector.", proto=7, map_type="atomic"
            ),
            field("serviceAccountName", "string", "Service account.", proto=8),
            field("nodeName", "string", "Node.", proto=10),
            field("hostNetwork", "bool", "Host network.", proto=11),
            field("enableServiceLinks", "bool", "Service links.", proto=30, pointer=True),
        ],
    )
    S(
        CORE,
        "PodTemplateSpec",
        "A pod template.",
        [
            field("metadata", "ObjectMeta", "Template metadata.", proto=1),
            field("spec", "PodSpec", "Pod spec.", proto=2),
        ],
    )
    S(
        CORE,
        "PodCondition",
        "A pod condition.",
        [
            field("type", "string", "Type.", proto=1, required=True),
            field("status", "string", "Status.", proto=2, required=True),
            field("lastTransitionTime", "Time", "Last transition.", proto=4),
        ],
    )
    S(
        CORE,
        "PodStatus",
        "A pod's observed state.",
        [
            field("phase", "string", "Phase.", proto=1),
            field(
                "conditions",
                "[]PodCondition",
                "Conditions.",
                proto=2,
                merge_key="type",
                patch_strategy="merge",
            ),
            field("startTime", "Time", "Start time.", proto=7),
        ],
    )
    pod = struct(
        CORE,
        "Pod",
        "A group of containers.",
        [
            field("apiVersion", "string", "API version."),
            field("kind", "string", "Kind."),
            field("metadata", "ObjectMeta", "Metadata.", proto=1),
            field("spec", "PodSpec", "Spec.", proto=2),
            field("status", "PodStatus", "Status.", proto=3),
        ],
        registry=reg,
    )
    pod.gvk = ("", "v1", "Pod")
    cm = struct(
        CORE,
        "ConfigMap",
        "Configuration data.",
        [
            field("apiVersion", "string", "API version."),
            field("kind", "string", "Kind."),
            field("metadata", "ObjectMeta", "Metadata.", proto=1),
            field("data", "map[string]string", "Data.", proto=2),
            field("binaryData", "map[string]bytes", "Binary data.", proto=3),
            field("immutable", "bool", "Immutable.", proto=4, pointer=True),
        ],
        registry=reg,
    )
    cm.gvk = ("", "v1", "ConfigMap")
    S(
        APPS,
        "RollingUpdateDeployment",
        "Rolling update parameters.",
        [
            field(
                "maxUnavailable",
                "IntOrString",
                "Max unavailable.",
                proto=1,
                pointer=True,
                default="25%",
            ),
            field("maxSurge", "IntOrString", "Max surge.", proto=2, pointer=True, default="25%"),
        ],
    )
    S(
        APPS,
        "DeploymentStrategy",
        "How to replace pods.",
        [
            field(
                "type",
                "string",
                "Strategy type.",
                proto=1,
                default="RollingUpdate",
                enum=("Recreate", "RollingUpdate"),
            ),
            field("rollingUpdate", "RollingUpdateDeployment", "Rolling update.", proto=2),
        ],
    )
    S(
        APPS,
        "DeploymentSpec",
        "A deployment's desired state.",
        [
            field("replicas", "int32", "Desired pods.", proto=1, pointer=True, default=1),
            field("selector", "LabelSelector", "Pod selector.", proto=2, required=True),
            field("template", "PodTemplateSpec", "Pod template.", proto=3, required=True),
            field("strategy", "DeploymentStrategy", "Strategy.", proto=4, default={}),
            field("minReadySeconds", "int32", "Min ready seconds.", proto=5),
            field(
                "revisionHistoryLimit", "int32", "History limit.", proto=6, pointer=True, default=10
            ),
            field("paused", "bool", "Paused.", proto=7),
            field(
                "progressDeadlineSeconds", "int32", "Deadline.", proto=9, pointer=True, default=600
            ),
        ],
    )
    S(
        APPS,
        "DeploymentCondition",
        "A deployment condition.",
        [
            field("type", "string", "Type.", proto=1, required=True),
            field("status", "string", "Status.", proto=2, required=True),
            field("lastUpdateTime", "Time", "Last update.", proto=6),
            field("lastTransitionTime", "Time", "Last transition.", proto=7),
            field("reason", "string", "Reason.", proto=4),
            field("message", "string", "Message.", proto=5),
        ],
    )
    S(
        APPS,
        "DeploymentStatus",
        "A deployment's observed state.",
        [
            field("observedGeneration", "int64", "Observed generation.", proto=1),
            field("replicas", "int32", "Pods.", proto=2),
            field("updatedReplicas", "int32", "Updated pods.", proto=3),
            field("availableReplicas", "int32", "Available pods.", proto=4),
            field("unavailableReplicas", "int32", "Unavailable pods.", proto=5),
            field(
                "conditions",
                "[]DeploymentCondition",
                "Conditions.",
                proto=6,
                merge_key="type",
                patch_strategy="merge",
            ),
            field("readyReplicas", "int32", "Ready pods.", proto=7),
        ],
    )
    dep = struct(
        APPS,
        "Deployment",
        "Declarative updates for pods.",
        [
            field("apiVersion", "string", "API version."),
            field("kind", "string", "Kind."),
            field("metadata", "ObjectMeta", "Metadata.", proto=1),
            field("spec", "DeploymentSpec", "Spec.", proto=2),
            field("status", "DeploymentStatus", "Status.", proto=3),
        ],
        registry=reg,
    )
    dep.gvk = ("apps", "v1", "Deployment")
    reg.resolve()
    resources = [
        Resource(
            "", "v1", "Pod", "pods", namespaced=True, schema=f"{CORE}.Pod", subresources=("status",)
        ),
        Resource("", "v1", "ConfigMap", "configmaps", namespaced=True, schema=f"{CORE}.ConfigMap"),
        Resource(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            namespaced=True,
            schema=f"{APPS}.Deployment",
            subresources=("status", "scale"),
        ),
    ]
    return reg, resources
