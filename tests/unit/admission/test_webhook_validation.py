"""Defaults and validation of the webhook configuration kinds, with
upstream's messages."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api.resources import catalog
from pinnace.api.schema import Resource
from pinnace.api.schema.defaulting import apply_defaults
from pinnace.api.schema.validation import validate_structure
from pinnace.api.strategy import strategy_for

Obj = dict[str, Any]
G = "admissionregistration.k8s.io"


def res(plural: str) -> Resource:
    r = catalog().by_plural(G, "v1", plural)
    assert r is not None
    return r


def good(**kw: Any) -> Obj:
    h: Obj = {
        "name": "check.example.com",
        "clientConfig": {"url": "https://hooks.example.com/check"},
        "rules": [
            {
                "operations": ["CREATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["pods"],
            }
        ],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
    }
    h.update(kw)
    return h


def errors(plural: str, *hooks: Obj, old: Obj | None = None) -> list[str]:
    r = res(plural)
    obj: Obj = {"metadata": {"name": "cfg"}, "webhooks": list(hooks)}
    apply_defaults(obj, r.schema)
    errs, _ = validate_structure(obj, r.schema, strict=True)
    s = strategy_for(r)
    errs += s.validate(obj) if old is None else s.validate_update(obj, old)
    return [str(e) for e in errs]


def test_defaults() -> None:
    for plural in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
        r = res(plural)
        obj: Obj = {"webhooks": [good(clientConfig={"service": {"name": "s", "namespace": "n"}})]}
        apply_defaults(obj, r.schema)
        h = obj["webhooks"][0]
        assert h["failurePolicy"] == "Fail"
        assert h["matchPolicy"] == "Equivalent"
        assert h["namespaceSelector"] == {} and h["objectSelector"] == {}
        assert h["timeoutSeconds"] == 10
        assert h["rules"][0]["scope"] == "*"
        assert h["clientConfig"]["service"]["port"] == 443
        assert (h.get("reinvocationPolicy") == "Never") is (plural.startswith("mutating"))


def test_valid_configuration_passes() -> None:
    assert errors("validatingwebhookconfigurations", good()) == []
    assert errors("mutatingwebhookconfigurations", good(reinvocationPolicy="IfNeeded")) == []


@pytest.mark.parametrize(
    ("hook", "want"),
    [
        (
            good(name="short.name"),
            'webhooks[0].name: Invalid value: "short.name": should be a domain with at least '
            "three segments separated by dots",
        ),
        (
            good(clientConfig={}),
            "webhooks[0].clientConfig: Required value: exactly one of url or service is required",
        ),
        (
            good(clientConfig={"url": "http://h.example.com/x"}),
            "webhooks[0].clientConfig.url: Invalid value: \"http\": 'https' is the only allowed "
            "URL scheme; desired format: https://host[/path]",
        ),
        (
            good(timeoutSeconds=31),
            "webhooks[0].timeoutSeconds: Invalid value: 31: the timeout value must be between "
            "1 and 30 seconds",
        ),
        (
            good(sideEffects=None),
            "webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun",
        ),
        (
            good(sideEffects="Some"),
            'webhooks[0].sideEffects: Unsupported value: "Some": supported values: "None", '
            '"NoneOnDryRun"',
        ),
        (
            good(admissionReviewVersions=[]),
            "webhooks[0].admissionReviewVersions: Required value: must specify one of v1, v1beta1",
        ),
        (
            good(failurePolicy="Maybe"),
            'webhooks[0].failurePolicy: Unsupported value: "Maybe": supported values: "Fail", '
            '"Ignore"',
        ),
        (
            good(
                rules=[
                    {
                        "operations": ["*", "CREATE"],
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": ["pods"],
                    }
                ]
            ),
            'webhooks[0].rules[0].operations: Invalid value: ["*","CREATE"]: if \'*\' is '
            "present, must not specify other operations",
        ),
        (
            good(clientConfig={"service": {"name": "s", "namespace": "n", "path": "/ok/Bad_"}}),
            'webhooks[0].clientConfig.service.path: Invalid value: "/ok/Bad_": segment[1]: '
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
            "characters, '-' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ),
    ],
)
def test_invalid(hook: Obj, want: str) -> None:
    assert want in errors("validatingwebhookconfigurations", hook)


def test_names_must_be_unique() -> None:
    assert errors("mutatingwebhookconfigurations", good(), good()) == [
        'webhooks[1].name: Duplicate value: "check.example.com"'
    ]


def test_update_keeps_what_the_old_object_already_had() -> None:
    old: Obj = {"metadata": {"name": "cfg"}, "webhooks": [good(sideEffects="Unknown")]}
    assert errors("validatingwebhookconfigurations", good(sideEffects="Some"), old=old) == []
    strict_old: Obj = {"metadata": {"name": "cfg"}, "webhooks": [good()]}
    assert errors("validatingwebhookconfigurations", good(sideEffects="Some"), old=strict_old) != []
