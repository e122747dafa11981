"""Benchmark of the pinnace API server against a bare aiohttp baseline.

Run: ``.venv/bin/python bench/apiserver.py [--quick] [--json PATH]`` (or
``make bench``). Prints one table; ``--json`` also writes every figure.

What runs where (each its own process, so CPU and RSS are measured apart):

* the **orchestrator** (this process, asyncio): starts the servers, drives
  the phases, samples ``/proc/<pid>/stat`` (CPU) and ``/proc/<pid>/status``
  (VmRSS) of every process, and writes the watch phase's objects;
* the **servers**: ``pinnace server`` on SQLite in a temp dir, and the
  **baseline**, a bare aiohttp app in this file (``--baseline-server``) with
  the same TLS context (``pinnace.apiserver.tls.server_ssl_context``, same
  certificates), the same single-process asyncio model and the same URL
  paths, answering with trivial handlers over an in-memory dict;
* the **load generator**: ``--loadgen-procs`` worker processes (spawned),
  each an asyncio loop with one aiohttp client session (admin client cert,
  keep-alive connections). A phase is a spec sent over a pipe; every worker
  starts it at the same wall-clock instant and sends back raw results.

Both servers see exactly the same phases from the same load generator, so
the ratio column says what pinnace costs over the HTTP/TLS stack itself.
Every loop is bounded by a count and a deadline, everything listens on
127.0.0.1 only, and the temp dir and all processes go away on exit, on
Ctrl-C and on SIGTERM (the servers also get SIGTERM when this process dies:
``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ctypes
import datetime
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml

ROOT = Path(__file__).resolve().parent.parent
Json = dict[str, Any]

TABLE_ACCEPT = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)
SENT_AT = "bench.pinnace.io/sent-at"
CLK_TCK = os.sysconf("SC_CLK_TCK")
REQUEST_TIMEOUT = 30.0  # seconds, any single request
PHASE_SLACK = 60.0  # seconds a phase may overrun its nominal length
# what `pinnace server` runs besides the API server; the bench measures the API
# server alone unless --with-components (the scheduler would act on every pod)
IN_SERVER_COMPONENTS = "controller-manager,scheduler"
MAX_PER_PHASE = 100_000  # requests per closed-loop phase, whatever the duration


# -- the workload --------------------------------------------------------------


def pod_body(name: str, extra_annotations: dict[str, str] | None = None) -> bytes:
    """A realistic small pod (what a Deployment stamps out): ~600 bytes."""
    meta: Json = {
        "name": name,
        "labels": {"app": "bench", "tier": "web", "pod-template-hash": "5d8f7c9b4"},
    }
    if extra_annotations:
        meta["annotations"] = extra_annotations
    return orjson.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "registry.k8s.io/pause:3.9",
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                        "env": [{"name": "MODE", "value": "bench"}],
                        "resources": {
                            "requests": {"cpu": "10m", "memory": "16Mi"},
                            "limits": {"memory": "64Mi"},
                        },
                        "readinessProbe": {
                            "httpGet": {"path": "/healthz", "port": 8080},
                            "periodSeconds": 10,
                        },
                    }
                ],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
            },
        }
    )


def configmap_body(name: str) -> bytes:
    return orjson.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"app": "bench"}},
            "data": {"config.yaml": "listen: 8080\nlog: info\n", "mode": "bench"},
        }
    )


def body_for(kind: str, name: str) -> bytes:
    return pod_body(name) if kind == "pods" else configmap_body(name)


def collection(ns: str, kind: str) -> str:
    return f"/api/v1/namespaces/{ns}/{kind}"


# -- statistics ----------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (NaN if empty)."""
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[i]


def median(values: Sequence[float]) -> float:
    return percentile(sorted(values), 0.5)


