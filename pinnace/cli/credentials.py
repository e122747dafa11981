"""User credentials from the command line: ``pinnace kubeconfig`` issues a
client certificate signed by the cluster CA and prints a kubeconfig for it;
``pinnace certs check-expiration`` lists every certificate pinnace keeps and
when it expires, like ``kubeadm certs check-expiration``.

Both run on the machine that holds the cluster's data dir (they read the CA
key in ``<data-dir>/pki``); they talk to no server. Every certificate
``pinnace kubeconfig`` issues is also recorded (certificate only, no key) in
``<data-dir>/pki/issued/`` so that ``check-expiration`` can list it.

Concurrency model: plain blocking commands (key generation takes a few
milliseconds); no event loop.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DEFAULT_EXPIRES",
    "CertificateRow",
    "add_credentials_parsers",
    "cmd_certs_check_expiration",
    "cmd_kubeconfig",
    "collect_certificates",
    "duration_arg",
    "parse_duration",
    "short_human_duration",
]

#: what ``--expires`` defaults to (the cluster's default certificate validity)
DEFAULT_EXPIRES = "365d"
ISSUED_DIR = "issued"
_UNITS = {
    "ms": dt.timedelta(milliseconds=1),
    "s": dt.timedelta(seconds=1),
    "m": dt.timedelta(minutes=1),
    "h": dt.timedelta(hours=1),
    "d": dt.timedelta(days=1),
    "w": dt.timedelta(weeks=1),
    "y": dt.timedelta(days=365),
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")


def parse_duration(text: str) -> dt.timedelta:
    """``24h``, ``30d``, ``1h30m``, ``90s``, ``1y`` (365 days), ``2w``: Go's
    duration syntax plus days, weeks and years. ValueError when malformed."""
    s = text.strip().lower()
    pos, total = 0, dt.timedelta(0)
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None:
            raise ValueError(f"invalid duration {text!r} (examples: 24h, 30d, 1h30m, 1y)")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not s or total <= dt.timedelta(0):
        raise ValueError(f"invalid duration {text!r}: must be more than zero")
    return total


def duration_arg(text: str) -> dt.timedelta:
    """:func:`parse_duration` as an argparse ``type`` (for ``--cert-validity`` too)."""
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def short_human_duration(d: dt.timedelta) -> str:
    """kubeadm's RESIDUAL TIME: ``45s``, ``12m``, ``30h``, ``364d``, ``9y``;
    ``<invalid>`` once expired."""
    seconds = int(d.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 365:
        return f"{hours // 24}d"
    return f"{hours // (24 * 365)}y"


# --------------------------------------------------------------------------
# parsers


def add_credentials_parsers(sub: Any) -> None:
    """Add ``pinnace kubeconfig`` and ``pinnace certs check-expiration`` to a
    parser's subcommands."""
    from pinnace.cli.main import DATA_DIR_ENV, DEFAULT_DATA_DIR

    data_dir_help = f"the cluster's data dir (default ${DATA_DIR_ENV}, else {DEFAULT_DATA_DIR})"
    data_dir_default = os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR

    kc = sub.add_parser(
        "kubeconfig",
        help="issue a client certificate for a user and print a kubeconfig",
        description="Issue a client certificate (CN=user, O=group for each --group) signed "
        "by the cluster CA in DIR/pki and print a kubeconfig that uses it. Run it where the "
        "cluster's data dir is. What the user may do is up to RBAC (bind a Role to the user "
        "or one of the groups).",
    )
    kc.add_argument("--user", required=True, metavar="NAME", help="user name (the CN)")
    kc.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="G",
        help="a group the user is in (the O entries); repeat for several",
    )
    kc.add_argument(
        "--expires",
        type=duration_arg,
        default=parse_duration(DEFAULT_EXPIRES),
        metavar="DURATION",
        help=f"how long the certificate is valid, e.g. 24h, 30d, 1y (default {DEFAULT_EXPIRES}; "
        "never past the CA's own expiry)",
    )
    kc.add_argument(
        "--data-dir", type=Path, default=Path(data_dir_default), metavar="DIR", help=data_dir_help
    )
    kc.add_argument(
        "--server",
        metavar="URL",
        help="API server URL to put in the kubeconfig (default: the one in DIR/admin.kubeconfig)",
    )
    kc.add_argument("-o", "--output", metavar="FILE", help="write it here (0600), not to stdout")
    kc.set_defaults(func=cmd_kubeconfig)

    certs = sub.add_parser(
        "certs",
        help="inspect the cluster's certificates",
        description="Inspect the certificates in the cluster's data dir.",
    )
    certs.set_defaults(func=lambda args: _usage(certs))
    csub = certs.add_subparsers(dest="certs_command", metavar="SUBCOMMAND")
    check = csub.add_parser(
        "check-expiration",
        help="list every certificate and when it expires",
        description="List every certificate in DIR/pki (the CA, the API server's serving and "
        "client certificates), in kubeconfig files in DIR, in other components' pki dirs "
        "under DIR and those issued by `pinnace kubeconfig`, with its expiry, like "
        "`kubeadm certs check-expiration`.",
    )
    check.add_argument(
        "--data-dir", type=Path, default=Path(data_dir_default), metavar="DIR", help=data_dir_help
    )
    check.set_defaults(func=cmd_certs_check_expiration)


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 2


# --------------------------------------------------------------------------
# pinnace kubeconfig


