"""Benchmark: scheduling throughput (the SchedulingBasic shape of upstream's
scheduler_perf) and what simulated nodes cost.

Run: ``.venv/bin/python bench/scheduler.py [--quick] [--nodes 500,1000,5000]
[--pods 10000] [--in-memory]``. Prints one table with PASS/MISS against the
targets of issue 3 (≥ 1,000 pods/s at 5,000 nodes; ≤ 30 MB of simulated-node
RSS per 1,000 nodes).

End to end (default), for each node count, in a fresh temp dir:

* ``pinnace server`` on SQLite with ``--disable controller-manager``: the API
  server and its scheduler, which runs as the server's child process (its
  default) and talks to it over the server's Unix-socket loopback;
  ``--scheduler-in-process`` keeps the scheduler inside the server's process;
* ``pinnace sim --nodes N`` as its own process. Its leases are renewed every
  ``--lease-renew-interval`` seconds (default here 30 instead of the
  kubelet's 10, still under the 40 s lease duration) so that 5,000 nodes cost
  ~170 instead of ~500 lease writes a second. The sim is the kubelet here: it
  moves every bound pod to Running (one status write per pod), which upstream's
  scheduler_perf does not do;
* this process, the load generator: one watch on pods, then ``--pods`` pods
  (100m cpu / 500Mi memory, no affinity, like upstream's pod-default) created
  by ``--clients`` concurrent closed-loop clients as fast as the API answers.
  The send time of each pod is recorded by name (``creationTimestamp`` has
  one-second resolution); the watch records when each pod is first seen with
  ``spec.nodeName``.

Reported per node count: create rate, scheduling throughput (pods bound / time
from the first create sent to the last pod seen bound), latency
send → seen-bound p50/p99, the CPU cores each process used over that window
(the machine has 2; "sched" is the scheduler's process, and with
``--scheduler-in-process`` the server's share includes it), the sim's RSS
and RSS per 1,000 nodes, and the server's RSS.

``--in-memory`` measures the scheduler alone: a ``Scheduler`` without a
client over the sim's own node objects, with a fake binder that feeds the
informer events back (pod bound, then Running, as the sim would), so the
snapshot and queue work of the real pipeline is included but no HTTP, JSON or
storage is.

Every loop is bounded (counts and deadlines); everything listens on
127.0.0.1; processes get ``PR_SET_PDEATHSIG`` and are stopped, and temp dirs
removed, on exit (``--keep`` keeps the dirs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pinnace.client import PODS, Client, ClientConfig, ResourceRef  # noqa: E402
from pinnace.client.errors import AlreadyExists  # noqa: E402

SERVICE_ACCOUNTS = ResourceRef("", "v1", "serviceaccounts", True, "ServiceAccount")

PINNACE = [sys.executable, "-m", "pinnace"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
NAMESPACE = "default"
TARGET_PODS_S = 1000.0  # at 5,000 nodes
TARGET_SIM_MB_PER_1K = 30.0
TARGET_NODES = 5000
Obj = dict[str, Any]


# -- processes -----------------------------------------------------------------


def _pdeathsig() -> None:
    """In a child before exec: SIGTERM when this process dies; own process group."""
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


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def scheduler_child(server_pid: int, timeout: float = 60) -> int:
    """The pid of the scheduler that ``pinnace server`` runs as its child."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError, IndexError):
                continue
            if ppid == server_pid and b"scheduler" in cmdline and b"pinnace" in cmdline:
                return int(entry.name)
        time.sleep(0.1)
    raise RuntimeError("pinnace server started no scheduler process")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine_busy_seconds() -> float:
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    v = [int(x) for x in parts]
    return (sum(v) - v[3] - v[4]) / CLK_TCK  # minus idle and iowait


