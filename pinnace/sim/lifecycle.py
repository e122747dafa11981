"""A simulated pod's life: what a kubelet would report, without running anything.

Each pod bound to a simulated node has a :class:`PodState`: what the last
watch event said (``observe``) plus where the simulation is (``stage``):

``new`` → ``running`` → (containers exit) → ``terminal``
                      ↘ ``backoff`` → ``running`` … (restartPolicy restarts them)

Containers run for ever, unless the pod says otherwise:

* annotation ``pinnace.io/sim-duration: 5s`` (Go duration syntax) — they exit
  after that long;
* a pod owned by a Job exits after :data:`JOB_DEFAULT_DURATION` unless annotated;
* ``pinnace.io/sim-fail: "true"`` makes the exit code 1 (reason ``Error``),
  ``pinnace.io/sim-exit-code: "N"`` makes it N; either alone implies the
  default duration.

What happens at exit follows ``restartPolicy`` as a kubelet would: ``Never`` →
``Succeeded`` (exit 0) or ``Failed``; ``OnFailure`` → ``Succeeded`` on exit 0,
otherwise a restart; ``Always`` → a restart. A restart goes through
``CrashLoopBackOff`` (10 s doubling to 5 min, as the kubelet's backoff) and then
runs again with ``restartCount`` one higher.

:func:`step` is the whole state machine: a pure function of the state and the
current time, returning the status patch to send and when to look again.
The runner (``pinnace.sim.simulator``) owns I/O, IPs and timers.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pinnace.client import Obj
from pinnace.sim.objects import RUNTIME_PREFIX, format_time

__all__ = [
    "DURATION_ANNOTATION",
    "EXIT_CODE_ANNOTATION",
    "FAIL_ANNOTATION",
    "JOB_DEFAULT_DURATION",
    "PodState",
    "Step",
    "adopt",
    "container_id",
    "normalize_image",
    "parse_duration",
    "step",
]

DURATION_ANNOTATION = "pinnace.io/sim-duration"
FAIL_ANNOTATION = "pinnace.io/sim-fail"
EXIT_CODE_ANNOTATION = "pinnace.io/sim-exit-code"
JOB_DEFAULT_DURATION = 1.0
BACKOFF_INITIAL = 10.0
BACKOFF_MAX = 300.0

Stage = Literal["new", "running", "backoff", "terminal"]
TERMINAL_PHASES = ("Succeeded", "Failed")

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in a Go duration (``1h2m3.5s``, ``500ms``) or a bare number of seconds."""
    s = text.strip()
    try:
        value = float(s)
    except ValueError:
        pass
    else:
        if value < 0:
            raise ValueError(f"negative duration {text!r}")
        return value
    pos, total = 0, 0.0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None:
            raise ValueError(f"invalid duration {text!r} (use e.g. 5s, 1m30s, 500ms)")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not s:
        raise ValueError("empty duration")
    return total


def normalize_image(image: str) -> tuple[str, str]:
    """``(image, imageID)`` as containerd reports them: a fully qualified
    reference and a (made-up, stable) ``repo@sha256:`` digest."""
    name, tag = image, "latest"
    if "@" in name:
        name, _, digest = name.partition("@")
        tag = ""
    else:
        slash = name.rfind("/")
        colon = name.rfind(":")
        if colon > slash:
            name, tag = name[:colon], name[colon + 1 :]
    first, sep, _ = name.partition("/")
    if not sep:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    ref = f"{name}:{tag}" if tag else f"{name}@{digest}"
    return ref, f"{name}@sha256:{hashlib.sha256(ref.encode()).hexdigest()}"


def container_id(uid: str, name: str, restarts: int) -> str:
    digest = hashlib.sha256(f"{uid}/{name}/{restarts}".encode()).hexdigest()
    return f"{RUNTIME_PREFIX}{digest}"


Containers = tuple[tuple[str, str], ...]  # (name, image)


@dataclass(slots=True, eq=False)
class PodState:
    """One pod on a simulated node: the observed bits we need, and our stage."""

    namespace: str
    name: str
    uid: str = ""
    node: str = ""
    # observed, refreshed from every watch event
    phase: str = "Pending"
    deleting: bool = False
    deletion_grace: int | None = None  # metadata.deletionGracePeriodSeconds
    containers: Containers = ()
    init_containers: Containers = ()
    restart_policy: str = "Always"
    host_network: bool = False
    run_for: float | None = None  # seconds the containers run; None: for ever
    exit_code: int = 0
    has_scheduled: bool = False
    bad_annotation: str = ""  # why an annotation was ignored (logged once)
    # ours
    stage: Stage = "new"
    due: float | None = None  # clock.now() of the next transition
    ip: str | None = None
    host_ip: str = ""
    start_time: str = ""  # status.startTime
    run_started: str = ""  # when the current containers started
    restarts: int = 0
    last_exit: tuple[int, str, str] | None = field(default=None)  # (code, started, finished)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def observe(self, pod: Obj) -> None:
        """Refresh the observed fields from a pod object."""
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        self.uid = str(meta.get("uid") or "")
        self.node = str(spec.get("nodeName") or "")
        self.phase = str(status.get("phase") or "Pending")
        self.deleting = bool(meta.get("deletionTimestamp"))
        grace = meta.get("deletionGracePeriodSeconds")
        self.deletion_grace = grace if isinstance(grace, int) else None
        self.containers = _containers(spec.get("containers"))
        self.init_containers = _containers(spec.get("initContainers"))
        self.restart_policy = str(spec.get("restartPolicy") or "Always")
        self.host_network = bool(spec.get("hostNetwork"))
        self.has_scheduled = any(
            c.get("type") == "PodScheduled" and c.get("status") == "True"
            for c in status.get("conditions") or ()
            if isinstance(c, dict)
        )
        self.run_for, self.exit_code, self.bad_annotation = _run_for(meta)


