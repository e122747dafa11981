from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pinnace.client import ApiError, Client, ClientConfig, ConfigError, ResourceRef
from pinnace.client.transport import AiohttpTransport, TransportError

NODES = ResourceRef("", "v1", "nodes", False, "Node")


def kubeconfig(
    server: str = "https://127.0.0.1:6443", *, cluster: dict[str, object] | None = None,
    user: dict[str, object] | None = None, current: str = "admin",
) -> dict[str, object]:  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": current,
        "clusters": [{"name": "pinnace", "cluster": {"server": server, **(cluster or {})}}],
        "users": [{"name": "admin", "user": user or {}}],
        "contexts": [
            {"name": "admin", "context": {"cluster": "pinnace", "user": "admin"}},
            {"name": "other", "context": {"cluster": "pinnace", "user": "admin"}},
        ],
    }


def test_load_data_fields(tmp_path: Path) -> None:
    b64 = lambda s: base64.b64encode(s).decode()  # noqa: E731
    doc = kubeconfig(
        "https://10.0.0.1:6443/",
        cluster={"certificate-authority-data": b64(b"CA")},
        user={"client-certificate-data": b64(b"CERT"), "client-key-data": b64(b"KEY")},
    )
    (tmp_path / "admin.kubeconfig").write_text(yaml.safe_dump(doc))
    cfg = ClientConfig.from_data_dir(tmp_path)
    assert cfg.server == "https://10.0.0.1:6443"
    assert (cfg.ca_data, cfg.cert_data, cfg.key_data) == (b"CA", b"CERT", b"KEY")
    assert cfg.token is None and (cfg.qps, cfg.burst) == (5.0, 10)
    fast = cfg.with_rate_limits(1000, 2000)
    assert (fast.qps, fast.burst) == (1000, 2000) and fast.server == cfg.server


def test_load_files_relative_to_kubeconfig_and_token(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("s3cret\n")
    doc = kubeconfig(
        cluster={"certificate-authority": "pki/ca.crt", "insecure-skip-tls-verify": True,
                 "tls-server-name": "kubernetes"},
        user={"client-certificate": "/abs/c.crt", "client-key": "k.key", "tokenFile": "tok"},
    )  # fmt: skip
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    cfg = ClientConfig.from_kubeconfig(path)
    assert cfg.ca_file == str(tmp_path / "pki/ca.crt")
    assert cfg.cert_file == "/abs/c.crt" and cfg.key_file == str(tmp_path / "k.key")
    assert cfg.token == "s3cret" and cfg.insecure_skip_tls_verify
    assert cfg.tls_server_name == "kubernetes"


def test_context_selection_and_errors(tmp_path: Path) -> None:
    cfg = ClientConfig.from_dict(kubeconfig(user={"token": "t"}), context="other")
    assert cfg.token == "t"
    with pytest.raises(ConfigError, match="no context named 'nope'"):
        ClientConfig.from_dict(kubeconfig(), context="nope")
    with pytest.raises(ConfigError, match="no current-context"):
        ClientConfig.from_dict(kubeconfig(current=""))
    with pytest.raises(ConfigError, match="without a key"):
        ClientConfig.from_dict(kubeconfig(user={"client-certificate": "c"}))
    with pytest.raises(ConfigError, match="cannot read"):
        ClientConfig.from_kubeconfig(tmp_path / "missing")
    with pytest.raises(ConfigError, match="base64"):
        ClientConfig.from_dict(kubeconfig(cluster={"certificate-authority-data": "!!"}))


def test_kubeconfig_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "kc"
    path.write_text(yaml.safe_dump(kubeconfig("https://h:1")))
    monkeypatch.setenv("KUBECONFIG", f"{path}:/does/not/matter")
    assert ClientConfig.from_kubeconfig().server == "https://h:1"


# --- end to end over TLS with client certificates ------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        b = b.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return b.sign(issuer_key, hashes.SHA256())


def _pem(obj: x509.Certificate | ec.EllipticCurvePrivateKey) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


async def test_https_with_client_certificate(tmp_path: Path) -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("pinnace-ca", ca_key, "pinnace-ca", ca_key, ca=True)
    srv_key = ec.generate_private_key(ec.SECP256R1())
    srv = _cert("apiserver", srv_key, "pinnace-ca", ca_key, server=True)
    cli_key = ec.generate_private_key(ec.SECP256R1())
    cli = _cert("system:admin", cli_key, "pinnace-ca", ca_key)
    (tmp_path / "ca.crt").write_bytes(_pem(ca))
    (tmp_path / "srv.crt").write_bytes(_pem(srv))
    (tmp_path / "srv.key").write_bytes(_pem(srv_key))

    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tmp_path / "srv.crt", tmp_path / "srv.key")
    server_ctx.load_verify_locations(tmp_path / "ca.crt")
    server_ctx.verify_mode = ssl.CERT_REQUIRED

    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        transport = request.transport
        assert transport is not None
        peer = transport.get_extra_info("peercert")
        seen.append(dict(x[0] for x in peer["subject"])["commonName"])
        return web.json_response({"kind": "Node", "metadata": {"name": "n1"}})

    app = web.Application()
    app.router.add_get("/api/v1/nodes/n1", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    doc = kubeconfig(
        f"https://127.0.0.1:{port}",
        cluster={"certificate-authority-data": b64(_pem(ca))},
        user={"client-certificate-data": b64(_pem(cli)), "client-key-data": b64(_pem(cli_key))},
    )
    (tmp_path / "admin.kubeconfig").write_text(yaml.safe_dump(doc))
    try:
        async with Client.from_data_dir(tmp_path) as client:
            node = await client.get(NODES, "n1")
            assert node["metadata"]["name"] == "n1"
            await client.get(NODES, "n1")  # pooled connection reused
            with pytest.raises(ApiError) as e:
                await client.get(NODES, "n2")
            assert e.value.code == 404
        assert seen == ["system:admin", "system:admin"]

        # a client that does not trust the CA fails with a TransportError
        untrusting = ClientConfig(server=f"https://127.0.0.1:{port}")
        async with Client(AiohttpTransport(untrusting), qps=0) as client:
            with pytest.raises(TransportError):
                await client.get(NODES, "n1")
    finally:
        await runner.cleanup()
