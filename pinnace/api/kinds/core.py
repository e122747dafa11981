"""Schema declarations for the core API group (``v1``), package
``io.k8s.api.core.v1``, plus the two kinds served only as core
subresources: policy/v1 ``Eviction`` (``pods/eviction``) and autoscaling/v1
``Scale`` (``replicationcontrollers/scale``, also used by apps for its scale
subresources; this module owns it).

Field names, types, protobuf field numbers, required fields and merge
metadata follow upstream's ``k8s.io/api/core/v1`` types; descriptions are
short summaries. Go structs that upstream embeds inline (``Volume`` embeds
``VolumeSource``, ``PersistentVolumeSpec`` embeds ``PersistentVolumeSource``,
``Probe`` embeds ``ProbeHandler``, ``EphemeralContainer`` embeds
``EphemeralContainerCommon``, the key selectors embed
``LocalObjectReference``) are flattened here as JSON flattens them; their
fields carry ``proto_embed`` = the parent's protobuf field number of the
embedded message, and ``proto`` = the number inside it.

Table columns are computed by ``pinnace.api.printers.core``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pinnace.api.printers import AGE, NAME, dig
from pinnace.api.printers import core as p
from pinnace.api.schema import CORE, Column, Resource, field, struct

PKG = CORE
POLICY = "io.k8s.api.policy.v1"
AUTOSCALING = "io.k8s.api.autoscaling.v1"


# fmt: off
struct(PKG, "NamespaceSpec", "Desired state of a namespace.", [
    field("finalizers", "[]string", "Finalizers that must be cleared before the namespace is removed from storage.", proto=1, list_type="atomic"),
])


struct(PKG, "NamespaceCondition", "One condition of a namespace.", [
    field("type", "string", "Type of the condition, e.g. NamespaceDeletionContentFailure.", proto=1, required=True),
    field("status", "string", "True, False or Unknown.", proto=2, required=True),
    field("lastTransitionTime", "Time", "When the condition last changed from one status to another.", proto=4),
    field("reason", "string", "Machine-readable CamelCase reason for the last transition.", proto=5),
    field("message", "string", "Human-readable details about the last transition.", proto=6),
])


struct(PKG, "NamespaceStatus", "Observed state of a namespace.", [
    field("phase", "string", "Lifecycle phase: Active or Terminating.", proto=1, default="Active"),
    field("conditions", "[]NamespaceCondition", "Latest observations of the namespace's state.", proto=2, merge_key="type", patch_strategy="merge", list_type="map"),
])


Namespace = struct(PKG, "Namespace", "A scope for names; most objects live in exactly one namespace.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
    field("spec", "NamespaceSpec", "Desired state of the object.", proto=2),
    field("status", "NamespaceStatus", "Most recently observed state of the object, filled in by the system.", proto=3),
])
Namespace.gvk = ("", "v1", "Namespace")


struct(PKG, "HostPathVolumeSource", "A file or directory on the node's filesystem mounted into the pod.", [
    field("path", "string", "Path on the host; symlinks are followed.", proto=1, required=True),
    field("type", "string", "Expected kind of the path (e.g. Directory, DirectoryOrCreate, File, Socket); unchecked when empty.", proto=2, default=""),
])


struct(PKG, "EmptyDirVolumeSource", "A temporary directory that lives as long as the pod.", [
    field("medium", "string", "Storage medium: empty for the node's default, or Memory for tmpfs.", proto=1),
    field("sizeLimit", "Quantity", "Maximum amount of local storage the directory may use.", proto=2),
    field("mode", "int32", "Permission bits for the directory itself.", proto=3),
])


struct(PKG, "GCEPersistentDiskVolumeSource", "A Google Compute Engine persistent disk (deprecated in-tree source).", [
    field("pdName", "string", "Name of the persistent disk in GCE.", proto=1, required=True),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=2),
    field("partition", "int32", "Partition of the disk to mount; the whole disk when unset.", proto=3),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=4),
])


struct(PKG, "AWSElasticBlockStoreVolumeSource", "An AWS EBS disk (deprecated in-tree source).", [
    field("volumeID", "string", "ID of the EBS volume.", proto=1, required=True),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=2),
    field("partition", "int32", "Partition of the disk to mount; the whole disk when unset.", proto=3),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=4),
])


struct(PKG, "GitRepoVolumeSource", "A directory populated by cloning a git repository (deprecated).", [
    field("repository", "string", "URL of the repository.", proto=1, required=True),
    field("revision", "string", "Commit hash to check out.", proto=2),
    field("directory", "string", "Target directory name inside the volume; \".\" clones into the volume root.", proto=3),
])


struct(PKG, "KeyToPath", "Maps one key of a ConfigMap or Secret to a relative file path.", [
    field("key", "string", "The key to project.", proto=1, required=True),
    field("path", "string", "Relative path of the file to create; may not contain \"..\".", proto=2, required=True),
    field("mode", "int32", "Permission bits for this file; defaults to the volume's defaultMode.", proto=3),
    field("user", "int64", "Numeric owner for the projected file.", proto=4),
])


struct(PKG, "SecretVolumeSource", "Populates a volume with the keys of a Secret.", [
    field("secretName", "string", "Name of the Secret in the pod's namespace.", proto=1),
    field("items", "[]KeyToPath", "Keys to project and their paths; all keys when empty.", proto=2, list_type="atomic"),
    field("defaultMode", "int32", "Permission bits applied to created files by default (octal 0644 is the default).", proto=3, default=420),
    field("optional", "bool", "Whether a missing object or key is tolerated instead of being an error.", proto=4),
    field("defaultUser", "int64", "Default numeric owner of created files.", proto=5),
])


struct(PKG, "NFSVolumeSource", "An NFS export mounted into the pod.", [
    field("server", "string", "Hostname or IP of the NFS server.", proto=1, required=True),
    field("path", "string", "Exported path on the server.", proto=2, required=True),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=3),
])


struct(PKG, "LocalObjectReference", "Refers to an object by name in the same namespace.", [
    field("name", "string", "Name of the referent.", proto=1),
], map_type="atomic")


struct(PKG, "ISCSIVolumeSource", "An iSCSI disk attached and mounted on the node.", [
    field("targetPortal", "string", "iSCSI target portal, an IP or host with optional port (default 3260).", proto=1, required=True),
    field("iqn", "string", "iSCSI qualified name of the target.", proto=2, required=True),
    field("lun", "int32", "Target LUN number.", proto=3, required=True),
    field("iscsiInterface", "string", "iSCSI interface name for the transport (default \"default\").", proto=4, default="default"),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=5),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=6),
    field("portals", "[]string", "Additional target portals.", proto=7, list_type="atomic"),
    field("chapAuthDiscovery", "bool", "Whether CHAP discovery authentication is used.", proto=8),
    field("chapAuthSession", "bool", "Whether CHAP session authentication is used.", proto=11),
    field("secretRef", "LocalObjectReference", "Reference to the Secret holding authentication data for this volume.", proto=10),
    field("initiatorName", "string", "Custom iSCSI initiator name.", proto=12),
])


struct(PKG, "GlusterfsVolumeSource", "A GlusterFS mount (removed upstream; kept for compatibility).", [
    field("endpoints", "string", "Name of the Endpoints object listing the Gluster cluster.", proto=1, required=True),
    field("path", "string", "Gluster volume path.", proto=2, required=True),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=3),
])


struct(PKG, "PersistentVolumeClaimVolumeSource", "Mounts the volume bound to a PersistentVolumeClaim in the pod's namespace.", [
    field("claimName", "string", "Name of the PersistentVolumeClaim.", proto=1, required=True),
    field("readOnly", "bool", "Forces the mount to be read-only.", proto=2),
])


struct(PKG, "RBDVolumeSource", "A Ceph RADOS block device (deprecated in-tree source).", [
    field("monitors", "[]string", "Ceph monitor addresses.", proto=1, required=True, list_type="atomic"),
    field("image", "string", "RADOS image name.", proto=2, required=True),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=3),
    field("pool", "string", "RADOS pool name (default rbd).", proto=4, default="rbd"),
    field("user", "string", "RADOS user name (default admin).", proto=5, default="admin"),
    field("keyring", "string", "Path to the keyring file (default /etc/ceph/keyring).", proto=6, default="/etc/ceph/keyring"),
    field("secretRef", "LocalObjectReference", "Reference to the Secret holding authentication data for this volume.", proto=7),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=8),
])


struct(PKG, "FlexVolumeSource", "A volume provisioned by an exec-based FlexVolume driver.", [
    field("driver", "string", "Name of the FlexVolume driver.", proto=1, required=True),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=2),
    field("secretRef", "LocalObjectReference", "Reference to the Secret holding authentication data for this volume.", proto=3),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=4),
    field("options", "map[string]string", "Extra driver-specific options.", proto=5),
])


struct(PKG, "CinderVolumeSource", "An OpenStack Cinder volume (deprecated in-tree source).", [
    field("volumeID", "string", "Cinder volume ID.", proto=1, required=True),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=2),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=3),
    field("secretRef", "LocalObjectReference", "Reference to the Secret holding authentication data for this volume.", proto=4),
])


struct(PKG, "CephFSVolumeSource", "A CephFS mount (deprecated in-tree source).", [
    field("monitors", "[]string", "Ceph monitor addresses.", proto=1, required=True, list_type="atomic"),
    field("path", "string", "Path within the Ceph filesystem to mount (default /).", proto=2),
    field("user", "string", "RADOS user name (default admin).", proto=3),
    field("secretFile", "string", "Path to the keyring file (default /etc/ceph/user.secret).", proto=4),
    field("secretRef", "LocalObjectReference", "Reference to the Secret holding authentication data for this volume.", proto=5),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=6),
])


struct(PKG, "FlockerVolumeSource", "A Flocker dataset (deprecated).", [
    field("datasetName", "string", "Name of the dataset.", proto=1),
    field("datasetUUID", "string", "UUID of the dataset.", proto=2),
])


struct(PKG, "ObjectFieldSelector", "Selects a field of the pod.", [
    field("apiVersion", "string", "API version the field path is written in (default v1).", proto=1, default="v1"),
    field("fieldPath", "string", "Path of the field to select, e.g. metadata.name.", proto=2, required=True),
], map_type="atomic")


struct(PKG, "ResourceFieldSelector", "Selects a container's resource request or limit.", [
    field("containerName", "string", "Container to read from; required for volumes, optional for env vars.", proto=1),
    field("resource", "string", "Resource to select, e.g. limits.cpu or requests.memory.", proto=2, required=True),
    field("divisor", "Quantity", "Unit the value is expressed in (default 1).", proto=3),
], map_type="atomic")


struct(PKG, "DownwardAPIVolumeFile", "One file of a downward API volume.", [
    field("path", "string", "Relative path of the file to create.", proto=1, required=True),
    field("fieldRef", "ObjectFieldSelector", "Pod field to write into the file.", proto=2),
    field("resourceFieldRef", "ResourceFieldSelector", "Container resource to write into the file.", proto=3),
    field("mode", "int32", "Permission bits for this file; defaults to the volume's defaultMode.", proto=4),
    field("user", "int64", "Numeric owner for the projected file.", proto=5),
])


struct(PKG, "DownwardAPIVolumeSource", "Exposes pod fields and container resources as files.", [
    field("items", "[]DownwardAPIVolumeFile", "The files to create.", proto=1, list_type="atomic"),
    field("defaultMode", "int32", "Permission bits applied to created files by default (octal 0644 is the default).", proto=2, default=420),
    field("defaultUser", "int64", "Default numeric owner of created files.", proto=3),
])


struct(PKG, "FCVolumeSource", "A Fibre Channel disk.", [
    field("targetWWNs", "[]string", "Target world wide names.", proto=1, list_type="atomic"),
    field("lun", "int32", "Target LUN number.", proto=2),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=3),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=4),
    field("wwids", "[]string", "World wide identifiers (alternative to targetWWNs plus lun).", proto=5, list_type="atomic"),
])


struct(PKG, "AzureFileVolumeSource", "An Azure File share (deprecated in-tree source).", [
    field("secretName", "string", "Secret holding the storage account name and key.", proto=1, required=True),
    field("shareName", "string", "Name of the share.", proto=2, required=True),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=3),
])


struct(PKG, "ConfigMapVolumeSource", "Populates a volume with the keys of a ConfigMap.", [
    field("name", "string", "Name of the ConfigMap.", proto=1, proto_embed=1),
    field("items", "[]KeyToPath", "Keys to project and their paths; all keys when empty.", proto=2, list_type="atomic"),
    field("defaultMode", "int32", "Permission bits applied to created files by default (octal 0644 is the default).", proto=3, default=420),
    field("optional", "bool", "Whether a missing object or key is tolerated instead of being an error.", proto=4),
    field("defaultUser", "int64", "Default numeric owner of created files.", proto=5),
])


struct(PKG, "VsphereVirtualDiskVolumeSource", "A vSphere virtual disk (deprecated in-tree source).", [
    field("volumePath", "string", "Path that identifies the vSphere volume.", proto=1, required=True),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=2),
    field("storagePolicyName", "string", "Storage policy based management profile name.", proto=3),
    field("storagePolicyID", "string", "Storage policy based management profile ID.", proto=4),
])


struct(PKG, "QuobyteVolumeSource", "A Quobyte mount (removed upstream; kept for compatibility).", [
    field("registry", "string", "Quobyte registry addresses (host:port, comma separated).", proto=1, required=True),
    field("volume", "string", "Name of the Quobyte volume.", proto=2, required=True),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=3),
    field("user", "string", "User to map volume access to.", proto=4),
    field("group", "string", "Group to map volume access to.", proto=5),
    field("tenant", "string", "Tenant owning the volume.", proto=6),
])


struct(PKG, "AzureDiskVolumeSource", "An Azure data disk (deprecated in-tree source).", [
    field("diskName", "string", "Name of the data disk in blob storage.", proto=1, required=True),
    field("diskURI", "string", "URI of the data disk in blob storage.", proto=2, required=True),
    field("cachingMode", "string", "Host caching mode: None, ReadOnly or ReadWrite.", proto=3, default="ReadWrite"),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=4, default="ext4"),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=5, default=False),
    field("kind", "string", "Disk kind: Shared, Dedicated or Managed.", proto=6, default="Shared"),
])


struct(PKG, "PhotonPersistentDiskVolumeSource", "A Photon Controller persistent disk (deprecated).", [
    field("pdID", "string", "ID of the Photon disk.", proto=1, required=True),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=2),
])


struct(PKG, "SecretProjection", "Projects the keys of a Secret into a projected volume.", [
    field("name", "string", "Name of the Secret.", proto=1, proto_embed=1),
    field("items", "[]KeyToPath", "Keys to project and their paths; all keys when empty.", proto=2, list_type="atomic"),
    field("optional", "bool", "Whether a missing object or key is tolerated instead of being an error.", proto=4),
])


struct(PKG, "DownwardAPIProjection", "Projects pod fields and resources into a projected volume.", [
    field("items", "[]DownwardAPIVolumeFile", "The files to create.", proto=1, list_type="atomic"),
])


struct(PKG, "ConfigMapProjection", "Projects the keys of a ConfigMap into a projected volume.", [
    field("name", "string", "Name of the ConfigMap.", proto=1, proto_embed=1),
    field("items", "[]KeyToPath", "Keys to project and their paths; all keys when empty.", proto=2, list_type="atomic"),
    field("optional", "bool", "Whether a missing object or key is tolerated instead of being an error.", proto=4),
])


struct(PKG, "ServiceAccountTokenProjection", "Projects a bound service account token into a projected volume.", [
    field("audience", "string", "Intended audience of the token; defaults to the API server's identifier.", proto=1),
    field("expirationSeconds", "int64", "Requested token lifetime in seconds (default 3600, at least 600).", proto=2, default=3600),
    field("path", "string", "Relative path of the token file.", proto=3, required=True),
    field("user", "int64", "Numeric owner for the projected file.", proto=4),
])


struct(PKG, "ClusterTrustBundleProjection", "Projects the certificates of matching ClusterTrustBundles into a file.", [
    field("name", "string", "Select a single ClusterTrustBundle by name.", proto=1),
    field("signerName", "string", "Select ClusterTrustBundles of this signer.", proto=2),
    field("labelSelector", "LabelSelector", "Select ClusterTrustBundles matching these labels (with signerName).", proto=3),
    field("optional", "bool", "Whether the pod may start when no bundle matches.", proto=5),
    field("path", "string", "Relative path of the file to write.", proto=4, required=True),
    field("user", "int64", "Numeric owner for the projected file.", proto=6),
])


struct(PKG, "PodCertificateProjection", "Projects a kubelet-generated private key and a signed certificate into a projected volume.", [
    field("signerName", "string", "Signer the kubelet's certificate requests are addressed to.", proto=1, required=True),
    field("keyType", "string", "Key algorithm to generate, e.g. RSA3072, ECDSAP256 or ED25519.", proto=2, required=True),
    field("maxExpirationSeconds", "int32", "Upper bound on the certificate lifetime.", proto=3),
    field("credentialBundlePath", "string", "Path of a single file holding the key followed by the certificate chain.", proto=4),
    field("keyPath", "string", "Path of the file holding only the private key.", proto=5),
    field("certificateChainPath", "string", "Path of the file holding only the certificate chain.", proto=6),
    field("userAnnotations", "map[string]string", "Free-form data passed through to the signer.", proto=7),
    field("user", "int64", "Numeric owner for the projected file.", proto=8),
])


struct(PKG, "VolumeProjection", "One source of a projected volume; exactly one field is set.", [
    field("secret", "SecretProjection", "Project a Secret.", proto=1),
    field("downwardAPI", "DownwardAPIProjection", "Project pod fields and resources.", proto=2),
    field("configMap", "ConfigMapProjection", "Project a ConfigMap.", proto=3),
    field("serviceAccountToken", "ServiceAccountTokenProjection", "Project a service account token.", proto=4),
    field("clusterTrustBundle", "ClusterTrustBundleProjection", "Project ClusterTrustBundle certificates.", proto=5),
    field("podCertificate", "PodCertificateProjection", "Project a pod certificate and its key.", proto=6),
])


struct(PKG, "ProjectedVolumeSource", "Combines several sources into one directory.", [
    field("sources", "[]VolumeProjection", "The sources to project.", proto=1, list_type="atomic"),
    field("defaultMode", "int32", "Permission bits applied to created files by default (octal 0644 is the default).", proto=2, default=420),
    field("defaultUser", "int64", "Default numeric owner of created files.", proto=3),
])


struct(PKG, "PortworxVolumeSource", "A Portworx volume (deprecated in-tree source).", [
    field("volumeID", "string", "Portworx volume ID.", proto=1, required=True),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=2),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=3),
])


struct(PKG, "ScaleIOVolumeSource", "A ScaleIO volume (removed upstream; kept for compatibility).", [
    field("gateway", "string", "Address of the ScaleIO API gateway.", proto=1, required=True),
    field("system", "string", "Name of the ScaleIO storage system.", proto=2, required=True),
    field("secretRef", "LocalObjectReference", "Reference to the Secret holding authentication data for this volume.", proto=3, required=True),
    field("sslEnabled", "bool", "Whether to talk to the gateway over SSL.", proto=4),
    field("protectionDomain", "string", "Name of the protection domain.", proto=5),
    field("storagePool", "string", "Name of the storage pool.", proto=6),
    field("storageMode", "string", "ThickProvisioned or ThinProvisioned (default).", proto=7, default="ThinProvisioned"),
    field("volumeName", "string", "Name of an existing ScaleIO volume.", proto=8),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=9, default="xfs"),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=10),
])


struct(PKG, "StorageOSVolumeSource", "A StorageOS volume (removed upstream; kept for compatibility).", [
    field("volumeName", "string", "Name of the StorageOS volume.", proto=1),
    field("volumeNamespace", "string", "StorageOS namespace of the volume.", proto=2),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=3),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=4),
    field("secretRef", "LocalObjectReference", "Reference to the Secret holding authentication data for this volume.", proto=5),
])


struct(PKG, "CSIVolumeSource", "An inline ephemeral volume provided by a CSI driver.", [
    field("driver", "string", "Name of the CSI driver.", proto=1, required=True),
    field("readOnly", "bool", "Whether the volume is read-only (default false).", proto=2),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=3),
    field("volumeAttributes", "map[string]string", "Driver-specific properties.", proto=4),
    field("nodePublishSecretRef", "LocalObjectReference", "Secret passed to the driver's NodePublishVolume calls.", proto=5),
])


struct(PKG, "VolumeResourceRequirements", "Storage requested for a volume claim.", [
    field("limits", "map[string]Quantity", "Maximum resources allowed.", proto=1),
    field("requests", "map[string]Quantity", "Minimum resources required.", proto=2),
])


struct(PKG, "TypedLocalObjectReference", "Refers to an object of a given kind in the same namespace.", [
    field("apiGroup", "string", "API group of the referent; empty for the core group.", proto=1),
    field("kind", "string", "Kind of the referent.", proto=2, required=True),
    field("name", "string", "Name of the referent.", proto=3, required=True),
], map_type="atomic")


struct(PKG, "TypedObjectReference", "Refers to an object of a given kind, possibly in another namespace.", [
    field("apiGroup", "string", "API group of the referent; empty for the core group.", proto=1),
    field("kind", "string", "Kind of the referent.", proto=2, required=True),
    field("name", "string", "Name of the referent.", proto=3, required=True),
    field("namespace", "string", "Namespace of the referent, when it differs from the referrer's.", proto=4),
])


struct(PKG, "PersistentVolumeClaimSpec", "The storage a claim asks for.", [
    field("accessModes", "[]string", "Access modes the volume must support, e.g. ReadWriteOnce.", proto=1, list_type="atomic"),
    field("selector", "LabelSelector", "Label query over volumes to bind to.", proto=4),
    field("resources", "VolumeResourceRequirements", "Minimum (and maximum) storage requested.", proto=2),
    field("volumeName", "string", "Name of the PersistentVolume to bind to.", proto=3),
    field("storageClassName", "string", "StorageClass to provision from; empty string means no class.", proto=5),
    field("volumeMode", "string", "Filesystem (default) or Block.", proto=6, default="Filesystem"),
    field("dataSource", "TypedLocalObjectReference", "Existing object (snapshot or claim) to populate the volume from.", proto=7),
    field("dataSourceRef", "TypedObjectReference", "Object to populate the volume from, possibly a custom populator or another namespace.", proto=8),
    field("volumeAttributesClassName", "string", "VolumeAttributesClass the claim asks for.", proto=9),
])


struct(PKG, "PersistentVolumeClaimTemplate", "Template of a claim created for a generic ephemeral volume.", [
    field("metadata", "ObjectMeta", "Labels and annotations copied onto the created claim.", proto=1),
    field("spec", "PersistentVolumeClaimSpec", "Spec of the created claim.", proto=2, required=True),
])


struct(PKG, "EphemeralVolumeSource", "A volume backed by a per-pod PersistentVolumeClaim that lives with the pod.", [
    field("volumeClaimTemplate", "PersistentVolumeClaimTemplate", "Template used to create the claim.", proto=1),
])


struct(PKG, "ImageVolumeSource", "Mounts the content of an OCI image or artifact.", [
    field("reference", "string", "Image or artifact reference to pull.", proto=1),
    field("pullPolicy", "string", "When to pull: Always, Never or IfNotPresent.", proto=2),
])


struct(PKG, "Volume", "A named volume that the pod's containers can mount.", [
    field("name", "string", "Volume name, a DNS label unique within the pod.", proto=1, required=True),
    field("hostPath", "HostPathVolumeSource", "A path on the node.", proto=1, proto_embed=2),
    field("emptyDir", "EmptyDirVolumeSource", "A temporary directory that lives with the pod.", proto=2, proto_embed=2),
    field("gcePersistentDisk", "GCEPersistentDiskVolumeSource", "A GCE persistent disk.", proto=3, proto_embed=2),
    field("awsElasticBlockStore", "AWSElasticBlockStoreVolumeSource", "An AWS EBS disk.", proto=4, proto_embed=2),
    field("gitRepo", "GitRepoVolumeSource", "A git repository checked out at pod start.", proto=5, proto_embed=2),
    field("secret", "SecretVolumeSource", "The keys of a Secret.", proto=6, proto_embed=2),
    field("nfs", "NFSVolumeSource", "An NFS export.", proto=7, proto_embed=2),
    field("iscsi", "ISCSIVolumeSource", "An iSCSI disk.", proto=8, proto_embed=2),
    field("glusterfs", "GlusterfsVolumeSource", "A GlusterFS mount.", proto=9, proto_embed=2),
    field("persistentVolumeClaim", "PersistentVolumeClaimVolumeSource", "The volume bound to a claim.", proto=10, proto_embed=2),
    field("rbd", "RBDVolumeSource", "A Ceph block device.", proto=11, proto_embed=2),
    field("flexVolume", "FlexVolumeSource", "A FlexVolume driver.", proto=12, proto_embed=2),
    field("cinder", "CinderVolumeSource", "An OpenStack Cinder volume.", proto=13, proto_embed=2),
    field("cephfs", "CephFSVolumeSource", "A CephFS mount.", proto=14, proto_embed=2),
    field("flocker", "FlockerVolumeSource", "A Flocker dataset.", proto=15, proto_embed=2),
    field("downwardAPI", "DownwardAPIVolumeSource", "Pod fields and resources as files.", proto=16, proto_embed=2),
    field("fc", "FCVolumeSource", "A Fibre Channel disk.", proto=17, proto_embed=2),
    field("azureFile", "AzureFileVolumeSource", "An Azure File share.", proto=18, proto_embed=2),
    field("configMap", "ConfigMapVolumeSource", "The keys of a ConfigMap.", proto=19, proto_embed=2),
    field("vsphereVolume", "VsphereVirtualDiskVolumeSource", "A vSphere virtual disk.", proto=20, proto_embed=2),
    field("quobyte", "QuobyteVolumeSource", "A Quobyte mount.", proto=21, proto_embed=2),
    field("azureDisk", "AzureDiskVolumeSource", "An Azure data disk.", proto=22, proto_embed=2),
    field("photonPersistentDisk", "PhotonPersistentDiskVolumeSource", "A Photon Controller disk.", proto=23, proto_embed=2),
    field("projected", "ProjectedVolumeSource", "Several sources combined into one directory.", proto=26, proto_embed=2),
    field("portworxVolume", "PortworxVolumeSource", "A Portworx volume.", proto=24, proto_embed=2),
    field("scaleIO", "ScaleIOVolumeSource", "A ScaleIO volume.", proto=25, proto_embed=2),
    field("storageos", "StorageOSVolumeSource", "A StorageOS volume.", proto=27, proto_embed=2),
    field("csi", "CSIVolumeSource", "An inline CSI volume.", proto=28, proto_embed=2),
    field("ephemeral", "EphemeralVolumeSource", "A per-pod claim created and deleted with the pod.", proto=29, proto_embed=2),
    field("image", "ImageVolumeSource", "An OCI image or artifact.", proto=30, proto_embed=2),
])


struct(PKG, "ContainerPort", "A network port a container exposes.", [
    field("name", "string", "Port name, an IANA service name unique within the pod.", proto=1),
    field("hostPort", "int32", "Port to expose on the host.", proto=2),
    field("containerPort", "int32", "Port number on the pod's IP.", proto=3, required=True),
    field("protocol", "string", "TCP (default), UDP or SCTP.", proto=4, default="TCP"),
    field("hostIP", "string", "Host IP to bind the host port to.", proto=5),
])


struct(PKG, "ConfigMapEnvSource", "Imports every key of a ConfigMap as environment variables.", [
    field("name", "string", "Name of the ConfigMap.", proto=1, proto_embed=1),
    field("optional", "bool", "Whether a missing object or key is tolerated instead of being an error.", proto=2),
])


struct(PKG, "SecretEnvSource", "Imports every key of a Secret as environment variables.", [
    field("name", "string", "Name of the Secret.", proto=1, proto_embed=1),
    field("optional", "bool", "Whether a missing object or key is tolerated instead of being an error.", proto=2),
])


struct(PKG, "EnvFromSource", "A source of many environment variables.", [
    field("prefix", "string", "String prepended to every imported variable name.", proto=1),
    field("configMapRef", "ConfigMapEnvSource", "ConfigMap to import.", proto=2),
    field("secretRef", "SecretEnvSource", "Secret to import.", proto=3),
])


struct(PKG, "ConfigMapKeySelector", "Selects one key of a ConfigMap.", [
    field("name", "string", "Name of the ConfigMap.", proto=1, proto_embed=1),
    field("key", "string", "The key to select.", proto=2, required=True),
    field("optional", "bool", "Whether a missing object or key is tolerated instead of being an error.", proto=3),
], map_type="atomic")


struct(PKG, "SecretKeySelector", "Selects one key of a Secret.", [
    field("name", "string", "Name of the Secret.", proto=1, proto_embed=1),
    field("key", "string", "The key to select.", proto=2, required=True),
    field("optional", "bool", "Whether a missing object or key is tolerated instead of being an error.", proto=3),
], map_type="atomic")


struct(PKG, "FileKeySelector", "Selects one key of an env file in a volume.", [
    field("volumeName", "string", "Volume containing the env file.", proto=1, required=True),
    field("path", "string", "Relative path of the env file in the volume.", proto=2, required=True),
    field("key", "string", "The key to read from the file.", proto=3, required=True),
    field("optional", "bool", "Whether a missing object or key is tolerated instead of being an error.", proto=4),
], map_type="atomic")


struct(PKG, "EnvVarSource", "Where an environment variable's value comes from.", [
    field("fieldRef", "ObjectFieldSelector", "A pod field, e.g. metadata.name or status.podIP.", proto=1),
    field("resourceFieldRef", "ResourceFieldSelector", "A container resource limit or request.", proto=2),
    field("configMapKeyRef", "ConfigMapKeySelector", "A key of a ConfigMap.", proto=3),
    field("secretKeyRef", "SecretKeySelector", "A key of a Secret.", proto=4),
    field("fileKeyRef", "FileKeySelector", "A key of an env file in a volume.", proto=5),
])


struct(PKG, "EnvVar", "One environment variable of a container.", [
    field("name", "string", "Variable name.", proto=1, required=True),
    field("value", "string", "Literal value; $(VAR) references to earlier variables are expanded.", proto=2),
    field("valueFrom", "EnvVarSource", "Source of the value when value is not given.", proto=3),
])


struct(PKG, "ResourceClaim", "Names one of the pod's resource claims for a container to use.", [
    field("name", "string", "Name of an entry in the pod's spec.resourceClaims.", proto=1, required=True),
    field("request", "string", "Single request within the claim to use; the whole claim when empty.", proto=2),
])


struct(PKG, "ResourceRequirements", "Compute resources of a container (or a pod).", [
    field("limits", "map[string]Quantity", "Maximum amount of each resource allowed.", proto=1),
    field("requests", "map[string]Quantity", "Minimum amount of each resource required, used for scheduling.", proto=2),
    field("claims", "[]ResourceClaim", "Dynamically allocated resources (from spec.resourceClaims) this container uses.", proto=3, list_type="map", list_map_keys=("name",)),
])


struct(PKG, "ContainerResizePolicy", "How a container reacts when a resource is resized in place.", [
    field("resourceName", "string", "Resource the policy applies to, e.g. cpu or memory.", proto=1, required=True),
    field("restartPolicy", "string", "NotRequired (default) or RestartContainer.", proto=2, required=True),
])


struct(PKG, "ContainerRestartRuleOnExitCodes", "Matches container exits by exit code.", [
    field("operator", "string", "In or NotIn.", proto=1, required=True),
    field("values", "[]int32", "The exit codes to compare with.", proto=2, list_type="set"),
])


struct(PKG, "ContainerRestartRule", "A rule deciding whether an exited container is restarted.", [
    field("action", "string", "What to do when the rule matches; only Restart is defined.", proto=1, required=True),
    field("exitCodes", "ContainerRestartRuleOnExitCodes", "Exit codes the rule matches.", proto=2),
])


struct(PKG, "VolumeMount", "Mounts a volume into a container.", [
    field("name", "string", "Name of the pod volume to mount.", proto=1, required=True),
    field("readOnly", "bool", "Mount read-only (default false).", proto=2),
    field("recursiveReadOnly", "string", "Whether read-only applies recursively to sub-mounts: Disabled, IfPossible or Enabled.", proto=7),
    field("mountPath", "string", "Path inside the container to mount at.", proto=3, required=True),
    field("subPath", "string", "Path within the volume to mount instead of its root.", proto=4),
    field("mountPropagation", "string", "How mounts propagate between host and container: None, HostToContainer or Bidirectional.", proto=5),
    field("subPathExpr", "string", "Like subPath, with $(VAR) environment references expanded.", proto=6),
    field("bindMountOptions", "[]string", "Extra options for the bind mount.", proto=8, list_type="set"),
])


struct(PKG, "VolumeDevice", "Maps a raw block volume to a device path in the container.", [
    field("name", "string", "Name of the pod's PersistentVolumeClaim volume.", proto=1, required=True),
    field("devicePath", "string", "Device path inside the container.", proto=2, required=True),
])


struct(PKG, "ExecAction", "Runs a command inside the container.", [
    field("command", "[]string", "Command line to run; not run in a shell, exit status 0 means success.", proto=1, list_type="atomic"),
])


struct(PKG, "HTTPHeader", "A custom HTTP header for a probe.", [
    field("name", "string", "Header name.", proto=1, required=True),
    field("value", "string", "Header value.", proto=2, required=True),
])


struct(PKG, "HTTPGetAction", "Performs an HTTP GET request.", [
    field("path", "string", "Path to request.", proto=1, default="/"),
    field("port", "IntOrString", "Port number or name to connect to.", proto=2, required=True),
    field("host", "string", "Host to connect to; defaults to the pod IP.", proto=3),
    field("scheme", "string", "HTTP (default) or HTTPS.", proto=4, default="HTTP"),
    field("httpHeaders", "[]HTTPHeader", "Extra request headers.", proto=5, list_type="atomic"),
    field("protocol", "string", "HTTP protocol version to use.", proto=6),
])


struct(PKG, "TCPSocketAction", "Opens a TCP connection.", [
    field("port", "IntOrString", "Port number or name to connect to.", proto=1, required=True),
    field("host", "string", "Host to connect to; defaults to the pod IP.", proto=2),
])


struct(PKG, "GRPCAction", "Calls the gRPC health checking service.", [
    field("port", "int32", "Port number of the gRPC service.", proto=1, required=True),
    field("service", "string", "Service name sent in the health check request.", proto=2),
    field("mode", "string", "How the health check is performed.", proto=3),
])


struct(PKG, "Probe", "A periodic health check of a container.", [
    field("exec", "ExecAction", "Run a command in the container.", proto=1, proto_embed=1),
    field("httpGet", "HTTPGetAction", "Send an HTTP GET request.", proto=2, proto_embed=1),
    field("tcpSocket", "TCPSocketAction", "Open a TCP connection.", proto=3, proto_embed=1),
    field("grpc", "GRPCAction", "Call the gRPC health service.", proto=4, proto_embed=1),
    field("initialDelaySeconds", "int32", "Seconds after container start before the first probe.", proto=2),
    field("timeoutSeconds", "int32", "Seconds after which a probe times out (default 1).", proto=3, default=1),
    field("periodSeconds", "int32", "Seconds between probes (default 10).", proto=4, default=10),
    field("successThreshold", "int32", "Consecutive successes needed after a failure (default 1).", proto=5, default=1),
    field("failureThreshold", "int32", "Consecutive failures that count as failed (default 3).", proto=6, default=3),
    field("terminationGracePeriodSeconds", "int64", "Grace period used when a failed probe kills the container.", proto=7),
])


struct(PKG, "SleepAction", "Waits for a while.", [
    field("seconds", "int64", "Number of seconds to sleep.", proto=1, required=True),
])


struct(PKG, "LifecycleHandler", "An action run at a container lifecycle event; exactly one field is set.", [
    field("exec", "ExecAction", "Run a command in the container.", proto=1),
    field("httpGet", "HTTPGetAction", "Send an HTTP GET request.", proto=2),
    field("tcpSocket", "TCPSocketAction", "Deprecated; accepted but not run.", proto=3),
    field("sleep", "SleepAction", "Sleep for a while.", proto=4),
])


struct(PKG, "Lifecycle", "Actions the kubelet runs around a container's lifetime.", [
    field("postStart", "LifecycleHandler", "Run right after the container is created.", proto=1),
    field("preStop", "LifecycleHandler", "Run before the container is stopped.", proto=2),
    field("stopSignal", "string", "Signal sent to stop the container; runtime default when unset.", proto=3),
])


struct(PKG, "Capabilities", "Linux capabilities to add to or drop from a container.", [
    field("add", "[]string", "Capabilities to add.", proto=1, list_type="atomic"),
    field("drop", "[]string", "Capabilities to remove.", proto=2, list_type="atomic"),
])


struct(PKG, "SELinuxOptions", "SELinux labels applied to a container.", [
    field("user", "string", "SELinux user label.", proto=1),
    field("role", "string", "SELinux role label.", proto=2),
    field("type", "string", "SELinux type label.", proto=3),
    field("level", "string", "SELinux level label.", proto=4),
])


struct(PKG, "WindowsSecurityContextOptions", "Windows-specific security settings.", [
    field("gmsaCredentialSpecName", "string", "Name of the GMSA credential spec to use.", proto=1),
    field("gmsaCredentialSpec", "string", "Inlined GMSA credential spec contents.", proto=2),
    field("runAsUserName", "string", "Windows user name to run the entrypoint as.", proto=3),
    field("hostProcess", "bool", "Whether to run as a Windows HostProcess container.", proto=4),
])


struct(PKG, "SeccompProfile", "The seccomp profile applied to a container or pod.", [
    field("type", "string", "Kind of profile: RuntimeDefault, Unconfined or Localhost.", proto=1, required=True),
    field("localhostProfile", "string", "Path of a profile preloaded on the node, used with type Localhost.", proto=2),
])


struct(PKG, "AppArmorProfile", "The AppArmor profile applied to a container or pod.", [
    field("type", "string", "Kind of profile: RuntimeDefault, Unconfined or Localhost.", proto=1, required=True),
    field("localhostProfile", "string", "Path of a profile preloaded on the node, used with type Localhost.", proto=2),
])


struct(PKG, "SecurityContext", "Security settings of a container; they override the pod's where both are set.", [
    field("capabilities", "Capabilities", "Capabilities to add or drop.", proto=1),
    field("privileged", "bool", "Run the container privileged (like root on the host).", proto=2),
    field("seLinuxOptions", "SELinuxOptions", "SELinux context of the container.", proto=3),
    field("windowsOptions", "WindowsSecurityContextOptions", "Windows-specific settings.", proto=10),
    field("runAsUser", "int64", "UID to run the entrypoint as.", proto=4),
    field("runAsGroup", "int64", "GID to run the entrypoint as.", proto=8),
    field("runAsNonRoot", "bool", "Refuse to start the container if it would run as UID 0.", proto=5),
    field("readOnlyRootFilesystem", "bool", "Mount the container's root filesystem read-only.", proto=6),
    field("allowPrivilegeEscalation", "bool", "Whether a process may gain more privileges than its parent (no_new_privs).", proto=7),
    field("procMount", "string", "Proc mount type: Default or Unmasked.", proto=9),
    field("seccompProfile", "SeccompProfile", "Seccomp profile of the container.", proto=11),
    field("appArmorProfile", "AppArmorProfile", "AppArmor profile of the container.", proto=12),
])


struct(PKG, "Container", "One application container of a pod.", [
    field("name", "string", "Container name, a DNS label unique within the pod.", proto=1, required=True),
    field("image", "string", "Container image reference.", proto=2),
    field("command", "[]string", "Entrypoint array, replacing the image's ENTRYPOINT; not run in a shell.", proto=3, list_type="atomic"),
    field("args", "[]string", "Arguments to the entrypoint, replacing the image's CMD.", proto=4, list_type="atomic"),
    field("workingDir", "string", "Working directory; the image's default when unset.", proto=5),
    field("ports", "[]ContainerPort", "Ports the container exposes (informational).", proto=6, merge_key="containerPort", patch_strategy="merge", list_type="map", list_map_keys=("containerPort", "protocol")),
    field("envFrom", "[]EnvFromSource", "Sources of many environment variables; explicit env entries win.", proto=19, list_type="atomic"),
    field("env", "[]EnvVar", "Environment variables to set.", proto=7, merge_key="name", patch_strategy="merge", list_type="map"),
    field("resources", "ResourceRequirements", "Compute resources the container requests and is limited to.", proto=8),
    field("resizePolicy", "[]ContainerResizePolicy", "How in-place resizes of each resource are applied.", proto=23, list_type="atomic"),
    field("restartPolicy", "string", "Per-container restart policy; Always makes an init container a sidecar.", proto=24),
    field("restartPolicyRules", "[]ContainerRestartRule", "Rules deciding whether an exited container restarts, checked in order.", proto=25, list_type="atomic"),
    field("volumeMounts", "[]VolumeMount", "Volumes to mount into the filesystem.", proto=9, merge_key="mountPath", patch_strategy="merge", list_type="map"),
    field("volumeDevices", "[]VolumeDevice", "Block devices the container uses.", proto=21, merge_key="devicePath", patch_strategy="merge", list_type="map"),
    field("livenessProbe", "Probe", "Probe whose failure restarts the container.", proto=10),
    field("readinessProbe", "Probe", "Probe deciding whether the container receives Service traffic.", proto=11),
    field("startupProbe", "Probe", "Probe that must succeed before the other probes start.", proto=22),
    field("lifecycle", "Lifecycle", "Actions run at container start and stop.", proto=12),
    field("terminationMessagePath", "string", "File whose contents become the termination message (default /dev/termination-log).", proto=13, default="/dev/termination-log"),
    field("terminationMessagePolicy", "string", "File (default) or FallbackToLogsOnError.", proto=20, default="File"),
    field("imagePullPolicy", "string", "Always, Never or IfNotPresent; Always for :latest images, else IfNotPresent.", proto=14),
    field("securityContext", "SecurityContext", "Security settings of the container.", proto=15),
    field("stdin", "bool", "Allocate a stdin buffer for the container.", proto=16),
    field("stdinOnce", "bool", "Close stdin after the first attach disconnects.", proto=17),
    field("tty", "bool", "Allocate a TTY for the container.", proto=18),
])


struct(PKG, "EphemeralContainer", "A temporary container added to a running pod, e.g. for debugging.", [
    field("name", "string", "Container name, a DNS label unique within the pod.", proto=1, proto_embed=1, required=True),
    field("image", "string", "Container image reference.", proto=2, proto_embed=1),
    field("command", "[]string", "Entrypoint array, replacing the image's ENTRYPOINT; not run in a shell.", proto=3, proto_embed=1, list_type="atomic"),
    field("args", "[]string", "Arguments to the entrypoint, replacing the image's CMD.", proto=4, proto_embed=1, list_type="atomic"),
    field("workingDir", "string", "Working directory; the image's default when unset.", proto=5, proto_embed=1),
    field("ports", "[]ContainerPort", "Ports the container exposes (informational).", proto=6, proto_embed=1, merge_key="containerPort", patch_strategy="merge", list_type="map", list_map_keys=("containerPort", "protocol")),
    field("envFrom", "[]EnvFromSource", "Sources of many environment variables; explicit env entries win.", proto=19, proto_embed=1, list_type="atomic"),
    field("env", "[]EnvVar", "Environment variables to set.", proto=7, proto_embed=1, merge_key="name", patch_strategy="merge", list_type="map"),
    field("resources", "ResourceRequirements", "Compute resources the container requests and is limited to.", proto=8, proto_embed=1),
    field("resizePolicy", "[]ContainerResizePolicy", "How in-place resizes of each resource are applied.", proto=23, proto_embed=1, list_type="atomic"),
    field("restartPolicy", "string", "Per-container restart policy; Always makes an init container a sidecar.", proto=24, proto_embed=1),
    field("restartPolicyRules", "[]ContainerRestartRule", "Rules deciding whether an exited container restarts, checked in order.", proto=25, proto_embed=1, list_type="atomic"),
    field("volumeMounts", "[]VolumeMount", "Volumes to mount into the filesystem.", proto=9, proto_embed=1, merge_key="mountPath", patch_strategy="merge", list_type="map"),
    field("volumeDevices", "[]VolumeDevice", "Block devices the container uses.", proto=21, proto_embed=1, merge_key="devicePath", patch_strategy="merge", list_type="map"),
    field("livenessProbe", "Probe", "Probe whose failure restarts the container.", proto=10, proto_embed=1),
    field("readinessProbe", "Probe", "Probe deciding whether the container receives Service traffic.", proto=11, proto_embed=1),
    field("startupProbe", "Probe", "Probe that must succeed before the other probes start.", proto=22, proto_embed=1),
    field("lifecycle", "Lifecycle", "Actions run at container start and stop.", proto=12, proto_embed=1),
    field("terminationMessagePath", "string", "File whose contents become the termination message (default /dev/termination-log).", proto=13, proto_embed=1, default="/dev/termination-log"),
    field("terminationMessagePolicy", "string", "File (default) or FallbackToLogsOnError.", proto=20, proto_embed=1, default="File"),
    field("imagePullPolicy", "string", "Always, Never or IfNotPresent; Always for :latest images, else IfNotPresent.", proto=14, proto_embed=1),
    field("securityContext", "SecurityContext", "Security settings of the container.", proto=15, proto_embed=1),
    field("stdin", "bool", "Allocate a stdin buffer for the container.", proto=16, proto_embed=1),
    field("stdinOnce", "bool", "Close stdin after the first attach disconnects.", proto=17, proto_embed=1),
    field("tty", "bool", "Allocate a TTY for the container.", proto=18, proto_embed=1),
    field("targetContainerName", "string", "Container whose namespaces (like PID) the ephemeral container joins.", proto=2),
])


struct(PKG, "Sysctl", "A kernel parameter set for the pod.", [
    field("name", "string", "Name of the parameter.", proto=1, required=True),
    field("value", "string", "Value to set.", proto=2, required=True),
])


struct(PKG, "PodSecurityContext", "Security settings for every container of a pod.", [
    field("seLinuxOptions", "SELinuxOptions", "SELinux context for all containers.", proto=1),
    field("windowsOptions", "WindowsSecurityContextOptions", "Windows-specific settings for all containers.", proto=8),
    field("runAsUser", "int64", "UID to run entrypoints as.", proto=2),
    field("runAsGroup", "int64", "GID to run entrypoints as.", proto=6),
    field("runAsNonRoot", "bool", "Refuse to start containers that would run as UID 0.", proto=3),
    field("supplementalGroups", "[]int64", "Extra groups for each container's first process.", proto=4, list_type="atomic"),
    field("supplementalGroupsPolicy", "string", "Merge (default) or Strict handling of the image's groups.", proto=12),
    field("fsGroup", "int64", "Group that owns volumes and is added to every container.", proto=5),
    field("sysctls", "[]Sysctl", "Namespaced kernel parameters for the pod.", proto=7, list_type="atomic"),
    field("fsGroupChangePolicy", "string", "OnRootMismatch or Always: when volume ownership is changed.", proto=9),
    field("seccompProfile", "SeccompProfile", "Seccomp profile for all containers.", proto=10),
    field("appArmorProfile", "AppArmorProfile", "AppArmor profile for all containers.", proto=11),
    field("seLinuxChangePolicy", "string", "MountOption or Recursive: how SELinux labels are applied to volumes.", proto=13),
])


struct(PKG, "NodeSelectorRequirement", "One condition on a node's labels or fields.", [
    field("key", "string", "Label or field key the condition applies to.", proto=1, required=True),
    field("operator", "string", "In, NotIn, Exists, DoesNotExist, Gt or Lt.", proto=2, required=True),
    field("values", "[]string", "Values to compare with; a single integer for Gt and Lt, empty for Exists and DoesNotExist.", proto=3, list_type="atomic"),
])


struct(PKG, "NodeSelectorTerm", "Conditions that must all hold for a node to match.", [
    field("matchExpressions", "[]NodeSelectorRequirement", "Conditions on node labels.", proto=1, list_type="atomic"),
    field("matchFields", "[]NodeSelectorRequirement", "Conditions on node fields.", proto=2, list_type="atomic"),
], map_type="atomic")


struct(PKG, "NodeSelector", "Nodes matching any one of the terms.", [
    field("nodeSelectorTerms", "[]NodeSelectorTerm", "The terms; a node matching any of them is selected.", proto=1, required=True, list_type="atomic"),
], map_type="atomic")


struct(PKG, "PreferredSchedulingTerm", "A weighted node preference.", [
    field("weight", "int32", "Weight from 1 to 100.", proto=1, required=True),
    field("preference", "NodeSelectorTerm", "The node selector term to prefer.", proto=2, required=True),
])


struct(PKG, "NodeAffinity", "Scheduling rules about which nodes a pod runs on.", [
    field("requiredDuringSchedulingIgnoredDuringExecution", "NodeSelector", "Nodes the pod must be scheduled on.", proto=1),
    field("preferredDuringSchedulingIgnoredDuringExecution", "[]PreferredSchedulingTerm", "Nodes the scheduler prefers, by summed weight.", proto=2, list_type="atomic"),
])


struct(PKG, "PodAffinityTerm", "Pods (by labels and namespaces) the term relates to within a topology domain.", [
    field("labelSelector", "LabelSelector", "Label query over pods.", proto=1),
    field("namespaces", "[]string", "Namespaces to search; the pod's own when empty and no selector is given.", proto=2, list_type="atomic"),
    field("topologyKey", "string", "Node label whose value defines the co-location domain.", proto=3, required=True),
    field("namespaceSelector", "LabelSelector", "Label query over namespaces to search.", proto=4),
    field("matchLabelKeys", "[]string", "Label keys whose incoming pod values are added to the selector as In conditions.", proto=5, list_type="atomic"),
    field("mismatchLabelKeys", "[]string", "Label keys whose incoming pod values are added to the selector as NotIn conditions.", proto=6, list_type="atomic"),
])


struct(PKG, "WeightedPodAffinityTerm", "A pod affinity term with a weight.", [
    field("weight", "int32", "Weight from 1 to 100.", proto=1, required=True),
    field("podAffinityTerm", "PodAffinityTerm", "The affinity term.", proto=2, required=True),
])


struct(PKG, "PodAffinity", "Rules that co-locate a pod with other pods.", [
    field("requiredDuringSchedulingIgnoredDuringExecution", "[]PodAffinityTerm", "Terms that must all be satisfied at scheduling time.", proto=1, list_type="atomic"),
    field("preferredDuringSchedulingIgnoredDuringExecution", "[]WeightedPodAffinityTerm", "Terms the scheduler prefers, by summed weight.", proto=2, list_type="atomic"),
])


struct(PKG, "PodAntiAffinity", "Rules that keep a pod away from other pods.", [
    field("requiredDuringSchedulingIgnoredDuringExecution", "[]PodAffinityTerm", "Terms that must all be satisfied at scheduling time.", proto=1, list_type="atomic"),
    field("preferredDuringSchedulingIgnoredDuringExecution", "[]WeightedPodAffinityTerm", "Terms the scheduler prefers, by summed weight.", proto=2, list_type="atomic"),
])


struct(PKG, "Affinity", "Node, pod and pod-anti affinity scheduling rules.", [
    field("nodeAffinity", "NodeAffinity", "Rules about which nodes to run on.", proto=1),
    field("podAffinity", "PodAffinity", "Rules co-locating the pod with other pods.", proto=2),
    field("podAntiAffinity", "PodAntiAffinity", "Rules keeping the pod away from other pods.", proto=3),
])


struct(PKG, "Toleration", "Allows a pod onto nodes with a matching taint.", [
    field("key", "string", "Taint key to match; empty with Exists matches every taint.", proto=1),
    field("operator", "string", "Exists or Equal (default).", proto=2),
    field("value", "string", "Taint value to match with Equal.", proto=3),
    field("effect", "string", "Taint effect to match; all effects when empty.", proto=4),
    field("tolerationSeconds", "int64", "For NoExecute taints, how long the pod stays bound after the taint appears.", proto=5),
])


struct(PKG, "HostAlias", "An extra entry for the pod's /etc/hosts.", [
    field("ip", "string", "IP address of the entry.", proto=1, required=True),
    field("hostnames", "[]string", "Host names for the IP.", proto=2, list_type="atomic"),
])


struct(PKG, "PodDNSConfigOption", "One resolver option.", [
    field("name", "string", "Option name.", proto=1),
    field("value", "string", "Option value.", proto=2),
])


struct(PKG, "PodDNSConfig", "DNS settings merged into the pod's resolv.conf.", [
    field("nameservers", "[]string", "Extra DNS server IPs.", proto=1, list_type="atomic"),
    field("searches", "[]string", "Extra search domains.", proto=2, list_type="atomic"),
    field("options", "[]PodDNSConfigOption", "Extra resolver options.", proto=3, list_type="atomic"),
])


struct(PKG, "PodReadinessGate", "An extra condition that must be true for the pod to be ready.", [
    field("conditionType", "string", "Type of the pod condition to check.", proto=1, required=True),
])


struct(PKG, "TopologySpreadConstraint", "How evenly matching pods are spread over a topology.", [
    field("maxSkew", "int32", "Largest allowed difference in matching pods between domains.", proto=1, required=True),
    field("topologyKey", "string", "Node label whose values define the domains.", proto=2, required=True),
    field("whenUnsatisfiable", "string", "DoNotSchedule or ScheduleAnyway.", proto=3, required=True),
    field("labelSelector", "LabelSelector", "Pods counted in each domain.", proto=4),
    field("minDomains", "int32", "Minimum number of eligible domains.", proto=5),
    field("nodeAffinityPolicy", "string", "Honor (default) or Ignore the pod's node affinity when counting.", proto=6),
    field("nodeTaintsPolicy", "string", "Honor or Ignore (default) node taints when counting.", proto=7),
    field("matchLabelKeys", "[]string", "Label keys whose incoming pod values narrow the counted pods.", proto=8, list_type="atomic"),
])


struct(PKG, "PodOS", "The operating system the pod's containers need.", [
    field("name", "string", "Operating system name: linux or windows.", proto=1, required=True),
])


struct(PKG, "PodSchedulingGate", "A gate that blocks scheduling while present.", [
    field("name", "string", "Name of the gate, unique within the pod.", proto=1, required=True),
])


struct(PKG, "PodResourceClaim", "A resource claim the pod uses, by name or from a template.", [
    field("name", "string", "Name of this entry, referenced from container resources.claims.", proto=1, required=True),
    field("resourceClaimName", "string", "Name of an existing ResourceClaim.", proto=3),
    field("resourceClaimTemplateName", "string", "Name of a ResourceClaimTemplate to create a claim from.", proto=4),
])


struct(PKG, "PodSchedulingGroup", "The scheduling group a pod belongs to.", [
    field("podGroupName", "string", "Name of the PodGroup the pod belongs to.", proto=1),
])


struct(PKG, "EvictionResponder", "A party that reacts to evictions of the pod.", [
    field("name", "string", "Domain-prefixed name of the responder.", proto=1, required=True),
    field("priority", "int32", "Responders with higher priority are asked first.", proto=2, required=True),
], map_type="atomic")


struct(PKG, "PodSpec", "Desired state of a pod: its containers, volumes and scheduling constraints.", [
    field("volumes", "[]Volume", "Volumes the containers can mount.", proto=1, merge_key="name", patch_strategy="merge,retainKeys", list_type="map"),
    field("initContainers", "[]Container", "Containers run one after another before the app containers start.", proto=20, merge_key="name", patch_strategy="merge", list_type="map"),
    field("containers", "[]Container", "Application containers of the pod; at least one.", proto=2, required=True, merge_key="name", patch_strategy="merge", list_type="map"),
    field("ephemeralContainers", "[]EphemeralContainer", "Temporary containers added to the running pod.", proto=34, merge_key="name", patch_strategy="merge", list_type="map"),
    field("restartPolicy", "string", "Always (default), OnFailure or Never.", proto=3, default="Always"),
    field("terminationGracePeriodSeconds", "int64", "Seconds allowed for graceful termination (default 30).", proto=4, default=30),
    field("activeDeadlineSeconds", "int64", "Seconds the pod may be active before it is failed.", proto=5),
    field("dnsPolicy", "string", "ClusterFirst (default), ClusterFirstWithHostNet, Default or None.", proto=6, default="ClusterFirst"),
    field("nodeSelector", "map[string]string", "Labels a node must have for the pod to be scheduled on it.", proto=7, map_type="atomic"),
    field("serviceAccountName", "string", "Service account the pod runs as.", proto=8),
    field("serviceAccount", "string", "Deprecated alias of serviceAccountName.", proto=9),
    field("automountServiceAccountToken", "bool", "Whether an API token is mounted automatically.", proto=21),
    field("nodeName", "string", "Node the pod is bound to; set by the scheduler.", proto=10),
    field("hostNetwork", "bool", "Use the host's network namespace.", proto=11),
    field("hostPID", "bool", "Use the host's PID namespace.", proto=12),
    field("hostIPC", "bool", "Use the host's IPC namespace.", proto=13),
    field("shareProcessNamespace", "bool", "Share one PID namespace between all containers.", proto=27),
    field("securityContext", "PodSecurityContext", "Pod-level security settings.", proto=14, default={}),
    field("imagePullSecrets", "[]LocalObjectReference", "Secrets used to pull images.", proto=15, merge_key="name", patch_strategy="merge", list_type="map"),
    field("hostname", "string", "Hostname of the pod; the pod name when unset.", proto=16),
    field("subdomain", "string", "Subdomain giving the pod a DNS name under a headless Service.", proto=17),
    field("affinity", "Affinity", "Scheduling affinity rules.", proto=18),
    field("schedulerName", "string", "Scheduler responsible for the pod (default default-scheduler).", proto=19, default="default-scheduler"),
    field("tolerations", "[]Toleration", "Taints the pod tolerates.", proto=22, list_type="atomic"),
    field("hostAliases", "[]HostAlias", "Extra /etc/hosts entries.", proto=23, merge_key="ip", patch_strategy="merge", list_type="map"),
    field("priorityClassName", "string", "PriorityClass giving the pod its priority.", proto=24),
    field("priority", "int32", "Priority value, resolved from priorityClassName at admission.", proto=25),
    field("dnsConfig", "PodDNSConfig", "Extra DNS settings.", proto=26),
    field("readinessGates", "[]PodReadinessGate", "Extra conditions needed for readiness.", proto=28, list_type="atomic"),
    field("runtimeClassName", "string", "RuntimeClass used to run the pod.", proto=29),
    field("enableServiceLinks", "bool", "Whether Service information is injected as environment variables (default true).", proto=30, default=True),
    field("preemptionPolicy", "string", "PreemptLowerPriority (default) or Never.", proto=31),
    field("overhead", "map[string]Quantity", "Resources the pod's sandbox uses beyond its containers.", proto=32),
    field("topologySpreadConstraints", "[]TopologySpreadConstraint", "How the pod is spread over topology domains.", proto=33, merge_key="topologyKey", patch_strategy="merge", list_type="map", list_map_keys=("topologyKey", "whenUnsatisfiable")),
    field("setHostnameAsFQDN", "bool", "Use the fully qualified domain name as the hostname.", proto=35),
    field("os", "PodOS", "Operating system the pod needs.", proto=36),
    field("hostUsers", "bool", "Use the host's user namespace (default true).", proto=37),
    field("schedulingGates", "[]PodSchedulingGate", "Gates that hold the pod back from scheduling.", proto=38, merge_key="name", patch_strategy="merge", list_type="map"),
    field("resourceClaims", "[]PodResourceClaim", "Dynamically allocated resources the pod uses.", proto=39, merge_key="name", patch_strategy="merge,retainKeys", list_type="map"),
    field("resources", "ResourceRequirements", "Pod-level compute resources shared by its containers.", proto=40),
    field("hostnameOverride", "string", "Explicit hostname seen inside the pod.", proto=41),
    field("schedulingGroup", "PodSchedulingGroup", "Scheduling group the pod belongs to.", proto=43),
    field("evictionResponders", "[]EvictionResponder", "Parties that react to evictions of the pod.", proto=44, merge_key="name", patch_strategy="merge", list_type="map"),
])


struct(PKG, "PodCondition", "One condition of a pod, e.g. Ready or PodScheduled.", [
    field("type", "string", "Condition type.", proto=1, required=True),
    field("observedGeneration", "int64", "The metadata.generation the status was computed from.", proto=7),
    field("status", "string", "True, False or Unknown.", proto=2, required=True),
    field("lastProbeTime", "Time", "When the condition was last probed.", proto=3),
    field("lastTransitionTime", "Time", "When the condition last changed from one status to another.", proto=4),
    field("reason", "string", "Machine-readable CamelCase reason for the last transition.", proto=5),
    field("message", "string", "Human-readable details about the last transition.", proto=6),
])


struct(PKG, "HostIP", "An IP address of the pod's node.", [
    field("ip", "string", "The IP address.", proto=1, required=True),
])


struct(PKG, "PodIP", "An IP address of the pod.", [
    field("ip", "string", "The IP address.", proto=1, required=True),
])


struct(PKG, "ContainerStateWaiting", "A container that is not running yet.", [
    field("reason", "string", "Why it is waiting, e.g. ContainerCreating or CrashLoopBackOff.", proto=1),
    field("message", "string", "Details of why it is waiting.", proto=2),
])


struct(PKG, "ContainerStateRunning", "A running container.", [
    field("startedAt", "Time", "When the container last (re)started.", proto=1),
])


struct(PKG, "ContainerStateTerminated", "A container that has exited.", [
    field("exitCode", "int32", "Exit status of the last run.", proto=1, required=True),
    field("signal", "int32", "Signal that ended the container.", proto=2),
    field("reason", "string", "Short reason, e.g. Completed or Error.", proto=3),
    field("message", "string", "Details of the termination.", proto=4),
    field("startedAt", "Time", "When the run started.", proto=5),
    field("finishedAt", "Time", "When the run ended.", proto=6),
    field("containerID", "string", "ID of the exited container, as <type>://<id>.", proto=7),
])


struct(PKG, "ContainerState", "A container's state; at most one field is set.", [
    field("waiting", "ContainerStateWaiting", "Details when waiting.", proto=1),
    field("running", "ContainerStateRunning", "Details when running.", proto=2),
    field("terminated", "ContainerStateTerminated", "Details when terminated.", proto=3),
])


struct(PKG, "ImageVolumeStatus", "Status of an image volume.", [
    field("imageRef", "string", "Digest of the image used for the volume.", proto=1, required=True),
])


struct(PKG, "VolumeStatus", "Status of a mounted volume, by volume type.", [
    field("image", "ImageVolumeStatus", "Details of an image volume.", proto=1),
])


struct(PKG, "VolumeMountStatus", "Status of one volume mount.", [
    field("name", "string", "Name of the volume mount.", proto=1, required=True),
    field("mountPath", "string", "Path inside the container.", proto=2, required=True),
    field("readOnly", "bool", "Whether the mount is read-only.", proto=3),
    field("recursiveReadOnly", "string", "Effective recursive read-only mode.", proto=4),
    field("volumeStatus", "VolumeStatus", "Status of the volume behind the mount.", proto=5),
])


struct(PKG, "LinuxContainerUser", "The Linux identity of a container's first process.", [
    field("uid", "int64", "Primary UID.", proto=1, required=True),
    field("gid", "int64", "Primary GID.", proto=2, required=True),
    field("supplementalGroups", "[]int64", "Supplementary group IDs.", proto=3, list_type="atomic"),
])


struct(PKG, "ContainerUser", "The identity of a container's first process.", [
    field("linux", "LinuxContainerUser", "Linux identity.", proto=1),
])


struct(PKG, "ResourceHealth", "Health of one allocated device.", [
    field("resourceID", "string", "Identifier of the device.", proto=1, required=True),
    field("health", "string", "Healthy, Unhealthy or Unknown.", proto=2),
    field("message", "string", "Human-readable context for the health value.", proto=6),
])


struct(PKG, "ResourceStatus", "Health of the devices behind one allocated resource.", [
    field("name", "string", "Resource name, e.g. claim:<claim>/<request>.", proto=1, required=True),
    field("resources", "[]ResourceHealth", "Health of each device.", proto=2, list_type="map", list_map_keys=("resourceID",)),
])


struct(PKG, "ContainerStatus", "Observed state of one container of a pod.", [
    field("name", "string", "Container name.", proto=1, required=True),
    field("state", "ContainerState", "Current state.", proto=2),
    field("lastState", "ContainerState", "State of the previous termination, if any.", proto=3),
    field("ready", "bool", "Whether the container passes its readiness probe.", proto=4, required=True),
    field("restartCount", "int32", "Times the container has been restarted.", proto=5, required=True),
    field("image", "string", "Image the container runs.", proto=6, required=True),
    field("imageID", "string", "Resolved image ID (digest).", proto=7, required=True),
    field("containerID", "string", "Runtime ID, as <type>://<id>.", proto=8),
    field("started", "bool", "Whether the startup probe has succeeded.", proto=9),
    field("allocatedResources", "map[string]Quantity", "Resources the node allocated to the container.", proto=10),
    field("resources", "ResourceRequirements", "Resource requests and limits actually applied.", proto=11),
    field("volumeMounts", "[]VolumeMountStatus", "Status of the volume mounts.", proto=12, merge_key="mountPath", patch_strategy="merge", list_type="map"),
    field("user", "ContainerUser", "Identity of the first process.", proto=13),
    field("allocatedResourcesStatus", "[]ResourceStatus", "Health of the allocated resources.", proto=14, merge_key="name", patch_strategy="merge", list_type="map"),
    field("stopSignal", "string", "Effective stop signal.", proto=15),
])


struct(PKG, "PodResourceClaimStatus", "The generated ResourceClaim name of a pod's claim entry.", [
    field("name", "string", "Name of the entry in spec.resourceClaims.", proto=1, required=True),
    field("resourceClaimName", "string", "Name of the generated ResourceClaim.", proto=2),
])


struct(PKG, "ContainerExtendedResourceRequest", "Maps a container's extended resource to a claim request.", [
    field("containerName", "string", "Container requesting the resource.", proto=1, required=True),
    field("resourceName", "string", "Extended resource name.", proto=2, required=True),
    field("requestName", "string", "Request name in the generated claim.", proto=3, required=True),
])


struct(PKG, "PodExtendedResourceClaimStatus", "The claim generated for DRA-backed extended resources.", [
    field("requestMappings", "[]ContainerExtendedResourceRequest", "Which container resources map to which claim requests.", proto=1, required=True, list_type="atomic"),
    field("resourceClaimName", "string", "Name of the generated ResourceClaim.", proto=2, required=True),
])


struct(PKG, "NodeAllocatableMappedResources", "A node-allocatable resource amount allocated through a claim.", [
    field("name", "string", "Resource name, e.g. cpu or memory.", proto=1, required=True),
    field("quantity", "Quantity", "Amount allocated for the claim.", proto=2, required=True),
])


struct(PKG, "NodeAllocatableOverheadResources", "Overhead node-allocatable resources allocated through a claim.", [
    field("name", "string", "Resource name, e.g. cpu or memory.", proto=1, required=True),
    field("perPod", "Quantity", "Flat overhead per pod.", proto=2),
    field("perContainer", "Quantity", "Overhead per referencing container.", proto=3),
])


struct(PKG, "NodeAllocatableResourceClaimStatus", "Node-allocatable resources allocated to the pod through a claim.", [
    field("resourceClaimName", "string", "Claim the allocation came from.", proto=1, required=True),
    field("containers", "[]string", "Containers referencing the claim.", proto=2, list_type="set"),
    field("mapping", "[]NodeAllocatableMappedResources", "Allocations mapped from devices.", proto=4, merge_key="name", patch_strategy="merge", list_type="map"),
    field("overhead", "[]NodeAllocatableOverheadResources", "Overhead allocations.", proto=5, merge_key="name", patch_strategy="merge", list_type="map"),
])


struct(PKG, "VolumeHealthCondition", "An adverse health condition of a volume.", [
    field("status", "string", "Health category: Inaccessible, DataLoss or Degraded.", proto=1, required=True),
    field("reason", "string", "CamelCase reason, unique together with status.", proto=2, required=True),
    field("message", "string", "Human-readable details.", proto=3),
])


struct(PKG, "PodVolumeHealth", "Health of one pod volume as reported on its node.", [
    field("name", "string", "Name of the pod volume.", proto=1, required=True),
    field("healthConditions", "[]VolumeHealthCondition", "Adverse conditions reported for the volume.", proto=2, merge_key="status", patch_strategy="merge", list_type="map", list_map_keys=("status", "reason")),
    field("lastTransitionTime", "Time", "When the current conditions first appeared.", proto=3),
])


struct(PKG, "PodStatus", "Observed state of a pod.", [
    field("observedGeneration", "int64", "The pod generation this status reflects.", proto=17),
    field("phase", "string", "Pending, Running, Succeeded, Failed or Unknown.", proto=1),
    field("conditions", "[]PodCondition", "Current conditions of the pod.", proto=2, merge_key="type", patch_strategy="merge", list_type="map"),
    field("message", "string", "Human-readable reason for the pod's state.", proto=3),
    field("reason", "string", "Short reason for the pod's state, e.g. Evicted.", proto=4),
    field("nominatedNodeName", "string", "Node the pod may run on once preemption finishes.", proto=11),
    field("hostIP", "string", "Primary IP of the node the pod runs on.", proto=5),
    field("hostIPs", "[]HostIP", "IPs of the node the pod runs on.", proto=16, merge_key="ip", patch_strategy="merge", list_type="atomic"),
    field("podIP", "string", "Primary IP of the pod.", proto=6),
    field("podIPs", "[]PodIP", "IPs of the pod, one per address family.", proto=12, merge_key="ip", patch_strategy="merge", list_type="map"),
    field("startTime", "Time", "When the kubelet acknowledged the pod.", proto=7),
    field("initContainerStatuses", "[]ContainerStatus", "Status of each init container.", proto=10, list_type="atomic"),
    field("containerStatuses", "[]ContainerStatus", "Status of each app container.", proto=8, list_type="atomic"),
    field("qosClass", "string", "Quality of service class: Guaranteed, Burstable or BestEffort.", proto=9),
    field("ephemeralContainerStatuses", "[]ContainerStatus", "Status of each ephemeral container.", proto=13, list_type="atomic"),
    field("resize", "string", "Deprecated status of a pending in-place resize.", proto=14),
    field("resourceClaimStatuses", "[]PodResourceClaimStatus", "Generated ResourceClaim names.", proto=15, merge_key="name", patch_strategy="merge,retainKeys", list_type="map"),
    field("extendedResourceClaimStatus", "PodExtendedResourceClaimStatus", "Claim generated for DRA-backed extended resources.", proto=18),
    field("allocatedResources", "map[string]Quantity", "Requests allocated to the pod by its node.", proto=19),
    field("resources", "ResourceRequirements", "Pod-level requests and limits actually applied.", proto=20),
    field("nodeAllocatableResourceClaimStatuses", "[]NodeAllocatableResourceClaimStatus", "Node-allocatable resources allocated through claims.", proto=21, merge_key="resourceClaimName", patch_strategy="merge", list_type="map"),
    field("volumeHealth", "[]PodVolumeHealth", "Health of the pod's volumes as reported by the node.", proto=22, list_type="map", list_map_keys=("name",)),
])


Pod = struct(PKG, "Pod", "A group of containers scheduled together onto one node.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
    field("spec", "PodSpec", "Desired state of the object.", proto=2),
    field("status", "PodStatus", "Most recently observed state of the object, filled in by the system.", proto=3),
])
Pod.gvk = ("", "v1", "Pod")


struct(PKG, "ObjectReference", "Points at any object, possibly at a field within it.", [
    field("kind", "string", "Kind of the referent.", proto=1),
    field("namespace", "string", "Namespace of the referent.", proto=2),
    field("name", "string", "Name of the referent.", proto=3),
    field("uid", "string", "UID of the referent.", proto=4),
    field("apiVersion", "string", "API version of the referent.", proto=5),
    field("resourceVersion", "string", "Resource version of the referent that was seen.", proto=6),
    field("fieldPath", "string", "Part of the object referred to, e.g. spec.containers{app}.", proto=7),
], map_type="atomic")


Binding = struct(PKG, "Binding", "Binds a pod to a node; posted to a pod's binding subresource.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
    field("target", "ObjectReference", "The node to bind to.", proto=2, required=True),
])
Binding.gvk = ("", "v1", "Binding")


struct(PKG, "ServicePort", "One port a Service exposes.", [
    field("name", "string", "Port name, required when there are several ports.", proto=1),
    field("protocol", "string", "TCP (default), UDP or SCTP.", proto=2, default="TCP"),
    field("appProtocol", "string", "Application protocol of the port.", proto=6),
    field("port", "int32", "Port the Service exposes.", proto=3, required=True),
    field("targetPort", "IntOrString", "Port number or name on the pods (default: same as port).", proto=4),
    field("nodePort", "int32", "Port opened on every node for NodePort and LoadBalancer Services.", proto=5),
])


struct(PKG, "ClientIPConfig", "Settings for client IP session affinity.", [
    field("timeoutSeconds", "int32", "Seconds a session sticks to a backend (default 10800).", proto=1, default=10800),
])


struct(PKG, "SessionAffinityConfig", "Settings for session affinity.", [
    field("clientIP", "ClientIPConfig", "Client IP based affinity settings.", proto=1),
])


struct(PKG, "ServiceSpec", "Desired behaviour of a Service.", [
    field("ports", "[]ServicePort", "Ports the Service exposes.", proto=1, merge_key="port", patch_strategy="merge", list_type="map", list_map_keys=("port", "protocol")),
    field("selector", "map[string]string", "Labels of the pods traffic is sent to.", proto=2, map_type="atomic"),
    field("clusterIP", "string", "Primary virtual IP; None makes the Service headless.", proto=3),
    field("clusterIPs", "[]string", "Virtual IPs, one per address family.", proto=18, list_type="atomic"),
    field("type", "string", "ClusterIP (default), NodePort, LoadBalancer or ExternalName.", proto=4, default="ClusterIP"),
    field("externalIPs", "[]string", "Extra IPs for which nodes accept traffic for the Service.", proto=5, list_type="atomic"),
    field("sessionAffinity", "string", "None (default) or ClientIP.", proto=7, default="None"),
    field("loadBalancerIP", "string", "Deprecated requested load balancer IP.", proto=8),
    field("loadBalancerSourceRanges", "[]string", "Client CIDRs allowed through the load balancer.", proto=9, list_type="atomic"),
    field("externalName", "string", "DNS name returned for ExternalName Services.", proto=10),
    field("externalTrafficPolicy", "string", "Cluster or Local routing of external traffic.", proto=11),
    field("healthCheckNodePort", "int32", "Node port serving health checks for externalTrafficPolicy Local.", proto=12),
    field("publishNotReadyAddresses", "bool", "Publish endpoints of pods that are not ready.", proto=13),
    field("sessionAffinityConfig", "SessionAffinityConfig", "Session affinity settings.", proto=14),
    field("ipFamilies", "[]string", "Address families of the Service's IPs.", proto=19, list_type="atomic"),
    field("ipFamilyPolicy", "string", "SingleStack, PreferDualStack or RequireDualStack.", proto=17),
    field("allocateLoadBalancerNodePorts", "bool", "Whether LoadBalancer Services get node ports (default true).", proto=20),
    field("loadBalancerClass", "string", "Load balancer implementation responsible for the Service.", proto=21),
    field("internalTrafficPolicy", "string", "Cluster or Local routing of in-cluster traffic.", proto=22),
    field("trafficDistribution", "string", "Preference for how traffic is spread over endpoints, e.g. PreferClose.", proto=23),
])


struct(PKG, "PortStatus", "Status of one load balancer port.", [
    field("port", "int32", "Port number.", proto=1, required=True),
    field("protocol", "string", "TCP, UDP or SCTP.", proto=2, required=True),
    field("error", "string", "Problem with the port, as a CamelCase reason.", proto=3),
])


struct(PKG, "LoadBalancerIngress", "One ingress point of a load balancer.", [
    field("ip", "string", "IP of the ingress point.", proto=1),
    field("hostname", "string", "DNS name of the ingress point.", proto=2),
    field("ipMode", "string", "How traffic from the load balancer reaches nodes: VIP or Proxy.", proto=3),
    field("ports", "[]PortStatus", "Status of each port.", proto=4, list_type="atomic"),
])


struct(PKG, "LoadBalancerStatus", "Status of a load balancer.", [
    field("ingress", "[]LoadBalancerIngress", "Ingress points of the load balancer.", proto=1, list_type="atomic"),
])


struct(PKG, "ServiceStatus", "Observed state of a Service.", [
    field("loadBalancer", "LoadBalancerStatus", "Status of the load balancer, if any.", proto=1),
    field("conditions", "[]Condition", "Current conditions of the Service.", proto=2, merge_key="type", patch_strategy="merge", list_type="map"),
])


Service = struct(PKG, "Service", "A stable virtual IP and DNS name load-balancing over a set of pods.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
    field("spec", "ServiceSpec", "Desired state of the object.", proto=2),
    field("status", "ServiceStatus", "Most recently observed state of the object, filled in by the system.", proto=3),
])
Service.gvk = ("", "v1", "Service")


struct(PKG, "EndpointAddress", "One backend address.", [
    field("ip", "string", "IP of the backend.", proto=1, required=True),
    field("hostname", "string", "Hostname of the backend.", proto=3),
    field("nodeName", "string", "Node hosting the backend.", proto=4),
    field("targetRef", "ObjectReference", "Object providing the backend, usually a pod.", proto=2),
], map_type="atomic")


struct(PKG, "EndpointPort", "One port of a set of backends.", [
    field("name", "string", "Port name, matching the Service port name.", proto=1),
    field("port", "int32", "Port number.", proto=2, required=True),
    field("protocol", "string", "TCP (default), UDP or SCTP.", proto=3, default="TCP"),
    field("appProtocol", "string", "Application protocol of the port.", proto=4),
], map_type="atomic")


struct(PKG, "EndpointSubset", "Addresses sharing the same ports.", [
    field("addresses", "[]EndpointAddress", "Ready addresses.", proto=1, list_type="atomic"),
    field("notReadyAddresses", "[]EndpointAddress", "Addresses not ready to receive traffic.", proto=2, list_type="atomic"),
    field("ports", "[]EndpointPort", "Ports available on every address.", proto=3, list_type="atomic"),
])


Endpoints = struct(PKG, "Endpoints", "The backends of a Service (legacy API; see EndpointSlice).", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
    field("subsets", "[]EndpointSubset", "Groups of addresses and ports.", proto=2, list_type="atomic"),
])
Endpoints.gvk = ("", "v1", "Endpoints")


ConfigMap = struct(PKG, "ConfigMap", "Non-confidential key/value configuration data.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
    field("immutable", "bool", "When true, the data can no longer be changed.", proto=4),
    field("data", "map[string]string", "UTF-8 string values by key.", proto=2),
    field("binaryData", "map[string]bytes", "Binary values by key (base64 in JSON).", proto=3),
])
ConfigMap.gvk = ("", "v1", "ConfigMap")


Secret = struct(PKG, "Secret", "Confidential key/value data such as passwords and tokens.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
    field("immutable", "bool", "When true, the data can no longer be changed.", proto=5),
    field("data", "map[string]bytes", "Values by key (base64 in JSON).", proto=2),
    field("stringData", "map[string]string", "Write-only plain-text values merged into data.", proto=4),
    field("type", "string", "Secret type, e.g. Opaque or kubernetes.io/tls.", proto=3, default="Opaque"),
])
Secret.gvk = ("", "v1", "Secret")


ServiceAccount = struct(PKG, "ServiceAccount", "An identity for processes running in pods.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
    field("secrets", "[]ObjectReference", "Secrets pods of this account may use (legacy token secrets).", proto=2, merge_key="name", patch_strategy="merge", list_type="map"),
    field("imagePullSecrets", "[]LocalObjectReference", "Image pull secrets added to pods of this account.", proto=3, list_type="atomic"),
    field("automountServiceAccountToken", "bool", "Whether pods of this account get an API token mounted.", proto=4),
])
ServiceAccount.gvk = ("", "v1", "ServiceAccount")


struct(PKG, "Taint", "Repels pods from a node unless they tolerate it.", [
    field("key", "string", "Taint key.", proto=1, required=True),
    field("value", "string", "Taint value.", proto=2),
    field("effect", "string", "NoSchedule, PreferNoSchedule or NoExecute.", proto=3, required=True),
    field("timeAdded", "Time", "When a NoExecute taint was added.", proto=4),
])


struct(PKG, "ConfigMapNodeConfigSource", "Deprecated reference to a ConfigMap holding kubelet config.", [
    field("namespace", "string", "Namespace of the ConfigMap.", proto=1, required=True),
    field("name", "string", "Name of the ConfigMap.", proto=2, required=True),
    field("uid", "string", "UID of the ConfigMap.", proto=3),
    field("resourceVersion", "string", "Resource version of the ConfigMap.", proto=4),
    field("kubeletConfigKey", "string", "Key holding the kubelet configuration.", proto=5, required=True),
])


struct(PKG, "NodeConfigSource", "Deprecated source of a node's dynamic kubelet config.", [
    field("configMap", "ConfigMapNodeConfigSource", "ConfigMap holding the configuration.", proto=2),
])


struct(PKG, "NodePodPreemptionPolicy", "Node-level preemption policy.", [
    field("disableResizePreemption", "[]string", "Owners that asked to disable preemption for in-place resizes.", proto=1, list_type="set"),
])


struct(PKG, "NodeSpec", "Desired state of a node.", [
    field("podCIDR", "string", "Pod IP range assigned to the node.", proto=1),
    field("podCIDRs", "[]string", "Pod IP ranges assigned to the node, one per family.", proto=7, patch_strategy="merge", list_type="set"),
    field("providerID", "string", "Cloud provider's ID of the node.", proto=3),
    field("unschedulable", "bool", "Keep new pods off the node (cordon).", proto=4),
    field("taints", "[]Taint", "Taints of the node.", proto=5, list_type="atomic"),
    field("configSource", "NodeConfigSource", "Deprecated; ignored.", proto=6),
    field("externalID", "string", "Deprecated; ignored.", proto=2),
    field("podPreemptionPolicy", "NodePodPreemptionPolicy", "Node-level preemption policy.", proto=8),
])


struct(PKG, "NodeCondition", "One condition of a node, e.g. Ready or MemoryPressure.", [
    field("type", "string", "Condition type.", proto=1, required=True),
    field("status", "string", "True, False or Unknown.", proto=2, required=True),
    field("lastHeartbeatTime", "Time", "When the condition was last reported.", proto=3),
    field("lastTransitionTime", "Time", "When the condition last changed from one status to another.", proto=4),
    field("reason", "string", "Machine-readable CamelCase reason for the last transition.", proto=5),
    field("message", "string", "Human-readable details about the last transition.", proto=6),
])


struct(PKG, "NodeAddress", "One address of a node.", [
    field("type", "string", "Hostname, InternalIP, ExternalIP, InternalDNS or ExternalDNS.", proto=1, required=True),
    field("address", "string", "The address.", proto=2, required=True),
])


struct(PKG, "DaemonEndpoint", "A port a node daemon listens on.", [
    field("Port", "int32", "Port number.", proto=1, required=True),
])


struct(PKG, "NodeDaemonEndpoints", "Ports of daemons running on the node.", [
    field("kubeletEndpoint", "DaemonEndpoint", "Port the kubelet listens on.", proto=1),
])


struct(PKG, "NodeSwapStatus", "Swap memory of a node.", [
    field("capacity", "int64", "Total swap in bytes.", proto=1),
])


struct(PKG, "NodeSystemInfo", "Identity and software versions of a node.", [
    field("machineID", "string", "Machine ID reported by the node.", proto=1, required=True),
    field("systemUUID", "string", "System UUID reported by the node.", proto=2, required=True),
    field("bootID", "string", "Boot ID reported by the node.", proto=3, required=True),
    field("kernelVersion", "string", "Kernel version (uname -r).", proto=4, required=True),
    field("osImage", "string", "OS image, from /etc/os-release.", proto=5, required=True),
    field("containerRuntimeVersion", "string", "Container runtime and version, e.g. containerd://1.7.0.", proto=6, required=True),
    field("kubeletVersion", "string", "Kubelet version.", proto=7, required=True),
    field("kubeProxyVersion", "string", "Deprecated kube-proxy version.", proto=8, required=True),
    field("operatingSystem", "string", "Operating system, e.g. linux.", proto=9, required=True),
    field("architecture", "string", "CPU architecture, e.g. amd64.", proto=10, required=True),
    field("swap", "NodeSwapStatus", "Swap memory information.", proto=11),
])


struct(PKG, "ContainerImage", "An image present on a node.", [
    field("names", "[]string", "Names (tags and digests) of the image.", proto=1, list_type="atomic"),
    field("sizeBytes", "int64", "Size of the image in bytes.", proto=2),
])


struct(PKG, "AttachedVolume", "A volume attached to a node.", [
    field("name", "string", "Name of the attached volume.", proto=1, required=True),
    field("devicePath", "string", "Where the device is available on the node.", proto=2, required=True),
])


struct(PKG, "NodeConfigStatus", "Deprecated status of a node's dynamic kubelet config.", [
    field("assigned", "NodeConfigSource", "Config the node should use.", proto=1),
    field("active", "NodeConfigSource", "Config the node is using.", proto=2),
    field("lastKnownGood", "NodeConfigSource", "Fallback config.", proto=3),
    field("error", "string", "Error with the config.", proto=4),
])


struct(PKG, "NodeRuntimeHandlerFeatures", "Features a runtime handler supports.", [
    field("recursiveReadOnlyMounts", "bool", "Whether recursive read-only mounts work.", proto=1),
    field("userNamespaces", "bool", "Whether user namespaces work.", proto=2),
])


struct(PKG, "NodeRuntimeHandler", "A runtime handler available on a node.", [
    field("name", "string", "Handler name; empty for the default handler.", proto=1),
    field("features", "NodeRuntimeHandlerFeatures", "Supported features.", proto=2),
])


struct(PKG, "NodeFeatures", "Features of the node's container runtime.", [
    field("supplementalGroupsPolicy", "bool", "Whether the runtime supports supplementalGroupsPolicy.", proto=1),
])


struct(PKG, "NodeStatus", "Observed state of a node.", [
    field("capacity", "map[string]Quantity", "Total resources of the node.", proto=1),
    field("allocatable", "map[string]Quantity", "Resources available to pods.", proto=2),
    field("phase", "string", "Deprecated lifecycle phase.", proto=3),
    field("conditions", "[]NodeCondition", "Current conditions of the node.", proto=4, merge_key="type", patch_strategy="merge", list_type="map"),
    field("addresses", "[]NodeAddress", "Addresses of the node.", proto=5, merge_key="type", patch_strategy="merge", list_type="map"),
    field("daemonEndpoints", "NodeDaemonEndpoints", "Ports of daemons on the node.", proto=6),
    field("nodeInfo", "NodeSystemInfo", "Identity and versions of the node.", proto=7),
    field("images", "[]ContainerImage", "Images present on the node.", proto=8, list_type="atomic"),
    field("volumesInUse", "[]string", "Volumes in use (mounted) on the node.", proto=9, list_type="atomic"),
    field("volumesAttached", "[]AttachedVolume", "Volumes attached to the node.", proto=10, list_type="atomic"),
    field("config", "NodeConfigStatus", "Deprecated dynamic config status.", proto=11),
    field("runtimeHandlers", "[]NodeRuntimeHandler", "Runtime handlers available.", proto=12, list_type="atomic"),
    field("features", "NodeFeatures", "Features of the container runtime.", proto=13),
    field("declaredFeatures", "[]string", "Feature-gated features the node declares.", proto=14, list_type="atomic"),
])


Node = struct(PKG, "Node", "A worker machine that runs pods.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
    field("spec", "NodeSpec", "Desired state of the object.", proto=2),
    field("status", "NodeStatus", "Most recently observed state of the object, filled in by the system.", proto=3),
])
Node.gvk = ("", "v1", "Node")


struct(PKG, "EventSource", "The component that reported an event.", [
    field("component", "string", "Reporting component.", proto=1),
    field("host", "string", "Node the event came from.", proto=2),
])


struct(PKG, "EventSeries", "Data about a series of repeated events.", [
    field("count", "int32", "Occurrences so far.", proto=1),
    field("lastObservedTime", "MicroTime", "Time of the last occurrence.", proto=2),
])


Event = struct(PKG, "Event", "A report of something that happened to an object.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ObjectMeta", "Standard object metadata.", proto=1, required=True),
    field("involvedObject", "ObjectReference", "The object the event is about.", proto=2, required=True),
    field("reason", "string", "Short CamelCase reason for the event.", proto=3),
    field("message", "string", "Human-readable description.", proto=4),
    field("source", "EventSource", "Component that reported the event.", proto=5),
    field("firstTimestamp", "Time", "When the event was first recorded.", proto=6),
    field("lastTimestamp", "Time", "When the event was last recorded.", proto=7),
    field("count", "int32", "Times the event has occurred.", proto=8),
    field("type", "string", "Normal or Warning.", proto=9),
    field("eventTime", "MicroTime", "When the event was first observed, with microsecond precision.", proto=10),
    field("series", "EventSeries", "Data about the series this event belongs to.", proto=11),
    field("action", "string", "What was done or failed, e.g. Binding.", proto=12),
    field("related", "ObjectReference", "A secondary object involved.", proto=13),
    field("reportingComponent", "string", "Controller that emitted the event, e.g. kubelet.", proto=14),
    field("reportingInstance", "string", "Instance of the controller, e.g. a node name.", proto=15),
])
Event.gvk = ("", "v1", "Event")


struct(PKG, "GlusterfsPersistentVolumeSource", "A GlusterFS mount (removed upstream; kept for compatibility).", [
    field("endpoints", "string", "Name of the Endpoints object listing the Gluster cluster.", proto=1, required=True),
    field("path", "string", "Gluster volume path.", proto=2, required=True),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=3),
    field("endpointsNamespace", "string", "Namespace of the Endpoints object.", proto=4),
])


struct(PKG, "SecretReference", "Refers to a Secret in any namespace.", [
    field("name", "string", "Name of the Secret.", proto=1),
    field("namespace", "string", "Namespace of the Secret.", proto=2),
], map_type="atomic")


struct(PKG, "RBDPersistentVolumeSource", "A Ceph RADOS block device (deprecated in-tree source).", [
    field("monitors", "[]string", "Ceph monitor addresses.", proto=1, required=True, list_type="atomic"),
    field("image", "string", "RADOS image name.", proto=2, required=True),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=3),
    field("pool", "string", "RADOS pool name (default rbd).", proto=4, default="rbd"),
    field("user", "string", "RADOS user name (default admin).", proto=5, default="admin"),
    field("keyring", "string", "Path to the keyring file (default /etc/ceph/keyring).", proto=6, default="/etc/ceph/keyring"),
    field("secretRef", "SecretReference", "Reference to the Secret holding authentication data for this volume.", proto=7),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=8),
])


struct(PKG, "ISCSIPersistentVolumeSource", "An iSCSI disk attached and mounted on the node.", [
    field("targetPortal", "string", "iSCSI target portal, an IP or host with optional port (default 3260).", proto=1, required=True),
    field("iqn", "string", "iSCSI qualified name of the target.", proto=2, required=True),
    field("lun", "int32", "Target LUN number.", proto=3, required=True),
    field("iscsiInterface", "string", "iSCSI interface name for the transport (default \"default\").", proto=4, default="default"),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=5),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=6),
    field("portals", "[]string", "Additional target portals.", proto=7, list_type="atomic"),
    field("chapAuthDiscovery", "bool", "Whether CHAP discovery authentication is used.", proto=8),
    field("chapAuthSession", "bool", "Whether CHAP session authentication is used.", proto=11),
    field("secretRef", "SecretReference", "Reference to the Secret holding authentication data for this volume.", proto=10),
    field("initiatorName", "string", "Custom iSCSI initiator name.", proto=12),
])


struct(PKG, "CinderPersistentVolumeSource", "An OpenStack Cinder volume (deprecated in-tree source).", [
    field("volumeID", "string", "Cinder volume ID.", proto=1, required=True),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=2),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=3),
    field("secretRef", "SecretReference", "Reference to the Secret holding authentication data for this volume.", proto=4),
])


struct(PKG, "CephFSPersistentVolumeSource", "A CephFS mount (deprecated in-tree source).", [
    field("monitors", "[]string", "Ceph monitor addresses.", proto=1, required=True, list_type="atomic"),
    field("path", "string", "Path within the Ceph filesystem to mount (default /).", proto=2),
    field("user", "string", "RADOS user name (default admin).", proto=3),
    field("secretFile", "string", "Path to the keyring file (default /etc/ceph/user.secret).", proto=4),
    field("secretRef", "SecretReference", "Reference to the Secret holding authentication data for this volume.", proto=5),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=6),
])


struct(PKG, "FlexPersistentVolumeSource", "A volume provided by an exec-based FlexVolume driver.", [
    field("driver", "string", "Name of the FlexVolume driver.", proto=1, required=True),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=2),
    field("secretRef", "SecretReference", "Reference to the Secret holding authentication data for this volume.", proto=3),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=4),
    field("options", "map[string]string", "Extra driver-specific options.", proto=5),
])


struct(PKG, "AzureFilePersistentVolumeSource", "An Azure File share (deprecated in-tree source).", [
    field("secretName", "string", "Secret holding the storage account name and key.", proto=1, required=True),
    field("shareName", "string", "Name of the share.", proto=2, required=True),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=3),
    field("secretNamespace", "string", "Namespace of the Secret (default: the pod's).", proto=4),
])


struct(PKG, "ScaleIOPersistentVolumeSource", "A ScaleIO volume (removed upstream; kept for compatibility).", [
    field("gateway", "string", "Address of the ScaleIO API gateway.", proto=1, required=True),
    field("system", "string", "Name of the ScaleIO storage system.", proto=2, required=True),
    field("secretRef", "SecretReference", "Reference to the Secret holding authentication data for this volume.", proto=3, required=True),
    field("sslEnabled", "bool", "Whether to talk to the gateway over SSL.", proto=4),
    field("protectionDomain", "string", "Name of the protection domain.", proto=5),
    field("storagePool", "string", "Name of the storage pool.", proto=6),
    field("storageMode", "string", "ThickProvisioned or ThinProvisioned (default).", proto=7, default="ThinProvisioned"),
    field("volumeName", "string", "Name of an existing ScaleIO volume.", proto=8),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=9, default="xfs"),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=10),
])


struct(PKG, "LocalVolumeSource", "A local disk, partition or directory on a node.", [
    field("path", "string", "Full path on the node.", proto=1, required=True),
    field("fsType", "string", "Filesystem type when path is a block device; detected when unset.", proto=2),
])


struct(PKG, "StorageOSPersistentVolumeSource", "A StorageOS volume (removed upstream; kept for compatibility).", [
    field("volumeName", "string", "Name of the StorageOS volume.", proto=1),
    field("volumeNamespace", "string", "StorageOS namespace of the volume.", proto=2),
    field("fsType", "string", "Filesystem type to mount, such as ext4 or xfs; implicitly ext4 if unset.", proto=3),
    field("readOnly", "bool", "Whether the volume is mounted read-only (default false).", proto=4),
    field("secretRef", "ObjectReference", "Reference to the Secret holding authentication data for this volume.", proto=5),
])


struct(PKG, "CSIPersistentVolumeSource", "A persistent volume managed by a CSI driver.", [
    field("driver", "string", "Name of the CSI driver.", proto=1, required=True),
    field("volumeHandle", "string", "Driver's unique ID of the volume.", proto=2, required=True),
    field("readOnly", "bool", "Whether the volume is published read-only.", proto=3),
    field("fsType", "string", "Filesystem type to mount, e.g. ext4.", proto=4),
    field("volumeAttributes", "map[string]string", "Driver-specific attributes.", proto=5),
    field("controllerPublishSecretRef", "SecretReference", "Secret for ControllerPublishVolume calls.", proto=6),
    field("nodeStageSecretRef", "SecretReference", "Secret for NodeStageVolume calls.", proto=7),
    field("nodePublishSecretRef", "SecretReference", "Secret for NodePublishVolume calls.", proto=8),
    field("controllerExpandSecretRef", "SecretReference", "Secret for ControllerExpandVolume calls.", proto=9),
    field("nodeExpandSecretRef", "SecretReference", "Secret for NodeExpandVolume calls.", proto=10),
])


struct(PKG, "VolumeNodeAffinity", "Nodes a persistent volume can be accessed from.", [
    field("required", "NodeSelector", "Nodes that can access the volume.", proto=1),
])


struct(PKG, "PersistentVolumeSpec", "Description of a persistent volume.", [
    field("capacity", "map[string]Quantity", "Size and other resources of the volume.", proto=1),
    field("gcePersistentDisk", "GCEPersistentDiskVolumeSource", "A GCE persistent disk.", proto=1, proto_embed=2),
    field("awsElasticBlockStore", "AWSElasticBlockStoreVolumeSource", "An AWS EBS disk.", proto=2, proto_embed=2),
    field("hostPath", "HostPathVolumeSource", "A path on a node (single-node testing only).", proto=3, proto_embed=2),
    field("glusterfs", "GlusterfsPersistentVolumeSource", "A GlusterFS mount.", proto=4, proto_embed=2),
    field("nfs", "NFSVolumeSource", "An NFS export.", proto=5, proto_embed=2),
    field("rbd", "RBDPersistentVolumeSource", "A Ceph block device.", proto=6, proto_embed=2),
    field("iscsi", "ISCSIPersistentVolumeSource", "An iSCSI disk.", proto=7, proto_embed=2),
    field("cinder", "CinderPersistentVolumeSource", "An OpenStack Cinder volume.", proto=8, proto_embed=2),
    field("cephfs", "CephFSPersistentVolumeSource", "A CephFS mount.", proto=9, proto_embed=2),
    field("fc", "FCVolumeSource", "A Fibre Channel disk.", proto=10, proto_embed=2),
    field("flocker", "FlockerVolumeSource", "A Flocker dataset.", proto=11, proto_embed=2),
    field("flexVolume", "FlexPersistentVolumeSource", "A FlexVolume driver.", proto=12, proto_embed=2),
    field("azureFile", "AzureFilePersistentVolumeSource", "An Azure File share.", proto=13, proto_embed=2),
    field("vsphereVolume", "VsphereVirtualDiskVolumeSource", "A vSphere virtual disk.", proto=14, proto_embed=2),
    field("quobyte", "QuobyteVolumeSource", "A Quobyte mount.", proto=15, proto_embed=2),
    field("azureDisk", "AzureDiskVolumeSource", "An Azure data disk.", proto=16, proto_embed=2),
    field("photonPersistentDisk", "PhotonPersistentDiskVolumeSource", "A Photon Controller disk.", proto=17, proto_embed=2),
    field("portworxVolume", "PortworxVolumeSource", "A Portworx volume.", proto=18, proto_embed=2),
    field("scaleIO", "ScaleIOPersistentVolumeSource", "A ScaleIO volume.", proto=19, proto_embed=2),
    field("local", "LocalVolumeSource", "Local storage on a node.", proto=20, proto_embed=2),
    field("storageos", "StorageOSPersistentVolumeSource", "A StorageOS volume.", proto=21, proto_embed=2),
    field("csi", "CSIPersistentVolumeSource", "A CSI driver volume.", proto=22, proto_embed=2),
    field("accessModes", "[]string", "Ways the volume can be mounted.", proto=3, list_type="atomic"),
    field("claimRef", "ObjectReference", "Claim the volume is bound (or reserved) to.", proto=4),
    field("persistentVolumeReclaimPolicy", "string", "What happens when released: Retain (default for manual), Delete or Recycle.", proto=5, default="Retain"),
    field("storageClassName", "string", "StorageClass the volume belongs to.", proto=6),
    field("mountOptions", "[]string", "Mount options used when mounting.", proto=7, list_type="atomic"),
    field("volumeMode", "string", "Filesystem (default) or Block.", proto=8, default="Filesystem"),
    field("nodeAffinity", "VolumeNodeAffinity", "Nodes the volume can be used from.", proto=9),
    field("volumeAttributesClassName", "string", "VolumeAttributesClass of the volume.", proto=10),
])


struct(PKG, "PersistentVolumeStatus", "Observed state of a persistent volume.", [
    field("phase", "string", "Pending, Available, Bound, Released or Failed.", proto=1, default="Pending"),
    field("message", "string", "Human-readable reason for the phase.", proto=2),
    field("reason", "string", "Short CamelCase reason for a failure.", proto=3),
    field("lastPhaseTransitionTime", "Time", "When the phase last changed.", proto=4),
])


PersistentVolume = struct(PKG, "PersistentVolume", "A piece of storage provisioned for the cluster.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
    field("spec", "PersistentVolumeSpec", "Desired state of the object.", proto=2),
    field("status", "PersistentVolumeStatus", "Most recently observed state of the object, filled in by the system.", proto=3),
])
PersistentVolume.gvk = ("", "v1", "PersistentVolume")


struct(PKG, "PersistentVolumeClaimCondition", "One condition of a claim, e.g. Resizing.", [
    field("type", "string", "Condition type.", proto=1, required=True),
    field("status", "string", "True, False or Unknown.", proto=2, required=True),
    field("lastProbeTime", "Time", "When the condition was last probed.", proto=3),
    field("lastTransitionTime", "Time", "When the condition last changed from one status to another.", proto=4),
    field("reason", "string", "Machine-readable CamelCase reason for the last transition.", proto=5),
    field("message", "string", "Human-readable details about the last transition.", proto=6),
])


struct(PKG, "ModifyVolumeStatus", "Status of a volume attributes change.", [
    field("targetVolumeAttributesClassName", "string", "VolumeAttributesClass being applied.", proto=1),
    field("status", "string", "Pending, InProgress or Infeasible.", proto=2, required=True),
])


struct(PKG, "VolumeHealthStatus", "Health of a volume as reported by its CSI controller.", [
    field("healthConditions", "[]VolumeHealthCondition", "Adverse conditions; empty when healthy.", proto=1, merge_key="status", patch_strategy="merge", list_type="map", list_map_keys=("status", "reason")),
    field("lastTransitionTime", "Time", "When the current conditions first appeared.", proto=2),
])


struct(PKG, "PersistentVolumeClaimStatus", "Observed state of a claim.", [
    field("phase", "string", "Pending, Bound or Lost.", proto=1, default="Pending"),
    field("accessModes", "[]string", "Access modes of the bound volume.", proto=2, list_type="atomic"),
    field("capacity", "map[string]Quantity", "Actual resources of the bound volume.", proto=3),
    field("conditions", "[]PersistentVolumeClaimCondition", "Current conditions of the claim.", proto=4, merge_key="type", patch_strategy="merge", list_type="map"),
    field("allocatedResources", "map[string]Quantity", "Resources allocated to the claim (during expansion).", proto=5),
    field("allocatedResourceStatuses", "map[string]string", "Status of resize operations per resource.", proto=7, map_type="granular"),
    field("currentVolumeAttributesClassName", "string", "VolumeAttributesClass currently applied.", proto=8),
    field("modifyVolumeStatus", "ModifyVolumeStatus", "Status of an ongoing attributes change.", proto=9),
    field("healthStatus", "VolumeHealthStatus", "Health of the bound volume.", proto=10),
])


PersistentVolumeClaim = struct(PKG, "PersistentVolumeClaim", "A user's request for storage.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
    field("spec", "PersistentVolumeClaimSpec", "Desired state of the object.", proto=2),
    field("status", "PersistentVolumeClaimStatus", "Most recently observed state of the object, filled in by the system.", proto=3),
])
PersistentVolumeClaim.gvk = ("", "v1", "PersistentVolumeClaim")


struct(PKG, "PodTemplateSpec", "Metadata and spec of pods created from a template.", [
    field("metadata", "ObjectMeta", "Metadata of the created pods.", proto=1),
    field("spec", "PodSpec", "Spec of the created pods.", proto=2),
])


struct(PKG, "ReplicationControllerSpec", "Desired state of a replication controller.", [
    field("replicas", "int32", "Number of desired pods (default 1).", proto=1, default=1),
    field("minReadySeconds", "int32", "Seconds a new pod must be ready to count as available.", proto=4),
    field("selector", "map[string]string", "Labels of the pods this controller manages (defaults to the template's labels).", proto=2, map_type="atomic"),
    field("template", "PodTemplateSpec", "Template of the pods to create.", proto=3),
])


struct(PKG, "ReplicationControllerCondition", "One condition of a replication controller.", [
    field("type", "string", "Condition type, e.g. ReplicaFailure.", proto=1, required=True),
    field("status", "string", "True, False or Unknown.", proto=2, required=True),
    field("lastTransitionTime", "Time", "When the condition last changed from one status to another.", proto=3),
    field("reason", "string", "Machine-readable CamelCase reason for the last transition.", proto=4),
    field("message", "string", "Human-readable details about the last transition.", proto=5),
])


struct(PKG, "ReplicationControllerStatus", "Observed state of a replication controller.", [
    field("replicas", "int32", "Number of pods that currently exist.", proto=1, required=True),
    field("fullyLabeledReplicas", "int32", "Pods whose labels match the template's.", proto=2),
    field("readyReplicas", "int32", "Pods that are ready.", proto=4),
    field("availableReplicas", "int32", "Pods ready for at least minReadySeconds.", proto=5),
    field("observedGeneration", "int64", "Generation the controller last acted on.", proto=3),
    field("conditions", "[]ReplicationControllerCondition", "Current conditions.", proto=6, merge_key="type", patch_strategy="merge", list_type="map"),
])


ReplicationController = struct(PKG, "ReplicationController", "Keeps a fixed number of pod replicas running (legacy; see ReplicaSet).", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
    field("spec", "ReplicationControllerSpec", "Desired state of the object.", proto=2),
    field("status", "ReplicationControllerStatus", "Most recently observed state of the object, filled in by the system.", proto=3),
])
ReplicationController.gvk = ("", "v1", "ReplicationController")


struct(PKG, "LimitRangeItem", "Resource limits for one kind of object.", [
    field("type", "string", "Kind of object: Pod, Container or PersistentVolumeClaim.", proto=1, required=True),
    field("max", "map[string]Quantity", "Maximum usage per resource.", proto=2),
    field("min", "map[string]Quantity", "Minimum usage per resource.", proto=3),
    field("default", "map[string]Quantity", "Limits applied when a container gives none.", proto=4),
    field("defaultRequest", "map[string]Quantity", "Requests applied when a container gives none.", proto=5),
    field("maxLimitRequestRatio", "map[string]Quantity", "Maximum limit-to-request ratio per resource.", proto=6),
])


struct(PKG, "LimitRangeSpec", "The limits a LimitRange enforces.", [
    field("limits", "[]LimitRangeItem", "The limits, per kind of object.", proto=1, required=True, list_type="atomic"),
])


LimitRange = struct(PKG, "LimitRange", "Per-namespace defaults and bounds on resource usage.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
    field("spec", "LimitRangeSpec", "Desired state of the object.", proto=2),
])
LimitRange.gvk = ("", "v1", "LimitRange")


struct(PKG, "ScopedResourceSelectorRequirement", "One condition on a quota scope.", [
    field("scopeName", "string", "Scope the condition applies to.", proto=1, required=True),
    field("operator", "string", "In, NotIn, Exists or DoesNotExist.", proto=2, required=True),
    field("values", "[]string", "Values to compare with.", proto=3, list_type="atomic"),
])


struct(PKG, "ScopeSelector", "Scope conditions that must all hold.", [
    field("matchExpressions", "[]ScopedResourceSelectorRequirement", "The conditions.", proto=1, list_type="atomic"),
], map_type="atomic")


struct(PKG, "ResourceQuotaSpec", "The limits a quota enforces.", [
    field("hard", "map[string]Quantity", "Maximum total usage per resource.", proto=1),
    field("scopes", "[]string", "Scopes that all tracked objects must match.", proto=2, list_type="atomic"),
    field("scopeSelector", "ScopeSelector", "Scope conditions tracked objects must match.", proto=3),
])


struct(PKG, "ResourceQuotaStatus", "Usage tracked by a quota.", [
    field("hard", "map[string]Quantity", "The enforced limits.", proto=1),
    field("used", "map[string]Quantity", "Current usage in the namespace.", proto=2),
])


ResourceQuota = struct(PKG, "ResourceQuota", "Limits total resource usage in a namespace.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
    field("spec", "ResourceQuotaSpec", "Desired state of the object.", proto=2),
    field("status", "ResourceQuotaStatus", "Most recently observed state of the object, filled in by the system.", proto=3),
])
ResourceQuota.gvk = ("", "v1", "ResourceQuota")


PodTemplate = struct(PKG, "PodTemplate", "A reusable pod template.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
    field("template", "PodTemplateSpec", "The pod template.", proto=2),
])
PodTemplate.gvk = ("", "v1", "PodTemplate")


NamespaceList = struct(PKG, "NamespaceList", "A list of Namespace objects.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ListMeta", "Standard list metadata.", proto=1),
    field("items", "[]Namespace", "The objects in this list.", proto=2, required=True),
])
NamespaceList.gvk = ("", "v1", "NamespaceList")


PodList = struct(PKG, "PodList", "A list of Pod objects.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ListMeta", "Standard list metadata.", proto=1),
    field("items", "[]Pod", "The objects in this list.", proto=2, required=True),
])
PodList.gvk = ("", "v1", "PodList")


ServiceList = struct(PKG, "ServiceList", "A list of Service objects.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ListMeta", "Standard list metadata.", proto=1),
    field("items", "[]Service", "The objects in this list.", proto=2, required=True),
])
ServiceList.gvk = ("", "v1", "ServiceList")


EndpointsList = struct(PKG, "EndpointsList", "A list of Endpoints objects.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ListMeta", "Standard list metadata.", proto=1),
    field("items", "[]Endpoints", "The objects in this list.", proto=2, required=True),
])
EndpointsList.gvk = ("", "v1", "EndpointsList")


ConfigMapList = struct(PKG, "ConfigMapList", "A list of ConfigMap objects.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ListMeta", "Standard list metadata.", proto=1),
    field("items", "[]ConfigMap", "The objects in this list.", proto=2, required=True),
])
ConfigMapList.gvk = ("", "v1", "ConfigMapList")


SecretList = struct(PKG, "SecretList", "A list of Secret objects.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ListMeta", "Standard list metadata.", proto=1),
    field("items", "[]Secret", "The objects in this list.", proto=2, required=True),
])
SecretList.gvk = ("", "v1", "SecretList")


ServiceAccountList = struct(PKG, "ServiceAccountList", "A list of ServiceAccount objects.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ListMeta", "Standard list metadata.", proto=1),
    field("items", "[]ServiceAccount", "The objects in this list.", proto=2, required=True),
])
ServiceAccountList.gvk = ("", "v1", "ServiceAccountList")


NodeList = struct(PKG, "NodeList", "A list of Node objects.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ListMeta", "Standard list metadata.", proto=1),
    field("items", "[]Node", "The objects in this list.", proto=2, required=True),
])
NodeList.gvk = ("", "v1", "NodeList")


EventList = struct(PKG, "EventList", "A list of Event objects.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ListMeta", "Standard list metadata.", proto=1),
    field("items", "[]Event", "The objects in this list.", proto=2, required=True),
])
EventList.gvk = ("", "v1", "EventList")


PersistentVolumeList = struct(PKG, "PersistentVolumeList", "A list of PersistentVolume objects.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ListMeta", "Standard list metadata.", proto=1),
    field("items", "[]PersistentVolume", "The objects in this list.", proto=2, required=True),
])
PersistentVolumeList.gvk = ("", "v1", "PersistentVolumeList")


PersistentVolumeClaimList = struct(PKG, "PersistentVolumeClaimList", "A list of PersistentVolumeClaim objects.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ListMeta", "Standard list metadata.", proto=1),
    field("items", "[]PersistentVolumeClaim", "The objects in this list.", proto=2, required=True),
])
PersistentVolumeClaimList.gvk = ("", "v1", "PersistentVolumeClaimList")


ReplicationControllerList = struct(PKG, "ReplicationControllerList", "A list of ReplicationController objects.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ListMeta", "Standard list metadata.", proto=1),
    field("items", "[]ReplicationController", "The objects in this list.", proto=2, required=True),
])
ReplicationControllerList.gvk = ("", "v1", "ReplicationControllerList")


LimitRangeList = struct(PKG, "LimitRangeList", "A list of LimitRange objects.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ListMeta", "Standard list metadata.", proto=1),
    field("items", "[]LimitRange", "The objects in this list.", proto=2, required=True),
])
LimitRangeList.gvk = ("", "v1", "LimitRangeList")


ResourceQuotaList = struct(PKG, "ResourceQuotaList", "A list of ResourceQuota objects.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ListMeta", "Standard list metadata.", proto=1),
    field("items", "[]ResourceQuota", "The objects in this list.", proto=2, required=True),
])
ResourceQuotaList.gvk = ("", "v1", "ResourceQuotaList")


PodTemplateList = struct(PKG, "PodTemplateList", "A list of PodTemplate objects.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ListMeta", "Standard list metadata.", proto=1),
    field("items", "[]PodTemplate", "The objects in this list.", proto=2, required=True),
])
PodTemplateList.gvk = ("", "v1", "PodTemplateList")


struct(PKG, "TopologySelectorLabelRequirement", "A topology label condition.", [
    field("key", "string", "Label key.", proto=1, required=True),
    field("values", "[]string", "Allowed values.", proto=2, required=True, list_type="atomic"),
])


struct(PKG, "TopologySelectorTerm", "Topology label conditions that must all hold.", [
    field("matchLabelExpressions", "[]TopologySelectorLabelRequirement", "The conditions.", proto=1, list_type="atomic"),
], map_type="atomic")


Eviction = struct(POLICY, "Eviction", "Asks for a pod to be evicted, honoring disruption budgets; posted to pods/eviction.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ObjectMeta", "Name and namespace of the pod to evict.", proto=1),
    field("deleteOptions", "DeleteOptions", "Options for deleting the pod.", proto=2),
])
Eviction.gvk = ("policy", "v1", "Eviction")


struct(AUTOSCALING, "ScaleSpec", "Desired replica count.", [
    field("replicas", "int32", "Desired number of replicas.", proto=1),
])


struct(AUTOSCALING, "ScaleStatus", "Observed replica count.", [
    field("replicas", "int32", "Actual number of replicas.", proto=1, required=True),
    field("selector", "string", "Label selector of the pods, as a string.", proto=2),
])


Scale = struct(AUTOSCALING, "Scale", "Replica count of a scalable resource, served at its scale subresource.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
    field("spec", "ScaleSpec", "Desired state of the object.", proto=2),
    field("status", "ScaleStatus", "Most recently observed state of the object, filled in by the system.", proto=3),
])
Scale.gvk = ("autoscaling", "v1", "Scale")
# fmt: on


# ---------------------------------------------------------------------------
# Resources


Selector = Callable[[dict[str, Any]], str]


def _str(path: tuple[str | int, ...]) -> Selector:
    """A field-selector extractor returning the value at ``path`` as a string."""

    def get(obj: dict[str, Any]) -> str:
        value = dig(obj, *path, default="")
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return get


def _bool(path: tuple[str, ...]) -> Selector:
    """A field-selector extractor for a bool field (false when absent)."""

    def get(obj: dict[str, Any]) -> str:
        return "true" if dig(obj, *path, default=False) else "false"

    return get


def _pod_ip(obj: dict[str, Any]) -> str:
    return str(dig(obj, "status", "podIPs", 0, "ip", default="") or "")


NO_DELETECOLLECTION = ("create", "delete", "get", "list", "patch", "update", "watch")

# The kind each subresource reads and writes (beyond the parent's own kind).
SUBRESOURCE_SCHEMAS: dict[tuple[str, str], str] = {
    ("pods", "binding"): f"{PKG}.Binding",
    ("pods", "eviction"): f"{POLICY}.Eviction",
    ("replicationcontrollers", "scale"): f"{AUTOSCALING}.Scale",
}

RESOURCES: list[Resource] = [
    Resource(
        group="",
        version="v1",
        kind="Binding",
        plural="bindings",
        namespaced=True,
        schema=f"{PKG}.Binding",
        verbs=("create",),
    ),
    Resource(
        group="",
        version="v1",
        kind="ConfigMap",
        plural="configmaps",
        namespaced=True,
        schema=f"{PKG}.ConfigMap",
        short_names=("cm",),
        columns=(
            NAME,
            Column("Data", "string", "Number of keys in data and binaryData.", p.configmap_data),
            AGE,
        ),
    ),
    Resource(
        group="",
        version="v1",
        kind="Endpoints",
        plural="endpoints",
        namespaced=True,
        schema=f"{PKG}.Endpoints",
        short_names=("ep",),
        columns=(
            NAME,
            Column(
                "Endpoints",
                "string",
                "Up to three backend address:port pairs.",
                p.endpoints_summary,
            ),
            AGE,
        ),
    ),
    Resource(
        group="",
        version="v1",
        kind="Event",
        plural="events",
        namespaced=True,
        schema=f"{PKG}.Event",
        short_names=("ev",),
        field_selectors={
            "involvedObject.kind": _str(("involvedObject", "kind")),
            "involvedObject.namespace": _str(("involvedObject", "namespace")),
            "involvedObject.name": _str(("involvedObject", "name")),
            "involvedObject.uid": _str(("involvedObject", "uid")),
            "involvedObject.apiVersion": _str(("involvedObject", "apiVersion")),
            "involvedObject.resourceVersion": _str(("involvedObject", "resourceVersion")),
            "involvedObject.fieldPath": _str(("involvedObject", "fieldPath")),
            "reason": _str(("reason",)),
            "reportingComponent": _str(("reportingComponent",)),
            "source": _str(("source", "component")),
            "type": _str(("type",)),
        },
        columns=(
            Column("Last Seen", "string", "Time since the event was last seen.", p.event_last_seen),
            Column("Type", "string", "Normal or Warning.", p.event_type),
            Column("Reason", "string", "Short reason for the event.", p.event_reason),
            Column("Object", "string", "The object the event is about.", p.event_object),
            Column(
                "Subobject",
                "string",
                "Part of the object the event is about.",
                p.event_subobject,
                priority=1,
            ),
            Column(
                "Source", "string", "Component that reported the event.", p.event_source, priority=1
            ),
            Column("Message", "string", "Description of the event.", p.event_message),
            Column(
                "First Seen",
                "string",
                "Time since the event was first seen.",
                p.event_first_seen,
                priority=1,
            ),
            Column("Count", "string", "Times the event occurred.", p.event_count, priority=1),
            Column(
                "Name",
                "string",
                "Name of the event object.",
                p.event_name,
                format="name",
                priority=1,
            ),
        ),
    ),
    Resource(
        group="",
        version="v1",
        kind="LimitRange",
        plural="limitranges",
        namespaced=True,
        schema=f"{PKG}.LimitRange",
        short_names=("limits",),
        columns=(
            NAME,
            Column("Created At", "date", "When the object was created.", p.limitrange_created_at),
        ),
    ),
    Resource(
        group="",
        version="v1",
        kind="Namespace",
        plural="namespaces",
        namespaced=False,
        schema=f"{PKG}.Namespace",
        short_names=("ns",),
        verbs=NO_DELETECOLLECTION,
        subresources=("finalize", "status"),
        field_selectors={"status.phase": _str(("status", "phase"))},
        columns=(
            NAME,
            Column("Status", "string", "Lifecycle phase of the namespace.", p.namespace_status),
            AGE,
        ),
    ),
    Resource(
        group="",
        version="v1",
        kind="Node",
        plural="nodes",
        namespaced=False,
        schema=f"{PKG}.Node",
        short_names=("no",),
        subresources=("proxy", "status"),
        field_selectors={"spec.unschedulable": _bool(("spec", "unschedulable"))},
        columns=(
            NAME,
            Column("Status", "string", "Readiness of the node.", p.node_status),
            Column("Roles", "string", "Roles of the node, from its labels.", p.node_roles),
            AGE,
            Column("Version", "string", "Kubelet version.", p.node_version),
            Column(
                "Internal-IP", "string", "Internal IP of the node.", p.node_internal_ip, priority=1
            ),
            Column(
                "External-IP", "string", "External IP of the node.", p.node_external_ip, priority=1
            ),
            Column("OS-Image", "string", "Operating system image.", p.node_os_image, priority=1),
            Column(
                "Kernel-Version", "string", "Kernel version.", p.node_kernel_version, priority=1
            ),
            Column(
                "Container-Runtime",
                "string",
                "Container runtime and version.",
                p.node_container_runtime,
                priority=1,
            ),
        ),
    ),
    Resource(
        group="",
        version="v1",
        kind="PersistentVolumeClaim",
        plural="persistentvolumeclaims",
        namespaced=True,
        schema=f"{PKG}.PersistentVolumeClaim",
        short_names=("pvc",),
        subresources=("status",),
        columns=(
            NAME,
            Column("Status", "string", "Phase of the claim.", p.pvc_status),
            Column("Volume", "string", "Volume bound to the claim.", p.pvc_volume),
            Column("Capacity", "string", "Storage of the bound volume.", p.pvc_capacity),
            Column(
                "Access Modes", "string", "Access modes of the bound volume.", p.pvc_access_modes
            ),
            Column("StorageClass", "string", "Storage class of the claim.", p.pvc_storage_class),
            Column(
                "VolumeAttributesClass",
                "string",
                "Volume attributes class of the claim.",
                p.volume_attributes_class,
            ),
            AGE,
            Column("VolumeMode", "string", "Filesystem or Block.", p.volume_mode, priority=1),
        ),
    ),
    Resource(
        group="",
        version="v1",
        kind="PersistentVolume",
        plural="persistentvolumes",
        namespaced=False,
        schema=f"{PKG}.PersistentVolume",
        short_names=("pv",),
        subresources=("status",),
        columns=(
            NAME,
            Column("Capacity", "string", "Storage capacity of the volume.", p.pv_capacity),
            Column("Access Modes", "string", "Access modes of the volume.", p.pv_access_modes),
            Column("Reclaim Policy", "string", "What happens once released.", p.pv_reclaim_policy),
            Column("Status", "string", "Phase of the volume.", p.pv_status),
            Column("Claim", "string", "Claim bound to the volume, as namespace/name.", p.pv_claim),
            Column("StorageClass", "string", "Storage class of the volume.", p.pv_storage_class),
            Column(
                "VolumeAttributesClass",
                "string",
                "Volume attributes class of the volume.",
                p.volume_attributes_class,
            ),
            Column("Reason", "string", "Reason for a failed phase.", p.pv_reason),
            AGE,
            Column("VolumeMode", "string", "Filesystem or Block.", p.volume_mode, priority=1),
        ),
    ),
    Resource(
        group="",
        version="v1",
        kind="Pod",
        plural="pods",
        namespaced=True,
        schema=f"{PKG}.Pod",
        short_names=("po",),
        categories=("all",),
        subresources=(
            "attach",
            "binding",
            "ephemeralcontainers",
            "eviction",
            "exec",
            "log",
            "portforward",
            "proxy",
            "status",
        ),
        field_selectors={
            "spec.nodeName": _str(("spec", "nodeName")),
            "spec.restartPolicy": _str(("spec", "restartPolicy")),
            "spec.schedulerName": _str(("spec", "schedulerName")),
            "spec.serviceAccountName": _str(("spec", "serviceAccountName")),
            "spec.hostNetwork": _bool(("spec", "hostNetwork")),
            "status.phase": _str(("status", "phase")),
            "status.podIP": _pod_ip,
            "status.nominatedNodeName": _str(("status", "nominatedNodeName")),
        },
        columns=(
            NAME,
            Column("Ready", "string", "Ready containers out of all containers.", p.pod_ready),
            Column("Status", "string", "Summary status of the pod.", p.pod_status),
            Column(
                "Restarts",
                "string",
                "Container restarts and how long ago the last one happened.",
                p.pod_restarts,
            ),
            AGE,
            Column("IP", "string", "Primary IP of the pod.", p.pod_ip, priority=1),
            Column("Node", "string", "Node the pod is bound to.", p.pod_node, priority=1),
            Column(
                "Nominated Node",
                "string",
                "Node nominated by preemption.",
                p.pod_nominated_node,
                priority=1,
            ),
            Column(
                "Readiness Gates",
                "string",
                "Readiness gates that are true out of all gates.",
                p.pod_readiness_gates,
                priority=1,
            ),
        ),
    ),
    Resource(
        group="",
        version="v1",
        kind="PodTemplate",
        plural="podtemplates",
        namespaced=True,
        schema=f"{PKG}.PodTemplate",
        columns=(
            NAME,
            Column("Containers", "string", "Container names.", p.podtemplate_containers),
            Column("Images", "string", "Container images.", p.podtemplate_images),
            Column("Pod Labels", "string", "Labels of the templated pods.", p.podtemplate_labels),
        ),
    ),
    Resource(
        group="",
        version="v1",
        kind="ReplicationController",
        plural="replicationcontrollers",
        namespaced=True,
        schema=f"{PKG}.ReplicationController",
        short_names=("rc",),
        categories=("all",),
        subresources=("scale", "status"),
        field_selectors={"status.replicas": _str(("status", "replicas"))},
        columns=(
            NAME,
            Column("Desired", "integer", "Desired number of pods.", p.rc_desired),
            Column("Current", "integer", "Number of pods that exist.", p.rc_current),
            Column("Ready", "integer", "Number of ready pods.", p.rc_ready),
            AGE,
            Column("Containers", "string", "Container names.", p.rc_containers, priority=1),
            Column("Images", "string", "Container images.", p.rc_images, priority=1),
            Column("Selector", "string", "Pod label selector.", p.rc_selector, priority=1),
        ),
    ),
    Resource(
        group="",
        version="v1",
        kind="ResourceQuota",
        plural="resourcequotas",
        namespaced=True,
        schema=f"{PKG}.ResourceQuota",
        short_names=("quota",),
        subresources=("status",),
        columns=(
            NAME,
            AGE,
            Column("Request", "string", "Used/hard amounts of request quotas.", p.quota_request),
            Column("Limit", "string", "Used/hard amounts of limit quotas.", p.quota_limit),
        ),
    ),
    Resource(
        group="",
        version="v1",
        kind="Secret",
        plural="secrets",
        namespaced=True,
        schema=f"{PKG}.Secret",
        field_selectors={"type": _str(("type",))},
        columns=(
            NAME,
            Column("Type", "string", "Type of the secret.", p.secret_type),
            Column("Data", "string", "Number of keys.", p.secret_data),
            AGE,
        ),
    ),
    Resource(
        group="",
        version="v1",
        kind="ServiceAccount",
        plural="serviceaccounts",
        namespaced=True,
        schema=f"{PKG}.ServiceAccount",
        short_names=("sa",),
        subresources=("token",),
        columns=(
            NAME,
            Column("Secrets", "string", "Number of referenced secrets.", p.serviceaccount_secrets),
            AGE,
        ),
    ),
    Resource(
        group="",
        version="v1",
        kind="Service",
        plural="services",
        namespaced=True,
        schema=f"{PKG}.Service",
        short_names=("svc",),
        categories=("all",),
        subresources=("proxy", "status"),
        columns=(
            NAME,
            Column("Type", "string", "How the service is exposed.", p.service_type),
            Column("Cluster-IP", "string", "Virtual IP inside the cluster.", p.service_cluster_ip),
            Column(
                "External-IP", "string", "Addresses reachable from outside.", p.service_external_ip
            ),
            Column("Port(s)", "string", "Exposed ports, with node ports.", p.service_ports),
            AGE,
            Column("Selector", "string", "Pod label selector.", p.service_selector, priority=1),
        ),
    ),
]
