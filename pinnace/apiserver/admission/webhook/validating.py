"""``ValidatingWebhooks``: the validating admission plugin that asks every
matching ValidatingWebhookConfiguration webhook about a request, all at
once (``asyncio.gather``), like upstream's ``ValidatingAdmissionWebhook``.

Any refusal rejects the request (the first one, in configuration order, is
reported); a webhook that cannot be called rejects it with a 500 under
failurePolicy Fail and is logged and skipped under Ignore. Warnings from
every webhook are added to the request's warnings, its auditAnnotations
(as ``<webhook>/<key>``) to the request's audit annotations.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.admission.webhook import invoke
from pinnace.apiserver.admission.webhook.client import WebhookClient
from pinnace.apiserver.admission.webhook.hooks import HookSource
from pinnace.apiserver.admission.webhook.matching import (
    GetNamespace,
    Invocation,
    invocation,
    is_exempt,
)
from pinnace.apiserver.admission.webhook.review import CallError, denied, failed
from pinnace.apiserver.errors import ApiError

log = logging.getLogger("pinnace.apiserver.admission.webhook")

FAILED_OPEN_PREFIX = "failed-open.validating.webhook.admission.k8s.io/"

Obj = dict[str, Any]


class ValidatingWebhooks:
    name = "ValidatingAdmissionWebhook"

    def __init__(
        self,
        list_configs: Callable[[], list[Obj]],
        get_namespace: GetNamespace,
        client: WebhookClient | None = None,
    ) -> None:
        self._hooks = HookSource(list_configs)
        self._get_namespace = get_namespace
        self.client = client or WebhookClient()

    async def validate(self, req: AdmissionRequest) -> None:
        hooks = self._hooks.hooks()
        if not hooks or is_exempt(req):
            return
        relevant = [inv for h in hooks if (inv := invocation(h, req, self._get_namespace))]
        if not relevant:
            return
        results = await asyncio.gather(*(self._one(inv, req, i) for i, inv in enumerate(relevant)))
        for err in results:
            if err is not None:
                raise err

    async def _one(self, inv: Invocation, req: AdmissionRequest, index: int) -> ApiError | None:
        hook = inv.hook
        try:
            resp = await invoke.call(self.client, inv, req, mutating=False)
        except CallError as e:
            if hook.ignores_failures:
                log.warning("Failed calling webhook, failing open %s: %s", hook.name, e)
                req.audit_annotations[f"{FAILED_OPEN_PREFIX}round_0_index_{index}"] = hook.name
                return None
            log.warning("Failed calling webhook, failing closed %s: %s", hook.name, e)
            return failed(e)
        except ApiError as e:
            return e
        req.warnings.extend(str(w) for w in resp.get("warnings") or [])
        for k, v in (resp.get("auditAnnotations") or {}).items():
            req.audit_annotations[f"{hook.name}/{k}"] = str(v)
        if resp.get("allowed") is True:
            return None
        return denied(hook.name, resp.get("status"))
