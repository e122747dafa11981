"""The official Python client (``kubernetes`` on PyPI) against pinnace."""

from __future__ import annotations

import threading

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.cluster import Server


@pytest.fixture(scope="module")
def api(server: Server) -> client.ApiClient:
    return server.api_client()


@pytest.fixture(scope="module")
def ns(api: client.ApiClient) -> str:
    v1 = client.CoreV1Api(api)
    v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="pyclient")))
    return "pyclient"


def test_crud_configmap(api: client.ApiClient, ns: str) -> None:
    v1 = client.CoreV1Api(api)
    cm = v1.create_namespaced_config_map(
        ns,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="c1", labels={"a": "b"}), data={"k": "v"}
        ),
    )
    assert cm.metadata.uid and cm.metadata.resource_version and cm.metadata.creation_timestamp
    got = v1.read_namespaced_config_map("c1", ns)
    assert got.data == {"k": "v"}
    got.data["k"] = "v2"
    upd = v1.replace_namespaced_config_map("c1", ns, got)
    assert int(upd.metadata.resource_version) > int(cm.metadata.resource_version)
    # stale resourceVersion → 409
    got.data["k"] = "v3"
    with pytest.raises(ApiException) as e:
        v1.replace_namespaced_config_map("c1", ns, got)
    assert e.value.status == 409
    lst = v1.list_namespaced_config_map(ns, label_selector="a=b")
    assert [i.metadata.name for i in lst.items] == ["c1"]
    # duplicate create → 409 AlreadyExists
    with pytest.raises(ApiException) as e:
        v1.create_namespaced_config_map(
            ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c1"))
        )
    assert e.value.status == 409 and "AlreadyExists" in e.value.body
    v1.delete_namespaced_config_map("c1", ns)
    with pytest.raises(ApiException) as e:
        v1.read_namespaced_config_map("c1", ns)
    assert e.value.status == 404


def test_patch_types(api: client.ApiClient, ns: str) -> None:
    apps = client.AppsV1Api(api)
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "pd"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "pd"}},
            "template": {
                "metadata": {"labels": {"app": "pd"}},
                "spec": {
                    "containers": [
                        {"name": "c", "image": "busybox", "env": [{"name": "A", "value": "1"}]}
                    ]
                },
            },
        },
    }
    apps.create_namespaced_deployment(ns, dep)
    # strategic merge (the client's default for dict bodies): env merges by name
    apps.patch_namespaced_deployment(
        "pd",
        ns,
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "c", "env": [{"name": "B", "value": "2"}]}]}
                }
            }
        },
    )
    d = apps.read_namespaced_deployment("pd", ns)
    assert [e.name for e in d.spec.template.spec.containers[0].env] == ["B", "A"] or {
        e.name for e in d.spec.template.spec.containers[0].env
    } == {"A", "B"}
    # JSON patch
    apps.patch_namespaced_deployment(
        "pd", ns, [{"op": "replace", "path": "/spec/replicas", "value": 3}]
    )
    assert apps.read_namespaced_deployment("pd", ns).spec.replicas == 3
    # merge patch via explicit content type
    apps.patch_namespaced_deployment(
        "pd", ns, {"metadata": {"labels": {"m": "1"}}}, _content_type="application/merge-patch+json"
    )
    assert apps.read_namespaced_deployment("pd", ns).metadata.labels == {"m": "1"}


def test_server_side_apply(api: client.ApiClient, ns: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ssa", "namespace": ns},
        "data": {"x": "1"},
    }
    v1 = client.CoreV1Api(api)
    v1.patch_namespaced_config_map(
        "ssa", ns, body, field_manager="pytest", _content_type="application/apply-patch+yaml"
    )
    cm = v1.read_namespaced_config_map("ssa", ns)
    assert cm.data == {"x": "1"}
    assert any(m.manager == "pytest" and m.operation == "Apply" for m in cm.metadata.managed_fields)


def test_watch_replays_from_resource_version(api: client.ApiClient, ns: str) -> None:
    v1 = client.CoreV1Api(api)
    first = v1.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w0"))
    )
    rv = first.metadata.resource_version
    for i in range(1, 4):
        v1.create_namespaced_config_map(
            ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"w{i}"))
        )
    v1.delete_namespaced_config_map("w1", ns)
    w = watch.Watch()
    seen: list[tuple[str, str]] = []
    for ev in w.stream(v1.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=2):
        name = ev["object"].metadata.name
        if name == "kube-root-ca.crt":
            continue  # the root CA publisher's: it may land in the new namespace after w0
        seen.append((ev["type"], name))
        if len(seen) == 4:
            w.stop()
    assert seen == [("ADDED", "w1"), ("ADDED", "w2"), ("ADDED", "w3"), ("DELETED", "w1")]


def test_watch_live(api: client.ApiClient, ns: str) -> None:
    v1 = client.CoreV1Api(api)
    w = watch.Watch()
    seen: list[str] = []

    def produce() -> None:
        import time

        time.sleep(0.5)
        v1.create_namespaced_config_map(
            ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="live"))
        )

    t = threading.Thread(target=produce)
    t.start()
    for ev in w.stream(
        v1.list_namespaced_config_map, ns, field_selector="metadata.name=live", timeout_seconds=5
    ):
        seen.append(ev["type"])
        w.stop()
    t.join()
    assert seen == ["ADDED"]
