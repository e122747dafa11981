"""The default RBAC policy as data: the roles and bindings kube-apiserver v1.32
bootstraps (``ClusterRole``/``ClusterRoleBinding``/``Role``/``RoleBinding``
dicts shaped as the ``rbac.authorization.k8s.io/v1`` objects), and pinnace's
own additions for its in-process component identities.

Why data and not code: the reconciler
(:mod:`pinnace.apiserver.authz.bootstrap`) creates what is missing and adds
what an object lacks, so all it needs is the wanted objects. Each function
builds fresh dicts on every call (callers may mutate them); there is no state
and no I/O, so there is no concurrency to speak of.

Upstream facts kept exactly: names, rules (verbs, API groups, resources,
resource names and URLs sorted, as upstream's rule builder emits them), the
``kubernetes.io/bootstrapping: rbac-defaults`` label and the
``rbac.authorization.kubernetes.io/autoupdate: "true"`` annotation on every
object, the ``rbac.authorization.k8s.io/aggregate-to-*`` labels and
aggregation rules of ``admin``/``edit``/``view``, and ``system:controller:*``
roles bound to same-named ServiceAccounts in ``kube-system``.

Left out, because upstream 1.32 gates them off by default: the rules and roles
of DynamicResourceAllocation (scheduler/node rules, the resource-claim
controller), MultiCIDRServiceAllocator (service-cidrs controller, the proxier's
servicecidrs rule), VolumeAttributesClass (its protection controller),
SELinuxChangePolicy (selinux-warning controller), StorageVersionAPI with
APIServerIdentity (storage-version garbage collector), StorageVersionMigrator,
ClusterTrustBundle(Projection) and KubeletFineGrainedAuthz.

Pinnace's additions (``system:pinnace:*``) give each built-in component
identity that has no upstream binding exactly what its code calls; see
:func:`pinnace_cluster_roles`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "AGGREGATE_TO_ADMIN",
    "AGGREGATE_TO_EDIT",
    "AGGREGATE_TO_VIEW",
    "AUTOUPDATE_ANNOTATION",
    "BOOTSTRAPPING_LABEL",
    "CONTROLLER_PREFIX",
    "PINNACE_PREFIX",
    "cluster_role_bindings",
    "cluster_roles",
    "controller_names",
    "namespace_role_bindings",
    "namespace_roles",
    "pinnace_cluster_role_bindings",
    "pinnace_cluster_roles",
    "pinnace_namespace_role_bindings",
    "pinnace_namespace_roles",
]

Obj = dict[str, Any]
Rule = dict[str, Any]

RBAC_GROUP = "rbac.authorization.k8s.io"
API_VERSION = f"{RBAC_GROUP}/v1"
BOOTSTRAPPING_LABEL = "kubernetes.io/bootstrapping"
AUTOUPDATE_ANNOTATION = "rbac.authorization.kubernetes.io/autoupdate"
AGGREGATE_TO_ADMIN = "rbac.authorization.k8s.io/aggregate-to-admin"
AGGREGATE_TO_EDIT = "rbac.authorization.k8s.io/aggregate-to-edit"
AGGREGATE_TO_VIEW = "rbac.authorization.k8s.io/aggregate-to-view"
CONTROLLER_PREFIX = "system:controller:"
PINNACE_PREFIX = "system:pinnace:"

KUBE_SYSTEM = "kube-system"
KUBE_PUBLIC = "kube-public"

# users and groups (k8s.io/apiserver/pkg/authentication/user)
MASTERS = "system:masters"
NODES = "system:nodes"
MONITORING = "system:monitoring"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
SERVICE_ACCOUNTS = "system:serviceaccounts"
KUBE_PROXY = "system:kube-proxy"
KUBE_CONTROLLER_MANAGER = "system:kube-controller-manager"
KUBE_SCHEDULER = "system:kube-scheduler"

# API groups
CORE = ""
APPS = "apps"
AUTHENTICATION = "authentication.k8s.io"
AUTHORIZATION = "authorization.k8s.io"
AUTOSCALING = "autoscaling"
BATCH = "batch"
CERTIFICATES = "certificates.k8s.io"
COORDINATION = "coordination.k8s.io"
DISCOVERY = "discovery.k8s.io"
EXTENSIONS = "extensions"
POLICY = "policy"
STORAGE = "storage.k8s.io"
NETWORKING = "networking.k8s.io"
EVENTS = "events.k8s.io"
NODE = "node.k8s.io"
ADMISSIONREGISTRATION = "admissionregistration.k8s.io"
METRICS = "metrics.k8s.io"
CUSTOM_METRICS = "custom.metrics.k8s.io"
EXTERNAL_METRICS = "external.metrics.k8s.io"

# verb sets
READ = ("get", "list", "watch")
WRITE = ("create", "update", "patch", "delete", "deletecollection")
READ_WRITE = READ + WRITE
READ_UPDATE = (*READ, "update", "patch")
READ_WRITE_ONE = (*READ, "create", "update", "patch", "delete")  # no deletecollection

# the ConfigMap the legacy token tracker writes (kube-apiserver's legacytokentracking)
LEGACY_TOKEN_TRACKING_CONFIGMAP = "kube-apiserver-legacy-service-account-token-tracking"


# --- builders ------------------------------------------------------------------------------


def _words(items: str | Iterable[str]) -> list[str]:
    """Sorted, de-duplicated items; a string is a space-separated list."""
    return sorted(set(items.split() if isinstance(items, str) else items))


def rule(
    verbs: str | Iterable[str],
    groups: str | Iterable[str],
    resources: str | Iterable[str],
    names: str | Iterable[str] = (),
) -> Rule:
    """A resource ``PolicyRule``, lists sorted like upstream's rule builder emits them.

    ``verbs``, ``resources`` and ``names`` may be space-separated strings;
    ``groups`` is one group (``""`` is the core group) or an iterable of them.
    """
    r: Rule = {
        "verbs": _words(verbs),
        "apiGroups": sorted({groups} if isinstance(groups, str) else set(groups)),
        "resources": _words(resources),
    }
    if names:
        r["resourceNames"] = _words(names)
    return r


def url_rule(verbs: str | Iterable[str], urls: str | Iterable[str]) -> Rule:
    """A non-resource ``PolicyRule``."""
    return {"verbs": _words(verbs), "nonResourceURLs": _words(urls)}


def events_rule() -> Rule:
    """What every component that records events gets (core and events.k8s.io)."""
    return rule(("create", "update", "patch"), (CORE, EVENTS), "events")


def _meta(name: str, namespace: str = "", labels: dict[str, str] | None = None) -> Obj:
    m: Obj = {
        "name": name,
        "labels": {BOOTSTRAPPING_LABEL: "rbac-defaults", **(labels or {})},
        "annotations": {AUTOUPDATE_ANNOTATION: "true"},
    }
    if namespace:
        m["namespace"] = namespace
    return m


def cluster_role(
    name: str,
    rules: Sequence[Rule] = (),
    *,
    labels: dict[str, str] | None = None,
    aggregate_from: str = "",
) -> Obj:
    """A ClusterRole; with ``aggregate_from`` (a label key) an aggregated one without rules."""
    obj: Obj = {
        "apiVersion": API_VERSION,
        "kind": "ClusterRole",
        "metadata": _meta(name, "", labels),
    }
    if aggregate_from:
        obj["aggregationRule"] = {
            "clusterRoleSelectors": [{"matchLabels": {aggregate_from: "true"}}]
        }
    else:
        obj["rules"] = list(rules)
    return obj


def role(name: str, namespace: str, rules: Sequence[Rule]) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": "Role",
        "metadata": _meta(name, namespace),
        "rules": list(rules),
    }


def user(name: str) -> Obj:
    return {"kind": "User", "apiGroup": RBAC_GROUP, "name": name}


def group(name: str) -> Obj:
    return {"kind": "Group", "apiGroup": RBAC_GROUP, "name": name}


def service_account(namespace: str, name: str) -> Obj:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def cluster_role_binding(name: str, subjects: Sequence[Obj], role_name: str = "") -> Obj:
    """A ClusterRoleBinding of the ClusterRole ``role_name`` (default: ``name``)."""
    obj: Obj = {
        "apiVersion": API_VERSION,
        "kind": "ClusterRoleBinding",
        "metadata": _meta(name),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role_name or name},
    }
    if subjects:
        obj["subjects"] = list(subjects)
    return obj


def role_binding(name: str, namespace: str, subjects: Sequence[Obj], role_name: str = "") -> Obj:
    """A RoleBinding of the Role ``role_name`` (default: ``name``) in ``namespace``."""
    return {
        "apiVersion": API_VERSION,
        "kind": "RoleBinding",
        "metadata": _meta(name, namespace),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": role_name or name},
        "subjects": list(subjects),
    }


# --- upstream: cluster roles ---------------------------------------------------------------


def _node_rules() -> list[Rule]:
    """``system:node`` (NodeRules) with 1.32's default feature gates."""
    return [
        rule("create", AUTHENTICATION, "tokenreviews"),
        rule("create", AUTHORIZATION, "subjectaccessreviews localsubjectaccessreviews"),
        rule(READ, CORE, "services"),
        rule("create get list watch", CORE, "nodes"),
        rule("update patch", CORE, "nodes/status"),
        rule("update patch", CORE, "nodes"),
        rule("create update patch", CORE, "events"),
        rule(READ, CORE, "pods"),
        rule("create delete", CORE, "pods"),
        rule("update patch", CORE, "pods/status"),
        rule("create", CORE, "pods/eviction"),
        rule(READ, CORE, "secrets configmaps"),
        rule("get", CORE, "persistentvolumeclaims persistentvolumes"),
        rule("get", CORE, "endpoints"),
        rule("create get list watch", CERTIFICATES, "certificatesigningrequests"),
        rule("get create update patch delete", COORDINATION, "leases"),
        rule("get", STORAGE, "volumeattachments"),
        rule("create", CORE, "serviceaccounts/token"),
        rule("get update patch", CORE, "persistentvolumeclaims/status"),
        rule(READ, STORAGE, "csidrivers"),
        rule("get create update patch delete", STORAGE, "csinodes"),
        rule(READ, NODE, "runtimeclasses"),
    ]


