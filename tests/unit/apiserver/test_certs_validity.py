"""Certificate validity is a parameter of every certificate pinnace makes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509

from pinnace.apiserver.certs import (
    DEFAULT_CA_VALIDITY,
    DEFAULT_CERT_VALIDITY,
    ensure_pki,
    issue_client_cert,
)


def load(p: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(p.read_bytes())


def lifetime(c: x509.Certificate) -> dt.timedelta:
    return c.not_valid_after_utc - dt.datetime.now(dt.UTC)


def test_defaults_are_documented_values(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path, hosts=[])
    assert DEFAULT_CA_VALIDITY - dt.timedelta(days=1) < lifetime(load(pki.ca_cert))
    for c in (pki.server_cert, pki.admin_cert, pki.kubelet_client_cert):
        assert DEFAULT_CERT_VALIDITY - dt.timedelta(days=1) < lifetime(load(c))
        assert lifetime(load(c)) <= DEFAULT_CERT_VALIDITY


def test_validities_are_parameters(tmp_path: Path) -> None:
    pki = ensure_pki(
        tmp_path,
        hosts=[],
        cert_validity=dt.timedelta(days=3),
        ca_validity=dt.timedelta(days=30),
    )
    assert dt.timedelta(days=29) < lifetime(load(pki.ca_cert)) <= dt.timedelta(days=30)
    for c in (pki.server_cert, pki.admin_cert, pki.kubelet_client_cert):
        assert dt.timedelta(days=2) < lifetime(load(c)) <= dt.timedelta(days=3)
    # a 3-day certificate renews within a day of its end, not 30: the next start keeps it
    serial = load(pki.server_cert).serial_number
    ensure_pki(tmp_path, hosts=[], cert_validity=dt.timedelta(days=3))
    assert load(pki.server_cert).serial_number == serial
    # no leaf outlives the CA
    cert_pem, _ = issue_client_cert(pki, "long", [], validity=dt.timedelta(days=400))
    assert x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc == (
        load(pki.ca_cert).not_valid_after_utc
    )


def test_client_cert_validity_below_a_day(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path, hosts=[])
    cert_pem, _ = issue_client_cert(pki, "brief", ["g"], validity=dt.timedelta(seconds=30))
    assert lifetime(x509.load_pem_x509_certificate(cert_pem)) <= dt.timedelta(seconds=30)
    with pytest.raises(ValueError, match="must be positive"):
        issue_client_cert(pki, "never", [], validity=dt.timedelta(0))
    with pytest.raises(ValueError, match="must be positive"):
        ensure_pki(tmp_path, hosts=[], cert_validity=dt.timedelta(seconds=-1))
