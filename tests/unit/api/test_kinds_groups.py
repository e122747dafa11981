"""The non-core API groups: declarations, resource facts, table cells and
version conversions."""

from __future__ import annotations

import copy
import importlib
import importlib.util
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pinnace.api.conversion.autoscaling import (
    BEHAVIOR_ANNOTATION,
    CONDITIONS_ANNOTATION,
    CURRENT_METRICS_ANNOTATION,
    METRICS_ANNOTATION,
    hpa_v1_to_v2,
    hpa_v2_to_v1,
)
from pinnace.api.conversion.events import core_to_events_v1, events_v1_to_core
from pinnace.api.schema import REGISTRY, Column, Resource

GROUP_MODULES = (
    "apps",
    "batch",
    "autoscaling",
    "networking",
    "rbac",
    "coordination",
    "discovery",
    "policy",
    "storage",
    "events",
)
PACKAGES = (
    "io.k8s.api.apps.v1",
    "io.k8s.api.batch.v1",
    "io.k8s.api.autoscaling.v1",
    "io.k8s.api.autoscaling.v2",
    "io.k8s.api.networking.v1",
    "io.k8s.api.rbac.v1",
    "io.k8s.api.coordination.v1",
    "io.k8s.api.discovery.v1",
    "io.k8s.api.policy.v1",
    "io.k8s.api.storage.v1",
    "io.k8s.api.events.v1",
)
# structs of these packages declared elsewhere (with the core kinds)
NOT_OURS = {
    "io.k8s.api.autoscaling.v1.Scale",
    "io.k8s.api.autoscaling.v1.ScaleSpec",
    "io.k8s.api.autoscaling.v1.ScaleStatus",
    "io.k8s.api.policy.v1.Eviction",
}

HAVE_CORE = importlib.util.find_spec("pinnace.api.kinds.core") is not None

for _m in GROUP_MODULES:
    importlib.import_module(f"pinnace.api.kinds.{_m}")


def resources() -> list[Resource]:
    out: list[Resource] = []
    for m in GROUP_MODULES:
        out.extend(importlib.import_module(f"pinnace.api.kinds.{m}").RESOURCES)
    return out


def resource(group: str, version: str, plural: str) -> Resource:
    for r in resources():
        if (r.group, r.version, r.plural) == (group, version, plural):
            return r
    raise KeyError(plural)


def our_structs() -> list[Any]:
    return [
        s
        for name, s in REGISTRY.structs.items()
        if name.rsplit(".", 1)[0] in PACKAGES and name not in NOT_OURS
    ]


def ago(**kw: float) -> str:
    t = datetime.now(UTC) - timedelta(**kw)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def cells(r: Resource, obj: dict[str, Any], *, wide: bool = False) -> list[Any]:
    return [c.cell(obj) for c in r.columns if wide or c.priority == 0]


def headers(r: Resource, *, wide: bool = False) -> list[str]:
    return [c.name.upper() for c in r.columns if wide or c.priority == 0]


# -- declarations ----------------------------------------------------------------


@pytest.mark.skipif(not HAVE_CORE, reason="core kinds not declared yet")
def test_catalog_loads_and_resolves() -> None:
    from pinnace.api.resources import catalog

    cat = catalog()
    for r in resources():
        assert cat.by_plural(r.group, r.version, r.plural) is r
        assert r.schema in REGISTRY.structs
    groups = dict(cat.groups())
    assert groups["autoscaling"] == ["v2", "v1"]  # v2 preferred
    for s in our_structs():
        for f in s.fields.values():
            assert f.type.kind in ("primitive", "list", "map", "struct")


def test_every_struct_has_nonzero_unique_proto_numbers() -> None:
    structs = our_structs()
    assert len(structs) > 100
    for s in structs:
        assert s.description, s.full_name
        numbers = []
        for f in s.fields.values():
            assert f.description, f"{s.full_name}.{f.name}"
            if f.name in ("apiVersion", "kind") and s.gvk is not None:
                assert f.proto == 0  # TypeMeta is not in the protobuf message
                continue
            assert f.proto > 0, f"{s.full_name}.{f.name}"
            # fields flattened from an embedded message share its number
            numbers.append((f.proto_embed, f.proto))
        assert len(numbers) == len(set(numbers)), s.full_name


