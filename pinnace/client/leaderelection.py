"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's semantics.

The algorithm is ``k8s.io/client-go/tools/leaderelection`` with a LeaseLock:

* every candidate tries to acquire or renew every ``retry_period`` (acquire
  attempts are jittered by up to 1.2x);
* a lease is considered held while ``leaseDurationSeconds`` have not passed
  since *we last saw the record change* (``observed_time``, on our own clock —
  clocks of different machines are never compared);
* taking over an expired lease bumps ``leaseTransitions``; renewing keeps
  ``acquireTime``; writes are optimistic (PUT with the last resourceVersion), so
  two candidates can never both win the same round;
* the leader keeps renewing; if it cannot renew for ``renew_deadline`` it stops
  leading. With ``release_on_cancel`` the lease is released on the way out
  (``holderIdentity: ""``, ``leaseDurationSeconds: 1``) so a successor takes over
  at once instead of waiting for expiry.

Defaults are client-go's: lease 15 s, renew deadline 10 s, retry 2 s.

:meth:`LeaderElector.run` acquires (waiting as long as it takes), then runs
``on_started_leading()`` as a task while renewing. It returns when leadership
is lost (the task is cancelled) or when that task finishes (its exception, if
any, propagates). ``on_stopped_leading`` is called once on the way out — unlike
client-go, only if we actually led. Cancel ``run`` to step down.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pinnace.client.clock import REAL_CLOCK, Clock
from pinnace.client.errors import ApiError, Conflict, NotFound
from pinnace.client.objects import LEASES, Obj
from pinnace.client.rest import Client
from pinnace.client.transport import TransportError

__all__ = ["JITTER_FACTOR", "LeaderElectionRecord", "LeaderElector", "format_micro_time"]

log = logging.getLogger(__name__)

JITTER_FACTOR = 1.2


