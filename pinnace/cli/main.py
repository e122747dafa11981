"""The ``pinnace`` command: ``server``, ``up``, ``controller-manager`` and ``version``.

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

from pinnace import __version__, eventloop, gcpolicy
from pinnace.cli.agent import add_agent_command, add_node_flags, kubelet_config_from_args
from pinnace.cli.credentials import add_credentials_parsers
from pinnace.cli.image import add_image_commands
from pinnace.cli.logs import setup_logging
from pinnace.cli.network import add_dns_command, add_proxy_command, add_service_network_flags
from pinnace.cli.secrets_cmd import add_secrets_parser
from pinnace.cli.security_flags import add_security_flags, security_config

if TYPE_CHECKING:
    from pinnace.apiserver.config import Component, ServerConfig
    from pinnace.client import ClientConfig

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
    g.add_argument(
        "--controllers",
        default="*",
        metavar="LIST",
        help="controllers to run in the server: '*' for the defaults, 'name' to add, '-name' to drop",
    )
    g.add_argument(
        "--sim-nodes",
        type=int,
        default=0,
        metavar="N",
        help="also run N simulated nodes (kwok-style; they never run containers)",
    )
    g.add_argument(
        "--scheduler-config",
        default="",
        metavar="FILE",
        help="a KubeSchedulerConfiguration file for the scheduler",
    )
    sched_mode = g.add_mutually_exclusive_group()
    sched_mode.add_argument(
        "--scheduler-process",
        dest="scheduler_in_process",
        action="store_false",
        help="run the scheduler as a child process of the server, on a core of its own "
        "(the default of pinnace server)",
    )
    sched_mode.add_argument(
        "--scheduler-in-process",
        dest="scheduler_in_process",
        action="store_true",
        help="run the scheduler inside the server's process: one process, about 60 MB "
        "less memory (the default of pinnace up)",
    )
    g.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the controller manager and the scheduler only while they hold their "
        "Leases in kube-system, so that several servers sharing one etcd run one of each "
        "(default: on with etcd:// storage, off with SQLite)",
    )


def _add_sim_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("simulated nodes")
    g.add_argument("--kubeconfig", metavar="FILE", help="default $KUBECONFIG or ~/.kube/config")
    g.add_argument("--context", metavar="NAME", help="kubeconfig context (default: current)")
    g.add_argument(
        "--nodes",
        type=int,
        default=None,
        metavar="N",
        help="how many nodes (required unless every profile group has a count)",
    )
    g.add_argument("--profile", metavar="FILE", help="YAML list of node groups (docs/sim.md)")
    g.add_argument(
        "--name-prefix", default="sim-", metavar="P", help="node names are P0, P1... (default sim-)"
    )
    g.add_argument(
        "--lease-renew-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how often each node renews its Lease (default 10, as the kubelet)",
    )
    g.add_argument(
        "--node-status-report-interval",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how often unchanged node status is re-posted (default 300, as the kubelet)",
    )
    g.add_argument(
        "--cluster-cidr",
        default=None,
        metavar="CIDR",
        help="where the nodes' /24 pod CIDRs come from (default 10.128.0.0/9)",
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
    server.add_argument(
        "--agent",
        action="store_true",
        help="also run a node agent (kubelet) in the server process, as `pinnace up` does",
    )
    add_node_flags(server)
    add_service_network_flags(server, server=True)
    add_security_flags(server)
    _add_common_flags(server)
    # pinnace server, the control plane of clusters that grow, gives the
    # scheduler a core of its own; pinnace up, one small machine, keeps it in
    # its one process (a second interpreter is about 60 MB)
    server.set_defaults(func=_cmd_server, scheduler_in_process=False)

    up = sub.add_parser(
        "up",
        help="run a single-node cluster in the foreground",
        description="Run a single-node cluster in the foreground until SIGTERM or SIGINT "
        "(today: the control plane). Writes DIR/admin.kubeconfig once it serves.",
    )
    _add_server_flags(up, data_dir_default=env_dir or DEFAULT_DATA_DIR)
    add_node_flags(up)
    add_service_network_flags(up, server=True)
    add_security_flags(up)
    _add_common_flags(up)
    up.set_defaults(func=_cmd_up, scheduler_in_process=True)

    cm = sub.add_parser(
        "controller-manager",
        help="run the controllers against an API server, in the foreground",
        description="Run the controllers (namespace lifecycle, garbage collector, ...) "
        "against the API server a kubeconfig names, until SIGTERM or SIGINT.",
    )
    g = cm.add_argument_group("controller manager")
    g.add_argument(
        "--kubeconfig", required=True, metavar="FILE", help="kubeconfig of the API server to use"
    )
    g.add_argument(
        "--controllers",
        default="*",
        metavar="LIST",
        help="controllers to run: '*' for every default-on one, 'name' to enable, "
        "'-name' to disable, comma-separated (default '*')",
    )
    g.add_argument(
        "--leader-elect",
        action="store_true",
        help="run only while holding the Lease kube-system/kube-controller-manager",
    )
    g.add_argument(
        "--kube-api-qps",
        type=float,
        default=20.0,
        metavar="QPS",
        help="requests per second to the API server (default 20)",
    )
    g.add_argument(
        "--kube-api-burst",
        type=int,
        default=30,
        metavar="N",
        help="burst of requests to the API server (default 30)",
    )
    _add_common_flags(cm)
    cm.set_defaults(func=_cmd_controller_manager)

    sim = sub.add_parser(
        "sim",
        help="run simulated nodes (kwok-style) against a cluster",
        description="Register simulated nodes, keep their Leases and Ready condition fresh and "
        "move the pods bound to them through their lifecycle, until SIGTERM or SIGINT. "
        "Nothing runs on them. See docs/sim.md.",
    )
    _add_sim_flags(sim)
    _add_common_flags(sim)
    sim.set_defaults(func=_cmd_sim)

    sched = sub.add_parser(
        "scheduler",
        help="run the scheduler against an API server",
        description="Run kube-scheduler (pinnace's) in the foreground until SIGTERM or SIGINT.",
    )
    sched.add_argument("--kubeconfig", required=True, metavar="FILE", help="kubeconfig to use")
    sched.add_argument(
        "--config",
        metavar="FILE",
        help="KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1)",
    )
    sched.add_argument(
        "--leader-elect",
        action="store_true",
        help="schedule only while holding kube-system/kube-scheduler",
    )
    sched.add_argument(
        "--kube-api-qps",
        type=float,
        default=None,
        metavar="QPS",
        help="client-side rate limit towards the API server (default 50; 0: none)",
    )
    sched.add_argument(
        "--kube-api-burst",
        type=int,
        default=None,
        metavar="N",
        help="burst of that rate limit (default 100)",
    )
    sched.add_argument(
        "--metrics-socket",
        metavar="PATH",
        help="also serve GET /metrics on a Unix socket at PATH "
        "(how pinnace server collects its child scheduler's metrics)",
    )
    _add_common_flags(sched)
    sched.set_defaults(func=_cmd_scheduler)

    add_agent_command(sub)
    add_proxy_command(sub)
    add_dns_command(sub)
    add_image_commands(sub)

    add_secrets_parser(sub)
    add_credentials_parsers(sub)
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


def _cmd_sim(args: argparse.Namespace) -> int:
    setup_logging(verbosity=args.v, log_format=args.log_format)
    from pinnace.client import ClientConfig, ConfigError
    from pinnace.sim import ProfileError, SimOptions, run_sim

    try:
        config = ClientConfig.from_kubeconfig(args.kubeconfig, context=args.context)
        extra = {"cluster_cidr": args.cluster_cidr} if args.cluster_cidr else {}
        options = SimOptions(
            lease_renew_interval=args.lease_renew_interval,
            status_report_interval=args.node_status_report_interval,
            **extra,
        )
        if args.profile is None and args.nodes is None:
            raise CliError("say how many nodes with --nodes N (or give a --profile)")
    except (ConfigError, CliError, ValueError) as e:
        log.error("pinnace sim: %s", e)
        return 1

    async def run() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(
            run_sim(
                config,
                nodes=args.nodes,
                profile=args.profile,
                name_prefix=args.name_prefix,
                options=options,
            )
        )
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            log.info("pinnace sim stopped")
            return 0
        return 0

    try:
        return eventloop.run(gcpolicy.run_with_policy(run()))
    except (ProfileError, ValueError) as e:
        log.error("pinnace sim: %s", e)
        return 1
    except Exception as e:
        log.critical("pinnace sim crashed: %s", e, exc_info=True)
        return 1


def _cmd_scheduler(args: argparse.Namespace) -> int:
    setup_logging(verbosity=args.v, log_format=args.log_format)
    from pinnace.cli.childproc import die_with_parent
    from pinnace.client import ClientConfig, ConfigError
    from pinnace.scheduler import run_scheduler
    from pinnace.scheduler.config import ConfigError as SchedulerConfigError

    die_with_parent()
    try:
        client_config = ClientConfig.from_kubeconfig(args.kubeconfig)
        if args.kube_api_qps is not None or args.kube_api_burst is not None:
            client_config = client_config.with_rate_limits(
                50.0 if args.kube_api_qps is None else args.kube_api_qps,
                100 if args.kube_api_burst is None else args.kube_api_burst,
            )
        coro = run_scheduler(client_config, config_file=args.config, leader_elect=args.leader_elect)
        if args.metrics_socket:
            coro = _with_metrics_socket(coro, args.metrics_socket)
        return eventloop.run(_run_until_signal(gcpolicy.run_with_policy(coro), "pinnace scheduler"))
    except (ConfigError, SchedulerConfigError) as e:
        log.error("pinnace scheduler: %s", e)
        return 1


async def _with_metrics_socket(coro: Coroutine[Any, Any, None], path: str) -> None:
    """``coro`` with :func:`pinnace.metrics.serve_unix` beside it."""
    import pinnace.metrics

    async def serve() -> None:
        try:
            await pinnace.metrics.serve_unix(path)
        except OSError as e:
            log.warning("cannot serve metrics on %s: %s", path, e)

    served = asyncio.ensure_future(serve())
    try:
        await coro
    finally:
        served.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await served


async def _run_until_signal(coro: Coroutine[Any, Any, None], what: str) -> int:
    """Run ``coro`` until it ends or SIGTERM/SIGINT arrives; 0 on a clean stop."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(coro)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        log.info("%s stopped", what)
        return 0
    return 0


