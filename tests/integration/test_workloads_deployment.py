"""Deployments, ReplicaSets and ReplicationControllers on a live ``pinnace server``
(SQLite), driven by the real kubectl.

Pods are run by :class:`FakeKubelet`, a small in-test stand-in for the scheduler
and the kubelets: it binds every pending pod of the test namespaces to one of
three node names, marks bound pods Running and Ready after a short random delay
through the status subresource, and finishes deletions (grace 0), all through
``pinnace.client`` on its own event loop in a thread. The same pod watch feeds
the rolling-update observer, so "never more than 12 pods, never fewer than 9
available" is checked at every moment the API server reports.
"""

from __future__ import annotations

import asyncio
import json
import random
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pinnace.client import PODS, ApiError, Client, Informer, Obj
from tests.cluster import Server

pytestmark = pytest.mark.kubectl

T = TypeVar("T")
NODES = ("node-a", "node-b", "node-c")


def wait_until(what: str, fn: Callable[[], T | None], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeKubelet:
    """Scheduler + kubelets in one: bind, run, make ready, finish deletions."""

    def __init__(self, kubeconfig: Path, ready_delay: tuple[float, float] = (0.05, 0.3)) -> None:
        self.kubeconfig = kubeconfig
        self.ready_delay = ready_delay
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._thread, daemon=True, name="fake-kubelet")
        self.started = threading.Event()
        self.busy: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.observers: list[Callable[[Informer], None]] = []
        self.informer: Informer | None = None
        self._stop: asyncio.Event | None = None
        self._rr = 0

    def start(self) -> FakeKubelet:
        self.thread.start()
        assert self.started.wait(20), "fake kubelet did not start"
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)

    def observe(self, fn: Callable[[Informer], None]) -> Callable[[], None]:
        """Call ``fn(informer)`` after every pod event (in the kubelet thread)."""

        done = threading.Event()

        def add() -> None:
            self.observers.append(fn)
            done.set()

        self.loop.call_soon_threadsafe(add)
        done.wait(5)

        def remove() -> None:
            self.loop.call_soon_threadsafe(lambda: self.observers.remove(fn))

        return remove

    def _thread(self) -> None:
        self.loop.run_until_complete(self._run())

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        client = Client.from_kubeconfig(self.kubeconfig)
        inf = Informer(client, PODS)
        self.informer = inf
        inf.add_event_handler(
            on_add=lambda p: self._on_pod(client, p),
            on_update=lambda _o, p: self._on_pod(client, p),
            on_delete=lambda _p: self._notify(),
        )
        inf.start()
        await inf.wait_synced()
        self.started.set()
        await self._stop.wait()
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await inf.stop()
        await client.close()

    def _notify(self) -> None:
        assert self.informer is not None
        for fn in list(self.observers):
            fn(self.informer)

    def _on_pod(self, client: Client, pod: Obj) -> None:
        self._notify()
        m = pod["metadata"]
        key = f"{m['namespace']}/{m['name']}"
        if not m["namespace"].startswith("wl-") or key in self.busy:
            return
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        if m.get("deletionTimestamp"):
            job = self._finish_delete(client, pod)
        elif not spec.get("nodeName"):
            job = self._bind(client, pod)
        elif status.get("phase") != "Running":
            job = self._run_pod(client, pod)
        else:
            return
        self.busy.add(key)

        async def wrapped() -> None:
            try:
                await job
            except ApiError:
                pass
            finally:
                self.busy.discard(key)
            # the pod's next event (e.g. bound) may have come while this job
            # was still running, and was skipped: look at its latest version
            latest = self.informer.get(key) if self.informer is not None else None
            if latest is not None and latest is not pod:
                self._on_pod(client, latest)

        self.tasks.add(t := self.loop.create_task(wrapped()))
        t.add_done_callback(self.tasks.discard)

    async def _bind(self, client: Client, pod: Obj) -> None:
        m = pod["metadata"]
        self._rr += 1
        await client.bind(m["namespace"], m["name"], NODES[self._rr % len(NODES)], pod_uid=m["uid"])

    async def _run_pod(self, client: Client, pod: Obj) -> None:
        await asyncio.sleep(random.uniform(*self.ready_delay))
        m = pod["metadata"]
        now = _now()
        containers = (pod.get("spec") or {}).get("containers") or []
        cond = {"status": "True", "lastProbeTime": None, "lastTransitionTime": now}
        patch = {
            "status": {
                "phase": "Running",
                "hostIP": "10.0.0.1",
                "podIP": f"10.244.0.{random.randint(2, 250)}",
                "startTime": now,
                "conditions": [
                    {"type": t, **cond}
                    for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
                ],
                "containerStatuses": [
                    {
                        "name": c["name"],
                        "image": c.get("image", ""),
                        "imageID": f"docker.io/library/{c.get('image', 'x')}@sha256:0",
                        "ready": True,
                        "started": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": now}},
                    }
                    for c in containers
                ],
            }
        }
        await client.patch_status(PODS, m["name"], patch, namespace=m["namespace"])

    async def _finish_delete(self, client: Client, pod: Obj) -> None:
        m = pod["metadata"]
        await client.delete(PODS, m["name"], namespace=m["namespace"], grace_period_seconds=0)


