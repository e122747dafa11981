"""Recording core/v1 Events about objects, without ever blocking the caller.

:class:`EventRecorder` is client-go's ``record.EventRecorder`` +
``EventBroadcaster`` reduced to what pinnace needs. ``event(obj, type,
reason, message)`` only puts the event on a bounded queue (dropping it, with a
log line, when the queue is full) and returns; a background task writes them.

Events are correlated as client-go's ``EventCorrelator`` does for the
core/v1 recorder that the kubelet and the controller manager use, in its
order:

1. **Similar events are combined.** Once 10 events from one source about one
   object, with one type and reason but different messages, come within 10
   minutes of each other, the next ones go to a single Event whose message is
   ``(combined from similar events): <latest message>``.
2. **Repeats are counted.** An event equal to one already written (same
   source, involved object, type, reason and message) bumps that Event's
   ``count`` and ``lastTimestamp`` with a PATCH instead of creating a new
   Event (if the Event is gone, it is created again with the running count).
3. **Spam is dropped.** Each source may write 25 events about one object,
   then one more every 5 minutes (a token bucket per source and object;
   creates and count patches alike). A ReplicaSet that creates 10,000 pods
   writes about 25 ``SuccessfulCreate`` events, as upstream.

``correlate=False`` keeps only step 2 (the scheduler: upstream's writes
``events.k8s.io`` events, which have neither step 1 nor 3). Every cache is an
LRU of ``cache_size`` entries.

Write failures are retried a few times when the server is unreachable, and
dropped otherwise; events are best-effort by design.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pinnace import aio
from pinnace.client.clock import REAL_CLOCK, Clock
from pinnace.client.errors import AlreadyExists, ApiError, NotFound
from pinnace.client.objects import EVENTS, Obj, object_reference
from pinnace.client.rest import Client
from pinnace.client.transport import TransportError

__all__ = ["NORMAL", "WARNING", "EventRecorder", "EventType", "format_time"]

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"
EventType = Literal["Normal", "Warning"]


def format_time(t: datetime) -> str:
    """``metav1.Time`` (RFC 3339, seconds, UTC)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Pending:
    ref: dict[str, Any]
    type: str
    reason: str
    message: str
    at: datetime


#: client-go's EventCorrelator defaults.
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL = 600.0  # seconds
SPAM_BURST = 25
SPAM_REFILL = 1.0 / 300.0  # tokens per second
COMBINED_PREFIX = "(combined from similar events): "


@dataclass
class _Similar:
    messages: set[str]
    last: float


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class _Seen:
    name: str
    namespace: str
    count: int
    first: str
    event: Obj = field(repr=False)


