"""Stale UDP conntrack entries: upstream's ``conntrack.CleanStaleEntries``, simplified.

A UDP "connection" to a Service keeps its NAT binding in conntrack for as long
as packets flow, so a client that keeps sending to a VIP would keep reaching
an endpoint that is gone, or keep missing one that appeared. After a sync
that changed UDP service ports, kube-proxy deletes

* the flows to a service IP (ClusterIP, external IP, LoadBalancer IP) or
  NodePort that were DNATed to an endpoint no longer there, and
* the flows to a service IP that had no endpoints before (they were never
  DNATed and would otherwise stick to their un-NATed path).

Pure planning (:func:`udp_targets`, :func:`stale_flow_commands`) plus a
best-effort runner: ``conntrack -D`` exits non-zero when nothing matched, so
failures are only logged at debug level. TCP needs none of this (a new
connection gets a new conntrack entry).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pinnace.proxy.model import ServicePortName
from pinnace.proxy.runner import Runner
from pinnace.proxy.state import ProxyState

__all__ = ["UdpFlows", "UdpTarget", "clear_stale_flows", "stale_flow_commands", "udp_targets"]

log = logging.getLogger("pinnace.proxy.conntrack")

#: (service IPs, node port, endpoint IPs) of one UDP service port
UdpTarget = tuple[tuple[str, ...], int, frozenset[str]]


def udp_targets(state: ProxyState, keys: Iterable[str]) -> dict[ServicePortName, UdpTarget]:
    out: dict[ServicePortName, UdpTarget] = {}
    for key in keys:
        for spn, info in state.ports_of(key).items():
            if info.protocol != "udp":
                continue
            ips = frozenset(e.ip for e in state.endpoints_of(spn) if e.ready or e.serving)
            vips = (info.cluster_ip, *info.external_ips, *info.lb_vips)
            out[spn] = (vips, info.node_port, ips)
    return out


def stale_flow_commands(
    before: dict[ServicePortName, UdpTarget], after: dict[ServicePortName, UdpTarget]
) -> list[list[str]]:
    cmds: list[list[str]] = []
    for spn, (vips, node_port, old_ips) in sorted(before.items()):
        new_ips = after.get(spn, ((), 0, frozenset()))[2]
        for ip in sorted(old_ips - new_ips):
            for vip in vips:
                cmds.append(["conntrack", "-D", "-p", "udp", "--orig-dst", vip, "--dst-nat", ip])
            if node_port:
                cmds.append(
                    [
                        "conntrack",
                        "-D",
                        "-p",
                        "udp",
                        "--orig-port-dst",
                        str(node_port),
                        "--dst-nat",
                        ip,
                    ]
                )
    for spn, (vips, _, new_ips) in sorted(after.items()):
        old = before.get(spn)
        if new_ips and (old is None or not old[2]):
            for vip in vips:
                cmds.append(["conntrack", "-D", "-p", "udp", "--orig-dst", vip])
    return cmds


async def clear_stale_flows(runner: Runner, commands: list[list[str]]) -> None:
    if not commands or not runner.has("conntrack"):
        return
    for cmd in commands:
        try:
            await runner.run(*cmd)
        except Exception as e:  # nothing matched, or no conntrack support: not an error
            log.debug("%s: %s", " ".join(cmd), e)


class UdpFlows:
    """What each UDP service port was last programmed with, so that a sync can
    drop the flows its new rules no longer match (both proxier modes use it)."""

    def __init__(self, state: ProxyState, runner: Runner) -> None:
        self.state = state
        self.runner = runner
        self._known: dict[ServicePortName, UdpTarget] = {}

    async def clear_stale(self, keys: set[str] | None) -> None:
        """After a sync of ``keys`` (services; None: all of them), best effort."""
        if keys is None:
            before, keys = self._known, set(self.state.service_keys())
            self._known = {}
        else:
            before = {spn: t for spn, t in self._known.items() if spn.service in keys}
            for spn in before:
                del self._known[spn]
        after = udp_targets(self.state, keys)
        self._known.update(after)
        await clear_stale_flows(self.runner, stale_flow_commands(before, after))
