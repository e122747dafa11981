"""Atomic updates of a directory of projected files (configMap, secret, downwardAPI,
projected volumes), with upstream's on-disk layout so that running containers
see new content through their existing bind mount.

Layout (upstream's ``AtomicWriter``)::

    <volume>/..2024_05_01_10_00_00.123456789/   the real files (a fresh dir per write)
    <volume>/..data -> ..2024_05_01_10_00_00.123456789
    <volume>/key    -> ..data/key               user-visible names (first path element)

A write puts the whole payload into a new timestamped directory, points a
``..data_tmp`` symlink at it and renames that over ``..data`` (rename(2) is
atomic), then adds or prunes the user-visible symlinks and removes the old
directory. A reader following ``key`` sees either the old or the new content,
never a mix. Names starting with ``..`` are reserved.

Nothing is written when every file already has the payload's content and no
file has to go (upstream compares content only, not modes); the user-visible
links are still checked. ``set_perms`` runs after the payload is written and
before the swap (fsGroup ownership).

Blocking file I/O on small payloads; callers run it inline or in a thread.
Not safe for concurrent writers to one directory (the volume manager holds a
per-pod lock).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DATA_DIR", "AtomicWriter", "FileProjection", "PayloadError", "validate_path"]

log = logging.getLogger("pinnace.kubelet.volumes")

DATA_DIR = "..data"
NEW_DATA_DIR = "..data_tmp"
MAX_FILE_NAME = 255
MAX_PATH = 4096


class PayloadError(Exception):
    """The payload cannot be written (an invalid path, or a file system error)."""


@dataclass(frozen=True)
class FileProjection:
    data: bytes
    mode: int = 0o644
    fs_user: int | None = None
    """Owner to give the file (projected service account tokens); None: unchanged."""


def validate_path(path: str) -> None:
    """Upstream's rules for a payload path: relative, no ``..`` element, not starting
    with ``..``, elements of at most 255 and paths of at most 4096 characters."""
    if not path:
        raise PayloadError(f'invalid path: must not be empty: "{path}"')
    if path.startswith("/"):
        raise PayloadError(f"invalid path: must be relative path: {path}")
    if len(path) > MAX_PATH:
        raise PayloadError(f"invalid path: must be less than or equal to {MAX_PATH} characters")
    items = path.split("/")
    for item in items:
        if item == "..":
            raise PayloadError(f"invalid path: must not contain '..': {path}")
        if len(item) > MAX_FILE_NAME:
            raise PayloadError(
                f"invalid path: filenames must be less than or equal to {MAX_FILE_NAME} characters"
            )
    if items[0].startswith("..") and len(items[0]) > 2:
        raise PayloadError(f"invalid path: must not start with '..': {path}")


def _clean(path: str) -> str:
    return os.path.normpath(path)


class AtomicWriter:
    def __init__(self, target_dir: Path, log_context: str = "") -> None:
        if not target_dir.exists():
            raise PayloadError(f"target directory {target_dir} does not exist")
        self.target_dir = target_dir
        self.log_context = log_context

    def current_dir(self) -> Path | None:
        """The timestamped directory ``..data`` points at (None before the first write)."""
        try:
            return self.target_dir / os.readlink(self.target_dir / DATA_DIR)
        except FileNotFoundError:
            return None

    def write(
        self,
        payload: Mapping[str, FileProjection],
        set_perms: Callable[[str], None] | None = None,
    ) -> bool:
        """Project ``payload`` (relative path → content) into the directory; returns
        whether new content was written."""
        clean: dict[str, FileProjection] = {}
        for path, proj in payload.items():
            validate_path(path)
            clean[_clean(path)] = proj

        old_ts = self.current_dir()
        to_remove: set[str] = set()
        should_write = True
        if old_ts is not None:
            to_remove = self._paths_to_remove(clean, old_ts)
            should_write = self._changed(clean, old_ts)
            if not should_write and not to_remove:
                log.debug("%s: no update required for %s", self.log_context, self.target_dir)
                self._create_user_visible(clean)
                return False

        ts_dir = self._new_ts_dir()
        try:
            self._write_payload(clean, ts_dir)
            if set_perms is not None:
                set_perms(ts_dir.name)
            tmp_link = self.target_dir / NEW_DATA_DIR
            if tmp_link.is_symlink():
                tmp_link.unlink()
            os.symlink(ts_dir.name, tmp_link)
            os.rename(tmp_link, self.target_dir / DATA_DIR)
        except BaseException:
            shutil.rmtree(ts_dir, ignore_errors=True)
            (self.target_dir / NEW_DATA_DIR).unlink(missing_ok=True)
            raise
        self._create_user_visible(clean)
        self._remove_user_visible(to_remove)
        if old_ts is not None and old_ts.name != ts_dir.name:
            shutil.rmtree(old_ts, ignore_errors=True)
        log.debug("%s: wrote %s", self.log_context, ts_dir)
        return True

    # --- steps ---------------------------------------------------------------------------

    @staticmethod
    def _changed(payload: Mapping[str, FileProjection], old_ts: Path) -> bool:
        for path, proj in payload.items():
            f = old_ts / path
            if not os.path.lexists(f):
                return True
            try:
                if f.read_bytes() != proj.data:
                    return True
            except OSError:
                return True
        return False

    @staticmethod
    def _paths_to_remove(payload: Mapping[str, FileProjection], old_ts: Path) -> set[str]:
        existing: set[str] = set()
        for root, dirs, files in os.walk(old_ts):
            rel = os.path.relpath(root, old_ts)
            for name in [*dirs, *files]:
                existing.add(name if rel == "." else f"{rel}/{name}")
        wanted: set[str] = set()
        for path in payload:
            p = path
            while p:
                wanted.add(p)
                p = os.path.dirname(p)
        return existing - wanted

    def _new_ts_dir(self) -> Path:
        stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
        ts = Path(tempfile.mkdtemp(prefix=stamp, dir=self.target_dir))
        os.chmod(ts, 0o755)  # group and others must be able to traverse it
        return ts

    @staticmethod
    def _write_payload(payload: Mapping[str, FileProjection], ts_dir: Path) -> None:
        for path, proj in payload.items():
            full = ts_dir / path
            full.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, proj.mode)
            try:
                view = memoryview(proj.data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.chmod(full, proj.mode)  # whatever the umask
            if proj.fs_user is not None:
                os.chown(full, proj.fs_user, -1)

    def _create_user_visible(self, payload: Mapping[str, FileProjection]) -> None:
        for path in payload:
            first = path.split("/", 1)[0]
            visible = self.target_dir / first
            if not os.path.lexists(visible):
                os.symlink(f"{DATA_DIR}/{first}", visible)

    def _remove_user_visible(self, paths: set[str]) -> None:
        for p in paths:
            if "/" in p:  # only the top level holds user-visible links
                continue
            try:
                (self.target_dir / p).unlink()
            except FileNotFoundError:
                pass
            except OSError as e:
                log.error("%s: cannot prune old path %s: %s", self.log_context, p, e)
