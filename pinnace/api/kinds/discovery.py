"""discovery.k8s.io/v1: EndpointSlice, the scalable form of a Service's
endpoints.

Facts follow kubernetes/api ``discovery/v1`` as of v1.32; descriptions are
our own. Upstream defaults each port's name to ``""`` and protocol to TCP.
"""

from __future__ import annotations

from pinnace.api.printers import discovery as printers
from pinnace.api.schema import Resource, field, struct

GROUP = "discovery.k8s.io"
VERSION = "v1"
PKG = "io.k8s.api.discovery.v1"

struct(
    PKG,
    "EndpointConditions",
    "The readiness of one endpoint.",
    [
        field("ready", "bool", "Whether the endpoint should receive traffic.", proto=1),
        field(
            "serving",
            "bool",
            "Whether the endpoint is ready, even while terminating.",
            proto=2,
        ),
        field("terminating", "bool", "Whether the endpoint is shutting down.", proto=3),
    ],
)

struct(
    PKG,
    "ForZone",
    "A zone an endpoint should serve.",
    [field("name", "string", "Name of the zone.", proto=1, required=True)],
)

struct(
    PKG,
    "EndpointHints",
    "Routing hints for an endpoint.",
    [
        field(
            "forZones",
            "[]ForZone",
            "Zones this endpoint should serve, for topology-aware routing.",
            proto=1,
            list_type="atomic",
        ),
    ],
)

struct(
    PKG,
    "Endpoint",
    "One backend of the slice, usually a pod.",
    [
        field(
            "addresses",
            "[]string",
            "Addresses of the endpoint, of the slice's address type.",
            proto=1,
            required=True,
            list_type="set",
        ),
        field("conditions", "EndpointConditions", "The endpoint's readiness.", proto=2),
        field("hostname", "string", "Hostname of the endpoint, for DNS.", proto=3),
        field(
            "targetRef",
            "io.k8s.api.core.v1.ObjectReference",
            "The object (usually a pod) behind the endpoint.",
            proto=4,
        ),
        field(
            "deprecatedTopology",
            "map[string]string",
            "Topology labels carried over from v1beta1; deprecated.",
            proto=5,
        ),
        field("nodeName", "string", "The node the endpoint runs on.", proto=6),
        field("zone", "string", "The zone the endpoint runs in.", proto=7),
        field("hints", "EndpointHints", "Routing hints.", proto=8),
    ],
)

struct(
    PKG,
    "EndpointPort",
    "A port every endpoint of the slice exposes.",
    [
        field(
            "name", "string", "Name of the port, matching the Service port.", proto=1, default=""
        ),
        field(
            "protocol",
            "string",
            "TCP, UDP or SCTP.",
            proto=2,
            enum=("SCTP", "TCP", "UDP"),
            default="TCP",
        ),
        field("port", "int32", "Port number; unset means all ports.", proto=3),
        field("appProtocol", "string", "Application protocol of the port.", proto=4),
    ],
    map_type="atomic",
)

_slice = struct(
    PKG,
    "EndpointSlice",
    "A subset of the endpoints that implement a service.",
    [
        field("apiVersion", "string", "The versioned schema of this representation."),
        field("kind", "string", "The REST kind of this object (EndpointSlice)."),
        field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
        field(
            "addressType",
            "string",
            "The kind of addresses held: IPv4, IPv6 or FQDN; immutable.",
            proto=4,
            required=True,
        ),
        field(
            "endpoints",
            "[]Endpoint",
            "The endpoints of the slice (at most 1000).",
            proto=2,
            required=True,
            list_type="atomic",
        ),
        field(
            "ports",
            "[]EndpointPort",
            "Ports every endpoint exposes (at most 100).",
            proto=3,
            list_type="atomic",
        ),
    ],
)
_slice.gvk = (GROUP, VERSION, "EndpointSlice")

_slice_list = struct(
    PKG,
    "EndpointSliceList",
    "A list of endpoint slices.",
    [
        field("apiVersion", "string", "The versioned schema of this representation."),
        field("kind", "string", "The REST kind of this object (EndpointSliceList)."),
        field("metadata", "ListMeta", "Standard list metadata.", proto=1),
        field("items", "[]EndpointSlice", "The endpoint slices.", proto=2, required=True),
    ],
)
_slice_list.gvk = (GROUP, VERSION, "EndpointSliceList")

RESOURCES: list[Resource] = [
    Resource(
        GROUP,
        VERSION,
        "EndpointSlice",
        "endpointslices",
        namespaced=True,
        schema=f"{PKG}.EndpointSlice",
        columns=printers.ENDPOINTSLICE_COLUMNS,
    ),
]
