"""Benchmark: cluster DNS queries per second and latency, dnsperf style.

Run: ``.venv/bin/python bench/dns.py [--quick] [--seconds 5] [--window 200]
[--services 5000]``. Prints one table with PASS/MISS against the target of
issue 6 (≥ 10,000 qps for a cached service lookup on one core; p99 printed).

* The server is its own process (pinned to CPU 0 when the machine has more
  than one): :class:`~pinnace.dns.server.DnsServer` on 127.0.0.1, a free
  port, fed a fixed set of ``--services`` Services (a ClusterIP each, plus a
  headless Service with ten endpoints) straight into its record index — no
  API server involved. Upstreams: none (nothing leaves the machine).
* This process (pinned to CPU 1) is the load generator: one non-blocking UDP
  socket keeping ``--window`` queries outstanding, each send timestamped by
  its ID, replies matched by ID; a query unanswered for 2 s counts as lost and
  its slot is reused.

Scenarios, each for ``--seconds``:

* ``cached`` — the same question (``web-0.default.svc.cluster.local A``) under
  changing IDs: after the first reply every answer comes from the cache's
  wire bytes;
* ``uncached`` — the server runs with the cache off and the questions cycle
  through every Service, so each one is parsed, resolved and encoded;
* ``nxdomain`` — a pod's search-path expansion of an already qualified name
  (``…svc.cluster.local.default.svc.cluster.local``), cached.

Reported: replies per second, lost queries, latency p50/p99 (send → reply,
measured in the generator, so it includes both processes' socket work), and
the server's CPU use over the window (1.0 = one full core).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import select
import socket
import struct
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

TARGET_QPS = 10_000


def _unshadow() -> None:
    """This file is named like the dnspython package: keep its folder off the path
    (spawned children inherit the cleaned path)."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]


def _pin(cpu: int) -> None:
    try:
        if os.cpu_count() and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):
        pass


def _serve(conn: Connection, services: int, cache: bool) -> None:
    """Child process: the DNS server until the parent closes the pipe."""
    _unshadow()
    _pin(0)
    from pinnace.dns.cache import AnswerCache
    from pinnace.dns.forward import Forwarder
    from pinnace.dns.index import ClusterIndex
    from pinnace.dns.records import Resolver
    from pinnace.dns.server import DnsServer

    idx = ClusterIndex()
    svcs: list[dict[str, Any]] = [
        {
            "metadata": {"name": f"web-{i}", "namespace": "default"},
            "spec": {
                "clusterIP": f"10.96.{i // 250}.{i % 250 + 1}",
                "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
            },
        }
        for i in range(services)
    ]
    svcs.append(
        {
            "metadata": {"name": "db", "namespace": "default"},
            "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]},
        }
    )
    slices = [
        {
            "metadata": {
                "name": "db-1",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": "db"},
            },
            "endpoints": [
                {"addresses": [f"10.42.0.{i}"], "conditions": {"ready": True}} for i in range(1, 11)
            ],
            "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
        }
    ]
    idx.load(services=svcs, slices=slices, namespaces=["default", "kube-system"])
    answers = AnswerCache(idx, max_ttl=30 if cache else 0)
    # records TTL 5 s would expire the cached answer mid-run; a longer TTL keeps
    # the measurement about the hit path, not about refills
    server = DnsServer(Resolver(idx, ttl=30), answers, Forwarder([]))

    async def main() -> None:
        await server.start("127.0.0.1", 0)
        assert server.udp_address is not None
        conn.send(server.udp_address[1])
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        loop.add_reader(conn.fileno(), done.set)
        await done.wait()
        await server.close()

    asyncio.run(main())


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _query(name: str, qtype: int = 1) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", 0, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", qtype, 1)


def _load(port: int, queries: list[bytes], seconds: float, window: int) -> dict[str, Any]:
    """Keep ``window`` queries in flight for ``seconds``; return the numbers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    free = list(range(window))
    sent_at: dict[int, int] = {}
    latencies: list[int] = []
    lost = 0
    n = 0
    nq = len(queries)
    send, recv = sock.send, sock.recv
    now = time.perf_counter_ns
    start = now()
    end = start + int(seconds * 1e9)
    timeout_ns = 2_000_000_000
    next_sweep = start + timeout_ns
    poller = select.epoll()
    poller.register(sock.fileno(), select.EPOLLIN)
    try:
        while True:
            t = now()
            if t >= end:
                break
            while free:
                qid = free.pop()
                q = queries[n % nq]
                n += 1
                try:
                    send(struct.pack("!H", qid) + q[2:])
                except BlockingIOError:
                    free.append(qid)
                    break
                sent_at[qid] = now()
            poller.poll(0.05)
            while True:
                try:
                    data = recv(4096)
                except BlockingIOError:
                    break
                qid = (data[0] << 8) | data[1]
                t0 = sent_at.pop(qid, None)
                if t0 is not None:
                    latencies.append(now() - t0)
                    free.append(qid)
            if t >= next_sweep:
                next_sweep = t + timeout_ns
                for qid, t0 in list(sent_at.items()):
                    if t - t0 > timeout_ns:
                        del sent_at[qid]
                        free.append(qid)
                        lost += 1
        elapsed = (now() - start) / 1e9
    finally:
        poller.close()
        sock.close()
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] / 1e6 if latencies else 0.0
        )

    return {
        "qps": len(latencies) / elapsed,
        "lost": lost,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "replies": len(latencies),
    }


def _scenario(
    name: str, services: int, cache: bool, queries: list[bytes], seconds: float, window: int
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(child, services, cache), daemon=True)
    proc.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("DNS server did not start")
        port = parent.recv()
        assert proc.pid is not None
        _load(port, queries[:50], 0.3, 10)  # warm up (and fill the cache)
        cpu0 = _cpu_seconds(proc.pid)
        t0 = time.monotonic()
        result = _load(port, queries, seconds, window)
        result["server_cpu"] = (_cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
    finally:
        parent.close()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()
    result["name"] = name
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--window", type=int, default=200, help="queries kept outstanding")
    ap.add_argument("--services", type=int, default=5000)
    ap.add_argument("--quick", action="store_true", help="2 s per scenario, 1,000 services")
    args = ap.parse_args()
    _unshadow()
    if args.quick:
        args.seconds, args.services = 2.0, 1000
    _pin(1)
    names = [f"web-{i}.default.svc.cluster.local" for i in range(args.services)]
    random.Random(1).shuffle(names)
    scenarios = [
        ("cached", True, [_query("web-0.default.svc.cluster.local")]),
        ("uncached", False, [_query(n) for n in names]),
        (
            "nxdomain",
            True,
            [_query("web-0.default.svc.cluster.local.default.svc.cluster.local")],
        ),
    ]
    rows = [
        _scenario(name, args.services, cache, qs, args.seconds, args.window)
        for name, cache, qs in scenarios
    ]
    print(
        f"cluster DNS, {args.services} services, {args.window} outstanding, "
        f"{args.seconds:g} s per scenario, {os.cpu_count()} CPUs"
    )
    print(
        f"{'scenario':<10} {'qps':>9} {'p50 ms':>8} {'p99 ms':>8} {'lost':>6} {'server CPU':>11}  target"
    )
    for r in rows:
        verdict = ""
        if r["name"] == "cached":
            verdict = f"≥ {TARGET_QPS:,} qps: " + ("PASS" if r["qps"] >= TARGET_QPS else "MISS")
        print(
            f"{r['name']:<10} {r['qps']:>9,.0f} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} "
            f"{r['lost']:>6} {r['server_cpu']:>11.2f}  {verdict}"
        )


if __name__ == "__main__":
    main()
