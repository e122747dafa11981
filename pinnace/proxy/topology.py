"""Which endpoints serve which traffic: upstream's ``CategorizeEndpoints``
(``pkg/proxy/topology.go``), written anew.

* Cluster traffic (a policy of ``Cluster``) goes to the *ready* endpoints; if
  the Service has zone hints on every ready endpoint and one of them names this
  node's zone, only the endpoints hinted for that zone. If no endpoint is
  ready, to the ones that are still *serving* while *terminating* (so a rolling
  restart of the last pod does not drop connections).
* Local traffic (``internalTrafficPolicy``/``externalTrafficPolicy: Local``)
  goes to this node's ready endpoints, or failing that to this node's
  serving-and-terminating ones.
* ``has_any`` says whether the Service has a usable endpoint anywhere: without
  one, traffic is rejected; with one but no local one, Local traffic is
  dropped instead.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pinnace.proxy.model import Endpoint, ServicePortInfo

__all__ = ["ZONE_LABEL", "Categorized", "categorize_endpoints"]

ZONE_LABEL = "topology.kubernetes.io/zone"


@dataclass(frozen=True, slots=True)
class Categorized:
    cluster: tuple[Endpoint, ...]
    local: tuple[Endpoint, ...]
    #: every endpoint some rule may DNAT to (cluster then local, in order)
    reachable: tuple[Endpoint, ...]
    has_any: bool


def _zone_filter(endpoints: Sequence[Endpoint], zone: str) -> bool:
    """True when zone hints should narrow cluster traffic to ``zone``."""
    if not zone:
        return False
    any_for_zone = False
    for ep in endpoints:
        if not ep.ready:
            continue
        if not ep.zone_hints:
            return False
        if zone in ep.zone_hints:
            any_for_zone = True
    return any_for_zone


def categorize_endpoints(
    endpoints: Sequence[Endpoint],
    svc: ServicePortInfo,
    node_labels: Mapping[str, str] | None = None,
) -> Categorized:
    cluster: tuple[Endpoint, ...] = ()
    local: tuple[Endpoint, ...] = ()
    has_any = False
    if svc.uses_cluster_endpoints:
        zone = (node_labels or {}).get(ZONE_LABEL, "")
        by_zone = _zone_filter(endpoints, zone)

        def in_topology(ep: Endpoint) -> bool:
            return not by_zone or zone in ep.zone_hints

        cluster = tuple(ep for ep in endpoints if ep.ready and in_topology(ep))
        if not cluster:
            cluster = tuple(
                ep for ep in endpoints if ep.serving and ep.terminating and in_topology(ep)
            )
        has_any = bool(cluster)
    if not svc.uses_local_endpoints:
        return Categorized(cluster, (), cluster, has_any)
    local_ready = local_terminating = False
    for ep in endpoints:
        if ep.ready:
            has_any = True
            local_ready = local_ready or ep.is_local
        elif ep.serving and ep.terminating:
            has_any = True
            local_terminating = local_terminating or ep.is_local
    if local_ready:
        local = tuple(ep for ep in endpoints if ep.is_local and ep.ready)
    elif local_terminating:
        local = tuple(ep for ep in endpoints if ep.is_local and ep.serving and ep.terminating)
    if not svc.uses_cluster_endpoints:
        return Categorized((), local, local, has_any)
    seen = {str(ep) for ep in cluster}
    reachable = cluster + tuple(ep for ep in local if str(ep) not in seen)
    return Categorized(cluster, local, reachable, has_any)
