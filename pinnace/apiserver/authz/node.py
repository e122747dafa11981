"""The Node authorizer: what a kubelet (user ``system:node:<name>`` in group
``system:nodes``) may do, as upstream's Node authorization mode decides.

* Secrets, ConfigMaps, PersistentVolumeClaims and PersistentVolumes: only
  single objects, and only those a pod bound to the node uses (volumes,
  projected sources, env and envFrom references, image pull secrets, the
  claim's bound volume); otherwise no opinion, with upstream's reason
  ``no relationship found between node 'n1' and this object``.
* ``serviceaccounts/token``: only for service accounts a pod on the node runs as.
* Everything else: the ``system:node`` rules (read services and pods, write
  its Node and pod statuses, events, leases, ...); NodeRestriction admission
  then keeps a node to its own Node, lease and pods.

Upstream keeps a graph updated from informers; here the relationships are
read from the watch caches at request time (pods of one namespace, or the
node's pods for volumes): a kubelet fetches these objects a few times per pod
start, so a scan of one namespace's pods costs little. Runs on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from pinnace.apiserver.authn import UserInfo
from pinnace.apiserver.authz import Attributes, Decision
from pinnace.apiserver.authz.rules import Rule, allows_path, allows_resource

NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
Obj = dict[str, Any]

#: (namespace or "" for all) -> pods
ListPods = Callable[[str], list[Obj]]
#: (namespace, name) -> PersistentVolumeClaim or None
GetClaim = Callable[[str, str], Obj | None]


def node_name(user: UserInfo) -> str | None:
    """The node a user is, or None when it is not a node's identity."""
    if NODES_GROUP not in user.groups or not user.name.startswith(NODE_PREFIX):
        return None
    name = user.name[len(NODE_PREFIX) :]
    return name or None


def _containers(spec: Obj) -> Iterator[Obj]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or ()


def _referenced(pod: Obj, kind: str) -> set[str]:
    """Names of the Secrets / ConfigMaps / claims a pod uses."""
    spec = pod.get("spec") or {}
    out: set[str] = set()
    for v in spec.get("volumes") or ():
        if kind == "secrets":
            if v.get("secret"):
                out.add(str(v["secret"].get("secretName", "")))
            for src in (v.get("projected") or {}).get("sources") or ():
                if src.get("secret"):
                    out.add(str(src["secret"].get("name", "")))
            for driver in ("csi", "cephfs", "rbd", "iscsi", "flexVolume", "azureFile"):
                ref = (v.get(driver) or {}).get("nodePublishSecretRef") or (
                    v.get(driver) or {}
                ).get("secretRef")
                if isinstance(ref, dict):
                    out.add(str(ref.get("name", "")))
        elif kind == "configmaps":
            if v.get("configMap"):
                out.add(str(v["configMap"].get("name", "")))
            for src in (v.get("projected") or {}).get("sources") or ():
                if src.get("configMap"):
                    out.add(str(src["configMap"].get("name", "")))
        elif kind == "persistentvolumeclaims":
            if v.get("persistentVolumeClaim"):
                out.add(str(v["persistentVolumeClaim"].get("claimName", "")))
            if v.get("ephemeral"):
                out.add(f"{pod['metadata'].get('name', '')}-{v.get('name', '')}")
    if kind in ("secrets", "configmaps"):
        key_ref = "secretKeyRef" if kind == "secrets" else "configMapKeyRef"
        env_ref = "secretRef" if kind == "secrets" else "configMapRef"
        for c in _containers(spec):
            for e in c.get("env") or ():
                ref = (e.get("valueFrom") or {}).get(key_ref)
                if ref:
                    out.add(str(ref.get("name", "")))
            for ef in c.get("envFrom") or ():
                if ef.get(env_ref):
                    out.add(str(ef[env_ref].get("name", "")))
    if kind == "secrets":
        for ref in spec.get("imagePullSecrets") or ():
            out.add(str(ref.get("name", "")))
    out.discard("")
    return out


class NodeAuthorizer:
    def __init__(self, list_pods: ListPods, get_claim: GetClaim, node_rules: list[Rule]) -> None:
        self.list_pods = list_pods
        self.get_claim = get_claim
        self.node_rules = node_rules

    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        return self.decide(attrs)

    def _pods_on(self, node: str, namespace: str) -> Iterator[Obj]:
        for pod in self.list_pods(namespace):
            if (pod.get("spec") or {}).get("nodeName") == node:
                yield pod

    def _related(self, node: str, attrs: Attributes) -> bool:
        r, ns, name = attrs.resource, attrs.namespace, attrs.name
        if r in ("secrets", "configmaps", "persistentvolumeclaims"):
            return any(name in _referenced(p, r) for p in self._pods_on(node, ns))
        if r == "persistentvolumes":
            for pod in self._pods_on(node, ""):
                pod_ns = str(pod["metadata"].get("namespace", ""))
                for claim in _referenced(pod, "persistentvolumeclaims"):
                    pvc = self.get_claim(pod_ns, claim)
                    if pvc is not None and (pvc.get("spec") or {}).get("volumeName") == name:
                        return True
            return False
        if r == "serviceaccounts":
            return any(
                (p.get("spec") or {}).get("serviceAccountName", "default") == name
                for p in self._pods_on(node, ns)
            )
        return False

    def decide(self, attrs: Attributes) -> tuple[Decision, str]:
        node = node_name(attrs.user)
        if node is None:
            return "no-opinion", ""
        if not attrs.resource_request:
            ok = any(allows_path(r, attrs.verb, attrs.path) for r in self.node_rules)
            return ("allow", "") if ok else ("no-opinion", "")
        graph = attrs.api_group == "" and (
            attrs.resource
            in ("secrets", "configmaps", "persistentvolumeclaims", "persistentvolumes")
            or (attrs.resource == "serviceaccounts" and attrs.subresource == "token")
        )
        if graph:
            if attrs.resource == "serviceaccounts":
                if attrs.verb != "create":
                    return "no-opinion", "can only create tokens for individual service accounts"
            elif attrs.resource == "persistentvolumeclaims" and attrs.subresource == "status":
                if attrs.verb not in ("get", "update", "patch"):
                    return "no-opinion", "can only get, update or patch claim status"
            elif attrs.subresource:
                return "no-opinion", "node authorizer does not allow subresources"
            elif attrs.verb not in ("get", "list", "watch"):
                return "no-opinion", "can only read resources of this type"
            if not attrs.name:
                return "no-opinion", "can only read individual resources of this type"
            if not self._related(node, attrs):
                return "no-opinion", f"no relationship found between node '{node}' and this object"
            return "allow", ""
        for rule in self.node_rules:
            if allows_resource(
                rule, attrs.verb, attrs.api_group, attrs.resource, attrs.subresource, attrs.name
            ):
                return "allow", ""
        return "no-opinion", ""
