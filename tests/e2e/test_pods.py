"""Real pods on containerd through the whole stack: kubectl → API server →
scheduler → kubelet → CRI → runc, with the loopback registry as docker.io."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pinnace.api.quantity import parse_quantity
from tests.cluster import free_port
from tests.node_cluster import NodeCluster

pytestmark = [pytest.mark.node, pytest.mark.slow]


def _running_ready(pod: dict[str, Any]) -> bool:
    conds = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
    return pod.get("status", {}).get("phase") == "Running" and conds.get("Ready") == "True"


def _cs(pod: dict[str, Any], name: str) -> dict[str, Any]:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return next((c for c in statuses if c["name"] == name), {"restartCount": 0, "state": {}})


TWO_CONTAINERS = """
apiVersion: v1
kind: Pod
metadata: {name: duo}
spec:
  initContainers:
  - name: init
    image: busybox
    command: ["sh", "-c", "echo from-init > /shared/init.txt"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  containers:
  - name: web
    image: httpd
    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
    volumeMounts: [{name: shared, mountPath: /shared}]
  - name: client
    image: busybox
    command: ["sh", "-c", "cat /shared/init.txt; while true; do wget -q -O- http://localhost:8080/ > /shared/page.html; sleep 2; done"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  volumes: [{name: shared, emptyDir: {}}]
"""


def test_two_containers_share_localhost_and_an_empty_dir(node_cluster: NodeCluster) -> None:
    c = node_cluster
    c.kubectl("apply", "-f", "-", input=TWO_CONTAINERS)
    pod = c.wait_pod("duo", _running_ready)
    assert pod["status"]["podIP"].startswith("10.244.")
    init = pod["status"]["initContainerStatuses"][0]
    assert init["state"]["terminated"]["exitCode"] == 0
    assert init["state"]["terminated"]["reason"] == "Completed"
    # the client fetched the web container's page over localhost into the shared volume
    deadline = time.monotonic() + 30
    page = ""
    while time.monotonic() < deadline and "It works!" not in page:
        page = c.kubectl(
            "exec", "duo", "-c", "web", "--", "cat", "/shared/page.html", check=False
        ).stdout
        time.sleep(0.5)
    assert "It works!" in page
    assert c.kubectl("logs", "duo", "-c", "client").stdout.splitlines()[0] == "from-init"


def test_exec_exit_code_and_stdin(node_cluster: NodeCluster) -> None:
    c = node_cluster
    c.kubectl("run", "shell", "--image=busybox", "--restart=Never", "--", "sleep", "3600")
    c.wait_pod("shell", _running_ready)
    p = c.kubectl("exec", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert p.returncode == 3
    assert p.stdout == "out\n" and "err" in p.stderr
    p = c.kubectl("exec", "-i", "shell", "--", "sh", "-c", "tr a-z A-Z", input="hello pods\n")
    assert p.stdout == "HELLO PODS\n"


def test_cp_both_ways(node_cluster: NodeCluster, tmp_path: Any) -> None:
    c = node_cluster
    c.kubectl("run", "cp-target", "--image=busybox", "--restart=Never", "--", "sleep", "3600")
    c.wait_pod("cp-target", _running_ready)
    src = tmp_path / "up.bin"
    src.write_bytes(bytes(range(256)) * 64)
    c.kubectl("cp", str(src), "cp-target:/tmp/up.bin")
    assert (
        c.kubectl("exec", "cp-target", "--", "wc", "-c", "/tmp/up.bin").stdout.split()[0] == "16384"
    )
    back = tmp_path / "back.bin"
    c.kubectl("cp", "cp-target:/tmp/up.bin", str(back))
    assert back.read_bytes() == src.read_bytes()


def test_port_forward_serves_a_request(node_cluster: NodeCluster) -> None:
    c = node_cluster
    c.kubectl("run", "pf", "--image=httpd", "--restart=Never")
    c.wait_pod("pf", _running_ready)
    port = free_port()
    proc = c.kubectl_popen("port-forward", "pod/pf", f"{port}:8080")
    try:
        body = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and b"It works!" not in body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    body = r.read()
            except OSError:
                time.sleep(0.3)
        assert b"It works!" in body
    finally:
        proc.terminate()
        proc.wait(10)


def test_logs_follow_streams(node_cluster: NodeCluster) -> None:
    c = node_cluster
    c.kubectl("run", "ticker", "--image=busybox", "--restart=Never", "--",
              "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.5; done")  # fmt: skip
    c.wait_pod("ticker", _running_ready)
    proc = c.kubectl_popen("logs", "-f", "ticker")
    try:
        assert proc.stdout is not None
        seen = [proc.stdout.readline() for _ in range(4)]
        assert [line.split()[0] for line in seen] == ["tick"] * 4
        numbers = [int(line.split()[1]) for line in seen]
        assert numbers == sorted(numbers) and len(set(numbers)) == 4
    finally:
        proc.terminate()
        proc.wait(10)


def test_crash_loop_back_off_grows(node_cluster: NodeCluster) -> None:
    c = node_cluster
    c.kubectl("run", "crasher", "--image=busybox", "--", "sh", "-c", "echo dying; exit 1")
    pod = c.wait_pod("crasher", lambda p: _cs(p, "crasher")["restartCount"] >= 2
                     and "waiting" in _cs(p, "crasher")["state"], timeout=120)  # fmt: skip
    cs = _cs(pod, "crasher")
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert (
        "back-off 20s" in cs["state"]["waiting"]["message"]
        or "back-off 40s" in cs["state"]["waiting"]["message"]
    )
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert c.kubectl("logs", "crasher", "--previous").stdout == "dying\n"


def test_liveness_failure_restarts_and_readiness_gates_ready(node_cluster: NodeCluster) -> None:
    c = node_cluster
    manifest = """
apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "touch /tmp/alive; sleep 3600"]
    readinessProbe: {exec: {command: ["cat", "/tmp/ready"]}, periodSeconds: 1}
    livenessProbe: {exec: {command: ["cat", "/tmp/alive"]}, periodSeconds: 1, failureThreshold: 1}
"""
    c.kubectl("apply", "-f", "-", input=manifest)
    pod = c.wait_pod("probed", lambda p: _cs(p, "c").get("state", {}).get("running") is not None)
    assert not _running_ready(pod)
    c.kubectl("exec", "probed", "--", "touch", "/tmp/ready")
    c.wait_pod("probed", _running_ready)
    c.kubectl("exec", "probed", "--", "rm", "/tmp/alive")
    pod = c.wait_pod("probed", lambda p: _cs(p, "c")["restartCount"] >= 1)
    events = c.kubectl("get", "events", "--field-selector", "involvedObject.name=probed").stdout
    assert "Liveness probe failed" in events


class _HealthServer:
    """A gRPC health server (``grpc.health.v1.Health/Check``) on the node's
    address, whose answer the test sets; a hostNetwork pod's gRPC probe
    reaches it the way it reaches a server in the pod (the kubelet dials
    the pod IP, which for hostNetwork is the node's)."""

    def __init__(self, host: str) -> None:
        import grpc

        self.serving = True

        def check(request: bytes, context: Any) -> bytes:
            return b"\x08\x01" if self.serving else b"\x08\x02"

        handler = grpc.method_handlers_generic_handler(
            "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)}
        )
        self.server = grpc.server(ThreadPoolExecutor(max_workers=2))
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port(f"{host}:0")
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=None)


def test_grpc_probe_follows_the_health_service(node_cluster: NodeCluster) -> None:
    c = node_cluster
    node = json.loads(c.kubectl("get", "node", c.node, "-o", "json").stdout)
    host = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
    health = _HealthServer(host)
    try:
        manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: grpc-probed}}
