"""Table columns for scheduling.k8s.io/v1 priorityclasses (upstream's
``printPriorityClass``)."""

from __future__ import annotations

from pinnace.api.printers import AGE, NAME, dig
from pinnace.api.schema import Column

PRIORITY_CLASS_COLUMNS = (
    NAME,
    Column(
        "Value",
        "integer",
        "The priority pods of this class get.",
        lambda o: dig(o, "value", default=0),
    ),
    Column(
        "Global-Default",
        "boolean",
        "Whether pods without a class get this one.",
        lambda o: bool(dig(o, "globalDefault", default=False)),
    ),
    AGE,
    Column(
        "PreemptionPolicy",
        "string",
        "Whether pods of this class may preempt others.",
        lambda o: str(dig(o, "preemptionPolicy", default="") or ""),
    ),
)
