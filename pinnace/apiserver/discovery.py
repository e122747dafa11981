"""Discovery documents, aggregated (apidiscovery.k8s.io/v2 and v2beta1) and
legacy (APIVersions, APIGroupList, APIGroup, APIResourceList), all derived
from the resource catalog and computed once."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from pinnace.api.resources import Catalog
from pinnace.api.schema import Resource

# subresource -> (group, version, kind) of what it returns ("" group+kind = parent), verbs
_SUBRESOURCES: dict[str, tuple[tuple[str, str, str] | None, tuple[str, ...]]] = {
    "status": (None, ("get", "patch", "update")),
    "scale": (("autoscaling", "v1", "Scale"), ("get", "patch", "update")),
    "binding": (("", "v1", "Binding"), ("create",)),
    "eviction": (("policy", "v1", "Eviction"), ("create",)),
    "log": (None, ("get",)),
    "exec": (("", "v1", "PodExecOptions"), ("create", "get")),
    "attach": (("", "v1", "PodAttachOptions"), ("create", "get")),
    "portforward": (("", "v1", "PodPortForwardOptions"), ("create", "get")),
    "proxy": (None, ("create", "delete", "get", "patch", "update")),
    "ephemeralcontainers": (None, ("get", "patch", "update")),
    "resize": (None, ("get", "patch", "update")),
    "finalize": (None, ("update",)),
    "token": (("authentication.k8s.io", "v1", "TokenRequest"), ("create",)),
}

_PROXY_KINDS = {
    "Pod": "PodProxyOptions",
    "Service": "ServiceProxyOptions",
    "Node": "NodeProxyOptions",
}

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


def subresource_kind(r: Resource, sub: str) -> tuple[str, str, str]:
    spec = _SUBRESOURCES.get(sub)
    if sub == "proxy" and r.kind in _PROXY_KINDS:
        return ("", "v1", _PROXY_KINDS[r.kind])
    if spec is None or spec[0] is None:
        return (r.group, r.version, r.kind)
    return spec[0]


def subresource_verbs(sub: str) -> list[str]:
    spec = _SUBRESOURCES.get(sub)
    return list(spec[1]) if spec else ["get"]


class Discovery:
    def __init__(self, catalog: Catalog, server_address: str = "") -> None:
        self.catalog = catalog
        self.server_address = server_address

    # -- aggregated -----------------------------------------------------------

    def _aggregated_resource(self, r: Resource) -> dict[str, Any]:
        d: dict[str, Any] = {
            "resource": r.plural,
            "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
            "scope": "Namespaced" if r.namespaced else "Cluster",
            "singularResource": r.singular,
            "verbs": sorted(r.verbs),
        }
        if r.short_names:
            d["shortNames"] = list(r.short_names)
        if r.categories:
            d["categories"] = list(r.categories)
        subs = []
        for s in r.subresources:
            g, v, k = subresource_kind(r, s)
            subs.append(
                {
                    "subresource": s,
                    "responseKind": {"group": g, "version": v, "kind": k},
                    "verbs": subresource_verbs(s),
                }
            )
        if subs:
            d["subresources"] = subs
        return d

    def _aggregated(self, legacy: bool, api_version: str) -> dict[str, Any]:
        items = []
        for group, versions in self.catalog.groups():
            if (group == "") != legacy:
                continue
            vs = []
            for v in versions:
                res = [
                    self._aggregated_resource(r) for r in self.catalog.in_group_version(group, v)
                ]
                res.sort(key=lambda d: d["resource"])
                vs.append({"version": v, "resources": res, "freshness": "Current"})
            meta: dict[str, Any] = {"creationTimestamp": None}
            if group:
                meta["name"] = group
            items.append({"metadata": meta, "versions": vs})
        return {
            "kind": "APIGroupDiscoveryList",
            "apiVersion": api_version,
            "metadata": {},
            "items": items,
        }

    @cached_property
    def aggregated_api(self) -> dict[str, Any]:
        return self._aggregated(True, "apidiscovery.k8s.io/v2")

    @cached_property
    def aggregated_apis(self) -> dict[str, Any]:
        return self._aggregated(False, "apidiscovery.k8s.io/v2")

    def aggregated(self, legacy: bool, version: str) -> dict[str, Any]:
        doc = self.aggregated_api if legacy else self.aggregated_apis
        if version == "v2beta1":
            return {**doc, "apiVersion": "apidiscovery.k8s.io/v2beta1"}
        return doc

    # -- legacy ---------------------------------------------------------------

    def api_versions(self) -> dict[str, Any]:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.server_address}
            ],
        }

    def _group(self, group: str, versions: list[str]) -> dict[str, Any]:
        vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": vs, "preferredVersion": vs[0]}

    @cached_property
    def api_group_list(self) -> dict[str, Any]:
        groups = [self._group(g, vs) for g, vs in self.catalog.groups() if g]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def api_group(self, group: str) -> dict[str, Any] | None:
        for g, vs in self.catalog.groups():
            if g == group and g:
                return {"kind": "APIGroup", "apiVersion": "v1", **self._group(g, vs)}
        return None

    def api_resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        rs = self.catalog.in_group_version(group, version)
        if not rs:
            return None
        out = []
        for r in sorted(rs, key=lambda r: r.plural):
            d: dict[str, Any] = {
                "name": r.plural,
                "singularName": r.singular,
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": sorted(r.verbs),
            }
            if r.short_names:
                d["shortNames"] = list(r.short_names)
            if r.categories:
                d["categories"] = list(r.categories)
            out.append(d)
            for s in r.subresources:
                g, v, k = subresource_kind(r, s)
                sd: dict[str, Any] = {
                    "name": f"{r.plural}/{s}",
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": k,
                    "verbs": subresource_verbs(s),
                }
                if (g, v) != (r.group, r.version):
                    sd["group"] = g
                    sd["version"] = v
                out.append(sd)
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}
