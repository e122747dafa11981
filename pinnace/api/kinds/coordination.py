"""coordination.k8s.io/v1: Lease, used for node heartbeats and leader election.

Facts follow kubernetes/api ``coordination/v1`` as of v1.32; descriptions are
our own.
"""

from __future__ import annotations

from pinnace.api.printers import coordination as printers
from pinnace.api.schema import Resource, field, struct

GROUP = "coordination.k8s.io"
VERSION = "v1"
PKG = "io.k8s.api.coordination.v1"

struct(
    PKG,
    "LeaseSpec",
    "Who holds a lease and for how long.",
    [
        field("holderIdentity", "string", "Identity of the current holder.", proto=1),
        field(
            "leaseDurationSeconds",
            "int32",
            "Seconds after the last renewal before others may take the lease.",
            proto=2,
        ),
        field("acquireTime", "MicroTime", "When the current holder acquired the lease.", proto=3),
        field("renewTime", "MicroTime", "When the current holder last renewed the lease.", proto=4),
        field("leaseTransitions", "int32", "How many times the lease changed hands.", proto=5),
        field(
            "strategy",
            "string",
            "How a leader is picked under coordinated leader election.",
            proto=6,
        ),
        field(
            "preferredHolder",
            "string",
            "A better holder the current one is asked to yield to.",
            proto=7,
        ),
    ],
)

_lease = struct(
    PKG,
    "Lease",
    "A lease held by one party at a time.",
    [
        field("apiVersion", "string", "The versioned schema of this representation."),
        field("kind", "string", "The REST kind of this object (Lease)."),
        field("metadata", "ObjectMeta", "Standard object metadata.", proto=1),
        field("spec", "LeaseSpec", "The lease's holder and timing.", proto=2),
    ],
)
_lease.gvk = (GROUP, VERSION, "Lease")

_lease_list = struct(
    PKG,
    "LeaseList",
    "A list of leases.",
    [
        field("apiVersion", "string", "The versioned schema of this representation."),
        field("kind", "string", "The REST kind of this object (LeaseList)."),
        field("metadata", "ListMeta", "Standard list metadata.", proto=1),
        field("items", "[]Lease", "The leases.", proto=2, required=True),
    ],
)
_lease_list.gvk = (GROUP, VERSION, "LeaseList")

RESOURCES: list[Resource] = [
    Resource(
        GROUP,
        VERSION,
        "Lease",
        "leases",
        namespaced=True,
        schema=f"{PKG}.Lease",
        columns=printers.LEASE_COLUMNS,
    ),
]
