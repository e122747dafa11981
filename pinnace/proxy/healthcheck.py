"""Per-Service health check servers on ``healthCheckNodePort`` (upstream
``pkg/proxy/healthcheck`` service health server).

A ``type: LoadBalancer`` Service with ``externalTrafficPolicy: Local`` gets a
``spec.healthCheckNodePort``; the cloud load balancer probes it on every node
to learn which nodes hold a local endpoint. For each such Service this serves
HTTP on that port: any path answers ``200`` when this node has at least one
local ready endpoint of the Service (and the proxy itself is healthy), else
``503``, with upstream's JSON body::

    {"service": {"namespace": NS, "name": NAME}, "localEndpoints": N,
     "serviceProxyHealthy": true}

and the headers ``Content-Type: application/json`` and
``X-Content-Type-Options: nosniff``.

:meth:`ServiceHealthServer.sync` is called after each proxier sync with the
current ports and local endpoint counts (from
:class:`~pinnace.proxy.state.ProxyState`): it opens one aiohttp listener per
new port, closes listeners of Services that are gone (or whose port
changed), and updates the counts that requests read. A port that cannot be
bound is logged and retried on the next sync, as upstream does. Listeners
bind every address, or only the given addresses (``--nodeport-addresses``).

Concurrency model: one event loop; :meth:`sync` runs in the proxy's sync
task, requests in aiohttp's handler tasks; both only read/write plain dicts
between awaits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence

from aiohttp import web

__all__ = ["ServiceHealthServer", "health_body"]

log = logging.getLogger("pinnace.proxy.healthcheck")


def health_body(key: str, local_endpoints: int, proxy_healthy: bool) -> tuple[int, str]:
    """(status, JSON body) for Service ``namespace/name``."""
    ns, _, name = key.partition("/")
    body = {
        "service": {"namespace": ns, "name": name},
        "localEndpoints": local_endpoints,
        "serviceProxyHealthy": proxy_healthy,
    }
    status = 200 if local_endpoints > 0 and proxy_healthy else 503
    return status, json.dumps(body, indent=2)


class ServiceHealthServer:
    """The listeners for every Service's ``healthCheckNodePort``."""

    def __init__(self, addresses: Sequence[str] | None = None) -> None:
        #: None: every address (``0.0.0.0``)
        self.addresses = None if addresses is None else list(addresses)
        #: the proxy's own health (false after a failed sync)
        self.proxy_healthy = True
        #: port -> (Service key, runner)
        self._listeners: dict[int, tuple[str, web.AppRunner]] = {}
        self._counts: dict[str, int] = {}

    @property
    def ports(self) -> dict[int, str]:
        """Port -> Service key of the open listeners."""
        return {port: key for port, (key, _) in self._listeners.items()}

    async def sync(self, services: Mapping[str, int], local_endpoints: Mapping[str, int]) -> None:
        """``services``: Service key -> healthCheckNodePort; ``local_endpoints``:
        Service key -> local ready endpoints."""
        self._counts = dict(local_endpoints)
        wanted = {port: key for key, port in services.items() if port > 0}
        for port, (key, runner) in list(self._listeners.items()):
            if wanted.get(port) != key:
                del self._listeners[port]
                log.info("closing health check server for %s on port %d", key, port)
                await runner.cleanup()
        for port, key in sorted(wanted.items()):
            if port in self._listeners:
                continue
            try:
                self._listeners[port] = (key, await self._open(key, port))
            except OSError as e:
                log.error("health check server for %s on port %d (retrying): %s", key, port, e)
                continue
            log.info("opened health check server for %s on port %d", key, port)

    async def close(self) -> None:
        listeners, self._listeners = self._listeners, {}
        for _, runner in listeners.values():
            await runner.cleanup()

    async def _open(self, key: str, port: int) -> web.AppRunner:
        async def handle(_request: web.Request) -> web.Response:
            status, body = health_body(key, self._counts.get(key, 0), self.proxy_healthy)
            return web.Response(
                status=status,
                text=body,
                content_type="application/json",
                headers={"X-Content-Type-Options": "nosniff"},
            )

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            for host in ["0.0.0.0"] if self.addresses is None else self.addresses:
                await web.TCPSite(runner, host, port, reuse_address=True).start()
        except BaseException:
            await runner.cleanup()
            raise
        return runner
