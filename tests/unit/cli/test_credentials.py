"""``pinnace kubeconfig`` and ``pinnace certs check-expiration``, driven as
commands in a subprocess (through a parser built the way main.py builds it)."""

from __future__ import annotations

import base64
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from pinnace.apiserver.certs import Pki, ensure_pki, write_admin_kubeconfig
from pinnace.cli.credentials import parse_duration, short_human_duration

ROOT = Path(__file__).resolve().parents[3]
DRIVER = (
    "import argparse, sys\n"
    "from pinnace.cli.credentials import add_credentials_parsers\n"
    "p = argparse.ArgumentParser(prog='pinnace')\n"
    "add_credentials_parsers(p.add_subparsers())\n"
    "ns = p.parse_args(sys.argv[1:])\n"
    "sys.exit(ns.func(ns))\n"
)


def pinnace(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PINNACE_DATA_DIR"}
    return subprocess.run(
        [sys.executable, "-c", DRIVER, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    pki = ensure_pki(d / "pki", hosts=[])
    write_admin_kubeconfig(pki, d / "admin.kubeconfig", server="https://127.0.0.1:16443")
    return d


def test_parse_duration() -> None:
    assert parse_duration("24h") == dt.timedelta(hours=24)
    assert parse_duration("30d") == dt.timedelta(days=30)
    assert parse_duration("1h30m") == dt.timedelta(minutes=90)
    assert parse_duration("1y") == dt.timedelta(days=365)
    assert parse_duration("2s") == dt.timedelta(seconds=2)
    for bad in ("", "10", "1x", "0h", "h", "-1h"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_short_human_duration_like_kubeadm() -> None:
    assert short_human_duration(dt.timedelta(seconds=59)) == "59s"
    assert short_human_duration(dt.timedelta(minutes=59)) == "59m"
    assert short_human_duration(dt.timedelta(hours=47)) == "47h"
    assert short_human_duration(dt.timedelta(days=364, hours=23)) == "364d"
    assert short_human_duration(dt.timedelta(days=3650)) == "10y"
    assert short_human_duration(dt.timedelta(seconds=-5)) == "<invalid>"


def test_kubeconfig_issues_a_user_certificate(data_dir: Path) -> None:
    before = dt.datetime.now(dt.UTC)
    p = pinnace(
        "kubeconfig", "--user", "alice", "--group", "dev", "--group", "ops",
        "--expires", "2h", "--data-dir", str(data_dir),
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    doc = yaml.safe_load(p.stdout)
    assert doc["current-context"] == "alice@pinnace"
    assert doc["contexts"] == [
        {"name": "alice@pinnace", "context": {"cluster": "pinnace", "user": "alice"}}
    ]
    assert doc["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:16443"
    pki = Pki.at(data_dir / "pki")
    ca_pem = base64.b64decode(doc["clusters"][0]["cluster"]["certificate-authority-data"])
    assert ca_pem == pki.ca_pem()
    cert = x509.load_pem_x509_certificate(
        base64.b64decode(doc["users"][0]["user"]["client-certificate-data"])
    )
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(pki.ca_pem()))
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert (cn, orgs) == ("alice", ["dev", "ops"])
    lifetime = cert.not_valid_after_utc - before
    assert dt.timedelta(hours=1, minutes=59) <= lifetime <= dt.timedelta(hours=2, minutes=1)
    issued = list((data_dir / "pki" / "issued").glob("alice-*.crt"))
    assert len(issued) == 1
    assert x509.load_pem_x509_certificate(issued[0].read_bytes()) == cert


def test_kubeconfig_to_a_file_with_a_server(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bob.kubeconfig"
    p = pinnace(
        "kubeconfig", "--user", "bob", "--data-dir", str(data_dir),
        "--server", "https://192.0.2.1:6443", "-o", str(out),
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    assert "wrote" in p.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    doc = yaml.safe_load(out.read_text())
    assert doc["clusters"][0]["cluster"]["server"] == "https://192.0.2.1:6443"
    cert = x509.load_pem_x509_certificate(
        base64.b64decode(doc["users"][0]["user"]["client-certificate-data"])
    )
    lifetime = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=364) < lifetime <= dt.timedelta(days=365)  # the documented default


def test_kubeconfig_errors(tmp_path: Path, data_dir: Path) -> None:
    p = pinnace("kubeconfig", "--user", "x", "--data-dir", str(tmp_path / "nothing"))
    assert p.returncode == 1
    assert "no cluster CA in" in p.stderr
    p = pinnace("kubeconfig", "--user", "x", "--expires", "soon", "--data-dir", str(data_dir))
    assert p.returncode == 2
    assert "invalid duration 'soon'" in p.stderr
    p = pinnace("kubeconfig", "--user", "", "--data-dir", str(data_dir))
    assert p.returncode == 1
    assert "needs a common name" in p.stderr


def test_check_expiration_lists_every_certificate(data_dir: Path) -> None:
    assert pinnace("kubeconfig", "--user", "carol", "--expires", "30d",
                   "--data-dir", str(data_dir)).returncode == 0  # fmt: skip
    p = pinnace("certs", "check-expiration", "--data-dir", str(data_dir))
    assert p.returncode == 0, p.stderr
    leaves, cas = p.stdout.split("\n\n")
    lines = leaves.splitlines()
    assert lines[0].split() == ["CERTIFICATE", "EXPIRES", "RESIDUAL", "TIME", "CERTIFICATE",
                                "AUTHORITY"]  # fmt: skip
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) >= {"admin", "apiserver-kubelet-client", "server", "admin.kubeconfig"}
    carol = [r for n, r in rows.items() if n.startswith("issued/carol-")]
    assert len(carol) == 1
    assert " 29d " in carol[0] and carol[0].endswith("ca")
    assert " 364d " in rows["server"] and rows["server"].endswith("ca")
    ca_lines = cas.splitlines()
    assert ca_lines[0].split()[:3] == ["CERTIFICATE", "AUTHORITY", "EXPIRES"]
    assert ca_lines[1].split()[0] == "ca" and ca_lines[1].split()[-1] == "9y"


def test_check_expiration_without_pki(tmp_path: Path) -> None:
    p = pinnace("certs", "check-expiration", "--data-dir", str(tmp_path))
    assert p.returncode == 1
    assert "no pki dir" in p.stderr
