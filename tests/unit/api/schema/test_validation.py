"""Structural validation from the schema, and the shared validators, with
upstream's messages."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pinnace.api import validation_common as vc
from pinnace.api.schema.validation import (
    FieldError,
    find_duplicate_fields,
    quantity_problem,
    status_invalid,
    strict_decoding_message,
    validate_structure,
)
from tests.unit.api.schema import mini_schema

REG, _ = mini_schema.build()
DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"

GOOD: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}, "creationTimestamp": None},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "nginx",
                        "image": "nginx",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {"limits": {"cpu": "500m", "memory": 1073741824}},
                    }
                ]
            },
        },
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
        },
    },
    "status": {},
}


def check(obj: dict[str, Any], strict: bool = False) -> tuple[list[FieldError], list[str]]:
    return validate_structure(obj, DEPLOYMENT, strict=strict, registry=REG)


def with_change(path: str, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(GOOD)
    node: Any = obj
    *parents, last = path.split(".")
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return obj


def test_valid_object_has_no_problems() -> None:
    assert check(GOOD) == ([], [])
    assert check(GOOD, strict=True) == ([], [])


def test_unknown_fields_warn_or_fail() -> None:
    obj = with_change("spec.foo", 1)
    obj["spec"]["template"]["spec"]["containers"][0]["bar"] = "x"
    errors, warnings = check(obj)
    assert errors == []
    assert warnings == [
        'unknown field "spec.template.spec.containers[0].bar"',
        'unknown field "spec.foo"',
    ]
    errors, strict = check(obj, strict=True)
    assert strict == [
        'strict decoding error: unknown field "spec.template.spec.containers[0].bar", '
        'unknown field "spec.foo"'
    ]


@pytest.mark.parametrize(
    ("path", "value", "field", "message"),
    [
        ("spec.replicas", "2", "spec.replicas", 'Invalid value: "2": must be of type int32'),
        (
            "spec.replicas",
            2**31,
            "spec.replicas",
            "Invalid value: 2147483648: must be in the range of int32: [-2147483648, 2147483647]",
        ),
        ("spec.replicas", 2.5, "spec.replicas", "Invalid value: 2.5: must be of type int32"),
        ("spec.replicas", True, "spec.replicas", "Invalid value: true: must be of type int32"),
        (
            "spec.template.spec.containers.0.image",
            5,
            "spec.template.spec.containers[0].image",
            "Invalid value: 5: must be of type string",
        ),
        (
            "spec.template.spec.containers",
            {},
            "spec.template.spec.containers",
            "Invalid value: {}: must be of type array",
        ),
        (
            "metadata.labels",
            ["a"],
            "metadata.labels",
            'Invalid value: ["a"]: must be of type object',
        ),
        (
            "spec.selector",
            "app=web",
            "spec.selector",
            'Invalid value: "app=web": must be of type object',
        ),
        ("spec.paused", "yes", "spec.paused", 'Invalid value: "yes": must be of type boolean'),
        (
            "metadata.creationTimestamp",
            "yesterday",
            "metadata.creationTimestamp",
            'Invalid value: "yesterday": must be an RFC3339 date-time, like "2006-01-02T15:04:05Z"',
        ),
        (
            "spec.strategy.rollingUpdate.maxSurge",
            1.5,
            "spec.strategy.rollingUpdate.maxSurge",
            "Invalid value: 1.5: must be of type integer or string",
        ),
    ],
)
def test_type_errors(path: str, value: Any, field: str, message: str) -> None:
    errors, _ = check(with_change(path, value))
    assert [(e.field, e.message) for e in errors] == [(field, message)]


def test_quantities() -> None:
    for good in ("1", "500m", "1.5Gi", "2e3", "+1k", ".5", "1E-3", "0"):
        assert quantity_problem(good) is None, good
    assert quantity_problem("1.2.3") is not None
    assert quantity_problem("1kM") == "unable to parse quantity's suffix"
    obj = with_change("spec.template.spec.containers.0.resources", {"limits": {"cpu": "one"}})
    errors, _ = check(obj)
    assert [e.to_cause() for e in errors] == [
        {
            "reason": "FieldValueInvalid",
            "field": "spec.template.spec.containers[0].resources.limits[cpu]",
            "message": 'Invalid value: "one": quantities must match the regular expression '
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        }
    ]


def test_required_and_enum() -> None:
    obj = copy.deepcopy(GOOD)
    del obj["spec"]["selector"]
    obj["spec"]["template"]["spec"]["containers"][0]["name"] = ""
    obj["spec"]["strategy"]["type"] = "Fast"
    errors, _ = check(obj)
    assert [str(e) for e in errors] == [
        "spec.selector: Required value",
        "spec.template.spec.containers[0].name: Required value",
        'spec.strategy.type: Unsupported value: "Fast": supported values: "Recreate", "RollingUpdate"',
    ]
    # an empty required list is missing; {} for a required struct is present
    obj = with_change("spec.template.spec.containers", [])
    obj["spec"]["template"] = obj["spec"]["template"]
    assert [str(e) for e in check(obj)[0]] == ["spec.template.spec.containers: Required value"]
    obj = with_change("spec.template", {})
    assert check(obj) == ([], [])


def test_nulls_are_absent() -> None:
    assert check(with_change("spec.replicas", None)) == ([], [])
    errors, _ = check(with_change("spec.selector", None))
    assert [str(e) for e in errors] == ["spec.selector: Required value"]


def test_bytes_are_base64() -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x"},
        "binaryData": {"a": "AAEC", "b": "!!"},
    }
    errors, _ = validate_structure(cm, "io.k8s.api.core.v1.ConfigMap", strict=True, registry=REG)
    assert [e.field for e in errors] == ["binaryData[b]"]
    assert errors[0].message.startswith('Invalid value: "!!": illegal base64 data')


def test_duplicate_fields() -> None:
    raw = b'{"metadata": {"name": "a", "name": "b"}, "spec": {"containers": [{"x": 1, "x": 2}]}}'
    assert find_duplicate_fields(raw) == [
        'duplicate field "metadata.name"',
        'duplicate field "spec.containers[0].x"',
    ]
    assert find_duplicate_fields(b'{"a": 1}') == []
    assert find_duplicate_fields(b"not json") == []
    assert strict_decoding_message(['duplicate field "a"', 'unknown field "b"']) == (
        'strict decoding error: duplicate field "a", unknown field "b"'
    )


def test_status_invalid_matches_upstream_shape() -> None:
    errs = [FieldError.required("spec.selector"), FieldError.invalid("metadata.name", "A", "bad")]
    status = status_invalid("apps", "Deployment", "web", errs)
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["message"] == (
        'Deployment.apps "web" is invalid: [spec.selector: Required value, '
        'metadata.name: Invalid value: "A": bad]'
    )
    assert status["details"] == {
        "name": "web",
        "kind": "Deployment",
        "group": "apps",
        "causes": [
            {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.selector"},
            {
                "reason": "FieldValueInvalid",
                "message": 'Invalid value: "A": bad',
                "field": "metadata.name",
            },
        ],
    }
    one = status_invalid("", "Pod", "p", [FieldError.forbidden("spec.x", "may not be set")])
    assert one["message"] == 'Pod "p" is invalid: spec.x: Forbidden: may not be set'
    assert "group" not in one["details"]


def test_field_error_messages() -> None:
    assert FieldError.too_long("metadata.annotations", "", 262144).message == (
        "Too long: must have at most 262144 bytes"
    )
    assert FieldError.duplicate("spec.x[1]", "a").message == 'Duplicate value: "a"'
    assert FieldError.not_supported("f", "x", ["a", "b"]).message == (
        'Unsupported value: "x": supported values: "a", "b"'
    )
    assert FieldError.invalid("f", None, "no").message == "Invalid value: null: no"


# -- validation_common --------------------------------------------------------------

SUBDOMAIN_REGEX_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def test_dns_names() -> None:
    assert vc.is_dns1123_subdomain("my.app-1") == []
    assert vc.is_dns1123_subdomain("My_App") == [SUBDOMAIN_REGEX_MSG]
    assert vc.is_dns1123_subdomain("a" * 254)[0] == "must be no more than 253 characters"
    assert vc.is_dns1123_label("web-1") == []
    assert vc.is_dns1123_label("a.b") == ["must not contain dots"]
    assert vc.is_dns1123_label("-a") == [
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
        "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
        "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    ]
    assert vc.is_dns1035_label("1abc") == [
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
        "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
        "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
    ]


def test_labels_and_annotations() -> None:
    assert vc.is_qualified_name("app.kubernetes.io/name") == []
    assert vc.is_qualified_name("/x") == ["prefix part must be non-empty"]
    assert vc.is_qualified_name("a/b/c")[0].startswith("a qualified name must consist of")
    assert vc.is_qualified_name("x" * 64) == ["name part must be no more than 63 characters"]
    errs = vc.validate_labels({"app": "web", "bad key!": "v", "k": "-v-"}, "metadata.labels")
    assert [(e.field, e.bad_value) for e in errs] == [
        ("metadata.labels", "bad key!"),
        ("metadata.labels", "-v-"),
    ]
    assert errs[1].message == (
        'Invalid value: "-v-": a valid label must be an empty string or consist of alphanumeric '
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    )
    assert vc.validate_annotations({"Example.com/Key": "v"}, "metadata.annotations") == []
    big = {"a": "x" * (256 * 1024)}
    errs = vc.validate_annotations(big, "metadata.annotations")
    assert [str(e) for e in errs] == [
        "metadata.annotations: Too long: must have at most 262144 bytes"
    ]


def test_object_meta() -> None:
    assert vc.validate_object_meta({"name": "web", "namespace": "default"}, namespaced=True) == []
    errs = vc.validate_object_meta({"generateName": "Web-"}, namespaced=True)
    assert [str(e).split(":")[0] for e in errs] == [
        "metadata.generateName",
        "metadata.name",
        "metadata.namespace",
    ]
    assert str(errs[1]) == "metadata.name: Required value: name or generateName is required"
    errs = vc.validate_object_meta({"name": "n", "namespace": "x"}, namespaced=False)
    assert [str(e) for e in errs] == ["metadata.namespace: Forbidden: not allowed on this type"]
    errs = vc.validate_object_meta(
        {"name": "svc.1"}, namespaced=False, name_fn=vc.name_is_dns1035_label
    )
    assert errs[0].field == "metadata.name"
    # generateName prefixes are checked with a trailing dash masked
    assert vc.name_is_dns_subdomain("web-", True) == []
    assert vc.name_is_dns_subdomain("web-", False) != []


def test_other_validators() -> None:
    assert vc.is_c_identifier("MY_VAR") == []
    assert vc.is_c_identifier("1x") != []
    assert vc.is_env_var_name("my.env-name") == []
    assert vc.is_env_var_name("1x") != []
    assert vc.is_config_map_key("..x") == ["must not start with '..'"]
    assert vc.is_valid_port_num(0) == ["must be between 1 and 65535, inclusive"]
    assert vc.is_valid_port_name("http") == []
    assert vc.is_valid_port_name("a--b") == ["must not contain consecutive hyphens"]
    assert vc.is_valid_path_segment_name("a/b") == ["may not contain '/'"]
    name = vc.generate_name("x" * 70)
    assert len(name) == 63 and name.startswith("x" * 58)
    assert (
        vc.validate_finalizers(["a/b", "a/b"], "metadata.finalizers")[0].type
        == "FieldValueDuplicate"
    )


def test_real_deployment_validates() -> None:
    from pinnace.api.resources import catalog

    if catalog().by_kind("apps", "v1", "Deployment") is None:
        pytest.skip("apps/v1 Deployment is not declared yet")
    assert validate_structure(GOOD, DEPLOYMENT, strict=True) == ([], [])
    errors, problems = validate_structure(with_change("spec.foo", 1), DEPLOYMENT, strict=False)
    assert (errors, problems) == ([], ['unknown field "spec.foo"'])
    errors, _ = validate_structure(with_change("spec.replicas", "x"), DEPLOYMENT, strict=False)
    assert [e.field for e in errors] == ["spec.replicas"]


def test_empty_values_upstream_allows() -> None:
    from pinnace.api.resources import catalog

    catalog()
    pdb_status = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "s"},
        "addressType": "IPv4",
        "endpoints": [],
    }
    errors, _ = validate_structure(pdb_status, "io.k8s.api.discovery.v1.EndpointSlice", strict=True)
    assert errors == []
