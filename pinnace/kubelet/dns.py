"""A pod's name resolution: its resolv.conf, its /etc/hosts and its host name.

* :func:`pod_dns_config` is upstream's ``dns.Configurer.GetPodDNS``: the DNS
  servers, search path and options for the pod's ``dnsPolicy``
  (``ClusterFirst`` — the default —, ``ClusterFirstWithHostNet``, ``Default``,
  ``None``) merged with its ``dnsConfig``, cut to the resolver's limits (3
  name servers; 32 search domains, 2048 characters, none longer than 253) with
  upstream's ``DNSConfigForming`` event. The answer is what the CRI
  ``DNSConfig`` of ``RunPodSandbox`` carries; :func:`resolv_conf` renders it as
  the file containerd writes from it (``search``, ``nameserver`` lines,
  ``options``), for callers that write resolv.conf themselves.
* :func:`hosts_file` is the kubelet-managed ``/etc/hosts`` (``ensureHostsFile``):
  localhost and IPv6 lines, the pod's IPs with its host name (and FQDN when it
  has a ``subdomain``), then ``hostAliases``; a ``hostNetwork`` pod gets the
  node's own file under a different header, plus its aliases.
* :func:`pod_hostname` / :func:`kernel_hostname`: ``GeneratePodHostNameAndDomain``
  (name or ``spec.hostname``, cut to 63 characters) and the UTS host name
  (the FQDN with ``setHostnameAsFQDN``, at most 64 characters).

Pure functions over the pod dict; the only I/O is reading the node's
/etc/hosts for host-network pods when its content is not passed in.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pinnace.kubelet.envvars import Recorder

__all__ = [
    "MANAGED_HOSTS_HEADER",
    "MANAGED_HOSTS_HEADER_HOST_NETWORK",
    "DNSConfig",
    "DNSError",
    "format_resolv_conf",
    "hosts_file",
    "kernel_hostname",
    "parse_resolv_conf",
    "pod_dns_config",
    "pod_hostname",
    "resolv_conf",
]

log = logging.getLogger("pinnace.kubelet.dns")

Obj = dict[str, Any]

MANAGED_HOSTS_HEADER = "# Kubernetes-managed hosts file.\n"
MANAGED_HOSTS_HEADER_HOST_NETWORK = "# Kubernetes-managed hosts file (host network).\n"

MAX_NAMESERVERS = 3
MAX_SEARCH_PATHS = 32
MAX_SEARCH_CHARS = 2048
MAX_DOMAIN_LEN = 253  # DNS-1123 subdomain
HOSTNAME_MAX_LEN = 63
FQDN_MAX_LEN = 64
DEFAULT_OPTIONS = ("ndots:5",)

WARNING = "Warning"


class DNSError(Exception):
    """The pod's name configuration cannot be made (the sandbox cannot be created)."""


@dataclass
class DNSConfig:
    """The CRI ``DNSConfig``: what the runtime writes into the sandbox's resolv.conf."""

    servers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


def parse_resolv_conf(text: str) -> DNSConfig:
    """``nameserver`` lines accumulate; the last ``search`` and ``options`` lines win;
    a trailing dot on a search domain is dropped (as upstream, so that ``a.`` and
    ``a`` count once)."""
    cfg = DNSConfig()
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            continue
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) >= 2:
            cfg.servers.append(fields[1])
        elif fields[0] == "search":
            cfg.searches = [s.removesuffix(".") for s in fields[1:]]
        elif fields[0] == "options":
            cfg.options = fields[1:]
    return cfg


def format_resolv_conf(cfg: DNSConfig) -> str:
    """The resolv.conf containerd writes for a CRI ``DNSConfig``."""
    out = ""
    if cfg.searches:
        out += f"search {' '.join(cfg.searches)}\n"
    for server in cfg.servers:
        out += f"nameserver {server}\n"
    if cfg.options:
        out += f"options {' '.join(cfg.options)}\n"
    return out


