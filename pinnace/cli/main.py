"""The ``pinnace`` command: ``server``, ``up`` and ``version``.

``pinnace server`` runs the control plane in the foreground; ``pinnace up`` is
the single-node default (today the same control plane; later issues add the
node agent, networking and add-ons to it). Both check what can be checked
cheaply before starting anything heavy (the data dir is a writable directory,
the port is free), run the API server as an asyncio task, and stop it cleanly
on SIGTERM or SIGINT (a second signal exits at once).

Exit codes: 0 after a clean stop, 1 when the server cannot start or crashed
(one log line says why), 2 for a bad command line (argparse).

Heavy imports (the API server and everything under it) happen inside the
command functions, so ``pinnace --help`` stays fast and works even when a
component is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import ipaddress
import logging
import os
import shlex
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pinnace import __version__
from pinnace.cli.logs import setup_logging

if TYPE_CHECKING:
    from pinnace.apiserver.config import ServerConfig

__all__ = [
    "DEFAULT_DATA_DIR",
    "CliError",
    "build_parser",
    "check_port_free",
    "config_from_args",
    "main",
    "prepare_data_dir",
    "run_foreground",
]

DEFAULT_DATA_DIR = "/var/lib/pinnace"
DATA_DIR_ENV = "PINNACE_DATA_DIR"

log = logging.getLogger("pinnace.cli")


class CliError(Exception):
    """A reason not to start that the user can fix; the message is shown as is."""


class ServeFn(Protocol):
    def __call__(
        self, config: ServerConfig, *, ready: asyncio.Event | None = None
    ) -> Coroutine[Any, Any, None]: ...


# --------------------------------------------------------------------------
# command line


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 1 and 65535, not {port}")
    return port


def _verbosity(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a verbosity level: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError("verbosity cannot be negative")
    return v


def _ip_address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an IP address: {text!r} (use 0.0.0.0 or :: for every interface)"
        ) from None


def _storage_url(text: str) -> str:
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in ("sqlite", "etcd") or not rest:
        raise argparse.ArgumentTypeError(
            f"unsupported storage URL {text!r}: use sqlite://PATH or etcd://HOST:PORT[,HOST:PORT...]"
        )
    return text


def _add_common_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("logging")
    g.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text: klog-style lines for people (default); json: one JSON object per line",
    )
    g.add_argument(
        "-v",
        "--v",
        dest="v",
        type=_verbosity,
        default=0,
        metavar="N",
        help="log verbosity as upstream: 2 adds detail, 4 debug, 6 request tracing (default 0)",
    )


def _add_server_flags(p: argparse.ArgumentParser, *, data_dir_default: str | None) -> None:
    g = p.add_argument_group("control plane")
    if data_dir_default is None:
        g.add_argument(
            "--data-dir",
            required=True,
            metavar="DIR",
            help=f"where the database, PKI and admin.kubeconfig live (default ${DATA_DIR_ENV})",
        )
    else:
        g.add_argument(
            "--data-dir",
            default=data_dir_default,
            metavar="DIR",
            help=f"where the database, PKI and admin.kubeconfig live "
            f"(default ${DATA_DIR_ENV}, else {DEFAULT_DATA_DIR}; here {data_dir_default})",
        )
    g.add_argument(
        "--port", type=_port, default=6443, metavar="N", help="HTTPS port (default 6443)"
    )
    g.add_argument(
        "--bind-address",
        type=_ip_address,
        default="127.0.0.1",
        metavar="ADDR",
        help="IP address to listen on; 0.0.0.0 or :: for all interfaces (default 127.0.0.1)",
    )
    g.add_argument(
        "--storage",
        type=_storage_url,
        default=None,
        metavar="URL",
        help="sqlite://PATH or etcd://HOST:PORT[,HOST:PORT...] (default sqlite://DIR/db/state.db)",
    )
    g.add_argument(
        "--disable",
        action="append",
        default=[],
        metavar="NAME[,NAME...]",
        help="components not to start; repeatable and comma-separated",
    )
    g.add_argument(
        "--tls-san",
        action="append",
        default=[],
        metavar="NAME",
        help="extra DNS name or IP address for the serving certificate; repeatable",
    )


def build_parser(environ: dict[str, str] | None = None) -> argparse.ArgumentParser:
    env = dict(os.environ) if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="pinnace",
        description="pinnace: a Kubernetes-compatible container cluster in Python.",
    )
    parser.add_argument("--version", action="version", version=f"pinnace {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    env_dir = env.get(DATA_DIR_ENV) or None

    server = sub.add_parser(
        "server",
        help="run the control plane (API server) in the foreground",
        description="Run the control plane in the foreground until SIGTERM or SIGINT. "
        "Writes DIR/admin.kubeconfig once it serves.",
    )
    _add_server_flags(server, data_dir_default=env_dir)
    _add_common_flags(server)
    server.set_defaults(func=_cmd_server)

    up = sub.add_parser(
        "up",
        help="run a single-node cluster in the foreground",
        description="Run a single-node cluster in the foreground until SIGTERM or SIGINT "
        "(today: the control plane). Writes DIR/admin.kubeconfig once it serves.",
    )
    _add_server_flags(up, data_dir_default=env_dir or DEFAULT_DATA_DIR)
    _add_common_flags(up)
    up.set_defaults(func=_cmd_up)

    version = sub.add_parser("version", help="print the pinnace version")
    version.set_defaults(func=_cmd_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130


# --------------------------------------------------------------------------
# commands


def _cmd_version(args: argparse.Namespace) -> int:
    print(f"pinnace {__version__}")
    return 0


def _cmd_server(args: argparse.Namespace) -> int:
    return _run_control_plane(args, what="pinnace server")


def _cmd_up(args: argparse.Namespace) -> int:
    return _run_control_plane(args, what="pinnace up")


def _run_control_plane(args: argparse.Namespace, *, what: str) -> int:
    setup_logging(verbosity=args.v, log_format=args.log_format)
    try:
        config = config_from_args(args)
        prepare_data_dir(config.data_dir)
        check_port_free(config.bind_address, config.port)
    except CliError as e:
        log.error("%s: %s", what, e)
        return 1

    # Heavy imports only now that the cheap checks passed.
    from pinnace.apiserver.errors import StartupError
    from pinnace.apiserver.server import serve

    log.info(
        "%s %s starting: data dir %s, storage %s",
        what,
        __version__,
        config.data_dir,
        config.storage_url(),
    )
    try:
        return asyncio.run(run_foreground(serve, config, what=what))
    except StartupError as e:
        log.error("%s: %s", what, e)
        return 1
    except Exception as e:
        log.critical("%s crashed: %s", what, e, exc_info=True)
        return 1


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The :class:`ServerConfig` the flags describe."""
    from pinnace.apiserver.config import ServerConfig

    disable: set[str] = set()
    for item in args.disable:
        disable.update(name.strip() for name in item.split(",") if name.strip())
    sans = tuple(dict.fromkeys(s.strip() for s in args.tls_san if s.strip()))
    return ServerConfig(
        data_dir=Path(args.data_dir).expanduser().absolute(),
        port=args.port,
        bind_address=args.bind_address,
        storage=args.storage or "",
        disable=frozenset(disable),
        tls_sans=sans,
    )


