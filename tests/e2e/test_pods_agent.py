"""Node agent behaviour beyond the basics: the official Python client's exec
and port-forward, attach, security contexts, host networking and ports, the
downward API, and an agent restart that must leave running pods alone."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest

from tests.cluster import free_port
from tests.node_cluster import NodeCluster

pytestmark = [pytest.mark.node, pytest.mark.slow]


def _ready(pod: dict[str, Any]) -> bool:
    conds = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
    return pod.get("status", {}).get("phase") == "Running" and conds.get("Ready") == "True"


def _core(c: NodeCluster) -> Any:
    from kubernetes import client

    return client.CoreV1Api(c.api_client())


def test_python_client_exec_text_binary_stdin_and_exit_codes(node_cluster: NodeCluster) -> None:
    from kubernetes.stream import stream

    c = node_cluster
    c.kubectl("run", "py-exec", "--image=busybox", "--restart=Never", "--", "sleep", "3600")
    c.wait_pod("py-exec", _ready)
    api = _core(c)
    out = stream(api.connect_get_namespaced_pod_exec, "py-exec", "default",
                 command=["sh", "-c", "echo hello; echo oops >&2"],
                 stderr=True, stdin=False, stdout=True, tty=False)  # fmt: skip
    assert "hello" in out
    # exit code and separate channels
    resp = stream(api.connect_get_namespaced_pod_exec, "py-exec", "default",
                  command=["sh", "-c", "echo out; echo err >&2; exit 7"],
                  stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)  # fmt: skip
    resp.run_forever(timeout=30)
    assert resp.returncode == 7
    assert resp.read_stdout() == "out\n"
    assert resp.read_stderr() == "err\n"
    # interactive stdin, binary-safe round trip
    resp = stream(api.connect_get_namespaced_pod_exec, "py-exec", "default",
                  command=["sh", "-c", "head -c 6 | od -An -tx1"],
                  stderr=True, stdin=True, stdout=True, tty=False, _preload_content=False,
                  binary=True)  # fmt: skip
    resp.write_stdin(b"\x00\x01\xfe\xffAB")
    output = b""
    deadline = time.monotonic() + 30
    while resp.is_open() and time.monotonic() < deadline:
        resp.update(timeout=1)
        if resp.peek_stdout():
            output += resp.read_stdout()
    output += resp.read_stdout() if resp.peek_stdout() else b""
    resp.close()
    assert output.split() == [b"00", b"01", b"fe", b"ff", b"41", b"42"]


def test_python_client_port_forward(node_cluster: NodeCluster) -> None:
    from kubernetes.stream import portforward

    c = node_cluster
    c.kubectl("run", "py-pf", "--image=httpd", "--restart=Never")
    c.wait_pod("py-pf", _ready)
    pf = portforward(
        _core(c).connect_get_namespaced_pod_portforward, "py-pf", "default", ports="8080"
    )
    sock = pf.socket(8080)
    sock.setblocking(True)
    sock.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
    data = b""
    sock.settimeout(20)
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    sock.close()
    assert b"200" in data.split(b"\r\n")[0] and b"It works!" in data


def test_attach_reads_the_main_process_output(node_cluster: NodeCluster) -> None:
    c = node_cluster
    c.kubectl("run", "talker", "--image=busybox", "--restart=Never", "--",
              "sh", "-c", "while true; do echo attached-line; sleep 0.5; done")  # fmt: skip
    c.wait_pod("talker", _ready)
    proc = c.kubectl_popen("attach", "talker")
    try:
        assert proc.stdout is not None
        line = ""
        deadline = time.monotonic() + 30
        while "attached-line" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        assert "attached-line" in line
    finally:
        proc.terminate()
        proc.wait(10)


def test_security_context_downward_api_and_host_port(node_cluster: NodeCluster) -> None:
    c = node_cluster
    host_port = free_port()
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: secured, labels: {{tier: backend}}}}
spec:
  securityContext: {{runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000}}
  containers:
  - name: c
    image: httpd
    ports: [{{containerPort: 8080, hostPort: {host_port}}}]
    securityContext: {{readOnlyRootFilesystem: true}}
    resources: {{limits: {{cpu: 500m, memory: 128Mi}}}}
    env:
    - {{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}
    - {{name: MEM_LIMIT, valueFrom: {{resourceFieldRef: {{resource: limits.memory, divisor: 1Mi}}}}}}
    volumeMounts: [{{name: info, mountPath: /info}}]
  volumes:
  - name: info
    downwardAPI:
      items: [{{path: labels, fieldRef: {{fieldPath: metadata.labels}}}}]
"""
    c.kubectl("apply", "-f", "-", input=manifest)
    pod = c.wait_pod("secured", _ready)
    assert pod["status"]["qosClass"] == "Guaranteed"
    ids = c.kubectl("exec", "secured", "--", "id").stdout
    assert "uid=1000" in ids and "gid=3000" in ids and "2000" in ids
    p = c.kubectl("exec", "secured", "--", "touch", "/newfile", check=False)
    assert p.returncode != 0 and "Read-only file system" in p.stderr
    env = c.kubectl("exec", "secured", "--", "sh", "-c", "echo $POD_IP $MEM_LIMIT").stdout.split()
    assert env == [pod["status"]["podIP"], "128"]
    assert c.kubectl("exec", "secured", "--", "cat", "/info/labels").stdout == 'tier="backend"'
    # the memory limit reached the container's cgroup
    limit = c.kubectl("exec", "secured", "--", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                      check=False).stdout.strip()  # fmt: skip
    if limit:
        assert int(limit) == 128 * 1024 * 1024
    # hostPort through portmap, on loopback
    body = b""
    deadline = time.monotonic() + 30
    while b"It works!" not in body and time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", host_port), timeout=3) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                body = s.recv(65536)
        except OSError:
            time.sleep(0.5)
    # portmap's DNAT covers traffic to the node's addresses; loopback needs route_localnet,
    # so fall back to the node IP the agent reports
    if b"It works!" not in body:
        node = json.loads(c.kubectl("get", "node", c.node, "-o", "json").stdout)
        ip = node["status"]["addresses"][0]["address"]
        with socket.create_connection((ip, host_port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            body = s.recv(65536)
    assert b"It works!" in body


def test_host_network_pod_uses_the_node_ip(node_cluster: NodeCluster) -> None:
    c = node_cluster
    manifest = """
apiVersion: v1
kind: Pod
metadata: {name: hostnet}
spec:
  hostNetwork: true
  containers: [{name: c, image: busybox, command: ["sleep", "3600"]}]
"""
    c.kubectl("apply", "-f", "-", input=manifest)
    pod = c.wait_pod("hostnet", _ready)
    assert pod["status"]["podIP"] == pod["status"]["hostIP"]


def test_agent_restart_leaves_running_pods_alone(node_cluster: NodeCluster) -> None:
    c = node_cluster
    c.kubectl("run", "survivor", "--image=busybox", "--restart=Never", "--", "sleep", "3600")
    before = c.wait_pod("survivor", _ready)["status"]["containerStatuses"][0]
    c.kill9()
    c.start()
    c.wait_node_ready()
    time.sleep(3)  # a few relists and syncs by the new agent
    after = c.wait_pod("survivor", _ready)["status"]["containerStatuses"][0]
    assert after["containerID"] == before["containerID"]
    assert after["restartCount"] == 0
    assert after["state"]["running"]["startedAt"] == before["state"]["running"]["startedAt"]
    # it still works, and only one instance runs
    assert c.kubectl("exec", "survivor", "--", "echo", "alive").stdout == "alive\n"
    ps = json.loads(c.kubectl("get", "pods", "-o", "json").stdout)
    assert [p["metadata"]["name"] for p in ps["items"]].count("survivor") == 1


def test_agent_removes_pods_deleted_while_it_was_down(node_cluster: NodeCluster) -> None:
    import asyncio

    from pinnace.kubelet.cri.client import RuntimeClient

    c = node_cluster
    # sleep ignores SIGTERM as PID 1: the new agent, which knows the pod only
    # from its containers' labels, kills it after the grace period they record
    manifest = """
apiVersion: v1
kind: Pod
metadata: {name: orphan}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 3
  containers: [{name: orphan, image: busybox, command: ["sleep", "3600"]}]
"""
    c.kubectl("apply", "-f", "-", input=manifest)
    uid = c.wait_pod("orphan", _ready)["metadata"]["uid"]
    sock = str(c.agent_dir / "containerd" / "containerd.sock")

    async def sandboxes() -> list[str]:
        async with RuntimeClient(sock) as rt:
            items = await rt.list_pod_sandbox(label_selector={"io.kubernetes.pod.uid": uid})
            return [s.id for s in items]

    assert asyncio.run(sandboxes())
    args = list(c.extra_args)
    c.kill9()
    try:
        c.extra_args = [*args, "--disable", "kubelet"]  # the control plane alone
        c.start()
        c.kubectl("delete", "pod", "orphan", "--force", "--grace-period=0")
        c.stop()
    finally:
        c.extra_args = args
    c.start()
    c.wait_node_ready()
    deadline = time.monotonic() + 30
    while asyncio.run(sandboxes()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert asyncio.run(sandboxes()) == []


def test_image_pull_secret_for_a_private_registry(node_cluster: NodeCluster, tmp_path: Any) -> None:
    import asyncio

    from pinnace.image.recipes import build
    from pinnace.image.registry_client import push
    from tests.registry import RegistryServer

    c = node_cluster
    layout = tmp_path / "busybox"
    build("busybox", layout)
    with RegistryServer(tmp_path / "private", users={"puller": "s3cret"}) as reg:
        asyncio.run(push(layout, None, f"{reg.address}/team/tool:1.0",
                         insecure=True, auth=("puller", "s3cret")))  # fmt: skip
        image = f"{reg.address}/team/tool:1.0"
        c.kubectl("run", "no-secret", f"--image={image}", "--restart=Never", "--", "sleep", "3600")
        c.kubectl("create", "secret", "docker-registry", "regcred", f"--docker-server={reg.address}",
                  "--docker-username=puller", "--docker-password=s3cret")  # fmt: skip
        manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: with-secret}}
spec:
  imagePullSecrets: [{{name: regcred}}]
  containers: [{{name: c, image: "{image}", command: ["sleep", "3600"]}}]
"""
        c.kubectl("apply", "-f", "-", input=manifest)
        c.wait_pod("with-secret", _ready)
        pod = c.wait_pod(
            "no-secret",
            lambda p: any(
                (s.get("state") or {}).get("waiting", {}).get("reason")
                in ("ErrImagePull", "ImagePullBackOff")
                for s in p.get("status", {}).get("containerStatuses") or []
            ),
        )
        assert pod["status"]["phase"] == "Pending"
