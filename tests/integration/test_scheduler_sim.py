"""The in-server scheduler placing pods on `pinnace sim` nodes the way
kube-scheduler would, with upstream's FailedScheduling message when nothing
fits, and scheduling the pod once a fitting node appears."""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import PINNACE, ROOT, Server, wait_until

PROFILE = """\
nodeGroups:
- count: 1
  namePrefix: big-
  capacity: {cpu: "8", memory: 32Gi, pods: "110"}
  labels: {disk: ssd}
- count: 1
  namePrefix: small-
  capacity: {cpu: "2", memory: 8Gi, pods: "110"}
  labels: {disk: hdd}
- count: 1
  namePrefix: gpu-
  capacity: {cpu: "8", memory: 32Gi, pods: "110"}
  labels: {accelerator: gpu}
  taints:
  - {key: dedicated, value: gpu, effect: NoSchedule}
"""


class Sim:
    def __init__(self, server: Server, profile: Path, nodes: int, prefix: str = "") -> None:
        args = [*PINNACE, "sim", "--kubeconfig", str(server.kubeconfig), "--profile", str(profile)]
        args += ["--nodes", str(nodes)]
        if prefix:
            args += ["--name-prefix", prefix]
        self.log = profile.with_suffix(".log")
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("schedsim")
    s = Server(d / "data").start()
    profile = d / "profile.yaml"
    profile.write_text(PROFILE)
    sim = Sim(s, profile, 3)
    try:
        wait_until("3 ready nodes", lambda: len(ready_nodes(s)) == 3)
        yield s
    finally:
        sim.stop()
        s.stop()


def ready_nodes(s: Server) -> list[str]:
    out = s.kubectl("get", "nodes", "-o", "json", check=False)
    if out.returncode != 0:
        return []
    return [
        n["metadata"]["name"]
        for n in json.loads(out.stdout)["items"]
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            # a Node may be read between its create and its first status write
            for c in (n.get("status") or {}).get("conditions", [])
        )
    ]


def pod(name: str, cpu: str, **spec: Any) -> str:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": spec.pop("labels", {})},
        "spec": {
            "containers": [
                {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}
            ],
            **spec,
        },
    }
    return json.dumps(body)


def node_of(s: Server, name: str) -> str:
    out = s.kubectl("get", "pod", name, "-o", "jsonpath={.spec.nodeName}", check=False)
    return out.stdout.strip() if out.returncode == 0 else ""


def test_placements_follow_resources_selectors_and_taints(cluster: Server) -> None:
    s = cluster
    s.kubectl("create", "-f", "-", input=pod("ssd", "4", nodeSelector={"disk": "ssd"}))
    assert wait_until("ssd placed", lambda: node_of(s, "ssd")) == "big-0"
    tol = [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
    s.kubectl(
        "create", "-f", "-",
        input=pod("trainer", "1", nodeSelector={"accelerator": "gpu"}, tolerations=tol),
    )  # fmt: skip
    assert wait_until("trainer placed", lambda: node_of(s, "trainer")) == "gpu-0"
    # 3 cpu: small is too small, gpu is tainted, only big has room left
    s.kubectl("create", "-f", "-", input=pod("plain", "3"))
    assert wait_until("plain placed", lambda: node_of(s, "plain")) == "big-0"
    # required anti-affinity on hostname spreads two replicas over two nodes
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"app": "spread"}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }
    for i in range(2):
        s.kubectl(
            "create", "-f", "-",
            input=pod(f"spread-{i}", "100m", labels={"app": "spread"}, affinity=anti),
        )  # fmt: skip
    a = wait_until("spread-0 placed", lambda: node_of(s, "spread-0"))
    b = wait_until("spread-1 placed", lambda: node_of(s, "spread-1"))
    assert a != b and "gpu-0" not in (a, b)


def test_unschedulable_pod_gets_upstream_message_then_lands(
    cluster: Server, tmp_path: Path
) -> None:
    s = cluster
    s.kubectl("create", "-f", "-", input=pod("huge", "16"))

    def failed_event() -> str:
        out = s.kubectl(
            "get", "events", "--field-selector", "involvedObject.name=huge,reason=FailedScheduling",
            "-o", "json",
        ).stdout  # fmt: skip
        items = json.loads(out)["items"]
        return items[0]["message"] if items else ""

    msg = wait_until("FailedScheduling event", failed_event)
    assert msg.startswith("0/3 nodes are available:"), msg
    assert "Insufficient cpu" in msg and "untolerated taint {dedicated: gpu}" in msg, msg
    cond = json.loads(s.kubectl("get", "pod", "huge", "-o", "json").stdout)["status"]["conditions"]
    assert any(
        c["type"] == "PodScheduled" and c["status"] == "False" and c["reason"] == "Unschedulable"
        for c in cond
    )
    # a node that fits appears: the pod is scheduled onto it
    profile = tmp_path / "huge.yaml"
    profile.write_text(textwrap.dedent("""\
        nodeGroups:
        - count: 1
          namePrefix: huge-
          capacity: {cpu: "32", memory: 64Gi, pods: "110"}
        """))  # fmt: skip
    sim = Sim(s, profile, 1)
    try:
        assert wait_until("huge placed", lambda: node_of(s, "huge"), timeout=60) == "huge-0"
    finally:
        sim.stop()
