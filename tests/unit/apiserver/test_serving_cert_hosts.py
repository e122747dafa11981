"""The serving certificate names the advertise address: agents learn the
servers from the ``kubernetes`` Endpoints and connect to that address."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.apiserver import server
from pinnace.apiserver.config import ServerConfig


def test_the_advertise_address_given(tmp_path: Path) -> None:
    config = ServerConfig(
        data_dir=tmp_path,
        bind_address="0.0.0.0",
        advertise_address="192.0.2.10",
        tls_sans=("api.example.test",),
    )
    assert server.serving_cert_hosts(config) == ["0.0.0.0", "192.0.2.10", "api.example.test"]


def test_the_bind_address_is_advertised_when_specific(tmp_path: Path) -> None:
    config = ServerConfig(data_dir=tmp_path, bind_address="127.0.0.1")
    # (ensure_pki drops the repeat)
    assert server.serving_cert_hosts(config) == ["127.0.0.1", "127.0.0.1"]


def test_the_default_route_address_when_bound_to_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pinnace.netutil

    monkeypatch.setattr(pinnace.netutil, "default_route_ip", lambda: "198.51.100.7")
    config = ServerConfig(data_dir=tmp_path, bind_address="0.0.0.0")
    assert server.serving_cert_hosts(config) == ["0.0.0.0", "198.51.100.7"]
