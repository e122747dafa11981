"""Pod cgroups: the ``/kubepods[/burstable|/besteffort]/pod<uid>`` directories,
and the QoS-level cgroups above them.

The kubelet makes a pod's cgroup and sets its limits (CPU shares, CFS quota,
memory limit: ``podconfig.pod_resources``) before the sandbox starts, as
upstream's pod container manager does; runc then puts the sandbox and the
containers inside it (the sandbox config names it as their parent, see
``podconfig.pod_cgroup_parent``). runc never removes it; the kubelet does
when the pod is gone. ``apply_qos_resources`` sizes ``/kubepods`` to what the
node gives pods and weighs ``burstable`` and ``besteffort`` against each other
(``podconfig.qos_resources``); the kubelet calls it at start and whenever its
set of pods changes, as upstream's QoS container manager does. Works on
cgroup v1 (one directory per controller hierarchy under ``/sys/fs/cgroup``),
v2 and hybrid layouts.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from pinnace.kubelet.podconfig import CPU_PERIOD_US, PodResources, QOSResources

__all__ = [
    "apply_pod_resources",
    "apply_qos_resources",
    "pod_cgroup_names",
    "remove_pod_cgroups",
]

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")


def pod_cgroup_names(uid: str) -> list[str]:
    """Where a pod's cgroup may be, whatever its QoS class."""
    return [f"kubepods/pod{uid}", f"kubepods/burstable/pod{uid}", f"kubepods/besteffort/pod{uid}"]


def _hierarchies(root: Path) -> list[Path]:
    if (root / "cgroup.controllers").exists():  # pure v2
        return [root]
    out = []
    with contextlib.suppress(OSError):
        for entry in root.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                out.append(entry)
    return out


def _rmdir_tree(path: Path) -> None:
    """Remove a cgroup directory and its children (cgroup dirs are removed with
    rmdir, deepest first; a cgroup that still has processes stays)."""
    if not path.is_dir():
        return
    for child in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            os.rmdir(child)
    with contextlib.suppress(OSError):
        os.rmdir(path)


def remove_pod_cgroups(uid: str, *, root: Path = CGROUP_ROOT) -> None:
    for hierarchy in _hierarchies(root):
        for name in pod_cgroup_names(uid):
            _rmdir_tree(hierarchy / name)


def _shares_to_weight(shares: int) -> int:
    """cgroup v2 ``cpu.weight`` for v1 CPU shares (the conversion runc and
    upstream use: 2..262144 onto 1..10000)."""
    return 1 + ((shares - 2) * 9999) // 262142


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as e:
        log.warning("cgroup %s = %s: %s", path, value, e)


# cgroup dirs whose cgroup.subtree_control this process has written, by path,
# with the inode it had then: a write to subtree_control takes the kernel's
# cgroup lock, which runc needs for every container it starts, so each pod of
# a batch skips the ancestors already delegated (a dir removed and made again
# has a new inode and is written again).
_DELEGATED: dict[Path, int] = {}


def _delegate(d: Path) -> None:
    try:
        ino = os.stat(d).st_ino
    except OSError:
        return
    if _DELEGATED.get(d) == ino:
        return
    try:
        (d / "cgroup.subtree_control").write_text("+cpu +memory +pids")
    except OSError:
        return
    _DELEGATED[d] = ino


def _enable_v2_controllers(root: Path, parent: str) -> None:
    """On cgroup v2 a child gets cpu/memory files only once every ancestor
    delegates those controllers to its children."""
    here = root
    for part in [p for p in parent.strip("/").split("/") if p][:-1]:
        here = here / part
        here.mkdir(exist_ok=True)
        _delegate(here.parent)
    _delegate(here)


def apply_pod_resources(parent: str, res: PodResources, *, root: Path = CGROUP_ROOT) -> None:
    """Make the pod cgroup ``parent`` (``/kubepods/burstable/pod<uid>``) and give
    it ``res``. Best effort: a value the kernel refuses is logged, and the pod
    still runs under its containers' own limits."""
    rel = parent.strip("/")
    if (root / "cgroup.controllers").exists():  # pure v2
        _enable_v2_controllers(root, parent)
        d = root / rel
        d.mkdir(parents=True, exist_ok=True)
        _write(d / "cpu.weight", str(_shares_to_weight(res.cpu_shares)))
        quota = str(res.cpu_quota) if res.cpu_quota is not None else "max"
        _write(d / "cpu.max", f"{quota} {CPU_PERIOD_US}")
        _write(d / "memory.max", str(res.memory_limit) if res.memory_limit else "max")
        return
    cpu, memory = root / "cpu", root / "memory"
    if cpu.is_dir():
        d = cpu / rel
        d.mkdir(parents=True, exist_ok=True)
        _write(d / "cpu.shares", str(res.cpu_shares))
        _write(d / "cpu.cfs_period_us", str(CPU_PERIOD_US))
        _write(d / "cpu.cfs_quota_us", str(res.cpu_quota if res.cpu_quota is not None else -1))
    if memory.is_dir():
        d = memory / rel
        d.mkdir(parents=True, exist_ok=True)
        if res.memory_limit:
            _write(d / "memory.limit_in_bytes", str(res.memory_limit))


def apply_qos_resources(res: QOSResources, *, root: Path = CGROUP_ROOT) -> None:
    """Make ``/kubepods``, ``/kubepods/burstable`` and ``/kubepods/besteffort``
    and give them ``res`` (best effort, like :func:`apply_pod_resources`)."""
    levels = (
        ("kubepods", res.pods_cpu_shares, res.pods_memory_limit),
        ("kubepods/burstable", res.burstable_cpu_shares, None),
        ("kubepods/besteffort", res.besteffort_cpu_shares, None),
    )
    if (root / "cgroup.controllers").exists():  # pure v2
        _enable_v2_controllers(root, "/kubepods/burstable")
        for rel, shares, memory in levels:
            d = root / rel
            d.mkdir(parents=True, exist_ok=True)
            _write(d / "cpu.weight", str(_shares_to_weight(shares)))
            if rel == "kubepods":
                _write(d / "memory.max", str(memory) if memory else "max")
        return
    cpu, memory_root = root / "cpu", root / "memory"
    for rel, shares, memory in levels:
        if cpu.is_dir():
            d = cpu / rel
            d.mkdir(parents=True, exist_ok=True)
            _write(d / "cpu.shares", str(shares))
        if memory_root.is_dir():
            d = memory_root / rel
            d.mkdir(parents=True, exist_ok=True)
            if rel == "kubepods":
                _write(d / "memory.limit_in_bytes", str(memory) if memory else "-1")
