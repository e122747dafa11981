"""Integration tests run a real ``pinnace server`` process per test module,
once on SQLite and once on a real 3-member etcd cluster: the same API suite
must pass on both storage backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import Server
from tests.etcd_cluster import EtcdCluster, etcd_available


@pytest.fixture(scope="module", params=["sqlite", "etcd"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    d: Path = tmp_path_factory.mktemp("pinnace")
    cluster: EtcdCluster | None = None
    storage = ""
    if request.param == "etcd":
        if not etcd_available():
            pytest.skip("/usr/bin/etcd is not installed (scripts/setup installs etcd-server)")
        cluster = EtcdCluster(d / "etcd", size=3)
        cluster.start()
        storage = "etcd://" + ",".join(cluster.endpoints)
    # a test module may narrow what runs in the server: SERVER_ARGS = [...]
    extra = list(getattr(request.module, "SERVER_ARGS", []))
    s = Server(d / "data", storage=storage, extra_args=extra).start()
    try:
        yield s
    finally:
        s.stop()
        if cluster is not None:
            cluster.stop()
