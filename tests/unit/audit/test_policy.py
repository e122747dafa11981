"""Audit policy parsing and first-match-wins evaluation (upstream semantics)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.apiserver.audit.policy import (
    AuditAttributes,
    PolicyError,
    evaluate,
    load_policy,
    parse_policy,
)
from pinnace.apiserver.authn import UserInfo

POLICY = """
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    users: ["system:kube-proxy"]
    verbs: ["watch"]
  - level: None
    nonResourceURLs: ["/healthz*", "/version"]
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets", "configmaps"]
    omitManagedFields: true
  - level: Request
    userGroups: ["dev"]
    namespaces: ["dev"]
  - level: RequestResponse
    resources:
      - group: "apps"
        resources: ["deployments/scale", "*/status"]
      - group: ""
        resources: ["pods"]
        resourceNames: ["special"]
    omitStages: [ResponseStarted]
  - level: Metadata
    resources:
      - group: "batch"
        resources: ["jobs/*"]
  - level: Metadata
    resources:
      - group: "rbac.authorization.k8s.io"
"""

ALICE = UserInfo("alice", ("dev", "system:authenticated"))


def res(
    resource: str,
    *,
    verb: str = "get",
    group: str = "",
    sub: str = "",
    ns: str = "default",
    name: str = "",
    user: UserInfo | None = ALICE,
) -> AuditAttributes:
    return AuditAttributes(user, verb, True, group, resource, sub, ns, name, "/x")


def nonres(path: str, user: UserInfo | None = ALICE) -> AuditAttributes:
    return AuditAttributes(user, "get", False, path=path)


def level(attrs: AuditAttributes) -> str:
    return evaluate(parse_policy(POLICY), attrs).level


def test_first_matching_rule_wins() -> None:
    assert level(res("secrets", ns="dev")) == "Metadata"  # before the dev-namespace rule
    assert level(res("pods", ns="dev")) == "Request"
    assert level(res("pods", ns="prod")) == "None"  # no rule: None


def test_users_verbs_and_groups() -> None:
    proxy = UserInfo("system:kube-proxy", ())
    assert level(res("secrets", verb="watch", user=proxy)) == "None"
    assert level(res("secrets", verb="list", user=proxy)) == "Metadata"
    bob = UserInfo("bob", ("ops",))
    assert level(res("pods", ns="dev", user=bob)) == "None"
    # no user (failed authentication): user and group rules never match
    assert level(res("pods", ns="dev", user=None)) == "None"
    assert level(res("secrets", user=None)) == "Metadata"


def test_non_resource_urls() -> None:
    assert level(nonres("/healthz")) == "None"
    assert level(nonres("/healthz/etcd")) == "None"
    assert level(nonres("/version")) == "None"
    assert level(nonres("/versions")) == "None"  # no rule matches either
    # a resource rule never matches a non-resource request and vice versa
    assert level(nonres("/api/v1/secrets")) == "None"


def test_subresources_and_resource_names() -> None:
    assert level(res("deployments", group="apps", sub="scale")) == "RequestResponse"
    assert level(res("deployments", group="apps")) == "None"
    assert level(res("statefulsets", group="apps", sub="status")) == "RequestResponse"
    assert level(res("jobs", group="batch", sub="status")) == "Metadata"
    assert level(res("jobs", group="batch")) == "Metadata"  # "jobs/*" covers jobs too
    assert level(res("cronjobs", group="batch", sub="status")) == "None"
    assert level(res("pods", name="special", ns="x")) == "RequestResponse"
    assert level(res("pods", name="other", ns="x")) == "None"
    assert level(res("roles", group="rbac.authorization.k8s.io")) == "Metadata"


def test_stages_union_and_managed_fields() -> None:
    p = parse_policy(POLICY)
    c = evaluate(p, res("pods", name="special"))
    assert c.omit_stages == {"RequestReceived", "ResponseStarted"}
    assert not c.omit_managed_fields
    c = evaluate(p, res("secrets"))
    assert c.omit_stages == {"RequestReceived"}
    assert c.omit_managed_fields


def test_policy_level_omit_managed_fields_overridden_by_rule() -> None:
    p = parse_policy(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitManagedFields: true\nrules:\n"
        "- level: Metadata\n  namespaces: [a]\n  omitManagedFields: false\n"
        "- level: Metadata\n"
    )
    assert not evaluate(p, res("pods", ns="a")).omit_managed_fields
    assert evaluate(p, res("pods", ns="b")).omit_managed_fields


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: Policy\nrules: [{level: Metadata}]", "unknown group version"),
        ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []", "with 0 rules"),
        (
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Everything}]",
            'rules[0].level: Unsupported value: "Everything"',
        ),
        ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{}]", "rules[0].level: Required"),
        (
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
            "- {level: None, nonResourceURLs: [healthz]}",
            "non-resource URL rules must begin with a '/' character",
        ),
        (
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
            "- {level: None, nonResourceURLs: ['/a*b']}",
            "wildcards '*' must be the final character",
        ),
        (
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
            "- {level: None, nonResourceURLs: ['/a'], namespaces: [x]}",
            "rules cannot apply to both regular resources and non-resource URLs",
        ),
        (
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
            "- {level: None, resources: [{group: '', resourceNames: [x]}]}",
            "using resourceNames requires at least one resource",
        ),
        (
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
            "- {level: None, resources: [{group: 'apps/v1'}]}",
            'resources.group: Invalid value: "apps/v1"',
        ),
        (
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
            "- {level: None, omitStages: [Done]}",
            "allowed stages are RequestReceived,ResponseStarted,ResponseComplete,Panic",
        ),
        ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [\n", "failed decoding"),
    ],
)
def test_bad_policies_are_refused(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as e:
        parse_policy(text)
    assert message in str(e.value)


def test_load_names_the_file(tmp_path: Path) -> None:
    f = tmp_path / "policy.yaml"
    f.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n")
    with pytest.raises(PolicyError, match=f"with 0 rules: from file {f}"):
        load_policy(f)
    with pytest.raises(PolicyError, match="failed to read file path"):
        load_policy(tmp_path / "missing.yaml")
    f.write_text("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules: [{level: Metadata}]\n")
    assert load_policy(f).rules[0].level == "Metadata"