spec:
  hostNetwork: true
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
    readinessProbe:
      grpc: {{port: {health.port}}}
      periodSeconds: 1
      failureThreshold: 1
"""
        c.kubectl("apply", "-f", "-", input=manifest)
        c.wait_pod("grpc-probed", _running_ready)
        health.serving = False
        c.wait_pod(
            "grpc-probed",
            lambda p: any(
                cond["type"] == "Ready" and cond["status"] == "False"
                for cond in p["status"].get("conditions", [])
            ),
        )
        events = c.kubectl("get", "events", "--field-selector", "involvedObject.name=grpc-probed")
        assert 'Readiness probe failed: service unhealthy (responded with "NOT_SERVING")' in (
            events.stdout
        )
        health.serving = True
        c.wait_pod("grpc-probed", _running_ready)
    finally:
        health.stop()
        c.kubectl("delete", "pod", "grpc-probed", "--wait=false", check=False)


def test_memory_limit_ends_oom_killed(node_cluster: NodeCluster) -> None:
    c = node_cluster
    manifest = """
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: python:3.11
    command: ["python3", "-c", "x = bytearray(256 * 1024 * 1024); print('survived')"]
    resources: {limits: {memory: 64Mi}}
"""
    c.kubectl("apply", "-f", "-", input=manifest)
    pod = c.wait_pod("hog", lambda p: p["status"].get("phase") == "Failed")
    term = _cs(pod, "c")["state"]["terminated"]
    assert term["reason"] == "OOMKilled" and term["exitCode"] == 137


def _cgroup_file(rel: str) -> Path:
    """A cgroup file on this host, on cgroup v1 or v2."""
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():
        return root / rel.split("/", 1)[1]
    return root / rel


def test_pod_cgroup_carries_the_pods_limits(node_cluster: NodeCluster) -> None:
    """The pod's own cgroup (``/kubepods/burstable/pod<uid>``, above its
    containers') gets the summed limits, as upstream's pod container manager
    sets them; a Guaranteed pod's sits directly under ``/kubepods``."""
    c = node_cluster
    manifest = """
apiVersion: v1
kind: Pod
metadata: {name: limited}
spec:
  containers:
  - {name: a, image: busybox, command: ["sleep", "3600"],
     resources: {requests: {cpu: 100m}, limits: {cpu: 300m, memory: 48Mi}}}
  - {name: b, image: busybox, command: ["sleep", "3600"],
     resources: {requests: {cpu: 100m}, limits: {cpu: 200m, memory: 16Mi}}}
---
apiVersion: v1
kind: Pod
metadata: {name: exact}
spec:
  containers:
  - {name: a, image: busybox, command: ["sleep", "3600"],
     resources: {limits: {cpu: 250m, memory: 32Mi}}}
"""
    c.kubectl("apply", "-f", "-", input=manifest)
    limited = c.wait_pod("limited", _running_ready)
    exact = c.wait_pod("exact", _running_ready)
    assert limited["status"]["qosClass"] == "Burstable"
    assert exact["status"]["qosClass"] == "Guaranteed"
    v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    pod_dir = f"kubepods/burstable/pod{limited['metadata']['uid']}"
    if v2:
        assert _cgroup_file(f"x/{pod_dir}/memory.max").read_text().strip() == str(64 << 20)
        assert _cgroup_file(f"x/{pod_dir}/cpu.max").read_text().split() == ["50000", "100000"]
    else:
        mem = _cgroup_file(f"memory/{pod_dir}/memory.limit_in_bytes").read_text().strip()
        assert mem == str(64 << 20)
        assert _cgroup_file(f"cpu/{pod_dir}/cpu.cfs_quota_us").read_text().strip() == "50000"
        assert _cgroup_file(f"cpu/{pod_dir}/cpu.shares").read_text().strip() == "204"
        # the containers run inside it
        tasks = list(_cgroup_file(f"memory/{pod_dir}").rglob("cgroup.procs"))
        assert any(t.read_text().strip() for t in tasks)
        g_dir = f"memory/kubepods/pod{exact['metadata']['uid']}/memory.limit_in_bytes"
        assert _cgroup_file(g_dir).read_text().strip() == str(32 << 20)
    # The QoS level above: /kubepods holds at most the node's capacity less its
    # reservations, best-effort pods weigh the minimum, burstable ones at least
    # this pod's requests (200m: 204 shares).
    node = json.loads(c.kubectl("get", "node", limited["spec"]["nodeName"], "-o", "json").stdout)
    capacity = parse_quantity(node["status"]["capacity"]["memory"])
    allocatable = parse_quantity(node["status"]["allocatable"]["memory"])
    if v2:
        pods_memory = int(_cgroup_file("x/kubepods/memory.max").read_text())
        assert _cgroup_file("x/kubepods/besteffort/cpu.weight").read_text().strip() == "1"
        assert int(_cgroup_file("x/kubepods/burstable/cpu.weight").read_text()) >= 8
    else:
        pods_memory = int(_cgroup_file("memory/kubepods/memory.limit_in_bytes").read_text())
        assert _cgroup_file("cpu/kubepods/besteffort/cpu.shares").read_text().strip() == "2"
        assert int(_cgroup_file("cpu/kubepods/burstable/cpu.shares").read_text()) >= 204
    assert allocatable <= pods_memory <= capacity
    c.kubectl("delete", "pod", "limited", "exact", "--wait=false")


