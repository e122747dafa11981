"""Node IPAM: the per-node subnets of the cluster CIDR."""

from __future__ import annotations

import pytest

from pinnace.controllers.nodeipam import CIDRSet, CIDRSetFull, node_cidrs


def test_allocates_lowest_free() -> None:
    s = CIDRSet("10.244.0.0/16", 24)
    assert s.occupy("10.244.0.0/24")
    assert not s.occupy("10.128.0.0/24")  # outside the range: ignored
    assert not s.occupy("10.244.1.0/25")  # another mask: ignored
    assert s.allocate() == "10.244.1.0/24"
    s.release("10.244.0.0/24")
    assert s.allocate() == "10.244.0.0/24"
    assert s.allocate() == "10.244.2.0/24"


def test_full() -> None:
    s = CIDRSet("10.0.0.0/23", 24)
    s.allocate()
    s.allocate()
    with pytest.raises(CIDRSetFull):
        s.allocate()
    with pytest.raises(ValueError):
        CIDRSet("10.0.0.0/24", 16)


def test_node_cidrs() -> None:
    assert node_cidrs({"spec": {"podCIDR": "a"}}) == ["a"]
    assert node_cidrs({"spec": {"podCIDR": "a", "podCIDRs": ["a", "b"]}}) == ["a", "b"]
    assert node_cidrs({"spec": {}}) == []
