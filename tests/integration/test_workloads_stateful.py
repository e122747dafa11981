"""StatefulSets and DaemonSets on a live ``pinnace server --sim-nodes 3`` (SQLite),
driven by the real kubectl.

The in-server scheduler binds pods and the simulated nodes make them Running and
Ready. A :class:`PodRecorder` (an informer on its own event loop in a thread)
sees every pod event in the order the API server reports them, so "web-2 was
created only once web-1 was Ready" is checked against the watch stream itself.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pinnace.client import PODS, Client, Informer, Obj
from tests.cluster import PINNACE, ROOT, Server

pytestmark = pytest.mark.kubectl

T = TypeVar("T")
NS = "default"


def wait_until(what: str, fn: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def is_ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


class PodRecorder:
    """Watches the pods of one label selector; checks invariants at every event."""

    def __init__(self, kubeconfig: Path, selector: str) -> None:
        self.kubeconfig = kubeconfig
        self.selector = selector
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._thread, daemon=True, name="pod-recorder")
        self.started = threading.Event()
        self.informer: Informer | None = None
        self.violations: list[str] = []
        self.created: list[str] = []
        self.deleting: list[str] = []
        self._stop: asyncio.Event | None = None

    def __enter__(self) -> PodRecorder:
        self.thread.start()
        assert self.started.wait(20), "pod recorder did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)

    def _thread(self) -> None:
        self.loop.run_until_complete(self._run())

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        client = Client.from_kubeconfig(self.kubeconfig)
        inf = Informer(client, PODS, namespace=NS, label_selector=self.selector)
        self.informer = inf
        inf.add_event_handler(on_add=self._added, on_update=self._updated)
        inf.start()
        await inf.wait_synced()
        self.started.set()
        await self._stop.wait()
        await inf.stop()
        await client.close()

    def _pods(self) -> dict[int, Obj]:
        assert self.informer is not None
        return {int(p["metadata"]["name"].rsplit("-", 1)[1]): p for p in self.informer.list()}

    def _added(self, pod: Obj) -> None:
        name = pod["metadata"]["name"]
        ordinal = int(name.rsplit("-", 1)[1])
        self.created.append(name)
        for j, other in self._pods().items():
            if j < ordinal and not is_ready(other):
                self.violations.append(
                    f"{name} created while {other['metadata']['name']} not ready"
                )
        for j in range(ordinal):
            if j not in self._pods():
                self.violations.append(f"{name} created before web-{j} existed")
        self._updated(pod, pod)

    def _updated(self, old: Obj, pod: Obj) -> None:
        name = pod["metadata"]["name"]
        if pod["metadata"].get("deletionTimestamp") and name not in self.deleting:
            ordinal = int(name.rsplit("-", 1)[1])
            self.deleting.append(name)
            for j, other in self._pods().items():
                if j > ordinal:
                    self.violations.append(
                        f"{name} deleted while {other['metadata']['name']} still exists"
                    )
                elif j < ordinal and not is_ready(other):
                    self.violations.append(
                        f"{name} deleted while {other['metadata']['name']} not ready"
                    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d: Path = tmp_path_factory.mktemp("pinnace-stateful")
    s = Server(d / "data", extra_args=["--sim-nodes", "3"]).start()
    try:
        wait_until(
            "3 ready simulated nodes",
            lambda: (
                s.kubectl("get", "nodes", "--no-headers", check=False).stdout.count(" Ready") == 3
            ),
        )
        # claims of a WaitForFirstConsumer class do not block scheduling (no PV binder)
        s.kubectl(
            "apply", "-f", "-",
            input=textwrap.dedent("""\
                apiVersion: storage.k8s.io/v1
                kind: StorageClass
                metadata: {name: local-wffc}
                provisioner: example.com/none
                volumeBindingMode: WaitForFirstConsumer
            """),
        )  # fmt: skip
        yield s
    finally:
        s.stop()


def get_json(s: Server, *args: str) -> Any:
    return json.loads(s.kubectl("get", *args, "-o", "json").stdout)


def sts_manifest(name: str, replicas: int, image: str = "nginx:1.25", **spec: Any) -> str:
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "serviceName": name,
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "storageClassName": "local-wffc",
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
            **spec,
        },
    }
    return json.dumps(obj)


def pods_of(s: Server, app: str) -> dict[str, Obj]:
    return {p["metadata"]["name"]: p for p in get_json(s, "pods", "-l", f"app={app}")["items"]}


# --- StatefulSet -------------------------------------------------------------------------------


def test_statefulset_scales_up_in_order_and_down_in_reverse(cluster: Server) -> None:
    with PodRecorder(cluster.kubeconfig, "app=web") as rec:
        cluster.kubectl("apply", "-f", "-", input=sts_manifest("web", 0))
        cluster.kubectl("scale", "sts/web", "--replicas=4")
        out = cluster.kubectl("rollout", "status", "sts/web", "--timeout=60s", timeout=90).stdout
        assert "4 new pods have been updated" in out or "rolling update complete" in out
        assert rec.created == ["web-0", "web-1", "web-2", "web-3"]
        pods = pods_of(cluster, "web")
        for i in range(4):
            p = pods[f"web-{i}"]
            assert p["spec"]["hostname"] == f"web-{i}" and p["spec"]["subdomain"] == "web"
            labels = p["metadata"]["labels"]
            assert labels["statefulset.kubernetes.io/pod-name"] == f"web-{i}"
            assert labels["apps.kubernetes.io/pod-index"] == str(i)
            assert labels["controller-revision-hash"].startswith("web-")
            assert p["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == f"data-web-{i}"
        claims = {c["metadata"]["name"] for c in get_json(cluster, "pvc")["items"]}
        assert {f"data-web-{i}" for i in range(4)} <= claims
        uid0 = pods["web-0"]["metadata"]["uid"]

        cluster.kubectl("scale", "sts/web", "--replicas=0")
        wait_until("all web pods gone", lambda: not pods_of(cluster, "web"), timeout=60)
        assert rec.deleting == ["web-3", "web-2", "web-1", "web-0"]
        assert rec.violations == []

    # the claims outlive their pods (whenScaled: Retain) and are reused
    claims = {c["metadata"]["name"] for c in get_json(cluster, "pvc")["items"]}
    assert {f"data-web-{i}" for i in range(4)} <= claims
    cluster.kubectl("scale", "sts/web", "--replicas=1")
    cluster.kubectl("rollout", "status", "sts/web", "--timeout=60s", timeout=90)
    p = pods_of(cluster, "web")["web-0"]
    assert p["metadata"]["uid"] != uid0
    assert p["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "data-web-0"
    st = get_json(cluster, "sts", "web")["status"]
    assert st["replicas"] == 1 and st["readyReplicas"] == 1
    assert st["currentRevision"] == st["updateRevision"]
    events = cluster.kubectl(
        "get", "events", "--field-selector", "involvedObject.name=web", "-o", "json"
    ).stdout
    assert "create Pod web-3 in StatefulSet web successful" in events
    assert "delete Pod web-3 in StatefulSet web successful" in events
    cluster.kubectl("delete", "sts", "web", "--wait=false")


def test_statefulset_rolling_update_with_partition_history_and_undo(cluster: Server) -> None:
    rolling = {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
    cluster.kubectl("apply", "-f", "-", input=sts_manifest("db", 3, updateStrategy=rolling))
    cluster.kubectl("rollout", "status", "sts/db", "--timeout=60s", timeout=90)
    before = {n: p["metadata"]["uid"] for n, p in pods_of(cluster, "db").items()}
    cluster.kubectl("set", "image", "sts/db", "c=nginx:1.26")
    out = cluster.kubectl("rollout", "status", "sts/db", "--timeout=60s", timeout=90).stdout
    assert "partitioned roll out complete: 1 new pods have been updated" in out
    pods = pods_of(cluster, "db")
    images = {n: p["spec"]["containers"][0]["image"] for n, p in pods.items()}
    assert images == {"db-0": "nginx:1.25", "db-1": "nginx:1.25", "db-2": "nginx:1.26"}
    assert pods["db-0"]["metadata"]["uid"] == before["db-0"]
    st = get_json(cluster, "sts", "db")["status"]
    assert st["currentRevision"] != st["updateRevision"] and st["updatedReplicas"] == 1

    # the rest of the rollout, highest ordinal first
    with PodRecorder(cluster.kubeconfig, "app=db") as rec:
        cluster.kubectl(
            "patch", "sts/db", "--type=merge",
            "-p", '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}',
        )  # fmt: skip
        cluster.kubectl("rollout", "status", "sts/db", "--timeout=60s", timeout=90)
        wait_until(
            "every db pod at nginx:1.26",
            lambda: (
                all(
                    p["spec"]["containers"][0]["image"] == "nginx:1.26" and is_ready(p)
                    for p in pods_of(cluster, "db").values()
                )
                and len(pods_of(cluster, "db")) == 3
            ),
        )
        assert rec.deleting == ["db-1", "db-0"]
    st = wait_until(
        "the update revision to become current",
        lambda: (
            (s := get_json(cluster, "sts", "db")["status"])["currentRevision"]
            == s["updateRevision"]
            and s
        ),
    )
    assert st["currentReplicas"] == 3

    hist = cluster.kubectl("rollout", "history", "sts/db").stdout
    assert [line.split()[0] for line in hist.splitlines()[2:] if line.strip()] == ["1", "2"]
    detail = cluster.kubectl("rollout", "history", "sts/db", "--revision=1").stdout
    assert "nginx:1.25" in detail

    out = cluster.kubectl("rollout", "undo", "sts/db").stdout
    assert "rolled back" in out
    cluster.kubectl("rollout", "status", "sts/db", "--timeout=60s", timeout=90)
    wait_until(
        "every db pod back at nginx:1.25",
        lambda: (
            sorted(p["spec"]["containers"][0]["image"] for p in pods_of(cluster, "db").values())
            == ["nginx:1.25"] * 3
        ),
    )
    hist = cluster.kubectl("rollout", "history", "sts/db").stdout
    assert [line.split()[0] for line in hist.splitlines()[2:] if line.strip()] == ["2", "3"]
    out = cluster.kubectl("rollout", "undo", "sts/db", "--to-revision=3").stdout
    assert "skipped rollback" in out
    revisions = get_json(cluster, "controllerrevisions", "-l", "app=db")["items"]
    assert sorted(r["revision"] for r in revisions) == [2, 3]
    cluster.kubectl("delete", "sts", "db", "--wait=false")


# --- DaemonSet ---------------------------------------------------------------------------------


DS = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: DaemonSet
    metadata: {name: agent, namespace: default}
    spec:
      selector: {matchLabels: {app: agent}}
      template:
        metadata: {labels: {app: agent}}
        spec:
          containers: [{name: a, image: busybox:1.36}]
""")