def _aggregate_to_edit_rules() -> list[Rule]:
    return [
        # read on escalating resources
        rule(
            READ,
            CORE,
            "pods/attach pods/proxy pods/exec pods/portforward secrets services/proxy",
        ),
        rule("impersonate", CORE, "serviceaccounts"),
        rule(WRITE, CORE, "pods pods/attach pods/proxy pods/exec pods/portforward"),
        rule("create", CORE, "pods/eviction"),
        rule(
            WRITE,
            CORE,
            (
                "replicationcontrollers replicationcontrollers/scale serviceaccounts "
                "services services/proxy persistentvolumeclaims configmaps secrets "
                "events"
            ),
        ),
        rule("create", CORE, "serviceaccounts/token"),
        rule(
            WRITE,
            APPS,
            (
                "statefulsets statefulsets/scale daemonsets deployments "
                "deployments/scale deployments/rollback replicasets replicasets/scale"
            ),
        ),
        rule(WRITE, AUTOSCALING, "horizontalpodautoscalers"),
        rule(WRITE, BATCH, "jobs cronjobs"),
        rule(
            WRITE,
            EXTENSIONS,
            (
                "daemonsets deployments deployments/scale deployments/rollback "
                "ingresses replicasets replicasets/scale replicationcontrollers/scale "
                "networkpolicies"
            ),
        ),
        rule(WRITE, POLICY, "poddisruptionbudgets"),
        rule(WRITE, NETWORKING, "networkpolicies ingresses"),
        # leader election in one's own namespace (kubernetes#111472)
        rule(READ_WRITE, COORDINATION, "leases"),
    ]


