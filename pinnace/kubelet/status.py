"""The pod status a kubelet reports, computed from the runtime's state.

A pure function of the pod (spec and the status in the API), what the runtime
runs for it (:class:`~pinnace.kubelet.runtime.PodRuntime`), the probe
results and the reasons the kubelet is holding a container back
(``ErrImagePull``, ``CrashLoopBackOff``, ...). The phase rules follow
upstream's ``getPhase``; conditions are ``PodReadyToStartContainers``,
``Initialized``, ``ContainersReady`` and ``Ready`` with upstream's reasons
and messages, and every condition the kubelet does not own (``PodScheduled``,
``DisruptionTarget``, readiness gates) is kept as the API has it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pinnace.client import Obj
from pinnace.kubelet.runtime import ContainerInfo, PodRuntime

__all__ = ["ContainerHold", "PodStatusInputs", "compute_status", "format_ns", "pod_phase"]

KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")
RUNTIME_PREFIX = "containerd://"


def format_ns(ns: int) -> str | None:
    if ns <= 0:
        return None
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_str() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ContainerHold:
    """Why the kubelet is not running a container right now."""

    reason: str
    message: str = ""


@dataclass
class PodStatusInputs:
    pod: Obj
    runtime: PodRuntime
    host_ip: str
    start_time: str
    holds: dict[str, ContainerHold] = field(default_factory=dict)
    is_ready: Callable[[str], bool] = lambda name: True
    is_started: Callable[[str], bool | None] = lambda name: None
    termination_message: Callable[[ContainerInfo], str] = lambda c: ""
    pod_failed_message: str | None = None
    pod_failed_reason: str | None = None
    """``status.reason`` of a pod the kubelet ended (``Evicted``)."""
    disruption_message: str | None = None
    """When set, the ``DisruptionTarget`` condition (``TerminationByKubelet``)
    with this message: the kubelet ended the pod for the node's sake."""
    host_network: bool = False


def _terminated(c: ContainerInfo, message: str) -> Obj:
    t: Obj = {
        "exitCode": c.exit_code,
        "reason": c.reason or ("Completed" if c.exit_code == 0 else "Error"),
        "startedAt": format_ns(c.started_at),
        "finishedAt": format_ns(c.finished_at),
        "containerID": RUNTIME_PREFIX + c.id,
    }
    msg = message or c.message
    if msg:
        t["message"] = msg
    return {"terminated": t}


def _container_status(
    spec: Obj, rt: PodRuntime, inputs: PodStatusInputs, *, default_waiting: str
) -> Obj:
    name = spec["name"]
    latest = rt.latest(name)
    previous = rt.previous(name)
    hold = inputs.holds.get(name)
    out: Obj = {
        "name": name,
        "image": spec.get("image", ""),
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
    }
    last: Obj = {}
    if latest is None:
        waiting = hold or ContainerHold(default_waiting)
        out["state"] = {"waiting": _waiting(waiting)}
    else:
        out["restartCount"] = latest.restart_count
        out["imageID"] = latest.image_ref
        out["image"] = latest.image or out["image"]
        out["containerID"] = RUNTIME_PREFIX + latest.id
        if latest.running:
            out["state"] = {"running": {"startedAt": format_ns(latest.started_at)}}
            started = inputs.is_started(name)
            out["started"] = True if started is None else started
            out["ready"] = bool(out["started"]) and inputs.is_ready(name)
        elif latest.exited and hold is not None:
            out["state"] = {"waiting": _waiting(hold)}
            last = _terminated(latest, inputs.termination_message(latest))
        elif latest.exited:
            out["state"] = _terminated(latest, inputs.termination_message(latest))
        else:
            out["state"] = {"waiting": _waiting(hold or ContainerHold("ContainerCreating"))}
        if not last and previous is not None and previous.exited:
            last = _terminated(previous, inputs.termination_message(previous))
    out["lastState"] = last
    return out


def _waiting(hold: ContainerHold) -> Obj:
    w: Obj = {"reason": hold.reason}
    if hold.message:
        w["message"] = hold.message
    return w


