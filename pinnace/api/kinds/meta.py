"""Schema declarations for ``io.k8s.apimachinery.pkg.apis.meta.v1``: object
and list metadata, label selectors, owner references, managed fields, Status
(errors), DeleteOptions and the standard Condition.

``TypeMeta`` (apiVersion/kind) is not a struct here: each top-level kind
declares those two fields itself, with no protobuf number (protobuf carries
them in the runtime.Unknown envelope). Field names, types, protobuf numbers
and merge metadata follow upstream's ``k8s.io/apimachinery/pkg/apis/meta/v1``;
descriptions are short summaries. Meta serves no resources of its own.
"""

from __future__ import annotations

from pinnace.api.schema import META, Resource, field, struct

PKG = META


# fmt: off
struct(PKG, "OwnerReference", "Points at an object that owns this one; owned objects are garbage-collected with their owner.", [
    field("apiVersion", "string", "API version of the owner.", proto=5, required=True),
    field("kind", "string", "Kind of the owner.", proto=1, required=True),
    field("name", "string", "Name of the owner.", proto=3, required=True),
    field("uid", "string", "UID of the owner.", proto=4, required=True),
    field("controller", "bool", "Whether the owner is the managing controller of this object (at most one owner may be).", proto=6),
    field("blockOwnerDeletion", "bool", "When true, foreground deletion of the owner waits until this object is gone.", proto=7),
], map_type="atomic")


struct(PKG, "ManagedFieldsEntry", "Records which manager owns which fields of an object and through which operation.", [
    field("manager", "string", "Name of the workflow (field manager) that manages these fields.", proto=1),
    field("operation", "string", "How the fields were written: Apply or Update.", proto=2),
    field("apiVersion", "string", "API version the field set is expressed in.", proto=3),
    field("time", "Time", "When the fields were last changed by this manager.", proto=4),
    field("fieldsType", "string", "Format of fieldsV1; only FieldsV1 is defined.", proto=6),
    field("fieldsV1", "object", "The set of owned fields, in the FieldsV1 trie format.", proto=7),
    field("subresource", "string", "Subresource the object was written through, empty for the main resource.", proto=8),
])


struct(PKG, "ObjectMeta", "Metadata every persisted object carries: identity, labels, annotations, ownership and lifecycle stamps.", [
    field("name", "string", "Name of the object, unique within its namespace for a given kind.", proto=1),
    field("generateName", "string", "Prefix the server uses to generate a unique name when name is empty.", proto=2),
    field("namespace", "string", "Namespace the object lives in; empty for cluster-scoped kinds.", proto=3),
    field("selfLink", "string", "Deprecated URL of the object; no longer populated.", proto=4),
    field("uid", "string", "Unique ID assigned by the server when the object is created.", proto=5),
    field("resourceVersion", "string", "Opaque version of the object, used for optimistic concurrency and watches.", proto=6),
    field("generation", "int64", "Sequence number of the desired state, bumped by the server on spec changes.", proto=7),
    field("creationTimestamp", "Time", "When the server created the object (UTC, RFC 3339).", proto=8),
    field("deletionTimestamp", "Time", "When the object will be (or started being) deleted; set by the server on graceful deletion.", proto=9),
    field("deletionGracePeriodSeconds", "int64", "Seconds the object is allowed to terminate gracefully before removal.", proto=10),
    field("labels", "map[string]string", "Key/value pairs used to organize and select objects.", proto=11),
    field("annotations", "map[string]string", "Arbitrary non-identifying key/value data attached by tools and users.", proto=12),
    field("ownerReferences", "[]OwnerReference", "Objects this one depends on; when every owner is gone it is garbage-collected.", proto=13, merge_key="uid", patch_strategy="merge", list_type="map"),
    field("finalizers", "[]string", "Keys that must be cleared before the server removes the object from storage.", proto=14, patch_strategy="merge", list_type="set"),
    field("managedFields", "[]ManagedFieldsEntry", "Which field manager owns which fields (server-side apply bookkeeping).", proto=17, list_type="atomic"),
])


struct(PKG, "ShardInfo", "Which shard of a sharded list response was served.", [
    field("selector", "string", "The shard selector of the request, echoed back.", proto=1, required=True),
])


struct(PKG, "ListMeta", "Metadata of a list response: version and pagination token.", [
    field("selfLink", "string", "Deprecated URL of the list; no longer populated.", proto=1),
    field("resourceVersion", "string", "Version of the collection as of this response, usable to start a watch.", proto=2),
    field("continue", "string", "Opaque token to fetch the next page of a paginated list.", proto=3),
    field("remainingItemCount", "int64", "Approximate number of items after this page, when known.", proto=4),
    field("shardInfo", "ShardInfo", "Set when the list was served for a single shard.", proto=5),
])


