"""The namespace controller: empties a terminating namespace, then finalizes it.

Upstream's ``pkg/controller/namespace``. ``kubectl delete ns x`` only marks the
namespace (``deletionTimestamp``, ``status.phase: Terminating``); the API server
keeps it while ``spec.finalizers`` holds ``kubernetes``, and refuses new objects
in it meanwhile. For such a namespace this controller:

1. makes sure ``status.phase`` is ``Terminating``;
2. for every namespaced resource of the catalog that supports ``delete``
   (preferred version of each group, like upstream's discovery), deletes the
   namespace's objects — one ``deletecollection`` with
   ``propagationPolicy: Background`` where supported, else one DELETE per item —
   then lists again to see what remains. Resources found empty by a first
   metadata-only list are skipped (saving the two writes upstream would send);
3. records what it saw as the namespace's status conditions
   (``NamespaceDeletionDiscoveryFailure``, ``NamespaceDeletionGroupVersionParsingFailure``,
   ``NamespaceDeletionContentFailure``, ``NamespaceContentRemaining``,
   ``NamespaceFinalizersRemaining``; reasons and messages as upstream);
4. when nothing remains, PUTs ``namespaces/<name>/finalize`` without the
   ``kubernetes`` finalizer — the server then removes the namespace.

Objects that linger because of finalizers (the garbage collector's
``foregroundDeletion``, someone else's) make it look again after an estimate
(15 s for finalizers, half of the pods' longest grace period), as upstream
does; errors are retried with per-namespace backoff (5 ms doubling to 60 s).

Concurrency model: the base's work queue keyed by namespace name, with
``WORKERS`` workers; one namespace is never processed by two workers at once.
Within one pass the resources are handled concurrently (the client's rate
limiter bounds the request rate). The namespace informer only enqueues
namespaces that have a ``deletionTimestamp``, after ``DELETION_GRACE`` seconds
(upstream waits 5 s so that admission caches and watches catch up; our
admission reads the same cache the DELETE waited for, so a short pause is
enough). Everything else is read fresh from the API.
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pinnace.api.schema import Resource
from pinnace.client import (
    PODS,
    ApiError,
    Conflict,
    ItemExponentialLimiter,
    NotFound,
    Obj,
    RateLimiter,
    ResourceRef,
    TransportError,
)
from pinnace.client.events import format_time
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue
from pinnace.controllers.discovery import MetadataClient, preferred_resources

__all__ = ["FINALIZER", "NAMESPACES", "NamespaceController"]

NAMESPACES = ResourceRef("", "v1", "namespaces", False, "Namespace")
#: the namespace finalizer this controller is responsible for (``spec.finalizers``)
FINALIZER = "kubernetes"
#: how long to expect objects with finalizers to take (upstream: 15 s)
FINALIZER_ESTIMATE = 15
_CONFLICT_RETRIES = 5

# (type, reason when all is well, message when all is well) — upstream's order
_CONDITIONS: tuple[tuple[str, str, str], ...] = (
    ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered", "All resources successfully discovered"),
    ("NamespaceDeletionGroupVersionParsingFailure", "ParsedGroupVersions", "All legacy kube types successfully parsed"),
    ("NamespaceDeletionContentFailure", "ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    ("NamespaceFinalizersRemaining", "ContentHasNoFinalizers", "All content-preserving finalizers finished"),
)  # fmt: skip


class ContentDeletionError(Exception):
    """Some resources of the namespace could not be deleted (message lists them)."""


@dataclass
class _Outcome:
    """What deleting one resource's objects left behind."""

    resource: Resource
    estimate: int = 0
    remaining: int = 0
    finalizers: Counter[str] = field(default_factory=Counter)
    error: str = ""


