"""The Pod Security checks one by one: pods that pass, pods that fail, and the
exact reason/detail texts (upstream's)."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.apiserver.admission.pod_security import baseline as b
from pinnace.apiserver.admission.pod_security import restricted as r
from pinnace.apiserver.admission.pod_security.checks import CheckFn, CheckResult

Obj = dict[str, Any]


def c(name: str, **sc: Any) -> Obj:
    """A container with the given securityContext fields (none: no securityContext)."""
    out: Obj = {"name": name, "image": "busybox"}
    if sc:
        out["securityContext"] = sc
    return out


def spec(*containers: Obj, **fields: Any) -> Obj:
    return {"containers": list(containers), **fields}


def versions(check_id: str) -> dict[int, CheckFn]:
    """A check's functions by the minor version they apply from."""
    check = next(x for x in b.BASELINE_CHECKS + r.RESTRICTED_CHECKS if x.id == check_id)
    return {vc.minimum_minor: vc.check for vc in check.versions}


def run(check: CheckFn, s: Obj, meta: Obj | None = None) -> CheckResult:
    return check(meta or {}, s)


def failed(check: CheckFn, s: Obj, meta: Obj | None = None) -> tuple[str, str]:
    res = run(check, s, meta)
    assert not res.allowed
    return res.reason, res.detail


# -- baseline ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "s",
    [
        spec(c("a")),
        spec(c("a"), hostNetwork=False, hostPID=False, hostIPC=False),
    ],
)
def test_host_namespaces_pass(s: Obj) -> None:
    assert run(b.host_namespaces, s).allowed


def test_host_namespaces_fail() -> None:
    s = spec(c("a"), hostNetwork=True, hostPID=True, hostIPC=True)
    assert failed(b.host_namespaces, s) == (
        "host namespaces",
        "hostNetwork=true, hostPID=true, hostIPC=true",
    )
    assert failed(b.host_namespaces, spec(c("a"), hostPID=True))[1] == "hostPID=true"


def test_privileged() -> None:
    assert run(b.privileged, spec(c("a", privileged=False), c("b"))).allowed
    s = spec(c("a"), c("d", privileged=True), c("e", privileged=True))
    assert failed(b.privileged, s) == (
        "privileged",
        'containers "d", "e" must not set securityContext.privileged=true',
    )
    # init and ephemeral containers count too, init first
    s = {
        "containers": [c("x", privileged=True)],
        "initContainers": [c("i", privileged=True)],
        "ephemeralContainers": [c("e", privileged=True)],
    }
    assert failed(b.privileged, s)[1] == (
        'containers "i", "x", "e" must not set securityContext.privileged=true'
    )


def test_capabilities_baseline() -> None:
    ok = spec(c("a", capabilities={"add": ["CHOWN", "NET_BIND_SERVICE"], "drop": ["ALL"]}))
    assert run(b.capabilities_baseline, ok).allowed
    s = spec(
        c("a", capabilities={"add": ["FOO", "BAR"]}),
        c("b", capabilities={"add": ["BAZ", "CHOWN"]}),
        c("c", capabilities={"add": ["KILL"]}),
    )
    assert failed(b.capabilities_baseline, s) == (
        "non-default capabilities",
        'containers "a", "b" must not include "BAR", "BAZ", "FOO" in '
        "securityContext.capabilities.add",
    )
    s = spec(c("a", capabilities={"add": ["NET_RAW"]}))
    assert failed(b.capabilities_baseline, s)[1] == (
        'container "a" must not include "NET_RAW" in securityContext.capabilities.add'
    )


def test_host_path_volumes() -> None:
    assert run(b.host_path_volumes, spec(c("a"), volumes=[{"name": "e", "emptyDir": {}}])).allowed
    s = spec(
        c("a"),
        volumes=[
            {"name": "a", "hostPath": {"path": "/a"}},
            {"name": "x", "emptyDir": {}},
            {"name": "b", "hostPath": {"path": "/b"}},
        ],
    )
    assert failed(b.host_path_volumes, s) == ("hostPath volumes", 'volumes "a", "b"')
    one = spec(c("a"), volumes=[{"name": "h", "hostPath": {"path": "/"}}])
    assert failed(b.host_path_volumes, one)[1] == 'volume "h"'


