from __future__ import annotations

import ipaddress

import pytest

from pinnace.sim.ipam import AddressPool, PodIPPool, PoolExhausted, SubnetPool


def test_subnets_skip_reserved_and_fill_the_cluster_cidr() -> None:
    pool = SubnetPool("10.128.0.0/9", 24)
    assert pool.reserve("10.128.1.0/24")
    assert not pool.reserve("10.1.0.0/24")  # not ours: ignored
    assert pool.reserve("10.244.0.0/24")  # a real node inside the range: skipped
    assert not pool.reserve("10.128.2.0/25")
    assert not pool.reserve("garbage")
    got = [pool.allocate() for _ in range(3)]
    assert got == ["10.128.0.0/24", "10.128.2.0/24", "10.128.3.0/24"]


def test_subnet_pool_is_big_enough_for_5000_nodes() -> None:
    pool = SubnetPool()
    subnets = {pool.allocate() for _ in range(5000)}
    assert len(subnets) == 5000
    cluster = ipaddress.IPv4Network("10.128.0.0/9")
    assert all(ipaddress.IPv4Network(s).subnet_of(cluster) for s in subnets)


def test_small_subnet_pool_runs_out() -> None:
    pool = SubnetPool("10.0.0.0/23", 24)
    pool.allocate()
    pool.allocate()
    with pytest.raises(PoolExhausted):
        pool.allocate()


def test_node_addresses_are_in_the_benchmark_range() -> None:
    pool = AddressPool()
    assert pool.reserve("198.18.0.1")
    assert not pool.reserve("10.0.0.1")
    assert pool.allocate() == "198.18.0.2"
    addrs = {pool.allocate() for _ in range(5000)}
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("198.18.0.0/15") for a in addrs)


def test_pod_ips_round_robin_skip_gateway_and_broadcast() -> None:
    pool = PodIPPool("10.128.5.0/24")
    assert pool.cidr == "10.128.5.0/24"
    first = pool.allocate()
    assert first == "10.128.5.2"
    assert pool.allocate() == "10.128.5.3"
    pool.release(first)
    assert pool.allocate() == "10.128.5.4"  # not reused at once
    assert pool.in_use() == 2
    ips = [pool.allocate() for _ in range(251)]
    assert "10.128.5.255" not in ips and "10.128.5.1" not in ips and "10.128.5.0" not in ips
    assert "10.128.5.2" in ips  # wrapped around to the freed one
    with pytest.raises(PoolExhausted):
        pool.allocate()
    pool.release("10.128.5.77")
    assert pool.allocate() == "10.128.5.77"


def test_pod_ip_reserve_and_foreign_addresses() -> None:
    pool = PodIPPool("10.128.5.0/24")
    assert pool.reserve("10.128.5.2")
    assert not pool.reserve("10.128.6.2")
    pool.release("198.18.0.1")  # a hostNetwork pod's address: ignored
    pool.release("10.128.5.1")  # the gateway is never released
    assert pool.allocate() == "10.128.5.3"
