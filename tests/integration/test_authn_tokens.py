"""Token authentication against a real in-process API server: TokenRequest
from the real kubectl and from the kubelet's projected-token cache, the token
used as a bearer (identity via SelfSubjectReview and TokenReview), the token
dying with its bound pod, and static-file and bootstrap tokens.

The server runs in this test's event loop (``serve``); kubectl runs as an
asyncio subprocess so the loop keeps serving while it waits."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest

from pinnace.apiserver import tokenrequest
from pinnace.apiserver.certs import Pki
from pinnace.apiserver.config import ServerConfig
from pinnace.apiserver.server import ApiServer, serve
from pinnace.client.rest import Client
from pinnace.client.transport import AiohttpTransport
from pinnace.kubelet.volumes.projection import TokenCache

KUBECTL = os.environ.get("KUBECTL", "/usr/bin/kubectl")
ISSUER = "https://kubernetes.default.svc.cluster.local"
WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
REVIEW = "/apis/authentication.k8s.io/v1/tokenreviews"


@dataclass
class Cluster:
    server: ApiServer
    url: str
    config: ServerConfig
    admin: ssl.SSLContext  # client certificate of system:masters
    plain: ssl.SSLContext  # trusts the CA, no client certificate
    session: aiohttp.ClientSession
    tmp: Path

    async def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        ctx = self.plain if token is not None else self.admin
        async with self.session.request(
            method, self.url + path, json=body, ssl=ctx, headers=headers
        ) as r:
            ctype = r.headers.get("Content-Type", "")
            return r.status, (await r.json()) if "json" in ctype else await r.text()

    async def kubectl(self, *args: str) -> tuple[int, str, str]:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.config.admin_kubeconfig),
            "KUBECACHEDIR": str(self.tmp / "kubecache"),
            "HOME": str(self.tmp),
        }
        env.pop("KUBERNETES_SERVICE_HOST", None)
        p = await asyncio.create_subprocess_exec(
            KUBECTL,
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(p.communicate(), 60)
        finally:
            if p.returncode is None:
                p.kill()
                await p.wait()
        return int(p.returncode or 0), out.decode(), err.decode()

    async def whoami(self, token: str) -> tuple[int, Any]:
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        return await self.request("POST", WHOAMI, body, token=token)

    async def token_review(self, token: str) -> dict[str, Any]:
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }
        status, out = await self.request("POST", REVIEW, body)
        assert status == 201, out
        return dict(out["status"])


@pytest.fixture
async def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Cluster]:
    monkeypatch.setenv("PINNACE_LOCAL_PATH_DIR", str(tmp_path / "storage"))
    thresholds = gc.get_threshold()
    (tmp_path / "tokens.csv").write_text('static-token-1,carol,c-1,"dev,ops"\n')
    config = ServerConfig(
        data_dir=tmp_path / "data",
        port=0,
        authorization_mode="AlwaysAllow",
        token_auth_file=str(tmp_path / "tokens.csv"),
    )
    ready = asyncio.Event()
    out: list[ApiServer] = []
    task = asyncio.create_task(serve(config, ready=ready, server_out=out))
    try:
        async with asyncio.timeout(60):
            done, _ = await asyncio.wait(
                [task, asyncio.create_task(ready.wait())], return_when=asyncio.FIRST_COMPLETED
            )
        if task in done:
            task.result()
        server = out[0]
        # the wiring serve() will do (see the report): token authenticators + TokenReview
        if getattr(server, "service_account_tokens", None) is None:
            tokenrequest.install(server)
        pki = Pki.at(config.pki_dir)
        admin = ssl.create_default_context(cafile=str(pki.ca_cert))
        admin.load_cert_chain(pki.admin_cert, pki.admin_key)
        plain = ssl.create_default_context(cafile=str(pki.ca_cert))
        async with aiohttp.ClientSession() as session:
            yield Cluster(
                server, f"https://127.0.0.1:{config.port}", config, admin, plain, session, tmp_path
            )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        gc.unfreeze()
        gc.set_threshold(*thresholds)


async def _create(c: Cluster, path: str, obj: dict[str, Any]) -> dict[str, Any]:
    status, body = await c.request("POST", path, obj)
    assert status == 201, body
    return dict(body)


async def _service_account_and_pod(c: Cluster) -> tuple[dict[str, Any], dict[str, Any]]:
    sa = await _create(
        c,
        "/api/v1/namespaces/default/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "builder"}},
    )
    pod = await _create(
        c,
        "/api/v1/namespaces/default/pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {
                "serviceAccountName": "builder",
                "containers": [{"name": "c", "image": "busybox"}],
            },
        },
    )
    return sa, pod


async def _until_status(c: Cluster, token: str, want: int) -> int:
    """GET /api with the token until it answers ``want`` (the watch cache
    sees a deletion a moment after the write)."""
    status = 0
    for _ in range(200):
        status, _ = await c.request("GET", "/api", token=token)
        if status == want:
            break
        await asyncio.sleep(0.05)
    return status


@pytest.mark.kubectl
async def test_kubectl_create_token_bound_to_a_pod(cluster: Cluster) -> None:
    c = cluster
    sa, pod = await _service_account_and_pod(c)
    rc, out, err = await c.kubectl(
        "create", "token", "builder", "-n", "default", "--duration=10m",
        "--bound-object-kind", "Pod", "--bound-object-name", "p",
    )  # fmt: skip
    assert rc == 0, err
    token = out.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == ISSUER and claims["aud"] == [ISSUER]
    assert claims["exp"] - claims["iat"] == 600
    assert claims["kubernetes.io"]["pod"] == {"name": "p", "uid": pod["metadata"]["uid"]}

    status, _ = await c.request("GET", "/api", token=token)
    assert status == 200
    status, me = await c.whoami(token)
    assert status == 201, me
    info = me["status"]["userInfo"]
    assert info["username"] == "system:serviceaccount:default:builder"
    assert info["uid"] == sa["metadata"]["uid"]
    assert info["groups"] == [
        "system:serviceaccounts",
        "system:serviceaccounts:default",
        "system:authenticated",
    ]
    assert info["extra"]["authentication.kubernetes.io/pod-name"] == ["p"]
    assert info["extra"]["authentication.kubernetes.io/credential-id"] == ["JTI=" + claims["jti"]]
    review = await c.token_review(token)
    assert review["authenticated"] is True
    assert review["user"]["username"] == "system:serviceaccount:default:builder"
    assert review["audiences"] == [ISSUER]

    # too short a lifetime: upstream's 422, as kubectl prints it
    rc, _, err = await c.kubectl("create", "token", "builder", "--duration=1m")
    assert rc != 0
    assert (
        'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: '
        "Invalid value: 60: may not specify a duration less than 10 minutes"
    ) in err

    # the token dies with its pod
    status, _ = await c.request(
        "DELETE", "/api/v1/namespaces/default/pods/p", {"gracePeriodSeconds": 0}
    )
    assert status == 200
    assert await _until_status(c, token, 401) == 401
    review = await c.token_review(token)
    assert review == {"user": {}, "error": "service account token has been invalidated"}


async def test_token_request_errors(cluster: Cluster) -> None:
    c = cluster
    await _service_account_and_pod(c)
    path = "/api/v1/namespaces/default/serviceaccounts/{}/token"
    body: dict[str, Any] = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest"}
    status, out = await c.request("POST", path.format("ghost"), {**body, "spec": {}})
    assert (status, out["message"]) == (404, 'serviceaccounts "ghost" not found')
    ref = {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "not-the-uid"}
    status, out = await c.request(
        "POST", path.format("builder"), {**body, "spec": {"boundObjectRef": ref}}
    )
    assert status == 409
    assert out["message"] == (
        'Operation cannot be fulfilled on Pod "p": the UID in the bound object reference '
        "(not-the-uid) does not match the UID in record. The object might have been deleted "
        "and then recreated"
    )
    ref = {"apiVersion": "v1", "kind": "Pod", "name": "nope"}
    status, out = await c.request(
        "POST", path.format("builder"), {**body, "spec": {"boundObjectRef": ref}}
    )
    assert (status, out["message"]) == (404, 'pods "nope" not found')
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"}
    status, out = await c.request(
        "POST", path.format("builder"), {**body, "spec": {"boundObjectRef": ref}}
    )
    assert (status, out["message"]) == (
        400,
        "cannot bind token to object of type apps/v1, Kind=Deployment",
    )
    await _create(
        c,
        "/api/v1/namespaces/default/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "other"}},
    )
    ref = {"apiVersion": "v1", "kind": "Pod", "name": "p"}
    status, out = await c.request(
        "POST", path.format("other"), {**body, "spec": {"boundObjectRef": ref}}
    )
    assert (status, out["message"]) == (
        400,
        'cannot bind token for serviceaccount "other" to pod running with different '
        "serviceaccount name.",
    )
    # garbage and unknown tokens: 401 for requests, upstream's text in a review
    status, _ = await c.request("GET", "/api", token="garbage")
    assert status == 401
    assert await c.token_review("garbage") == {"user": {}, "error": "invalid bearer token"}


async def test_kubelet_projected_token_path(cluster: Cluster) -> None:
    """The kubelet's TokenCache asks for a pod-bound token of 3607 s, as the
    projected volume of the default service account token does: the answer is
    a token valid for a year that warns after the hour, bound to the pod."""
    c = cluster
    sa, pod = await _service_account_and_pod(c)
    cfg = c.server.loopback_client_config(
        c.url, c.server.ca_pem, "system:node:n1", ("system:nodes",)
    )
    client = Client(AiohttpTransport(cfg), qps=0)
    try:
        token = await TokenCache(client).get(pod, "builder", "", 3607)
    finally:
        await client.close()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["kubernetes.io"]["warnafter"] == claims["iat"] + 3607
    assert claims["exp"] - claims["iat"] == 365 * 24 * 3600
    status, me = await c.whoami(token)
    assert status == 201, me
    assert me["status"]["userInfo"]["uid"] == sa["metadata"]["uid"]
    assert me["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-uid"] == [
        pod["metadata"]["uid"]
    ]


async def test_static_and_bootstrap_tokens(cluster: Cluster) -> None:
    c = cluster
    status, me = await c.whoami("static-token-1")
    assert status == 201, me
    assert me["status"]["userInfo"] == {
        "username": "carol",
        "uid": "c-1",
        "groups": ["dev", "ops", "system:authenticated"],
    }
    data = {
        "token-id": "abcdef",
        "token-secret": "0123456789abcdef",
        "usage-bootstrap-authentication": "true",
        "auth-extra-groups": "system:bootstrappers:worker",
    }
    await _create(
        c,
        "/api/v1/namespaces/kube-system/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "bootstrap-token-abcdef"},
            "type": "bootstrap.kubernetes.io/token",
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        },
    )
    token = "abcdef.0123456789abcdef"
    assert await _until_status(c, token, 200) == 200
    status, me = await c.whoami(token)
    assert status == 201, me
    assert me["status"]["userInfo"]["username"] == "system:bootstrap:abcdef"
    assert me["status"]["userInfo"]["groups"] == [
        "system:bootstrappers",
        "system:bootstrappers:worker",
        "system:authenticated",
    ]
    status, _ = await c.request("GET", "/api", token="abcdef.ffffffffffffffff")
    assert status == 401
