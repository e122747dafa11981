"""``pinnace proxy --cleanup``: remove everything kube-proxy made, in both modes,
and nothing else.

* iptables (both backends, nft and legacy, where installed): the jump rules from built-in chains (matched by their exact text,
  as :data:`~pinnace.proxy.iptables.JUMPS` writes them), then our fixed chains
  (``KUBE-SERVICES``, ``KUBE-NODEPORTS``, ``KUBE-POSTROUTING``,
  ``KUBE-MARK-MASQ``, ``KUBE-EXTERNAL-SERVICES``, ``KUBE-FORWARD``,
  ``KUBE-PROXY-FIREWALL``, ``KUBE-FIREWALL``, ``KUBE-PROXY-CANARY``) and every
  per-service chain
  (``KUBE-SVC-``/``SVL-``/``EXT-``/``FW-``/``SEP-``), flushed and deleted —
  one ``iptables-restore --noflush`` per table, so a table is cleaned whole or
  not at all. Upstream leaves ``KUBE-MARK-MASQ`` and ``KUBE-FIREWALL`` to the
  kubelet that also creates them; pinnace's kubelet does not, so they go too.
* nftables: the table ``ip kube-proxy``.

Sysctls (``route_localnet``) are left as they are, as upstream does.
Blocking (``subprocess.run``): called by the CLI before any event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pinnace.proxy.config import ProxyError
from pinnace.proxy.iptables import (
    CANARY,
    FILTER_CHAINS,
    JUMPS,
    KUBE_FIREWALL,
    KUBELET_JUMPS,
    NAT_CHAINS,
    is_service_chain,
    jump_rule,
)
from pinnace.proxy.nftables import FAMILY, TABLE
from pinnace.proxy.runner import Runner, iptables_tools, parse_save

__all__ = ["cleanup", "cleanup_iptables", "cleanup_nftables"]

log = logging.getLogger("pinnace.proxy")


def cleanup_iptables(runner: Runner) -> bool:
    """Both backends (nft and legacy) where installed; True if anything was removed."""
    if not runner.has("iptables-save"):
        return False
    tools = {iptables_tools(runner, b) for b in ("nft", "legacy")}
    removed = False
    for save, restore in sorted(tools):
        removed = _cleanup_iptables(runner, save, restore) or removed
    return removed


def _cleanup_iptables(runner: Runner, save: str, restore: str) -> bool:
    removed = False
    ours = {"nat": set(NAT_CHAINS), "filter": {*FILTER_CHAINS, KUBE_FIREWALL, CANARY}}
    for table in ("filter", "nat"):
        chains, rules = parse_save(runner.run_sync(save, "-t", table))
        lines = [f"*{table}"]
        mine = sorted(
            c for c in chains if c in ours[table] or (table == "nat" and is_service_chain(c))
        )
        lines.extend(f":{c} - [0:0]" for c in mine)
        deletes = [
            f"-D {j.src} {jump_rule(j)}"
            for j in (*JUMPS, *KUBELET_JUMPS)
            if j.table == table
            for _ in range(rules[f"-A {j.src} {jump_rule(j)}"])  # every copy
        ]
        if not mine and not deletes:
            continue
        lines.extend(deletes)
        lines.extend(f"-X {c}" for c in mine)
        lines.append("COMMIT")
        runner.run_sync(restore, "-w", "5", "--noflush", input="\n".join(lines) + "\n")
        removed = True
    return removed


def cleanup_nftables(runner: Runner) -> bool:
    if not runner.has("nft"):
        return False
    if not runner.run_sync("nft", "-t", "list", "table", FAMILY, TABLE, check=False):
        return False
    runner.run_sync("nft", "delete", "table", FAMILY, TABLE)
    return True


def cleanup(mode: str | None = None, *, command_prefix: Sequence[str] = ()) -> None:
    """Remove pinnace's rules (``mode`` None: both modes). Raises :class:`ProxyError`."""
    runner = Runner(command_prefix)
    errors: list[str] = []
    for m, fn in (("iptables", cleanup_iptables), ("nftables", cleanup_nftables)):
        if mode not in (None, m):
            continue
        try:
            if fn(runner):
                log.info("removed kube-proxy's %s rules", m)
        except ProxyError as e:
            errors.append(f"{m}: {e}")
    if errors:
        raise ProxyError("; ".join(errors))
