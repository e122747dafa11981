"""Container environments: $(VAR) expansion, envFrom/valueFrom, downward API, service links."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from pinnace.client.errors import NotFound
from pinnace.kubelet.envvars import (
    EnvError,
    container_env,
    expand,
    expand_command_and_args,
    expand_subpath,
    field_ref_value,
    format_map,
    go_quote,
    resource_field_value,
    service_env,
)

Obj = dict[str, Any]


class FakeClient:
    """GETs from a dict of (plural, namespace, name) → object; counts calls."""

    def __init__(self, objects: list[tuple[str, Obj]] | None = None) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.gets = 0
        for plural, obj in objects or []:
            m = obj["metadata"]
            self.objects[(plural, m.get("namespace", ""), m["name"])] = obj

    async def get(self, resource: Any, name: str, *, namespace: str | None = None) -> Obj:
        self.gets += 1
        try:
            return self.objects[(resource.plural, namespace or "", name)]
        except KeyError:
            raise NotFound(
                {
                    "kind": "Status",
                    "code": 404,
                    "reason": "NotFound",
                    "message": f'{resource.plural} "{name}" not found',
                }
            ) from None


def fake(objects: list[tuple[str, Obj]] | None = None) -> Any:
    """A FakeClient where a Client is expected."""
    return FakeClient(objects)


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj: Obj, type_: str, reason: str, message: str, **kw: Any) -> None:
        self.events.append((type_, reason, message))


def cm(name: str, data: dict[str, str], ns: str = "ns1") -> tuple[str, Obj]:
    return "configmaps", {"metadata": {"name": name, "namespace": ns}, "data": data}


def secret(name: str, data: dict[str, bytes], ns: str = "ns1") -> tuple[str, Obj]:
    enc = {k: base64.b64encode(v).decode() for k, v in data.items()}
    return "secrets", {"metadata": {"name": name, "namespace": ns}, "data": enc}


def pod(**spec: Any) -> Obj:
    return {
        "metadata": {
            "name": "web-0",
            "namespace": "ns1",
            "uid": "uid-1",
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"note": 'say "hi"\n'},
        },
        "spec": {"nodeName": "node-a", "serviceAccountName": "sa1", **spec},
        "status": {
            "podIP": "10.42.0.5",
            "podIPs": [{"ip": "10.42.0.5"}, {"ip": "fd00::5"}],
            "hostIP": "192.168.1.10",
            "hostIPs": [{"ip": "192.168.1.10"}],
        },
    }


def svc(name: str, ns: str, ip: str, ports: list[Obj]) -> Obj:
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"clusterIP": ip, "ports": ports}}


# --- expansion -------------------------------------------------------------------------------


def lookup(d: dict[str, str]) -> Any:
    return d.get


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)", "a"),
        ("x$(A)y$(B)z", "xaybz"),
        ("$(UNDEFINED)", "$(UNDEFINED)"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$a"),
        ("$$", "$"),
        ("$", "$"),
        ("a$", "a$"),
        ("$(A", "$(A"),
        ("$(", "$("),
        ("$x", "$x"),
        ("$()", "$()"),
        ("$(A)$(A)", "aa"),
        ("$(EMPTY)-", "-"),
        ("no refs", "no refs"),
    ],
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, lookup({"A": "a", "B": "b", "EMPTY": ""})) == expected


def test_expand_command_and_args() -> None:
    c = {"command": ["sh", "-c", "echo $(MSG) $$(MSG)"], "args": ["$(NOPE)", "$(MSG)"]}
    assert expand_command_and_args(c, [("MSG", "hi")]) == (
        ["sh", "-c", "echo hi $(MSG)"],
        ["$(NOPE)", "hi"],
    )


def test_expand_subpath() -> None:
    assert expand_subpath("logs/$(POD)", [("POD", "web-0")]) == "logs/web-0"
    with pytest.raises(EnvError, match=r"^missing value for A, B$"):
        expand_subpath("$(B)/$(A)", [("A", "")])


# --- fields ----------------------------------------------------------------------------------


def test_field_refs() -> None:
    p = pod()
    assert field_ref_value(p, "metadata.name") == "web-0"
    assert field_ref_value(p, "metadata.namespace") == "ns1"
    assert field_ref_value(p, "metadata.uid") == "uid-1"
    assert field_ref_value(p, "metadata.labels['app']") == "web"
    assert field_ref_value(p, "metadata.labels['missing']") == ""
    assert field_ref_value(p, "metadata.annotations['note']") == 'say "hi"\n'
    assert field_ref_value(p, "metadata.labels") == 'app="web"\ntier="front"'
    assert field_ref_value(p, "metadata.annotations") == 'note="say \\"hi\\"\\n"'
    assert field_ref_value(p, "spec.nodeName") == "node-a"
    assert field_ref_value(p, "spec.serviceAccountName") == "sa1"
    assert field_ref_value(p, "status.podIP") == "10.42.0.5"
    assert field_ref_value(p, "status.podIPs") == "10.42.0.5,fd00::5"
    assert field_ref_value(p, "status.hostIP") == "192.168.1.10"
    assert field_ref_value(p, "status.hostIPs", host_ips=["1.1.1.1", "::1"]) == "1.1.1.1,::1"
    with pytest.raises(EnvError, match=r"unsupported fieldPath: spec\.restartPolicy"):
        field_ref_value(p, "spec.restartPolicy")
    with pytest.raises(EnvError, match="does not support subscript"):
        field_ref_value(p, "metadata.name['x']")


def test_go_quote_and_format_map() -> None:
    assert go_quote('a"b\\c\td\x01é') == '"a\\"b\\\\c\\td\\x01é"'
    assert format_map({"b": "2", "a": "1"}) == 'a="1"\nb="2"'
    assert format_map({}) == ""


@pytest.mark.parametrize(
    ("resource", "divisor", "expected"),
    [
        ("limits.cpu", None, "1"),  # 500m rounded up to whole cores
        ("limits.cpu", "1m", "500"),
        ("requests.cpu", "1m", "250"),
        ("limits.memory", None, str(64 * 2**20)),
        ("limits.memory", "1Mi", "64"),
        ("requests.memory", "1Mi", "0"),
        ("limits.ephemeral-storage", "1Gi", "10"),  # from the node
    ],
)
def test_resource_field_value(resource: str, divisor: str | None, expected: str) -> None:
    c = {
        "name": "app",
        "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "250m"}},
    }
    ref: Obj = {"resource": resource}
    if divisor:
        ref["divisor"] = divisor
    alloc = {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "10Gi"}
    assert resource_field_value(ref, pod(containers=[c]), c, alloc) == expected


def test_resource_field_defaults_to_node_allocatable() -> None:
    c = {"name": "app"}
    alloc = {"cpu": "4", "memory": "8Gi"}
    p = pod(containers=[c])
    assert resource_field_value({"resource": "limits.cpu"}, p, c, alloc) == "4"
    ref = {"resource": "limits.memory", "divisor": "1Gi"}
    assert resource_field_value(ref, p, c, alloc) == "8"
    with pytest.raises(EnvError, match=r"unsupported container resource : limits\.gpu"):
        resource_field_value({"resource": "limits.gpu"}, p, c, alloc)
    with pytest.raises(EnvError, match="container other not found"):
        resource_field_value({"resource": "limits.cpu", "containerName": "other"}, p, c, alloc)


# --- service links ---------------------------------------------------------------------------


def test_service_env_names_and_link_vars() -> None:
    env = dict(
        service_env(
            [
                svc(
                    "my-db.x",
                    "ns1",
                    "10.43.0.7",
                    [
                        {"name": "sql", "port": 5432},
                        {"name": "metrics-http", "port": 9100, "protocol": "UDP"},
                    ],
                ),
                svc("1st", "ns1", "fd00::10", [{"port": 80}]),
                svc("headless", "ns1", "None", [{"port": 80}]),
            ]
        )
    )
    assert env["MY_DB_X_SERVICE_HOST"] == "10.43.0.7"
    assert env["MY_DB_X_SERVICE_PORT"] == "5432"
    assert env["MY_DB_X_SERVICE_PORT_SQL"] == "5432"
    assert env["MY_DB_X_SERVICE_PORT_METRICS_HTTP"] == "9100"
    assert env["MY_DB_X_PORT"] == "tcp://10.43.0.7:5432"
    assert env["MY_DB_X_PORT_5432_TCP"] == "tcp://10.43.0.7:5432"
    assert env["MY_DB_X_PORT_5432_TCP_PROTO"] == "tcp"
    assert env["MY_DB_X_PORT_5432_TCP_PORT"] == "5432"
    assert env["MY_DB_X_PORT_5432_TCP_ADDR"] == "10.43.0.7"
    assert env["MY_DB_X_PORT_9100_UDP"] == "udp://10.43.0.7:9100"
    assert env["_1ST_PORT"] == "tcp://[fd00::10]:80"
    assert not any(k.startswith("HEADLESS") for k in env)


SERVICES = [
    svc("kubernetes", "default", "10.43.0.1", [{"name": "https", "port": 443}]),
    svc("other", "default", "10.43.0.2", [{"port": 80}]),
    svc("web", "ns1", "10.43.0.3", [{"port": 8080}]),
]


async def test_service_links_enabled_and_disabled() -> None:
    c: Obj = {"name": "app"}
    env = dict(await container_env(fake(), pod(), c, services=SERVICES, node_allocatable={}))
    assert env["KUBERNETES_SERVICE_HOST"] == "10.43.0.1"
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert env["WEB_SERVICE_PORT"] == "8080"
    assert "OTHER_SERVICE_HOST" not in env  # another namespace
    env = dict(
        await container_env(
            fake(),
            pod(enableServiceLinks=False),
            c,
            services=SERVICES,
            node_allocatable={},
        )
    )
    assert env["KUBERNETES_SERVICE_HOST"] == "10.43.0.1"  # always there
    assert "WEB_SERVICE_HOST" not in env
    assert await container_env(fake(), pod(), c, services=None, node_allocatable={}) == []


# --- container_env ---------------------------------------------------------------------------


async def test_env_order_expansion_and_sources() -> None:
    client = fake(
        [
            cm("cfg", {"LEVEL": "debug", "URL": "http://x", "bad=key": "no"}),
            secret("creds", {"PASSWORD": b"s3cr\xc3\xa9t", "USER": b"admin"}),
        ]
    )
    c = {
        "name": "app",
        "envFrom": [
            {"configMapRef": {"name": "cfg"}},
            {"secretRef": {"name": "creds"}, "prefix": "DB_"},
            {"configMapRef": {"name": "absent", "optional": True}},
        ],
        "env": [
            {"name": "A", "value": "a"},
            {"name": "B", "value": "$(A)-$(LEVEL)-$(DB_USER)-$(LATER)-$$(A)"},
            {"name": "LATER", "value": "late"},
            {"name": "LEVEL", "value": "info"},  # overrides envFrom, keeps its position
            {"name": "SVC", "value": "$(WEB_SERVICE_HOST)"},
            {"name": "EMPTY", "value": ""},
            {"name": "KEY", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "URL"}}},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "PASSWORD"}}},
            {
                "name": "OPT",
                "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nope", "optional": True}},
            },
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {
                "name": "MEM",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
        ],
    }
    rec = FakeRecorder()
    env = await container_env(
        client,
        pod(),
        c,
        services=SERVICES,
        node_allocatable={"memory": "2Gi"},
        recorder=rec,
    )
    names = [k for k, _ in env]
    d = dict(env)
    assert names[:4] == ["LEVEL", "URL", "DB_PASSWORD", "DB_USER"]
    assert d["LEVEL"] == "info"
    assert d["B"] == "a-debug-admin-$(LATER)-$(A)"
    assert d["SVC"] == "10.43.0.3"
    assert d["EMPTY"] == ""
    assert d["KEY"] == "http://x"
    assert d["PW"] == "s3crét"
    assert "OPT" not in d
    assert d["POD"] == "web-0"
    assert d["IP"] == "10.42.0.5"
    assert d["MEM"] == "2048"
    assert "bad=key" not in d
    assert rec.events == [
        (
            "Warning",
            "InvalidEnvironmentVariableNames",
            "Keys [bad=key] from the EnvFrom configMap ns1/cfg were skipped since they are "
            "considered invalid environment variable names.",
        )
    ]
    # service variables come after the container's own, once
    assert names.index("KUBERNETES_SERVICE_HOST") > names.index("MEM")
    assert len(names) == len(set(names))
    assert client.gets == 3  # cfg, creds, absent: each read once


async def test_strict_env_names_skip_c_identifier_violations() -> None:
    client = fake([cm("cfg", {"1badkey": "x", "2alsobad": "y", "good": "z"})])
    c = {"name": "app", "envFrom": [{"configMapRef": {"name": "cfg"}}]}
    rec = FakeRecorder()
    env = await container_env(
        client, pod(), c, services=None, node_allocatable={}, recorder=rec, relaxed_names=False
    )
    assert env == [("good", "z")]
    assert "Keys [1badkey, 2alsobad] from the EnvFrom configMap ns1/cfg" in rec.events[0][2]
    relaxed = await container_env(client, pod(), c, services=None, node_allocatable={})
    assert dict(relaxed) == {"1badkey": "x", "2alsobad": "y", "good": "z"}


@pytest.mark.parametrize(
    ("var", "message"),
    [
        (
            {"configMapKeyRef": {"name": "cfg", "key": "x"}},
            "couldn't find key x in ConfigMap ns1/cfg",
        ),
        ({"configMapKeyRef": {"name": "gone", "key": "x"}}, 'configmap "gone" not found'),
        (
            {"secretKeyRef": {"name": "creds", "key": "x"}},
            "couldn't find key x in Secret ns1/creds",
        ),
        ({"secretKeyRef": {"name": "gone", "key": "x"}}, 'secret "gone" not found'),
    ],
)
async def test_env_errors(var: Obj, message: str) -> None:
    client = fake([cm("cfg", {"a": "1"}), secret("creds", {"a": b"1"})])
    c = {"name": "app", "env": [{"name": "V", "valueFrom": var}]}
    with pytest.raises(EnvError) as err:
        await container_env(client, pod(), c, services=None, node_allocatable={})
    assert err.value.message == message


async def test_env_from_missing_without_optional() -> None:
    c = {"name": "app", "envFrom": [{"secretRef": {"name": "nope"}}]}
    with pytest.raises(EnvError, match=r'^secret "nope" not found$'):
        await container_env(fake(), pod(), c, services=None, node_allocatable={})
    c = {"name": "app", "envFrom": [{"secretRef": {"name": "nope", "optional": True}}]}
    assert await container_env(fake(), pod(), c, services=None, node_allocatable={}) == []
