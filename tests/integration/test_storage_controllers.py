"""PV/PVC binding, the default StorageClass and the local-path provisioner on a live
``pinnace server --sim-nodes 2`` (SQLite), driven by the real kubectl."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.cluster import Server

pytestmark = pytest.mark.kubectl

T = TypeVar("T")


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
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d: Path = tmp_path_factory.mktemp("pinnace-storage")
    s = Server(d / "data", extra_args=["--sim-nodes", "2"]).start()
    try:
        wait_until(
            "2 ready simulated nodes",
            lambda: (
                s.kubectl("get", "nodes", "--no-headers", check=False).stdout.count(" Ready") == 2
            ),
        )
        yield s
    finally:
        s.stop()


def get_json(s: Server, *args: str) -> Any:
    return json.loads(s.kubectl("get", *args, "-o", "json").stdout)


def get_or_none(s: Server, *args: str) -> Any:
    p = s.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(p.stdout) if p.returncode == 0 else None


def apply(s: Server, *objs: dict[str, Any]) -> None:
    s.kubectl("apply", "-f", "-", input="\n".join(json.dumps(o) for o in objs))


def pv(name: str, size: str, cls: str, policy: str = "Retain", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {"disk": name}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": policy,
            "storageClassName": cls,
            "hostPath": {"path": f"/tmp/{name}"},
            **spec,
        },
    }


def pvc(name: str, size: str, cls: str | None = None, **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
        **spec,
    }
    if cls is not None:
        s["storageClassName"] = cls
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": s,
    }


def phase(s: Server, kind: str, name: str) -> str:
    obj = get_or_none(s, kind, name)
    return str(((obj or {}).get("status") or {}).get("phase") or "")


def test_default_storage_class_exists_and_is_applied(cluster: Server) -> None:
    sc = get_json(cluster, "storageclass", "local-path")
    assert sc["provisioner"] == "pinnace.io/local-path"
    assert sc["volumeBindingMode"] == "WaitForFirstConsumer"
    assert sc["reclaimPolicy"] == "Delete"
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    out = cluster.kubectl("get", "storageclass").stdout
    assert "local-path (default)" in out
    apply(cluster, pvc("defaulted", "1Gi"), pvc("classless", "1Gi", cls=""))
    assert get_json(cluster, "pvc", "defaulted")["spec"]["storageClassName"] == "local-path"
    assert get_json(cluster, "pvc", "classless")["spec"].get("storageClassName") == ""
    # no consumer yet: it waits; the class-less claim finds no volume
    wait_until("WaitForFirstConsumer event", lambda: "waiting for first consumer" in
               cluster.kubectl("describe", "pvc", "defaulted").stdout)  # fmt: skip
    wait_until("FailedBinding event", lambda: "no storage class is set" in
               cluster.kubectl("describe", "pvc", "classless").stdout)  # fmt: skip
    assert phase(cluster, "pvc", "defaulted") == "Pending"
    cluster.kubectl("delete", "pvc", "defaulted", "classless")


def test_static_volume_binds_smallest_fitting(cluster: Server) -> None:
    apply(
        cluster,
        pv("pv-small", "1Gi", "manual"),
        pv("pv-medium", "5Gi", "manual"),
        pv("pv-large", "10Gi", "manual"),
        pv("pv-other", "3Gi", "other"),
    )
    wait_until("volumes Available",
               lambda: phase(cluster, "pv", "pv-medium") == "Available")  # fmt: skip
    apply(cluster, pvc("claim-a", "2Gi", "manual"))
    wait_until("claim-a Bound", lambda: phase(cluster, "pvc", "claim-a") == "Bound")
    claim = get_json(cluster, "pvc", "claim-a")
    assert claim["spec"]["volumeName"] == "pv-medium"
    assert claim["status"]["capacity"] == {"storage": "5Gi"}
    assert claim["status"]["accessModes"] == ["ReadWriteOnce"]
    ann = claim["metadata"]["annotations"]
    assert ann["pv.kubernetes.io/bind-completed"] == "yes"
    assert ann["pv.kubernetes.io/bound-by-controller"] == "yes"
    wait_until("pv-medium Bound", lambda: phase(cluster, "pv", "pv-medium") == "Bound")
    vol = get_json(cluster, "pv", "pv-medium")
    ref = vol["spec"]["claimRef"]
    assert (ref["namespace"], ref["name"], ref["uid"]) == (
        "default", "claim-a", claim["metadata"]["uid"],
    )  # fmt: skip
    out = cluster.kubectl("get", "pv,pvc").stdout
    lines = out.splitlines()
    pv_header = next(line for line in lines if line.startswith("NAME") and "RECLAIM" in line)
    for col in ("CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS"):
        assert col in pv_header
    pv_line = next(line for line in lines if line.startswith("persistentvolume/pv-medium"))
    assert "Bound" in pv_line and "default/claim-a" in pv_line and "5Gi" in pv_line
    assert "RWO" in pv_line and "Retain" in pv_line and "manual" in pv_line
    pvc_line = next(l for l in lines if l.startswith("persistentvolumeclaim/claim-a"))  # noqa: E741
    assert "Bound" in pvc_line and "pv-medium" in pvc_line and "5Gi" in pvc_line
    small = next(line for line in lines if line.startswith("persistentvolume/pv-small"))
    assert "Available" in small

    # selector and volumeName pre-binding
    apply(
        cluster,
        pvc("claim-sel", "1Gi", "manual", selector={"matchLabels": {"disk": "pv-large"}}),
        pvc("claim-pre", "1Gi", "other", volumeName="pv-other"),
    )
    wait_until("claim-sel Bound", lambda: phase(cluster, "pvc", "claim-sel") == "Bound")
    assert get_json(cluster, "pvc", "claim-sel")["spec"]["volumeName"] == "pv-large"
    wait_until("claim-pre Bound", lambda: phase(cluster, "pvc", "claim-pre") == "Bound")
    pre = get_json(cluster, "pvc", "claim-pre")
    assert "pv.kubernetes.io/bound-by-controller" not in pre["metadata"]["annotations"]

    # Retain: the claim goes, the volume is Released and keeps its data (and claimRef)
    cluster.kubectl("delete", "pvc", "claim-a")
    wait_until("pv-medium Released", lambda: phase(cluster, "pv", "pv-medium") == "Released")
    assert "Released" in cluster.kubectl("get", "pv", "pv-medium").stdout

    # Delete policy on a hand-made volume: the volume goes with the claim
    apply(cluster, pv("pv-del", "1Gi", "gone", policy="Delete"), pvc("claim-del", "1Gi", "gone"))
    wait_until("claim-del Bound", lambda: phase(cluster, "pvc", "claim-del") == "Bound")
    cluster.kubectl("delete", "pvc", "claim-del")
    wait_until("pv-del deleted", lambda: get_or_none(cluster, "pv", "pv-del") is None)


def _pod(name: str, claim: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "containers": [{"name": "c", "image": "nginx:1.25"}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        },
    }


def test_wait_for_first_consumer_provisions_on_the_pods_node(cluster: Server) -> None:
    apply(cluster, pvc("wffc", "2Gi"))
    time.sleep(0.5)
    assert phase(cluster, "pvc", "wffc") == "Pending"
    assert not get_json(cluster, "pvc", "wffc")["spec"].get("volumeName")
    apply(cluster, _pod("consumer", "wffc"))
    node = wait_until(
        "consumer scheduled",
        lambda: get_json(cluster, "pod", "consumer")["spec"].get("nodeName"),
    )
    wait_until("wffc Bound", lambda: phase(cluster, "pvc", "wffc") == "Bound", timeout=30)
    claim = get_json(cluster, "pvc", "wffc")
    ann = claim["metadata"]["annotations"]
    assert ann["volume.kubernetes.io/selected-node"] == node
    assert ann["volume.kubernetes.io/storage-provisioner"] == "pinnace.io/local-path"
    uid = claim["metadata"]["uid"]
    assert claim["spec"]["volumeName"] == f"pvc-{uid}"
    vol = get_json(cluster, "pv", f"pvc-{uid}")
    assert vol["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == (
        "pinnace.io/local-path"
    )
    spec = vol["spec"]
    assert spec["hostPath"]["type"] == "DirectoryOrCreate"
    path = spec["hostPath"]["path"]
    assert path == str(cluster.data_dir / "storage" / f"pvc-{uid}_default_wffc")
    assert not Path(path).exists()  # a simulated node: recorded, not created
    term = spec["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]
    assert term == {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
    assert spec["persistentVolumeReclaimPolicy"] == "Delete"
    assert spec["capacity"] == {"storage": "2Gi"}
    assert spec["storageClassName"] == "local-path"
    wait_until("volume Bound", lambda: phase(cluster, "pv", f"pvc-{uid}") == "Bound")
    events = cluster.kubectl("describe", "pvc", "wffc").stdout
    assert "ProvisioningSucceeded" in events and "ExternalProvisioning" in events

    # Delete policy: the claim goes, then its provisioned volume
    cluster.kubectl("delete", "pod", "consumer", "--grace-period=0", "--force")
    cluster.kubectl("delete", "pvc", "wffc")
    wait_until("provisioned volume deleted",
               lambda: get_or_none(cluster, "pv", f"pvc-{uid}") is None)  # fmt: skip


def test_statefulset_claims_end_bound(cluster: Server) -> None:
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {
            "serviceName": "db",
            "replicas": 2,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
    }
    apply(cluster, sts)

    def bound() -> bool:
        return all(phase(cluster, "pvc", f"data-db-{i}") == "Bound" for i in range(2))

    wait_until("StatefulSet claims Bound", bound, timeout=40)
    for i in range(2):
        claim = get_json(cluster, "pvc", f"data-db-{i}")
        pod = get_json(cluster, "pod", f"db-{i}")
        assert claim["spec"]["storageClassName"] == "local-path"
        node = claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"]
        assert node == pod["spec"]["nodeName"]
    cluster.kubectl("delete", "sts", "db", "--wait=false")
