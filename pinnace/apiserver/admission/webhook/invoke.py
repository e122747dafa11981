"""One webhook call as both plugins make it: the dry-run check, the
AdmissionReview built, posted and its answer checked. Returns the response,
raises ``ApiError`` for a refusal the API server makes itself (dry run) and
``CallError`` for a webhook that could not be called; the plugins decide
what a ``CallError`` means (failurePolicy). Runs on the event loop.
"""

from __future__ import annotations

from typing import Any

from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.admission.webhook.client import WebhookClient
from pinnace.apiserver.admission.webhook.matching import Invocation
from pinnace.apiserver.admission.webhook.review import (
    CallError,
    build_review,
    check_response,
    dry_run_unsupported,
    supports_review,
)

Obj = dict[str, Any]
NO_SIDE_EFFECTS = ("None", "NoneOnDryRun")


async def call(
    client: WebhookClient, inv: Invocation, req: AdmissionRequest, mutating: bool
) -> Obj:
    hook = inv.hook
    if req.dry_run and hook.side_effects not in NO_SIDE_EFFECTS:
        raise dry_run_unsupported(hook.name)
    if not supports_review(hook.review_versions):
        raise CallError(
            hook.name,
            "could not create admission objects: webhook does not accept known "
            "AdmissionReview versions (v1, v1beta1)",
        )
    try:
        uid, review = build_review(req, inv.resource)
    except CallError as e:
        raise CallError(hook.name, e.reason) from None
    answer = await client.post(hook, review)
    return check_response(hook.name, uid, answer, mutating)
