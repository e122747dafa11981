"""Defaulting and validation of pod specs, shared by Pods and every kind with
a pod template (Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs,
CronJobs, ReplicationControllers, PodTemplates).

Upstream: ``pkg/apis/core/v1/defaults.go`` (``SetDefaults_Container``,
``SetDefaults_Volume``, ``SetDefaults_Pod``...) and ``ValidatePodSpec`` /
``ValidatePodTemplateSpec`` in ``pkg/apis/core/validation``. The simple,
unconditional defaults (``restartPolicy``, ``dnsPolicy``,
``terminationMessagePath``...) are declared in the schema and applied before
these run; what is here depends on other fields.

Pure functions over JSON dicts; the messages are upstream's.
"""

from __future__ import annotations

import re
from typing import Any

from pinnace.api import validation_common as vc
from pinnace.api.schema.validation import FieldError
from pinnace.api.strategies._common import (
    INT32_MAX,
    Obj,
    as_dict,
    as_list,
    in_range,
    is_int,
    nonneg,
    parse_quantity,
    quantity_str,
    validate_ip,
    validate_label_selector,
)

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
PROTOCOLS = ("SCTP", "TCP", "UDP")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
TOLERATION_OPS = ("Equal", "Exists")

# every volume source of core/v1 Volume, in the order upstream checks them
VOLUME_SOURCES = (
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "projected",
    "storageos",
    "csi",
    "ephemeral",
    "image",
)

_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
_relaxed_env_name = re.compile(r"^[\x20-\x3c\x3e-\x7e]+$")  # printable ASCII except '='
RELAXED_ENV_ERR = (
    "a valid environment variable name must consist only of printable ASCII characters "
    "other than '='"
)


# -- defaulting ------------------------------------------------------------------------


def image_pull_policy(image: str) -> str:
    """``SetDefaults_Container``: Always for ``:latest`` (or untagged, undigested)
    images, IfNotPresent otherwise (also for references that do not parse)."""
    if not image or image != image.strip() or any(c.isupper() for c in image.split("/")[-1]):
        return "IfNotPresent"
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2] if ":" in last else ""
    if not tag and not digest:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def default_container(c: Obj) -> None:
    if not c.get("imagePullPolicy"):
        img = c.get("image")
        c["imagePullPolicy"] = image_pull_policy(img if isinstance(img, str) else "")


def default_pod_spec(spec: Obj) -> None:
    """The conditional defaults of ``SetDefaults_PodSpec`` and friends."""
    for list_name in _CONTAINER_LISTS:
        for c in as_list(spec.get(list_name)):
            if isinstance(c, dict):
                default_container(c)
    for v in as_list(spec.get("volumes")):
        if isinstance(v, dict) and not any(v.get(s) is not None for s in VOLUME_SOURCES):
            v["emptyDir"] = {}
    if spec.get("hostNetwork"):
        # SetDefaults_PodSpec: host ports follow container ports on the host network
        for list_name in ("initContainers", "containers"):
            for c in as_list(spec.get(list_name)):
                for p in as_list(as_dict(c).get("ports")):
                    if isinstance(p, dict) and not p.get("hostPort"):
                        p["hostPort"] = p.get("containerPort")
    # v1 conversion keeps the deprecated serviceAccount mirroring serviceAccountName
    sa, dep = spec.get("serviceAccountName"), spec.get("serviceAccount")
    if not sa and dep:
        spec["serviceAccountName"] = dep
    elif sa:
        spec["serviceAccount"] = sa


def default_pod_requests(spec: Obj) -> None:
    """``SetDefaults_Pod`` (pods only, not templates): a container with limits
    and no request for that resource requests its limit."""
    for list_name in ("initContainers", "containers"):
        for c in as_list(spec.get(list_name)):
            res = as_dict(as_dict(c).get("resources"))
            limits = as_dict(res.get("limits"))
            if not limits:
                continue
            requests = res.setdefault("requests", {})
            if isinstance(requests, dict):
                for k, v in limits.items():
                    requests.setdefault(k, v)


