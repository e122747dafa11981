"""Service account tokens in a real pod (issue 7): the ServiceAccount
admission plugin mounts ``kube-api-access-*`` (a projected token bound to
the pod, ``kube-root-ca.crt`` and the namespace), the kubelet fills it
through TokenRequest, the token authenticates as the pod's service account
from inside the pod, and stops working once the pod is deleted.

The pod reaches the API server (which listens on 127.0.0.1 in tests) through
a small TCP relay this test runs on the pod bridge's gateway address: the
pod's traffic goes to a bridge of this machine and on to loopback only."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import ssl
import threading
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
# (busybox's wget cannot do the TLS the API server speaks)
WHOAMI = """
import json, ssl, sys, urllib.request
d = "/var/run/secrets/kubernetes.io/serviceaccount"
ctx = ssl.create_default_context(cafile=d + "/ca.crt")
ctx.check_hostname = False  # the relay's address is not in the serving certificate
token = open(d + "/token").read()
body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
req = urllib.request.Request(
    sys.argv[1] + "/apis/authentication.k8s.io/v1/selfsubjectreviews", data=body.encode(),
    headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
print(urllib.request.urlopen(req, context=ctx, timeout=20).read().decode())
"""


class Relay:
    """Forwards TCP connections from (host, port) to 127.0.0.1:target, in a thread."""

    def __init__(self, host: str, target: int) -> None:
        self.host, self.target = host, target
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            with contextlib.suppress(Exception):
                w.close()

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.target)
            await asyncio.gather(pipe(r, uw), pipe(ur, w))

        async def main() -> None:
            server = await asyncio.start_server(handle, self.host, 0)
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            async with server:
                await server.serve_forever()

        with contextlib.suppress(asyncio.CancelledError, RuntimeError):
            self.loop.run_until_complete(main())

    def __enter__(self) -> Relay:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        for task in asyncio.all_tasks(self.loop):
            self.loop.call_soon_threadsafe(task.cancel)
        self.thread.join(10)


def _gateway(cluster: NodeCluster) -> str:
    cidr = cluster.extra_args[cluster.extra_args.index("--pod-cidr") + 1]
    return str(next(ipaddress.ip_network(cidr).hosts()))


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
    with Relay(_gateway(node_cluster), node_cluster.port) as relay:
        url = f"https://{relay.host}:{relay.port}"
        p = node_cluster.kubectl("exec", "tok", "-c", "py", "--", "python3", "-c", WHOAMI, url)
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
