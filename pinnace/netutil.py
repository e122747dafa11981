"""Small host-network facts shared by components that must not import each
other (the API server and the node agent): which IPv4 address this host uses
for outside traffic.

Blocking but instant (a UDP ``connect`` only consults the routing table), so
callers may use it on the event loop once at start-up.
"""

from __future__ import annotations

import contextlib
import socket

__all__ = ["default_route_ip"]

#: TEST-NET-1 (RFC 5737): a destination that only selects the default route
_PROBE = ("192.0.2.1", 9)


def default_route_ip() -> str | None:
    """The source address the host would use for outside traffic, or None when
    there is no IPv4 default route. No packet is sent: connecting a UDP socket
    only picks a route."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(_PROBE)
        addr: str = s.getsockname()[0]
        return addr
    return None
