"""Images end to end: a real docker-registry, a private containerd, containers run with ctr.

Uses the session fixtures of ``tests/e2e/conftest.py`` (``test_images``: every
recipe built once; ``registry``: a loopback docker-registry holding them) and a
containerd of its own per module (CRI plugin off; ``ctr`` drives it), with its
root, state, socket and runc root in a temporary directory.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinnace.image import oci, recipes
from pinnace.image.importer import import_into_containerd, list_containerd_images
from pinnace.image.registries import RegistriesConfig
from pinnace.image.registry_client import RegistryClient, push
from tests.images import TEST_IMAGES
from tests.registry import RegistryServer

pytestmark = pytest.mark.node

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


class Containerd:
    """A bare containerd (no CRI) in a temporary directory, driven with ctr."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.address = str(base / "c.sock")
        self.runc_root = base / "runc"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        config = self.base / "config.toml"
        config.write_text(
            "version = 2\n"
            f'root = "{self.base / "root"}"\n'
            f'state = "{self.base / "state"}"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{self.address}"\n'
        )
        with open(self.base / "containerd.log", "ab") as log:
            self.proc = subprocess.Popen(
                ["containerd", "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.ctr("version", check=False).returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError((self.base / "containerd.log").read_text()[-2000:])

    def ctr(
        self, *args: str, check: bool = True, namespace: str = "k8s.io", timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ctr", "-a", self.address, "-n", namespace, *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def run(self, image: str, name: str, *argv: str, extra: tuple[str, ...] = ()) -> str:
        out = self.ctr(
            "run", "--rm", "--runc-root", str(self.runc_root), *extra, image, name, *argv
        )
        return out.stdout

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    c = Containerd(tmp_path_factory.mktemp("ctd"))
    try:
        c.start()
        yield c
    finally:
        c.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------
# import + run


async def test_busybox_imports_and_runs(
    containerd: Containerd, test_images: dict[str, Path]
) -> None:
    await import_into_containerd(test_images["busybox"], "busybox", address=containerd.address)
    names = await list_containerd_images(address=containerd.address)
    assert "docker.io/library/busybox:latest" in names
    assert (
        containerd.run("docker.io/library/busybox:latest", "bb-echo", "echo", "hello") == "hello\n"
    )
    # the image's users, tmp and applets kubectl cp and tests rely on
    script = "id -u nobody; stat -c %a /tmp; tar --help >/dev/null 2>&1 && echo tar; which wget nc"
    out = containerd.run("docker.io/library/busybox:latest", "bb-check", "sh", "-c", script)
    assert out.split() == ["65534", "1777", "tar", "/usr/bin/wget", "/usr/bin/nc"]


async def test_pause_image_imports(containerd: Containerd, test_images: dict[str, Path]) -> None:
    await import_into_containerd(
        test_images["pause"], recipes.PAUSE_IMAGE, address=containerd.address
    )
    assert recipes.PAUSE_IMAGE in await list_containerd_images(address=containerd.address)


async def test_python_image_runs(containerd: Containerd, test_images: dict[str, Path]) -> None:
    await import_into_containerd(test_images["python"], "python:3.11", address=containerd.address)
    code = "import http.server, json, ssl, socket, sqlite3, hashlib; print(json.dumps([1]))"
    out = containerd.run("docker.io/library/python:3.11", "py", "python3", "-c", code)
    assert out == "[1]\n"
    out = containerd.run("docker.io/library/python:3.11", "py-sh", "sh", "-c", "echo $PATH")
    assert out.strip() == oci.DEFAULT_PATH_ENV.removeprefix("PATH=")


async def test_httpd_image_serves(containerd: Containerd, test_images: dict[str, Path]) -> None:
    await import_into_containerd(test_images["httpd"], "httpd", address=containerd.address)
    image = "docker.io/library/httpd:latest"
    # the image's own entrypoint, moved to a free loopback port (host network)
    port = _free_port()
    argv = ["/usr/sbin/httpd", "-f", "-v", "-p", f"127.0.0.1:{port}", "-h", "/www"]
    containerd.ctr(
        "run", "-d", "--net-host", "--runc-root", str(containerd.runc_root), image, "web", *argv
    )
    try:
        body = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with _OPENER.open(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                    body = resp.read()
                    break
            except OSError:
                await asyncio.sleep(0.05)
        assert body.decode() == recipes.HTTPD_INDEX_HTML
    finally:
        containerd.ctr("tasks", "kill", "-s", "SIGKILL", "web", check=False)
        deadline = time.monotonic() + 30
        while containerd.ctr("tasks", "delete", "web", check=False).returncode != 0:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        containerd.ctr("containers", "delete", "web", check=False)


# --------------------------------------------------------------------------
# registry


async def test_pushed_images_read_back(registry: str, test_images: dict[str, Path]) -> None:
    async with RegistryClient(registry, insecure=True) as client:
        for short, (recipe, path, tag) in TEST_IMAGES.items():
            media_type, body = await client.get_manifest(path, tag, oci.MEDIA_MANIFEST)
            image = oci.read_image(test_images[recipe])
            assert media_type == oci.MEDIA_MANIFEST, short
            assert body == image.manifest_bytes, short
            for blob in image.blobs():
                assert await client.blob_exists(path, blob["digest"])
    with _OPENER.open(f"http://{registry}/v2/library/busybox/tags/list") as resp:
        assert sorted(json.load(resp)["tags"]) == ["1.35", "latest"]


def test_pull_through_a_docker_io_mirror(
    containerd: Containerd, registry: str, tmp_path: Path
) -> None:
    """registries.yaml -> hosts.toml -> containerd pulls ``busybox`` from the loopback registry."""
    hosts = tmp_path / "certs.d"
    RegistriesConfig.from_dict(
        {"mirrors": {"docker.io": {"endpoint": [registry]}}}
    ).write_hosts_dir(hosts)
    ns = "mirror-test"
    try:
        containerd.ctr(
            "images",
            "pull",
            "--hosts-dir",
            str(hosts),
            "docker.io/library/busybox:1.35",
            namespace=ns,
        )
        containerd.ctr(
            "images",
            "pull",
            "--hosts-dir",
            str(hosts),
            "docker.io/library/python:3.11",
            namespace=ns,
        )
        names = containerd.ctr("images", "ls", "-q", namespace=ns).stdout.split()
        assert names == ["docker.io/library/busybox:1.35", "docker.io/library/python:3.11"]
    finally:
        for name in ("docker.io/library/busybox:1.35", "docker.io/library/python:3.11"):
            containerd.ctr("images", "rm", name, namespace=ns, check=False)


async def test_push_and_pull_with_basic_auth(
    containerd: Containerd, test_images: dict[str, Path], tmp_path: Path
) -> None:
    async with RegistryServer(tmp_path / "reg", users={"alice": "s3cret"}) as reg:
        dest = f"{reg.address}/team/busybox:1"
        digest = await push(
            test_images["busybox"], None, dest, insecure=True, auth=("alice", "s3cret")
        )
        assert digest == oci.read_image(test_images["busybox"]).digest
        ns = "auth-test"
        denied = containerd.ctr("images", "pull", "--plain-http", dest, namespace=ns, check=False)
        assert denied.returncode != 0
        try:
            containerd.ctr(
                "images", "pull", "--plain-http", "--user", "alice:s3cret", dest, namespace=ns
            )
            assert containerd.ctr("images", "ls", "-q", namespace=ns).stdout.split() == [dest]
        finally:
            containerd.ctr("images", "rm", dest, namespace=ns, check=False)
