"""admissionregistration.k8s.io/v1: MutatingWebhookConfiguration and
ValidatingWebhookConfiguration, the registrations of dynamic admission
webhooks the API server calls out to.

Facts (field names, protobuf numbers, defaults) follow kubernetes/api
``admissionregistration/v1`` as of v1.32; descriptions are our own. The v1
defaults are simple ones, so they live here: failurePolicy Fail, matchPolicy
Equivalent, namespace/object selectors ``{}``, timeoutSeconds 10,
reinvocationPolicy Never, a rule's scope ``*`` and a service port of 443.
``clientConfig``, ``sideEffects`` and ``admissionReviewVersions`` are
required, but upstream's validator (not its schema) says so, with its own
messages, so the strategy checks them rather than the schema.
"""

from __future__ import annotations

from pinnace.api.printers import admissionregistration as printers
from pinnace.api.schema import Field, Resource, field, struct

GROUP = "admissionregistration.k8s.io"
VERSION = "v1"
PKG = "io.k8s.api.admissionregistration.v1"

OPERATIONS = ("*", "CREATE", "UPDATE", "DELETE", "CONNECT")
FAILURE_POLICIES = ("Fail", "Ignore")
MATCH_POLICIES = ("Equivalent", "Exact")
SIDE_EFFECTS = ("None", "NoneOnDryRun", "Some", "Unknown")
REINVOCATION_POLICIES = ("IfNeeded", "Never")
SCOPES = ("*", "Cluster", "Namespaced")

struct(
    PKG,
    "ServiceReference",
    "A Service (and path on it) that serves a webhook.",
    [
        field("namespace", "string", "Namespace of the Service.", proto=1, required=True),
        field("name", "string", "Name of the Service.", proto=2, required=True),
        field("path", "string", "URL path requests are sent to.", proto=3),
        field("port", "int32", "Service port the webhook listens on.", proto=4, default=443),
    ],
)

struct(
    PKG,
    "WebhookClientConfig",
    "How the API server reaches a webhook: a URL or a Service, and the CA to trust.",
    [
        field(
            "url",
            "string",
            "An https URL of the webhook (exactly one of url and service).",
            proto=3,
        ),
        field(
            "service",
            "ServiceReference",
            "A Service in the cluster that serves the webhook (exactly one of url and service).",
            proto=1,
        ),
        field(
            "caBundle",
            "bytes",
            "PEM CA certificates that sign the webhook's serving certificate; "
            "empty means the system trust store.",
            proto=2,
        ),
    ],
)

_RULE_FIELDS: list[Field] = [
    field(
        "apiGroups",
        "[]string",
        "API groups the rule covers; empty string is the core group, * is any.",
        proto=1,
        proto_embed=2,
        list_type="atomic",
    ),
    field(
        "apiVersions",
        "[]string",
        "API versions the rule covers; * is any.",
        proto=2,
        proto_embed=2,
        list_type="atomic",
    ),
    field(
        "resources",
        "[]string",
        "Resources the rule covers: name, name/subresource, * or */* and the like.",
        proto=3,
        proto_embed=2,
        list_type="atomic",
    ),
    field(
        "scope",
        "string",
        "Which scope of resources the rule covers: Cluster, Namespaced or *.",
        proto=4,
        proto_embed=2,
        default="*",
        enum=SCOPES,
    ),
]

struct(
    PKG,
    "RuleWithOperations",
    "Operations on a set of resources that a webhook wants to see.",
    [
        field(
            "operations",
            "[]string",
            "Operations the rule covers: CREATE, UPDATE, DELETE, CONNECT or *.",
            proto=1,
            list_type="atomic",
        ),
        *_RULE_FIELDS,
    ],
)

struct(
    PKG,
    "MatchCondition",
    "A CEL condition a request must meet to be sent to the webhook.",
    [
        field("name", "string", "Identifies the condition.", proto=1, required=True),
        field("expression", "string", "The CEL expression.", proto=2, required=True),
    ],
)


