"""Simulated nodes against a real ``pinnace server`` (SQLite): ``pinnace sim``
runs as its own process, and the checks go through the real ``kubectl``."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import PINNACE, ROOT, Server

NODES = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d: Path = tmp_path_factory.mktemp("pinnace-sim")
    s = Server(d / "data").start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def sim(server: Server) -> Iterator[subprocess.Popen[bytes]]:
    assert server.log_path is not None
    log = open(server.log_path.parent / "sim.log", "ab")
    proc = subprocess.Popen(
        [*PINNACE, "sim", "--kubeconfig", str(server.kubeconfig), "--nodes", str(NODES),
         "--lease-renew-interval", "1"],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    try:
        wait_for(lambda: len(ready_nodes(server)) == NODES, what="simulated nodes Ready")
        yield proc
    finally:
        proc.terminate()
        assert proc.wait(15) == 0


def wait_for(check: Callable[[], Any], *, timeout: float = 30.0, what: str = "") -> Any:
    end = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def get_json(server: Server, *args: str) -> Any:
    return json.loads(server.kubectl("get", *args, "-o", "json").stdout)


def ready_nodes(server: Server) -> list[str]:
    p = server.kubectl("get", "nodes", "--no-headers", check=False)
    return [line.split()[0] for line in p.stdout.splitlines() if line.split()[1:2] == ["Ready"]]


def pod_manifest(name: str, node: str, annotations: dict[str, str] | None = None,
                 restart_policy: str = "Always") -> str:  # fmt: skip
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
        "spec": {
            "nodeName": node, "restartPolicy": restart_policy,
            "containers": [{"name": "web", "image": "nginx:1.25",
                            "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}}],
        },
    })  # fmt: skip


def test_get_nodes_shows_ready_nodes(server: Server, sim: subprocess.Popen[bytes]) -> None:
    out = server.kubectl("get", "nodes").stdout.splitlines()
    assert out[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    rows = [line.split() for line in out[1:]]
    assert [r[0] for r in rows] == [f"sim-{i}" for i in range(NODES)]
    for r in rows:
        assert r[1] == "Ready" and r[2] == "<none>" and r[4] == "v1.32.0-pinnace-sim"
    node = get_json(server, "node", "sim-0")
    assert node["metadata"]["labels"]["pinnace.io/simulated"] == "true"
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "sim-0"
    assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250
    assert node["spec"]["podCIDRs"] == [node["spec"]["podCIDR"]]


def test_pod_becomes_running_with_an_ip_from_the_node(
    server: Server, sim: subprocess.Popen[bytes]
) -> None:
    server.kubectl("apply", "-f", "-", input=pod_manifest("web", "sim-1"))
    pod = wait_for(
        lambda: (p := get_json(server, "pod", "web"))["status"].get("phase") == "Running" and p,
        what="pod Running",
    )
    node = get_json(server, "node", "sim-1")
    ip = ipaddress.ip_address(pod["status"]["podIP"])
    assert ip in ipaddress.ip_network(node["spec"]["podCIDR"])
    assert pod["status"]["podIPs"] == [{"ip": str(ip)}]
    assert pod["status"]["hostIP"] == node["status"]["addresses"][0]["address"]
    conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conditions["Ready"] == "True" and conditions["ContainersReady"] == "True"
    cs = pod["status"]["containerStatuses"][0]
    assert cs["ready"] and cs["started"] and "running" in cs["state"]
    assert cs["containerID"].startswith("pinnace-sim://")
    assert pod["status"]["qosClass"] == "Burstable"
    out = server.kubectl("get", "pod", "web", "--no-headers").stdout.split()
    assert out[1:3] == ["1/1", "Running"]


def test_describe_node_looks_like_upstream(server: Server, sim: subprocess.Popen[bytes]) -> None:
    def describe() -> str | None:
        out = server.kubectl("describe", "node", "sim-1").stdout
        return out if "default                     web" in out else None

    out = wait_for(describe, what="describe to list the pod")
    for section in ("Name:               sim-1", "Roles:              <none>", "Lease:",
                    "HolderIdentity:  sim-1", "Conditions:", "KubeletReady", "Addresses:",
                    "InternalIP:  198.18.", "Capacity:", "Allocatable:", "System Info:",
                    "Kubelet Version:            v1.32.0-pinnace-sim", "PodCIDR:", "PodCIDRs:",
                    "Non-terminated Pods:          (1 in total)", "Allocated resources:",
                    "cpu                250m (0%)", "memory             64Mi (0%)"):  # fmt: skip
        assert section in out, f"{section!r} not in:\n{out}"


def test_pod_with_a_duration_succeeds(server: Server, sim: subprocess.Popen[bytes]) -> None:
    manifest = pod_manifest(
        "batch", "sim-2", {"pinnace.io/sim-duration": "1s"}, restart_policy="Never"
    )
    server.kubectl("apply", "-f", "-", input=manifest)
    pod = wait_for(
        lambda: (p := get_json(server, "pod", "batch"))["status"].get("phase") == "Succeeded" and p,
        what="pod Succeeded",
    )
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    assert server.kubectl("get", "pod", "batch", "--no-headers").stdout.split()[2] == "Completed"


def test_deleting_a_running_pod_removes_it(server: Server, sim: subprocess.Popen[bytes]) -> None:
    server.kubectl("apply", "-f", "-", input=pod_manifest("gone", "sim-0"))
    wait_for(lambda: get_json(server, "pod", "gone")["status"].get("phase") == "Running",
             what="pod Running")  # fmt: skip
    started = time.monotonic()
    server.kubectl("delete", "pod", "gone", "--wait=true", timeout=30)  # default grace 30 s
    assert time.monotonic() - started < 10
    assert server.kubectl("get", "pod", "gone", check=False).returncode != 0


def lease_renew_time(server: Server, node: str) -> str:
    return str(get_json(server, "lease", "-n", "kube-node-lease", node)["spec"]["renewTime"])


def test_dead_node_stops_renewing_its_lease(server: Server, sim: subprocess.Popen[bytes]) -> None:
    first = lease_renew_time(server, "sim-2")
    wait_for(lambda: lease_renew_time(server, "sim-2") != first, what="lease renewal")
    server.kubectl("annotate", "node", "sim-2", "pinnace.io/sim-state=dead")
    time.sleep(1.5)  # a renewal may have been in flight
    frozen = lease_renew_time(server, "sim-2")
    time.sleep(3)
    assert lease_renew_time(server, "sim-2") == frozen
    other = lease_renew_time(server, "sim-0")
    wait_for(lambda: lease_renew_time(server, "sim-0") != other, what="other nodes renew")
    server.kubectl("annotate", "node", "sim-2", "pinnace.io/sim-state-")
    wait_for(lambda: lease_renew_time(server, "sim-2") != frozen, what="renewal after revival")
