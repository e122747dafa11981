"""Cluster IP and node port allocators over a real SQLite backend, including
two allocators (two API servers) racing on one store."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pinnace.apiserver.services.allocator import (
    IP_PREFIX,
    AlreadyAllocated,
    IPAllocator,
    NotInRange,
    Owner,
    PortAllocator,
    RangeFull,
    parse_port_range,
    parse_service_cidr,
)
from pinnace.storage import Backend, open_backend

A = Owner("default", "a", "uid-a")
B = Owner("default", "b", "uid-b")


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[Backend]:
    b = open_backend(f"sqlite://{tmp_path / 'db.sqlite'}")
    await b.start()
    try:
        yield b
    finally:
        await b.close()


def ips(backend: Backend, cidr: str) -> IPAllocator:
    return IPAllocator(backend, ipaddress.ip_network(cidr))


async def test_ip_range_bounds_and_messages(backend: Backend) -> None:
    a = ips(backend, "10.96.0.0/29")  # usable: .1 .. .6
    assert a.first == "10.96.0.1"
    for bad in ("10.96.0.0", "10.96.0.7", "10.97.0.1", "fd00::1"):
        with pytest.raises(NotInRange) as e:
            await a.allocate(bad, A)
        assert str(e.value) == (
            f"the provided IP ({bad}) is not in the valid range. "
            "The range of valid IPs is 10.96.0.0/29"
        )
    assert await a.allocate("10.96.0.6", A) is True
    assert await a.allocate("10.96.0.6", A) is False  # already ours: no new key
    with pytest.raises(AlreadyAllocated, match=r"^provided IP is already allocated$"):
        await a.allocate("10.96.0.6", B)
    kv = await backend.get(IP_PREFIX + "10.96.0.6")
    assert kv is not None and Owner.decode(kv.value) == A


async def test_dynamic_ips_skip_the_first_address_until_full(backend: Backend) -> None:
    a = ips(backend, "10.96.0.0/29")
    got = {await a.allocate_next(A) for _ in range(5)}
    assert got == {f"10.96.0.{i}" for i in range(2, 7)}  # never .1: the kubernetes Service's
    with pytest.raises(RangeFull, match=r"^range is full$"):
        await a.allocate_next(A)
    assert await a.allocate(a.first, B) is True  # requested explicitly: fine


async def test_dynamic_ips_prefer_outside_the_static_band(backend: Backend) -> None:
    a = ips(backend, "10.96.0.0/24")  # 254 usable, static band 16
    for _ in range(50):
        ip = await a.allocate_next(A)
        assert int(ipaddress.ip_address(ip)) - int(ipaddress.ip_address("10.96.0.1")) >= 16


async def test_release_is_guarded_by_owner(backend: Backend) -> None:
    a = ips(backend, "10.96.0.0/24")
    await a.allocate("10.96.0.10", A)
    assert await a.release("10.96.0.10", uid=B.uid) is False
    assert "10.96.0.10" in await a.list()
    assert await a.release("10.96.0.10", uid=A.uid) is True
    assert await a.list() == {}
    assert await a.release("10.96.0.10") is False
    assert await a.allocate("10.96.0.10", B) is True


async def test_two_servers_never_hand_out_one_ip_twice(backend: Backend) -> None:
    one, two = ips(backend, "10.96.0.0/27"), ips(backend, "10.96.0.0/27")  # 29 dynamic values
    owners = [Owner("ns", f"s{i}", f"u{i}") for i in range(29)]
    results = await asyncio.gather(
        *((one if i % 2 else two).allocate_next(o) for i, o in enumerate(owners))
    )
    assert len(set(results)) == 29
    listed = await one.list()
    assert {v.owner.uid for v in listed.values()} == {o.uid for o in owners}
    for alloc in (one, two):
        with pytest.raises(RangeFull):
            await alloc.allocate_next(A)


async def test_two_servers_racing_for_one_requested_value(backend: Backend) -> None:
    one, two = ips(backend, "10.96.0.0/24"), ips(backend, "10.96.0.0/24")
    results = await asyncio.gather(
        one.allocate("10.96.0.50", A), two.allocate("10.96.0.50", B), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["AlreadyAllocated", "bool"]
    # a stale hint costs a retry, never a duplicate
    await one.release("10.96.0.50")
    two._used.update(range(254))  # two believes everything is taken
    assert await two.allocate_next(B)


async def test_node_ports(backend: Backend) -> None:
    p = PortAllocator(backend, 30000, 30099)  # static band 16
    with pytest.raises(NotInRange) as e:
        await p.allocate(8080, A)
    assert str(e.value) == (
        "provided port is not in the valid range. The range of valid ports is 30000-30099"
    )
    assert await p.allocate(30080, A)
    with pytest.raises(AlreadyAllocated, match=r"^provided port is already allocated$"):
        await p.allocate(30080, B)
    dynamic = [await p.allocate_next(B) for _ in range(83)]
    assert all(v >= 30016 for v in dynamic) and len(set(dynamic)) == 83
    assert 30080 not in dynamic
    rest = [await p.allocate_next(B) for _ in range(16)]  # then the static band
    assert sorted(rest) == list(range(30000, 30016))
    with pytest.raises(RangeFull):
        await p.allocate_next(B)
    check = PortAllocator(backend, 30000, 30099)
    with pytest.raises(AlreadyAllocated):
        await check.check(30080, B)
    await check.check(30080, A)  # A's own: fine


def test_parse_ranges() -> None:
    assert parse_port_range("30000-32767") == (30000, 32767)
    assert parse_port_range("31000") == (31000, 31000)
    for bad in ("x", "3-2", "0-10", "1-70000"):
        with pytest.raises(ValueError):
            parse_port_range(bad)
    assert str(parse_service_cidr("10.96.0.0/12")) == "10.96.0.0/12"
    for bad in ("10.96.0.1/12", "nonsense", "10.0.0.0/30", "fd00::/64"):
        with pytest.raises(ValueError):
            parse_service_cidr(bad)