def test_host_ports() -> None:
    ok = spec(c("a") | {"ports": [{"containerPort": 80}, {"containerPort": 81, "hostPort": 0}]})
    assert run(b.host_ports, ok).allowed
    s = spec(
        c("a") | {"ports": [{"containerPort": 80}]},
        c("b") | {"ports": [{"containerPort": 10, "hostPort": 10}, {"hostPort": 20}]},
        c("c") | {"ports": [{"containerPort": 30, "hostPort": 30}]},
    )
    assert failed(b.host_ports, s) == ("hostPort", 'containers "b", "c" use hostPorts 10, 20, 30')
    one = spec(c("b") | {"ports": [{"containerPort": 20, "hostPort": 20}]})
    assert failed(b.host_ports, one)[1] == 'container "b" uses hostPort 20'


def test_app_armor() -> None:
    ok = spec(
        c("a", appArmorProfile={"type": "RuntimeDefault"}),
        c("b", appArmorProfile={"type": "Localhost", "localhostProfile": "p"}),
        securityContext={"appArmorProfile": {"type": "RuntimeDefault"}},
    )
    meta = {"annotations": {"container.apparmor.security.beta.kubernetes.io/a": "runtime/default"}}
    assert run(b.app_armor_profile, ok, meta).allowed
    s = spec(c("foo", appArmorProfile={"type": "Unconfined"}))
    assert failed(b.app_armor_profile, s) == (
        "forbidden AppArmor profile",
        'container "foo" must not set AppArmor profile type to "Unconfined"',
    )
    s = spec(c("a"), securityContext={"appArmorProfile": {"type": "Unconfined"}})
    assert failed(b.app_armor_profile, s)[1] == (
        'pod must not set AppArmor profile type to "Unconfined"'
    )
    meta = {"annotations": {"container.apparmor.security.beta.kubernetes.io/a": "unconfined"}}
    s = spec(c("a"), securityContext={"appArmorProfile": {"type": "Unconfined"}})
    assert failed(b.app_armor_profile, s, meta) == (
        "forbidden AppArmor profiles",
        'pod and annotation must not set AppArmor profile type to "Unconfined", '
        '"container.apparmor.security.beta.kubernetes.io/a=\\"unconfined\\""',
    )


def test_se_linux() -> None:
    check = versions("seLinuxOptions")[31]
    ok = spec(
        c("a", seLinuxOptions={"type": "container_t", "level": "s0:c1"}),
        c("b", seLinuxOptions={"type": "container_engine_t"}),
        securityContext={"seLinuxOptions": {"level": "s0"}},
    )
    assert run(check, ok).allowed
    s = spec(
        c("e", seLinuxOptions={"type": "bar"}),
        c("f", seLinuxOptions={"user": "u"}),
        c("g", seLinuxOptions={"role": "r"}),
        securityContext={"seLinuxOptions": {"type": "foo"}},
    )
    assert failed(check, s) == (
        "seLinuxOptions",
        'pod and containers "e", "f", "g" set forbidden securityContext.seLinuxOptions: '
        'types "bar", "foo"; user may not be set; role may not be set',
    )
    # container_engine_t is only allowed from v1.31 on
    old = versions("seLinuxOptions")[0]
    s = spec(c("a", seLinuxOptions={"type": "container_engine_t"}))
    assert failed(old, s)[1] == (
        'container "a" set forbidden securityContext.seLinuxOptions: type "container_engine_t"'
    )


def test_proc_mount() -> None:
    assert run(b.proc_mount, spec(c("a", procMount="Default"), c("b"))).allowed
    s = spec(c("c"), c("d", procMount="Unmasked"), c("e", procMount="other"))
    assert failed(b.proc_mount, s) == (
        "procMount",
        'containers "d", "e" must not set securityContext.procMount to "Unmasked", "other"',
    )


def test_seccomp_baseline() -> None:
    ok = spec(
        c("a", seccompProfile={"type": "Localhost", "localhostProfile": "x"}),
        securityContext={"seccompProfile": {"type": "RuntimeDefault"}},
    )
    assert run(b.seccomp_baseline, ok).allowed
    assert run(b.seccomp_baseline, spec(c("a"))).allowed  # unset is fine at baseline
    s = spec(
        c("a"),
        c("c", seccompProfile={"type": "Unconfined"}),
        c("d", seccompProfile={"type": "Unconfined"}),
        securityContext={"seccompProfile": {"type": "Unconfined"}},
    )
    assert failed(b.seccomp_baseline, s) == (
        "seccompProfile",
        'pod and containers "c", "d" must not set securityContext.seccompProfile.type to '
        '"Unconfined"',
    )