def test_kinds_and_lists_carry_gvk() -> None:
    for r in resources():
        kind = REGISTRY.structs[r.schema]
        assert kind.gvk == (r.group, r.version, r.kind)
        assert list(kind.fields)[:3] == ["apiVersion", "kind", "metadata"]
        lst = REGISTRY.structs[r.schema + "List"]
        assert lst.gvk == (r.group, r.version, r.kind + "List")
        assert lst.fields["items"].required


def test_upstream_facts_spot_checks() -> None:
    s = REGISTRY.structs
    spec = s["io.k8s.api.apps.v1.DeploymentSpec"].fields
    assert spec["selector"].required and spec["template"].required
    assert (spec["progressDeadlineSeconds"].proto, spec["strategy"].patch_strategy) == (
        9,
        "retainKeys",
    )
    cond = s["io.k8s.api.apps.v1.DeploymentStatus"].fields["conditions"]
    assert (cond.merge_key, cond.patch_strategy, cond.list_type) == ("type", "merge", "map")
    assert s["io.k8s.api.apps.v1.DeploymentCondition"].fields["lastUpdateTime"].proto == 6
    job_cond = s["io.k8s.api.batch.v1.JobStatus"].fields["conditions"]
    assert (job_cond.merge_key, job_cond.list_type) == ("type", "atomic")
    assert s["io.k8s.api.batch.v1.JobSpec"].fields["successPolicy"].proto == 16
    assert s["io.k8s.api.rbac.v1.PolicyRule"].fields["verbs"].required
    assert all(f.required for f in s["io.k8s.api.rbac.v1.RoleRef"].fields.values())
    subject = s["io.k8s.api.rbac.v1.Subject"]
    assert subject.fields["kind"].required and subject.fields["name"].required
    assert subject.map_type == "atomic"
    assert s["io.k8s.api.policy.v1.PodDisruptionBudgetSpec"].fields["selector"].patch_strategy == (
        "replace"
    )


def test_resource_facts() -> None:
    expect = {
        ("apps", "deployments"): (("deploy",), ("all",), ("status", "scale")),
        ("apps", "replicasets"): (("rs",), ("all",), ("status", "scale")),
        ("apps", "statefulsets"): (("sts",), ("all",), ("status", "scale")),
        ("apps", "daemonsets"): (("ds",), ("all",), ("status",)),
        ("apps", "controllerrevisions"): ((), (), ()),
        ("batch", "jobs"): ((), ("all",), ("status",)),
        ("batch", "cronjobs"): (("cj",), ("all",), ("status",)),
        ("networking.k8s.io", "ingresses"): (("ing",), (), ("status",)),
        ("networking.k8s.io", "networkpolicies"): (("netpol",), (), ()),
        ("policy", "poddisruptionbudgets"): (("pdb",), (), ("status",)),
        ("storage.k8s.io", "storageclasses"): (("sc",), (), ()),
        ("coordination.k8s.io", "leases"): ((), (), ()),
        ("events.k8s.io", "events"): (("ev",), (), ()),
    }
    for (group, plural), (short, cats, subs) in expect.items():
        r = resource(group, "v1", plural)
        assert (r.short_names, r.categories, r.subresources) == (short, cats, subs), plural
    for version in ("v1", "v2"):
        hpa = resource("autoscaling", version, "horizontalpodautoscalers")
        assert (hpa.short_names, hpa.categories, hpa.storage_version) == (("hpa",), ("all",), "v2")
    assert not resource("rbac.authorization.k8s.io", "v1", "clusterroles").namespaced
    assert not resource("storage.k8s.io", "v1", "storageclasses").namespaced
    assert resource("events.k8s.io", "v1", "events").storage_resource == "events"
    rs = resource("apps", "v1", "replicasets")
    assert rs.field_selectors["status.replicas"]({"status": {"replicas": 3}}) == "3"
    jobs = resource("batch", "v1", "jobs")
    assert jobs.field_selectors["status.successful"]({"status": {}}) == "0"