# --------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One SQLite server for the module (the controllers run inside it), without
    the pod garbage collector: FakeKubelet binds pods to node names that have
    no Node object, and the pod GC deletes such orphans (every pod on a missing
    node, once the node has been missing for its 40 s quarantine), whichever
    test they belong to by then."""
    d = tmp_path_factory.mktemp("pinnace-workloads")
    s = Server(d / "data", extra_args=["--controllers", "*,-pod-garbage-collector"]).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def kubelet(server: Server) -> Iterator[FakeKubelet]:
    k = FakeKubelet(server.kubeconfig).start()
    try:
        yield k
    finally:
        k.stop()


_ns_counter = iter(range(1000))


@pytest.fixture
def ns(server: Server, kubelet: FakeKubelet) -> str:
    name = f"wl-{next(_ns_counter)}"
    server.kubectl("create", "namespace", name)
    return name


def get(s: Server, ns: str, *args: str) -> Any:
    p = s.kubectl("-n", ns, "get", *args, "-o", "json", check=False)
    if p.returncode != 0:
        assert "NotFound" in p.stderr, p.stderr
        return None
    return json.loads(p.stdout)


def apply(s: Server, ns: str, manifest: str) -> None:
    s.kubectl("-n", ns, "apply", "-f", "-", input=textwrap.dedent(manifest))


def pods(s: Server, ns: str, selector: str = "") -> list[Obj]:
    args = ["pods"] + (["-l", selector] if selector else [])
    items: list[Obj] = get(s, ns, *args)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def ready(p: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (p.get("status") or {}).get("conditions") or []
    )


def condition(obj: Obj, type_: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def events(s: Server, ns: str, reason: str) -> list[str]:
    items = get(s, ns, "events")["items"]
    return [e["message"] for e in items if e.get("reason") == reason]


def rollout_status(s: Server, ns: str, name: str, timeout: str = "90s") -> str:
    # generous: under a loaded CI machine a rollout of a few simulated pods has
    # taken over 30 s; the test checks the outcome, never the time it took
    seconds = int(timeout.rstrip("s"))
    p = s.kubectl(
        "-n",
        ns,
        "rollout",
        "status",
        f"deployment/{name}",
        f"--timeout={timeout}",
        timeout=seconds + 15,
    )
    return p.stdout


def deployment_manifest(name: str, replicas: int, image: str, **strategy: Any) -> str:
    rolling = ""
    if strategy:
        rolling = (
            "  strategy:\n    type: RollingUpdate\n    rollingUpdate:\n"
            f"      maxSurge: {strategy['max_surge']}\n      maxUnavailable: {strategy['max_unavailable']}\n"
        )
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
{rolling}  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: app
        image: {image}
"""


# --------------------------------------------------------------------------
# Deployments


