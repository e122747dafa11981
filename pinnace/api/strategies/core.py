"""Strategies for core/v1 kinds: defaulting and validation beyond the schema,
with upstream's semantics and messages (``pkg/apis/core/v1/defaults.go``,
``pkg/apis/core/validation``, ``pkg/registry/core/*/strategy.go``).
Pod spec helpers live in ``podspec``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from typing import Any, ClassVar

from pinnace.api import validation_common as vc
from pinnace.api.strategies import podspec
from pinnace.api.strategies._common import (
    INT32_MAX,
    as_dict,
    as_list,
    dig,
    is_int,
    nonneg,
    parse_quantity,
    quantity_str,
    validate_ip,
    validate_label_selector,
)
from pinnace.api.strategy import FIELD_IMMUTABLE, FieldError, Obj, Strategy, invalid, register

# -- Namespace ---------------------------------------------------------------------


@register("", "Namespace")
class NamespaceStrategy(Strategy):
    name_validator: ClassVar[str] = "label"
    return_deleted_object: ClassVar[bool] = True

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"phase": "Active"}
        spec = obj.setdefault("spec", {})
        fins = spec.get("finalizers") or []
        if "kubernetes" not in fins:
            fins = [*fins, "kubernetes"]
        spec["finalizers"] = fins
        # upstream labels every namespace with its name
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"][
            "name"
        ]

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        # spec.finalizers only change through the finalize subresource
        new["spec"] = old.get("spec", {})
        new["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = new["metadata"][
            "name"
        ]

    def validate(self, obj: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        for i, f in enumerate(as_list(dig(obj, "spec", "finalizers"))):
            if isinstance(f, str) and "/" not in f:
                continue  # standard finalizer names such as "kubernetes"
            if isinstance(f, str):
                errs += [
                    FieldError.invalid(f"spec.finalizers[{i}]", f, m)
                    for m in vc.is_qualified_name(f)
                ]
        return errs

    def prepare_for_delete(self, obj: Obj) -> bool:
        obj.setdefault("status", {})["phase"] = "Terminating"
        return True

    def lingers_on_delete(self, obj: Obj) -> bool:
        return bool(obj.get("spec", {}).get("finalizers"))


# -- Pod ------------------------------------------------------------------------------


POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
    "set to 1 if it was previously negative)"
)


@register("", "Pod")
class PodStrategy(Strategy):
    return_deleted_object: ClassVar[bool] = True
    # pods get metadata.generation only from 1.33 on; pinnace serves 1.32
    tracks_generation: ClassVar[bool] = False

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj.get("spec", {}))}

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict):
            podspec.default_pod_spec(spec)
            podspec.default_pod_requests(spec)

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs = podspec.validate_pod_spec(spec, "spec")
        # pods only (not templates): no whitespace around images
        for list_name in ("containers", "initContainers"):
            for i, c in enumerate(as_list(spec.get(list_name))):
                img = as_dict(c).get("image")
                if isinstance(img, str) and img and img != img.strip():
                    errs.append(
                        FieldError.invalid(
                            f"spec.{list_name}[{i}].image",
                            img,
                            "must not have leading or trailing whitespace",
                        )
                    )
        return errs

    def grace_period(self, obj: Obj, requested: int | None) -> int:
        spec = obj.get("spec", {})
        if not spec.get("nodeName"):
            return 0  # never scheduled: nothing to stop
        phase = obj.get("status", {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return max(requested, 0)
        g = spec.get("terminationGracePeriodSeconds")
        return 30 if g is None else int(g)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        return errs + validate_pod_spec_update(as_dict(new.get("spec")), as_dict(old.get("spec")))


def validate_pod_spec_update(ns: Obj, os_: Obj) -> list[FieldError]:
    """``ValidatePodUpdate``: only images, activeDeadlineSeconds, added
    tolerations, removed scheduling gates and a negative grace period raised
    to 1 may change."""
    errs: list[FieldError] = []
    for list_name in ("containers", "initContainers"):
        if len(as_list(ns.get(list_name))) != len(as_list(os_.get(list_name))):
            return [
                FieldError.forbidden(
                    f"spec.{list_name}", "pod updates may not add or remove containers"
                )
            ]
    new_ads, old_ads = ns.get("activeDeadlineSeconds"), os_.get("activeDeadlineSeconds")
    if new_ads is not None:
        if is_int(new_ads) and not 0 <= new_ads <= INT32_MAX:
            return [
                *errs,
                FieldError.invalid(
                    "spec.activeDeadlineSeconds", new_ads, vc.inclusive_range_error(0, INT32_MAX)
                ),
            ]
        if is_int(old_ads) and is_int(new_ads) and old_ads < new_ads:
            return [
                *errs,
                FieldError.invalid(
                    "spec.activeDeadlineSeconds",
                    new_ads,
                    "must be less than or equal to previous value",
                ),
            ]
    elif old_ads is not None:
        errs.append(
            FieldError.invalid(
                "spec.activeDeadlineSeconds",
                None,
                "must not update from a positive integer to nil value",
            )
        )
    errs += _validate_only_added_tolerations(
        as_list(ns.get("tolerations")), as_list(os_.get("tolerations"))
    )
    old_gates = {as_dict(g).get("name") for g in as_list(os_.get("schedulingGates"))}
    for g in as_list(ns.get("schedulingGates")):
        name = as_dict(g).get("name")
        if name not in old_gates:
            errs.append(
                FieldError.forbidden(
                    "spec.schedulingGates",
                    f"only deletion is allowed, but found new scheduling gate '{name}'",
                )
            )
    munged = copy.deepcopy(ns)
    for list_name in ("containers", "initContainers"):
        for c, oc in zip(as_list(munged.get(list_name)), as_list(os_.get(list_name)), strict=False):
            if isinstance(c, dict) and isinstance(oc, dict):
                if "image" in oc:
                    c["image"] = oc["image"]
                else:
                    c.pop("image", None)
    for fld in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        if fld in os_:
            munged[fld] = os_[fld]
        else:
            munged.pop(fld, None)
    old_grace, new_grace = (
        os_.get("terminationGracePeriodSeconds"),
        ns.get("terminationGracePeriodSeconds"),
    )
    if is_int(old_grace) and old_grace < 0 and new_grace == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    # server-maintained: the deprecated alias mirrors serviceAccountName
    if munged != os_:
        errs.append(FieldError.forbidden("spec", POD_UPDATE_FORBIDDEN))
    return errs


def _toleration_key(t: Any) -> tuple[Any, ...]:
    t = as_dict(t)
    return (
        t.get("key") or "",
        t.get("operator") or "Equal",
        t.get("value") or "",
        t.get("effect") or "",
    )


def _validate_only_added_tolerations(new: list[Any], old: list[Any]) -> list[FieldError]:
    new_keys = {_toleration_key(t) for t in new}
    for t in old:
        if _toleration_key(t) not in new_keys:
            return [
                FieldError.forbidden(
                    "spec.tolerations",
                    "existing toleration can not be modified except its tolerationSeconds",
                )
            ]
    return []


def qos_class(spec: Obj) -> str:
    """Upstream's QoS class: Guaranteed when every container has equal cpu and
    memory requests and limits, BestEffort when none has any, else Burstable."""
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req = res.get("requests") or {}
        lim = res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim:
                guaranteed = False
            elif r in req and str(req[r]) != str(lim[r]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


# -- PodTemplate, ReplicationController -----------------------------------------------------


@register("", "PodTemplate")
class PodTemplateStrategy(Strategy):
    tracks_generation: ClassVar[bool] = True

    def default(self, obj: Obj) -> None:
        podspec.default_template(obj.get("template"))

    def validate(self, obj: Obj) -> list[FieldError]:
        return podspec.validate_pod_template_spec(obj.get("template"), "template")


@register("", "ReplicationController")
class ReplicationControllerStrategy(Strategy):
    tracks_generation: ClassVar[bool] = True

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        labels = dig(spec, "template", "metadata", "labels")
        if isinstance(labels, dict) and labels:
            if not spec.get("selector"):
                spec["selector"] = dict(labels)
            if not obj["metadata"].get("labels"):
                obj["metadata"]["labels"] = dict(labels)
        podspec.default_template(spec.get("template"))

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs = nonneg(spec.get("replicas"), "spec.replicas")
        errs += nonneg(spec.get("minReadySeconds"), "spec.minReadySeconds")
        selector = as_dict(spec.get("selector"))
        if not selector:
            errs.append(FieldError.required("spec.selector"))
        errs += vc.validate_labels(selector, "spec.selector")
        template = spec.get("template")
        if not isinstance(template, dict):
            errs.append(FieldError.required("spec.template"))
            return errs
        labels = as_dict(dig(template, "metadata", "labels"))
        if selector and any(labels.get(k) != v for k, v in selector.items()):
            errs.append(
                FieldError.invalid(
                    "spec.template.metadata.labels",
                    labels,
                    "`selector` does not match template `labels`",
                )
            )
        errs += podspec.validate_pod_template_spec(template, "spec.template")
        errs += validate_always_restart(template, "spec.template", "ReplicationController")
        return errs


def validate_always_restart(template: Any, path: str, kind: str) -> list[FieldError]:
    """Controllers of long-running pods: restartPolicy Always, no deadline."""
    spec = as_dict(as_dict(template).get("spec"))
    errs: list[FieldError] = []
    rp = spec.get("restartPolicy")
    if rp and rp != "Always":
        errs.append(FieldError.not_supported(f"{path}.spec.restartPolicy", rp, ["Always"]))
    if spec.get("activeDeadlineSeconds") is not None:
        errs.append(
            FieldError.forbidden(
                f"{path}.spec.activeDeadlineSeconds",
                f"activeDeadlineSeconds in {kind} is not Supported",
            )
        )
    return errs


# -- Service -------------------------------------------------------------------------


SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
TRAFFIC_POLICIES = ("Cluster", "Local")


@register("", "Service")
class ServiceStrategy(Strategy):
    name_validator: ClassVar[str] = "dns1035"
    return_deleted_object: ClassVar[bool] = True

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        stype = spec.get("type") or "ClusterIP"
        for p in as_list(spec.get("ports")):
            if isinstance(p, dict) and p.get("targetPort") in (None, 0, ""):
                p["targetPort"] = p.get("port")
        if stype in ("NodePort", "LoadBalancer") and not spec.get("externalTrafficPolicy"):
            spec["externalTrafficPolicy"] = "Cluster"
        if stype != "ExternalName" and not spec.get("internalTrafficPolicy"):
            spec["internalTrafficPolicy"] = "Cluster"
        if spec.get("sessionAffinity") == "ClientIP":
            cfg = spec.setdefault("sessionAffinityConfig", {})
            if isinstance(cfg, dict):
                cip = cfg.setdefault("clientIP", {})
                if isinstance(cip, dict):
                    cip.setdefault("timeoutSeconds", 10800)
        if stype == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
            spec["allocateLoadBalancerNodePorts"] = True

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"loadBalancer": {}}  # upstream always serves this (a struct)
        spec = obj.get("spec")
        if isinstance(spec, dict):
            _normalize_cluster_ips(spec, None)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        spec, old_spec = new.get("spec"), as_dict(old.get("spec"))
        if not isinstance(spec, dict):
            return
        _keep_allocated(spec, old_spec)
        _normalize_cluster_ips(spec, old_spec)
        _drop_type_dependent_fields(new, spec, old_spec)

    def validate(self, obj: Obj) -> list[FieldError]:
        return validate_service_spec(as_dict(obj.get("spec")))

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        new_spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
        if (
            old_spec.get("type") == "LoadBalancer"
            and new_spec.get("type") == "LoadBalancer"
            and old_spec.get("loadBalancerClass") != new_spec.get("loadBalancerClass")
        ):
            errs.append(invalid("spec.loadBalancerClass", new_spec.get("loadBalancerClass"),
                                "may not change once set"))  # fmt: skip
        oc = old.get("spec", {}).get("clusterIP")
        nc = new.get("spec", {}).get("clusterIP")
        if (
            oc
            and nc != oc
            and old.get("spec", {}).get("type") != "ExternalName"
            and new.get("spec", {}).get("type") != "ExternalName"
        ):
            errs.append(invalid("spec.clusterIPs[0]", nc or "", FIELD_IMMUTABLE))
        return errs


def _needs_cluster_ip(spec: Obj) -> bool:
    return (spec.get("type") or "ClusterIP") != "ExternalName"


def _keep_allocated(new: Obj, old: Obj) -> None:
    """Upstream's ``patchAllocatedValues``: an update that leaves out what the
    server allocated (cluster IPs, node ports) keeps the old values."""
    if _needs_cluster_ip(old) and _needs_cluster_ip(new):
        if not new.get("clusterIP") and old.get("clusterIP"):
            new["clusterIP"] = old["clusterIP"]
            if old.get("clusterIPs") and not new.get("clusterIPs"):
                new["clusterIPs"] = old["clusterIPs"]
        for f in ("ipFamilies", "ipFamilyPolicy"):
            if not new.get(f) and old.get(f):
                new[f] = old[f]
    node_port_types = ("NodePort", "LoadBalancer")
    if new.get("type") in node_port_types and old.get("type") in node_port_types:
        old_ports = {
            (p.get("port"), p.get("protocol") or "TCP"): p.get("nodePort")
            for p in as_list(old.get("ports"))
            if isinstance(p, dict) and p.get("nodePort")
        }
        for p in as_list(new.get("ports")):
            if isinstance(p, dict) and not p.get("nodePort"):
                np = old_ports.get((p.get("port"), p.get("protocol") or "TCP"))
                if np:
                    p["nodePort"] = np
        if not new.get("healthCheckNodePort") and old.get("healthCheckNodePort"):
            if new.get("externalTrafficPolicy") == "Local":
                new["healthCheckNodePort"] = old["healthCheckNodePort"]


def _normalize_cluster_ips(spec: Obj, old: Obj | None) -> None:
    """Upstream's ``NormalizeClusterIPs``: keep ``clusterIP`` and ``clusterIPs``
    in step for clients that set only the singular field."""
    cip, cips = spec.get("clusterIP") or "", as_list(spec.get("clusterIPs"))
    if old is None:
        if cip and not cips:
            spec["clusterIPs"] = [cip]
        return
    old_cip, old_cips = old.get("clusterIP") or "", as_list(old.get("clusterIPs"))
    if old_cips and not cips and old_cip == cip:
        spec["clusterIPs"] = cips = list(old_cips)
    if old_cip != cip:
        if old_cip and not cip:
            if cips == old_cips:
                spec.pop("clusterIPs", None)
        elif cips == old_cips:
            spec["clusterIPs"] = [cip]


def _needs_node_ports(spec: Obj) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


def _needs_health_check_port(spec: Obj) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def _drop_type_dependent_fields(new: Obj, spec: Obj, old: Obj) -> None:
    """Upstream's ``dropTypeDependentFields``: a type change clears what the
    old type had (and the server may have allocated) unless the client also
    changed it (then validation says what is wrong). Released values are
    given back by the Service store."""
    if _needs_cluster_ip(old) and not _needs_cluster_ip(spec):
        if spec.get("clusterIPs") == old.get("clusterIPs") and spec.get("clusterIP") == old.get(
            "clusterIP"
        ):
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        for f in ("ipFamilies", "ipFamilyPolicy"):
            if spec.get(f) == old.get(f):
                spec.pop(f, None)
    if _needs_node_ports(old) and not _needs_node_ports(spec):
        new_ports = [p.get("nodePort") for p in as_list(spec.get("ports")) if isinstance(p, dict)]
        old_ports = [p.get("nodePort") for p in as_list(old.get("ports")) if isinstance(p, dict)]
        if sorted(x for x in new_ports if x) == sorted(x for x in old_ports if x):
            for p in as_list(spec.get("ports")):
                if isinstance(p, dict):
                    p.pop("nodePort", None)
    if _needs_health_check_port(old) and not _needs_health_check_port(spec):
        if spec.get("healthCheckNodePort") == old.get("healthCheckNodePort"):
            spec.pop("healthCheckNodePort", None)
    if old.get("type") == "LoadBalancer" and spec.get("type") != "LoadBalancer":
        for f in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if f in spec and spec.get(f) == old.get(f):
                spec.pop(f, None)
        status = new.get("status")
        if isinstance(status, dict) and status.get("loadBalancer"):
            status["loadBalancer"] = {}
    if _externally_accessible(old) and not _externally_accessible(spec):
        if spec.get("externalTrafficPolicy") == old.get("externalTrafficPolicy"):
            spec.pop("externalTrafficPolicy", None)


def _externally_accessible(spec: Obj) -> bool:
    t = spec.get("type") or "ClusterIP"
    return t in ("NodePort", "LoadBalancer") or (t == "ClusterIP" and bool(spec.get("externalIPs")))


IP_FAMILIES = ("IPv4", "IPv6")
IP_FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")
EXTERNAL_NAME_FORBIDDEN = "may not be set for ExternalName services"


def _validate_cluster_ip_fields(spec: Obj, stype: str) -> list[FieldError]:
    """Upstream's ``ValidateServiceClusterIPsRelatedFields`` (and the
    ExternalName rules before it)."""
    errs: list[FieldError] = []
    cip = spec.get("clusterIP") or ""
    ips = as_list(spec.get("clusterIPs"))
    if stype == "ExternalName":
        if cip or ips:
            errs.append(FieldError.forbidden("spec.clusterIPs", EXTERNAL_NAME_FORBIDDEN))
        if spec.get("ipFamilies"):
            errs.append(FieldError.forbidden("spec.ipFamilies", EXTERNAL_NAME_FORBIDDEN))
        if spec.get("ipFamilyPolicy"):
            errs.append(FieldError.forbidden("spec.ipFamilyPolicy", EXTERNAL_NAME_FORBIDDEN))
        return errs
    if cip:
        if not ips:
            errs.append(FieldError.required("spec.clusterIPs"))
        elif ips[0] != cip:
            errs.append(
                FieldError.invalid("spec.clusterIPs", ips, "first value must match `clusterIP`")
            )
    elif ips:
        errs.append(
            FieldError.invalid(
                "spec.clusterIPs", ips, "must be empty when `clusterIP` is not specified"
            )
        )
    seen: set[str] = set()
    for i, fam in enumerate(as_list(spec.get("ipFamilies"))):
        if fam not in IP_FAMILIES:
            errs.append(FieldError.not_supported(f"spec.ipFamilies[{i}]", fam, IP_FAMILIES))
        if fam in seen:
            errs.append(FieldError.duplicate(f"spec.ipFamilies[{i}]", fam))
        seen.add(fam)
    policy = spec.get("ipFamilyPolicy")
    if policy and policy not in IP_FAMILY_POLICIES:
        errs.append(FieldError.not_supported("spec.ipFamilyPolicy", policy, IP_FAMILY_POLICIES))
    if ips and ips[0] == "None" and len(ips) > 1:
        errs.append(
            FieldError.invalid("spec.clusterIPs", ips, "'None' must be the first and only value")
        )
    if len(ips) > 2:
        errs.append(FieldError.invalid("spec.clusterIPs", ips, "may only hold up to 2 values"))
    if cip == "None" and stype in ("NodePort", "LoadBalancer"):
        errs.append(
            FieldError.invalid(
                "spec.clusterIPs[0]", "None", f"may not be set to 'None' for {stype} services"
            )
        )
    return errs


def validate_service_spec(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    stype = spec.get("type") or ""
    errs += _validate_cluster_ip_fields(spec, stype)
    hc = spec.get("healthCheckNodePort")
    if is_int(hc) and hc != 0:
        if not _needs_health_check_port(spec):
            errs.append(
                FieldError.invalid(
                    "spec.healthCheckNodePort",
                    hc,
                    "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
                )
            )
        else:
            errs += [
                FieldError.invalid("spec.healthCheckNodePort", hc, m)
                for m in vc.is_valid_port_num(hc)
            ]
    if stype != "LoadBalancer":
        if spec.get("allocateLoadBalancerNodePorts") is not None:
            errs.append(
                FieldError.forbidden(
                    "spec.allocateLoadBalancerNodePorts",
                    "may only be used when `type` is 'LoadBalancer'",
                )
            )
        if spec.get("loadBalancerClass") is not None:
            errs.append(
                FieldError.forbidden(
                    "spec.loadBalancerClass", "may only be used when `type` is 'LoadBalancer'"
                )
            )
    if not stype:
        errs.append(FieldError.required("spec.type"))
    elif stype not in SERVICE_TYPES:
        errs.append(FieldError.not_supported("spec.type", stype, SERVICE_TYPES))
    ports = as_list(spec.get("ports"))
    headless = spec.get("clusterIP") == "None"
    if not ports and not headless and stype != "ExternalName":
        errs.append(FieldError.required("spec.ports"))
    if stype == "ExternalName":
        cname = str(spec.get("externalName") or "").removesuffix(".")
        if not cname:
            errs.append(FieldError.required("spec.externalName"))
        else:
            errs += [
                FieldError.invalid("spec.externalName", cname, m)
                for m in vc.is_dns1123_subdomain(cname)
            ]
    require_name = len(ports) > 1
    names: set[str] = set()
    keys: set[tuple[Any, Any]] = set()
    node_ports: set[tuple[Any, Any]] = set()
    for i, p in enumerate(ports):
        p = as_dict(p)
        pp = f"spec.ports[{i}]"
        name = p.get("name") or ""
        if require_name and not name:
            errs.append(FieldError.required(f"{pp}.name"))
        elif name:
            errs += [FieldError.invalid(f"{pp}.name", name, m) for m in vc.is_dns1123_label(name)]
            if name in names:
                errs.append(FieldError.duplicate(f"{pp}.name", name))
            names.add(name)
        port = p.get("port")
        if is_int(port):
            errs += [FieldError.invalid(f"{pp}.port", port, m) for m in vc.is_valid_port_num(port)]
        proto = p.get("protocol") or ""
        if not proto:
            errs.append(FieldError.required(f"{pp}.protocol"))
        elif proto not in podspec.PROTOCOLS:
            errs.append(FieldError.not_supported(f"{pp}.protocol", proto, podspec.PROTOCOLS))
        tp = p.get("targetPort")
        if is_int(tp):
            errs += [
                FieldError.invalid(f"{pp}.targetPort", tp, m) for m in vc.is_valid_port_num(tp)
            ]
        elif isinstance(tp, str) and tp:
            errs += [
                FieldError.invalid(f"{pp}.targetPort", tp, m) for m in vc.is_valid_port_name(tp)
            ]
        np = p.get("nodePort")
        if is_int(np) and np != 0:
            if stype in ("ClusterIP", "ExternalName"):
                errs.append(
                    FieldError.forbidden(
                        f"{pp}.nodePort", f"may not be used when `type` is '{stype}'"
                    )
                )
            else:
                errs += [
                    FieldError.invalid(f"{pp}.nodePort", np, m) for m in vc.is_valid_port_num(np)
                ]
                if (np, proto) in node_ports:
                    errs.append(FieldError.duplicate(f"{pp}.nodePort", np))
                node_ports.add((np, proto))
        key = (port, proto)
        if key in keys:
            errs.append(FieldError.duplicate(pp, {"port": port, "protocol": proto}))
        keys.add(key)
    errs += vc.validate_labels(as_dict(spec.get("selector")), "spec.selector")
    affinity = spec.get("sessionAffinity") or ""
    if not affinity:
        errs.append(FieldError.required("spec.sessionAffinity"))
    elif affinity not in ("ClientIP", "None"):
        errs.append(
            FieldError.not_supported("spec.sessionAffinity", affinity, ["ClientIP", "None"])
        )
    if affinity == "ClientIP":
        t = dig(spec, "sessionAffinityConfig", "clientIP", "timeoutSeconds")
        if is_int(t) and not 0 < t <= 86400:
            errs.append(
                FieldError.invalid(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    t,
                    "must be greater than 0 and less than 86400",
                )
            )
    elif spec.get("sessionAffinityConfig") is not None and affinity == "None":
        errs.append(
            FieldError.invalid(
                "spec.sessionAffinityConfig",
                spec["sessionAffinityConfig"],
                "must not be set when session affinity is None",
            )
        )
    etp = spec.get("externalTrafficPolicy") or ""
    if stype in ("NodePort", "LoadBalancer"):
        if not etp:
            errs.append(FieldError.required("spec.externalTrafficPolicy"))
        elif etp not in TRAFFIC_POLICIES:
            errs.append(
                FieldError.not_supported("spec.externalTrafficPolicy", etp, TRAFFIC_POLICIES)
            )
    elif etp:
        errs.append(
            FieldError.invalid(
                "spec.externalTrafficPolicy",
                etp,
                "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
            )
        )
    itp = spec.get("internalTrafficPolicy") or ""
    if stype != "ExternalName":
        if not itp:
            errs.append(FieldError.required("spec.internalTrafficPolicy"))
        elif itp not in TRAFFIC_POLICIES:
            errs.append(
                FieldError.not_supported("spec.internalTrafficPolicy", itp, TRAFFIC_POLICIES)
            )
    ips = as_list(spec.get("clusterIPs")) or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    for i, ip in enumerate(ips):
        if ip != "None":
            errs += validate_ip(ip, f"spec.clusterIPs[{i}]")
    for i, ip in enumerate(as_list(spec.get("externalIPs"))):
        errs += validate_ip(ip, f"spec.externalIPs[{i}]")
    return errs


# -- Node --------------------------------------------------------------------------------


@register("", "Node")
class NodeStrategy(Strategy):
    def prepare_for_create(self, obj: Obj) -> None:
        # a kubelet registers its node with its status: keep it, as upstream does
        status = obj.get("status")
        super().prepare_for_create(obj)
        if status is not None:
            obj["status"] = status

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        return validate_taints(as_list(spec.get("taints")), "spec.taints")

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        ns, os_ = as_dict(new.get("spec")), as_dict(old.get("spec"))
        if os_.get("podCIDR") and ns.get("podCIDR") != os_.get("podCIDR"):
            errs.append(
                FieldError.forbidden(
                    "spec.podCIDR", 'node updates may not change podCIDR except from "" to valid'
                )
            )
        if os_.get("podCIDRs") and ns.get("podCIDRs") != os_.get("podCIDRs"):
            errs.append(
                FieldError.forbidden(
                    "spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid'
                )
            )
        if os_.get("providerID") and ns.get("providerID") != os_.get("providerID"):
            errs.append(
                FieldError.forbidden(
                    "spec.providerID",
                    'node updates may not change providerID except from "" to valid',
                )
            )
        return errs


def validate_taints(taints: list[Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(taints):
        t = as_dict(t)
        p = f"{path}[{i}]"
        key = t.get("key") or ""  # key and effect are required by the schema
        if key:
            errs += [FieldError.invalid(f"{p}.key", key, m) for m in vc.is_qualified_name(key)]
        value = t.get("value") or ""
        errs += [FieldError.invalid(f"{p}.value", value, m) for m in vc.is_valid_label_value(value)]
        effect = t.get("effect") or ""
        if effect and effect not in podspec.TAINT_EFFECTS:
            errs.append(FieldError.not_supported(f"{p}.effect", effect, podspec.TAINT_EFFECTS))
        if (key, effect) in seen:
            errs.append(FieldError.duplicate(p, {"key": key, "value": value, "effect": effect}))
        seen.add((key, effect))
    return errs


# -- Event, Endpoints -----------------------------------------------------------------------


@register("", "Event")
class EventStrategy(Strategy):
    name_validator: ClassVar[str] = "path"
    allow_create_on_update: ClassVar[bool] = True

    def validate(self, obj: Obj) -> list[FieldError]:
        ns = obj["metadata"].get("namespace") or ""
        ins = dig(obj, "involvedObject", "namespace") or ""
        if (not ins and ns not in ("", "default")) or (ins and ins != ns):
            return [
                FieldError.invalid(
                    "involvedObject.namespace", ins, "does not match event.namespace"
                )
            ]
        return []


@register("", "Endpoints")
class EndpointsStrategy(Strategy):
    allow_create_on_update: ClassVar[bool] = True

    def validate(self, obj: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        for i, subset in enumerate(as_list(obj.get("subsets"))):
            subset = as_dict(subset)
            p = f"subsets[{i}]"
            addrs = as_list(subset.get("addresses"))
            not_ready = as_list(subset.get("notReadyAddresses"))
            if not addrs and not not_ready:
                errs.append(
                    FieldError.required(p, "must specify `addresses` or `notReadyAddresses`")
                )
            for fld, items in (("addresses", addrs), ("notReadyAddresses", not_ready)):
                for j, a in enumerate(items):
                    a = as_dict(a)
                    errs += validate_ip(a.get("ip"), f"{p}.{fld}[{j}].ip")
                    hn = a.get("hostname")
                    if isinstance(hn, str) and hn:
                        errs += [
                            FieldError.invalid(f"{p}.{fld}[{j}].hostname", hn, m)
                            for m in vc.is_dns1123_label(hn)
                        ]
            ports = as_list(subset.get("ports"))
            for j, port in enumerate(ports):
                port = as_dict(port)
                pp = f"{p}.ports[{j}]"
                name = port.get("name") or ""
                if len(ports) > 1 and not name:
                    errs.append(FieldError.required(f"{pp}.name"))
                elif name:
                    errs += [
                        FieldError.invalid(f"{pp}.name", name, m) for m in vc.is_dns1123_label(name)
                    ]
                num = port.get("port")
                if is_int(num):
                    errs += [
                        FieldError.invalid(f"{pp}.port", num, m) for m in vc.is_valid_port_num(num)
                    ]
                proto = port.get("protocol") or ""
                if not proto:
                    errs.append(FieldError.required(f"{pp}.protocol"))
                elif proto not in podspec.PROTOCOLS:
                    errs.append(
                        FieldError.not_supported(f"{pp}.protocol", proto, podspec.PROTOCOLS)
                    )
        return errs


# -- ConfigMap, Secret ------------------------------------------------------------------------

MAX_SECRET_SIZE = 1024 * 1024  # core.MaxSecretSize, also the ConfigMap limit
IMMUTABLE_WHEN_SET = "field is immutable when `immutable` is set"


def _validate_keys(data: Any, path: str, other: Any, other_name: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for k in as_dict(data):
        errs += [FieldError.invalid(f"{path}[{k}]", k, m) for m in vc.is_config_map_key(k)]
        if isinstance(other, dict) and k in other:
            errs.append(
                FieldError.invalid(f"{path}[{k}]", k, f"duplicate of key present in {other_name}")
            )
    return errs


def _b64len(v: Any) -> int:
    if not isinstance(v, str):
        return 0
    try:
        return len(base64.b64decode(v, validate=True))
    except (binascii.Error, ValueError):
        return len(v)


def _immutable_errors(new: Obj, old: Obj, fields: tuple[str, ...]) -> list[FieldError]:
    if not old.get("immutable"):
        return []
    errs: list[FieldError] = []
    if not new.get("immutable"):
        errs.append(FieldError.forbidden("immutable", IMMUTABLE_WHEN_SET))
    for f in fields:
        if (new.get(f) or None) != (old.get(f) or None):
            errs.append(FieldError.forbidden(f, IMMUTABLE_WHEN_SET))
    return errs


@register("", "ConfigMap")
class ConfigMapStrategy(Strategy):
    def validate(self, obj: Obj) -> list[FieldError]:
        data, binary = obj.get("data"), obj.get("binaryData")
        errs = _validate_keys(data, "data", binary, "binaryData")
        errs += _validate_keys(binary, "binaryData", data, "data")
        size = sum(len(v.encode()) for v in as_dict(data).values() if isinstance(v, str))
        size += sum(_b64len(v) for v in as_dict(binary).values())
        if size > MAX_SECRET_SIZE:
            errs.append(FieldError.too_long("", "", MAX_SECRET_SIZE))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return self.validate(new) + _immutable_errors(new, old, ("data", "binaryData"))


@register("", "Secret")
class SecretStrategy(Strategy):
    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        _fold_string_data(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        _fold_string_data(new)

    def default(self, obj: Obj) -> None:
        if not obj.get("type"):
            obj["type"] = "Opaque"

    def validate(self, obj: Obj) -> list[FieldError]:
        data = as_dict(obj.get("data"))
        errs = _validate_keys(data, "data", None, "")
        size = sum(_b64len(v) for v in data.values())
        if size > MAX_SECRET_SIZE:
            errs.append(FieldError.too_long("data", "", MAX_SECRET_SIZE))
        stype = obj.get("type") or ""
        if stype == "kubernetes.io/service-account-token":
            ann = as_dict(obj["metadata"].get("annotations"))
            if not ann.get("kubernetes.io/service-account.name"):
                errs.append(
                    FieldError.required("metadata.annotations[kubernetes.io/service-account.name]")
                )
        elif stype in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
            key = ".dockercfg" if stype == "kubernetes.io/dockercfg" else ".dockerconfigjson"
            if key not in data:
                errs.append(FieldError.required(f"data[{key}]"))
            else:
                try:
                    json.loads(base64.b64decode(str(data[key])))
                except (ValueError, binascii.Error) as e:
                    errs.append(
                        FieldError.invalid(f"data[{key}]", "<secret contents redacted>", str(e))
                    )
        elif stype == "kubernetes.io/basic-auth":
            if "username" not in data and "password" not in data:
                errs.append(FieldError.required("data[username]"))
                errs.append(FieldError.required("data[password]"))
        elif stype == "kubernetes.io/ssh-auth":
            if "ssh-privatekey" not in data:
                errs.append(FieldError.required("data[ssh-privatekey]"))
        elif stype == "kubernetes.io/tls":
            if "tls.key" not in data:
                errs.append(FieldError.required("data[tls.key]"))
            if "tls.crt" not in data:
                errs.append(FieldError.required("data[tls.crt]"))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        if new.get("type") != old.get("type"):
            errs.append(invalid("type", new.get("type"), FIELD_IMMUTABLE))
        return errs + _immutable_errors(new, old, ("data",))


def _fold_string_data(obj: Obj) -> None:
    """v1 ``stringData`` is write-only: its entries overwrite ``data`` (base64)."""
    sd = obj.pop("stringData", None)
    if isinstance(sd, dict) and sd:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = obj["data"] = {}
        for k, v in sd.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


# -- PersistentVolume, PersistentVolumeClaim -----------------------------------------------------

ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
PV_SOURCES = (
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "hostPath",
    "glusterfs",
    "nfs",
    "rbd",
    "iscsi",
    "cinder",
    "cephfs",
    "fc",
    "flocker",
    "flexVolume",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "local",
    "storageos",
    "csi",
)


def _validate_access_modes(modes: list[Any], path: str, required_detail: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not modes:
        errs.append(FieldError.required(path, required_detail))
    for m in modes:
        if m not in ACCESS_MODES:
            errs.append(FieldError.not_supported(path, m, ACCESS_MODES))
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        errs.append(
            FieldError.forbidden(path, "may not use ReadWriteOncePod with other access modes")
        )
    return errs


@register("", "PersistentVolume")
class PersistentVolumeStrategy(Strategy):
    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs = _validate_access_modes(as_list(spec.get("accessModes")), "spec.accessModes", "")
        cap = as_dict(spec.get("capacity"))
        if not cap:
            errs.append(FieldError.required("spec.capacity"))
        if "storage" not in cap or len(cap) > 1:
            errs.append(FieldError.not_supported("spec.capacity", cap, ["storage"]))
        for k, q in cap.items():
            v = parse_quantity(q)
            if v is not None and v < 0:
                errs.append(
                    FieldError.invalid(
                        f"spec.capacity[{k}]", quantity_str(q), "must be greater than or equal to 0"
                    )
                )
        sources = [s for s in PV_SOURCES if spec.get(s) is not None]
        if not sources:
            errs.append(FieldError.required("spec", "must specify a volume type"))
        for extra in sources[1:]:
            errs.append(
                FieldError.forbidden(f"spec.{extra}", "may not specify more than 1 volume type")
            )
        policy = spec.get("persistentVolumeReclaimPolicy")
        if policy and policy not in ("Delete", "Recycle", "Retain"):
            errs.append(
                FieldError.not_supported(
                    "spec.persistentVolumeReclaimPolicy", policy, ["Delete", "Recycle", "Retain"]
                )
            )
        sc = spec.get("storageClassName")
        if isinstance(sc, str) and sc:
            errs += [
                FieldError.invalid("spec.storageClassName", sc, m)
                for m in vc.is_dns1123_subdomain(sc)
            ]
        mode = spec.get("volumeMode")
        if mode and mode not in ("Block", "Filesystem"):
            errs.append(FieldError.not_supported("spec.volumeMode", mode, ["Block", "Filesystem"]))
        hp = spec.get("hostPath")
        if isinstance(hp, dict) and not hp.get("path"):
            errs.append(FieldError.required("spec.hostPath.path"))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        ns, os_ = as_dict(new.get("spec")), as_dict(old.get("spec"))
        if any(ns.get(s) != os_.get(s) for s in PV_SOURCES):
            errs.append(
                FieldError.forbidden(
                    "spec.persistentvolumesource",
                    "spec.persistentvolumesource is immutable after creation",
                )
            )
        errs += vc.validate_immutable(ns.get("volumeMode"), os_.get("volumeMode"), "volumeMode")
        if os_.get("nodeAffinity") is not None:
            errs += vc.validate_immutable(
                ns.get("nodeAffinity"), os_.get("nodeAffinity"), "nodeAffinity"
            )
        return errs


PVC_SPEC_IMMUTABLE = (
    "spec is immutable after creation except resources.requests and "
    "volumeAttributesClassName for bound claims"
)


@register("", "PersistentVolumeClaim")
class PersistentVolumeClaimStrategy(Strategy):
    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs = _validate_access_modes(
            as_list(spec.get("accessModes")),
            "spec.accessModes",
            "at least 1 access mode is required",
        )
        requests = as_dict(dig(spec, "resources", "requests"))
        if "storage" not in requests:
            errs.append(FieldError.required("spec.resources[storage]"))
        else:
            v = parse_quantity(requests["storage"])
            if v is not None and v <= 0:
                errs.append(
                    FieldError.invalid(
                        "spec.resources[storage]",
                        quantity_str(requests["storage"]),
                        "must be greater than zero",
                    )
                )
        sc = spec.get("storageClassName")
        if isinstance(sc, str) and sc:
            errs += [
                FieldError.invalid("spec.storageClassName", sc, m)
                for m in vc.is_dns1123_subdomain(sc)
            ]
        mode = spec.get("volumeMode")
        if mode and mode not in ("Block", "Filesystem"):
            errs.append(FieldError.not_supported("spec.volumeMode", mode, ["Block", "Filesystem"]))
        errs += validate_label_selector(spec.get("selector"), "spec.selector")
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(new)
        ns, os_ = copy.deepcopy(as_dict(new.get("spec"))), copy.deepcopy(as_dict(old.get("spec")))
        if not os_.get("volumeName"):
            os_["volumeName"] = ns.get("volumeName")  # binding sets it once
            if os_["volumeName"] is None:
                os_.pop("volumeName")
        if os_.get("storageClassName") is None and ns.get("storageClassName") is not None:
            os_["storageClassName"] = ns["storageClassName"]  # set once from nil
        bound = dig(old, "status", "phase") == "Bound"
        if bound:
            new_req = dig(ns, "resources", "requests", "storage")
            old_req = dig(os_, "resources", "requests", "storage")
            nq, oq = parse_quantity(new_req), parse_quantity(old_req)
            if nq is not None and oq is not None and nq < oq:
                errs.append(
                    FieldError.forbidden(
                        "spec.resources.requests.storage",
                        "field can not be less than previous value",
                    )
                )
            for spec in (ns, os_):
                res = spec.get("resources")
                if isinstance(res, dict):
                    res.pop("requests", None)
                spec.pop("volumeAttributesClassName", None)
        if ns != os_:
            errs.append(FieldError.forbidden("spec", PVC_SPEC_IMMUTABLE))
        return errs


# -- LimitRange, ResourceQuota, ServiceAccount ------------------------------------------------

LIMIT_TYPES = ("Container", "PersistentVolumeClaim", "Pod")


@register("", "LimitRange")
class LimitRangeStrategy(Strategy):
    def validate(self, obj: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        for i, item in enumerate(as_list(dig(obj, "spec", "limits"))):
            item = as_dict(item)
            p = f"spec.limits[{i}]"
            ltype = item.get("type") or ""
            if ltype and ltype not in LIMIT_TYPES and "/" not in ltype:
                errs.append(
                    FieldError.invalid(
                        f"{p}.type", ltype, "must be a standard limit type or fully qualified"
                    )
                )
            if ltype == "Pod":
                for f in ("default", "defaultRequest"):
                    if item.get(f):
                        errs.append(
                            FieldError.forbidden(
                                f"{p}.{f}", "may not be specified when `type` is 'Pod'"
                            )
                        )
            groups = {
                f: as_dict(item.get(f))
                for f in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio")
            }
            keys: set[str] = set()
            for g in groups.values():
                keys |= set(g)
            for k in sorted(keys):
                vals = {
                    f: (g.get(k), parse_quantity(g.get(k))) for f, g in groups.items() if k in g
                }
                errs += _limit_checks(p, k, vals)
        return errs


def _limit_checks(p: str, k: str, vals: dict[str, tuple[Any, Any]]) -> list[FieldError]:
    errs: list[FieldError] = []

    def q(f: str) -> Any:
        return vals[f][1] if f in vals else None

    def s(f: str) -> str:
        return quantity_str(vals[f][0])

    checks = (
        ("min", "max", "min", "min value {a} is greater than max value {b}"),
        (
            "min",
            "defaultRequest",
            "defaultRequest",
            "min value {a} is greater than default request value {b}",
        ),
        (
            "defaultRequest",
            "max",
            "defaultRequest",
            "default request value {a} is greater than max value {b}",
        ),
        (
            "defaultRequest",
            "default",
            "defaultRequest",
            "default request value {a} is greater than default limit value {b}",
        ),
        ("min", "default", "default", "min value {a} is greater than default value {b}"),
        ("default", "max", "default", "default value {a} is greater than max value {b}"),
    )
    for a, b, at, fmt in checks:
        qa, qb = q(a), q(b)
        if qa is not None and qb is not None and qa > qb:
            bad = vals[at][0]
            errs.append(
                FieldError.invalid(f"{p}.{at}[{k}]", quantity_str(bad), fmt.format(a=s(a), b=s(b)))
            )
    ratio = q("maxLimitRequestRatio")
    if ratio is not None and ratio < 1:
        errs.append(
            FieldError.invalid(
                f"{p}.maxLimitRequestRatio[{k}]",
                s("maxLimitRequestRatio"),
                f"ratio {s('maxLimitRequestRatio')} is less than 1",
            )
        )
    return errs


QUOTA_SCOPES = (
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "CrossNamespacePodAffinity",
    "VolumeAttributesClass",
)


@register("", "ResourceQuota")
class ResourceQuotaStrategy(Strategy):
    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs: list[FieldError] = []
        for k, v in as_dict(spec.get("hard")).items():
            errs += [FieldError.invalid(f"spec.hard[{k}]", k, m) for m in vc.is_qualified_name(k)]
            q = parse_quantity(v)
            if q is not None and q < 0:
                errs.append(
                    FieldError.invalid(
                        f"spec.hard[{k}]", quantity_str(v), "must be greater than or equal to 0"
                    )
                )
        for i, scope in enumerate(as_list(spec.get("scopes"))):
            if scope not in QUOTA_SCOPES:
                errs.append(FieldError.not_supported(f"spec.scopes[{i}]", scope, QUOTA_SCOPES))
        return errs


@register("", "ServiceAccount")
class ServiceAccountStrategy(Strategy):
    def validate(self, obj: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        for fld in ("secrets", "imagePullSecrets"):
            for i, ref in enumerate(as_list(obj.get(fld))):
                name = as_dict(ref).get("name")
                if isinstance(name, str) and name:
                    errs += [
                        FieldError.invalid(f"{fld}[{i}].name", name, m)
                        for m in vc.is_dns1123_subdomain(name)
                    ]
        return errs


__all__ = ["POD_UPDATE_FORBIDDEN", "qos_class", "validate_always_restart"]