def test_seccomp_annotations_before_1_19() -> None:
    meta = {
        "annotations": {
            "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
            "container.seccomp.security.alpha.kubernetes.io/a": "unconfined",
            "container.seccomp.security.alpha.kubernetes.io/b": "unknown",
            "container.seccomp.security.alpha.kubernetes.io/c": "localhost/x",
        }
    }
    s = spec(c("a"), c("b"), c("c"))
    assert failed(b.seccomp_baseline_annotations, s, meta) == (
        "seccompProfile",
        "forbidden annotations "
        'container.seccomp.security.alpha.kubernetes.io/a="unconfined", '
        'container.seccomp.security.alpha.kubernetes.io/b="unknown", '
        'seccomp.security.alpha.kubernetes.io/pod="unconfined"',
    )
    meta = {"annotations": {"seccomp.security.alpha.kubernetes.io/pod": "runtime/default"}}
    assert run(b.seccomp_baseline_annotations, s, meta).allowed


def test_sysctls_by_version() -> None:
    checks = versions("sysctls")
    safe = spec(c("a"), securityContext={"sysctls": [{"name": "kernel.shm_rmid_forced"}]})
    assert run(checks[0], safe).allowed
    rmem = spec(c("a"), securityContext={"sysctls": [{"name": "net.ipv4.tcp_rmem", "value": "1"}]})
    assert run(checks[32], rmem).allowed
    assert failed(checks[29], rmem) == ("forbidden sysctls", "net.ipv4.tcp_rmem")
    bad = spec(c("a"), securityContext={"sysctls": [{"name": "a", "value": "1"}, {"name": "b"}]})
    assert failed(checks[32], bad)[1] == "a, b"


def test_windows_host_process() -> None:
    assert run(b.windows_host_process, spec(c("a", windowsOptions={"hostProcess": False}))).allowed
    s = spec(
        c("d"),
        c("e", windowsOptions={"hostProcess": True}),
        c("f", windowsOptions={"hostProcess": True}),
        securityContext={"windowsOptions": {"hostProcess": True}},
    )
    assert failed(b.windows_host_process, s) == (
        "hostProcess",
        'pod and containers "e", "f" must not set securityContext.windowsOptions.hostProcess=true',
    )


# -- restricted ------------------------------------------------------------------


def test_allow_privilege_escalation() -> None:
    assert run(r.allow_privilege_escalation, spec(c("a", allowPrivilegeEscalation=False))).allowed
    s = spec(c("a"), c("b", allowPrivilegeEscalation=True), c("c", runAsNonRoot=True))
    assert failed(r.allow_privilege_escalation, s) == (
        "allowPrivilegeEscalation != false",
        'containers "a", "b", "c" must set securityContext.allowPrivilegeEscalation=false',
    )


def test_capabilities_restricted() -> None:
    ok = spec(c("a", capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}))
    assert run(r.capabilities_restricted, ok).allowed
    s = spec(
        c("a", capabilities={"add": ["FOO", "BAR"]}),
        c("b", capabilities={"drop": ["NET_RAW"], "add": ["BAZ"]}),
        c("c", capabilities={"drop": ["ALL"], "add": ["CHOWN", "NET_BIND_SERVICE"]}),
    )
    assert failed(r.capabilities_restricted, s) == (
        "unrestricted capabilities",
        'containers "a", "b" must set securityContext.capabilities.drop=["ALL"]; '
        'containers "a", "b", "c" must not include "BAR", "BAZ", "CHOWN", "FOO" in '
        "securityContext.capabilities.add",
    )
    assert failed(r.capabilities_restricted, spec(c("a")))[1] == (
        'container "a" must set securityContext.capabilities.drop=["ALL"]'
    )


