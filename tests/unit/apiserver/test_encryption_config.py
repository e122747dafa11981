"""The EncryptionConfiguration file: what parses, and upstream's messages for
what does not (the server refuses to start with them)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from pinnace.apiserver.encryption.config import (
    EncryptionConfigError,
    load_encryption_config,
    parse_encryption_config,
)
from pinnace.apiserver.encryption.providers import transformers_by_prefix

K32 = base64.b64encode(bytes(32)).decode()
K16 = base64.b64encode(bytes(16)).decode()

GOOD_YAML = f"""
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets, configmaps]
    providers:
      - aesgcm:
          keys:
            - name: key2
              secret: {K32}
            - name: key1
              secret: {K16}
      - aescbc:
          keys: [{{name: cbc, secret: {K32}}}]
      - secretbox:
          keys: [{{name: box, secret: {K32}}}]
      - identity: {{}}
  - resources: ["*.apps"]
    providers: [{{identity: {{}}}}]
"""


def doc(resources: list[dict[str, object]]) -> str:
    return json.dumps(
        {
            "apiVersion": "apiserver.config.k8s.io/v1",
            "kind": "EncryptionConfiguration",
            "resources": resources,
        }
    )


def error(text: str) -> str:
    with pytest.raises(EncryptionConfigError) as e:
        parse_encryption_config(text, "enc.yaml")
    return str(e.value)


def test_yaml_parses_in_order() -> None:
    c = parse_encryption_config(GOOD_YAML)
    assert [r.resources for r in c.rules] == [("secrets", "configmaps"), ("*.apps",)]
    kinds = [p.kind for p in c.rules[0].providers]
    assert kinds == ["aesgcm", "aescbc", "secretbox", "identity"]
    assert [k.name for k in c.rules[0].providers[0].keys] == ["key2", "key1"]
    assert c.rules[0].providers[0].keys[0].secret == bytes(32)
    assert K32 not in repr(c)


def test_json_and_file(tmp_path: Path) -> None:
    f = tmp_path / "enc.json"
    f.write_text(doc([{"resources": ["secrets"], "providers": [{"identity": {}}]}]))
    assert load_encryption_config(f).rules[0].providers[0].kind == "identity"


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(EncryptionConfigError, match="error reading encryption provider"):
        load_encryption_config(tmp_path / "missing.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(EncryptionConfigError, match=r"empty\.yaml' is empty"):
        load_encryption_config(tmp_path / "empty.yaml")
    assert "error decoding" in error("resources: [")
    assert "expected apiVersion 'apiserver.config.k8s.io/v1' kind 'EncryptionConfiguration'" in (
        error("apiVersion: v1\nkind: ConfigMap\n")
    )


def test_key_problems_with_upstream_messages() -> None:
    msg = error(
        doc(
            [
                {
                    "resources": ["secrets"],
                    "providers": [
                        {"aescbc": {"keys": [{"name": "a", "secret": "not base64!"}]}},
                        {
                            "aesgcm": {
                                "keys": [
                                    {"name": "b", "secret": base64.b64encode(b"x" * 8).decode()}
                                ]
                            }
                        },
                        {"secretbox": {"keys": [{"name": "c", "secret": K16}]}},
                        {"aescbc": {"keys": [{"secret": K32}, {"name": "e"}]}},
                        {"aesgcm": {"keys": []}},
                    ],
                }
            ]
        )
    )
    assert msg.startswith("encryption provider configuration file 'enc.yaml': [")
    assert (
        'resources[0].providers[0].aescbc.keys[0].secret: Invalid value: "REDACTED": '
        "secrets must be base64 encoded"
    ) in msg
    assert (
        'resources[0].providers[1].aesgcm.keys[0].secret: Invalid value: "REDACTED": '
        "secret is not of the expected length, got 8, expected one of [16 24 32]"
    ) in msg
    assert (
        "resources[0].providers[2].secretbox.keys[0].secret: Invalid value: "
        '"REDACTED": secret is not of the expected length, got 16, expected one of [32]'
    ) in msg
    assert (
        "resources[0].providers[3].aescbc.keys[0].name: Required value: "
        "name is a mandatory field for a key"
    ) in msg
    assert (
        "resources[0].providers[3].aescbc.keys[1].secret: Required value: "
        "secret is a mandatory field for a key"
    ) in msg
    assert (
        "resources[0].providers[4].aesgcm.keys: Required value: at least one keys is required"
    ) in msg


def test_provider_and_resource_problems() -> None:
    msg = error(
        doc(
            [
                {
                    "resources": ["Secrets", "*", "events.events.k8s.io", "deployments.*"],
                    "providers": [
                        {"aesfoo": {"keys": [{"name": "k", "secret": K32}]}},
                        {"identity": {}, "aescbc": {"keys": []}},
                        {"kms": {"name": "x"}},
                    ],
                },
                {"resources": [], "providers": []},
                {"resources": ["secrets", "*."], "providers": [{"identity": {}}]},
            ]
        )
    )
    assert (
        'resources[0].resources[0]: Invalid value: "Secrets": resource name should not contain capital letters'
        in msg
    )
    assert "use '*.' to encrypt all the resources from core API group" in msg
    assert "'*.events.k8s.io' objects are stored using the 'events' API group in etcd" in msg
    assert "encrypting the same resource across groups is not supported" in msg
    assert (
        'resources[0].providers[0]: Invalid value: []string{"aesfoo"}: provider does not '
        "contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity"
    ) in msg
    assert K32 not in msg
    assert "more than one provider specified in a single element" in msg
    assert "KMS providers are not supported by pinnace" in msg
    assert (
        "resources[1].resources: Required value: at least one resources[1].resources is required"
        in msg
    )
    assert (
        "resources[1].providers: Required value: at least one resources[1].providers is required"
        in msg
    )
    assert "using overlapping resources such as 'secrets' and '*.'" in msg
    assert "Required value: at least one resources is required" in error(doc([]))


def R(group: str, resource: str) -> SimpleNamespace:
    prefix = f"/registry/{group or 'core'}/{resource}/"
    return SimpleNamespace(
        storage_group=group, storage_resource=resource, key_prefix=lambda: prefix
    )


def test_resources_map_to_key_prefixes_with_wildcards() -> None:
    c = parse_encryption_config(
        doc(
            [
                {
                    "resources": ["secrets"],
                    "providers": [{"aesgcm": {"keys": [{"name": "a", "secret": K32}]}}],
                },
                {
                    "resources": ["*.apps"],
                    "providers": [{"aescbc": {"keys": [{"name": "b", "secret": K32}]}}],
                },
                {
                    "resources": ["*.*"],
                    "providers": [{"secretbox": {"keys": [{"name": "c", "secret": K32}]}}],
                },
            ]
        )
    )
    out = transformers_by_prefix(
        c, [R("", "secrets"), R("apps", "deployments"), R("", "configmaps")]
    )
    prefixes = {p: t.write_prefix for p, t in out.items()}  # type: ignore[attr-defined]
    assert prefixes == {
        "/registry/core/secrets/": b"k8s:enc:aesgcm:v1:a:",
        "/registry/apps/deployments/": b"k8s:enc:aescbc:v1:b:",
        "/registry/core/configmaps/": b"k8s:enc:secretbox:v1:c:",
    }
    only_secrets = parse_encryption_config(
        doc([{"resources": ["secrets"], "providers": [{"identity": {}}]}])
    )
    assert set(transformers_by_prefix(only_secrets, [R("", "secrets"), R("", "configmaps")])) == {
        "/registry/core/secrets/"
    }


def test_rule_masked_by_earlier_wildcard() -> None:
    c = parse_encryption_config(
        doc(
            [
                {"resources": ["*.*"], "providers": [{"identity": {}}]},
                {"resources": ["secrets"], "providers": [{"identity": {}}]},
            ]
        )
    )
    with pytest.raises(EncryptionConfigError) as e:
        transformers_by_prefix(c, [R("", "secrets")])
    assert str(e.value) == 'resource "secrets" is masked by earlier rule "*.*"'
