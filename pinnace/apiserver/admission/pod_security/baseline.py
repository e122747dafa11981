"""The baseline Pod Security checks (upstream's ``policy/check_*.go`` of the
baseline level, as of v1.32): no host namespaces, privileged containers,
extra capabilities, hostPath volumes, host ports, unconfined AppArmor,
custom SELinux, unmasked /proc, unconfined seccomp, unsafe sysctls or Windows
host processes. Pure functions over JSON dicts; messages are upstream's."""

from __future__ import annotations

from pinnace.apiserver.admission.pod_security.checks import (
    ALLOWED,
    Check,
    CheckFn,
    CheckResult,
    Obj,
    VersionedCheck,
    annotations_of,
    container_sc,
    containers,
    containers_phrase,
    forbid,
    join_quote,
    pluralize,
    pod_sc,
    quote,
    sub,
)
from pinnace.apiserver.admission.pod_security.levels import Level

CAPABILITIES_BASELINE = "capabilities_baseline"
HOST_PATH_VOLUMES = "hostPathVolumes"
SECCOMP_BASELINE = "seccompProfile_baseline"

APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"

ALLOWED_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
SELINUX_TYPES_1_0 = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
SELINUX_TYPES_1_31 = SELINUX_TYPES_1_0 | {"container_engine_t"}
SYSCTLS_1_0 = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
    }
)
SYSCTLS_1_27 = SYSCTLS_1_0 | {"net.ipv4.ip_local_reserved_ports"}
SYSCTLS_1_29 = SYSCTLS_1_27 | {
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SYSCTLS_1_32 = SYSCTLS_1_29 | {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}


def _setters(pod: bool, bad_containers: list[str]) -> list[str]:
    out = ["pod"] if pod else []
    if bad_containers:
        out.append(containers_phrase(bad_containers))
    return out


def app_armor_profile(meta: Obj, spec: Obj) -> CheckResult:
    def allowed_type(profile: Obj) -> bool:
        return profile.get("type") in ("RuntimeDefault", "Localhost")

    bad_values: set[str] = set()
    pod_profile = sub(pod_sc(spec), "appArmorProfile")
    pod_bad = pod_profile is not None and not allowed_type(pod_profile)
    if pod_profile is not None and pod_bad:
        bad_values.add(str(pod_profile.get("type") or ""))
    bad_containers: list[str] = []
    for c in containers(spec):
        profile = sub(container_sc(c), "appArmorProfile")
        if profile is not None and not allowed_type(profile):
            bad_containers.append(str(c.get("name", "")))
            bad_values.add(str(profile.get("type") or ""))
    setters = _setters(pod_bad, bad_containers)
    forbidden_annotations = sorted(
        f"{k}={quote(str(v))}"
        for k, v in annotations_of(meta).items()
        if k.startswith(APPARMOR_ANNOTATION_PREFIX)
        and not (v == "" or v == "runtime/default" or str(v).startswith("localhost/"))
    )
    values = sorted(bad_values) + forbidden_annotations
    if forbidden_annotations:
        setters.append(pluralize("annotation", "annotations", len(forbidden_annotations)))
    if not setters:
        return ALLOWED
    return forbid(
        pluralize("forbidden AppArmor profile", "forbidden AppArmor profiles", len(values)),
        f"{' and '.join(setters)} must not set AppArmor profile type to {join_quote(values)}",
    )


def capabilities_baseline(meta: Obj, spec: Obj) -> CheckResult:
    bad_containers: list[str] = []
    bad_caps: set[str] = set()
    for c in containers(spec):
        caps = sub(container_sc(c), "capabilities")
        if caps is None:
            continue
        extra = {str(a) for a in caps.get("add") or () if a not in ALLOWED_CAPABILITIES}
        if extra:
            bad_caps |= extra
            bad_containers.append(str(c.get("name", "")))
    if not bad_containers:
        return ALLOWED
    return forbid(
        "non-default capabilities",
        f"{containers_phrase(bad_containers)} must not include "
        f"{join_quote(sorted(bad_caps))} in securityContext.capabilities.add",
    )


def host_namespaces(meta: Obj, spec: Obj) -> CheckResult:
    used = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True]
    if not used:
        return ALLOWED
    return forbid("host namespaces", ", ".join(used))