def pod_phase(pod: Obj, init_statuses: list[Obj], statuses: list[Obj]) -> str:
    spec = pod.get("spec") or {}
    policy = spec.get("restartPolicy", "Always")
    init_specs = {c["name"]: c for c in spec.get("initContainers") or []}
    pending_init = failed_init = 0
    for s in init_statuses:
        state = s.get("state") or {}
        sidecar = (init_specs.get(s["name"]) or {}).get("restartPolicy") == "Always"
        if sidecar:
            if not ("running" in state and s.get("started")):
                pending_init += 1
            continue
        if "terminated" in state:
            if state["terminated"].get("exitCode") != 0:
                failed_init += 1
        elif "waiting" in state:
            last = (s.get("lastState") or {}).get("terminated")
            if last and last.get("exitCode") != 0:
                failed_init += 1
            else:
                pending_init += 1
        else:
            pending_init += 1
    running = waiting = stopped = succeeded = 0
    for s in statuses:
        state = s.get("state") or {}
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"].get("exitCode") == 0:
                succeeded += 1
        elif "waiting" in state:
            if (s.get("lastState") or {}).get("terminated"):
                stopped += 1
            else:
                waiting += 1
    if failed_init > 0 and policy == "Never":
        return "Failed"
    if pending_init > 0 or failed_init > 0:
        return "Pending"
    if waiting > 0:
        return "Pending"
    if running > 0:
        return "Running"
    if stopped > 0:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _condition(
    existing: dict[str, Obj], type_: str, status: str, reason: str = "", message: str = ""
) -> Obj:
    prev = existing.get(type_)
    when = prev.get("lastTransitionTime") if prev and prev.get("status") == status else now_str()
    c: Obj = {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": when}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def _init_complete(spec: Obj, status: Obj) -> bool:
    """An init container is done when it exited 0; a sidecar (restartable init
    container) when it runs and has started."""
    state = status["state"]
    if spec.get("restartPolicy") == "Always":
        return "running" in state and bool(status["started"])
    return "terminated" in state and state["terminated"]["exitCode"] == 0


def compute_status(inputs: PodStatusInputs) -> Obj:
    pod = inputs.pod
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    rt = inputs.runtime
    init_specs = list(spec.get("initContainers") or [])
    specs = list(spec.get("containers") or [])
    init_statuses = [
        _container_status(c, rt, inputs, default_waiting="PodInitializing") for c in init_specs
    ]
    pending_init = [
        c["name"]
        for c, s in zip(init_specs, init_statuses, strict=True)
        if not _init_complete(c, s)
    ]
    init_done = not pending_init
    statuses = [
        _container_status(
            c, rt, inputs, default_waiting="ContainerCreating" if init_done else "PodInitializing"
        )
        for c in specs
    ]
    phase = pod_phase(pod, init_statuses, statuses)
    if inputs.pod_failed_message is not None:
        phase = "Failed"
    existing = {c.get("type", ""): c for c in old.get("conditions") or []}
    sandbox = rt.sandbox
    sandbox_ok = sandbox is not None and sandbox.ready
    conds: list[Obj] = [
        _condition(existing, "PodReadyToStartContainers", "True" if sandbox_ok else "False")
    ]
    if pending_init and phase not in ("Succeeded", "Failed"):
        conds.append(
            _condition(
                existing, "Initialized", "False", "ContainersNotInitialized",
                f"containers with incomplete status: [{' '.join(pending_init)}]",
            )
        )  # fmt: skip
    else:
        conds.append(_condition(existing, "Initialized", "True"))
    unready = [s["name"] for s in statuses if not s["ready"]]
    unready += [
        s["name"]
        for c, s in zip(init_specs, init_statuses, strict=True)
        if c.get("restartPolicy") == "Always" and not s["ready"]
    ]
    gates = [g.get("conditionType") for g in spec.get("readinessGates") or []]
    gates_ok = all((existing.get(g) or {}).get("status") == "True" for g in gates)
    if phase in ("Succeeded", "Failed"):
        conds.append(_condition(existing, "ContainersReady", "False", "PodCompleted"))
        conds.append(_condition(existing, "Ready", "False", "PodCompleted"))
    elif unready:
        msg = f"containers with unready status: [{' '.join(unready)}]"
        conds.append(_condition(existing, "ContainersReady", "False", "ContainersNotReady", msg))
        conds.append(_condition(existing, "Ready", "False", "ContainersNotReady", msg))
    else:
        conds.append(_condition(existing, "ContainersReady", "True"))
        if gates_ok:
            conds.append(_condition(existing, "Ready", "True"))
        else:
            conds.append(
                _condition(
                    existing, "Ready", "False", "ReadinessGatesNotReady",
                    "corresponding condition of pod readiness gate "
                    f"\"{next(g for g in gates if (existing.get(g) or {}).get('status') != 'True')}\""
                    " does not exist.",
                )
            )  # fmt: skip
    # Kept as the API has them, less null members: the status patch is a merge
    # patch, which drops them, so keeping them would make the next sync see a
    # change (the binding's PodScheduled has "lastProbeTime": null) and patch
    # the same status again.
    conds += [
        {k: v for k, v in c.items() if v is not None}
        for t, c in existing.items()
        if t not in KUBELET_CONDITIONS
    ]
    if inputs.disruption_message is not None:
        conds = [c for c in conds if c.get("type") != "DisruptionTarget"]
        conds.append(
            _condition(
                existing, "DisruptionTarget", "True", "TerminationByKubelet",
                inputs.disruption_message,
            )
        )  # fmt: skip
    status: Obj = {
        "phase": phase,
        "conditions": conds,
        "hostIP": inputs.host_ip,
        "hostIPs": [{"ip": inputs.host_ip}],
        "startTime": inputs.start_time,
        "containerStatuses": statuses,
    }
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    ip = inputs.host_ip if inputs.host_network else (sandbox.ip if sandbox else "")
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    if old.get("qosClass"):
        status["qosClass"] = old["qosClass"]
    if inputs.pod_failed_message:
        status["message"] = inputs.pod_failed_message
    if inputs.pod_failed_reason:
        status["reason"] = inputs.pod_failed_reason
    return status
