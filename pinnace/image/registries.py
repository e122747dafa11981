"""Registry configuration: k3s's ``registries.yaml``, containerd ``hosts.toml`` files, pull secrets.

pinnace reads the same ``registries.yaml`` as k3s::

    mirrors:
      docker.io:                       # a registry name, or "*" for every registry
        endpoint: ["http://127.0.0.1:5000"]
        rewrite: {"^rancher/(.*)": "mirrored/$1"}
    configs:
      "127.0.0.1:5000":                # a registry (or mirror endpoint) host[:port]
        auth: {username: u, password: p}        # or auth: base64(u:p), identity_token
        tls: {ca_file: ..., cert_file: ..., key_file: ..., insecure_skip_verify: true}

and turns it into what stock containerd 1.6 understands: one
``<config_path>/<host>/hosts.toml`` per registry (``_default`` for ``*``), read
by the CRI plugin on every pull when ``[plugins."io.containerd.grpc.v1.cri".registry]
config_path`` points at the directory. Each mirror endpoint becomes a
``[host."<url>"]`` table with ``capabilities = ["pull", "resolve"]`` and its TLS
settings (``ca``, ``client``, ``skip_verify``); the registry itself is the
``server`` (containerd's fallback after the mirrors), as in k3s. Endpoint URLs
are normalised as k3s and containerd do: no scheme means ``http`` for a
loopback host with a port other than 443, ``https`` otherwise; an empty path
means ``/v2``, any other path sets ``override_path``. Stock containerd 1.6 has
no ``rewrite`` support in hosts.toml (k3s ships a patched containerd), so
rewrites are kept in the model but not rendered.

Credentials do not go into hosts.toml (containerd 1.6 reads none there): the
kubelet passes them with each ``PullImage`` as a CRI ``AuthConfig``.
:meth:`RegistriesConfig.auth_for` finds them for an image (through its mirror,
with ``server_address`` set so containerd sends them only to that endpoint),
and :func:`auth_from_pull_secrets` finds them in a pod's
``kubernetes.io/dockerconfigjson`` / ``kubernetes.io/dockercfg`` secrets,
matching registry keys the way the kubelet's credential keyring does
(``https://index.docker.io/v1/`` serves ``docker.io`` images; globs like
``*.example.com``; longer paths first).

Everything here is pure computation plus small file reads/writes.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import ipaddress
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from pinnace.image.oci import parse_ref

__all__ = [
    "DEFAULT_HOST_DIR",
    "HOSTS_HEADER",
    "AuthConfig",
    "Endpoint",
    "Mirror",
    "RegistriesConfig",
    "RegistriesError",
    "RegistryConfig",
    "TLSConfig",
    "auth_from_pull_secrets",
    "auths_from_pull_secrets",
    "normalize_endpoint",
]

log = logging.getLogger("pinnace.image.registries")

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_INDEX = "index.docker.io"
DEFAULT_HOST_DIR = "_default"
HOSTS_HEADER = "# Written by pinnace from registries.yaml; changes are overwritten.\n"

SECRET_DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
SECRET_DOCKERCFG = "kubernetes.io/dockercfg"


class RegistriesError(Exception):
    """``registries.yaml`` is malformed (the message names the field)."""


# --------------------------------------------------------------------------
# model


@dataclass
class AuthConfig:
    """Registry credentials, shaped like CRI's ``runtime.v1.AuthConfig``."""

    username: str = ""
    password: str = ""
    auth: str = ""
    server_address: str = ""
    identity_token: str = ""
    registry_token: str = ""

    def is_empty(self) -> bool:
        return not (
            self.username
            or self.password
            or self.auth
            or self.identity_token
            or self.registry_token
        )

    def credentials(self) -> tuple[str, str] | None:
        """(username, password) as containerd would derive them, if there are any."""
        if self.username:
            return self.username, self.password
        if self.identity_token:
            return "", self.identity_token
        if self.auth:
            user, password = _decode_auth(self.auth)
            return user, password
        return None