@dataclass(slots=True)
class CpuSample:
    """utime+stime of a set of processes (seconds) at a monotonic instant."""

    at: float
    seconds: dict[str, float]


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # after the ")" field 3 is state, so utime/stime (14/15 overall) are 11/12
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent busy since boot (user..steal in /proc/stat)."""
    with open("/proc/stat") as f:
        parts = f.readline().split()
    # cpu user nice system idle iowait irq softirq steal ...
    vals = [int(x) for x in parts[1:9]]
    return (sum(vals) - vals[3] - vals[4]) / CLK_TCK


def rss_mb(pid: int, field_name: str = "VmRSS") -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


# -- TLS material ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientCerts:
    """Files for an aiohttp client: the cluster CA and the admin cert/key."""

    ca: str
    cert: str
    key: str

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


def extract_client_certs(kubeconfig: Path, out_dir: Path) -> ClientCerts:
    cfg = yaml.safe_load(kubeconfig.read_text())
    cluster = cfg["clusters"][0]["cluster"]
    user = cfg["users"][0]["user"]
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "ca.crt": cluster["certificate-authority-data"],
        "client.crt": user["client-certificate-data"],
        "client.key": user["client-key-data"],
    }
    for name, data in files.items():
        p = out_dir / name
        p.write_bytes(base64.b64decode(data))
        p.chmod(0o600)
    return ClientCerts(
        str(out_dir / "ca.crt"), str(out_dir / "client.crt"), str(out_dir / "client.key")
    )


# -- the baseline server ---------------------------------------------------------


def run_baseline_server(pki_dir: Path, port: int, ready_file: Path) -> None:
    """A bare aiohttp HTTPS app with the pinnace server's TLS context and the
    same URL paths: POST stores and echoes, GET returns a stored dict or the
    namespace's list, ``?watch=true`` streams the namespace's new objects."""
    from aiohttp import web

    from pinnace.apiserver.certs import Pki
    from pinnace.apiserver.tls import server_ssl_context

    objects: dict[str, dict[str, Json]] = {}  # "ns/kind" -> name -> object
    watchers: dict[str, set[asyncio.Queue[bytes]]] = {}
    revision = [0]

    async def version(request: web.Request) -> web.Response:
        return web.json_response({"gitVersion": "baseline"})

    async def create(request: web.Request) -> web.Response:
        ns, kind = request.match_info["ns"], request.match_info["kind"]
        obj: Json = orjson.loads(await request.read())
        revision[0] += 1
        obj["metadata"]["namespace"] = ns
        obj["metadata"]["resourceVersion"] = str(revision[0])
        objects.setdefault(f"{ns}/{kind}", {})[obj["metadata"]["name"]] = obj
        line = orjson.dumps({"type": "ADDED", "object": obj}) + b"\n"
        for q in watchers.get(f"{ns}/{kind}", ()):
            q.put_nowait(line)
        return web.Response(body=orjson.dumps(obj), status=201, content_type="application/json")

    async def get(request: web.Request) -> web.Response:
        ns, kind = request.match_info["ns"], request.match_info["kind"]
        obj = objects.get(f"{ns}/{kind}", {}).get(request.match_info["name"])
        if obj is None:
            return web.json_response({"kind": "Status", "code": 404}, status=404)
        return web.Response(body=orjson.dumps(obj), content_type="application/json")

    async def list_or_watch(request: web.Request) -> web.StreamResponse:
        ns, kind = request.match_info["ns"], request.match_info["kind"]
        if request.query.get("watch") == "true":
            q: asyncio.Queue[bytes] = asyncio.Queue()
            watchers.setdefault(f"{ns}/{kind}", set()).add(q)
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            try:
                async with asyncio.timeout(float(request.query.get("timeoutSeconds", "300"))):
                    while True:
                        chunk = [await q.get()]
                        while not q.empty():
                            chunk.append(q.get_nowait())
                        await resp.write(b"".join(chunk))
            except (TimeoutError, ConnectionResetError):
                pass
            finally:
                watchers[f"{ns}/{kind}"].discard(q)
            return resp
        items = list(objects.get(f"{ns}/{kind}", {}).values())
        body = orjson.dumps(
            {
                "kind": "PodList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(revision[0])},
                "items": items,
            }
        )
        return web.Response(body=body, content_type="application/json")

    async def main() -> None:
        app = web.Application(client_max_size=3 * 1024 * 1024)
        app.router.add_get("/version", version)
        app.router.add_post("/api/v1/namespaces/{ns}/{kind}", create)
        app.router.add_get("/api/v1/namespaces/{ns}/{kind}", list_or_watch)
        app.router.add_get("/api/v1/namespaces/{ns}/{kind}/{name}", get)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(
            runner, "127.0.0.1", port, ssl_context=server_ssl_context(Pki.at(pki_dir))
        )
        await site.start()
        ready_file.write_text("ok")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())


# -- load generator worker (runs in its own process) -------------------------------


@dataclass
class WorkerArgs:
    index: int
    nprocs: int
    base_url: str
    certs: ClientCerts


def worker_main(conn: multiprocessing.connection.Connection, args: WorkerArgs) -> None:
    """Serve phase specs from ``conn`` until None or EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator decides
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    while True:
        try:
            spec = conn.recv()
        except (EOFError, OSError):
            return
        if spec is None:
            return
        try:
            result = asyncio.run(run_spec(conn, args, spec))
        except Exception as e:  # reported to the orchestrator, which fails loudly
            result = {"fatal": f"{type(e).__name__}: {e}"}
        conn.send(result)


def new_session(args: WorkerArgs, limit: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        ssl=args.certs.context(), limit=limit, limit_per_host=limit, keepalive_timeout=120
    )
    return aiohttp.ClientSession(
        base_url=args.base_url,
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        headers={"User-Agent": "pinnace-bench/1"},
    )


async def warm_up(session: aiohttp.ClientSession, n: int) -> None:
    """Open ``n`` keep-alive connections (TLS handshakes outside the window)."""

    async def one() -> None:
        async with session.get("/version") as r:
            await r.read()

    await asyncio.gather(*(one() for _ in range(n)))


async def sleep_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def run_spec(
    conn: multiprocessing.connection.Connection, args: WorkerArgs, spec: Json
) -> Json:
    op = spec["op"]
    if op == "closed":
        return await closed_loop(args, spec)
    if op == "open":
        return await open_loop(args, spec)
    if op == "list":
        return await list_latency(args, spec)
    if op == "watch":
        return await watch(conn, args, spec)
    if op == "noop":
        return {}
    raise ValueError(f"unknown op {op!r}")


def my_share(total: int, args: WorkerArgs) -> int:
    return total // args.nprocs + (1 if args.index < total % args.nprocs else 0)


