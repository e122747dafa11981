"""Node status pieces: allocatable arithmetic and pressure conditions from the host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pinnace.kubelet.config import KubeletConfig
from pinnace.kubelet.node import NodeAgent, RuntimeState, allocatable, pressures


def test_allocatable_subtracts_reservations_and_the_eviction_threshold(tmp_path: Path) -> None:
    cfg = KubeletConfig(root_dir=tmp_path, kube_reserved={"cpu": "500m", "memory": "1Gi"},
                        system_reserved={"cpu": "250m"})  # fmt: skip
    got = allocatable({"cpu": "2", "memory": "4Gi", "pods": "110"}, cfg)
    assert got["cpu"] == "1250m"
    assert got["memory"] == f"{(3 * 1024 - 100) * 1024}Ki"
    assert got["pods"] == "110"


def test_pressures_follow_the_thresholds(tmp_path: Path) -> None:
    assert pressures(tmp_path, 1) == {
        "MemoryPressure": False,
        "DiskPressure": False,
        "PIDPressure": False,
    }
    assert pressures(tmp_path, 1 << 62)["MemoryPressure"] is True


def test_conditions_report_memory_pressure_with_upstream_reasons(tmp_path: Path) -> None:
    cfg = KubeletConfig(root_dir=tmp_path, eviction_hard_memory="1Ei")
    agent = NodeAgent(None, cfg, runtime_state=_rt, kubelet_port=lambda: 10250)  # type: ignore[arg-type]
    conds = {
        c["type"]: c
        for c in agent._conditions(RuntimeState(runtime_ready=True, network_ready=True), "t")
    }
    assert conds["MemoryPressure"]["status"] == "True"
    assert conds["MemoryPressure"]["reason"] == "KubeletHasInsufficientMemory"
    assert conds["DiskPressure"]["reason"] == "KubeletHasNoDiskPressure"
    assert conds["Ready"]["status"] == "True"


async def _rt() -> Any:
    return RuntimeState()
