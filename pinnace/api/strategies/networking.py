"""Strategies for networking.k8s.io/v1: Ingress, IngressClass, NetworkPolicy
(``pkg/apis/networking/v1/defaults.go``, ``pkg/apis/networking/validation``).
"""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar

from pinnace.api import validation_common as vc
from pinnace.api.strategies._common import (
    as_dict,
    as_list,
    dig,
    is_int,
    is_valid_ip,
    validate_label_selector,
)
from pinnace.api.strategy import FIELD_IMMUTABLE, FieldError, Obj, Strategy, register

PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
POLICY_TYPES = ("Ingress", "Egress")
PROTOCOLS = ("SCTP", "TCP", "UDP")
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
_INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_PATH_SUFFIXES = ("/..", "/.")


# -- Ingress --------------------------------------------------------------------------


def _validate_host(host: str, path: str) -> list[FieldError]:
    if host.startswith("*."):
        msgs = vc.is_dns1123_subdomain(host[2:])
        return (
            [
                FieldError.invalid(
                    path,
                    host,
                    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS "
                    "subdomain, which must consist of lower case alphanumeric characters, '-' or '.' "
                    "and end with an alphanumeric character (e.g. '*.example.com', regex used for "
                    "validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*"
                    "[a-z0-9])?)*')",
                )
            ]
            if msgs
            else []
        )
    errs = [FieldError.invalid(path, host, m) for m in vc.is_dns1123_subdomain(host)]
    if is_valid_ip(host):
        errs.append(FieldError.invalid(path, host, "must be a DNS name, not an IP address"))
    return errs


def _validate_backend(backend: Any, path: str) -> list[FieldError]:
    b = as_dict(backend)
    has_resource, has_service = b.get("resource") is not None, b.get("service") is not None
    if has_resource and has_service:
        return [FieldError.invalid(path, "", "cannot set both resource and service backends")]
    if has_resource:
        r = as_dict(b["resource"])
        errs: list[FieldError] = []
        for f in ("kind", "name"):
            if not r.get(f):
                errs.append(FieldError.required(f"{path}.resource.{f}"))
        return errs
    if not has_service:
        return [FieldError.invalid(path, "", "resource or service backend is required")]
    svc = as_dict(b["service"])
    errs = []
    name = svc.get("name") or ""
    if name:
        errs += [
            FieldError.invalid(f"{path}.service.name", name, m) for m in vc.is_dns1035_label(name)
        ]
    port = as_dict(svc.get("port"))
    pname, pnum = port.get("name") or "", port.get("number") or 0
    if pname and pnum:
        errs.append(FieldError.invalid(path, "", "cannot set both port name & port number"))
    elif pname:
        errs += [
            FieldError.invalid(f"{path}.service.port.name", pname, m)
            for m in vc.is_valid_port_name(pname)
        ]
    elif pnum and is_int(pnum):
        errs += [
            FieldError.invalid(f"{path}.service.port.number", pnum, m)
            for m in vc.is_valid_port_num(pnum)
        ]
    else:
        errs.append(FieldError.required(path, "port name or number is required"))
    return errs


