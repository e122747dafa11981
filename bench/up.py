"""Benchmark: ``pinnace up`` from a fresh data dir to a working single-node
cluster, and what the whole cluster costs in memory when idle (issue 6).

Run (as root): ``.venv/bin/python bench/up.py [--settle S] [--runs N] [--keep]
[--proxy-mode iptables|nftables]``. Prints the times and PASS/MISS against the
targets: node Ready and DNS answering ≤ 5 s after the command starts; idle RSS
≤ 150 MB for pinnace plus its containerd. For comparison (not measured here):
k3s takes ~50 s until its default pods are ready, kind ~12 s; k3s's server +
agent is reported at ~500 MB idle.

Each run starts ``pinnace up`` as users do, with a fresh data dir in a temp
dir, and only what keeps it on this machine and out of other clusters' way: a
free API port, a pod bridge and /24 pod CIDR unique to the run, a free port
for cluster DNS (on the node's address, behind the kube-dns VIP) and a DNS
upstream on loopback. Times run from just before the process is spawned:

* ``api``: the API server answers ``/readyz`` (with the admin kubeconfig);
* ``node Ready``: the Node's Ready condition is True (polled every 50 ms);
* ``dns``: ``kubernetes.default.svc.cluster.local`` resolves through the
  kube-dns Service's ClusterIP from the host (so kube-proxy's rules and the
  DNS server are both in place);
* ``up``: the later of node Ready and dns.

Then a restart on the same data dir (``resume``: the same three times; the
cluster's state and its containerd are kept). Memory is ``VmRSS`` of the
``pinnace up`` process and of its containerd after ``--settle`` seconds idle
with no pods.

Clean-up on every exit: the process stopped, sandboxes and containerd stopped,
the bridge deleted, kube-proxy's rules removed (``pinnace proxy --cleanup``),
the temp dir removed (``--keep`` keeps it, with the log).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# bench/dns.py would shadow dnspython's ``dns`` package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from tests.cluster import free_port  # noqa: E402
from tests.node_cluster import cleanup_agent_runtime, cleanup_proxy_rules  # noqa: E402

TARGET_UP_S = 5.0
TARGET_RSS_MB = 150.0


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def containerd_pid(agent_dir: Path) -> int:
    with contextlib.suppress(OSError, ValueError):
        return int((agent_dir / "containerd" / "containerd.pid").read_text().strip())
    return 0


class Up:
    def __init__(self, base: Path, proxy_mode: str, run: int) -> None:
        self.base = base
        self.data_dir = base / "data"
        self.port = free_port()
        self.bridge = f"pu{os.getpid() % 10000}x{run}"
        self.pod_cidr = f"10.244.{240 + run % 10}.0/24"
        self.args = [
            sys.executable, "-m", "pinnace", "up",
            "--data-dir", str(self.data_dir),
            "--port", str(self.port),
            "--node-name", "bench-up",
            "--kubelet-port", str(free_port()),
            "--cni-bridge", self.bridge,
            "--pod-cidr", self.pod_cidr,
            "--cluster-cidr", self.pod_cidr,
            "--proxy-mode", proxy_mode,
            "--dns-port", str(free_port()),
            "--dns-upstream", "127.0.0.1:9",
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = base / "up.log"

    def start(self) -> float:
        t0 = time.monotonic()
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
        )
        return t0

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"pinnace up exited ({self.proc.returncode}): see {self.log}")

    # -- probes -------------------------------------------------------------

    def _ctx(self) -> tuple[ssl.SSLContext, str] | None:
        kc = self.data_dir / "admin.kubeconfig"
        if not kc.exists():
            return None
        import yaml

        cfg = yaml.safe_load(kc.read_text())
        ctx = ssl.create_default_context(cafile=str(self.data_dir / "pki" / "ca.crt"))
        user = cfg["users"][0]["user"]
        pki = self.base / "client"
        pki.mkdir(exist_ok=True)
        import base64

        (pki / "c.crt").write_bytes(base64.b64decode(user["client-certificate-data"]))
        (pki / "c.key").write_bytes(base64.b64decode(user["client-key-data"]))
        ctx.load_cert_chain(str(pki / "c.crt"), str(pki / "c.key"))
        return ctx, cfg["clusters"][0]["cluster"]["server"]

    def get(self, path: str) -> Any:
        got = self._ctx()
        if got is None:
            return None
        ctx, server = got
        try:
            with urllib.request.urlopen(server + path, context=ctx, timeout=2) as r:
                body = r.read()
        except OSError:
            return None
        return body if path.startswith("/readyz") else json.loads(body)

    def node_ready(self) -> bool:
        node = self.get("/api/v1/nodes/bench-up")
        if not node:
            return False
        conds = node.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    def dns_answers(self, vip: str) -> bool:
        import dns.exception
        import dns.message
        import dns.query
        import dns.rcode

        q = dns.message.make_query("kubernetes.default.svc.cluster.local", "A")
        try:
            r = dns.query.udp(q, vip, port=53, timeout=0.2)
        except (dns.exception.Timeout, OSError):
            return False
        return r.rcode() == dns.rcode.NOERROR and bool(r.answer)


def wait_up(up: Up, t0: float, timeout: float = 120.0) -> dict[str, float]:
    times: dict[str, float] = {}
    vip = ""
    deadline = t0 + timeout
    while time.monotonic() < deadline and len(times) < 3:
        up.alive()
        now = time.monotonic() - t0
        if "api" not in times and up.get("/readyz") is not None:
            times["api"] = now
        if "api" in times and "node Ready" not in times and up.node_ready():
            times["node Ready"] = time.monotonic() - t0
        if "api" in times and not vip:
            svc = up.get("/api/v1/namespaces/kube-system/services/kube-dns")
            vip = (svc or {}).get("spec", {}).get("clusterIP") or ""
        if vip and "dns" not in times and up.dns_answers(vip):
            times["dns"] = time.monotonic() - t0
        time.sleep(0.05)
    if len(times) < 3:
        raise RuntimeError(f"not up after {timeout:.0f} s: {times}; see {up.log}")
    times["up"] = max(times["node Ready"], times["dns"])
    return times


def _row(label: str, t: dict[str, float]) -> str:
    return (
        f"  {label:<8} api {t['api']:5.2f} s   node Ready {t['node Ready']:5.2f} s   "
        f"dns {t['dns']:5.2f} s   up {t['up']:5.2f} s"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--settle", type=float, default=20.0, help="idle seconds before RSS")
    ap.add_argument("--runs", type=int, default=3, help="fresh starts to time")
    ap.add_argument("--proxy-mode", default="iptables", choices=("iptables", "nftables"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs (logs)")
    args = ap.parse_args()
    if os.geteuid() != 0 or shutil.which("containerd") is None:
        print("bench/up.py needs root and containerd (make setup)", file=sys.stderr)
        return 2
    socket.setdefaulttimeout(5)
    fresh: list[dict[str, float]] = []
    resumed: dict[str, float] = {}
    mem: dict[str, float] = {}
    for run in range(1, args.runs + 1):
        base = Path(tempfile.mkdtemp(prefix="pinnace-bench-up-"))
        up = Up(base, args.proxy_mode, run)
        try:
            fresh.append(wait_up(up, up.start()))
            print(_row(f"fresh {run}", fresh[-1]), flush=True)
            if run == args.runs:
                up.stop()
                resumed = wait_up(up, up.start())
                print(_row("resume", resumed), flush=True)
                time.sleep(args.settle)
                assert up.proc is not None
                mem = {
                    "pinnace": rss_mb(up.proc.pid),
                    "containerd": rss_mb(containerd_pid(up.data_dir / "agent")),
                }
        finally:
            up.stop()
            cleanup_agent_runtime(up.data_dir / "agent", up.bridge)
            cleanup_proxy_rules()
            if args.keep:
                print(f"  kept {base}")
            else:
                shutil.rmtree(base, ignore_errors=True)
    worst = max(t["up"] for t in fresh)
    best = min(t["up"] for t in fresh)
    total = mem.get("pinnace", 0.0) + mem.get("containerd", 0.0)
    print()
    print(f"pinnace up → node Ready and DNS answering ({args.proxy_mode} mode)")
    print(f"  fresh data dir: best {best:.2f} s, worst {worst:.2f} s over {len(fresh)} runs")
    print(f"  target ≤ {TARGET_UP_S:.0f} s: {'PASS' if worst <= TARGET_UP_S else 'MISS'}")
    print(f"  resume on the same data dir: {resumed.get('up', float('nan')):.2f} s")
    print(f"idle memory after {args.settle:.0f} s (VmRSS)")
    print(f"  pinnace up  {mem.get('pinnace', 0):6.1f} MB")
    print(f"  containerd  {mem.get('containerd', 0):6.1f} MB")
    print(f"  total       {total:6.1f} MB   target ≤ {TARGET_RSS_MB:.0f} MB: "
          f"{'PASS' if total <= TARGET_RSS_MB else 'MISS'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
