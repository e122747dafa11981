"""Audit logging (issue 7): upstream's ``audit.k8s.io/v1`` policy file and
JSON-lines events written to a rotating log file.

- :mod:`.policy`: the policy file and which level a request gets;
- :mod:`.event`: the shape of one event;
- :mod:`.logwriter`: the log file, its rotation and the writer thread;
- :mod:`.auditor`: the aiohttp middleware that turns requests into events.

:func:`install` is the one call the API server makes: with no policy file it
does nothing at all (no middleware, no cost per request).

Concurrency model: see :mod:`.auditor` (request tasks) and :mod:`.logwriter`
(one writer thread).
"""

from __future__ import annotations

from aiohttp import web

from pinnace.apiserver.audit.auditor import AUDIT_ID_HEADER, Auditor, request_authenticated
from pinnace.apiserver.audit.logwriter import MEGABYTE, AuditLogWriter
from pinnace.apiserver.audit.policy import Policy, PolicyError, load_policy
from pinnace.apiserver.config import ServerConfig
from pinnace.apiserver.errors import StartupError

__all__ = [
    "AUDIT_ID_HEADER",
    "AuditLogWriter",
    "Auditor",
    "Policy",
    "PolicyError",
    "build_auditor",
    "install",
    "load_policy",
    "request_authenticated",
]


def build_auditor(config: ServerConfig) -> Auditor | None:
    """The auditor ``config`` asks for, or None without ``audit_policy_file``.
    Raises :class:`StartupError` when the policy or the log cannot be used."""
    if not config.audit_policy_file:
        return None
    try:
        policy = load_policy(config.audit_policy_file)
    except PolicyError as e:
        raise StartupError(f"invalid audit policy file: {e}") from e
    if not config.audit_log_path:
        raise StartupError(
            "--audit-policy-file needs --audit-log-path (a file, or - for standard output)"
        )
    for flag, value in (
        ("--audit-log-maxsize", config.audit_log_maxsize),
        ("--audit-log-maxbackup", config.audit_log_maxbackup),
        ("--audit-log-maxage", config.audit_log_maxage),
    ):
        if value < 0:
            raise StartupError(f"{flag} must be 0 or more, not {value}")
    writer = AuditLogWriter(
        config.audit_log_path,
        max_bytes=config.audit_log_maxsize * MEGABYTE,
        max_backups=config.audit_log_maxbackup,
        max_age_days=config.audit_log_maxage,
    )
    try:
        writer.open()
    except OSError as e:
        raise StartupError(
            f"cannot open audit log {config.audit_log_path}: {e.strerror or e}"
        ) from e
    return Auditor(policy, writer)


def install(app: web.Application, config: ServerConfig) -> Auditor | None:
    """Audit ``app``'s requests as ``config`` says; None (and nothing
    changed) when no policy file is configured."""
    auditor = build_auditor(config)
    if auditor is not None:
        auditor.install(app)
    return auditor
