"""Builders for scheduler unit tests: nodes, pods, and a framework over a snapshot."""

from __future__ import annotations

import itertools
from typing import Any

from pinnace.scheduler.config import ProfileConfig, SchedulerConfig
from pinnace.scheduler.framework import CycleState, Framework, Snapshot, StaticCluster
from pinnace.scheduler.framework.types import PodInfo
from pinnace.scheduler.scheduler import Scheduler

Obj = dict[str, Any]
_uid = itertools.count(1)


def node(
    name: str,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: int = 110,
    labels: dict[str, str] | None = None,
    taints: list[Obj] | None = None,
    unschedulable: bool = False,
    images: list[Obj] | None = None,
    **extra: str,
) -> Obj:
    alloc = {"cpu": cpu, "memory": memory, "pods": str(pods), **extra}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": f"node-{name}",
            "labels": {"kubernetes.io/hostname": name, **(labels or {})},
        },
        "spec": {"taints": taints or [], **({"unschedulable": True} if unschedulable else {})},
        "status": {"capacity": alloc, "allocatable": alloc, "images": images or []},
    }


def pod(
    name: str,
    cpu: str | None = None,
    memory: str | None = None,
    *,
    namespace: str = "default",
    node_name: str = "",
    labels: dict[str, str] | None = None,
    priority: int | None = None,
    spec: Obj | None = None,
    init: list[Obj] | None = None,
    overhead: Obj | None = None,
    start_time: str | None = None,
    uid: str | None = None,
) -> Obj:
    requests: Obj = {}
    if cpu:
        requests["cpu"] = cpu
    if memory:
        requests["memory"] = memory
    s: Obj = {
        "containers": [{"name": "c", "image": "busybox", "resources": {"requests": requests}}],
    }
    if node_name:
        s["nodeName"] = node_name
    if priority is not None:
        s["priority"] = priority
    if init:
        s["initContainers"] = init
    if overhead:
        s["overhead"] = overhead
    s.update(spec or {})
    status: Obj = {"phase": "Running" if node_name else "Pending"}
    if start_time:
        status["startTime"] = start_time
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid or f"uid-{name}-{next(_uid)}",
            "labels": labels or {},
        },
        "spec": s,
        "status": status,
    }


def framework(
    nodes: list[Obj],
    pods: list[Obj] = (),  # type: ignore[assignment]
    profile: ProfileConfig | None = None,
    objects: dict[str, list[Obj]] | None = None,
) -> tuple[Framework, StaticCluster]:
    snap = Snapshot.from_objects(nodes, pods)
    cluster = StaticCluster(snap, objects=objects or {})
    return Framework(profile or ProfileConfig(), cluster), cluster


def plugin(fw: Framework, name: str) -> Any:
    return fw.plugins[name]


def filter_all(fw: Framework, p: Obj) -> dict[str, Any]:
    """Run PreFilter then Filter of every plugin on every node: node → status (None = fits)."""
    state = CycleState()
    pi = PodInfo(p)
    _, st = fw.run_pre_filter(state, pi)
    if st is not None and not st.is_success():
        return {n.name: st for n in fw.snapshot.node_list()}
    return {n.name: fw.run_filter(state, pi, n) for n in fw.snapshot.node_list()}


def scheduler(
    nodes: list[Obj],
    pods: list[Obj] = (),  # type: ignore[assignment]
    config: SchedulerConfig | None = None,
    clock: Any = None,
) -> Scheduler:
    s = Scheduler(None, config, seed=1, **({"clock": clock} if clock is not None else {}))
    for n in nodes:
        s.on_node_add(n)
    for p in pods:
        s.on_pod_add(p)
    return s
