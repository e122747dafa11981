"""``--admission-control-config-file``: upstream's ``AdmissionConfiguration``
(apiserver.config.k8s.io/v1): per-plugin settings, each given inline
(``configuration:``) or as a file (``path:``, relative to this file). Read
once at start; a bad file stops the server with a message naming the
problem. Today only the PodSecurity plugin takes settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pinnace.apiserver.admission.pod_security import PodSecurityConfig
from pinnace.apiserver.errors import StartupError

KIND = "AdmissionConfiguration"
API_VERSIONS = ("apiserver.config.k8s.io/v1", "apiserver.k8s.io/v1alpha1")


def _load(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as e:
        raise StartupError(f"--admission-control-config-file: cannot read {path}: {e}") from e
    except yaml.YAMLError as e:
        raise StartupError(f"--admission-control-config-file: {path} is not YAML: {e}") from e


def plugin_configurations(path: str) -> dict[str, dict[str, Any]]:
    """Plugin name -> its configuration document."""
    file = Path(path)
    doc = _load(file)
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise StartupError(f"--admission-control-config-file: {path} is not an {KIND}")
    if doc.get("apiVersion") not in API_VERSIONS:
        raise StartupError(
            f"--admission-control-config-file: unsupported apiVersion {doc.get('apiVersion')!r}"
        )
    out: dict[str, dict[str, Any]] = {}
    for i, p in enumerate(doc.get("plugins") or []):
        if not isinstance(p, dict) or not p.get("name"):
            raise StartupError(f"--admission-control-config-file: plugins[{i}].name is required")
        conf = p.get("configuration")
        if conf is None and p.get("path"):
            conf = _load((file.parent / str(p["path"])).resolve())
        if not isinstance(conf, dict):
            raise StartupError(
                f"--admission-control-config-file: plugins[{i}] ({p['name']}) needs a "
                "configuration or a path to one"
            )
        out[str(p["name"])] = conf
    return out


def pod_security_config(path: str) -> PodSecurityConfig:
    """The PodSecurity settings of the file (upstream's defaults when absent)."""
    if not path:
        return PodSecurityConfig()
    conf = plugin_configurations(path).get("PodSecurity")
    if conf is None:
        return PodSecurityConfig()
    try:
        return PodSecurityConfig.from_dict(conf)
    except ValueError as e:
        raise StartupError(f"--admission-control-config-file: PodSecurity: {e}") from e
