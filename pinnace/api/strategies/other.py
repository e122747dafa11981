"""Strategies for the smaller groups: coordination.k8s.io Lease,
discovery.k8s.io EndpointSlice, storage.k8s.io StorageClass and
events.k8s.io Event (upstream ``pkg/apis/<group>/validation``)."""

from __future__ import annotations

import ipaddress
from typing import ClassVar

from pinnace.api import validation_common as vc
from pinnace.api.strategies._common import as_dict, as_list, dig, is_int, nonneg
from pinnace.api.strategy import FIELD_IMMUTABLE, FieldError, Obj, Strategy, register

# -- Lease -------------------------------------------------------------------------------


@register("coordination.k8s.io", "Lease")
class LeaseStrategy(Strategy):
    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs: list[FieldError] = []
        d = spec.get("leaseDurationSeconds")
        if is_int(d) and d <= 0:
            errs.append(
                FieldError.invalid("spec.leaseDurationSeconds", d, "must be greater than 0")
            )
        errs += nonneg(spec.get("leaseTransitions"), "spec.leaseTransitions")
        return errs


# -- EndpointSlice -------------------------------------------------------------------------

ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")
MAX_ADDRESSES = 100
MAX_PORTS = 20000
MAX_ENDPOINTS = 1000


def _address_errors(addr: str, address_type: str) -> list[str]:
    if address_type == "FQDN":
        return vc.is_dns1123_subdomain(addr)
    want = 4 if address_type == "IPv4" else 6
    try:
        ok = ipaddress.ip_address(addr).version == want
    except ValueError:
        ok = False
    return [] if ok else [f"must be a valid {address_type} address"]