# --------------------------------------------------------------------------
# pre-flight checks


def prepare_data_dir(path: Path) -> None:
    """Create ``path`` (0700) if needed and make sure it is a writable
    directory; raise :class:`CliError` saying what is wrong otherwise."""
    if path.exists() and not path.is_dir():
        raise CliError(f"data dir {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise CliError(f"cannot create data dir {path}: {e.strerror or e}") from None
    try:
        with tempfile.TemporaryFile(dir=path, prefix=".pinnace-probe-"):
            pass
    except OSError as e:
        raise CliError(f"data dir {path} is not writable: {e.strerror or e}") from None


def check_port_free(address: str, port: int) -> None:
    """Fail with :class:`CliError` unless a listening socket could be bound to
    ``address:port`` right now (same SO_REUSEADDR setting as the server)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
            s.listen(1)
        except OSError as e:
            where = f"[{address}]:{port}" if family == socket.AF_INET6 else f"{address}:{port}"
            if e.errno == errno.EADDRINUSE:
                msg = f"port {port} is already in use on {address} (another pinnace or API server?); choose another with --port"
            elif e.errno == errno.EACCES:
                msg = f"permission denied listening on {where} (ports below 1024 need root)"
            elif e.errno == errno.EADDRNOTAVAIL:
                msg = f"cannot listen on {where}: {address} is not an address of this machine"
            else:
                msg = f"cannot listen on {where}: {e.strerror or e}"
            raise CliError(msg) from None


# --------------------------------------------------------------------------
# running in the foreground


async def run_foreground(serve: ServeFn, config: ServerConfig, *, what: str = "pinnace") -> int:
    """Run ``serve(config, ready=...)`` until it fails or SIGTERM/SIGINT
    arrives; announce the kubeconfig once ready. Returns the exit code; lets
    the server's own exceptions (StartupError, crashes) propagate."""
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    stop = asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            log.warning("second %s: exiting without waiting for a clean shutdown", sig.name)
            os._exit(1)
        log.info("%s received, shutting down (send it again to exit at once)", sig.name)
        stop.set()

    handled = (signal.SIGINT, signal.SIGTERM)
    for sig in handled:
        loop.add_signal_handler(sig, on_signal, sig)
    server = asyncio.create_task(serve(config, ready=ready), name="pinnace-serve")
    ready_wait = asyncio.create_task(ready.wait(), name="pinnace-ready")
    stop_wait = asyncio.create_task(stop.wait(), name="pinnace-stop")
    try:
        await asyncio.wait({server, ready_wait, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if ready.is_set() and not server.done() and not stop.is_set():
            _announce(config, what)
            await asyncio.wait({server, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if server.done():
            server.result()  # raises what the server raised
            log.error("%s: the server stopped on its own", what)
            return 1
        server.cancel()
        try:
            await server
        except asyncio.CancelledError:
            pass
        except Exception as e:
            log.error("%s: error while shutting down: %s", what, e, exc_info=True)
            return 1
        log.info("%s stopped", what)
        return 0
    finally:
        for task in (ready_wait, stop_wait, server):
            task.cancel()
        for sig in handled:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)


def _announce(config: ServerConfig, what: str) -> None:
    from pinnace.apiserver.tls import local_server_url

    kubeconfig = config.admin_kubeconfig
    log.info("%s is ready on %s", what, local_server_url(config.bind_address, config.port))
    if not kubeconfig.exists():
        log.warning("the server reported ready but %s does not exist", kubeconfig)
        return
    log.info("admin kubeconfig: %s", kubeconfig)
    log.info("to use it: export KUBECONFIG=%s; kubectl get ns", shlex.quote(str(kubeconfig)))
