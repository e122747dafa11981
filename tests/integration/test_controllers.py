"""Namespace lifecycle and the garbage collector, driven by the real kubectl against
a real ``pinnace server`` with the controller manager running.

Until the server runs the controllers in-process, the module fixture starts
``pinnace controller-manager --leader-elect`` as its own process against the
server's admin kubeconfig (set ``EXTERNAL_CONTROLLER_MANAGER = False`` once the
server runs them itself).
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.cluster import PINNACE, ROOT, Server

pytestmark = pytest.mark.kubectl

EXTERNAL_CONTROLLER_MANAGER = False
# garbage collection and namespace semantics, without workload controllers
# acting on the hand-made ReplicaSets these tests own
SERVER_ARGS = [
    "--controllers",
    "namespace,garbagecollector,serviceaccount",
    "--disable",
    "scheduler",
]

T = TypeVar("T")


class ControllerManager:
    """``pinnace controller-manager`` as a subprocess."""

    def __init__(self, kubeconfig: Path, log_path: Path) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ControllerManager:
        args = [
            *PINNACE,
            "controller-manager",
            "--kubeconfig",
            str(self.kubeconfig),
            "--leader-elect",
            "--kube-api-qps",
            "200",
            "--kube-api-burst",
            "400",
            "--v",
            "2",
        ]
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, cwd=ROOT)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-8000:] if self.log_path.exists() else ""

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        rc = self.proc.returncode
        self.proc = None
        return rc


def wait_until(what: str, fn: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster(server: Server) -> Iterator[Server]:
    cm: ControllerManager | None = None
    if EXTERNAL_CONTROLLER_MANAGER:
        cm = ControllerManager(server.kubeconfig, server.data_dir.parent / "controller-manager.log")
        cm.start()
    try:
        if cm is not None:
            # leading (the Lease names us) and ready (the log says so)
            wait_until(
                "the controller manager to lead and be ready",
                lambda: "all controllers ready" in cm.log() or (_exited(cm) and _fail(cm)),
            )
        yield server
    finally:
        if cm is not None:
            rc = cm.stop()
            assert rc == 0, f"controller-manager exited with {rc}:\n{cm.log()}"


def _exited(cm: ControllerManager) -> bool:
    return cm.proc is not None and cm.proc.poll() is not None


def _fail(cm: ControllerManager) -> bool:
    raise AssertionError(f"controller-manager exited early:\n{cm.log()}")


# --------------------------------------------------------------------------
# helpers


def get(s: Server, *args: str) -> dict[str, Any] | None:
    p = s.kubectl("get", *args, "-o", "json", check=False)
    if p.returncode != 0:
        assert "NotFound" in p.stderr, p.stderr
        return None
    result: dict[str, Any] = json.loads(p.stdout)
    return result


def gone(s: Server, *args: str) -> bool:
    return get(s, *args) is None


def apply(s: Server, manifest: str, *args: str) -> None:
    s.kubectl("apply", *args, "-f", "-", input=textwrap.dedent(manifest))


def create_deployment(s: Server, name: str, namespace: str = "default") -> str:
    s.kubectl("-n", namespace, "create", "deployment", name, "--image=nginx:1.25")
    d = get(s, "-n", namespace, "deployment", name)
    assert d is not None
    return str(d["metadata"]["uid"])


def owner_ref(kind: str, name: str, uid: str, api_version: str = "apps/v1") -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def create_replicaset(
    s: Server,
    name: str,
    owners: list[dict[str, Any]],
    *,
    namespace: str = "default",
    finalizers: list[str] | None = None,
) -> None:
    rs: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": namespace, "ownerReferences": owners},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
            },
        },
    }
    if finalizers:
        rs["metadata"]["finalizers"] = finalizers
    s.kubectl("create", "-f", "-", input=json.dumps(rs))


def create_configmap(
    s: Server, name: str, owners: list[dict[str, Any]], namespace: str = "default"
) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "ownerReferences": owners},
        "data": {"k": "v"},
    }
    s.kubectl("create", "-f", "-", input=json.dumps(cm))


def drop_finalizers(s: Server, *args: str) -> None:
    s.kubectl("patch", *args, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')


# --------------------------------------------------------------------------
# leader election


def test_leader_lease(cluster: Server) -> None:
    if not EXTERNAL_CONTROLLER_MANAGER:
        pytest.skip("the in-process controller manager may not use leader election")
    lease = wait_until(
        "the kube-controller-manager Lease",
        lambda: get(cluster, "-n", "kube-system", "lease", "kube-controller-manager"),
    )
    assert lease["spec"]["holderIdentity"]
    assert lease["spec"]["leaseDurationSeconds"] == 15


# --------------------------------------------------------------------------
# namespace lifecycle


def test_delete_namespace_with_contents(cluster: Server) -> None:
    s = cluster
    s.kubectl("create", "namespace", "doomed")
    s.kubectl("-n", "doomed", "create", "configmap", "c1", "--from-literal=a=1")
    s.kubectl("-n", "doomed", "create", "configmap", "c2", "--from-literal=b=2")
    s.kubectl("-n", "doomed", "create", "secret", "generic", "s1", "--from-literal=p=w")
    uid = create_deployment(s, "web", "doomed")
    create_replicaset(s, "web-rs", [owner_ref("Deployment", "web", uid)], namespace="doomed")

    start = time.monotonic()
    out = s.kubectl("delete", "namespace", "doomed", "--timeout=60s", timeout=90).stdout
    assert 'namespace "doomed" deleted' in out
    assert gone(s, "namespace", "doomed")
    assert time.monotonic() - start < 30
    # and nothing of it is left behind
    for kind in ("configmaps", "secrets", "deployments", "replicasets"):
        items = get(s, kind, "-n", "doomed")
        assert items is not None and items["items"] == [], kind


def test_terminating_namespace_waits_for_finalizers(cluster: Server) -> None:
    s = cluster
    s.kubectl("create", "namespace", "held")
    apply(
        s,
        """\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: held
          namespace: held
          finalizers: [example.com/hold]
        data: {k: v}
        """,
    )
    s.kubectl("delete", "namespace", "held", "--wait=false")

    def finalizers_reported() -> dict[str, Any] | None:
        ns = get(s, "namespace", "held")
        assert ns is not None
        conds = {c["type"]: c for c in ns.get("status", {}).get("conditions") or []}
        c = conds.get("NamespaceFinalizersRemaining")
        return ns if c is not None and c["status"] == "True" else None

    ns = wait_until("the namespace to report the remaining finalizer", finalizers_reported)
    assert ns["status"]["phase"] == "Terminating"
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    conds = {c["type"]: c for c in ns["status"]["conditions"]}
    assert conds["NamespaceFinalizersRemaining"]["reason"] == "SomeFinalizersRemain"
    assert (
        "example.com/hold in 1 resource instances"
        in conds["NamespaceFinalizersRemaining"]["message"]
    )
    assert conds["NamespaceContentRemaining"]["reason"] == "SomeResourcesRemain"
    assert "configmaps. has 1 resource instances" in conds["NamespaceContentRemaining"]["message"]
    assert conds["NamespaceDeletionDiscoveryFailure"]["status"] == "False"
    assert conds["NamespaceDeletionContentFailure"]["status"] == "False"

    # no new content while terminating (NamespaceLifecycle admission)
    p = s.kubectl("-n", "held", "create", "configmap", "late", check=False)
    assert p.returncode != 0 and "being terminated" in p.stderr

    drop_finalizers(s, "-n", "held", "configmap", "held")
    # the controller looks again after its estimate (upstream: 15 s / 2 + 1)
    wait_until("the namespace to go", lambda: gone(s, "namespace", "held"), timeout=40)


# --------------------------------------------------------------------------
# garbage collector


def test_cascade_orphan_keeps_dependents(cluster: Server) -> None:
    s = cluster
    uid = create_deployment(s, "orphaner")
    create_replicaset(s, "orphaner-rs", [owner_ref("Deployment", "orphaner", uid)])
    s.kubectl("delete", "deployment", "orphaner", "--cascade=orphan", "--timeout=30s")
    assert gone(s, "deployment", "orphaner")
    rs = get(s, "replicaset", "orphaner-rs")
    assert rs is not None, "the orphaned ReplicaSet must survive"
    assert not rs["metadata"].get("ownerReferences")
    time.sleep(1)  # and the collector leaves it alone afterwards
    assert get(s, "replicaset", "orphaner-rs") is not None
    s.kubectl("delete", "replicaset", "orphaner-rs")


def test_cascade_foreground_deletes_dependents_first(cluster: Server) -> None:
    s = cluster
    uid = create_deployment(s, "fore")
    # the finalizer keeps the dependent around (being deleted) until we drop it
    create_replicaset(
        s, "fore-rs", [owner_ref("Deployment", "fore", uid)], finalizers=["example.com/hold"]
    )
    create_replicaset(s, "fore-rs2", [owner_ref("Deployment", "fore", uid)])
    s.kubectl("delete", "deployment", "fore", "--cascade=foreground", "--wait=false")

    def rs_being_deleted() -> dict[str, Any] | None:
        rs = get(s, "replicaset", "fore-rs")
        return rs if rs is not None and rs["metadata"].get("deletionTimestamp") else None

    wait_until("the dependent to be deleted", rs_being_deleted)
    wait_until("the other dependent to go", lambda: gone(s, "replicaset", "fore-rs2"))
    # the owner waits for its blocking dependent
    time.sleep(1)
    d = get(s, "deployment", "fore")
    assert d is not None, "the owner must wait for its blocking dependents"
    assert d["metadata"].get("deletionTimestamp")
    assert "foregroundDeletion" in d["metadata"].get("finalizers", [])

    drop_finalizers(s, "replicaset", "fore-rs")
    wait_until("the dependent to go", lambda: gone(s, "replicaset", "fore-rs"))
    wait_until("the owner to go", lambda: gone(s, "deployment", "fore"))


def test_cascade_foreground_with_kubectl_waiting(cluster: Server) -> None:
    s = cluster
    uid = create_deployment(s, "fore2")
    create_replicaset(s, "fore2-rs", [owner_ref("Deployment", "fore2", uid)])
    s.kubectl("delete", "deployment", "fore2", "--cascade=foreground", "--timeout=30s")
    assert gone(s, "deployment", "fore2")
    assert gone(s, "replicaset", "fore2-rs")


def test_cascade_background_deletes_dependents_after(cluster: Server) -> None:
    s = cluster
    uid = create_deployment(s, "back")
    create_replicaset(s, "back-rs", [owner_ref("Deployment", "back", uid)])
    s.kubectl("delete", "deployment", "back", "--timeout=30s")  # background is the default
    assert gone(s, "deployment", "back")
    wait_until("the dependent to be collected", lambda: gone(s, "replicaset", "back-rs"))


def test_dependent_with_another_live_owner_survives(cluster: Server) -> None:
    s = cluster
    uid_a = create_deployment(s, "owner-a")
    uid_b = create_deployment(s, "owner-b")
    create_replicaset(
        s,
        "shared-rs",
        [owner_ref("Deployment", "owner-a", uid_a), owner_ref("Deployment", "owner-b", uid_b)],
    )
    s.kubectl("delete", "deployment", "owner-a", "--timeout=30s")

    def only_b_left() -> dict[str, Any] | None:
        rs = get(s, "replicaset", "shared-rs")
        assert rs is not None, "a dependent with a live owner must survive"
        refs = rs["metadata"].get("ownerReferences") or []
        return rs if [r["uid"] for r in refs] == [uid_b] else None

    wait_until("the reference to the deleted owner to be removed", only_b_left)
    time.sleep(1)
    assert get(s, "replicaset", "shared-rs") is not None
    # deleting the last owner collects it
    s.kubectl("delete", "deployment", "owner-b", "--timeout=30s")
    wait_until("the dependent to be collected", lambda: gone(s, "replicaset", "shared-rs"))


def test_dangling_and_unresolvable_owner_references(cluster: Server) -> None:
    s = cluster
    # an owner that never existed: collected
    create_configmap(
        s, "dangling", [owner_ref("Deployment", "nobody", "00000000-0000-0000-0000-000000000001")]
    )
    # an owner of a kind nobody serves: left alone
    create_configmap(
        s,
        "unresolvable",
        [owner_ref("Widget", "w", "00000000-0000-0000-0000-000000000002", "example.com/v1")],
    )
    # a cluster-scoped owner of a namespaced dependent is fine
    ns = get(s, "namespace", "default")
    assert ns is not None
    create_configmap(
        s, "cluster-owned", [owner_ref("Namespace", "default", ns["metadata"]["uid"], "v1")]
    )
    wait_until("the dangling dependent to be collected", lambda: gone(s, "configmap", "dangling"))
    time.sleep(1)
    assert get(s, "configmap", "unresolvable") is not None
    assert get(s, "configmap", "cluster-owned") is not None
    s.kubectl("delete", "configmap", "unresolvable", "cluster-owned")


def test_owner_in_another_namespace_is_invalid(cluster: Server) -> None:
    s = cluster
    uid = create_deployment(s, "elsewhere")
    s.kubectl("create", "namespace", "other")
    create_configmap(s, "cross", [owner_ref("Deployment", "elsewhere", uid)], namespace="other")
    # the owner does not exist in the dependent's namespace: the dependent is collected
    wait_until(
        "the dependent to be collected", lambda: gone(s, "-n", "other", "configmap", "cross")
    )

    def warned() -> list[dict[str, Any]] | None:
        events = get(s, "-n", "other", "events", "--field-selector=reason=OwnerRefInvalidNamespace")
        assert events is not None
        return events["items"] or None

    [event] = wait_until("the OwnerRefInvalidNamespace event", warned)
    assert event["type"] == "Warning"
    assert event["involvedObject"]["name"] == "cross"
    assert event["involvedObject"]["kind"] == "ConfigMap"
    assert event["source"]["component"] == "garbage-collector-controller"
    assert get(s, "deployment", "elsewhere") is not None
    s.kubectl("delete", "deployment", "elsewhere")


def test_cascade_foreground_through_a_chain(cluster: Server) -> None:
    """Deployment → ReplicaSet → Pod: the ReplicaSet is itself deleted in the foreground
    (it has dependents), so the pod goes first, then the ReplicaSet, then the owner."""
    s = cluster
    uid = create_deployment(s, "chain")
    create_replicaset(s, "chain-rs", [owner_ref("Deployment", "chain", uid)])
    rs = get(s, "replicaset", "chain-rs")
    assert rs is not None
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "chain-pod",
            "labels": {"app": "chain-rs"},
            "ownerReferences": [
                owner_ref("ReplicaSet", "chain-rs", rs["metadata"]["uid"], "apps/v1")
            ],
        },
        "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
    }
    s.kubectl("create", "-f", "-", input=json.dumps(pod))
    s.kubectl("delete", "deployment", "chain", "--cascade=foreground", "--timeout=30s")
    assert gone(s, "deployment", "chain")
    assert gone(s, "replicaset", "chain-rs")
    assert gone(s, "pod", "chain-pod")