def test_configmap_volume_updates_in_running_pod(node_cluster: NodeCluster) -> None:
    c = node_cluster
    manifest = """
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: first}
---
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
    env: [{name: MODE, valueFrom: {configMapKeyRef: {name: settings, key: mode}}}]
    volumeMounts: [{name: s, mountPath: /etc/settings}]
  volumes: [{name: s, configMap: {name: settings}}]
"""
    c.kubectl("apply", "-f", "-", input=manifest)
    c.wait_pod("reader", _running_ready)
    assert c.kubectl("exec", "reader", "--", "sh", "-c", "echo $MODE").stdout == "first\n"
    assert c.kubectl("exec", "reader", "--", "cat", "/etc/settings/mode").stdout == "first"
    c.kubectl("patch", "configmap", "settings", "-p", '{"data":{"mode":"second"}}')
    deadline = time.monotonic() + 90
    seen = ""
    while time.monotonic() < deadline and seen != "second":
        seen = c.kubectl("exec", "reader", "--", "cat", "/etc/settings/mode").stdout
        time.sleep(1)
    assert seen == "second"


def test_missing_configmap_volume_holds_the_pod_until_it_exists(node_cluster: NodeCluster) -> None:
    # The kubelet makes a first sandbox while the volumes are set up, but the
    # pod shows none until they are, as upstream's (which makes it after them).
    c = node_cluster
    manifest = """
apiVersion: v1
kind: Pod
metadata: {name: waiter}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
    volumeMounts: [{name: s, mountPath: /etc/later}]
  volumes: [{name: s, configMap: {name: later}}]
"""
    c.kubectl("apply", "-f", "-", input=manifest)
    deadline = time.monotonic() + 60
    reasons: list[str] = []
    while time.monotonic() < deadline and "FailedMount" not in reasons:
        out = c.kubectl(
            "get", "events", "--field-selector", "involvedObject.name=waiter",
            "-o", "jsonpath={.items[*].reason}",
        ).stdout  # fmt: skip
        reasons = out.split()
        time.sleep(0.5)
    assert "FailedMount" in reasons
    time.sleep(3)  # a sandbox made beside the failed volume setup exists by now
    pod = json.loads(c.kubectl("get", "pod", "waiter", "-o", "json").stdout)
    status = pod["status"]
    conds = {x["type"]: x["status"] for x in status.get("conditions", [])}
    assert status["phase"] == "Pending"
    assert "podIP" not in status
    assert conds.get("PodReadyToStartContainers", "False") == "False"
    assert _cs(pod, "c")["state"]["waiting"]["reason"] == "ContainerCreating"

    c.kubectl("create", "configmap", "later", "--from-literal=k=v")
    pod = c.wait_pod("waiter", _running_ready)
    assert pod["status"]["podIP"].startswith("10.244.")
    assert c.kubectl("exec", "waiter", "--", "cat", "/etc/later/k").stdout == "v"
    c.kubectl("delete", "pod/waiter", "configmap/later", "--wait=false")


