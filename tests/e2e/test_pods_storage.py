"""Volumes and workload plumbing on a real node: PVCs on local-path volumes,
memory-backed emptyDir, sidecars, readiness into Endpoints, image pull errors,
and the kubelet's stats through the API server's node proxy."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.node_cluster import NodeCluster

pytestmark = [pytest.mark.node, pytest.mark.slow]


def _ready(pod: dict[str, Any]) -> bool:
    conds = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
    return pod.get("status", {}).get("phase") == "Running" and conds.get("Ready") == "True"


def _waiting_reason(pod: dict[str, Any]) -> str:
    for cs in pod.get("status", {}).get("containerStatuses") or []:
        return str((cs.get("state") or {}).get("waiting", {}).get("reason", ""))
    return ""


def test_pvc_on_local_path_keeps_data_across_pods(node_cluster: NodeCluster) -> None:
    c = node_cluster
    manifest = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: writer}
spec:
  restartPolicy: Never
  containers: [{name: c, image: busybox, command: ["sh", "-c", "echo persisted > /data/f"],
                volumeMounts: [{name: d, mountPath: /data}]}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]
"""
    c.kubectl("apply", "-f", "-", input=manifest)
    c.wait_pod("writer", lambda p: p["status"].get("phase") == "Succeeded")
    c.kubectl("delete", "pod", "writer")
    reader = (
        manifest.split("---")[1]
        .replace("writer", "reader")
        .replace("echo persisted > /data/f", "cat /data/f; sleep 3600")
        .replace("restartPolicy: Never", "restartPolicy: Always")
    )
    c.kubectl("apply", "-f", "-", input=reader)
    c.wait_pod("reader", _ready)
    deadline = time.monotonic() + 20
    out = ""
    while "persisted" not in out and time.monotonic() < deadline:
        out = c.kubectl("logs", "reader").stdout
        time.sleep(0.5)
    assert out == "persisted\n"


def test_memory_empty_dir_is_tmpfs_of_its_size_limit(node_cluster: NodeCluster) -> None:
    c = node_cluster
    manifest = """
apiVersion: v1
kind: Pod
metadata: {name: ram}
spec:
  containers: [{name: c, image: busybox, command: ["sleep", "3600"],
                volumeMounts: [{name: m, mountPath: /m}]}]
  volumes: [{name: m, emptyDir: {medium: Memory, sizeLimit: 8Mi}}]
"""
    c.kubectl("apply", "-f", "-", input=manifest)
    c.wait_pod("ram", _ready)
    df = c.kubectl("exec", "ram", "--", "df", "-k", "/m").stdout.splitlines()[-1].split()
    assert df[0] == "tmpfs" and int(df[1]) == 8 * 1024


def _events(c: NodeCluster, pod: str) -> list[dict[str, Any]]:
    out = c.kubectl(
        "get", "events", "--field-selector", f"involvedObject.name={pod}", "-o", "json"
    ).stdout
    return list(json.loads(out)["items"])


