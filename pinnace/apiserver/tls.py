"""TLS for the API server: the serving context and who a client certificate
says the caller is.

The server asks every client for a certificate but does not insist on one
(``CERT_OPTIONAL``), and lets any certificate through the handshake (see
:mod:`pinnace.apiserver.handshake`): the x509 authenticator then decides, so a
certificate that is expired or from another CA gets 401 like any other bad
credential. A client without one is judged by the bearer-token
authenticators or treated as anonymous. This is what upstream's
``--client-ca-file`` does.
"""

from __future__ import annotations

import ipaddress
import ssl

from pinnace.apiserver.certs import Pki
from pinnace.apiserver.handshake import defer_client_certificate_verification
from pinnace.certidentity import identity_from_peercert

__all__ = ["identity_from_peercert", "local_server_url", "server_ssl_context"]


#: OpenSSL's X509_V_FLAG_NO_CHECK_TIME (the ssl module has no name for it)
X509_V_FLAG_NO_CHECK_TIME = 0x200000


def server_ssl_context(pki: Pki) -> ssl.SSLContext:
    """An SSL context serving ``pki.server_cert`` that requests (but does not
    require) client certificates signed by the cluster CA; TLS 1.2 or newer."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile=str(pki.server_cert), keyfile=str(pki.server_key))
    ctx.load_verify_locations(cafile=str(pki.ca_cert))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    if not defer_client_certificate_verification(ctx):
        # The handshake verifies the chain after all: let at least expired
        # (or not yet valid) certificates through, so that they get 401 and
        # an audit record rather than a dropped connection.
        ctx.verify_flags |= X509_V_FLAG_NO_CHECK_TIME
    # The server speaks HTTP/1.1 only; say so, so that clients offering h2
    # (kubectl, Go) settle on HTTP/1.1 without a second try.
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.options |= ssl.OP_NO_COMPRESSION
    return ctx


def local_server_url(bind_address: str, port: int) -> str:
    """The URL a client on this machine uses to reach a server bound to
    ``bind_address:port`` (a wildcard address becomes the loopback one)."""
    host = bind_address
    try:
        ip = ipaddress.ip_address(bind_address)
    except ValueError:
        return f"https://{host}:{port}"
    if ip.is_unspecified:
        ip = ipaddress.ip_address("::1" if ip.version == 6 else "127.0.0.1")
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"https://{host}:{port}"
