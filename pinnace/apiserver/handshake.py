"""Let any client certificate through the TLS handshake, so that the x509
authenticator (not the handshake) decides whether it is good.

Upstream's API server asks for a client certificate without verifying it in
the handshake and verifies it afterwards; a certificate from another CA then
gets a 401 (with an audit record) like any other bad credential. Python's
``ssl`` module has no such mode: with ``CERT_OPTIONAL`` a certificate that
does not chain to the loaded CA aborts the handshake, and there is no verify
callback in its API. OpenSSL has one (``SSL_CTX_set_cert_verify_callback``,
which replaces the chain check for the context), so this module installs one
that accepts every chain, through ctypes, on the ``SSL_CTX`` behind an
``ssl.SSLContext``. Hand-written because no maintained library exposes it for
the stdlib ``ssl`` objects that asyncio and aiohttp use (pyOpenSSL has its own
connection type, which asyncio cannot serve).

The ``SSL_CTX`` pointer is the first field after the object header of
CPython's ``_ssl._SSLContext``. Before writing anything the hook checks that
it found the right thing (the same OpenSSL build as the ``ssl`` module, and a
context whose options and verify mode read back as Python set them); if any
check fails it does nothing and the handshake keeps verifying, which is safe
but answers a foreign certificate with a handshake failure instead of 401.
"""

from __future__ import annotations

import ctypes
import logging
import ssl
from pathlib import Path

__all__ = ["defer_client_certificate_verification"]

log = logging.getLogger(__name__)

_CertVerifyCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


def _accept(_store_ctx: int | None, _arg: int | None) -> int:
    # 1 = the chain is acceptable; the authenticator checks it per request
    return 1


# kept at module level: OpenSSL holds the pointer for the context's lifetime
_accept_any_chain = _CertVerifyCallback(_accept)


_OPENSSL_VERIFY_MODE = {ssl.CERT_NONE: 0, ssl.CERT_OPTIONAL: 1, ssl.CERT_REQUIRED: 3}


def _loaded_libssl() -> ctypes.CDLL | None:
    """The libssl the ``ssl`` module is linked against, or None when it is not
    a shared library of this process (a statically linked Python)."""
    import _ssl  # noqa: F401  (makes sure libssl is mapped)

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    paths = {
        line.split()[-1]
        for line in maps.splitlines()
        if "/libssl.so" in line and line.split()[-1].startswith("/")
    }
    if len(paths) != 1:
        return None
    lib = ctypes.CDLL(paths.pop())
    try:
        lib.OpenSSL_version_num.restype = ctypes.c_ulong
        lib.OpenSSL_version_num.argtypes = []
        if lib.OpenSSL_version_num() != ssl.OPENSSL_VERSION_NUMBER:
            return None
        lib.SSL_CTX_get_options.restype = ctypes.c_uint64
        lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_get_verify_mode.restype = ctypes.c_int
        lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_set_cert_verify_callback.restype = None
        lib.SSL_CTX_set_cert_verify_callback.argtypes = [
            ctypes.c_void_p,
            _CertVerifyCallback,
            ctypes.c_void_p,
        ]
    except AttributeError:
        return None
    return lib


def defer_client_certificate_verification(ctx: ssl.SSLContext) -> bool:
    """Make ``ctx`` accept any client certificate chain in the handshake.
    True when done; False (and ``ctx`` unchanged) when this Python's ``ssl``
    does not look as expected."""
    lib = _loaded_libssl()
    if lib is None:
        log.warning("client certificates are verified in the TLS handshake (libssl not found)")
        return False
    if object.__basicsize__ != 2 * ctypes.sizeof(ctypes.c_void_p):
        return False
    ssl_ctx = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    if not ssl_ctx:
        return False
    if lib.SSL_CTX_get_options(ssl_ctx) != int(ctx.options) or lib.SSL_CTX_get_verify_mode(
        ssl_ctx
    ) != _OPENSSL_VERIFY_MODE.get(ctx.verify_mode):
        log.warning("client certificates are verified in the TLS handshake (unexpected ssl layout)")
        return False
    lib.SSL_CTX_set_cert_verify_callback(ssl_ctx, _accept_any_chain, None)
    return True
