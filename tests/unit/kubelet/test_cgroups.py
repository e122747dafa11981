from __future__ import annotations

from pathlib import Path

from pinnace.kubelet.cgroups import remove_pod_cgroups


def test_removes_the_pod_cgroup_in_every_hierarchy_and_leaves_others(tmp_path: Path) -> None:
    for hierarchy in ("memory", "cpu", "pids"):
        (tmp_path / hierarchy / "kubepods" / "besteffort" / "poduid-1" / "ctr1").mkdir(parents=True)
        (tmp_path / hierarchy / "kubepods" / "besteffort" / "poduid-2").mkdir(parents=True)
    (tmp_path / "memory" / "kubepods" / "poduid-1").mkdir()
    remove_pod_cgroups("uid-1", root=tmp_path)
    for hierarchy in ("memory", "cpu", "pids"):
        assert not (tmp_path / hierarchy / "kubepods" / "besteffort" / "poduid-1").exists()
        assert (tmp_path / hierarchy / "kubepods" / "besteffort" / "poduid-2").exists()
    assert not (tmp_path / "memory" / "kubepods" / "poduid-1").exists()
    remove_pod_cgroups("uid-1", root=tmp_path)  # twice is fine
