"""The atomic writer: ..data swaps, user-visible links, pruning, no-op writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pinnace.kubelet.volumes.atomic_writer import (
    DATA_DIR,
    AtomicWriter,
    FileProjection,
    PayloadError,
    validate_path,
)


def visible(target: Path) -> dict[str, str]:
    """Every regular file reachable through the user-visible names (not ..*)."""
    out: dict[str, str] = {}
    for name in os.listdir(target):
        if name.startswith(".."):
            continue
        p = target / name
        if p.is_dir():
            for root, _, files in os.walk(p, followlinks=True):
                for f in files:
                    full = Path(root) / f
                    out[str(full.relative_to(target))] = full.read_text()
        else:
            out[name] = p.read_text()
    return out


def test_layout_and_modes(tmp_path: Path) -> None:
    w = AtomicWriter(tmp_path, "test")
    assert w.write(
        {
            "a": FileProjection(b"1", 0o600),
            "dir/b": FileProjection(b"2", 0o644),
            "dir/sub/c": FileProjection(b"3", 0o400),
        }
    )
    data = os.readlink(tmp_path / DATA_DIR)
    assert data.startswith("..") and (tmp_path / data).is_dir()
    assert os.readlink(tmp_path / "a") == "..data/a"
    assert os.readlink(tmp_path / "dir") == "..data/dir"
    assert visible(tmp_path) == {"a": "1", "dir/b": "2", "dir/sub/c": "3"}
    assert (tmp_path / data / "a").stat().st_mode & 0o7777 == 0o600
    assert (tmp_path / data / "dir/sub/c").stat().st_mode & 0o7777 == 0o400
    assert (tmp_path / data).stat().st_mode & 0o777 == 0o755


def test_update_seen_through_existing_path_and_old_dir_removed(tmp_path: Path) -> None:
    w = AtomicWriter(tmp_path, "test")
    w.write({"key": FileProjection(b"old"), "gone": FileProjection(b"x")})
    first = os.readlink(tmp_path / DATA_DIR)
    handle = tmp_path / "key"  # what a container holds on to through its bind mount
    assert handle.read_text() == "old"
    assert w.write({"key": FileProjection(b"new"), "dir/added": FileProjection(b"y")})
    assert handle.read_text() == "new"
    assert not os.path.lexists(tmp_path / "gone")
    assert not (tmp_path / first).exists()
    assert visible(tmp_path) == {"key": "new", "dir/added": "y"}
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["..data", os.readlink(tmp_path / DATA_DIR), "key", "dir"]
    )


def test_unchanged_payload_is_not_rewritten(tmp_path: Path) -> None:
    w = AtomicWriter(tmp_path, "test")
    assert w.write({"k": FileProjection(b"v")})
    before = os.readlink(tmp_path / DATA_DIR)
    assert not w.write({"k": FileProjection(b"v")})
    assert os.readlink(tmp_path / DATA_DIR) == before
    (tmp_path / "k").unlink()  # a lost user-visible link is put back even then
    assert not w.write({"k": FileProjection(b"v")})
    assert (tmp_path / "k").read_text() == "v"
    # removing a key is a change even when the others are the same
    w.write({"k": FileProjection(b"v"), "x": FileProjection(b"1")})
    assert w.write({"k": FileProjection(b"v")})
    assert not os.path.lexists(tmp_path / "x")


def test_empty_payload(tmp_path: Path) -> None:
    w = AtomicWriter(tmp_path, "test")
    w.write({"k": FileProjection(b"v")})
    assert w.write({})
    assert visible(tmp_path) == {}
    assert os.path.lexists(tmp_path / DATA_DIR)


def test_set_perms_runs_before_swap(tmp_path: Path) -> None:
    seen: list[str] = []

    def set_perms(ts: str) -> None:
        seen.append(ts)
        assert (tmp_path / ts / "k").read_text() == "v"
        assert not os.path.lexists(tmp_path / DATA_DIR)

    AtomicWriter(tmp_path, "test").write({"k": FileProjection(b"v")}, set_perms)
    assert seen == [os.readlink(tmp_path / DATA_DIR)]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", "must not be empty"),
        ("/abs", "must be relative path: /abs"),
        ("a/../b", "must not contain '..': a/../b"),
        ("..hidden", "must not start with '..': ..hidden"),
        ("x" * 256, "filenames must be less than or equal to 255 characters"),
    ],
)
def test_invalid_paths(path: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(PayloadError, match=message):
        validate_path(path)
    with pytest.raises(PayloadError):
        AtomicWriter(tmp_path, "t").write({path: FileProjection(b"")})
    assert os.listdir(tmp_path) == []


def test_missing_target(tmp_path: Path) -> None:
    with pytest.raises(PayloadError):
        AtomicWriter(tmp_path / "nope", "t")
