"""Helpers shared by the controllers that own pods and replica sets (upstream's
``pkg/controller/controller_utils.go`` and ``controller_ref_manager.go``).

* :class:`Expectations`: upstream's ``UIDTrackingControllerExpectations`` — how
  many creations a controller still waits to see in its informer, and which
  deletions (by pod key), so that a sync does not act twice on the same
  shortage while the cache catches up. Expectations expire after
  :data:`EXPECTATIONS_TIMEOUT` (5 min), as upstream, so a lost watch event never
  wedges a controller.
* :func:`slow_start_batch`: create in batches of 1, 2, 4, … and stop at the
  first batch with an error (a quota or admission failure then costs one call,
  not hundreds).
* Pod predicates (:func:`is_pod_active`, :func:`is_pod_ready`,
  :func:`is_pod_available`) and :func:`pods_to_delete`, the deletion ranking
  of ``ActivePodsWithRanks`` (with ``PodDeletionCost`` and
  ``LogarithmicScaleDown``, both on by default upstream).
* Controller references: :func:`controller_ref_of`, :func:`new_controller_ref`
  and :class:`RefManager` (``ClaimPods``/``ClaimReplicaSets``: adopt matching
  orphans, release owned objects that stopped matching).

Concurrency model: everything here runs on the controller's event loop.
:class:`Expectations` is shared by a controller's workers and its informer
handlers; it is plain synchronous code (no awaits), so each call is atomic with
respect to the loop. :class:`RefManager` writes through the API with
resourceVersion preconditions, so a concurrent change makes the write fail
(and the key be retried) instead of clobbering it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cmp_to_key
from typing import Any

from pinnace.api.selectors import LabelSelector, SelectorError, label_selector_from_dict
from pinnace.client import ApiError, Client, Clock, NotFound, Obj, ResourceLike

__all__ = [
    "BURST_REPLICAS",
    "CONTROLLER_INDEX",
    "EXPECTATIONS_TIMEOUT",
    "SLOW_START_INITIAL_BATCH_SIZE",
    "Expectations",
    "RefManager",
    "controller_index",
    "controller_ref_of",
    "is_pod_active",
    "is_pod_available",
    "is_pod_ready",
    "new_controller_ref",
    "parse_time",
    "pod_key",
    "pods_to_delete",
    "slow_start_batch",
]

#: upstream ``ExpectationsTimeout``
EXPECTATIONS_TIMEOUT = 300.0
#: upstream ``SlowStartInitialBatchSize``
SLOW_START_INITIAL_BATCH_SIZE = 1
#: upstream ``BurstReplicas``: at most this many creations/deletions per sync
BURST_REPLICAS = 500

POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


# --- time -----------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """A ``metav1.Time`` string (RFC 3339) as an aware datetime; None if absent/invalid."""
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


# --- expectations ---------------------------------------------------------------------


@dataclass
class _Expectation:
    add: int = 0
    delete: int = 0
    timestamp: float = 0.0
    deleting: set[str] = field(default_factory=set)

    def fulfilled(self) -> bool:
        return self.add <= 0 and self.delete <= 0


class Expectations:
    """Creations and (pod-key-tracked) deletions a controller expects to observe."""

    def __init__(self, clock: Clock, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self.clock = clock
        self.timeout = timeout
        self._items: dict[str, _Expectation] = {}

    def satisfied(self, key: str) -> bool:
        """True when nothing is pending, the expectations expired, or there are none."""
        exp = self._items.get(key)
        if exp is None or exp.fulfilled():
            return True
        return self.clock.now() - exp.timestamp > self.timeout

    def expect_creations(self, key: str, adds: int) -> None:
        self._set(key, adds, set())

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        keys = set(pod_keys)
        self._set(key, 0, keys)

    def _set(self, key: str, adds: int, deleting: set[str]) -> None:
        self._items[key] = _Expectation(adds, len(deleting), self.clock.now(), deleting)

    def creation_observed(self, key: str) -> None:
        exp = self._items.get(key)
        if exp is not None:
            exp.add -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        """A pod we (may have) asked to delete is gone or going: counted once per pod."""
        exp = self._items.get(key)
        if exp is not None and pod_key in exp.deleting:
            exp.deleting.discard(pod_key)
            exp.delete -= 1

    def lower(self, key: str, adds: int = 0, pod_keys: Iterable[str] = ()) -> None:
        """Expect fewer (creations that were never attempted or failed)."""
        exp = self._items.get(key)
        if exp is None:
            return
        exp.add -= adds
        for k in pod_keys:
            self.deletion_observed(key, k)

    def delete(self, key: str) -> None:
        self._items.pop(key, None)

    def pending(self, key: str) -> tuple[int, int]:
        """(creations, deletions) still expected (for logs and tests)."""
        exp = self._items.get(key)
        return (exp.add, exp.delete) if exp is not None else (0, 0)


# --- slow start -----------------------------------------------------------------------


async def slow_start_batch(
    count: int, initial_batch_size: int, fn: Callable[[], Awaitable[None]]
) -> tuple[int, BaseException | None]:
    """Call ``fn`` ``count`` times, in concurrent batches of 1, 2, 4, …; stop after a
    batch with a failure. Returns (successes, the first error or None)."""
    remaining = count
    successes = 0
    batch = min(remaining, initial_batch_size)
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for e in errors:
            if isinstance(e, asyncio.CancelledError):
                raise e
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


# --- pods -----------------------------------------------------------------------------


def pod_key(pod: Obj) -> str:
    m = pod.get("metadata") or {}
    return f"{m.get('namespace', '')}/{m.get('name', '')}"


def is_pod_active(pod: Obj) -> bool:
    """Not finished and not being deleted (upstream ``IsPodActive``)."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not (pod.get("metadata") or {}).get(
        "deletionTimestamp"
    )