def cmd_kubeconfig(args: argparse.Namespace) -> int:
    from cryptography import x509

    from pinnace.apiserver.certs import CertificateError, Pki, issue_client_cert, kubeconfig_text

    data_dir: Path = args.data_dir
    pki = Pki.at(data_dir / "pki")
    if not (pki.ca_cert.exists() and pki.ca_key.exists()):
        print(
            f"error: no cluster CA in {pki.dir} (is --data-dir right? the CA is made when "
            "`pinnace server` or `pinnace up` first starts)",
            file=sys.stderr,
        )
        return 1
    server = args.server or _admin_server(data_dir) or "https://127.0.0.1:6443"
    try:
        cert_pem, key_pem = issue_client_cert(pki, args.user, args.group, validity=args.expires)
    except (CertificateError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    cert = x509.load_pem_x509_certificate(cert_pem)
    _record_issued(pki.dir / ISSUED_DIR, args.user, cert.serial_number, cert_pem)
    text = kubeconfig_text(
        server=server,
        ca_pem=pki.ca_pem(),
        cert_pem=cert_pem,
        key_pem=key_pem,
        user=args.user,
        cluster="pinnace",
        context=f"{args.user}@pinnace",
    )
    if args.output:
        out = Path(args.output)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(text)
        expires = cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"wrote {out} (user {args.user}, expires {expires})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _admin_server(data_dir: Path) -> str | None:
    try:
        doc = yaml.safe_load((data_dir / "admin.kubeconfig").read_text())
        server = doc["clusters"][0]["cluster"]["server"]
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError):
        return None
    return server if isinstance(server, str) else None


def _record_issued(d: Path, user: str, serial: int, cert_pem: bytes) -> None:
    safe = re.sub(r"[^A-Za-z0-9._@-]", "_", user)
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        (d / f"{safe}-{serial:x}.crt").write_bytes(cert_pem)
    except OSError as e:  # the kubeconfig is still good; only the listing misses it
        print(f"warning: cannot record the issued certificate in {d}: {e}", file=sys.stderr)


# --------------------------------------------------------------------------
# pinnace certs check-expiration


@dataclass(frozen=True, slots=True)
class CertificateRow:
    name: str
    expires: dt.datetime
    authority: str  # "ca" for the cluster CA; "" when self-signed or unknown
    is_ca: bool


def collect_certificates(data_dir: Path) -> list[CertificateRow]:
    """Every certificate pinnace keeps under ``data_dir``: ``pki/*.crt``,
    kubeconfig files (``*.kubeconfig``) in the data dir, ``*/pki/*.crt`` of
    components (the kubelet's serving certificate) and ``pki/issued/*.crt``."""
    from cryptography import x509

    pki = data_dir / "pki"
    ca: x509.Certificate | None = None
    try:
        ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    except (OSError, ValueError):
        pass
    found: list[tuple[str, bytes]] = []
    for path in sorted(pki.glob("*.crt")):
        found.append((path.stem, path.read_bytes()))
    for path in sorted(data_dir.glob("*.kubeconfig")):
        pem = _kubeconfig_cert(path)
        if pem is not None:
            found.append((path.name, pem))
    for path in sorted(data_dir.glob("*/pki/*.crt")):
        found.append((str(path.relative_to(data_dir).with_suffix("")), path.read_bytes()))
    for path in sorted((pki / ISSUED_DIR).glob("*.crt")):
        found.append((f"{ISSUED_DIR}/{path.stem}", path.read_bytes()))
    rows: list[CertificateRow] = []
    for name, pem in found:
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError:
            continue
        is_ca = _is_ca(cert)
        authority = ""
        if ca is not None and not (is_ca and cert == ca):
            try:
                cert.verify_directly_issued_by(ca)
                authority = "ca"
            except Exception:  # signed by someone else (or self-signed)
                authority = ""
        rows.append(CertificateRow(name, cert.not_valid_after_utc, authority, is_ca))
    return rows


def _is_ca(cert: Any) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _kubeconfig_cert(path: Path) -> bytes | None:
    import base64

    try:
        doc = yaml.safe_load(path.read_text())
        data = doc["users"][0]["user"]["client-certificate-data"]
        return base64.b64decode(data)
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError, ValueError):
        return None


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    return "\n".join(lines) + "\n"


def _when(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%b %d, %Y %H:%M UTC")


def render_expiration(rows: list[CertificateRow], now: dt.datetime) -> str:
    """The two tables kubeadm prints: leaf certificates, then authorities."""
    leaves = [
        [r.name, _when(r.expires), short_human_duration(r.expires - now), r.authority]
        for r in rows
        if not r.is_ca
    ]
    cas = [
        [r.name, _when(r.expires), short_human_duration(r.expires - now)] for r in rows if r.is_ca
    ]
    out = _table(["CERTIFICATE", "EXPIRES", "RESIDUAL TIME", "CERTIFICATE AUTHORITY"], leaves)
    out += "\n" + _table(["CERTIFICATE AUTHORITY", "EXPIRES", "RESIDUAL TIME"], cas)
    return out


def cmd_certs_check_expiration(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir
    if not (data_dir / "pki").is_dir():
        print(f"error: no pki dir in {data_dir} (is --data-dir right?)", file=sys.stderr)
        return 1
    rows = collect_certificates(data_dir)
    sys.stdout.write(render_expiration(rows, dt.datetime.now(dt.UTC)))
    return 0
