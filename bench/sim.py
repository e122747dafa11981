"""Benchmark: what simulated nodes cost (``pinnace sim``).

Run: ``.venv/bin/python bench/sim.py [--nodes 0,1000,5000] [--steady 30]``.

For each node count, on a fresh ``pinnace server`` (SQLite, temp dir,
127.0.0.1 only): start ``pinnace sim --nodes N`` as its own process, time how
long until it reports every node registered and its pods synced, then let it
run ``--steady`` seconds (a few lease cycles) and sample, from ``/proc``:

* the sim's VmRSS (now) and VmHWM (peak), and RSS per 1,000 nodes (above the
  0-node baseline when that is measured, else total);
* the sim's and the server's CPU use over the steady window (leases are
  renewed every 10 s, so 5,000 nodes mean ~500 lease writes a second);
* how many node Leases exist and the age of the stalest one (must stay
  well under the 40 s lease duration).

``--pods M`` also creates M pods bound round-robin to the nodes and times
until all are Running. Prints one table. Everything is cleaned up on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pinnace.client import LEASES, PODS, Client, ClientConfig  # noqa: E402

PINNACE = [sys.executable, "-m", "pinnace"]
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start_server(tmp: Path) -> tuple[subprocess.Popen[bytes], Path]:
    data = tmp / "data"
    port = free_port()
    log = open(tmp / "server.log", "ab")
    proc = subprocess.Popen(
        [*PINNACE, "server", "--data-dir", str(data), "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    kubeconfig = data / "admin.kubeconfig"
    deadline = time.monotonic() + 60
    while not kubeconfig.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((tmp / "server.log").read_text()[-3000:])
        time.sleep(0.05)
    return proc, kubeconfig


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def create_pods(kubeconfig: Path, nodes: int, pods: int) -> float:
    """Create ``pods`` pods bound round-robin; seconds until all are Running."""
    cfg = ClientConfig.from_kubeconfig(kubeconfig).with_rate_limits(0, 1000)
    async with Client.from_config(cfg) as client:
        start = time.monotonic()
        sem = asyncio.Semaphore(32)

        async def one(i: int) -> None:
            pod = {
                "metadata": {"name": f"p{i}", "namespace": "default"},
                "spec": {
                    "nodeName": f"sim-{i % nodes}",
                    "containers": [{"name": "c", "image": "pause"}],
                },
            }
            async with sem:
                await client.create(PODS, pod)

        await asyncio.gather(*(one(i) for i in range(pods)))
        while True:
            res = await client.list_all(
                PODS, namespace="default", field_selector="status.phase=Running"
            )
            if len(res["items"]) >= pods:
                return time.monotonic() - start
            await asyncio.sleep(0.5)


async def lease_ages(kubeconfig: Path) -> tuple[int, float]:
    """(how many node Leases, the oldest renewTime's age in seconds)."""
    cfg = ClientConfig.from_kubeconfig(kubeconfig).with_rate_limits(0, 1000)
    async with Client.from_config(cfg) as client:
        res = await client.list_all(LEASES, namespace="kube-node-lease")
    now = datetime.now(UTC)
    ages = [
        (
            now - datetime.fromisoformat(x["spec"]["renewTime"].replace("Z", "+00:00"))
        ).total_seconds()
        for x in res["items"]
    ]
    return len(ages), max(ages, default=0.0)


def measure(nodes: int, steady: float, pods: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="pinnace-bench-sim-"))
    server, kubeconfig = start_server(tmp)
    sim: subprocess.Popen[bytes] | None = None
    try:
        log_path = tmp / "sim.log"
        t0 = time.monotonic()
        sim = subprocess.Popen(
            [*PINNACE, "sim", "--kubeconfig", str(kubeconfig), "--nodes", str(nodes)],
            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        while b"simulated nodes ready" not in log_path.read_bytes():
            if sim.poll() is not None or time.monotonic() - t0 > 900:
                raise RuntimeError(log_path.read_text()[-3000:])
            time.sleep(0.1)
        ready = time.monotonic() - t0
        pods_s = asyncio.run(create_pods(kubeconfig, nodes, pods)) if pods and nodes else 0.0
        c_sim, c_srv, t1 = cpu_seconds(sim.pid), cpu_seconds(server.pid), time.monotonic()
        time.sleep(steady)
        dt = time.monotonic() - t1
        leases, oldest = asyncio.run(lease_ages(kubeconfig))
        return {
            "leases": leases,
            "oldest_lease_s": oldest,
            "nodes": nodes,
            "ready_s": ready,
            "rss_mb": proc_kb(sim.pid, "VmRSS") / 1024,
            "hwm_mb": proc_kb(sim.pid, "VmHWM") / 1024,
            "sim_cpu": (cpu_seconds(sim.pid) - c_sim) / dt * 100,
            "server_cpu": (cpu_seconds(server.pid) - c_srv) / dt * 100,
            "server_rss_mb": proc_kb(server.pid, "VmRSS") / 1024,
            "pods_s": pods_s,
        }
    finally:
        if sim is not None:
            stop(sim)
        stop(server)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", default="0,1000,5000", help="comma-separated node counts")
    ap.add_argument("--steady", type=float, default=30.0, help="seconds of steady state")
    ap.add_argument("--pods", type=int, default=0, help="pods to create and wait for")
    args = ap.parse_args()
    counts = [int(x) for x in args.nodes.split(",") if x.strip()]
    rows = [measure(n, args.steady, args.pods) for n in counts]
    base = next((r["rss_mb"] for r in rows if r["nodes"] == 0), None)
    print(
        f"{'nodes':>6} {'ready s':>8} {'RSS MB':>7} {'peak MB':>8} {'MB/1k':>6} "
        f"{'MB/1k>base':>10} {'sim CPU%':>8} {'srv CPU%':>8} {'srv RSS':>8} {'pods s':>7} "
        f"{'leases':>6} {'oldest s':>8}"
    )
    for r in rows:
        n = int(r["nodes"])
        per_k = r["rss_mb"] / n * 1000 if n else 0.0
        above = (r["rss_mb"] - base) / n * 1000 if n and base is not None else float("nan")
        print(
            f"{n:>6} {r['ready_s']:>8.1f} {r['rss_mb']:>7.1f} {r['hwm_mb']:>8.1f} "
            f"{per_k:>6.1f} {above:>10.1f} {r['sim_cpu']:>8.1f} {r['server_cpu']:>8.1f} "
            f"{r['server_rss_mb']:>8.1f} {r['pods_s']:>7.1f} {int(r['leases']):>6} "
            f"{r['oldest_lease_s']:>8.1f}"
        )


if __name__ == "__main__":
    main()