def default_template(template: Any) -> None:
    spec = as_dict(template).get("spec")
    if isinstance(spec, dict):
        default_pod_spec(spec)


# -- validation ------------------------------------------------------------------------


def validate_pod_template_spec(template: Any, path: str) -> list[FieldError]:
    """``ValidatePodTemplateSpec``: labels, annotations, the pod spec; ephemeral
    containers are not allowed in templates."""
    t = as_dict(template)
    meta = as_dict(t.get("metadata"))
    errs = vc.validate_labels(as_dict(meta.get("labels")), f"{path}.metadata.labels")
    errs += vc.validate_annotations(
        as_dict(meta.get("annotations")), f"{path}.metadata.annotations"
    )
    spec = as_dict(t.get("spec"))
    errs += validate_pod_spec(spec, f"{path}.spec")
    if spec.get("ephemeralContainers"):
        errs.append(
            FieldError.forbidden(
                f"{path}.spec.ephemeralContainers",
                "ephemeral containers not allowed in pod template",
            )
        )
    return errs


def validate_pod_spec(spec: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    volumes = _validate_volumes(as_list(spec.get("volumes")), f"{path}.volumes")
    errs += volumes[1]
    vols = volumes[0]
    names: set[str] = set()
    # a missing ``containers`` (and the other schema-required fields) is
    # reported by the structural check
    host_ports: set[str] = set()
    for list_name in ("initContainers", "containers", "ephemeralContainers"):
        for i, c in enumerate(as_list(spec.get(list_name))):
            if isinstance(c, dict):
                errs += _validate_container(
                    c, f"{path}.{list_name}[{i}]", list_name, vols, names, host_ports
                )
    errs += _validate_restart_policy(spec.get("restartPolicy"), f"{path}.restartPolicy")
    errs += _validate_dns(spec, path)
    errs += vc.validate_labels(as_dict(spec.get("nodeSelector")), f"{path}.nodeSelector")
    for fld in ("serviceAccountName", "nodeName", "priorityClassName"):
        v = spec.get(fld)
        if isinstance(v, str) and v:
            errs += [FieldError.invalid(f"{path}.{fld}", v, m) for m in vc.is_dns1123_subdomain(v)]
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None:
        errs += in_range(ads, 1, INT32_MAX, f"{path}.activeDeadlineSeconds")
    for fld in ("hostname", "subdomain"):
        v = spec.get(fld)
        if isinstance(v, str) and v:
            errs += [FieldError.invalid(f"{path}.{fld}", v, m) for m in vc.is_dns1123_label(v)]
    errs += validate_tolerations(as_list(spec.get("tolerations")), f"{path}.tolerations")
    for i, ha in enumerate(as_list(spec.get("hostAliases"))):
        ha = as_dict(ha)
        errs += validate_ip(ha.get("ip"), f"{path}.hostAliases[{i}].ip")
        for j, h in enumerate(as_list(ha.get("hostnames"))):
            if isinstance(h, str):
                errs += [
                    FieldError.invalid(f"{path}.hostAliases[{i}].hostnames[{j}]", h, m)
                    for m in vc.is_dns1123_subdomain(h)
                ]
    errs += _validate_pod_security_context(as_dict(spec.get("securityContext")), path)
    errs += _validate_topology_spread(as_list(spec.get("topologySpreadConstraints")), path)
    return errs


def _validate_restart_policy(policy: Any, path: str) -> list[FieldError]:
    if not policy:
        return [FieldError.required(path)]
    if policy not in RESTART_POLICIES:
        return [FieldError.not_supported(path, policy, RESTART_POLICIES)]
    return []


def _validate_dns(spec: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    policy = spec.get("dnsPolicy")
    if not policy:
        errs.append(FieldError.required(f"{path}.dnsPolicy"))
    elif policy not in DNS_POLICIES:
        errs.append(FieldError.not_supported(f"{path}.dnsPolicy", policy, DNS_POLICIES))
    cfg = spec.get("dnsConfig")
    if policy == "None" and cfg is None:
        errs.append(
            FieldError.required(
                f"{path}.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None"
            )
        )
    if isinstance(cfg, dict):
        servers = as_list(cfg.get("nameservers"))
        if policy == "None" and not servers:
            errs.append(
                FieldError.required(
                    f"{path}.dnsConfig.nameservers",
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                )
            )
        if len(servers) > 3:
            errs.append(
                FieldError.invalid(
                    f"{path}.dnsConfig.nameservers",
                    servers,
                    "must not have more than 3 nameservers",
                )
            )
        for i, ns in enumerate(servers):
            errs += validate_ip(ns, f"{path}.dnsConfig.nameservers[{i}]")
        searches = as_list(cfg.get("searches"))
        if len(searches) > 32:
            errs.append(
                FieldError.invalid(
                    f"{path}.dnsConfig.searches",
                    searches,
                    "must not have more than 32 search paths",
                )
            )
        for i, opt in enumerate(as_list(cfg.get("options"))):
            if not as_dict(opt).get("name"):
                errs.append(
                    FieldError.required(
                        f"{path}.dnsConfig.options[{i}]", "Option.Name must not be empty"
                    )
                )
    return errs


def validate_tolerations(tolerations: list[Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, t in enumerate(tolerations):
        t = as_dict(t)
        p = f"{path}[{i}]"
        key = t.get("key") or ""
        op = t.get("operator") or ""
        effect = t.get("effect") or ""
        if key:
            errs += [FieldError.invalid(f"{p}.key", key, m) for m in vc.is_qualified_name(key)]
        if not key and op != "Exists":
            errs.append(
                FieldError.invalid(
                    f"{p}.operator",
                    op,
                    'operator must be Exists when `key` is empty, which means "match all values '
                    'and all keys"',
                )
            )
        if t.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(
                FieldError.invalid(
                    f"{p}.effect",
                    effect,
                    "effect must be 'NoExecute' when `tolerationSeconds` is set",
                )
            )
        value = t.get("value") or ""
        if op in ("Equal", ""):
            msgs = vc.is_valid_label_value(value) if isinstance(value, str) else []
            if msgs:
                errs.append(FieldError.invalid(f"{p}.operator", value, ";".join(msgs)))
        elif op == "Exists":
            if value:
                errs.append(
                    FieldError.invalid(
                        f"{p}.operator", t, "value must be empty when `operator` is 'Exists'"
                    )
                )
        else:
            errs.append(FieldError.not_supported(f"{p}.operator", op, TOLERATION_OPS))
        if effect and effect not in TAINT_EFFECTS:
            errs.append(FieldError.not_supported(f"{p}.effect", effect, TAINT_EFFECTS))
    return errs


def _validate_volumes(volumes: list[Any], path: str) -> tuple[dict[str, Obj], list[FieldError]]:
    errs: list[FieldError] = []
    seen: dict[str, Obj] = {}
    for i, v in enumerate(volumes):
        v = as_dict(v)
        p = f"{path}[{i}]"
        name = v.get("name") or ""
        if name:
            errs += [FieldError.invalid(f"{p}.name", name, m) for m in vc.is_dns1123_label(name)]
            if name in seen:
                errs.append(FieldError.duplicate(f"{p}.name", name))
            else:
                seen[name] = v
        sources = [s for s in VOLUME_SOURCES if v.get(s) is not None]
        if not sources:
            errs.append(FieldError.required(p, "must specify a volume type"))
        for extra in sources[1:]:
            errs.append(
                FieldError.forbidden(f"{p}.{extra}", "may not specify more than 1 volume type")
            )
        errs += _validate_volume_source(v, p)
    return seen, errs


def _mode(value: Any, path: str) -> list[FieldError]:
    if is_int(value) and not 0 <= value <= 0o777:
        return [
            FieldError.invalid(
                path, value, "must be a number between 0 and 0777 (octal), both inclusive"
            )
        ]
    return []


def _validate_volume_source(v: Obj, p: str) -> list[FieldError]:
    errs: list[FieldError] = []
    required = {"secret": "secretName", "configMap": "name"}
    for src, fld in required.items():
        s = v.get(src)
        if isinstance(s, dict) and not s.get(fld):
            errs.append(FieldError.required(f"{p}.{src}.{fld}"))
    nfs = v.get("nfs")
    if isinstance(nfs, dict):
        if nfs.get("path") and not str(nfs["path"]).startswith("/"):
            errs.append(
                FieldError.invalid(f"{p}.nfs.path", nfs["path"], "must be an absolute path")
            )
    for src in ("secret", "configMap", "downwardAPI", "projected"):
        s = v.get(src)
        if isinstance(s, dict):
            errs += _mode(s.get("defaultMode"), f"{p}.{src}.defaultMode")
            for j, item in enumerate(as_list(s.get("items"))):
                item = as_dict(item)
                ip = f"{p}.{src}.items[{j}]"
                errs += _validate_local_path(item.get("path"), f"{ip}.path")
                errs += _mode(item.get("mode"), f"{ip}.mode")
    eph = v.get("ephemeral")
    if isinstance(eph, dict) and not isinstance(eph.get("volumeClaimTemplate"), dict):
        errs.append(FieldError.required(f"{p}.ephemeral.volumeClaimTemplate"))
    return errs


def _validate_local_path(value: Any, path: str) -> list[FieldError]:
    """``validateLocalDescendingPath``."""
    if not value or not isinstance(value, str):
        return []
    errs: list[FieldError] = []
    if value.startswith("/"):
        errs.append(FieldError.invalid(path, value, "must be a relative path"))
    if ".." in value.split("/"):
        errs.append(FieldError.invalid(path, value, "must not contain '..'"))
    return errs


def _validate_container(
    c: Obj,
    p: str,
    list_name: str,
    vols: dict[str, Obj],
    names: set[str],
    host_ports: set[str],
) -> list[FieldError]:
    errs: list[FieldError] = []
    name = c.get("name") or ""
    if name:
        errs += [FieldError.invalid(f"{p}.name", name, m) for m in vc.is_dns1123_label(name)]
        if name in names:
            errs.append(FieldError.duplicate(f"{p}.name", name))
        names.add(name)
    image = c.get("image")
    if not image:
        errs.append(FieldError.required(f"{p}.image"))
    policy = c.get("imagePullPolicy")
    if not policy:
        errs.append(FieldError.required(f"{p}.imagePullPolicy"))
    elif policy not in PULL_POLICIES:
        errs.append(FieldError.not_supported(f"{p}.imagePullPolicy", policy, PULL_POLICIES))
    tmp = c.get("terminationMessagePolicy")
    if not tmp:
        errs.append(FieldError.required(f"{p}.terminationMessagePolicy"))
    elif tmp not in TERMINATION_MESSAGE_POLICIES:
        errs.append(
            FieldError.not_supported(
                f"{p}.terminationMessagePolicy", tmp, TERMINATION_MESSAGE_POLICIES
            )
        )
    errs += _validate_ports(as_list(c.get("ports")), f"{p}.ports", host_ports, list_name)
    errs += _validate_env(as_list(c.get("env")), f"{p}.env")
    errs += _validate_env_from(as_list(c.get("envFrom")), f"{p}.envFrom")
    errs += _validate_mounts(as_list(c.get("volumeMounts")), f"{p}.volumeMounts", vols)
    errs += validate_resources(as_dict(c.get("resources")), f"{p}.resources")
    errs += _validate_security_context(as_dict(c.get("securityContext")), f"{p}.securityContext")
    restart = c.get("restartPolicy")
    sidecar = list_name == "initContainers" and restart == "Always"
    if restart is not None:
        if list_name == "initContainers":
            if restart != "Always":
                errs.append(FieldError.not_supported(f"{p}.restartPolicy", restart, ["Always"]))
        else:
            errs.append(
                FieldError.forbidden(f"{p}.restartPolicy", "may not be set for non-init containers")
            )
    for probe in ("livenessProbe", "readinessProbe", "startupProbe", "lifecycle"):
        if c.get(probe) is None:
            continue
        if list_name == "ephemeralContainers":
            errs.append(
                FieldError.forbidden(f"{p}.{probe}", "cannot be set for an Ephemeral Container")
            )
        elif list_name == "initContainers" and not sidecar:
            errs.append(
                FieldError.forbidden(
                    f"{p}.{probe}",
                    "may not be set for init containers without restartPolicy=Always",
                )
            )
        elif probe != "lifecycle":
            errs += _validate_probe(as_dict(c[probe]), f"{p}.{probe}", probe)
    return errs


def _validate_ports(
    ports: list[Any], path: str, host_ports: set[str], list_name: str
) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, port in enumerate(ports):
        port = as_dict(port)
        p = f"{path}[{i}]"
        name = port.get("name")
        if isinstance(name, str) and name:
            errs += [FieldError.invalid(f"{p}.name", name, m) for m in vc.is_valid_port_name(name)]
            if name in seen:
                errs.append(FieldError.duplicate(f"{p}.name", name))
            seen.add(name)
        cp = port.get("containerPort")
        if cp == 0:
            errs.append(
                FieldError.invalid(
                    f"{p}.containerPort", cp or 0, vc.inclusive_range_error(1, 65535)
                )
            )
        elif is_int(cp):
            errs += [
                FieldError.invalid(f"{p}.containerPort", cp, m) for m in vc.is_valid_port_num(cp)
            ]
        hp = port.get("hostPort")
        if is_int(hp) and hp != 0:
            errs += [FieldError.invalid(f"{p}.hostPort", hp, m) for m in vc.is_valid_port_num(hp)]
        proto = port.get("protocol")
        if not proto:
            errs.append(FieldError.required(f"{p}.protocol"))
        elif proto not in PROTOCOLS:
            errs.append(FieldError.not_supported(f"{p}.protocol", proto, PROTOCOLS))
        if is_int(hp) and hp != 0 and list_name != "ephemeralContainers":
            key = f"{port.get('hostIP') or ''}/{hp}/{proto}"
            if key in host_ports:
                errs.append(FieldError.duplicate(f"{p}.hostPort", f"{hp}/{proto}"))
            host_ports.add(key)
    return errs


def _validate_env(env: list[Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, ev in enumerate(env):
        ev = as_dict(ev)
        p = f"{path}[{i}]"
        name = ev.get("name") or ""
        if isinstance(name, str) and name and not _relaxed_env_name.match(name):
            errs.append(FieldError.invalid(f"{p}.name", name, RELAXED_ENV_ERR))
        vf = ev.get("valueFrom")
        if isinstance(vf, dict):
            sources = [
                k
                for k in (
                    "fieldRef",
                    "resourceFieldRef",
                    "configMapKeyRef",
                    "secretKeyRef",
                    "fileKeyRef",
                )
                if vf.get(k) is not None
            ]
            if ev.get("value"):
                errs.append(
                    FieldError.invalid(
                        f"{p}.valueFrom", "", "may not be specified when `value` is not empty"
                    )
                )
            if not sources:
                errs.append(
                    FieldError.invalid(
                        f"{p}.valueFrom",
                        "",
                        "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` "
                        "or `secretKeyRef`",
                    )
                )
            elif len(sources) > 1:
                errs.append(
                    FieldError.invalid(
                        f"{p}.valueFrom", "", "may not have more than one field specified at a time"
                    )
                )
            for ref in ("configMapKeyRef", "secretKeyRef"):
                r = vf.get(ref)
                if isinstance(r, dict):
                    if r.get("key"):
                        errs += [
                            FieldError.invalid(f"{p}.valueFrom.{ref}.key", r["key"], m)
                            for m in vc.is_config_map_key(str(r["key"]))
                        ]
                    if not r.get("name"):
                        errs.append(FieldError.required(f"{p}.valueFrom.{ref}.name"))
    return errs


def _validate_env_from(env_from: list[Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, ef in enumerate(env_from):
        ef = as_dict(ef)
        p = f"{path}[{i}]"
        prefix = ef.get("prefix")
        if isinstance(prefix, str) and prefix and not _relaxed_env_name.match(prefix):
            errs.append(FieldError.invalid(f"{p}.prefix", prefix, RELAXED_ENV_ERR))
        refs = [k for k in ("configMapRef", "secretRef") if ef.get(k) is not None]
        if not refs:
            errs.append(
                FieldError.invalid(p, "", "must specify one of: `configMapRef` or `secretRef`")
            )
        elif len(refs) > 1:
            errs.append(
                FieldError.invalid(p, "", "may not have more than one field specified at a time")
            )
        for ref in refs:
            name = as_dict(ef[ref]).get("name")
            if not name:
                errs.append(FieldError.required(f"{p}.{ref}.name"))
    return errs


def _validate_mounts(mounts: list[Any], path: str, vols: dict[str, Obj]) -> list[FieldError]:
    errs: list[FieldError] = []
    paths: set[str] = set()
    for i, m in enumerate(mounts):
        m = as_dict(m)
        p = f"{path}[{i}]"
        name = m.get("name") or ""
        if name and name not in vols:
            errs.append(FieldError("FieldValueNotFound", f"{p}.name", "", name))
        mp = m.get("mountPath") or ""
        if mp and mp in paths:
            errs.append(FieldError.invalid(f"{p}.mountPath", mp, "must be unique"))
        paths.add(mp)
        sub = m.get("subPath")
        if isinstance(sub, str) and sub:
            if sub.startswith("/"):
                errs.append(FieldError.invalid(f"{p}.subPath", sub, "must be a relative path"))
            if ".." in sub.split("/"):
                errs.append(FieldError.invalid(f"{p}.subPath", sub, "must not contain '..'"))
    return errs


def _is_container_resource_name(name: str) -> bool:
    if "/" in name:
        return True  # extended / prefixed resources (checked loosely)
    return name in _STANDARD_CONTAINER_RESOURCES or name.startswith("hugepages-")


def validate_resources(res: Obj, path: str) -> list[FieldError]:
    """``ValidateResourceRequirements`` (container level)."""
    errs: list[FieldError] = []
    limits = as_dict(res.get("limits"))
    requests = as_dict(res.get("requests"))
    for kind, values in (("limits", limits), ("requests", requests)):
        for name, q in values.items():
            p = f"{path}.{kind}[{name}]"
            if not _is_container_resource_name(name):
                errs.append(
                    FieldError.invalid(p, name, "must be a standard resource for containers")
                )
            val = parse_quantity(q)
            if val is not None and val < 0:
                errs.append(
                    FieldError.invalid(p, quantity_str(q), "must be greater than or equal to 0")
                )
    for name, q in requests.items():
        if name not in limits:
            continue
        rq, lq = parse_quantity(q), parse_quantity(limits[name])
        if rq is None or lq is None:
            continue
        if name.startswith("hugepages-") or ("/" in name and not name.startswith("kubernetes.io/")):
            if rq != lq:
                errs.append(
                    FieldError.invalid(
                        f"{path}.requests",
                        quantity_str(q),
                        f"must be equal to {name} limit of {quantity_str(limits[name])}",
                    )
                )
        elif rq > lq:
            errs.append(
                FieldError.invalid(
                    f"{path}.requests",
                    quantity_str(q),
                    f"must be less than or equal to {name} limit of {quantity_str(limits[name])}",
                )
            )
    return errs


_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")


def _validate_probe(probe: Obj, path: str, which: str) -> list[FieldError]:
    errs: list[FieldError] = []
    handlers = [h for h in _HANDLERS if probe.get(h) is not None]
    if not handlers:
        errs.append(FieldError.required(path, "must specify a handler type"))
    for extra in handlers[1:]:
        errs.append(
            FieldError.forbidden(f"{path}.{extra}", "may not specify more than 1 handler type")
        )
    for fld in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ):
        errs += nonneg(probe.get(fld), f"{path}.{fld}")
    st = probe.get("successThreshold")
    if which in ("livenessProbe", "startupProbe") and is_int(st) and st != 1:
        errs.append(FieldError.invalid(f"{path}.successThreshold", st, "must be 1"))
    tg = probe.get("terminationGracePeriodSeconds")
    if is_int(tg) and tg <= 0:
        errs.append(
            FieldError.invalid(
                f"{path}.terminationGracePeriodSeconds", tg, "must be greater than 0"
            )
        )
    for h in ("httpGet", "tcpSocket"):
        hp = probe.get(h)
        if isinstance(hp, dict):
            errs += _validate_probe_port(hp.get("port"), f"{path}.{h}.port")
    http = probe.get("httpGet")
    if isinstance(http, dict):
        scheme = http.get("scheme")
        if scheme and scheme not in ("HTTP", "HTTPS"):
            errs.append(
                FieldError.not_supported(f"{path}.httpGet.scheme", scheme, ["HTTP", "HTTPS"])
            )
    ex = probe.get("exec")
    if isinstance(ex, dict) and not ex.get("command"):
        errs.append(FieldError.required(f"{path}.exec.command"))
    return errs


def _validate_probe_port(port: Any, path: str) -> list[FieldError]:
    if is_int(port):
        return [FieldError.invalid(path, port, m) for m in vc.is_valid_port_num(port)]
    if isinstance(port, str):
        return [FieldError.invalid(path, port, m) for m in vc.is_valid_port_name(port)]
    if port is None:
        return [FieldError.invalid(path, 0, vc.inclusive_range_error(1, 65535))]
    return []


def _validate_ids(sc: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for fld in ("runAsUser", "runAsGroup", "fsGroup"):
        errs += in_range(sc.get(fld), 0, INT32_MAX, f"{path}.{fld}")
    for i, g in enumerate(as_list(sc.get("supplementalGroups"))):
        errs += in_range(g, 0, INT32_MAX, f"{path}.supplementalGroups[{i}]")
    return errs


def _validate_pod_security_context(sc: Obj, path: str) -> list[FieldError]:
    errs = _validate_ids(sc, f"{path}.securityContext")
    policy = sc.get("fsGroupChangePolicy")
    if policy and policy not in ("OnRootMismatch", "Always"):
        errs.append(
            FieldError.not_supported(
                f"{path}.securityContext.fsGroupChangePolicy", policy, ["OnRootMismatch", "Always"]
            )
        )
    return errs


def _validate_security_context(sc: Obj, path: str) -> list[FieldError]:
    errs = _validate_ids(sc, path)
    if sc.get("privileged") and sc.get("allowPrivilegeEscalation") is False:
        errs.append(
            FieldError.invalid(
                path, sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"
            )
        )
    return errs


def _validate_topology_spread(constraints: list[Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for i, c in enumerate(constraints):
        c = as_dict(c)
        p = f"{path}.topologySpreadConstraints[{i}]"
        skew = c.get("maxSkew")
        if is_int(skew) and skew <= 0:
            errs.append(FieldError.invalid(f"{p}.maxSkew", skew, "must be greater than zero"))
        when = c.get("whenUnsatisfiable") or ""
        if when and when not in ("DoNotSchedule", "ScheduleAnyway"):
            errs.append(
                FieldError.not_supported(
                    f"{p}.whenUnsatisfiable", when, ["DoNotSchedule", "ScheduleAnyway"]
                )
            )
        key = (str(c.get("topologyKey") or ""), str(when))
        if key in seen:
            errs.append(
                FieldError.duplicate(
                    f"{p}.{{topologyKey, whenUnsatisfiable}}", f"{key[0]}, {key[1]}"
                )
            )
        seen.add(key)
        errs += validate_label_selector(c.get("labelSelector"), f"{p}.labelSelector")
    return errs
