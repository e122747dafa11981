"""What kube-proxy programs, as plain values: service ports and their endpoints.

Upstream's ``pkg/proxy`` ``ServicePort``/``Endpoint`` and the parts of its
change trackers that turn API objects into them, written as pure functions:

* :func:`service_ports` — one :class:`ServicePortInfo` per port of a Service
  that has an IPv4 ClusterIP (headless and ExternalName Services are not
  proxied): NodePort, externalIPs, LoadBalancer ingress IPs (not those with
  ``ipMode: Proxy``), ``loadBalancerSourceRanges``, ``sessionAffinity:
  ClientIP`` with its timeout (default 10800 s), and the two traffic policies
  (``externalTrafficPolicy: Local`` counts only for NodePort and LoadBalancer
  Services, as upstream), and ``healthCheckNodePort`` (LoadBalancer Services
  with ``externalTrafficPolicy: Local`` only).
* :func:`slice_endpoints` — the endpoints of one IPv4 EndpointSlice per
  service port (matched by port *name* and protocol), with the
  ``ready``/``serving``/``terminating`` conditions defaulted as upstream does
  (missing ``ready`` or ``serving`` means true, missing ``terminating`` false),
  whether each is on this node, and its zone hints.
* :func:`merge_endpoints` — the endpoints of every slice of a Service,
  de-duplicated by ``ip:port`` and sorted by that string (upstream sorts the
  same way, which keeps generated rules stable).

Values are frozen dataclasses so that "did this Service change?" is an
equality test. No I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_AFFINITY_TIMEOUT",
    "SERVICE_NAME_LABEL",
    "Endpoint",
    "ServicePortInfo",
    "ServicePortName",
    "merge_endpoints",
    "service_ports",
    "slice_endpoints",
    "slice_service",
]

Obj = Mapping[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
#: upstream ``v1.DefaultClientIPServiceAffinitySeconds`` (3 hours)
DEFAULT_AFFINITY_TIMEOUT = 10800
LB_SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"


@dataclass(frozen=True, slots=True, order=True)
class ServicePortName:
    """A service port's identity: ``namespace/name:port`` plus its protocol."""

    namespace: str
    name: str
    port: str
    protocol: str = "TCP"

    def __str__(self) -> str:
        # upstream ServicePortName.String(): no ":" when the port has no name
        base = f"{self.namespace}/{self.name}"
        return f"{base}:{self.port}" if self.port else base

    @property
    def service(self) -> str:
        """``namespace/name`` of the Service."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class ServicePortInfo:
    name: ServicePortName
    cluster_ip: str
    port: int
    node_port: int = 0
    external_ips: tuple[str, ...] = ()
    lb_vips: tuple[str, ...] = ()
    lb_source_ranges: tuple[str, ...] = ()
    #: ClientIP affinity timeout in seconds; 0 = no affinity
    affinity_timeout: int = 0
    internal_local: bool = False
    external_local: bool = False
    #: ``spec.healthCheckNodePort`` (LoadBalancer with Local external policy); 0 = none
    health_check_node_port: int = 0

    @property
    def protocol(self) -> str:
        """Lower-case protocol (``tcp``/``udp``/``sctp``) as rules spell it."""
        return self.name.protocol.lower()

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.external_ips or self.lb_vips)

    @property
    def external_policy_local(self) -> bool:
        return self.externally_accessible and self.external_local

    @property
    def uses_cluster_endpoints(self) -> bool:
        """Cluster policy serves internal or external traffic."""
        return not self.internal_local or (
            self.externally_accessible and not self.external_policy_local
        )

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_local or self.external_policy_local


@dataclass(frozen=True, slots=True)
class Endpoint:
    ip: str
    port: int
    is_local: bool = False
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    #: zones from ``hints.forZones``; empty = no hints
    zone_hints: frozenset[str] = frozenset()

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


def _ipv4(text: object) -> str | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return str(ip) if ip.version == 4 else None


def _cidr4(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    return str(net) if net.version == 4 else None


def _cluster_ip(spec: Obj) -> str | None:
    ips = spec.get("clusterIPs") or [spec.get("clusterIP")]
    for ip in ips:
        v4 = _ipv4(ip)
        if v4 is not None:
            return v4
    return None


def service_ports(svc: Obj) -> dict[ServicePortName, ServicePortInfo]:
    """The proxied ports of a Service (empty for headless/ExternalName ones)."""
    meta = svc.get("metadata") or {}
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return {}
    cluster_ip = _cluster_ip(spec)
    if cluster_ip is None:
        return {}
    ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    svc_type = spec.get("type") or "ClusterIP"
    external_ips = tuple(ip for ip in map(_ipv4, spec.get("externalIPs") or []) if ip)
    lb_vips: list[str] = []
    if svc_type == "LoadBalancer":
        for ing in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            ip = _ipv4((ing or {}).get("ip"))
            if ip and (ing.get("ipMode") or "VIP") == "VIP":
                lb_vips.append(ip)
    ranges: list[str] = list(spec.get("loadBalancerSourceRanges") or [])
    if not ranges:
        ann = (meta.get("annotations") or {}).get(LB_SOURCE_RANGES_ANNOTATION) or ""
        ranges = [r for r in ann.split(",") if r.strip()]
    source_ranges = tuple(r for r in map(_cidr4, ranges) if r) if lb_vips else ()
    timeout = 0
    if spec.get("sessionAffinity") == "ClientIP":
        cfg = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        timeout = int(cfg.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT)
    internal_local = spec.get("internalTrafficPolicy") == "Local"
    external_local = (
        svc_type in ("NodePort", "LoadBalancer") and spec.get("externalTrafficPolicy") == "Local"
    )
    hc_port = 0
    if svc_type == "LoadBalancer" and external_local:
        hc_port = int(spec.get("healthCheckNodePort") or 0)
    out: dict[ServicePortName, ServicePortInfo] = {}
    for p in spec.get("ports") or []:
        if not isinstance(p, dict) or not p.get("port"):
            continue
        spn = ServicePortName(ns, name, str(p.get("name") or ""), str(p.get("protocol") or "TCP"))
        node_port = int(p.get("nodePort") or 0) if svc_type in ("NodePort", "LoadBalancer") else 0
        out[spn] = ServicePortInfo(
            name=spn,
            cluster_ip=cluster_ip,
            port=int(p["port"]),
            node_port=node_port,
            external_ips=external_ips,
            lb_vips=tuple(lb_vips),
            lb_source_ranges=source_ranges,
            affinity_timeout=timeout,
            internal_local=internal_local,
            external_local=external_local,
            health_check_node_port=hc_port,
        )
    return out


def slice_service(es: Obj) -> str | None:
    """``namespace/name`` of the Service an EndpointSlice belongs to."""
    meta = es.get("metadata") or {}
    svc = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return f"{meta.get('namespace') or ''}/{svc}" if svc else None


def slice_endpoints(es: Obj, node_name: str) -> dict[ServicePortName, list[Endpoint]]:
    """One IPv4 EndpointSlice's endpoints per service port."""
    if (es.get("addressType") or "IPv4") != "IPv4":
        return {}
    svc = slice_service(es)
    if svc is None:
        return {}
    ns, _, name = svc.partition("/")
    eps: list[tuple[str, str | None, dict[str, Any], frozenset[str]]] = []
    for ep in es.get("endpoints") or []:
        ip = _ipv4(((ep or {}).get("addresses") or [None])[0])
        if ip is None:
            continue
        hints = (ep.get("hints") or {}).get("forZones") or []
        zones = frozenset(str(z.get("name")) for z in hints if isinstance(z, dict))
        eps.append((ip, ep.get("nodeName"), ep.get("conditions") or {}, zones))
    out: dict[ServicePortName, list[Endpoint]] = {}
    for port in es.get("ports") or []:
        if not isinstance(port, dict) or port.get("port") is None:
            continue
        spn = ServicePortName(
            ns, name, str(port.get("name") or ""), str(port.get("protocol") or "TCP")
        )
        num = int(port["port"])
        lst = out.setdefault(spn, [])
        for ip, node, cond, zones in eps:
            ready = cond.get("ready") is not False
            lst.append(
                Endpoint(
                    ip=ip,
                    port=num,
                    is_local=bool(node_name) and node == node_name,
                    ready=ready,
                    serving=cond.get("serving") is not False,
                    terminating=cond.get("terminating") is True,
                    zone_hints=zones,
                )
            )
    return out


def merge_endpoints(
    per_slice: Iterable[Mapping[ServicePortName, list[Endpoint]]],
) -> dict[ServicePortName, tuple[Endpoint, ...]]:
    """All slices of one Service: de-duplicated by ``ip:port``, sorted by it."""
    merged: dict[ServicePortName, dict[str, Endpoint]] = {}
    for eps in per_slice:
        for spn, lst in eps.items():
            seen = merged.setdefault(spn, {})
            for ep in lst:
                seen.setdefault(str(ep), ep)
    return {spn: tuple(seen[k] for k in sorted(seen)) for spn, seen in merged.items()}
