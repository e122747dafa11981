"""networking, rbac, policy, autoscaling, coordination, discovery, storage and
events.k8s.io strategies."""

from __future__ import annotations

import copy
from typing import Any

from tests.unit.api.strategies.flow import create, messages, strategy, update

NET = "networking.k8s.io"
RBAC = "rbac.authorization.k8s.io"


def ingress(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "i"}, "spec": spec}


def rule(path: str, ptype: str, backend: dict[str, Any]) -> dict[str, Any]:
    return {
        "host": "example.com",
        "http": {"paths": [{"path": path, "pathType": ptype, "backend": backend}]},
    }


SVC = {"service": {"name": "web", "port": {"number": 80}}}


def test_ingress() -> None:
    s = strategy(NET, "Ingress")
    obj, errs = create(s, ingress(rules=[rule("/", "Prefix", SVC)]))
    assert errs == [] and obj["metadata"]["generation"] == 1
    assert messages(create(s, ingress())[1]) == [
        "spec: Invalid value: {}: either `defaultBackend` or `rules` must be specified"
    ]
    assert messages(create(s, ingress(rules=[rule("api", "Exact", SVC)]))[1]) == [
        'spec.rules[0].http.paths[0].path: Invalid value: "api": must be an absolute path'
    ]
    assert messages(
        create(s, ingress(rules=[rule("/", "Prefix", {"service": {"name": "web"}})]))[1]
    ) == ["spec.rules[0].http.paths[0].backend: Required value: port name or number is required"]
    assert messages(create(s, ingress(rules=[rule("/", "Any", SVC)]))[1]) == [
        'spec.rules[0].http.paths[0].pathType: Unsupported value: "Any": supported values: '
        '"Exact", "ImplementationSpecific", "Prefix"'
    ]


