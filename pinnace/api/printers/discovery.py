"""Table columns for discovery.k8s.io/v1 endpointslices (upstream's
``printEndpointSlice``): the first three ports and addresses, then a count of
the rest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pinnace.api.printers import AGE, NAME, dig
from pinnace.api.schema import Column

Obj = Mapping[str, Any]
MAX_SHOWN = 3


def list_with_more(items: list[str], total: int) -> str:
    """``a,b,c + N more...``, or ``<unset>`` for nothing (upstream's
    ``listWithMoreString``)."""
    text = ",".join(items)
    if total > len(items):
        return f"{text} + {total - MAX_SHOWN} more..."
    return text or "<unset>"


def slice_ports(o: Obj) -> str:
    ports = dig(o, "ports", default=[])
    shown: list[str] = []
    for p in ports[:MAX_SHOWN]:
        if p.get("port") is not None:
            shown.append(str(p["port"]))
        elif p.get("name") is not None:
            shown.append(str(p["name"]))
        else:
            shown.append("*")
    return list_with_more(shown, len(ports))


def slice_endpoints(o: Obj) -> str:
    addresses = [
        str(a) for ep in dig(o, "endpoints", default=[]) for a in ep.get("addresses") or []
    ]
    return list_with_more(addresses[:MAX_SHOWN], len(addresses))


ENDPOINTSLICE_COLUMNS = (
    NAME,
    Column(
        "AddressType",
        "string",
        "The kind of addresses in the slice.",
        lambda o: str(o.get("addressType", "")),
    ),
    Column("Ports", "string", "Ports the endpoints expose.", slice_ports),
    Column("Endpoints", "string", "Addresses of the endpoints.", slice_endpoints),
    AGE,
)
