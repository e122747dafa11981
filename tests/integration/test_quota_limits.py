"""ResourceQuota, LimitRange, ServiceAccount admission and the root CA publisher,
driven by the real kubectl against a real ``pinnace server``: the quota controller
fills in status, a pod over quota is refused with upstream's message, ``kubectl
describe quota`` shows used/hard, deleting a pod gives its usage back,
LimitRange defaults land on a pod, and pods get the kube-api-access volume whose
ConfigMap the publisher keeps in every namespace."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from tests.cluster import Server

pytestmark = pytest.mark.kubectl

SERVER_ARGS = [
    "--controllers",
    "namespace,serviceaccount,resourcequota,root-ca-cert-publisher",
    "--disable",
    "scheduler",
]

T = TypeVar("T")


def wait_until(what: str, fn: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def get(s: Server, *args: str) -> dict[str, Any] | None:
    p = s.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(p.stdout) if p.returncode == 0 else None


def apply(s: Server, manifest: str) -> None:
    s.kubectl("apply", "-f", "-", input=textwrap.dedent(manifest))


def new_namespace(s: Server, name: str) -> None:
    s.kubectl("create", "namespace", name)
    # pods need the default ServiceAccount (the serviceaccount controller makes it)
    wait_until("default sa", lambda: get(s, "serviceaccount", "default", "-n", name))


def pod_manifest(name: str, namespace: str, resources: str = "") -> str:
    return f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: {name}, namespace: {namespace}}}
        spec:
          containers:
          - name: app
            image: busybox
            {resources}
        """


def test_quota_refuses_the_pod_over_it(server: Server) -> None:
    new_namespace(server, "quota-a")
    apply(
        server,
        """
        apiVersion: v1
        kind: ResourceQuota
        metadata: {name: compute, namespace: quota-a}
        spec:
          hard: {pods: "2", requests.cpu: "1", limits.cpu: "2"}
        """,
    )

    def used() -> dict[str, str] | None:
        q = get(server, "quota", "compute", "-n", "quota-a") or {}
        return (q.get("status") or {}).get("used")

    assert wait_until("quota status", used) == {"pods": "0", "requests.cpu": "0", "limits.cpu": "0"}
    # the quota limits cpu: a container that states none is refused
    p = server.kubectl(
        "apply", "-f", "-", input=textwrap.dedent(pod_manifest("bare", "quota-a")), check=False
    )
    assert p.returncode != 0
    assert (
        'pods "bare" is forbidden: failed quota: compute: must specify limits.cpu for: app; '
        "requests.cpu for: app" in p.stderr
    )
    res = "resources: {requests: {cpu: 300m}, limits: {cpu: 500m}}"
    for name in ("p1", "p2"):
        apply(server, pod_manifest(name, "quota-a", res))
    p = server.kubectl(
        "apply", "-f", "-", input=textwrap.dedent(pod_manifest("p3", "quota-a", res)), check=False
    )
    assert p.returncode != 0
    assert (
        'Error from server (Forbidden): error when creating "STDIN": pods "p3" is forbidden: '
        "exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2" in p.stderr
    )
    out = server.kubectl("describe", "quota", "compute", "-n", "quota-a").stdout
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "Resource Used Hard" in lines
    assert "limits.cpu 1 2" in lines
    assert "pods 2 2" in lines
    assert "requests.cpu 600m 1" in lines
    # deleting a pod gives its share back (the controller recounts)
    server.kubectl(
        "delete", "pod", "p1", "-n", "quota-a", "--grace-period=0", "--force", "--wait=false"
    )
    wait_until("usage released", lambda: (used() or {}).get("pods") == "1")
    apply(server, pod_manifest("p3", "quota-a", res))


def test_limit_range_defaults_and_bounds(server: Server) -> None:
    new_namespace(server, "limits-a")
    apply(
        server,
        """
        apiVersion: v1
        kind: LimitRange
        metadata: {name: defaults, namespace: limits-a}
        spec:
          limits:
          - type: Container
            default: {cpu: 500m, memory: 256Mi}
            defaultRequest: {cpu: 100m, memory: 128Mi}
            min: {cpu: 50m}
            max: {memory: 1Gi}
        """,
    )
    apply(server, pod_manifest("web", "limits-a"))
    pod = get(server, "pod", "web", "-n", "limits-a")
    assert pod is not None
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "256Mi"},
        "requests": {"cpu": "100m", "memory": "128Mi"},
    }
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container app; "
        "cpu, memory limit for container app"
    )
    big = "resources: {requests: {cpu: 10m}, limits: {memory: 2Gi}}"
    p = server.kubectl(
        "apply", "-f", "-", input=textwrap.dedent(pod_manifest("big", "limits-a", big)), check=False
    )
    assert p.returncode != 0
    assert (
        'pods "big" is forbidden: [minimum cpu usage per Container is 50m, but request is 10m, '
        "maximum memory usage per Container is 1Gi, but limit is 2Gi]" in p.stderr
    )


def test_service_account_volume_and_root_ca(server: Server) -> None:
    new_namespace(server, "sa-a")
    cm = wait_until(
        "kube-root-ca.crt", lambda: get(server, "configmap", "kube-root-ca.crt", "-n", "sa-a")
    )
    assert cm["data"]["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
    assert "kubernetes.io/description" in cm["metadata"]["annotations"]
    # an edited copy is put back
    server.kubectl(
        "patch",
        "configmap",
        "kube-root-ca.crt",
        "-n",
        "sa-a",
        "--type=merge",
        "-p",
        '{"data": {"ca.crt": "junk"}}',
    )
    wait_until(
        "ca.crt restored",
        lambda: (
            (get(server, "configmap", "kube-root-ca.crt", "-n", "sa-a") or {})
            .get("data", {})
            .get("ca.crt", "")
            .startswith("-----BEGIN")
        ),
    )
    apply(server, pod_manifest("app", "sa-a"))
    pod = get(server, "pod", "app", "-n", "sa-a")
    assert pod is not None
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "default"
    (vol,) = spec["volumes"]
    assert (
        vol["name"].startswith("kube-api-access-")
        and len(vol["name"]) == len("kube-api-access-") + 5
    )
    sources = vol["projected"]["sources"]
    assert sources[0]["serviceAccountToken"] == {"expirationSeconds": 3607, "path": "token"}
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    assert spec["containers"][0]["volumeMounts"] == [
        {
            "name": vol["name"],
            "readOnly": True,
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
        }
    ]
    p = server.kubectl(
        "run", "ghost", "-n", "sa-a", "--image=busybox", "--overrides",
        '{"spec": {"serviceAccountName": "ghost"}}', check=False,
    )  # fmt: skip
    assert p.returncode != 0
    assert (
        'pods "ghost" is forbidden: error looking up service account sa-a/ghost: '
        'serviceaccount "ghost" not found' in p.stderr
    )
