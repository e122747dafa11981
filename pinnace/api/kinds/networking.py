"""networking.k8s.io/v1: Ingress, IngressClass, NetworkPolicy.

Facts follow kubernetes/api ``networking/v1`` as of v1.32; descriptions are
our own.

Upstream embeds ``IngressRuleValue`` inline in ``IngressRule``: in JSON the
``http`` field sits directly on the rule, while in protobuf field 2 of the
rule is an ``IngressRuleValue`` message whose field 1 is ``http``. The DSL
has no inline embedding, so ``http`` is declared on the rule with proto 2; a
protobuf decoder has to unwrap that one extra level.

Defaults: NetworkPolicyPort.protocol (TCP) and the parameters' scope
(Cluster) are declared; ``policyTypes`` depends on whether egress rules are
present, so the registry strategy fills it.
"""

from __future__ import annotations

from pinnace.api.printers import networking as printers
from pinnace.api.schema import Field, Resource, Struct, field, struct

GROUP = "networking.k8s.io"
VERSION = "v1"
PKG = "io.k8s.api.networking.v1"


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


# -- Ingress -------------------------------------------------------------------

struct(
    PKG,
    "ServiceBackendPort",
    "A port of a Service, by name or number.",
    [
        field("name", "string", "Name of the Service port.", proto=1),
        field("number", "int32", "Number of the Service port.", proto=2),
    ],
    map_type="atomic",
)

struct(
    PKG,
    "IngressServiceBackend",
    "A Service that receives traffic from an ingress.",
    [
        field(
            "name",
            "string",
            "Name of the Service, in the ingress's namespace.",
            proto=1,
            required=True,
        ),
        field("port", "ServiceBackendPort", "The Service port to send traffic to.", proto=2),
    ],
)

struct(
    PKG,
    "IngressBackend",
    "Where matching traffic goes: a Service or another resource.",
    [
        field("service", "IngressServiceBackend", "A Service backend.", proto=4),
        field(
            "resource",
            "io.k8s.api.core.v1.TypedLocalObjectReference",
            "Another object in the namespace, such as a storage bucket.",
            proto=3,
        ),
    ],
)

struct(
    PKG,
    "HTTPIngressPath",
    "A path and the backend serving it.",
    [
        field("path", "string", "The path to match against the request.", proto=1),
        field(
            "pathType",
            "string",
            "How the path is matched: Exact, Prefix or ImplementationSpecific.",
            proto=3,
            required=True,
            enum=("Exact", "ImplementationSpecific", "Prefix"),
        ),
        field("backend", "IngressBackend", "Where matching requests go.", proto=2, required=True),
    ],
)

struct(
    PKG,
    "HTTPIngressRuleValue",
    "HTTP paths of a rule.",
    [
        field(
            "paths",
            "[]HTTPIngressPath",
            "Paths and their backends.",
            proto=1,
            required=True,
            list_type="atomic",
        ),
    ],
)

struct(
    PKG,
    "IngressRule",
    "Routes for one host (or for every host when none is given).",
    [
        field(
            "host", "string", "The host name to match; may start with a * wildcard label.", proto=1
        ),
        # inline IngressRuleValue in JSON; proto field 2 wraps it (module docstring)
        field("http", "HTTPIngressRuleValue", "HTTP routes for this host.", proto=1, proto_embed=2),
    ],
)

struct(
    PKG,
    "IngressTLS",
    "TLS settings for some hosts.",
    [
        field(
            "hosts", "[]string", "Hosts covered by the certificate.", proto=1, list_type="atomic"
        ),
        field("secretName", "string", "Secret holding the certificate and key.", proto=2),
    ],
)

struct(
    PKG,
    "IngressSpec",
    "The desired routing of an Ingress.",
    [
        field("ingressClassName", "string", "The IngressClass that should handle it.", proto=4),
        field(
            "defaultBackend",
            "IngressBackend",
            "Where requests that match no rule go.",
            proto=1,
        ),
        field("tls", "[]IngressTLS", "TLS termination settings.", proto=2, list_type="atomic"),
        field(
            "rules", "[]IngressRule", "Host and path routing rules.", proto=3, list_type="atomic"
        ),
    ],
)

struct(
    PKG,
    "IngressPortStatus",
    "The state of one load-balancer port.",
    [
        field("port", "int32", "The port number.", proto=1, required=True),
        field(
            "protocol",
            "string",
            "TCP, UDP or SCTP.",
            proto=2,
            required=True,
            enum=("SCTP", "TCP", "UDP"),
        ),
        field("error", "string", "Why the port is not working, if it is not.", proto=3),
    ],
)

struct(
    PKG,
    "IngressLoadBalancerIngress",
    "One entry point of the load balancer.",
    [
        field("ip", "string", "IP address of the entry point.", proto=1),
        field("hostname", "string", "DNS name of the entry point.", proto=2),
        field(
            "ports",
            "[]IngressPortStatus",
            "Ports the entry point exposes.",
            proto=4,
            list_type="atomic",
        ),
    ],
)

struct(
    PKG,
    "IngressLoadBalancerStatus",
    "The state of the ingress's load balancer.",
    [
        field(
            "ingress",
            "[]IngressLoadBalancerIngress",
            "Entry points of the load balancer.",
            proto=1,
            list_type="atomic",
        ),
    ],
)

struct(
    PKG,
    "IngressStatus",
    "The observed state of an Ingress.",
    [field("loadBalancer", "IngressLoadBalancerStatus", "The load balancer's state.", proto=1)],
)

