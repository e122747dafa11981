"""OCI layouts: references, deterministic layers, manifests, index, archives, read-back."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from pinnace.image import oci
from pinnace.image.oci import Entry, ImageConfig, LayoutError


@pytest.mark.parametrize(
    ("ref", "full"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.35", "docker.io/library/busybox:1.35"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("foo/bar:v1", "docker.io/foo/bar:v1"),
        ("docker.io/busybox", "docker.io/library/busybox:latest"),
        ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1"),
        ("127.0.0.1:5000/library/busybox", "127.0.0.1:5000/library/busybox:latest"),
        ("localhost/pinnace/pause:3.10", "localhost/pinnace/pause:3.10"),
        ("localhost:5000/a/b/c:t", "localhost:5000/a/b/c:t"),
        ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
        ("python:3.11", "docker.io/library/python:3.11"),
        ("busybox@sha256:" + "a" * 64, "docker.io/library/busybox@sha256:" + "a" * 64),
        ("busybox:1@sha256:" + "a" * 64, "docker.io/library/busybox:1@sha256:" + "a" * 64),
    ],
)
def test_normalize_ref(ref: str, full: str) -> None:
    assert oci.normalize_ref(ref) == full


@pytest.mark.parametrize("ref", ["", "Busybox", "busybox:", "busybox:bad tag", "a//b", "x@sha256"])
def test_parse_ref_rejects(ref: str) -> None:
    with pytest.raises(ValueError):
        oci.parse_ref(ref)


def test_reference_parts() -> None:
    r = oci.parse_ref("127.0.0.1:5000/library/busybox:1.35")
    assert (r.domain, r.path, r.tag, r.digest) == (
        "127.0.0.1:5000",
        "library/busybox",
        "1.35",
        None,
    )
    assert r.repository == "127.0.0.1:5000/library/busybox"


def _entries(tmp_path: Path) -> list[Entry]:
    src = tmp_path / "hostfile"
    src.write_bytes(b"#!/bin/sh\necho hi\n")
    return [
        Entry.file("usr/bin/hello", source=src, mode=0o755),
        Entry.file("etc/motd", data="hello\n"),
        Entry.symlink("bin/hi", "/usr/bin/hello"),
        Entry.hardlink("usr/bin/hello2", "usr/bin/hello"),
        Entry.dir("tmp", mode=0o1777),
    ]


CONFIG = ImageConfig(
    entrypoint=["/usr/bin/hello"],
    cmd=["x"],
    env=[oci.DEFAULT_PATH_ENV, "A=b"],
    working_dir="/tmp",
    user="65534:65534",
    exposed_ports=["8080", "53/udp"],
)


def _sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_write_image_layout_is_valid(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    digest = oci.write_image(layout, _entries(tmp_path), CONFIG, "hello:1")
    oci.verify_layout(layout)
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((layout / "index.json").read_text())
    assert index["schemaVersion"] == 2
    [desc] = index["manifests"]
    assert desc["digest"] == digest
    assert desc["mediaType"] == oci.MEDIA_MANIFEST
    assert desc["annotations"][oci.ANNOTATION_IMAGE_NAME] == "docker.io/library/hello:1"
    assert desc["annotations"][oci.ANNOTATION_REF_NAME] == "1"
    assert desc["platform"] == {"architecture": oci.host_architecture(), "os": "linux"}
    manifest_path = oci.blob_path(layout, digest)
    assert _sha(manifest_path) == digest
    assert desc["size"] == manifest_path.stat().st_size
    manifest = json.loads(manifest_path.read_bytes())
    assert manifest["mediaType"] == oci.MEDIA_MANIFEST
    assert manifest["config"]["mediaType"] == oci.MEDIA_CONFIG
    [layer] = manifest["layers"]
    assert layer["mediaType"] == oci.MEDIA_LAYER_GZIP
    assert _sha(oci.blob_path(layout, layer["digest"])) == layer["digest"]
    config = json.loads(oci.blob_path(layout, manifest["config"]["digest"]).read_bytes())
    assert config["os"] == "linux"
    assert config["architecture"] == oci.host_architecture()
    assert config["config"] == {
        "Entrypoint": ["/usr/bin/hello"],
        "Cmd": ["x"],
        "Env": [oci.DEFAULT_PATH_ENV, "A=b"],
        "WorkingDir": "/tmp",
        "User": "65534:65534",
        "ExposedPorts": {"53/udp": {}, "8080/tcp": {}},
    }
    plain = gzip.decompress(oci.blob_path(layout, layer["digest"]).read_bytes())
    assert config["rootfs"] == {
        "type": "layers",
        "diff_ids": ["sha256:" + hashlib.sha256(plain).hexdigest()],
    }


def test_layer_entries_are_sorted_normalised_and_complete(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    oci.write_image(layout, _entries(tmp_path), CONFIG, "hello")
    image = oci.read_image(layout)
    with tarfile.open(image.blob_path(image.layers[0]["digest"]), "r:gz") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == [
            "bin", "bin/hi", "etc", "etc/motd", "tmp", "usr", "usr/bin", "usr/bin/hello",
            "usr/bin/hello2",
        ]  # fmt: skip
        by = {m.name: m for m in members}
        assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in members)
        assert all(m.uname == "" and m.gname == "" for m in members)
        assert by["usr"].isdir() and by["usr"].mode == 0o755
        assert by["tmp"].mode == 0o1777
        assert by["usr/bin/hello"].mode == 0o755
        assert by["bin/hi"].issym() and by["bin/hi"].linkname == "/usr/bin/hello"
        assert by["usr/bin/hello2"].islnk() and by["usr/bin/hello2"].linkname == "usr/bin/hello"
        f = tar.extractfile("etc/motd")
        assert f is not None and f.read() == b"hello\n"


def test_same_inputs_give_same_digests(tmp_path: Path) -> None:
    a = oci.write_image(tmp_path / "a", _entries(tmp_path), CONFIG, "hello")
    b = oci.write_image(tmp_path / "b", list(reversed(_entries(tmp_path))), CONFIG, "hello")
    assert a == b
    c = oci.write_image(tmp_path / "c", _entries(tmp_path), ImageConfig(cmd=["y"]), "hello")
    assert c != a


def test_gzip_header_has_no_name_or_time(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    oci.write_image(layout, _entries(tmp_path), CONFIG, "hello")
    data = oci.blob_path(layout, oci.read_image(layout).layers[0]["digest"]).read_bytes()
    assert data[:2] == b"\x1f\x8b"
    flags, mtime = data[3], int.from_bytes(data[4:8], "little")
    assert flags & 0x08 == 0  # FNAME
    assert mtime == 0


def test_several_images_share_a_layout_and_replacing_collects_garbage(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    one = oci.write_image(layout, [Entry.file("a", data="1")], ImageConfig(), "one")
    two = oci.write_image(layout, [Entry.file("b", data="2")], ImageConfig(), "two:t")
    assert oci.read_image(layout, "one").digest == one
    assert oci.read_image(layout, "docker.io/library/two:t").digest == two
    assert oci.read_image(layout, "t").digest == two  # by ref.name (tag)
    assert oci.read_image(layout, two).digest == two  # by digest
    old_blobs = set(os.listdir(layout / "blobs" / "sha256"))
    one_b = oci.write_image(layout, [Entry.file("a", data="changed")], ImageConfig(), "one")
    assert one_b != one
    assert len(oci.list_images(layout)) == 2
    blobs = set(os.listdir(layout / "blobs" / "sha256"))
    assert one.partition(":")[2] not in blobs
    assert two.partition(":")[2] in blobs and two.partition(":")[2] in old_blobs
    oci.verify_layout(layout)
    with pytest.raises(LayoutError, match="holds 2 images"):
        oci.read_image(layout)
    with pytest.raises(LayoutError, match="no image"):
        oci.read_image(layout, "three")


def test_cache_key_skips_rebuilding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = tmp_path / "l"
    entries = _entries(tmp_path)
    key = oci.entries_fingerprint(entries, CONFIG)
    first = oci.write_image(layout, entries, CONFIG, "hello", cache_key=key)

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("layer rebuilt")

    monkeypatch.setattr(oci, "_write_layer", fail)
    assert oci.write_image(layout, entries, CONFIG, "hello", cache_key=key) == first
    # a changed host file changes the fingerprint
    (tmp_path / "hostfile").write_bytes(b"#!/bin/sh\necho changed, longer\n")
    assert oci.entries_fingerprint(_entries(tmp_path), CONFIG) != key
    # a missing blob defeats the cache
    manifest = json.loads(oci.blob_path(layout, first).read_bytes())
    oci.blob_path(layout, manifest["layers"][0]["digest"]).unlink()
    with pytest.raises(AssertionError, match="layer rebuilt"):
        oci.write_image(layout, entries, CONFIG, "hello", cache_key=key)


def test_verify_layout_detects_corruption(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    digest = oci.write_image(layout, _entries(tmp_path), CONFIG, "hello")
    manifest = json.loads(oci.blob_path(layout, digest).read_bytes())
    config_path = oci.blob_path(layout, manifest["config"]["digest"])
    config_path.write_bytes(config_path.read_bytes().replace(b"linux", b"LINUX"))
    with pytest.raises(LayoutError, match="content has"):
        oci.verify_layout(layout)


def test_entries_from_dir(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "tool").write_text("x")
    os.chmod(root / "bin" / "tool", 0o750)
    os.link(root / "bin" / "tool", root / "bin" / "tool2")
    os.symlink("tool", root / "bin" / "link")
    os.mkfifo(root / "fifo")
    entries = {e.path: e for e in oci.entries_from_dir(root)}
    assert set(entries) == {"bin", "bin/link", "bin/tool", "bin/tool2"}
    assert entries["bin/tool"].mode == 0o750 and entries["bin/tool"].type == "file"
    assert entries["bin/tool2"].type == "hardlink" and entries["bin/tool2"].target == "bin/tool"
    assert entries["bin/link"].type == "symlink" and entries["bin/link"].target == "tool"
    assert all(e.uid == 0 and e.gid == 0 for e in entries.values())
    prefixed = oci.entries_from_dir(root, prefix="opt/x")
    assert {e.path for e in prefixed} >= {"opt/x/bin/tool"}


def test_entry_paths_are_checked() -> None:
    with pytest.raises(ValueError):
        Entry.file("../etc/passwd", data="x")
    with pytest.raises(ValueError):
        Entry.file("a", data="x", source="/etc/hostname")
    assert Entry.file("/./a//b", data="x").path == "a/b"


def test_write_archive_selects_images(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    one = oci.write_image(layout, [Entry.file("a", data="1")], ImageConfig(), "one")
    oci.write_image(layout, [Entry.file("b", data="2")], ImageConfig(), "two")
    buf = io.BytesIO()
    oci.write_archive(layout, buf, ["one"])
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        names = tar.getnames()
        f = tar.extractfile("index.json")
        assert f is not None
        index = json.loads(f.read())
        blobs = [n for n in names if n.startswith("blobs/sha256/")]
        for n in blobs:
            data = tar.extractfile(n)
            assert data is not None
            assert (
                "sha256:" + hashlib.sha256(data.read()).hexdigest()
                == "sha256:" + n.rsplit("/", 1)[1]
            )
    assert names[:2] == ["oci-layout", "index.json"]
    assert [d["digest"] for d in index["manifests"]] == [one]
    assert len(blobs) == 3  # manifest, config, layer of "one" only
    out = tmp_path / "all.tar"
    oci.write_archive(layout, out)
    first = out.read_bytes()
    oci.write_archive(layout, out)
    assert out.read_bytes() == first


def test_read_image_of_missing_layout(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="missing"):
        oci.read_image(tmp_path / "nothing")
