"""nftables mode, the stateful half: decides what each sync writes and applies
it with ``nft -f`` (one atomic transaction on table ``ip kube-proxy``; nothing
outside that table is touched).

Same rhythm as the iptables proxier: a full sync (first, every
``full_sync_period``, after a failure, when node labels change) rebuilds the
table's contents — on the first one (and after a failure) ``nft -t list table``
says which per-service chains and affinity sets exist, so leftovers of an
earlier run are removed; later ones trust what this proxier wrote. A partial sync rewrites the chains of
the Services that changed and adds/deletes only the map elements whose value
changed; nothing is sent when nothing changed. Chains that fall out of use are
flushed at once and deleted by a sync at least a second later; a periodic sync
with nothing to do checks that the table is still there (someone may have
flushed the ruleset) and rebuilds it if not (see
:mod:`pinnace.proxy.nftables`); :meth:`NftablesProxier.next_wakeup` asks the
sync loop for that later sync.

Concurrency model: called from the single sync task only; ``nft`` runs as an
asyncio subprocess.
"""

from __future__ import annotations

import logging
import re

from pinnace.proxy.config import ProxyConfig, ProxyError
from pinnace.proxy.conntrack import UdpFlows
from pinnace.proxy.iptables_proxier import SyncResult, nodeport_ips
from pinnace.proxy.model import ServicePortName
from pinnace.proxy.nftables import (
    FAMILY,
    TABLE,
    ElementKey,
    NftContext,
    NftService,
    assemble,
    is_service_chain,
    render_service,
)
from pinnace.proxy.runner import Runner
from pinnace.proxy.state import ProxyState

__all__ = ["STALE_CHAIN_DELAY", "NftablesProxier"]

log = logging.getLogger("pinnace.proxy.nftables")

#: how long a flushed chain waits before it is deleted (upstream: 1 s)
STALE_CHAIN_DELAY = 1.0
_CHAIN_RE = re.compile(r"^\s*chain (\S+) \{", re.M)
_SET_RE = re.compile(r"^\s*set (\S+) \{", re.M)


class NftablesProxier:
    mode = "nftables"

    def __init__(
        self, config: ProxyConfig, state: ProxyState, runner: Runner | None = None
    ) -> None:
        self.config = config
        self.state = state
        self.runner = runner or Runner(config.command_prefix)
        self.need_full = True
        self.last_full: float | None = None
        self._rendered: dict[ServicePortName, NftService] = {}
        self._ports_of: dict[str, list[ServicePortName]] = {}
        self._chains: set[str] = set()
        self._sets: set[str] = set()
        #: flushed chain -> when it was flushed
        self._stale_since: dict[str, float] = {}
        self._listed = False
        self._udp = UdpFlows(self.state, self.runner)
        self.last_text = ""

    def prepare(self) -> None:
        if not self.runner.has("nft"):
            raise ProxyError("proxy mode nftables needs nft: install the nftables package")
        if self.config.set_sysctls and self.runner.read_sysctl(
            "net.bridge.bridge-nf-call-iptables"
        ) not in (None, "1"):
            self.runner.write_sysctl("net.bridge.bridge-nf-call-iptables", "1")

    def context(self) -> NftContext:
        c = self.config
        return NftContext(
            cluster_cidr=c.cluster_cidr,
            masquerade_all=c.masquerade_all,
            mark=c.masquerade_mark,
            nodeport_ips=nodeport_ips(c),
            node_ips=tuple(c.node_ips),
            node_labels=dict(self.state.node_labels),
            service_cidr=c.service_cidr,
        )

    def request_full_sync(self) -> None:
        self.need_full = True

    def next_wakeup(self, now: float) -> float | None:
        """Seconds until flushed chains may be deleted (None: nothing pending)."""
        if not self._stale_since:
            return None
        return max(0.0, min(self._stale_since.values()) + STALE_CHAIN_DELAY - now)

    def _render(
        self, keys: set[str] | None, ctx: NftContext
    ) -> tuple[list[NftService], dict[ElementKey, tuple[str, str]]]:
        """Render the given Services (None: all); return them and their previous elements."""
        st = self.state
        old: dict[ElementKey, tuple[str, str]] = {}
        if keys is None:
            self._rendered.clear()
            self._ports_of.clear()
            keys = set(st.service_keys())
        out: list[NftService] = []
        for key in keys:
            for spn in self._ports_of.pop(key, []):
                prev = self._rendered.pop(spn, None)
                if prev is not None:
                    old.update(prev.elements)
            ports = st.ports_of(key)
            if not ports:
                continue
            self._ports_of[key] = sorted(ports)
            for spn in self._ports_of[key]:
                r = render_service(ports[spn], st.endpoints_of(spn), ctx)
                self._rendered[spn] = r
                out.append(r)
        return out, old

    async def sync(self, now: float) -> SyncResult:
        full = (
            self.need_full
            or self.last_full is None
            or (now - self.last_full >= self.config.full_sync_period)
        )
        if self.state.node_labels_changed():
            full = True
        due = {c for c, t in self._stale_since.items() if now - t >= STALE_CHAIN_DELAY}
        dirty = self.state.take_dirty()
        if not full and not dirty and not due:
            if await self._table_present():
                return "skipped"
            log.info("table ip kube-proxy is gone (ruleset flushed?): full resync")
            full, self._listed = True, False
        ctx = self.context()
        try:
            written, old = self._render(None if full else dirty, ctx)
            services = [self._rendered[spn] for spn in sorted(self._rendered)]
            active = {c for r in services for c in r.chains}
            active_sets = {s for r in services for s in r.sets}
            listed = not self._listed
            if listed:
                # once (and after a failure): what an earlier run may have left behind
                chains, sets = await self._existing()
            else:
                chains, sets = self._chains, self._sets
            stale = {c for c in chains if is_service_chain(c)} - active
            delete = {c for c in due if c not in active and c in chains}
            stale_sets = {s for s in sets if s.startswith("affinity-")} - active_sets
            text = assemble(
                services,
                ctx,
                full=full,
                write=written,
                old_elements=old,
                stale_chains=stale - delete,
                delete_chains=delete,
                stale_sets=stale_sets,
                # just listed: chains that do not exist yet need no flush
                existing_chains=chains if listed else None,
            )
            self.last_text = text
            await self.runner.run("nft", "-f", "/dev/stdin", input=text)
        except BaseException:
            self.state.mark_dirty(dirty)
            self.need_full = True
            self._listed = False
            raise
        for c in active | delete:
            self._stale_since.pop(c, None)
        for c in stale - delete:
            self._stale_since.setdefault(c, now)
        self._chains = active | set(self._stale_since)
        self._sets = active_sets
        self._listed = True
        await self._udp.clear_stale(None if full else dirty)
        if full:
            self.last_full, self.need_full = now, False
        return "full" if full else "partial"

    async def _table_present(self) -> bool:
        """The cheap check of a periodic sync: our base chain is still there."""
        try:
            await self.runner.run("nft", "list", "chain", FAMILY, TABLE, "nat-prerouting")
        except ProxyError:
            return False
        return True

    async def _existing(self) -> tuple[set[str], set[str]]:
        try:
            text = await self.runner.run("nft", "-t", "list", "table", FAMILY, TABLE)
        except ProxyError as e:
            if "No such file or directory" in str(e):
                return set(), set()
            raise
        return set(_CHAIN_RE.findall(text)), set(_SET_RE.findall(text))
