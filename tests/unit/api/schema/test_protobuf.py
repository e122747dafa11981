"""Protobuf bodies as kubectl sends them, decoded through the schema.

The request bodies here are built by hand with the Go marshaller's habits
(fields in number order, every non-pointer scalar written even when zero,
zero ``creationTimestamp`` as year 1), independently of the module's encoder.
"""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api.schema import protobuf as pb
from tests.unit.api.schema import mini_schema

REG, _ = mini_schema.build()
DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"
CONFIGMAP = "io.k8s.api.core.v1.ConfigMap"


# -- a tiny independent protobuf writer ------------------------------------------


def varint(v: int) -> bytes:
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def vf(num: int, v: int) -> bytes:  # varint field
    return varint(num << 3) + varint(v)


def lf(num: int, payload: bytes | str) -> bytes:  # length-delimited field
    if isinstance(payload, str):
        payload = payload.encode()
    return varint((num << 3) | 2) + varint(len(payload)) + payload


def entry(num: int, k: str, v: str) -> bytes:
    return lf(num, lf(1, k) + lf(2, v))


ZERO_TIME = vf(1, -62135596800)


def object_meta(name: str = "", labels: dict[str, str] | None = None) -> bytes:
    """ObjectMeta as Go writes it: strings 1-6 and generation always, zero time."""
    out = lf(1, name) + lf(2, "") + lf(3, "") + lf(4, "") + lf(5, "") + lf(6, "")
    out += vf(7, 0) + lf(8, ZERO_TIME)
    for k, v in sorted((labels or {}).items()):
        out += entry(11, k, v)
    return out


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return b"k8s\x00" + lf(1, lf(1, api_version) + lf(2, kind)) + lf(2, raw) + lf(3, "") + lf(4, "")


def kubectl_create_deployment() -> bytes:
    """`kubectl create deployment web --image=nginx --replicas=2`."""
    labels = {"app": "web"}
    container = (
        lf(1, "nginx")
        + lf(2, "nginx")
        + lf(5, "")
        + lf(8, b"")
        + lf(13, "")
        + lf(14, "")
        + vf(16, 0)
        + vf(17, 0)
        + vf(18, 0)
        + lf(20, "")
    )
    pod_spec = (
        lf(2, container)
        + lf(3, "")
        + lf(6, "")
        + lf(8, "")
        + lf(9, "")
        + lf(10, "")
        + vf(11, 0)
        + vf(12, 0)
        + vf(13, 0)
        + lf(16, "")
        + lf(17, "")
        + lf(19, "")
        + lf(24, "")
    )
    template = lf(1, object_meta(labels=labels)) + lf(2, pod_spec)
    selector = entry(1, "app", "web")
    spec = vf(1, 2) + lf(2, selector) + lf(3, template) + lf(4, lf(1, "")) + vf(5, 0) + vf(7, 0)
    status = vf(1, 0) + vf(2, 0) + vf(3, 0) + vf(4, 0) + vf(5, 0) + vf(7, 0) + vf(8, 0)
    raw = lf(1, object_meta("web", labels)) + lf(2, spec) + lf(3, status)
    return envelope("apps/v1", "Deployment", raw)


def kubectl_create_configmap() -> bytes:
    """`kubectl create configmap x --from-literal=a=b`."""
    raw = lf(1, object_meta("x")) + entry(2, "a", "b")
    return envelope("v1", "ConfigMap", raw)


# -- decoding ----------------------------------------------------------------------


def test_kubectl_create_deployment_decodes_like_its_json() -> None:
    got = pb.decode(kubectl_create_deployment(), registry=REG)
    # what `kubectl create deployment web --image=nginx --replicas=2` sends as JSON
    # (minus `creationTimestamp: null`, which decodes to nothing)
    assert got == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]},
            },
            "strategy": {},
        },
        "status": {},
    }
    assert list(got) == ["apiVersion", "kind", "metadata", "spec", "status"]


def test_kubectl_create_configmap_decodes() -> None:
    got = pb.decode(kubectl_create_configmap(), registry=REG)
    assert got == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x"},
        "data": {"a": "b"},
    }


def test_pointer_zero_is_kept_and_plain_zero_dropped() -> None:
    # replicas is *int32: an explicit 0 (kubectl create deployment --replicas=0) stays
    spec = vf(1, 0) + vf(5, 0) + lf(2, entry(1, "a", "b"))
    raw = lf(1, object_meta("d")) + lf(2, spec)
    got = pb.decode_message(raw, DEPLOYMENT, registry=REG)
    assert got["spec"] == {"replicas": 0, "selector": {"matchLabels": {"a": "b"}}}