def test_deployment_becomes_available_and_rollout_status(server: Server, ns: str) -> None:
    server.kubectl("-n", ns, "create", "deployment", "web", "--image=nginx:1.25", "--replicas=3")
    out = rollout_status(server, ns, "web")
    assert 'deployment "web" successfully rolled out' in out
    d = get(server, ns, "deployment", "web")
    st = d["status"]
    assert (st["replicas"], st["updatedReplicas"], st["readyReplicas"], st["availableReplicas"]) == (
        3, 3, 3, 3,
    )  # fmt: skip
    assert st["observedGeneration"] == d["metadata"]["generation"]
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    rss = get(server, ns, "replicasets")["items"]
    assert len(rss) == 1
    rs = rss[0]
    h = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{h}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": h}
    ann = rs["metadata"]["annotations"]
    assert ann["deployment.kubernetes.io/revision"] == "1"
    assert ann["deployment.kubernetes.io/desired-replicas"] == "3"
    assert ann["deployment.kubernetes.io/max-replicas"] == "4"  # 3 + 25% surge rounded up
    assert rs["status"]["availableReplicas"] == 3
    avail, prog = condition(d, "Available"), condition(d, "Progressing")
    assert avail and (avail["status"], avail["reason"]) == ("True", "MinimumReplicasAvailable")
    assert avail["message"] == "Deployment has minimum availability."
    assert prog and (prog["status"], prog["reason"]) == ("True", "NewReplicaSetAvailable")
    assert prog["message"] == f'ReplicaSet "web-{h}" has successfully progressed.'
    names = [p["metadata"]["name"] for p in pods(server, ns, "app=web")]
    assert len(names) == 3 and all(
        n.startswith(f"web-{h}-") and len(n) == len(f"web-{h}-") + 5 for n in names
    )
    wait_until("the ScalingReplicaSet event",
               lambda: f"Scaled up replica set web-{h} from 0 to 3" in events(server, ns, "ScalingReplicaSet"))  # fmt: skip
    assert any(
        m.startswith(f"Created pod: web-{h}-") for m in events(server, ns, "SuccessfulCreate")
    )

    # kubectl scale, up and down
    server.kubectl("-n", ns, "scale", "deployment/web", "--replicas=5")
    rollout_status(server, ns, "web")
    wait_until(
        "5 ready pods", lambda: len([p for p in pods(server, ns, "app=web") if ready(p)]) == 5
    )
    server.kubectl("-n", ns, "scale", "deployment/web", "--replicas=2")
    wait_until("2 pods", lambda: len(pods(server, ns, "app=web")) == 2)
    wait_until(
        "status 2/2",
        lambda: (
            get(server, ns, "deployment", "web").get("status", {}).get("availableReplicas") == 2
        ),
    )
    rs = get(server, ns, "replicaset", f"web-{h}")
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "2"


def test_rolling_update_respects_surge_and_unavailable(
    server: Server, ns: str, kubelet: FakeKubelet
) -> None:
    apply(server, ns, deployment_manifest("roll", 10, "nginx:1.25", max_surge=2, max_unavailable=1))
    rollout_status(server, ns, "roll")
    seen = {"max_pods": 0, "min_ready": 99, "samples": 0}
    lock = threading.Lock()

    def observe(inf: Informer) -> None:
        live = [
            p
            for p in inf.list()
            if p["metadata"]["namespace"] == ns
            and not p["metadata"].get("deletionTimestamp")
            and (p["metadata"].get("labels") or {}).get("app") == "roll"
        ]
        with lock:
            seen["max_pods"] = max(seen["max_pods"], len(live))
            seen["min_ready"] = min(seen["min_ready"], sum(1 for p in live if ready(p)))
            seen["samples"] += 1

    stop = kubelet.observe(observe)
    try:
        server.kubectl("-n", ns, "set", "image", "deployment/roll", "app=nginx:1.26")
        out = rollout_status(server, ns, "roll", timeout="90s")
        assert "successfully rolled out" in out
    finally:
        stop()
    print(f"rolling update 10 -> 10, maxSurge=2, maxUnavailable=1: observed {seen}")
    assert seen["samples"] > 20, seen
    assert seen["max_pods"] <= 12, seen
    assert seen["min_ready"] >= 9, seen
    d = get(server, ns, "deployment", "roll")
    assert d["status"]["updatedReplicas"] == 10 and d["status"]["availableReplicas"] == 10
    assert all(
        c["image"] == "nginx:1.26"
        for p in pods(server, ns, "app=roll")
        for c in p["spec"]["containers"]
    )
    rss = {
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs
        for rs in get(server, ns, "replicasets")["items"]
    }
    assert sorted(rss) == ["1", "2"] and rss["1"]["spec"]["replicas"] == 0

    # history lists both revisions; undo to 1 restores the old template
    hist = server.kubectl("-n", ns, "rollout", "history", "deployment/roll").stdout
    lines = [line.split()[0] for line in hist.splitlines()[2:] if line.strip()]
    assert lines == ["1", "2"], hist
    detail = server.kubectl(
        "-n", ns, "rollout", "history", "deployment/roll", "--revision=1"
    ).stdout
    assert "nginx:1.25" in detail
    out = server.kubectl("-n", ns, "rollout", "undo", "deployment/roll", "--to-revision=1").stdout
    assert "rolled back" in out
    rollout_status(server, ns, "roll", timeout="90s")
    d = get(server, ns, "deployment", "roll")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    wait_until("revision 3 on the deployment",
               lambda: get(server, ns, "deployment", "roll")["metadata"]["annotations"].get("deployment.kubernetes.io/revision") == "3")  # fmt: skip
    old = rss["1"]["metadata"]["name"]
    rs = get(server, ns, "replicaset", old)
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert rs["spec"]["replicas"] == 10
    hist = server.kubectl("-n", ns, "rollout", "history", "deployment/roll").stdout
    assert [line.split()[0] for line in hist.splitlines()[2:] if line.strip()] == ["2", "3"], hist
    assert all(
        c["image"] == "nginx:1.25"
        for p in pods(server, ns, "app=roll")
        for c in p["spec"]["containers"]
    )


