"""authorization.k8s.io/v1: the access reviews (SubjectAccessReview,
SelfSubjectAccessReview, LocalSubjectAccessReview, SelfSubjectRulesReview).

Create-only kinds the server computes and never stores (``stored=False``):
``kubectl auth can-i`` creates SelfSubjectAccessReviews, ``--list`` a
SelfSubjectRulesReview. Facts follow kubernetes/api ``authorization/v1`` as
of v1.32 (field names, protobuf numbers); descriptions are our own.
"""

from __future__ import annotations

from pinnace.api.schema import Resource, field, struct

GROUP = "authorization.k8s.io"
VERSION = "v1"
PKG = "io.k8s.api.authorization.v1"

struct(
    PKG,
    "ResourceAttributes",
    "The resource request being asked about.",
    [
        field(
            "namespace",
            "string",
            "Namespace of the request (empty: all or cluster scope).",
            proto=1,
        ),
        field("verb", "string", "API verb, such as get, list, create; * for all.", proto=2),
        field("group", "string", "API group of the resource; * for all.", proto=3),
        field("version", "string", "API version of the resource; * for all.", proto=4),
        field("resource", "string", "Resource type; * for all.", proto=5),
        field("subresource", "string", "Subresource, if any.", proto=6),
        field("name", "string", "Name of the object (empty: all).", proto=7),
    ],
)
struct(
    PKG,
    "NonResourceAttributes",
    "The non-resource request (a URL path) being asked about.",
    [
        field("path", "string", "URL path of the request.", proto=1),
        field("verb", "string", "HTTP verb in lower case.", proto=2),
    ],
)
struct(
    PKG,
    "SubjectAccessReviewSpec",
    "Who is asking, and to do what; exactly one of the attribute sets is set.",
    [
        field("resourceAttributes", "ResourceAttributes", "A resource request.", proto=1),
        field("nonResourceAttributes", "NonResourceAttributes", "A non-resource request.", proto=2),
        field("user", "string", "The user asking.", proto=3),
        field("groups", "[]string", "The groups of the user asking.", proto=4),
        field("extra", "map[string][]string", "Extra attributes of the user asking.", proto=5),
        field("uid", "string", "UID of the user asking.", proto=6),
    ],
)
struct(
    PKG,
    "SelfSubjectAccessReviewSpec",
    "What the requesting user wants to know whether it may do.",
    [
        field("resourceAttributes", "ResourceAttributes", "A resource request.", proto=1),
        field("nonResourceAttributes", "NonResourceAttributes", "A non-resource request.", proto=2),
    ],
)
struct(
    PKG,
    "SubjectAccessReviewStatus",
    "The answer to an access review.",
    [
        field("allowed", "bool", "Whether the action is allowed.", proto=1, required=True),
        field("denied", "bool", "Whether an authorizer explicitly denied the action.", proto=4),
        field("reason", "string", "Why the action is allowed or denied.", proto=2),
        field("evaluationError", "string", "An error met while checking.", proto=3),
    ],
)
struct(
    PKG,
    "SelfSubjectRulesReviewSpec",
    "The namespace whose rules are listed.",
    [field("namespace", "string", "Namespace to list the rules of.", proto=1)],
)
struct(
    PKG,
    "ResourceRule",
    "Actions allowed on resources.",
    [
        field("verbs", "[]string", "Allowed verbs; * for all.", proto=1, required=True),
        field("apiGroups", "[]string", "API groups; * for all.", proto=2),
        field("resources", "[]string", "Resources; * for all.", proto=3),
        field("resourceNames", "[]string", "Object names the rule is restricted to.", proto=4),
    ],
)
struct(
    PKG,
    "NonResourceRule",
    "Actions allowed on non-resource URLs.",
    [
        field("verbs", "[]string", "Allowed verbs; * for all.", proto=1, required=True),
        field("nonResourceURLs", "[]string", "URL paths; a trailing * matches a prefix.", proto=2),
    ],
)
struct(
    PKG,
    "SubjectRulesReviewStatus",
    "The rules a user has in a namespace.",
    [
        field("resourceRules", "[]ResourceRule", "Rules on resources.", proto=1, required=True),
        field("nonResourceRules", "[]NonResourceRule", "Rules on URLs.", proto=2, required=True),
        field("incomplete", "bool", "Whether the list may miss rules.", proto=3, required=True),
        field("evaluationError", "string", "An error met while listing.", proto=4),
    ],
)


def _kind(kind: str, description: str, spec: str, status: str) -> None:
    s = struct(
        PKG,
        kind,
        description,
        [
            field("apiVersion", "string", "The versioned schema of this representation."),
            field("kind", "string", f"The REST kind of this object ({kind})."),
            field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
            field("spec", spec, "What is asked.", proto=2, required=True),
            field("status", status, "The answer, filled by the server.", proto=3),
        ],
    )
    s.gvk = (GROUP, VERSION, kind)


_kind(
    "SubjectAccessReview",
    "Asks whether a given user may perform an action.",
    "SubjectAccessReviewSpec",
    "SubjectAccessReviewStatus",
)
_kind(
    "SelfSubjectAccessReview",
    "Asks whether the requesting user may perform an action.",
    "SelfSubjectAccessReviewSpec",
    "SubjectAccessReviewStatus",
)
_kind(
    "LocalSubjectAccessReview",
    "Asks whether a given user may perform an action in one namespace.",
    "SubjectAccessReviewSpec",
    "SubjectAccessReviewStatus",
)
_kind(
    "SelfSubjectRulesReview",
    "Lists what the requesting user may do in a namespace.",
    "SelfSubjectRulesReviewSpec",
    "SubjectRulesReviewStatus",
)


def _review(kind: str, plural: str, namespaced: bool = False) -> Resource:
    return Resource(
        GROUP,
        VERSION,
        kind,
        plural,
        namespaced=namespaced,
        schema=f"{PKG}.{kind}",
        verbs=("create",),
        stored=False,
    )


RESOURCES: list[Resource] = [
    _review("LocalSubjectAccessReview", "localsubjectaccessreviews", namespaced=True),
    _review("SelfSubjectAccessReview", "selfsubjectaccessreviews"),
    _review("SelfSubjectRulesReview", "selfsubjectrulesreviews"),
    _review("SubjectAccessReview", "subjectaccessreviews"),
]
