"""The cluster's PKI: a CA, the API server's serving certificate, client
certificates, and kubeconfig files that carry them.

Everything lives in one directory (``<data-dir>/pki``)::

    ca.crt  ca.key          cluster CA (ECDSA P-256, CN pinnace-ca)
    server.crt server.key   serving certificate of the API server
    admin.crt admin.key     client certificate CN=system:admin, O=system:masters
    apiserver-kubelet-client.crt/.key
                            the API server's client certificate towards kubelets
                            (CN=kube-apiserver-kubelet-client, O=system:masters)

:func:`ensure_pki` creates what is missing on the first start and reuses it on
later ones. The serving certificate is issued again when the set of names it
must carry changes, when it expires within 30 days, or when it was not signed
by the current CA; the admin and kubelet-client certificates likewise (minus
the names). The CA
itself is never replaced once it exists: clients trust it, and silently
swapping it would lock every one of them out.

Validity is a parameter everywhere, never a hidden constant; the defaults are
:data:`DEFAULT_CA_VALIDITY` (10 years, for a CA created now),
:data:`DEFAULT_CERT_VALIDITY` (1 year, serving/admin/kubelet-client and
issued client certificates) and a renewal window of
:data:`DEFAULT_RENEW_BEFORE` (30 days, or a third of the validity when that
is shorter). No certificate outlives the CA that signed it: its end is
capped at the CA's.

Private keys are written 0600 and every file is written atomically (temporary
file + rename), so a crash never leaves a half-written key behind.

Concurrency model: plain blocking file I/O and CPU work (a few milliseconds
per key); callers in an event loop run it once at start-up, before serving.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pinnace.apiserver.certvalidity import (
    DEFAULT_CA_VALIDITY,
    DEFAULT_CERT_VALIDITY,
    DEFAULT_RENEW_BEFORE,
)
from pinnace.fileutil import atomic_write

__all__ = [
    "ADMIN_GROUP",
    "ADMIN_USER",
    "CA_COMMON_NAME",
    "DEFAULT_CA_VALIDITY",
    "DEFAULT_CERT_VALIDITY",
    "DEFAULT_RENEW_BEFORE",
    "KUBELET_CLIENT_USER",
    "CertificateError",
    "Pki",
    "default_server_names",
    "ensure_pki",
    "issue_client_cert",
    "kubeconfig_text",
    "write_admin_kubeconfig",
    "write_kubeconfig",
]

CA_COMMON_NAME = "pinnace-ca"
SERVER_COMMON_NAME = "pinnace-apiserver"
ADMIN_USER = "system:admin"
ADMIN_GROUP = "system:masters"
#: who the API server is when it calls a kubelet (upstream kubeadm's name)
KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"

# kept for callers of the old names
CA_VALIDITY = DEFAULT_CA_VALIDITY
RENEW_BEFORE = DEFAULT_RENEW_BEFORE
# Certificates start a little in the past so that a client whose clock is
# slightly behind does not reject a certificate issued a second ago.
CLOCK_SKEW = dt.timedelta(minutes=5)

# Names every serving certificate carries: loopback, and the names pods use for
# the API server (the `kubernetes` service and its first service-CIDR address).
_FIXED_SERVER_NAMES = (
    "localhost",
    "127.0.0.1",
    "::1",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "10.96.0.1",
)


class CertificateError(Exception):
    """The PKI directory holds something pinnace cannot use (a CA key without
    its certificate, an unreadable key, ...). The message says what and where."""


@dataclass(frozen=True, slots=True)
class Pki:
    """Paths of the files in one PKI directory."""

    dir: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    admin_cert: Path
    admin_key: Path
    kubelet_client_cert: Path
    kubelet_client_key: Path

    @classmethod
    def at(cls, pki_dir: Path) -> Pki:
        d = Path(pki_dir)
        return cls(
            dir=d,
            ca_cert=d / "ca.crt",
            ca_key=d / "ca.key",
            server_cert=d / "server.crt",
            server_key=d / "server.key",
            admin_cert=d / "admin.crt",
            admin_key=d / "admin.key",
            kubelet_client_cert=d / "apiserver-kubelet-client.crt",
            kubelet_client_key=d / "apiserver-kubelet-client.key",
        )

    def ca_pem(self) -> bytes:
        return self.ca_cert.read_bytes()


# --------------------------------------------------------------------------
# public entry points


def default_server_names(hosts: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Every name the serving certificate must carry: the fixed ones, this
    machine's hostname and the caller's ``hosts`` (deduplicated, in order)."""
    names: list[str] = []
    for name in (*_FIXED_SERVER_NAMES, socket.gethostname(), *hosts):
        name = _normalize_name(name)
        if name and name not in names and not _is_unspecified(name):
            names.append(name)
    return names