def _dedup(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _merge_options(existing: Sequence[str], extra: Iterable[Mapping[str, Any]]) -> list[str]:
    """Options by name, ``dnsConfig.options`` overriding (a name without value is kept
    bare). Upstream builds a Go map (random order); here the first occurrence keeps
    its position."""
    merged: dict[str, str] = {}
    for text in existing:
        name, _, value = text.partition(":")
        merged[name] = value
    for op in extra:
        v = op.get("value")
        merged[str(op.get("name") or "")] = "" if v is None else str(v)
    return [f"{k}:{v}" if v else k for k, v in merged.items()]


def _pod_ref(pod: Obj) -> str:
    """Upstream's ``format.Pod``: ``name_namespace(uid)``."""
    m = pod.get("metadata") or {}
    return f"{m.get('name', '')}_{m.get('namespace', '')}({m.get('uid', '')})"


def _event(recorder: Recorder | None, pod: Obj, reason: str, message: str) -> None:
    log.warning("%s: %s", reason, message)
    if recorder is not None:
        recorder.event(pod, WARNING, reason, message, kind="Pod", api_version="v1")


def _fit_limits(cfg: DNSConfig, pod: Obj, recorder: Recorder | None) -> DNSConfig:
    if len(cfg.servers) > MAX_NAMESERVERS:
        cfg.servers = cfg.servers[:MAX_NAMESERVERS]
        _event(
            recorder,
            pod,
            "DNSConfigForming",
            "Nameserver limits were exceeded, some nameservers have been omitted, "
            f"the applied nameserver line is: {' '.join(cfg.servers)}",
        )
    exceeded = False
    search = cfg.searches
    if len(search) > MAX_SEARCH_PATHS:
        search = search[:MAX_SEARCH_PATHS]
        exceeded = True
    kept = [s for s in search if len(s) <= MAX_DOMAIN_LEN]
    if len(kept) != len(search):
        exceeded = True
    search = kept
    total = len(" ".join(search))
    if total > MAX_SEARCH_CHARS:
        while search and total > MAX_SEARCH_CHARS:
            total -= len(search[-1]) + 1
            search = search[:-1]
        exceeded = True
    cfg.searches = search
    if exceeded:
        _event(
            recorder,
            pod,
            "DNSConfigForming",
            "Search Line limits were exceeded, some search paths have been omitted, "
            f"the applied search line is: {' '.join(search)}",
        )
    return cfg


def _policy(pod: Obj) -> str:
    """ "cluster", "host" or "none" (an unknown policy is treated as ClusterFirst)."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "None":
        return "none"
    if policy == "ClusterFirstWithHostNet":
        return "cluster"
    if policy == "ClusterFirst":
        return "host" if spec.get("hostNetwork") else "cluster"
    if policy == "Default":
        return "host"
    log.error("invalid DNSPolicy=%s for pod %s: using ClusterFirst", policy, _pod_ref(pod))
    return "cluster"


def pod_dns_config(
    pod: Obj,
    *,
    cluster_dns: Sequence[str],
    cluster_domain: str,
    host_resolv_conf: str | None,
    node_ips: Sequence[str] = (),
    recorder: Recorder | None = None,
) -> DNSConfig:
    """The pod's DNS settings (see the module docstring).

    ``host_resolv_conf``: the content of the node's resolv.conf (the kubelet's
    ``--resolv-conf``); None when that flag is empty, in which case ``Default``
    pods get a local name server (``127.0.0.1``, or ``::1`` for IPv6 node IPs) and
    the search path ``.``, as upstream. ``ClusterFirst`` without ``cluster_dns``
    falls back to ``Default`` with a ``MissingClusterDNS`` event.
    """
    host = parse_resolv_conf(host_resolv_conf or "")
    policy = _policy(pod)
    cfg = DNSConfig(list(host.servers), list(host.searches), list(host.options))
    if policy == "none":
        cfg = DNSConfig()
    elif policy == "cluster" and cluster_dns:
        ns = str((pod.get("metadata") or {}).get("namespace") or "default")
        searches = list(host.searches)
        if cluster_domain:
            searches = _dedup(
                [f"{ns}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain, *searches]
            )
        cfg = DNSConfig(list(cluster_dns), searches, list(DEFAULT_OPTIONS))
    else:
        if policy == "cluster":
            msg = (
                "kubelet does not have ClusterDNS IP configured and cannot create Pod using "
                '"ClusterFirst" policy. Falling back to "Default" policy.'
            )
            _event(recorder, pod, "MissingClusterDNS", f'pod: "{_pod_ref(pod)}". {msg}')
        if host_resolv_conf is None:
            servers = ["::1" if ":" in ip else "127.0.0.1" for ip in node_ips] or ["127.0.0.1"]
            cfg.servers = cfg.servers + servers
            cfg.searches = ["."]
    extra = (pod.get("spec") or {}).get("dnsConfig")
    if extra:
        cfg.servers = _dedup([*cfg.servers, *(str(s) for s in extra.get("nameservers") or [])])
        cfg.searches = _dedup([*cfg.searches, *(str(s) for s in extra.get("searches") or [])])
        cfg.options = _merge_options(cfg.options, extra.get("options") or [])
    return _fit_limits(cfg, pod, recorder)


def resolv_conf(
    pod: Obj,
    *,
    cluster_dns: Sequence[str],
    cluster_domain: str,
    host_resolv_conf: str | None,
    node_ips: Sequence[str] = (),
    recorder: Recorder | None = None,
) -> str:
    """The pod's resolv.conf text (:func:`pod_dns_config` rendered as containerd does)."""
    return format_resolv_conf(
        pod_dns_config(
            pod,
            cluster_dns=cluster_dns,
            cluster_domain=cluster_domain,
            host_resolv_conf=host_resolv_conf,
            node_ips=node_ips,
            recorder=recorder,
        )
    )