def _containers(value: Any) -> Containers:
    if not isinstance(value, list):
        return ()
    return tuple(
        (str(c.get("name") or ""), str(c.get("image") or "")) for c in value if isinstance(c, dict)
    )


def _run_for(meta: Obj) -> tuple[float | None, int, str]:
    ann = meta.get("annotations") or {}
    problem = ""
    exit_code = 0
    implied = False
    if str(ann.get(FAIL_ANNOTATION, "")).lower() == "true":
        exit_code, implied = 1, True
    if EXIT_CODE_ANNOTATION in ann:
        try:
            exit_code, implied = int(str(ann[EXIT_CODE_ANNOTATION])), True
        except ValueError:
            problem = f"{EXIT_CODE_ANNOTATION}: {ann[EXIT_CODE_ANNOTATION]!r} is not an integer"
    if DURATION_ANNOTATION in ann:
        try:
            return parse_duration(str(ann[DURATION_ANNOTATION])), exit_code, problem
        except ValueError as e:
            problem = f"{DURATION_ANNOTATION}: {e}"
    is_job = any(
        isinstance(o, dict) and o.get("kind") == "Job" for o in meta.get("ownerReferences") or ()
    )
    if is_job or implied:
        return JOB_DEFAULT_DURATION, exit_code, problem
    return None, exit_code, problem


def adopt(state: PodState, pod: Obj, *, now: float, wall: datetime) -> bool:
    """Pick up a pod a simulator already started (after a restart of the sim):
    True if it was ours and ``state`` now says where it is."""
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ours = [
        c
        for c in statuses
        if isinstance(c, dict) and str(c.get("containerID", "")).startswith(RUNTIME_PREFIX)
    ]
    if not ours or state.phase != "Running":
        return False
    state.stage = "running"
    state.ip = status.get("podIP") or None
    state.host_ip = str(status.get("hostIP") or "")
    state.start_time = str(status.get("startTime") or format_time(wall))
    state.restarts = max(int(c.get("restartCount") or 0) for c in ours)
    running = (ours[0].get("state") or {}).get("running") or {}
    state.run_started = str(running.get("startedAt") or state.start_time)
    if state.run_for is None:
        state.due = None
    else:
        try:
            started = datetime.fromisoformat(state.run_started.replace("Z", "+00:00"))
            elapsed = (wall - started).total_seconds()
        except ValueError:
            elapsed = 0.0
        state.due = now + max(0.0, state.run_for - elapsed)
    return True


@dataclass(frozen=True, slots=True)
class Step:
    """What to do now: send ``patch`` (a pod status strategic merge patch) if
    any; look again at ``clock.now() == due`` if set; ``terminal`` when the
    pod reached Succeeded/Failed (its IP can go)."""

    patch: Obj | None = None
    due: float | None = None
    terminal: bool = False


def backoff(restarts: int) -> float:
    return min(BACKOFF_INITIAL * (2.0**restarts), BACKOFF_MAX)


def step(state: PodState, *, now: float, wall: datetime) -> Step:
    """Advance ``state`` to ``now`` (mutating it) and say what to report.

    The caller handles deletion and allocates ``state.ip`` before the first
    step (``state.host_ip`` is the node's address)."""
    if state.stage == "terminal":
        return Step(terminal=True)
    if state.phase in TERMINAL_PHASES:  # someone else ended it
        state.stage = "terminal"
        return Step(terminal=True)
    stamp = format_time(wall)
    if state.stage == "new":
        state.stage = "running"
        state.start_time = stamp
        state.run_started = stamp
        state.due = None if state.run_for is None else now + state.run_for
        return Step(_running_patch(state, stamp, first=True), state.due)
    if state.due is None or now < state.due:
        return Step(due=state.due)
    if state.stage == "running":
        code = state.exit_code
        state.last_exit = (code, state.run_started, stamp)
        restart = state.restart_policy == "Always" or (
            state.restart_policy == "OnFailure" and code != 0
        )
        if not restart:
            state.stage = "terminal"
            state.due = None
            return Step(_terminal_patch(state, stamp), terminal=True)
        delay = backoff(state.restarts)
        state.stage = "backoff"
        state.due = now + delay
        return Step(_backoff_patch(state, stamp, delay), state.due)
    # backoff over: the containers run again
    state.restarts += 1
    state.stage = "running"
    state.run_started = stamp
    state.due = None if state.run_for is None else now + state.run_for
    return Step(_running_patch(state, stamp, first=False), state.due)


