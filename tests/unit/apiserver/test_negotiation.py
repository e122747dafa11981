from __future__ import annotations

import pytest

from pinnace.apiserver import errors
from pinnace.apiserver.negotiation import decode_body, parse_accept


def test_table_accept_from_kubectl_get() -> None:
    acc = parse_accept(
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
    )
    assert acc.table


def test_plain_and_yaml_accept() -> None:
    assert not parse_accept("application/json").table
    assert parse_accept("application/yaml").yaml
    assert not parse_accept("application/json, application/yaml").yaml
    assert parse_accept("application/vnd.kubernetes.protobuf").protobuf_only
    assert not parse_accept("application/vnd.kubernetes.protobuf, */*").protobuf_only


def test_partial_metadata_accept() -> None:
    acc = parse_accept("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io")
    assert acc.partial_metadata_list


def test_decode_json_yaml_and_errors() -> None:
    assert decode_body(b'{"a": 1}', "application/json") == {"a": 1}
    assert decode_body(b'{"a": 1}', "") == {"a": 1}
    assert decode_body(b"a: 1\nb: [x]\n", "application/yaml") == {"a": 1, "b": ["x"]}
    with pytest.raises(errors.ApiError) as e:
        decode_body(b"{", "application/json")
    assert e.value.code == 400
    with pytest.raises(errors.ApiError) as e:
        decode_body(b"<x/>", "application/xml")
    assert e.value.code == 415
    with pytest.raises(errors.ApiError) as e:
        decode_body(b"a: [", "application/yaml")
    assert e.value.code == 400