def _aggregate_to_view_rules() -> list[Rule]:
    return [
        rule(
            READ,
            CORE,
            (
                "pods replicationcontrollers replicationcontrollers/scale "
                "serviceaccounts services services/status endpoints "
                "persistentvolumeclaims persistentvolumeclaims/status configmaps"
            ),
        ),
        rule(
            READ,
            CORE,
            (
                "limitranges resourcequotas bindings events pods/status "
                "resourcequotas/status namespaces/status replicationcontrollers/status "
                "pods/log"
            ),
        ),
        # reading namespaces at namespace scope means reading *this* namespace
        rule(READ, CORE, "namespaces"),
        rule(READ, DISCOVERY, "endpointslices"),
        rule(
            READ,
            APPS,
            (
                "controllerrevisions statefulsets statefulsets/status "
                "statefulsets/scale daemonsets daemonsets/status deployments "
                "deployments/status deployments/scale replicasets replicasets/status "
                "replicasets/scale"
            ),
        ),
        rule(READ, AUTOSCALING, "horizontalpodautoscalers horizontalpodautoscalers/status"),
        rule(READ, BATCH, "jobs cronjobs cronjobs/status jobs/status"),
        rule(
            READ,
            EXTENSIONS,
            (
                "daemonsets daemonsets/status deployments deployments/scale "
                "deployments/status ingresses ingresses/status replicasets "
                "replicasets/scale replicasets/status replicationcontrollers/scale "
                "networkpolicies"
            ),
        ),
        rule(READ, POLICY, "poddisruptionbudgets poddisruptionbudgets/status"),
        rule(READ, NETWORKING, "networkpolicies ingresses ingresses/status"),
    ]


def _kube_scheduler_rules() -> list[Rule]:
    return [
        events_rule(),
        # leader election
        rule("create", COORDINATION, "leases"),
        rule("get update", COORDINATION, "leases", names="kube-scheduler"),
        # fundamental resources
        rule(READ, CORE, "nodes"),
        rule("get list watch delete", CORE, "pods"),
        rule("create", CORE, "pods/binding bindings"),
        rule("patch update", CORE, "pods/status"),
        # things that select pods
        rule(READ, CORE, "services replicationcontrollers"),
        rule(READ, (APPS, EXTENSIONS), "replicasets"),
        rule(READ, APPS, "statefulsets"),
        # things that pods use or that apply to them
        rule(READ, POLICY, "poddisruptionbudgets"),
        rule(READ, CORE, "persistentvolumeclaims persistentvolumes"),
        # delegated authentication and authorization
        rule("create", AUTHENTICATION, "tokenreviews"),
        rule("create", AUTHORIZATION, "subjectaccessreviews"),
        rule(READ, STORAGE, "csinodes"),
        rule(READ, CORE, "namespaces"),
        rule(READ, STORAGE, "csidrivers"),
        rule(READ, STORAGE, "csistoragecapacities"),
    ]


def _kube_controller_manager_rules() -> list[Rule]:
    return [
        events_rule(),
        # leader election
        rule("create", COORDINATION, "leases"),
        rule("get update", COORDINATION, "leases", names="kube-controller-manager"),
        # what it needs to make the per-controller identities
        rule("create", CORE, "secrets serviceaccounts"),
        rule("delete", CORE, "secrets"),
        rule("get", CORE, "configmaps namespaces secrets serviceaccounts"),
        rule("update", CORE, "secrets serviceaccounts"),
        # delegated authentication and authorization
        rule("create", AUTHENTICATION, "tokenreviews"),
        rule("create", AUTHORIZATION, "subjectaccessreviews"),
        # the shared informers
        rule("list watch", "*", "*"),
        rule("create", CORE, "serviceaccounts/token"),
    ]


def _approver(name: str, signer: str) -> Obj:
    return cluster_role(
        f"system:certificates.k8s.io:{name}",
        [rule("approve", CERTIFICATES, "signers", names=(signer,))],
    )


