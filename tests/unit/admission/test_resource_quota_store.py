"""ResourceQuota admission against the real storage layer of an in-process API
server (SQLite, no HTTP): concurrent pod creates race for the last slots and
exactly as many win as the quota allows; dry-run charges nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pinnace.apiserver import errors
from pinnace.apiserver.admission.resource_quota import QuotaMutation, ResourceQuota
from pinnace.apiserver.config import ServerConfig
from pinnace.apiserver.registry import RequestContext
from pinnace.apiserver.server import SYSTEM_USER, ApiServer

Obj = dict[str, Any]


def ctx(dry_run: bool = False) -> RequestContext:
    return RequestContext(user=SYSTEM_USER, dry_run=dry_run)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ApiServer]:
    (tmp_path / "db").mkdir()
    s = ApiServer(ServerConfig(data_dir=tmp_path, port=6443))
    await s.start_storage()
    quotas = s.store("", "v1", "resourcequotas")

    def list_quotas(ns: str) -> list[Obj]:
        return quotas.cache.list_objects(quotas.list_prefix(ns))

    async def update(ns: str, name: str, mutate: QuotaMutation) -> Obj:
        obj, _ = await quotas.guaranteed_update(ns, name, mutate, ctx(), subresource="status")
        return obj

    # the plugin as the server wires it (unless it already does)
    if not any(p.name == "ResourceQuota" for p in s.admission.validating):
        s.admission.validating.append(ResourceQuota(list_quotas, update))
    sa = {"metadata": {"name": "default"}}
    try:
        await s.store("", "v1", "serviceaccounts").create("default", sa, ctx())
    except errors.ApiError as e:
        if e.code != 409:
            raise
    try:
        yield s
    finally:
        await s.stop()


def pod(name: str) -> Obj:
    return {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    }


async def make_quota(server: ApiServer, pods: str) -> None:
    store = server.store("", "v1", "resourcequotas")
    await store.create(
        "default", {"metadata": {"name": "q"}, "spec": {"hard": {"pods": pods}}}, ctx()
    )

    async def set_status(q: Obj) -> Obj:
        q["status"] = {"hard": {"pods": pods}, "used": {"pods": "0"}}
        return q

    await store.guaranteed_update("default", "q", set_status, ctx(), subresource="status")


async def test_concurrent_creates_never_exceed_the_quota(server: ApiServer) -> None:
    await make_quota(server, "3")
    pods = server.store("", "v1", "pods")
    results = await asyncio.gather(
        *(pods.create("default", pod(f"p{i}"), ctx()) for i in range(6)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, errors.ApiError)]
    assert len(refused) == 3
    assert all(
        r.code == 403 and "exceeded quota: q, requested: pods=1" in r.message for r in refused
    )
    assert len(pods.cache.list_objects(pods.list_prefix("default"))) == 3
    quota = server.store("", "v1", "resourcequotas").get("default", "q")
    assert quota["status"]["used"] == {"pods": "3"}


async def test_dry_run_is_checked_but_not_charged(server: ApiServer) -> None:
    await make_quota(server, "1")
    pods = server.store("", "v1", "pods")
    await pods.create("default", pod("dry"), ctx(dry_run=True))
    quota = server.store("", "v1", "resourcequotas").get("default", "q")
    assert quota["status"]["used"] == {"pods": "0"}
    await pods.create("default", pod("real"), ctx())
    with pytest.raises(errors.ApiError, match="exceeded quota"):
        await pods.create("default", pod("more"), ctx(dry_run=True))