struct(PKG, "LabelSelectorRequirement", "One selector condition: a label key, an operator and values.", [
    field("key", "string", "The label key the condition applies to.", proto=1, required=True),
    field("operator", "string", "One of In, NotIn, Exists and DoesNotExist.", proto=2, required=True),
    field("values", "[]string", "Values to compare with; empty for Exists and DoesNotExist.", proto=3, list_type="atomic"),
])


struct(PKG, "LabelSelector", "Selects objects by labels; all conditions must hold, and an empty selector matches everything.", [
    field("matchLabels", "map[string]string", "Exact label key/value pairs that must all be present.", proto=1),
    field("matchExpressions", "[]LabelSelectorRequirement", "Set-based conditions that must all hold.", proto=2, list_type="atomic"),
], map_type="atomic")


struct(PKG, "StatusCause", "One specific reason an operation failed, possibly tied to a field.", [
    field("reason", "string", "Machine-readable cause of the error.", proto=1),
    field("message", "string", "Human-readable explanation of this cause.", proto=2),
    field("field", "string", "Path of the field that caused the error, e.g. spec.containers[0].name.", proto=3),
])


struct(PKG, "StatusDetails", "Extra data about a failure, such as the affected object and per-field causes.", [
    field("name", "string", "Name of the resource concerned by the error.", proto=1),
    field("group", "string", "API group of the resource concerned.", proto=2),
    field("kind", "string", "Kind (or resource) concerned by the error.", proto=3),
    field("uid", "string", "UID of the resource concerned, when known.", proto=6),
    field("causes", "[]StatusCause", "Detailed causes, e.g. one per invalid field.", proto=4, list_type="atomic"),
    field("retryAfterSeconds", "int32", "Suggested seconds to wait before retrying.", proto=5),
])


Status = struct(PKG, "Status", "The result of a call that does not return an object, typically an error.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("metadata", "ListMeta", "Standard list metadata.", proto=1),
    field("status", "string", "Success or Failure.", proto=2),
    field("message", "string", "Human-readable description of the outcome.", proto=3),
    field("reason", "string", "Machine-readable CamelCase reason, e.g. NotFound or AlreadyExists.", proto=4),
    field("details", "StatusDetails", "Additional data about the reason.", proto=5),
    field("code", "int32", "HTTP status code of this result.", proto=6),
])
Status.gvk = ("", "v1", "Status")


struct(PKG, "Preconditions", "Conditions that must hold for an operation (like delete) to proceed.", [
    field("uid", "string", "The object must have this UID.", proto=1),
    field("resourceVersion", "string", "The object must have this resourceVersion.", proto=2),
])


DeleteOptions = struct(PKG, "DeleteOptions", "Options for a delete request.", [
    field("apiVersion", "string", "Versioned schema of this representation of the object, e.g. v1."),
    field("kind", "string", "REST resource type of this object, in CamelCase."),
    field("gracePeriodSeconds", "int64", "Seconds to wait before the object is removed; zero deletes immediately.", proto=1),
    field("preconditions", "Preconditions", "Conditions the object must meet to be deleted.", proto=2),
    field("orphanDependents", "bool", "Deprecated; whether dependents are orphaned (use propagationPolicy).", proto=3),
    field("propagationPolicy", "string", "How dependents are handled: Orphan, Background or Foreground.", proto=4),
    field("dryRun", "[]string", "When set to All, process the request without persisting anything.", proto=5, list_type="atomic"),
    field("ignoreStoreReadErrorWithClusterBreakingPotential", "bool", "Force-delete an object that cannot be read from storage (unsafe).", proto=6),
])
DeleteOptions.gvk = ("", "v1", "DeleteOptions")


struct(PKG, "Condition", "One aspect of an object's current state, in the standard condition shape.", [
    field("type", "string", "Condition type in CamelCase, e.g. Available.", proto=1, required=True),
    field("status", "string", "True, False or Unknown.", proto=2, required=True),
    field("observedGeneration", "int64", "The metadata.generation this condition was set for.", proto=3),
    field("lastTransitionTime", "Time", "When the status last changed.", proto=4, required=True),
    field("reason", "string", "Machine-readable CamelCase reason for the last transition.", proto=5, required=True),
    field("message", "string", "Human-readable details of the last transition.", proto=6, required=True),
])
# fmt: on


RESOURCES: list[Resource] = []
