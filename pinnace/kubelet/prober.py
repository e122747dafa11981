"""Liveness, readiness and startup probing of a node's containers.

:class:`ProbeManager` keeps one asyncio task (a *worker*) per container probe,
as upstream's ``pkg/kubelet/prober`` keeps one goroutine per probe (v1.32
semantics):

- A worker probes every ``periodSeconds`` (default 10), but not before
  ``initialDelaySeconds`` have passed since the container started, and each probe
  gets ``timeoutSeconds`` (default 1). ``failureThreshold`` (default 3)
  consecutive failures, or ``successThreshold`` (default 1) consecutive successes,
  change the probe's result; anything in between leaves it as it was.
- Results start, for each new container, at: readiness *failure* (not ready until
  a probe succeeds), liveness *success*, startup *unknown* (not started).
  A container without a readiness probe is ready once started; one without a
  startup probe is started once running.
- While a startup probe has not succeeded, liveness and readiness probes of the
  container do not run; once it succeeds it stops probing (until the next
  container) and the readiness probe runs at once.
- A liveness or startup result turning to failure calls
  ``on_liveness_failure(pod_uid, container_name, message, probe_type)`` so the
  kubelet kills and restarts the container (grace period:
  :func:`termination_grace_period`), and the worker holds until it is told about
  a new container id.
- Readiness and started changes call ``on_change(pod_uid)`` so the status
  manager recomputes the pod's Ready condition.
- Every failed probe records a ``Warning Unhealthy`` event (``Liveness probe
  failed: <output>``), a redirect to another host a ``Warning ProbeWarning``
  (``Readiness probe warning: ...``), a probe that could not run ``Warning
  Unhealthy`` ``... probe errored and resulted in unknown state: ...`` (after
  upstream's three attempts; such a result does not count).
- Right after a kubelet start, each worker's first probe is delayed by a random
  fraction of its period so that probes of many pods spread out (upstream does
  this only while the kubelet is younger than one period; so do we). After that,
  a new container is probed as soon as its initial delay allows (upstream waits
  for the next tick of its ticker; probing at the delay is what the API
  documents), then every period.

The kubelet drives the manager with :meth:`ProbeManager.add_pod`,
:meth:`~ProbeManager.update_container` (a container (re)started; a new id resets
the worker), :meth:`~ProbeManager.container_stopped`,
:meth:`~ProbeManager.stop_liveness_and_startup` (pod terminating) and
:meth:`~ProbeManager.remove_pod`, and reads :meth:`~ProbeManager.is_ready` /
:meth:`~ProbeManager.is_started`. Time comes from the injected clock so tests run
workers on a ``FakeClock``; the probes' own network timeouts are real time.

Everything runs on the event loop; callbacks are plain callables (an awaitable
they return is run as a separate task, so a callback that stops the pod's
workers cannot deadlock on the calling worker).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random as random_mod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pinnace.client.clock import REAL_CLOCK, Clock
from pinnace.kubelet.probes.handlers import (
    MAX_PROBE_ATTEMPTS,
    ExecSync,
    ProbeOutcome,
    Result,
    run_probe,
)

__all__ = [
    "EventRecorder",
    "OnChange",
    "OnLivenessFailure",
    "ProbeManager",
    "ProbeType",
    "Result",
    "termination_grace_period",
]

log = logging.getLogger("pinnace.kubelet.prober")

ProbeType = Literal["liveness", "readiness", "startup"]

EventRecorder = Callable[[Mapping[str, Any], str, str, str], object]
"""``event(pod, type, reason, message)``."""
OnChange = Callable[[str], object]
"""``on_change(pod_uid)``: a container's ready or started value changed."""
OnLivenessFailure = Callable[[str, str, str, str], object]
"""``on_liveness_failure(pod_uid, container_name, message, probe_type)``;
``probe_type`` is ``"liveness"`` or ``"startup"``, ``message`` upstream's
``Container c failed liveness probe`` (the kubelet adds ``, will be restarted``
when the restart policy restarts it)."""

