"""core/v1 kinds other than Pod: Service, ConfigMap, Secret, PV/PVC, Node,
Event, Endpoints, LimitRange, ReplicationController; the generation rule."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from tests.unit.api.strategies.flow import create, messages, strategy, update


def service(**spec: Any) -> dict[str, Any]:
    """What ``kubectl create service clusterip web --tcp=80:8080`` sends, roughly."""
    s: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]},
    }
    s["spec"].update(spec)
    return s


def test_service_defaults() -> None:
    obj, errs = create(strategy("", "Service"), service())
    assert errs == []
    spec = obj["spec"]
    assert spec["ports"] == [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80}]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert "externalTrafficPolicy" not in spec
    assert "generation" not in obj["metadata"]
    np, _ = create(strategy("", "Service"), service(type="NodePort", sessionAffinity="ClientIP"))
    assert np["spec"]["externalTrafficPolicy"] == "Cluster"
    assert np["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


SERVICE_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "port zero",
        {"ports": [{"port": 0}]},
        [
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            # targetPort defaults to port, as upstream
            "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
        ],
    ),
    (
        "unnamed second port",
        {"ports": [{"name": "a", "port": 80}, {"port": 81}]},
        ["spec.ports[1].name: Required value"],
    ),
    (
        "duplicate names",
        {"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]},
        ['spec.ports[1].name: Duplicate value: "a"'],
    ),
    ("no ports", {"ports": []}, ["spec.ports: Required value"]),
    ("headless without ports", {"ports": [], "clusterIP": "None"}, []),
    (
        "node port on ClusterIP",
        {"ports": [{"port": 80, "nodePort": 30000}]},
        ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"],
    ),
    (
        "ExternalName without name",
        {"type": "ExternalName", "ports": []},
        ["spec.externalName: Required value"],
    ),
    (
        "bad type",
        {"type": "Magic"},
        [
            'spec.type: Unsupported value: "Magic": supported values: "ClusterIP", '
            '"ExternalName", "LoadBalancer", "NodePort"'
        ],
    ),
    (
        "externalTrafficPolicy on ClusterIP",
        {"externalTrafficPolicy": "Local"},
        [
            'spec.externalTrafficPolicy: Invalid value: "Local": may only be set when `type` '
            "is 'NodePort' or 'LoadBalancer'"
        ],
    ),
]


@pytest.mark.parametrize(
    ("spec", "want"), [c[1:] for c in SERVICE_CASES], ids=[c[0] for c in SERVICE_CASES]
)
def test_service_validation(spec: dict[str, Any], want: list[str]) -> None:
    _, errs = create(strategy("", "Service"), service(**spec))
    assert messages(errs) == want


def test_service_update_keeps_allocated_values() -> None:
    s = strategy("", "Service")
    old, _ = create(s, service(type="NodePort"))
    old["spec"]["clusterIP"] = "10.96.0.10"
    old["spec"]["clusterIPs"] = ["10.96.0.10"]
    old["spec"]["ports"][0]["nodePort"] = 30080
    new = service(type="NodePort")  # a replace without the allocated fields
    new["metadata"] = old["metadata"]
    got, errs = update(s, new, old)
    assert errs == []
    assert got["spec"]["clusterIP"] == "10.96.0.10"
    assert got["spec"]["ports"][0]["nodePort"] == 30080
    changed = copy.deepcopy(got)
    changed["spec"]["clusterIP"] = "10.96.0.11"
    assert [e.field for e in update(s, changed, old)[1]] == ["spec.clusterIPs[0]"]


def test_configmap_keys_size_and_immutability() -> None:
    s = strategy("", "ConfigMap")
    _, errs = create(s, {"metadata": {"name": "c"}, "data": {"a b": "1"}})
    assert messages(errs) == [
        'data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric '
        "characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex "
        "used for validation is '[-._a-zA-Z0-9]+')"
    ]
    _, errs = create(s, {"metadata": {"name": "c"}, "data": {"big": "x" * (1024 * 1024 + 1)}})
    assert messages(errs) == [": Too long: must have at most 1048576 bytes"]
    old, _ = create(s, {"metadata": {"name": "c"}, "data": {"a": "1"}, "immutable": True})
    assert "generation" not in old["metadata"]
    new = copy.deepcopy(old)
    new["data"] = {"a": "2"}
    assert messages(update(s, new, old)[1]) == [
        "data: Forbidden: field is immutable when `immutable` is set"
    ]


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


SECRET_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("opaque", {"data": {"a": b64("1")}}, []),
    (
        "tls",
        {"type": "kubernetes.io/tls", "data": {"tls.crt": b64("c")}},
        ["data[tls.key]: Required value"],
    ),
    (
        "dockerconfigjson",
        {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": b64("{}")}},
        [],
    ),
    (
        "dockerconfigjson missing",
        {"type": "kubernetes.io/dockerconfigjson", "data": {}},
        ["data[.dockerconfigjson]: Required value"],
    ),
    (
        "basic-auth",
        {"type": "kubernetes.io/basic-auth", "data": {}},
        ["data[username]: Required value", "data[password]: Required value"],
    ),
    (
        "service-account-token",
        {"type": "kubernetes.io/service-account-token"},
        ["metadata.annotations[kubernetes.io/service-account.name]: Required value"],
    ),
]


@pytest.mark.parametrize(
    ("body", "want"), [c[1:] for c in SECRET_CASES], ids=[c[0] for c in SECRET_CASES]
)
def test_secret_types(body: dict[str, Any], want: list[str]) -> None:
    _, errs = create(strategy("", "Secret"), {"metadata": {"name": "s"}, **body})
    assert messages(errs) == want


def test_secret_string_data_and_type_immutable() -> None:
    s = strategy("", "Secret")
    old, errs = create(s, {"metadata": {"name": "s"}, "stringData": {"user": "admin"}})
    assert errs == []
    assert old["type"] == "Opaque"
    assert old["data"] == {"user": b64("admin")} and "stringData" not in old
    new = copy.deepcopy(old)
    new["type"] = "kubernetes.io/basic-auth"
    new["data"]["username"] = b64("x")
    assert messages(update(s, new, old)[1]) == [
        'type: Invalid value: "kubernetes.io/basic-auth": field is immutable'
    ]


def test_pvc_validation_and_update() -> None:
    s = strategy("", "PersistentVolumeClaim")
    _, errs = create(s, {"metadata": {"name": "c"}, "spec": {}})
    assert messages(errs) == [
        "spec.accessModes: Required value: at least 1 access mode is required",
        "spec.resources[storage]: Required value",
    ]
    body = {
        "metadata": {"name": "c"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    old, errs = create(s, body)
    assert errs == [] and old["spec"]["volumeMode"] == "Filesystem"
    bound = copy.deepcopy(old)
    bound["spec"]["volumeName"] = "pv-1"
    assert update(s, bound, old)[1] == []
    grown = copy.deepcopy(old)
    grown["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert messages(update(s, grown, old)[1]) == [
        "spec: Forbidden: spec is immutable after creation except resources.requests and "
        "volumeAttributesClassName for bound claims"
    ]
    old["status"] = {"phase": "Bound"}
    assert update(s, grown, old)[1] == []


def test_pv_validation() -> None:
    _, errs = create(strategy("", "PersistentVolume"), {"metadata": {"name": "pv"}, "spec": {}})
    assert messages(errs) == [
        "spec.accessModes: Required value",
        "spec.capacity: Required value",
        'spec.capacity: Unsupported value: {}: supported values: "storage"',
        "spec: Required value: must specify a volume type",
    ]


def test_node_taints_and_pod_cidr() -> None:
    s = strategy("", "Node")
    _, errs = create(
        s, {"metadata": {"name": "n"}, "spec": {"taints": [{"key": "k", "effect": "Sometimes"}]}}
    )
    assert messages(errs) == [
        'spec.taints[0].effect: Unsupported value: "Sometimes": supported values: '
        '"NoSchedule", "PreferNoSchedule", "NoExecute"'
    ]
    old, _ = create(s, {"metadata": {"name": "n"}, "spec": {"podCIDR": "10.244.0.0/24"}})
    new = copy.deepcopy(old)
    new["spec"]["podCIDR"] = "10.244.1.0/24"
    assert messages(update(s, new, old)[1]) == [
        'spec.podCIDR: Forbidden: node updates may not change podCIDR except from "" to valid'
    ]


def test_event_namespace_must_match() -> None:
    _, errs = create(
        strategy("", "Event"),
        {"metadata": {"name": "e", "namespace": "a"}, "involvedObject": {"namespace": "b"}},
    )
    assert messages(errs) == [
        'involvedObject.namespace: Invalid value: "b": does not match event.namespace'
    ]


def test_endpoints_addresses() -> None:
    _, errs = create(
        strategy("", "Endpoints"),
        {
            "metadata": {"name": "e"},
            "subsets": [{"addresses": [{"ip": "1.2.3"}], "ports": [{"port": 80}]}],
        },
    )
    assert messages(errs) == [
        'subsets[0].addresses[0].ip: Invalid value: "1.2.3": must be a valid IP address, '
        "(e.g. 10.9.8.7 or 2001:db8::ffff)"
    ]


def test_limit_range_ordering() -> None:
    _, errs = create(
        strategy("", "LimitRange"),
        {
            "metadata": {"name": "l"},
            "spec": {"limits": [{"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]},
        },
    )
    assert messages(errs) == [
        'spec.limits[0].min[cpu]: Invalid value: "2": min value 2 is greater than max value 1'
    ]


def test_replication_controller_defaults_selector_from_template() -> None:
    obj, errs = create(
        strategy("", "ReplicationController"),
        {
            "metadata": {"name": "rc"},
            "spec": {
                "template": {
                    "metadata": {"labels": {"app": "a"}},
                    "spec": {"containers": [{"name": "c", "image": "x:1"}]},
                }
            },
        },
    )
    assert errs == []
    assert obj["spec"]["selector"] == {"app": "a"}
    assert obj["metadata"]["labels"] == {"app": "a"}
    assert obj["spec"]["replicas"] == 1
    assert obj["metadata"]["generation"] == 1


def test_namespace_has_no_generation() -> None:
    s = strategy("", "Namespace")
    old, errs = create(s, {"metadata": {"name": "ns"}})
    assert errs == [] and "generation" not in old["metadata"]
    new = copy.deepcopy(old)
    new["metadata"]["generation"] = 7  # clients cannot set it
    assert "generation" not in update(s, new, old)[0]["metadata"]