def test_rollout_restart_pause_resume(server: Server, ns: str) -> None:
    apply(server, ns, deployment_manifest("app", 2, "nginx:1.25"))
    rollout_status(server, ns, "app")
    first = {rs["metadata"]["name"] for rs in get(server, ns, "replicasets")["items"]}

    server.kubectl("-n", ns, "rollout", "restart", "deployment/app")
    rollout_status(server, ns, "app")
    d = get(server, ns, "deployment", "app")
    assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"]["annotations"]
    rss = {rs["metadata"]["name"]: rs for rs in get(server, ns, "replicasets")["items"]}
    assert len(rss) == 2 and first < set(rss)
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"

    server.kubectl("-n", ns, "rollout", "pause", "deployment/app")
    wait_until("the paused condition",
               lambda: (condition(get(server, ns, "deployment", "app"), "Progressing") or {}).get("reason") == "DeploymentPaused")  # fmt: skip
    server.kubectl("-n", ns, "set", "image", "deployment/app", "app=nginx:1.27")
    time.sleep(1.0)
    assert len(get(server, ns, "replicasets")["items"]) == 2, "no rollout while paused"
    # scaling still works while paused
    server.kubectl("-n", ns, "scale", "deployment/app", "--replicas=3")
    wait_until("3 pods while paused", lambda: len(pods(server, ns, "app=app")) == 3)
    server.kubectl("-n", ns, "rollout", "resume", "deployment/app")
    rollout_status(server, ns, "app")
    rss = get(server, ns, "replicasets")["items"]
    assert len(rss) == 3
    assert all(
        c["image"] == "nginx:1.27"
        for p in pods(server, ns, "app=app")
        for c in p["spec"]["containers"]
    )


def test_recreate_and_history_limit(server: Server, ns: str) -> None:
    manifest = deployment_manifest("rec", 2, "nginx:1.25").replace(
        "  template:", "  strategy: {type: Recreate}\n  revisionHistoryLimit: 1\n  template:"
    )
    apply(server, ns, manifest)
    rollout_status(server, ns, "rec")
    for image in ("nginx:1.26", "nginx:1.27"):
        server.kubectl("-n", ns, "set", "image", "deployment/rec", f"app={image}")
        rollout_status(server, ns, "rec")
    wait_until("old replica sets beyond the history limit deleted",
               lambda: len(get(server, ns, "replicasets")["items"]) == 2)  # fmt: skip
    revs = sorted(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        for rs in get(server, ns, "replicasets")["items"]
    )
    assert revs == ["2", "3"]


# --------------------------------------------------------------------------
# ReplicaSets and ReplicationControllers


RS = """\
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}, tier: web}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: app
        image: nginx:1.25
"""


