"""Test images for node tests: built once per session from the host's files, pushed to a registry.

    layouts = build_test_images(cache_dir)        # {"pause": Path, "busybox": Path, ...}
    refs = await push_test_images(reg.address, layouts)
    refs["busybox"]   # "127.0.0.1:PORT/library/busybox:latest"

Builds reuse an existing layout when the recipe's inputs are unchanged (see
``pinnace.image.recipes.build``), so a session-scoped cache dir costs one
build of about a second.

Names pushed (``<registry>/<path>:<tag>``), chosen so that a ``docker.io``
mirror pointing at the registry makes the usual pod images resolve:

    image: busybox / busybox:latest / busybox:1.35   -> library/busybox:{latest,1.35}
    image: httpd / httpd:latest                      -> library/httpd:latest
        (busybox httpd on port 8080 serving "It works!", not Apache on 80)
    image: python:3.11 / python                      -> library/python:{3.11,latest}
    localhost/pinnace/pause:3.10 (the sandbox image) -> pinnace/pause:3.10

The keys of :func:`push_test_images`'s result are the short names in the left
column (``"busybox"``, ``"busybox:1.35"``, ``"httpd"``, ``"python:3.11"``,
``"python"``, ``"pause"``); the values are the pushed references, which
containerd pulls over plain HTTP from 127.0.0.1 without any configuration.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pinnace.image import recipes
from pinnace.image.registry_client import push

# short name -> (recipe, repository path in the registry, tag)
TEST_IMAGES: dict[str, tuple[str, str, str]] = {
    "busybox": ("busybox", "library/busybox", "latest"),
    "busybox:1.35": ("busybox", "library/busybox", "1.35"),
    "httpd": ("httpd", "library/httpd", "latest"),
    "python:3.11": ("python", "library/python", "3.11"),
    "python": ("python", "library/python", "latest"),
    "pause": ("pause", "pinnace/pause", "3.10"),
}


def build_test_images(cache_dir: Path, recipe_names: list[str] | None = None) -> dict[str, Path]:
    """Build (or reuse) each recipe into ``cache_dir/<recipe>``; recipe -> layout dir."""
    out: dict[str, Path] = {}
    for name in recipe_names or sorted(recipes.RECIPES):
        layout = Path(cache_dir) / name
        recipes.build(name, layout)
        out[name] = layout
    return out


async def push_test_images(registry: str, layouts: dict[str, Path]) -> dict[str, str]:
    """Push the built layouts to ``registry`` (``host:port``, plain HTTP); short name -> reference."""
    out: dict[str, str] = {}
    for short, (recipe, path, tag) in TEST_IMAGES.items():
        if recipe not in layouts:
            continue
        dest = f"{registry}/{path}:{tag}"
        await push(layouts[recipe], None, dest, insecure=True)
        out[short] = dest
    return out


def mirror_config(registry: str) -> dict[str, Any]:
    """A ``registries.yaml`` document making ``docker.io`` images pull from the test registry.

    ``RegistriesConfig.from_dict(mirror_config(reg)).write_hosts_dir(certs_d)``,
    or ``yaml.safe_dump`` it to a file for a kubelet's ``--registry-config``.
    """
    return {"mirrors": {"docker.io": {"endpoint": [f"http://{registry}"]}}}


def push_test_images_sync(registry: str, layouts: dict[str, Path]) -> dict[str, str]:
    """:func:`push_test_images` for synchronous fixtures (no event loop may be running)."""
    return asyncio.run(push_test_images(registry, layouts))