# -- table cells -------------------------------------------------------------------

POD_SPEC = {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}


def test_progressing_deployment() -> None:
    r = resource("apps", "v1", "deployments")
    obj = {
        "metadata": {"name": "web", "creationTimestamp": ago(minutes=25, seconds=10)},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": POD_SPEC},
        },
        "status": {"replicas": 3, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2},
    }
    assert headers(r) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert headers(r, wide=True)[5:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert cells(r, obj, wide=True) == ["web", "2/3", 2, 2, "25m", "nginx", "nginx:1.27", "app=web"]
    assert cells(r, {"metadata": {"name": "new"}, "spec": {"replicas": 1}})[1:4] == ["0/1", 0, 0]


def test_workload_columns() -> None:
    rs = resource("apps", "v1", "replicasets")
    obj = {
        "metadata": {"name": "web-5d4f", "creationTimestamp": ago(hours=3, minutes=1)},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"replicas": 3, "readyReplicas": 1},
    }
    assert headers(rs) == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert cells(rs, obj) == ["web-5d4f", 3, 3, 1, "3h1m"]

    sts = resource("apps", "v1", "statefulsets")
    assert headers(sts, wide=True) == ["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]

    ds = resource("apps", "v1", "daemonsets")
    assert headers(ds) == [
        "NAME",
        "DESIRED",
        "CURRENT",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "NODE SELECTOR",
        "AGE",
    ]
    dobj = {
        "metadata": {"name": "proxy", "creationTimestamp": ago(days=3, hours=2, minutes=5)},
        "spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}}}},
        "status": {
            "desiredNumberScheduled": 2,
            "currentNumberScheduled": 2,
            "numberReady": 2,
            "updatedNumberScheduled": 2,
            "numberAvailable": 2,
        },
    }
    assert cells(ds, dobj) == ["proxy", 2, 2, 2, 2, 2, "kubernetes.io/os=linux", "3d2h"]

    cr = resource("apps", "v1", "controllerrevisions")
    robj = {
        "metadata": {
            "name": "proxy-7f9c",
            "creationTimestamp": ago(minutes=40, seconds=5),
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "proxy", "controller": True}
            ],
        },
        "revision": 2,
    }
    assert headers(cr) == ["NAME", "CONTROLLER", "REVISION", "AGE"]
    assert cells(cr, robj) == ["proxy-7f9c", "daemonset.apps/proxy", 2, "40m"]


def test_completed_job() -> None:
    r = resource("batch", "v1", "jobs")
    obj = {
        "metadata": {"name": "pi", "creationTimestamp": ago(minutes=12, seconds=30)},
        "spec": {
            "completions": 1,
            "parallelism": 1,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "4f1c"}},
            "template": {"spec": {"containers": [{"name": "pi", "image": "perl:5.34"}]}},
        },
        "status": {
            "startTime": "2025-01-01T10:00:00Z",
            "completionTime": "2025-01-01T10:00:42Z",
            "succeeded": 1,
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True"},
                {"type": "Complete", "status": "True"},
            ],
        },
    }
    assert headers(r) == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert cells(r, obj, wide=True) == [
        "pi",
        "Complete",
        "1/1",
        "42s",
        "12m",
        "pi",
        "perl:5.34",
        "batch.kubernetes.io/controller-uid=4f1c",
    ]


def test_running_and_failed_jobs() -> None:
    r = resource("batch", "v1", "jobs")
    running = {
        "metadata": {"name": "work", "creationTimestamp": ago(minutes=30, seconds=20)},
        "spec": {"parallelism": 3},
        "status": {"startTime": ago(minutes=30, seconds=20), "succeeded": 1, "active": 2},
    }
    assert cells(r, running) == ["work", "Running", "1/1 of 3", "30m", "30m"]
    failed = {
        "metadata": {"name": "bad"},
        "spec": {"completions": 2},
        "status": {"conditions": [{"type": "Failed", "status": "True"}]},
    }
    assert cells(r, failed)[1:4] == ["Failed", "0/2", ""]
    suspended = {
        "metadata": {"name": "s"},
        "status": {"conditions": [{"type": "Suspended", "status": "True"}]},
    }
    assert cells(r, suspended)[1] == "Suspended"