def format_micro_time(t: datetime) -> str:
    """``metav1.MicroTime`` (RFC 3339 with microseconds, UTC)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(s: object) -> datetime | None:
    if not isinstance(s, str) or not s:
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass
class LeaderElectionRecord:
    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    leader_transitions: int = 0

    @classmethod
    def from_lease(cls, lease: Obj) -> LeaderElectionRecord:
        spec = lease.get("spec") or {}
        return cls(
            holder_identity=str(spec.get("holderIdentity") or ""),
            lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=_parse_time(spec.get("acquireTime")),
            renew_time=_parse_time(spec.get("renewTime")),
            leader_transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> Obj:
        spec: Obj = {
            "holderIdentity": self.holder_identity,
            "leaseDurationSeconds": self.lease_duration_seconds,
            "leaseTransitions": self.leader_transitions,
        }
        if self.acquire_time is not None:
            spec["acquireTime"] = format_micro_time(self.acquire_time)
        if self.renew_time is not None:
            spec["renewTime"] = format_micro_time(self.renew_time)
        return spec


async def _maybe_await(result: object) -> None:
    if inspect.isawaitable(result):
        await result


class LeaderElector:
    def __init__(
        self,
        client: Client,
        *,
        lock_namespace: str,
        lock_name: str,
        identity: str,
        on_started_leading: Callable[[], Awaitable[None]],
        on_stopped_leading: Callable[[], object] | None = None,
        on_new_leader: Callable[[str], object] | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        release_on_cancel: bool = True,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        if lease_duration <= renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if renew_deadline <= JITTER_FACTOR * retry_period:
            raise ValueError("renew_deadline must be greater than retry_period * 1.2")
        if lease_duration < 1 or retry_period <= 0:
            raise ValueError("lease_duration must be >= 1 s and retry_period > 0")
        if not identity:
            raise ValueError("identity must not be empty")
        self.client = client
        self.lock_namespace = lock_namespace
        self.lock_name = lock_name
        self.identity = identity
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.release_on_cancel = release_on_cancel
        self.clock = clock
        self._observed = LeaderElectionRecord()
        self._observed_spec: Obj | None = None
        self._observed_time = 0.0
        self._lease: Obj | None = None  # the last Lease read or written (for its rv)
        self._reported_leader = ""
        self._background: set[asyncio.Future[object]] = set()

    # --- state ---------------------------------------------------------------------------

    def is_leader(self) -> bool:
        return self._observed.holder_identity == self.identity

    def get_leader(self) -> str:
        return self._observed.holder_identity

    @property
    def observed_record(self) -> LeaderElectionRecord:
        return copy.copy(self._observed)

    def _set_observed(self, record: LeaderElectionRecord) -> None:
        self._observed = record
        self._observed_time = self.clock.now()

    def _lease_valid(self, now: float) -> bool:
        return self._observed_time + self._observed.lease_duration_seconds > now

    # --- the algorithm -------------------------------------------------------------------

    async def run(self) -> None:
        led = False
        try:
            await self._acquire()
            led = True
            await self._lead()
        finally:
            if led:
                try:
                    if self.on_stopped_leading is not None:
                        await _maybe_await(self.on_stopped_leading())
                finally:
                    if self.release_on_cancel:
                        await self.release()

    async def _acquire(self) -> None:
        log.info("attempting to acquire leader lease %s/%s", self.lock_namespace, self.lock_name)
        while True:
            ok = await self.try_acquire_or_renew()
            self._maybe_report_transition()
            if ok:
                log.info("acquired lease %s/%s", self.lock_namespace, self.lock_name)
                return
            await self.clock.sleep(self.retry_period * (1.0 + random.random() * JITTER_FACTOR))

    async def _lead(self) -> None:
        leading = asyncio.ensure_future(self.on_started_leading())
        renewing = asyncio.ensure_future(self._renew())
        try:
            done, _ = await asyncio.wait({leading, renewing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (leading, renewing):
                t.cancel()
            for t in (leading, renewing):
                with contextlib.suppress(asyncio.CancelledError):
                    await t
        if leading in done and not leading.cancelled():
            leading.result()  # re-raise what on_started_leading raised
        else:
            log.info("lost leader lease %s/%s", self.lock_namespace, self.lock_name)

    async def _renew(self) -> None:
        """Renew every retry period; return when renewal failed for renew_deadline."""
        while True:
            deadline = self.clock.now() + self.renew_deadline
            while True:
                ok = await self.try_acquire_or_renew()
                self._maybe_report_transition()
                if ok:
                    break
                if self.clock.now() + self.retry_period >= deadline:
                    return
                await self.clock.sleep(self.retry_period)
            await self.clock.sleep(self.retry_period)

    def _maybe_report_transition(self) -> None:
        holder = self._observed.holder_identity
        if holder == self._reported_leader:
            return
        self._reported_leader = holder
        if self.on_new_leader is not None and holder:
            try:
                result = self.on_new_leader(holder)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)
            except Exception:
                log.exception("on_new_leader failed")

    async def try_acquire_or_renew(self) -> bool:
        """One round of client-go's ``tryAcquireOrRenew``; True if we hold the lease."""
        wall = self.clock.wall()
        record = LeaderElectionRecord(
            holder_identity=self.identity,
            lease_duration_seconds=int(self.lease_duration),
            acquire_time=wall,
            renew_time=wall,
        )
        # 1. fast path: we are the leader and our view is fresh — just update
        if self.is_leader() and self._lease_valid(self.clock.now()) and self._lease is not None:
            record.acquire_time = self._observed.acquire_time
            record.leader_transitions = self._observed.leader_transitions
            try:
                await self._update(record)
            except (ApiError, TransportError) as e:
                log.info("failed to update lease optimistically (%r), falling back", e)
            else:
                self._set_observed(record)
                return True
        # 2. get (or create) the lease
        try:
            lease = await self.client.get(LEASES, self.lock_name, namespace=self.lock_namespace)
        except NotFound:
            try:
                await self._create(record)
            except (ApiError, TransportError) as e:
                log.info("error initially creating lease: %r", e)
                return False
            self._set_observed(record)
            return True
        except (ApiError, TransportError) as e:
            log.warning("error retrieving lease %s/%s: %r", self.lock_namespace, self.lock_name, e)
            return False
        self._lease = lease
        old = LeaderElectionRecord.from_lease(lease)
        spec = lease.get("spec") or {}
        if spec != self._observed_spec:
            self._observed_spec = spec
            self._set_observed(old)
        # 3. held by someone else and not expired: wait
        if old.holder_identity and self._lease_valid(self.clock.now()) and not self.is_leader():
            return False
        # 4. take it (or renew it through the slow path)
        if self.is_leader():
            record.acquire_time = old.acquire_time
            record.leader_transitions = old.leader_transitions
        else:
            record.leader_transitions = old.leader_transitions + 1
        try:
            await self._update(record)
        except (ApiError, TransportError) as e:
            log.info("failed to update lease: %r", e)
            return False
        self._set_observed(record)
        return True

    async def _create(self, record: LeaderElectionRecord) -> None:
        lease: Obj = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.lock_name, "namespace": self.lock_namespace},
            "spec": record.to_spec(),
        }
        self._lease = await self.client.create(LEASES, lease, namespace=self.lock_namespace)
        self._observed_spec = (self._lease or {}).get("spec")

    async def _update(self, record: LeaderElectionRecord) -> None:
        if self._lease is None:
            raise TransportError("lease not initialized; get or create it first")
        lease = dict(self._lease)
        lease["spec"] = record.to_spec()
        self._lease = await self.client.replace(LEASES, lease, namespace=self.lock_namespace)
        self._observed_spec = (self._lease or {}).get("spec")

    async def release(self) -> bool:
        """Give the lease up if we hold it (``holderIdentity: ""``)."""
        if not self.is_leader():
            return True
        wall = self.clock.wall()
        record = LeaderElectionRecord(
            holder_identity="",
            lease_duration_seconds=1,
            acquire_time=wall,
            renew_time=wall,
            leader_transitions=self._observed.leader_transitions,
        )
        try:
            try:
                await self._update(record)
            except Conflict:
                # our last write may have landed without us seeing the answer (a renewal
                # cancelled mid-flight): re-read, and release only if it is still ours
                lease = await self.client.get(LEASES, self.lock_name, namespace=self.lock_namespace)
                if LeaderElectionRecord.from_lease(lease).holder_identity != self.identity:
                    return True
                self._lease = lease
                await self._update(record)
        except (ApiError, TransportError) as e:
            log.warning("failed to release lease %s/%s: %r", self.lock_namespace, self.lock_name, e)
            return False
        self._set_observed(record)
        return True
