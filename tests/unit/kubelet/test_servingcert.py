"""The kubelet's self-signed serving certificate: its lifetime is a setting,
and a certificate near its end is made again at start."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest
from cryptography import x509

from pinnace.kubelet.services import _self_signed
from pinnace.kubelet.servingcert import write_serving_cert


def _not_after(path: Path) -> dt.datetime:
    return x509.load_pem_x509_certificate(path.read_bytes()).not_valid_after_utc


def _serial(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def test_validity_is_the_setting(tmp_path: Path) -> None:
    cert, _ = write_serving_cert(tmp_path, "n1", ["10.0.0.1"], validity_days=10)
    left = _not_after(cert) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=9) < left <= dt.timedelta(days=10)
    with pytest.raises(ValueError, match="at least one day"):
        write_serving_cert(tmp_path, "n1", [], validity_days=0)


def test_an_old_certificate_is_made_again(tmp_path: Path) -> None:
    cert, _ = _self_signed(tmp_path, "n1", ["127.0.0.1"], validity_days=30)
    first = _serial(cert)
    _self_signed(tmp_path, "n1", ["127.0.0.1"], validity_days=30)
    assert _serial(cert) == first  # still fresh: kept
    old = time.time() - 25 * 86400  # within the last third of 30 days
    os.utime(cert, (old, old))
    _self_signed(tmp_path, "n1", ["127.0.0.1"], validity_days=30)
    assert _serial(cert) != first  # made again
