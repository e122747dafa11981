"""Load images from an OCI layout into a containerd, with ``ctr images import``.

containerd's own import path (content store, image record, unpack into the
snapshotter the CRI plugin uses) is what ``ctr images import`` drives, and
``ctr`` ships with Debian's containerd, so pinnace runs it instead of
re-implementing the containerd content/images/leases gRPC dance. The layout is
written as an OCI archive to a temporary file (the images asked for only); ctr
takes each image's name from the ``io.containerd.image.name`` annotation
:mod:`pinnace.image.oci` sets. Afterwards the image list is checked, so a
silent failure of ctr shows up here as an :class:`ImageImportError`.

The archive is written in a thread; ctr runs as an asyncio subprocess. Image
names are normalised as docker does (``busybox`` ->
``docker.io/library/busybox:latest``): :func:`normalize_ref`.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pinnace import aio
from pinnace.image.oci import (
    ANNOTATION_IMAGE_NAME,
    LayoutError,
    list_images,
    normalize_ref,
    parse_ref,
    read_image,
    write_archive,
)

__all__ = [
    "ImageImportError",
    "import_into_containerd",
    "list_containerd_images",
    "normalize_ref",
    "parse_ref",
]

log = logging.getLogger("pinnace.image.importer")

CTR = "ctr"


class ImageImportError(Exception):
    """ctr failed to import an image, or the image did not appear afterwards."""


async def _ctr(args: Sequence[str], *, ctr: str, timeout: float) -> str:
    proc = await asyncio.create_subprocess_exec(
        ctr,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await aio.wait_for(proc.communicate(), timeout)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise ImageImportError(
            f"{ctr} {' '.join(args)} failed (exit {proc.returncode}): "
            f"{err.decode(errors='replace').strip() or out.decode(errors='replace').strip()}"
        )
    return out.decode(errors="replace")


async def list_containerd_images(
    *, address: str, namespace: str = "k8s.io", ctr: str = CTR, timeout: float = 60.0
) -> list[str]:
    """The image names a containerd holds in a namespace (``ctr images ls -q``)."""
    out = await _ctr(
        ["-a", address, "-n", namespace, "images", "ls", "-q"], ctr=ctr, timeout=timeout
    )
    return [line.strip() for line in out.splitlines() if line.strip()]


def _names(layout_dir: Path, ref: str | None) -> list[str]:
    if ref is not None:
        image = read_image(layout_dir, ref)
        return [image.name or normalize_ref(ref)]
    names = []
    for desc in list_images(layout_dir):
        name = (desc.get("annotations") or {}).get(ANNOTATION_IMAGE_NAME)
        if not name:
            raise LayoutError(f"{layout_dir}: image {desc.get('digest')} has no name")
        names.append(str(name))
    return names


async def import_into_containerd(
    layout_dir: Path,
    ref: str | None,
    *,
    address: str,
    namespace: str = "k8s.io",
    ctr: str = CTR,
    timeout: float = 300.0,
) -> None:
    """Import one image of an OCI layout (``ref``; ``None``: all of them) into a containerd.

    ``address`` is containerd's socket, ``namespace`` the containerd namespace
    (the CRI plugin uses ``k8s.io``). The image is unpacked into containerd's
    default snapshotter. Raises :class:`ImageImportError` when ctr fails or the
    image is missing afterwards, ``LayoutError`` when the layout has no such image.
    """
    layout_dir = Path(layout_dir)
    names = await asyncio.to_thread(_names, layout_dir, ref)
    with tempfile.TemporaryDirectory(prefix="pinnace-import-") as tmp:
        archive = Path(tmp) / "image.tar"
        await asyncio.to_thread(write_archive, layout_dir, archive, names)
        log.debug("importing %s into %s (%s)", ", ".join(names), address, namespace)
        await _ctr(
            ["-a", address, "-n", namespace, "images", "import", str(archive)],
            ctr=ctr,
            timeout=timeout,
        )
    present = set(await list_containerd_images(address=address, namespace=namespace, ctr=ctr))
    missing = [n for n in names if n not in present]
    if missing:
        raise ImageImportError(
            f"ctr imported {layout_dir} but containerd at {address} (namespace {namespace}) "
            f"does not list {', '.join(missing)}"
        )
