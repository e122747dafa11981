"""Pod defaulting and validation: the conditional defaults, the messages of
upstream's ValidatePodSpec, and the update rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pinnace.api.strategies.podspec import image_pull_policy
from tests.unit.api.strategies.flow import create, messages, strategy, update

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p"},
    "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
}


def pod(**spec: Any) -> dict[str, Any]:
    p = copy.deepcopy(POD)
    p["spec"].update(spec)
    return p


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("registry:5000/team/app", "Always"),
        ("registry:5000/team/app:v2", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
        ("nginx:latest@sha256:" + "a" * 64, "Always"),
        ("", "IfNotPresent"),
    ],
)
def test_image_pull_policy(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


def test_pod_defaults() -> None:
    obj, errs = create(
        strategy("", "Pod"),
        pod(
            containers=[
                {
                    "name": "c",
                    "image": "nginx",
                    "ports": [{"containerPort": 80}],
                    "env": [
                        {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
                    ],
                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                    "livenessProbe": {"httpGet": {"port": 80}},
                }
            ],
            volumes=[{"name": "v"}, {"name": "s", "secret": {"secretName": "x"}}],
        ),
    )
    assert errs == []
    spec = obj["spec"]
    c = spec["containers"][0]
    assert c["imagePullPolicy"] == "Always"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert c["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert c["livenessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert spec["volumes"] == [
        {"name": "v", "emptyDir": {}},
        {"name": "s", "secret": {"secretName": "x", "defaultMode": 420}},
    ]
    for k, v in {
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler",
        "terminationGracePeriodSeconds": 30,
        "securityContext": {},
        "enableServiceLinks": True,
    }.items():
        assert spec[k] == v
    assert obj["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}
    assert "generation" not in obj["metadata"]  # pods have no generation in 1.32


def test_security_context_default_is_fresh() -> None:
    a, _ = create(strategy("", "Pod"), POD)
    b, _ = create(strategy("", "Pod"), POD)
    a["spec"]["securityContext"]["runAsUser"] = 1
    assert b["spec"]["securityContext"] == {}


def test_host_network_ports_and_service_account_alias() -> None:
    obj, errs = create(
        strategy("", "Pod"),
        pod(
            hostNetwork=True,
            serviceAccount="builder",
            containers=[{"name": "c", "image": "x:1", "ports": [{"containerPort": 8080}]}],
        ),
    )
    assert errs == []
    assert obj["spec"]["containers"][0]["ports"][0]["hostPort"] == 8080
    assert obj["spec"]["serviceAccountName"] == "builder"


C0 = "spec.containers[0]"

CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("no name", {"containers": [{"image": "x"}]}, [f"{C0}.name: Required value"]),
    ("no image", {"containers": [{"name": "c"}]}, [f"{C0}.image: Required value"]),
    (
        "bad name",
        {"containers": [{"name": "C_1", "image": "x"}]},
        [
            f'{C0}.name: Invalid value: "C_1": a lowercase RFC 1123 label must consist of lower '
            "case alphanumeric characters or '-', and must start and end with an alphanumeric "
            "character (e.g. 'my-name',  or '123-abc', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        ],
    ),
    (
        "duplicate container names across init and app",
        {
            "initContainers": [{"name": "c", "image": "x"}],
            "containers": [{"name": "c", "image": "x"}],
        },
        [f'{C0}.name: Duplicate value: "c"'],
    ),
    (
        "port out of range",
        {"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 70000}]}]},
        [
            f"{C0}.ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"
        ],
    ),
    (
        "duplicate port names",
        {
            "containers": [
                {
                    "name": "c",
                    "image": "x",
                    "ports": [
                        {"name": "http", "containerPort": 80},
                        {"name": "http", "containerPort": 81},
                    ],
                }
            ]
        },
        [f'{C0}.ports[1].name: Duplicate value: "http"'],
    ),
    (
        "bad port name",
        {
            "containers": [
                {"name": "c", "image": "x", "ports": [{"name": "80", "containerPort": 80}]}
            ]
        },
        [f'{C0}.ports[0].name: Invalid value: "80": must contain at least one letter (a-z)'],
    ),
    (
        "bad protocol",
        {
            "containers": [
                {"name": "c", "image": "x", "ports": [{"containerPort": 80, "protocol": "ICMP"}]}
            ]
        },
        [
            f'{C0}.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"'
        ],
    ),
    (
        "env name with =",
        {"containers": [{"name": "c", "image": "x", "env": [{"name": "A=B", "value": "1"}]}]},
        [
            f'{C0}.env[0].name: Invalid value: "A=B": a valid environment variable name must '
            "consist only of printable ASCII characters other than '='"
        ],
    ),
    (
        "env value and valueFrom",
        {
            "containers": [
                {
                    "name": "c",
                    "image": "x",
                    "env": [
                        {
                            "name": "A",
                            "value": "1",
                            "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                        }
                    ],
                }
            ]
        },
        [
            f'{C0}.env[0].valueFrom: Invalid value: "": may not be specified when `value` is not empty'
        ],
    ),
    (
        "mount of unknown volume",
        {
            "containers": [
                {"name": "c", "image": "x", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}
            ]
        },
        [f'{C0}.volumeMounts[0].name: Not found: "data"'],
    ),
    (
        "duplicate volumes and two sources",
        {
            "volumes": [
                {"name": "v", "emptyDir": {}},
                {"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}},
            ]
        },
        [
            'spec.volumes[1].name: Duplicate value: "v"',
            "spec.volumes[1].hostPath: Forbidden: may not specify more than 1 volume type",
        ],
    ),
    (
        "requests above limits",
        {
            "containers": [
                {
                    "name": "c",
                    "image": "x",
                    "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}},
                }
            ]
        },
        [
            f'{C0}.resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1'
        ],
    ),
    (
        "restart policy",
        {"restartPolicy": "Sometimes"},
        [
            'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", '
            '"OnFailure", "Never"'
        ],
    ),
    (
        "dns policy",
        {"dnsPolicy": "Google"},
        [
            'spec.dnsPolicy: Unsupported value: "Google": supported values: '
            '"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"'
        ],
    ),
    (
        "active deadline",
        {"activeDeadlineSeconds": 0},
        [
            "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"
        ],
    ),
    (
        "toleration with value and Exists",
        {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]},
        [
            'spec.tolerations[0].operator: Invalid value: {"key":"k","operator":"Exists",'
            '"value":"v"}: value must be empty when `operator` is \'Exists\''
        ],
    ),
    (
        "toleration seconds without NoExecute",
        {"tolerations": [{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}]},
        [
            'spec.tolerations[0].effect: Invalid value: "NoSchedule": effect must be '
            "'NoExecute' when `tolerationSeconds` is set"
        ],
    ),
    (
        "bad node selector",
        {"nodeSelector": {"disk": "ssd!"}},
        [
            'spec.nodeSelector: Invalid value: "ssd!": a valid label must be an empty string or '
            "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
            "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        ],
    ),
    (
        "liveness probe without handler",
        {"containers": [{"name": "c", "image": "x", "livenessProbe": {"periodSeconds": 5}}]},
        [f"{C0}.livenessProbe: Required value: must specify a handler type"],
    ),
    (
        "probe on plain init container",
        {
            "initContainers": [
                {"name": "i", "image": "x", "readinessProbe": {"exec": {"command": ["true"]}}}
            ]
        },
        [
            "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers "
            "without restartPolicy=Always"
        ],
    ),
    (
        "sidecar init container is fine",
        {
            "initContainers": [
                {
                    "name": "i",
                    "image": "x",
                    "restartPolicy": "Always",
                    "readinessProbe": {"exec": {"command": ["true"]}},
                }
            ]
        },
        [],
    ),
]


@pytest.mark.parametrize(("spec", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_pod_validation(spec: dict[str, Any], want: list[str]) -> None:
    _, errs = create(strategy("", "Pod"), pod(**spec))
    assert messages(errs) == want


def _created() -> dict[str, Any]:
    obj, errs = create(strategy("", "Pod"), pod(tolerations=[{"key": "a", "operator": "Exists"}]))
    assert errs == []
    return obj


def test_pod_update_image_allowed_other_fields_forbidden() -> None:
    s = strategy("", "Pod")
    old = _created()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:1.26"
    new["spec"]["tolerations"].append({"key": "b", "operator": "Exists"})
    got, errs = update(s, new, old)
    assert errs == []
    assert "generation" not in got["metadata"]
    new["spec"]["dnsPolicy"] = "Default"
    _, errs = update(s, new, old)
    assert [e.field for e in errs] == ["spec"]
    assert errs[0].message.startswith("Forbidden: pod updates may not change fields other than")


@pytest.mark.parametrize(
    ("change", "want"),
    [
        (
            {"containers": []},
            ["spec.containers: Forbidden: pod updates may not add or remove containers"],
        ),
        (
            {"tolerations": []},
            [
                "spec.tolerations: Forbidden: existing toleration can not be modified except its "
                "tolerationSeconds"
            ],
        ),
    ],
)
def test_pod_update_rules(change: dict[str, Any], want: list[str]) -> None:
    s = strategy("", "Pod")
    old = _created()
    new = copy.deepcopy(old)
    new["spec"].update(change)
    _, errs = update(s, new, old)
    assert [m for m in messages(errs) if m in want] == want


def test_active_deadline_may_only_shrink() -> None:
    s = strategy("", "Pod")
    old = _created()
    old["spec"]["activeDeadlineSeconds"] = 10
    new = copy.deepcopy(old)
    new["spec"]["activeDeadlineSeconds"] = 5
    assert update(s, new, old)[1] == []
    new["spec"]["activeDeadlineSeconds"] = 20
    assert messages(update(s, new, old)[1]) == [
        "spec.activeDeadlineSeconds: Invalid value: 20: must be less than or equal to previous value"
    ]
