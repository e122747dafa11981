"""Table columns for policy/v1 poddisruptionbudgets (upstream's
``printPodDisruptionBudget``)."""

from __future__ import annotations

from typing import Any

from pinnace.api.printers import AGE, NAME, dig
from pinnace.api.schema import Column


def int_or_string_or_na(value: Any) -> str:
    """An IntOrString as text, ``N/A`` when unset."""
    return "N/A" if value is None else str(value)


PDB_COLUMNS = (
    NAME,
    Column(
        "Min Available",
        "string",
        "Pods that must stay available.",
        lambda o: int_or_string_or_na(dig(o, "spec", "minAvailable")),
    ),
    Column(
        "Max Unavailable",
        "string",
        "Pods that may be unavailable.",
        lambda o: int_or_string_or_na(dig(o, "spec", "maxUnavailable")),
    ),
    Column(
        "Allowed Disruptions",
        "integer",
        "Evictions allowed right now.",
        lambda o: int(dig(o, "status", "disruptionsAllowed", default=0)),
    ),
    AGE,
)