def ensure_pki(
    pki_dir: Path,
    *,
    hosts: list[str],
    validity_days: int | None = None,
    cert_validity: dt.timedelta = DEFAULT_CERT_VALIDITY,
    ca_validity: dt.timedelta = DEFAULT_CA_VALIDITY,
    renew_before: dt.timedelta | None = None,
) -> Pki:
    """Create or reuse the PKI in ``pki_dir`` and return its paths.

    ``hosts`` are extra DNS names or IP addresses for the serving certificate
    (``--tls-san``, the bind address; 0.0.0.0 and :: are skipped).
    Certificates other than the CA are valid for ``cert_validity`` (or
    ``validity_days``, when given); a CA created now for ``ca_validity``.
    Existing leaf certificates are kept unless they expire within
    ``renew_before`` (default: 30 days, or a third of ``cert_validity`` if
    shorter). Raises :class:`CertificateError` when the directory holds files
    it cannot use, :class:`OSError` when it cannot be written.
    """
    pki = Pki.at(pki_dir)
    pki.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = _now()
    validity = dt.timedelta(days=validity_days) if validity_days is not None else cert_validity
    _check_validity(validity, "certificate validity")
    _check_validity(ca_validity, "CA validity")
    renew = renew_before if renew_before is not None else min(DEFAULT_RENEW_BEFORE, validity / 3)

    ca_cert, ca_key = _ensure_ca(pki, now, ca_validity)

    names = default_server_names(hosts)
    server = _load_cert_if_usable(pki.server_cert, pki.server_key, ca_cert, now, renew)
    if server is None or _cert_names(server) != set(names):
        key = _new_key()
        cert = _issue(
            ca_cert,
            ca_key,
            key,
            subject=_name(SERVER_COMMON_NAME, []),
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            now=now,
            validity=validity,
            sans=names,
        )
        _write_key_and_cert(pki.server_key, pki.server_cert, key, cert)

    for cert_path, key_path, user in (
        (pki.admin_cert, pki.admin_key, ADMIN_USER),
        (pki.kubelet_client_cert, pki.kubelet_client_key, KUBELET_CLIENT_USER),
    ):
        client = _load_cert_if_usable(cert_path, key_path, ca_cert, now, renew)
        if client is None or _identity(client) != (user, [ADMIN_GROUP]):
            key = _new_key()
            cert = _issue(
                ca_cert,
                ca_key,
                key,
                subject=_name(user, [ADMIN_GROUP]),
                usage=ExtendedKeyUsageOID.CLIENT_AUTH,
                now=now,
                validity=validity,
            )
            _write_key_and_cert(key_path, cert_path, key, cert)
    return pki


def issue_client_cert(
    pki: Pki,
    cn: str,
    groups: list[str] | tuple[str, ...],
    validity_days: int | None = None,
    *,
    validity: dt.timedelta = DEFAULT_CERT_VALIDITY,
) -> tuple[bytes, bytes]:
    """Issue a client certificate signed by the cluster CA for user ``cn`` in
    ``groups`` (the subject's O entries, as Kubernetes reads them), valid for
    ``validity`` (or ``validity_days``, when given; never past the CA's end).
    Returns ``(cert_pem, key_pem)``; nothing is written to disk."""
    if not cn:
        raise ValueError("a client certificate needs a common name (the user name)")
    if validity_days is not None:
        validity = dt.timedelta(days=validity_days)
    _check_validity(validity, "certificate validity")
    ca_cert, ca_key = _load_ca(pki)
    key = _new_key()
    cert = _issue(
        ca_cert,
        ca_key,
        key,
        subject=_name(cn, list(groups)),
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        now=_now(),
        validity=validity,
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    ca_pem: bytes,
    cert_pem: bytes,
    key_pem: bytes,
    user: str,
    cluster: str = "pinnace",
    context: str = "pinnace",
) -> None:
    """Write a self-contained kubeconfig (certificates embedded as ``*-data``)
    to ``path``, mode 0600, atomically."""
    text = kubeconfig_text(
        server=server,
        ca_pem=ca_pem,
        cert_pem=cert_pem,
        key_pem=key_pem,
        user=user,
        cluster=cluster,
        context=context,
    )
    atomic_write(Path(path), text.encode("utf-8"), mode=0o600)


