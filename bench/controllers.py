"""Benchmark: the controller manager end to end (issue 4's performance
section). On N simulated nodes, a Deployment of R replicas goes from create to
all available; then a rolling update of its template; then a delete with
foreground cascade. Prints each phase's duration and pods/s, and the
controller manager's RSS, with PASS/MISS against the targets (≥ 500 pods/s
created and made available end to end; controller-manager RSS ≤ 150 MB at
10,000 pods).

Run: ``.venv/bin/python bench/controllers.py [--quick] [--nodes 1000]
[--replicas 10000]``.

Processes, each its own so their CPU and memory are measured apart:
``pinnace server --disable controller-manager`` (the API server, with its
scheduler as its child process; ``--scheduler-in-process`` keeps it inside
the server's), ``pinnace sim --nodes N`` (the simulated kubelets: they report
bound pods Running and Ready, one status write per pod), and
``pinnace controller-manager`` (no client-side rate limit). This process only
drives the phases and polls the Deployment's status. Every wait is bounded;
everything listens on 127.0.0.1; children die with this process.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scheduler import (  # noqa: E402  (bench/scheduler.py: shared process helpers)
    PINNACE,
    cpu_seconds,
    free_port,
    rss_mb,
    scheduler_child,
    start,
    stop,
    wait_for,
)

from pinnace.client import Client, ClientConfig, NotFound, ResourceRef  # noqa: E402

DEPLOYMENTS = ResourceRef("apps", "v1", "deployments", True, "Deployment")
PODS = ResourceRef("", "v1", "pods", True, "Pod")
TARGET_PODS_S = 500.0
TARGET_CM_RSS_MB = 150.0
NS = "default"
Obj = dict[str, Any]


def deployment(name: str, replicas: int, image: str) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [
                        {
                            "name": "c",
                            "image": image,
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                        }
                    ],
                },
            },
        },
    }


async def wait_rolled_out(c: Client, name: str, replicas: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = await c.get(DEPLOYMENTS, name, namespace=NS)
        st = d.get("status") or {}
        if (
            st.get("observedGeneration", 0) >= d["metadata"].get("generation", 1)
            and st.get("updatedReplicas") == replicas
            and st.get("availableReplicas") == replicas
            and st.get("replicas") == replicas
        ):
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"deployment {name} not rolled out after {timeout:.0f}s")


async def pod_count(c: Client) -> int:
    page = await c.list(PODS, namespace=NS, limit=1)
    return len(page["items"]) + int(page["metadata"].get("remainingItemCount") or 0)


async def drive(kubeconfig: Path, replicas: int, timeout: float, cm_pid: int) -> Obj:
    cfg = ClientConfig.from_kubeconfig(kubeconfig).with_rate_limits(0, 0)
    out: Obj = {}
    async with Client.from_config(cfg) as c:
        t0 = time.monotonic()
        await c.create(DEPLOYMENTS, deployment("web", replicas, "nginx:1.25"), namespace=NS)
        await wait_rolled_out(c, "web", replicas, timeout)
        out["create_s"] = time.monotonic() - t0
        out["cm_rss_peak"] = rss_mb(cm_pid)

        t0 = time.monotonic()
        patch = {
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.26"}]}}}
        }
        await c.patch(DEPLOYMENTS, "web", patch, namespace=NS, patch_type="strategic")
        await wait_rolled_out(c, "web", replicas, timeout)
        out["update_s"] = time.monotonic() - t0

        t0 = time.monotonic()
        await c.delete(DEPLOYMENTS, "web", namespace=NS, propagation_policy="Foreground")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                await c.get(DEPLOYMENTS, "web", namespace=NS)
            except NotFound:
                if await pod_count(c) == 0:
                    break
            await asyncio.sleep(0.5)
        else:
            raise TimeoutError("foreground delete did not finish")
        out["delete_s"] = time.monotonic() - t0
    return out


def run(args: argparse.Namespace) -> Obj:
    tmp = Path(tempfile.mkdtemp(prefix="pinnace-bench-ctrl-"))
    server = sim = cm = None
    sched: int | None = None
    try:
        data = tmp / "data"
        server_log = tmp / "server.log"
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
        sim_log = tmp / "sim.log"
        sim = start(
            [*PINNACE, "sim", "--kubeconfig", str(kubeconfig), "--nodes", str(args.nodes),
             "--lease-renew-interval", "30"],
            sim_log,
        )  # fmt: skip
        wait_for(lambda: b"simulated nodes ready" in sim_log.read_bytes(), sim, sim_log, 600)
        cm_log = tmp / "cm.log"
        cm = start(
            [*PINNACE, "controller-manager", "--kubeconfig", str(kubeconfig),
             "--kube-api-qps", "100000", "--kube-api-burst", "100000"],
            cm_log,
        )  # fmt: skip
        wait_for(lambda: b"all controllers ready" in cm_log.read_bytes(), cm, cm_log, 60)
        time.sleep(2.0)  # the scheduler's informer catches up with the nodes
        pids = {"server": server.pid, "sim": sim.pid, "controller-manager": cm.pid}
        if sched is not None:
            pids["scheduler"] = sched
        c0 = {k: cpu_seconds(p) for k, p in pids.items()}
        w0 = time.monotonic()
        timeout = 120 + args.replicas / 20
        res = asyncio.run(drive(kubeconfig, args.replicas, timeout, cm.pid))
        window = time.monotonic() - w0
        res["cores"] = {k: (cpu_seconds(p) - c0[k]) / window for k, p in pids.items()}
        res["cm_rss_end"] = rss_mb(cm.pid)
        res["srv_rss"] = rss_mb(server.pid)
        return res
    finally:
        stop(cm)
        stop(sim)
        stop(server)
        if args.keep:
            print(f"  kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1,000 replicas on 100 nodes")
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--replicas", type=int, default=10000)
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    p.add_argument(
        "--scheduler-in-process",
        action="store_true",
        help="run the scheduler inside the server's process (default: the server's child process)",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.nodes, args.replicas = 100, 1000
    r = run(args)
    n = args.replicas
    rate = n / r["create_s"]
    print(f"\ncontrollers: Deployment of {n} replicas on {args.nodes} simulated nodes")
    print(f"  {'phase':<34}{'seconds':>9}{'pods/s':>9}  target")
    verdict = "PASS" if rate >= TARGET_PODS_S else "MISS"
    print(f"  {'create → all available':<34}{r['create_s']:>9.1f}{rate:>9.0f}  >= 500  {verdict}")
    print(f"  {'rolling update → all available':<34}{r['update_s']:>9.1f}{n / r['update_s']:>9.0f}")
    print(f"  {'foreground delete → all gone':<34}{r['delete_s']:>9.1f}{n / r['delete_s']:>9.0f}")
    rss_ok = "PASS" if r["cm_rss_peak"] <= TARGET_CM_RSS_MB or n < 10000 else "MISS"
    print(f"  controller-manager RSS at {n} pods: {r['cm_rss_peak']:.0f} MB (end {r['cm_rss_end']:.0f} MB)"
          f"  target <= 150 MB at 10,000 pods  {rss_ok if n >= 10000 else '(not judged below 10,000)'}")  # fmt: skip
    print(f"  server RSS at end: {r['srv_rss']:.0f} MB")
    cores = ", ".join(f"{k} {v:.2f}" for k, v in r["cores"].items())
    print(f"  CPU cores used over the run (machine has 2): {cores}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