# --- host names ------------------------------------------------------------------------------


def _truncate_hostname(pod_name: str, hostname: str) -> str:
    if len(hostname) <= HOSTNAME_MAX_LEN:
        return hostname
    truncated = hostname[:HOSTNAME_MAX_LEN].rstrip("-.")
    log.error(
        "Hostname for pod was too long, truncated it",
        extra={"pod": pod_name, "truncated_hostname": truncated},
    )
    if not truncated:
        raise DNSError(f'hostname for pod "{pod_name}" was invalid: "{hostname}"')
    return truncated


def pod_hostname(pod: Obj, *, cluster_domain: str = "cluster.local") -> tuple[str, str | None]:
    """``(hostname, fqdn)``: ``spec.hostname`` or the pod name, cut to 63 characters;
    the FQDN ``<hostname>.<subdomain>.<namespace>.svc.<domain>`` when the pod has a
    ``subdomain``, else None."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    name = str(meta.get("name") or "")
    hostname = _truncate_hostname(name, str(spec.get("hostname") or name))
    subdomain = spec.get("subdomain")
    if not subdomain:
        return hostname, None
    ns = str(meta.get("namespace") or "default")
    return hostname, f"{hostname}.{subdomain}.{ns}.svc.{cluster_domain}"


def kernel_hostname(pod: Obj, *, cluster_domain: str = "cluster.local") -> str:
    """The sandbox's UTS host name: the FQDN with ``setHostnameAsFQDN`` (and a
    subdomain), else the short host name. Raises :class:`DNSError` with upstream's
    message when the FQDN is longer than 64 characters."""
    hostname, fqdn = pod_hostname(pod, cluster_domain=cluster_domain)
    if fqdn is None or not (pod.get("spec") or {}).get("setHostnameAsFQDN"):
        return hostname
    if len(fqdn) > FQDN_MAX_LEN:
        raise DNSError(
            f"failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} is "
            f"too long ({FQDN_MAX_LEN} characters is the max, {len(fqdn)} characters requested)"
        )
    return fqdn


# --- /etc/hosts ------------------------------------------------------------------------------


def _aliases_section(aliases: Iterable[Mapping[str, Any]]) -> str:
    lines = [f"{a.get('ip', '')}\t{chr(9).join(a.get('hostnames') or [])}\n" for a in aliases]
    if not lines:
        return ""
    return "\n# Entries added by HostAliases.\n" + "".join(lines)


def hosts_file(
    pod: Obj,
    *,
    pod_ips: Sequence[str],
    cluster_domain: str = "cluster.local",
    host_aliases: Sequence[Mapping[str, Any]] | None = None,
    node_hosts: str | None = None,
    node_hosts_path: Path = Path("/etc/hosts"),
) -> str:
    """The pod's /etc/hosts. ``host_aliases`` defaults to ``spec.hostAliases``. For a
    ``hostNetwork`` pod: the node's hosts file (``node_hosts``, else read from
    ``node_hosts_path``) under the host-network header, then the aliases."""
    spec = pod.get("spec") or {}
    aliases = host_aliases if host_aliases is not None else spec.get("hostAliases") or []
    if spec.get("hostNetwork"):
        if node_hosts is None:
            node_hosts = node_hosts_path.read_text()
        return MANAGED_HOSTS_HEADER_HOST_NETWORK + node_hosts + _aliases_section(aliases)
    hostname, fqdn = pod_hostname(pod, cluster_domain=cluster_domain)
    out = [
        MANAGED_HOSTS_HEADER,
        "127.0.0.1\tlocalhost\n",
        "::1\tlocalhost ip6-localhost ip6-loopback\n",
        "fe00::0\tip6-localnet\n",
        "fe00::0\tip6-mcastprefix\n",
        "fe00::1\tip6-allnodes\n",
        "fe00::2\tip6-allrouters\n",
    ]
    for ip in pod_ips:
        out.append(f"{ip}\t{fqdn}\t{hostname}\n" if fqdn else f"{ip}\t{hostname}\n")
    out.append(_aliases_section(aliases))
    return "".join(out)
