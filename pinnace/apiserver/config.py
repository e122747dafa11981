"""Configuration of one API server instance (filled by the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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