def cluster_roles() -> list[Obj]:
    """Every ClusterRole kube-apiserver 1.32 bootstraps, controller roles included."""
    roles = [
        cluster_role("cluster-admin", [rule("*", "*", "*"), url_rule("*", "*")]),
        cluster_role(
            "system:discovery",
            [
                url_rule(
                    "get",
                    (
                        "/livez /readyz /healthz /version /version/ /openapi /openapi/* /api "
                        "/api/* /apis /apis/*"
                    ),
                )
            ],
        ),
        cluster_role(
            "system:monitoring",
            [
                url_rule(
                    "get",
                    (
                        "/metrics /metrics/slis /livez /readyz /healthz /livez/* /readyz/* "
                        "/healthz/*"
                    ),
                )
            ],
        ),
        cluster_role(
            "system:basic-user",
            [
                rule("create", AUTHORIZATION, "selfsubjectaccessreviews selfsubjectrulesreviews"),
                rule("create", AUTHENTICATION, "selfsubjectreviews"),
            ],
        ),
        cluster_role(
            "system:public-info-viewer",
            [url_rule("get", "/livez /readyz /healthz /version /version/")],
        ),
        cluster_role("admin", aggregate_from=AGGREGATE_TO_ADMIN),
        cluster_role("edit", labels={AGGREGATE_TO_ADMIN: "true"}, aggregate_from=AGGREGATE_TO_EDIT),
        cluster_role("view", labels={AGGREGATE_TO_EDIT: "true"}, aggregate_from=AGGREGATE_TO_VIEW),
        cluster_role(
            "system:aggregate-to-admin",
            [
                rule("create", AUTHORIZATION, "localsubjectaccessreviews"),
                rule(READ_WRITE, RBAC_GROUP, "roles rolebindings"),
            ],
            labels={AGGREGATE_TO_ADMIN: "true"},
        ),
        cluster_role(
            "system:aggregate-to-edit",
            _aggregate_to_edit_rules(),
            labels={AGGREGATE_TO_EDIT: "true"},
        ),
        cluster_role(
            "system:aggregate-to-view",
            _aggregate_to_view_rules(),
            labels={AGGREGATE_TO_VIEW: "true"},
        ),
        cluster_role(
            "system:heapster",
            [
                rule(READ, CORE, "events pods nodes namespaces"),
                rule(READ, EXTENSIONS, "deployments"),
            ],
        ),
        cluster_role("system:node", _node_rules()),
        cluster_role(
            "system:node-problem-detector",
            [
                rule("get", CORE, "nodes"),
                rule("patch", CORE, "nodes/status"),
                events_rule(),
            ],
        ),
        cluster_role(
            "system:kubelet-api-admin",
            [
                rule(READ, CORE, "nodes"),
                rule("proxy", CORE, "nodes"),
                rule("*", CORE, "nodes/proxy nodes/metrics nodes/stats nodes/log"),
            ],
        ),
        cluster_role(
            "system:node-bootstrapper",
            [rule("create get list watch", CERTIFICATES, "certificatesigningrequests")],
        ),
        cluster_role(
            "system:auth-delegator",
            [
                rule("create", AUTHENTICATION, "tokenreviews"),
                rule("create", AUTHORIZATION, "subjectaccessreviews"),
            ],
        ),
        cluster_role("system:kube-aggregator", [rule(READ, CORE, "services endpoints")]),
        cluster_role("system:kube-controller-manager", _kube_controller_manager_rules()),
        cluster_role("system:kube-dns", [rule("list watch", CORE, "endpoints services")]),
        cluster_role(
            "system:persistent-volume-provisioner",
            [
                rule("get list watch create delete", CORE, "persistentvolumes"),
                # update: the lock annotations on claims
                rule("get list watch update", CORE, "persistentvolumeclaims"),
                rule(READ, STORAGE, "storageclasses"),
                # watching provisioning success and failure events
                rule("watch", CORE, "events"),
                events_rule(),
            ],
        ),
        cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            [rule("create", CERTIFICATES, "certificatesigningrequests/nodeclient")],
        ),
        cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            [rule("create", CERTIFICATES, "certificatesigningrequests/selfnodeclient")],
        ),
        cluster_role(
            "system:volume-scheduler",
            [
                rule(READ_UPDATE, CORE, "persistentvolumes"),
                rule(READ, STORAGE, "storageclasses"),
                rule(READ_UPDATE, CORE, "persistentvolumeclaims"),
            ],
        ),
        _approver("legacy-unknown-approver", "kubernetes.io/legacy-unknown"),
        _approver("kubelet-serving-approver", "kubernetes.io/kubelet-serving"),
        _approver("kube-apiserver-client-approver", "kubernetes.io/kube-apiserver-client"),
        _approver(
            "kube-apiserver-client-kubelet-approver", "kubernetes.io/kube-apiserver-client-kubelet"
        ),
        cluster_role(
            "system:service-account-issuer-discovery",
            [
                url_rule(
                    "get",
                    (
                        "/.well-known/openid-configuration /.well-known/openid-configuration/ "
                        "/openid/v1/jwks /openid/v1/jwks/"
                    ),
                )
            ],
        ),
        cluster_role(
            "system:node-proxier",
            [
                rule("list watch", CORE, "services endpoints"),
                rule(READ, CORE, "nodes"),
                events_rule(),
                rule("list watch", DISCOVERY, "endpointslices"),
            ],
        ),
        cluster_role("system:kube-scheduler", _kube_scheduler_rules()),
    ]
    return roles + [cluster_role(CONTROLLER_PREFIX + n, r) for n, r in _controller_rules()]


