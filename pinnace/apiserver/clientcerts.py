"""Whether a client certificate is good, checked after the handshake (see
:mod:`pinnace.apiserver.handshake`): signed by the cluster CA, within its
validity window, and usable for client authentication. A good certificate
names the user (subject CN) and groups (every subject O), as upstream's
x509 authenticator reads it.

Certificates must be issued directly by the CA: the ``ssl`` module of this
Python cannot hand over intermediates the client sent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["ClientCertificateVerifier"]


@dataclass(frozen=True, slots=True)
class _Checked:
    """What a certificate says once its signature and usage are checked; the
    validity window is compared with the clock at each request."""

    user: str
    groups: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime


class ClientCertificateVerifier:
    def __init__(self, ca_pem: bytes) -> None:
        self.cas = x509.load_pem_x509_certificates(ca_pem) if ca_pem else []
        # the same few certificates come on every request: parse and check
        # the signature once per certificate
        self._check = lru_cache(maxsize=1024)(self._check_uncached)

    def identity(self, der: bytes | None) -> tuple[str, tuple[str, ...]] | None:
        """``(user, groups)`` for a good certificate (DER), else None."""
        if not der:
            return None
        checked = self._check(der)
        if checked is None:
            return None
        now = dt.datetime.now(dt.UTC)
        if not checked.not_before <= now < checked.not_after:
            return None
        return checked.user, checked.groups

    def _check_uncached(self, der: bytes) -> _Checked | None:
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            return None
        if not any(_issued_by(cert, ca) for ca in self.cas):
            return None
        if not _usable_for_client_auth(cert):
            return None
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        user = str(cns[0].value) if cns else ""
        if not user:
            return None
        groups = tuple(
            str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        )
        return _Checked(user, groups, cert.not_valid_before_utc, cert.not_valid_after_utc)


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except Exception:
        return False
    return True


def _usable_for_client_auth(cert: x509.Certificate) -> bool:
    """A certificate that lists extended key usages must list clientAuth (or
    any); one that lists none may be used for anything, as Go's verifier
    treats it."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return (
        ExtendedKeyUsageOID.CLIENT_AUTH in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku
    )
