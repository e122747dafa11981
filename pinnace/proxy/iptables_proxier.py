"""iptables mode, the stateful half: decides what each sync writes and applies
it with ``iptables-restore --noflush`` (one atomic transaction for the
``filter`` and ``nat`` tables; chains we do not name are left alone).

* **Full sync** (the first, every ``full_sync_period`` — upstream's hour —,
  after a failure, when node labels change or the endpoint count crosses
  upstream's large-cluster threshold): every service
  port is rendered again; ``iptables-save`` tells which of our per-service
  chains exist (to delete leftovers, e.g. from an earlier run) and which jump
  rules from the built-in chains (``PREROUTING → KUBE-SERVICES``, ...) are
  missing — those are inserted in the same transaction, so they are added
  once and never duplicated.
* **Partial sync** (an event changed some Services): only those Services are
  rendered again and only their chains are written; the top-level chains
  (``KUBE-SERVICES``, ``KUBE-NODEPORTS``, the filter chains) are rebuilt from
  the cached renderings of every Service (string joins, not rule generation)
  and written only if their text changed — so an endpoint-only change sends
  just that Service's chains (upstream always rewrites the top-level chains;
  with 1,000 Services that is most of the cost of a partial restore). Chains
  that fell out of use are deleted in the same transaction.
* **No sync** when nothing changed and no full sync is due — after checking
  that the empty ``KUBE-PROXY-CANARY`` chain in the filter table is still
  there (upstream's monitor: if someone flushed the tables, a full sync
  restores everything at once instead of an hour later).

Start-up (:meth:`IptablesProxier.prepare`) sets ``net.ipv4.conf.all.route_localnet=1``
(NodePorts on 127.0.0.1, as upstream's ``--iptables-localhost-nodeports``;
``KUBE-FIREWALL`` drops martian traffic to 127/8 that this would otherwise
admit) and ``net.bridge.bridge-nf-call-iptables=1`` when the ``br_netfilter``
module is loaded (so replies between pods on one bridge pass the NAT).

The backend (``iptables-nft`` or ``iptables-legacy``) is chosen at start-up
like upstream's iptables-wrapper: the one already holding more rules, else
the system's ``iptables``. Measured here (``bench/proxy.py``, 1,000 Services
x 10 endpoints): a first full sync takes ~0.8 s with nft (~5 s before the
``-S`` line of :data:`~pinnace.proxy.iptables.WHOLE_CACHE_LINE`), ~0.3 s with
legacy; an endpoint change is ~55 ms with nft.

Concurrency model: called from the single sync task only (never two syncs at
once); the restore runs as an asyncio subprocess.
"""

from __future__ import annotations

import logging
from ipaddress import ip_address, ip_network
from pathlib import Path

import orjson

from pinnace.proxy.config import ProxyConfig, ProxyError
from pinnace.proxy.conntrack import UdpFlows
from pinnace.proxy.iptables import (
    CANARY,
    JUMPS,
    KUBELET_JUMPS,
    LARGE_CLUSTER_ENDPOINTS,
    WHOLE_CACHE_CHAINS,
    IptablesContext,
    Jump,
    ServiceRules,
    is_service_chain,
    jump_rule,
    localnet_guard,
    render_service,
    sections,
)
from pinnace.proxy.model import ServicePortName
from pinnace.proxy.runner import (
    Runner,
    digest,
    iptables_command,
    iptables_tools,
    resolve_iptables_backend,
    save_chains,
)
from pinnace.proxy.savedform import saved_form
from pinnace.proxy.state import ProxyState

__all__ = ["IptablesProxier", "SyncResult", "nodeport_ips"]

log = logging.getLogger("pinnace.proxy.iptables")

#: in ``ProxyConfig.state_dir``: what the proxier saw of the chains it wrote
SEEN_FILE = "iptables-seen.json"
#: seconds without writes before a quiet sync reads the rules back (a save of a
#: big table costs ~0.3 s: not after every endpoint change of a busy cluster)
LEARN_AFTER = 30.0

