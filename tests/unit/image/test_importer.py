"""Importing into containerd through ctr (a fake ctr here; the real one in tests/e2e)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from pinnace.image import oci
from pinnace.image.importer import ImageImportError, import_into_containerd, normalize_ref
from pinnace.image.oci import Entry, ImageConfig, LayoutError

# Records its argv; "images import" keeps the archive's index.json; "images ls -q"
# prints the names of what was imported (unless told to forget them).
FAKE_CTR = """#!{python}
import json, os, sys, tarfile
state = {state!r}
args = sys.argv[1:]
with open(os.path.join(state, "calls"), "a") as f:
    f.write(json.dumps(args) + "\\n")
if args[4:6] == ["images", "import"]:
    with tarfile.open(args[6]) as tar:
        index = json.load(tar.extractfile("index.json"))
    names = [d["annotations"]["io.containerd.image.name"] for d in index["manifests"]]
    if not os.path.exists(os.path.join(state, "forget")):
        with open(os.path.join(state, "images"), "a") as f:
            f.write("".join(n + "\\n" for n in names))
elif args[4:7] == ["images", "ls", "-q"]:
    path = os.path.join(state, "images")
    if os.path.exists(path):
        sys.stdout.write(open(path).read())
if os.path.exists(os.path.join(state, "exit1")) and "import" in args:
    sys.stderr.write("ctr: failed to import: boom\\n")
    sys.exit(1)
"""


@pytest.fixture
def fake_ctr(tmp_path: Path) -> tuple[Path, Path]:
    state = tmp_path / "ctr-state"
    state.mkdir()
    ctr = tmp_path / "ctr"
    ctr.write_text(FAKE_CTR.format(python=sys.executable, state=str(state)))
    ctr.chmod(0o755)
    return ctr, state


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    d = tmp_path / "layout"
    oci.write_image(d, [Entry.file("a", data="1")], ImageConfig(), "busybox")
    oci.write_image(d, [Entry.file("b", data="2")], ImageConfig(), "localhost/pinnace/pause:3.10")
    return d


def _calls(state: Path) -> list[list[str]]:
    return [json.loads(line) for line in (state / "calls").read_text().splitlines()]


async def test_imports_one_image_and_checks_it(fake_ctr: tuple[Path, Path], layout: Path) -> None:
    ctr, state = fake_ctr
    await import_into_containerd(layout, "busybox", address="/run/x.sock", ctr=str(ctr))
    calls = _calls(state)
    assert calls[0][:6] == ["-a", "/run/x.sock", "-n", "k8s.io", "images", "import"]
    assert calls[1] == ["-a", "/run/x.sock", "-n", "k8s.io", "images", "ls", "-q"]
    assert (state / "images").read_text() == "docker.io/library/busybox:latest\n"


async def test_imports_all_images(fake_ctr: tuple[Path, Path], layout: Path) -> None:
    ctr, state = fake_ctr
    await import_into_containerd(layout, None, address="/s", namespace="other", ctr=str(ctr))
    assert sorted((state / "images").read_text().split()) == [
        "docker.io/library/busybox:latest",
        "localhost/pinnace/pause:3.10",
    ]
    assert _calls(state)[0][3] == "other"


async def test_image_missing_afterwards_is_an_error(
    fake_ctr: tuple[Path, Path], layout: Path
) -> None:
    ctr, state = fake_ctr
    (state / "forget").touch()
    with pytest.raises(
        ImageImportError, match=re.escape("does not list docker.io/library/busybox:latest")
    ):
        await import_into_containerd(layout, "busybox", address="/s", ctr=str(ctr))


async def test_ctr_failure_is_reported(fake_ctr: tuple[Path, Path], layout: Path) -> None:
    ctr, state = fake_ctr
    (state / "exit1").touch()
    with pytest.raises(ImageImportError, match="boom"):
        await import_into_containerd(layout, "busybox", address="/s", ctr=str(ctr))


async def test_unknown_image(fake_ctr: tuple[Path, Path], layout: Path) -> None:
    ctr, state = fake_ctr
    with pytest.raises(LayoutError, match="no image 'nginx'"):
        await import_into_containerd(layout, "nginx", address="/s", ctr=str(ctr))
    assert not (state / "calls").exists()


def test_normalize_ref_is_exported() -> None:
    assert normalize_ref("busybox") == "docker.io/library/busybox:latest"
