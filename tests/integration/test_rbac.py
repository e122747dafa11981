"""RBAC with the real kubectl, as issue 7's acceptance describes it: a user
``alice`` (a client certificate from ``pinnace kubeconfig``) with a Role
allowing get/list on pods in ``dev``; Forbidden elsewhere with upstream's
message; ``auth can-i --list``, ``auth whoami``; impersonation only when
granted; no escalation through bindings or roles."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import KUBECTL, ROOT, Server

pytestmark = pytest.mark.kubectl


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("rbac")
    s = Server(d / "data", extra_args=["--disable", "kubelet"]).start()
    try:
        yield s
    finally:
        s.stop()


def user_kubeconfig(server: Server, user: str, *groups: str) -> Path:
    # KUBECONFIG is a ':'-separated list: no ':' in the file name
    out = server.data_dir.parent / f"{user.replace(':', '_')}.kubeconfig"
    args = [sys.executable, "-m", "pinnace", "kubeconfig", "--user", user]
    for g in groups:
        args += ["--group", g]
    args += ["--data-dir", str(server.data_dir), "-o", str(out)]
    subprocess.run(args, check=True, cwd=ROOT, capture_output=True, text=True)
    return out


def as_user(
    server: Server, kubeconfig: Path, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "KUBECACHEDIR": str(server.data_dir.parent / f"kubecache-{kubeconfig.stem}"),
    }
    return subprocess.run(
        [KUBECTL, *args], capture_output=True, text=True, env=env, timeout=60, input=input
    )


@pytest.fixture(scope="module")
def alice(cluster: Server) -> Path:
    cluster.kubectl("create", "namespace", "dev")
    cluster.kubectl(
        "create", "role", "pod-reader", "-n", "dev", "--verb=get,list", "--resource=pods"
    )
    cluster.kubectl(
        "create", "rolebinding", "alice-reads", "-n", "dev", "--role=pod-reader", "--user=alice"
    )
    return user_kubeconfig(cluster, "alice", "devs")


def test_reads_allowed_where_bound(cluster: Server, alice: Path) -> None:
    p = as_user(cluster, alice, "get", "pods", "-n", "dev")
    assert p.returncode == 0, p.stderr
    assert "No resources found in dev namespace." in p.stderr


def test_forbidden_elsewhere_and_for_writes(cluster: Server, alice: Path) -> None:
    p = as_user(cluster, alice, "get", "pods", "-n", "default")
    assert p.returncode != 0
    assert (
        'Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource '
        '"pods" in API group "" in the namespace "default"'
    ) in p.stderr
    p = as_user(cluster, alice, "create", "configmap", "x", "-n", "dev")
    assert p.returncode != 0
    assert (
        'configmaps is forbidden: User "alice" cannot create resource "configmaps" in API group ""'
        ' in the namespace "dev"'
    ) in p.stderr
    p = as_user(cluster, alice, "get", "deployments", "-n", "dev")
    assert (
        'deployments.apps is forbidden: User "alice" cannot list resource "deployments" in API group "apps"'
        in p.stderr
    )


def test_can_i(cluster: Server, alice: Path) -> None:
    assert (
        as_user(cluster, alice, "auth", "can-i", "list", "pods", "-n", "dev").stdout.strip()
        == "yes"
    )
    p = as_user(cluster, alice, "auth", "can-i", "delete", "pods", "-n", "dev")
    assert p.stdout.strip() == "no" and p.returncode == 1
    p = as_user(cluster, alice, "auth", "can-i", "--list", "-n", "dev")
    assert p.returncode == 0, p.stderr
    lines = [line.split() for line in p.stdout.splitlines()]
    assert ["pods", "[]", "[]", "[get", "list]"] in lines, p.stdout
    # basic-user and discovery rules every authenticated user has
    assert any(
        line and line[0] == "selfsubjectaccessreviews.authorization.k8s.io" for line in lines
    )
    assert "[/api/*]" in p.stdout
    p = as_user(cluster, alice, "auth", "can-i", "--list", "-n", "default")
    assert ["pods", "[]", "[]", "[get", "list]"] not in [x.split() for x in p.stdout.splitlines()]


def test_whoami(cluster: Server, alice: Path) -> None:
    p = as_user(cluster, alice, "auth", "whoami")
    assert p.returncode == 0, p.stderr
    rows = {line.split()[0]: line.split()[1:] for line in p.stdout.splitlines()[1:] if line.strip()}
    assert rows["Username"] == ["alice"]
    assert "devs" in " ".join(rows["Groups"]) and "system:authenticated" in " ".join(rows["Groups"])


def test_impersonation_needs_the_impersonate_verb(cluster: Server, alice: Path) -> None:
    p = as_user(cluster, alice, "get", "pods", "-n", "dev", "--as=bob")
    assert p.returncode != 0
    assert (
        'users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group ""'
        " at the cluster scope"
    ) in p.stderr
    cluster.kubectl(
        "create",
        "clusterrole",
        "impersonate-bob",
        "--verb=impersonate",
        "--resource=users",
        "--resource-name=bob",
    )
    cluster.kubectl(
        "create",
        "clusterrolebinding",
        "alice-as-bob",
        "--clusterrole=impersonate-bob",
        "--user=alice",
    )
    p = as_user(cluster, alice, "auth", "whoami", "--as=bob")
    assert p.returncode == 0, p.stderr
    assert "bob" in p.stdout.splitlines()[1]
    # bob himself may not list pods in dev
    p = as_user(cluster, alice, "get", "pods", "-n", "dev", "--as=bob")
    assert 'User "bob" cannot list resource "pods"' in p.stderr
    # impersonating someone else is still refused
    p = as_user(cluster, alice, "get", "pods", "-n", "dev", "--as=carol")
    assert 'users "carol" is forbidden' in p.stderr


def test_no_escalation_through_bindings_or_roles(cluster: Server, alice: Path) -> None:
    cluster.kubectl(
        "create",
        "role",
        "rbac-writer",
        "-n",
        "dev",
        "--verb=create,update",
        "--resource=rolebindings.rbac.authorization.k8s.io,roles.rbac.authorization.k8s.io",
    )
    cluster.kubectl(
        "create", "rolebinding", "alice-rbac", "-n", "dev", "--role=rbac-writer", "--user=alice"
    )
    p = as_user(
        cluster,
        alice,
        "create",
        "rolebinding",
        "alice-edit",
        "-n",
        "dev",
        "--clusterrole=edit",
        "--user=alice",
    )
    assert p.returncode != 0
    assert (
        'rolebindings.rbac.authorization.k8s.io "alice-edit" is forbidden: user "alice" '
        '(groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not '
        "currently held:"
    ) in p.stderr
    p = as_user(
        cluster,
        alice,
        "create",
        "role",
        "too-much",
        "-n",
        "dev",
        "--verb=delete",
        "--resource=pods",
    )
    assert p.returncode != 0
    assert '{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}' in p.stderr
    # what she holds she may hand on
    p = as_user(
        cluster,
        alice,
        "create",
        "rolebinding",
        "carol-reads",
        "-n",
        "dev",
        "--role=pod-reader",
        "--user=carol",
    )
    assert p.returncode == 0, p.stderr
    p = as_user(
        cluster, alice, "create", "role", "subset", "-n", "dev", "--verb=get", "--resource=pods"
    )
    assert p.returncode == 0, p.stderr


def test_default_roles_are_there_and_aggregated(cluster: Server) -> None:
    out = cluster.kubectl("get", "clusterroles", "-o", "name").stdout.split()
    for name in ("cluster-admin", "admin", "edit", "view", "system:basic-user", "system:node"):
        assert f"clusterrole.rbac.authorization.k8s.io/{name}" in out
    # view's rules come from system:aggregate-to-view through the aggregation controller
    import json
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        view = json.loads(cluster.kubectl("get", "clusterrole", "view", "-o", "json").stdout)
        if view.get("rules"):
            break
        time.sleep(0.2)
    resources = {r for rule in view.get("rules") or [] for r in rule.get("resources", [])}
    assert "pods" in resources and "secrets" not in resources


def test_node_reads_only_what_its_pods_use(cluster: Server) -> None:
    """A kubelet's identity (system:node:<name>) under the Node authorizer and
    NodeRestriction: Secrets of its own pods yes, others no; only its own Node."""
    cluster.kubectl("create", "namespace", "apps")
    cluster.kubectl("create", "serviceaccount", "default", "-n", "apps", check=False)
    for name in ("mine", "theirs"):
        cluster.kubectl("create", "secret", "generic", name, "-n", "apps", "--from-literal=k=v")
    pods = """
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: on-n1, namespace: apps}
  spec:
    nodeName: n1
    containers: [{name: c, image: busybox}]
    volumes: [{name: s, secret: {secretName: mine}}]