def _cmd_server(args: argparse.Namespace) -> int:
    return _run_control_plane(args, what="pinnace server")


def _cmd_up(args: argparse.Namespace) -> int:
    return _run_control_plane(args, what="pinnace up")


def _cmd_controller_manager(args: argparse.Namespace) -> int:
    setup_logging(verbosity=args.v, log_format=args.log_format)
    what = "pinnace controller-manager"
    from pinnace.client import ClientConfig, ConfigError
    from pinnace.controllers import ControllerManagerError, select_controllers

    try:
        select_controllers(args.controllers)
        config = ClientConfig.from_kubeconfig(args.kubeconfig).with_rate_limits(
            args.kube_api_qps, args.kube_api_burst
        )
    except (ValueError, ConfigError, OSError) as e:
        log.error("%s: %s", what, e)
        return 1
    try:
        return eventloop.run(
            gcpolicy.run_with_policy(_run_controller_manager(args, config, what=what))
        )
    except ControllerManagerError as e:
        log.error("%s: %s", what, e)
        return 1
    except Exception as e:
        log.critical("%s crashed: %s", what, e, exc_info=True)
        return 1


async def _run_controller_manager(
    args: argparse.Namespace, config: ClientConfig, *, what: str
) -> int:
    """Run the controller manager until it fails or SIGTERM/SIGINT arrives."""
    from pinnace.client import Client
    from pinnace.controllers import run_controller_manager

    loop = asyncio.get_running_loop()
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
    client = Client.from_config(config)
    manager = asyncio.create_task(
        run_controller_manager(client, args.controllers, leader_elect=args.leader_elect),
        name="controller-manager",
    )
    stop_wait = asyncio.create_task(stop.wait(), name="controller-manager-stop")
    try:
        log.info("%s %s starting against %s", what, __version__, config.server)
        await asyncio.wait({manager, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if manager.done():
            manager.result()  # raises what the manager raised
            log.error("%s: stopped on its own", what)
            return 1
        manager.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await manager
        log.info("%s stopped", what)
        return 0
    finally:
        for task in (stop_wait, manager):
            task.cancel()
        await client.close()
        for sig in handled:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)


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
        return eventloop.run(run_foreground(serve, config, what=what))
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
        components=_server_components,
        service_cidr=getattr(args, "service_cidr", None) or "10.96.0.0/12",
        service_node_port_range=getattr(args, "service_node_port_range", None) or "30000-32767",
        advertise_address=getattr(args, "advertise_address", "") or "",
        extra={
            "controllers": getattr(args, "controllers", "*"),
            "sim_nodes": str(getattr(args, "sim_nodes", 0) or 0),
            "scheduler_config": getattr(args, "scheduler_config", "") or "",
            "scheduler_in_process": "1" if getattr(args, "scheduler_in_process", False) else "",
            "leader_elect": "1" if _leader_elect(args) else "",
            "log_verbosity": str(getattr(args, "v", 0) or 0),
            "log_format": getattr(args, "log_format", "text") or "text",
            "cluster_cidr": getattr(args, "cluster_cidr", "") or "",
            "proxy_mode": getattr(args, "proxy_mode", "") or "",
            "dns_port": str(getattr(args, "dns_port", 53)),
            "dns_metrics_port": str(getattr(args, "dns_metrics_port", 9153)),
            "dns_upstreams": ",".join(getattr(args, "dns_upstream", [])),
        },
        kubelet=_kubelet_config(args),
        **security_config(args),
    )


def _leader_elect(args: argparse.Namespace) -> bool:
    """``--leader-elect``, by default on exactly when the storage can be shared
    (etcd: several servers; SQLite: one server owns its file)."""
    choice = getattr(args, "leader_elect", None)
    if choice is not None:
        return bool(choice)
    return str(getattr(args, "storage", "") or "").startswith("etcd://")


def _kubelet_config(args: argparse.Namespace) -> object | None:
    """The in-process node agent's settings (``up``, or ``server --agent``)."""
    if args.command == "server" and not getattr(args, "agent", False):
        return None
    if not hasattr(args, "node_name"):
        return None
    root = Path(args.data_dir).expanduser().absolute() / "agent"
    return kubelet_config_from_args(args, root)


def _server_components(config: ServerConfig) -> list[Component]:
    from pinnace.cli.components import server_components

    return server_components(config)


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
