"""NodeRestriction: a kubelet (``system:node:<name>``) may change only its own
Node object, its own lease in ``kube-node-lease`` and the pods bound to it,
as upstream's NodeRestriction admission plugin rules. Refusals are 403s with
upstream's texts, e.g. ``pods "web" is forbidden: node "n1" can only update
pod status for pods with spec.nodeName set to itself``.

Works with the Node authorizer, which decides what a node may read; this
plugin narrows the writes the ``system:node`` rules allow. Identities the Node
authorizer does not know (join-token agents, the node simulator) are not
restricted here."""

from __future__ import annotations

from typing import Any

from pinnace.apiserver import errors
from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.authz.node import node_name

MIRROR = "kubernetes.io/config.mirror"
NODE_LEASES = "kube-node-lease"


def _node_of(pod: dict[str, Any] | None) -> str:
    return str(((pod or {}).get("spec") or {}).get("nodeName") or "")


class NodeRestriction:
    name = "NodeRestriction"

    async def validate(self, req: AdmissionRequest) -> None:
        node = node_name(req.user)
        if node is None:
            return
        r = req.resource
        if r.group == "" and r.plural == "pods":
            self._pod(req, node)
        elif r.group == "" and r.plural == "nodes":
            if req.name != node:
                verb = "delete" if req.operation == "DELETE" else "modify"
                self._deny(req, f'node "{node}" is not allowed to {verb} node "{req.name}"')
        elif r.group == "coordination.k8s.io" and r.plural == "leases":
            if req.namespace == NODE_LEASES and req.name != node:
                self._deny(
                    req, "can only access node lease with the same name as the requesting node"
                )

    def _pod(self, req: AdmissionRequest, node: str) -> None:
        if req.operation == "CREATE" and not req.subresource:
            pod = req.object or {}
            annotations = (pod.get("metadata") or {}).get("annotations") or {}
            if MIRROR not in annotations:
                self._deny(
                    req,
                    f'pod does not have "{MIRROR}" annotation, node "{node}" can only create '
                    "mirror pods",
                )
            if _node_of(pod) != node:
                self._deny(
                    req, f'node "{node}" can only create pods with spec.nodeName set to itself'
                )
        elif req.operation == "CREATE" and req.subresource == "eviction":
            if _node_of(req.old_object) not in ("", node):
                self._deny(
                    req, f'node "{node}" can only evict pods with spec.nodeName set to itself'
                )
        elif req.operation == "UPDATE" and req.subresource == "status":
            if _node_of(req.old_object) != node:
                self._deny(
                    req,
                    f'node "{node}" can only update pod status for pods with spec.nodeName set to '
                    "itself",
                )
        elif req.operation == "UPDATE" and not req.subresource:
            self._deny(
                req,
                f'unexpected operation "UPDATE", node "{node}" can only create and delete mirror '
                "pods",
            )
        elif req.operation == "DELETE":
            if _node_of(req.old_object) != node:
                self._deny(
                    req, f'node "{node}" can only delete pods with spec.nodeName set to itself'
                )

    @staticmethod
    def _deny(req: AdmissionRequest, message: str) -> None:
        raise errors.forbidden_object(req.resource.plural, req.resource.group, req.name, message)
