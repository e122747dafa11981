"""API semantics through raw HTTPS: pagination, generateName, dryRun,
finalizers, graceful pod deletion, status and scale subresources,
deletecollection, field selectors, Table output, watch expiry."""

from __future__ import annotations

import json

import pytest

from tests.cluster import RawClient, Server

NS = "sem"


@pytest.fixture(scope="module")
def raw(server: Server) -> RawClient:
    c = RawClient(server)
    status, _ = c.json(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
    )
    assert status == 201
    return c


def cm(name: str, **meta: object) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **meta},
        "data": {"k": name},
    }


def test_pagination(raw: RawClient) -> None:
    for i in range(7):
        assert (
            raw.json(
                "POST", f"/api/v1/namespaces/{NS}/configmaps", cm(f"page-{i}", labels={"page": "y"})
            )[0]
            == 201
        )
    names: list[str] = []
    cont = ""
    pages = 0
    while True:
        q = "?labelSelector=page%3Dy&limit=3" + (f"&continue={cont}" if cont else "")
        status, body = raw.json("GET", f"/api/v1/namespaces/{NS}/configmaps{q}")
        assert status == 200
        names += [i["metadata"]["name"] for i in body["items"]]
        pages += 1
        cont = body["metadata"].get("continue", "")
        if not cont:
            break
    assert pages == 3
    assert names == [f"page-{i}" for i in range(7)]
    status, body = raw.json("GET", f"/api/v1/namespaces/{NS}/configmaps?continue=garbage")
    assert status == 400


def test_generate_name_and_dry_run(raw: RawClient) -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}}
    status, body = raw.json("POST", f"/api/v1/namespaces/{NS}/configmaps", obj)
    assert status == 201
    name = body["metadata"]["name"]
    assert name.startswith("gen-") and len(name) == len("gen-") + 5
    status, body = raw.json("POST", f"/api/v1/namespaces/{NS}/configmaps?dryRun=All", cm("dry"))
    assert status == 201 and body["metadata"]["name"] == "dry"
    assert raw.json("GET", f"/api/v1/namespaces/{NS}/configmaps/dry")[0] == 404
    status, _ = raw.json("POST", f"/api/v1/namespaces/{NS}/configmaps?dryRun=Bogus", cm("dry2"))
    assert status == 400


def test_finalizers_hold_deletion(raw: RawClient) -> None:
    assert (
        raw.json(
            "POST",
            f"/api/v1/namespaces/{NS}/configmaps",
            cm("fin", finalizers=["example.com/hold"]),
        )[0]
        == 201
    )
    status, body = raw.json("DELETE", f"/api/v1/namespaces/{NS}/configmaps/fin")
    assert status == 200
    status, body = raw.json("GET", f"/api/v1/namespaces/{NS}/configmaps/fin")
    assert status == 200 and body["metadata"]["deletionTimestamp"]
    # new finalizers cannot be added while deleting
    patch = {"metadata": {"finalizers": ["example.com/hold", "example.com/other"]}}
    status, _, _ = raw.request(
        "PATCH",
        f"/api/v1/namespaces/{NS}/configmaps/fin",
        json.dumps(patch).encode(),
        {"Content-Type": "application/merge-patch+json"},
    )
    assert status == 422
    status, _, _ = raw.request(
        "PATCH",
        f"/api/v1/namespaces/{NS}/configmaps/fin",
        json.dumps({"metadata": {"finalizers": None}}).encode(),
        {"Content-Type": "application/merge-patch+json"},
    )
    assert status == 200
    assert raw.json("GET", f"/api/v1/namespaces/{NS}/configmaps/fin")[0] == 404