async def closed_loop(args: WorkerArgs, spec: Json) -> Json:
    """``clients`` coroutines, each sending its next request as soon as the
    previous one is answered, until ``duration`` or ``max_count`` requests."""
    clients = my_share(spec["clients"], args)
    cap = my_share(spec["max_count"], args)
    method: str = spec["method"]
    kind: str = spec["kind"]
    ns: str = spec["ns"]
    names: list[str] = spec.get("names") or []
    path = collection(ns, kind)
    latencies: list[float] = []
    created: list[str] = []
    errors: dict[str, int] = {}
    issued = 0
    if clients == 0:
        return {"ok": 0, "errors": {}, "latencies": [], "elapsed": 0.0, "created": []}
    async with new_session(args, clients) as session:
        await warm_up(session, clients)
        start = spec["start_at"]
        deadline = start + spec["duration"]
        await sleep_until(start)

        async def client(c: int) -> None:
            nonlocal issued
            i = 0
            while issued < cap and time.time() < deadline:
                issued += 1
                i += 1
                t0 = time.perf_counter()
                try:
                    if method == "POST":
                        name = f"{spec['prefix']}-{args.index}-{c}-{i}"
                        resp = await session.post(
                            path,
                            data=body_for(kind, name),
                            headers={"Content-Type": "application/json"},
                        )
                    else:
                        name = names[(c * 7919 + i * 104729 + args.index) % len(names)]
                        resp = await session.get(f"{path}/{name}")
                    async with resp:
                        await resp.read()
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError) as e:
                    errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                    continue
                if status >= 300:
                    errors[str(status)] = errors.get(str(status), 0) + 1
                    continue
                latencies.append(time.perf_counter() - t0)
                if method == "POST":
                    created.append(name)

        await asyncio.gather(*(client(c) for c in range(clients)))
        elapsed = time.time() - start
    return {
        "ok": len(latencies),
        "errors": errors,
        "latencies": latencies,
        "elapsed": elapsed,
        "created": created,
    }


async def open_loop(args: WorkerArgs, spec: Json) -> Json:
    """Requests scheduled at fixed instants (``rate`` per second in total,
    interleaved across workers); latency is measured from the scheduled
    instant, so queueing anywhere counts (no coordinated omission)."""
    rate: float = spec["rate"]
    n_total = int(rate * spec["duration"])
    mine = range(args.index, n_total, args.nprocs)
    path = collection(spec["ns"], spec["kind"])
    latencies: list[float] = []
    errors: dict[str, int] = {}
    late_starts = 0
    async with new_session(args, spec["connections"]) as session:
        await warm_up(session, min(spec["connections"], 16))
        start = spec["start_at"]
        await sleep_until(start)
        t0_wall = time.time()
        t0 = time.perf_counter() - (t0_wall - start)  # perf_counter of ``start``

        async def one(i: int, scheduled: float) -> None:
            name = f"{spec['prefix']}-{i}"
            try:
                async with session.post(
                    path,
                    data=body_for(spec["kind"], name),
                    headers={"Content-Type": "application/json"},
                ) as resp:
                    await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as e:
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                return
            if status >= 300:
                errors[str(status)] = errors.get(str(status), 0) + 1
                return
            latencies.append(time.perf_counter() - scheduled)

        tasks = []
        for i in mine:
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.005:
                late_starts += 1
            tasks.append(asyncio.create_task(one(i, scheduled)))
        await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT + 5)
        for t in tasks:
            t.cancel()
    return {"ok": len(latencies), "errors": errors, "latencies": latencies, "late": late_starts}


async def list_latency(args: WorkerArgs, spec: Json) -> Json:
    """``repeat`` sequential LISTs; time to the last byte of each."""
    times: list[float] = []
    size = 0
    items = -1
    async with new_session(args, 1) as session:
        await warm_up(session, 1)
        await sleep_until(spec["start_at"])
        for _ in range(spec["repeat"]):
            t0 = time.perf_counter()
            async with session.get(spec["path"], headers={"Accept": spec["accept"]}) as resp:
                data = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"LIST answered {resp.status}: {data[:300]!r}")
            times.append(time.perf_counter() - t0)
            size = len(data)
        doc = orjson.loads(data)
        items = len(doc.get("items") or doc.get("rows") or [])
    return {"times": times, "bytes": size, "items": items}


async def watch(conn: multiprocessing.connection.Connection, args: WorkerArgs, spec: Json) -> Json:
    """``watchers`` streams, each on its own connection; report "ready" on
    ``conn`` once all are open, then record (receipt - sent-at) for each event
    until every watcher saw ``expected`` events or the deadline passes."""
    n = my_share(spec["watchers"], args)
    expected: int = spec["expected"]
    latencies: list[float] = []
    counts = [0] * n
    opened = 0
    all_open = asyncio.Event()
    url = f"{collection(spec['ns'], spec['kind'])}?watch=true&timeoutSeconds={int(spec['timeout'])}"

    async def watcher(i: int, session: aiohttp.ClientSession) -> None:
        nonlocal opened
        async with session.get(url) as resp:
            if resp.status != 200:
                raise RuntimeError(f"watch answered {resp.status}")
            opened += 1
            if opened == n:
                all_open.set()
            while counts[i] < expected:
                line = await resp.content.readline()
                now = time.time()
                if not line:
                    return
                ev = orjson.loads(line)
                ann = (ev.get("object", {}).get("metadata", {}).get("annotations")) or {}
                if SENT_AT in ann:
                    latencies.append(now - float(ann[SENT_AT]))
                    counts[i] += 1

    # one session per watcher: its own connection, its own read buffer
    sessions = [new_session(args, 1) for _ in range(n)]
    try:
        tasks = [asyncio.create_task(watcher(i, s)) for i, s in enumerate(sessions)]
        if n:
            async with asyncio.timeout(30):
                await all_open.wait()
        conn.send({"ready": True})
        _done, pending = await asyncio.wait(tasks, timeout=spec["timeout"])
        for t in pending:
            t.cancel()
        failures = [repr(t.exception()) for t in _done if t.exception() is not None]
    finally:
        for s in sessions:
            await s.close()
    return {
        "latencies": latencies,
        "complete": sum(1 for c in counts if c >= expected),
        "watchers": n,
        "failures": failures[:3],
    }


