"""Benchmark: pod startup latency on a real node, against the raw CRI calls, and
what the node agent costs in memory (issue 5's performance targets).

Run (as root): ``.venv/bin/python bench/pod_startup.py [--quick] [--runs N]
[--batch N] [--json FILE] [--keep] [--agent-v N] [--profile DIR]``. Prints tables with
PASS/MISS against the targets: one pod p99 ≤ 1 s, each pod of a batch of 30
p99 ≤ 3 s, pinnace / raw CRI ≤ 1.3x, agent idle RSS ≤ 60 MB.

Set-up, in a fresh temp dir, every address on loopback:

* a loopback registry (``tests/registry.py``) holding the test images
  (``tests/images.py``); the agent's ``registries.yaml`` mirrors ``docker.io``
  to it, so the pods say ``image: busybox:1.35`` as users write it;
* ``pinnace server`` (API server, controllers, scheduler; no ``--agent``);
* ``pinnace agent --kubeconfig <admin.kubeconfig> --disable-kube-proxy`` as
  its own process, so its RSS is the kubelet's own (upstream's kubelet budget
  is for the kubelet alone; ``pinnace agent`` runs kube-proxy beside it by
  default, which adds about 10 MB), with a private containerd under its data
  dir, a pod bridge whose name is unique to this run and a /24 pod CIDR that
  no host route uses.

Phases (the agent and the server are stopped before the raw phases, so the
baseline has the machine to itself and no kubelet removes its sandboxes):

1. warm-up: one pod through the API (pulls ``busybox:1.35`` once; later pods
   find it present, ``imagePullPolicy: IfNotPresent``), not measured;
2. RSS of the agent and containerd (``VmRSS`` of ``/proc/<pid>/status``), idle
   with no pods, after a settle time;
3. single pod, ``--runs`` times in sequence: create through the API, wait for
   ``Ready=True`` on a watch, delete, wait for the DELETED event (the kubelet
   deletes the object once the runtime is cleaned up) and for the runtime to
   hold no sandbox;
4. a batch of ``--batch`` pods created at once (concurrent creates);
   per-pod latency runs from that pod's create being sent; total runs from the
   first create sent to the last pod seen Ready;
5. RSS again, idle with the batch running; then the batch is deleted;
6. the raw baseline, straight through :class:`pinnace.kubelet.cri.client.RuntimeClient`
   against the same containerd, the same image, the same CNI network (the
   agent's conflist): RunPodSandbox + CreateContainer + StartContainer, the
   configs built from the same pod by ``pinnace.kubelet.podconfig``; once as
   warm-up, ``--runs`` times in sequence, and ``--batch`` at once.

Latency is ``time.monotonic()`` from the create request being sent to the watch
event that shows the pod Ready (no polling). For every pod the bench also
records when the watch first saw it (ADDED), saw it bound, and the runtime's
own nanosecond timestamps (sandbox created, container created, container
started, read over CRI after the pod is Ready), and prints the median of each
step: that is where the time goes.

CPU: the cores each process used in the batch phases (server, agent, runtime =
containerd and the shims of the batch with their children, the bench), and
"other": the machine's busy time minus those, i.e. other work on the machine
(a shared machine makes the batch figures noisy; compare with "other").

Clean-up runs on every exit (errors, Ctrl-C, SIGTERM): pods deleted, the agent
and server stopped, every sandbox stopped and removed over CRI and containerd
stopped (``tests.node_cluster.cleanup_agent_runtime``), the bridge deleted, the
registry stopped, the temp dir removed (``--keep`` keeps it, with the logs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ipaddress
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pinnace.client import PODS, Client, ClientConfig  # noqa: E402
from pinnace.client.objects import NODES  # noqa: E402
from pinnace.kubelet.cri import api_pb2 as cri  # noqa: E402
from pinnace.kubelet.cri.client import CRIError, RuntimeClient  # noqa: E402

PINNACE = [sys.executable, "-m", "pinnace"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
NAMESPACE = "default"
NODE_NAME = "bench-node"
IMAGE = "busybox:1.35"
LABEL_UID = "io.kubernetes.pod.uid"
TARGET_SINGLE_P99 = 1.0
TARGET_BATCH_P99 = 3.0
TARGET_RATIO = 1.3
TARGET_AGENT_MB = 60.0
TARGET_BATCH = 30
POD_OCTETS = range(50, 100)  # 10.244.50-99.0/24 (tests use 100-249)
Obj = dict[str, Any]


# -- processes -----------------------------------------------------------------------------


def _pdeathsig() -> None:
    """In a child before exec: its own process group; SIGTERM when the bench dies."""
    os.setpgid(0, 0)
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as logf:
        return subprocess.Popen(
            args, stdout=logf, stderr=subprocess.STDOUT, cwd=ROOT, preexec_fn=_pdeathsig
        )


def stop(proc: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime (+ the waited-for children's with ``children``); 0 if gone."""
    try:
        f = _stat(pid)
    except OSError:
        return 0.0
    ticks = int(f[11]) + int(f[12]) + ((int(f[13]) + int(f[14])) if children else 0)
    return ticks / CLK_TCK


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def machine_busy_seconds() -> float:
    v = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(v) - v[3] - v[4]) / CLK_TCK  # minus idle and iowait


