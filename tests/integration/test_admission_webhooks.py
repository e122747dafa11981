"""Dynamic admission webhooks end to end: an in-process API server (with the
webhook plugins in its admission chain) calls a small HTTPS webhook server
this test runs on 127.0.0.1, which mutates (adds a label) and denies (objects
labelled ``deny=true``); failurePolicy Fail vs Ignore when a webhook is down;
the real kubectl shows the refusal."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from pinnace.apiserver.admission.webhook import MutatingWebhooks, ValidatingWebhooks
from pinnace.apiserver.admission.webhook.client import WebhookClient
from pinnace.apiserver.certs import ADMIN_USER, Pki, ensure_pki
from pinnace.apiserver.config import ServerConfig
from pinnace.apiserver.server import ApiServer, serve
from pinnace.apiserver.tls import server_ssl_context
from tests.cluster import free_port

Obj = dict[str, Any]
KUBECTL = os.environ.get("KUBECTL", "/usr/bin/kubectl")
G = "admissionregistration.k8s.io"


@dataclass
class Cluster:
    server: ApiServer
    config: ServerConfig
    http: aiohttp.ClientSession
    base: str
    home: Path

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"}
        async with self.http.request(method, self.base + path, data=data, headers=headers) as r:
            return r.status, orjson.loads(await r.read())

    async def kubectl(self, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.config.admin_kubeconfig),
            "KUBECACHEDIR": str(self.home / "kubecache"),
            "HOME": str(self.home),
        }
        env.pop("KUBERNETES_SERVICE_HOST", None)
        proc = await asyncio.create_subprocess_exec(
            KUBECTL,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), 60)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()


def _configs(server: ApiServer, plural: str) -> list[Obj]:
    store = server.stores.get((G, "v1", plural))
    return store.cache.list_objects() if store is not None else []


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    config = ServerConfig(data_dir=tmp_path / "data", port=free_port())
    out: list[ApiServer] = []
    ready = asyncio.Event()
    task = asyncio.create_task(serve(config, ready=ready, server_out=out))
    client = WebhookClient()
    try:
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({task, waiter}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            task.result()  # raises what stopped the server
        assert ready.is_set(), "the API server did not become ready"
        server = out[0]
        server.admission.mutating.append(
            MutatingWebhooks(
                lambda: _configs(server, "mutatingwebhookconfigurations"),
                server._get_namespace,
                client,
            )
        )
        server.admission.validating.append(
            ValidatingWebhooks(
                lambda: _configs(server, "validatingwebhookconfigurations"),
                server._get_namespace,
                client,
            )
        )
        pki = Pki.at(config.pki_dir)
        ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
        ctx.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as http:
            yield Cluster(server, config, http, f"https://127.0.0.1:{config.port}", tmp_path)
    finally:
        await client.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass
class Webhook:
    url: str
    ca_bundle: str
    calls: list[Obj]


def _answer(review: Obj, **response: Any) -> web.Response:
    body = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": review["request"]["uid"], **response},
    }
    return web.json_response(body)


@pytest.fixture
async def webhook(tmp_path: Path) -> AsyncIterator[Webhook]:
    """A webhook server: /mutate adds the label ``webhook=mutated``, /validate
    refuses objects labelled ``deny=true``."""
    pki = ensure_pki(tmp_path / "webhook-pki", hosts=["127.0.0.1"])
    calls: list[Obj] = []

    async def mutate(request: web.Request) -> web.Response:
        review = await request.json()
        calls.append({"path": "/mutate", "query": dict(request.query), **review["request"]})
        obj = review["request"]["object"]
        ops: list[Obj] = []
        if not obj["metadata"].get("labels"):
            ops.append({"op": "add", "path": "/metadata/labels", "value": {}})
        ops.append({"op": "add", "path": "/metadata/labels/webhook", "value": "mutated"})
        patch = base64.b64encode(orjson.dumps(ops)).decode()
        return _answer(review, allowed=True, patchType="JSONPatch", patch=patch)

    async def validate(request: web.Request) -> web.Response:
        review = await request.json()
        calls.append({"path": "/validate", **review["request"]})
        labels = (review["request"]["object"] or {}).get("metadata", {}).get("labels") or {}
        if labels.get("deny") == "true":
            status = {"code": 403, "reason": "Forbidden", "message": "label deny=true is refused"}
            return _answer(review, allowed=False, status=status)
        return _answer(review, allowed=True, warnings=["checked by the test webhook"])

    app = web.Application()
    app.router.add_post("/mutate", mutate)
    app.router.add_post("/validate", validate)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_ssl_context(pki))
    await site.start()
    try:
        yield Webhook(f"https://127.0.0.1:{port}", base64.b64encode(pki.ca_pem()).decode(), calls)
    finally:
        await runner.cleanup()


def configuration(kind: str, name: str, url: str, ca: str, **hook: Any) -> Obj:
    h: Obj = {
        "name": f"{name}.pinnace.test",
        "clientConfig": {"url": url, "caBundle": ca},
        "rules": [
            {
                "operations": ["CREATE", "UPDATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["configmaps"],
            }
        ],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "namespaceSelector": {"matchLabels": {"webhooks": "on"}},
    }
    h.update(hook)
    return {"apiVersion": f"{G}/v1", "kind": kind, "metadata": {"name": name}, "webhooks": [h]}


async def _setup(c: Cluster, wh: Webhook, **hook: Any) -> None:
    for ns, labels in (("hooked", {"webhooks": "on"}), ("plain", {})):
        st, body = await c.request(
            "POST", "/api/v1/namespaces", {"metadata": {"name": ns, "labels": labels}}
        )
        assert st == 201, body
    for kind, plural, path in (
        ("MutatingWebhookConfiguration", "mutatingwebhookconfigurations", "/mutate"),
        ("ValidatingWebhookConfiguration", "validatingwebhookconfigurations", "/validate"),
    ):
        cfg = configuration(kind, path[1:], wh.url + path, wh.ca_bundle, **hook)
        st, body = await c.request("POST", f"/apis/{G}/v1/{plural}", cfg)
        assert st == 201, body


def cm(name: str, **labels: str) -> Obj:
    return {"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}


async def test_webhooks_mutate_and_deny(cluster: Cluster, webhook: Webhook) -> None:
    await _setup(cluster, webhook)
    st, body = await cluster.request("POST", "/api/v1/namespaces/hooked/configmaps", cm("a"))
    assert st == 201, body
    assert body["metadata"]["labels"] == {"webhook": "mutated"}
    mutate_call = next(c for c in webhook.calls if c["path"] == "/mutate")
    assert mutate_call["query"] == {"timeout": "10s"}
    assert mutate_call["operation"] == "CREATE" and mutate_call["namespace"] == "hooked"
    assert mutate_call["userInfo"]["username"] == ADMIN_USER
    # the validating webhook saw the mutated object
    validate_call = next(c for c in webhook.calls if c["path"] == "/validate")
    assert validate_call["object"]["metadata"]["labels"] == {"webhook": "mutated"}

    st, body = await cluster.request(
        "POST", "/api/v1/namespaces/hooked/configmaps", cm("b", deny="true")
    )
    assert (st, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        'admission webhook "validate.pinnace.test" denied the request: label deny=true is refused'
    )
    st, _ = await cluster.request("GET", "/api/v1/namespaces/hooked/configmaps/b")
    assert st == 404

    # the namespace selector keeps the webhooks out of other namespaces
    calls = len(webhook.calls)
    st, body = await cluster.request(
        "POST", "/api/v1/namespaces/plain/configmaps", cm("c", deny="true")
    )
    assert st == 201, body
    assert body["metadata"]["labels"] == {"deny": "true"}
    assert len(webhook.calls) == calls

    # webhook configurations are listed with upstream's columns
    code, out, err = await cluster.kubectl("get", "validatingwebhookconfigurations")
    assert code == 0, err
    assert out.split("\n")[0].split() == ["NAME", "WEBHOOKS", "AGE"]
    assert out.split("\n")[1].split()[:2] == ["validate", "1"]


@pytest.mark.kubectl
async def test_kubectl_shows_the_refusal(cluster: Cluster, webhook: Webhook) -> None:
    await _setup(cluster, webhook)
    manifest = orjson.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", **cm("denied", deny="true")}
    ).decode()
    code, out, err = await cluster.kubectl("apply", "-n", "hooked", "-f", "-", stdin=manifest)
    assert code != 0
    assert (
        'admission webhook "validate.pinnace.test" denied the request: label deny=true is refused'
        in err
    )
    code, out, err = await cluster.kubectl(
        "create", "configmap", "ok", "-n", "hooked", "--from-literal=k=v"
    )
    assert code == 0, err
    assert "Warning: checked by the test webhook" in err
    code, out, err = await cluster.kubectl(
        "get", "cm", "ok", "-n", "hooked", "-o", "jsonpath={.metadata.labels.webhook}"
    )
    assert (code, out) == (0, "mutated"), err


@pytest.mark.parametrize("policy", ["Fail", "Ignore"])
async def test_failure_policy_when_the_webhook_is_down(
    cluster: Cluster, webhook: Webhook, policy: str
) -> None:
    down = f"https://127.0.0.1:{free_port()}"  # nothing listens there
    await _setup(cluster, Webhook(down, webhook.ca_bundle, []), failurePolicy=policy)
    st, body = await cluster.request("POST", "/api/v1/namespaces/hooked/configmaps", cm("x"))
    if policy == "Ignore":
        assert st == 201, body
        assert body["metadata"].get("labels") in (None, {})
        return
    assert (st, body["reason"]) == (500, "InternalError")
    assert body["message"].startswith(
        'Internal error occurred: failed calling webhook "mutate.pinnace.test": '
        f'failed to call webhook: Post "{down}/mutate?timeout=10s": dial tcp '
    )
    assert body["message"].endswith("connect: connection refused")
    # the configuration itself can still be fixed: it is never sent to webhooks
    st, body = await cluster.request("DELETE", f"/apis/{G}/v1/mutatingwebhookconfigurations/mutate")
    assert st == 200, body
    st, body = await cluster.request(
        "DELETE", f"/apis/{G}/v1/validatingwebhookconfigurations/validate"
    )
    assert st == 200, body
    st, body = await cluster.request("POST", "/api/v1/namespaces/hooked/configmaps", cm("x"))
    assert st == 201, body


async def test_invalid_configuration_is_422(cluster: Cluster) -> None:
    cfg = configuration(
        "ValidatingWebhookConfiguration", "bad", "http://127.0.0.1:1/", "", timeoutSeconds=40
    )
    cfg["webhooks"][0]["name"] = "bad.name"
    st, body = await cluster.request("POST", f"/apis/{G}/v1/validatingwebhookconfigurations", cfg)
    assert (st, body["reason"]) == (422, "Invalid")
    fields = [c["field"] for c in body["details"]["causes"]]
    assert fields == [
        "webhooks[0].name",
        "webhooks[0].timeoutSeconds",
        "webhooks[0].clientConfig.url",
    ]
