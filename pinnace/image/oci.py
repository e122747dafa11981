"""OCI image layouts written and read in plain Python: layers, configs, manifests, archives.

pinnace runs on machines without internet access, so it makes its own images
instead of pulling them. This module is the one place that knows the OCI image
format (image-spec v1: the ``oci-layout`` file, ``index.json`` and
content-addressed ``blobs/sha256/<hex>``). An image here is always a single
gzip layer, an image config and a manifest; that is all containerd needs.

Why it is built this way:

- **Deterministic output.** Layer entries are sorted, every header has mtime 0,
  uid/gid 0 (unless a caller says otherwise) and no user/group names, the gzip
  header carries no name and mtime 0, and JSON documents are serialised with
  sorted keys. The same inputs give the same digests, so a registry or
  containerd that already holds an image recognises it, and tests can compare
  digests.
- **Streaming.** A layer is written in one pass: tar -> sha256 (the diff_id) ->
  gzip -> sha256 (the blob digest) -> a temporary file renamed to its digest.
  Nothing is held in memory whole.
- **Cache friendly.** ``write_image`` accepts a ``cache_key`` (a fingerprint of
  the inputs, see :func:`entries_fingerprint`); when the layout already holds
  an image of that name built from the same key, nothing is rebuilt.
- **Names.** ``index.json`` carries both ``org.opencontainers.image.ref.name``
  (the tag, as the image spec intends) and ``io.containerd.image.name`` (the
  full normalised name, which ``ctr images import`` uses as the image name).

Everything here is blocking file I/O (tar, gzip, hashing); async callers run it
in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import platform
import re
import stat
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, Protocol

__all__ = [
    "ANNOTATION_BUILD_KEY",
    "ANNOTATION_IMAGE_NAME",
    "ANNOTATION_REF_NAME",
    "DEFAULT_PATH_ENV",
    "MEDIA_CONFIG",
    "MEDIA_INDEX",
    "MEDIA_LAYER_GZIP",
    "MEDIA_MANIFEST",
    "Entry",
    "ImageConfig",
    "LayoutError",
    "LayoutImage",
    "Reference",
    "blob_path",
    "canonical_json",
    "entries_fingerprint",
    "entries_from_dir",
    "host_architecture",
    "list_images",
    "normalize_ref",
    "parse_ref",
    "read_image",
    "verify_layout",
    "write_archive",
    "write_image",
]

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
ANNOTATION_BUILD_KEY = "io.pinnace.image.build-key"
DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
EPOCH = "1970-01-01T00:00:00Z"
_CHUNK = 1 << 20


class LayoutError(Exception):
    """An OCI layout is missing, malformed, or does not hold the image asked for."""


# --------------------------------------------------------------------------
# references


_DOMAIN_DEFAULT = "docker.io"
_LEGACY_DOMAIN = "index.docker.io"
_OFFICIAL_PREFIX = "library/"
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_PATH_RE = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)


@dataclass(frozen=True)
class Reference:
    """A parsed, normalised image reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """``domain/path``: the name without tag or digest."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        s = self.repository
        if self.tag is not None:
            s += f":{self.tag}"
        if self.digest is not None:
            s += f"@{self.digest}"
        return s


def parse_ref(ref: str) -> Reference:
    """Parse and normalise an image reference the way docker and containerd do.

    ``busybox`` -> ``docker.io/library/busybox:latest``; ``foo/bar`` ->
    ``docker.io/foo/bar:latest``; ``127.0.0.1:5000/x`` keeps its registry; a
    reference with only a digest gets no tag. Raises ``ValueError`` for a
    malformed reference.
    """
    text = ref.strip()
    if not text:
        raise ValueError("empty image reference")
    digest: str | None = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise ValueError(f"invalid digest in image reference {ref!r}")
    tag: str | None = None
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise ValueError(f"invalid tag in image reference {ref!r}")
    first, sep, rest = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, rest
    else:
        domain, path = _DOMAIN_DEFAULT, text
    if domain == _LEGACY_DOMAIN:
        domain = _DOMAIN_DEFAULT
    if domain == _DOMAIN_DEFAULT and "/" not in path:
        path = _OFFICIAL_PREFIX + path
    if not _PATH_RE.match(path):
        raise ValueError(f"invalid repository name in image reference {ref!r}")
    if tag is None and digest is None:
        tag = "latest"
    return Reference(domain=domain, path=path, tag=tag, digest=digest)


def normalize_ref(ref: str) -> str:
    """The fully qualified form of an image reference (``busybox`` -> ``docker.io/library/busybox:latest``)."""
    return str(parse_ref(ref))


# --------------------------------------------------------------------------
# layer entries


EntryType = Literal["file", "dir", "symlink", "hardlink"]


@dataclass(frozen=True)
class Entry:
    """One entry of a layer. ``path`` is relative to the image root (no leading slash).

    A ``file`` has its content in ``data`` or in the host file ``source``; a
    ``symlink`` or ``hardlink`` names its ``target`` (for a hard link: another
    entry's path in the layer).
    """

    path: str
    type: EntryType = "file"
    mode: int = 0o644
    source: Path | None = None
    data: bytes | None = None
    target: str = ""
    uid: int = 0
    gid: int = 0

    @staticmethod
    def file(
        path: str,
        *,
        source: Path | str | None = None,
        data: bytes | str | None = None,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
    ) -> Entry:
        if (source is None) == (data is None):
            raise ValueError(f"{path}: give exactly one of source or data")
        return Entry(
            path=_clean(path),
            mode=mode,
            source=Path(source) if source is not None else None,
            data=data.encode() if isinstance(data, str) else data,
            uid=uid,
            gid=gid,
        )

    @staticmethod
    def dir(path: str, *, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Entry:
        return Entry(path=_clean(path), type="dir", mode=mode, uid=uid, gid=gid)

    @staticmethod
    def symlink(path: str, target: str) -> Entry:
        return Entry(path=_clean(path), type="symlink", mode=0o777, target=target)

    @staticmethod
    def hardlink(path: str, target: str) -> Entry:
        return Entry(path=_clean(path), type="hardlink", target=_clean(target))


def _clean(path: str) -> str:
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"not a path inside an image: {path!r}")
    return "/".join(parts)


def entries_from_dir(root: Path, *, prefix: str = "", keep_owner: bool = False) -> list[Entry]:
    """The entries of a host directory tree (modes, symlinks and hard links preserved).

    Owners become 0:0 unless ``keep_owner``; devices, sockets and FIFOs are skipped.
    ``prefix`` places the tree under a directory of the image.
    """
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root}: not a directory")
    out: list[Entry] = []
    seen: dict[tuple[int, int], str] = {}

    def walk(directory: Path, rel: str) -> None:
        for name in sorted(os.listdir(directory)):
            host = directory / name
            path = f"{rel}/{name}" if rel else name
            st = host.lstat()
            uid, gid = (st.st_uid, st.st_gid) if keep_owner else (0, 0)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                out.append(Entry(path=path, type="dir", mode=mode, uid=uid, gid=gid))
                walk(host, path)
            elif stat.S_ISLNK(st.st_mode):
                target = os.readlink(host)
                out.append(
                    Entry(path=path, type="symlink", mode=0o777, target=target, uid=uid, gid=gid)
                )
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in seen:
                    out.append(
                        Entry(path=path, type="hardlink", target=seen[key], uid=uid, gid=gid)
                    )
                    continue
                seen[key] = path
                out.append(Entry(path=path, mode=mode, source=host, uid=uid, gid=gid))

    base = _clean(prefix) if prefix else ""
    walk(root, base)
    return out


def _normalised(entries: Iterable[Entry]) -> list[Entry]:
    """Entries sorted by path, later duplicates winning, with missing parent dirs added."""
    by_path: dict[str, Entry] = {}
    for e in entries:
        by_path[e.path] = e
    for path in list(by_path):
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent not in by_path:
                by_path[parent] = Entry.dir(parent)
    return [by_path[p] for p in sorted(by_path, key=lambda p: p.split("/"))]


def entries_fingerprint(entries: Iterable[Entry], *extra: object) -> str:
    """A cheap fingerprint of layer inputs: paths, modes, and each host file's identity.

    Host files count by (path, size, mtime, inode), so a changed file changes the
    fingerprint without reading it. ``extra`` (the config, the name) is folded in.
    """
    h = hashlib.sha256()
    for e in _normalised(entries):
        rec: list[object] = [e.path, e.type, e.mode, e.target, e.uid, e.gid]
        if e.data is not None:
            rec.append(hashlib.sha256(e.data).hexdigest())
        if e.source is not None:
            st = e.source.stat()
            rec += [str(e.source), st.st_size, st.st_mtime_ns, st.st_ino]
        h.update(json.dumps(rec).encode())
        h.update(b"\n")
    h.update(json.dumps([repr(x) for x in extra]).encode())
    return "sha256:" + h.hexdigest()


# --------------------------------------------------------------------------
# hashing writers


class _Sink(Protocol):
    def write(self, data: Any, /) -> int: ...


class _HashingWriter(io.RawIOBase):
    """Forwards writes to ``sink`` while hashing and counting them."""

    def __init__(self, sink: _Sink) -> None:
        self.sink = sink
        self.hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        view = memoryview(b)
        self.hash.update(view)
        self.sink.write(view)
        self.size += len(view)
        return len(view)

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def canonical_json(doc: Any) -> bytes:
    """The bytes a JSON document is stored as: sorted keys, no insignificant whitespace."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def host_architecture() -> str:
    """The OCI architecture name of this machine (``amd64``, ``arm64``, ...)."""
    machine = platform.machine().lower()
    return {
        "x86_64": "amd64",
        "amd64": "amd64",
        "aarch64": "arm64",
        "arm64": "arm64",
        "armv7l": "arm",
        "armv6l": "arm",
        "i386": "386",
        "i686": "386",
        "ppc64le": "ppc64le",
        "s390x": "s390x",
        "riscv64": "riscv64",
    }.get(machine, machine)


def blob_path(layout_dir: Path, digest: str) -> Path:
    """Where a blob of a layout lives."""
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", hexpart):
        raise LayoutError(f"unsupported digest {digest!r}")
    return Path(layout_dir) / "blobs" / "sha256" / hexpart


@contextlib.contextmanager
def _blob_writer(layout_dir: Path) -> Iterator[tuple[IO[bytes], list[str]]]:
    """A temporary file in the blob dir; the caller puts the final digest into the list."""
    blobs = Path(layout_dir) / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=blobs, prefix=".tmp-")
    result: list[str] = []
    try:
        with os.fdopen(fd, "wb") as f:
            yield f, result
        if not result:
            raise LayoutError("blob written without a digest")
        os.chmod(tmp, 0o644)
        os.replace(tmp, blob_path(layout_dir, result[0]))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _write_blob(layout_dir: Path, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blob_path(layout_dir, digest)
    if not (path.exists() and path.stat().st_size == len(data)):
        with _blob_writer(layout_dir) as (f, result):
            f.write(data)
            result.append(digest)
    return digest, len(data)


def _tarinfo(e: Entry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(e.path)
    info.mtime = 0
    info.uid, info.gid = e.uid, e.gid
    info.uname = info.gname = ""
    info.mode = e.mode
    if e.type == "dir":
        info.type = tarfile.DIRTYPE
    elif e.type == "symlink":
        info.type = tarfile.SYMTYPE
        info.linkname = e.target
    elif e.type == "hardlink":
        info.type = tarfile.LNKTYPE
        info.linkname = e.target
    else:
        info.type = tarfile.REGTYPE
    return info


def _write_layer(
    layout_dir: Path, entries: Sequence[Entry], *, compresslevel: int
) -> tuple[str, int, str]:
    """Write the gzip layer blob; returns (blob digest, blob size, diff_id)."""
    with _blob_writer(layout_dir) as (f, result):
        compressed = _HashingWriter(f)
        with gzip.GzipFile(
            filename="", mode="wb", fileobj=compressed, compresslevel=compresslevel, mtime=0
        ) as gz:
            plain = _HashingWriter(gz)
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for e in entries:
                    info = _tarinfo(e)
                    if e.type != "file":
                        tar.addfile(info)
                    elif e.data is not None:
                        info.size = len(e.data)
                        tar.addfile(info, io.BytesIO(e.data))
                    else:
                        assert e.source is not None
                        with open(e.source, "rb") as src:
                            info.size = os.fstat(src.fileno()).st_size
                            tar.addfile(info, src)
        result.append(compressed.digest)
    return compressed.digest, compressed.size, plain.digest


# --------------------------------------------------------------------------
# image config


@dataclass
class ImageConfig:
    """The runtime part of an OCI image config (``config`` in the config JSON)."""

    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = field(default_factory=lambda: [DEFAULT_PATH_ENV])
    working_dir: str = ""
    user: str = ""
    exposed_ports: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    stop_signal: str = ""

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.user:
            doc["User"] = self.user
        if self.exposed_ports:
            doc["ExposedPorts"] = {
                (p if "/" in p else f"{p}/tcp"): {} for p in sorted(self.exposed_ports)
            }
        if self.env:
            doc["Env"] = list(self.env)
        if self.entrypoint is not None:
            doc["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            doc["Cmd"] = list(self.cmd)
        if self.working_dir:
            doc["WorkingDir"] = self.working_dir
        if self.labels:
            doc["Labels"] = dict(self.labels)
        if self.stop_signal:
            doc["StopSignal"] = self.stop_signal
        return doc


# --------------------------------------------------------------------------
# layouts


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise LayoutError(f"{path}: missing (not an OCI image layout?)") from None
    except ValueError as e:
        raise LayoutError(f"{path}: not JSON: {e}") from None


def _read_index(layout_dir: Path) -> dict[str, Any]:
    path = Path(layout_dir) / "index.json"
    if not path.exists():
        return {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": []}
    doc = _read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("manifests"), list):
        raise LayoutError(f"{path}: not an OCI image index")
    return doc


def _write_file_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _descriptor_name(desc: dict[str, Any]) -> str | None:
    ann = desc.get("annotations") or {}
    name = ann.get(ANNOTATION_IMAGE_NAME)
    return name if isinstance(name, str) else None


def write_image(
    layout_dir: Path,
    entries: Iterable[Entry],
    config: ImageConfig,
    ref: str,
    *,
    architecture: str | None = None,
    annotations: dict[str, str] | None = None,
    compresslevel: int = 6,
    cache_key: str | None = None,
) -> str:
    """Write a one-layer image into an OCI layout (created if missing); returns the manifest digest.

    ``ref`` is normalised (``busybox`` -> ``docker.io/library/busybox:latest``);
    an image of the same name already in the layout is replaced, other images
    stay. When ``cache_key`` is given and the layout already holds this name
    built from the same key (and its blobs), nothing is written.
    Blobs no image references any more are removed.
    """
    layout_dir = Path(layout_dir)
    parsed = parse_ref(ref)
    name = str(parsed)
    tag = parsed.tag or "latest"
    layout_dir.mkdir(parents=True, exist_ok=True)
    index = _read_index(layout_dir)
    if cache_key is not None:
        for desc in index["manifests"]:
            ann = desc.get("annotations") or {}
            if (
                _descriptor_name(desc) == name
                and ann.get(ANNOTATION_BUILD_KEY) == cache_key
                and _image_complete(layout_dir, desc)
            ):
                return str(desc["digest"])
    arch = architecture or host_architecture()
    ordered = _normalised(entries)
    layer_digest, layer_size, diff_id = _write_layer(
        layout_dir, ordered, compresslevel=compresslevel
    )
    config_doc = {
        "created": EPOCH,
        "architecture": arch,
        "os": "linux",
        "config": config.to_json(),
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": EPOCH, "created_by": "pinnace image build"}],
    }
    config_digest, config_size = _write_blob(layout_dir, canonical_json(config_doc))
    manifest_doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": MEDIA_LAYER_GZIP, "digest": layer_digest, "size": layer_size}],
    }
    if annotations:
        manifest_doc["annotations"] = dict(annotations)
    manifest_digest, manifest_size = _write_blob(layout_dir, canonical_json(manifest_doc))
    desc_annotations = {ANNOTATION_IMAGE_NAME: name, ANNOTATION_REF_NAME: tag}
    if cache_key is not None:
        desc_annotations[ANNOTATION_BUILD_KEY] = cache_key
    descriptor = {
        "mediaType": MEDIA_MANIFEST,
        "digest": manifest_digest,
        "size": manifest_size,
        "annotations": desc_annotations,
        "platform": {"architecture": arch, "os": "linux"},
    }
    manifests = [d for d in index["manifests"] if _descriptor_name(d) != name]
    manifests.append(descriptor)
    manifests.sort(key=lambda d: _descriptor_name(d) or "")
    index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": manifests}
    _write_file_atomic(layout_dir / "oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"}))
    _write_file_atomic(layout_dir / "index.json", canonical_json(index))
    _collect_garbage(layout_dir, manifests)
    return manifest_digest