def test_suspended_cronjob() -> None:
    r = resource("batch", "v1", "cronjobs")
    obj: dict[str, Any] = {
        "metadata": {"name": "hello", "creationTimestamp": ago(hours=5, minutes=30, seconds=10)},
        "spec": {
            "schedule": "*/5 * * * *",
            "suspend": True,
            "jobTemplate": {"spec": {"template": {"spec": POD_SPEC}}},
        },
        "status": {},
    }
    assert headers(r) == [
        "NAME",
        "SCHEDULE",
        "TIMEZONE",
        "SUSPEND",
        "ACTIVE",
        "LAST SCHEDULE",
        "AGE",
    ]
    assert cells(r, obj, wide=True) == [
        "hello",
        "*/5 * * * *",
        "<none>",
        "True",
        0,
        "<none>",
        "5h30m",
        "nginx",
        "nginx:1.27",
        "<none>",
    ]
    obj["spec"] |= {"suspend": False, "timeZone": "Etc/UTC"}
    obj["status"] = {"active": [{"name": "hello-1"}], "lastScheduleTime": ago(seconds=70)}
    assert cells(r, obj)[2:6] == ["Etc/UTC", "False", 1, "70s"]


def test_hpa_with_cpu_target() -> None:
    r = resource("autoscaling", "v2", "horizontalpodautoscalers")
    obj: dict[str, Any] = {
        "apiVersion": "autoscaling/v2",
        "metadata": {"name": "web", "creationTimestamp": ago(minutes=15, seconds=5)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50},
                    },
                }
            ],
        },
        "status": {
            "currentReplicas": 2,
            "desiredReplicas": 2,
            "currentMetrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "current": {"averageUtilization": 12}},
                }
            ],
        },
    }
    assert headers(r) == [
        "NAME",
        "REFERENCE",
        "TARGETS",
        "MINPODS",
        "MAXPODS",
        "REPLICAS",
        "AGE",
    ]
    assert cells(r, obj) == ["web", "Deployment/web", "cpu: 12%/50%", 1, 10, 2, "15m"]
    # the same object read as v1 prints the same
    v1 = resource("autoscaling", "v1", "horizontalpodautoscalers")
    assert cells(v1, hpa_v2_to_v1(obj)) == cells(r, obj)
    # no status yet, no minReplicas, several metrics
    obj["spec"].pop("minReplicas")
    obj.pop("status")
    obj["spec"]["metrics"] += [
        {
            "type": "Resource",
            "resource": {
                "name": "memory",
                "target": {"type": "AverageValue", "averageValue": "500Mi"},
            },
        },
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "qps"},
                "target": {"type": "AverageValue", "averageValue": "1k"},
            },
        },
    ]
    assert cells(r, obj)[2:4] == [
        "cpu: <unknown>/50%, memory: <unknown>/500Mi + 1 more...",
        "<unset>",
    ]


