"""``MutatingWebhooks``: the mutating admission plugin that sends a request
to each matching MutatingWebhookConfiguration webhook in turn (configurations
by name, webhooks in order), applying each one's JSON patch before the next
is called, like upstream's ``MutatingAdmissionWebhook``. It belongs after the
built-in mutating plugins.

The patched object is defaulted again from the schema (a webhook may add a
container without its defaults) and written back into the request's object
in place, keeping its ``metadata`` dict, because the registry holds
references to both. Webhooks with reinvocationPolicy IfNeeded are called a
second time when a later webhook changed the object. Refusals and call
failures follow the same rules as the validating plugin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from pinnace.api.patch.errors import PatchError
from pinnace.api.patch.json_patch import json_patch
from pinnace.api.schema.defaulting import apply_defaults
from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.admission.webhook import invoke
from pinnace.apiserver.admission.webhook.client import WebhookClient
from pinnace.apiserver.admission.webhook.hooks import Hook, HookSource
from pinnace.apiserver.admission.webhook.matching import (
    GetNamespace,
    Invocation,
    invocation,
    is_exempt,
)
from pinnace.apiserver.admission.webhook.review import (
    CallError,
    convert,
    decode_patch,
    denied,
    failed,
    modify_unsupported,
)
from pinnace.apiserver.errors import ApiError

log = logging.getLogger("pinnace.apiserver.admission.webhook")

MUTATION_PREFIX = "mutation.webhook.admission.k8s.io/"
FAILED_OPEN_PREFIX = "failed-open.mutation.webhook.admission.k8s.io/"

Obj = dict[str, Any]


def _internal(message: str) -> ApiError:
    return ApiError(
        500,
        "InternalError",
        f"Internal error occurred: {message}",
        {"causes": [{"message": message}]},
    )


def replace_in_place(target: Obj, new: Obj) -> None:
    """Make ``target`` equal ``new`` keeping ``target`` and its ``metadata``
    dict the same objects."""
    if new is target:
        return
    meta = target.get("metadata")
    new = dict(new)
    new_meta = new.get("metadata")
    if isinstance(meta, dict) and isinstance(new_meta, dict) and new_meta is not meta:
        new_meta = dict(new_meta)  # it may share nothing with meta once copied
        meta.clear()
        meta.update(new_meta)
        new["metadata"] = meta
    target.clear()
    target.update(new)


class MutatingWebhooks:
    name = "MutatingAdmissionWebhook"

    def __init__(
        self,
        list_configs: Callable[[], list[Obj]],
        get_namespace: GetNamespace,
        client: WebhookClient | None = None,
    ) -> None:
        self._hooks = HookSource(list_configs)
        self._get_namespace = get_namespace
        self.client = client or WebhookClient()

    async def admit(self, req: AdmissionRequest) -> None:
        hooks = self._hooks.hooks()
        if not hooks or is_exempt(req):
            return
        called: list[tuple[int, Hook]] = []
        last_change = -1
        for i, hook in enumerate(hooks):
            inv = invocation(hook, req, self._get_namespace)
            if inv is None:
                continue
            changed = await self._call(inv, req, i, 0)
            if changed:
                last_change = i
            if hook.reinvocation_policy == "IfNeeded":
                called.append((i, hook))
        for i, hook in called:
            if i < last_change:
                inv = invocation(hook, req, self._get_namespace)
                if inv is not None:
                    await self._call(inv, req, i, 1)

    async def _call(self, inv: Invocation, req: AdmissionRequest, index: int, round_: int) -> bool:
        """Call one webhook and apply its patch; True when the object changed.
        Leaves upstream's audit annotations (``mutation.webhook.admission.k8s.io/
        round_R_index_I``, the webhook's own ``auditAnnotations``)."""
        hook = inv.hook
        suffix = f"round_{round_}_index_{index}"
        changed = False
        try:
            changed = await self._call_and_patch(inv, req, suffix)
        finally:
            note = {"configuration": hook.configuration, "webhook": hook.name, "mutated": changed}
            req.audit_annotations[f"{MUTATION_PREFIX}{suffix}"] = orjson.dumps(note).decode()
        return changed

    async def _call_and_patch(self, inv: Invocation, req: AdmissionRequest, suffix: str) -> bool:
        hook = inv.hook
        try:
            resp = await invoke.call(self.client, inv, req, mutating=True)
            ops = decode_patch(hook.name, resp) if resp.get("allowed") is True else None
        except CallError as e:
            if hook.ignores_failures:
                log.warning("Failed calling webhook, failing open %s: %s", hook.name, e)
                req.audit_annotations[f"{FAILED_OPEN_PREFIX}{suffix}"] = hook.name
                return False
            log.warning("Failed calling webhook, failing closed %s: %s", hook.name, e)
            raise failed(e) from None
        req.warnings.extend(str(w) for w in resp.get("warnings") or [])
        for k, v in (resp.get("auditAnnotations") or {}).items():
            req.audit_annotations[f"{hook.name}/{k}"] = str(v)
        if resp.get("allowed") is not True:
            raise denied(hook.name, resp.get("status"))
        if ops is None:
            return False
        if req.object is None:
            raise modify_unsupported(hook.name)
        r, rr = inv.resource, req.resource
        converted = r is not rr and not req.subresource
        try:
            # under matchPolicy Equivalent the patch is for the version sent
            target: Obj | None = req.object
            if converted:
                target = convert(target, r.kind, rr.api_version, r.api_version)
            patched = json_patch(target, ops)
            if not isinstance(patched, dict):
                raise _internal(f"admission webhook {hook.name!r} replaced the object")
            if converted:
                patched = convert(patched, r.kind, r.api_version, rr.api_version) or {}
        except PatchError as e:
            raise _internal(e.message) from None
        except LookupError as e:
            raise _internal(str(e)) from None
        if not req.subresource:
            apply_defaults(patched, req.resource.schema)
        if patched == req.object:
            return False
        replace_in_place(req.object, patched)
        return True