@dataclass
class TLSConfig:
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    insecure_skip_verify: bool = False


@dataclass
class RegistryConfig:
    """One entry of ``configs``: credentials and TLS settings of a registry host."""

    auth: AuthConfig | None = None
    tls: TLSConfig | None = None


@dataclass
class Mirror:
    """One entry of ``mirrors``: the endpoints to try for a registry, and repository rewrites."""

    endpoints: list[str] = field(default_factory=list)
    rewrites: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    """A normalised endpoint URL: ``scheme://host/path``; ``registry`` is the host its config uses."""

    scheme: str
    host: str
    path: str
    registry: str
    override_path: bool = False

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}{self.path}"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"


def _is_loopback(host: str) -> bool:
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _default_host(registry: str) -> str:
    return DOCKER_HUB_API if registry == DOCKER_HUB else registry


def normalize_endpoint(endpoint: str) -> Endpoint:
    """Normalise a mirror endpoint or registry name the way k3s and containerd do."""
    text = endpoint.strip()
    if not text:
        raise RegistriesError("empty registry endpoint")
    parts = urlsplit(text if "://" in text else f"//{text}")
    if not parts.netloc:
        raise RegistriesError(f"registry endpoint {endpoint!r} has no host")
    scheme = parts.scheme
    if not scheme:
        port = parts.port
        scheme = "http" if _is_loopback(parts.netloc) and port and port != 443 else "https"
    if scheme not in ("http", "https"):
        raise RegistriesError(f"registry endpoint {endpoint!r}: unsupported scheme {scheme!r}")
    registry = parts.netloc
    host = _default_host(registry)
    if host == DOCKER_HUB_API:
        registry = DOCKER_HUB
    if parts.path in ("", "/", "/v2", "/v2/"):
        return Endpoint(scheme=scheme, host=host, path="/v2", registry=registry)
    return Endpoint(
        scheme=scheme, host=host, path=parts.path, registry=registry, override_path=True
    )


def _str(doc: dict[str, Any], key: str, where: str) -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise RegistriesError(f"{where}.{key}: expected a string")
    return str(value)