def _image_complete(layout_dir: Path, desc: dict[str, Any]) -> bool:
    try:
        return all(blob_path(layout_dir, d).exists() for d in _referenced_blobs(layout_dir, [desc]))
    except (LayoutError, KeyError, TypeError):
        return False


def _referenced_blobs(layout_dir: Path, manifests: list[dict[str, Any]]) -> set[str]:
    out: set[str] = set()
    for desc in manifests:
        digest = desc["digest"]
        out.add(digest)
        manifest = _read_json(blob_path(layout_dir, digest))
        out.add(manifest["config"]["digest"])
        out.update(layer["digest"] for layer in manifest.get("layers", []))
    return out


def _collect_garbage(layout_dir: Path, manifests: list[dict[str, Any]]) -> None:
    keep = {d.partition(":")[2] for d in _referenced_blobs(layout_dir, manifests)}
    for path in (layout_dir / "blobs" / "sha256").iterdir():
        if path.name not in keep and not path.name.startswith(".tmp-"):
            path.unlink()


@dataclass(frozen=True)
class LayoutImage:
    """One image of a layout, read back: its descriptor, manifest and config."""

    layout_dir: Path
    name: str | None
    descriptor: dict[str, Any]
    manifest_bytes: bytes
    manifest: dict[str, Any]
    config: dict[str, Any]

    @property
    def digest(self) -> str:
        return str(self.descriptor["digest"])

    @property
    def media_type(self) -> str:
        return str(
            self.manifest.get("mediaType") or self.descriptor.get("mediaType") or MEDIA_MANIFEST
        )

    @property
    def config_descriptor(self) -> dict[str, Any]:
        return dict(self.manifest["config"])

    @property
    def layers(self) -> list[dict[str, Any]]:
        return [dict(x) for x in self.manifest.get("layers", [])]

    def blobs(self) -> list[dict[str, Any]]:
        """Descriptors of the config and the layers, in push order."""
        return [*self.layers, self.config_descriptor]

    def blob_path(self, digest: str) -> Path:
        return blob_path(self.layout_dir, digest)


