"""The ``admission.k8s.io/v1`` AdmissionReview a webhook receives, the checks
on the one it sends back, and the errors the API server answers with, in
upstream's words (v1.32):

- denial: the webhook's ``status`` with the message prefixed
  ``admission webhook "NAME" denied the request: `` (``without explanation``
  when it gave none), a code below 400 raised to 400, status ``Failure``;
- failure to call (connection, TLS, timeout, malformed answer): 500
  ``Internal error occurred: failed calling webhook "NAME": ...``, unless
  the webhook's failurePolicy is Ignore;
- dry run to a webhook with side effects Some/Unknown: 400
  ``admission webhook "NAME" does not support dry run``.

Pure: builds and reads JSON dicts, raises ``ApiError``/``CallError``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import uuid
from typing import Any

import orjson

from pinnace.api.conversion import converter
from pinnace.api.schema import Resource
from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.errors import ApiError, bad_request

Obj = dict[str, Any]

REVIEW_API_VERSION = "admission.k8s.io/v1"
_OPTIONS_KIND = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}


class CallError(Exception):
    """The webhook could not be called or gave an unusable answer
    (upstream's ``ErrCallingWebhook``); failurePolicy decides what follows."""

    def __init__(self, webhook: str, reason: str) -> None:
        super().__init__(f"failed calling webhook {_go_quote(webhook)}: {reason}")
        self.webhook = webhook
        self.reason = reason


def _go_quote(s: str) -> str:
    return orjson.dumps(s).decode()


def supports_review(versions: tuple[str, ...]) -> bool:
    return "v1" in versions


def _gvk_of(req: AdmissionRequest, r: Resource) -> Obj:
    obj = req.object if req.object is not None else req.old_object
    if req.subresource and isinstance(obj, dict) and obj.get("kind"):
        group, _, version = str(obj.get("apiVersion") or "").rpartition("/")
        return {"group": group, "version": version, "kind": obj["kind"]}
    return {"group": r.group, "version": r.version, "kind": r.kind}


def _options(req: AdmissionRequest) -> Obj | None:
    kind = _OPTIONS_KIND.get(req.operation)
    if kind is None:
        return None
    opts: Obj = {"kind": kind, "apiVersion": "meta.k8s.io/v1"}
    if req.dry_run:
        opts["dryRun"] = ["All"]
    return opts


def convert(obj: Obj | None, kind: str, from_version: str, to_version: str) -> Obj | None:
    """``obj`` as another apiVersion (a copy); ``LookupError`` without a conversion."""
    if obj is None or from_version == to_version:
        return obj
    return converter(kind, from_version, to_version)(copy.deepcopy(obj))


def versioned_objects(req: AdmissionRequest, r: Resource) -> tuple[Obj | None, Obj | None]:
    """The request's object and old object as ``r``'s version."""
    rr = req.resource
    if r is rr or req.subresource:
        return req.object, req.old_object
    try:
        return (
            convert(req.object, r.kind, rr.api_version, r.api_version),
            convert(req.old_object, r.kind, rr.api_version, r.api_version),
        )
    except LookupError as e:
        raise CallError("", f"could not create admission objects: {e}") from None


def build_review(req: AdmissionRequest, resource: Resource | None = None) -> tuple[str, Obj]:
    """A fresh request uid and the AdmissionReview to send, for ``resource``
    (an equivalent of the request's under matchPolicy Equivalent) or the
    request's own resource."""
    uid = str(uuid.uuid4())
    r = resource or req.resource
    rr = req.resource
    obj, old = versioned_objects(req, r)
    gvk = _gvk_of(req, r)
    gvr = {"group": r.group, "version": r.version, "resource": r.plural}
    request_gvk = gvk if r is rr else {"group": rr.group, "version": rr.version, "kind": rr.kind}
    request_gvr = (
        gvr if r is rr else {"group": rr.group, "version": rr.version, "resource": rr.plural}
    )
    user: Obj = {"username": req.user.name}
    if req.user.uid:
        user["uid"] = req.user.uid
    if req.user.groups:
        user["groups"] = list(req.user.groups)
    if req.user.extra:
        user["extra"] = {k: list(v) for k, v in req.user.extra.items()}
    request: Obj = {
        "uid": uid,
        "kind": gvk,
        "resource": gvr,
        "requestKind": dict(request_gvk),
        "requestResource": dict(request_gvr),
        "operation": req.operation,
        "userInfo": user,
        "object": obj,
        "oldObject": old,
        "dryRun": req.dry_run,
        "options": _options(req),
    }
    if req.subresource:
        request["subResource"] = req.subresource
        request["requestSubResource"] = req.subresource
    if req.name:
        request["name"] = req.name
    if req.namespace:
        request["namespace"] = req.namespace
    return uid, {"kind": "AdmissionReview", "apiVersion": REVIEW_API_VERSION, "request": request}


def check_response(webhook: str, uid: str, review: Any, mutating: bool) -> Obj:
    """``VerifyAdmissionResponse`` for v1: the ``response`` of a usable answer,
    else ``CallError``."""

    def invalid(why: str) -> CallError:
        return CallError(webhook, f"received invalid webhook response: {why}")

    if not isinstance(review, dict) or not isinstance(review.get("response"), dict):
        raise invalid("webhook response was absent")
    resp: Obj = review["response"]
    got_uid = str(resp.get("uid") or "")
    if got_uid != uid:
        raise invalid(f"expected response.uid={_go_quote(uid)}, got {_go_quote(got_uid)}")
    api_version, kind = review.get("apiVersion") or "", review.get("kind") or ""
    if api_version != REVIEW_API_VERSION or kind != "AdmissionReview":
        group, _, version = str(api_version).rpartition("/")
        raise invalid(
            "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, "
            f"got {group}/{version}, Kind={kind}"
        )
    patch, patch_type = resp.get("patch"), resp.get("patchType")
    if mutating:
        if patch and patch_type is None:
            raise invalid("webhook returned response.patch but not response.patchType")
        if not patch and patch_type is not None:
            raise invalid("webhook returned response.patchType but not response.patch")
        if patch_type is not None and not patch_type:
            raise invalid(f"webhook returned invalid response.patchType of {_go_quote('')}")
    else:
        if patch:
            raise invalid("validating webhook may not return response.patch")
        if patch_type is not None:
            raise invalid("validating webhook may not return response.patchType")
    return resp


def decode_patch(webhook: str, resp: Obj) -> list[Any] | None:
    """The JSON patch of a mutating response (None: no patch)."""
    raw = resp.get("patch")
    if not raw:
        return None
    if resp.get("patchType") != "JSONPatch":
        raise CallError(webhook, f"unsupported patch type {_go_quote(str(resp.get('patchType')))}")
    try:
        ops = orjson.loads(base64.b64decode(str(raw), validate=True))
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as e:
        raise CallError(webhook, f"received undecodable patch in webhook response: {e}") from None
    if not isinstance(ops, list):
        raise CallError(
            webhook,
            "received undecodable patch in webhook response: json: cannot unmarshal "
            "object into Go value of type jsonpatch.Patch",
        )
    return ops or None


def denied(webhook: str, status: Any) -> ApiError:
    """``ToStatusErr``: the webhook's refusal as the API's error."""
    st: Obj = dict(status) if isinstance(status, dict) else {}
    prefix = f"admission webhook {_go_quote(webhook)} denied the request"
    message, reason = str(st.get("message") or ""), str(st.get("reason") or "")
    if message:
        text = f"{prefix}: {message}"
    elif reason:
        text = f"{prefix}: {reason}"
    else:
        text = f"{prefix} without explanation"
    code = st.get("code")
    if not isinstance(code, int) or isinstance(code, bool) or code < 400:
        code = 400
    details = st.get("details") if isinstance(st.get("details"), dict) else None
    return ApiError(code, reason, text, details)


def failed(err: CallError) -> ApiError:
    """A call failure under failurePolicy Fail (``NewInternalError``)."""
    message = str(err)
    return ApiError(
        500,
        "InternalError",
        f"Internal error occurred: {message}",
        {"causes": [{"message": message}]},
    )


def dry_run_unsupported(webhook: str) -> ApiError:
    return bad_request(f"admission webhook {_go_quote(webhook)} does not support dry run")


def modify_unsupported(webhook: str) -> ApiError:
    message = (
        f"admission webhook {_go_quote(webhook)} attempted to modify the object, "
        "which is not supported for this operation"
    )
    return ApiError(
        500,
        "InternalError",
        f"Internal error occurred: {message}",
        {"causes": [{"message": message}]},
    )