def cluster_role_bindings() -> list[Obj]:
    """Upstream's default ClusterRoleBindings, the controller bindings included.

    ``system:node`` is bound to no one (the Node authorizer replaced the group
    binding in 1.8); pinnace binds the group itself in ``system:pinnace:nodes``.
    """
    bindings = [
        cluster_role_binding("cluster-admin", [group(MASTERS)]),
        cluster_role_binding("system:monitoring", [group(MONITORING)]),
        cluster_role_binding("system:discovery", [group(AUTHENTICATED)]),
        cluster_role_binding("system:basic-user", [group(AUTHENTICATED)]),
        cluster_role_binding(
            "system:public-info-viewer", [group(AUTHENTICATED), group(UNAUTHENTICATED)]
        ),
        cluster_role_binding("system:node-proxier", [user(KUBE_PROXY)]),
        cluster_role_binding("system:kube-controller-manager", [user(KUBE_CONTROLLER_MANAGER)]),
        cluster_role_binding("system:kube-dns", [service_account(KUBE_SYSTEM, "kube-dns")]),
        cluster_role_binding("system:kube-scheduler", [user(KUBE_SCHEDULER)]),
        cluster_role_binding("system:volume-scheduler", [user(KUBE_SCHEDULER)]),
        cluster_role_binding("system:node", []),
        cluster_role_binding("system:service-account-issuer-discovery", [group(SERVICE_ACCOUNTS)]),
    ]
    return bindings + [
        cluster_role_binding(CONTROLLER_PREFIX + n, [service_account(KUBE_SYSTEM, n)])
        for n, _ in _controller_rules()
    ]


# --- upstream: controller roles -------------------------------------------------------------