def test_replicaset_replaces_deleted_pod(server: Server, ns: str) -> None:
    apply(server, ns, RS.format(name="rs1", replicas=2))
    wait_until(
        "2 ready pods", lambda: len([p for p in pods(server, ns, "app=rs1") if ready(p)]) == 2
    )
    before = {p["metadata"]["name"] for p in pods(server, ns, "app=rs1")}
    victim = sorted(before)[0]
    server.kubectl("-n", ns, "delete", "pod", victim, "--wait=false")

    def replaced() -> set[str] | None:
        names = {p["metadata"]["name"] for p in pods(server, ns, "app=rs1")}
        return names if len(names) == 2 and victim not in names else None

    after = wait_until("a replacement pod", replaced)
    assert len(after & before) == 1
    new = (after - before).pop()
    assert new.startswith("rs1-") and len(new) == len("rs1-") + 5
    rs = wait_until("status 2/2", lambda: (r := get(server, ns, "replicaset", "rs1")).get("status", {}).get("availableReplicas") == 2 and r)  # fmt: skip
    st = rs["status"]
    assert (st["replicas"], st["fullyLabeledReplicas"], st["readyReplicas"]) == (2, 2, 2)
    assert st["observedGeneration"] == rs["metadata"]["generation"]
    created = events(server, ns, "SuccessfulCreate")
    assert f"Created pod: {new}" in created
    # scale down through the scale subresource
    server.kubectl("-n", ns, "scale", "replicaset/rs1", "--replicas=1")
    wait_until("1 pod", lambda: len(pods(server, ns, "app=rs1")) == 1)
    wait_until("a SuccessfulDelete event", lambda: events(server, ns, "SuccessfulDelete"))


def test_replicaset_adopts_orphan_and_releases_relabeled(server: Server, ns: str) -> None:
    orphan = """\
    apiVersion: v1
    kind: Pod
    metadata:
      name: stray
      labels: {app: rs2}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: app
        image: nginx:1.25
    """
    apply(server, ns, orphan)
    wait_until("the orphan running", lambda: ready(get(server, ns, "pod", "stray")))
    apply(server, ns, RS.format(name="rs2", replicas=3))
    rs = wait_until("rs2 synced", lambda: (r := get(server, ns, "replicaset", "rs2")).get("status", {}).get("availableReplicas") == 3 and r)  # fmt: skip
    stray = get(server, ns, "pod", "stray")
    refs = stray["metadata"]["ownerReferences"]
    assert refs == [{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs2",
        "uid": rs["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True,
    }]  # fmt: skip
    assert len(pods(server, ns, "app=rs2")) == 3  # only two created
    assert rs["status"]["fullyLabeledReplicas"] == 2  # the orphan lacks tier=web
    # relabel: released (ownerReference removed) and replaced
    server.kubectl("-n", ns, "label", "pod", "stray", "app=other", "--overwrite")
    wait_until("the pod released",
               lambda: not get(server, ns, "pod", "stray")["metadata"].get("ownerReferences"))  # fmt: skip
    wait_until("a replacement", lambda: len(pods(server, ns, "app=rs2")) == 3)


def test_replication_controller(server: Server, ns: str) -> None:
    rc = """\
    apiVersion: v1
    kind: ReplicationController
    metadata:
      name: rc1
    spec:
      replicas: 2
      selector: {app: rc1}
      template:
        metadata:
          labels: {app: rc1}
        spec:
          terminationGracePeriodSeconds: 0
          containers:
          - name: app
            image: nginx:1.25
    """
    apply(server, ns, rc)
    obj = wait_until("rc1 2/2", lambda: (r := get(server, ns, "rc", "rc1")).get("status", {}).get("readyReplicas") == 2 and r)  # fmt: skip
    ps = pods(server, ns, "app=rc1")
    assert len(ps) == 2
    for p in ps:
        ref = p["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["apiVersion"], ref["uid"]) == (
            "ReplicationController",
            "v1",
            obj["metadata"]["uid"],
        )
    server.kubectl("-n", ns, "scale", "rc/rc1", "--replicas=3")
    wait_until(
        "rc1 3/3",
        lambda: get(server, ns, "rc", "rc1").get("status", {}).get("availableReplicas") == 3,
    )
    assert len(pods(server, ns, "app=rc1")) == 3
