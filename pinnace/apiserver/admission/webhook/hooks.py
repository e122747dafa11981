"""Webhook records from webhook configurations: each configuration's
``webhooks`` flattened into ``Hook`` values, configurations sorted by name
(upstream calls them in that order), with the label selectors parsed once.

``HookSource`` wraps the ``list_configs`` callable the server passes (it
reads the watch cache) and rebuilds its records only when the set of
``(name, resourceVersion)`` changes, so a request pays for parsing only after
a configuration was written. Pure and synchronous: called on the event loop.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pinnace.api.selectors import LabelSelector, SelectorError, label_selector_from_dict

log = logging.getLogger("pinnace.apiserver.admission.webhook")

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Hook:
    """One webhook of one configuration (defaults already applied by the store)."""

    name: str
    configuration: str
    rules: tuple[Obj, ...]
    failure_policy: str  # Fail | Ignore
    match_policy: str  # Equivalent | Exact
    namespace_selector: LabelSelector | None  # None: the selector does not parse
    object_selector: LabelSelector | None
    side_effects: str
    timeout_seconds: int
    review_versions: tuple[str, ...]
    reinvocation_policy: str  # Never | IfNeeded (mutating only)
    url: str
    service: Obj | None
    ca_bundle: bytes  # PEM; empty: system trust

    @property
    def ignores_failures(self) -> bool:
        return self.failure_policy == "Ignore"


def _selector(sel: Any) -> LabelSelector | None:
    try:
        return label_selector_from_dict(sel if isinstance(sel, dict) else {})
    except SelectorError:
        return None


def _ca_bundle(value: Any) -> bytes:
    if not isinstance(value, str) or not value:
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return b""


def hooks_of(config: Obj) -> list[Hook]:
    """The webhooks of one configuration, in their order."""
    cname = str((config.get("metadata") or {}).get("name") or "")
    out: list[Hook] = []
    for h in config.get("webhooks") or []:
        if not isinstance(h, dict):
            continue
        cc = h.get("clientConfig") or {}
        timeout = h.get("timeoutSeconds")
        out.append(
            Hook(
                name=str(h.get("name") or ""),
                configuration=cname,
                rules=tuple(r for r in h.get("rules") or [] if isinstance(r, dict)),
                failure_policy=str(h.get("failurePolicy") or "Fail"),
                match_policy=str(h.get("matchPolicy") or "Equivalent"),
                namespace_selector=_selector(h.get("namespaceSelector")),
                object_selector=_selector(h.get("objectSelector")),
                side_effects=str(h.get("sideEffects") or ""),
                timeout_seconds=timeout if isinstance(timeout, int) and timeout > 0 else 10,
                review_versions=tuple(str(v) for v in h.get("admissionReviewVersions") or []),
                reinvocation_policy=str(h.get("reinvocationPolicy") or "Never"),
                url=str(cc.get("url") or ""),
                service=cc.get("service") if isinstance(cc.get("service"), dict) else None,
                ca_bundle=_ca_bundle(cc.get("caBundle")),
            )
        )
    return out


class HookSource:
    """The current webhooks, rebuilt when a configuration changes."""

    def __init__(self, list_configs: Callable[[], list[Obj]]) -> None:
        self._list = list_configs
        self._key: tuple[tuple[str, str], ...] = ()
        self._hooks: list[Hook] = []

    def hooks(self) -> list[Hook]:
        configs = self._list()
        if not configs:
            return []
        key = tuple(
            sorted(
                (str(m.get("name") or ""), str(m.get("resourceVersion") or ""))
                for m in ((c.get("metadata") or {}) for c in configs)
            )
        )
        if key != self._key:
            ordered = sorted(configs, key=lambda c: str((c.get("metadata") or {}).get("name")))
            self._hooks = [h for c in ordered for h in hooks_of(c)]
            self._key = key
        return self._hooks