_kind(
    "Ingress",
    "HTTP(S) routes from outside the cluster to Services.",
    [
        field("spec", "IngressSpec", "The desired routing.", proto=2),
        field("status", "IngressStatus", "The most recently observed state.", proto=3),
    ],
)
_list("Ingress", "ingresses")

# -- IngressClass --------------------------------------------------------------

struct(
    PKG,
    "IngressClassParametersReference",
    "An object holding controller-specific settings for a class.",
    [
        field("apiGroup", "string", "API group of the object's kind.", proto=1),
        field("kind", "string", "Kind of the object.", proto=2, required=True),
        field("name", "string", "Name of the object.", proto=3, required=True),
        field(
            "scope",
            "string",
            "Cluster or Namespace: where the object lives.",
            proto=4,
            default="Cluster",
        ),
        field("namespace", "string", "Namespace of the object when scope is Namespace.", proto=5),
    ],
)

struct(
    PKG,
    "IngressClassSpec",
    "The controller behind an IngressClass.",
    [
        field("controller", "string", "Name of the controller, like example.com/ingress.", proto=1),
        field(
            "parameters",
            "IngressClassParametersReference",
            "Extra settings for the controller.",
            proto=2,
        ),
    ],
)

_kind(
    "IngressClass",
    "A kind of ingress, implemented by one controller.",
    [field("spec", "IngressClassSpec", "The class's controller and settings.", proto=2)],
)
_list("IngressClass", "ingress classes")

# -- NetworkPolicy -------------------------------------------------------------

struct(
    PKG,
    "NetworkPolicyPort",
    "A port (or port range) traffic may use.",
    [
        field(
            "protocol",
            "string",
            "TCP, UDP or SCTP.",
            proto=1,
            enum=("SCTP", "TCP", "UDP"),
            default="TCP",
        ),
        field("port", "IntOrString", "Port number or named port; all ports when unset.", proto=2),
        field("endPort", "int32", "Last port of a range starting at port.", proto=3),
    ],
)

struct(
    PKG,
    "IPBlock",
    "A CIDR range, with exceptions.",
    [
        field("cidr", "string", "The allowed range, like 10.0.0.0/8.", proto=1, required=True),
        field(
            "except",
            "[]string",
            "Ranges inside cidr that are not allowed.",
            proto=2,
            list_type="atomic",
        ),
    ],
)

struct(
    PKG,
    "NetworkPolicyPeer",
    "A set of pods, namespaces or addresses traffic may come from or go to.",
    [
        field(
            "podSelector", "LabelSelector", "Pods (in the selected namespaces) allowed.", proto=1
        ),
        field("namespaceSelector", "LabelSelector", "Namespaces whose pods are allowed.", proto=2),
        field("ipBlock", "IPBlock", "Addresses allowed; excludes the other two fields.", proto=3),
    ],
)

struct(
    PKG,
    "NetworkPolicyIngressRule",
    "Incoming traffic a policy allows.",
    [
        field(
            "ports",
            "[]NetworkPolicyPort",
            "Ports that may be reached; all when empty.",
            proto=1,
            list_type="atomic",
        ),
        field(
            "from",
            "[]NetworkPolicyPeer",
            "Sources allowed; all when empty.",
            proto=2,
            list_type="atomic",
        ),
    ],
)

struct(
    PKG,
    "NetworkPolicyEgressRule",
    "Outgoing traffic a policy allows.",
    [
        field(
            "ports",
            "[]NetworkPolicyPort",
            "Destination ports allowed; all when empty.",
            proto=1,
            list_type="atomic",
        ),
        field(
            "to",
            "[]NetworkPolicyPeer",
            "Destinations allowed; all when empty.",
            proto=2,
            list_type="atomic",
        ),
    ],
)

struct(
    PKG,
    "NetworkPolicySpec",
    "Which pods a policy isolates and what traffic it lets through.",
    [
        field(
            "podSelector",
            "LabelSelector",
            "The pods the policy applies to; empty selects all in the namespace.",
            proto=1,
            required=True,
        ),
        field(
            "ingress",
            "[]NetworkPolicyIngressRule",
            "Incoming traffic allowed.",
            proto=2,
            list_type="atomic",
        ),
        field(
            "egress",
            "[]NetworkPolicyEgressRule",
            "Outgoing traffic allowed.",
            proto=3,
            list_type="atomic",
        ),
        field(
            "policyTypes",
            "[]string",
            "Directions the policy isolates: Ingress, Egress or both.",
            proto=4,
            list_type="atomic",
        ),
    ],
)

_kind(
    "NetworkPolicy",
    "Rules for the traffic allowed to and from a set of pods.",
    [field("spec", "NetworkPolicySpec", "The desired policy.", proto=2)],
)
_list("NetworkPolicy", "network policies")


RESOURCES: list[Resource] = [
    Resource(
        GROUP,
        VERSION,
        "IngressClass",
        "ingressclasses",
        namespaced=False,
        schema=f"{PKG}.IngressClass",
        columns=printers.INGRESSCLASS_COLUMNS,
    ),
    Resource(
        GROUP,
        VERSION,
        "Ingress",
        "ingresses",
        namespaced=True,
        schema=f"{PKG}.Ingress",
        short_names=("ing",),
        subresources=("status",),
        columns=printers.INGRESS_COLUMNS,
    ),
    Resource(
        GROUP,
        VERSION,
        "NetworkPolicy",
        "networkpolicies",
        namespaced=True,
        schema=f"{PKG}.NetworkPolicy",
        short_names=("netpol",),
        columns=printers.NETWORKPOLICY_COLUMNS,
    ),
]