# --- status bodies -------------------------------------------------------------------------


def _cond(type_: str, status: str, when: str, reason: str = "", message: str = "") -> Obj:
    c: Obj = {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": when}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def _common(state: PodState, conditions: list[Obj], phase: str) -> Obj:
    status: Obj = {"phase": phase, "conditions": conditions, "startTime": state.start_time}
    if state.host_ip:
        status["hostIP"] = state.host_ip
        status["hostIPs"] = [{"ip": state.host_ip}]
    if state.ip:
        status["podIP"] = state.ip
        status["podIPs"] = [{"ip": state.ip}]
    if not state.has_scheduled:
        conditions.append(_cond("PodScheduled", "True", state.start_time))
    status["initContainerStatuses"] = [
        _container(state, name, image, restarts=0, ready=True, started=False,
                   state_={"terminated": {
                       "exitCode": 0, "reason": "Completed", "startedAt": state.start_time,
                       "finishedAt": state.start_time,
                       "containerID": container_id(state.uid, name, 0)}})
        for name, image in state.init_containers
    ]  # fmt: skip
    return {"status": status}


def _container(
    state: PodState,
    name: str,
    image: str,
    *,
    restarts: int,
    ready: bool,
    started: bool,
    state_: Obj,
    last: Obj | None = None,
) -> Obj:
    ref, image_id = normalize_image(image)
    return {
        "name": name,
        "state": state_,
        "lastState": last or {},
        "ready": ready,
        "restartCount": restarts,
        "image": ref,
        "imageID": image_id,
        "containerID": container_id(state.uid, name, restarts),
        "started": started,
    }


def _last_state(state: PodState, name: str) -> Obj | None:
    if state.last_exit is None:
        return None
    code, started, finished = state.last_exit
    return {
        "terminated": {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": started,
            "finishedAt": finished,
            "containerID": container_id(state.uid, name, max(0, state.restarts - 1)),
        }
    }


def _running_patch(state: PodState, stamp: str, *, first: bool) -> Obj:
    initialized = state.start_time
    conditions = [
        _cond("PodReadyToStartContainers", "True", initialized),
        _cond("Initialized", "True", initialized),
        _cond("Ready", "True", stamp),
        _cond("ContainersReady", "True", stamp),
    ]
    body = _common(state, conditions, "Running")
    body["status"]["containerStatuses"] = [
        _container(
            state, name, image, restarts=state.restarts, ready=True, started=True,
            state_={"running": {"startedAt": state.run_started}},
            last=None if first else _last_state(state, name),
        )
        for name, image in state.containers
    ]  # fmt: skip
    return body


def _backoff_patch(state: PodState, stamp: str, delay: float) -> Obj:
    names = " ".join(n for n, _ in state.containers)
    conditions = [
        _cond("PodReadyToStartContainers", "True", state.start_time),
        _cond("Initialized", "True", state.start_time),
        _cond("Ready", "False", stamp, "ContainersNotReady",
              f"containers with unready status: [{names}]"),
        _cond("ContainersReady", "False", stamp, "ContainersNotReady",
              f"containers with unready status: [{names}]"),
    ]  # fmt: skip
    body = _common(state, conditions, "Running")
    code, started, finished = state.last_exit or (0, stamp, stamp)
    body["status"]["containerStatuses"] = [
        _container(
            state, name, image, restarts=state.restarts, ready=False, started=False,
            state_={"waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {int(delay)}s restarting failed container={name} "
                           f"pod={state.name}_{state.namespace}({state.uid})"}},
            last={"terminated": {
                "exitCode": code, "reason": "Completed" if code == 0 else "Error",
                "startedAt": started, "finishedAt": finished,
                "containerID": container_id(state.uid, name, state.restarts)}},
        )
        for name, image in state.containers
    ]  # fmt: skip
    return body


def _terminal_patch(state: PodState, stamp: str) -> Obj:
    code = state.exit_code
    phase = "Succeeded" if code == 0 else "Failed"
    conditions = [
        _cond("PodReadyToStartContainers", "False", stamp),
        _cond("Initialized", "True", state.start_time),
        _cond("Ready", "False", stamp, "PodCompleted"),
        _cond("ContainersReady", "False", stamp, "PodCompleted"),
    ]
    body = _common(state, conditions, phase)
    body["status"]["containerStatuses"] = [
        _container(
            state, name, image, restarts=state.restarts, ready=False, started=False,
            state_={"terminated": {
                "exitCode": code, "reason": "Completed" if code == 0 else "Error",
                "startedAt": state.run_started, "finishedAt": stamp,
                "containerID": container_id(state.uid, name, state.restarts)}},
        )
        for name, image in state.containers
    ]  # fmt: skip
    return body
