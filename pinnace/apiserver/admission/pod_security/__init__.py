"""Pod Security Admission: the Pod Security Standards (privileged, baseline,
restricted) enforced, audited and warned about per namespace, as upstream's
``PodSecurity`` admission plugin (k8s.io/pod-security-admission, v1.32 checks).

Modules: ``levels`` (labels → policy), ``checks`` (shared check helpers),
``baseline``/``restricted`` (the checks), ``evaluator`` (which checks a
level-version runs), ``config`` (defaults, exemptions), ``plugin`` (the
admission plugin). Everything is synchronous and in-memory; see ``plugin``.
"""

from __future__ import annotations

from pinnace.apiserver.admission.pod_security.config import PodSecurityConfig
from pinnace.apiserver.admission.pod_security.evaluator import Evaluator, Verdict
from pinnace.apiserver.admission.pod_security.levels import Level, LevelVersion, Policy, Version
from pinnace.apiserver.admission.pod_security.plugin import Decision, PodSecurity

__all__ = [
    "Decision",
    "Evaluator",
    "Level",
    "LevelVersion",
    "PodSecurity",
    "PodSecurityConfig",
    "Policy",
    "Verdict",
    "Version",
]