_TITLES: dict[ProbeType, str] = {
    "liveness": "Liveness",
    "readiness": "Readiness",
    "startup": "Startup",
}
_FIELDS: dict[ProbeType, str] = {
    "liveness": "livenessProbe",
    "readiness": "readinessProbe",
    "startup": "startupProbe",
}
_INITIAL: dict[ProbeType, Result | None] = {
    "readiness": Result.FAILURE,
    "liveness": Result.SUCCESS,
    "startup": None,
}

MINIMUM_GRACE_PERIOD = 2
"""Upstream's ``minimumGracePeriodInSeconds``."""

EVENT_UNHEALTHY = "Unhealthy"
EVENT_PROBE_WARNING = "ProbeWarning"


def termination_grace_period(
    pod: Mapping[str, Any], container_name: str, probe_type: str | None = None
) -> int:
    """The grace period to kill a container with (``setTerminationGracePeriod``):
    the pod's ``deletionGracePeriodSeconds`` while it is being deleted, else the
    failed liveness/startup probe's own ``terminationGracePeriodSeconds`` if set,
    else the pod's ``terminationGracePeriodSeconds`` (2 s when unset)."""
    meta = pod.get("metadata") or {}
    if meta.get("deletionGracePeriodSeconds") is not None:
        return int(meta["deletionGracePeriodSeconds"])
    spec = pod.get("spec") or {}
    if spec.get("terminationGracePeriodSeconds") is None:
        return MINIMUM_GRACE_PERIOD
    if probe_type in ("liveness", "startup"):
        container = next(
            (c for c in _probed_containers(pod) if c.get("name") == container_name), None
        )
        probe = (container or {}).get(_FIELDS[probe_type]) or {}  # type: ignore[index]
        if probe.get("terminationGracePeriodSeconds") is not None:
            return int(probe["terminationGracePeriodSeconds"])
    return int(spec["terminationGracePeriodSeconds"])


