"""Benchmark: what authentication + RBAC authorization + admission cost per
request, as issue 7 asks: request throughput with the full chain divided by
the throughput of the same requests with ``--authorization-mode AlwaysAllow``,
with 1,000 RoleBindings in the cluster. Target: the ratio is at least 0.85
(the chain costs at most 15%).

Run: ``.venv/bin/python bench/authz.py [--quick] [--seconds 5] [--clients 32]
[--bindings 1000]``.

What runs, in this order, for each mode (``Node,RBAC`` then ``AlwaysAllow``):

* a ``pinnace server`` (API server only: no controllers, scheduler or node)
  on SQLite in a temp dir, pinned to CPU 0 when there are two or more;
* set-up as admin: 50 namespaces ``bench-0..49``, ``--bindings`` RoleBindings
  spread over them, each binding a different user to a ClusterRole like
  ``edit`` (plus alice's, in ``bench-0``), and 100 ConfigMaps in ``bench-0``;
* the user ``alice`` (a client certificate from ``pinnace kubeconfig``, so
  not in ``system:masters``: her requests go through RBAC) runs the phases
  from a load-generator process pinned to CPU 1, ``--clients`` keep-alive
  connections in a closed loop:
  ``get`` — GET one of the ConfigMaps; ``list`` — list the 100 ConfigMaps;
  ``create`` — POST a new ConfigMap (the write path: admission, storage).

Both servers get identical phases from the identical client, so the ratio
isolates what the authorization chain (and the admission plugins it shares
with AlwaysAllow mode) costs. Everything listens on 127.0.0.1; the temp dir
and every process go away at exit.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ctypes
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.85
PINNACE = (sys.executable, "-m", "pinnace")
NAMESPACES = 50
# list before create: the creates add thousands of ConfigMaps to the listed namespace
PHASES = ("get", "list", "create")


def _pdeathsig() -> None:
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _pin(pid: int, cpu: int) -> None:
    if (os.cpu_count() or 1) > 1:
        try:
            os.sched_setaffinity(pid, {cpu})
        except OSError:
            pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ssl_context(kubeconfig: Path, out: Path) -> dict[str, str]:
    """Write the kubeconfig's CA and client cert/key to files: (ca, cert, key)."""
    cfg = yaml.safe_load(kubeconfig.read_text())
    cluster = cfg["clusters"][0]["cluster"]
    user = cfg["users"][0]["user"]
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, data in (
        ("ca", cluster["certificate-authority-data"]),
        ("cert", user["client-certificate-data"]),
        ("key", user["client-key-data"]),
    ):
        p = out / f"{name}.pem"
        p.write_bytes(base64.b64decode(data))
        files[name] = str(p)
    files["server"] = cluster["server"]
    return files


def make_ctx(files: dict[str, str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=files["ca"])
    ctx.load_cert_chain(files["cert"], files["key"])
    return ctx


# -- load generator (its own process) --------------------------------------------


async def _phase(files: dict[str, str], phase: str, clients: int, seconds: float) -> dict[str, Any]:
    base = files["server"]
    conn = aiohttp.TCPConnector(ssl=make_ctx(files), limit=clients)
    done = 0
    errors = 0
    stop_at = time.monotonic() + seconds
    async with aiohttp.ClientSession(base, connector=conn) as session:

        async def client(c: int) -> None:
            nonlocal done, errors
            i = 0
            while time.monotonic() < stop_at:
                i += 1
                if phase == "get":
                    req = session.get(f"/api/v1/namespaces/bench-0/configmaps/cm-{(c + i) % 100}")
                elif phase == "list":
                    req = session.get("/api/v1/namespaces/bench-0/configmaps")
                else:
                    body = {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": f"w-{phase}-{c}-{i}-{os.getpid()}"},
                        "data": {"k": "v"},
                    }
                    req = session.post("/api/v1/namespaces/bench-0/configmaps", json=body)
                async with req as resp:
                    await resp.read()
                    if resp.status >= 300:
                        errors += 1
                    else:
                        done += 1

        t0 = time.monotonic()
        await asyncio.gather(*(client(c) for c in range(clients)))
        elapsed = time.monotonic() - t0
    return {"rps": done / elapsed, "errors": errors}


def loadgen_main(conn: Connection, files: dict[str, str]) -> None:
    _pin(0, 1)
    while True:
        msg = conn.recv()
        if msg is None:
            return
        phase, clients, seconds = msg
        conn.send(asyncio.run(_phase(files, phase, clients, seconds)))


# -- orchestration ---------------------------------------------------------------


def kubectl_apply(kubeconfig: Path, docs: list[dict[str, Any]]) -> None:
    body = "\n---\n".join(yaml.safe_dump(d) for d in docs)
    subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "create", "-f", "-"],
        input=body,
        text=True,
        check=True,
        capture_output=True,
        timeout=600,
    )