def _ready_condition(pod: Obj) -> dict[str, Any] | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == "Ready":
            return c
    return None


def is_pod_ready(pod: Obj) -> bool:
    c = _ready_condition(pod)
    return c is not None and c.get("status") == "True"


def pod_ready_time(pod: Obj) -> datetime | None:
    """When the pod last became Ready (None if not ready or unknown)."""
    c = _ready_condition(pod)
    if c is None or c.get("status") != "True":
        return None
    return parse_time(c.get("lastTransitionTime"))


def is_pod_available(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least ``min_ready_seconds`` (upstream ``IsPodAvailable``)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    t = pod_ready_time(pod)
    return t is not None and (t.timestamp() + min_ready_seconds) <= now.timestamp()


_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def _deletion_cost(pod: Obj) -> int:
    v = ((pod.get("metadata") or {}).get("annotations") or {}).get(POD_DELETION_COST)
    try:
        return int(v) if v is not None else 0
    except (TypeError, ValueError):
        return 0


def _max_restarts(pod: Obj) -> tuple[int, int]:
    """(max restarts of regular containers, max restarts of sidecar init containers)."""
    status = pod.get("status") or {}
    regular = max(
        (int(cs.get("restartCount") or 0) for cs in status.get("containerStatuses") or []),
        default=0,
    )
    sidecars = {
        c.get("name")
        for c in (pod.get("spec") or {}).get("initContainers") or []
        if c.get("restartPolicy") == "Always"
    }
    sidecar = max(
        (
            int(cs.get("restartCount") or 0)
            for cs in status.get("initContainerStatuses") or []
            if cs.get("name") in sidecars
        ),
        default=0,
    )
    return regular, sidecar


def _log_rank(t: datetime, now: datetime) -> int:
    """upstream ``logarithmicRankDiff``'s bucket of ``t``: log2 of its age in
    nanoseconds (-1 when not in the past)."""
    d = (now - t).total_seconds() * 1e9
    return int(math.log2(d)) if d > 0 else -1


@dataclass(slots=True)
class _RankFacts:
    """What ``ActivePodsWithRanks.Less`` looks at, read from a pod once (a sort
    of N pods compares O(N log N) pairs; reading and parsing the pods' fields
    in every comparison cost more than the rest of a ReplicaSet sync)."""

    #: steps 1-5 as one tuple ordered like Less: unassigned first, then
    #: Pending < Unknown < Running, not ready first, lower deletion cost
    #: first, more related pods on the node first
    prefix: tuple[bool, int, bool, int, int]
    ready: bool
    ready_time: datetime | None
    ready_rank: int
    #: more restarts first: (-regular, -sidecar)
    restarts: tuple[int, int]
    created: datetime | None
    created_rank: int
    uid: str

    @classmethod
    def of(cls, pod: Obj, rank: int, now: datetime) -> _RankFacts:
        meta = pod.get("metadata") or {}
        ready = is_pod_ready(pod)
        ready_time = pod_ready_time(pod) if ready else None
        created = parse_time(meta.get("creationTimestamp"))
        regular, sidecar = _max_restarts(pod)
        return cls(
            prefix=(
                bool((pod.get("spec") or {}).get("nodeName")),
                _PHASE_ORDINAL.get((pod.get("status") or {}).get("phase") or "", 0),
                ready,
                _deletion_cost(pod),
                -rank,
            ),
            ready=ready,
            ready_time=ready_time,
            ready_rank=_log_rank(ready_time, now) if ready_time is not None else 0,
            restarts=(-regular, -sidecar),
            created=created,
            created_rank=_log_rank(created, now) if created is not None else 0,
            uid=str(meta.get("uid") or ""),
        )


def _time_cmp(t1: datetime | None, r1: int, u1: str, t2: datetime | None, r2: int, u2: str) -> int:
    """Two different times: empty < more recent < older, in log-scale buckets
    (``r``), the uid breaking ties within a bucket."""
    if t1 is None or t2 is None:
        return -1 if t1 is None else 1  # afterOrZero
    if r1 != r2:
        return -1 if r1 < r2 else 1
    return -1 if u1 < u2 else (1 if u2 < u1 else 0)


def _rank_cmp(a: _RankFacts, b: _RankFacts) -> int:
    """``ActivePodsWithRanks.Less`` as a comparison: negative when ``a`` should
    be deleted before ``b``."""
    if a.prefix != b.prefix:
        return -1 if a.prefix < b.prefix else 1
    # 6. both ready (the prefix holds equal readiness): ready for less time first
    if a.ready and a.ready_time != b.ready_time:
        return _time_cmp(a.ready_time, a.ready_rank, a.uid, b.ready_time, b.ready_rank, b.uid)
    # 7. more restarts first
    if a.restarts != b.restarts:
        return -1 if a.restarts < b.restarts else 1
    # 8. empty creation time < newer < older
    if a.created != b.created:
        return _time_cmp(a.created, a.created_rank, a.uid, b.created, b.created_rank, b.uid)
    return 0


def pods_to_delete(
    pods: Sequence[Obj], related: Iterable[Obj], diff: int, now: datetime
) -> list[Obj]:
    """The ``diff`` pods to delete first (upstream ``getPodsToDelete``): ranked with
    ``ActivePodsWithRanks``, where a pod's rank is the number of active ``related``
    pods (the controller's and its siblings') on the same node."""
    if diff >= len(pods):
        return list(pods)
    on_node: dict[str, int] = {}
    for p in related:
        if is_pod_active(p):
            n = (p.get("spec") or {}).get("nodeName") or ""
            on_node[n] = on_node.get(n, 0) + 1
    ranked = [
        (_RankFacts.of(p, on_node.get((p.get("spec") or {}).get("nodeName") or "", 0), now), p)
        for p in pods
    ]
    facts_key = cmp_to_key(_rank_cmp)
    ranked.sort(key=lambda pair: facts_key(pair[0]))  # stable, like Go's sort.Sort is not
    return [p for _, p in ranked[:diff]]


# --- controller references ------------------------------------------------------------


def selecting(candidates: Iterable[Obj], obj: Obj) -> list[Obj]:
    """The ``candidates`` (same-namespace objects with a ``spec.selector``)
    whose non-empty selector matches ``obj``'s labels."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    out = []
    for c in candidates:
        try:
            sel = label_selector_from_dict((c.get("spec") or {}).get("selector"))
        except SelectorError:
            continue
        if not sel.empty() and sel.matches(labels):
            out.append(c)
    return out


def controller_ref_of(obj: Obj) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") is True:
            return ref
    return None


#: the name of the :func:`controller_index` indexer on shared informers
CONTROLLER_INDEX = "controller"


def controller_index(obj: Obj) -> list[str]:
    """Index objects by ``<namespace>/<controller uid>`` (``<namespace>/`` for orphans), so
    a controller finds what it owns and what it could adopt without scanning the
    namespace. One module-level function: every controller adding it to a shared
    informer adds the same indexer."""
    m = obj.get("metadata") or {}
    ref = controller_ref_of(obj)
    uid = str(ref.get("uid") or "") if ref is not None else ""
    return [f"{m.get('namespace') or ''}/{uid}"]


def new_controller_ref(owner: Obj, api_version: str, kind: str) -> dict[str, Any]:
    """``metav1.NewControllerRef``."""
    m = owner.get("metadata") or {}
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": m.get("name", ""),
        "uid": m.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


class RefManager:
    """``BaseControllerRefManager`` for one controller object: claims the objects
    (pods or replica sets) it should own.

    ``can_adopt`` is called at most once per claim (lazily, upstream's
    ``RecheckDeletionTimestamp``): a fresh read of the controller confirming it
    still exists with the same uid and is not being deleted.
    """

    def __init__(
        self,
        client: Client,
        controller: Obj,
        api_version: str,
        kind: str,
        selector: LabelSelector,
        can_adopt: Callable[[], Awaitable[None]],
    ) -> None:
        self.client = client
        self.controller = controller
        self.api_version = api_version
        self.kind = kind
        self.selector = selector
        self._can_adopt = can_adopt
        self._adopt_checked: BaseException | bool | None = False
        m = controller.get("metadata") or {}
        self.uid = str(m.get("uid") or "")
        self.namespace = str(m.get("namespace") or "")
        self.deleting = bool(m.get("deletionTimestamp"))

    async def _check_adopt(self) -> None:
        if self._adopt_checked is False:
            try:
                await self._can_adopt()
                self._adopt_checked = None
            except (ApiError, ValueError) as e:
                self._adopt_checked = e
        if isinstance(self._adopt_checked, BaseException):
            raise self._adopt_checked

    async def claim(self, resource: ResourceLike, objs: Iterable[Obj]) -> list[Obj]:
        """The objects this controller owns after adopting and releasing; raises the
        first adoption/release error after trying all of them."""
        claimed: list[Obj] = []
        errors: list[BaseException] = []
        # Cached objects of one controller share their labels dict (the
        # informer's CacheCompactor), so the selector runs once per distinct
        # dict; the list keeps every object alive for the whole loop, so an id
        # is never reused by another dict meanwhile.
        candidates = list(objs)
        matches: dict[int, bool] = {}
        for obj in candidates:
            labels = (obj.get("metadata") or {}).get("labels") or {}
            match = matches.get(id(labels))
            if match is None:
                match = matches[id(labels)] = self.selector.matches(labels)
            ref = controller_ref_of(obj)
            if ref is not None and ref.get("uid") == self.uid and match:
                claimed.append(obj)  # the common case: ours, no request to make
                continue
            if ref is not None and ref.get("uid") != self.uid:
                continue  # someone else's
            try:
                mine = await self._claim_one(resource, obj, match)
                if mine is not None:
                    claimed.append(mine)
            except (ApiError, ValueError) as e:
                errors.append(e)
        if errors:
            raise errors[0]
        return claimed

    async def _claim_one(self, resource: ResourceLike, obj: Obj, match: bool) -> Obj | None:
        """``obj`` (or, once adopted, its fresh copy) if ours; None otherwise.
        ``match``: the selector matches ``obj``'s labels."""
        m = obj.get("metadata") or {}
        ref = controller_ref_of(obj)
        if ref is not None:
            if ref.get("uid") != self.uid:
                return None  # someone else's
            if match:
                return obj
            if self.deleting:
                return None
            try:
                await self._patch_refs(resource, obj, release=True)
            except NotFound:
                pass
            return None
        if self.deleting or not match:
            return None
        if m.get("deletionTimestamp"):
            return None
        if self.namespace and self.namespace != m.get("namespace"):
            return None
        await self._check_adopt()
        try:
            adopted = await self._patch_refs(resource, obj, release=False)
        except NotFound:
            return None
        return adopted

    async def _patch_refs(self, resource: ResourceLike, obj: Obj, *, release: bool) -> Obj:
        """Adopt (add our controller ref) or release (drop refs to our uid), guarded by
        the object's resourceVersion so that a concurrent change fails the write."""
        m = obj.get("metadata") or {}
        refs = [
            r
            for r in m.get("ownerReferences") or []
            if isinstance(r, dict) and r.get("uid") != self.uid
        ]
        if not release:
            refs.append(new_controller_ref(self.controller, self.api_version, self.kind))
        patch = {"metadata": {"resourceVersion": m.get("resourceVersion"), "ownerReferences": refs}}
        return await self.client.patch(
            resource, str(m.get("name")), patch, namespace=str(m.get("namespace") or "")
        )
