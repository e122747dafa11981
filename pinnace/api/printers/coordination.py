"""Table columns for coordination.k8s.io/v1 leases (upstream's ``printLease``)."""

from __future__ import annotations

from pinnace.api.printers import AGE, NAME, dig
from pinnace.api.schema import Column

LEASE_COLUMNS = (
    NAME,
    Column(
        "Holder",
        "string",
        "Who holds the lease now.",
        lambda o: str(dig(o, "spec", "holderIdentity", default="")),
    ),
    AGE,
)