def _webhook_fields(mutating: bool) -> list[Field]:
    # protobuf numbers differ between the two kinds from objectSelector on
    obj_sel, match_cond = (11, 12) if mutating else (10, 11)
    fields = [
        field(
            "name",
            "string",
            "Fully qualified name of the webhook (at least three DNS labels).",
            proto=1,
            required=True,
        ),
        field(
            "clientConfig",
            "WebhookClientConfig",
            "How to reach the webhook.",
            proto=2,
        ),
        field(
            "rules",
            "[]RuleWithOperations",
            "Operations and resources the webhook cares about.",
            proto=3,
            list_type="atomic",
        ),
        field(
            "failurePolicy",
            "string",
            "What to do when the webhook cannot be called: Fail or Ignore.",
            proto=4,
            default="Fail",
            enum=FAILURE_POLICIES,
        ),
        field(
            "matchPolicy",
            "string",
            "Whether a request for an equivalent resource in another version is sent too.",
            proto=9,
            default="Equivalent",
            enum=MATCH_POLICIES,
        ),
        field(
            "namespaceSelector",
            "LabelSelector",
            "Labels the object's namespace must have (the Namespace's own labels for a Namespace).",
            proto=5,
            default={},
        ),
        field(
            "objectSelector",
            "LabelSelector",
            "Labels the object (new or old) must have.",
            proto=obj_sel,
            default={},
        ),
        field(
            "sideEffects",
            "string",
            "Whether calling the webhook changes anything out of band (None or NoneOnDryRun).",
            proto=6,
        ),
        field(
            "timeoutSeconds",
            "int32",
            "Seconds to wait for the webhook (1 to 30).",
            proto=7,
            default=10,
        ),
        field(
            "admissionReviewVersions",
            "[]string",
            "AdmissionReview versions the webhook accepts, preferred first.",
            proto=8,
            list_type="atomic",
        ),
        field(
            "matchConditions",
            "[]MatchCondition",
            "CEL conditions a request must meet to be sent.",
            proto=match_cond,
            merge_key="name",
            patch_strategy="merge",
        ),
    ]
    if mutating:
        fields.append(
            field(
                "reinvocationPolicy",
                "string",
                "Whether the webhook is called again when later mutations change the object.",
                proto=10,
                default="Never",
                enum=REINVOCATION_POLICIES,
            )
        )
    return fields


struct(PKG, "MutatingWebhook", "One mutating admission webhook.", _webhook_fields(True))
struct(PKG, "ValidatingWebhook", "One validating admission webhook.", _webhook_fields(False))


def _kind(kind: str, hook: str, description: str) -> None:
    s = struct(
        PKG,
        kind,
        description,
        [
            field("apiVersion", "string", "The versioned schema of this representation."),
            field("kind", "string", f"The REST kind of this object ({kind})."),
            field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
            field(
                "webhooks",
                f"[]{hook}",
                "The webhooks this configuration registers.",
                proto=2,
                merge_key="name",
                patch_strategy="merge",
            ),
        ],
    )
    s.gvk = (GROUP, VERSION, kind)
    lst = struct(
        PKG,
        f"{kind}List",
        f"A list of {kind} objects.",
        [
            field("apiVersion", "string", "The versioned schema of this representation."),
            field("kind", "string", f"The REST kind of this object ({kind}List)."),
            field("metadata", "ListMeta", "Standard list metadata.", proto=1),
            field("items", f"[]{kind}", "The configurations.", proto=2, required=True),
        ],
    )
    lst.gvk = (GROUP, VERSION, f"{kind}List")


_kind(
    "MutatingWebhookConfiguration",
    "MutatingWebhook",
    "Webhooks that may change objects before they are stored.",
)
_kind(
    "ValidatingWebhookConfiguration",
    "ValidatingWebhook",
    "Webhooks that may accept or reject objects before they are stored.",
)

RESOURCES: list[Resource] = [
    Resource(
        GROUP,
        VERSION,
        kind,
        kind.lower() + "s",
        namespaced=False,
        schema=f"{PKG}.{kind}",
        categories=("api-extensions",),
        columns=printers.WEBHOOK_CONFIGURATION_COLUMNS,
    )
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
]
