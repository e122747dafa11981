"""Pod networking on one node: the CNI configuration the runtime uses.

containerd's CRI plugin runs the CNI plugins itself (ADD on RunPodSandbox, DEL
on StopPodSandbox); the kubelet's part is writing the network configuration
once the node's pod CIDR is known, as upstream's kubenet did: a Linux bridge
(``cni0`` by default) with ``host-local`` IPAM over the pod CIDR, the bridge
as the pods' gateway, hairpin mode (a pod reaching itself through a service),
and ``portmap`` for ``hostPort``. ``loopback`` is added by containerd.

Masquerade for traffic leaving the pod CIDR is one node-wide rule
(:func:`ensure_masquerade`, as flannel does) rather than the bridge plugin's
``ipMasq``, which creates and deletes an iptables chain per pod: measured
here, that per-pod iptables work made a batch of 30 sandboxes ~25 % slower.
The rule outlives the agent, like the bridge (pods keep running);
:func:`remove_masquerade` takes it away.

Service VIPs must never leave the machine, even before kube-proxy has
programmed them (this VM would answer them through its default route):
:func:`ensure_service_route` sends the service CIDR to the pod bridge, where
nothing answers. It is a device route rather than an ``unreachable`` one
because a host process connecting to a VIP is routed *before* the nat OUTPUT
chain rewrites the destination: an unreachable route would fail the connect
at once, while a device route lets kube-proxy's DNAT (and the re-route after
it) happen. Pod traffic is DNATed in PREROUTING, before any route lookup.

The file is replaced atomically; containerd notices new configuration files on
its own. IPAM state lives under the agent's root dir, not in
``/var/lib/cni``, so that several agents (tests) never share it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from pathlib import Path
from typing import Any

__all__ = [
    "CONFLIST_NAME",
    "NETWORK_NAME",
    "bridge_conflist",
    "enable_bridge_netfilter",
    "ensure_bridge",
    "ensure_masquerade",
    "ensure_service_route",
    "remove_masquerade",
    "write_conflist",
]

NETWORK_NAME = "pinnace"
CONFLIST_NAME = "10-pinnace.conflist"


def bridge_conflist(
    pod_cidr: str, *, bridge: str, ipam_dir: Path, mtu: int = 1500
) -> dict[str, Any]:
    net = ipaddress.ip_network(pod_cidr, strict=False)
    gateway = str(next(net.hosts()))
    return {
        "cniVersion": "1.0.0",
        "name": NETWORK_NAME,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "mtu": mtu,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(ipam_dir),
                    "ranges": [[{"subnet": str(net), "gateway": gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
        ],
    }


def write_conflist(
    conf_dir: Path, pod_cidr: str, *, bridge: str, ipam_dir: Path, mtu: int = 1500
) -> Path:
    """Write (or replace) the node's network configuration; returns its path."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    ipam_dir.mkdir(parents=True, exist_ok=True)
    path = conf_dir / CONFLIST_NAME
    data = json.dumps(
        bridge_conflist(pod_cidr, bridge=bridge, ipam_dir=ipam_dir, mtu=mtu), indent=2
    )
    if path.exists() and path.read_text() == data:
        return path
    tmp = path.with_suffix(".tmp")
    tmp.write_text(data)
    os.replace(tmp, path)
    return path


def _masquerade_rule(pod_cidr: str, bridge: str) -> list[str]:
    return [
        "POSTROUTING", "-s", pod_cidr, "!", "-d", pod_cidr,
        "-m", "comment", "--comment", f"pinnace masquerade {bridge}",
        "-j", "MASQUERADE",
    ]  # fmt: skip


def ensure_masquerade(pod_cidr: str, bridge: str) -> None:
    """Masquerade what pods of ``pod_cidr`` send outside it (idempotent).
    Raises ``RuntimeError`` with iptables' message when it cannot."""
    rule = _masquerade_rule(pod_cidr, bridge)
    check = subprocess.run(["iptables", "-t", "nat", "-C", *rule], capture_output=True, text=True)
    if check.returncode == 0:
        return
    add = subprocess.run(["iptables", "-t", "nat", "-A", *rule], capture_output=True, text=True)
    if add.returncode != 0:
        raise RuntimeError(f"iptables: {add.stderr.strip()}")


def remove_masquerade(bridge: str) -> None:
    """Remove the masquerade rule(s) :func:`ensure_masquerade` made for ``bridge``."""
    listed = subprocess.run(
        ["iptables", "-t", "nat", "-S", "POSTROUTING"], capture_output=True, text=True
    )
    tag = f'"pinnace masquerade {bridge}"'
    for line in listed.stdout.splitlines():
        if tag in line and line.startswith("-A "):
            import shlex

            args = shlex.split(line)[1:]
            subprocess.run(["iptables", "-t", "nat", "-D", *args], capture_output=True)


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


def ensure_bridge(bridge: str, pod_cidr: str, *, mtu: int = 1500) -> None:
    """Create the pod bridge (up, with the pods' gateway address) if it is not
    there yet, as the bridge plugin would on the first pod; so that routes can
    point at it before any pod runs. Raises ``RuntimeError`` with ip's message."""
    net = ipaddress.ip_network(pod_cidr, strict=False)
    gateway = f"{next(net.hosts())}/{net.prefixlen}"
    if _ip("link", "show", "dev", bridge).returncode != 0:
        made = _ip("link", "add", "name", bridge, "mtu", str(mtu), "type", "bridge")
        if made.returncode != 0 and "File exists" not in made.stderr:
            raise RuntimeError(f"ip link add {bridge}: {made.stderr.strip()}")
    addrs = _ip("-o", "-4", "addr", "show", "dev", bridge).stdout
    if f" {gateway} " not in addrs:
        added = _ip("addr", "add", gateway, "dev", bridge)
        if added.returncode != 0 and "File exists" not in added.stderr:
            raise RuntimeError(f"ip addr add {gateway} dev {bridge}: {added.stderr.strip()}")
    up = _ip("link", "set", bridge, "up")
    if up.returncode != 0:
        raise RuntimeError(f"ip link set {bridge} up: {up.stderr.strip()}")


def ensure_service_route(service_cidr: str, bridge: str) -> None:
    """Route the service CIDR to the pod bridge (see the module docstring)."""
    net = str(ipaddress.ip_network(service_cidr, strict=False))
    done = _ip("route", "replace", net, "dev", bridge, "proto", "static", "scope", "link")
    if done.returncode != 0:
        raise RuntimeError(f"ip route replace {net} dev {bridge}: {done.stderr.strip()}")


def enable_bridge_netfilter() -> None:
    """Let iptables see traffic between pods on one bridge (a pod reaching a
    service whose endpoint sits on the same bridge needs the reply un-DNATed),
    as upstream's kubelet requires. Best effort: the sysctl exists only with
    ``br_netfilter`` loaded."""
    path = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
    try:
        if path.read_text().strip() != "1":
            path.write_text("1")
    except OSError:
        pass