def _controller_rules() -> list[tuple[str, list[Rule]]]:
    """(controller, rules) of every ``system:controller:*`` ClusterRole in 1.32."""
    ev = events_rule
    return [
        (
            "attachdetach-controller",
            [
                rule("list watch", CORE, "persistentvolumes persistentvolumeclaims"),
                rule(READ, CORE, "nodes"),
                rule("patch update", CORE, "nodes/status"),
                rule("list watch", CORE, "pods"),
                ev(),
                rule("get create delete list watch", STORAGE, "volumeattachments"),
                rule(READ, STORAGE, "csidrivers"),
                rule(READ, STORAGE, "csinodes"),
            ],
        ),
        (
            "clusterrole-aggregation-controller",
            [rule(("escalate", *READ_UPDATE), RBAC_GROUP, "clusterroles")],
        ),
        (
            "cronjob-controller",
            [
                rule((*READ, "update"), BATCH, "cronjobs"),
                rule(READ_WRITE_ONE, BATCH, "jobs"),
                rule("update", BATCH, "cronjobs/status"),
                rule("update", BATCH, "cronjobs/finalizers"),
                rule("list delete", CORE, "pods"),
                ev(),
            ],
        ),
        (
            "daemon-set-controller",
            [
                rule(READ, (EXTENSIONS, APPS), "daemonsets"),
                rule("update", (EXTENSIONS, APPS), "daemonsets/status"),
                rule("update", (EXTENSIONS, APPS), "daemonsets/finalizers"),
                rule("list watch", CORE, "nodes"),
                rule("list watch create delete patch", CORE, "pods"),
                rule("create", CORE, "pods/binding"),
                rule(READ_WRITE_ONE, APPS, "controllerrevisions"),
                ev(),
            ],
        ),
        (
            "deployment-controller",
            [
                rule((*READ, "update"), (EXTENSIONS, APPS), "deployments"),
                rule("update", (EXTENSIONS, APPS), "deployments/status"),
                rule("update", (EXTENSIONS, APPS), "deployments/finalizers"),
                rule(READ_WRITE_ONE, (APPS, EXTENSIONS), "replicasets"),
                rule((*READ, "update"), CORE, "pods"),
                ev(),
            ],
        ),
        (
            "disruption-controller",
            [
                rule(READ, (EXTENSIONS, APPS), "deployments"),
                rule(READ, (APPS, EXTENSIONS), "replicasets"),
                rule(READ, CORE, "replicationcontrollers"),
                rule(READ, POLICY, "poddisruptionbudgets"),
                rule(READ, APPS, "statefulsets"),
                rule("update", POLICY, "poddisruptionbudgets/status"),
                rule("patch update", CORE, "pods/status"),
                rule("get", "*", "*/scale"),
                ev(),
            ],
        ),
        (
            "endpoint-controller",
            [
                rule(READ, CORE, "services pods"),
                rule("get list create update delete", CORE, "endpoints"),
                rule("create", CORE, "endpoints/restricted"),
                ev(),
            ],
        ),
        (
            "endpointslice-controller",
            [
                rule(READ, CORE, "services pods nodes"),
                rule("update", CORE, "services/finalizers"),
                rule("get list create update delete", DISCOVERY, "endpointslices"),
                ev(),
            ],
        ),
        (
            "endpointslicemirroring-controller",
            [
                rule(READ, CORE, "services endpoints"),
                rule("update", CORE, "services/finalizers"),
                rule("update", CORE, "endpoints/finalizers"),
                rule("get list create update delete", DISCOVERY, "endpointslices"),
                ev(),
            ],
        ),
        (
            "expand-controller",
            [
                rule(READ_UPDATE, CORE, "persistentvolumes"),
                rule("update patch", CORE, "persistentvolumeclaims/status"),
                rule(READ, CORE, "persistentvolumeclaims"),
                rule(READ, STORAGE, "storageclasses"),
                rule("get", CORE, "services endpoints"),
                rule("get", CORE, "secrets"),
                ev(),
            ],
        ),
        (
            "ephemeral-volume-controller",
            [
                rule(READ, CORE, "pods"),
                rule("update", CORE, "pods/finalizers"),
                rule((*READ, "create"), CORE, "persistentvolumeclaims"),
                ev(),
            ],
        ),
        (
            "generic-garbage-collector",
            [rule((*READ, "patch", "update", "delete"), "*", "*"), ev()],
        ),
        (
            "horizontal-pod-autoscaler",
            [
                rule(READ, AUTOSCALING, "horizontalpodautoscalers"),
                rule("update", AUTOSCALING, "horizontalpodautoscalers/status"),
                rule("get update", "*", "*/scale"),
                rule("list", CORE, "pods"),
                rule("list", METRICS, "pods"),
                rule("get list", CUSTOM_METRICS, "*"),
                rule("get list", EXTERNAL_METRICS, "*"),
                ev(),
            ],
        ),
        (
            "job-controller",
            [
                rule(READ_UPDATE, BATCH, "jobs"),
                rule("update", BATCH, "jobs/status"),
                rule("update", BATCH, "jobs/finalizers"),
                rule("list watch create delete patch", CORE, "pods"),
                ev(),
            ],
        ),
        (
            "namespace-controller",
            [
                rule((*READ, "delete"), CORE, "namespaces"),
                rule("update", CORE, "namespaces/finalize namespaces/status"),
                rule("get list delete deletecollection", "*", "*"),
            ],
        ),
        (
            "node-controller",
            [
                rule("get list update delete patch", CORE, "nodes"),
                rule("patch update", CORE, "nodes/status"),
                # pod deletion
                rule("patch update", CORE, "pods/status"),
                rule("list get delete", CORE, "pods"),
                ev(),
            ],
        ),
        (
            "persistent-volume-binder",
            [
                rule((*READ, "update", "create", "delete"), CORE, "persistentvolumes"),
                rule("update", CORE, "persistentvolumes/status"),
                rule((*READ, "update"), CORE, "persistentvolumeclaims"),
                rule("update", CORE, "persistentvolumeclaims/status"),
                rule((*READ, "create", "delete"), CORE, "pods"),
                rule(READ, STORAGE, "storageclasses"),
                rule("get create update delete", CORE, "endpoints"),
                rule("get create delete", CORE, "services"),
                rule("get", CORE, "secrets"),
                rule("get list", CORE, "nodes"),
                # the recycler watches its pod's events
                rule("watch", CORE, "events"),
                ev(),
            ],
        ),
        (
            "pod-garbage-collector",
            [
                rule("list watch delete", CORE, "pods"),
                rule("get list", CORE, "nodes"),
                rule("patch", CORE, "pods/status"),
            ],
        ),
        (
            "replicaset-controller",
            [
                rule((*READ, "update"), (APPS, EXTENSIONS), "replicasets"),
                rule("update", (APPS, EXTENSIONS), "replicasets/status"),
                rule("update", (APPS, EXTENSIONS), "replicasets/finalizers"),
                rule("list watch patch create delete", CORE, "pods"),
                ev(),
            ],
        ),
        (
            "replication-controller",
            [
                rule((*READ, "update"), CORE, "replicationcontrollers"),
                rule("update", CORE, "replicationcontrollers/status"),
                rule("update", CORE, "replicationcontrollers/finalizers"),
                rule("list watch patch create delete", CORE, "pods"),
                ev(),
            ],
        ),
        (
            "resourcequota-controller",
            [
                rule("list watch", "*", "*"),
                rule("update", CORE, "resourcequotas/status"),
                ev(),
            ],
        ),
        (
            "route-controller",
            [
                rule("list watch", CORE, "nodes"),
                rule("patch", CORE, "nodes/status"),
                ev(),
            ],
        ),
        ("service-account-controller", [rule("create", CORE, "serviceaccounts"), ev()]),
        (
            "service-controller",
            [
                rule(READ, CORE, "services"),
                rule("patch update", CORE, "services/status"),
                rule("list watch", CORE, "nodes"),
                ev(),
            ],
        ),
        (
            "statefulset-controller",
            [
                rule("list watch", CORE, "pods"),
                rule(READ, APPS, "statefulsets"),
                rule("update", APPS, "statefulsets/status"),
                rule("update", APPS, "statefulsets/finalizers"),
                rule("get create delete update patch", CORE, "pods"),
                rule(READ_WRITE_ONE, APPS, "controllerrevisions"),
                rule("get create", CORE, "persistentvolumeclaims"),
                ev(),
                # StatefulSetAutoDeletePVC (GA in 1.32)
                rule("update delete", CORE, "persistentvolumeclaims"),
            ],
        ),
        (
            "ttl-controller",
            [rule("update patch list watch", CORE, "nodes"), ev()],
        ),
        (
            "certificate-controller",
            [
                rule((*READ, "delete"), CERTIFICATES, "certificatesigningrequests"),
                rule(
                    "update",
                    CERTIFICATES,
                    "certificatesigningrequests/status certificatesigningrequests/approval",
                ),
                rule(
                    "approve",
                    CERTIFICATES,
                    "signers",
                    names="kubernetes.io/kube-apiserver-client-kubelet",
                ),
                rule(
                    "sign",
                    CERTIFICATES,
                    "signers",
                    names=(
                        "kubernetes.io/legacy-unknown kubernetes.io/kube-apiserver-client "
                        "kubernetes.io/kube-apiserver-client-kubelet "
                        "kubernetes.io/kubelet-serving"
                    ),
                ),
                rule("create", AUTHORIZATION, "subjectaccessreviews"),
                ev(),
            ],
        ),
        (
            "pvc-protection-controller",
            [
                rule((*READ, "update"), CORE, "persistentvolumeclaims"),
                rule(READ, CORE, "pods"),
                ev(),
            ],
        ),
        (
            "pv-protection-controller",
            [rule((*READ, "update"), CORE, "persistentvolumes"), ev()],
        ),
        (
            "ttl-after-finished-controller",
            [rule((*READ, "delete"), BATCH, "jobs"), ev()],
        ),
        (
            "root-ca-cert-publisher",
            [rule("create update", CORE, "configmaps"), ev()],
        ),
        (
            "validatingadmissionpolicy-status-controller",
            [
                rule(READ, ADMISSIONREGISTRATION, "validatingadmissionpolicies"),
                rule(
                    "get patch update",
                    ADMISSIONREGISTRATION,
                    "validatingadmissionpolicies/status",
                ),
                ev(),
            ],
        ),
        (
            "legacy-service-account-token-cleaner",
            [
                rule("get", CORE, "configmaps", names=(LEGACY_TOKEN_TRACKING_CONFIGMAP,)),
                rule("patch delete", CORE, "secrets"),
            ],
        ),
    ]