def test_other_columns() -> None:
    ing = resource("networking.k8s.io", "v1", "ingresses")
    obj = {
        "metadata": {"name": "site", "creationTimestamp": ago(minutes=20, seconds=1)},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}],
            "tls": [{"hosts": ["a.example.com"]}],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.9"}, {"hostname": "lb.example"}]}},
    }
    assert headers(ing) == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert cells(ing, obj) == [
        "site",
        "nginx",
        "a.example.com,b.example.com",
        "10.0.0.9,lb.example",
        "80, 443",
        "20m",
    ]
    assert cells(ing, {"metadata": {"name": "x"}, "spec": {}})[1:5] == ["<none>", "*", "", "80"]

    role = resource("rbac.authorization.k8s.io", "v1", "roles")
    assert headers(role) == ["NAME", "CREATED AT"]
    assert cells(
        role, {"metadata": {"name": "r", "creationTimestamp": "2025-03-04T05:06:07Z"}}
    ) == [
        "r",
        "2025-03-04T05:06:07Z",
    ]
    rb = resource("rbac.authorization.k8s.io", "v1", "rolebindings")
    binding = {
        "metadata": {"name": "b", "creationTimestamp": ago(minutes=50, seconds=3)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"kind": "User", "name": "alice"},
            {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
            {"kind": "User", "name": "bob"},
        ],
    }
    assert headers(rb, wide=True) == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert cells(rb, binding, wide=True) == [
        "b",
        "ClusterRole/view",
        "50m",
        "alice, bob",
        "devs",
        "tools/ci",
    ]

    lease = resource("coordination.k8s.io", "v1", "leases")
    assert headers(lease) == ["NAME", "HOLDER", "AGE"]
    assert cells(lease, {"metadata": {"name": "n1"}, "spec": {"holderIdentity": "n1"}})[:2] == [
        "n1",
        "n1",
    ]

    eps = resource("discovery.k8s.io", "v1", "endpointslices")
    slice_ = {
        "metadata": {"name": "web-abc"},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        "endpoints": [{"addresses": [f"10.1.0.{i}"]} for i in range(1, 6)],
    }
    assert headers(eps) == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert cells(eps, slice_)[:4] == [
        "web-abc",
        "IPv4",
        "80",
        "10.1.0.1,10.1.0.2,10.1.0.3 + 2 more...",
    ]
    assert cells(eps, {"metadata": {"name": "e"}, "addressType": "IPv4", "endpoints": []})[2:4] == [
        "<unset>",
        "<unset>",
    ]

    pdb = resource("policy", "v1", "poddisruptionbudgets")
    assert headers(pdb) == [
        "NAME",
        "MIN AVAILABLE",
        "MAX UNAVAILABLE",
        "ALLOWED DISRUPTIONS",
        "AGE",
    ]
    pobj = {
        "metadata": {"name": "p"},
        "spec": {"minAvailable": "50%"},
        "status": {"disruptionsAllowed": 1},
    }
    assert cells(pdb, pobj)[:4] == ["p", "50%", "N/A", 1]

    sc = resource("storage.k8s.io", "v1", "storageclasses")
    assert headers(sc) == [
        "NAME",
        "PROVISIONER",
        "RECLAIMPOLICY",
        "VOLUMEBINDINGMODE",
        "ALLOWVOLUMEEXPANSION",
        "AGE",
    ]
    sobj = {
        "metadata": {
            "name": "local-path",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "rancher.io/local-path",
        "volumeBindingMode": "WaitForFirstConsumer",
    }
    assert cells(sc, sobj)[:5] == [
        "local-path (default)",
        "rancher.io/local-path",
        "Delete",
        "WaitForFirstConsumer",
        False,
    ]


def test_columns_are_well_formed() -> None:
    for r in resources():
        assert r.columns, r.plural
        names = [c.name for c in r.columns]
        assert len(names) == len(set(names)), r.plural
        assert sum(1 for c in r.columns if c.format == "name") == 1, r.plural
        for c in r.columns:
            assert isinstance(c, Column)
            assert c.type in ("string", "integer", "number", "boolean", "date")
            assert c.priority in (0, 1)
            c.cell({})  # never raises on an empty object


# -- conversions -------------------------------------------------------------------

HPA_V2: dict[str, Any] = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web", "namespace": "default", "annotations": {"team": "a"}},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 2,
        "maxReplicas": 8,
        "metrics": [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "qps"},
                    "target": {"type": "AverageValue", "averageValue": "1k"},
                },
            },
            {
                "type": "External",
                "external": {
                    "metric": {"name": "queue", "selector": {"matchLabels": {"q": "jobs"}}},
                    "target": {"type": "Value", "value": "30"},
                },
            },
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 60},
                },
            },
        ],
        "behavior": {
            "scaleDown": {
                "stabilizationWindowSeconds": 300,
                "selectPolicy": "Max",
                "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
            }
        },
    },
    "status": {
        "currentReplicas": 3,
        "desiredReplicas": 4,
        "currentMetrics": [
            {
                "type": "Pods",
                "pods": {"metric": {"name": "qps"}, "current": {"averageValue": "900"}},
            },
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "current": {"averageUtilization": 71, "averageValue": "140m"},
                },
            },
        ],
        "conditions": [
            {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
        ],
    },
}