def test_delete_runs_pre_stop_and_honours_grace(node_cluster: NodeCluster) -> None:
    c = node_cluster
    manifest = """
apiVersion: v1
kind: Pod
metadata: {name: graceful}
spec:
  terminationGracePeriodSeconds: 3
  volumes: [{name: out, hostPath: {path: /tmp/pinnace-e2e-prestop, type: DirectoryOrCreate}}]
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]
    volumeMounts: [{name: out, mountPath: /out}]
    lifecycle: {preStop: {exec: {command: ["sh", "-c", "echo ran > /out/prestop"]}}}
"""
    subprocess.run(["rm", "-rf", "/tmp/pinnace-e2e-prestop"], check=False)
    c.kubectl("apply", "-f", "-", input=manifest)
    c.wait_pod("graceful", _running_ready)
    watch = c.kubectl_popen("get", "pod", "graceful", "-w", "-o", "json")
    time.sleep(1)
    c.kubectl("delete", "pod", "graceful", "--wait=true", timeout=60)
    watch.terminate()
    out, _ = watch.communicate(timeout=10)
    with open("/tmp/pinnace-e2e-prestop/prestop") as f:
        assert f.read() == "ran\n"
    # the container ignores SIGTERM: the last status before removal shows SIGKILL (137)
    decoder, pos, exits = json.JSONDecoder(), 0, []
    while pos < len(out):
        while pos < len(out) and out[pos].isspace():
            pos += 1
        if pos >= len(out):
            break
        obj, pos = decoder.raw_decode(out, pos)
        term = _cs(obj, "c").get("state", {}).get("terminated")
        if term:
            exits.append(term["exitCode"])
    assert exits and exits[-1] == 137, exits
    subprocess.run(["rm", "-rf", "/tmp/pinnace-e2e-prestop"], check=False)


def test_node_reports_capacity_and_images(node_cluster: NodeCluster) -> None:
    node = json.loads(node_cluster.kubectl("get", "node", node_cluster.node, "-o", "json").stdout)
    status = node["status"]
    assert int(status["capacity"]["cpu"]) >= 1
    assert status["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    assert any("pause" in n for img in status.get("images", []) for n in img["names"])
    lease = json.loads(
        node_cluster.kubectl(
            "get", "lease", "-n", "kube-node-lease", node_cluster.node, "-o", "json"
        ).stdout
    )
    assert lease["spec"]["holderIdentity"] == node_cluster.node
