"""Streaming for the kubelet: exec, attach and port-forward between clients and the runtime.

Clients (kubectl, the Python client, the API server passing their bytes
through) speak WebSocket channel protocols or SPDY/3.1; containerd's CRI
streaming server speaks SPDY/3.1. ``remotecommand`` and ``portforward`` hold
the aiohttp handlers that bridge the two; ``spdy``, ``channels`` and
``upgrade`` are the protocol layers they are built from.
"""

from pinnace.kubelet.streaming.portforward import serve_portforward
from pinnace.kubelet.streaming.remotecommand import ExecOptions, serve_attach, serve_exec

__all__ = ["ExecOptions", "serve_attach", "serve_exec", "serve_portforward"]