def setup_objects(kubeconfig: Path, bindings: int) -> None:
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{n}"}}
        for n in range(NAMESPACES)
    ]
    # not the aggregated `edit`: its rules are filled by the controller manager,
    # which does not run here
    docs.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "bench-editor"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["configmaps", "secrets", "services", "pods"],
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                },
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments", "replicasets", "statefulsets"],
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                },
            ],
        }
    )
    kubectl_apply(kubeconfig, docs)
    docs = []
    for i in range(bindings):
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": f"user-{i}-edit", "namespace": f"bench-{i % NAMESPACES}"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "bench-editor",
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": f"user-{i}"}
                ],
            }
        )
    docs.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "alice-edit", "namespace": "bench-0"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "bench-editor",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}
            ],
        }
    )
    for start in range(0, len(docs), 200):
        kubectl_apply(kubeconfig, docs[start : start + 200])
    cms = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"cm-{k}", "namespace": "bench-0"},
            "data": {"k": "v" * 100},
        }
        for k in range(100)
    ]
    kubectl_apply(kubeconfig, cms)


def run_mode(mode: str, tmp: Path, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    data = tmp / mode.replace(",", "-")
    port = free_port()
    log = open(tmp / f"{mode.replace(',', '-')}.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pinnace",
            "server",
            "--data-dir",
            str(data),
            "--port",
            str(port),
            "--authorization-mode",
            mode,
            "--disable",
            "controller-manager,scheduler,dns",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        preexec_fn=_pdeathsig,
    )
    try:
        _pin(proc.pid, 0)
        admin = data / "admin.kubeconfig"
        deadline = time.monotonic() + 60
        while not admin.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp / f"{mode.replace(',', '-')}.log").read_text()[-3000:])
            time.sleep(0.1)
        setup_objects(admin, args.bindings)
        alice = tmp / f"alice-{port}.kubeconfig"
        subprocess.run(
            [*PINNACE, "kubeconfig", "--user", "alice", "--data-dir", str(data), "-o", str(alice)],
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        files = ssl_context(alice, tmp / f"alice-{port}")
        parent, child = mp.get_context("spawn").Pipe()
        gen = mp.get_context("spawn").Process(target=loadgen_main, args=(child, files))
        gen.start()
        out: dict[str, dict[str, Any]] = {}
        try:
            parent.send(("get", args.clients, 1.0))  # warm-up
            parent.recv()
            for phase in PHASES:
                parent.send((phase, args.clients, args.seconds))
                out[phase] = parent.recv()
        finally:
            parent.send(None)
            gen.join(10)
        return out
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="short phases (2 s)")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--bindings", type=int, default=1000)
    args = p.parse_args()
    if args.quick:
        args.seconds = 2.0
    tmp = Path(tempfile.mkdtemp(prefix="pinnace-bench-authz-"))
    try:
        rbac = run_mode("Node,RBAC", tmp, args)
        allow = run_mode("AlwaysAllow", tmp, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"authorization chain cost ({args.bindings} RoleBindings, {args.clients} clients, "
        f"{args.seconds:.0f} s per phase, user alice via RBAC)"
    )
    print(f"{'phase':8} {'RBAC req/s':>11} {'AlwaysAllow req/s':>18} {'ratio':>7}  target")
    worst = 1.0
    for phase in PHASES:
        r, a = rbac[phase], allow[phase]
        ratio = r["rps"] / a["rps"] if a["rps"] else 0.0
        worst = min(worst, ratio)
        errs = f"  ({r['errors']}/{a['errors']} errors)" if r["errors"] or a["errors"] else ""
        verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
        print(
            f"{phase:8} {r['rps']:11.0f} {a['rps']:18.0f} {ratio:7.2f}  ≥{TARGET_RATIO} {verdict}{errs}"
        )
    print(json.dumps({"worst_ratio": round(worst, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