def shim_pids(containerd_sock: Path) -> list[int]:
    """The containerd shims serving our containerd (their command line names its socket)."""
    needle = str(containerd_sock).encode()
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmd = (entry / "cmdline").read_bytes()
            if b"containerd-shim" in cmd and needle in cmd:
                out.append(int(entry.name))
    return out


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p99 of 30 values is the largest)."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def median(values: list[float]) -> float:
    return percentile(values, 50)


def _routed_subnets() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True, check=True
    ).stdout
    nets = []
    for line in out.splitlines():
        parts = line.split()
        if not parts:
            continue
        dest = (
            parts[1] if parts[0] in ("local", "broadcast", "unreachable", "blackhole") else parts[0]
        )
        with contextlib.suppress(ValueError, IndexError):
            nets.append(ipaddress.IPv4Network(dest, strict=False))
    return nets


def pick_network() -> tuple[str, str]:
    """A bridge name no device has and a /24 pod CIDR that no route overlaps."""
    rng = random.SystemRandom()
    bridge = ""
    while not bridge or Path(f"/sys/class/net/{bridge}").exists():
        bridge = f"pbn{rng.getrandbits(24):06x}"
    routed = [n for n in _routed_subnets() if n.prefixlen > 0]
    octets = list(POD_OCTETS)
    rng.shuffle(octets)
    for o in octets:
        net = ipaddress.IPv4Network(f"10.244.{o}.0/24")
        if not any(net.overlaps(n) for n in routed):
            return bridge, str(net)
    raise RuntimeError("no free /24 in 10.244.50.0-10.244.99.0 for the bench's pod CIDR")


# -- the workload ------------------------------------------------------------------------


def pod_body(name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": "pod-startup-bench"}},
        "spec": {
            # busybox sleep as PID 1 ignores SIGTERM: keep the (unmeasured) deletes short
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "sleep",
                    "image": IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sleep", "3600"],
                }
            ],
        },
    }


@dataclass
class Track:
    """What the bench saw of one pod; times are ``time.monotonic()``."""

    name: str
    sent: float = 0.0
    created: float = 0.0  # the create request answered
    added: float | None = None  # first watch event
    bound: float | None = None  # first event with spec.nodeName
    ready: float | None = None  # first event with Ready=True
    deleted: float | None = None
    uid: str = ""
    # runtime timestamps (CRI, converted to the monotonic clock)
    sandbox_created: float | None = None
    container_created: float | None = None
    container_started: float | None = None
    ready_ev: asyncio.Event = field(default_factory=asyncio.Event)
    gone_ev: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def latency(self) -> float | None:
        return None if self.ready is None else self.ready - self.sent


def wall_to_mono(ns: int) -> float:
    return ns / 1e9 - (time.time() - time.monotonic())


