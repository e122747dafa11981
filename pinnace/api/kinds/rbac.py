"""rbac.authorization.k8s.io/v1: Role, ClusterRole, RoleBinding,
ClusterRoleBinding.

Facts follow kubernetes/api ``rbac/v1`` as of v1.32; descriptions are our
own. Upstream defaults ``Subject.apiGroup`` by kind (``""`` for
ServiceAccount, the RBAC group for User and Group); that is conditional, so
the registry strategy applies it.
"""

from __future__ import annotations

from pinnace.api.printers import rbac as printers
from pinnace.api.schema import Field, Resource, Struct, field, struct

GROUP = "rbac.authorization.k8s.io"
VERSION = "v1"
PKG = "io.k8s.api.rbac.v1"


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


def _list(kind: str, what: str) -> None:
    s = struct(
        PKG,
        f"{kind}List",
        f"A list of {what}.",
        [
            field("apiVersion", "string", "The versioned schema of this representation."),
            field("kind", "string", f"The REST kind of this object ({kind}List)."),
            field("metadata", "ListMeta", "Standard list metadata.", proto=1),
            field("items", f"[]{kind}", f"The {what}.", proto=2, required=True),
        ],
    )
    s.gvk = (GROUP, VERSION, f"{kind}List")


struct(
    PKG,
    "PolicyRule",
    "Actions allowed on a set of resources or non-resource URLs.",
    [
        field(
            "verbs",
            "[]string",
            "Allowed verbs, such as get or list; * allows all.",
            proto=1,
            required=True,
            list_type="atomic",
        ),
        field(
            "apiGroups",
            "[]string",
            "API groups of the resources; empty string is the core group, * is any.",
            proto=2,
            list_type="atomic",
        ),
        field(
            "resources",
            "[]string",
            "Resources (or resource/subresource) the rule covers; * is any.",
            proto=3,
            list_type="atomic",
        ),
        field(
            "resourceNames",
            "[]string",
            "Object names the rule is limited to; empty means all.",
            proto=4,
            list_type="atomic",
        ),
        field(
            "nonResourceURLs",
            "[]string",
            "URL paths (not resources) the rule covers, for cluster roles only.",
            proto=5,
            list_type="atomic",
        ),
    ],
)

struct(
    PKG,
    "Subject",
    "A user, group or service account a binding grants a role to.",
    [
        field("kind", "string", "User, Group or ServiceAccount.", proto=1, required=True),
        field("apiGroup", "string", "API group of the subject's kind.", proto=2),
        field("name", "string", "Name of the subject.", proto=3, required=True),
        field("namespace", "string", "Namespace of a service account subject.", proto=4),
    ],
    map_type="atomic",
)

struct(
    PKG,
    "RoleRef",
    "The role a binding grants.",
    [
        field("apiGroup", "string", "API group of the role's kind.", proto=1, required=True),
        field("kind", "string", "Role or ClusterRole.", proto=2, required=True),
        field("name", "string", "Name of the role.", proto=3, required=True),
    ],
    map_type="atomic",
)

struct(
    PKG,
    "AggregationRule",
    "Builds a ClusterRole's rules from other ClusterRoles.",
    [
        field(
            "clusterRoleSelectors",
            "[]LabelSelector",
            "ClusterRoles matching any of these selectors contribute their rules.",
            proto=1,
            list_type="atomic",
        ),
    ],
)

_RULES = "Permissions this role grants."

_kind(
    "Role",
    "Namespaced permissions that a RoleBinding can grant.",
    [field("rules", "[]PolicyRule", _RULES, proto=2, list_type="atomic")],
)
_list("Role", "roles")

_kind(
    "ClusterRole",
    "Cluster-wide permissions that a RoleBinding or ClusterRoleBinding can grant.",
    [
        field("rules", "[]PolicyRule", _RULES, proto=2, list_type="atomic"),
        field(
            "aggregationRule",
            "AggregationRule",
            "When set, the rules are computed by the controller from other ClusterRoles.",
            proto=3,
        ),
    ],
)
_list("ClusterRole", "cluster roles")

_SUBJECTS = "Who the role is granted to."

_kind(
    "RoleBinding",
    "Grants a Role or ClusterRole within one namespace.",
    [
        field("subjects", "[]Subject", _SUBJECTS, proto=2, list_type="atomic"),
        field(
            "roleRef",
            "RoleRef",
            "The Role in this namespace or the ClusterRole to grant; immutable.",
            proto=3,
            required=True,
        ),
    ],
)
_list("RoleBinding", "role bindings")

_kind(
    "ClusterRoleBinding",
    "Grants a ClusterRole across the whole cluster.",
    [
        field("subjects", "[]Subject", _SUBJECTS, proto=2, list_type="atomic"),
        field("roleRef", "RoleRef", "The ClusterRole to grant; immutable.", proto=3, required=True),
    ],
)
_list("ClusterRoleBinding", "cluster role bindings")


RESOURCES: list[Resource] = [
    Resource(
        GROUP,
        VERSION,
        "ClusterRoleBinding",
        "clusterrolebindings",
        namespaced=False,
        schema=f"{PKG}.ClusterRoleBinding",
        columns=printers.ROLEBINDING_COLUMNS,
    ),
    Resource(
        GROUP,
        VERSION,
        "ClusterRole",
        "clusterroles",
        namespaced=False,
        schema=f"{PKG}.ClusterRole",
        columns=printers.ROLE_COLUMNS,
    ),
    Resource(
        GROUP,
        VERSION,
        "RoleBinding",
        "rolebindings",
        namespaced=True,
        schema=f"{PKG}.RoleBinding",
        columns=printers.ROLEBINDING_COLUMNS,
    ),
    Resource(
        GROUP,
        VERSION,
        "Role",
        "roles",
        namespaced=True,
        schema=f"{PKG}.Role",
        columns=printers.ROLE_COLUMNS,
    ),
]