def list_images(layout_dir: Path) -> list[dict[str, Any]]:
    """The manifest descriptors of a layout's ``index.json``."""
    path = Path(layout_dir) / "index.json"
    if not path.exists():
        raise LayoutError(f"{path}: missing (not an OCI image layout?)")
    return [dict(d) for d in _read_index(layout_dir)["manifests"]]


def _select(manifests: list[dict[str, Any]], ref: str | None, layout_dir: Path) -> dict[str, Any]:
    if ref is None:
        if len(manifests) == 1:
            return manifests[0]
        names = ", ".join(_descriptor_name(d) or d.get("digest", "?") for d in manifests)
        raise LayoutError(f"{layout_dir}: holds {len(manifests)} images ({names}); name one")
    for desc in manifests:
        if desc.get("digest") == ref:
            return desc
    with contextlib.suppress(ValueError):
        full = normalize_ref(ref)
        for desc in manifests:
            if _descriptor_name(desc) == full:
                return desc
    for desc in manifests:
        if (desc.get("annotations") or {}).get(ANNOTATION_REF_NAME) == ref:
            return desc
    raise LayoutError(f"{layout_dir}: no image {ref!r}")


def read_image(layout_dir: Path, ref: str | None = None) -> LayoutImage:
    """Read one image of a layout: by digest, by (normalised) name, by tag, or the only one."""
    layout_dir = Path(layout_dir)
    desc = _select(list_images(layout_dir), ref, layout_dir)
    manifest_bytes = blob_path(layout_dir, desc["digest"]).read_bytes()
    manifest = json.loads(manifest_bytes)
    if manifest.get("mediaType", MEDIA_MANIFEST) != MEDIA_MANIFEST:
        raise LayoutError(f"{desc['digest']}: not an image manifest ({manifest.get('mediaType')})")
    config = _read_json(blob_path(layout_dir, manifest["config"]["digest"]))
    return LayoutImage(
        layout_dir=layout_dir,
        name=_descriptor_name(desc),
        descriptor=desc,
        manifest_bytes=manifest_bytes,
        manifest=manifest,
        config=config,
    )