def nodes_with_agent(s: Server) -> dict[str, str]:
    """node → image of its (non-terminating) agent pod."""
    out = {}
    for p in pods_of(s, "agent").values():
        if not p["metadata"].get("deletionTimestamp") and p["spec"].get("nodeName"):
            out[p["spec"]["nodeName"]] = p["spec"]["containers"][0]["image"]
    return out


def test_daemonset_nodes_taints_rolling_update_history_and_undo(cluster: Server) -> None:
    cluster.kubectl("taint", "node", "sim-2", "dedicated=db:NoSchedule")
    extra: subprocess.Popen[bytes] | None = None
    try:
        cluster.kubectl("apply", "-f", "-", input=DS)
        cluster.kubectl("rollout", "status", "ds/agent", "--timeout=60s", timeout=90)
        assert set(nodes_with_agent(cluster)) == {"sim-0", "sim-1"}
        st = get_json(cluster, "ds", "agent")["status"]
        assert st["desiredNumberScheduled"] == 2 and st["numberReady"] == 2
        pod = next(iter(pods_of(cluster, "agent").values()))
        tolerations = {(t["key"], t.get("effect")) for t in pod["spec"]["tolerations"]}
        assert ("node.kubernetes.io/unreachable", "NoExecute") in tolerations
        terms = pod["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]["nodeSelectorTerms"]
        assert terms[0]["matchFields"][0]["values"] == [pod["spec"]["nodeName"]]

        # tolerating the taint reaches the third node (a new revision: a rolling update)
        cluster.kubectl(
            "patch", "ds/agent", "--type=merge", "-p",
            json.dumps({"spec": {"template": {"spec": {"tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}
            ]}}}}),
        )  # fmt: skip
        cluster.kubectl("rollout", "status", "ds/agent", "--timeout=60s", timeout=90)
        wait_until(
            "an agent on every node",
            lambda: set(nodes_with_agent(cluster)) == {"sim-0", "sim-1", "sim-2"},
        )

        # a new node gets one; a removed node loses it
        extra = subprocess.Popen(
            [*PINNACE, "sim", "--kubeconfig", str(cluster.kubeconfig), "--nodes", "1",
             "--name-prefix", "extra-"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until("an agent on extra-0", lambda: "extra-0" in nodes_with_agent(cluster))
        extra.terminate()
        extra.wait(15)
        extra = None
        cluster.kubectl("delete", "node", "extra-0")
        wait_until("no agent on extra-0", lambda: "extra-0" not in nodes_with_agent(cluster))

        # rolling update (maxUnavailable 1): new image everywhere, history, undo
        cluster.kubectl("set", "image", "ds/agent", "a=busybox:1.37")
        out = cluster.kubectl("rollout", "status", "ds/agent", "--timeout=60s", timeout=90).stdout
        assert 'daemon set "agent" successfully rolled out' in out
        wait_until(
            "busybox:1.37 everywhere",
            lambda: (
                set(nodes_with_agent(cluster).values()) == {"busybox:1.37"}
                and len(nodes_with_agent(cluster)) == 3
            ),
        )
        hashes = {p["metadata"]["labels"]["controller-revision-hash"]
                  for p in pods_of(cluster, "agent").values()}  # fmt: skip
        assert len(hashes) == 1
        revisions = get_json(cluster, "controllerrevisions", "-l", "app=agent")["items"]
        assert sorted(r["revision"] for r in revisions) == [1, 2, 3]
        assert {r["metadata"]["name"] for r in revisions} >= {f"agent-{h}" for h in hashes}
        hist = cluster.kubectl("rollout", "history", "ds/agent").stdout
        assert [line.split()[0] for line in hist.splitlines()[2:] if line.strip()] == [
            "1", "2", "3",
        ]  # fmt: skip
        assert (
            "busybox:1.36"
            in cluster.kubectl("rollout", "history", "ds/agent", "--revision=2").stdout
        )

        assert "rolled back" in cluster.kubectl("rollout", "undo", "ds/agent").stdout
        cluster.kubectl("rollout", "status", "ds/agent", "--timeout=60s", timeout=90)
        wait_until(
            "busybox:1.36 everywhere again",
            lambda: (
                set(nodes_with_agent(cluster).values()) == {"busybox:1.36"}
                and len(nodes_with_agent(cluster)) == 3
            ),
        )
        hist = cluster.kubectl("rollout", "history", "ds/agent").stdout
        assert [line.split()[0] for line in hist.splitlines()[2:] if line.strip()] == [
            "1", "3", "4",
        ]  # fmt: skip
        st = get_json(cluster, "ds", "agent")
        assert st["status"]["observedGeneration"] == st["metadata"]["generation"]
        assert st["status"]["updatedNumberScheduled"] == 3
    finally:
        if extra is not None:
            extra.terminate()
            extra.wait(15)
        cluster.kubectl("taint", "node", "sim-2", "dedicated-", check=False)
        cluster.kubectl("delete", "ds", "agent", "--wait=false", check=False)


def test_daemonset_surge_update(cluster: Server) -> None:
    manifest = DS.replace("name: agent", "name: surge").replace("app: agent", "app: surge")
    manifest += textwrap.indent(
        "updateStrategy:\n  type: RollingUpdate\n  rollingUpdate: {maxSurge: 1, maxUnavailable: 0}\n",
        "  ",
    )
    cluster.kubectl("apply", "-f", "-", input=manifest)
    cluster.kubectl("rollout", "status", "ds/surge", "--timeout=60s", timeout=90)
    assert len(pods_of(cluster, "surge")) == 3
    cluster.kubectl("set", "image", "ds/surge", "a=busybox:1.37")
    worst = [3]

    def done() -> bool:
        pods = [p for p in pods_of(cluster, "surge").values()
                if not p["metadata"].get("deletionTimestamp")]  # fmt: skip
        worst[0] = min(worst[0], sum(1 for p in pods if is_ready(p)))
        assert len(pods) <= 4, "more than maxSurge extra pods"
        return len(pods) == 3 and all(
            p["spec"]["containers"][0]["image"] == "busybox:1.37" and is_ready(p) for p in pods
        )

    wait_until("the surge rollout", done, timeout=60)
    assert worst[0] >= 3, "maxUnavailable 0 was not respected"
    cluster.kubectl("rollout", "status", "ds/surge", "--timeout=60s", timeout=90)
    cluster.kubectl("delete", "ds", "surge", "--wait=false")


def test_statefulset_parallel_and_retention_policy(cluster: Server) -> None:
    policy = {"whenDeleted": "Delete", "whenScaled": "Delete"}
    cluster.kubectl(
        "apply", "-f", "-",
        input=sts_manifest("par", 3, podManagementPolicy="Parallel",
                           persistentVolumeClaimRetentionPolicy=policy),
    )  # fmt: skip
    cluster.kubectl("rollout", "status", "sts/par", "--timeout=60s", timeout=90)

    def claims() -> dict[str, Obj]:
        return {
            c["metadata"]["name"]: c
            for c in get_json(cluster, "pvc")["items"]
            if c["metadata"]["name"].startswith("data-par-")
        }

    def owned_claims() -> dict[str, Obj] | None:
        c = claims()
        if len(c) == 3 and all(x["metadata"].get("ownerReferences") for x in c.values()):
            return c
        return None

    refs = wait_until("claims owned by the set", owned_claims)
    for c in refs.values():
        (ref,) = c["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["name"], ref["controller"]) == ("StatefulSet", "par", True)
    # scaled away: the claim goes with its pod (garbage collector via the pod reference)
    cluster.kubectl("scale", "sts/par", "--replicas=2")
    wait_until("data-par-2 deleted", lambda: "data-par-2" not in claims(), timeout=60)
    assert {"data-par-0", "data-par-1"} <= set(claims())
    # the set deleted: its claims go too
    cluster.kubectl("delete", "sts", "par", "--wait=false")
    wait_until("every par claim deleted", lambda: not claims(), timeout=60)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