- apiVersion: v1
  kind: Pod
  metadata: {name: on-n2, namespace: apps}
  spec:
    nodeName: n2
    containers: [{name: c, image: busybox}]
    volumes: [{name: s, secret: {secretName: theirs}}]
"""
    cluster.kubectl("create", "-f", "-", input=pods)
    node = user_kubeconfig(cluster, "system:node:n1", "system:nodes")
    assert as_user(cluster, node, "get", "secret", "mine", "-n", "apps").returncode == 0
    p = as_user(cluster, node, "get", "secret", "theirs", "-n", "apps")
    assert (
        'secrets "theirs" is forbidden: User "system:node:n1" cannot get resource "secrets" in API '
        'group "" in the namespace "apps": no relationship found between node \'n1\' and this '
        "object"
    ) in p.stderr
    assert "forbidden" in as_user(cluster, node, "get", "secrets", "-n", "apps").stderr
    # its pods' status yes, the other node's pods no
    p = as_user(cluster, node, "delete", "pod", "on-n2", "-n", "apps", "--wait=false")
    assert 'node "n1" can only delete pods with spec.nodeName set to itself' in p.stderr
    p = as_user(cluster, node, "delete", "pod", "on-n1", "-n", "apps", "--wait=false")
    assert p.returncode == 0, p.stderr


def test_join_token_only_buys_a_node_certificate(cluster: Server, tmp_path: Path) -> None:
    import asyncio
    import base64

    import yaml

    from pinnace.client.jointoken import JoinToken, fetch_cluster_ca, fetch_node_credentials

    server = f"https://127.0.0.1:{cluster.port}"
    token = JoinToken.parse((cluster.data_dir / "node-token").read_text())
    ca = asyncio.run(fetch_cluster_ca(server, token))
    cert, key = asyncio.run(fetch_node_credentials(server, token, ca, "worker-7", "p" * 32))
    kubeconfig = tmp_path / "worker.kubeconfig"
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {"server": server, "certificate-authority-data": b64(ca)},
                    }
                ],
                "users": [
                    {
                        "name": "u",
                        "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)},
                    }
                ],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    p = as_user(cluster, kubeconfig, "auth", "whoami")
    assert "system:node:worker-7" in p.stdout and "system:nodes" in p.stdout, p.stderr
    # the token itself may do nothing but that
    token_kc = tmp_path / "token.kubeconfig"
    cfg = yaml.safe_load(kubeconfig.read_text())
    cfg["users"][0]["user"] = {"token": token.secret}
    token_kc.write_text(yaml.safe_dump(cfg))
    p = as_user(cluster, token_kc, "get", "pods", "-A")
    assert 'User "system:node-agent" cannot list resource "pods"' in p.stderr
    try:
        asyncio.run(fetch_node_credentials(server, token, ca, "Not_A_Name", "p" * 32))
    except ValueError as e:
        assert "invalid nodeName" in str(e)
    else:
        raise AssertionError("a bad node name was accepted")
    # the same machine (password) may come back; another one may not take the name
    asyncio.run(fetch_node_credentials(server, token, ca, "worker-7", "p" * 32))
    try:
        asyncio.run(fetch_node_credentials(server, token, ca, "worker-7", "q" * 32))
    except ValueError as e:
        assert 'node "worker-7" is already claimed with another node password' in str(e)
    else:
        raise AssertionError("another machine took over worker-7")


def _token_kubeconfig(cluster: Server, token: str, path: Path) -> Path:
    import yaml

    cfg = yaml.safe_load(cluster.kubeconfig.read_text())
    cfg["users"][0]["user"] = {"token": token}
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_legacy_token_secret_is_filled_and_dies_with_the_secret(
    cluster: Server, tmp_path: Path
) -> None:
    import base64
    import json
    import time

    cluster.kubectl("create", "serviceaccount", "legacy")
    secret = """
apiVersion: v1
kind: Secret
type: kubernetes.io/service-account-token
metadata:
  name: legacy-token
  annotations: {kubernetes.io/service-account.name: legacy}
"""
    cluster.kubectl("apply", "-f", "-", input=secret)
    deadline = time.monotonic() + 30
    data: dict[str, str] = {}
    while time.monotonic() < deadline:
        obj = json.loads(cluster.kubectl("get", "secret", "legacy-token", "-o", "json").stdout)
        data = obj.get("data") or {}
        if data.get("token"):
            break
        time.sleep(0.2)
    assert {"token", "ca.crt", "namespace"} <= set(data)
    assert base64.b64decode(data["namespace"]).decode() == "default"
    kc = _token_kubeconfig(cluster, base64.b64decode(data["token"]).decode(), tmp_path / "l.kc")
    p = as_user(cluster, kc, "auth", "whoami")
    assert "system:serviceaccount:default:legacy" in p.stdout, p.stderr
    cluster.kubectl("delete", "secret", "legacy-token")
    p = as_user(cluster, kc, "auth", "whoami")
    assert "Unauthorized" in p.stderr
