"""Learning the cluster's API servers from the ``kubernetes`` Endpoints.

Several ``pinnace server`` processes may share one etcd; each lists its
advertise address and port in the Endpoints ``default/kubernetes`` while it
is alive (as upstream's lease endpoint reconciler does). A node agent that
joined through one of them reads that list every ``interval`` seconds and
lets its client fail over to every server in it, after the servers it was
given (``--server A[,B...]``), as k3s's agent load balancer does. A server
added to the cluster later is then found without a new flag, and an agent
given one server survives that server's loss.

The list is read with a GET, which the Node authorizer allows a node (a
watch of Endpoints it does not). Clients on the server's Unix-socket
loopback learn nothing: they live in that server's process.

Concurrency model: one task per client, a GET every ``interval`` seconds
(a minute by default).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging

from pinnace.aio import in_background
from pinnace.client.clock import REAL_CLOCK, Clock
from pinnace.client.errors import ApiError
from pinnace.client.objects import ENDPOINTS, Obj
from pinnace.client.rest import Client
from pinnace.client.transport import AiohttpTransport, TransportError

__all__ = ["follow_api_servers", "follow_api_servers_in_background", "server_urls"]

log = logging.getLogger("pinnace.client.apiservers")

#: servers come and go rarely; two GETs a minute per node (kubelet, kube-proxy) is little
DEFAULT_INTERVAL = 60.0


def server_urls(endpoints: Obj) -> list[str]:
    """``https://address:port`` of every API server in a ``kubernetes``
    Endpoints object, in its order (one subset per port when servers listen
    on different ports)."""
    urls: list[str] = []
    for subset in endpoints.get("subsets") or []:
        ports = [
            p["port"]
            for p in subset.get("ports") or []
            if isinstance(p.get("port"), int) and p.get("protocol", "TCP") == "TCP"
        ]
        for address in subset.get("addresses") or []:
            ip = address.get("ip")
            try:
                parsed = ipaddress.ip_address(ip)
            except ValueError:
                continue
            host = f"[{parsed}]" if parsed.version == 6 else str(parsed)
            urls.extend(f"https://{host}:{port}" for port in ports)
    return list(dict.fromkeys(urls))


async def follow_api_servers(
    client: Client, *, interval: float = DEFAULT_INTERVAL, clock: Clock = REAL_CLOCK
) -> None:
    """Keep ``client``'s fail-over list in step with the cluster's API
    servers until cancelled; returns at once for a non-HTTPS client."""
    transport = client.transport
    if not isinstance(transport, AiohttpTransport) or not transport.can_fail_over:
        return
    while True:
        try:
            urls = server_urls(await client.get(ENDPOINTS, "kubernetes", namespace="default"))
            if urls and transport.learn_servers(urls):
                log.info("API servers to fail over between: %s", ", ".join(transport.servers))
        except (ApiError, TransportError) as e:
            log.debug("reading the API servers from default/kubernetes: %s", e)
        await clock.sleep(interval)


def follow_api_servers_in_background(
    client: Client, *, interval: float = DEFAULT_INTERVAL
) -> contextlib.AbstractAsyncContextManager[None]:
    """Run :func:`follow_api_servers` for ``client`` while the block runs."""
    return in_background(follow_api_servers(client, interval=interval), "follow-api-servers")