def _validate_http_path(p: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    ptype = p.get("pathType") or ""
    value = p.get("path") or ""
    if ptype and ptype not in PATH_TYPES:
        errs.append(FieldError.not_supported(f"{path}.pathType", ptype, PATH_TYPES))
    if ptype in ("Exact", "Prefix"):
        if not value.startswith("/"):
            errs.append(FieldError.invalid(f"{path}.path", value, "must be an absolute path"))
        elif any(s in value for s in _INVALID_PATH_SEQUENCES):
            bad = next(s for s in _INVALID_PATH_SEQUENCES if s in value)
            errs.append(FieldError.invalid(f"{path}.path", value, f"must not contain '{bad}'"))
        elif value.endswith(_INVALID_PATH_SUFFIXES):
            bad = next(s for s in _INVALID_PATH_SUFFIXES if value.endswith(s))
            errs.append(FieldError.invalid(f"{path}.path", value, f"cannot end with '{bad}'"))
    elif ptype == "ImplementationSpecific" and value and not value.startswith("/"):
        errs.append(FieldError.invalid(f"{path}.path", value, "must be an absolute path"))
    errs += _validate_backend(p.get("backend"), f"{path}.backend")
    return errs


@register("networking.k8s.io", "Ingress")
class IngressStrategy(Strategy):
    tracks_generation: ClassVar[bool] = True

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs: list[FieldError] = []
        rules = as_list(spec.get("rules"))
        if not rules and spec.get("defaultBackend") is None:
            errs.append(
                FieldError.invalid(
                    "spec", spec, "either `defaultBackend` or `rules` must be specified"
                )
            )
        if spec.get("defaultBackend") is not None:
            errs += _validate_backend(spec["defaultBackend"], "spec.defaultBackend")
        for i, rule in enumerate(rules):
            rule = as_dict(rule)
            p = f"spec.rules[{i}]"
            host = rule.get("host")
            if isinstance(host, str) and host:
                errs += _validate_host(host, f"{p}.host")
            for j, hp in enumerate(as_list(dig(rule, "http", "paths"))):
                errs += _validate_http_path(as_dict(hp), f"{p}.http.paths[{j}]")
        for i, tls in enumerate(as_list(spec.get("tls"))):
            for j, host in enumerate(as_list(as_dict(tls).get("hosts"))):
                if isinstance(host, str) and host:
                    errs += _validate_host(host, f"spec.tls[{i}].hosts[{j}]")
        cls = spec.get("ingressClassName")
        if isinstance(cls, str) and cls:
            errs += [
                FieldError.invalid("spec.ingressClassName", cls, m)
                for m in vc.is_dns1123_subdomain(cls)
            ]
            ann = as_dict(obj["metadata"].get("annotations"))
            if INGRESS_CLASS_ANNOTATION in ann:
                errs.append(
                    FieldError.invalid(
                        f"metadata.annotations.{INGRESS_CLASS_ANNOTATION}",
                        ann[INGRESS_CLASS_ANNOTATION],
                        "can not be set when the class field is also set",
                    )
                )
        return errs


@register("networking.k8s.io", "IngressClass")
class IngressClassStrategy(Strategy):
    tracks_generation: ClassVar[bool] = True

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs: list[FieldError] = []
        ctrl = spec.get("controller") or ""
        if not ctrl:
            errs.append(FieldError.required("spec.controller"))
        elif len(ctrl) > 250:
            errs.append(FieldError.too_long("spec.controller", ctrl, 250))
        elif "/" not in ctrl or vc.is_dns1123_subdomain(ctrl.split("/", 1)[0]):
            errs.append(
                FieldError.invalid(
                    "spec.controller",
                    ctrl,
                    'must be a domain-prefixed path (such as "acme.io/foo")',
                )
            )
        params = spec.get("parameters")
        if isinstance(params, dict):
            p = "spec.parameters"
            scope = params.get("scope")
            if scope is not None and scope not in ("Cluster", "Namespace"):
                errs.append(FieldError.not_supported(f"{p}.scope", scope, ["Cluster", "Namespace"]))
            if scope == "Namespace" and not params.get("namespace"):
                errs.append(
                    FieldError.required(
                        f"{p}.namespace", "`parameters.scope` is set to 'Namespace'"
                    )
                )
            if scope == "Cluster" and params.get("namespace"):
                errs.append(
                    FieldError.forbidden(f"{p}.namespace", "`parameters.scope` is set to 'Cluster'")
                )
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        nc, oc = dig(new, "spec", "controller"), dig(old, "spec", "controller")
        if nc != oc:
            errs.append(FieldError.invalid("spec.controller", nc, FIELD_IMMUTABLE))
        return errs


# -- NetworkPolicy -------------------------------------------------------------------------


@register("networking.k8s.io", "NetworkPolicy")
class NetworkPolicyStrategy(Strategy):
    tracks_generation: ClassVar[bool] = True

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        for direction in ("ingress", "egress"):
            for rule in as_list(spec.get(direction)):
                for port in as_list(as_dict(rule).get("ports")):
                    if isinstance(port, dict) and not port.get("protocol"):
                        port["protocol"] = "TCP"
        if not spec.get("policyTypes"):
            spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs = validate_label_selector(spec.get("podSelector"), "spec.podSelector")
        for direction, peers_key in (("ingress", "from"), ("egress", "to")):
            for i, rule in enumerate(as_list(spec.get(direction))):
                rule = as_dict(rule)
                p = f"spec.{direction}[{i}]"
                for j, port in enumerate(as_list(rule.get("ports"))):
                    errs += _validate_np_port(as_dict(port), f"{p}.ports[{j}]")
                for j, peer in enumerate(as_list(rule.get(peers_key))):
                    errs += _validate_peer(as_dict(peer), f"{p}.{peers_key}[{j}]")
        types = as_list(spec.get("policyTypes"))
        for i, t in enumerate(types):
            if t not in POLICY_TYPES:
                errs.append(FieldError.not_supported(f"spec.policyTypes[{i}]", t, POLICY_TYPES))
        if len(types) > 2:
            errs.append(
                FieldError.invalid(
                    "spec.policyTypes", types, "may not specify more than two policyTypes"
                )
            )
        return errs


def _validate_np_port(port: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    proto = port.get("protocol")
    if proto and proto not in PROTOCOLS:
        errs.append(FieldError.not_supported(f"{path}.protocol", proto, PROTOCOLS))
    num = port.get("port")
    end = port.get("endPort")
    if is_int(num):
        errs += [FieldError.invalid(f"{path}.port", num, m) for m in vc.is_valid_port_num(num)]
    elif isinstance(num, str) and num:
        errs += [FieldError.invalid(f"{path}.port", num, m) for m in vc.is_valid_port_name(num)]
    if end is not None:
        if num is None:
            errs.append(
                FieldError.required(f"{path}.port", "must be specified when endPort is specified")
            )
        elif isinstance(num, str):
            errs.append(
                FieldError.forbidden(
                    f"{path}.endPort", "may not be specified when port is non-numeric"
                )
            )
        elif is_int(end) and is_int(num) and end < num:
            errs.append(
                FieldError.invalid(f"{path}.endPort", end, "must be greater than or equal to port")
            )
    return errs


def _validate_peer(peer: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    selectors = [k for k in ("podSelector", "namespaceSelector") if peer.get(k) is not None]
    for k in selectors:
        errs += validate_label_selector(peer[k], f"{path}.{k}")
    block = peer.get("ipBlock")
    if block is None and not selectors:
        errs.append(FieldError.required(path, "must specify a peer"))
    if block is not None:
        if selectors:
            errs.append(FieldError.forbidden(path, "may not specify both ipBlock and another peer"))
        errs += _validate_ip_block(as_dict(block), f"{path}.ipBlock")
    return errs


_CIDR_ERR = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


def _validate_ip_block(block: Obj, path: str) -> list[FieldError]:
    cidr = block.get("cidr") or ""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return [FieldError.invalid(f"{path}.cidr", cidr, _CIDR_ERR)] if cidr else []
    errs: list[FieldError] = []
    for i, ex in enumerate(as_list(block.get("except"))):
        try:
            exnet = ipaddress.ip_network(str(ex), strict=False)
        except ValueError:
            errs.append(FieldError.invalid(f"{path}.except[{i}]", ex, _CIDR_ERR))
            continue
        if (
            exnet.version != net.version
            or not exnet.subnet_of(net)  # type: ignore[arg-type]
            or exnet.prefixlen <= net.prefixlen
        ):
            errs.append(
                FieldError.invalid(f"{path}.except[{i}]", ex, "must be a strict subset of `cidr`")
            )
    return errs
