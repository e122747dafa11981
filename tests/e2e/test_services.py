"""Services end to end, once per kube-proxy mode (iptables, nftables): a
Deployment of HTTP servers that answer their own pod name behind ClusterIP,
NodePort and ClientIP-affinity Services, reached by name from a client pod
through cluster DNS; a headless StatefulSet, an ExternalName Service and a
name outside the cluster resolved through the same DNS; and at the end
``pinnace proxy --cleanup`` leaving the host's rules as they were.

Reply bodies are always checked: this VM answers TCP to unknown addresses
through its default route, so a connection alone proves nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.node_cluster import NodeCluster

pytestmark = [pytest.mark.node, pytest.mark.slow]

OUTSIDE_NAME = "outside.example"
OUTSIDE_IP = "203.0.113.7"  # TEST-NET-3: only ever an answer, never contacted

WORKLOADS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && touch /www/ready && exec httpd -f -p 8080 -h /www"]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {exec: {command: ["cat", "/www/ready"]}, periodSeconds: 1, failureThreshold: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-np}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-sticky}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec:
  type: ExternalName
  externalName: outside.example
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: http, port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: db, image: busybox, command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: client, image: busybox, command: ["sleep", "3600"]}
"""


class FakeUpstreamDNS:
    """A resolver on loopback standing in for the host's: it knows one name."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.questions: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        import dns.message
        import dns.rcode
        import dns.rrset

        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                q = dns.message.from_wire(data)
            except Exception:
                continue
            r = dns.message.make_response(q)
            name = q.question[0].name.to_text().rstrip(".").lower()
            self.questions.append(name)
            if name == OUTSIDE_NAME and q.question[0].rdtype == 1:
                r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A", OUTSIDE_IP))
            elif name != OUTSIDE_NAME:
                r.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(r.to_wire(), peer)

    def close(self) -> None:
        self.sock.close()


def _rules_snapshot() -> tuple[set[str], str]:
    """The host's iptables rules (without counters) and nftables table list."""
    lines: set[str] = set()
    for table in ("nat", "filter"):
        out = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True).stdout
        lines |= {ln.split(" [")[0] for ln in out.splitlines() if not ln.startswith("#")}
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return lines, tables


@pytest.fixture(scope="module", params=["iptables", "nftables"])
def svc_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, registry: str
) -> Iterator[NodeCluster]:
    mode: str = request.param
    upstream = FakeUpstreamDNS()
    base = tmp_path_factory.mktemp(f"svc-{mode}")
    n = 1 if mode == "iptables" else 2
    cluster = NodeCluster(
        base / "data",
        registry=registry,
        bridge=f"ps{os.getpid() % 10000}x{n}",
        pod_cidr=f"10.244.{210 + n}.0/24",
        proxy_mode=mode,
        extra_args=["--dns-upstream", f"127.0.0.1:{upstream.port}"],
    )
    cluster.rules_before = _rules_snapshot()  # type: ignore[attr-defined]
    cluster.upstream = upstream  # type: ignore[attr-defined]
    try:
        cluster.start()
        cluster.wait_node_ready()
        cluster.kubectl("apply", "-f", "-", input=WORKLOADS)
        cluster.kubectl("rollout", "status", "deploy/web", "--timeout=120s", timeout=130)
        cluster.kubectl("rollout", "status", "statefulset/db", "--timeout=120s", timeout=130)
        cluster.wait_pod("client", _running)
        yield cluster
    finally:
        cluster.shutdown()
        upstream.close()


def _running(pod: dict[str, Any]) -> bool:
    return pod.get("status", {}).get("phase") == "Running"


