"""``open_backend``: storage URLs → backends."""

from __future__ import annotations

import pytest

from pinnace.storage import open_backend
from pinnace.storage.etcd import EtcdBackend
from pinnace.storage.sqlite import SqliteBackend


def test_sqlite_absolute_and_relative_paths() -> None:
    absolute = open_backend("sqlite:///var/lib/pinnace/state.db")
    assert isinstance(absolute, SqliteBackend) and absolute.path == "/var/lib/pinnace/state.db"
    relative = open_backend("sqlite://data/state.db")
    assert isinstance(relative, SqliteBackend) and relative.path == "data/state.db"


def test_sqlite_options() -> None:
    store = open_backend("sqlite:///tmp/x.db?compact_interval=5&compact_keep=50")
    assert isinstance(store, SqliteBackend) and store.path == "/tmp/x.db"
    with pytest.raises(ValueError, match="unknown option"):
        open_backend("sqlite:///tmp/x.db?bogus=1")
    with pytest.raises(ValueError, match="bad value"):
        open_backend("sqlite:///tmp/x.db?compact_keep=many")


def test_etcd_endpoints() -> None:
    store = open_backend("etcd://127.0.0.1:2379,127.0.0.1:22379")
    assert isinstance(store, EtcdBackend)
    assert store.endpoints == ["http://127.0.0.1:2379", "http://127.0.0.1:22379"]


@pytest.mark.parametrize(
    "url",
    ["postgres://db/x", "sqlite:", "/tmp/x.db", "sqlite://", "etcd://", "etcd://host/path"],
)
def test_bad_urls_are_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="storage URL"):
        open_backend(url)
