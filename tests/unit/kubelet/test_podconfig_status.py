"""Pod spec → CRI config rules, and the pod status computed from runtime state."""

from __future__ import annotations

from typing import Any

from pinnace.api.patch.merge_patch import merge_patch
from pinnace.kubelet.cri import api_pb2 as cri
from pinnace.kubelet.podconfig import (
    container_config,
    linux_resources,
    pod_cgroup_parent,
    qos_class,
    sandbox_config,
)
from pinnace.kubelet.runtime import ContainerInfo, PodRuntime, SandboxInfo
from pinnace.kubelet.status import ContainerHold, PodStatusInputs, compute_status, pod_phase

GiB = 1 << 30


def pod(containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "x"}},
        "spec": {"containers": containers, **spec},
    }


def test_qos_classes() -> None:
    assert qos_class(pod([{"name": "a"}])) == "BestEffort"
    g = {"name": "a", "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}}
    assert qos_class(pod([g])) == "Guaranteed"
    b = {"name": "a", "resources": {"requests": {"cpu": "100m"}}}
    assert qos_class(pod([b])) == "Burstable"
    assert pod_cgroup_parent(pod([g])) == "/kubepods/podu-1"
    assert pod_cgroup_parent(pod([b])) == "/kubepods/burstable/podu-1"


def test_linux_resources_follow_requests_and_limits() -> None:
    c = {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "1Gi"},
                                    "limits": {"cpu": "500m", "memory": "2Gi"}}}  # fmt: skip
    p = pod([c])
    r = linux_resources(p, c, 4 * GiB)
    assert r.cpu_shares == 256
    assert (r.cpu_period, r.cpu_quota) == (100_000, 50_000)
    assert r.memory_limit_in_bytes == 2 * GiB
    assert r.oom_score_adj == 1000 - 1000 // 4
    best = {"name": "b"}
    r2 = linux_resources(pod([best]), best, 4 * GiB)
    assert (r2.cpu_shares, r2.cpu_quota, r2.memory_limit_in_bytes, r2.oom_score_adj) == (
        2,
        0,
        0,
        1000,
    )


