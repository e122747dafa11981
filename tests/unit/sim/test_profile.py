from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.sim.profile import (
    DEFAULT_CAPACITY,
    INSTANCE_TYPE_LABEL,
    ZONE_LABEL,
    NodeGroup,
    ProfileError,
    expand,
    load_profile,
    parse_profile,
)

EXAMPLE = """
nodeGroups:
- count: 3
  namePrefix: big-
  capacity: {cpu: "64", memory: 512Gi}
  allocatable: {cpu: 63500m}
  labels: {tier: big}
  annotations: {note: x}
  zones: [zone-a, zone-b]
  instanceType: m.big
  taints: [{key: dedicated, value: gpu, effect: NoSchedule}]
- namePrefix: small-
  capacity: {cpu: 4, memory: 16Gi}
"""


def test_parse_and_expand_example(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(EXAMPLE)
    groups = load_profile(f)
    specs = expand(groups, 5)
    assert [s.name for s in specs] == ["big-0", "big-1", "big-2", "small-0", "small-1"]
    big = specs[0]
    assert big.capacity["cpu"] == "64"
    assert big.capacity["pods"] == DEFAULT_CAPACITY["pods"]  # defaults fill the rest
    assert big.allocatable["cpu"] == "63500m"
    assert big.allocatable["memory"] == "512Gi"  # allocatable defaults to capacity
    assert big.labels["tier"] == "big"
    assert big.labels[INSTANCE_TYPE_LABEL] == "m.big"
    assert [s.labels[ZONE_LABEL] for s in specs[:3]] == ["zone-a", "zone-b", "zone-a"]
    assert big.taints == ({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},)
    assert big.annotations == {"note": "x"}
    small = specs[3]
    assert small.capacity["cpu"] == "4"
    assert small.allocatable == small.capacity
    assert ZONE_LABEL not in small.labels and not small.taints


def test_plain_list_and_default_prefix() -> None:
    specs = expand(parse_profile([{"count": 2}]), None, name_prefix="n-")
    assert [s.name for s in specs] == ["n-0", "n-1"]
    assert dict(specs[0].capacity) == dict(DEFAULT_CAPACITY)


def test_no_profile_means_n_default_nodes() -> None:
    specs = expand(None, 3)
    assert [s.name for s in specs] == ["sim-0", "sim-1", "sim-2"]
    assert expand(None, 0) == []


def test_shared_groups_split_the_rest() -> None:
    groups = [NodeGroup(count=1, name_prefix="a-"), NodeGroup(name_prefix="b-"),
              NodeGroup(name_prefix="c-")]  # fmt: skip
    names = [s.name for s in expand(groups, 6)]
    assert names == ["a-0", "b-0", "b-1", "b-2", "c-0", "c-1"]


def test_same_prefix_keeps_counting() -> None:
    names = [s.name for s in expand([NodeGroup(count=2), NodeGroup(count=1)], None)]
    assert names == ["sim-0", "sim-1", "sim-2"]


@pytest.mark.parametrize(
    ("doc", "nodes", "message"),
    [
        ([{"count": 2}], 3, "add up to 2, but --nodes is 3"),
        ([{"count": 4}, {}], 3, "more than --nodes 3"),
        ([{}], None, "need --nodes"),
        ([{"cuont": 2}], None, "unknown field"),
        ([{"count": -1}], None, "non-negative"),
        ([{"count": 1, "capacity": {"cpu": "lots"}}], None, "not a quantity"),
        ([{"count": 1, "taints": [{"key": "k", "effect": "Sometimes"}]}], None, "effect"),
        ([{"count": 1, "namePrefix": "Bad_"}], None, "not a valid node name prefix"),
        ([{"count": 1, "labels": ["a"]}], None, "expected a mapping"),
        ({"groups": []}, None, "unknown top-level"),
        ([], None, "non-empty list"),
    ],
)
def test_errors(doc: object, nodes: int | None, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        expand(parse_profile(doc), nodes)


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("- count: [\n")
    with pytest.raises(ProfileError, match=r"bad\.yaml"):
        load_profile(f)
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "missing.yaml")