def kubeconfig_text(
    *,
    server: str,
    ca_pem: bytes,
    cert_pem: bytes,
    key_pem: bytes,
    user: str,
    cluster: str = "pinnace",
    context: str = "pinnace",
) -> str:
    """A self-contained kubeconfig (YAML) for a client certificate."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": cluster,
                "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(cert_pem),
                    "client-key-data": b64(key_pem),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
    }
    return yaml.safe_dump(doc, default_flow_style=False, sort_keys=False)


def write_admin_kubeconfig(pki: Pki, path: Path, *, server: str) -> None:
    """Write the admin kubeconfig (``<data-dir>/admin.kubeconfig``) from the
    admin certificate in ``pki``."""
    write_kubeconfig(
        path,
        server=server,
        ca_pem=pki.ca_pem(),
        cert_pem=pki.admin_cert.read_bytes(),
        key_pem=pki.admin_key.read_bytes(),
        user="admin",
        cluster="pinnace",
        context="pinnace",
    )


# --------------------------------------------------------------------------
# CA


def _ensure_ca(
    pki: Pki, now: dt.datetime, validity: dt.timedelta = DEFAULT_CA_VALIDITY
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    have_cert, have_key = pki.ca_cert.exists(), pki.ca_key.exists()
    if have_cert and have_key:
        return _load_ca(pki)
    if have_cert or have_key:
        present, missing = (pki.ca_cert, pki.ca_key) if have_cert else (pki.ca_key, pki.ca_cert)
        raise CertificateError(
            f"{present} exists but {missing} does not; restore it, or remove "
            f"{pki.dir} to create a new cluster CA (existing kubeconfigs stop working)"
        )
    key = _new_key()
    subject = _name(CA_COMMON_NAME, [])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    # A fresh CA invalidates everything it did not sign: drop the old leaves.
    for stale in (
        pki.server_cert,
        pki.server_key,
        pki.admin_cert,
        pki.admin_key,
        pki.kubelet_client_cert,
        pki.kubelet_client_key,
    ):
        stale.unlink(missing_ok=True)
    _write_key_and_cert(pki.ca_key, pki.ca_cert, key, cert)
    return cert, key


def _load_ca(pki: Pki) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    except ValueError as e:
        raise CertificateError(f"cannot read the cluster CA in {pki.dir}: {e}") from e
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"{pki.ca_key} is not an ECDSA key")
    if cert.public_key() != key.public_key():
        raise CertificateError(f"{pki.ca_key} does not belong to {pki.ca_cert}")
    return cert, key


# --------------------------------------------------------------------------
# leaf certificates


def _issue(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    *,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    now: dt.datetime,
    validity: dt.timedelta,
    sans: list[str] | None = None,
) -> x509.Certificate:
    not_after = min(now + validity, ca_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in sans]), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256())


def _load_cert_if_usable(
    cert_path: Path,
    key_path: Path,
    ca_cert: x509.Certificate,
    now: dt.datetime,
    renew_before: dt.timedelta = DEFAULT_RENEW_BEFORE,
) -> x509.Certificate | None:
    """The certificate at ``cert_path`` if it can be kept: readable, matching
    its key, signed by ``ca_cert`` and valid for longer than ``renew_before``."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if cert.public_key() != key.public_key():
        return None
    if cert.issuer != ca_cert.subject:
        return None
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return None
    if cert.not_valid_after_utc - now < renew_before:
        return None
    return cert


def _check_validity(validity: dt.timedelta, what: str) -> None:
    if validity <= dt.timedelta(0):
        raise ValueError(f"{what} must be positive, not {validity}")


def _cert_names(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    names = {str(n) for n in san.get_values_for_type(x509.DNSName)}
    names |= {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return names


def _identity(cert: x509.Certificate) -> tuple[str, list[str]]:
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    cn = str(cns[0].value) if cns else ""
    return cn, [str(o.value) for o in orgs]


def _name(cn: str, groups: list[str]) -> x509.Name:
    # One RDN per attribute: Kubernetes reads every O as a group.
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _normalize_name(name: str) -> str:
    name = name.strip()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name.lower().rstrip(".")


def _is_unspecified(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_unspecified
    except ValueError:
        return False


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


# --------------------------------------------------------------------------
# keys and files


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_key_and_cert(
    key_path: Path, cert_path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> None:
    atomic_write(key_path, _key_pem(key), mode=0o600)
    atomic_write(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
