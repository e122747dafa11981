"""The restricted Pod Security checks (upstream's ``policy/check_*.go`` of the
restricted level, as of v1.32): no privilege escalation, capabilities
dropped to NET_BIND_SERVICE at most, only ephemeral/projected volume types,
non-root users, and a confining seccomp profile. Some of them replace a
baseline check (their ``overrides``). Pure functions; messages are upstream's."""

from __future__ import annotations

from pinnace.apiserver.admission.pod_security.baseline import (
    CAPABILITIES_BASELINE,
    HOST_PATH_VOLUMES,
    SECCOMP_BASELINE,
    valid_seccomp_type,
)
from pinnace.apiserver.admission.pod_security.checks import (
    ALLOWED,
    Check,
    CheckResult,
    Obj,
    VersionedCheck,
    container_sc,
    containers,
    containers_phrase,
    forbid,
    join_quote,
    pluralize,
    pod_sc,
    sub,
    unless_windows,
)
from pinnace.apiserver.admission.pod_security.levels import Level

# the inline volume sources restricted pods may use
ALLOWED_VOLUME_SOURCES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
# the other sources, in the order upstream names the first one a volume sets
NAMED_VOLUME_SOURCES = (
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
)


def allow_privilege_escalation(meta: Obj, spec: Obj) -> CheckResult:
    bad = [
        str(c.get("name", ""))
        for c in containers(spec)
        if container_sc(c).get("allowPrivilegeEscalation") is not False
    ]
    if not bad:
        return ALLOWED
    return forbid(
        "allowPrivilegeEscalation != false",
        f"{containers_phrase(bad)} must set securityContext.allowPrivilegeEscalation=false",
    )


def capabilities_restricted(meta: Obj, spec: Obj) -> CheckResult:
    missing_drop_all: list[str] = []
    adding: list[str] = []
    forbidden_caps: set[str] = set()
    for c in containers(spec):
        name = str(c.get("name", ""))
        caps = sub(container_sc(c), "capabilities")
        if caps is None:
            missing_drop_all.append(name)
            continue
        if "ALL" not in (caps.get("drop") or ()):
            missing_drop_all.append(name)
        extra = {str(a) for a in caps.get("add") or () if a != "NET_BIND_SERVICE"}
        if extra:
            forbidden_caps |= extra
            adding.append(name)
    details = []
    if missing_drop_all:
        details.append(
            f'{containers_phrase(missing_drop_all)} must set securityContext.capabilities.drop=["ALL"]'
        )
    if adding:
        details.append(
            f"{containers_phrase(adding)} must not include {join_quote(sorted(forbidden_caps))} "
            "in securityContext.capabilities.add"
        )
    if not details:
        return ALLOWED
    return forbid("unrestricted capabilities", "; ".join(details))


def restricted_volumes(meta: Obj, spec: Obj) -> CheckResult:
    bad: list[str] = []
    types: set[str] = set()
    for v in spec.get("volumes") or ():
        if not isinstance(v, dict):
            continue
        if any(v.get(k) is not None for k in ALLOWED_VOLUME_SOURCES):
            continue
        bad.append(str(v.get("name", "")))
        types.add(next((k for k in NAMED_VOLUME_SOURCES if v.get(k) is not None), "unknown"))
    if not bad:
        return ALLOWED
    return forbid(
        "restricted volume types",
        f"{pluralize('volume', 'volumes', len(bad))} {join_quote(bad)} "
        f"{pluralize('uses', 'use', len(bad))} "
        f"{pluralize('restricted volume type', 'restricted volume types', len(types))} "
        f"{join_quote(sorted(types))}",
    )


def run_as_non_root(meta: Obj, spec: Obj) -> CheckResult:
    setters: list[str] = []
    pod_value = pod_sc(spec).get("runAsNonRoot")
    if pod_value is False:
        setters.append("pod")
    explicit: list[str] = []
    implicit: list[str] = []
    for c in containers(spec):
        value = container_sc(c).get("runAsNonRoot")
        if value is not None:
            if value is False:
                explicit.append(str(c.get("name", "")))
        elif pod_value is not True:
            implicit.append(str(c.get("name", "")))
    if explicit:
        setters.append(containers_phrase(explicit))
    if setters:
        return forbid(
            "runAsNonRoot != true",
            f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false",
        )
    if implicit:
        return forbid(
            "runAsNonRoot != true",
            f"pod or {containers_phrase(implicit)} must set securityContext.runAsNonRoot=true",
        )
    return ALLOWED


def run_as_user(meta: Obj, spec: Obj) -> CheckResult:
    setters = ["pod"] if pod_sc(spec).get("runAsUser") == 0 else []
    bad = [
        str(c.get("name", "")) for c in containers(spec) if container_sc(c).get("runAsUser") == 0
    ]
    if bad:
        setters.append(containers_phrase(bad))
    if not setters:
        return ALLOWED
    return forbid("runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0")


def seccomp_restricted(meta: Obj, spec: Obj) -> CheckResult:
    setters: list[str] = []
    bad_values: set[str] = set()
    pod_set = False
    profile = sub(pod_sc(spec), "seccompProfile")
    if profile is not None:
        if valid_seccomp_type(profile.get("type")):
            pod_set = True
        else:
            setters.append("pod")
            bad_values.add(str(profile.get("type") or ""))
    explicit: list[str] = []
    implicit: list[str] = []
    for c in containers(spec):
        cp = sub(container_sc(c), "seccompProfile")
        if cp is not None:
            if not valid_seccomp_type(cp.get("type")):
                explicit.append(str(c.get("name", "")))
                bad_values.add(str(cp.get("type") or ""))
        elif not pod_set:
            implicit.append(str(c.get("name", "")))
    if explicit:
        setters.append(containers_phrase(explicit))
    if setters:
        return forbid(
            "seccompProfile",
            f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
            f"{join_quote(sorted(bad_values))}",
        )
    if implicit:
        return forbid(
            "seccompProfile",
            f"pod or {containers_phrase(implicit)} must set securityContext.seccompProfile.type "
            'to "RuntimeDefault" or "Localhost"',
        )
    return ALLOWED


def _check(id_: str, *versions: VersionedCheck) -> Check:
    return Check(id_, Level.RESTRICTED, versions)


RESTRICTED_CHECKS: tuple[Check, ...] = (
    _check(
        "allowPrivilegeEscalation",
        VersionedCheck(8, allow_privilege_escalation),
        VersionedCheck(25, unless_windows(allow_privilege_escalation)),
    ),
    _check(
        "capabilities_restricted",
        VersionedCheck(22, capabilities_restricted, (CAPABILITIES_BASELINE,)),
        VersionedCheck(25, unless_windows(capabilities_restricted), (CAPABILITIES_BASELINE,)),
    ),
    _check("restrictedVolumes", VersionedCheck(0, restricted_volumes, (HOST_PATH_VOLUMES,))),
    _check("runAsNonRoot", VersionedCheck(0, run_as_non_root)),
    _check("runAsUser", VersionedCheck(23, run_as_user)),
    _check(
        "seccompProfile_restricted",
        VersionedCheck(19, seccomp_restricted, (SECCOMP_BASELINE,)),
        VersionedCheck(25, unless_windows(seccomp_restricted), (SECCOMP_BASELINE,)),
    ),
)