def test_managed_fields_are_recorded_before_mutating_admission(raw: RawClient) -> None:
    # as upstream's field manager: the creator owns what it sent and the
    # defaults of it, not what admission plugins added (DefaultTolerationSeconds'
    # tolerations, the service account's token volume)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "owned", "labels": {"app": "owned"}},
        "spec": {
            "schedulerName": "test-binds-itself",
            "containers": [{"name": "c", "image": "busybox"}],
        },
    }
    status, body = raw.json("POST", f"/api/v1/namespaces/{NS}/pods?fieldManager=creator", pod)
    assert status == 201, body
    assert {t["key"] for t in body["spec"]["tolerations"]} == {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    }
    [entry] = [e for e in body["metadata"]["managedFields"] if e["manager"] == "creator"]
    spec = entry["fieldsV1"]["f:spec"]
    assert 'k:{"name":"c"}' in spec["f:containers"]
    assert "f:restartPolicy" in spec and "f:dnsPolicy" in spec  # defaults of what was sent
    assert "f:tolerations" not in spec
    assert "f:volumes" not in spec and "f:serviceAccountName" not in spec
    assert entry["fieldsV1"]["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert raw.json("DELETE", f"/api/v1/namespaces/{NS}/pods/owned?gracePeriodSeconds=0")[0] == 200


def test_pod_graceful_deletion_and_binding(raw: RawClient) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "gp"},
        # a scheduler nobody runs: the test binds the pod itself
        "spec": {
            "schedulerName": "test-binds-itself",
            "containers": [{"name": "c", "image": "busybox"}],
        },
    }
    status, body = raw.json("POST", f"/api/v1/namespaces/{NS}/pods", pod)
    assert status == 201
    assert body["status"]["phase"] == "Pending"
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "gp"},
        "target": {"kind": "Node", "name": "n1"},
    }
    fields_before = body["metadata"]["managedFields"]
    assert raw.json("POST", f"/api/v1/namespaces/{NS}/pods/gp/binding", binding)[0] == 201
    status, body = raw.json("POST", f"/api/v1/namespaces/{NS}/pods/gp/binding", binding)
    assert status == 409
    status, body = raw.json("GET", f"/api/v1/namespaces/{NS}/pods/gp")
    assert body["spec"]["nodeName"] == "n1"
    assert any(
        c["type"] == "PodScheduled" and c["status"] == "True" for c in body["status"]["conditions"]
    )
    # as upstream, the binding passes the field manager by: no owner of nodeName
    assert body["metadata"]["managedFields"] == fields_before
    # a scheduled pod is deleted gracefully: it lingers with deletionTimestamp
    status, body = raw.json("DELETE", f"/api/v1/namespaces/{NS}/pods/gp")
    assert status == 200 and body["metadata"]["deletionGracePeriodSeconds"] == 30
    assert raw.json("GET", f"/api/v1/namespaces/{NS}/pods/gp")[0] == 200
    # the node agent confirms with grace period 0
    status, _ = raw.json("DELETE", f"/api/v1/namespaces/{NS}/pods/gp", {"gracePeriodSeconds": 0})
    assert status == 200
    assert raw.json("GET", f"/api/v1/namespaces/{NS}/pods/gp")[0] == 404


def test_status_subresource_and_generation(raw: RawClient) -> None:
    # an Ingress: status subresource, tracks generation, and no controller touches it yet
    ing = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "st"},
        "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}},
    }
    base = f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses"
    status, body = raw.json("POST", base, ing)
    assert status == 201, body
    assert body["metadata"]["generation"] == 1
    assert not body.get("status", {}).get("loadBalancer", {}).get("ingress")  # not writable here
    body["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.7"}]}}
    body["spec"]["defaultBackend"]["service"]["name"] = "ignored"
    status, upd = raw.json("PUT", f"{base}/st/status", body)
    assert status == 200, upd
    assert upd["status"]["loadBalancer"]["ingress"] == [{"ip": "192.0.2.7"}]
    assert upd["spec"]["defaultBackend"]["service"]["name"] == "web"  # spec ignored on /status
    assert upd["metadata"]["generation"] == 1
    upd["spec"]["defaultBackend"]["service"]["name"] = "web2"
    status, upd2 = raw.json("PUT", f"{base}/st", upd)
    assert status == 200 and upd2["metadata"]["generation"] == 2
    assert upd2["status"]["loadBalancer"]["ingress"] == [{"ip": "192.0.2.7"}]  # status kept


def test_scale_subresource(raw: RawClient) -> None:
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "sc"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }
    assert raw.json("POST", f"/apis/apps/v1/namespaces/{NS}/deployments", dep)[0] == 201
    status, scale = raw.json("GET", f"/apis/apps/v1/namespaces/{NS}/deployments/sc/scale")
    assert status == 200 and scale["kind"] == "Scale" and scale["status"]["selector"] == "a=b"
    scale["spec"]["replicas"] = 4
    del scale["metadata"]["resourceVersion"]
    status, scale = raw.json("PUT", f"/apis/apps/v1/namespaces/{NS}/deployments/sc/scale", scale)
    assert status == 200 and scale["spec"]["replicas"] == 4
    status, body = raw.json("GET", f"/apis/apps/v1/namespaces/{NS}/deployments/sc")
    assert body["spec"]["replicas"] == 4 and body["metadata"]["generation"] >= 2
    status, _ = raw.json(
        "PUT",
        f"/apis/apps/v1/namespaces/{NS}/deployments/sc/scale",
        {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {"name": "sc"},
            "spec": {"replicas": -1},
        },
    )
    assert status == 422