@register("discovery.k8s.io", "EndpointSlice")
class EndpointSliceStrategy(Strategy):
    tracks_generation: ClassVar[bool] = True

    def validate(self, obj: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        atype = obj.get("addressType") or ""
        if atype and atype not in ADDRESS_TYPES:
            errs.append(FieldError.not_supported("addressType", atype, ADDRESS_TYPES))
        endpoints = as_list(obj.get("endpoints"))
        if len(endpoints) > MAX_ENDPOINTS:
            errs.append(
                FieldError(
                    "FieldValueTooMany",
                    "endpoints",
                    f"must have at most {MAX_ENDPOINTS} items",
                    len(endpoints),
                )
            )
        for i, ep in enumerate(endpoints):
            ep = as_dict(ep)
            p = f"endpoints[{i}]"
            addrs = as_list(ep.get("addresses"))
            if len(addrs) > MAX_ADDRESSES:
                errs.append(
                    FieldError(
                        "FieldValueTooMany",
                        f"{p}.addresses",
                        f"must have at most {MAX_ADDRESSES} items",
                        len(addrs),
                    )
                )
            for j, a in enumerate(addrs):
                if isinstance(a, str) and atype in ADDRESS_TYPES:
                    errs += [
                        FieldError.invalid(f"{p}.addresses[{j}]", a, m)
                        for m in _address_errors(a, atype)
                    ]
            hn = ep.get("hostname")
            if isinstance(hn, str) and hn:
                errs += [
                    FieldError.invalid(f"{p}.hostname", hn, m) for m in vc.is_dns1123_label(hn)
                ]
            node = ep.get("nodeName")
            if isinstance(node, str) and node:
                errs += [
                    FieldError.invalid(f"{p}.nodeName", node, m)
                    for m in vc.is_dns1123_subdomain(node)
                ]
        ports = as_list(obj.get("ports"))
        if len(ports) > MAX_PORTS:
            errs.append(
                FieldError(
                    "FieldValueTooMany", "ports", f"must have at most {MAX_PORTS} items", len(ports)
                )
            )
        names: set[str] = set()
        for i, port in enumerate(ports):
            port = as_dict(port)
            p = f"ports[{i}]"
            name = port.get("name") or ""
            if name:
                errs += [
                    FieldError.invalid(f"{p}.name", name, m) for m in vc.is_dns1123_label(name)
                ]
            if name in names:
                errs.append(FieldError.duplicate(f"{p}.name", name))
            names.add(name)
            proto = port.get("protocol")
            if proto and proto not in ("SCTP", "TCP", "UDP"):
                errs.append(
                    FieldError.not_supported(f"{p}.protocol", proto, ["SCTP", "TCP", "UDP"])
                )
            num = port.get("port")
            if is_int(num):
                errs += [FieldError.invalid(f"{p}.port", num, m) for m in vc.is_valid_port_num(num)]
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        if new.get("addressType") != old.get("addressType"):
            errs.append(FieldError.invalid("addressType", new.get("addressType"), FIELD_IMMUTABLE))
        return errs


# -- StorageClass --------------------------------------------------------------------------


@register("storage.k8s.io", "StorageClass")
class StorageClassStrategy(Strategy):
    def validate(self, obj: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        prov = obj.get("provisioner")
        if isinstance(prov, str) and prov:
            errs += [
                FieldError.invalid("provisioner", prov, m)
                for m in vc.is_qualified_name(prov.lower())
            ]
        policy = obj.get("reclaimPolicy")
        if policy is not None and policy not in ("Delete", "Retain"):
            errs.append(FieldError.not_supported("reclaimPolicy", policy, ["Delete", "Retain"]))
        mode = obj.get("volumeBindingMode")
        if mode is not None and mode not in ("Immediate", "WaitForFirstConsumer"):
            errs.append(
                FieldError.not_supported(
                    "volumeBindingMode", mode, ["Immediate", "WaitForFirstConsumer"]
                )
            )
        params = as_dict(obj.get("parameters"))
        if len(params) > 512:
            errs.append(
                FieldError(
                    "FieldValueTooMany", "parameters", "must have at most 512 items", len(params)
                )
            )
        for k in params:
            if not k:
                errs.append(FieldError.invalid("parameters", k, "field can not be empty."))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        if (new.get("parameters") or None) != (old.get("parameters") or None):
            errs.append(FieldError.forbidden("parameters", "updates to parameters are forbidden."))
        if new.get("provisioner") != old.get("provisioner"):
            errs.append(
                FieldError.forbidden("provisioner", "updates to provisioner are forbidden.")
            )
        if new.get("reclaimPolicy") != old.get("reclaimPolicy"):
            errs.append(
                FieldError.forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden.")
            )
        errs += vc.validate_immutable(
            new.get("volumeBindingMode"), old.get("volumeBindingMode"), "volumeBindingMode"
        )
        return errs


# -- events.k8s.io Event -------------------------------------------------------------------------

EVENT_TYPES = ("Normal", "Warning")
_LIMIT_128 = "can have at most 128 characters"


@register("events.k8s.io", "Event")
class EventsV1Strategy(Strategy):
    name_validator: ClassVar[str] = "path"
    allow_create_on_update: ClassVar[bool] = True

    def validate(self, obj: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        ns = obj["metadata"].get("namespace") or ""
        rns = dig(obj, "regarding", "namespace") or ""
        if (not rns and ns not in ("", "default")) or (rns and rns != ns):
            errs.append(
                FieldError.invalid("regarding.namespace", rns, "does not match event.namespace")
            )
        ctrl = obj.get("reportingController") or ""
        if not ctrl:
            errs.append(FieldError.required("reportingController"))
        else:
            errs += [
                FieldError.invalid("reportingController", ctrl, m)
                for m in vc.is_qualified_name(ctrl)
            ]
        for f in ("reportingInstance", "action", "reason"):
            v = obj.get(f) or ""
            if not v:
                errs.append(FieldError.required(f))
            elif len(v) > 128:
                errs.append(FieldError.invalid(f, "", _LIMIT_128))
        note = obj.get("note") or ""
        if len(note) > 1024:
            errs.append(FieldError.invalid("note", "", "can have at most 1024 characters"))
        etype = obj.get("type") or ""
        if etype not in EVENT_TYPES:
            errs.append(FieldError.invalid("type", "", f"has invalid value: {etype}"))
        series = obj.get("series")
        if isinstance(series, dict):
            count = series.get("count")
            if is_int(count) and count < 2:
                errs.append(FieldError.invalid("series.count", "", "should be at least 2"))
        return errs
