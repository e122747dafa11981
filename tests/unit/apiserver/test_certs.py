"""The cluster PKI (pinnace.apiserver.certs) and the TLS glue (tls.py)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import shutil
import socket
import ssl
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pinnace.apiserver import certs
from pinnace.apiserver.certs import CertificateError, Pki, ensure_pki, issue_client_cert
from pinnace.apiserver.clientcerts import ClientCertificateVerifier
from pinnace.apiserver.handshake import defer_client_certificate_verification
from pinnace.apiserver.tls import identity_from_peercert, local_server_url, server_ssl_context

KEY_FILES = ("ca.key", "server.key", "admin.key")
CERT_FILES = ("ca.crt", "server.crt", "admin.crt")


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def sans(cert: x509.Certificate) -> set[str]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n) for n in ext.get_values_for_type(x509.DNSName)} | {
        str(ip) for ip in ext.get_values_for_type(x509.IPAddress)
    }


def subject(cert: x509.Certificate) -> tuple[str, list[str]]:
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    orgs = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return str(cn), orgs


def mtimes(pki: Pki) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in pki.dir.iterdir()}


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return ensure_pki(tmp_path / "pki", hosts=["api.example.test", "192.0.2.10"])


# --------------------------------------------------------------------------
# files, CA, serving and admin certificates


def test_first_start_writes_every_file_with_private_keys_0600(pki: Pki) -> None:
    for name in KEY_FILES:
        assert stat.S_IMODE((pki.dir / name).stat().st_mode) == 0o600, name
    for name in CERT_FILES:
        assert (pki.dir / name).is_file(), name
    assert stat.S_IMODE(pki.dir.stat().st_mode) == 0o700
    assert not [p for p in pki.dir.iterdir() if p.name.startswith(".")], "temp files left"


def test_ca_is_a_ten_year_ecdsa_ca(pki: Pki) -> None:
    ca = load(pki.ca_cert)
    assert subject(ca) == ("pinnace-ca", [])
    assert ca.issuer == ca.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert lifetime >= dt.timedelta(days=3650)


def test_serving_certificate_names(pki: Pki) -> None:
    server = load(pki.server_cert)
    names = sans(server)
    for expected in (
        "localhost",
        "127.0.0.1",
        "::1",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "10.96.0.1",
        socket.gethostname().lower(),
        "api.example.test",
        "192.0.2.10",
    ):
        assert expected in names, expected
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    server.verify_directly_issued_by(load(pki.ca_cert))


def test_wildcard_bind_addresses_are_not_names(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path, hosts=["0.0.0.0", "::", "[2001:db8::1]"])
    names = sans(load(pki.server_cert))
    assert "0.0.0.0" not in names and "::" not in names
    assert "2001:db8::1" in names


def test_admin_certificate_is_system_admin_in_system_masters(pki: Pki) -> None:
    admin = load(pki.admin_cert)
    assert subject(admin) == ("system:admin", ["system:masters"])
    eku = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku
    admin.verify_directly_issued_by(load(pki.ca_cert))


def test_second_start_reuses_everything(pki: Pki) -> None:
    before = mtimes(pki)
    again = ensure_pki(pki.dir, hosts=["192.0.2.10", "API.example.test"])
    assert again == pki
    assert mtimes(pki) == before


def test_changed_names_reissue_only_the_serving_certificate(pki: Pki) -> None:
    before = mtimes(pki)
    old_serial = load(pki.server_cert).serial_number
    ensure_pki(pki.dir, hosts=["other.example.test"])
    after = mtimes(pki)
    assert load(pki.server_cert).serial_number != old_serial
    assert "other.example.test" in sans(load(pki.server_cert))
    assert "api.example.test" not in sans(load(pki.server_cert))
    for name in ("ca.crt", "ca.key", "admin.crt", "admin.key"):
        assert after[name] == before[name], name


def test_certificates_close_to_expiry_are_reissued(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path, hosts=[], validity_days=20)  # < 30 days left
    ca_serial = load(pki.ca_cert).serial_number
    serials = (load(pki.server_cert).serial_number, load(pki.admin_cert).serial_number)
    ensure_pki(tmp_path, hosts=[])
    assert load(pki.ca_cert).serial_number == ca_serial
    assert load(pki.server_cert).serial_number != serials[0]
    assert load(pki.admin_cert).serial_number != serials[1]
    # ... and now valid for the default year, so the next start keeps them.
    before = mtimes(pki)
    ensure_pki(tmp_path, hosts=[])
    assert mtimes(pki) == before


def test_leaf_not_signed_by_the_ca_is_reissued(pki: Pki, tmp_path: Path) -> None:
    foreign = ensure_pki(tmp_path / "other", hosts=["api.example.test", "192.0.2.10"])
    shutil.copy(foreign.server_cert, pki.server_cert)
    shutil.copy(foreign.server_key, pki.server_key)
    ensure_pki(pki.dir, hosts=["api.example.test", "192.0.2.10"])
    load(pki.server_cert).verify_directly_issued_by(load(pki.ca_cert))


def test_half_a_ca_is_an_error_not_a_new_ca(pki: Pki) -> None:
    pki.ca_key.unlink()
    with pytest.raises(CertificateError, match=r"ca\.crt exists but .*ca\.key does not"):
        ensure_pki(pki.dir, hosts=[])
    assert pki.ca_cert.exists()


def test_ca_key_that_does_not_match_is_an_error(pki: Pki, tmp_path: Path) -> None:
    foreign = ensure_pki(tmp_path / "other", hosts=[])
    shutil.copy(foreign.ca_key, pki.ca_key)
    with pytest.raises(CertificateError, match="does not belong"):
        ensure_pki(pki.dir, hosts=[])


def test_issue_client_cert(pki: Pki) -> None:
    cert_pem, key_pem = issue_client_cert(pki, "jane", ["dev", "ops"], validity_days=7)
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert subject(cert) == ("jane", ["dev", "ops"])
    cert.verify_directly_issued_by(load(pki.ca_cert))
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=7) <= lifetime <= dt.timedelta(days=7, hours=1)
    assert b"PRIVATE KEY" in key_pem
    with pytest.raises(ValueError):
        issue_client_cert(pki, "", [])


# --------------------------------------------------------------------------
# kubeconfig


def test_kubeconfig_is_self_contained_private_and_parses(pki: Pki, tmp_path: Path) -> None:
    path = tmp_path / "admin.kubeconfig"
    certs.write_admin_kubeconfig(pki, path, server="https://127.0.0.1:6443")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = yaml.safe_load(path.read_text())
    assert doc["kind"] == "Config"
    assert doc["current-context"] == "pinnace"
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == pki.ca_cert.read_bytes()
    user = doc["users"][0]["user"]
    assert base64.b64decode(user["client-certificate-data"]) == pki.admin_cert.read_bytes()
    assert base64.b64decode(user["client-key-data"]) == pki.admin_key.read_bytes()
    assert doc["contexts"][0]["context"] == {"cluster": "pinnace", "user": doc["users"][0]["name"]}


def test_kubeconfig_rewrite_is_atomic_and_keeps_mode(pki: Pki, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "kc"
    cert_pem, key_pem = issue_client_cert(pki, "jane", [])
    for server in ("https://a:1", "https://b:2"):
        certs.write_kubeconfig(
            path,
            server=server,
            ca_pem=pki.ca_pem(),
            cert_pem=cert_pem,
            key_pem=key_pem,
            user="jane",
            cluster="c",
            context="ctx",
        )
    assert yaml.safe_load(path.read_text())["clusters"][0]["cluster"]["server"] == "https://b:2"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(path.parent) == ["kc"]


@pytest.mark.kubectl
def test_kubectl_accepts_the_kubeconfig(pki: Pki, tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed")
    path = tmp_path / "admin.kubeconfig"
    certs.write_admin_kubeconfig(pki, path, server="https://127.0.0.1:6443")
    env = {**os.environ, "HOME": str(tmp_path), "KUBECACHEDIR": str(tmp_path / "cache")}
    env.pop("KUBECONFIG", None)
    out = subprocess.run(
        [kubectl, "config", "view", "--kubeconfig", str(path), "-o", "yaml"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    ).stdout
    view = yaml.safe_load(out)
    assert view["current-context"] == "pinnace"
    assert view["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert view["users"][0]["user"]["client-certificate-data"] == "DATA+OMITTED"


# --------------------------------------------------------------------------
# TLS: the server context and the identity in a client certificate


async def handshake(
    pki: Pki, client_ctx: ssl.SSLContext, server_hostname: str = "localhost"
) -> tuple[str, tuple[str, ...]] | None:
    """Connect once over loopback; return the identity the server's x509
    authenticator finds in the client certificate."""
    seen: asyncio.Future[tuple[str, tuple[str, ...]] | None] = (
        asyncio.get_running_loop().create_future()
    )
    verifier = ClientCertificateVerifier(pki.ca_pem())

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not seen.done():
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            seen.set_result(verifier.identity(der))
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0, ssl=server_ssl_context(pki))
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_ctx, server_hostname=server_hostname
        )
        if await reader.read() != b"ok":
            raise ConnectionError("the server closed the connection")
        writer.close()
        return await asyncio.wait_for(seen, 5)
    finally:
        server.close()
        await server.wait_closed()


def client_context(pki: Pki, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    if cert is not None and key is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


async def test_tls_handshake_with_admin_cert_yields_identity(pki: Pki) -> None:
    ctx = server_ssl_context(pki)
    assert ctx.verify_mode == ssl.CERT_OPTIONAL
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    identity = await handshake(pki, client_context(pki, pki.admin_cert, pki.admin_key))
    assert identity == ("system:admin", ("system:masters",))


async def test_tls_service_names_verify(pki: Pki) -> None:
    identity = await handshake(
        pki,
        client_context(pki, pki.admin_cert, pki.admin_key),
        server_hostname="kubernetes.default.svc",
    )
    assert identity is not None


async def test_tls_issued_client_cert_yields_user_and_groups(pki: Pki, tmp_path: Path) -> None:
    cert_pem, key_pem = issue_client_cert(pki, "jane", ["dev", "ops"])
    (tmp_path / "jane.crt").write_bytes(cert_pem)
    (tmp_path / "jane.key").write_bytes(key_pem)
    ctx = client_context(pki, tmp_path / "jane.crt", tmp_path / "jane.key")
    assert await handshake(pki, ctx) == ("jane", ("dev", "ops"))


async def test_tls_without_client_cert_connects_anonymously(pki: Pki) -> None:
    assert await handshake(pki, client_context(pki)) is None


def test_client_certificate_check_is_deferred_past_the_handshake() -> None:
    """This Python's ssl is one the handshake hook understands (if it were
    not, foreign certificates would be refused in the handshake, not 401)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    assert defer_client_certificate_verification(ctx)