SyncResult = str  # "full" | "partial" | "skipped"


def nodeport_ips(config: ProxyConfig) -> tuple[str, ...] | None:
    """Addresses accepting NodePorts: None (every local one) unless
    ``nodeport_addresses`` narrows them to the node's IPs (and 127.0.0.1) inside."""
    if not config.nodeport_addresses:
        return None
    nets = [ip_network(c, strict=False) for c in config.nodeport_addresses]
    cands = [*config.node_ips, "127.0.0.1"]
    return tuple(ip for ip in cands if any(ip_address(ip) in n for n in nets))


class IptablesProxier:
    mode = "iptables"

    def __init__(
        self, config: ProxyConfig, state: ProxyState, runner: Runner | None = None
    ) -> None:
        self.config = config
        self.state = state
        self.runner = runner or Runner(config.command_prefix)
        self.need_full = True
        self.last_full: float | None = None
        self.drop_invalid = True
        self.backend = config.iptables_backend if config.iptables_backend != "auto" else "nft"
        self.save_cmd, self.restore_cmd = "iptables-save", "iptables-restore"
        self.iptables_cmd = "iptables"
        self._large = False
        self._rendered: dict[ServicePortName, ServiceRules] = {}
        self._ports_of: dict[str, list[ServicePortName]] = {}
        self._active: set[str] = set()
        self._last_filter = self._last_head = ""
        # What a full sync may leave alone: per service port, the digest of the
        # rules we wrote and of its chains as iptables-save printed them right
        # after (learned on the next quiet sync, see _learn)
        self._seen: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._unseen: set[ServicePortName] = set()
        self._last_write = 0.0
        self._whole_cache_ok = True
        #: the last text applied (tests and debugging)
        self._udp = UdpFlows(self.state, self.runner)
        self.last_text = ""

    # --- start-up ------------------------------------------------------------------------

    def prepare(self) -> None:
        """Sysctls and tool checks (blocking, once)."""
        for tool in ("iptables-restore", "iptables-save"):
            if not self.runner.has(tool):
                raise ProxyError(f"proxy mode iptables needs {tool}: install the iptables package")
        self.backend = resolve_iptables_backend(self.runner, self.config.iptables_backend)
        self.save_cmd, self.restore_cmd = iptables_tools(self.runner, self.backend)
        self.iptables_cmd = iptables_command(self.runner, self.backend)
        log.info("iptables mode uses the %s backend (%s)", self.backend, self.restore_cmd)
        self._load_seen()
        if not self.config.set_sysctls:
            return
        if localnet_guard(self.context(False)):
            self.runner.write_sysctl("net.ipv4.conf.all.route_localnet", "1")
            log.info(
                "set route_localnet=1 so NodePorts answer on localhost",
                extra={"sysctl": "net.ipv4.conf.all.route_localnet"},
            )
        if self.runner.read_sysctl("net.bridge.bridge-nf-call-iptables") not in (None, "1"):
            self.runner.write_sysctl("net.bridge.bridge-nf-call-iptables", "1")
        liberal = self.runner.read_sysctl("net.netfilter.nf_conntrack_tcp_be_liberal")
        self.drop_invalid = liberal in (None, "0")

    def context(self, large: bool) -> IptablesContext:
        c = self.config
        return IptablesContext(
            cluster_cidr=c.cluster_cidr,
            masquerade_all=c.masquerade_all,
            mark=c.masquerade_mark,
            localhost_nodeports=c.localhost_nodeports,
            nodeport_ips=nodeport_ips(c),
            node_ips=tuple(c.node_ips),
            node_labels=dict(self.state.node_labels),
            drop_invalid=self.drop_invalid,
            large_cluster=large,
        )

    def request_full_sync(self) -> None:
        self.need_full = True

    # --- sync ----------------------------------------------------------------------------

    def _render(self, keys: set[str] | None, ctx: IptablesContext) -> list[ServicePortName]:
        """Render the given Services (None: all); return the ports rendered."""
        st = self.state
        if keys is None:
            self._rendered.clear()
            self._ports_of.clear()
            keys = set(st.service_keys())
        out: list[ServicePortName] = []
        for key in keys:
            for spn in self._ports_of.pop(key, []):
                self._rendered.pop(spn, None)
            ports = st.ports_of(key)
            if not ports:
                continue
            self._ports_of[key] = sorted(ports)
            for spn in self._ports_of[key]:
                r = render_service(ports[spn], st.endpoints_of(spn), ctx)
                self._rendered[spn] = r
                out.append(spn)
        return out

    async def sync(self, now: float) -> SyncResult:
        full = (
            self.need_full
            or self.last_full is None
            or (now - self.last_full >= self.config.full_sync_period)
        )
        if self.state.node_labels_changed():
            full = True
        dirty = self.state.take_dirty()
        if not full and not dirty:
            learn = self._unseen and now - self._last_write >= LEARN_AFTER
            if await (self._learn() if learn else self._canary_present()):
                return "skipped"
            log.info("kube-proxy's canary chain is gone (iptables flushed?): full resync")
            full = True
        large = self.state.total_endpoints() > LARGE_CLUSTER_ENDPOINTS
        if large != self._large:
            full, self._large = True, large
        ctx = self.context(large)
        try:
            rendered = self._render(None if full else dirty, ctx)
            services = [self._rendered[spn] for spn in sorted(self._rendered)]
            active = {c for r in services for c in r.chains}
            jumps: list[Jump] = []
            if full:
                stale, jumps, kernel = await self._inspect(active, ctx)
                # a service port's chains that are as we wrote them, rules we would
                # write again unchanged, are left alone (upstream rewrites them all)
                rendered = [spn for spn in sorted(self._rendered) if not self._same(spn, kernel)]
            else:
                stale = self._active - active
            written = [self._rendered[spn] for spn in rendered]
            parts = sections(services, ctx, write=written, jumps=jumps, stale_chains=stale)
            filt = "\n".join(parts.filter)
            head = "\n".join(parts.head + parts.tail)
            # a partial sync leaves out what did not change (an endpoint-only change
            # rewrites just that Service's chains)
            whole_cache = (
                self._whole_cache_ok
                and self.backend == "nft"
                and len(parts.chains) >= WHOLE_CACHE_CHAINS
            )
            text = parts.text(
                with_filter=full or filt != self._last_filter,
                with_head=full or head != self._last_head,
                whole_cache=whole_cache,
            )

            self.last_text = text
            try:
                await self.runner.run(
                    self.restore_cmd, "-w", "5", "--noflush", input=text, keep_stdout=False
                )
            except ProxyError:
                if whole_cache:  # an iptables that refuses the -S line: never again
                    log.warning("%s failed with a -S line; writing without it", self.restore_cmd)
                    self._whole_cache_ok = False
                raise
        except BaseException:
            self.state.mark_dirty(dirty)
            self.need_full = True
            for spn in self._rendered:  # nothing is known to be as written any more
                self._seen.pop(str(spn), None)
            raise
        self._active = active
        for spn in rendered:
            self._seen.pop(str(spn), None)
            self._unseen.add(spn)
        if rendered:
            self._last_write = now
        if full:
            self._unseen &= set(self._rendered)
        self._last_filter, self._last_head = filt, head
        await self._udp.clear_stale(None if full else dirty)
        if full:
            self.last_full, self.need_full = now, False
        return "full" if full else "partial"

    async def _canary_present(self) -> bool:
        """Upstream's ``iptables.Monitor``: our empty chain disappears when someone
        replaces the tables (upstream keeps it in mangle; here it is in filter, which
        pinnace writes anyway, so no extra table is created on the host)."""
        # listing the one chain: iptables-nft-save dumps the whole ruleset even for
        # one table (~0.2 s with 1,000 Services), this fetches one chain
        try:
            await self.runner.run(self.iptables_cmd, "-w", "5", "-t", "filter", "-S", CANARY)
        except ProxyError:
            return False
        return True

    def _digest(self, spn: ServicePortName) -> str:
        return digest("\n".join(self._rendered[spn].rules))

    def _same(self, spn: ServicePortName, nat: dict[str, list[str]]) -> bool:
        """Whether ``spn``'s chains in the kernel (``nat``: a save's chains) hold
        the rules we would write: as recorded when these same rules were last
        written, or else as iptables-save prints our rules."""
        r = self._rendered[spn]
        if not all(c in nat for c in r.chains):  # e.g. the first sync: nothing to compare
            return False
        seen = self._seen.get(str(spn))
        if seen is not None and seen[0] == self._digest(spn):
            return len(r.chains) == len(seen[1]) and all(
                digest("\n".join(nat[c])) == d for c, d in zip(r.chains, seen[1], strict=True)
            )
        lines: dict[str, list[str]] = {c: [] for c in r.chains}
        for rule in r.rules:
            lines[rule.split(" ", 2)[1]].append(saved_form(rule))
        return all(nat[c] == ls for c, ls in lines.items())

    async def _learn(self) -> bool:
        """On a quiet sync after a write: record how iptables-save prints the
        chains written (so the next full sync can tell a chain changed by
        someone else from one as we left it). Also the canary check: False
        when the canary chain is gone."""
        saved = save_chains(await self.runner.run(self.save_cmd))
        nat = saved.get("nat", {})
        for spn in self._unseen:
            if spn not in self._rendered:
                continue
            chains = self._rendered[spn].chains
            if all(c in nat for c in chains):
                kept = tuple(digest("\n".join(nat[c])) for c in chains)
                self._seen[str(spn)] = (self._digest(spn), kept)
        self._unseen.clear()
        live = {str(spn) for spn in self._rendered}
        self._seen = {k: v for k, v in self._seen.items() if k in live}
        self._store_seen()
        return CANARY in saved.get("filter", {})

    def _seen_file(self) -> Path | None:
        d = self.config.state_dir
        return Path(d) / SEEN_FILE if d else None

    def _store_seen(self) -> None:
        path = self._seen_file()
        if path is None:
            return
        body = {
            "backend": self.backend,
            "seen": {k: [v[0], list(v[1])] for k, v in self._seen.items()},
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(orjson.dumps(body))
            tmp.replace(path)
        except OSError as e:
            log.warning("cannot keep %s: %s", path, e)

    def _load_seen(self) -> None:
        """What an earlier run saw (same backend); anything unreadable is ignored,
        which only means a full rewrite."""
        path = self._seen_file()
        if path is None or not path.exists():
            return
        try:
            body = orjson.loads(path.read_bytes())
            if body.get("backend") != self.backend:
                return
            self._seen = {
                str(k): (str(v[0]), tuple(str(d) for d in v[1])) for k, v in body["seen"].items()
            }
        except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
            log.info("ignoring %s: %s", path, e)

    async def _inspect(
        self, active: set[str], ctx: IptablesContext
    ) -> tuple[set[str], list[Jump], dict[str, list[str]]]:
        """Our leftover chains (nat), the jump rules missing from built-in chains,
        and the nat chains' rules."""
        # one save of every table: iptables-nft-save dumps the whole ruleset each time
        saved = save_chains(await self.runner.run(self.save_cmd))
        nat = saved.get("nat", {})
        stale = {c for c in nat if is_service_chain(c)} - active
        wanted = list(JUMPS)
        if localnet_guard(ctx):
            wanted.extend(KUBELET_JUMPS)
        missing = [
            j
            for j in wanted
            if f"-A {j.src} {jump_rule(j)}" not in saved.get(j.table, {}).get(j.src, [])
        ]
        return stale, missing, nat