def test_network_policy_defaults() -> None:
    s = strategy(NET, "NetworkPolicy")
    obj, errs = create(
        s,
        {
            "metadata": {"name": "n"},
            "spec": {"podSelector": {}, "egress": [{"ports": [{"port": 53}]}]},
        },
    )
    assert errs == []
    assert obj["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert obj["spec"]["egress"][0]["ports"][0]["protocol"] == "TCP"
    obj, _ = create(s, {"metadata": {"name": "n"}, "spec": {"podSelector": {}}})
    assert obj["spec"]["policyTypes"] == ["Ingress"]
    _, errs = create(
        s,
        {
            "metadata": {"name": "n"},
            "spec": {
                "podSelector": {},
                "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}],
            },
        },
    )
    assert messages(errs) == [
        'spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0/33": must be a valid '
        "CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
    ]


def test_rbac_binding() -> None:
    s = strategy(RBAC, "RoleBinding")
    body = {
        "metadata": {"name": "b"},
        "roleRef": {"kind": "Role", "name": "r"},
        "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "sa"}],
    }
    old, errs = create(s, body)
    assert errs == []
    assert old["roleRef"]["apiGroup"] == RBAC
    assert old["subjects"][0]["apiGroup"] == RBAC and old["subjects"][1]["apiGroup"] == ""
    new = copy.deepcopy(old)
    new["roleRef"]["name"] = "other"
    assert messages(update(s, new, old)[1]) == [
        'roleRef: Invalid value: {"apiGroup":"rbac.authorization.k8s.io","kind":"Role",'
        '"name":"other"}: cannot change roleRef'
    ]
    bad = copy.deepcopy(body)
    bad["subjects"] = [{"kind": "Robot", "name": "x"}]
    assert messages(create(s, bad)[1]) == [
        'subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"'
    ]
    crb = strategy(RBAC, "ClusterRoleBinding")
    _, errs = create(
        crb,
        {
            "metadata": {"name": "b"},
            "roleRef": {"kind": "Role", "name": "r", "apiGroup": RBAC},
            "subjects": [{"kind": "ServiceAccount", "name": "sa"}],
        },
    )
    assert messages(errs) == [
        'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"',
        "subjects[0].namespace: Required value",
    ]


def test_rbac_role_rules() -> None:
    _, errs = create(
        strategy(RBAC, "Role"), {"metadata": {"name": "r"}, "rules": [{"verbs": ["get"]}]}
    )
    assert messages(errs) == [
        "rules[0].apiGroups: Required value: resource rules must supply at least one api group",
        "rules[0].resources: Required value: resource rules must supply at least one resource",
    ]


def test_pdb() -> None:
    s = strategy("policy", "PodDisruptionBudget")
    spec = {"minAvailable": 1, "maxUnavailable": 1, "selector": {"matchLabels": {"a": "b"}}}
    assert messages(create(s, {"metadata": {"name": "p"}, "spec": spec})[1]) == [
        'spec: Invalid value: {"maxUnavailable":1,"minAvailable":1,"selector":{"matchLabels":'
        '{"a":"b"}}}: minAvailable and maxUnavailable cannot be both set'
    ]
    obj, errs = create(s, {"metadata": {"name": "p"}, "spec": {"minAvailable": "50%"}})
    assert errs == [] and obj["metadata"]["generation"] == 1


def test_hpa() -> None:
    s = strategy("autoscaling", "HorizontalPodAutoscaler", "v2")
    ref = {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}
    obj, errs = create(
        s,
        {
            "metadata": {"name": "h"},
            "spec": {
                "scaleTargetRef": ref,
                "maxReplicas": 3,
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
            },
        },
    )
    assert errs == []
    assert obj["spec"]["minReplicas"] == 1
    assert obj["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 80
    assert obj["spec"]["behavior"]["scaleUp"]["policies"][0] == {
        "type": "Pods",
        "value": 4,
        "periodSeconds": 15,
    }
    assert obj["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 60
    _, errs = create(
        s,
        {
            "metadata": {"name": "h"},
            "spec": {"scaleTargetRef": ref, "minReplicas": 5, "maxReplicas": 3},
        },
    )
    assert messages(errs) == [
        "spec.maxReplicas: Invalid value: 3: must be greater than or equal to `minReplicas`"
    ]


def test_endpoint_slice() -> None:
    s = strategy("discovery.k8s.io", "EndpointSlice")
    old, errs = create(
        s,
        {
            "metadata": {"name": "e"},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"]}],
        },
    )
    assert errs == [] and old["metadata"]["generation"] == 1
    bad, _ = create(
        s, {"metadata": {"name": "e"}, "addressType": "IPv4", "endpoints": [{"addresses": ["::1"]}]}
    )
    assert messages(s.validate(bad)) == [
        'endpoints[0].addresses[0]: Invalid value: "::1": must be a valid IPv4 address'
    ]
    new = copy.deepcopy(old)
    new["addressType"] = "IPv6"
    new["endpoints"] = [{"addresses": ["::1"]}]
    assert messages(update(s, new, old)[1]) == [
        'addressType: Invalid value: "IPv6": field is immutable'
    ]


def test_storage_class_immutable_parameters() -> None:
    s = strategy("storage.k8s.io", "StorageClass")
    old, errs = create(
        s, {"metadata": {"name": "sc"}, "provisioner": "example.com/disk", "parameters": {"a": "b"}}
    )
    assert errs == []
    assert old["reclaimPolicy"] == "Delete" and old["volumeBindingMode"] == "Immediate"
    new = copy.deepcopy(old)
    new["parameters"] = {"a": "c"}
    assert messages(update(s, new, old)[1]) == [
        "parameters: Forbidden: updates to parameters are forbidden."
    ]


def test_lease_and_events() -> None:
    _, errs = create(
        strategy("coordination.k8s.io", "Lease"),
        {"metadata": {"name": "l"}, "spec": {"leaseDurationSeconds": 0}},
    )
    assert messages(errs) == ["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]
    _, errs = create(
        strategy("events.k8s.io", "Event"),
        {"metadata": {"name": "e"}, "eventTime": "2024-01-01T00:00:00.000000Z", "type": "Normal"},
    )
    assert messages(errs) == [
        "reportingController: Required value",
        "reportingInstance: Required value",
        "action: Required value",
        "reason: Required value",
    ]
