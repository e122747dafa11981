"""The root CA publisher: a ``kube-root-ca.crt`` ConfigMap with the cluster CA in
every namespace.

Upstream's ``pkg/controller/certificates/rootcacertpublisher``: every active
namespace holds a ConfigMap ``kube-root-ca.crt`` whose ``data`` is exactly
``ca.crt: <the CA bundle>``, annotated ``kubernetes.io/description``; the
ServiceAccount admission plugin projects it into every pod's
``kube-api-access-*`` volume, so pods can verify the API server. A deleted or
edited ConfigMap is put back.

The CA bundle is the one this controller's own client trusts
(``ClientConfig.ca_data`` of its transport), or the ``ca_pem`` passed in. With
neither (a plain-HTTP client) there is nothing to publish and the controller
says so once and stays idle.

Concurrency model: the base's work queue keyed by namespace name. The namespace
informer enqueues each namespace; the ConfigMap informer enqueues the namespace
of a ``kube-root-ca.crt`` that changed or went away. Decisions read the caches;
writes use the cached resourceVersion, so a stale cache ends in a Conflict and a
retry.
"""

from __future__ import annotations

from typing import Any

from pinnace.client import AlreadyExists, Forbidden, NotFound, Obj, ResourceRef
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue

__all__ = ["CONFIGMAPS", "DESCRIPTION", "ROOT_CA_CONFIGMAP", "RootCACertPublisher"]

NAMESPACES = ResourceRef("", "v1", "namespaces", False, "Namespace")
CONFIGMAPS = ResourceRef("", "v1", "configmaps", True, "ConfigMap")
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. "
    "No other usage is guaranteed across distributions of Kubernetes clusters."
)


def _client_ca(ctx: ControllerContext) -> bytes | None:
    config: Any = getattr(ctx.client.transport, "config", None)
    data = getattr(config, "ca_data", None)
    return data if isinstance(data, bytes) and data else None


class RootCACertPublisher(Controller):
    NAME = "root-ca-cert-publisher"
    EVENT_COMPONENT = "root-ca-cert-publisher"
    WORKERS = 1

    def __init__(self, ctx: ControllerContext, ca_pem: bytes | None = None) -> None:
        super().__init__(ctx)
        pem = ca_pem if ca_pem is not None else _client_ca(ctx)
        self.ca_pem = pem.decode() if pem else ""
        if not self.ca_pem:
            self.log.warning(
                "%s: the client has no CA bundle to publish; %s ConfigMaps are not managed",
                self.NAME,
                ROOT_CA_CONFIGMAP,
            )
        self.namespaces = self.informer(NAMESPACES)
        self.namespaces.add_event_handler(
            on_add=self._on_namespace, on_update=lambda _old, new: self._on_namespace(new)
        )
        self.configmaps = self.informer(CONFIGMAPS)
        self.configmaps.add_event_handler(
            on_update=lambda _old, new: self._on_configmap(new), on_delete=self._on_configmap
        )

    def _on_namespace(self, ns: Obj) -> None:
        self.queue.add(str(ns["metadata"]["name"]))

    def _on_configmap(self, cm: Obj) -> None:
        m = cm.get("metadata") or {}
        if m.get("name") == ROOT_CA_CONFIGMAP and m.get("namespace"):
            self.queue.add(str(m["namespace"]))

    def desired_data(self) -> dict[str, str]:
        return {"ca.crt": self.ca_pem}

    async def reconcile(self, key: str) -> Requeue | None:
        if not self.ca_pem:
            return None
        ns = self.namespaces.get(key)
        if ns is None or not _active(ns):
            return None
        cm = self.configmaps.get(f"{key}/{ROOT_CA_CONFIGMAP}")
        data = self.desired_data()
        try:
            if cm is None:
                body: Obj = {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {
                        "name": ROOT_CA_CONFIGMAP,
                        "namespace": key,
                        "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION},
                    },
                    "data": data,
                }
                await self.client.create(CONFIGMAPS, body, namespace=key)
                self.log.log(DETAIL, "%s: created %s/%s", self.NAME, key, ROOT_CA_CONFIGMAP)
                return None
            meta = cm.get("metadata") or {}
            annotations = meta.get("annotations") or {}
            if (
                cm.get("data") == data
                and not cm.get("binaryData")
                and annotations.get(DESCRIPTION_ANNOTATION) == DESCRIPTION
            ):
                return None
            updated = dict(cm)
            updated["metadata"] = {
                **meta,
                "annotations": {**annotations, DESCRIPTION_ANNOTATION: DESCRIPTION},
            }
            updated["data"] = data
            updated.pop("binaryData", None)
            await self.client.replace(CONFIGMAPS, updated, namespace=key)
            self.log.log(DETAIL, "%s: updated %s/%s", self.NAME, key, ROOT_CA_CONFIGMAP)
        except AlreadyExists:
            return Requeue()  # the cache had not seen it yet: look again
        except (Forbidden, NotFound):
            return None  # the namespace is going away (or gone) meanwhile
        return None


def _active(ns: Obj) -> bool:
    if (ns.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return (ns.get("status") or {}).get("phase") != "Terminating"
