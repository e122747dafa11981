"""authentication.k8s.io/v1: TokenRequest, TokenReview, SelfSubjectReview.

None of these is stored. TokenReview and SelfSubjectReview are create-only
computed kinds (``stored=False``): the server answers a create with the
review filled in. TokenRequest is only the body and answer of the
``serviceaccounts/<name>/token`` subresource, so it has a struct (with its
GVK, which protobuf bodies from ``kubectl create token`` name) but no
Resource of its own.

Facts (field names, protobuf numbers) follow kubernetes/api
``authentication/v1`` as of v1.32; descriptions are our own.
"""

from __future__ import annotations

from pinnace.api.schema import Field, Resource, Struct, field, struct

GROUP = "authentication.k8s.io"
VERSION = "v1"
PKG = "io.k8s.api.authentication.v1"


def _kind(kind: str, description: str, fields: list[Field]) -> Struct:
    s = struct(
        PKG,
        kind,
        description,
        [
            field("apiVersion", "string", "The versioned schema of this representation."),
            field("kind", "string", f"The REST kind of this object ({kind})."),
            field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
            *fields,
        ],
    )
    s.gvk = (GROUP, VERSION, kind)
    return s


struct(
    PKG,
    "BoundObjectReference",
    "The object a token is bound to: the token stops working when it is gone.",
    [
        field("kind", "string", "Kind of the object: Pod, Secret or Node.", proto=1),
        field("apiVersion", "string", "API version of the object (v1).", proto=2),
        field("name", "string", "Name of the object.", proto=3),
        field("uid", "string", "UID of the object; checked when given.", proto=4),
    ],
)

struct(
    PKG,
    "UserInfo",
    "An authenticated user as the authenticators see it.",
    [
        field("username", "string", "The user's name.", proto=1),
        field("uid", "string", "A value that identifies this user across time.", proto=2),
        field("groups", "[]string", "Groups the user belongs to.", proto=3, list_type="atomic"),
        field(
            "extra",
            "map[string][]string",
            "Further facts the authenticator recorded about the user.",
            proto=4,
        ),
    ],
)

# -- TokenRequest -------------------------------------------------------------

struct(
    PKG,
    "TokenRequestSpec",
    "What the caller asks of a service account token.",
    [
        field(
            "audiences",
            "[]string",
            "Who the token is meant for; defaults to the API server's own audiences.",
            proto=1,
            required=True,
            list_type="atomic",
        ),
        field(
            "expirationSeconds",
            "int64",
            "Requested lifetime in seconds (at least 600); the server may shorten it.",
            proto=4,
            default=3600,
        ),
        field(
            "boundObjectRef",
            "BoundObjectReference",
            "An object whose deletion invalidates the token.",
            proto=3,
        ),
    ],
)

struct(
    PKG,
    "TokenRequestStatus",
    "The token issued.",
    [
        field("token", "string", "The bearer token.", proto=1, required=True),
        field(
            "expirationTimestamp",
            "Time",
            "When the token stops being valid.",
            proto=2,
            required=True,
        ),
    ],
)

_kind(
    "TokenRequest",
    "Asks for a token of a service account.",
    [
        field("spec", "TokenRequestSpec", "What is asked for.", proto=2, required=True),
        field("status", "TokenRequestStatus", "The token issued.", proto=3),
    ],
)

# -- TokenReview --------------------------------------------------------------

struct(
    PKG,
    "TokenReviewSpec",
    "The token to check.",
    [
        field("token", "string", "The bearer token.", proto=1),
        field(
            "audiences",
            "[]string",
            "Audiences the token must be valid for; defaults to the API server's.",
            proto=2,
            list_type="atomic",
        ),
    ],
)

struct(
    PKG,
    "TokenReviewStatus",
    "The result of checking a token.",
    [
        field("authenticated", "bool", "Whether the token belongs to a known user.", proto=1),
        field("user", "UserInfo", "The user the token belongs to.", proto=2),
        field(
            "audiences",
            "[]string",
            "The requested audiences the token is valid for.",
            proto=4,
            list_type="atomic",
        ),
        field("error", "string", "Why the token could not be checked.", proto=3),
    ],
)

_kind(
    "TokenReview",
    "Checks a bearer token and says which user it belongs to.",
    [
        field("spec", "TokenReviewSpec", "The token to check.", proto=2, required=True),
        field("status", "TokenReviewStatus", "Filled in by the server.", proto=3),
    ],
)

# -- SelfSubjectReview --------------------------------------------------------

struct(
    PKG,
    "SelfSubjectReviewStatus",
    "The caller's identity.",
    [field("userInfo", "UserInfo", "The user making the request.", proto=1)],
)

_kind(
    "SelfSubjectReview",
    "Returns the identity the API server sees for the caller (kubectl auth whoami).",
    [field("status", "SelfSubjectReviewStatus", "Filled in by the server.", proto=2)],
)


RESOURCES: list[Resource] = [
    Resource(
        GROUP,
        VERSION,
        "SelfSubjectReview",
        "selfsubjectreviews",
        namespaced=False,
        schema=f"{PKG}.SelfSubjectReview",
        verbs=("create",),
        stored=False,
    ),
    Resource(
        GROUP,
        VERSION,
        "TokenReview",
        "tokenreviews",
        namespaced=False,
        schema=f"{PKG}.TokenReview",
        verbs=("create",),
        stored=False,
    ),
]
