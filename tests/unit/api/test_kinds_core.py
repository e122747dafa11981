"""Tests for the meta and core/v1 schema declarations and the core Table printers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pinnace.api.kinds import core, meta
from pinnace.api.printers import (
    age,
    format_label_selector,
    format_labels,
    human_duration,
    short_human_duration,
    translate_timestamp_since,
)
from pinnace.api.printers import core as p
from pinnace.api.resources import catalog
from pinnace.api.schema import CORE, META, REGISTRY, Resource, Struct

POLICY = "io.k8s.api.policy.v1"
AUTOSCALING = "io.k8s.api.autoscaling.v1"
OWN_PACKAGES = (META, CORE, POLICY, AUTOSCALING)


def ts(delta: timedelta = timedelta()) -> str:
    """An RFC 3339 timestamp ``delta`` in the past."""
    return (datetime.now(UTC) - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def own_structs() -> list[Struct]:
    catalog()
    return [s for s in REGISTRY.structs.values() if s.package in OWN_PACKAGES]


def resource(plural: str) -> Resource:
    r = catalog().by_plural("", "v1", plural)
    assert r is not None, plural
    return r


def cells(plural: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {c.name: c.cell(obj) for c in resource(plural).columns}


# ---------------------------------------------------------------------------
# Schema


def test_catalog_loads_and_every_type_resolves() -> None:
    catalog()
    REGISTRY.resolve()
    assert len(own_structs()) > 200
    for s in own_structs():
        for f in s.fields.values():
            assert f.type is not None


def test_every_field_has_a_proto_number_except_type_meta() -> None:
    for s in own_structs():
        for f in s.fields.values():
            if f.name in ("apiVersion", "kind") and f.proto == 0:
                assert s.gvk is not None or s.name in ("Status", "DeleteOptions"), s.full_name
                continue
            assert f.proto > 0, f"{s.full_name}.{f.name}"


def test_no_duplicate_proto_numbers_within_a_struct() -> None:
    for s in own_structs():
        seen: dict[tuple[int, int], str] = {}
        for f in s.fields.values():
            if f.proto == 0:
                continue
            key = (f.proto_embed, f.proto)
            assert key not in seen, f"{s.full_name}: {f.name} and {seen[key]} share {key}"
            seen[key] = f.name


def test_descriptions_are_present() -> None:
    for s in own_structs():
        assert s.description and "TODO" not in s.description, s.full_name
        for f in s.fields.values():
            assert f.description and "TODO" not in f.description, f"{s.full_name}.{f.name}"


def test_kinds_carry_gvk_and_type_meta() -> None:
    for r in core.RESOURCES:
        s = REGISTRY.get(r.schema)
        assert s.gvk == (r.group, r.version, r.kind)
        assert {"apiVersion", "kind", "metadata"} <= set(s.fields)
        assert s.fields["metadata"].proto == 1
        if r.verbs != ("create",):
            lst = REGISTRY.get(f"{CORE}.{r.kind}List")
            assert lst.gvk == ("", "v1", f"{r.kind}List")
            assert lst.fields["metadata"].type_expr == "ListMeta"
            assert lst.fields["items"].type_expr == f"[]{r.kind}"
    assert REGISTRY.get(f"{POLICY}.Eviction").gvk == ("policy", "v1", "Eviction")
    assert REGISTRY.get(f"{AUTOSCALING}.Scale").gvk == ("autoscaling", "v1", "Scale")
    assert REGISTRY.get(f"{META}.Status").gvk == ("", "v1", "Status")


@pytest.mark.parametrize(
    ("struct_name", "field_name", "merge_key", "strategy", "map_keys"),
    [
        ("PodSpec", "containers", "name", "merge", ("name",)),
        ("PodSpec", "initContainers", "name", "merge", ("name",)),
        ("PodSpec", "ephemeralContainers", "name", "merge", ("name",)),
        ("PodSpec", "volumes", "name", "merge,retainKeys", ("name",)),
        ("PodSpec", "imagePullSecrets", "name", "merge", ("name",)),
        ("PodSpec", "hostAliases", "ip", "merge", ("ip",)),
        (
            "PodSpec",
            "topologySpreadConstraints",
            "topologyKey",
            "merge",
            ("topologyKey", "whenUnsatisfiable"),
        ),
        ("Container", "env", "name", "merge", ("name",)),
        ("Container", "ports", "containerPort", "merge", ("containerPort", "protocol")),
        ("Container", "volumeMounts", "mountPath", "merge", ("mountPath",)),
        ("EphemeralContainer", "env", "name", "merge", ("name",)),
        ("PodStatus", "conditions", "type", "merge", ("type",)),
        ("ServiceSpec", "ports", "port", "merge", ("port", "protocol")),
        ("NodeStatus", "conditions", "type", "merge", ("type",)),
        ("NodeStatus", "addresses", "type", "merge", ("type",)),
    ],
)
def test_core_merge_metadata(
    struct_name: str, field_name: str, merge_key: str, strategy: str, map_keys: tuple[str, ...]
) -> None:
    f = REGISTRY.get(f"{CORE}.{struct_name}").fields[field_name]
    assert f.merge_key == merge_key
    assert f.patch_strategy == strategy
    assert f.list_type == "map"
    assert f.list_map_keys == map_keys


def test_meta_merge_metadata_and_atomic_lists() -> None:
    om = REGISTRY.get(f"{META}.ObjectMeta").fields
    assert om["ownerReferences"].merge_key == "uid"
    assert om["ownerReferences"].patch_strategy == "merge"
    assert om["finalizers"].patch_strategy == "merge"
    assert om["finalizers"].list_type == "set"
    assert om["creationTimestamp"].proto == 8
    assert om["managedFields"].proto == 17
    spec = REGISTRY.get(f"{CORE}.PodSpec").fields
    assert spec["tolerations"].list_type == "atomic"
    assert spec["tolerations"].merge_key is None
    assert REGISTRY.get(f"{CORE}.NodeSpec").fields["taints"].list_type == "atomic"


def test_required_fields() -> None:
    for name, fld in [
        ("Container", "name"),
        ("EnvVar", "name"),
        ("Volume", "name"),
        ("ServicePort", "port"),
        ("ContainerPort", "containerPort"),
        ("PodSpec", "containers"),
        ("KeyToPath", "key"),
        ("Taint", "effect"),
    ]:
        assert REGISTRY.get(f"{CORE}.{name}").fields[fld].required, (name, fld)
    for fld in ("apiVersion", "kind", "name", "uid"):
        assert REGISTRY.get(f"{META}.OwnerReference").fields[fld].required
    assert not REGISTRY.get(f"{CORE}.Container").fields["image"].required


def test_inline_embeddings_are_flattened_with_proto_embed() -> None:
    volume = REGISTRY.get(f"{CORE}.Volume").fields
    assert volume["name"].proto == 1 and volume["name"].proto_embed == 0
    assert (volume["configMap"].proto_embed, volume["configMap"].proto) == (2, 19)
    probe = REGISTRY.get(f"{CORE}.Probe").fields
    assert (probe["httpGet"].proto_embed, probe["httpGet"].proto) == (1, 2)
    eph = REGISTRY.get(f"{CORE}.EphemeralContainer").fields
    assert (eph["image"].proto_embed, eph["image"].proto) == (1, 2)
    assert eph["targetContainerName"].proto_embed == 0
    pv = REGISTRY.get(f"{CORE}.PersistentVolumeSpec").fields
    assert (pv["csi"].proto_embed, pv["csi"].proto) == (2, 22)
    sel = REGISTRY.get(f"{CORE}.SecretKeySelector").fields
    assert (sel["name"].proto_embed, sel["name"].proto) == (1, 1)


def test_simple_defaults() -> None:
    spec = REGISTRY.get(f"{CORE}.PodSpec").fields
    assert spec["restartPolicy"].default == "Always"
    assert spec["terminationGracePeriodSeconds"].default == 30
    assert REGISTRY.get(f"{CORE}.ServicePort").fields["protocol"].default == "TCP"
    assert REGISTRY.get(f"{CORE}.Probe").fields["periodSeconds"].default == 10


def test_resource_facts() -> None:
    assert resource("pods").short_names == ("po",)
    assert resource("pods").categories == ("all",)
    assert "eviction" in resource("pods").subresources
    assert resource("replicationcontrollers").subresources == ("scale", "status")
    assert resource("bindings").verbs == ("create",)
    assert "deletecollection" not in resource("namespaces").verbs
    assert not resource("nodes").namespaced
    assert resource("resourcequotas").short_names == ("quota",)
    assert resource("limitranges").short_names == ("limits",)
    assert meta.RESOURCES == []
    assert core.SUBRESOURCE_SCHEMAS[("pods", "eviction")] == f"{POLICY}.Eviction"


def test_field_selectors() -> None:
    pod = {
        "spec": {"nodeName": "n1"},
        "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}]},
    }
    fs = resource("pods").field_selectors
    assert fs["spec.nodeName"](pod) == "n1"
    assert fs["spec.hostNetwork"](pod) == "false"
    assert fs["status.phase"](pod) == "Running"
    assert fs["status.podIP"](pod) == "10.0.0.5"
    ev = {"involvedObject": {"kind": "Pod", "name": "p"}, "source": {"component": "kubelet"}}
    efs = resource("events").field_selectors
    assert efs["involvedObject.kind"](ev) == "Pod"
    assert efs["source"](ev) == "kubelet"
    assert resource("nodes").field_selectors["spec.unschedulable"]({"spec": {}}) == "false"
    assert (
        resource("replicationcontrollers").field_selectors["status.replicas"](
            {"status": {"replicas": 3}}
        )
        == "3"
    )


# ---------------------------------------------------------------------------
# Shared printer helpers


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (5, "5s"),
        (119, "119s"),
        (200, "3m20s"),
        (300, "5m"),
        (600, "10m"),
        (179 * 60, "179m"),
        (5 * 3600, "5h"),
        (5 * 3600 + 600, "5h10m"),
        (10 * 3600, "10h"),
        (3 * 86400, "3d"),
        (3 * 86400 + 4 * 3600, "3d4h"),
        (30 * 86400, "30d"),
        (2 * 365 * 86400, "2y"),
        (2 * 365 * 86400 + 40 * 86400, "2y40d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_short_human_duration() -> None:
    assert short_human_duration(59) == "59s"
    assert short_human_duration(3599) == "59m"
    assert short_human_duration(86400 * 3) == "3d"


def test_age_and_timestamps() -> None:
    assert age({"metadata": {"creationTimestamp": ts(timedelta(hours=5))}}) == "5h"
    assert age({"metadata": {}}) == "<unknown>"
    assert translate_timestamp_since("2024-01-01T00:00:00.123456789Z") != "<unknown>"
    now = datetime(2024, 1, 2, tzinfo=UTC)
    assert translate_timestamp_since("2024-01-01T00:00:00Z", now) == "24h"


def test_label_formatting() -> None:
    assert format_labels({"b": "2", "a": "1"}) == "a=1,b=2"
    assert format_labels({}) == "<none>"
    sel = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["b", "a"]},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    assert format_label_selector(sel) == "app=web,!legacy,tier in (a,b)"
    assert format_label_selector(None) == "<none>"


# ---------------------------------------------------------------------------
# Pods


def container_status(name: str, **kw: Any) -> dict[str, Any]:
    base = {"name": name, "ready": False, "restartCount": 0, "image": "nginx", "imageID": ""}
    base.update(kw)
    return base


def pod(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web-1",
            "namespace": "default",
            "creationTimestamp": ts(timedelta(minutes=12)),
        },
        "spec": {"containers": [{"name": "app", "image": "nginx"}], "nodeName": "node-a"},
        "status": status,
    }


def test_running_pod() -> None:
    obj = pod(
        phase="Running",
        podIP="10.244.0.7",
        podIPs=[{"ip": "10.244.0.7"}],
        conditions=[{"type": "Ready", "status": "True"}],
        containerStatuses=[
            container_status(
                "app", ready=True, started=True, state={"running": {"startedAt": ts()}}
            )
        ],
    )
    assert cells("pods", obj) == {
        "Name": "web-1",
        "Ready": "1/1",
        "Status": "Running",
        "Restarts": "0",
        "Age": "12m",
        "IP": "10.244.0.7",
        "Node": "node-a",
        "Nominated Node": "<none>",
        "Readiness Gates": "<none>",
    }


def test_crashlooping_pod() -> None:
    obj = pod(
        phase="Running",
        containerStatuses=[
            container_status(
                "app",
                restartCount=4,
                state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                lastState={
                    "terminated": {
                        "exitCode": 1,
                        "reason": "Error",
                        "finishedAt": ts(timedelta(minutes=20)),
                    }
                },
            )
        ],
    )
    c = cells("pods", obj)
    assert (c["Ready"], c["Status"], c["Restarts"]) == ("0/1", "CrashLoopBackOff", "4 (20m ago)")


def test_pending_pod_without_statuses() -> None:
    obj = pod(phase="Pending")
    obj["spec"].pop("nodeName")
    c = cells("pods", obj)
    assert (c["Ready"], c["Status"], c["Restarts"], c["Node"], c["IP"]) == (
        "0/1",
        "Pending",
        "0",
        "<none>",
        "<none>",
    )


def test_container_creating_pod() -> None:
    obj = pod(
        phase="Pending",
        containerStatuses=[
            container_status("app", state={"waiting": {"reason": "ContainerCreating"}})
        ],
    )
    assert cells("pods", obj)["Status"] == "ContainerCreating"


def init_pod(*init_statuses: dict[str, Any], conditions: list[Any] | None = None) -> dict[str, Any]:
    obj = pod(
        phase="Pending",
        conditions=conditions or [],
        initContainerStatuses=list(init_statuses),
        containerStatuses=[
            container_status("app", state={"waiting": {"reason": "PodInitializing"}})
        ],
    )
    obj["spec"]["initContainers"] = [
        {"name": "migrate", "image": "busybox"},
        {"name": "warm", "image": "busybox"},
    ]
    return obj


def test_pod_with_init_containers() -> None:
    done = container_status("migrate", state={"terminated": {"exitCode": 0, "reason": "Completed"}})
    running = container_status("warm", state={"running": {"startedAt": ts()}})
    assert cells("pods", init_pod(done, running))["Status"] == "Init:1/2"
    waiting = container_status("migrate", state={"waiting": {"reason": "PodInitializing"}})
    assert cells("pods", init_pod(waiting))["Status"] == "Init:0/2"
    crash = container_status(
        "migrate", restartCount=2, state={"waiting": {"reason": "CrashLoopBackOff"}}
    )
    c = cells("pods", init_pod(crash))
    assert (c["Status"], c["Restarts"]) == ("Init:CrashLoopBackOff", "2")
    failed = container_status("migrate", state={"terminated": {"exitCode": 3}})
    assert cells("pods", init_pod(failed))["Status"] == "Init:ExitCode:3"


def test_pod_with_sidecar_counts_it_in_ready() -> None:
    obj = pod(
        phase="Running",
        conditions=[{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
        initContainerStatuses=[
            container_status(
                "proxy", ready=True, started=True, state={"running": {"startedAt": ts()}}
            )
        ],
        containerStatuses=[
            container_status("app", ready=True, state={"running": {"startedAt": ts()}})
        ],
    )
    obj["spec"]["initContainers"] = [{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}]
    c = cells("pods", obj)
    assert (c["Ready"], c["Status"]) == ("2/2", "Running")


def test_terminating_and_completed_pods() -> None:
    obj = pod(
        phase="Running",
        containerStatuses=[
            container_status("app", ready=True, state={"running": {"startedAt": ts()}})
        ],
    )
    obj["metadata"]["deletionTimestamp"] = ts()
    assert cells("pods", obj)["Status"] == "Terminating"

    done = pod(
        phase="Succeeded",
        containerStatuses=[
            container_status("app", state={"terminated": {"exitCode": 0, "reason": "Completed"}})
        ],
    )
    assert cells("pods", done)["Status"] == "Completed"
    done["metadata"]["deletionTimestamp"] = ts()
    assert cells("pods", done)["Status"] == "Completed"

    evicted = pod(phase="Failed", reason="Evicted")
    assert cells("pods", evicted)["Status"] == "Evicted"


def test_pod_readiness_gates_and_nomination() -> None:
    obj = pod(
        phase="Pending",
        nominatedNodeName="node-b",
        conditions=[{"type": "example.com/lb", "status": "True"}],
    )
    obj["spec"]["readinessGates"] = [
        {"conditionType": "example.com/lb"},
        {"conditionType": "example.com/dns"},
    ]
    c = cells("pods", obj)
    assert (c["Nominated Node"], c["Readiness Gates"]) == ("node-b", "1/2")


def test_pod_scheduling_gated() -> None:
    obj = pod(
        phase="Pending",
        conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}],
    )
    assert cells("pods", obj)["Status"] == "SchedulingGated"


# ---------------------------------------------------------------------------
# Services, endpoints, nodes and the rest


def service(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "creationTimestamp": ts(timedelta(days=3))},
        "spec": spec,
    }


def test_service_with_node_ports() -> None:
    svc = service(
        type="NodePort",
        clusterIP="10.96.12.7",
        clusterIPs=["10.96.12.7"],
        selector={"app": "web"},
        ports=[
            {"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"},
            {"name": "dns", "port": 53, "protocol": "UDP"},
        ],
    )
    assert cells("services", svc) == {
        "Name": "web",
        "Type": "NodePort",
        "Cluster-IP": "10.96.12.7",
        "External-IP": "<none>",
        "Port(s)": "80:30080/TCP,53/UDP",
        "Age": "3d",
        "Selector": "app=web",
    }


def test_service_external_ip_variants() -> None:
    lb = service(
        type="LoadBalancer",
        clusterIPs=["10.96.0.9"],
        ports=[{"port": 443, "nodePort": 31443, "protocol": "TCP"}],
    )
    assert p.service_external_ip(lb) == "<pending>"
    lb["status"] = {
        "loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "lb.example"}]}
    }
    assert p.service_external_ip(lb) == "203.0.113.9,lb.example"
    ext = service(type="ExternalName", externalName="db.example.com")
    c = cells("services", ext)
    assert (c["Cluster-IP"], c["External-IP"], c["Port(s)"], c["Selector"]) == (
        "<none>",
        "db.example.com",
        "<none>",
        "<none>",
    )
    headless = service(type="ClusterIP", clusterIPs=["None"], externalIPs=["198.51.100.1"])
    assert cells("services", headless)["Cluster-IP"] == "None"
    assert cells("services", headless)["External-IP"] == "198.51.100.1"


def test_endpoints() -> None:
    ep = {
        "metadata": {"name": "web"},
        "subsets": [
            {
                "addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 5)],
                "ports": [{"port": 8080, "protocol": "TCP"}],
            }
        ],
    }
    assert p.endpoints_summary(ep) == "10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080 + 1 more..."
    assert p.endpoints_summary({"subsets": []}) == "<none>"
    v6 = {"subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]}
    assert p.endpoints_summary(v6) == "[fd00::1]:80"


def test_node() -> None:
    node = {
        "metadata": {
            "name": "cp-1",
            "creationTimestamp": ts(timedelta(days=40)),
            "labels": {
                "node-role.kubernetes.io/control-plane": "",
                "kubernetes.io/hostname": "cp-1",
            },
        },
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True"},
            ],
            "addresses": [
                {"type": "InternalIP", "address": "192.168.1.10"},
                {"type": "Hostname", "address": "cp-1"},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.32.4",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kernelVersion": "6.1.0-18-amd64",
                "containerRuntimeVersion": "containerd://1.7.13",
            },
        },
    }
    assert cells("nodes", node) == {
        "Name": "cp-1",
        "Status": "Ready,SchedulingDisabled",
        "Roles": "control-plane",
        "Age": "40d",
        "Version": "v1.32.4",
        "Internal-IP": "192.168.1.10",
        "External-IP": "<none>",
        "OS-Image": "Debian GNU/Linux 12 (bookworm)",
        "Kernel-Version": "6.1.0-18-amd64",
        "Container-Runtime": "containerd://1.7.13",
    }
    fresh = {"metadata": {"name": "n2"}, "status": {}}
    c = cells("nodes", fresh)
    assert (c["Status"], c["Roles"], c["OS-Image"]) == ("Unknown", "<none>", "<unknown>")
    node["status"]["conditions"][1]["status"] = "Unknown"
    assert p.node_status(node) == "NotReady,SchedulingDisabled"


def test_event() -> None:
    ev = {
        "metadata": {"name": "web-1.17a", "creationTimestamp": ts(timedelta(minutes=3))},
        "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
        "reason": "Pulled",
        "message": 'Successfully pulled image "nginx"\n',
        "source": {"component": "kubelet", "host": "node-a"},
        "firstTimestamp": ts(timedelta(minutes=3)),
        "lastTimestamp": ts(timedelta(seconds=30)),
        "count": 2,
        "type": "Normal",
    }
    assert cells("events", ev) == {
        "Last Seen": "30s",
        "Type": "Normal",
        "Reason": "Pulled",
        "Object": "pod/web-1",
        "Subobject": "spec.containers{app}",
        "Source": "kubelet, node-a",
        "Message": 'Successfully pulled image "nginx"',
        "First Seen": "3m",
        "Count": 2,
        "Name": "web-1.17a",
    }
    series = {
        "involvedObject": {"kind": "Node"},
        "eventTime": "2024-01-01T00:00:00.000000Z",
        "series": {"count": 7, "lastObservedTime": ts(timedelta(hours=2))},
        "reportingComponent": "scheduler",
    }
    c = cells("events", series)
    assert (c["Object"], c["Count"], c["Last Seen"], c["Source"]) == (
        "node",
        7,
        "120m",
        "scheduler",
    )


def test_config_secret_namespace_sa_columns() -> None:
    cm = {"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert cells("configmaps", cm)["Data"] == 3
    secret = {
        "metadata": {"name": "s"},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "", "tls.key": ""},
    }
    assert (cells("secrets", secret)["Type"], cells("secrets", secret)["Data"]) == (
        "kubernetes.io/tls",
        2,
    )
    ns = {"metadata": {"name": "dev"}, "status": {"phase": "Active"}}
    assert cells("namespaces", ns)["Status"] == "Active"
    sa = {"metadata": {"name": "default"}}
    assert cells("serviceaccounts", sa)["Secrets"] == 0


def test_storage_columns() -> None:
    pv = {
        "metadata": {"name": "pv-1"},
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {"namespace": "default", "name": "data"},
            "storageClassName": "local",
            "volumeMode": "Filesystem",
        },
        "status": {"phase": "Bound"},
    }
    c = cells("persistentvolumes", pv)
    assert [c[k] for k in ("Capacity", "Access Modes", "Status", "Claim", "StorageClass")] == [
        "10Gi",
        "RWO,RWX",
        "Bound",
        "default/data",
        "local",
    ]
    assert (c["VolumeAttributesClass"], c["VolumeMode"]) == ("<unset>", "Filesystem")
    pvc = {
        "metadata": {"name": "data"},
        "spec": {"volumeName": "pv-1", "resources": {"requests": {"storage": "5Gi"}}},
        "status": {
            "phase": "Bound",
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteOnce"],
        },
    }
    c = cells("persistentvolumeclaims", pvc)
    assert [c[k] for k in ("Status", "Volume", "Capacity", "Access Modes", "VolumeMode")] == [
        "Bound",
        "pv-1",
        "10Gi",
        "RWO",
        "<unset>",
    ]
    pending = {"metadata": {"name": "x"}, "spec": {}, "status": {"phase": "Pending"}}
    assert cells("persistentvolumeclaims", pending)["Capacity"] == ""


def test_rc_podtemplate_limits_quota_columns() -> None:
    template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "redis"}]},
    }
    rc = {
        "metadata": {"name": "rc"},
        "spec": {"replicas": 3, "selector": {"app": "web"}, "template": template},
        "status": {"replicas": 3, "readyReplicas": 2},
    }
    c = cells("replicationcontrollers", rc)
    assert [c[k] for k in ("Desired", "Current", "Ready", "Containers", "Images", "Selector")] == [
        3,
        3,
        2,
        "a,b",
        "nginx,redis",
        "app=web",
    ]
    pt = {"metadata": {"name": "pt"}, "template": template}
    assert cells("podtemplates", pt)["Pod Labels"] == "app=web"
    lr = {"metadata": {"name": "lr", "creationTimestamp": "2024-05-01T10:00:00Z"}}
    assert cells("limitranges", lr)["Created At"] == "2024-05-01T10:00:00Z"
    quota = {
        "metadata": {"name": "q"},
        "status": {
            "hard": {"requests.cpu": "2", "pods": "10", "limits.memory": "4Gi"},
            "used": {"requests.cpu": "500m", "pods": "3"},
        },
    }
    c = cells("resourcequotas", quota)
    assert (c["Request"], c["Limit"]) == (
        "pods: 3/10, requests.cpu: 500m/2",
        "limits.memory: 0/4Gi",
    )


def test_every_column_tolerates_a_bare_object() -> None:
    bare = {"metadata": {"name": "x", "creationTimestamp": ts()}}
    for r in core.RESOURCES:
        for col in r.columns:
            col.cell(bare)
        if r.columns and r.kind != "Event":
            assert r.columns[0].name == "Name" and r.columns[0].format == "name"
