"""The node agent's settings (``pinnace agent`` flags, or what ``pinnace up``
passes to its in-process agent).

Plain data; defaults follow upstream's ``KubeletConfiguration`` where one
exists (``nodeStatusUpdateFrequency`` 10 s, ``nodeStatusReportFrequency``
5 min, ``nodeLeaseDurationSeconds`` 40, ``maxPods`` 110,
``evictionHard memory.available<100Mi``, cluster domain ``cluster.local``).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pinnace.kubelet.eviction import Thresholds

__all__ = ["KubeletConfig", "default_node_name"]


def default_node_name() -> str:
    """The host name, lower-cased, as upstream's ``--hostname-override`` default."""
    return socket.gethostname().split(".")[0].lower() or "localhost"


@dataclass
class KubeletConfig:
    root_dir: Path
    """Everything the agent keeps: containerd state, pod dirs, logs, CNI state."""
    node_name: str = field(default_factory=default_node_name)
    container_runtime_endpoint: str | None = None
    """An existing CRI socket (``unix:///run/containerd/containerd.sock``);
    None: start and supervise a private containerd under ``root_dir``."""
    node_ip: str | None = None
    node_labels: dict[str, str] = field(default_factory=dict)
    register_with_taints: list[dict[str, str]] = field(default_factory=list)
    cluster_dns: list[str] = field(default_factory=list)
    service_cidr: str = "10.96.0.0/12"
    """Routed to the pod bridge so that service VIPs never leave the node."""
    cluster_domain: str = "cluster.local"
    resolv_conf: Path = Path("/etc/resolv.conf")
    kube_reserved: dict[str, str] = field(default_factory=dict)
    system_reserved: dict[str, str] = field(default_factory=dict)
    eviction_hard_memory: str = "100Mi"
    eviction_hard_nodefs: str = "10%"
    """``nodefs.available`` threshold: the share of the filesystem holding
    ``root_dir`` that must stay free."""
    cgroup_root: Path = Path("/sys/fs/cgroup")
    """Where the pod cgroups are made (cgroupfs layout)."""
    housekeeping_interval: float = 10.0
    """How often the eviction manager checks limits and thresholds."""
    max_pods: int = 110
    port: int = 10250
    """The kubelet API's port (0: any free port; the Node reports the real one)."""
    bind_address: str = "0.0.0.0"
    serving_cert_validity_days: int = 365
    """Lifetime of the kubelet API's self-signed serving certificate; it is made
    again at start when it has less than a third of that (at most 30 days) left."""
    registry_config: Path | None = None
    """k3s-style ``registries.yaml`` (mirrors, auth, TLS)."""
    cni_bridge: str = "cni0"
    cni_bin_dir: Path = Path("/usr/lib/cni")
    pod_cidr: str | None = None
    """Override the Node's ``spec.podCIDR`` (normally assigned by the node IPAM controller)."""
    node_status_update_frequency: float = 10.0
    node_status_report_frequency: float = 300.0
    node_lease_duration: int = 40
    relist_period: float = 1.0
    sync_frequency: float = 60.0
    stop_runtime_on_exit: bool = False
    """Stop the supervised containerd when the agent stops (tests); by default it
    keeps running so that pods survive an agent restart."""

    def eviction_thresholds(self) -> Thresholds:
        """``eviction_hard_memory``/``eviction_hard_nodefs`` as thresholds
        (raises ValueError for values ``--eviction-hard`` would refuse)."""
        from pinnace.kubelet.eviction import parse_eviction_hard

        return parse_eviction_hard(
            f"memory.available<{self.eviction_hard_memory},"
            f"nodefs.available<{self.eviction_hard_nodefs}"
        )

    @property
    def pods_dir(self) -> Path:
        return self.root_dir / "pods"

    @property
    def logs_dir(self) -> Path:
        return self.root_dir / "logs" / "pods"

    @property
    def containerd_dir(self) -> Path:
        return self.root_dir / "containerd"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root_dir / "cni" / "net.d"

    @property
    def cni_state_dir(self) -> Path:
        return self.root_dir / "cni" / "networks"

    @property
    def pki_dir(self) -> Path:
        return self.root_dir / "pki"
