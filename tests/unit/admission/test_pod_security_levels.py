"""Namespace labels → Pod Security policy, config parsing, and which checks a
level-version runs (order, overrides, versions)."""

from __future__ import annotations

import pytest

from pinnace.apiserver.admission.pod_security import (
    Evaluator,
    Level,
    LevelVersion,
    PodSecurityConfig,
    Policy,
    Version,
)
from pinnace.apiserver.admission.pod_security.levels import LATEST, policy_from_labels

P = "pod-security.kubernetes.io/"
PRIV = LevelVersion(Level.PRIVILEGED)


def test_no_labels_uses_defaults() -> None:
    defaults = Policy(LevelVersion(Level.BASELINE, Version(30)), PRIV, PRIV)
    assert policy_from_labels({}, defaults) == (defaults, [])
    assert policy_from_labels({"app": "x"}, defaults) == (defaults, [])


def test_labels_select_levels_and_versions() -> None:
    policy, errs = policy_from_labels(
        {
            P + "enforce": "baseline",
            P + "enforce-version": "v1.25",
            P + "audit": "restricted",
            P + "warn": "restricted",
            P + "warn-version": "latest",
        },
        Policy(),
    )
    assert errs == []
    assert str(policy.enforce) == "baseline:v1.25"
    assert str(policy.audit) == "restricted:latest"
    assert str(policy.warn) == "restricted:latest"


def test_warn_follows_a_stricter_enforce() -> None:
    policy, _ = policy_from_labels({P + "enforce": "restricted"}, Policy())
    assert policy.warn == LevelVersion(Level.RESTRICTED, LATEST)
    policy, _ = policy_from_labels(
        {P + "enforce": "baseline", P + "enforce-version": "v1.20"}, Policy()
    )
    assert str(policy.warn) == "baseline:v1.20"
    # an explicit warn level wins
    policy, _ = policy_from_labels({P + "enforce": "restricted", P + "warn": "baseline"}, Policy())
    assert policy.warn.level is Level.BASELINE
    # a warn version label is kept
    policy, _ = policy_from_labels(
        {P + "enforce": "restricted", P + "warn-version": "v1.22"}, Policy()
    )
    assert str(policy.warn) == "restricted:v1.22"


def test_invalid_labels_fail_closed_for_enforce_open_for_audit_and_warn() -> None:
    policy, errs = policy_from_labels(
        {
            P + "enforce": "bogus",
            P + "audit": "nope",
            P + "warn": "x",
            P + "enforce-version": "1.25",
        },
        Policy(),
    )
    assert policy.enforce == LevelVersion(Level.RESTRICTED, LATEST)
    assert policy.audit.level is Level.PRIVILEGED
    assert policy.warn.level is Level.PRIVILEGED
    assert [str(e) for e in errs] == [
        'metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "bogus": '
        "must be one of privileged, baseline, restricted",
        'metadata.labels[pod-security.kubernetes.io/enforce-version]: Invalid value: "1.25": '
        'must be "latest" or "v1.x"',
        'metadata.labels[pod-security.kubernetes.io/audit]: Invalid value: "nope": '
        "must be one of privileged, baseline, restricted",
        'metadata.labels[pod-security.kubernetes.io/warn]: Invalid value: "x": '
        "must be one of privileged, baseline, restricted",
    ]


@pytest.mark.parametrize("bad", ["v2.1", "v1.01", "v1", "v1.x", "1.2", "Latest"])
def test_bad_versions(bad: str) -> None:
    _, errs = policy_from_labels({P + "warn-version": bad}, Policy())
    assert len(errs) == 1


def test_config_from_document() -> None:
    cfg = PodSecurityConfig.from_dict(
        {
            "apiVersion": "pod-security.admission.config.k8s.io/v1",
            "kind": "PodSecurityConfiguration",
            "defaults": {"enforce": "baseline", "enforce-version": "v1.29", "warn": "restricted"},
            "exemptions": {"usernames": ["u"], "namespaces": ["kube-system"], "runtimeClasses": []},
        }
    )
    assert str(cfg.defaults.enforce) == "baseline:v1.29"
    assert str(cfg.defaults.audit) == "privileged:latest"
    assert str(cfg.defaults.warn) == "restricted:latest"
    assert cfg.exempt_namespaces == {"kube-system"}
    assert cfg.exempt_usernames == {"u"}
    with pytest.raises(ValueError, match="must be one of"):
        PodSecurityConfig.from_dict({"defaults": {"audit": "strict"}})
    with pytest.raises(ValueError, match=r"v1\.x"):
        PodSecurityConfig.from_dict({"defaults": {"audit-version": "2"}})


def _names(ev: Evaluator, lv: LevelVersion) -> list[str]:
    return [fn.__qualname__.split(".")[0] for fn in ev.checks_for(lv)]


def test_checks_run_in_upstream_order_with_overrides() -> None:
    ev = Evaluator()
    assert ev.max_minor == 32
    assert ev.checks_for(PRIV) == []
    baseline = _names(ev, LevelVersion(Level.BASELINE))
    assert baseline == [
        "app_armor_profile",
        "capabilities_baseline",
        "host_namespaces",
        "host_path_volumes",
        "host_ports",
        "privileged",
        "proc_mount",
        "_se_linux_options",
        "seccomp_baseline",
        "_sysctls",
        "windows_host_process",
    ]
    restricted = _names(ev, LevelVersion(Level.RESTRICTED))
    # capabilities_baseline, hostPathVolumes and seccompProfile_baseline are replaced
    assert restricted == [
        "app_armor_profile",
        "host_namespaces",
        "host_ports",
        "privileged",
        "proc_mount",
        "_se_linux_options",
        "_sysctls",
        "windows_host_process",
        "unless_windows",  # allowPrivilegeEscalation (v1.25+)
        "unless_windows",  # capabilities_restricted
        "restricted_volumes",
        "run_as_non_root",
        "run_as_user",
        "unless_windows",  # seccompProfile_restricted
    ]


def test_old_versions_run_old_checks() -> None:
    ev = Evaluator()
    old = _names(ev, LevelVersion(Level.RESTRICTED, Version(18)))
    # before v1.19 seccomp is checked on annotations, before v1.22 capabilities at baseline,
    # before v1.23 runAsUser=0 is not checked
    assert "seccomp_baseline_annotations" in old
    assert "capabilities_baseline" in old
    assert "run_as_user" not in old
    assert "allow_privilege_escalation" in old
    # versions past the newest check behave as the newest
    assert ev.checks_for(LevelVersion(Level.BASELINE, Version(40))) == ev.checks_for(
        LevelVersion(Level.BASELINE, LATEST)
    )