def _web_pods(c: NodeCluster, *, ready_only: bool = True) -> set[str]:
    pods = json.loads(c.kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    out = set()
    for p in pods:
        if p["metadata"].get("deletionTimestamp"):
            continue
        conds = {x["type"]: x["status"] for x in p.get("status", {}).get("conditions", [])}
        if not ready_only or conds.get("Ready") == "True":
            out.add(p["metadata"]["name"])
    return out


FETCH_ERRORS: list[str] = []  # what wget said for each request that failed


def _fetch(c: NodeCluster, url: str, n: int) -> list[str]:
    """``n`` requests from the client pod; the reply bodies (one per request
    that got one). What wget printed for the others is kept in FETCH_ERRORS."""
    script = (
        f"for i in $(seq {n}); do "
        f'if out=$(wget -q -O- {url} 2>&1); then echo "OK $out"; '
        f'else echo "ERR $(date +%T.%N) $out"; fi; done; echo END'
    )
    p = c.kubectl("exec", "client", "--", "sh", "-c", script, check=False, timeout=120)
    lines = [ln.strip() for ln in p.stdout.splitlines() if ln.strip()]
    if lines[-1:] != ["END"]:  # the exec stream lost the end of the output
        FETCH_ERRORS.append(
            f"output cut short: exit {p.returncode}, last {lines[-1:]}, {p.stderr!r}"
        )
    FETCH_ERRORS.extend(ln for ln in lines if ln.startswith("ERR "))
    return [ln[3:] for ln in lines if ln.startswith("OK ")]


def _until(what: str, fn: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        ok, last = fn()
        if ok:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what}: last seen {last!r}")


def test_cluster_ip_by_name_reaches_all_pods_and_only_them(svc_cluster: NodeCluster) -> None:
    c = svc_cluster
    pods = _web_pods(c)
    assert len(pods) == 3
    # The rollout is done when the pods are Ready; the EndpointSlice and then
    # the proxy's rules follow a moment later (CI once saw every reply from
    # one pod: the other two were not behind the ClusterIP yet). Wait until
    # each pod has answered once, replies from anything else failing at once.

    def converged() -> tuple[bool, set[str]]:
        seen = set(_fetch(c, "http://web", 12))
        assert seen <= pods, seen
        return seen == pods, seen

    _until("every web pod behind the ClusterIP", converged)
    before = len(FETCH_ERRORS)
    bodies = _fetch(c, "http://web", 60)
    # Every reply is from a web pod and every pod answers. One request in 60
    # once went unanswered in CI (2026-11-27) and never again in ~30,000
    # requests of the same loop here with both cores loaded; so one lost
    # reply is tolerated and reported, more is a failure.
    if len(bodies) < 60:
        warnings.warn(
            f"{60 - len(bodies)} of 60 requests got no reply: {FETCH_ERRORS[before:]}",
            stacklevel=1,
        )
    assert len(bodies) >= 59, FETCH_ERRORS[before:]
    seen = Counter(bodies)
    assert set(seen) == pods, seen
    full = _fetch(c, "http://web.default.svc.cluster.local", 6)
    assert full and set(full) <= pods


def test_requests_follow_scaling(svc_cluster: NodeCluster) -> None:
    c = svc_cluster
    c.kubectl("scale", "deploy/web", "--replicas=1")

    def one_left() -> tuple[bool, Any]:
        pods = _web_pods(c, ready_only=False)
        if len(pods) != 1:
            return False, pods
        bodies = set(_fetch(c, "http://web", 12))
        return bodies == pods, (bodies, pods)

    _until("requests only reach the one pod left", one_left, 90)
    c.kubectl("scale", "deploy/web", "--replicas=3")
    c.kubectl("rollout", "status", "deploy/web", "--timeout=120s", timeout=130)

    def all_three() -> tuple[bool, Any]:
        pods = _web_pods(c)
        bodies = set(_fetch(c, "http://web", 30))
        return len(pods) == 3 and bodies == pods, (bodies, pods)

    _until("requests reach all three pods again", all_three, 90)


def test_readiness_failure_takes_a_pod_out_of_rotation(svc_cluster: NodeCluster) -> None:
    c = svc_cluster
    pods = sorted(_web_pods(c))
    assert len(pods) == 3
    out = pods[0]
    c.kubectl("exec", out, "--", "rm", "/www/ready")

    def without() -> tuple[bool, Any]:
        bodies = set(_fetch(c, "http://web", 30))
        return bodies == set(pods[1:]), bodies

    try:
        _until(f"{out} out of rotation", without, 60)
    finally:
        c.kubectl("exec", out, "--", "touch", "/www/ready")

    def back() -> tuple[bool, Any]:
        bodies = set(_fetch(c, "http://web", 30))
        return bodies == set(pods), bodies

    _until(f"{out} back in rotation", back, 60)


def test_node_port_from_the_host(svc_cluster: NodeCluster) -> None:
    c = svc_cluster
    svc = json.loads(c.kubectl("get", "svc", "web-np", "-o", "json").stdout)
    port = svc["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767
    node = json.loads(c.kubectl("get", "node", c.node, "-o", "json").stdout)
    ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
    pods = _web_pods(c)
    seen: set[str] = set()
    for _ in range(30):
        with urllib.request.urlopen(f"http://{ip}:{port}/", timeout=10) as r:
            seen.add(r.read().decode().strip())
    assert seen <= pods and len(seen) >= 2, seen
    # its port has no name: its one EndpointSlice stays put (no replace loop)
    sel = "kubernetes.io/service-name=web-np"
    first = c.kubectl("get", "endpointslices", "-l", sel, "-o", "name").stdout.split()
    time.sleep(3)
    assert c.kubectl("get", "endpointslices", "-l", sel, "-o", "name").stdout.split() == first
    assert len(first) == 1


def test_health_check_node_port_reports_local_endpoints(svc_cluster: NodeCluster) -> None:
    """A LoadBalancer Service with ``externalTrafficPolicy: Local`` gets a
    ``healthCheckNodePort``; kube-proxy answers on it with upstream's JSON:
    200 while this node has ready endpoints of the Service, else 503."""
    c = svc_cluster
    manifest = """
apiVersion: v1
kind: Service
metadata: {name: web-lb}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: empty-lb}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: nothing-here}
  ports: [{port: 80, targetPort: 8080}]
"""
    c.kubectl("apply", "-f", "-", input=manifest)
    node = json.loads(c.kubectl("get", "node", c.node, "-o", "json").stdout)
    ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
    ready = len(_web_pods(c))

    def probe(name: str) -> tuple[bool, tuple[int, dict[str, Any]] | None]:
        svc = json.loads(c.kubectl("get", "svc", name, "-o", "json").stdout)
        port = svc["spec"]["healthCheckNodePort"]
        try:
            with urllib.request.urlopen(f"http://{ip}:{port}/healthz", timeout=5) as r:
                return True, (r.status, json.loads(r.read()))
        except urllib.error.HTTPError as e:
            return True, (e.code, json.loads(e.read()))
        except OSError:
            return False, None  # not listening yet

    status, body = _until("web-lb's health check", lambda: probe("web-lb"), 30)
    assert status == 200
    assert body == {
        "service": {"namespace": "default", "name": "web-lb"},
        "localEndpoints": ready,
        "serviceProxyHealthy": True,
    }
    status, body = _until("empty-lb's health check", lambda: probe("empty-lb"), 30)
    assert status == 503 and body["localEndpoints"] == 0
    c.kubectl("delete", "svc", "web-lb", "empty-lb")


def test_client_ip_affinity_sticks(svc_cluster: NodeCluster) -> None:
    c = svc_cluster
    bodies = _fetch(c, "http://web-sticky", 20)
    assert len(bodies) == 20
    assert len(set(bodies)) == 1 and bodies[0] in _web_pods(c), Counter(bodies)


def _nslookup(c: NodeCluster, name: str) -> str:
    p = c.kubectl("exec", "client", "--", "nslookup", name, check=False, timeout=60)
    return p.stdout + p.stderr


def test_headless_statefulset_pods_resolve_by_name(svc_cluster: NodeCluster) -> None:
    c = svc_cluster
    for i in range(2):
        ip = c.pod(f"db-{i}")["status"]["podIP"]
        out = _until(
            f"db-{i} resolves",
            lambda i=i, ip=ip: (
                ip in (o := _nslookup(c, f"db-{i}.db.default.svc.cluster.local")),
                o,
            ),
            30,
        )
        assert ip in out
    both = _nslookup(c, "db.default.svc.cluster.local")
    for i in range(2):
        assert c.pod(f"db-{i}")["status"]["podIP"] in both


def test_external_name_is_a_cname_and_outside_names_are_forwarded(
    svc_cluster: NodeCluster,
) -> None:
    import dns.message
    import dns.query
    import dns.rdatatype

    c = svc_cluster
    svc = json.loads(c.kubectl("get", "svc", "kube-dns", "-n", "kube-system", "-o", "json").stdout)
    vip = svc["spec"]["clusterIP"]
    # from the host, through the kube-dns Service's VIP (kube-proxy's DNAT)
    q = dns.message.make_query("ext.default.svc.cluster.local", "A")
    r = _until("kube-dns answers on its VIP", lambda: _udp(q, vip), 30)
    cnames = [rr for rr in r.answer if rr.rdtype == dns.rdatatype.CNAME]
    assert cnames and cnames[0][0].target.to_text() == f"{OUTSIDE_NAME}."
    # from a pod, by its search path: a name outside the cluster is forwarded
    out = _nslookup(c, OUTSIDE_NAME)
    assert OUTSIDE_IP in out, out
    assert OUTSIDE_NAME in c.upstream.questions  # type: ignore[attr-defined]


def _udp(q: Any, ip: str) -> tuple[bool, Any]:
    import dns.exception
    import dns.query

    try:
        return True, dns.query.udp(q, ip, port=53, timeout=2)
    except (dns.exception.Timeout, OSError) as e:
        return False, e


def test_a_second_up_resumes_the_cluster_with_its_workloads(svc_cluster: NodeCluster) -> None:
    c = svc_cluster
    before = {p: c.pod(p)["status"]["containerStatuses"][0]["containerID"] for p in _web_pods(c)}
    c.stop()
    c.start()
    c.wait_node_ready()

    def serving() -> tuple[bool, Any]:
        bodies = set(_fetch(c, "http://web", 30))
        return bodies == set(before), bodies

    _until("the Service serves the same pods after the restart", serving, 90)
    after = {p: c.pod(p)["status"]["containerStatuses"][0]["containerID"] for p in before}
    assert after == before  # the same containers: nothing was restarted


def test_proxy_cleanup_restores_the_host_rules(svc_cluster: NodeCluster) -> None:
    """Last in the module: stops the cluster, then ``pinnace proxy --cleanup``."""
    c = svc_cluster
    before_lines, before_tables = c.rules_before  # type: ignore[attr-defined]
    during_lines, during_tables = _rules_snapshot()
    assert any("KUBE-" in ln for ln in during_lines) or "kube-proxy" in during_tables
    c.stop()
    p = subprocess.run(
        [sys.executable, "-m", "pinnace", "proxy", "--cleanup"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert p.returncode == 0, p.stderr
    after_lines, after_tables = _rules_snapshot()
    ours = {ln for ln in after_lines - before_lines if "KUBE-" in ln}
    assert not ours, ours
    assert before_lines - after_lines <= {ln for ln in before_lines if "KUBE-" in ln}
    assert ("kube-proxy" in after_tables) == ("kube-proxy" in before_tables)