def _file_digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return "sha256:" + h.hexdigest(), size


def verify_layout(layout_dir: Path) -> None:
    """Check every referenced blob exists with its digest and size, and diff_ids match layers."""
    layout_dir = Path(layout_dir)
    layout = _read_json(layout_dir / "oci-layout")
    if layout.get("imageLayoutVersion") != "1.0.0":
        raise LayoutError(f"{layout_dir}/oci-layout: unexpected {layout}")
    for desc in list_images(layout_dir):
        image = read_image(layout_dir, desc["digest"])
        for d in [desc, image.config_descriptor, *image.layers]:
            digest, size = _file_digest(blob_path(layout_dir, d["digest"]))
            if digest != d["digest"] or size != d["size"]:
                raise LayoutError(f"blob {d['digest']}: content has {digest}, {size} bytes")
        diff_ids = image.config.get("rootfs", {}).get("diff_ids", [])
        if len(diff_ids) != len(image.layers):
            raise LayoutError(
                f"{desc['digest']}: {len(diff_ids)} diff_ids for {len(image.layers)} layers"
            )
        for layer, diff_id in zip(image.layers, diff_ids, strict=True):
            h = hashlib.sha256()
            with gzip.open(blob_path(layout_dir, layer["digest"]), "rb") as f:
                while chunk := f.read(_CHUNK):
                    h.update(chunk)
            if "sha256:" + h.hexdigest() != diff_id:
                raise LayoutError(f"layer {layer['digest']}: diff_id mismatch")


