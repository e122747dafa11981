"""Configuration of one API server instance (filled by the CLI)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pinnace.client.config import ClientConfig


class Component(Protocol):
    """A part of the cluster that the server runs (controller manager,
    scheduler, node agent...), inside its process or as a child process of
    it. It talks to the API only through the client config it is given, with
    its own identity."""

    name: str
    user: str
    groups: tuple[str, ...]

    def run(self, client_config: ClientConfig) -> Awaitable[None]: ...


ComponentFactory = Callable[["ServerConfig"], list[Component]]


@dataclass(slots=True)
class ServerConfig:
    data_dir: Path
    port: int = 6443
    bind_address: str = "127.0.0.1"
    # storage URL; default sqlite://<data_dir>/db/state.db
    storage: str = ""
    # components not to start (later issues: scheduler, controllers, kubelet, ...)
    disable: frozenset[str] = frozenset()
    # extra names/IPs for the serving certificate
    tls_sans: tuple[str, ...] = ()
    # history kept by background compaction (revisions)
    compact_keep: int = 10000
    compact_interval: float = 300.0
    # max request body size (upstream: 3 MiB)
    max_request_bytes: int = 3 * 1024 * 1024
    extra: dict[str, str] = field(default_factory=dict)
    # builds the in-process components to start once the API serves
    components: ComponentFactory | None = None
    # the in-process node agent's KubeletConfig (None: no agent in this process)
    kubelet: object | None = None
    # Services: cluster IPs come from this CIDR (its first address is the
    # `kubernetes` Service's), node ports from this inclusive range
    service_cidr: str = "10.96.0.0/12"
    service_node_port_range: str = "30000-32767"
    # the address the `kubernetes` Service's endpoints point at; empty: the bind
    # address, or the host's default-route address when bound to 0.0.0.0
    advertise_address: str = ""
    # -- security (issue 7) --
    # authorizers in order, like kube-apiserver's --authorization-mode:
    # "Node,RBAC" (default) or "AlwaysAllow"
    authorization_mode: str = "Node,RBAC"
    # requests without credentials run as system:anonymous (RBAC then decides)
    anonymous_auth: bool = True
    # static bearer tokens: CSV lines token,user,uid,"group1,group2"
    token_auth_file: str = ""
    # service account tokens: issuer (iss claim) and the longest lifetime granted
    service_account_issuer: str = "https://kubernetes.default.svc.cluster.local"
    service_account_max_token_expiration: float = 0.0  # seconds; 0 = no cap
    # EncryptionConfiguration file for data at rest ("" = plaintext)
    encryption_provider_config: str = ""
    # audit: policy file (audit.k8s.io/v1 Policy) and JSON-lines log
    audit_policy_file: str = ""
    audit_log_path: str = ""
    audit_log_maxsize: int = 100  # megabytes before rotation
    audit_log_maxbackup: int = 10
    audit_log_maxage: int = 0  # days; 0 = keep
    # certificate lifetimes: leaf certificates (serving, admin, kubelet client)
    # and the cluster CA when it is created
    cert_validity: dt.timedelta = dt.timedelta(days=365)
    ca_validity: dt.timedelta = dt.timedelta(days=3650)
    # AdmissionConfiguration file with per-plugin settings (PodSecurity defaults)
    admission_control_config_file: str = ""
    # admission plugins switched on/off beyond the default set
    enable_admission_plugins: tuple[str, ...] = ()
    disable_admission_plugins: tuple[str, ...] = ()

    def storage_url(self) -> str:
        if self.storage:
            return self.storage
        return f"sqlite://{self.data_dir / 'db' / 'state.db'}"

    @property
    def pki_dir(self) -> Path:
        return self.data_dir / "pki"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.data_dir / "admin.kubeconfig"
