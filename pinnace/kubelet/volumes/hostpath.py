"""``hostPath`` volumes: the node's own path, checked (and maybe created) per ``type``.

Upstream's hostPath plugin does no mounting of its own: the container runtime
bind-mounts the host path directly, so the volume's path *is* the host path.
SetUp only rejects ``..`` in the path and checks the type:

* ``""`` (unset): nothing is checked;
* ``DirectoryOrCreate``/``FileOrCreate``: made when missing (directory 0755,
  empty file 0644), then checked like ``Directory``/``File``;
* ``Directory``, ``File``, ``Socket``, ``CharDevice``, ``BlockDevice``: the path
  must exist and be of that type.

The messages are upstream's (``hostPath type check failed: /x is not a
directory, it's a File``, ``hostPath /x doesn't exist``). Blocking stat calls
only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["HostPathError", "check_host_path"]


class HostPathError(Exception):
    pass


_DESCRIPTION = {
    "Directory": "directory",
    "File": "file",
    "Socket": "socket file",
    "CharDevice": "character device",
    "BlockDevice": "block device",
}


def _file_type(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "Directory"
    if stat.S_ISREG(mode):
        return "File"
    if stat.S_ISSOCK(mode):
        return "Socket"
    if stat.S_ISCHR(mode):
        return "CharDevice"
    if stat.S_ISBLK(mode):
        return "BlockDevice"
    return "Unknown"


def _matched_or_error(path: str, expected: str) -> None:
    if not os.path.exists(path):
        raise HostPathError(f"hostPath {path} doesn't exist")
    try:
        kind = _file_type(os.stat(path).st_mode)
    except OSError as e:
        raise HostPathError(
            f"hostPath type check failed, {path} is not a {_DESCRIPTION[expected]}, "
            f"unable to determine its type: {e}"
        ) from e
    if kind != expected:
        raise HostPathError(
            f"hostPath type check failed: {path} is not a {_DESCRIPTION[expected]}, it's a {kind}"
        )


def check_host_path(path: str, path_type: str | None) -> Path:
    """Validate (and for the ``...OrCreate`` types make) the host path; return it."""
    if ".." in path.split("/"):
        raise HostPathError(f"invalid HostPath `{path}`: must not contain '..'")
    kind = path_type or ""
    if kind == "":
        return Path(path)
    if kind == "DirectoryOrCreate":
        if not os.path.exists(path):
            os.makedirs(path, 0o755, exist_ok=True)
        kind = "Directory"
    elif kind == "FileOrCreate":
        if not os.path.exists(path):
            fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644)
            os.close(fd)
        kind = "File"
    if kind not in _DESCRIPTION:
        raise HostPathError(f"{path_type} is an invalid volume type")
    _matched_or_error(path, kind)
    return Path(path)
