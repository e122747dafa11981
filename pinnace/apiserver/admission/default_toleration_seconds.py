"""DefaultTolerationSeconds: every pod tolerates the node lifecycle controller's
``node.kubernetes.io/not-ready`` and ``node.kubernetes.io/unreachable`` NoExecute
taints for 300 s unless it says otherwise.

Upstream's ``plugin/pkg/admission/defaulttolerationseconds``: on pod CREATE and
UPDATE (not subresources), a pod without a toleration covering the taint (same
key or an empty key, effect NoExecute or empty) gets
``{key, operator: Exists, effect: NoExecute, tolerationSeconds: 300}``. So a pod
on a node that stops heartbeating is evicted five minutes after the taint, not
at once.
"""

from __future__ import annotations

from typing import Any

from pinnace.apiserver.admission import AdmissionRequest

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
#: upstream ``--default-not-ready-toleration-seconds`` / ``--default-unreachable-toleration-seconds``
DEFAULT_SECONDS = 300


def _tolerates(tolerations: list[Any], key: str) -> bool:
    return any(
        isinstance(t, dict)
        and (t.get("key") or "") in (key, "")
        and (t.get("effect") or "") in ("NoExecute", "")
        for t in tolerations
    )


class DefaultTolerationSeconds:
    name = "DefaultTolerationSeconds"

    def __init__(
        self, not_ready_seconds: int = DEFAULT_SECONDS, unreachable_seconds: int = DEFAULT_SECONDS
    ) -> None:
        self._defaults = ((NOT_READY, not_ready_seconds), (UNREACHABLE, unreachable_seconds))

    async def admit(self, req: AdmissionRequest) -> None:
        r = req.resource
        if r.group != "" or r.plural != "pods" or req.subresource:
            return
        if req.operation not in ("CREATE", "UPDATE") or not isinstance(req.object, dict):
            return
        spec = req.object.get("spec")
        if not isinstance(spec, dict):
            return
        tolerations = spec.get("tolerations")
        if not isinstance(tolerations, list):
            tolerations = []
        added = [
            {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": secs}
            for key, secs in self._defaults
            if not _tolerates(tolerations, key)
        ]
        if added:
            spec["tolerations"] = [*tolerations, *added]