def host_path_volumes(meta: Obj, spec: Obj) -> CheckResult:
    names = [
        str(v.get("name", ""))
        for v in spec.get("volumes") or ()
        if isinstance(v, dict) and v.get("hostPath") is not None
    ]
    if not names:
        return ALLOWED
    return forbid(
        "hostPath volumes", f"{pluralize('volume', 'volumes', len(names))} {join_quote(names)}"
    )


def host_ports(meta: Obj, spec: Obj) -> CheckResult:
    bad_containers: list[str] = []
    ports: set[str] = set()
    for c in containers(spec):
        used = {
            str(p["hostPort"])
            for p in c.get("ports") or ()
            if isinstance(p, dict) and p.get("hostPort")
        }
        if used:
            ports |= used
            bad_containers.append(str(c.get("name", "")))
    if not bad_containers:
        return ALLOWED
    n = len(bad_containers)
    return forbid(
        "hostPort",
        f"{containers_phrase(bad_containers)} {pluralize('uses', 'use', n)} "
        f"{pluralize('hostPort', 'hostPorts', len(ports))} {', '.join(sorted(ports))}",
    )


def privileged(meta: Obj, spec: Obj) -> CheckResult:
    bad = [
        str(c.get("name", ""))
        for c in containers(spec)
        if container_sc(c).get("privileged") is True
    ]
    if not bad:
        return ALLOWED
    return forbid(
        "privileged", f"{containers_phrase(bad)} must not set securityContext.privileged=true"
    )


def proc_mount(meta: Obj, spec: Obj) -> CheckResult:
    bad: list[str] = []
    types: set[str] = set()
    for c in containers(spec):
        pm = container_sc(c).get("procMount")
        if pm is not None and pm != "Default":
            bad.append(str(c.get("name", "")))
            types.add(str(pm))
    if not bad:
        return ALLOWED
    return forbid(
        "procMount",
        f"{containers_phrase(bad)} must not set securityContext.procMount to "
        f"{join_quote(sorted(types))}",
    )


def _se_linux_options(allowed_types: frozenset[str]) -> CheckFn:
    def check(meta: Obj, spec: Obj) -> CheckResult:
        bad_types: set[str] = set()
        flags = {"user": False, "role": False}

        def valid(opts: Obj) -> bool:
            ok = True
            t = str(opts.get("type") or "")
            if t not in allowed_types:
                ok = False
                bad_types.add(t)
            for key in ("user", "role"):
                if opts.get(key):
                    ok = False
                    flags[key] = True
            return ok

        pod_opts = sub(pod_sc(spec), "seLinuxOptions")
        pod_bad = pod_opts is not None and not valid(pod_opts)
        bad_containers = []
        for c in containers(spec):
            opts = sub(container_sc(c), "seLinuxOptions")
            if opts is not None and not valid(opts):
                bad_containers.append(str(c.get("name", "")))
        setters = _setters(pod_bad, bad_containers)
        if not setters:
            return ALLOWED
        data = []
        if bad_types:
            data.append(
                f"{pluralize('type', 'types', len(bad_types))} {join_quote(sorted(bad_types))}"
            )
        if flags["user"]:
            data.append("user may not be set")
        if flags["role"]:
            data.append("role may not be set")
        return forbid(
            "seLinuxOptions",
            f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: "
            f"{'; '.join(data)}",
        )

    return check


def valid_seccomp_type(t: object) -> bool:
    return t in ("Localhost", "RuntimeDefault")


