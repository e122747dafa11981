"""The Node authorizer: a kubelet reads only the Secrets, ConfigMaps, claims
and volumes its own pods use, and gets the system:node rules for the rest."""

from __future__ import annotations

from typing import Any

from pinnace.apiserver.authn import UserInfo
from pinnace.apiserver.authz import Attributes
from pinnace.apiserver.authz import bootstrap_policy as policy
from pinnace.apiserver.authz.node import NodeAuthorizer, node_name

Obj = dict[str, Any]
N1 = UserInfo("system:node:n1", ("system:nodes", "system:authenticated"))

PODS: list[Obj] = [
    {
        "metadata": {"name": "web", "namespace": "app"},
        "spec": {
            "nodeName": "n1",
            "serviceAccountName": "web-sa",
            "imagePullSecrets": [{"name": "pull"}],
            "volumes": [
                {"name": "s", "secret": {"secretName": "tls"}},
                {"name": "c", "configMap": {"name": "conf"}},
                {"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
                {
                    "name": "api",
                    "projected": {"sources": [{"configMap": {"name": "kube-root-ca.crt"}}]},
                },
            ],
            "containers": [
                {
                    "name": "c",
                    "env": [
                        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "env-s", "key": "k"}}}
                    ],
                    "envFrom": [{"configMapRef": {"name": "env-c"}}],
                }
            ],
        },
    },
    {
        "metadata": {"name": "other", "namespace": "app"},
        "spec": {"nodeName": "n2", "volumes": [{"name": "s", "secret": {"secretName": "theirs"}}]},
    },
]
CLAIMS = {("app", "data"): {"spec": {"volumeName": "pv-1"}}}


def authorizer() -> NodeAuthorizer:
    node_role = next(r for r in policy.cluster_roles() if r["metadata"]["name"] == "system:node")

    def list_pods(ns: str) -> list[Obj]:
        return [p for p in PODS if not ns or p["metadata"]["namespace"] == ns]

    return NodeAuthorizer(list_pods, lambda ns, n: CLAIMS.get((ns, n)), node_role["rules"])


def get(resource: str, name: str, ns: str = "app", verb: str = "get", sub: str = "") -> Attributes:
    return Attributes(N1, verb, True, resource=resource, subresource=sub, namespace=ns, name=name)


def test_node_identity() -> None:
    assert node_name(N1) == "n1"
    assert node_name(UserInfo("system:node:n1", ())) is None
    assert node_name(UserInfo("alice", ("system:nodes",))) is None


def test_reads_only_what_its_pods_use() -> None:
    a = authorizer()
    for resource, name in [
        ("secrets", "tls"),
        ("secrets", "pull"),
        ("secrets", "env-s"),
        ("configmaps", "conf"),
        ("configmaps", "env-c"),
        ("configmaps", "kube-root-ca.crt"),
        ("persistentvolumeclaims", "data"),
    ]:
        assert a.decide(get(resource, name))[0] == "allow", (resource, name)
    assert a.decide(get("persistentvolumes", "pv-1", ns=""))[0] == "allow"
    decision, reason = a.decide(get("secrets", "theirs"))
    assert decision == "no-opinion"
    assert reason == "no relationship found between node 'n1' and this object"
    assert a.decide(get("secrets", "tls", ns="other-ns"))[0] == "no-opinion"
    # no lists of everything, no writes
    assert a.decide(get("secrets", "", verb="list"))[0] == "no-opinion"
    assert a.decide(get("secrets", "tls", verb="update"))[0] == "no-opinion"


def test_tokens_only_for_its_pods_service_accounts() -> None:
    a = authorizer()
    assert a.decide(get("serviceaccounts", "web-sa", verb="create", sub="token"))[0] == "allow"
    assert a.decide(get("serviceaccounts", "admin", verb="create", sub="token"))[0] == "no-opinion"


def test_node_rules_for_the_rest() -> None:
    a = authorizer()
    assert a.decide(get("pods", "", verb="list", ns=""))[0] == "allow"
    assert a.decide(get("pods", "web", verb="patch", sub="status"))[0] == "allow"
    assert a.decide(get("nodes", "n1", verb="patch", ns="", sub="status"))[0] == "allow"
    assert a.decide(get("deployments", "", verb="list"))[0] == "no-opinion"
    # the API servers' list an agent fails over to (pinnace.client.apiservers)
    assert a.decide(get("endpoints", "kubernetes", ns="default"))[0] == "allow"
    assert a.decide(get("endpoints", "", ns="default", verb="watch"))[0] == "no-opinion"
    other = Attributes(
        UserInfo("alice", ()), "get", True, resource="secrets", namespace="app", name="tls"
    )
    assert a.decide(other)[0] == "no-opinion"
