"""The default RBAC policy data: structure, upstream facts, and that every
built-in pinnace component identity is granted each API call its code makes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from pinnace.api.resources import catalog
from pinnace.api.strategy import strategy_for
from pinnace.apiserver.authz import bootstrap_policy as bp
from pinnace.apiserver.authz.rules import allows_path, allows_resource

Obj = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"


def _cluster_roles() -> list[Obj]:
    return bp.cluster_roles() + bp.pinnace_cluster_roles()


def _cluster_bindings() -> list[Obj]:
    return bp.cluster_role_bindings() + bp.pinnace_cluster_role_bindings()


def _by_ns(*maps: dict[str, list[Obj]]) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for m in maps:
        for ns, objs in m.items():
            out.setdefault(ns, []).extend(objs)
    return out


def _roles() -> dict[str, list[Obj]]:
    return _by_ns(bp.namespace_roles(), bp.pinnace_namespace_roles())


def _bindings() -> dict[str, list[Obj]]:
    return _by_ns(bp.namespace_role_bindings(), bp.pinnace_namespace_role_bindings())


def _all() -> list[Obj]:
    objs = _cluster_roles() + _cluster_bindings()
    for m in (_roles(), _bindings()):
        for v in m.values():
            objs += v
    return objs


def _names(objs: Iterable[Obj]) -> list[str]:
    return [o["metadata"]["name"] for o in objs]


def _role(name: str) -> Obj:
    (found,) = [r for r in _cluster_roles() if r["metadata"]["name"] == name]
    return found


def _binding(name: str) -> Obj:
    (found,) = [b for b in _cluster_bindings() if b["metadata"]["name"] == name]
    return found


# --- structure -----------------------------------------------------------------------------


def test_every_object_carries_the_bootstrapping_label_and_autoupdate_annotation() -> None:
    for o in _all():
        assert o["apiVersion"] == f"{RBAC}/v1"
        assert o["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
        assert o["metadata"]["annotations"] == {
            "rbac.authorization.kubernetes.io/autoupdate": "true"
        }


def test_names_are_unique_per_kind_and_namespace() -> None:
    for objs in (_cluster_roles(), _cluster_bindings()):
        names = _names(objs)
        assert len(names) == len(set(names))
    for m in (_roles(), _bindings()):
        for ns, objs in m.items():
            assert {o["metadata"]["namespace"] for o in objs} == {ns}
            assert len(_names(objs)) == len(set(_names(objs)))


def test_every_binding_references_a_role_that_exists() -> None:
    cluster = set(_names(_cluster_roles()))
    for b in _cluster_bindings():
        assert b["kind"] == "ClusterRoleBinding"
        assert b["roleRef"]["apiGroup"] == RBAC
        assert b["roleRef"]["kind"] == "ClusterRole"
        assert b["roleRef"]["name"] in cluster, b["metadata"]["name"]
    roles = _roles()
    for ns, bindings in _bindings().items():
        local = set(_names(roles.get(ns, [])))
        for b in bindings:
            ref = b["roleRef"]
            assert ref["name"] in (local if ref["kind"] == "Role" else cluster), ref


def test_every_object_passes_the_rbac_strategies_validation() -> None:
    cat = catalog()
    for o in _all():
        res = cat.by_kind(RBAC, "v1", o["kind"])
        assert res is not None
        assert strategy_for(res).validate(o) == [], o["metadata"]["name"]


def test_rules_are_well_formed_and_sorted() -> None:
    for o in _all():
        for r in o.get("rules") or []:
            assert r["verbs"] and r["verbs"] == sorted(set(r["verbs"]))
            if "nonResourceURLs" in r:
                assert o["kind"] == "ClusterRole"
                assert "resources" not in r and "apiGroups" not in r
                assert r["nonResourceURLs"] == sorted(r["nonResourceURLs"])
            else:
                assert r["resources"] == sorted(set(r["resources"]))
                assert r["apiGroups"] == sorted(set(r["apiGroups"]))
                assert r.get("resourceNames", []) == sorted(r.get("resourceNames", []))


def test_each_call_returns_fresh_objects() -> None:
    bp.cluster_roles()[0]["rules"].clear()
    bp.cluster_role_bindings()[0]["subjects"].clear()
    bp.namespace_roles()["kube-system"][0]["metadata"]["labels"].clear()
    assert _role("cluster-admin")["rules"]
    assert _binding("cluster-admin")["subjects"]
    assert bp.namespace_roles()["kube-system"][0]["metadata"]["labels"]


def test_pinnace_objects_are_prefixed() -> None:
    pinnace = bp.pinnace_cluster_roles() + bp.pinnace_cluster_role_bindings()
    for m in (bp.pinnace_namespace_roles(), bp.pinnace_namespace_role_bindings()):
        pinnace += [o for v in m.values() for o in v]
    assert pinnace
    assert all(n.startswith("system:pinnace:") for n in _names(pinnace))
    upstream = bp.cluster_roles() + bp.cluster_role_bindings()
    assert not any(n.startswith("system:pinnace:") for n in _names(upstream))


# --- upstream facts ------------------------------------------------------------------------


def test_cluster_admin_is_everything() -> None:
    assert _role("cluster-admin")["rules"] == [
        {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
        {"verbs": ["*"], "nonResourceURLs": ["*"]},
    ]
    assert _binding("cluster-admin")["subjects"] == [
        {"kind": "Group", "apiGroup": RBAC, "name": "system:masters"}
    ]


def test_discovery_and_public_info_urls() -> None:
    assert _role("system:discovery")["rules"] == [
        {
            "verbs": ["get"],
            "nonResourceURLs": [
                "/api",
                "/api/*",
                "/apis",
                "/apis/*",
                "/healthz",
                "/livez",
                "/openapi",
                "/openapi/*",
                "/readyz",
                "/version",
                "/version/",
            ],
        }
    ]
    assert _role("system:public-info-viewer")["rules"] == [
        {
            "verbs": ["get"],
            "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"],
        }
    ]
    groups = [s["name"] for s in _binding("system:public-info-viewer")["subjects"]]
    assert groups == ["system:authenticated", "system:unauthenticated"]
    assert [s["name"] for s in _binding("system:discovery")["subjects"]] == ["system:authenticated"]


def test_basic_user_can_review_itself() -> None:
    rules = _role("system:basic-user")["rules"]
    for group, resource in (
        ("authorization.k8s.io", "selfsubjectaccessreviews"),
        ("authorization.k8s.io", "selfsubjectrulesreviews"),
        ("authentication.k8s.io", "selfsubjectreviews"),
    ):
        assert any(allows_resource(r, "create", group, resource, "", "") for r in rules)
    assert not any(allows_resource(r, "get", "", "pods", "", "") for r in rules)


def test_admin_edit_view_aggregate() -> None:
    def selector(name: str) -> list[Obj]:
        return list(_role(name)["aggregationRule"]["clusterRoleSelectors"])

    assert selector("admin") == [{"matchLabels": {bp.AGGREGATE_TO_ADMIN: "true"}}]
    assert selector("edit") == [{"matchLabels": {bp.AGGREGATE_TO_EDIT: "true"}}]
    assert selector("view") == [{"matchLabels": {bp.AGGREGATE_TO_VIEW: "true"}}]
    for name in ("admin", "edit", "view"):
        assert "rules" not in _role(name)
    assert _role("edit")["metadata"]["labels"][bp.AGGREGATE_TO_ADMIN] == "true"
    assert _role("view")["metadata"]["labels"][bp.AGGREGATE_TO_EDIT] == "true"
    for suffix, label in (
        ("admin", bp.AGGREGATE_TO_ADMIN),
        ("edit", bp.AGGREGATE_TO_EDIT),
        ("view", bp.AGGREGATE_TO_VIEW),
    ):
        assert _role(f"system:aggregate-to-{suffix}")["metadata"]["labels"][label] == "true"


def _allows(rules: list[Obj], verb: str, group: str, resource: str, sub: str = "") -> bool:
    return any(allows_resource(r, verb, group, resource, sub, "x") for r in rules)


def test_view_reads_but_never_secrets_and_edit_cannot_write_endpoints() -> None:
    view = _role("system:aggregate-to-view")["rules"]
    assert _allows(view, "list", "", "pods")
    assert _allows(view, "get", "discovery.k8s.io", "endpointslices")
    assert not any("secrets" in r.get("resources", []) for r in view)
    assert not any(set(r["verbs"]) - {"get", "list", "watch"} for r in view)
    edit = _role("system:aggregate-to-edit")["rules"]
    assert _allows(edit, "get", "", "secrets")
    assert _allows(edit, "create", "", "serviceaccounts", "token")
    assert _allows(edit, "create", "", "pods", "eviction")
    assert not _allows(edit, "update", "", "endpoints")  # CVE-2021-25740
    assert _allows(edit, "create", "coordination.k8s.io", "leases")
    admin = _role("system:aggregate-to-admin")["rules"]
    assert _allows(admin, "create", RBAC, "rolebindings")
    assert not _allows(admin, "create", RBAC, "clusterrolebindings")


def test_controller_roles_are_bound_to_their_service_accounts() -> None:
    names = bp.controller_names()
    assert {"generic-garbage-collector", "namespace-controller", "job-controller"} <= set(names)
    # gated off by default in 1.32
    assert not {"resource-claim-controller", "service-cidrs-controller"} & set(names)
    for n in names:
        role = _role(f"system:controller:{n}")
        assert role["rules"]
        assert _binding(f"system:controller:{n}")["subjects"] == [
            {"kind": "ServiceAccount", "name": n, "namespace": "kube-system"}
        ]


def test_system_node_binding_has_no_subjects() -> None:
    assert "subjects" not in _binding("system:node")
    assert _binding("system:node")["roleRef"]["name"] == "system:node"


def test_leader_election_names() -> None:
    sched = _role("system:kube-scheduler")["rules"]
    assert any(
        allows_resource(r, "update", "coordination.k8s.io", "leases", "", "kube-scheduler")
        for r in sched
    )
    assert not any(
        allows_resource(r, "update", "coordination.k8s.io", "leases", "", "other") for r in sched
    )
    (locking,) = [
        r
        for r in bp.namespace_roles()["kube-system"]
        if r["metadata"]["name"] == "system::leader-locking-kube-controller-manager"
    ]
    assert {"verbs": ["get", "update"], "apiGroups": [""], "resources": ["configmaps"],
            "resourceNames": ["kube-controller-manager"]} in locking["rules"]  # fmt: skip


def test_kube_public_bootstrap_signer() -> None:
    (role,) = bp.namespace_roles()["kube-public"]
    assert role["metadata"]["name"] == "system:controller:bootstrap-signer"
    assert any(
        allows_resource(r, "update", "", "configmaps", "", "cluster-info") for r in role["rules"]
    )


# --- pinnace component identities ----------------------------------------------------------


def _subject_matches(s: Obj, user: str, groups: tuple[str, ...], binding_ns: str) -> bool:
    if s["kind"] == "User":
        return bool(s["name"] == user)
    if s["kind"] == "Group":
        return s["name"] in groups
    ns = s.get("namespace") or binding_ns
    return user == f"system:serviceaccount:{ns}:{s['name']}"


def _grants(user: str, groups: tuple[str, ...]) -> tuple[list[Obj], dict[str, list[Obj]]]:
    """(cluster-wide rules, namespace -> rules) the default policy grants."""
    groups = (*groups, "system:authenticated")
    cluster = {r["metadata"]["name"]: r for r in _cluster_roles()}
    wide: list[Obj] = []
    for b in _cluster_bindings():
        if any(_subject_matches(s, user, groups, "") for s in b.get("subjects", [])):
            wide += cluster[b["roleRef"]["name"]]["rules"]
    local: dict[str, list[Obj]] = {}
    roles = _roles()
    for ns, bindings in _bindings().items():
        named = {r["metadata"]["name"]: r for r in roles.get(ns, [])}
        for b in bindings:
            if any(_subject_matches(s, user, groups, ns) for s in b["subjects"]):
                ref = b["roleRef"]
                src = named if ref["kind"] == "Role" else cluster
                local.setdefault(ns, []).extend(src[ref["name"]]["rules"])
    return wide, local


Call = tuple[str, str, str, str, str, str]  # verb, group, resource, subresource, namespace, name


def _denied(user: str, groups: tuple[str, ...], calls: Iterable[Call]) -> list[Call]:
    wide, local = _grants(user, groups)
    out = []
    for verb, group, resource, sub, ns, name in calls:
        rules = wide + local.get(ns, [])
        if not any(allows_resource(r, verb, group, resource, sub, name) for r in rules):
            out.append((verb, group, resource, sub, ns, name))
    return out


def _rw(group: str, resource: str, verbs: str, ns: str = "default", name: str = "x") -> list[Call]:
    return [(v, group, resource, "", ns, "" if v in ("list", "watch", "create") else name)
            for v in verbs.split()]  # fmt: skip


def _sub(group: str, resource: str, sub: str, verbs: str, ns: str = "default") -> list[Call]:
    return [(v, group, resource, sub, ns, "x") for v in verbs.split()]


def _watched(resources: str) -> list[Call]:
    """list and watch across namespaces of ``resource`` or ``group/resource`` items."""
    out: list[Call] = []
    for item in resources.split():
        group, _, resource = item.rpartition("/")
        out += [("list", group, resource, "", "", ""), ("watch", group, resource, "", "", "")]
    return out


EVENTS: list[Call] = _rw("", "events", "create patch")

# what pinnace/controllers/*.py call (informers list+watch; writes as in the code)
KCM_CALLS: list[Call] = [
    *_rw("coordination.k8s.io", "leases", "create", ns="kube-system"),
    *_rw("coordination.k8s.io", "leases", "get update", "kube-system", "kube-controller-manager"),
    *EVENTS,
    *_watched(
        "pods nodes services endpoints namespaces serviceaccounts persistentvolumes"
        " persistentvolumeclaims replicationcontrollers apps/deployments apps/replicasets"
        " apps/statefulsets apps/daemonsets apps/controllerrevisions batch/jobs batch/cronjobs"
        " policy/poddisruptionbudgets discovery.k8s.io/endpointslices"
        " storage.k8s.io/storageclasses"
    ),
    *_rw("", "pods", "create delete patch"),
    *_sub("", "pods", "status", "patch update"),
    *_rw("batch", "jobs", "create get delete patch"),
    *_sub("batch", "jobs", "status", "update"),
    *_sub("batch", "cronjobs", "status", "update"),
    *_rw("apps", "replicasets", "create get update patch delete"),
    *_sub("apps", "replicasets", "status", "update"),
    *_rw("apps", "deployments", "get patch"),
    *_sub("apps", "deployments", "status", "update"),
    *_rw("apps", "daemonsets", "get"),
    *_sub("apps", "daemonsets", "status", "update"),
    *_sub("apps", "statefulsets", "status", "update"),
    *_rw("apps", "controllerrevisions", "create get patch delete"),
    *_rw("", "persistentvolumeclaims", "create"),
    *_rw("", "endpoints", "create update delete"),
    *_rw("discovery.k8s.io", "endpointslices", "create update delete"),
    *_rw("", "serviceaccounts", "create"),
    *_rw("", "namespaces", "get", ns=""),
    *_sub("", "namespaces", "status", "update", ns=""),
    *_sub("", "namespaces", "finalize", "update", ns=""),
    *_rw("", "configmaps", "deletecollection"),
    *_sub("policy", "poddisruptionbudgets", "status", "update"),
    # garbage collector: any resource
    *_rw("example.com", "widgets", "get patch delete"),
    # servicelb
    *_sub("", "services", "status", "patch"),
    # local-path provisioner
    *_rw("", "persistentvolumes", "create delete", ns=""),
    # nodeipam, nodelifecycle
    *_rw("", "nodes", "get patch update delete", ns=""),
    *_sub("", "nodes", "status", "patch", ns=""),
]

SCHEDULER_CALLS: list[Call] = [
    *_rw("coordination.k8s.io", "leases", "create", ns="kube-system"),
    *_rw("coordination.k8s.io", "leases", "get update", "kube-system", "kube-scheduler"),
    *EVENTS,
    *_watched(
        "pods nodes namespaces services replicationcontrollers persistentvolumeclaims"
        " persistentvolumes apps/replicasets apps/statefulsets policy/poddisruptionbudgets"
        " storage.k8s.io/storageclasses"
    ),
    *_sub("", "pods", "binding", "create"),
    *_sub("", "pods", "status", "patch"),
    *_rw("", "pods", "delete"),
]

NODE_CALLS: list[Call] = [
    *_rw("", "nodes", "create get list watch patch", ns=""),
    *_sub("", "nodes", "status", "patch", ns=""),
    *_rw("coordination.k8s.io", "leases", "get create patch", ns="kube-node-lease"),
    *_rw("", "pods", "list watch delete"),
    *_sub("", "pods", "status", "patch"),
    *_rw("", "services", "list"),
    *_rw("", "secrets", "get"),
    *_rw("", "configmaps", "get"),
    *_rw("", "persistentvolumeclaims", "get"),
    *_rw("", "persistentvolumes", "get", ns=""),
    *_sub("", "serviceaccounts", "token", "create"),
    *EVENTS,
    # kube-proxy on remote agents, as the node
    *_rw("discovery.k8s.io", "endpointslices", "list watch"),
]

PROXY_CALLS: list[Call] = [
    *_rw("", "services", "list watch"),
    *_rw("discovery.k8s.io", "endpointslices", "list watch"),
    *_rw("", "nodes", "list watch", ns=""),
]

DNS_SLICE = "kube-dns-10-0-0-1-53"
DNS_CALLS: list[Call] = [
    *_rw("", "services", "list watch", ns=""),
    *_rw("discovery.k8s.io", "endpointslices", "list watch", ns=""),
    *_rw("", "namespaces", "list watch", ns=""),
    *_rw("", "services", "create", ns="kube-system"),
    *_rw("", "services", "get patch", "kube-system", "kube-dns"),
    *_rw("discovery.k8s.io", "endpointslices", "create", ns="kube-system"),
    *_rw("discovery.k8s.io", "endpointslices", "get patch delete", "kube-system", "kube-dns"),
    *_rw("discovery.k8s.io", "endpointslices", "get patch delete", "kube-system", DNS_SLICE),
]


@pytest.mark.parametrize(
    ("user", "groups", "calls"),
    [
        ("system:kube-controller-manager", (), KCM_CALLS),
        ("system:kube-scheduler", (), SCHEDULER_CALLS),
        ("system:node-simulator", ("system:nodes",), NODE_CALLS),
        ("system:kube-proxy", (), PROXY_CALLS),
        ("system:serviceaccount:kube-system:coredns", ("system:serviceaccounts",), DNS_CALLS),
    ],
    ids=["kcm", "scheduler", "simulator", "proxy", "dns"],
)
def test_component_identities_are_granted_their_calls(
    user: str, groups: tuple[str, ...], calls: list[Call]
) -> None:
    assert _denied(user, groups, calls) == []


def test_join_identity_only_trades_itself_for_a_node_certificate() -> None:
    from pinnace.apiserver.authz.rules import allows_path

    bound = [
        b["roleRef"]["name"]
        for b in bp.pinnace_cluster_role_bindings()
        if {"kind": "User", "name": "system:node-agent", "apiGroup": "rbac.authorization.k8s.io"}
        in b["subjects"]
    ]
    assert bound == ["system:pinnace:node-joiner"]
    role = next(r for r in bp.pinnace_cluster_roles() if r["metadata"]["name"] == bound[0])
    assert allows_path(role["rules"][0], "post", "/v1-pinnace/node-credentials")
    assert _denied("system:node-agent", ("system:nodes",), _rw("", "secrets", "get")) != []


def test_components_get_no_more_than_they_need() -> None:
    assert _denied("system:kube-proxy", (), _rw("", "services", "update")) != []
    assert _denied("system:node:n1", ("system:nodes",), _rw("", "secrets", "update")) != []
    dns = "system:serviceaccount:kube-system:coredns"
    assert _denied(dns, (), _rw("", "services", "patch", "default", "kube-dns")) != []
    assert _denied(dns, (), _rw("", "services", "patch", "kube-system", "other")) != []
    assert _denied(dns, (), _rw("discovery.k8s.io", "endpointslices", "patch", "default")) != []
    assert _denied("someone", (), _rw("", "pods", "list")) != []


def test_kcm_is_bound_to_every_controller_role() -> None:
    refs = {
        b["roleRef"]["name"]
        for b in bp.pinnace_cluster_role_bindings()
        if {"kind": "User", "apiGroup": RBAC, "name": "system:kube-controller-manager"}
        in b.get("subjects", [])
    }
    assert refs == {f"system:controller:{n}" for n in bp.controller_names()} | {
        "system:pinnace:controller-manager"
    }


def test_authenticated_users_reach_discovery_urls() -> None:
    wide, _ = _grants("anyone", ())
    for path in ("/api", "/apis/apps/v1", "/version", "/healthz", "/openapi/v3"):
        assert any(allows_path(r, "get", path) for r in wide), path
    assert not any(allows_path(r, "get", "/metrics") for r in wide)