def seccomp_baseline_annotations(meta: Obj, spec: Obj) -> CheckResult:
    """Before v1.19 seccomp was set through annotations."""

    def valid(v: str) -> bool:
        return v in ("runtime/default", "docker/default") or v.startswith("localhost/")

    ann = annotations_of(meta)
    forbidden: set[str] = set()
    keys = [SECCOMP_POD_ANNOTATION]
    keys += [SECCOMP_CONTAINER_ANNOTATION_PREFIX + str(c.get("name", "")) for c in containers(spec)]
    for key in keys:
        if key in ann and not valid(str(ann[key])):
            forbidden.add(f"{key}={quote(str(ann[key]))}")
    if not forbidden:
        return ALLOWED
    return forbid(
        "seccompProfile",
        f"forbidden {pluralize('annotation', 'annotations', len(forbidden))} "
        f"{', '.join(sorted(forbidden))}",
    )


def seccomp_baseline(meta: Obj, spec: Obj) -> CheckResult:
    bad_values: set[str] = set()
    profile = sub(pod_sc(spec), "seccompProfile")
    pod_bad = profile is not None and not valid_seccomp_type(profile.get("type"))
    if profile is not None and pod_bad:
        bad_values.add(str(profile.get("type") or ""))
    bad_containers = []
    for c in containers(spec):
        cp = sub(container_sc(c), "seccompProfile")
        if cp is not None and not valid_seccomp_type(cp.get("type")):
            bad_containers.append(str(c.get("name", "")))
            bad_values.add(str(cp.get("type") or ""))
    setters = _setters(pod_bad, bad_containers)
    if not setters:
        return ALLOWED
    return forbid(
        "seccompProfile",
        f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
        f"{join_quote(sorted(bad_values))}",
    )


def _sysctls(allowed: frozenset[str]) -> CheckFn:
    def check(meta: Obj, spec: Obj) -> CheckResult:
        bad = [
            str(s.get("name", ""))
            for s in pod_sc(spec).get("sysctls") or ()
            if isinstance(s, dict) and s.get("name") not in allowed
        ]
        if not bad:
            return ALLOWED
        return forbid("forbidden sysctls", ", ".join(bad))

    return check


def windows_host_process(meta: Obj, spec: Obj) -> CheckResult:
    def host_process(sc: Obj) -> bool:
        opts = sub(sc, "windowsOptions")
        return opts is not None and opts.get("hostProcess") is True

    bad = [str(c.get("name", "")) for c in containers(spec) if host_process(container_sc(c))]
    setters = _setters(host_process(pod_sc(spec)), bad)
    if not setters:
        return ALLOWED
    return forbid(
        "hostProcess",
        f"{' and '.join(setters)} must not set securityContext.windowsOptions.hostProcess=true",
    )


def _check(id_: str, *versions: tuple[int, CheckFn]) -> Check:
    return Check(id_, Level.BASELINE, tuple(VersionedCheck(m, fn) for m, fn in versions))


BASELINE_CHECKS: tuple[Check, ...] = (
    _check("appArmorProfile", (0, app_armor_profile)),
    _check(CAPABILITIES_BASELINE, (0, capabilities_baseline)),
    _check("hostNamespaces", (0, host_namespaces)),
    _check(HOST_PATH_VOLUMES, (0, host_path_volumes)),
    _check("hostPorts", (0, host_ports)),
    _check("privileged", (0, privileged)),
    _check("procMount", (0, proc_mount)),
    _check(
        "seLinuxOptions",
        (0, _se_linux_options(SELINUX_TYPES_1_0)),
        (31, _se_linux_options(SELINUX_TYPES_1_31)),
    ),
    _check(SECCOMP_BASELINE, (0, seccomp_baseline_annotations), (19, seccomp_baseline)),
    _check(
        "sysctls",
        (0, _sysctls(SYSCTLS_1_0)),
        (27, _sysctls(SYSCTLS_1_27)),
        (29, _sysctls(SYSCTLS_1_29)),
        (32, _sysctls(SYSCTLS_1_32)),
    ),
    _check("windowsHostProcess", (0, windows_host_process)),
)