def test_required_zero_is_kept() -> None:
    port = lf(1, "") + vf(2, 0) + vf(3, 0) + lf(4, "")
    got = pb.decode_message(lf(1, "c") + lf(6, port), "io.k8s.api.core.v1.Container", registry=REG)
    assert got == {"name": "c", "ports": [{"containerPort": 0}]}


def test_negative_int32_ten_byte_varint() -> None:
    raw = lf(1, "c") + lf(6, vf(3, -5))
    assert len(varint(-5)) == 10
    got = pb.decode_message(raw, "io.k8s.api.core.v1.Container", registry=REG)
    assert got["ports"] == [{"containerPort": -5}]


def test_special_messages() -> None:
    # Time with a real value, Quantity map values, IntOrString both ways, bytes
    cond_time = lf(4, vf(1, 1704067200))  # 2024-01-01T00:00:00Z
    status = lf(2, lf(1, "Ready") + lf(2, "True") + cond_time)
    raw = lf(1, object_meta("p")) + lf(3, status)
    got = pb.decode_message(raw, "io.k8s.api.core.v1.Pod", registry=REG)
    assert got["status"] == {
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}
        ]
    }
    res = lf(1, lf(1, "cpu") + lf(2, lf(1, "500m"))) + lf(2, lf(1, "memory") + lf(2, lf(1, "1Gi")))
    got = pb.decode_message(lf(1, "c") + lf(8, res), "io.k8s.api.core.v1.Container", registry=REG)
    assert got["resources"] == {"limits": {"cpu": "500m"}, "requests": {"memory": "1Gi"}}

    ru = lf(1, vf(1, 1) + vf(2, 0) + lf(3, "30%")) + lf(2, vf(1, 0) + vf(2, 3) + lf(3, ""))
    got = pb.decode_message(lf(2, ru), "io.k8s.api.apps.v1.DeploymentStrategy", registry=REG)
    assert got == {"rollingUpdate": {"maxUnavailable": "30%", "maxSurge": 3}}

    cm = lf(1, object_meta("b")) + lf(3, lf(1, "k") + lf(2, b"\x00\xffhi"))
    got = pb.decode_message(cm, CONFIGMAP, registry=REG)
    assert got["binaryData"] == {"k": "AP9oaQ=="}


def test_inline_embedded_struct() -> None:
    # Volume's VolumeSource is inline in JSON, nested (field 2) in protobuf
    vol = lf(1, "cfg") + lf(2, lf(19, lf(1, "app-config") + vf(3, 420)))
    spec = lf(1, vol) + lf(2, lf(1, "c"))
    got = pb.decode_message(spec, "io.k8s.api.core.v1.PodSpec", registry=REG)
    assert got["volumes"] == [
        {"name": "cfg", "configMap": {"name": "app-config", "defaultMode": 420}}
    ]
    assert pb.encode(got, "io.k8s.api.core.v1.PodSpec", registry=REG) == spec


def test_unknown_field_numbers_are_skipped() -> None:
    raw = lf(1, "c") + vf(99, 7) + lf(98, "x") + b"\x0d\x01\x02\x03\x04"[0:0] + lf(2, "img")
    raw += varint((97 << 3) | 1) + b"\x00" * 8 + varint((96 << 3) | 5) + b"\x00" * 4
    got = pb.decode_message(raw, "io.k8s.api.core.v1.Container", registry=REG)
    assert got == {"name": "c", "image": "img"}


def test_malformed_bodies() -> None:
    with pytest.raises(pb.ProtobufError):
        pb.decode(b"{}", registry=REG)
    with pytest.raises(pb.ProtobufError):
        pb.decode(b"k8s\x00\x0a\x05ab", registry=REG)  # truncated
    with pytest.raises(pb.ProtobufError):
        pb.decode(envelope("v1", "Nope", b""), registry=REG)


# -- encoding round trips -----------------------------------------------------------