# -- the orchestrator ----------------------------------------------------------------


def _pdeathsig() -> None:
    """In a child before exec: SIGTERM when the orchestrator dies, own group."""
    os.setpgid(0, 0)
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_process(
    args: list[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as logf:
        return subprocess.Popen(
            args,
            stdout=logf,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            preexec_fn=_pdeathsig,
            env={**os.environ, **(env or {})},
        )


async def wait_for_file(
    path: Path, proc: subprocess.Popen[bytes], log_path: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited early:\n{log_path.read_text()[-3000:]}")
        if path.exists():
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{proc.args} not ready after {timeout}s:\n{log_path.read_text()[-3000:]}")


def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@dataclass
class Settings:
    quick: bool
    loadgen_procs: int
    create_clients: tuple[int, ...]
    get_clients: tuple[int, ...]
    phase_seconds: float
    pods: int
    list_repeat: int
    open_rate: float
    open_seconds: float
    watchers: int
    watch_rate: float
    watch_seconds: float
    profile_dir: Path | None = None
    only: str | None = None
    server_env: dict[str, str] = field(default_factory=dict)
    with_components: bool = False

    @classmethod
    def make(cls, quick: bool, loadgen_procs: int, profile_dir: Path | None) -> Settings:
        if quick:
            return cls(
                quick,
                loadgen_procs,
                (16,),
                (16,),
                3.0,
                2000,
                3,
                200.0,
                4.0,
                100,
                20.0,
                3.0,
                profile_dir,
            )
        return cls(
            quick,
            loadgen_procs,
            (16, 64),
            (16, 64),
            8.0,
            10000,
            5,
            200.0,
            15.0,
            100,
            20.0,
            10.0,
            profile_dir,
        )


@dataclass
class Target:
    """One server under test and its load-generator workers."""

    name: str
    proc: subprocess.Popen[bytes]
    base_url: str
    certs: ClientCerts
    settings: Settings
    workers: list[tuple[multiprocessing.Process, multiprocessing.connection.Connection]] = field(
        default_factory=list
    )
    results: Json = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start_workers(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        n = self.settings.loadgen_procs
        for i in range(n):
            parent, child = ctx.Pipe()
            p = ctx.Process(
                target=worker_main,
                args=(child, WorkerArgs(i, n, self.base_url, self.certs)),
                name=f"bench-loadgen-{i}",
                daemon=True,
            )
            p.start()
            child.close()
            self.workers.append((p, parent))

    def stop_workers(self) -> None:
        for _, c in self.workers:
            with contextlib.suppress(OSError):
                c.send(None)
        for p, c in self.workers:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)
            c.close()
        self.workers.clear()

    def cpu(self) -> CpuSample:
        secs = {"server": cpu_seconds(self.pid), "bench": cpu_seconds(os.getpid())}
        for i, (p, _) in enumerate(self.workers):
            secs[f"loadgen{i}"] = cpu_seconds(p.pid or 0)
        secs["machine"] = machine_busy_seconds()
        return CpuSample(time.monotonic(), secs)

    async def run(
        self,
        spec: Json,
        timeout: float,
        during: Callable[[], Awaitable[None]] | None = None,
    ) -> tuple[list[Json], Json]:
        """Send ``spec`` to every worker; returns their results and the CPU
        used (cores) by the server and the load generator during the phase.
        ``during`` runs once every worker said "ready" (watch phase)."""
        spec = {**spec, "start_at": time.time() + 1.0 + 0.2 * len(self.workers)}
        for _, c in self.workers:
            c.send(spec)
        await asyncio.sleep(max(0.0, spec["start_at"] - time.time()))
        before = self.cpu()
        results: list[Json] = []

        async def recv(c: multiprocessing.connection.Connection) -> Json:
            # wait on the pipe's fd in the loop (no thread that could outlive Ctrl-C)
            loop = asyncio.get_running_loop()
            readable: asyncio.Future[None] = loop.create_future()
            fd = c.fileno()
            loop.add_reader(fd, lambda: readable.done() or readable.set_result(None))
            try:
                await asyncio.wait_for(readable, timeout)
            except TimeoutError:
                raise TimeoutError(f"phase {spec['op']} did not finish in {timeout:.0f}s") from None
            finally:
                loop.remove_reader(fd)
            msg: Json = c.recv()
            return msg

        if during is not None:
            readies = await asyncio.gather(*(recv(c) for _, c in self.workers))
            for r in readies:
                if "fatal" in r:
                    raise RuntimeError(f"{self.name}: load generator failed: {r['fatal']}")
            before = self.cpu()
            await during()
        results = list(await asyncio.gather(*(recv(c) for _, c in self.workers)))
        after = self.cpu()
        for r in results:
            if "fatal" in r:
                raise RuntimeError(f"{self.name}: load generator failed: {r['fatal']}")
        wall = after.at - before.at
        cores = {k: round((after.seconds[k] - v) / wall, 2) for k, v in before.seconds.items()}
        cores["loadgen"] = round(sum(v for k, v in cores.items() if k.startswith("loadgen")), 2)
        # whatever else ran on the machine meanwhile (other sessions, py-spy)
        cores["other"] = round(
            max(0.0, cores.pop("machine") - cores["server"] - cores["loadgen"] - cores["bench"]), 2
        )
        return results, cores


def merge_latencies(results: list[Json]) -> list[float]:
    out: list[float] = []
    for r in results:
        out.extend(r["latencies"])
    out.sort()
    return out


def merge_errors(results: list[Json]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            out[k] = out.get(k, 0) + v
    return out


def ms(x: float) -> float:
    return round(x * 1000.0, 2)


async def ensure_namespace(t: Target, name: str) -> None:
    if t.name == "baseline":
        return
    # The server runs without its controller manager, whose service-account
    # controller would make the namespace's default ServiceAccount;
    # ServiceAccount admission refuses pods until it exists.
    ctx = t.certs.context()
    objects = [
        ("/api/v1/namespaces", {"kind": "Namespace", "metadata": {"name": name}}),
        (
            f"/api/v1/namespaces/{name}/serviceaccounts",
            {"kind": "ServiceAccount", "metadata": {"name": "default"}},
        ),
    ]
    async with aiohttp.ClientSession(base_url=t.base_url) as s:
        for path, obj in objects:
            body = orjson.dumps({"apiVersion": "v1", **obj})
            headers = {"Content-Type": "application/json"}
            async with s.post(path, data=body, ssl=ctx, headers=headers) as r:
                if r.status not in (201, 409):
                    raise RuntimeError(f"creating {path} {name}: {r.status} {await r.text()}")


@contextlib.asynccontextmanager
async def profiling(t: Target, label: str) -> AsyncIterator[None]:
    """With ``--profile DIR``: py-spy records the pinnace server during the
    block into ``DIR/<label>.txt`` (collapsed stacks, idle threads left out),
    stopped with SIGINT when the block ends."""
    d = t.settings.profile_dir
    spy = shutil.which("py-spy", path=str(ROOT / ".venv" / "bin")) or shutil.which("py-spy")
    if d is None or t.name != "pinnace" or spy is None:
        yield
        return
    proc = await asyncio.create_subprocess_exec(
        spy,
        "record",
        "--pid",
        str(t.pid),
        "--rate",
        "250",
        "--format",
        "raw",
        "--output",
        str(d / f"{label}.txt"),
        "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        preexec_fn=_pdeathsig,
    )
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def phase_creates(t: Target, kind: str, ns: str, clients: int, max_count: int) -> Json:
    s = t.settings
    spec = {
        "op": "closed",
        "method": "POST",
        "kind": kind,
        "ns": ns,
        "clients": clients,
        "duration": s.phase_seconds,
        "max_count": max_count,
        "prefix": f"{kind[:2]}{clients}",
    }
    async with profiling(t, f"create-{kind}-c{clients}"):
        results, cores = await t.run(spec, s.phase_seconds + PHASE_SLACK)
    return closed_summary(results, cores)


def closed_summary(results: list[Json], cores: Json) -> Json:
    lat = merge_latencies(results)
    elapsed = max(r["elapsed"] for r in results) if results else 0.0
    ok = sum(r["ok"] for r in results)
    return {
        "ok": ok,
        "per_s": round(ok / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": ms(percentile(lat, 0.5)),
        "p99_ms": ms(percentile(lat, 0.99)),
        "errors": merge_errors(results),
        "cores": cores,
        "created": [n for r in results for n in r.get("created", [])],
    }


async def run_suite(t: Target, log: Callable[[str], None]) -> Json:
    """Every phase against one server, in the same order for both."""
    s = t.settings
    res: Json = {"rss_idle_mb": round(rss_mb(t.pid), 1)}
    ns = "bench"
    for c in s.create_clients:
        await ensure_namespace(t, f"bench-c{c}")
        await ensure_namespace(t, f"bench-cm{c}")
    for n in ("bench", "bench-ol", "bench-watch"):
        await ensure_namespace(t, n)
    t.start_workers()
    try:
        await t.run({"op": "noop"}, 60)  # workers imported and ready
        log(f"{t.name}: creating {s.pods} pods with 64 clients")
        spec = {
            "op": "closed",
            "method": "POST",
            "kind": "pods",
            "ns": ns,
            "clients": 64,
            "duration": 300.0,
            "max_count": s.pods,
            "prefix": "fill",
        }
        async with profiling(t, "create-pods-fill"):
            results, cores = await t.run(spec, 300 + PHASE_SLACK)
        fill = closed_summary(results, cores)
        pods: list[str] = fill.pop("created")
        res["create_pods_fill"] = fill
        await asyncio.sleep(1.0)
        res["pods_stored"] = len(pods)
        res["rss_pods_mb"] = round(rss_mb(t.pid), 1)
        for c in s.create_clients:
            log(f"{t.name}: creating pods with {c} clients for {s.phase_seconds:.0f}s")
            r = await phase_creates(t, "pods", f"bench-c{c}", c, MAX_PER_PHASE)
            r.pop("created")
            res[f"create_pods_c{c}"] = r
        for c in s.create_clients:
            log(f"{t.name}: creating configmaps with {c} clients")
            r = await phase_creates(t, "configmaps", f"bench-cm{c}", c, MAX_PER_PHASE)
            r.pop("created")
            res[f"create_configmaps_c{c}"] = r
        for c in s.get_clients:
            log(f"{t.name}: getting single pods with {c} clients")
            spec = {
                "op": "closed",
                "method": "GET",
                "kind": "pods",
                "ns": ns,
                "clients": c,
                "duration": s.phase_seconds,
                "max_count": 10_000_000,
                "names": pods,
            }
            async with profiling(t, f"get-c{c}"):
                results, cores = await t.run(spec, s.phase_seconds + PHASE_SLACK)
            r = closed_summary(results, cores)
            r.pop("created")
            res[f"get_pods_c{c}"] = r
        for label, accept in (("json", "application/json"), ("table", TABLE_ACCEPT)):
            log(f"{t.name}: LIST of {len(pods)} pods as {label}")
            spec = {
                "op": "list",
                "path": collection(ns, "pods"),
                "accept": accept,
                "repeat": s.list_repeat,
            }
            # one worker is enough for a sequential LIST
            single = Target(t.name, t.proc, t.base_url, t.certs, t.settings, t.workers[:1])
            async with profiling(t, f"list-{label}"):
                results, cores = await single.run(spec, 120 + PHASE_SLACK)
            r0 = results[0]
            res[f"list_{label}"] = {
                "median_ms": ms(median(r0["times"])),
                "min_ms": ms(min(r0["times"])),
                "max_ms": ms(max(r0["times"])),
                "bytes": r0["bytes"],
                "items": r0["items"],
                "cores": cores,
            }
        log(f"{t.name}: open-loop pod creates at {s.open_rate:.0f}/s for {s.open_seconds:.0f}s")
        spec = {
            "op": "open",
            "kind": "pods",
            "ns": "bench-ol",
            "rate": s.open_rate,
            "duration": s.open_seconds,
            "connections": 64,
            "prefix": "ol",
        }
        async with profiling(t, "open-loop-writes"):
            results, cores = await t.run(spec, s.open_seconds + REQUEST_TIMEOUT + PHASE_SLACK)
        lat = merge_latencies(results)
        sent = int(s.open_rate * s.open_seconds)
        res["open_loop_writes"] = {
            "rate": s.open_rate,
            "sent": sent,
            "ok": len(lat),
            "p50_ms": ms(percentile(lat, 0.5)),
            "p99_ms": ms(percentile(lat, 0.99)),
            "max_ms": ms(lat[-1]) if lat else float("nan"),
            "errors": merge_errors(results),
            "late_starts": sum(r["late"] for r in results),
            "cores": cores,
        }
        log(f"{t.name}: watch latency to {s.watchers} watchers")
        async with profiling(t, "watch"):
            res["watch"] = await phase_watch(t)
        res["rss_end_mb"] = round(rss_mb(t.pid), 1)
        res["rss_peak_mb"] = round(rss_mb(t.pid, "VmHWM"), 1)
    finally:
        t.stop_workers()
    return res


async def phase_watch(t: Target) -> Json:
    s = t.settings
    n_events = int(s.watch_rate * s.watch_seconds)
    spec = {
        "op": "watch",
        "kind": "pods",
        "ns": "bench-watch",
        "watchers": s.watchers,
        "expected": n_events,
        "timeout": s.watch_seconds + 30,
    }
    write_lat: list[float] = []
    write_errors = 0

    async def writer() -> None:
        nonlocal write_errors
        ctx = t.certs.context()
        async with aiohttp.ClientSession(
            base_url=t.base_url, connector=aiohttp.TCPConnector(ssl=ctx, limit=8)
        ) as session:
            async with session.get("/version") as r:
                await r.read()
            t0 = time.perf_counter()
            pending = []

            async def one(i: int) -> None:
                nonlocal write_errors
                sent = time.time()
                body = pod_body(f"w-{i}", {SENT_AT: repr(sent)})
                async with session.post(
                    collection("bench-watch", "pods"),
                    data=body,
                    headers={"Content-Type": "application/json"},
                ) as r:
                    await r.read()
                    if r.status != 201:
                        write_errors += 1
                write_lat.append(time.time() - sent)

            for i in range(n_events):
                delay = t0 + i / s.watch_rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                pending.append(asyncio.create_task(one(i)))
            await asyncio.wait(pending, timeout=REQUEST_TIMEOUT)

    results, cores = await t.run(spec, spec["timeout"] + PHASE_SLACK, during=writer)
    lat = merge_latencies(results)
    return {
        "watchers": sum(r["watchers"] for r in results),
        "events": n_events,
        "deliveries": len(lat),
        "expected_deliveries": n_events * s.watchers,
        "complete_watchers": sum(r["complete"] for r in results),
        "p50_ms": ms(percentile(lat, 0.5)),
        "p99_ms": ms(percentile(lat, 0.99)),
        "max_ms": ms(lat[-1]) if lat else float("nan"),
        "write_p50_ms": ms(median(write_lat)) if write_lat else float("nan"),
        "write_errors": write_errors,
        "failures": [f for r in results for f in r["failures"]][:3],
        "cores": cores,
    }


# -- report ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    path: tuple[str, ...]
    unit: str
    higher_is_better: bool
    target: float | None = None


def rows(s: Settings) -> list[Row]:
    out: list[Row] = []
    out.append(
        Row(
            f"create pods/s, first {s.pods}, 64 clients",
            ("create_pods_fill", "per_s"),
            "/s",
            True,
            1000,
        )
    )
    out.append(Row("  p99 latency", ("create_pods_fill", "p99_ms"), "ms", False))
    for c in s.create_clients:
        out.append(
            Row(f"create pods/s, {c} clients", (f"create_pods_c{c}", "per_s"), "/s", True, 1000)
        )
        out.append(Row("  p99 latency", (f"create_pods_c{c}", "p99_ms"), "ms", False))
    for c in s.create_clients:
        out.append(
            Row(
                f"create configmaps/s, {c} clients",
                (f"create_configmaps_c{c}", "per_s"),
                "/s",
                True,
                1000,
            )
        )
    for c in s.get_clients:
        out.append(Row(f"get pod/s, {c} clients", (f"get_pods_c{c}", "per_s"), "/s", True, 3000))
        out.append(Row("  p99 latency", (f"get_pods_c{c}", "p99_ms"), "ms", False))
    out.append(
        Row(f"LIST {s.pods} pods, JSON (median)", ("list_json", "median_ms"), "ms", False, 1000)
    )
    out.append(
        Row(f"LIST {s.pods} pods, Table (median)", ("list_table", "median_ms"), "ms", False, 1000)
    )
    rate = int(s.open_rate)
    out.append(Row(f"write p50 at {rate}/s open loop", ("open_loop_writes", "p50_ms"), "ms", False))
    out.append(
        Row(f"write p99 at {rate}/s open loop", ("open_loop_writes", "p99_ms"), "ms", False, 50)
    )
    out.append(Row(f"watch p50, {s.watchers} watchers", ("watch", "p50_ms"), "ms", False))
    out.append(Row(f"watch p99, {s.watchers} watchers", ("watch", "p99_ms"), "ms", False, 100))
    out.append(Row("RSS idle (MB)", ("rss_idle_mb",), "MB", False))
    out.append(Row(f"RSS with {s.pods} pods (MB)", ("rss_pods_mb",), "MB", False, 150))
    out.append(Row("RSS at end (MB)", ("rss_end_mb",), "MB", False))
    return out


def lookup(res: Json, path: tuple[str, ...]) -> float | None:
    cur: Any = res
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return float(cur) if isinstance(cur, int | float) else None


def build_report(pin: Json, base: Json, s: Settings) -> tuple[str, list[Json]]:
    lines = []
    hdr = f"{'metric':<38} {'pinnace':>10} {'baseline':>10} {'ratio':>7} {'target':>9}  verdict"
    lines.append(hdr)
    lines.append("-" * len(hdr))
    table: list[Json] = []
    for r in rows(s):
        p = lookup(pin, r.path)
        b = lookup(base, r.path)
        ratio = p / b if p is not None and b not in (None, 0.0) else None
        verdict = ""
        target_txt = ""
        if r.target is not None and p is not None:
            ok = p >= r.target if r.higher_is_better else p <= r.target
            verdict = "PASS" if ok else "MISS"
            target_txt = f"{'>=' if r.higher_is_better else '<='}{r.target:g}"
        lines.append(
            f"{r.label:<38} {fmt(p):>10} {fmt(b):>10} {fmt(ratio, 2) + 'x' if ratio else '-':>7} "
            f"{target_txt:>9}  {verdict}"
        )
        table.append(
            {
                "metric": r.label.strip(),
                "unit": r.unit,
                "pinnace": p,
                "baseline": b,
                "ratio": None if ratio is None else round(ratio, 3),
                "target": target_txt or None,
                "verdict": verdict or None,
            }
        )
    lines.append("")
    lines.append(
        "ratio = pinnace / baseline (for rates < 1 means slower; for latency/RSS > 1 means worse)"
    )
    lines.append("")
    lines.append(
        f"CPU used during each phase, in cores (machine has {os.cpu_count()}): "
        "server / load generator / other processes"
    )
    lines.append(f"  {'phase':<24} {'pinnace':>18} {'baseline':>18}")
    phases = [k for k, v in {**base, **pin}.items() if isinstance(v, dict) and "cores" in v]
    for k in phases:
        cells = []
        for res in (pin, base):
            c = res.get(k, {}).get("cores")
            if c is None:
                cells.append("-")
                continue
            flag = "!" if c["other"] > 0.2 else " "
            cells.append(f"{c['server']:.2f}/{c['loadgen']:.2f}/{c['other']:.2f}{flag}")
        lines.append(f"  {k:<24} {cells[0]:>18} {cells[1]:>18}")
    lines.append("  (! = other processes used > 0.2 cores: figure disturbed, rerun)")
    for name, res in (("pinnace", pin), ("baseline", base)):
        errs = {k: v["errors"] for k, v in res.items() if isinstance(v, dict) and v.get("errors")}
        if errs:
            lines.append(f"  {name} errors: {errs}")
        w = res.get("watch", {})
        if w:
            lines.append(
                f"  {name} watch: {w['deliveries']}/{w['expected_deliveries']} deliveries, "
                f"{w['complete_watchers']}/{w['watchers']} watchers complete, "
                f"write p50 {w['write_p50_ms']} ms"
                + (f", failures {w['failures']}" if w["failures"] else "")
            )
        ol = res.get("open_loop_writes", {})
        if ol:
            lines.append(
                f"  {name} open loop: {ol['ok']}/{ol['sent']} ok, max {ol['max_ms']} ms, "
                f"{ol['late_starts']} late starts (load generator behind schedule)"
            )
    return "\n".join(lines), table


def fmt(x: float | None, digits: int = 1) -> str:
    if x is None or x != x:
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


# -- main --------------------------------------------------------------------------------


async def bench(
    s: Settings, tmp: Path, procs: list[subprocess.Popen[bytes]], log: Callable[[str], None]
) -> Json:
    data_dir = tmp / "pinnace"
    port = free_port()
    log(f"starting pinnace server on 127.0.0.1:{port} (data dir {data_dir})")
    pin_log = tmp / "pinnace-server.log"
    pin = start_process(
        [
            sys.executable,
            "-m",
            "pinnace",
            "server",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            *([] if s.with_components else ["--disable", IN_SERVER_COMPONENTS]),
        ],
        pin_log,
        s.server_env,
    )
    procs.append(pin)
    await wait_for_file(data_dir / "admin.kubeconfig", pin, pin_log, 120)
    await asyncio.sleep(1.0)  # settle before sampling the idle RSS
    certs = extract_client_certs(data_dir / "admin.kubeconfig", tmp / "client")

    bport = free_port()
    log(f"starting baseline server on 127.0.0.1:{bport}")
    base_log = tmp / "baseline-server.log"
    base_ready = tmp / "baseline.ready"
    base = start_process(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--baseline-server",
            "--pki",
            str(data_dir / "pki"),
            "--port",
            str(bport),
            "--ready-file",
            str(base_ready),
        ],
        base_log,
    )
    procs.append(base)
    await wait_for_file(base_ready, base, base_log, 60)
    await asyncio.sleep(0.5)

    t_base = Target("baseline", base, f"https://127.0.0.1:{bport}", certs, s)
    t_pin = Target("pinnace", pin, f"https://127.0.0.1:{port}", certs, s)
    pin_idle = round(rss_mb(pin.pid), 1)
    started = time.monotonic()
    base_res: Json = {}
    pin_res: Json = {}
    try:
        if s.only != "pinnace":
            base_res = await run_suite(t_base, log)
    finally:
        stop_process(base)
    if s.only != "baseline":
        pin_res = await run_suite(t_pin, log)
    pin_res["rss_idle_mb"] = pin_idle
    report, table = build_report(pin_res, base_res, s)
    return {
        "meta": {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
            "python": sys.version.split()[0],
            "aiohttp": aiohttp.__version__,
            "quick": s.quick,
            "loadgen_procs": s.loadgen_procs,
            "in_server_components": s.with_components,
            "seconds": round(time.monotonic() - started, 1),
        },
        "pinnace": pin_res,
        "baseline": base_res,
        "table": table,
        "report": report,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="a ~1 minute sanity run (2,000 pods)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    ap.add_argument(
        "--loadgen-procs", type=int, default=1, help="load generator processes (default 1)"
    )
    ap.add_argument(
        "--profile",
        metavar="DIR",
        help="record py-spy profiles (raw, collapsed stacks) of the pinnace server per phase",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    ap.add_argument(
        "--only",
        choices=("pinnace", "baseline"),
        help="run one server's suite only (no ratios; for profiling and quick checks)",
    )
    ap.add_argument(
        "--server-env",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="extra environment for the pinnace server (experiments); repeatable",
    )
    ap.add_argument(
        "--with-components",
        action="store_true",
        help=f"keep the in-server components ({IN_SERVER_COMPONENTS}) running",
    )
    ap.add_argument("--baseline-server", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--pki", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--ready-file", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.baseline_server:
        run_baseline_server(Path(a.pki), a.port, Path(a.ready_file))
        return 0

    profile_dir = Path(a.profile).absolute() if a.profile else None
    if profile_dir:
        profile_dir.mkdir(parents=True, exist_ok=True)
    s = Settings.make(a.quick, max(1, a.loadgen_procs), profile_dir)
    s.only = a.only
    s.with_components = a.with_components
    s.server_env = dict(kv.split("=", 1) for kv in a.server_env)
    tmp = Path(tempfile.mkdtemp(prefix="pinnace-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    t0 = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        out = asyncio.run(asyncio.wait_for(bench(s, tmp, procs, log), 1800))
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    finally:
        for p in procs:
            stop_process(p)
        for child in multiprocessing.active_children():
            child.kill()
        if a.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    m = out["meta"]
    print(
        f"\npinnace API server benchmark — {m['date']} — {m['machine']}\n"
        f"python {m['python']}, aiohttp {m['aiohttp']}, {m['loadgen_procs']} load-generator "
        f"process(es){', QUICK' if m['quick'] else ''}, {m['seconds']}s, in-server "
        f"components {'on' if m['in_server_components'] else 'off (API server alone)'}\n"
    )
    print(out["report"])
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2, default=str) + "\n")
        print(f"\nresults written to {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
