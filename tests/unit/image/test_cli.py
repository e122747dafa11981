"""``pinnace image`` command handlers, driven through an argparse parser like main.py's."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from pinnace.cli.image import add_image_commands
from pinnace.image import oci, recipes


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pinnace")
    add_image_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


def test_list_recipes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["image", "list-recipes"]) == 0
    out = capsys.readouterr().out
    for name in ("pause", "busybox", "httpd", "python"):
        assert name in out
    assert recipes.PAUSE_IMAGE in out


@pytest.mark.skipif(not recipes.BUSYBOX.exists(), reason="needs busybox-static")
def test_build_recipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["image", "build", "busybox", "-o", str(tmp_path), "-t", "bb:1"]) == 0
    digest = capsys.readouterr().out.strip()
    assert oci.read_image(tmp_path, "docker.io/library/bb:1").digest == digest


def test_build_from_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "x").write_text("x")
    argv = [
        "image", "build", "--from-dir", str(root), "-o", str(tmp_path / "l"), "-t", "me/app:2",
        "--entrypoint", '["/bin/sh", "-c"]', "--cmd", "echo 'a b'", "--env", "A=1",
        "--workdir", "/w", "--user", "1000", "--expose", "80",
    ]  # fmt: skip
    assert run(argv) == 0
    digest = capsys.readouterr().out.strip()
    image = oci.read_image(tmp_path / "l", "me/app:2")
    assert image.digest == digest
    assert image.config["config"] == {
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo", "a b"],
        "Env": [oci.DEFAULT_PATH_ENV, "A=1"],
        "WorkingDir": "/w",
        "User": "1000",
        "ExposedPorts": {"80/tcp": {}},
    }


def test_build_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["image", "build", "-o", str(tmp_path)]) == 2
    assert run(["image", "build", "--from-dir", str(tmp_path), "-o", str(tmp_path / "l")]) == 2
    assert "needs -t REF" in capsys.readouterr().err
    assert run(["image", "build", "nope", "-o", str(tmp_path)]) == 1
    assert "unknown image recipe 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(["image", "build", "--from-dir", ".", "-o", "x", "-t", "y", "--env", "NOEQUALS"])


def test_push_to_unreachable_registry_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oci.write_image(tmp_path, [oci.Entry.file("a", data="1")], oci.ImageConfig(), "a")
    # port 9 on loopback: nothing listens there
    assert run(["image", "push", str(tmp_path), "127.0.0.1:9/a:1", "--insecure"]) == 1
    assert "pinnace image push:" in capsys.readouterr().err


def test_import_of_missing_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["image", "import", str(tmp_path / "none"), "--address", "/nonexistent"]) == 1
    assert "missing" in capsys.readouterr().err
