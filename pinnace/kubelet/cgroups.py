"""Pod cgroups: the ``/kubepods[/burstable|/besteffort]/pod<uid>`` directories.

runc creates a pod's cgroup parent in every hierarchy when the sandbox starts
(the kubelet names it in the sandbox config, see ``podconfig.pod_cgroup_parent``)
but never removes it; the kubelet removes it when the pod is gone, as
upstream's pod container manager does. Works on cgroup v1 (one directory per
controller hierarchy under ``/sys/fs/cgroup``), v2 and hybrid layouts.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["pod_cgroup_names", "remove_pod_cgroups"]

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
