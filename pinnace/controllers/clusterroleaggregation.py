"""The ClusterRole aggregation controller: fills the rules of every
ClusterRole that has an ``aggregationRule`` with the rules of the ClusterRoles
its selectors pick (upstream's ``clusterrole-aggregation`` controller; this is
how ``admin``, ``edit`` and ``view`` grow when a CRD's
``aggregate-to-view`` role appears).

The aggregated rules are the selected roles' rules in selector order, roles
sorted by name within a selector, each distinct rule once; the role itself is
never its own source. Level-triggered: any ClusterRole change enqueues every
aggregated role (there are few), and ``reconcile`` recomputes from the cache.

Concurrency model: the base's work queue keyed by ClusterRole name, one worker.
"""

from __future__ import annotations

from pinnace.api.selectors import SelectorError, label_selector_from_dict
from pinnace.client import Conflict, NotFound, Obj, ResourceRef
from pinnace.controllers.base import DETAIL, Controller, ControllerContext, Requeue

__all__ = ["CLUSTERROLES", "ClusterRoleAggregationController", "aggregated_rules"]

CLUSTERROLES = ResourceRef("rbac.authorization.k8s.io", "v1", "clusterroles", False, "ClusterRole")


def aggregated_rules(role: Obj, all_roles: list[Obj]) -> list[Obj]:
    name = role["metadata"]["name"]
    out: list[Obj] = []
    for sel in (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []:
        try:
            selector = label_selector_from_dict(sel)
        except SelectorError:
            continue
        for other in sorted(all_roles, key=lambda r: str(r["metadata"]["name"])):
            if other["metadata"]["name"] == name:
                continue
            if not selector.matches(other["metadata"].get("labels") or {}):
                continue
            for rule in other.get("rules") or []:
                if rule not in out:
                    out.append(rule)
    return out


class ClusterRoleAggregationController(Controller):
    NAME = "clusterrole-aggregation"
    EVENT_COMPONENT = "clusterrole-aggregation-controller"
    WORKERS = 1

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.roles = self.informer(CLUSTERROLES)
        self.roles.add_event_handler(
            on_add=self._changed,
            on_update=lambda _old, new: self._changed(new),
            on_delete=self._changed,
        )

    def _changed(self, _role: Obj) -> None:
        for r in self.roles.list():
            if r.get("aggregationRule"):
                self.queue.add(str(r["metadata"]["name"]))

    async def reconcile(self, key: str) -> Requeue | None:
        role = self.roles.get(key)
        if role is None or not role.get("aggregationRule"):
            return None
        rules = aggregated_rules(role, self.roles.list())
        if rules == (role.get("rules") or []):
            return None
        body = dict(role)
        body["rules"] = rules
        try:
            await self.client.replace(CLUSTERROLES, body)
        except NotFound:
            return None
        except Conflict:
            return Requeue()
        self.log.log(DETAIL, "clusterrole %s: %d aggregated rules", key, len(rules))
        return None
