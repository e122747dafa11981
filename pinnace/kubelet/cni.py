"""Pod networking on one node: the CNI configuration the runtime uses.

containerd's CRI plugin runs the CNI plugins itself (ADD on RunPodSandbox, DEL
on StopPodSandbox); the kubelet's part is writing the network configuration
once the node's pod CIDR is known, as upstream's kubenet did: a Linux bridge
(``cni0`` by default) with ``host-local`` IPAM over the pod CIDR, the bridge
as the pods' gateway, masquerade for traffic leaving the cluster CIDR, hairpin
mode (a pod reaching itself through a service), and ``portmap`` for
``hostPort``. ``loopback`` is added by containerd.

The file is replaced atomically; containerd notices new configuration files on
its own. IPAM state lives under the agent's root dir, not in
``/var/lib/cni``, so that several agents (tests) never share it.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["CONFLIST_NAME", "NETWORK_NAME", "bridge_conflist", "write_conflist"]

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
                "ipMasq": True,
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