def controller_names() -> list[str]:
    """The controllers with a ``system:controller:<name>`` role (and ServiceAccount)."""
    return [n for n, _ in _controller_rules()]


# --- upstream: namespaced roles ------------------------------------------------------------


def namespace_roles() -> dict[str, list[Obj]]:
    """Upstream's Roles, by namespace (``kube-system`` and ``kube-public``)."""
    return {
        KUBE_SYSTEM: [
            role(
                "extension-apiserver-authentication-reader",
                KUBE_SYSTEM,
                [rule(READ, CORE, "configmaps", names="extension-apiserver-authentication")],
            ),
            role(
                "system::leader-locking-kube-controller-manager",
                KUBE_SYSTEM,
                [
                    rule("watch", CORE, "configmaps"),
                    rule("get update", CORE, "configmaps", names="kube-controller-manager"),
                ],
            ),
            role(
                "system::leader-locking-kube-scheduler",
                KUBE_SYSTEM,
                [
                    rule("watch", CORE, "configmaps"),
                    rule("get update", CORE, "configmaps", names="kube-scheduler"),
                ],
            ),
            role(
                CONTROLLER_PREFIX + "bootstrap-signer",
                KUBE_SYSTEM,
                [rule(READ, CORE, "secrets")],
            ),
            role(
                CONTROLLER_PREFIX + "cloud-provider",
                KUBE_SYSTEM,
                [rule("create get list watch", CORE, "configmaps")],
            ),
            role(
                CONTROLLER_PREFIX + "token-cleaner",
                KUBE_SYSTEM,
                [rule(("delete", *READ), CORE, "secrets"), events_rule()],
            ),
        ],
        KUBE_PUBLIC: [
            role(
                CONTROLLER_PREFIX + "bootstrap-signer",
                KUBE_PUBLIC,
                [
                    rule(READ, CORE, "configmaps"),
                    rule("update", CORE, "configmaps", names="cluster-info"),
                    events_rule(),
                ],
            ),
        ],
    }


def namespace_role_bindings() -> dict[str, list[Obj]]:
    """Upstream's RoleBindings, by namespace."""
    return {
        KUBE_SYSTEM: [
            role_binding(
                "system::extension-apiserver-authentication-reader",
                KUBE_SYSTEM,
                [user(KUBE_CONTROLLER_MANAGER), user(KUBE_SCHEDULER)],
                role_name="extension-apiserver-authentication-reader",
            ),
            role_binding(
                "system::leader-locking-kube-controller-manager",
                KUBE_SYSTEM,
                [
                    user(KUBE_CONTROLLER_MANAGER),
                    service_account(KUBE_SYSTEM, "kube-controller-manager"),
                ],
            ),
            role_binding(
                "system::leader-locking-kube-scheduler",
                KUBE_SYSTEM,
                [user(KUBE_SCHEDULER), service_account(KUBE_SYSTEM, "kube-scheduler")],
            ),
            role_binding(
                CONTROLLER_PREFIX + "bootstrap-signer",
                KUBE_SYSTEM,
                [service_account(KUBE_SYSTEM, "bootstrap-signer")],
            ),
            role_binding(
                CONTROLLER_PREFIX + "cloud-provider",
                KUBE_SYSTEM,
                [service_account(KUBE_SYSTEM, "cloud-provider")],
            ),
            role_binding(
                CONTROLLER_PREFIX + "token-cleaner",
                KUBE_SYSTEM,
                [service_account(KUBE_SYSTEM, "token-cleaner")],
            ),
        ],
        KUBE_PUBLIC: [
            role_binding(
                CONTROLLER_PREFIX + "bootstrap-signer",
                KUBE_PUBLIC,
                [service_account(KUBE_SYSTEM, "bootstrap-signer")],
            ),
        ],
    }