def test_field_selectors_and_deletecollection(raw: RawClient) -> None:
    for n in ("fa", "fb"):
        assert (
            raw.json("POST", f"/api/v1/namespaces/{NS}/configmaps", cm(n, labels={"dc": "1"}))[0]
            == 201
        )
    status, body = raw.json(
        "GET", f"/api/v1/namespaces/{NS}/configmaps?fieldSelector=metadata.name%3Dfa"
    )
    assert [i["metadata"]["name"] for i in body["items"]] == ["fa"]
    status, body = raw.json(
        "GET", f"/api/v1/namespaces/{NS}/configmaps?fieldSelector=spec.bogus%3Dx"
    )
    assert status == 400 and "field label not supported" in body["message"]
    status, body = raw.json("GET", "/api/v1/pods?fieldSelector=status.phase%21%3DRunning")
    assert status == 200
    status, _ = raw.json("DELETE", f"/api/v1/namespaces/{NS}/configmaps?labelSelector=dc%3D1")
    assert status == 200
    status, body = raw.json("GET", f"/api/v1/namespaces/{NS}/configmaps?labelSelector=dc%3D1")
    assert body["items"] == []


def test_table_output(raw: RawClient) -> None:
    assert raw.json("POST", f"/api/v1/namespaces/{NS}/configmaps", cm("tbl"))[0] == 201
    status, _, data = raw.request(
        "GET",
        f"/api/v1/namespaces/{NS}/configmaps/tbl",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"},
    )
    assert status == 200
    t = json.loads(data)
    assert t["kind"] == "Table"
    assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert t["rows"][0]["cells"][:2] == ["tbl", 1]
    assert t["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_watch_expired_after_compaction(tmp_path_factory: pytest.TempPathFactory) -> None:
    d = tmp_path_factory.mktemp("compact")
    s = Server(
        d / "data", storage=f"sqlite://{d / 'state.db'}?compact_interval=0.2&compact_keep=5"
    ).start()
    try:
        c = RawClient(s)
        for i in range(30):
            assert c.json("POST", "/api/v1/namespaces/default/configmaps", cm(f"c{i}"))[0] == 201
        import time

        time.sleep(1.0)  # let compaction run
        s.stop()  # a fresh watch cache holds no history: old revisions come from storage
        s.start()
        c = RawClient(s)
        status, _, data = c.request(
            "GET",
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=2&timeoutSeconds=2",
        )
        assert status == 200
        first = json.loads(data.splitlines()[0])
        assert first["type"] == "ERROR"
        assert first["object"]["code"] == 410 and first["object"]["reason"] == "Expired"
    finally:
        s.stop()


def test_priority_classes_resolve_pod_priority(raw: RawClient) -> None:
    status, body = raw.json(
        "GET", "/apis/scheduling.k8s.io/v1/priorityclasses/system-node-critical"
    )
    assert status == 200 and body["value"] == 2000001000
    pc = {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": "sem-high"},
        "value": 1000,
    }
    assert raw.json("POST", "/apis/scheduling.k8s.io/v1/priorityclasses", pc)[0] == 201

    def pod(name: str, **spec: object) -> dict[str, object]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "schedulerName": "nobody",
                "containers": [{"name": "c", "image": "x"}],
                **spec,
            },
        }

    status, body = raw.json(
        "POST", f"/api/v1/namespaces/{NS}/pods", pod("prio", priorityClassName="sem-high")
    )
    assert status == 201 and body["spec"]["priority"] == 1000
    assert body["spec"]["preemptionPolicy"] == "PreemptLowerPriority"
    status, body = raw.json("POST", f"/api/v1/namespaces/{NS}/pods", pod("plain"))
    assert status == 201 and body["spec"]["priority"] == 0
    status, body = raw.json(
        "POST", f"/api/v1/namespaces/{NS}/pods", pod("nope", priorityClassName="missing")
    )
    assert status == 403 and "no PriorityClass with name missing was found" in body["message"]
    status, _ = raw.json(
        "DELETE", "/apis/scheduling.k8s.io/v1/priorityclasses/system-cluster-critical"
    )
    assert status == 403