def write_archive(
    layout_dir: Path, out: Path | IO[bytes], refs: Sequence[str] | None = None
) -> None:
    """Write a layout (or only the images ``refs`` names) as an OCI archive tar.

    This is the format ``ctr images import`` reads: ``oci-layout``,
    ``index.json`` and the referenced blobs, deterministic like the layers.
    """
    layout_dir = Path(layout_dir)
    manifests = list_images(layout_dir)
    if refs is not None:
        manifests = [_select(manifests, r, layout_dir) for r in refs]
    index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": manifests}
    blobs = sorted(_referenced_blobs(layout_dir, manifests))

    def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), 0o644, 0
        tar.addfile(info, io.BytesIO(data))

    def add_dir(tar: tarfile.TarFile, name: str) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
        tar.addfile(info)

    ctx: contextlib.AbstractContextManager[IO[bytes]]
    ctx = open(out, "wb") if isinstance(out, str | Path) else contextlib.nullcontext(out)
    with ctx as f, tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        add_bytes(tar, "oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"}))
        add_bytes(tar, "index.json", canonical_json(index))
        add_dir(tar, "blobs")
        add_dir(tar, "blobs/sha256")
        for digest in blobs:
            path = blob_path(layout_dir, digest)
            info = tarfile.TarInfo(f"blobs/sha256/{path.name}")
            info.size, info.mode, info.mtime = path.stat().st_size, 0o644, 0
            with open(path, "rb") as src:
                tar.addfile(info, src)
