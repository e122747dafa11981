"""fsGroup ownership of volume contents (upstream's ``SetVolumeOwnership``).

Every file and directory in the volume gets group ``fsGroup`` (its owner is
kept); files gain ``rw`` for the group (``r`` for read-only volumes such as
configMap/secret/projected/downwardAPI: mask 0440, else 0660); directories also
gain the group's ``x`` and the setgid bit, so that files created later inherit
the group. Symbolic links get the group with lchown but are never chmod'ed
(that would change their target's mode). With ``fsGroupChangePolicy:
OnRootMismatch`` the walk is skipped when the volume root already has the group,
the permission bits and setgid.

Blocking: a full tree walk. The volume manager runs it in a thread for volumes
that may be large (persistent volumes), inline for freshly projected ones.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = ["requires_permission_change", "set_volume_ownership"]

log = logging.getLogger("pinnace.kubelet.volumes")

RW_MASK = 0o660
RO_MASK = 0o440
EXEC_MASK = 0o110


def requires_permission_change(root: Path, fs_group: int, *, readonly: bool) -> bool:
    """Whether the volume root lacks the group, the permission bits or setgid."""
    try:
        st = os.stat(root)
    except OSError:
        return True
    if st.st_gid != fs_group or not stat.S_ISDIR(st.st_mode):
        return True
    want = (RO_MASK if readonly else RW_MASK) | EXEC_MASK
    return (st.st_mode & want) != want or not st.st_mode & stat.S_ISGID


def _change(path: str, st: os.stat_result, fs_group: int, mask: int) -> None:
    try:
        os.lchown(path, -1, fs_group)
    except OSError as e:
        log.error("lchown of %s failed: %s", path, e)
    if stat.S_ISLNK(st.st_mode):
        return
    mode = stat.S_IMODE(st.st_mode) | mask
    if stat.S_ISDIR(st.st_mode):
        mode |= stat.S_ISGID | EXEC_MASK
    try:
        os.chmod(path, mode)
    except OSError as e:
        log.error("chmod of %s failed: %s", path, e)


def set_volume_ownership(
    root: Path, fs_group: int | None, *, readonly: bool, change_policy: str | None = None
) -> None:
    """Give the volume at ``root`` to ``fs_group`` (nothing when it is None)."""
    if fs_group is None:
        return
    if change_policy == "OnRootMismatch" and not requires_permission_change(
        root, fs_group, readonly=readonly
    ):
        log.debug("skipping permission and ownership change for %s", root)
        return
    mask = RO_MASK if readonly else RW_MASK
    _change(str(root), os.lstat(root), fs_group, mask)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            _change(p, st, fs_group, mask)
