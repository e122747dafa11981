"""Test helper: a private containerd with images and, when asked, a CNI bridge network.

``async with private_containerd(tmp_dir, layout_dir=..., busybox=True, network=True)
as env`` starts a :class:`pinnace.kubelet.containerd.Containerd` rooted in
``tmp_dir`` (the caller's ``tmp_path``), imports the pause image (built by
``pinnace.image.recipes``) and optionally busybox into its ``k8s.io`` namespace,
and yields an :class:`Env` with a connected CRI client.

With ``network=True`` a CNI conflist is written for a bridge whose name is unique
to this use (``pcri`` + 6 hex digits) and a /24 picked from 10.244.200.0-249.0
that no route on the host uses yet. The conflist has only ``bridge`` (gateway on
the bridge, so the host reaches pod IPs; no ``ipMasq`` and no ``portmap``, so CNI
writes no iptables rules) and ``host-local`` with its state in ``tmp_dir``.

On exit everything is taken down in order: every sandbox is stopped and removed
through CRI (removing their containers, netns mounts and shims), containerd is
stopped, shims still naming our socket are killed by pid, and the bridge is
deleted. :func:`leftover_processes` lists processes still referring to the
state dir, for tests to assert on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import random
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from pinnace.image import importer, recipes
from pinnace.kubelet.containerd import Containerd
from pinnace.kubelet.cri import RuntimeClient

__all__ = [
    "BUSYBOX_IMAGE",
    "PAUSE_IMAGE",
    "BridgeNetwork",
    "Env",
    "bridge_exists",
    "build_images",
    "leftover_processes",
    "private_containerd",
]

PAUSE_IMAGE = recipes.PAUSE_IMAGE
BUSYBOX_IMAGE = recipes.BUSYBOX_IMAGE
SUBNET_THIRD_OCTETS = range(200, 250)


@dataclass
class BridgeNetwork:
    """A CNI bridge network private to one test."""

    name: str  # the CNI network name and the bridge device name
    subnet: ipaddress.IPv4Network
    ipam_dir: Path

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        return self.subnet.network_address + 1

    def conflist(self) -> dict[str, object]:
        return {
            "cniVersion": "1.0.0",
            "name": self.name,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.name,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": str(self.subnet), "gateway": str(self.gateway)}]],
                        "dataDir": str(self.ipam_dir),
                    },
                }
            ],
        }

    def write(self, conf_dir: Path) -> Path:
        conf_dir.mkdir(parents=True, exist_ok=True)
        path = conf_dir / f"10-{self.name}.conflist"
        path.write_text(json.dumps(self.conflist(), indent=2))
        return path

    def remove(self) -> None:
        """Delete the bridge if it exists (CNI DEL leaves it behind)."""
        if bridge_exists(self.name):
            subprocess.run(["ip", "link", "del", self.name], check=True, capture_output=True)


def bridge_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def _routed_subnets() -> set[ipaddress.IPv4Network]:
    out = subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"], check=True, capture_output=True, text=True
    ).stdout
    nets = set()
    for line in out.splitlines():
        dest = line.split()[0] if line.split() else ""
        if dest.startswith(("local", "broadcast", "unreachable", "blackhole")):
            parts = line.split()
            dest = parts[1] if len(parts) > 1 else ""
        with contextlib.suppress(ValueError):
            nets.add(ipaddress.IPv4Network(dest, strict=False))
    return nets


def new_bridge_network(ipam_dir: Path) -> BridgeNetwork:
    """A bridge name no device has and a /24 in 10.244.200-249 no route overlaps."""
    rng = random.SystemRandom()
    while True:
        name = f"pcri{rng.getrandbits(24):06x}"
        if not bridge_exists(name):
            break
    routed = _routed_subnets()
    octets = list(SUBNET_THIRD_OCTETS)
    rng.shuffle(octets)
    for octet in octets:
        subnet = ipaddress.IPv4Network(f"10.244.{octet}.0/24")
        if not any(subnet.overlaps(n) for n in routed if n.prefixlen > 0):
            return BridgeNetwork(name=name, subnet=subnet, ipam_dir=ipam_dir)
    raise RuntimeError("no free /24 in 10.244.200.0-10.244.249.0 for a test bridge")


def build_images(layout_dir: Path, *, busybox: bool = False) -> None:
    """Build the pause (and busybox) images into an OCI layout (cached by the recipes)."""
    recipes.build("pause", layout_dir)
    if busybox:
        recipes.build("busybox", layout_dir)


def leftover_processes(state_dir: Path) -> list[tuple[int, str]]:
    """(pid, cmdline) of processes whose command line mentions ``state_dir``."""
    needle = str(state_dir).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if needle in cmdline:
            found.append((int(entry.name), cmdline.replace(b"\0", b" ").decode(errors="replace")))
    return found


@dataclass
class Env:
    containerd: Containerd
    rt: RuntimeClient
    state_dir: Path
    log_dir: Path  # a directory for pod logs (PodSandboxConfig.log_directory)
    network: BridgeNetwork | None = None
    images: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.containerd.address


async def remove_all_pods(rt: RuntimeClient) -> None:
    """Stop and remove every sandbox (and so every container) through CRI."""
    for sandbox in await rt.list_pod_sandbox():
        with contextlib.suppress(Exception):
            await rt.stop_pod_sandbox(sandbox.id, timeout=60)
        await rt.remove_pod_sandbox(sandbox.id, timeout=60)
    for container in await rt.list_containers():
        await rt.remove_container(container.id, timeout=60)


def _kill_leftovers(state_dir: Path) -> None:
    for pid, _ in leftover_processes(state_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.asynccontextmanager
async def private_containerd(
    tmp_dir: Path,
    *,
    layout_dir: Path,
    busybox: bool = False,
    network: bool = False,
    registry_config_dir: Path | None = None,
) -> AsyncIterator[Env]:
    """A running private containerd in ``tmp_dir`` with the images imported."""
    state_dir = tmp_dir / "containerd"
    cni_dir = tmp_dir / "cni"
    cni_dir.mkdir(parents=True, exist_ok=True)
    log_dir = tmp_dir / "pod-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    bridge = new_bridge_network(tmp_dir / "cni-ipam") if network else None
    if bridge is not None:
        bridge.write(cni_dir)
    await asyncio.to_thread(build_images, layout_dir, busybox=busybox)

    containerd = Containerd(
        state_dir,
        sandbox_image=PAUSE_IMAGE,
        cni_conf_dir=cni_dir,
        registry_config_dir=registry_config_dir,
    )
    rt = RuntimeClient(containerd.address, timeout=30.0)
    try:
        await containerd.start()
        await rt.connect()
        await containerd.wait_ready(network=network)
        refs = [PAUSE_IMAGE] + ([BUSYBOX_IMAGE] if busybox else [])
        for ref in refs:
            await importer.import_into_containerd(layout_dir, ref, address=containerd.address)
        yield Env(containerd, rt, state_dir, log_dir, bridge, refs)
    finally:
        try:
            if containerd.pid is not None:
                await remove_all_pods(rt)
        finally:
            await rt.close()
            await containerd.stop()
            _kill_leftovers(state_dir)
            if bridge is not None:
                bridge.remove()