def test_restricted_volumes() -> None:
    allowed = [
        {"name": n, key: {}}
        for n, key in [
            ("a", "configMap"),
            ("b", "csi"),
            ("c", "downwardAPI"),
            ("d", "emptyDir"),
            ("e", "ephemeral"),
            ("f", "persistentVolumeClaim"),
            ("g", "projected"),
            ("h", "secret"),
        ]
    ]
    assert run(r.restricted_volumes, spec(c("a"), volumes=allowed)).allowed
    s = spec(
        c("a"),
        volumes=[
            {"name": "a", "hostPath": {"path": "/"}},
            {"name": "b", "nfs": {"server": "x", "path": "/"}},
            {"name": "ok", "emptyDir": {}},
            {"name": "c", "image": {"reference": "x"}},
        ],
    )
    assert failed(r.restricted_volumes, s) == (
        "restricted volume types",
        'volumes "a", "b", "c" use restricted volume types "hostPath", "nfs", "unknown"',
    )
    one = spec(c("a"), volumes=[{"name": "g", "gitRepo": {"repository": "x"}}])
    assert failed(r.restricted_volumes, one)[1] == (
        'volume "g" uses restricted volume type "gitRepo"'
    )


def test_run_as_non_root() -> None:
    assert run(r.run_as_non_root, spec(c("a"), securityContext={"runAsNonRoot": True})).allowed
    assert run(r.run_as_non_root, spec(c("a", runAsNonRoot=True))).allowed
    assert failed(r.run_as_non_root, spec(c("a"))) == (
        "runAsNonRoot != true",
        'pod or container "a" must set securityContext.runAsNonRoot=true',
    )
    s = spec(
        c("a"),
        c("c", runAsNonRoot=False),
        c("d", runAsNonRoot=False),
        securityContext={"runAsNonRoot": True},
    )
    assert failed(r.run_as_non_root, s)[1] == (
        'containers "c", "d" must not set securityContext.runAsNonRoot=false'
    )
    s = spec(c("a", runAsNonRoot=True), securityContext={"runAsNonRoot": False})
    assert failed(r.run_as_non_root, s)[1] == (
        "pod must not set securityContext.runAsNonRoot=false"
    )
    s = spec(c("a"), c("b"), securityContext={"runAsNonRoot": False})
    assert failed(r.run_as_non_root, s)[1] == (
        "pod must not set securityContext.runAsNonRoot=false"
    )


def test_run_as_user() -> None:
    ok = spec(c("a", runAsUser=1000), securityContext={"runAsUser": 1})
    assert run(r.run_as_user, ok).allowed
    assert run(r.run_as_user, spec(c("a"))).allowed
    s = spec(c("a"), c("c", runAsUser=0), c("d", runAsUser=0))
    assert failed(r.run_as_user, s) == (
        "runAsUser=0",
        'containers "c", "d" must not set runAsUser=0',
    )
    s = spec(c("a"), securityContext={"runAsUser": 0})
    assert failed(r.run_as_user, s)[1] == "pod must not set runAsUser=0"


def test_seccomp_restricted() -> None:
    ok = spec(c("a"), securityContext={"seccompProfile": {"type": "RuntimeDefault"}})
    assert run(r.seccomp_restricted, ok).allowed
    ok = spec(c("a", seccompProfile={"type": "Localhost", "localhostProfile": "p"}))
    assert run(r.seccomp_restricted, ok).allowed
    assert failed(r.seccomp_restricted, spec(c("a"), c("b"))) == (
        "seccompProfile",
        'pod or containers "a", "b" must set securityContext.seccompProfile.type to '
        '"RuntimeDefault" or "Localhost"',
    )
    s = spec(
        c("a"),
        c("c", seccompProfile={"type": "Unconfined"}),
        c("d", seccompProfile={"type": "Unconfined"}),
    )
    # explicit bad values are reported before the implicit ones
    assert failed(r.seccomp_restricted, s)[1] == (
        'containers "c", "d" must not set securityContext.seccompProfile.type to "Unconfined"'
    )


def test_windows_pods_skip_linux_only_restricted_checks() -> None:
    windows = spec(c("a"), os={"name": "windows"})
    for check in r.RESTRICTED_CHECKS:
        latest = check.versions[-1]
        if latest.minimum_minor == 25:
            assert run(latest.check, windows).allowed, check.id
            assert not run(check.versions[0].check, windows).allowed, check.id