async def test_tls_client_cert_from_another_ca_connects_but_names_no_one(
    pki: Pki, tmp_path: Path
) -> None:
    other = ensure_pki(tmp_path / "other", hosts=[])
    ctx = client_context(pki, other.admin_cert, other.admin_key)
    assert await asyncio.wait_for(handshake(pki, ctx), 5) is None


def test_verifier_refuses_expired_and_server_only_certificates(pki: Pki) -> None:
    verifier = ClientCertificateVerifier(pki.ca_pem())
    ca = x509.load_pem_x509_certificate(pki.ca_pem())
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)

    def cert(not_after: dt.datetime, usage: x509.ObjectIdentifier) -> bytes:
        c = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "carol")]))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=2))
            .not_valid_after(not_after)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
        )
        return c.public_bytes(serialization.Encoding.DER)

    later = now + dt.timedelta(days=1)
    assert verifier.identity(cert(later, ExtendedKeyUsageOID.CLIENT_AUTH)) == ("carol", ())
    assert (
        verifier.identity(cert(now - dt.timedelta(days=1), ExtendedKeyUsageOID.CLIENT_AUTH)) is None
    )
    assert verifier.identity(cert(later, ExtendedKeyUsageOID.SERVER_AUTH)) is None
    assert verifier.identity(b"not a certificate") is None


def test_identity_from_peercert_shapes() -> None:
    assert identity_from_peercert(None) is None
    assert identity_from_peercert({}) is None
    assert identity_from_peercert({"subject": ((("organizationName", "g"),),)}) is None
    peer = {
        "subject": (
            (("organizationName", "system:masters"),),
            (("organizationName", "ops"),),
            (("commonName", "system:admin"),),
        )
    }
    assert identity_from_peercert(peer) == ("system:admin", ["system:masters", "ops"])


def test_local_server_url() -> None:
    assert local_server_url("127.0.0.1", 6443) == "https://127.0.0.1:6443"
    assert local_server_url("0.0.0.0", 6443) == "https://127.0.0.1:6443"
    assert local_server_url("::", 7443) == "https://[::1]:7443"
    assert local_server_url("192.0.2.1", 1) == "https://192.0.2.1:1"