class EventRecorder:
    def __init__(
        self,
        client: Client,
        component: str,
        host: str = "",
        *,
        clock: Clock = REAL_CLOCK,
        queue_size: int = 1000,
        cache_size: int = 4096,
        max_retries: int = 3,
        retry_delay: float = 1.0,
        correlate: bool = True,
    ) -> None:
        self.client = client
        self.correlate = correlate
        self.component = component
        self.host = host
        self.clock = clock
        self.cache_size = cache_size
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=queue_size)
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()
        self._similar: OrderedDict[tuple[str, ...], _Similar] = OrderedDict()
        self._buckets: OrderedDict[tuple[str, ...], _Bucket] = OrderedDict()
        self.spam_dropped = 0
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self._last_nanos = 0

    # --- recording (never blocks) --------------------------------------------------------

    def event(
        self,
        obj: Obj,
        type_: EventType | str,
        reason: str,
        message: str,
        *,
        kind: str | None = None,
        api_version: str | None = None,
        field_path: str | None = None,
    ) -> None:
        """Record an event about ``obj`` (``kind``/``api_version`` fill in what list
        items lack). Returns at once; the write happens in the background."""
        if type_ not in (NORMAL, WARNING):
            log.error("unsupported event type %r (reason %s)", type_, reason)
            return
        ref = object_reference(obj, kind=kind, api_version=api_version, field_path=field_path)
        pending = _Pending(ref, type_, reason, message, self.clock.wall())
        try:
            self._queue.put_nowait(pending)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("event queue full, dropping event %s %s: %s", reason, ref["name"], message)
            return
        self._ensure_started()

    def eventf(
        self,
        obj: Obj,
        type_: EventType | str,
        reason: str,
        fmt: str,
        *args: object,
        kind: str | None = None,
        api_version: str | None = None,
    ) -> None:
        """Like :meth:`event` with a ``%``-format message."""
        message = fmt % args if args else fmt
        self.event(obj, type_, reason, message, kind=kind, api_version=api_version)

    # --- lifecycle -----------------------------------------------------------------------

    def _ensure_started(self) -> None:
        if self._task is None:
            with contextlib.suppress(RuntimeError):  # no running loop: start() later
                self.start()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"events-{self.component}"
            )

    async def flush(self) -> None:
        """Wait until every queued event has been written (or given up on)."""
        if self._task is None and not self._queue.empty():
            self.start()
        await self._queue.join()

    async def stop(self, *, flush: bool = True, timeout: float = 5.0) -> None:
        if flush and self._task is not None:
            with contextlib.suppress(TimeoutError):
                await aio.wait_for(self._queue.join(), timeout)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            pending = await self._queue.get()
            try:
                await self._write(pending)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("writing event failed")
            finally:
                self._queue.task_done()

    # --- correlation and writing ---------------------------------------------------------

    def _object_key(self, p: _Pending) -> tuple[str, ...]:
        """Source and involved object (the spam filter's key)."""
        r = p.ref
        return (
            self.component,
            self.host,
            str(r.get("kind", "")),
            str(r.get("namespace", "")),
            str(r.get("name", "")),
            str(r.get("uid", "")),
            str(r.get("apiVersion", "")),
        )

    def _key(self, p: _Pending) -> tuple[str, ...]:
        """Everything that makes two events the same event."""
        return (
            *self._object_key(p),
            str(p.ref.get("fieldPath", "")),
            p.type,
            p.reason,
            p.message,
        )

    def _lru_put(
        self, cache: OrderedDict[tuple[str, ...], Any], key: tuple[str, ...], v: Any
    ) -> None:
        cache[key] = v
        cache.move_to_end(key)
        while len(cache) > self.cache_size:
            cache.popitem(last=False)

    def _aggregate(self, p: _Pending) -> tuple[_Pending, tuple[str, ...]]:
        """Step 1: the event to write and its key for counting (the similar
        group's key once the group is combined)."""
        # upstream also keys on the reporting controller and instance: ours
        # are the source's component and host, already in the object key
        group = (*self._object_key(p), p.type, p.reason)
        now = self.clock.now()
        rec = self._similar.get(group)
        if rec is None or now - rec.last > AGGREGATE_INTERVAL:
            rec = _Similar(set(), now)
        rec.messages.add(p.message)
        rec.last = now
        self._lru_put(self._similar, group, rec)
        if len(rec.messages) < AGGREGATE_MAX_EVENTS:
            return p, self._key(p)
        rec.messages.pop()  # the set stays at its threshold size
        combined = _Pending(p.ref, p.type, p.reason, COMBINED_PREFIX + p.message, p.at)
        return combined, ("\x00combined", *group)

    def _allowed(self, p: _Pending) -> bool:
        """Step 3: take a token from the source and object's bucket."""
        key = self._object_key(p)
        now = self.clock.now()
        b = self._buckets.get(key)
        if b is None:
            b = _Bucket(float(SPAM_BURST), now)
        else:
            b.tokens = min(float(SPAM_BURST), b.tokens + (now - b.at) * SPAM_REFILL)
            b.at = now
        self._lru_put(self._buckets, key, b)
        if b.tokens < 1.0:
            return False
        b.tokens -= 1.0
        return True

    def _new_event(self, p: _Pending) -> Obj:
        ts = format_time(p.at)
        namespace = p.ref.get("namespace") or "default"
        # client-go names events <object>.<unix nanos in hex>; keep names unique even
        # when the clock is coarse (or fake)
        nanos = max(int(p.at.timestamp() * 1e9), self._last_nanos + 1)
        self._last_nanos = nanos
        source: Obj = {"component": self.component}
        if self.host:
            source["host"] = self.host
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{p.ref['name']}.{nanos:x}", "namespace": namespace},
            "involvedObject": p.ref,
            "reason": p.reason,
            "message": p.message,
            "type": p.type,
            "source": source,
            "firstTimestamp": ts,
            "lastTimestamp": ts,
            "count": 1,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        }

    async def _write(self, p: _Pending) -> None:
        if self.correlate:
            p, key = self._aggregate(p)
        else:
            key = self._key(p)
        seen = self._seen.get(key)
        ts = format_time(p.at)
        if seen is not None:
            self._seen.move_to_end(key)
            seen.count += 1  # counted even when the spam filter drops the write, as upstream
        if self.correlate and not self._allowed(p):
            self.spam_dropped += 1
            log.debug(
                "event spam filter: dropping %s %s: %s", p.reason, p.ref.get("name"), p.message
            )
            return
        if seen is not None:
            patch = {"count": seen.count, "lastTimestamp": ts, "message": p.message}
            try:
                await self._retrying(
                    lambda: self.client.patch(
                        EVENTS, seen.name, patch, namespace=seen.namespace, patch_type="strategic"
                    )
                )
                return
            except ApiError as e:
                if not isinstance(e, NotFound):
                    log.warning("updating event %s failed: %s", seen.name, e)
                    return
                event = dict(seen.event, count=seen.count, lastTimestamp=ts)
                event["metadata"] = {"name": seen.name, "namespace": seen.namespace}
        else:
            event = self._new_event(p)
        try:
            created = await self._retrying(
                lambda: self.client.create(EVENTS, event, namespace=event["metadata"]["namespace"])
            )
        except AlreadyExists:
            created = event
        except ApiError as e:
            log.warning("server rejected event %s (%s): %s", event["metadata"]["name"], p.reason, e)
            return
        m = created.get("metadata") or event["metadata"]
        self._seen[key] = _Seen(
            name=str(m.get("name")),
            namespace=str(m.get("namespace")),
            count=int(created.get("count") or event["count"]),
            first=str(event["firstTimestamp"]),
            event=event,
        )
        while len(self._seen) > self.cache_size:
            self._seen.popitem(last=False)

    async def _retrying(self, send: Callable[[], Awaitable[Obj]]) -> Obj:
        """``send()``, re-sent on connection errors up to ``max_retries`` times; when
        the server stays unreachable, an ``ApiError`` (reason ``Unreachable``)."""
        attempt = 0
        while True:
            try:
                return await send()
            except TransportError as e:
                attempt += 1
                if attempt > self.max_retries:
                    raise ApiError(
                        {"code": 0, "reason": "Unreachable", "message": f"giving up: {e!r}"}
                    ) from e
                await self.clock.sleep(self.retry_delay * attempt)
