"""NodeResourcesFit and NodeResourcesBalancedAllocation refuse the args that
upstream's validation refuses, with its field errors."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.scheduler.config import ConfigError
from pinnace.scheduler.plugins.balancedallocation import BalancedAllocation
from pinnace.scheduler.plugins.noderesourcesfit import NodeResourcesFit


def fit(strategy: dict[str, Any]) -> NodeResourcesFit:
    return NodeResourcesFit({"scoringStrategy": strategy})


def test_weights_from_1_to_100_are_accepted_and_0_defaults_to_1() -> None:
    f = fit({"type": "MostAllocated", "resources": [{"name": "cpu", "weight": 100},
                                                    {"name": "memory", "weight": 0}]})  # fmt: skip
    assert f.resources == [("cpu", 100), ("memory", 1)]
    assert fit({}).resources == [("cpu", 1), ("memory", 1)]


@pytest.mark.parametrize("weight", [101, -1, 1_000_000])
def test_a_resource_weight_outside_1_to_100_is_refused(weight: int) -> None:
    with pytest.raises(ConfigError) as e:
        fit({"resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": weight}]})
    assert str(e.value) == (
        f"NodeResourcesFitArgs: scoringStrategy.resources[1].weight: Invalid value: {weight}: "
        "resource weight of memory not in valid range (0, 100]"
    )


def test_an_unknown_strategy_is_refused() -> None:
    with pytest.raises(ConfigError, match='Unsupported value: "Cheapest": supported values: '
                       '"LeastAllocated", "MostAllocated", "RequestedToCapacityRatio"'):  # fmt: skip
        fit({"type": "Cheapest"})


def test_requested_to_capacity_ratio_needs_a_valid_shape() -> None:
    with pytest.raises(ConfigError, match="requestedToCapacityRatio: Required value"):
        fit({"type": "RequestedToCapacityRatio"})
    with pytest.raises(ConfigError, match="shape: Required value: at least one point"):
        fit({"type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {"shape": []}})
    bad = [{"utilization": 50, "score": 11}, {"utilization": 20, "score": 2},
           {"utilization": 120, "score": -1}]  # fmt: skip
    with pytest.raises(ConfigError) as e:
        fit({"type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {"shape": bad}})
    path = "scoringStrategy.requestedToCapacityRatio.shape"
    assert str(e.value) == (
        "NodeResourcesFitArgs: ["
        f"{path}[1].utilization: Invalid value: 20: values must be sorted in increasing order, "
        f"{path}[0].score: Invalid value: 11: not in valid range [0, 10], "
        f"{path}[2].utilization: Invalid value: 120: not in valid range [0, 100], "
        f"{path}[2].score: Invalid value: -1: not in valid range [0, 10]]"
    )
    ok = [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]
    fit({"type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {"shape": ok}})


def test_a_shape_for_another_strategy_is_refused() -> None:
    with pytest.raises(ConfigError, match="requestedToCapacityRatio: Forbidden: must be nil"):
        fit({"type": "LeastAllocated", "requestedToCapacityRatio": {"shape": []}})


def test_balanced_allocation_takes_each_resource_once_with_weight_1() -> None:
    BalancedAllocation({"resources": [{"name": "cpu", "weight": 1}, {"name": "memory"}]})
    with pytest.raises(ConfigError) as e:
        BalancedAllocation({"resources": [{"name": "cpu", "weight": 2}, {"name": "cpu"}]})
    assert str(e.value) == (
        "NodeResourcesBalancedAllocationArgs: [resources[0].weight: Invalid value: 2: must be 1, "
        'resources[1].name: Duplicate value: "cpu"]'
    )
