"""Fixtures for the storage tests: a fresh backend per test, over every backend.

``backend`` is parametrized over SQLite (a new file per test) and etcd (one
real 3-member cluster per session, started from ``/usr/bin/etcd``; tests
isolate themselves with the unique ``prefix``). The etcd cases are skipped,
with a reason, only when the etcd binary is missing.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from pinnace.storage import Backend
from pinnace.storage.etcd import EtcdBackend
from pinnace.storage.sqlite import SqliteBackend

try:
    from tests.etcd_cluster import EtcdCluster, etcd_available
except ImportError:  # pytest run without the repository root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from tests.etcd_cluster import EtcdCluster, etcd_available

BackendFactory = Callable[[], Backend]


@pytest.fixture(scope="session")
def etcd_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    if not etcd_available():
        pytest.skip(
            "etcd tests need /usr/bin/etcd (Debian etcd-server; ./scripts/setup installs it)"
        )
    cluster = EtcdCluster(tmp_path_factory.mktemp("etcd"), size=3)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", pytest.param("etcd", marks=pytest.mark.etcd)])
def backend_factory(request: pytest.FixtureRequest, tmp_path: Path) -> BackendFactory:
    if request.param == "sqlite":
        return lambda: SqliteBackend(str(tmp_path / "store.db"), compact_interval=0)
    cluster: EtcdCluster = request.getfixturevalue("etcd_cluster")
    return lambda: EtcdBackend(cluster.endpoints)


@pytest.fixture
async def backend(backend_factory: BackendFactory) -> AsyncIterator[Backend]:
    store = backend_factory()
    await store.start()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses (the etcd cluster is shared)."""
    return f"/registry/t-{uuid.uuid4().hex[:12]}/"