class NamespaceController(Controller):
    NAME = "namespace"
    EVENT_COMPONENT = "namespace-controller"
    WORKERS = 10  # upstream --concurrent-namespace-syncs
    #: seconds between seeing a namespace marked for deletion and starting on it
    DELETION_GRACE: ClassVar[float] = 0.2
    RESYNC_PERIOD: ClassVar[float] = 300.0

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.metadata = MetadataClient(ctx.client)
        self.namespaces = self.informer(NAMESPACES, resync_period=self.RESYNC_PERIOD)
        self.namespaces.add_event_handler(
            on_add=self._on_namespace, on_update=lambda _old, new: self._on_namespace(new)
        )

    def rate_limiter(self) -> RateLimiter[str]:
        """Upstream's namespace queue: 5 ms doubling to 60 s per key, no overall bucket."""
        return ItemExponentialLimiter[str](0.005, 60.0)

    def _on_namespace(self, ns: Obj) -> None:
        if (ns.get("metadata") or {}).get("deletionTimestamp"):
            self.queue.add_after(str(ns["metadata"]["name"]), self.DELETION_GRACE)

    # --- reconcile -----------------------------------------------------------------------

    async def reconcile(self, key: str) -> Requeue | None:
        cached = self.namespaces.get(key)
        if cached is None or not cached["metadata"].get("deletionTimestamp"):
            return None
        try:
            return await self._delete(key)
        except NotFound:
            return None  # gone already: nothing left to do

    async def _delete(self, name: str) -> Requeue | None:
        # several controllers may edit a terminating namespace: start from the latest
        ns = await self.client.get(NAMESPACES, name)
        if not ns["metadata"].get("deletionTimestamp"):
            return None
        ns = await self._ensure_terminating(ns)
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return None  # finalized by us already; others' finalizers are theirs
        estimate = await self._delete_all_content(ns)
        if estimate > 0:
            self.log.log(
                DETAIL,
                "namespace %s: content remaining, checking again in %ds",
                name,
                estimate // 2 + 1,
            )
            return Requeue(after=estimate // 2 + 1)
        await self._finalize(ns)
        self.log.log(DETAIL, "namespace %s: all content deleted, finalized", name)
        return None

    async def _ensure_terminating(self, ns: Obj) -> Obj:
        for _ in range(_CONFLICT_RETRIES):
            if (ns.get("status") or {}).get("phase") == "Terminating":
                return ns
            new = copy.deepcopy(ns)
            new.setdefault("status", {})["phase"] = "Terminating"
            try:
                return await self.client.replace_status(NAMESPACES, new)
            except Conflict:
                ns = await self.client.get(NAMESPACES, ns["metadata"]["name"])
        raise ContentDeletionError(f"namespace {ns['metadata']['name']}: status keeps conflicting")

    async def _finalize(self, ns: Obj) -> None:
        name = ns["metadata"]["name"]
        for _ in range(_CONFLICT_RETRIES):
            new = copy.deepcopy(ns)
            fins = (new.get("spec") or {}).get("finalizers") or []
            if FINALIZER not in fins:
                return
            new.setdefault("spec", {})["finalizers"] = [f for f in fins if f != FINALIZER]
            try:
                await self.client.request("PUT", f"/api/v1/namespaces/{name}/finalize", body=new)
                return
            except Conflict:
                ns = await self.client.get(NAMESPACES, name)
        raise ContentDeletionError(f"namespace {name}: finalize keeps conflicting")

    # --- content -------------------------------------------------------------------------

    async def _delete_all_content(self, ns: Obj) -> int:
        """Delete everything in ``ns``; the estimate (seconds) of how long what remains
        will take. Updates the status conditions; raises if some deletions failed."""
        name = ns["metadata"]["name"]
        resources = [r for r in preferred_resources(verbs=("delete",)) if r.namespaced]
        results = await asyncio.gather(
            *(self._delete_resource(r, name) for r in resources), return_exceptions=True
        )
        outcomes: list[_Outcome] = []
        for r, res in zip(resources, results, strict=True):
            if isinstance(res, asyncio.CancelledError):
                raise res
            if isinstance(res, BaseException):
                if not isinstance(res, ApiError | ContentDeletionError | TransportError):
                    raise res
                outcomes.append(_Outcome(r, error=f"{_gvr(r)}: {res}"))
            else:
                outcomes.append(res)
        await self._update_conditions(ns, outcomes)
        errors = [o.error for o in outcomes if o.error]
        if errors:
            raise ContentDeletionError(
                f"namespace {name}: failed to delete all resource types, "
                f"{len(errors)} remaining: {'; '.join(errors)}"
            )
        return max((o.estimate for o in outcomes), default=0)

    async def _delete_resource(self, r: Resource, namespace: str) -> _Outcome:
        out = _Outcome(r)
        can_list = "list" in r.verbs
        if can_list:
            found = (await self.metadata.list_all(r, namespace=namespace))["items"]
            if not found:
                return out
        else:
            found = []
        estimate = 0
        if (r.group, r.plural) == (PODS.group, PODS.plural):
            estimate = await self._estimate_pods(namespace)
        if "deletecollection" in r.verbs:
            await self.client.delete_collection(
                r, namespace=namespace, propagation_policy="Background"
            )
        else:
            for item in found:
                try:
                    await self.client.delete(
                        r, item["metadata"]["name"], namespace=namespace,
                        propagation_policy="Background",
                    )  # fmt: skip
                except NotFound:
                    pass
        if not can_list:
            out.estimate = estimate
            return out
        remaining = (await self.metadata.list_all(r, namespace=namespace))["items"]
        out.remaining = len(remaining)
        if not remaining:
            return out  # (upstream waits for the pods' grace period even then)
        for item in remaining:
            for f in (item.get("metadata") or {}).get("finalizers") or []:
                out.finalizers[f] += 1
        if estimate:
            out.estimate = estimate
        elif out.finalizers:
            out.estimate = FINALIZER_ESTIMATE
        else:
            out.error = (
                f"unexpected items still remain in namespace: {namespace} for gvr: {_gvr(r)}"
            )
        return out

    async def _estimate_pods(self, namespace: str) -> int:
        """The longest grace period of the pods that are not finished yet."""
        pods = (await self.client.list_all(PODS, namespace=namespace))["items"]
        estimate = 0
        for pod in pods:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
            if isinstance(grace, int) and grace > estimate:
                estimate = grace
        return estimate

    # --- status conditions ---------------------------------------------------------------

    async def _update_conditions(self, ns: Obj, outcomes: list[_Outcome]) -> None:
        failures: dict[str, tuple[str, str]] = {}
        errors = [o.error for o in outcomes if o.error]
        if errors:
            failures["NamespaceDeletionContentFailure"] = (
                "ContentDeletionFailed",
                f"Failed to delete all resource types, {len(errors)} remaining: {'; '.join(errors)}",
            )
        remaining = sorted(
            f"{o.resource.plural}.{o.resource.group} has {o.remaining} resource instances"
            for o in outcomes
            if o.remaining
        )
        if remaining:
            failures["NamespaceContentRemaining"] = (
                "SomeResourcesRemain",
                f"Some resources are remaining: {', '.join(remaining)}",
            )
        fins: Counter[str] = Counter()
        for o in outcomes:
            fins.update(o.finalizers)
        if fins:
            failures["NamespaceFinalizersRemaining"] = (
                "SomeFinalizersRemain",
                "Some content in the namespace has finalizers remaining: "
                + ", ".join(f"{f} in {n} resource instances" for f, n in sorted(fins.items())),
            )
        old = {c.get("type"): c for c in (ns.get("status") or {}).get("conditions") or []}
        now = format_time(self.clock.wall())
        conditions: list[dict[str, Any]] = []
        for type_, ok_reason, ok_message in _CONDITIONS:
            status, (reason, message) = (
                ("True", failures[type_])
                if type_ in failures
                else ("False", (ok_reason, ok_message))
            )
            prev = old.get(type_)
            if prev and (prev.get("status"), prev.get("reason"), prev.get("message")) == (
                status, reason, message,
            ):  # fmt: skip
                conditions.append(prev)
                continue
            conditions.append(
                {
                    "type": type_,
                    "status": status,
                    "lastTransitionTime": now,
                    "reason": reason,
                    "message": message,
                }
            )
        if conditions == (ns.get("status") or {}).get("conditions"):
            return
        new = copy.deepcopy(ns)
        new.setdefault("status", {})["conditions"] = conditions
        try:
            updated = await self.client.replace_status(NAMESPACES, new)
        except ApiError as e:
            # not fatal: the next pass writes them again
            self.log.warning(
                "namespace %s: cannot update status conditions: %s", ns["metadata"]["name"], e
            )
            return
        ns.clear()
        ns.update(updated)


def _gvr(r: Resource) -> str:
    return f"{r.group or 'core'}/{r.version}, Resource={r.plural}"
