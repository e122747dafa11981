"""Benchmark: kube-proxy sync time (issue 6's performance section).

For each mode (iptables, nftables), in a throwaway network namespace (its own
netfilter tables; the host's are never touched, and it is deleted at the end):
S Services x E endpoints (default 1,000 x 10, each also a NodePort) are fed to
the proxier's state, then

* **full sync**: model → rule text → ``iptables-restore --noflush`` /
  ``nft -f`` applied (the first sync, from an empty table);
* **resync**: a full sync over the programmed rules, after a quiet sync (one
  with nothing to do; in iptables mode it reads back the rules just written,
  so the full sync rewrites only chains that are not as written);
* **restart**: the full sync of a proxy restarted over its own rules, with
  what it kept in its state dir;
* **restart, no state dir**: the same without its record (iptables mode
  compares the chains with how iptables-save prints the rules it would write);
* **baseline**: applying the first full text again over the programmed rules,
  with no generation: what rewriting every chain costs in the tool and the
  kernel (upstream's full sync rewrites every chain).

Prints each number with PASS/MISS against the targets (≤ 1 s full sync,
≤ 100 ms endpoint change). Run as root: ``.venv/bin/python bench/proxy.py
[--services 1000] [--endpoints 10] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pinnace.proxy.cleanup import cleanup  # noqa: E402
from pinnace.proxy.config import ProxyConfig  # noqa: E402
from pinnace.proxy.proxy import make_proxier  # noqa: E402

FULL_TARGET = 1.0
CHANGE_TARGET = 0.100


def service(i: int) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "bench", "name": f"svc-{i}"},
        "spec": {
            "type": "NodePort",
            "clusterIP": f"10.96.{i // 250}.{i % 250 + 1}",
            "ports": [{"name": "http", "port": 80, "nodePort": 30000 + i, "protocol": "TCP"}],
        },
    }


def pod_ip(g: int) -> str:
    return f"10.{100 + g // 62500}.{(g // 250) % 250}.{g % 250 + 1}"


def endpoint_slice(i: int, n: int, shift: int = 0) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "bench",
            "name": f"svc-{i}-abc",
            "labels": {"kubernetes.io/service-name": f"svc-{i}"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [pod_ip(i * n + j + shift)],
                "nodeName": "node" if j % 2 else "other",
                "conditions": {"ready": True},
            }
            for j in range(n)
        ],
    }


def verdict(value: float, target: float) -> str:
    return "PASS" if value <= target else "MISS"


async def bench_mode(
    mode: str, ns: str, services: int, endpoints: int, repeat: int, backend: str = "auto"
) -> None:
    prefix = ["ip", "netns", "exec", ns]
    state_dir = tempfile.mkdtemp(prefix="pinnace-bench-proxy-")
    config = ProxyConfig(
        mode=mode,
        iptables_backend=backend,
        node_name="node",
        node_ips=["192.168.200.1"],
        cluster_cidr="10.100.0.0/14",
        command_prefix=prefix,
        state_dir=state_dir,
    )
    p = make_proxier(config)
    p.prepare()
    st = p.state
    for i in range(services):
        st.set_service(service(i))
        st.set_slice(endpoint_slice(i, endpoints))
    now = 0.0
    t0 = time.perf_counter()
    result = await p.sync(now)
    full = time.perf_counter() - t0
    assert result == "full", result
    text = p.last_text
    lines = text.count("\n")
    fulls = []
    quiet = []
    for _ in range(repeat):
        # a quiet sync first, as any running proxy has between two full syncs
        # (iptables: it reads back the rules just written)
        now += 60
        t0 = time.perf_counter()
        await p.sync(now)
        quiet.append(time.perf_counter() - t0)
        p.request_full_sync()
        now += 10
        t0 = time.perf_counter()
        await p.sync(now)
        fulls.append(time.perf_counter() - t0)

    async def restarted(cfg: ProxyConfig) -> float:
        """A new proxier with the same Services: its first (full) sync's time."""
        q = make_proxier(cfg)
        q.prepare()
        for i in range(services):
            q.state.set_service(service(i))
            q.state.set_slice(endpoint_slice(i, endpoints))
        t0 = time.perf_counter()
        assert await q.sync(now) == "full"
        return time.perf_counter() - t0

    # a proxy restarted over its own rules, with what it kept in its state dir ...
    restarts = [await restarted(config) for _ in range(repeat)]
    # ... and with nothing kept (a lost state dir)
    rewrites = [await restarted(dataclasses.replace(config, state_dir="")) for _ in range(repeat)]
    # the baseline applies everything again: the first sync's text (its jump
    # rules into built-in chains are already there: leave them out)
    text = "\n".join(ln for ln in text.splitlines() if not ln.startswith("-I ")) + "\n"
    changes = []
    for k in range(repeat * 4):
        i = (k * 37) % services
        st.set_slice(endpoint_slice(i, endpoints, shift=services * endpoints + k))
        now += 0.5
        t0 = time.perf_counter()
        result = await p.sync(now)
        changes.append(time.perf_counter() - t0)
        assert result == "partial", result
    apply_only = []
    argv = (
        [p.restore_cmd, "-w", "5", "--noflush"]  # type: ignore[attr-defined]
        if mode == "iptables"
        else ["nft", "-f", "/dev/stdin"]
    )
    for _ in range(repeat):
        # the full text again, without generation (nftables: on top of the same rules)
        t0 = time.perf_counter()
        await asyncio.to_thread(
            subprocess.run, [*prefix, *argv], input=text.encode(), check=True, capture_output=True
        )
        apply_only.append(time.perf_counter() - t0)
    resync = statistics.median(fulls)
    rewrite = statistics.median(rewrites)
    restart = statistics.median(restarts)
    shutil.rmtree(state_dir, ignore_errors=True)
    change = statistics.median(changes)
    base = statistics.median(apply_only)
    name = f"{mode} ({p.backend} backend)" if mode == "iptables" else mode  # type: ignore[attr-defined]
    print(f"{name}: {services} services x {endpoints} endpoints, {lines} lines of rules")
    print(f"  first full sync      {full * 1000:8.1f} ms   {verdict(full, FULL_TARGET)} (<= 1 s)")
    print(
        f"  full resync (median) {resync * 1000:8.1f} ms   {verdict(resync, FULL_TARGET)} (<= 1 s; "
        f"the quiet sync after a write took {quiet[0] * 1000:.0f} ms)"
    )
    print(
        f"  restart, full sync   {restart * 1000:8.1f} ms   {verdict(restart, FULL_TARGET)} "
        "(<= 1 s; a restarted proxy over its rules, state dir kept)"
    )
    print(
        f"  restart, no state    {rewrite * 1000:8.1f} ms   {verdict(rewrite, FULL_TARGET)} "
        "(<= 1 s; the same with no state dir)"
    )
    print(
        f"  endpoint change      {change * 1000:8.1f} ms   {verdict(change, CHANGE_TARGET)} "
        f"(<= 100 ms; median of {len(changes)}, max {max(changes) * 1000:.1f} ms)"
    )
    print(f"  baseline: apply only {base * 1000:8.1f} ms   (all rules again, no generation)")
    cleanup(mode, command_prefix=prefix)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--endpoints", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--mode", choices=["iptables", "nftables", "both"], default="both")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/proxy.py needs root (it programs a network namespace)", file=sys.stderr)
        return 2
    ns = f"pxbench{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        runs = [("iptables", "nft"), ("iptables", "legacy"), ("nftables", "auto")]
        for mode, backend in runs:
            if args.mode in ("both", mode):
                asyncio.run(
                    bench_mode(mode, ns, args.services, args.endpoints, args.repeat, backend)
                )
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
