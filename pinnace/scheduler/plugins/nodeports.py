"""NodePorts (PreFilter, Filter): a pod's host ports must be free on the node.

Two host ports conflict when protocol and port are equal and the host IPs are
equal or either is ``0.0.0.0`` (upstream ``HostPortInfo.CheckConflict``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pinnace.scheduler.framework.interface import CycleState, PreFilterResult
from pinnace.scheduler.framework.status import Status
from pinnace.scheduler.framework.types import HostPort, NodeInfo, PodInfo

NAME = "NodePorts"
ERR_REASON = "node(s) didn't have free ports for the requested pod ports"
_ANY = "0.0.0.0"


def _conflicts(want: list[HostPort], used: Mapping[HostPort, int]) -> bool:
    if not used:
        return False
    for ip, proto, port in want:
        if ip == _ANY:
            for _uip, uproto, uport in used:
                if uport == port and uproto == proto:
                    return True
        elif (ip, proto, port) in used or (_ANY, proto, port) in used:
            return True
    return False


class NodePorts:
    name = NAME

    def pre_filter(
        self, state: CycleState, pod: PodInfo
    ) -> tuple[PreFilterResult | None, Status | None]:
        if not pod.host_ports:
            return None, Status.skip()
        return None, None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if _conflicts(pod.host_ports, node.used_ports):
            return Status.unschedulable(ERR_REASON)
        return None


def new(args: Mapping[str, Any], handle: Any) -> NodePorts:
    return NodePorts()
