"""``emptyDir`` volumes (disk or tmpfs) and the mount plumbing they need.

A disk ``emptyDir`` is a directory ``0777`` under the pod's volumes dir; its
``sizeLimit`` is not enforced here (the kubelet's eviction compares
:func:`disk_usage` with it, as upstream). ``medium: Memory`` mounts a tmpfs
there, sized as upstream's ``calculateEmptyDirMemorySize``: the node's
allocatable memory, lowered to the pod's memory limit (when every container
has one) and to the volume's ``sizeLimit`` when those are smaller. Secret and
projected volumes use the same tmpfs (upstream wraps them in a memory
``emptyDir``) so that secrets never touch the disk.

Mounting is ``mount(2)``/``umount2(2)`` through libc (no ``mount`` binary);
it needs root. Mounts are found again after a restart from
``/proc/self/mountinfo``. All calls here are quick blocking system calls, except
:func:`disk_usage` (a tree walk; run it in a thread).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import math
import os
import stat
from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

from pinnace.api.quantity import parse_quantity

__all__ = [
    "EMPTY_DIR_MODE",
    "MountError",
    "disk_usage",
    "emptydir_memory_size",
    "is_mount_point",
    "mount_points_under",
    "mount_tmpfs",
    "node_memory_bytes",
    "quantity_bytes",
    "unmount",
]

log = logging.getLogger("pinnace.kubelet.volumes")

EMPTY_DIR_MODE = 0o777
MNT_DETACH = 2


class MountError(OSError):
    pass


_libc: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _libc.mount.argtypes = [
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_char_p,
        ]
        _libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return _libc


def mount_tmpfs(target: Path, size_bytes: int | None, *, mode: int = EMPTY_DIR_MODE) -> None:
    """Mount a tmpfs on ``target`` (``size=`` when given, ``mode=`` for its root)."""
    opts = [f"mode={mode:o}"]
    if size_bytes:
        opts.append(f"size={size_bytes}")
    rc = _lib().mount(b"tmpfs", os.fsencode(target), b"tmpfs", 0, ",".join(opts).encode())
    if rc != 0:
        e = ctypes.get_errno()
        raise MountError(e, f"mount -t tmpfs -o {','.join(opts)} tmpfs {target}: {os.strerror(e)}")


def unmount(target: Path) -> None:
    """Unmount ``target``; a busy mount is detached lazily instead."""
    lib = _lib()
    path = os.fsencode(target)
    if lib.umount2(path, 0) == 0:
        return
    e = ctypes.get_errno()
    if e == errno.EINVAL and not is_mount_point(target):
        return
    if e == errno.EBUSY and lib.umount2(path, MNT_DETACH) == 0:
        log.warning("%s was busy: detached it", target)
        return
    e = ctypes.get_errno() or e
    raise MountError(e, f"unmount {target}: {os.strerror(e)}")


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as ``\\ooo``."""
    if "\\" not in field:
        return field
    out = bytearray()
    raw = field.encode()
    i = 0
    while i < len(raw):
        if raw[i] == 0x5C and i + 4 <= len(raw) and raw[i + 1 : i + 4].isdigit():
            out.append(int(raw[i + 1 : i + 4], 8))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return out.decode(errors="surrogateescape")


def mount_points(mountinfo: Path = Path("/proc/self/mountinfo")) -> list[str]:
    """Every mount point of this mount namespace."""
    out: list[str] = []
    for line in mountinfo.read_text().splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            out.append(_unescape(fields[4]))
    return out


def mount_points_under(root: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> list[Path]:
    """Mount points at or below ``root``, deepest first (the order to unmount them)."""
    base = os.path.realpath(root)
    found = {
        p for p in mount_points(mountinfo) if p == base or p.startswith(base.rstrip("/") + "/")
    }
    return [Path(p) for p in sorted(found, key=lambda p: (-p.count("/"), p))]


def is_mount_point(path: Path) -> bool:
    try:
        return os.path.ismount(path)
    except OSError:
        return False


def node_memory_bytes() -> int:
    """MemTotal from /proc/meminfo (the fallback for the node's allocatable memory)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def quantity_bytes(value: Any) -> int | None:
    """A memory quantity in whole bytes (rounded up); None when unset or malformed."""
    if value in (None, ""):
        return None
    try:
        q: Fraction = parse_quantity(str(value))
    except (ValueError, ZeroDivisionError):
        return None
    return math.ceil(q)


def _pod_memory_limit(pod: Mapping[str, Any]) -> int | None:
    """The pod's memory limit as its cgroup would have it: the sum over containers
    (at least the largest init container), None when a container has no limit."""
    spec = pod.get("spec") or {}
    total = 0
    for c in spec.get("containers") or []:
        limit = quantity_bytes(((c.get("resources") or {}).get("limits") or {}).get("memory"))
        if limit is None:
            return None
        total += limit
    for c in spec.get("initContainers") or []:
        limit = quantity_bytes(((c.get("resources") or {}).get("limits") or {}).get("memory"))
        if limit is None:
            return None
        if c.get("restartPolicy") == "Always":  # sidecars run alongside
            total += limit
        else:
            total = max(total, limit)
    for k, v in (spec.get("overhead") or {}).items():
        if k == "memory":
            total += quantity_bytes(v) or 0
    return total or None


def emptydir_memory_size(
    pod: Mapping[str, Any], size_limit: Any, node_allocatable_memory: int
) -> int:
    """The tmpfs size for a memory-backed volume of ``pod``."""
    size = node_allocatable_memory
    pod_limit = _pod_memory_limit(pod)
    if pod_limit is not None and 0 < pod_limit <= size:
        size = pod_limit
    vol_limit = quantity_bytes(size_limit)
    if vol_limit is not None and 0 < vol_limit <= size:
        size = vol_limit
    return size


def disk_usage(root: Path) -> int:
    """Bytes used below ``root`` (allocated blocks, each inode once, not following
    symbolic links nor crossing into other mounts)."""
    try:
        top = os.lstat(root)
    except OSError:
        return 0
    dev = top.st_dev
    total = top.st_blocks * 512
    seen: set[tuple[int, int]] = {(top.st_dev, top.st_ino)}
    stack = [str(root)]
    while stack:
        d = stack.pop()
        try:
            entries: Iterable[os.DirEntry[str]] = list(os.scandir(d))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            total += st.st_blocks * 512
            if stat.S_ISDIR(st.st_mode) and st.st_dev == dev:
                stack.append(entry.path)
    return total
