"""Which requests reach which webhooks: rules, scope, selectors, exemptions."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api.resources import catalog
from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.webhook.hooks import HookSource, hooks_of
from pinnace.apiserver.admission.webhook.matching import (
    is_exempt,
    namespace_labels,
    rule_matches,
    should_call,
)
from pinnace.apiserver.authn import UserInfo
from pinnace.apiserver.errors import ApiError

Obj = dict[str, Any]
USER = UserInfo("alice", ("devs",))
NAMESPACES: dict[str, Obj] = {
    "prod": {"metadata": {"name": "prod", "labels": {"env": "prod"}}},
    "dev": {"metadata": {"name": "dev", "labels": {"env": "dev"}}},
}


def req(
    plural: str,
    op: Operation = "CREATE",
    *,
    group: str = "",
    version: str = "v1",
    namespace: str = "dev",
    name: str = "x",
    obj: Obj | None = None,
    old: Obj | None = None,
    sub: str = "",
) -> AdmissionRequest:
    r = catalog().by_plural(group, version, plural)
    assert r is not None
    if not r.namespaced:
        namespace = ""
    if obj is None and op != "DELETE":
        obj = {"metadata": {"name": name}}
    return AdmissionRequest(op, r, namespace, name, obj, old, USER, sub)


def rule(**kw: Any) -> Obj:
    base: Obj = {
        "operations": ["CREATE"],
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "resources": ["pods"],
        "scope": "*",
    }
    base.update(kw)
    return base


def hook(**kw: Any) -> Obj:
    h: Obj = {
        "name": "a.example.com",
        "clientConfig": {"url": "https://127.0.0.1:1/"},
        "rules": [rule()],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "namespaceSelector": {},
        "objectSelector": {},
    }
    h.update(kw)
    return h


def the_hook(**kw: Any) -> Any:
    return hooks_of({"metadata": {"name": "cfg"}, "webhooks": [hook(**kw)]})[0]


def get_ns(name: str) -> Obj | None:
    return NAMESPACES.get(name)


@pytest.mark.parametrize(
    ("r", "request_", "want"),
    [
        (rule(), req("pods"), True),
        (rule(operations=["UPDATE"]), req("pods"), False),
        (rule(operations=["*"]), req("pods", "DELETE"), True),
        (rule(apiGroups=["apps"]), req("pods"), False),
        (rule(apiGroups=["*"]), req("pods"), True),
        (rule(apiVersions=["v2"]), req("pods"), False),
        (rule(resources=["*"]), req("configmaps"), True),
        (rule(resources=["pods"]), req("pods", "UPDATE", sub="status"), False),
        (rule(operations=["*"], resources=["*"]), req("pods", "UPDATE", sub="status"), False),
        (
            rule(operations=["*"], resources=["pods/status"]),
            req("pods", "UPDATE", sub="status"),
            True,
        ),
        (rule(operations=["*"], resources=["pods/*"]), req("pods", "UPDATE", sub="status"), True),
        (rule(operations=["*"], resources=["*/status"]), req("pods", "UPDATE", sub="status"), True),
        (rule(operations=["*"], resources=["*/*"]), req("pods", "UPDATE", sub="status"), True),
        (rule(operations=["*"], resources=["pods/*"]), req("pods"), False),
        (rule(scope="Cluster"), req("pods"), False),
        (rule(scope="Namespaced"), req("pods"), True),
        (rule(resources=["namespaces"], scope="Namespaced"), req("namespaces"), False),
        (rule(resources=["namespaces"], scope="Cluster"), req("namespaces"), True),
        (rule(resources=["nodes"], scope="Cluster"), req("nodes"), True),
    ],
)
def test_rule_matching(r: Obj, request_: AdmissionRequest, want: bool) -> None:
    assert rule_matches(r, request_) is want


def test_namespace_selector_uses_the_namespace_labels() -> None:
    h = the_hook(namespaceSelector={"matchLabels": {"env": "prod"}})
    assert should_call(h, req("pods", namespace="prod"), get_ns)
    assert not should_call(h, req("pods", namespace="dev"), get_ns)


def test_namespace_selector_expressions() -> None:
    h = the_hook(
        namespaceSelector={
            "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]
        }
    )
    assert not should_call(h, req("pods", namespace="prod"), get_ns)
    assert should_call(h, req("pods", namespace="dev"), get_ns)


def test_a_namespace_is_judged_by_its_own_labels() -> None:
    h = the_hook(
        rules=[rule(resources=["namespaces"])],
        namespaceSelector={"matchLabels": {"env": "prod"}},
    )
    new_prod = {"metadata": {"name": "p2", "labels": {"env": "prod"}}}
    assert should_call(h, req("namespaces", name="p2", obj=new_prod), get_ns)
    assert not should_call(h, req("namespaces", name="d2"), get_ns)
    # delete: the stored namespace's labels
    h_del = the_hook(
        rules=[rule(operations=["DELETE"], resources=["namespaces"])],
        namespaceSelector={"matchLabels": {"env": "prod"}},
    )
    assert should_call(h_del, req("namespaces", "DELETE", name="prod"), get_ns)
    assert not should_call(h_del, req("namespaces", "DELETE", name="dev"), get_ns)


def test_cluster_scoped_objects_ignore_the_namespace_selector() -> None:
    h = the_hook(
        rules=[rule(resources=["nodes"])], namespaceSelector={"matchLabels": {"env": "prod"}}
    )
    assert should_call(h, req("nodes"), get_ns)


def test_missing_namespace_is_404_only_when_rules_match() -> None:
    h = the_hook(namespaceSelector={"matchLabels": {"env": "prod"}})
    with pytest.raises(ApiError) as e:
        should_call(h, req("pods", namespace="nowhere"), get_ns)
    assert e.value.code == 404
    assert e.value.message == 'namespaces "nowhere" not found'
    assert not should_call(h, req("configmaps", namespace="nowhere"), get_ns)
    with pytest.raises(ApiError):
        namespace_labels(req("pods", namespace="nowhere"), get_ns)


def test_object_selector_matches_new_or_old() -> None:
    h = the_hook(rules=[rule(operations=["*"])], objectSelector={"matchLabels": {"team": "a"}})
    labelled = {"metadata": {"name": "x", "labels": {"team": "a"}}}
    plain = {"metadata": {"name": "x"}}
    assert should_call(h, req("pods", obj=labelled), get_ns)
    assert not should_call(h, req("pods", obj=plain), get_ns)
    assert should_call(h, req("pods", "UPDATE", obj=plain, old=labelled), get_ns)
    assert should_call(h, req("pods", "DELETE", old=labelled), get_ns)
    assert not should_call(h, req("pods", "DELETE", old=plain), get_ns)


def test_webhook_configurations_are_exempt() -> None:
    r = req("validatingwebhookconfigurations", group="admissionregistration.k8s.io", name="cfg")
    assert is_exempt(r)
    assert not is_exempt(req("pods"))


def test_hook_source_orders_by_configuration_name_and_rebuilds_on_change() -> None:
    configs: list[Obj] = [
        {"metadata": {"name": "b", "resourceVersion": "1"}, "webhooks": [hook(name="b1.x.io")]},
        {
            "metadata": {"name": "a", "resourceVersion": "2"},
            "webhooks": [hook(name="a1.x.io"), hook(name="a2.x.io")],
        },
    ]
    src = HookSource(lambda: configs)
    assert [h.name for h in src.hooks()] == ["a1.x.io", "a2.x.io", "b1.x.io"]
    configs[0] = {
        "metadata": {"name": "b", "resourceVersion": "3"},
        "webhooks": [hook(name="b2.x.io")],
    }
    assert [h.name for h in src.hooks()] == ["a1.x.io", "a2.x.io", "b2.x.io"]
    configs.clear()
    assert src.hooks() == []


def test_hook_defaults_and_ca_bundle() -> None:
    h = hooks_of(
        {
            "metadata": {"name": "c"},
            "webhooks": [
                {
                    "name": "h.x.io",
                    "clientConfig": {
                        "caBundle": "cGVt",
                        "service": {"name": "s", "namespace": "n"},
                    },
                }
            ],
        }
    )[0]
    assert h.ca_bundle == b"pem"
    assert h.failure_policy == "Fail" and h.timeout_seconds == 10
    assert h.service == {"name": "s", "namespace": "n"} and h.url == ""
