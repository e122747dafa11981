"""Table columns for admissionregistration.k8s.io/v1 webhook configurations
(upstream's ``printMutatingWebhook`` / ``printValidatingWebhook``: NAME,
WEBHOOKS, AGE)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pinnace.api.printers import AGE, NAME, dig
from pinnace.api.schema import Column


def webhook_count(o: Mapping[str, Any]) -> int:
    hooks = dig(o, "webhooks", default=[])
    return len(hooks) if isinstance(hooks, list) else 0


WEBHOOK_CONFIGURATION_COLUMNS = (
    NAME,
    Column(
        "Webhooks",
        "integer",
        "How many webhooks this configuration registers.",
        webhook_count,
    ),
    AGE,
)
