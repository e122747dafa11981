"""Built-in recipes from the host's Debian files (skipped where a package is missing)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
from pathlib import Path

import pytest

from pinnace.image import oci, recipes
from pinnace.image.oci import ImageConfig, LayoutError
from pinnace.image.recipes import RecipeError

needs_busybox = pytest.mark.skipif(not recipes.BUSYBOX.exists(), reason="needs busybox-static")
needs_catatonit = pytest.mark.skipif(not recipes.CATATONIT.exists(), reason="needs catatonit")
needs_python = pytest.mark.skipif(
    not recipes.PYTHON.exists() or shutil.which("ldd") is None, reason="needs python3.11 and ldd"
)


def _members(layout: Path, ref: str | None = None) -> dict[str, tarfile.TarInfo]:
    image = oci.read_image(layout, ref)
    with tarfile.open(image.blob_path(image.layers[0]["digest"]), "r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


@needs_catatonit
def test_pause(tmp_path: Path) -> None:
    digest = recipes.build("pause", tmp_path)
    image = oci.read_image(tmp_path, recipes.PAUSE_IMAGE)
    assert image.digest == digest
    assert image.name == "localhost/pinnace/pause:3.10"
    assert image.config["config"]["Entrypoint"] == ["/pause", "-P"]
    assert image.config["config"]["User"] == "65535:65535"
    members = _members(tmp_path)
    assert list(members) == ["pause"]
    assert members["pause"].mode == 0o755
    assert members["pause"].size == recipes.CATATONIT.stat().st_size


@needs_busybox
def test_busybox(tmp_path: Path) -> None:
    recipes.build("busybox", tmp_path)
    image = oci.read_image(tmp_path, "busybox")
    assert image.name == recipes.BUSYBOX_IMAGE
    assert image.config["config"]["Cmd"] == ["sh"]
    assert image.config["config"]["Env"] == [oci.DEFAULT_PATH_ENV]
    members = _members(tmp_path)
    assert members["bin/busybox"].isfile() and members["bin/busybox"].mode == 0o755
    for applet in ("bin/sh", "bin/tar", "bin/sleep", "bin/cat", "usr/bin/wget", "usr/bin/nc"):
        assert members[applet].issym() and members[applet].linkname == "/bin/busybox", applet
    assert "usr/sbin/httpd" in members
    assert members["tmp"].mode == 0o1777 and members["tmp"].isdir()
    with tarfile.open(image.blob_path(image.layers[0]["digest"]), "r:gz") as tar:
        passwd = tar.extractfile("etc/passwd")
        group = tar.extractfile("etc/group")
        assert passwd is not None and group is not None
        assert passwd.read().decode().splitlines()[1].startswith("nobody:x:65534:65534:")
        assert "nobody:x:65534:" in group.read().decode()


@needs_busybox
def test_httpd(tmp_path: Path) -> None:
    recipes.build("httpd", tmp_path)
    image = oci.read_image(tmp_path)
    assert image.name == recipes.HTTPD_IMAGE
    config = image.config["config"]
    assert config["Entrypoint"] == ["/usr/sbin/httpd", "-f", "-v", "-p", "8080", "-h", "/www"]
    assert config["ExposedPorts"] == {"8080/tcp": {}}
    assert "www/index.html" in _members(tmp_path)


@needs_python
@needs_busybox
def test_python(tmp_path: Path) -> None:
    recipes.build("python", tmp_path)
    image = oci.read_image(tmp_path, "python:3.11")
    assert image.config["config"]["Cmd"] == ["python3"]
    members = _members(tmp_path)
    assert members["usr/bin/python3.11"].isfile()
    assert members["usr/bin/python3"].linkname == "python3.11"
    assert members["lib"].issym() and members["lib"].linkname == "usr/lib"
    assert members["lib64"].issym()
    assert "bin/sh" in members
    lib = "usr/lib/python3.11"
    assert f"{lib}/os.py" in members and f"{lib}/http/server.py" in members
    assert any(n.startswith(f"{lib}/lib-dynload/_ssl.") for n in members)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in members)
    assert not any(
        n.startswith((f"{lib}/test/", f"{lib}/lib2to3/", f"{lib}/ensurepip/")) for n in members
    )
    assert not any(n.startswith(f"{lib}/config-") for n in members)
    # the dynamic loader named in python's ELF header, at its merged-/usr path
    interp = os.path.realpath("/lib64/ld-linux-x86-64.so.2")
    if os.path.exists(interp):
        assert "usr/lib64/ld-linux-x86-64.so.2" in members
    assert any(n.endswith("/libc.so.6") for n in members)


@needs_busybox
def test_build_is_deterministic_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = recipes.build("busybox", tmp_path / "a")
    b = recipes.build("busybox", tmp_path / "b")
    assert a == b

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("rebuilt")

    monkeypatch.setattr(oci, "_write_layer", fail)
    assert recipes.build("busybox", tmp_path / "a") == a
    # another name is another image
    with pytest.raises(AssertionError, match="rebuilt"):
        recipes.build("busybox", tmp_path / "a", ref="127.0.0.1:5000/bb:1")


@needs_busybox
@needs_catatonit
def test_recipes_share_a_layout(tmp_path: Path) -> None:
    recipes.build("pause", tmp_path)
    recipes.build("busybox", tmp_path)
    names = sorted(
        oci.read_image(tmp_path, d["digest"]).name or "" for d in oci.list_images(tmp_path)
    )
    assert names == [recipes.BUSYBOX_IMAGE, recipes.PAUSE_IMAGE]
    oci.verify_layout(tmp_path)


def test_unknown_recipe(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="unknown image recipe 'nope'"):
        recipes.build("nope", tmp_path)


def test_build_from_dir(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "app").mkdir(parents=True)
    (root / "app" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(root / "app" / "run.sh", 0o755)
    config = ImageConfig(entrypoint=["/app/run.sh"], working_dir="/app", env=["A=1"])
    digest = recipes.build_from_dir(
        root, tmp_path / "layout", "127.0.0.1:5000/me/app:1", config=config
    )
    image = oci.read_image(tmp_path / "layout", "127.0.0.1:5000/me/app:1")
    assert image.digest == digest
    assert image.config["config"] == {
        "Entrypoint": ["/app/run.sh"],
        "WorkingDir": "/app",
        "Env": ["A=1"],
    }
    members = _members(tmp_path / "layout")
    assert stat.S_IMODE(members["app/run.sh"].mode) == 0o755
    with pytest.raises(RecipeError, match="not a directory"):
        recipes.build_from_dir(tmp_path / "missing", tmp_path / "l2", "x")


def test_missing_host_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recipes, "CATATONIT", tmp_path / "no-catatonit")
    with pytest.raises(RecipeError, match="install the Debian package catatonit"):
        recipes.build("pause", tmp_path / "l")
    with pytest.raises(LayoutError):
        oci.read_image(tmp_path / "l")
    assert json.dumps(sorted(recipes.RECIPES)) == '["busybox", "httpd", "pause", "python"]'