ROUND_TRIPS: list[dict[str, Any]] = [
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web", "tier": "front"},
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "generation": 3,
            "finalizers": ["a/b"],
        },
        "spec": {
            "replicas": 0,
            "selector": {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "x", "operator": "In", "values": ["1", "2"]}],
            },
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "image": "nginx:1.27",
                            "command": ["sh", "-c", "echo hi"],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "env": [{"name": "A", "value": "1"}],
                            "resources": {"limits": {"cpu": "1", "memory": "128Mi"}},
                            "tty": True,
                        }
                    ],
                    "terminationGracePeriodSeconds": 0,
                    "enableServiceLinks": False,
                    "nodeSelector": {"disk": "ssd"},
                },
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"},
            },
            "minReadySeconds": 5,
        },
        "status": {"replicas": 2, "observedGeneration": 3},
    },
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "annotations": {"a": ""}},
        "data": {"a": "b", "empty": ""},
        "binaryData": {"bin": "AAEC"},
        "immutable": False,
    },
]


@pytest.mark.parametrize("obj", ROUND_TRIPS, ids=lambda o: o["kind"])
def test_round_trip(obj: dict[str, Any]) -> None:
    data = pb.encode_object(obj, registry=REG)
    assert data.startswith(pb.MAGIC)
    assert pb.decode(data, registry=REG) == obj


def test_time_formats() -> None:
    assert pb.format_time(1704067200, 0, micro=False) == "2024-01-01T00:00:00Z"
    assert pb.format_time(1704067200, 123456789, micro=True) == "2024-01-01T00:00:00.123456Z"
    assert pb.format_time(-62135596800, 0, micro=False) is None
    assert pb.parse_time("2024-01-01T00:00:00.5Z") == (1704067200, 500_000_000)


@pytest.mark.parametrize(
    ("nanos", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1500, "1.5µs"),
        (150_000_000, "150ms"),
        (1_500_000_000, "1.5s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (-2_000_000_000, "-2s"),
    ],
)
def test_go_duration(nanos: int, text: str) -> None:
    assert pb.format_go_duration(nanos) == text
    assert pb.parse_go_duration(text) == nanos


def test_struct_for_kind_fallbacks() -> None:
    assert pb.struct_for_kind("apps/v1", "Deployment", registry=REG) is not None
    s = pb.struct_for_kind("v1", "ObjectMeta", registry=REG)  # meta package fallback
    assert s is not None and s.name == "ObjectMeta"
    assert pb.struct_for_kind("batch/v1", "Job", registry=REG) is None


def test_pointer_guess_without_declaration() -> None:
    from pinnace.api.schema import SchemaRegistry, field, struct

    reg = SchemaRegistry()
    struct(
        "io.k8s.api.x.v1",
        "Spec",
        "A spec.",
        [
            field("replicas", "int32", "Guessed pointer (non-zero default).", proto=1, default=1),
            field("count", "int32", "Plain.", proto=2),
            field("mode", "string", "Strings are never guessed.", proto=3, default="A"),
            field("timeout", "int32", "Declared non-pointer.", proto=4, default=5, pointer=False),
        ],
        registry=reg,
    )
    raw = vf(1, 0) + vf(2, 0) + lf(3, "") + vf(4, 0)
    assert pb.decode_message(raw, "io.k8s.api.x.v1.Spec", registry=reg) == {"replicas": 0}


# -- against the real kind declarations ----------------------------------------------


@pytest.fixture
def real_kinds() -> None:
    from pinnace.api.resources import catalog

    c = catalog()
    if c.by_kind("apps", "v1", "Deployment") is None or c.by_kind("", "v1", "ConfigMap") is None:
        pytest.skip("apps/v1 Deployment and v1 ConfigMap are not declared yet")


@pytest.mark.usefixtures("real_kinds")
def test_real_kubectl_bodies_decode() -> None:
    got = pb.decode(kubectl_create_deployment())
    assert got == pb.decode(kubectl_create_deployment(), registry=REG)
    assert pb.decode(kubectl_create_configmap()) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x"},
        "data": {"a": "b"},
    }
    # --replicas=0 survives (replicas is a pointer upstream)
    zero = pb.encode_object({**got, "spec": {**got["spec"], "replicas": 0}})
    assert pb.decode(zero)["spec"]["replicas"] == 0


@pytest.mark.usefixtures("real_kinds")
@pytest.mark.parametrize("obj", ROUND_TRIPS, ids=lambda o: o["kind"])
def test_real_round_trip(obj: dict[str, Any]) -> None:
    from pinnace.api.schema import REGISTRY

    expected = dict(obj)
    immutable = REGISTRY.get("io.k8s.api.core.v1.ConfigMap").fields["immutable"]
    if obj["kind"] == "ConfigMap" and not immutable.pointer:
        del expected["immutable"]  # an explicit false survives only on a declared pointer
    assert pb.decode(pb.encode_object(obj)) == expected
