"""Built-in image recipes: pause, busybox, httpd and python, made from the host's Debian files.

There is no internet here, so pinnace's images are assembled from binaries the
host already has (Debian packages ``catatonit``, ``busybox-static`` and
``python3.11``) and written with :mod:`pinnace.image.oci`:

- ``pause``: Debian's static ``catatonit`` as ``/pause`` (``/pause -P``, user
  65535). Its name, :data:`PAUSE_IMAGE`, is what the kubelet gives containerd as
  the sandbox image.
- ``busybox``: the static busybox with one symlink per applet (``busybox
  --list-full``), a minimal ``/etc/passwd`` and ``/etc/group`` (root and
  nobody), ``/tmp`` 1777; runs ``sh``.
- ``httpd``: busybox serving ``/www`` with its ``httpd`` applet on port 8080.
- ``python``: the host's ``python3.11`` with the shared libraries ``ldd`` lists
  (interpreter and extension modules), the standard library without tests,
  IDLE, tkinter, ensurepip, lib2to3, distutils, the static libpython and
  bytecode caches, plus the busybox files so ``sh`` exists.

A recipe yields entries and a config; :func:`build` fingerprints them (paths,
modes and each host file's size/mtime/inode) and skips the work when the layout
already holds that image built from the same inputs, so rebuilding is cheap.
Everything here is blocking (subprocess, file I/O): call it from a thread in
async code.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pinnace.image import PAUSE_IMAGE
from pinnace.image.oci import (
    DEFAULT_PATH_ENV,
    Entry,
    ImageConfig,
    entries_fingerprint,
    entries_from_dir,
    write_image,
)

__all__ = [
    "BUSYBOX_IMAGE",
    "HTTPD_IMAGE",
    "HTTPD_INDEX_HTML",
    "HTTPD_PORT",
    "PAUSE_IMAGE",
    "PYTHON_IMAGE",
    "RECIPES",
    "Recipe",
    "RecipeError",
    "build",
    "build_from_dir",
    "default_ref",
    "recipe_contents",
]


BUSYBOX_IMAGE = "docker.io/library/busybox:latest"
HTTPD_IMAGE = "docker.io/library/httpd:latest"
PYTHON_IMAGE = "docker.io/library/python:3.11"
HTTPD_PORT = 8080
HTTPD_INDEX_HTML = "<html><body><h1>It works!</h1></body></html>\n"

CATATONIT = Path("/usr/bin/catatonit")
BUSYBOX = Path("/bin/busybox")
PYTHON_VERSION = "3.11"
PYTHON = Path(f"/usr/bin/python{PYTHON_VERSION}")
PYTHON_LIB = Path(f"/usr/lib/python{PYTHON_VERSION}")

_RECIPE_FORMAT = 1  # bump when a recipe's output changes for the same host files

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnobody:x:65534:\n"

# Standard library parts a small runtime image does without.
_PY_SKIP_DIRS = {
    "__pycache__",
    "test",
    "tests",
    "idle_test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
    "distutils",
    "pydoc_data",
}
_PY_SKIP_FILES = re.compile(
    r"^(_test\w*|_ctypes_test|_xxtestfuzz|xxlimited\w*|_tkinter)\..*so$|^turtle\.py$"
)


class RecipeError(Exception):
    """A recipe cannot be built on this host (a package is missing, an unknown name)."""


@dataclass(frozen=True)
class Recipe:
    name: str
    ref: str
    description: str
    contents: Callable[[], tuple[list[Entry], ImageConfig]]


def _need(path: Path, package: str) -> Path:
    if not path.exists():
        raise RecipeError(f"{path} is missing: install the Debian package {package}")
    return path


# --------------------------------------------------------------------------
# recipes


def _pause() -> tuple[list[Entry], ImageConfig]:
    src = _need(CATATONIT, "catatonit")
    entries = [Entry.file("pause", source=src, mode=0o755)]
    return entries, ImageConfig(entrypoint=["/pause", "-P"], user="65535:65535", env=[])


@functools.lru_cache(maxsize=4)
def _busybox_applets(binary: str, size: int, mtime_ns: int) -> tuple[str, ...]:
    out = subprocess.run([binary, "--list-full"], check=True, capture_output=True, text=True).stdout
    return tuple(sorted({line.strip().lstrip("/") for line in out.splitlines() if line.strip()}))


def _busybox_entries() -> list[Entry]:
    src = _need(BUSYBOX, "busybox-static")
    st = src.stat()
    entries = [
        Entry.dir("bin"),
        Entry.dir("sbin"),
        Entry.dir("usr/bin"),
        Entry.dir("usr/sbin"),
        Entry.file("bin/busybox", source=src, mode=0o755),
    ]
    for applet in _busybox_applets(str(src), st.st_size, st.st_mtime_ns):
        if applet != "bin/busybox":
            entries.append(Entry.symlink(applet, "/bin/busybox"))
    entries += [
        Entry.file("etc/passwd", data=PASSWD),
        Entry.file("etc/group", data=GROUP),
        Entry.dir("tmp", mode=0o1777),
        Entry.dir("root", mode=0o700),
        Entry.dir("home"),
        Entry.dir("var"),
        Entry.dir("proc", mode=0o555),
        Entry.dir("sys", mode=0o555),
        Entry.dir("dev"),
    ]
    return entries


def _busybox() -> tuple[list[Entry], ImageConfig]:
    return _busybox_entries(), ImageConfig(cmd=["sh"])


def _httpd() -> tuple[list[Entry], ImageConfig]:
    entries = _busybox_entries()
    entries += [Entry.dir("www"), Entry.file("www/index.html", data=HTTPD_INDEX_HTML)]
    config = ImageConfig(
        entrypoint=["/usr/sbin/httpd", "-f", "-v", "-p", str(HTTPD_PORT), "-h", "/www"],
        exposed_ports=[f"{HTTPD_PORT}/tcp"],
    )
    return entries, config


def _image_path(host_path: str) -> str:
    """Where a host library goes in the image: merged-/usr (``lib`` -> ``usr/lib``)."""
    p = host_path.lstrip("/")
    for top in ("lib/", "lib64/", "lib32/", "libx32/"):
        if p.startswith(top):
            return "usr/" + p
    return p


def _shared_libraries(binaries: Iterable[Path]) -> dict[str, Path]:
    """Image path -> host file of every library ``ldd`` lists for the binaries (incl. the loader)."""
    files = [str(b) for b in binaries]
    proc = subprocess.run(["ldd", *files], capture_output=True, text=True, check=False)
    out: dict[str, Path] = {}
    for line in proc.stdout.splitlines():
        line = line.strip()
        m = re.match(r"^(?:\S+ => )?(/\S+) \(0x[0-9a-f]+\)$", line)
        if m:
            host = m.group(1)
            out[_image_path(host)] = Path(os.path.realpath(host))
    if not out:
        raise RecipeError(f"ldd listed no libraries for {files[0]}: {proc.stderr.strip()}")
    return out


def _python_stdlib() -> list[Entry]:
    out: list[Entry] = []
    prefix = str(PYTHON_LIB).lstrip("/")
    for e in entries_from_dir(PYTHON_LIB, prefix=prefix):
        parts = e.path[len(prefix) + 1 :].split("/")
        if any(p in _PY_SKIP_DIRS or p.startswith("config-") for p in parts[:-1]):
            continue
        if e.type == "dir" and (parts[-1] in _PY_SKIP_DIRS or parts[-1].startswith("config-")):
            continue
        if _PY_SKIP_FILES.match(parts[-1]) or parts[-1].endswith((".pyc", ".exe")):
            continue
        out.append(e)
    return out


def _python() -> tuple[list[Entry], ImageConfig]:
    binary = _need(PYTHON, f"python{PYTHON_VERSION}")
    _need(PYTHON_LIB / "os.py", f"libpython{PYTHON_VERSION}-stdlib")
    stdlib = _python_stdlib()
    extensions = [e.source for e in stdlib if e.source is not None and e.path.endswith(".so")]
    libs = _shared_libraries([binary, *(s for s in extensions if s is not None)])
    entries = _busybox_entries()
    entries += [
        Entry.symlink("lib", "usr/lib"),
        Entry.symlink("lib64", "usr/lib64"),
        Entry.file(f"usr/bin/python{PYTHON_VERSION}", source=binary, mode=0o755),
        Entry.symlink("usr/bin/python3", f"python{PYTHON_VERSION}"),
        Entry.symlink("usr/bin/python", "python3"),
        *stdlib,
    ]
    entries += [Entry.file(path, source=src, mode=0o755) for path, src in sorted(libs.items())]
    site = Path(f"/etc/python{PYTHON_VERSION}/sitecustomize.py")
    if site.exists():
        entries.append(Entry.file(str(site), source=site))
    certs = Path("/etc/ssl/certs/ca-certificates.crt")
    if certs.exists():
        entries += [
            Entry.file("etc/ssl/certs/ca-certificates.crt", source=certs),
            Entry.symlink("usr/lib/ssl/certs", "/etc/ssl/certs"),
            Entry.symlink("usr/lib/ssl/cert.pem", "/etc/ssl/certs/ca-certificates.crt"),
        ]
    config = ImageConfig(
        cmd=["python3"],
        env=[DEFAULT_PATH_ENV, "LANG=C.UTF-8", f"PYTHON_VERSION={PYTHON_VERSION}"],
    )
    return entries, config


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe("pause", PAUSE_IMAGE, "the pod sandbox image: catatonit as /pause -P", _pause),
        Recipe("busybox", BUSYBOX_IMAGE, "static busybox with all applets; runs sh", _busybox),
        Recipe(
            "httpd",
            HTTPD_IMAGE,
            f"busybox httpd serving /www on port {HTTPD_PORT}",
            _httpd,
        ),
        Recipe("python", PYTHON_IMAGE, f"the host's python{PYTHON_VERSION} and stdlib", _python),
    ]
}


def _recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise RecipeError(
            f"unknown image recipe {name!r} (known: {', '.join(sorted(RECIPES))})"
        ) from None


def default_ref(recipe: str) -> str:
    """The image name a recipe is built under unless told otherwise."""
    return _recipe(recipe).ref


def recipe_contents(recipe: str) -> tuple[list[Entry], ImageConfig]:
    """The layer entries and config of a recipe (for inspection and tests)."""
    return _recipe(recipe).contents()


def build(recipe: str, layout_dir: Path, *, ref: str | None = None) -> str:
    """Build a recipe's image into an OCI layout dir; returns the manifest digest.

    ``ref`` defaults to the recipe's name (:func:`default_ref`). When the layout
    already holds that name built from the same inputs, nothing is rebuilt.
    """
    r = _recipe(recipe)
    entries, config = r.contents()
    name = ref or r.ref
    key = entries_fingerprint(entries, _RECIPE_FORMAT, r.name, name, config)
    # python's layer is the big one; a lighter compression keeps its build quick
    level = 1 if r.name == "python" else 6
    return write_image(Path(layout_dir), entries, config, name, cache_key=key, compresslevel=level)


def build_from_dir(
    rootfs: Path,
    layout_dir: Path,
    ref: str,
    *,
    config: ImageConfig | None = None,
    keep_owner: bool = False,
) -> str:
    """Build an image from any root filesystem directory; returns the manifest digest."""
    rootfs = Path(rootfs)
    if not rootfs.is_dir():
        raise RecipeError(f"{rootfs}: not a directory")
    entries = entries_from_dir(rootfs, keep_owner=keep_owner)
    cfg = config or ImageConfig()
    key = entries_fingerprint(entries, _RECIPE_FORMAT, "from-dir", ref, cfg)
    return write_image(Path(layout_dir), entries, cfg, ref, cache_key=key)
