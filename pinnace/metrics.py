"""Process-wide metrics: every component keeps its own
``prometheus_client.CollectorRegistry`` (so several can share one process)
and registers it here; the API server's ``/metrics`` renders them all, and
appends what the components it runs as child processes serve
(:func:`register_remote`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

log = logging.getLogger("pinnace.metrics")

RemoteFetch = Callable[[], Awaitable[bytes]]

_REGISTRIES: list[CollectorRegistry] = []
_REMOTES: dict[str, RemoteFetch] = {}
REMOTE_TIMEOUT = 5.0


def register(registry: CollectorRegistry) -> CollectorRegistry:
    if registry not in _REGISTRIES:
        _REGISTRIES.append(registry)
    return registry


def render() -> bytes:
    """The Prometheus text exposition of every registered registry."""
    return b"".join(generate_latest(r) for r in _REGISTRIES)


def register_remote(name: str, fetch: RemoteFetch) -> None:
    """Append ``await fetch()`` (a text exposition) to :func:`render_all`."""
    _REMOTES[name] = fetch


def unregister_remote(name: str) -> None:
    _REMOTES.pop(name, None)


async def render_all() -> bytes:
    """:func:`render` and then each remote's exposition; a remote that cannot
    answer within ``REMOTE_TIMEOUT`` (a child process starting or restarting)
    is left out of this scrape."""
    parts = [render()]
    remotes = list(_REMOTES.items())
    answers = await asyncio.gather(
        *(asyncio.wait_for(fetch(), REMOTE_TIMEOUT) for _, fetch in remotes),
        return_exceptions=True,
    )
    for (name, _), answer in zip(remotes, answers, strict=True):
        if isinstance(answer, bytes):
            parts.append(answer if answer.endswith(b"\n") or not answer else answer + b"\n")
        elif isinstance(answer, Exception):
            log.debug("metrics of %s left out: %s", name, answer)
        else:  # a BaseException (cancellation) belongs to the caller
            raise answer
    return b"".join(parts)


async def serve_unix(path: str | os.PathLike[str]) -> None:
    """Serve ``GET /metrics`` (:func:`render`) on a Unix socket at ``path``
    (mode 0600) until cancelled: how a component in a child process of the
    server hands its metrics to the server's ``/metrics``."""
    from aiohttp import web

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=render(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
        )

    sock_path = Path(path)
    with contextlib.suppress(FileNotFoundError):
        sock_path.unlink()  # left by an earlier run
    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.UnixSite(runner, str(sock_path))
        await site.start()
        os.chmod(sock_path, 0o600)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        with contextlib.suppress(OSError):
            sock_path.unlink()
