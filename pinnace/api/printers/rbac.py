"""Table columns for rbac.authorization.k8s.io/v1, as ``kubectl get`` shows
them against a v1.32 API server (upstream's ``printRole``,
``printRoleBinding`` and their cluster-scoped twins)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pinnace.api.printers import AGE, NAME, dig, parse_time
from pinnace.api.schema import Column

Obj = Mapping[str, Any]


def created_at(o: Obj) -> str:
    """The creation timestamp in RFC 3339 UTC, as the CREATED AT column shows it."""
    t = parse_time(dig(o, "metadata", "creationTimestamp"))
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else ""


def role_ref(o: Obj) -> str:
    return f"{dig(o, 'roleRef', 'kind', default='')}/{dig(o, 'roleRef', 'name', default='')}"


def subjects_by_kind(o: Obj) -> tuple[list[str], list[str], list[str]]:
    """(users, groups, service accounts as ``namespace/name``) of a binding,
    like upstream's ``rbac.SubjectsStrings``."""
    users: list[str] = []
    groups: list[str] = []
    sas: list[str] = []
    for s in dig(o, "subjects", default=[]):
        kind, sname = s.get("kind"), str(s.get("name", ""))
        if kind == "ServiceAccount":
            sas.append(f"{s.get('namespace', '')}/{sname}")
        elif kind == "User":
            users.append(sname)
        elif kind == "Group":
            groups.append(sname)
    return users, groups, sas


ROLE_COLUMNS = (
    NAME,
    Column("Created At", "date", "When the object was created (RFC 3339).", created_at),
)

ROLEBINDING_COLUMNS = (
    NAME,
    Column("Role", "string", "The role this binding grants, as kind/name.", role_ref),
    AGE,
    Column(
        "Users",
        "string",
        "Users the role is granted to.",
        lambda o: ", ".join(subjects_by_kind(o)[0]),
        priority=1,
    ),
    Column(
        "Groups",
        "string",
        "Groups the role is granted to.",
        lambda o: ", ".join(subjects_by_kind(o)[1]),
        priority=1,
    ),
    Column(
        "ServiceAccounts",
        "string",
        "Service accounts the role is granted to.",
        lambda o: ", ".join(subjects_by_kind(o)[2]),
        priority=1,
    ),
)
