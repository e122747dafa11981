"""The audit log against a real in-process API server: what the real kubectl
does shows up at the level the policy gives it, a bad token leaves a 401
record, and the log rotates by size keeping ``--audit-log-maxbackup`` files.

The server runs in this test's event loop (``serve``); kubectl runs as an
asyncio subprocess so the loop keeps serving while it waits.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import os
import re
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from pinnace.apiserver.certs import Pki
from pinnace.apiserver.config import ServerConfig
from pinnace.apiserver.server import ApiServer, serve

KUBECTL = os.environ.get("KUBECTL", "/usr/bin/kubectl")
POLICY = """
apiVersion: audit.k8s.io/v1
kind: Policy
omitManagedFields: true
rules:
  - level: None
    nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", "/version", "/openapi*", "/api",
                      "/api/*", "/apis", "/apis/*"]
  - level: Metadata
    resources: [{group: "", resources: ["secrets"]}]
  - level: RequestResponse
    resources: [{group: "", resources: ["configmaps"]}]
  - level: Metadata
"""


@contextlib.asynccontextmanager
async def running(config: ServerConfig) -> AsyncIterator[ApiServer]:
    """``serve(config)`` in this loop until the block ends (the audit log is
    flushed and closed when it returns)."""
    thresholds = gc.get_threshold()
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
        yield out[0]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def make_config(tmp_path: Path, **audit: Any) -> ServerConfig:
    (tmp_path / "policy.yaml").write_text(POLICY)
    return ServerConfig(
        data_dir=tmp_path / "data",
        port=0,
        authorization_mode="AlwaysAllow",
        audit_policy_file=str(tmp_path / "policy.yaml"),
        audit_log_path=str(tmp_path / "audit" / "audit.log"),
        **audit,
    )


async def kubectl(config: ServerConfig, tmp: Path, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "KUBECONFIG": str(config.admin_kubeconfig),
        "KUBECACHEDIR": str(tmp / "kubecache"),
        "HOME": str(tmp),
    }
    env.pop("KUBERNETES_SERVICE_HOST", None)
    p = await asyncio.create_subprocess_exec(
        KUBECTL, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(p.communicate(), 60)
    finally:
        if p.returncode is None:
            p.kill()
            await p.wait()
    return int(p.returncode or 0), out.decode(), err.decode()


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


async def wait_events(
    path: Path, want: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The log's events once ``want`` holds (the writer thread is behind the
    response by a moment); fails after 30 s."""
    async with asyncio.timeout(30):
        while True:
            events = read_events(path)
            if want(events):
                return events
            await asyncio.sleep(0.05)


def tls(config: ServerConfig, *, client_cert: bool) -> ssl.SSLContext:
    pki = Pki.at(config.pki_dir)
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    if client_cert:
        ctx.load_cert_chain(pki.admin_cert, pki.admin_key)
    return ctx


@pytest.mark.kubectl
async def test_kubectl_requests_are_audited_at_their_level(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    log_path = tmp_path / "audit" / "audit.log"
    async with running(config):
        rc, _, err = await kubectl(
            config, tmp_path, "create", "secret", "generic", "s1",
            "--from-literal=password=hunter2-sekrit",
        )  # fmt: skip
        assert rc == 0, err
        rc, _, err = await kubectl(
            config, tmp_path, "create", "configmap", "c1", "--from-literal=colour=teal-green"
        )
        assert rc == 0, err

        def created(resource: str) -> Callable[[list[dict[str, Any]]], bool]:
            return lambda evs: any(
                e["verb"] == "create"
                and e["stage"] == "ResponseComplete"
                and e.get("objectRef", {}).get("resource") == resource
                for e in evs
            )

        await wait_events(log_path, created("secrets"))
        events = await wait_events(log_path, created("configmaps"))

    text = log_path.read_text()
    assert "hunter2-sekrit" not in text
    assert base64.b64encode(b"hunter2-sekrit").decode() not in text
    assert not any(e.get("requestURI") == "/version" for e in events)  # level None

    secret = [e for e in events if e.get("objectRef", {}).get("resource") == "secrets"]
    assert [e["stage"] for e in secret] == ["RequestReceived", "ResponseComplete"]
    done = secret[-1]
    assert done["level"] == "Metadata"
    assert done["verb"] == "create"
    assert done["user"]["username"] == "system:admin"
    assert "system:masters" in done["user"]["groups"]
    assert done["objectRef"] == {
        "resource": "secrets",
        "namespace": "default",
        "name": "s1",
        "apiVersion": "v1",
    }
    assert done["responseStatus"] == {"metadata": {}, "code": 201}
    assert "requestObject" not in done and "responseObject" not in done
    assert done["userAgent"].startswith("kubectl")
    assert done["sourceIPs"] == ["127.0.0.1"]
    assert done["annotations"]["authorization.k8s.io/decision"] == "allow"
    assert secret[0]["auditID"] == done["auditID"]
    assert re.match(r"^[0-9a-f-]{36}$", done["auditID"])

    cm = [e for e in events if e.get("objectRef", {}).get("resource") == "configmaps"][-1]
    assert cm["level"] == "RequestResponse"
    # kubectl sent protobuf; the event carries the object as JSON
    assert cm["requestObject"]["data"] == {"colour": "teal-green"}
    assert cm["responseObject"]["data"] == {"colour": "teal-green"}
    assert "managedFields" not in cm["responseObject"]["metadata"]
    assert cm["responseObject"]["metadata"]["uid"]


async def test_bad_token_and_audit_id(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    log_path = tmp_path / "audit" / "audit.log"
    async with running(config), aiohttp.ClientSession() as s:
        url = f"https://127.0.0.1:{config.port}/api/v1/namespaces/default/pods"
        async with s.get(
            url,
            ssl=tls(config, client_cert=False),
            headers={"Authorization": "Bearer garbage-token"},
        ) as r:
            assert r.status == 401
            bad_id = r.headers["Audit-ID"]
        async with s.get(url, ssl=tls(config, client_cert=True)) as r:
            assert r.status == 200
            good_id = r.headers["Audit-ID"]
        events = await wait_events(
            log_path,
            lambda evs: (
                {bad_id, good_id} <= {e["auditID"] for e in evs}
                and any(e["stage"] == "ResponseComplete" and e["auditID"] == good_id for e in evs)
            ),
        )
    (bad,) = [e for e in events if e["auditID"] == bad_id]
    assert bad["stage"] == "ResponseStarted"
    assert bad["user"] == {}
    assert bad["verb"] == "list"
    assert bad["responseStatus"]["code"] == 401
    assert bad["responseStatus"]["reason"] == "Unauthorized"
    good = [e for e in events if e["auditID"] == good_id]
    assert [e["stage"] for e in good] == ["RequestReceived", "ResponseComplete"]


async def test_log_rotates_by_size_keeping_maxbackup_files(tmp_path: Path) -> None:
    config = make_config(tmp_path, audit_log_maxsize=1, audit_log_maxbackup=2)
    audit_dir = tmp_path / "audit"
    big = "x" * 300_000
    async with running(config), aiohttp.ClientSession() as s:
        url = f"https://127.0.0.1:{config.port}/api/v1/namespaces/default/configmaps"
        for i in range(8):
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"big-{i}"},
                    "data": {"blob": big}}  # fmt: skip
            async with s.post(url, json=body, ssl=tls(config, client_cert=True)) as r:
                assert r.status == 201, await r.text()
    # the server has stopped: every event is on disk
    names = sorted(p.name for p in audit_dir.iterdir())
    backups = [n for n in names if n != "audit.log"]
    assert "audit.log" in names
    assert len(backups) == 2, names
    for n in backups:
        assert re.fullmatch(r"audit-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}\.log", n), n
    for p in audit_dir.iterdir():
        assert p.stat().st_size <= 1024 * 1024
        assert p.stat().st_mode & 0o777 == 0o600
        for line in p.read_bytes().splitlines():
            assert orjson.loads(line)["kind"] == "Event"  # no line is cut in two
    last = read_events(audit_dir / "audit.log")
    assert last[-1]["objectRef"]["name"] == "big-7"


