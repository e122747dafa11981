"""Who a TLS client certificate names: the subject's CN is the user and every
O a group, as Kubernetes reads x509 client certificates. Shared by the API
server's authenticator and the kubelet API, which may not import each other."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["identity_from_peercert"]


def identity_from_peercert(
    peercert: Mapping[str, Any] | None,
) -> tuple[str, list[str]] | None:
    """``(user, groups)`` from a verified peer certificate as returned by
    :meth:`ssl.SSLSocket.getpeercert`, or None when there is no certificate or
    it names no user."""
    if not peercert:
        return None
    user = ""
    groups: list[str] = []
    for rdn in peercert.get("subject", ()):
        for attr, value in rdn:
            if attr == "commonName" and not user:
                user = value
            elif attr == "organizationName":
                groups.append(value)
    if not user:
        return None
    return user, groups
