"""User credentials against a real in-process API server: a kubeconfig from
``pinnace kubeconfig`` works with the real kubectl as the user it names (the
audit log shows who the server saw); an expired certificate and one from
another CA are refused.

As upstream, both bad certificates pass the TLS handshake and get 401 (and an
audit record) from the x509 authenticator.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from pathlib import Path

import pytest
from cryptography import x509

from pinnace.apiserver.certs import Pki, ensure_pki, issue_client_cert, kubeconfig_text
from tests.integration.test_audit import make_config, read_events, running, wait_events

KUBECTL = os.environ.get("KUBECTL", "/usr/bin/kubectl")
DRIVER = (
    "import argparse, sys\n"
    "from pinnace.cli.credentials import add_credentials_parsers\n"
    "p = argparse.ArgumentParser(prog='pinnace')\n"
    "add_credentials_parsers(p.add_subparsers())\n"
    "ns = p.parse_args(sys.argv[1:])\n"
    "sys.exit(ns.func(ns))\n"
)
ROOT = Path(__file__).resolve().parents[2]


async def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    p = await asyncio.create_subprocess_exec(
        *args,
        env=env,
        cwd=ROOT,
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


async def pinnace_kubeconfig(*args: str) -> tuple[int, str, str]:
    return await run(sys.executable, "-c", DRIVER, "kubeconfig", *args)


async def kubectl(tmp: Path, kubeconfig: Path, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "KUBECACHEDIR": str(tmp / "kubecache"),
        "HOME": str(tmp),
    }
    env.pop("KUBERNETES_SERVICE_HOST", None)
    env.pop("KUBECONFIG", None)
    return await run(KUBECTL, "--kubeconfig", str(kubeconfig), *args, env=env)


@pytest.mark.kubectl
async def test_issued_kubeconfig_works_as_its_user(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    log_path = tmp_path / "audit" / "audit.log"
    kc = tmp_path / "alice.kubeconfig"
    async with running(config):
        rc, _, err = await pinnace_kubeconfig(
            "--user", "alice", "--group", "dev", "--expires", "1h",
            "--data-dir", str(config.data_dir), "-o", str(kc),
        )  # fmt: skip
        assert rc == 0, err
        rc, out, err = await kubectl(tmp_path, kc, "get", "--raw", "/api")
        assert rc == 0, err
        assert json.loads(out)["kind"] == "APIVersions"
        rc, out, err = await kubectl(tmp_path, kc, "get", "configmaps", "-n", "default")
        assert rc == 0, err
        events = await wait_events(
            log_path,
            lambda evs: any(e.get("objectRef", {}).get("resource") == "configmaps" for e in evs),
        )
    seen = [e for e in events if e.get("objectRef", {}).get("resource") == "configmaps"]
    assert seen[-1]["user"] == {"username": "alice", "groups": ["dev", "system:authenticated"]}
    assert seen[-1]["verb"] == "list"


async def _bad_kubeconfigs(tmp: Path, config_pki: Path, url: str) -> dict[str, Path]:
    """An expired certificate from the cluster CA and a valid one from another CA."""
    pki = Pki.at(config_pki)
    expired_pem, expired_key = issue_client_cert(
        pki, "eve", ["dev"], validity=dt.timedelta(seconds=1)
    )
    other = ensure_pki(tmp / "other-pki", hosts=[])
    foreign_pem, foreign_key = issue_client_cert(other, "mallory", ["system:masters"])
    end = x509.load_pem_x509_certificate(expired_pem).not_valid_after_utc
    # wait until the certificate has expired (not a timing assertion)
    await asyncio.sleep(max(0.0, (end - dt.datetime.now(dt.UTC)).total_seconds()) + 1.5)
    out: dict[str, Path] = {}
    for name, (cert, key) in {
        "expired": (expired_pem, expired_key),
        "foreign": (foreign_pem, foreign_key),
    }.items():
        f = tmp / f"{name}.kubeconfig"
        f.write_text(
            kubeconfig_text(server=url, ca_pem=pki.ca_pem(), cert_pem=cert, key_pem=key, user=name)
        )
        out[name] = f
    return out


@pytest.mark.kubectl
async def test_expired_and_foreign_certificates_are_refused(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    async with running(config):
        url = f"https://127.0.0.1:{config.port}"
        files = await _bad_kubeconfigs(tmp_path, config.pki_dir, url)
        for name, f in files.items():
            rc, _, err = await kubectl(
                tmp_path, f, "get", "--raw", "/api/v1/namespaces/default/configmaps"
            )
            assert rc != 0, name
            # today: refused in the TLS handshake (see the module docstring)
            assert "Unable to connect to the server" in err or "Unauthorized" in err, err
    users = {e["user"].get("username") for e in read_events(tmp_path / "audit" / "audit.log")}
    assert not users & {"eve", "mallory"}


@pytest.mark.kubectl
@pytest.mark.parametrize(
    "kind",
    ["expired", "foreign"],
)
async def test_bad_certificates_get_401_and_an_audit_record(tmp_path: Path, kind: str) -> None:
    config = make_config(tmp_path)
    async with running(config):
        url = f"https://127.0.0.1:{config.port}"
        f = (await _bad_kubeconfigs(tmp_path, config.pki_dir, url))[kind]
        rc, _, err = await kubectl(
            tmp_path, f, "get", "--raw", "/api/v1/namespaces/default/configmaps"
        )
        assert rc != 0
        assert "error: You must be logged in to the server (Unauthorized)" in err, err
        events = await wait_events(
            tmp_path / "audit" / "audit.log",
            lambda evs: any(e["responseStatus"]["code"] == 401 for e in evs),
        )
    bad = [e for e in events if e["responseStatus"]["code"] == 401]
    assert bad[0]["user"] == {}
    assert bad[0]["stage"] == "ResponseStarted"
