"""The security flags of ``pinnace server`` and ``pinnace up``, named as
kube-apiserver names them: authorization mode, anonymous requests, static
token file, service account token issuer and lifetime cap, encryption at
rest, audit policy and log, admission plugin switches."""

from __future__ import annotations

import argparse
from typing import Any

from pinnace.apiserver.certvalidity import DEFAULT_CA_VALIDITY, DEFAULT_CERT_VALIDITY
from pinnace.cli.credentials import duration_arg

AUTHZ_MODES = ("AlwaysAllow", "AlwaysDeny", "Node", "RBAC")


def _mode(text: str) -> str:
    names = [n.strip() for n in text.split(",") if n.strip()]
    for n in names:
        if n not in AUTHZ_MODES:
            raise argparse.ArgumentTypeError(
                f"unknown authorization mode {n!r}: choose from {', '.join(AUTHZ_MODES)}"
            )
    if not names:
        raise argparse.ArgumentTypeError("at least one authorization mode is required")
    return ",".join(names)


def _bool(text: str) -> bool:
    t = text.lower()
    if t in ("true", "1", "yes"):
        return True
    if t in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    t = text.strip()
    try:
        if t and t[-1] in units:
            return float(t[:-1]) * units[t[-1]]
        return float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r} (like 3600s, 60m, 24h, 30d)"
        ) from None


def _list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def add_security_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("security")
    g.add_argument(
        "--authorization-mode",
        type=_mode,
        default="Node,RBAC",
        metavar="LIST",
        help="authorizers in order: AlwaysAllow, AlwaysDeny, Node, RBAC (default Node,RBAC)",
    )
    g.add_argument(
        "--anonymous-auth",
        type=_bool,
        default=True,
        metavar="BOOL",
        help="requests without credentials act as system:anonymous (default true; "
        "RBAC grants anonymous only the health and version endpoints)",
    )
    g.add_argument(
        "--token-auth-file",
        default="",
        metavar="FILE",
        help='static bearer tokens, CSV lines: token,user,uid,"group1,group2"',
    )
    g.add_argument(
        "--service-account-issuer",
        default="https://kubernetes.default.svc.cluster.local",
        metavar="URL",
        help="the iss claim of service account tokens",
    )
    g.add_argument(
        "--service-account-max-token-expiration",
        type=_duration,
        default=0.0,
        metavar="DURATION",
        help="the longest lifetime a requested token gets (default: no cap)",
    )
    g.add_argument(
        "--encryption-provider-config",
        default="",
        metavar="FILE",
        help="an EncryptionConfiguration file: encrypt Secrets (or more) at rest",
    )
    g.add_argument(
        "--audit-policy-file", default="", metavar="FILE", help="an audit.k8s.io/v1 Policy file"
    )
    g.add_argument(
        "--audit-log-path", default="", metavar="FILE", help="audit log file ('-' for stdout)"
    )
    g.add_argument("--audit-log-maxsize", type=int, default=100, metavar="MB")
    g.add_argument("--audit-log-maxbackup", type=int, default=10, metavar="N")
    g.add_argument("--audit-log-maxage", type=int, default=0, metavar="DAYS")
    g.add_argument(
        "--cert-validity",
        type=duration_arg,
        default=DEFAULT_CERT_VALIDITY,
        metavar="DURATION",
        help="lifetime of the serving, admin and kubelet-client certificates (default 365d); "
        "they are issued again at start when they near their end",
    )
    g.add_argument(
        "--ca-validity",
        type=duration_arg,
        default=DEFAULT_CA_VALIDITY,
        metavar="DURATION",
        help="lifetime of the cluster CA when it is created (default 3650d)",
    )
    g.add_argument(
        "--admission-control-config-file",
        default="",
        metavar="FILE",
        help="an AdmissionConfiguration with plugin settings (PodSecurity's defaults "
        "and exemptions)",
    )
    g.add_argument(
        "--disable-admission-plugins",
        type=_list,
        default=(),
        metavar="LIST",
        help="admission plugins to switch off (e.g. PodSecurity,ResourceQuota)",
    )


def security_config(args: argparse.Namespace) -> dict[str, Any]:
    """ServerConfig keyword arguments for the flags above."""
    return {
        "authorization_mode": getattr(args, "authorization_mode", "Node,RBAC"),
        "anonymous_auth": getattr(args, "anonymous_auth", True),
        "token_auth_file": getattr(args, "token_auth_file", ""),
        "service_account_issuer": getattr(
            args, "service_account_issuer", "https://kubernetes.default.svc.cluster.local"
        ),
        "service_account_max_token_expiration": getattr(
            args, "service_account_max_token_expiration", 0.0
        ),
        "encryption_provider_config": getattr(args, "encryption_provider_config", ""),
        "audit_policy_file": getattr(args, "audit_policy_file", ""),
        "audit_log_path": getattr(args, "audit_log_path", ""),
        "audit_log_maxsize": getattr(args, "audit_log_maxsize", 100),
        "audit_log_maxbackup": getattr(args, "audit_log_maxbackup", 10),
        "audit_log_maxage": getattr(args, "audit_log_maxage", 0),
        "admission_control_config_file": getattr(args, "admission_control_config_file", ""),
        "disable_admission_plugins": tuple(getattr(args, "disable_admission_plugins", ())),
        "cert_validity": getattr(args, "cert_validity", DEFAULT_CERT_VALIDITY),
        "ca_validity": getattr(args, "ca_validity", DEFAULT_CA_VALIDITY),
    }


__all__ = ["add_security_flags", "security_config"]
