"""apps/v1 and batch/v1: defaults of realistic objects and upstream's
validation messages."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.unit.api.strategies.flow import create, messages, strategy, update

UID = "00000000-0000-0000-0000-000000000001"


def deployment(**spec: Any) -> dict[str, Any]:
    """What ``kubectl create deployment web --image=nginx`` sends."""
    d: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]},
            },
        },
        "status": {},
    }
    d["spec"].update(spec)
    return d


def test_deployment_defaults_match_upstream() -> None:
    obj, errs = create(strategy("apps", "Deployment"), deployment())
    assert errs == []
    spec = obj["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["template"]["spec"] == {
        "containers": [
            {
                "name": "nginx",
                "image": "nginx",
                "imagePullPolicy": "Always",
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }
        ],
        "dnsPolicy": "ClusterFirst",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "terminationGracePeriodSeconds": 30,
        "enableServiceLinks": True,
    }
    assert "status" not in obj
    assert obj["metadata"]["generation"] == 1


def test_rolling_update_type_without_block_is_filled() -> None:
    obj, _ = create(strategy("apps", "Deployment"), deployment(strategy={"type": "RollingUpdate"}))
    assert obj["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    obj, _ = create(strategy("apps", "Deployment"), deployment(strategy={"type": "Recreate"}))
    assert obj["spec"]["strategy"] == {"type": "Recreate"}


T = "spec.template"

DEPLOYMENT_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "selector does not match",
        {"selector": {"matchLabels": {"app": "x"}}},
        [
            f'{T}.metadata.labels: Invalid value: {{"app":"web"}}: `selector` does not match '
            "template `labels`"
        ],
    ),
    (
        "negative replicas",
        {"replicas": -1},
        ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"],
    ),
    (
        "empty selector",
        {"selector": {}},
        ["spec.selector: Invalid value: {}: empty selector is invalid for deployment"],
    ),
    (
        "both zero",
        {
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"},
            }
        },
        [
            'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "0%": may not be 0 when `maxSurge` is 0'
        ],
    ),
    (
        "over 100%",
        {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "110%"}}},
        [
            'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "110%": must not be greater than 100%'
        ],
    ),
    (
        "bad percent",
        {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "20Percent"}}},
        [
            'spec.strategy.rollingUpdate.maxSurge: Invalid value: "20Percent": a valid percent '
            "string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', "
            "regex used for validation is '[0-9]+%')"
        ],
    ),
    (
        "recreate with rollingUpdate",
        {"strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}},
        [
            "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` "
            "is 'Recreate'"
        ],
    ),
    (
        "progress deadline",
        {"minReadySeconds": 700},
        ["spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds"],
    ),
]


@pytest.mark.parametrize(
    ("spec", "want"), [c[1:] for c in DEPLOYMENT_CASES], ids=[c[0] for c in DEPLOYMENT_CASES]
)
def test_deployment_validation(spec: dict[str, Any], want: list[str]) -> None:
    _, errs = create(strategy("apps", "Deployment"), deployment(**spec))
    assert messages(errs) == want


def test_deployment_template_rules() -> None:
    d = deployment()
    d["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    d["spec"]["template"]["spec"]["containers"][0].pop("image")
    _, errs = create(strategy("apps", "Deployment"), d)
    assert messages(errs) == [
        "spec.template.spec.containers[0].image: Required value",
        'spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"',
    ]
    d = deployment(selector=None)
    del d["spec"]["selector"]
    _, errs = create(strategy("apps", "Deployment"), d)
    assert messages(errs) == ["spec.selector: Required value"]


def test_deployment_update_generation_and_immutable_selector() -> None:
    s = strategy("apps", "Deployment")
    old, _ = create(s, deployment())
    same = copy.deepcopy(old)
    same["metadata"]["labels"]["x"] = "y"
    assert update(s, same, old)[0]["metadata"]["generation"] == 1
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 3
    got, errs = update(s, scaled, old)
    assert errs == [] and got["metadata"]["generation"] == 2
    # a PUT that leaves out defaults is not a spec change
    bare = deployment()
    bare["metadata"] = old["metadata"]
    assert update(s, bare, old)[0]["metadata"]["generation"] == 1
    moved = copy.deepcopy(old)
    moved["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}
    moved["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    assert messages(update(s, moved, old)[1]) == [
        'spec.selector: Invalid value: {"matchLabels":{"app":"web","tier":"x"}}: field is immutable'
    ]


def statefulset(**spec: Any) -> dict[str, Any]:
    d = deployment(serviceName="web", **spec)
    d["kind"] = "StatefulSet"
    del d["spec"]["strategy"]
    return d


def test_statefulset_defaults_and_update_rules() -> None:
    s = strategy("apps", "StatefulSet")
    obj, errs = create(s, statefulset())
    assert errs == []
    spec = obj["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    assert spec["revisionHistoryLimit"] == 10
    new = copy.deepcopy(obj)
    new["spec"]["replicas"] = 5
    new["spec"]["minReadySeconds"] = 3
    assert update(s, new, obj)[1] == []
    new["spec"]["podManagementPolicy"] = "Parallel"
    assert messages(update(s, new, obj)[1]) == [
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', "
        "'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
        "'minReadySeconds' are forbidden"
    ]


def test_statefulset_validation() -> None:
    _, errs = create(
        strategy("apps", "StatefulSet"),
        statefulset(updateStrategy={"type": "OnDelete", "rollingUpdate": {"partition": 1}}),
    )
    assert messages(errs) == [
        'spec.updateStrategy.rollingUpdate: Invalid value: {"partition":1}: only allowed for '
        "updateStrategy 'RollingUpdate'"
    ]


def test_daemonset_defaults_and_validation() -> None:
    s = strategy("apps", "DaemonSet")
    d = deployment()
    d["kind"] = "DaemonSet"
    del d["spec"]["replicas"], d["spec"]["strategy"]
    obj, errs = create(s, d)
    assert errs == []
    assert obj["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert obj["spec"]["revisionHistoryLimit"] == 10
    d["spec"]["updateStrategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0},
    }
    assert messages(create(s, d)[1]) == [
        "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"
    ]


def test_replicaset_and_controller_revision() -> None:
    rs = deployment()
    rs["kind"] = "ReplicaSet"
    del rs["spec"]["strategy"]
    rs["spec"]["template"]["spec"]["activeDeadlineSeconds"] = 5
    assert messages(create(strategy("apps", "ReplicaSet"), rs)[1]) == [
        "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in "
        "ReplicaSet is not Supported"
    ]
    s = strategy("apps", "ControllerRevision")
    old, errs = create(s, {"metadata": {"name": "r"}, "data": {"a": 1}, "revision": 1})
    assert errs == []
    new = copy.deepcopy(old)
    new["data"] = {"a": 2}
    assert messages(update(s, new, old)[1]) == ['data: Invalid value: {"a":2}: field is immutable']


def job(**spec: Any) -> dict[str, Any]:
    j: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi"},
        "spec": {
            "template": {
                "metadata": {},
                "spec": {
                    "containers": [{"name": "pi", "image": "perl:5.34", "resources": {}}],
                    "restartPolicy": "Never",
                },
            }
        },
    }
    j["spec"].update(spec)
    return j


def test_job_defaults_and_generated_selector() -> None:
    obj, errs = create(strategy("batch", "Job"), job())
    assert errs == []
    spec = obj["spec"]
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}}
    labels = {
        "batch.kubernetes.io/controller-uid": UID,
        "batch.kubernetes.io/job-name": "pi",
        "controller-uid": UID,
        "job-name": "pi",
    }
    assert spec["template"]["metadata"]["labels"] == labels
    assert obj["metadata"]["labels"] == labels
    for k, v in {
        "parallelism": 1,
        "completions": 1,
        "backoffLimit": 6,
        "completionMode": "NonIndexed",
        "suspend": False,
        "manualSelector": False,
        "podReplacementPolicy": "TerminatingOrFailed",
    }.items():
        assert spec[k] == v, k


def test_job_parallelism_without_completions() -> None:
    obj, _ = create(strategy("batch", "Job"), job(parallelism=3))
    assert obj["spec"]["parallelism"] == 3 and "completions" not in obj["spec"]


JOB_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "restart policy Always",
        {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}},
        [
            'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: '
            '"OnFailure", "Never"'
        ],
    ),
    (
        "manual selector",
        {
            "manualSelector": True,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "c"}},
                "spec": {"containers": [{"name": "c", "image": "x"}], "restartPolicy": "Never"},
            },
        },
        [
            'spec.template.metadata.labels: Invalid value: {"a":"c"}: `selector` does not match '
            "template `labels`"
        ],
    ),
    (
        "indexed without completions",
        {"completionMode": "Indexed", "parallelism": 2},
        ["spec.completions: Required value: when completion mode is Indexed"],
    ),
    (
        "negative backoff",
        {"backoffLimit": -1},
        ["spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0"],
    ),
]


@pytest.mark.parametrize(
    ("spec", "want"), [c[1:] for c in JOB_CASES], ids=[c[0] for c in JOB_CASES]
)
def test_job_validation(spec: dict[str, Any], want: list[str]) -> None:
    _, errs = create(strategy("batch", "Job"), job(**spec))
    assert messages(errs) == want


def test_job_template_immutable() -> None:
    s = strategy("batch", "Job")
    old, _ = create(s, job())
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:5.36"
    errs = update(s, new, old)[1]
    assert [e.field for e in errs] == ["spec.template"]
    assert errs[0].message.endswith("field is immutable")
    new = copy.deepcopy(old)
    new["spec"]["completions"] = 2
    assert messages(update(s, new, old)[1]) == [
        "spec.completions: Invalid value: 2: field is immutable"
    ]


def cronjob(**spec: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "tick"},
        "spec": {
            "schedule": "*/5 * * * *",
            "jobTemplate": {
                "metadata": {},
                "spec": {
                    "template": {
                        "metadata": {},
                        "spec": {
                            "containers": [{"name": "t", "image": "busybox"}],
                            "restartPolicy": "OnFailure",
                        },
                    }
                },
            },
        },
    }
    c["spec"].update(spec)
    return c


def test_cronjob_defaults() -> None:
    obj, errs = create(strategy("batch", "CronJob"), cronjob())
    assert errs == []
    spec = obj["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"]) == ("Allow", False)
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    tspec = spec["jobTemplate"]["spec"]
    assert "parallelism" not in tspec  # SetDefaults_Job is not applied to templates
    assert tspec["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Always"


CRON_CASES: list[tuple[str, str, list[str]]] = [
    ("macro", "@hourly", []),
    ("names", "0 9 * jan-mar mon-fri", []),
    ("every", "@every 1h30m", []),
    (
        "fields",
        "* * *",
        ['spec.schedule: Invalid value: "* * *": expected exactly 5 fields, found 3: [* * *]'],
    ),
    (
        "range",
        "61 * * * *",
        ['spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61'],
    ),
    (
        "junk",
        "x * * * *",
        [
            'spec.schedule: Invalid value: "x * * * *": failed to parse int from x: '
            'strconv.Atoi: parsing "x": invalid syntax'
        ],
    ),
    (
        "descriptor",
        "@fortnightly",
        ['spec.schedule: Invalid value: "@fortnightly": unrecognized descriptor: @fortnightly'],
    ),
    (
        "TZ",
        "TZ=UTC 0 * * * *",
        [
            'spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in '
            "schedule, use timeZone field instead"
        ],
    ),
]


@pytest.mark.parametrize(
    ("schedule", "want"), [c[1:] for c in CRON_CASES], ids=[c[0] for c in CRON_CASES]
)
def test_cronjob_schedule(schedule: str, want: list[str]) -> None:
    _, errs = create(strategy("batch", "CronJob"), cronjob(schedule=schedule))
    assert messages(errs) == want


def test_cronjob_time_zone_and_name() -> None:
    s = strategy("batch", "CronJob")
    assert create(s, cronjob(timeZone="Europe/Paris"))[1] == []
    assert messages(create(s, cronjob(timeZone="Mars/Olympus"))[1]) == [
        'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus'
    ]
    long = cronjob()
    long["metadata"]["name"] = "a" * 53
    assert messages(create(s, long)[1]) == [
        f'metadata.name: Invalid value: "{"a" * 53}": must be no more than 52 characters'
    ]


def test_status_count_bounds() -> None:
    # unavailableReplicas counts pods the ReplicaSets want but lack: not bounded
    d = strategy("apps", "Deployment")
    old = deployment(replicas=10)
    new = copy.deepcopy(old)
    new["status"] = {"replicas": 2, "unavailableReplicas": 10, "readyReplicas": 1}
    assert d.validate_status_update(new, old) == []
    new["status"].update(availableReplicas=2)
    assert messages(d.validate_status_update(new, old)) == [
        "status.availableReplicas: Invalid value: 2: cannot be greater than readyReplicas"
    ]
    rs = strategy("apps", "ReplicaSet")
    new["status"] = {"replicas": 2, "readyReplicas": 3, "availableReplicas": 3}
    assert messages(rs.validate_status_update(new, old)) == [
        "status.readyReplicas: Invalid value: 3: cannot be greater than status.replicas",
        "status.availableReplicas: Invalid value: 3: cannot be greater than status.replicas",
    ]
    new["status"] = {"replicas": 3, "readyReplicas": 1, "availableReplicas": 2}
    assert messages(rs.validate_status_update(new, old)) == [
        "status.availableReplicas: Invalid value: 2: cannot be greater than readyReplicas"
    ]