def _map(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RegistriesError(f"{where}: expected a mapping")
    return {str(k): v for k, v in value.items()}


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


@dataclass
class RegistriesConfig:
    mirrors: dict[str, Mirror] = field(default_factory=dict)
    configs: dict[str, RegistryConfig] = field(default_factory=dict)

    # ----------------------------------------------------------------------
    # loading

    @classmethod
    def load(cls, path: Path | str) -> RegistriesConfig:
        """Read ``registries.yaml``; a missing file is an empty configuration."""
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            return cls()
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise RegistriesError(f"{path}: not YAML: {e}") from None
        try:
            return cls.from_dict(doc or {})
        except RegistriesError as e:
            raise RegistriesError(f"{path}: {e}") from None

    @classmethod
    def from_dict(cls, doc: Any) -> RegistriesConfig:
        top = _map(doc, "registries")
        mirrors: dict[str, Mirror] = {}
        for name, m in _map(top.get("mirrors"), "mirrors").items():
            where = f"mirrors[{name}]"
            md = _map(m, where)
            endpoints = md.get("endpoint") or []
            if isinstance(endpoints, str):
                endpoints = [endpoints]
            if not isinstance(endpoints, list) or not all(isinstance(e, str) for e in endpoints):
                raise RegistriesError(f"{where}.endpoint: expected a list of URLs")
            rewrites = {
                str(k): str(v) for k, v in _map(md.get("rewrite"), f"{where}.rewrite").items()
            }
            mirrors[name] = Mirror(endpoints=list(endpoints), rewrites=rewrites)
        configs: dict[str, RegistryConfig] = {}
        for name, c in _map(top.get("configs"), "configs").items():
            where = f"configs[{name}]"
            cd = _map(c, where)
            auth = None
            if cd.get("auth") is not None:
                ad = _map(cd["auth"], f"{where}.auth")
                w = f"{where}.auth"
                auth = AuthConfig(
                    username=_str(ad, "username", w),
                    password=_str(ad, "password", w),
                    auth=_str(ad, "auth", w),
                    identity_token=_str(ad, "identity_token", w) or _str(ad, "identitytoken", w),
                )
            tls = None
            if cd.get("tls") is not None:
                td = _map(cd["tls"], f"{where}.tls")
                w = f"{where}.tls"
                skip = td.get("insecure_skip_verify", False)
                if not isinstance(skip, bool):
                    raise RegistriesError(f"{w}.insecure_skip_verify: expected true or false")
                tls = TLSConfig(
                    ca_file=_str(td, "ca_file", w),
                    cert_file=_str(td, "cert_file", w),
                    key_file=_str(td, "key_file", w),
                    insecure_skip_verify=skip,
                )
                if bool(tls.cert_file) != bool(tls.key_file):
                    raise RegistriesError(f"{w}: cert_file and key_file go together")
            configs[name] = RegistryConfig(auth=auth, tls=tls)
        return cls(mirrors=mirrors, configs=configs)

    # ----------------------------------------------------------------------
    # lookups

    def config_for(self, registry: str) -> RegistryConfig:
        """The ``configs`` entry of a registry host (``docker.io`` also as ``registry-1.docker.io``)."""
        alias = _default_host(registry)
        if alias != registry and alias in self.configs:
            return self.configs[alias]
        if registry == DOCKER_HUB and DOCKER_HUB_INDEX in self.configs:
            return self.configs[DOCKER_HUB_INDEX]
        return self.configs.get(registry, RegistryConfig())

    def mirror_for(self, registry: str) -> Mirror | None:
        """The mirror entry used for a registry: its own, else the ``*`` wildcard."""
        for key in (registry, "*"):
            if key in self.mirrors:
                return self.mirrors[key]
        return None

    def endpoints_for(self, registry: str) -> list[Endpoint]:
        """The endpoints containerd tries for a registry, in order (mirrors, then the registry)."""
        out: list[Endpoint] = []
        mirror = self.mirror_for(registry)
        for e in mirror.endpoints if mirror else []:
            try:
                ep = normalize_endpoint(e)
            except RegistriesError as err:
                log.warning("ignoring mirror endpoint %r of %s: %s", e, registry, err)
                continue
            if ep not in out:
                out.append(ep)
        default = normalize_endpoint(registry)
        if default not in out:
            out.append(default)
        return out

    def auth_for(self, image_ref: str) -> AuthConfig | None:
        """Credentials from ``configs`` for pulling an image, through its first mirror endpoint.

        The result names the endpoint in ``server_address``, so containerd
        offers the credentials to that endpoint only. ``None`` when no
        credentials apply.
        """
        registry = parse_ref(image_ref).domain
        for ep in self.endpoints_for(registry):
            config = self.config_for(ep.registry)
            if config.auth is not None and not config.auth.is_empty():
                a = config.auth
                return AuthConfig(
                    username=a.username,
                    password=a.password,
                    auth=a.auth,
                    identity_token=a.identity_token,
                    server_address=ep.base_url,
                )
            # like wharfie's keychain: only the first endpoint's credentials are looked up
            break
        return None

    # ----------------------------------------------------------------------
    # hosts.toml

    def hosts_files(self) -> dict[str, str]:
        """Directory name -> ``hosts.toml`` text, for every registry that needs one."""
        out: dict[str, str] = {}
        names = sorted(set(self.configs) | set(self.mirrors))
        for name in names:
            if name == "*" and "*" not in self.mirrors:
                continue  # a "*" config has no host to apply to on its own
            try:
                text = self._render(name)
            except RegistriesError as e:
                log.warning("no hosts.toml for registry %s: %s", name, e)
                continue
            if text is not None:
                out[DEFAULT_HOST_DIR if name == "*" else name] = text
        return out

    def _render(self, name: str) -> str | None:
        mirror = self.mirrors.get(name)
        default = None if name == "*" else normalize_endpoint(name)
        endpoints: list[Endpoint] = []
        for e in mirror.endpoints if mirror else []:
            try:
                ep = normalize_endpoint(e)
            except RegistriesError as err:
                log.warning("ignoring mirror endpoint %r of %s: %s", e, name, err)
                continue
            if ep not in endpoints and ep != default:
                endpoints.append(ep)
        if mirror and mirror.rewrites:
            log.warning(
                "registries.yaml: rewrites for %s are not supported by containerd 1.6; ignored",
                name,
            )
        default_tls = self.config_for(default.registry).tls if default else None
        if not endpoints and default_tls is None:
            return None  # nothing differs from containerd's built-in behaviour
        lines = [HOSTS_HEADER]
        if default is not None:
            lines.append(f"server = {_toml_str(default.url)}\n")
            lines += _tls_lines(default_tls, indent="")
        hosts = list(endpoints)
        if default is not None and default_tls is not None and not endpoints:
            # a hosts.toml without any [host] table is rejected by containerd 1.6's parser
            hosts.append(default)
        for ep in hosts:
            lines.append(f"\n[host.{_toml_str(ep.url)}]\n")
            lines.append('  capabilities = ["pull", "resolve"]\n')
            if ep.override_path:
                lines.append("  override_path = true\n")
            lines += _tls_lines(self.config_for(ep.registry).tls, indent="  ")
        return "".join(lines)

    def write_hosts_dir(self, directory: Path | str) -> list[Path]:
        """Write ``<dir>/<host>/hosts.toml`` files; returns the files written.

        Directories that pinnace wrote before (their hosts.toml starts with
        :data:`HOSTS_HEADER`) and that are no longer wanted are removed; other
        directories are left alone.
        """
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        files = self.hosts_files()
        for entry in root.iterdir():
            hosts = entry / "hosts.toml"
            if entry.name in files or not entry.is_dir() or not hosts.is_file():
                continue
            with open(hosts) as f:
                first = f.readline()
            if first == HOSTS_HEADER.splitlines(keepends=True)[0]:
                shutil.rmtree(entry)
        written = []
        for name, text in sorted(files.items()):
            d = root / name
            d.mkdir(mode=0o700, exist_ok=True)
            path = d / "hosts.toml"
            tmp = d / ".hosts.toml.tmp"
            tmp.write_text(text)
            os.replace(tmp, path)
            written.append(path)
        return written


def _tls_lines(tls: TLSConfig | None, *, indent: str) -> list[str]:
    if tls is None:
        return []
    out = []
    if tls.ca_file:
        out.append(f"{indent}ca = [{_toml_str(tls.ca_file)}]\n")
    if tls.cert_file or tls.key_file:
        out.append(f"{indent}client = [[{_toml_str(tls.cert_file)}, {_toml_str(tls.key_file)}]]\n")
    if tls.insecure_skip_verify:
        out.append(f"{indent}skip_verify = true\n")
    return out


# --------------------------------------------------------------------------
# pull secrets


def _decode_auth(auth: str) -> tuple[str, str]:
    try:
        text = base64.b64decode(auth, validate=False).decode()
    except (binascii.Error, UnicodeDecodeError) as e:
        raise ValueError(f"cannot decode auth field: {e}") from None
    user, sep, password = text.partition(":")
    if not sep:
        raise ValueError("auth field does not hold username:password")
    return user, password.strip("\x00")


def _secret_field(secret: dict[str, Any], key: str) -> str | None:
    data = secret.get("data") or {}
    if isinstance(data, dict) and isinstance(data.get(key), str):
        try:
            return base64.b64decode(data[key]).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
    string_data = secret.get("stringData") or {}
    if isinstance(string_data, dict) and isinstance(string_data.get(key), str):
        return str(string_data[key])
    return None


def _docker_config(secret: dict[str, Any]) -> dict[str, Any]:
    """The registry -> entry map of a pull secret ({} for other secret types or bad data)."""
    kind = secret.get("type")
    try:
        if kind == SECRET_DOCKER_CONFIG_JSON:
            text = _secret_field(secret, ".dockerconfigjson")
            doc = json.loads(text) if text else {}
            auths = doc.get("auths") if isinstance(doc, dict) else None
            return auths if isinstance(auths, dict) else {}
        if kind == SECRET_DOCKERCFG:
            text = _secret_field(secret, ".dockercfg")
            doc = json.loads(text) if text else {}
            return doc if isinstance(doc, dict) else {}
    except ValueError:
        name = (secret.get("metadata") or {}).get("name", "?")
        log.warning("pull secret %s: cannot parse its docker config", name)
    return {}


def _entry_auth(entry: Any) -> AuthConfig | None:
    if not isinstance(entry, dict):
        return None
    a = AuthConfig(
        username=str(entry.get("username") or ""),
        password=str(entry.get("password") or ""),
        identity_token=str(entry.get("identitytoken") or ""),
    )
    if entry.get("auth"):
        try:
            a.username, a.password = _decode_auth(str(entry["auth"]))
        except ValueError as e:
            log.warning("pull secret entry: %s", e)
            return None
    return a


def _key_of(location: str) -> str | None:
    """A keyring key: host[/path] without scheme; ``/v1/`` and ``/v2/`` prefixes drop out."""
    value = location if location.startswith(("http://", "https://")) else f"https://{location}"
    parts = urlsplit(value)
    if not parts.netloc:
        return None
    path = parts.path
    if path.startswith(("/v1/", "/v2/")):
        path = path[3:]
    return parts.netloc + path if path not in ("", "/") else parts.netloc


def _split_host_path(text: str) -> tuple[str, str]:
    host, _, path = text.partition("/")
    return host, path


def _host_matches(pattern: str, host: str) -> bool:
    p_name, _, p_port = pattern.partition(":")
    h_name, _, h_port = host.partition(":")
    if p_port != h_port:
        return False
    p_parts, h_parts = p_name.split("."), h_name.split(".")
    if len(p_parts) != len(h_parts):
        return False
    return all(fnmatch.fnmatchcase(h, p) for p, h in zip(p_parts, h_parts, strict=True))


def _key_matches(key: str, image: str) -> bool:
    k_host, k_path = _split_host_path(key)
    i_host, i_path = _split_host_path(image)
    if not _host_matches(k_host, i_host):
        return False
    return i_path.startswith(k_path)


def _default_registry_match(image: str) -> bool:
    first, sep, _ = image.partition("/")
    if not first:
        return False
    if not sep or first in (DOCKER_HUB, DOCKER_HUB_INDEX):
        return True
    return not any(c in first for c in ".:")


def auths_from_pull_secrets(secrets: list[dict[str, Any]], image_ref: str) -> list[AuthConfig]:
    """Every credential the pod's pull secrets offer for an image, most specific key first.

    ``secrets`` are Secret objects as the API returns them (``data`` base64).
    Matching follows the kubelet's keyring: keys are host[/path] without
    scheme, hosts may hold ``*`` globs per label, ports must match, the
    image's repository must start with the key's path; when nothing matches a
    ``docker.io`` image, the ``index.docker.io`` entry
    (``https://index.docker.io/v1/``) is used.
    """
    ref = parse_ref(image_ref)
    image = ref.repository
    creds: dict[str, list[AuthConfig]] = {}
    for secret in secrets:
        for location, entry in _docker_config(secret).items():
            key = _key_of(str(location))
            auth = _entry_auth(entry)
            if key is None or auth is None:
                continue
            creds.setdefault(key, []).append(auth)
    out: list[AuthConfig] = []
    for key in sorted(creds, reverse=True):
        if _key_matches(key, image):
            out += creds[key]
    if not out and _default_registry_match(image):
        out += creds.get(DOCKER_HUB_INDEX, [])
    return out


def auth_from_pull_secrets(secrets: list[dict[str, Any]], image_ref: str) -> AuthConfig | None:
    """The first credential the pod's pull secrets offer for an image (see :func:`auths_from_pull_secrets`)."""
    found = auths_from_pull_secrets(secrets, image_ref)
    return found[0] if found else None