def test_sandbox_config_namespaces_ports_and_labels() -> None:
    c = {"name": "a", "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 9}]}
    p = pod([c], shareProcessNamespace=True, securityContext={"fsGroup": 2000})
    sb = sandbox_config(
        p,
        attempt=1,
        hostname="p",
        log_directory="/l",
        dns=(["10.0.0.10"], ["ns.svc.cluster.local"], ["ndots:5"]),
    )
    assert sb.metadata.attempt == 1 and sb.metadata.uid == "u-1"
    assert sb.labels["io.kubernetes.pod.uid"] == "u-1" and sb.labels["app"] == "x"
    assert [(m.container_port, m.host_port) for m in sb.port_mappings] == [(80, 8080)]
    ns = sb.linux.security_context.namespace_options
    assert (ns.network, ns.pid, ns.ipc) == (cri.POD, cri.POD, cri.POD)
    assert list(sb.linux.security_context.supplemental_groups) == [2000]
    assert list(sb.dns_config.servers) == ["10.0.0.10"]
    host = sandbox_config(
        pod([c], hostNetwork=True), attempt=0, hostname="h", log_directory="/l", dns=None
    )
    assert host.linux.security_context.namespace_options.network == cri.NODE
    assert not host.HasField("dns_config")


def test_container_config_carries_restart_count_and_security() -> None:
    c = {"name": "a", "image": "busybox", "command": ["sh"], "args": ["-c", "true"],
         "securityContext": {"runAsUser": 1000, "readOnlyRootFilesystem": True,
                             "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}}  # fmt: skip
    cfg = container_config(pod([c]), c, attempt=3, image="busybox", env=[("A", "1")], mounts=[],
                           log_path="a/3.log", memory_capacity=GiB)  # fmt: skip
    assert cfg.metadata.attempt == 3
    assert cfg.annotations["io.kubernetes.container.restartCount"] == "3"
    assert list(cfg.command) == ["sh"] and list(cfg.args) == ["-c", "true"]
    assert [(e.key, e.value) for e in cfg.envs] == [("A", "1")]
    sc = cfg.linux.security_context
    assert sc.run_as_user.value == 1000 and sc.readonly_rootfs
    assert list(sc.capabilities.add_capabilities) == ["NET_ADMIN"]
    assert "/proc/kcore" in sc.masked_paths


def _ctr(
    name: str, state: int, attempt: int = 0, exit_code: int = 0, reason: str = ""
) -> ContainerInfo:
    return ContainerInfo(
        id=f"{name}-{attempt}", sandbox_id="sb", name=name, attempt=attempt, state=state,
        created_at=attempt, image="docker.io/library/busybox:latest", image_ref="sha256:x",
        restart_count=attempt, hash="", annotations={}, started_at=1_700_000_000 * 10**9,
        finished_at=1_700_000_010 * 10**9 if state == cri.CONTAINER_EXITED else 0,
        exit_code=exit_code, reason=reason,
    )  # fmt: skip


def _status(p: dict[str, Any], rt: PodRuntime, **kw: Any) -> dict[str, Any]:
    return compute_status(
        PodStatusInputs(pod=p, runtime=rt, host_ip="10.1.1.1", start_time="t", **kw)
    )


def test_running_pod_is_ready_with_ip() -> None:
    p = pod([{"name": "a", "image": "busybox"}])
    rt = PodRuntime("u-1", sandboxes=[SandboxInfo("sb", 0, True, 1, "10.244.0.5")],
                    containers=[_ctr("a", cri.CONTAINER_RUNNING)])  # fmt: skip
    s = _status(p, rt)
    assert s["phase"] == "Running" and s["podIP"] == "10.244.0.5"
    conds = {c["type"]: c["status"] for c in s["conditions"]}
    assert conds == {"PodReadyToStartContainers": "True", "Initialized": "True",
                     "ContainersReady": "True", "Ready": "True"}  # fmt: skip
    assert s["containerStatuses"][0]["state"]["running"]["startedAt"] == "2023-11-14T22:13:20Z"
    assert s["containerStatuses"][0]["containerID"] == "containerd://a-0"


def test_status_is_stable_once_patched() -> None:
    """The status the kubelet sends, merged into the pod as the API server
    merges a status patch, computes to the same status again: one patch per
    change (the binding's PodScheduled carries "lastProbeTime": null, which
    the merge patch drops)."""
    p = pod([{"name": "a", "image": "busybox"}])
    p["status"] = {"conditions": [{"type": "PodScheduled", "status": "True",
                                   "lastProbeTime": None, "lastTransitionTime": "t0"}]}  # fmt: skip
    rt = PodRuntime("u-1", sandboxes=[SandboxInfo("sb", 0, True, 1, "10.244.0.5")],
                    containers=[_ctr("a", cri.CONTAINER_RUNNING)])  # fmt: skip
    first = _status(p, rt)
    patched = {**p, "status": merge_patch(p["status"], first)}
    assert _status(patched, rt) == first
    scheduled = [c for c in first["conditions"] if c["type"] == "PodScheduled"]
    assert scheduled == [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "t0"}]


def test_crashloop_shows_waiting_with_last_state_and_unready() -> None:
    p = pod([{"name": "a", "image": "busybox"}])
    rt = PodRuntime("u-1", sandboxes=[SandboxInfo("sb", 0, True, 1, "10.244.0.5")],
                    containers=[_ctr("a", cri.CONTAINER_EXITED, attempt=2, exit_code=1, reason="Error")])  # fmt: skip
    s = _status(p, rt, holds={"a": ContainerHold("CrashLoopBackOff", "back-off 20s")})
    cs = s["containerStatuses"][0]
    assert cs["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s"}}
    assert cs["lastState"]["terminated"]["exitCode"] == 1 and cs["restartCount"] == 2
    assert s["phase"] == "Running"
    ready = next(c for c in s["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "ContainersNotReady"
    assert ready["message"] == "containers with unready status: [a]"


def test_phases_for_completed_pods_and_init() -> None:
    p = pod([{"name": "a"}], restartPolicy="Never")
    ok = PodRuntime(
        "u-1", containers=[_ctr("a", cri.CONTAINER_EXITED, exit_code=0, reason="Completed")]
    )
    assert _status(p, ok)["phase"] == "Succeeded"
    bad = PodRuntime("u-1", containers=[_ctr("a", cri.CONTAINER_EXITED, exit_code=2)])
    s = _status(p, bad)
    assert s["phase"] == "Failed"
    assert s["containerStatuses"][0]["state"]["terminated"]["reason"] == "Error"
    p2 = pod([{"name": "a"}], initContainers=[{"name": "init"}])
    rt = PodRuntime("u-1", sandboxes=[SandboxInfo("sb", 0, True, 1, "10.244.0.5")],
                    containers=[_ctr("init", cri.CONTAINER_RUNNING)])  # fmt: skip
    s2 = _status(p2, rt)
    assert s2["phase"] == "Pending"
    assert s2["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    init = next(c for c in s2["conditions"] if c["type"] == "Initialized")
    assert init["message"] == "containers with incomplete status: [init]"


def test_pod_phase_failed_init_with_never() -> None:
    p = pod([{"name": "a"}], initContainers=[{"name": "i"}], restartPolicy="Never")
    init = [{"name": "i", "state": {"terminated": {"exitCode": 1}}}]
    main = [{"name": "a", "state": {"waiting": {"reason": "PodInitializing"}}}]
    assert pod_phase(p, init, main) == "Failed"
