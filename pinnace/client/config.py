"""Where the API server is and who we are: kubeconfig loading → :class:`ClientConfig`.

Supports the parts of a kubeconfig that pinnace and kubectl use: the current
context (or a named one), the cluster's ``server``, ``certificate-authority``
(file) or ``certificate-authority-data`` (base64 PEM),
``insecure-skip-tls-verify``, ``tls-server-name``; the user's
``client-certificate(-data)``/``client-key(-data)``, ``token`` or
``tokenFile``. Relative file paths are resolved against the kubeconfig's
directory, like kubectl does. Exec/auth-provider plugins are not supported.

:meth:`ClientConfig.from_data_dir` reads ``<data-dir>/admin.kubeconfig``, which
``pinnace up`` writes.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ClientConfig", "ConfigError", "default_kubeconfig_path"]


class ConfigError(Exception):
    """The kubeconfig is missing, malformed or lacks what we need."""


def default_kubeconfig_path() -> Path:
    """``$KUBECONFIG`` (its first entry) or ``~/.kube/config``."""
    env = os.environ.get("KUBECONFIG")
    if env:
        first = next((p for p in env.split(os.pathsep) if p), None)
        if first:
            return Path(first)
    return Path.home() / ".kube" / "config"


@dataclass(frozen=True)
class ClientConfig:
    """Connection and identity settings for :class:`~pinnace.client.rest.Client`.

    PEM material is kept as bytes (``*_data``) or file paths (``*_file``); the
    transport accepts either. ``qps``/``burst`` configure the client-side rate
    limiter (client-go's defaults 5/10; in-process components use high limits).
    """

    server: str
    #: more API servers of the same cluster (same CA), tried in turn when
    #: the current one cannot be connected to (``pinnace agent --server A,B``)
    fallback_servers: tuple[str, ...] = ()
    ca_data: bytes | None = None
    ca_file: str | None = None
    cert_data: bytes | None = None
    cert_file: str | None = None
    key_data: bytes | None = None
    key_file: str | None = None
    token: str | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    qps: float = 5.0
    burst: int = 10
    timeout: float | None = 60.0  # per request (watches use their own)
    user_agent: str = "pinnace-client"

    def with_rate_limits(self, qps: float, burst: int) -> ClientConfig:
        return replace(self, qps=qps, burst=burst)

    def with_user_agent(self, user_agent: str) -> ClientConfig:
        return replace(self, user_agent=user_agent)

    @classmethod
    def from_data_dir(cls, data_dir: str | os.PathLike[str]) -> ClientConfig:
        return cls.from_kubeconfig(Path(data_dir) / "admin.kubeconfig")

    @classmethod
    def from_kubeconfig(
        cls, path: str | os.PathLike[str] | None = None, *, context: str | None = None
    ) -> ClientConfig:
        p = Path(path) if path is not None else default_kubeconfig_path()
        try:
            text = p.read_text()
        except OSError as e:
            raise ConfigError(f"cannot read kubeconfig {p}: {e}") from e
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"kubeconfig {p} is not valid YAML: {e}") from e
        if not isinstance(doc, dict):
            raise ConfigError(f"kubeconfig {p} is not a mapping")
        return cls.from_dict(doc, context=context, base_dir=p.parent)

    @classmethod
    def from_dict(
        cls,
        doc: Mapping[str, Any],
        *,
        context: str | None = None,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> ClientConfig:
        """Build from a parsed kubeconfig document."""
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        ctx_name = context or doc.get("current-context") or ""
        if not ctx_name:
            raise ConfigError("kubeconfig has no current-context")
        ctx = _named(doc, "contexts", "context", ctx_name)
        cluster = _named(doc, "clusters", "cluster", str(ctx.get("cluster", "")))
        user_name = ctx.get("user")
        user = _named(doc, "users", "user", str(user_name)) if user_name else {}

        server = cluster.get("server")
        if not server:
            raise ConfigError(f"cluster {ctx.get('cluster')!r} has no server")

        def file_(d: Mapping[str, Any], k: str) -> str | None:
            v = d.get(k)
            if not v:
                return None
            fp = Path(str(v)).expanduser()
            return str(fp if fp.is_absolute() else base / fp)

        def data(d: Mapping[str, Any], k: str) -> bytes | None:
            v = d.get(k)
            if not v:
                return None
            try:
                return base64.b64decode(str(v), validate=True)
            except (binascii.Error, ValueError) as e:
                raise ConfigError(f"{k} is not valid base64") from e

        token = user.get("token")
        token_file = file_(user, "tokenFile")
        if not token and token_file:
            try:
                token = Path(token_file).read_text().strip()
            except OSError as e:
                raise ConfigError(f"cannot read tokenFile {token_file}: {e}") from e

        cfg = cls(
            server=str(server).rstrip("/"),
            ca_data=data(cluster, "certificate-authority-data"),
            ca_file=file_(cluster, "certificate-authority"),
            cert_data=data(user, "client-certificate-data"),
            cert_file=file_(user, "client-certificate"),
            key_data=data(user, "client-key-data"),
            key_file=file_(user, "client-key"),
            token=str(token) if token else None,
            insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
            tls_server_name=cluster.get("tls-server-name") or None,
        )
        has_cert = cfg.cert_data is not None or cfg.cert_file is not None
        has_key = cfg.key_data is not None or cfg.key_file is not None
        if has_cert != has_key:
            raise ConfigError(f"user {user_name!r} has a client certificate without a key or v.v.")
        return cfg


def _named(doc: Mapping[str, Any], section: str, inner: str, name: str) -> Mapping[str, Any]:
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(inner) or {}
            if not isinstance(value, dict):
                raise ConfigError(f"{section} entry {name!r} is malformed")
            return value
    raise ConfigError(f"kubeconfig has no {inner} named {name!r}")
