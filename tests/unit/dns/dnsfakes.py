"""Helpers for the cluster DNS tests: a fixed set of cluster objects and a
fake upstream resolver on 127.0.0.1 (traffic never leaves the machine)."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import Any, cast

import dns.message
import dns.rrset

from pinnace.dns.index import ClusterIndex

Obj = dict[str, Any]


def service(
    ns: str, name: str, ip: str | None, ports: list[tuple[str, int, str]], **spec: Any
) -> Obj:
    s: Obj = {"ports": [{"name": n, "port": p, "protocol": proto} for n, p, proto in ports]}
    if ip is not None:
        s["clusterIP"] = ip
        s["clusterIPs"] = [ip] if ip != "None" else ["None"]
    s.update(spec)
    return {"metadata": {"name": name, "namespace": ns}, "spec": s}


def endpoint_slice(
    ns: str, name: str, svc: str, endpoints: list[Obj], ports: list[tuple[str, int, str]]
) -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"kubernetes.io/service-name": svc},
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": n, "port": p, "protocol": proto} for n, p, proto in ports],
    }


def cluster_index() -> ClusterIndex:
    idx = ClusterIndex(clock=lambda: 1700000000.0)
    idx.load(
        namespaces=["default", "kube-system", "other"],
        services=[
            service("default", "web", "10.96.0.20", [("http", 80, "TCP"), ("dns", 53, "UDP")]),
            service("default", "db", "None", [("pg", 5432, "TCP")]),
            service("default", "empty", "None", [("http", 80, "TCP")]),
            service("default", "ext", None, [], type="ExternalName", externalName="example.com"),
            service(
                "default",
                "alias",
                None,
                [],
                type="ExternalName",
                externalName="web.default.svc.cluster.local",
            ),
            service("kube-system", "kube-dns", "10.96.0.10", [("dns", 53, "UDP")]),
        ],
        slices=[
            endpoint_slice(
                "default",
                "db-1",
                "db",
                [
                    {"addresses": ["10.42.0.5"], "hostname": "db-0", "conditions": {"ready": True}},
                    {"addresses": ["10.42.0.6"], "conditions": {}},
                    {"addresses": ["10.42.0.7"], "conditions": {"ready": False}},
                ],
                [("pg", 5432, "TCP")],
            ),
            endpoint_slice(
                "default",
                "web-1",
                "web",
                [{"addresses": ["10.42.0.9"], "conditions": {"ready": True}}],
                [("http", 8080, "TCP"), ("dns", 5353, "UDP")],
            ),
        ],
    )
    return idx


Handler = Callable[[dns.message.Message], dns.message.Message | None]


class FakeUpstream:
    """A resolver on 127.0.0.1 (UDP and TCP on one port) answering with ``handler``
    (``None``: no answer, the query times out)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.udp_queries: list[dns.message.Message] = []
        self.tcp_queries: list[dns.message.Message] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.tcp: asyncio.Server | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> FakeUpstream:
        loop = asyncio.get_running_loop()
        upstream = self

        class Proto(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                upstream.transport = cast(asyncio.DatagramTransport, transport)

            def datagram_received(self, data: bytes, addr: Any) -> None:
                q = dns.message.from_wire(data)
                upstream.udp_queries.append(q)
                r = upstream.handler(q)
                if r is not None and upstream.transport is not None:
                    upstream.transport.sendto(r.to_wire(), addr)

        for _ in range(10):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            try:
                self.tcp = await asyncio.start_server(self._tcp_client, "127.0.0.1", port)
            except OSError:
                sock.close()
                continue
            await loop.create_datagram_endpoint(Proto, sock=sock)
            self.port = port
            return self
        raise RuntimeError("no free port for the fake upstream")

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            (n,) = struct.unpack("!H", await reader.readexactly(2))
            q = dns.message.from_wire(await reader.readexactly(n))
            self.tcp_queries.append(q)
            r = self.handler(q)
            if r is not None:
                r.flags &= ~dns.flags.TC
                wire = r.to_wire()
                writer.write(struct.pack("!H", len(wire)) + wire)
                await writer.drain()
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if self.tcp is not None:
            self.tcp.close()
            await self.tcp.wait_closed()


def answer_a(ip: str, ttl: int = 60) -> Handler:
    def handler(q: dns.message.Message) -> dns.message.Message:
        r = dns.message.make_response(q, recursion_available=True)
        r.answer.append(dns.rrset.from_text(q.question[0].name, ttl, "IN", "A", ip))
        return r

    return handler
