"""``subPath``/``subPathExpr`` of a volumeMount: a path inside the volume, made safe.

Rules (upstream's ``makeMounts`` and ``subpath`` package, with their messages):

* an absolute sub path is refused (``error SubPath `/x` must not be an absolute
  path``), so is any ``..`` element (``unable to provision SubPath `a/../b`:
  must not contain '..'``);
* a missing sub path is created as directories with the volume root's mode,
  one element at a time, never through a symbolic link that leaves the volume;
* the path is then resolved with the node's symbolic-link semantics and must stay
  inside the (resolved) volume; the resolved path is what gets bind-mounted, so
  a link swapped in later cannot redirect the mount. A configMap key thus
  resolves to the file inside the current ``..<timestamp>`` directory — which is
  why, as upstream, sub-path mounts of projected volumes do not see updates.

Upstream additionally bind-mounts the resolved path under
``<pod>/volume-subpaths/`` to close the window between the check and the
runtime's mount; here the runtime mounts the resolved path directly (the
remaining window is a symlink swap *after* resolution, on a path inside a
volume only the pod's own containers can write).

Blocking stat/mkdir calls only.
"""

from __future__ import annotations

import os
from pathlib import Path

from pinnace.kubelet.envvars import ContainerConfigError

__all__ = ["SubPathError", "prepare_subpath", "validate_subpath"]


class SubPathError(ContainerConfigError):
    """A volumeMount's sub path is invalid or cannot be prepared."""


def validate_subpath(sub_path: str) -> None:
    if sub_path.startswith("/"):
        raise SubPathError(f"error SubPath `{sub_path}` must not be an absolute path")
    if ".." in sub_path.split("/"):
        raise SubPathError(f"unable to provision SubPath `{sub_path}`: must not contain '..'")


def _within(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip("/") + "/")


def _safe_make_dirs(volume: str, sub_path: str, mode: int) -> None:
    """Create the missing elements of ``sub_path`` below the resolved ``volume``."""
    current = volume
    for element in [e for e in sub_path.split("/") if e not in ("", ".")]:
        candidate = os.path.join(current, element)
        if os.path.lexists(candidate):
            resolved = os.path.realpath(candidate)
            if not _within(resolved, volume):
                raise OSError(f"{candidate} leaves the volume")
            current = resolved
            continue
        try:
            os.mkdir(candidate, mode)
        except FileExistsError:
            pass
        os.chmod(candidate, mode)  # regardless of the umask
        current = candidate


def prepare_subpath(volume_path: Path, sub_path: str, *, mount_name: str, container: str) -> Path:
    """The host path to bind-mount for ``sub_path`` of the volume at ``volume_path``."""
    validate_subpath(sub_path)
    base = os.path.realpath(volume_path)
    target = os.path.join(base, sub_path)
    if not os.path.lexists(target):
        try:
            mode = os.stat(base).st_mode & 0o7777
            _safe_make_dirs(base, sub_path, mode)
        except OSError:
            raise SubPathError(
                f'failed to create subPath directory for volumeMount "{mount_name}" '
                f'of container "{container}"'
            ) from None
    resolved = os.path.realpath(target)
    if not _within(resolved, base) or not os.path.lexists(resolved):
        raise SubPathError(
            f'failed to prepare subPath for volumeMount "{mount_name}" of container "{container}"'
        )
    return Path(resolved)
