"""The PodSecurity admission plugin: enforce/warn/audit per namespace labels,
workload templates, exemptions, updates, subresources, namespace labels."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest

from pinnace.api.resources import catalog
from pinnace.api.schema import Resource
from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.pod_security import PodSecurity, PodSecurityConfig
from pinnace.apiserver.authn import UserInfo
from pinnace.apiserver.errors import ApiError

Obj = dict[str, Any]
P = "pod-security.kubernetes.io/"
USER = UserInfo("alice", ("system:authenticated",))


def res(group: str, plural: str) -> Resource:
    return next(r for r in catalog().resources if r.group == group and r.plural == plural)


PODS = res("", "pods")
NAMESPACES = res("", "namespaces")
DEPLOYMENTS = res("apps", "deployments")
CRONJOBS = res("batch", "cronjobs")

PRIVILEGED_SPEC: Obj = {
    "containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": True}}]
}
RESTRICTED_SPEC: Obj = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [
        {
            "name": "c",
            "image": "nginx",
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
        }
    ],
}
PRIVILEGED_DETAIL = (
    'privileged (container "c" must not set securityContext.privileged=true), '
    "allowPrivilegeEscalation != false "
    '(container "c" must set securityContext.allowPrivilegeEscalation=false), '
    'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), '
    'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), '
    'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to '
    '"RuntimeDefault" or "Localhost")'
)


@dataclass
class AuditedRequest(AdmissionRequest):
    """A request that carries audit annotations (what the plugin fills when present)."""

    audit_annotations: dict[str, str] = field(default_factory=dict)


def ns(name: str, **labels: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {P + k.replace("_", "-"): v for k, v in labels.items()},
        },
    }


def pod(name: str, spec: Obj, **meta: Any) -> Obj:
    return {"metadata": {"name": name, **meta}, "spec": copy.deepcopy(spec)}


class World:
    def __init__(self, *namespaces: Obj, config: PodSecurityConfig | None = None) -> None:
        self.namespaces = {n["metadata"]["name"]: n for n in namespaces}
        self.pods: dict[str, list[Obj]] = {}
        self.plugin = PodSecurity(self.namespaces.get, lambda n: list(self.pods.get(n, [])), config)

    async def send(
        self,
        resource: Resource,
        obj: Obj | None,
        *,
        namespace: str = "",
        op: Operation = "CREATE",
        old: Obj | None = None,
        subresource: str = "",
        user: UserInfo = USER,
    ) -> AuditedRequest:
        name = ((obj or old or {}).get("metadata") or {}).get("name", "")
        req = AuditedRequest(op, resource, namespace, name, obj, old, user, subresource)
        await self.plugin.validate(req)
        return req


async def test_restricted_enforce_refuses_privileged_pod_with_upstream_message() -> None:
    w = World(ns("r", enforce="restricted"))
    with pytest.raises(ApiError) as e:
        await w.send(PODS, pod("p", PRIVILEGED_SPEC), namespace="r")
    assert e.value.code == 403
    assert e.value.reason == "Forbidden"
    assert e.value.message == (
        f'pods "p" is forbidden: violates PodSecurity "restricted:latest": {PRIVILEGED_DETAIL}'
    )
    assert e.value.details == {"name": "p", "kind": "pods"}


async def test_refusal_records_audit_annotations_but_no_warning() -> None:
    w = World(ns("r", enforce="restricted", audit="restricted", warn="restricted"))
    req = AuditedRequest("CREATE", PODS, "r", "p", pod("p", PRIVILEGED_SPEC), None, USER)
    with pytest.raises(ApiError):
        await w.plugin.validate(req)
    assert req.warnings == []
    assert req.audit_annotations == {
        P + "enforce-policy": "restricted:latest",
        P
        + "audit-violations": f'would violate PodSecurity "restricted:latest": {PRIVILEGED_DETAIL}',
    }


async def test_restricted_pod_passes_restricted() -> None:
    w = World(ns("r", enforce="restricted", audit="restricted", warn="restricted"))
    req = await w.send(PODS, pod("ok", RESTRICTED_SPEC), namespace="r")
    assert req.warnings == []
    assert req.audit_annotations == {P + "enforce-policy": "restricted:latest"}


async def test_baseline_enforce_with_restricted_warn() -> None:
    w = World(ns("b", enforce="baseline", enforce_version="v1.30", warn="restricted"))
    spec = {"containers": [{"name": "c", "image": "nginx"}]}
    req = await w.send(PODS, pod("p", spec), namespace="b")
    assert req.audit_annotations == {P + "enforce-policy": "baseline:v1.30"}
    assert req.warnings == [
        'would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false '
        '(container "c" must set securityContext.allowPrivilegeEscalation=false), '
        'unrestricted capabilities (container "c" must set '
        'securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" '
        'must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must '
        'set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'
    ]
    with pytest.raises(ApiError, match=r'violates PodSecurity "baseline:v1\.30": privileged'):
        await w.send(PODS, pod("p", PRIVILEGED_SPEC), namespace="b")


async def test_warn_only_namespace_allows_with_warning() -> None:
    w = World(ns("w", warn="baseline"))
    req = await w.send(PODS, pod("p", PRIVILEGED_SPEC), namespace="w")
    assert req.warnings == [
        'would violate PodSecurity "baseline:latest": privileged '
        '(container "c" must not set securityContext.privileged=true)'
    ]


async def test_unlabelled_namespace_is_privileged() -> None:
    w = World(ns("plain"))
    req = await w.send(PODS, pod("p", PRIVILEGED_SPEC), namespace="plain")
    assert req.warnings == []
    assert req.audit_annotations == {P + "enforce-policy": "privileged:latest"}


async def test_cluster_defaults_apply_to_unlabelled_namespaces() -> None:
    cfg = PodSecurityConfig.from_dict({"defaults": {"enforce": "baseline"}})
    w = World(ns("plain"), ns("opt-out", enforce="privileged"), config=cfg)
    with pytest.raises(ApiError, match='"baseline:latest"'):
        await w.send(PODS, pod("p", PRIVILEGED_SPEC), namespace="plain")
    await w.send(PODS, pod("p", PRIVILEGED_SPEC), namespace="opt-out")


async def test_workloads_are_warned_and_audited_never_refused() -> None:
    w = World(ns("r", enforce="restricted", audit="baseline"))
    deploy = {
        "metadata": {"name": "web"},
        "spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": PRIVILEGED_SPEC}},
    }
    req = await w.send(DEPLOYMENTS, deploy, namespace="r")
    assert req.warnings == [f'would violate PodSecurity "restricted:latest": {PRIVILEGED_DETAIL}']
    assert req.audit_annotations == {
        P + "audit-violations": 'would violate PodSecurity "baseline:latest": privileged '
        '(container "c" must not set securityContext.privileged=true)'
    }
    cron = {
        "metadata": {"name": "cj"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": RESTRICTED_SPEC}}}},
    }
    req = await w.send(CRONJOBS, cron, namespace="r")
    assert req.warnings == []
    # subresources of workloads (scale, status) are not checked
    req = await w.send(
        DEPLOYMENTS, deploy, namespace="r", op="UPDATE", old=deploy, subresource="scale"
    )
    assert req.warnings == []


async def test_exemptions() -> None:
    cfg = PodSecurityConfig(
        exempt_usernames=frozenset({"system:serviceaccount:kube-system:daemon-set-controller"}),
        exempt_namespaces=frozenset({"kube-system"}),
        exempt_runtime_classes=frozenset({"kata"}),
    )
    w = World(ns("kube-system", enforce="restricted"), ns("r", enforce="restricted"), config=cfg)
    req = await w.send(PODS, pod("p", PRIVILEGED_SPEC), namespace="kube-system")
    assert req.audit_annotations == {P + "exempt": "namespace"}
    ctrl = UserInfo("system:serviceaccount:kube-system:daemon-set-controller")
    req = await w.send(PODS, pod("p", PRIVILEGED_SPEC), namespace="r", user=ctrl)
    assert req.audit_annotations == {P + "exempt": "user"}
    kata = {**PRIVILEGED_SPEC, "runtimeClassName": "kata"}
    req = await w.send(PODS, pod("p", kata), namespace="r")
    assert req.audit_annotations == {P + "exempt": "runtimeClass"}
    with pytest.raises(ApiError):
        await w.send(PODS, pod("p", {**PRIVILEGED_SPEC, "runtimeClassName": "runc"}), namespace="r")


async def test_updates_are_checked_only_when_what_runs_changes() -> None:
    w = World(ns("r", enforce="restricted"))
    old = pod("p", PRIVILEGED_SPEC)  # admitted before the namespace was labelled
    relabelled = pod("p", PRIVILEGED_SPEC, labels={"x": "y"})
    await w.send(PODS, relabelled, namespace="r", op="UPDATE", old=old)
    new_image = copy.deepcopy(old)
    new_image["spec"]["containers"][0]["image"] = "nginx:2"
    with pytest.raises(ApiError):
        await w.send(PODS, new_image, namespace="r", op="UPDATE", old=old)
    # status and the other read/exec subresources never are
    for sub in ("status", "exec", "attach", "log", "binding", "eviction", "portforward"):
        await w.send(PODS, new_image, namespace="r", op="UPDATE", old=old, subresource=sub)
    # an ephemeral container added through the subresource is
    debug = copy.deepcopy(old)
    debug["spec"]["ephemeralContainers"] = [{"name": "dbg", "image": "busybox"}]
    with pytest.raises(ApiError, match='containers "c", "dbg" must set'):
        await w.send(
            PODS, debug, namespace="r", op="UPDATE", old=old, subresource="ephemeralcontainers"
        )
    # deletes are not checked
    await w.send(PODS, None, namespace="r", op="DELETE", old=old)


async def test_missing_namespace() -> None:
    w = World()
    with pytest.raises(ApiError) as e:
        await w.send(PODS, pod("p", RESTRICTED_SPEC), namespace="gone")
    assert (e.value.code, e.value.message) == (
        500,
        'Internal error occurred: failed to lookup namespace "gone"',
    )
    req = await w.send(DEPLOYMENTS, {"metadata": {"name": "d"}, "spec": {}}, namespace="gone")
    assert req.audit_annotations[P + "error"].startswith('failed to lookup namespace "gone"')


async def test_bad_namespace_labels_refused_on_create() -> None:
    w = World()
    with pytest.raises(ApiError) as e:
        await w.send(NAMESPACES, ns("x", enforce="strict"))
    assert e.value.code == 422
    assert e.value.message == (
        'Namespace "x" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: '
        'Invalid value: "strict": must be one of privileged, baseline, restricted'
    )
    with pytest.raises(ApiError) as e:
        await w.send(NAMESPACES, ns("x", enforce="strict", warn_version="1"))
    assert e.value.message.startswith('Namespace "x" is invalid: [metadata.labels[')
    assert len(e.value.details["causes"]) == 2  # type: ignore[index]


async def test_bad_namespace_labels_on_update() -> None:
    w = World()
    bad = ns("x", enforce="strict")
    # unchanged bad labels (e.g. an annotation edit) go through
    await w.send(NAMESPACES, copy.deepcopy(bad), op="UPDATE", old=bad)
    with pytest.raises(ApiError):
        await w.send(NAMESPACES, ns("x", enforce="strict", audit="x"), op="UPDATE", old=bad)
    with pytest.raises(ApiError):
        await w.send(NAMESPACES, bad, op="UPDATE", old=ns("x"))
    # a status/finalize write is not a label change
    await w.send(NAMESPACES, bad, op="UPDATE", old=ns("x"), subresource="finalize")


async def test_raising_enforce_warns_about_existing_pods() -> None:
    w = World(ns("dev"))
    w.pods["dev"] = [
        pod("b-priv", PRIVILEGED_SPEC),
        pod("a-priv", PRIVILEGED_SPEC),
        pod("c-priv", PRIVILEGED_SPEC),
        pod("hostnet", {**RESTRICTED_SPEC, "hostNetwork": True}),
        pod("fine", RESTRICTED_SPEC),
        pod("kata", {**PRIVILEGED_SPEC, "runtimeClassName": "kata"}),
    ]
    w.plugin.config = PodSecurityConfig(exempt_runtime_classes=frozenset({"kata"}))
    req = await w.send(NAMESPACES, ns("dev", enforce="restricted"), op="UPDATE", old=ns("dev"))
    assert req.warnings == [
        'existing pods in namespace "dev" violate the new PodSecurity enforce level '
        '"restricted:latest"',
        "a-priv (and 2 other pods): privileged, allowPrivilegeEscalation != false, "
        "unrestricted capabilities, runAsNonRoot != true, seccompProfile",
        "hostnet: host namespaces",
    ]
    # lowering the level, or an unchanged level, checks nothing
    req = await w.send(
        NAMESPACES, ns("dev", enforce="baseline"), op="UPDATE", old=ns("dev", enforce="restricted")
    )
    assert req.warnings == []
    req = await w.send(NAMESPACES, ns("dev", enforce="privileged"), op="UPDATE", old=ns("dev"))
    assert req.warnings == []


async def test_existing_pod_check_is_capped_one_per_controller_first() -> None:
    w = World(ns("dev"))
    owner = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u1",
              "controller": True}]  # fmt: skip
    w.pods["dev"] = [
        pod("rs-1", RESTRICTED_SPEC, ownerReferences=owner),
        pod("rs-2", RESTRICTED_SPEC, ownerReferences=owner),
        pod("solo", PRIVILEGED_SPEC),
    ]
    w.plugin.max_pods_to_check = 2
    req = await w.send(NAMESPACES, ns("dev", enforce="baseline"), op="UPDATE", old=ns("dev"))
    assert req.warnings == [
        "new PodSecurity enforce level only checked against the first 2 of 3 existing pods",
        'existing pods in namespace "dev" violate the new PodSecurity enforce level '
        '"baseline:latest"',
        "solo: privileged",
    ]


async def test_exempt_namespace_label_warning() -> None:
    cfg = PodSecurityConfig(exempt_namespaces=frozenset({"test"}))
    w = World(config=cfg)
    req = await w.send(NAMESPACES, ns("test", enforce="restricted"))
    assert req.warnings == [
        'namespace "test" is exempt from Pod Security, and the policy '
        "(enforce=restricted:latest) will be ignored"
    ]
    req = await w.send(
        NAMESPACES,
        ns("test", enforce="restricted", enforce_version="v1.0", audit="restricted"),
        op="UPDATE",
        old=ns("test"),
    )
    assert req.warnings == [
        'namespace "test" is exempt from Pod Security, and the policy '
        "(enforce=restricted:v1.0, audit=restricted:latest) will be ignored"
    ]  # the warn level only follows enforce; it is listed when a warn label sets it


async def test_plain_admission_request_still_gets_warnings() -> None:
    """Without an audit_annotations field the plugin still warns and refuses."""
    plugin = PodSecurity({"w": ns("w", warn="restricted")}.get, lambda n: [])
    req = AdmissionRequest("CREATE", PODS, "w", "p", pod("p", PRIVILEGED_SPEC), None, USER)
    await plugin.validate(req)
    assert req.warnings == [f'would violate PodSecurity "restricted:latest": {PRIVILEGED_DETAIL}']
    decision = plugin.review(req)
    assert decision.allowed and decision.audit_annotations == {
        "enforce-policy": "privileged:latest"
    }