# --- pinnace's additions -------------------------------------------------------------------

KUBE_DNS_NAME = "kube-dns"


def pinnace_cluster_roles() -> list[Obj]:
    """ClusterRoles for pinnace's own components, least privilege each.

    * ``system:pinnace:controller-manager``: the controllers upstream does not
      ship (servicelb, the local-path provisioner, nodeipam);
    * ``system:pinnace:coredns``: what the CoreDNS ClusterRole kubeadm and k3s
      ship grants (pinnace's DNS watches services, endpointslices, namespaces).
    """
    return [
        cluster_role(
            PINNACE_PREFIX + "controller-manager",
            [
                # servicelb: load-balancer status from node addresses
                rule(READ_UPDATE, CORE, "services services/status"),
                # servicelb, local-path, nodeipam: nodes
                rule((*READ, "patch", "update"), CORE, "nodes"),
                # local-path: provision and delete volumes for claims of its classes
                rule((*READ, "create", "delete"), CORE, "persistentvolumes"),
                rule(READ, CORE, "persistentvolumeclaims"),
                rule(READ, STORAGE, "storageclasses"),
                rule("create patch", CORE, "events"),
            ],
        ),
        cluster_role(
            PINNACE_PREFIX + "coredns",
            [
                rule("list watch", CORE, "endpoints services pods namespaces"),
                rule("list watch", DISCOVERY, "endpointslices"),
            ],
        ),
        # the join token's identity may only trade itself for a node certificate
        cluster_role(
            PINNACE_PREFIX + "node-joiner", [url_rule("post", "/v1-pinnace/node-credentials")]
        ),
    ]


def pinnace_cluster_role_bindings() -> list[Obj]:
    """Bindings of pinnace's component identities.

    The controller manager runs every controller as ``system:kube-controller-
    manager`` (no per-controller ServiceAccounts), so that user is bound to
    every ``system:controller:*`` role (``system:pinnace:kcm:<controller>``)
    as well as to ``system:pinnace:controller-manager``. Kubelets named
    ``system:node:<name>`` (in-process, or agents that traded the join token
    for their node certificate: ``system:pinnace:node-joiner`` is all the
    join identity may do) are judged by the Node authorizer; the node
    simulator, which acts for many nodes, gets ``system:node`` through RBAC.
    Group ``system:nodes`` gets ``system:node-proxier``, because remote agents
    run kube-proxy as the node.
    """
    kcm = [user(KUBE_CONTROLLER_MANAGER)]
    return [
        cluster_role_binding(
            PINNACE_PREFIX + "kcm:" + name, kcm, role_name=CONTROLLER_PREFIX + name
        )
        for name in controller_names()
    ] + [
        cluster_role_binding(PINNACE_PREFIX + "controller-manager", kcm),
        # the node simulator acts for many nodes: the Node authorizer cannot judge it
        cluster_role_binding(
            PINNACE_PREFIX + "nodes", [user("system:node-simulator")], role_name="system:node"
        ),
        cluster_role_binding(PINNACE_PREFIX + "node-joiner", [user("system:node-agent")]),
        cluster_role_binding(
            PINNACE_PREFIX + "node-proxier", [group(NODES)], role_name="system:node-proxier"
        ),
        cluster_role_binding(PINNACE_PREFIX + "coredns", [service_account(KUBE_SYSTEM, "coredns")]),
    ]


def pinnace_namespace_roles() -> dict[str, list[Obj]]:
    """The DNS add-on keeps the ``kube-dns`` Service and each server's
    EndpointSlice for it in ``kube-system`` (create when missing, patch when
    different, delete the slices of servers that are gone); creates cannot be
    limited by name."""
    return {
        KUBE_SYSTEM: [
            role(
                PINNACE_PREFIX + "dns-addon",
                KUBE_SYSTEM,
                [
                    rule("create", CORE, "services"),
                    rule("get patch", CORE, "services", names=(KUBE_DNS_NAME,)),
                    # one slice per DNS server (kube-dns-<address>-<port>), and
                    # those of servers that are gone to delete
                    rule("create get patch delete", DISCOVERY, "endpointslices"),
                ],
            ),
        ]
    }


def pinnace_namespace_role_bindings() -> dict[str, list[Obj]]:
    return {
        KUBE_SYSTEM: [
            role_binding(
                PINNACE_PREFIX + "dns-addon",
                KUBE_SYSTEM,
                [service_account(KUBE_SYSTEM, "coredns")],
            ),
        ]
    }