def _probed_containers(pod: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Regular containers and sidecars (init containers with ``restartPolicy:
    Always``), the containers upstream probes."""
    spec = pod.get("spec") or {}
    yield from spec.get("containers") or []
    for c in spec.get("initContainers") or []:
        if c.get("restartPolicy") == "Always":
            yield c


@dataclass
class _Container:
    name: str
    spec: Mapping[str, Any]
    container_id: str | None = None
    running: bool = False
    started_at: float = 0.0
    """When the current container started, on the manager's clock (``now()``)."""


@dataclass
class _Pod:
    uid: str
    pod: Mapping[str, Any]
    ip: str = ""
    containers: dict[str, _Container] = field(default_factory=dict)
    workers: dict[tuple[str, ProbeType], _Worker] = field(default_factory=dict)


class _Worker:
    """Probes one container's one probe type; see the module docstring."""

    def __init__(
        self,
        manager: ProbeManager,
        pod: _Pod,
        container: _Container,
        probe_type: ProbeType,
        spec: Mapping[str, Any],
    ) -> None:
        self.manager = manager
        self.pod = pod
        self.container = container
        self.probe_type = probe_type
        self.spec = spec
        self.period = float(spec.get("periodSeconds") or 10)
        self.initial_delay = float(spec.get("initialDelaySeconds") or 0)
        self.success_threshold = int(spec.get("successThreshold") or 1)
        self.failure_threshold = int(spec.get("failureThreshold") or 3)
        self.container_id: str | None = None
        self.result: Result | None = None
        """The published result for ``container_id`` (None: none yet / unknown)."""
        self.last_result: Result | None = None
        self.result_run = 0
        self.on_hold = False
        self.wake_at: float | None = None
        self._wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    @property
    def title(self) -> str:
        return _TITLES[self.probe_type]

    def start(self) -> None:
        name = f"probe-{self.probe_type}-{self.pod.uid}-{self.container.name}"
        self.task = asyncio.get_running_loop().create_task(self._run(), name=name)

    def trigger(self) -> None:
        """Probe now (if the container's state allows) instead of at the next tick."""
        self._wake.set()

    def reset(self, container_id: str) -> None:
        """A new container: start over from the initial result."""
        self.container_id = container_id
        self.result = _INITIAL[self.probe_type]
        self.last_result = None
        self.result_run = 0
        self.on_hold = False

    async def _run(self) -> None:
        clock = self.manager.clock
        try:
            if self.period > clock.now() - self.manager.started:
                await clock.sleep(self.manager.random() * self.period)
            while True:
                begun = clock.now()
                self.wake_at = None
                self._wake.clear()  # this probe answers any trigger so far
                try:
                    if not await self._do_probe():
                        return
                except Exception:  # as upstream: log the crash, keep probing
                    log.exception(
                        "%s probe worker failed",
                        self.title,
                        extra={"pod_uid": self.pod.uid, "container": self.container.name},
                    )
                deadline = begun + self.period
                if self.wake_at is not None:
                    deadline = min(deadline, self.wake_at)
                await self._wait(deadline)
        finally:
            self.manager._worker_done(self)

    async def _wait(self, deadline: float) -> None:
        clock = self.manager.clock
        if not self._wake.is_set():
            delay = deadline - clock.now()
            if delay > 0:
                sleeper = asyncio.ensure_future(clock.sleep(delay))
                waker = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
                    waker.cancel()
        self._wake.clear()

    async def _do_probe(self) -> bool:
        """One tick (``worker.doProbe``); False ends the worker."""
        c = self.container
        if c.container_id is None:
            return True  # not created yet
        if self.container_id != c.container_id:
            self.manager._set_result(self, reset_to=c.container_id)
        if self.on_hold:
            return True
        if not c.running:
            if self.probe_type == "readiness":
                self.manager._set_result(self, Result.FAILURE)
            return True
        elapsed = self.manager.clock.now() - c.started_at
        if elapsed < self.initial_delay:
            self.wake_at = c.started_at + self.initial_delay
            return True
        started = self.manager._started(self.pod, c.name)
        if started and self.probe_type == "startup":
            return True  # done until the next container
        if not started and self.probe_type != "startup":
            return True  # gated by the startup probe

        container_id = c.container_id
        outcome = await self._probe(container_id)
        if outcome is None or self.container_id != container_id or self.on_hold:
            return True  # errored, or the container changed meanwhile: discard
        result = Result.FAILURE if outcome.result == Result.FAILURE else Result.SUCCESS
        if self.last_result == result:
            self.result_run += 1
        else:
            self.last_result = result
            self.result_run = 1
        if (result == Result.FAILURE and self.result_run < self.failure_threshold) or (
            result == Result.SUCCESS and self.result_run < self.success_threshold
        ):
            return True
        self.manager._set_result(self, result)
        if result == Result.FAILURE and self.probe_type in ("liveness", "startup"):
            # Hold until the kubelet reports a new container for this one.
            self.on_hold = True
            self.result_run = 0
            self.manager._call(
                self.manager.on_liveness_failure,
                self.pod.uid,
                c.name,
                f"Container {c.name} failed {self.probe_type} probe",
                self.probe_type,
            )
        return True

    async def _probe(self, container_id: str) -> ProbeOutcome | None:
        """Run the probe (retrying a probe that could not run), record events;
        None when it errored."""
        outcome = ProbeOutcome(Result.UNKNOWN, "")
        for _ in range(MAX_PROBE_ATTEMPTS):
            outcome = await run_probe(
                self.spec,
                container=self.container.spec,
                container_id=container_id,
                pod_ip=self.pod.ip,
                exec_sync=self.manager.exec_sync,
                pod=self.pod.pod,
            )
            if outcome.result != Result.UNKNOWN:
                break
        extra = {
            "pod_uid": self.pod.uid,
            "container": self.container.name,
            "probe_type": self.probe_type,
        }
        if outcome.result == Result.UNKNOWN:
            log.info("%s probe errored: %s", self.title, outcome.output, extra=extra)
            self._event(
                EVENT_UNHEALTHY,
                f"{self.title} probe errored and resulted in unknown state: {outcome.output}",
            )
            return None
        if outcome.result == Result.FAILURE:
            log.info("%s probe failed: %s", self.title, outcome.output, extra=extra)
            self._event(EVENT_UNHEALTHY, f"{self.title} probe failed: {outcome.output}")
        elif outcome.result == Result.WARNING:
            self._event(EVENT_PROBE_WARNING, f"{self.title} probe warning: {outcome.output}")
        else:
            log.debug("%s probe succeeded", self.title, extra=extra)
        return outcome

    def _event(self, reason: str, message: str) -> None:
        if self.manager.event is not None:
            self.manager._call(self.manager.event, self.pod.pod, "Warning", reason, message)


class ProbeManager:
    """All probe workers of a node; see the module docstring.

    ``exec_sync`` runs exec probes (CRI ExecSync). ``random`` returns a float in
    [0, 1) for the start-up jitter (tests pass ``lambda: 0.0``)."""

    def __init__(
        self,
        *,
        exec_sync: ExecSync,
        clock: Clock = REAL_CLOCK,
        on_change: OnChange | None = None,
        on_liveness_failure: OnLivenessFailure | None = None,
        event: EventRecorder | None = None,
        random: Callable[[], float] = random_mod.random,
    ) -> None:
        self.exec_sync = exec_sync
        self.clock = clock
        self.on_change = on_change
        self.on_liveness_failure = on_liveness_failure
        self.event = event
        self.random = random
        self.started = clock.now()
        self._pods: dict[str, _Pod] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------- kubelet calls

    def add_pod(self, pod: Mapping[str, Any]) -> None:
        """Start workers for every probe of the pod's containers (and sidecars).
        Must run on the event loop. Adding a known pod only refreshes the stored
        object (probes of a running pod cannot change)."""
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        known = self._pods.get(uid)
        if known is not None:
            known.pod = pod
            return
        state = _Pod(uid=uid, pod=pod)
        self._pods[uid] = state
        for spec in _probed_containers(pod):
            name = str(spec.get("name") or "")
            container = state.containers[name] = _Container(name=name, spec=spec)
            for probe_type in ("startup", "readiness", "liveness"):
                probe = spec.get(_FIELDS[probe_type])
                if probe:
                    worker = _Worker(self, state, container, probe_type, probe)
                    state.workers[(name, probe_type)] = worker
                    worker.start()

    def remove_pod(self, uid: str) -> None:
        """Stop the pod's workers and forget its results."""
        state = self._pods.pop(uid, None)
        if state is None:
            return
        for worker in list(state.workers.values()):
            if worker.task is not None:
                worker.task.cancel()
        state.workers.clear()

    def stop_liveness_and_startup(self, uid: str) -> None:
        """The pod is terminating: no more liveness/startup probes (so the
        kubelet does not restart what it is stopping). Readiness keeps probing."""
        state = self._pods.get(uid)
        if state is None:
            return
        for key, worker in list(state.workers.items()):
            if key[1] in ("liveness", "startup"):
                before = self._snapshot(state, key[0])
                del state.workers[key]
                if worker.task is not None:
                    worker.task.cancel()
                self._notify_if_changed(state, key[0], before)

    def update_container(
        self,
        pod_uid: str,
        container_name: str,
        container_id: str | None,
        started_at: float | datetime | str | None = None,
        pod_ip: str | None = None,
    ) -> None:
        """The container is running as ``container_id`` since ``started_at`` (a
        reading of the manager's clock, an aware datetime or an RFC 3339 string;
        None: now). A different id than before is a new container: its workers
        start over and probe as soon as the initial delay allows. ``container_id``
        None means it is not running (see :meth:`container_stopped`)."""
        state = self._pods.get(pod_uid)
        if state is None:
            log.debug("update_container for unknown pod %s", pod_uid)
            return
        if pod_ip:
            state.ip = pod_ip
        if container_id is None:
            self.container_stopped(pod_uid, container_name)
            return
        c = state.containers.get(container_name)
        if c is None:
            c = state.containers[container_name] = _Container(name=container_name, spec={})
        before = self._snapshot(state, container_name)
        new = c.container_id != container_id
        c.running = True
        c.started_at = self._monotonic(started_at)
        if new:
            c.container_id = container_id
            for worker in self._workers_of(state, container_name):
                worker.reset(container_id)
        if new or not before[2]:
            for worker in self._workers_of(state, container_name):
                worker.trigger()
        self._notify_if_changed(state, container_name, before)

    def container_stopped(self, pod_uid: str, container_name: str) -> None:
        """The container is no longer running: not ready, not started."""
        state = self._pods.get(pod_uid)
        if state is None:
            return
        c = state.containers.get(container_name)
        if c is None or not c.running:
            return
        before = self._snapshot(state, container_name)
        c.running = False
        readiness = state.workers.get((container_name, "readiness"))
        if readiness is not None and readiness.container_id == c.container_id:
            readiness.result = Result.FAILURE
        self._notify_if_changed(state, container_name, before)

    def set_pod_ip(self, pod_uid: str, pod_ip: str) -> None:
        state = self._pods.get(pod_uid)
        if state is not None:
            state.ip = pod_ip

    async def close(self) -> None:
        """Stop every worker (and callbacks still running) and wait for them."""
        tasks: list[asyncio.Task[Any]] = []
        for uid in list(self._pods):
            state = self._pods[uid]
            tasks.extend(w.task for w in state.workers.values() if w.task is not None)
            self.remove_pod(uid)
        tasks.extend(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ queries

    def is_started(self, pod_uid: str, container_name: str) -> bool | None:
        """Whether the container has started (its startup probe succeeded, or it
        has none). None for a pod the manager does not know."""
        state = self._pods.get(pod_uid)
        if state is None:
            return None
        return self._started(state, container_name)

    def is_ready(self, pod_uid: str, container_name: str) -> bool:
        """Whether the container is ready: started, and its readiness probe has
        succeeded (or it has none). The caller counts only running containers; a
        container of a pod the manager does not know has no probes and is ready."""
        state = self._pods.get(pod_uid)
        if state is None:
            return True
        return self._snapshot(state, container_name)[0]

    def worker_count(self) -> int:
        return sum(len(p.workers) for p in self._pods.values())

    # ---------------------------------------------------------------- internals

    def _started(self, state: _Pod, name: str) -> bool:
        c = state.containers.get(name)
        if c is not None and c.container_id is not None and not c.running:
            return False
        worker = state.workers.get((name, "startup"))
        if worker is None:
            return True
        return worker.result == Result.SUCCESS

    def _snapshot(self, state: _Pod, name: str) -> tuple[bool, bool, bool]:
        """(ready, started, running) of a container."""
        c = state.containers.get(name)
        running = c is not None and c.running
        started = self._started(state, name)
        ready = started
        if ready:
            if c is not None and c.container_id is not None and not c.running:
                ready = False
            else:
                worker = state.workers.get((name, "readiness"))
                ready = worker is None or worker.result == Result.SUCCESS
        return ready, started, running

    def _notify_if_changed(self, state: _Pod, name: str, before: tuple[bool, bool, bool]) -> None:
        after = self._snapshot(state, name)
        if after[:2] != before[:2] and self._pods.get(state.uid) is state:
            self._call(self.on_change, state.uid)

    def _set_result(
        self, worker: _Worker, result: Result | None = None, *, reset_to: str | None = None
    ) -> None:
        state = worker.pod
        name = worker.container.name
        before = self._snapshot(state, name)
        was_started = before[1]
        if reset_to is not None:
            worker.reset(reset_to)
        else:
            worker.result = result
        self._notify_if_changed(state, name, before)
        if (
            worker.probe_type == "startup"
            and not was_started
            and self._started(state, name)
            and (readiness := state.workers.get((name, "readiness"))) is not None
        ):
            readiness.trigger()

    def _workers_of(self, state: _Pod, name: str) -> list[_Worker]:
        return [w for (cname, _), w in state.workers.items() if cname == name]

    def _worker_done(self, worker: _Worker) -> None:
        state = self._pods.get(worker.pod.uid)
        if state is None:
            return
        key = (worker.container.name, worker.probe_type)
        if state.workers.get(key) is worker:
            del state.workers[key]

    def _monotonic(self, started_at: float | datetime | str | None) -> float:
        if started_at is None:
            return self.clock.now()
        if isinstance(started_at, str):
            started_at = datetime.fromisoformat(started_at.replace("Z", "+00:00"))
        if isinstance(started_at, datetime):
            age = (self.clock.wall() - started_at).total_seconds()
            return self.clock.now() - age
        return float(started_at)

    def _call(self, callback: Callable[..., object] | None, *args: Any) -> None:
        if callback is None:
            return
        try:
            result = callback(*args)
        except Exception:
            log.exception("prober callback %r failed", callback)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._background.add(task)
            task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Future[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("prober callback failed", exc_info=task.exception())