def test_outgrowing_an_empty_dir_size_limit_evicts_the_pod(node_cluster: NodeCluster) -> None:
    """The eviction manager (every second in these clusters) sees the disk
    emptyDir over its sizeLimit in the stats summary and evicts the pod at
    once: Failed/Evicted with upstream's message and a Warning event."""
    c = node_cluster
    manifest = """
apiVersion: v1
kind: Pod
metadata: {name: scratch-hog}
spec:
  restartPolicy: Always
  containers: [{name: c, image: busybox,
                command: ["sh", "-c", "dd if=/dev/zero of=/s/fill bs=1024 count=2048; sleep 3600"],
                volumeMounts: [{name: s, mountPath: /s}]}]
  volumes: [{name: s, emptyDir: {sizeLimit: 1Mi}}]
"""
    c.kubectl("apply", "-f", "-", input=manifest)
    pod = c.wait_pod("scratch-hog", lambda p: p.get("status", {}).get("phase") == "Failed")
    st = pod["status"]
    assert st["reason"] == "Evicted"
    assert st["message"] == 'Usage of EmptyDir volume "s" exceeds the limit "1Mi". '
    assert all(cond["type"] != "DisruptionTarget" for cond in st["conditions"])
    term = st["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 137
    evicted = [e for e in _events(c, "scratch-hog") if e["reason"] == "Evicted"]
    assert evicted and evicted[0]["type"] == "Warning"
    assert evicted[0]["message"] == st["message"]
    # the pod is not restarted: its containers stay down
    time.sleep(2)
    again = json.loads(c.kubectl("get", "pod", "scratch-hog", "-o", "json").stdout)
    assert again["status"]["phase"] == "Failed"
    assert "running" not in again["status"]["containerStatuses"][0]["state"]


def test_a_container_over_its_ephemeral_storage_limit_is_evicted(
    node_cluster: NodeCluster,
) -> None:
    c = node_cluster
    manifest = """
apiVersion: v1
kind: Pod
metadata: {name: rootfs-hog}
spec:
  containers:
  - name: writer
    image: busybox
    command: ["sh", "-c", "dd if=/dev/zero of=/fill bs=1024 count=4096; sleep 3600"]
    resources: {limits: {ephemeral-storage: 2Mi}}
  # the pod's total limit (102Mi) holds, so it is the container's that fails
  # (alone, the pod's check, which upstream makes first, would name the pod)
  - name: idle
    image: busybox
    command: ["sleep", "3600"]
    resources: {limits: {ephemeral-storage: 100Mi}}
"""
    c.kubectl("apply", "-f", "-", input=manifest)
    pod = c.wait_pod("rootfs-hog", lambda p: p.get("status", {}).get("phase") == "Failed")
    assert pod["status"]["reason"] == "Evicted"
    assert pod["status"]["message"] == (
        'Container writer exceeded its local ephemeral storage limit "2Mi". '
    )


def test_sidecar_runs_beside_the_main_container(node_cluster: NodeCluster) -> None:
    c = node_cluster
    manifest = """
apiVersion: v1
kind: Pod
metadata: {name: with-sidecar}
spec:
  initContainers:
  - {name: side, image: busybox, restartPolicy: Always,
     command: ["sh", "-c", "while true; do date > /shared/stamp; sleep 1; done"],
     volumeMounts: [{name: s, mountPath: /shared}]}
  containers:
  - {name: main, image: busybox, command: ["sleep", "3600"], volumeMounts: [{name: s, mountPath: /shared}]}
  volumes: [{name: s, emptyDir: {}}]
"""
    c.kubectl("apply", "-f", "-", input=manifest)
    pod = c.wait_pod("with-sidecar", _ready)
    side = pod["status"]["initContainerStatuses"][0]
    assert "running" in side["state"] and side["started"] is True
    assert c.kubectl("exec", "with-sidecar", "-c", "main", "--", "cat", "/shared/stamp").stdout


def test_readiness_gates_endpoints(node_cluster: NodeCluster) -> None:
    c = node_cluster
    manifest = """
apiVersion: v1
kind: Service
metadata: {name: gated}
spec:
  selector: {app: gated}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: gated, labels: {app: gated}}
spec:
  containers:
  - name: c
    image: httpd
    readinessProbe: {exec: {command: ["cat", "/tmp/ready"]}, periodSeconds: 1}
"""
    c.kubectl("apply", "-f", "-", input=manifest)
    pod = c.wait_pod("gated", lambda p: p["status"].get("phase") == "Running")
    ip = pod["status"]["podIP"]

    def endpoints() -> dict[str, Any]:
        return json.loads(c.kubectl("get", "endpoints", "gated", "-o", "json").stdout)

    deadline = time.monotonic() + 30
    ep = endpoints()
    while not ep.get("subsets") and time.monotonic() < deadline:
        time.sleep(0.5)
        ep = endpoints()
    assert [a["ip"] for a in ep["subsets"][0].get("notReadyAddresses", [])] == [ip]
    assert not ep["subsets"][0].get("addresses")
    c.kubectl("exec", "gated", "--", "touch", "/tmp/ready")
    c.wait_pod("gated", _ready)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ep = endpoints()
        if [a["ip"] for a in ep["subsets"][0].get("addresses", [])] == [ip]:
            break
        time.sleep(0.5)
    assert [a["ip"] for a in ep["subsets"][0]["addresses"]] == [ip]


def test_image_errors_are_reported(node_cluster: NodeCluster) -> None:
    c = node_cluster
    c.kubectl("run", "missing", "--image=busybox:no-such-tag", "--restart=Never")
    pod = c.wait_pod(
        "missing", lambda p: _waiting_reason(p) in ("ErrImagePull", "ImagePullBackOff")
    )
    assert _waiting_reason(pod) in ("ErrImagePull", "ImagePullBackOff")
    events = c.kubectl("get", "events", "--field-selector", "involvedObject.name=missing").stdout
    assert 'Failed to pull image "busybox:no-such-tag"' in events
    c.kubectl("run", "never", "--image=busybox:9.9", "--image-pull-policy=Never", "--restart=Never")
    c.wait_pod("never", lambda p: _waiting_reason(p) == "ErrImageNeverPull")


def test_stats_summary_through_the_node_proxy(node_cluster: NodeCluster) -> None:
    c = node_cluster
    c.kubectl(
        "run",
        "busy",
        "--image=busybox",
        "--restart=Never",
        "--",
        "sh",
        "-c",
        "while true; do :; done",
    )
    c.wait_pod("busy", _ready)
    time.sleep(2)
    summary: dict[str, Any] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        raw = c.kubectl("get", "--raw", f"/api/v1/nodes/{c.node}/proxy/stats/summary").stdout
        summary = json.loads(raw)
        pods = {p["podRef"]["name"]: p for p in summary.get("pods", [])}
        busy = pods.get("busy", {})
        cpu = [ct.get("cpu", {}).get("usageNanoCores", 0) for ct in busy.get("containers", [])]
        if cpu and max(cpu) > 0:
            break
        time.sleep(1)
    assert summary["node"]["nodeName"] == c.node
    assert summary["node"]["memory"]["workingSetBytes"] > 0
    pods = {p["podRef"]["name"]: p for p in summary["pods"]}
    assert max(ct["cpu"]["usageNanoCores"] for ct in pods["busy"]["containers"]) > 0
    # volumes the pod mounts are reported, with their usage
    vols = {v["name"]: v for v in pods["busy"].get("volume", [])}
    assert any(name.startswith("kube-api-access-") for name in vols), vols
    assert all(v["usedBytes"] >= 0 for v in vols.values())
    c.kubectl("delete", "pod", "busy", "--wait=false")


def test_shared_process_namespace_and_tcp_probe(node_cluster: NodeCluster) -> None:
    c = node_cluster
    manifest = """
apiVersion: v1
kind: Pod
metadata: {name: shared-pid}
spec:
  shareProcessNamespace: true
  containers:
  - name: web
    image: httpd
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
  - name: peek
    image: busybox
    command: ["sleep", "3600"]
"""
    c.kubectl("apply", "-f", "-", input=manifest)
    c.wait_pod("shared-pid", _ready)
    ps = c.kubectl("exec", "shared-pid", "-c", "peek", "--", "ps").stdout
    assert "httpd" in ps and "/pause" in ps