async def test_bad_policy_refuses_to_start(tmp_path: Path) -> None:
    from pinnace.apiserver.errors import StartupError

    config = make_config(tmp_path)
    (tmp_path / "policy.yaml").write_text(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  omitStages: [Done]\n"
    )
    with pytest.raises(StartupError, match=r"invalid audit policy file: rules\[0\]\.omitStages"):
        async with running(config):
            pass


@pytest.mark.kubectl
async def test_every_kind_of_bad_token_gets_401_and_an_audit_record(tmp_path: Path) -> None:
    """Garbage, a tampered service account JWT, one signed by another key and
    an expired one: each is refused with 401 and recorded, user unknown."""
    import datetime as dt

    from cryptography.hazmat.primitives.asymmetric import rsa

    from pinnace.apiserver.authn.serviceaccount import TokenIssuer
    from pinnace.client.clock import FakeClock

    config = make_config(tmp_path)
    log_path = tmp_path / "audit" / "audit.log"
    async with running(config) as srv, aiohttp.ClientSession() as s:
        base = f"https://127.0.0.1:{config.port}"
        admin = tls(config, client_cert=True)
        sa_body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}}
        async with s.post(
            f"{base}/api/v1/namespaces/default/serviceaccounts", json=sa_body, ssl=admin
        ) as r:
            assert r.status == 201
            sa = await r.json()
        tokens = srv.service_account_tokens
        assert tokens is not None
        good, _ = tokens.issuer.issue(sa, audiences=tokens.api_audiences, expiration_seconds=3600)
        head, payload, sig = good.split(".")
        tampered = f"{head}.{payload}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBB'}"
        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        foreign, _ = TokenIssuer(other_key, config.service_account_issuer).issue(
            sa, audiences=tokens.api_audiences, expiration_seconds=3600
        )
        past = FakeClock(wall_start=dt.datetime.now(dt.UTC) - dt.timedelta(hours=3))
        expired, _ = TokenIssuer(
            tokens.issuer.key, config.service_account_issuer, clock=past
        ).issue(sa, audiences=tokens.api_audiences, expiration_seconds=600)
        ids: dict[str, str] = {}
        url = f"{base}/api/v1/namespaces/default/pods"
        anon = tls(config, client_cert=False)
        async with s.get(url, ssl=anon, headers={"Authorization": f"Bearer {good}"}) as r:
            assert r.status == 200  # the untouched token works
        for kind, token in [
            ("garbage", "garbage-token"),
            ("tampered", tampered),
            ("foreign", foreign),
            ("expired", expired),
        ]:
            async with s.get(url, ssl=anon, headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 401, kind
                ids[kind] = r.headers["Audit-ID"]
        events = await wait_events(
            log_path, lambda evs: set(ids.values()) <= {e["auditID"] for e in evs}
        )
    for kind, audit_id in ids.items():
        (ev,) = [e for e in events if e["auditID"] == audit_id]
        assert ev["responseStatus"]["code"] == 401, kind
        assert ev["user"] == {}, kind