def test_hpa_v2_to_v1_to_v2_round_trips() -> None:
    original = copy.deepcopy(HPA_V2)
    v1 = hpa_v2_to_v1(HPA_V2)
    assert HPA_V2 == original  # pure
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"] == {
        "scaleTargetRef": HPA_V2["spec"]["scaleTargetRef"],
        "minReplicas": 2,
        "maxReplicas": 8,
        "targetCPUUtilizationPercentage": 60,
    }
    assert v1["status"] == {
        "currentReplicas": 3,
        "desiredReplicas": 4,
        "currentCPUUtilizationPercentage": 71,
    }
    ann = v1["metadata"]["annotations"]
    assert ann["team"] == "a"
    assert ann[METRICS_ANNOTATION] == (
        '[{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"1k"}},'
        '{"type":"External","external":{"metricName":"queue","metricSelector":'
        '{"matchLabels":{"q":"jobs"}},"targetValue":"30"}}]'
    )
    assert '"currentAverageUtilization":71' in ann[CURRENT_METRICS_ANNOTATION]
    assert ann[BEHAVIOR_ANNOTATION] == (
        '{"ScaleUp":null,"ScaleDown":{"StabilizationWindowSeconds":300,"SelectPolicy":"Max",'
        '"Policies":[{"Type":"Percent","Value":100,"PeriodSeconds":15}]}}'
    )
    assert CONDITIONS_ANNOTATION in ann
    assert hpa_v1_to_v2(v1) == HPA_V2  # the CPU target sits last, as upstream appends it


def test_hpa_v1_to_v2_cpu_only() -> None:
    v1 = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "maxReplicas": 5,
            "targetCPUUtilizationPercentage": 80,
        },
        "status": {
            "currentReplicas": 1,
            "desiredReplicas": 1,
            "currentCPUUtilizationPercentage": 33,
        },
    }
    v2 = hpa_v1_to_v2(v1)
    assert v2["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80},
            },
        }
    ]
    assert v2["status"]["currentMetrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 33}}}
    ]
    assert "annotations" not in v2["metadata"]
    back = hpa_v2_to_v1(v2)
    # like upstream, the status metrics always travel in an annotation too
    assert back["metadata"].pop("annotations") == {
        CURRENT_METRICS_ANNOTATION: (
            '[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":33}}]'
        )
    }
    assert back == v1


def test_event_conversion_round_trips() -> None:
    core = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "web.17a", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default", "uid": "u1"},
        "reason": "Pulled",
        "message": "Container image pulled",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2025-01-01T00:00:00Z",
        "lastTimestamp": "2025-01-01T00:05:00Z",
        "count": 3,
        "type": "Normal",
        "eventTime": None,
        "reportingComponent": "kubelet",
        "reportingInstance": "node-1",
    }
    new = core_to_events_v1(core)
    assert new["apiVersion"] == "events.k8s.io/v1"
    assert new["note"] == "Container image pulled"
    assert new["regarding"]["name"] == "web-1"
    assert new["deprecatedSource"] == {"component": "kubelet", "host": "node-1"}
    assert (new["deprecatedCount"], new["reportingController"]) == (3, "kubelet")
    assert "message" not in new and "involvedObject" not in new
    assert events_v1_to_core(new) == core

    ev = resource("events.k8s.io", "v1", "events")
    assert headers(ev) == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert cells(ev, new)[1:] == ["Normal", "Pulled", "pod/web-1", "Container image pulled"]
    row = cells(ev, new, wide=True)
    assert row[5] == "kubelet, node-1"  # SOURCE (wide)
    assert row[8:] == [3, "web.17a"]
    assert ev.field_selectors["regarding.name"](new) == "web-1"