def wait_for(cond: Any, proc: subprocess.Popen[bytes], log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited early:\n{log_path.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not ready after {timeout}s:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.1)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


# -- the workload ---------------------------------------------------------------


def pod_body(name: str) -> Obj:
    """Upstream scheduler_perf's pod-default: small requests, nothing else."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": "sched-bench"}},
        "spec": {
            "containers": [
                {
                    "name": "pause",
                    "image": "registry.k8s.io/pause:3.9",
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "500Mi"},
                        "limits": {"cpu": "100m", "memory": "500Mi"},
                    },
                }
            ]
        },
    }


async def drive(
    kubeconfig: Path, pods: int, clients: int, timeout: float
) -> tuple[dict[str, float], dict[str, float], float, float]:
    """Create the pods and watch them bound: (send times, bound times, t0, t_created)."""
    cfg = ClientConfig.from_kubeconfig(kubeconfig).with_rate_limits(0, 0)
    async with Client.from_config(cfg) as client, Client.from_config(cfg) as watcher:
        # The server runs without its controller manager, whose service-account
        # controller would make this; ServiceAccount admission refuses pods
        # (after ~1.5 s of retries each) until it exists.
        with contextlib.suppress(AlreadyExists):
            await client.create(
                SERVICE_ACCOUNTS, {"metadata": {"name": "default"}}, namespace=NAMESPACE
            )
        listed = await client.list(PODS, namespace=NAMESPACE, limit=1)
        rv = str(listed["metadata"]["resourceVersion"])
        sent: dict[str, float] = {}
        bound: dict[str, float] = {}
        all_bound = asyncio.Event()

        async def watch() -> None:
            nonlocal rv
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and len(bound) < pods:
                with contextlib.suppress(Exception):
                    async for ev in watcher.watch(
                        PODS, namespace=NAMESPACE, resource_version=rv, timeout_seconds=60
                    ):
                        obj = ev.object
                        m = obj.get("metadata") or {}
                        if m.get("resourceVersion"):
                            rv = str(m["resourceVersion"])
                        name = m.get("name")
                        if (
                            (obj.get("spec") or {}).get("nodeName")
                            and name in sent
                            and name not in bound
                        ):
                            bound[name] = time.monotonic()
                            if len(bound) >= pods:
                                all_bound.set()
                                return
            all_bound.set()

        watch_task = asyncio.create_task(watch())
        await asyncio.sleep(0.5)  # the watch is open before the first create
        names = iter([f"sched-{i:06d}" for i in range(pods)])
        errors: list[str] = []

        async def creator() -> None:
            for name in names:
                body = pod_body(name)
                sent[name] = time.monotonic()
                for _attempt in range(5):
                    try:
                        await client.create(PODS, body, namespace=NAMESPACE)
                        break
                    except Exception as e:  # retried a few times, then counted
                        if len(errors) < 5:
                            errors.append(repr(e))
                        await asyncio.sleep(0.2)

        t0 = time.monotonic()
        await asyncio.gather(*(creator() for _ in range(clients)))
        t_created = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_bound.wait(), timeout)
        watch_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch_task
        if errors:
            print(f"  create errors (first {len(errors)}): {errors}", file=sys.stderr)
        return sent, bound, t0, t_created


def measure_e2e(args: argparse.Namespace, nodes: int) -> Obj:
    tmp = Path(tempfile.mkdtemp(prefix="pinnace-bench-sched-"))
    server = sim = pyspy = None
    sched: int | None = None
    try:
        data = tmp / "data"
        server_log, sim_log = tmp / "server.log", tmp / "sim.log"
        in_process = ["--scheduler-in-process"] if args.scheduler_in_process else []
        server = start(
            [*PINNACE, "server", "--data-dir", str(data), "--port", str(free_port()),
             "--disable", "controller-manager", *in_process],
            server_log,
        )  # fmt: skip
        kubeconfig = data / "admin.kubeconfig"
        wait_for(kubeconfig.exists, server, server_log, 60)
        if not args.scheduler_in_process:
            sched = scheduler_child(server.pid)
        t_sim = time.monotonic()
        sim = start(
            [*PINNACE, "sim", "--kubeconfig", str(kubeconfig), "--nodes", str(nodes),
             "--lease-renew-interval", str(args.lease_renew_interval)],
            sim_log,
        )  # fmt: skip
        wait_for(lambda: b"simulated nodes ready" in sim_log.read_bytes(), sim, sim_log, 900)
        sim_ready = time.monotonic() - t_sim
        time.sleep(args.settle)  # the scheduler's informer catches up with the nodes
        if args.profile:
            out = Path(args.profile) / f"server-{nodes}.txt"
            out.parent.mkdir(parents=True, exist_ok=True)
            pyspy = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(server.pid),
                 "--format", "raw", "--output", str(out), "--rate", "50", "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1.0)
        me = os.getpid()
        pids = [server.pid, sim.pid, me] + ([sched] if sched is not None else [])
        c0 = {p: cpu_seconds(p) for p in pids}
        busy0, w0 = machine_busy_seconds(), time.monotonic()
        timeout = 120 + args.pods / 50
        sent, bound, t0, t_created = asyncio.run(
            drive(kubeconfig, args.pods, args.clients, timeout)
        )
        t_end = max(bound.values(), default=time.monotonic())
        window = max(t_end - w0, 1e-6)
        cores = {p: (cpu_seconds(p) - c0[p]) / window for p in c0}
        busy = (machine_busy_seconds() - busy0) / window
        if pyspy is not None:
            pyspy.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                pyspy.wait(60)
        lat = [bound[n] - sent[n] for n in bound]
        sim_rss = rss_mb(sim.pid)
        return {
            "nodes": nodes,
            "pods": args.pods,
            "bound": len(bound),
            "sim_ready_s": sim_ready,
            "create_s": args.pods / max(t_created - t0, 1e-6),
            "sched_s": len(bound) / max(t_end - t0, 1e-6),
            "p50_ms": percentile(lat, 50) * 1000,
            "p99_ms": percentile(lat, 99) * 1000,
            "srv_cores": cores[server.pid],
            "sched_cores": cores[sched] if sched is not None else float("nan"),
            "sim_cores": cores[sim.pid],
            "gen_cores": cores[me],
            "other_cores": busy - sum(cores.values()),
            "sim_rss": sim_rss,
            "sim_mb_per_1k": sim_rss / nodes * 1000,
            "srv_rss": rss_mb(server.pid),
        }
    finally:
        if pyspy is not None and pyspy.poll() is None:
            pyspy.kill()
        stop(sim)
        stop(server)
        if args.keep:
            print(f"  kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# -- in memory -------------------------------------------------------------------


def sim_nodes(n: int) -> list[Obj]:
    """The objects ``pinnace sim --nodes n`` registers (default profile)."""
    from datetime import UTC, datetime

    from pinnace.sim.objects import build_node, node_status
    from pinnace.sim.profile import expand

    now = datetime.now(UTC)
    out = []
    for i, spec in enumerate(expand(None, n)):
        node = build_node(spec, pod_cidr=f"10.{128 + i // 256}.{i % 256}.0/24")
        node["metadata"]["uid"] = f"node-uid-{i}"
        node["status"] = node_status(spec, address=f"10.0.{i // 256}.{i % 256}", now=now)
        out.append(node)
    return out


async def _in_memory(nodes: int, pods: int) -> Obj:
    from pinnace.scheduler.scheduler import Scheduler

    sched = Scheduler(None, seed=1)

    class Api:
        """Binds at once and plays back what the informer would deliver."""

        async def bind(self, ns: str, name: str, node: str, *, pod_uid: str | None = None) -> Obj:
            old = objs[name]
            new = {**old, "spec": {**old["spec"], "nodeName": node}}
            sched.on_pod_update(old, new)
            running = {**new, "status": {"phase": "Running"}}
            sched.on_pod_update(new, running)
            return {}

    sched.client = Api()  # type: ignore[assignment]
    for n in sim_nodes(nodes):
        sched.on_node_add(n)
    objs: dict[str, Obj] = {}
    for i in range(pods):
        p = pod_body(f"sched-{i:06d}")
        p["metadata"]["uid"] = f"uid-{i}"
        p["status"] = {"phase": "Pending"}
        objs[p["metadata"]["name"]] = p
    gc.collect()
    gc.freeze()
    gc.set_threshold(700, 10, 1_000_000)  # what `pinnace server` sets (the scheduler runs there)
    t0 = time.perf_counter()
    for p in objs.values():
        sched.on_pod_add(p)
    done = 0
    while (q := sched.queue.pop_nowait()) is not None:
        sched.schedule_one(q)
        done += 1
        if done % 64 == 0:
            await asyncio.sleep(0)  # bindings run, as between cycles in the real loop
    for _ in range(10):
        await asyncio.sleep(0)
    dt = time.perf_counter() - t0
    return {"nodes": nodes, "pods": pods, "bound": sched.scheduled, "sched_s": sched.scheduled / dt}


def measure_in_memory(args: argparse.Namespace, nodes: int) -> Obj:
    return asyncio.run(_in_memory(nodes, args.pods))


# -- report ----------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report_e2e(rows: list[Obj]) -> None:
    print(
        f"{'nodes':>6} {'pods':>6} {'bound':>6} {'create/s':>9} {'sched/s':>8} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'srv cores':>9} {'sched':>5} {'sim':>5} {'gen':>5} {'other':>6} "
        f"{'sim MB':>7} {'MB/1k':>6} {'srv MB':>7}"
    )
    for r in rows:
        print(
            f"{r['nodes']:>6} {r['pods']:>6} {r['bound']:>6} {r['create_s']:>9.0f} "
            f"{r['sched_s']:>8.0f} {r['p50_ms']:>8.0f} {r['p99_ms']:>8.0f} "
            f"{r['srv_cores']:>9.2f} {r['sched_cores']:>5.2f} {r['sim_cores']:>5.2f} "
            f"{r['gen_cores']:>5.2f} "
            f"{r['other_cores']:>6.2f} {r['sim_rss']:>7.1f} {r['sim_mb_per_1k']:>6.1f} "
            f"{r['srv_rss']:>7.1f}"
        )
    top = max(rows, key=lambda r: r["nodes"])
    judged = top["nodes"] >= TARGET_NODES
    note = "" if judged else f" n/a (judged at {TARGET_NODES} nodes; largest run {top['nodes']})"
    ok_sched = top["sched_s"] >= TARGET_PODS_S and top["bound"] == top["pods"]
    ok_rss = top["sim_mb_per_1k"] <= TARGET_SIM_MB_PER_1K
    print(
        f"scheduling throughput at {TARGET_NODES} nodes ≥ {TARGET_PODS_S:.0f} pods/s: "
        f"{top['sched_s']:.0f} {verdict(ok_sched) if judged else ''}{note}"
    )
    print(
        f"simulated-node RSS ≤ {TARGET_SIM_MB_PER_1K:.0f} MB per 1,000 nodes: "
        f"{top['sim_mb_per_1k']:.1f} {verdict(ok_rss) if judged else ''}{note}"
    )
    if any(r["other_cores"] > 0.2 for r in rows):
        print("note: other processes used > 0.2 cores during a run (noise)")


def report_in_memory(rows: list[Obj]) -> None:
    print(f"{'nodes':>6} {'pods':>6} {'bound':>6} {'sched/s':>8}   (scheduler alone, no API)")
    for r in rows:
        print(f"{r['nodes']:>6} {r['pods']:>6} {r['bound']:>6} {r['sched_s']:>8.0f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", help="comma-separated node counts (default 500,1000,5000)")
    ap.add_argument("--pods", type=int, help="pods per run (default 10000)")
    ap.add_argument("--clients", type=int, default=64, help="concurrent creating clients")
    ap.add_argument("--quick", action="store_true", help="500 nodes, 2,000 pods")
    ap.add_argument("--in-memory", action="store_true", help="the scheduler alone, no API")
    ap.add_argument("--lease-renew-interval", type=float, default=30.0, help="sim lease period")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds after the sim is ready")
    ap.add_argument(
        "--scheduler-in-process",
        action="store_true",
        help="run the scheduler inside the server's process (default: the server's child process)",
    )
    ap.add_argument("--profile", metavar="DIR", help="py-spy raw stacks of the server per run")
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs (logs, database)")
    args = ap.parse_args(argv)
    default_nodes = "500" if args.quick else "500,1000,5000"
    counts = [int(x) for x in (args.nodes or default_nodes).split(",") if x.strip()]
    if args.pods is None:
        args.pods = 2000 if args.quick else 10000
    measure = measure_in_memory if args.in_memory else measure_e2e
    rows = []
    for n in counts:
        print(f"running {n} nodes, {args.pods} pods ...", file=sys.stderr, flush=True)
        rows.append(measure(args, n))
    (report_in_memory if args.in_memory else report_e2e)(rows)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
