"""Service account tokens in a real pod (issue 7): the ServiceAccount
admission plugin mounts ``kube-api-access-*`` (a projected token bound to
the pod, ``kube-root-ca.crt`` and the namespace), the kubelet fills it
through TokenRequest, the token authenticates as the pod's service account
from inside the pod, and stops working once the pod is deleted.

The pod reaches the API server as in-cluster clients do: through the
``kubernetes`` Service (``KUBERNETES_SERVICE_HOST``, 10.96.0.1:443), which
kube-proxy sends on to the API server's loopback address on this machine,
checking the serving certificate against the mounted ``ca.crt``."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.node_cluster import NodeCluster

pytestmark = [pytest.mark.node, pytest.mark.slow]

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

POD = """
apiVersion: v1
kind: Pod
metadata: {name: tok}
spec:
  serviceAccountName: reader
  containers:
  - name: app
    image: busybox
    command: ["sleep", "3600"]
  - name: py
    image: python:3.11
    command: ["python3", "-c", "import time; time.sleep(3600)"]
"""

# run in the pod's python container: a SelfSubjectReview with the mounted token
# through the kubernetes Service, as an in-cluster client does (busybox's wget
# cannot do the TLS the API server speaks)
WHOAMI = """
import json, os, ssl, urllib.request
d = "/var/run/secrets/kubernetes.io/serviceaccount"
ctx = ssl.create_default_context(cafile=d + "/ca.crt")
host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
token = open(d + "/token").read()
body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
req = urllib.request.Request(
    f"https://{host}:{port}/apis/authentication.k8s.io/v1/selfsubjectreviews", data=body.encode(),
    headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
print(urllib.request.urlopen(req, context=ctx, timeout=20).read().decode())
"""


def _running(pod: dict[str, Any]) -> bool:
    return pod.get("status", {}).get("phase") == "Running"


@pytest.fixture(scope="module")
def token_pod(node_cluster: NodeCluster) -> Iterator[dict[str, Any]]:
    node_cluster.kubectl("create", "serviceaccount", "reader")
    node_cluster.kubectl("apply", "-f", "-", input=POD)
    yield node_cluster.wait_pod("tok", _running, timeout=120)


def test_pod_gets_the_projected_service_account_volume(
    node_cluster: NodeCluster, token_pod: dict[str, Any]
) -> None:
    vols = [v for v in token_pod["spec"]["volumes"] if v["name"].startswith("kube-api-access-")]
    assert len(vols) == 1
    sources = vols[0]["projected"]["sources"]
    assert sources[0]["serviceAccountToken"]["expirationSeconds"] == 3607
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    out = node_cluster.kubectl("exec", "tok", "-c", "app", "--", "ls", SA_DIR).stdout.split()
    assert sorted(out) == ["ca.crt", "namespace", "token"]
    ns = node_cluster.kubectl("exec", "tok", "-c", "app", "--", "cat", f"{SA_DIR}/namespace").stdout
    assert ns == "default"


def test_token_authenticates_from_inside_the_pod_until_the_pod_is_deleted(
    node_cluster: NodeCluster, token_pod: dict[str, Any]
) -> None:
    p = node_cluster.kubectl("exec", "tok", "-c", "py", "--", "python3", "-c", WHOAMI)
    info = json.loads(p.stdout)["status"]["userInfo"]
    assert info["username"] == "system:serviceaccount:default:reader"
    assert "system:serviceaccounts:default" in info["groups"]
    assert info["extra"]["authentication.kubernetes.io/pod-name"] == ["tok"]

    token = node_cluster.kubectl("exec", "tok", "-c", "app", "--", "cat", f"{SA_DIR}/token").stdout
    token = token.strip()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    def status() -> int:
        req = urllib.request.Request(
            f"https://127.0.0.1:{node_cluster.port}/api",
            headers={"Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)

    assert status() == 200
    node_cluster.kubectl("delete", "pod", "tok", "--wait=true", "--timeout=90s")
    deadline = time.monotonic() + 30
    code = status()
    while code != 401 and time.monotonic() < deadline:
        time.sleep(0.3)
        code = status()
    assert code == 401
