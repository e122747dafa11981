"""``python -m pinnace.kubelet.servingcert [--validity-days N] PKI_DIR NODE_NAME
[IP...]``: write the kubelet's self-signed serving certificate
(``kubelet.crt``/``kubelet.key``), valid for N days (default 365, the
agent's ``--kubelet-cert-validity-days``).

A separate process on purpose: the agent runs it once and so never loads
``cryptography`` itself (see ``services._self_signed``). Upstream's kubelet
also serves with a self-signed certificate unless given one; the API server
does not verify it by default, and authenticates itself with a client
certificate from the cluster CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["write_serving_cert"]


def write_serving_cert(
    pki: Path, node_name: str, ips: list[str], validity_days: int = 365
) -> tuple[Path, Path]:
    if validity_days < 1:
        raise ValueError(f"certificate validity must be at least one day, not {validity_days}")
    cert_path, key_path = pki / "kubelet.crt", pki / "kubelet.key"
    pki.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{node_name}@pinnace")])
    now = dt.datetime.now(dt.UTC)
    sans: list[x509.GeneralName] = [x509.DNSName(node_name), x509.DNSName("localhost")]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in dict.fromkeys([*ips, "127.0.0.1"])]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=validity_days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    tmp_key = key_path.with_suffix(".tmp")
    tmp_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(tmp_key, 0o600)
    os.replace(tmp_key, key_path)
    tmp_cert = cert_path.with_suffix(".tmp")
    tmp_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp_cert, cert_path)
    return cert_path, key_path


def main(argv: list[str]) -> None:
    days = 365
    if argv[:1] == ["--validity-days"]:
        days, argv = int(argv[1]), argv[2:]
    write_serving_cert(Path(argv[0]), argv[1], argv[2:], days)


if __name__ == "__main__":
    main(sys.argv[1:])
