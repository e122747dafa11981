"""Two ``pinnace server`` processes on one etcd cluster (the HA setup of
docs/getting-started.md): their controller managers and schedulers are
leader-elected by default on etcd, so one of each works at a time, the pods
a ReplicaSet asks for are created once, and when the leader's server stops the
other server's copies take over."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinnace.client import PODS, Client, ClientConfig
from pinnace.client.apiservers import follow_api_servers
from pinnace.client.transport import AiohttpTransport
from tests.cluster import (
    RawClient,
    Server,
    add_ready_node,
    free_dns_port,
    free_port,
    wait_until,
)
from tests.etcd_cluster import EtcdCluster, etcd_available

#: what docs/getting-started.md says to copy from the first server
SHARED_FILES = ("pki/ca.crt", "pki/ca.key", "pki/service-account.key", "node-token")
CM_LEASE = "acquired lease kube-system/kube-controller-manager"
SCHED_LEASE = "acquired lease kube-system/kube-scheduler"


def dns_flags() -> list[str]:
    """Cluster DNS on ports of its own (each server runs one)."""
    return ["--dns-port", str(free_dns_port()), "--dns-metrics-port", str(free_port())]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    if not etcd_available():
        pytest.skip("/usr/bin/etcd is not installed (scripts/setup installs etcd-server)")
    d: Path = tmp_path_factory.mktemp("ha")
    cluster = EtcdCluster(d / "etcd", size=1)
    cluster.start()
    storage = "etcd://" + ",".join(cluster.endpoints)
    started: list[Server] = []
    try:
        first = Server(d / "a", storage=storage, extra_args=dns_flags()).start()
        started.append(first)
        # the second server shares the first one's secrets, as the docs tell
        (d / "b" / "pki").mkdir(parents=True)
        for name in SHARED_FILES:
            shutil.copy(d / "a" / name, d / "b" / name)
        started.append(Server(d / "b", storage=storage, extra_args=dns_flags()).start())
        yield started
    finally:
        for s in started:
            s.stop()
        cluster.stop()


def leaders(servers: list[Server], line: str) -> list[Server]:
    return [s for s in servers if s.proc is not None and line in s.log()]


def lease_holder(server: Server, name: str) -> str:
    lease = json.loads(kubectl(server, "get", "lease", "-n", "kube-system", name, "-o", "json"))
    return str(lease["spec"].get("holderIdentity") or "")


REPLICASET = {
    "apiVersion": "apps/v1",
    "kind": "ReplicaSet",
    "metadata": {"name": "ha", "namespace": "default"},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "ha"}},
        "template": {
            "metadata": {"labels": {"app": "ha"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        },
    },
}


def kubectl(server: Server, *args: str, input: str | None = None) -> str:
    return server.kubectl(*args, input=input).stdout


def pod_names(server: Server) -> list[str]:
    return sorted(kubectl(server, "get", "pods", "-l", "app=ha", "-o", "name").split())


def test_one_controller_manager_and_one_scheduler_lead(servers: list[Server]) -> None:
    cm = wait_until("a controller manager leads", lambda: leaders(servers, CM_LEASE))
    sched = wait_until("a scheduler leads", lambda: leaders(servers, SCHED_LEASE))
    assert len(cm) == 1 and len(sched) == 1
    a, b = servers
    assert lease_holder(a, "kube-controller-manager") == lease_holder(b, "kube-controller-manager")
    assert lease_holder(a, "kube-scheduler")


def test_replicaset_pods_are_created_once(servers: list[Server]) -> None:
    a, b = servers
    a.kubectl("apply", "-f", "-", input=json.dumps(REPLICASET))
    wait_until("3 pods", lambda: len(pod_names(b)) == 3)
    # two unelected ReplicaSet controllers would each have made 3: give a
    # second one time to act, then count the pods ever created
    wait_until(
        "the ReplicaSet's status",
        lambda: kubectl(b, "get", "rs", "ha", "-o", "jsonpath={.status.replicas}") == "3",
    )
    events = kubectl(
        b, "get", "events", "--field-selector", "involvedObject.name=ha,reason=SuccessfulCreate",
        "-o", "json",
    )  # fmt: skip
    created = sum(int(e.get("count") or 1) for e in json.loads(events)["items"])
    assert created == 3
    assert len(pod_names(a)) == 3


def test_credentials_from_one_server_work_on_the_other(servers: list[Server]) -> None:
    a, b = servers
    token = kubectl(a, "create", "token", "default", "-n", "default").strip()
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    path = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
    for server in (a, b):
        status, body = RawClient(server).json(
            "POST", path, review, headers={"Authorization": f"Bearer {token}"}, anonymous=True
        )
        assert status == 201, body
        assert body["status"]["userInfo"]["username"] == "system:serviceaccount:default:default"
    assert (a.data_dir / "node-token").read_text() == (b.data_dir / "node-token").read_text()


async def list_pods_failing_over(stopped: Server, survivor: Server) -> int:
    """How many ``app=ha`` pods a client of ``stopped`` (with ``survivor`` as
    its fallback, as ``pinnace agent --server A,B`` sets up) lists."""
    config = ClientConfig.from_kubeconfig(stopped.kubeconfig)
    config = dataclasses.replace(config, fallback_servers=(f"https://127.0.0.1:{survivor.port}",))
    async with Client.from_config(config) as client:
        pods = await client.list(PODS, namespace="default", label_selector="app=ha")
    return len(pods["items"])


async def learn_then_fail_over(leader: Server, other: Server) -> tuple[list[str], int]:
    """A client given only ``leader`` (as ``pinnace agent --server A`` is)
    learns the other server from the ``kubernetes`` Endpoints; then
    ``leader`` stops. Returns the servers it learned and how many ``app=ha``
    pods it lists afterwards."""
    config = ClientConfig.from_kubeconfig(leader.kubeconfig)
    assert not config.fallback_servers
    want = f"https://127.0.0.1:{other.port}"
    async with Client.from_config(config) as client:
        transport = client.transport
        assert isinstance(transport, AiohttpTransport)
        follower = asyncio.create_task(follow_api_servers(client, interval=0.2))
        try:
            for _ in range(300):
                if want in transport.servers:
                    break
                await asyncio.sleep(0.1)
        finally:
            follower.cancel()
        learned = transport.servers
        await asyncio.to_thread(leader.stop)
        pods = await client.list(PODS, namespace="default", label_selector="app=ha")
    return learned, len(pods["items"])


def dns_slices(server: Server) -> dict[str, tuple[str, str]]:
    """The kube-dns EndpointSlices: name → (resourceVersion, endpoints and ports)."""
    out = kubectl(
        server, "get", "endpointslices", "-n", "kube-system",
        "-l", "kubernetes.io/service-name=kube-dns", "-o", "json",
    )  # fmt: skip
    return {
        i["metadata"]["name"]: (
            i["metadata"]["resourceVersion"],
            json.dumps([i.get("endpoints"), i.get("ports")], sort_keys=True),
        )
        for i in json.loads(out)["items"]
    }


def test_each_servers_dns_keeps_a_slice_without_fighting(servers: list[Server]) -> None:
    a, _ = servers
    slices = wait_until("two kube-dns slices", lambda: len(s := dns_slices(a)) == 2 and s)
    # Servers that overwrote one shared slice would keep changing it. Each
    # server renews its own slice's annotation every 30 s, so over 3 s a
    # slice may change once, never its endpoints or ports.
    versions = {name: {rv} for name, (rv, _) in slices.items()}
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        now = dns_slices(a)
        assert {n: c for n, (_, c) in now.items()} == {n: c for n, (_, c) in slices.items()}
        for name, (rv, _) in now.items():
            versions[name].add(rv)
        time.sleep(0.2)
    assert all(len(v) <= 2 for v in versions.values()), versions


def test_the_other_server_takes_over_when_the_leader_stops(servers: list[Server]) -> None:
    # the first server usually leads both; the scheduler may lead on the
    # other one (it won the race at start-up), which then simply keeps it
    (cm_leader,) = leaders(servers, CM_LEASE)
    (other,) = [s for s in servers if s is not cm_leader]
    # a client given only the leader's server learns the other one and,
    # once the leader's server stops, carries on there
    learned, listed = asyncio.run(learn_then_fail_over(cm_leader, other))
    assert f"https://127.0.0.1:{other.port}" in learned, learned
    assert listed == 3
    (survivor,) = [s for s in servers if s.proc is not None]
    wait_until("the survivor's controller manager leads", lambda: CM_LEASE in survivor.log())
    wait_until("the survivor's scheduler leads", lambda: SCHED_LEASE in survivor.log())
    # a client of the stopped server fails over to the other one
    (stopped,) = [s for s in servers if s.proc is None]
    assert asyncio.run(list_pods_failing_over(stopped, survivor)) == 3
    survivor.kubectl("scale", "rs", "ha", "--replicas", "5")
    wait_until("5 pods", lambda: len(pod_names(survivor)) == 5)
    add_ready_node(survivor, "ha-node")
    assert len(dns_slices(survivor)) == 1  # the stopped server took its slice away
    wait_until(
        "the pods scheduled",
        lambda: (
            kubectl(
                survivor, "get", "pods", "-l", "app=ha", "-o", "jsonpath={.items[*].spec.nodeName}"
            ).split()
            == ["ha-node"] * 5
        ),
    )
