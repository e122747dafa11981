"""ResourceQuota admission: refuse what would take a namespace over its quotas, and
charge what is admitted to the quotas' ``status.used`` before it is stored.

Upstream's ``plugin/pkg/admission/resourcequota``. For a request the usage
evaluators (:mod:`pinnace.api.quota`) track (every create; service and claim
updates), against each quota of the namespace that tracks the object:

* a quota on cpu/memory requests or limits needs them in every container
  (``failed quota: NAME: must specify limits.cpu for: app; requests.cpu for: app``);
* a quota whose ``status`` does not yet count what it limits refuses
  (``status unknown for quota: NAME, resources: pods``) until the resourcequota
  controller has filled it in;
* the object's usage (on update: the growth over the old object) is added to
  ``status.used``; if that goes over ``status.hard`` the request is refused with
  ``exceeded quota: NAME, requested: pods=1, used: pods=2, limited: pods=2``.

Race-free: the new usage is committed with a compare-and-swap update of each
quota (the ``update_quota`` callable is the resourcequotas store's
``guaranteed_update`` on ``status``: resourceVersion precondition, re-read and
retry on conflict), and the limit is re-checked against the freshly read quota
inside that update, so two concurrent creates can never both take the last slot.
The charge happens before the object is stored; usage of an object that then
fails to store (or is deleted later) is given back by the controller's recount.
Dry-run requests are checked but charge nothing.

Concurrency model: called on the request's task; quotas are listed from the
watch cache (a fast first check), the commit goes through storage.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from fractions import Fraction
from typing import Any

from pinnace.api import quota as q
from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.errors import ApiError

__all__ = ["QuotaMutation", "ResourceQuota"]

Obj = dict[str, Any]
QuotaMutation = Callable[[Obj], Awaitable[Obj]]
#: (namespace, name, mutate) -> the stored quota; mutate may raise ApiError to abort
UpdateQuota = Callable[[str, str, QuotaMutation], Awaitable[Obj]]


def _forbidden(req: AdmissionRequest, message: str) -> ApiError:
    what = f'{req.resource.plural} "{req.name}"' if req.name else req.resource.plural
    return ApiError(
        403,
        "Forbidden",
        f"{what} is forbidden: {message}",
        {"name": req.name, "kind": req.resource.plural},
    )


def _status(quota: Obj) -> tuple[q.ResourceList, q.ResourceList]:
    st = quota.get("status") or {}
    return q.parse_list(st.get("hard")), q.parse_list(st.get("used"))


def _mask(values: q.ResourceList, names: Collection[str]) -> q.ResourceList:
    return {k: v for k, v in values.items() if k in names}


def charge(req: AdmissionRequest, quota: Obj, delta: q.ResourceList) -> Obj | None:
    """The quota with ``delta`` added to ``status.used`` (None: nothing it limits
    changes); raises the ``exceeded quota`` Forbidden when over ``status.hard``."""
    hard, used = _status(quota)
    requested = _mask(delta, set(hard))
    if not requested:
        return None
    new_used = q.add(used, requested)
    exceeded = sorted(k for k in requested if new_used[k] > hard[k])
    if exceeded:
        name = (quota.get("metadata") or {}).get("name", "")
        raise _forbidden(
            req,
            f"exceeded quota: {name}, requested: {q.pretty_print(_mask(requested, exceeded))}, "
            f"used: {q.pretty_print(_mask(used, exceeded))}, "
            f"limited: {q.pretty_print(_mask(hard, exceeded))}",
        )
    out = dict(quota)
    status = dict(quota.get("status") or {})
    status["used"] = {**(status.get("used") or {}), **q.format_list(_mask(new_used, requested))}
    out["status"] = status
    return out


class ResourceQuota:
    name = "ResourceQuota"

    def __init__(
        self,
        list_quotas: Callable[[str], list[Obj]],
        update_quota: UpdateQuota,
    ) -> None:
        self._list = list_quotas
        self._update = update_quota

    async def validate(self, req: AdmissionRequest) -> None:
        r = req.resource
        if not r.namespaced or req.object is None:
            return
        if not q.tracks_operation(r.group, r.plural, req.operation, req.subresource):
            return
        quotas = self._list(req.namespace)
        if not quotas:
            return
        obj = req.object
        interesting: list[Obj] = []
        for quota in quotas:
            if not q.quota_matches(quota, r.group, r.plural, obj):
                continue
            hard, used = _status(quota)
            restricted = q.matching_resources(r.group, r.plural, hard)
            if not restricted:
                continue
            name = (quota.get("metadata") or {}).get("name", "")
            if r.group == "" and r.plural == "pods":
                problem = q.pod_constraints(restricted, obj)
                if problem:
                    raise _forbidden(req, f"failed quota: {name}: {problem}")
            unknown = [k for k in restricted if k not in used]
            if unknown:
                raise _forbidden(
                    req, f"status unknown for quota: {name}, resources: {','.join(sorted(unknown))}"
                )
            interesting.append(quota)
        if not interesting:
            return
        delta = q.object_usage(r.group, r.plural, obj)
        negative = sorted(k for k, v in delta.items() if v < 0)
        if negative:
            raise _forbidden(req, f"quota usage is negative for resource(s): {','.join(negative)}")
        if req.operation == "UPDATE" and req.old_object is not None:
            if (req.old_object.get("metadata") or {}).get("resourceVersion"):
                prev = q.object_usage(r.group, r.plural, req.old_object)
                delta = {
                    k: max(v - prev.get(k, Fraction(0)), Fraction(0)) for k, v in delta.items()
                }
        delta = {k: v for k, v in delta.items() if v != 0}
        if not delta:
            return
        # a fast check against the cached quotas, then the charge under CAS
        for quota in interesting:
            charge(req, quota, delta)
        if req.dry_run:
            return
        for quota in interesting:
            meta = quota.get("metadata") or {}

            async def mutate(current: Obj) -> Obj:
                updated = charge(req, current, delta)
                return updated if updated is not None else current

            await self._update(str(meta.get("namespace", req.namespace)), str(meta["name"]), mutate)
