"""storage.k8s.io/v1: StorageClass.

Facts follow kubernetes/api ``storage/v1`` as of v1.32; descriptions are our
own. (CSIDriver, CSINode, VolumeAttachment and CSIStorageCapacity of this
group are not declared yet.)
"""

from __future__ import annotations

from pinnace.api.printers import storage as printers
from pinnace.api.schema import Resource, field, struct

GROUP = "storage.k8s.io"
VERSION = "v1"
PKG = "io.k8s.api.storage.v1"

_class = struct(
    PKG,
    "StorageClass",
    "A kind of storage that claims can ask for, and how to provision it.",
    [
        field("apiVersion", "string", "The versioned schema of this representation."),
        field("kind", "string", "The REST kind of this object (StorageClass)."),
        field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
        field(
            "provisioner",
            "string",
            "The volume plugin or CSI driver that creates volumes of this class.",
            proto=2,
            required=True,
        ),
        field(
            "parameters",
            "map[string]string",
            "Settings passed to the provisioner.",
            proto=3,
        ),
        field(
            "reclaimPolicy",
            "string",
            "What happens to a provisioned volume once released: Delete or Retain.",
            proto=4,
            enum=("Delete", "Recycle", "Retain"),
            default="Delete",
        ),
        field(
            "mountOptions",
            "[]string",
            "Mount options for provisioned volumes.",
            proto=5,
            list_type="atomic",
        ),
        field(
            "allowVolumeExpansion",
            "bool",
            "Whether claims of this class may be resized upwards.",
            proto=6,
        ),
        field(
            "volumeBindingMode",
            "string",
            "Bind and provision at once (Immediate) or when a pod uses the claim.",
            proto=7,
            enum=("Immediate", "WaitForFirstConsumer"),
            default="Immediate",
        ),
        field(
            "allowedTopologies",
            "[]io.k8s.api.core.v1.TopologySelectorTerm",
            "Where volumes of this class may be provisioned.",
            proto=8,
            list_type="atomic",
        ),
    ],
)
_class.gvk = (GROUP, VERSION, "StorageClass")

_class_list = struct(
    PKG,
    "StorageClassList",
    "A list of storage classes.",
    [
        field("apiVersion", "string", "The versioned schema of this representation."),
        field("kind", "string", "The REST kind of this object (StorageClassList)."),
        field("metadata", "ListMeta", "Standard list metadata.", proto=1),
        field("items", "[]StorageClass", "The storage classes.", proto=2, required=True),
    ],
)
_class_list.gvk = (GROUP, VERSION, "StorageClassList")

RESOURCES: list[Resource] = [
    Resource(
        GROUP,
        VERSION,
        "StorageClass",
        "storageclasses",
        namespaced=False,
        schema=f"{PKG}.StorageClass",
        short_names=("sc",),
        columns=printers.STORAGECLASS_COLUMNS,
    ),
]