class PodWatch:
    """One watch on the namespace's pods, recording each tracked pod's first sightings."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.tracks: dict[str, Track] = {}
        self.rv = ""
        self.errors: list[str] = []
        self.opened = asyncio.Event()

    def track(self, name: str) -> Track:
        t = self.tracks[name] = Track(name)
        return t

    def _see(self, type_: str, obj: Obj, now: float) -> None:
        meta = obj.get("metadata") or {}
        t = self.tracks.get(meta.get("name", ""))
        if t is None:
            return
        if type_ == "DELETED":
            t.deleted = now
            t.gone_ev.set()
            return
        if t.added is None:
            t.added = now
            t.uid = meta.get("uid", "")
        if t.bound is None and (obj.get("spec") or {}).get("nodeName"):
            t.bound = now
        if t.ready is None:
            for c in (obj.get("status") or {}).get("conditions") or []:
                if c.get("type") == "Ready" and c.get("status") == "True":
                    t.ready = now
                    t.ready_ev.set()

    async def run(self) -> None:
        while True:
            try:
                if not self.rv:
                    listed = await self.client.list(PODS, namespace=NAMESPACE, limit=1)
                    self.rv = str(listed["metadata"]["resourceVersion"])
                stream = self.client.watch(
                    PODS, namespace=NAMESPACE, resource_version=self.rv, timeout_seconds=600
                )
                self.opened.set()
                async for ev in stream:
                    now = time.monotonic()
                    rv = (ev.object.get("metadata") or {}).get("resourceVersion")
                    if rv:
                        self.rv = str(rv)
                    if ev.type != "BOOKMARK":
                        self._see(ev.type, ev.object, now)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # re-list (an expired rv) and re-watch
                if len(self.errors) < 5:
                    self.errors.append(repr(e))
                self.rv = ""
                await asyncio.sleep(0.2)


async def runtime_times(rt: RuntimeClient, t: Track) -> None:
    """Fill the sandbox/container timestamps of a pod from CRI (read only)."""
    with contextlib.suppress(CRIError):
        sbs = await rt.list_pod_sandbox(label_selector={LABEL_UID: t.uid})
        if sbs:
            t.sandbox_created = wall_to_mono(min(s.created_at for s in sbs))
        ctrs = await rt.list_containers(label_selector={LABEL_UID: t.uid})
        if ctrs:
            c = ctrs[0]
            t.container_created = wall_to_mono(c.created_at)
            st = await rt.container_status(c.id)
            if st.started_at:
                t.container_started = wall_to_mono(st.started_at)


async def wait_events(events: list[asyncio.Event], timeout: float, what: str) -> None:
    try:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), timeout)
    except TimeoutError:
        raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}") from None


class Pinnace:
    """The API-side phases: create pods, see them Ready, delete them."""

    def __init__(self, client: Client, watch: PodWatch, rt: RuntimeClient) -> None:
        self.client = client
        self.watch = watch
        self.rt = rt
        self.n = 0

    async def create(self, name: str) -> Track:
        t = self.watch.track(name)
        body = pod_body(name)
        t.sent = time.monotonic()
        await self.client.create(PODS, body, namespace=NAMESPACE)
        t.created = time.monotonic()
        return t

    async def delete(self, tracks: list[Track], timeout: float = 120) -> None:
        await asyncio.gather(
            *(self.client.delete(PODS, t.name, namespace=NAMESPACE) for t in tracks)
        )
        await wait_events([t.gone_ev for t in tracks], timeout, "pods to be deleted")
        deadline = time.monotonic() + timeout
        while await self.rt.list_pod_sandbox():
            if time.monotonic() > deadline:
                raise RuntimeError("sandboxes still in the runtime after the pods were deleted")
            await asyncio.sleep(0.1)

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n:03d}"

    async def one(self, prefix: str, timeout: float = 120) -> Track:
        t = await self.create(self.name(prefix))
        await wait_events([t.ready_ev], timeout, f"pod {t.name} to be Ready")
        await runtime_times(self.rt, t)
        return t

    async def batch(self, n: int, timeout: float = 300) -> list[Track]:
        names = [self.name("batch") for _ in range(n)]
        # The load generator's n connections are opened (TLS handshakes done)
        # before the clock starts: over HTTP/1.1 n concurrent creates need n
        # connections, where client-go would send them on one HTTP/2
        # connection; their handshakes are the generator's cost, not startup's.
        await asyncio.gather(*(self.client.get(NODES, NODE_NAME) for _ in range(n)))
        tracks = await asyncio.gather(*(self.create(nm) for nm in names))
        await wait_events([t.ready_ev for t in tracks], timeout, f"{n} pods to be Ready")
        for t in tracks:
            await runtime_times(self.rt, t)
        return list(tracks)


# -- the raw CRI baseline ------------------------------------------------------------------


@dataclass
class RawRun:
    total: float
    run_sandbox: float
    create: float
    start: float


class Raw:
    """RunPodSandbox + CreateContainer + StartContainer, configs from the same pod."""

    def __init__(self, rt: RuntimeClient, log_root: Path) -> None:
        from pinnace.kubelet.dns import parse_resolv_conf

        self.rt = rt
        self.log_root = log_root
        self.n = 0
        conf = parse_resolv_conf(Path("/etc/resolv.conf").read_text(errors="replace"))
        self.dns = (conf.servers, conf.searches, conf.options)
        self.memory = 0
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                self.memory = int(line.split()[1]) * 1024

    def configs(self) -> tuple[cri.PodSandboxConfig, cri.ContainerConfig]:
        from pinnace.kubelet.podconfig import container_config, sandbox_config

        self.n += 1
        pod = pod_body(f"raw-{self.n:03d}")
        pod["metadata"]["uid"] = str(uuid.uuid4())
        pod["metadata"]["namespace"] = "raw-bench"
        meta = pod["metadata"]
        log_dir = self.log_root / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"
        (log_dir / "sleep").mkdir(parents=True, exist_ok=True)
        sb = sandbox_config(
            pod, attempt=0, hostname=meta["name"], log_directory=str(log_dir), dns=self.dns
        )
        ctr = pod["spec"]["containers"][0]
        cc = container_config(
            pod, ctr, attempt=0, image=IMAGE, env=[], mounts=[], log_path="sleep/0.log",
            memory_capacity=self.memory,
        )  # fmt: skip
        return sb, cc

    async def one(self) -> RawRun:
        sb, cc = self.configs()
        t0 = time.monotonic()
        sid = await self.rt.run_pod_sandbox(sb)
        t1 = time.monotonic()
        cid = await self.rt.create_container(sid, cc, sb)
        t2 = time.monotonic()
        await self.rt.start_container(cid)
        t3 = time.monotonic()
        return RawRun(t3 - t0, t1 - t0, t2 - t1, t3 - t2)

    async def clear(self) -> None:
        for sb in await self.rt.list_pod_sandbox():
            with contextlib.suppress(CRIError):
                await self.rt.stop_pod_sandbox(sb.id, timeout=60)
            with contextlib.suppress(CRIError):
                await self.rt.remove_pod_sandbox(sb.id, timeout=60)


# -- orchestration -------------------------------------------------------------------------


@dataclass
class Env:
    tmp: Path
    kubeconfig: Path
    agent_dir: Path
    containerd_sock: Path
    server: subprocess.Popen[bytes]
    agent: subprocess.Popen[bytes]
    agent_log: Path


def containerd_pid(agent_dir: Path) -> int:
    with contextlib.suppress(OSError, ValueError):
        return int((agent_dir / "containerd" / "containerd.pid").read_text().strip())
    return 0


def memory(env: Env) -> Obj:
    shims = shim_pids(env.containerd_sock)
    return {
        "agent_mb": rss_mb(env.agent.pid),
        "containerd_mb": rss_mb(containerd_pid(env.agent_dir)),
        "shims": len(shims),
        "shims_mb": sum(rss_mb(p) for p in shims),
    }


async def wait_node_ready(client: Client, env: Env, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p, what in ((env.server, "server"), (env.agent, "agent")):
            if p.poll() is not None:
                raise RuntimeError(f"pinnace {what} exited early (see its log in {env.tmp})")
        with contextlib.suppress(Exception):
            node = await client.get(NODES, NODE_NAME)
            for c in (node.get("status") or {}).get("conditions") or []:
                if c.get("type") == "Ready" and c.get("status") == "True":
                    return
        await asyncio.sleep(0.2)
    raise RuntimeError(
        f"node {NODE_NAME} not Ready after {timeout:.0f}s:\n{env.agent_log.read_text()[-3000:]}"
    )


def cpu_snapshot(env: Env) -> Obj:
    me = os.getpid()
    return {
        "server": cpu_seconds(env.server.pid),
        "agent": cpu_seconds(env.agent.pid),
        "containerd": cpu_seconds(containerd_pid(env.agent_dir), children=True),
        "bench": cpu_seconds(me),
        "busy": machine_busy_seconds(),
        "at": time.monotonic(),
    }


def cpu_cores(env: Env, before: Obj, shims_before: set[int]) -> Obj:
    after = cpu_snapshot(env)
    window = max(after["at"] - before["at"], 1e-6)
    shims = [p for p in shim_pids(env.containerd_sock) if p not in shims_before]
    runtime = after["containerd"] - before["containerd"]
    runtime += sum(cpu_seconds(p, children=True) for p in shims)
    out = {k: (after[k] - before[k]) / window for k in ("server", "agent", "bench")}
    out["runtime"] = runtime / window
    busy = (after["busy"] - before["busy"]) / window
    out["other"] = busy - sum(out.values())
    out["window_s"] = window
    return out


@contextlib.contextmanager
def profiled(args: argparse.Namespace, env: Env, label: str) -> Iterator[None]:
    """With ``--profile DIR``: py-spy raw stacks of the server and the agent
    while the block runs (``DIR/server-<label>.txt``, ``DIR/agent-<label>.txt``)."""
    if not args.profile:
        yield
        return
    out = Path(args.profile)
    out.mkdir(parents=True, exist_ok=True)
    pyspy = str(Path(sys.executable).parent / "py-spy")
    spies = []
    for name, proc in (("server", env.server), ("agent", env.agent)):
        argv = [pyspy, "record", "--pid", str(proc.pid), "--format", "raw", "--rate", "100",
                "--output", str(out / f"{name}-{label}.txt"), "--nonblocking"]  # fmt: skip
        spies.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(0.5)  # py-spy attaches
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()


async def pinnace_phases(args: argparse.Namespace, env: Env, results: Obj) -> None:
    cfg = ClientConfig.from_kubeconfig(env.kubeconfig).with_rate_limits(0, 0)
    async with (
        Client.from_config(cfg) as client,
        Client.from_config(cfg) as wclient,
        RuntimeClient(env.containerd_sock, timeout=60) as rt,
    ):
        t_node = time.monotonic()
        await wait_node_ready(client, env, 120)
        results["node_ready_s"] = time.monotonic() - t_node
        watch = PodWatch(wclient)
        wtask = asyncio.create_task(watch.run())
        try:
            await asyncio.wait_for(watch.opened.wait(), 30)
            await asyncio.sleep(0.3)
            p = Pinnace(client, watch, rt)
            await asyncio.sleep(args.settle)
            results["mem_fresh"] = memory(env)

            # warm-up: pulls the image; the service account may still be on its way
            print("warm-up pod (pulls the image)...", file=sys.stderr)
            deadline = time.monotonic() + 60
            while True:
                try:
                    warm = await p.one("warmup", timeout=180)
                    break
                except Exception as e:
                    if time.monotonic() > deadline or "Ready" in str(e):
                        raise
                    await asyncio.sleep(0.5)
            results["warmup_s"] = warm.latency
            await p.delete([warm])
            await asyncio.sleep(args.settle)
            results["mem_idle"] = memory(env)

            print(f"single pod x {args.runs}...", file=sys.stderr)
            singles: list[Track] = []
            for _ in range(args.runs):
                t = await p.one("single")
                singles.append(t)
                await p.delete([t])
                await asyncio.sleep(args.gap)
            results["single"] = singles

            print(f"batch of {args.batch}...", file=sys.stderr)
            shims0 = set(shim_pids(env.containerd_sock))
            with profiled(args, env, "round1"):
                c0 = cpu_snapshot(env)
                batch = await p.batch(args.batch)
                results["batch_cpu"] = cpu_cores(env, c0, shims0)
            results["batch"] = batch
            await asyncio.sleep(args.settle)
            results["mem_batch"] = memory(env)
            await p.delete(batch)
            rounds = [batch]
            for i in range(1, args.batch_rounds):
                print(f"batch of {args.batch}, round {i + 1}...", file=sys.stderr)
                await asyncio.sleep(args.gap)
                with profiled(args, env, f"round{i + 1}"):
                    more = await p.batch(args.batch)
                rounds.append(more)
                await p.delete(more)
            results["batch_rounds"] = rounds
            await asyncio.sleep(args.settle)
            results["mem_after"] = memory(env)
            results["watch_errors"] = watch.errors
        finally:
            wtask.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await wtask


async def raw_phases(args: argparse.Namespace, env: Env, results: Obj) -> None:
    async with RuntimeClient(env.containerd_sock, timeout=60) as rt:
        raw = Raw(rt, env.tmp / "raw-logs")
        await raw.clear()
        print("raw CRI: warm-up...", file=sys.stderr)
        await raw.one()
        await raw.clear()
        print(f"raw CRI: single x {args.runs}...", file=sys.stderr)
        singles = []
        for _ in range(args.runs):
            singles.append(await raw.one())
            await raw.clear()
            await asyncio.sleep(args.gap)
        results["raw_single"] = singles
        rounds: list[tuple[list[RawRun], float]] = []
        for i in range(args.batch_rounds):
            print(f"raw CRI: batch of {args.batch}, round {i + 1}...", file=sys.stderr)
            shims0 = set(shim_pids(env.containerd_sock))
            c0 = cpu_snapshot(env)
            t0 = time.monotonic()
            ends: list[float] = []

            async def one(ends: list[float]) -> RawRun:
                r = await raw.one()
                ends.append(time.monotonic())
                return r

            runs = await asyncio.gather(*(one(ends) for _ in range(args.batch)))
            if not rounds:
                results["raw_batch_cpu"] = cpu_cores(env, c0, shims0)
            rounds.append((list(runs), max(ends) - t0))
            await raw.clear()
            await asyncio.sleep(args.gap)
        results["raw_batch"], results["raw_batch_total"] = rounds[0]
        results["raw_batch_rounds"] = rounds


def run(args: argparse.Namespace, tmp: Path, cleanups: list[Callable[[], None]]) -> Obj:
    from tests.images import build_test_images, push_test_images_sync
    from tests.node_cluster import cleanup_agent_runtime, write_registries_yaml
    from tests.registry import RegistryServer

    results: Obj = {}
    print("building and pushing the test images...", file=sys.stderr)
    layouts = build_test_images(tmp / "images", ["busybox", "pause"])
    reg = RegistryServer(tmp / "registry")
    cleanups.append(reg.stop)
    reg.start()
    push_test_images_sync(reg.address, layouts)
    regfile = write_registries_yaml(tmp / "registries.yaml", reg.address)

    bridge, pod_cidr = pick_network()
    agent_dir = tmp / "agent"
    data = tmp / "server"
    cleanups.append(lambda: cleanup_agent_runtime(agent_dir, bridge))
    server_log = tmp / "server.log"
    server = start(
        [*PINNACE, "server", "--data-dir", str(data), "--port", str(free_port())], server_log
    )
    cleanups.append(lambda: stop(server))
    kubeconfig = data / "admin.kubeconfig"
    deadline = time.monotonic() + 60
    while not kubeconfig.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"pinnace server did not start:\n{server_log.read_text()[-3000:]}")
        time.sleep(0.05)
    agent_log = tmp / "agent.log"
    agent = start(
        [*PINNACE, "agent", "--kubeconfig", str(kubeconfig), "--data-dir", str(agent_dir),
         "--node-name", NODE_NAME, "--kubelet-port", str(free_port()),
         "--registry-config", str(regfile), "--cni-bridge", bridge, "--pod-cidr", pod_cidr,
         "-v", str(args.agent_v), "--disable-kube-proxy"],
        agent_log,
    )  # fmt: skip
    cleanups.append(lambda: stop(agent))
    env = Env(tmp, kubeconfig, agent_dir, agent_dir / "containerd" / "containerd.sock",
              server, agent, agent_log)  # fmt: skip
    results["bridge"], results["pod_cidr"] = bridge, pod_cidr
    asyncio.run(pinnace_phases(args, env, results))

    # the baseline: the same containerd, alone (a running kubelet would remove its sandboxes)
    stop(agent)
    stop(server)
    if not containerd_pid(agent_dir) or not Path(f"/proc/{containerd_pid(agent_dir)}").exists():
        raise RuntimeError("containerd did not outlive the agent")
    asyncio.run(raw_phases(args, env, results))
    return results


# -- report ------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def ms(x: float | None) -> str:
    return "-" if x is None or x != x else f"{x * 1000:.0f}"


def steps(tracks: list[Track]) -> list[tuple[str, float]]:
    """Median duration of each step of the path, over the pods that have both ends."""

    def med(a: Callable[[Track], float | None], b: Callable[[Track], float | None]) -> float:
        vals = [bb - aa for t in tracks if (aa := a(t)) is not None and (bb := b(t)) is not None]
        return median(vals)

    return [
        ("create sent -> create answered", med(lambda t: t.sent, lambda t: t.created)),
        ("create sent -> watch ADDED", med(lambda t: t.sent, lambda t: t.added)),
        ("watch ADDED -> watch bound (scheduler)", med(lambda t: t.added, lambda t: t.bound)),
        ("bound -> sandbox created (kubelet: informer, volumes)",
         med(lambda t: t.bound, lambda t: t.sandbox_created)),
        ("sandbox created -> container created (RunPodSandbox, relist, config)",
         med(lambda t: t.sandbox_created, lambda t: t.container_created)),
        ("container created -> started", med(lambda t: t.container_created,
                                             lambda t: t.container_started)),
        ("started -> watch Ready (relist, status patch, watch)",
         med(lambda t: t.container_started, lambda t: t.ready)),
        ("total: create sent -> watch Ready", med(lambda t: t.sent, lambda t: t.ready)),
    ]  # fmt: skip


def report(args: argparse.Namespace, r: Obj) -> Obj:
    single = [t.latency for t in r["single"] if t.latency is not None]
    batch_tracks: list[Track] = r["batch"]
    batch = [t.latency for t in batch_tracks if t.latency is not None]
    batch_total = max(t.ready for t in batch_tracks if t.ready) - min(t.sent for t in batch_tracks)
    raw_single = [x.total for x in r["raw_single"]]
    raw_batch = [x.total for x in r["raw_batch"]]
    raw_total = r["raw_batch_total"]
    s50, s99 = percentile(single, 50), percentile(single, 99)
    b50, b99 = percentile(batch, 50), percentile(batch, 99)
    r50, r99 = percentile(raw_single, 50), percentile(raw_single, 99)
    rb50, rb99 = percentile(raw_batch, 50), percentile(raw_batch, 99)
    # every round's p99 and total; the ratios compare the medians over rounds
    round_b99, round_total = [], []
    for tracks in r["batch_rounds"]:
        round_b99.append(percentile([t.latency for t in tracks if t.latency is not None], 99))
        round_total.append(max(t.ready for t in tracks if t.ready) - min(t.sent for t in tracks))
    round_rb99 = [percentile([x.total for x in runs], 99) for runs, _ in r["raw_batch_rounds"]]
    round_rtotal = [total for _, total in r["raw_batch_rounds"]]

    print()
    print(f"pod startup latency (API create -> Ready, image cached; node Ready after "
          f"{r['node_ready_s']:.1f}s, warm-up pod with pull {r['warmup_s']:.2f}s)")  # fmt: skip
    print(f"{'':<28} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'total ms':>9}")
    print(f"{f'pinnace, 1 pod x {len(single)}':<28} {ms(s50):>8} {ms(s99):>8} "
          f"{ms(max(single)):>8} {'':>9}")  # fmt: skip
    print(f"{f'raw CRI, 1 pod x {len(raw_single)}':<28} {ms(r50):>8} {ms(r99):>8} "
          f"{ms(max(raw_single)):>8} {'':>9}")  # fmt: skip
    print(f"{f'pinnace, batch of {len(batch)}':<28} {ms(b50):>8} {ms(b99):>8} "
          f"{ms(max(batch)):>8} {ms(batch_total):>9}")  # fmt: skip
    print(f"{f'raw CRI, batch of {len(raw_batch)}':<28} {ms(rb50):>8} {ms(rb99):>8} "
          f"{ms(max(raw_batch)):>8} {ms(raw_total):>9}")  # fmt: skip
    if len(round_b99) > 1:
        print(f"batch rounds, p99 / total ms: pinnace "
              f"{', '.join(f'{ms(a)}/{ms(b)}' for a, b in zip(round_b99, round_total, strict=True))}; "
              f"raw CRI {', '.join(f'{ms(a)}/{ms(b)}' for a, b in zip(round_rb99, round_rtotal, strict=True))}")  # fmt: skip
    print()
    rs = r["raw_single"]
    print(f"raw CRI calls, 1 pod, median ms: RunPodSandbox {ms(median([x.run_sandbox for x in rs]))}, "
          f"CreateContainer {ms(median([x.create for x in rs]))}, "
          f"StartContainer {ms(median([x.start for x in rs]))}")  # fmt: skip
    rb = r["raw_batch"]
    print(f"raw CRI calls, batch, median ms: RunPodSandbox {ms(median([x.run_sandbox for x in rb]))}, "
          f"CreateContainer {ms(median([x.create for x in rb]))}, "
          f"StartContainer {ms(median([x.start for x in rb]))}")  # fmt: skip
    print()
    print("where the time goes (median per pod, ms; runtime times are containerd's own)")
    s_steps, b_steps = steps(r["single"]), steps(batch_tracks)
    # one column per batch round: a round that is slower than the others shows where
    round_steps = [steps(tracks) for tracks in r["batch_rounds"]]
    heads = (
        ["batch"] if len(round_steps) == 1 else [f"round {i + 1}" for i in range(len(round_steps))]
    )
    print(f"{'step':<72} {'1 pod':>7}" + "".join(f" {h:>8}" for h in heads))
    for i, (label, a) in enumerate(s_steps):
        print(f"{label:<72} {ms(a):>7}" + "".join(f" {ms(rs[i][1]):>8}" for rs in round_steps))
    cpu = r["batch_cpu"]
    print(f"cores during the batch ({cpu['window_s']:.1f}s): server {cpu['server']:.2f}, "
          f"agent {cpu['agent']:.2f}, runtime {cpu['runtime']:.2f}, bench {cpu['bench']:.2f}, "
          f"other {cpu['other']:.2f} (machine has {os.cpu_count()})")  # fmt: skip
    cpu = r["raw_batch_cpu"]
    print(f"cores during the raw batch ({cpu['window_s']:.1f}s): runtime {cpu['runtime']:.2f}, "
          f"bench {cpu['bench']:.2f}, other {cpu['other']:.2f}")  # fmt: skip
    print()
    print("memory (VmRSS, MB)")
    print(f"{'':<40} {'agent':>7} {'containerd':>10} {'shims':>12}")
    for key, label in (("mem_fresh", "idle, fresh (no pod ever)"),
                       ("mem_idle", "idle, no pods (after the warm-up pod)"),
                       ("mem_batch", f"idle, {len(batch)} pods running"),
                       ("mem_after", "idle, batch deleted")):  # fmt: skip
        m = r[key]
        print(f"{label:<40} {m['agent_mb']:>7.1f} {m['containerd_mb']:>10.1f} "
              f"{m['shims_mb']:>7.1f} ({m['shims']})")  # fmt: skip
    print()
    ratio_s50, ratio_s99 = s50 / r50, s99 / r99
    ratio_b99 = median(round_b99) / median(round_rb99)
    ratio_total = median(round_total) / median(round_rtotal)
    rounds_note = f" (median of {len(round_b99)} rounds)" if len(round_b99) > 1 else ""
    full = len(batch) == TARGET_BATCH
    rows = [
        ("1 pod p99 <= 1 s", f"{ms(s99)} ms", verdict(s99 <= TARGET_SINGLE_P99)),
        (f"batch of {TARGET_BATCH}, per-pod p99 <= 3 s", f"{ms(b99)} ms",
         verdict(b99 <= TARGET_BATCH_P99) if full else f"n/a (batch of {len(batch)})"),
        ("pinnace / raw CRI <= 1.3x: 1 pod p50", f"{ratio_s50:.2f}x", verdict(ratio_s50 <= TARGET_RATIO)),
        ("pinnace / raw CRI <= 1.3x: 1 pod p99", f"{ratio_s99:.2f}x", verdict(ratio_s99 <= TARGET_RATIO)),
        (f"pinnace / raw CRI <= 1.3x: batch p99{rounds_note}", f"{ratio_b99:.2f}x",
         verdict(ratio_b99 <= TARGET_RATIO)),
        (f"pinnace / raw CRI <= 1.3x: batch total{rounds_note}", f"{ratio_total:.2f}x",
         verdict(ratio_total <= TARGET_RATIO)),
        ("agent idle RSS <= 60 MB, no pods", f"{r['mem_idle']['agent_mb']:.1f} MB",
         verdict(r["mem_idle"]["agent_mb"] <= TARGET_AGENT_MB)),
        (f"agent idle RSS <= 60 MB, {len(batch)} pods", f"{r['mem_batch']['agent_mb']:.1f} MB",
         verdict(r["mem_batch"]["agent_mb"] <= TARGET_AGENT_MB)),
    ]  # fmt: skip
    print(f"{'target':<62} {'measured':>10}")
    for label, value, v in rows:
        print(f"{label:<62} {value:>10}  {v}")
    if r.get("watch_errors"):
        print(f"watch errors: {r['watch_errors']}", file=sys.stderr)

    def track_dict(t: Track) -> Obj:
        return {k: getattr(t, k) for k in ("name", "uid", "sent", "created", "added", "bound",
                                           "sandbox_created", "container_created",
                                           "container_started", "ready", "deleted")}  # fmt: skip

    return {
        "single_s": single, "batch_s": batch, "batch_total_s": batch_total,
        "raw_single_s": raw_single, "raw_batch_s": raw_batch, "raw_batch_total_s": raw_total,
        "raw_single_calls": [vars(x) for x in rs], "raw_batch_calls": [vars(x) for x in rb],
        "batch_rounds_p99_s": round_b99, "batch_rounds_total_s": round_total,
        "raw_batch_rounds_p99_s": round_rb99, "raw_batch_rounds_total_s": round_rtotal,
        "steps_single": s_steps, "steps_batch": b_steps, "batch_cpu": r["batch_cpu"],
        "raw_batch_cpu": r["raw_batch_cpu"],
        "memory": {k: r[k] for k in ("mem_fresh", "mem_idle", "mem_batch", "mem_after")},
        "single_tracks": [track_dict(t) for t in r["single"]],
        "batch_tracks": [track_dict(t) for t in batch_tracks],
        "targets": [list(x) for x in rows],
    }  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description="Pod startup latency vs raw CRI, and the agent's RSS.")
    ap.add_argument("--quick", action="store_true", help="3 single runs, short settle times")
    ap.add_argument("--runs", type=int, default=None, help="single-pod runs (default 10)")
    ap.add_argument("--batch", type=int, default=TARGET_BATCH, help="pods created at once")
    ap.add_argument("--batch-rounds", type=int, default=3,
                    help="batches of each kind; the batch ratios compare the medians (default 3)")  # fmt: skip
    ap.add_argument("--settle", type=float, default=None, help="seconds before RSS readings")
    ap.add_argument("--gap", type=float, default=0.5, help="pause between single runs (s)")
    ap.add_argument("--agent-v", type=int, default=0, help="the agent's -v (log verbosity)")
    ap.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    ap.add_argument(
        "--profile",
        metavar="DIR",
        help="py-spy raw stacks of the server and the agent during each batch round",
    )
    args = ap.parse_args()
    if args.runs is None:
        args.runs = 3 if args.quick else 10
    if args.settle is None:
        args.settle = 2.0 if args.quick else 5.0
    if os.geteuid() != 0:
        print("bench/pod_startup.py needs root (containerd, CNI)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="pinnace-bench-pods-"))
    cleanups: list[Callable[[], None]] = []
    try:
        results = run(args, tmp, cleanups)
        out = report(args, results)
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1, default=str))
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # reverse order: agent, server, then the runtime (pods, containerd, bridge), registry
        for fn in reversed(cleanups):
            try:
                fn()
            except Exception as e:
                print(f"clean-up step failed: {e!r}", file=sys.stderr)
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
