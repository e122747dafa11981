"""iptables mode, the pure half: service ports and endpoints → ``iptables-restore``
input, in upstream kube-proxy's chain layout (``pkg/proxy/iptables``).

Chains (nat): ``KUBE-SERVICES`` (one rule per ClusterIP / external IP /
LoadBalancer IP, then a last rule sending local destinations to
``KUBE-NODEPORTS``), ``KUBE-NODEPORTS``, ``KUBE-POSTROUTING`` (masquerade what
carries the mark), ``KUBE-MARK-MASQ`` (sets the mark, ``0x4000`` by default),
and per service port ``KUBE-SVC-<hash>`` (Cluster policy endpoints),
``KUBE-SVL-<hash>`` (Local policy endpoints), ``KUBE-EXT-<hash>`` (external
traffic: masquerade, Local short-cuts), ``KUBE-FW-<hash>``
(``loadBalancerSourceRanges``) and per endpoint ``KUBE-SEP-<hash>`` (hairpin
masquerade + DNAT). Chains (filter): ``KUBE-SERVICES`` / ``KUBE-EXTERNAL-SERVICES``
(REJECT for Services without endpoints, DROP for Local policies without a
local endpoint), ``KUBE-FORWARD``, ``KUBE-NODEPORTS`` (ACCEPT each
``healthCheckNodePort``), ``KUBE-PROXY-FIREWALL``
and ``KUBE-FIREWALL`` (blocks martian traffic to 127/8 that
``route_localnet=1`` would otherwise let in). The hash is upstream's: base32 of
sha256 of ``<service port name><protocol>[<ip:port>]``, first 16 characters.
Load balancing is ``-m statistic --mode random --probability 1/(n-i)`` on all
but the last endpoint; ClientIP affinity is ``-m recent`` per endpoint.

Rendering is split per service port (:func:`render_service`) so the proxier
can cache it and, on a partial sync, rewrite only the chains of the Services
that changed (:func:`sections`): the per-service chains of unchanged Services
are left out of the input and so left alone by ``iptables-restore
--noflush``, and the filter table and the fixed nat chains can be left out
too when their text did not change. With more than 1000 endpoints, rules
drop their comments (upstream's "large cluster mode"). An empty
``KUBE-PROXY-CANARY`` chain lets the proxier notice that someone replaced
the tables.

Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from ipaddress import ip_address, ip_network

from pinnace.proxy.model import Endpoint, ServicePortInfo
from pinnace.proxy.topology import categorize_endpoints

__all__ = [
    "CANARY",
    "JUMPS",
    "KUBELET_JUMPS",
    "LARGE_CLUSTER_ENDPOINTS",
    "IptablesContext",
    "Jump",
    "Sections",
    "ServiceRules",
    "assemble",
    "endpoint_chain",
    "is_service_chain",
    "jump_rule",
    "localnet_guard",
    "port_proto_hash",
    "render_service",
    "sections",
]

KUBE_SERVICES = "KUBE-SERVICES"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"
KUBE_FIREWALL = "KUBE-FIREWALL"
#: empty chain (filter table) whose disappearance means "someone replaced the tables"
CANARY = "KUBE-PROXY-CANARY"
SERVICE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-")
#: upstream ``largeClusterEndpointsThreshold``
LARGE_CLUSTER_ENDPOINTS = 1000

FILTER_CHAINS = (
    KUBE_SERVICES,
    KUBE_EXTERNAL_SERVICES,
    KUBE_FORWARD,
    KUBE_NODEPORTS,
    KUBE_PROXY_FIREWALL,
)
NAT_CHAINS = (KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ)


@dataclass(frozen=True, slots=True)
class Jump:
    """A rule in a built-in chain leading to one of ours."""

    table: str
    src: str
    dst: str
    comment: str
    extra: str = ""


_NEW = "-m conntrack --ctstate NEW"
#: upstream ``iptablesJumpChains``
JUMPS = (
    Jump(
        "filter",
        "INPUT",
        KUBE_EXTERNAL_SERVICES,
        "kubernetes externally-visible service portals",
        _NEW,
    ),
    Jump(
        "filter",
        "FORWARD",
        KUBE_EXTERNAL_SERVICES,
        "kubernetes externally-visible service portals",
        _NEW,
    ),
    Jump("filter", "INPUT", KUBE_NODEPORTS, "kubernetes health check service ports"),
    Jump("filter", "FORWARD", KUBE_SERVICES, "kubernetes service portals", _NEW),
    Jump("filter", "OUTPUT", KUBE_SERVICES, "kubernetes service portals", _NEW),
    Jump("filter", "FORWARD", KUBE_FORWARD, "kubernetes forwarding rules"),
    Jump("filter", "INPUT", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", _NEW),
    Jump("filter", "OUTPUT", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", _NEW),
    Jump("filter", "FORWARD", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", _NEW),
    Jump("nat", "OUTPUT", KUBE_SERVICES, "kubernetes service portals"),
    Jump("nat", "PREROUTING", KUBE_SERVICES, "kubernetes service portals"),
    Jump("nat", "POSTROUTING", KUBE_POSTROUTING, "kubernetes postrouting rules"),
)
#: upstream ``iptablesKubeletJumpChains`` (the anti-martian chain, no comment)
KUBELET_JUMPS = (
    Jump("filter", "INPUT", KUBE_FIREWALL, ""),
    Jump("filter", "OUTPUT", KUBE_FIREWALL, ""),
)


def jump_rule(j: Jump) -> str:
    """The rule's arguments as ``iptables-save`` prints them (after ``-A CHAIN``)."""
    parts = [j.extra] if j.extra else []
    if j.comment:
        parts.append(f'-m comment --comment "{j.comment}"')
    parts.append(f"-j {j.dst}")
    return " ".join(parts)


@dataclass
class IptablesContext:
    """Node-wide facts the rules depend on."""

    cluster_cidr: str = ""
    masquerade_all: bool = False
    mark: str = "0x4000"
    localhost_nodeports: bool = True
    #: addresses accepting NodePorts; None = every local address
    nodeport_ips: tuple[str, ...] | None = None
    node_ips: tuple[str, ...] = ()
    node_labels: Mapping[str, str] = field(default_factory=dict)
    #: drop INVALID conntrack state in KUBE-FORWARD (unless tcp_be_liberal)
    drop_invalid: bool = True
    random_fully: bool = True
    large_cluster: bool = False


@dataclass(slots=True)
class ServiceRules:
    """One service port's share of the rules."""

    #: filter-table lines (always written)
    filter: list[str] = field(default_factory=list)
    #: nat lines in KUBE-SERVICES / KUBE-NODEPORTS (always written)
    top: list[str] = field(default_factory=list)
    #: nat chains this service port owns
    chains: list[str] = field(default_factory=list)
    #: the rules of those chains (written only when the Service changed)
    rules: list[str] = field(default_factory=list)


def _hash16(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def port_proto_hash(port_name: str, protocol: str) -> str:
    return _hash16(port_name + protocol)


def endpoint_chain(port_name: str, protocol: str, endpoint: str) -> str:
    return "KUBE-SEP-" + _hash16(port_name + protocol + endpoint)


def is_service_chain(chain: str) -> bool:
    return chain.startswith(SERVICE_CHAIN_PREFIXES)


@lru_cache(maxsize=4096)
def _probability(n: int) -> str:
    return f"{1.0 / n:0.10f}"


def _in_any(ip: str, cidrs: Iterable[str]) -> bool:
    addr = ip_address(ip)
    return any(addr in ip_network(c, strict=False) for c in cidrs)


def render_service(
    sp: ServicePortInfo, endpoints: Sequence[Endpoint], ctx: IptablesContext
) -> ServiceRules:
    """The rules of one service port (upstream's loop body in ``syncProxyRules``)."""
    out = ServiceRules()
    cat = categorize_endpoints(endpoints, sp, ctx.node_labels)
    name = str(sp.name)
    proto = sp.protocol
    h = port_proto_hash(name, proto)
    svc_chain, svl_chain = "KUBE-SVC-" + h, "KUBE-SVL-" + h
    ext_chain, fw_chain = "KUBE-EXT-" + h, "KUBE-FW-" + h
    has_any = cat.has_any
    uses_cluster = bool(cat.cluster) and sp.uses_cluster_endpoints
    uses_local = bool(cat.local) and sp.uses_local_endpoints
    internal_chain, has_internal = svc_chain, has_any
    if sp.internal_local:
        internal_chain, has_internal = svl_chain, has_any and bool(cat.local)
    external_chain, has_external = svc_chain, has_any
    if sp.external_policy_local:
        external_chain, has_external = svl_chain, has_any and bool(cat.local)
    uses_ext = has_any and sp.externally_accessible
    uses_fw = has_any and bool(sp.lb_vips) and bool(sp.lb_source_ranges)
    lb_chain = fw_chain if uses_fw else ext_chain
    if not has_any:
        int_target = ext_target = "REJECT"
        int_comment = ext_comment = f'"{name} has no endpoints"'
    else:
        int_target = ext_target = "DROP"
        int_comment = ext_comment = f'"{name} has no local endpoints"'
    m = f"-m {proto} -p {proto}"
    cip, port = sp.cluster_ip, sp.port
    top, filt, rules = out.top, out.filter, out.rules

    if has_internal:
        top.append(
            f'-A KUBE-SERVICES -m comment --comment "{name} cluster IP" {m} -d {cip} '
            f"--dport {port} -j {internal_chain}"
        )
    else:
        filt.append(
            f"-A KUBE-SERVICES -m comment --comment {int_comment} {m} -d {cip} "
            f"--dport {port} -j {int_target}"
        )
    for eip in sp.external_ips:
        if has_any:
            top.append(
                f'-A KUBE-SERVICES -m comment --comment "{name} external IP" {m} -d {eip} '
                f"--dport {port} -j {ext_chain}"
            )
        if not has_external:
            filt.append(
                f"-A KUBE-EXTERNAL-SERVICES -m comment --comment {ext_comment} {m} -d {eip} "
                f"--dport {port} -j {ext_target}"
            )
    for lb in sp.lb_vips:
        if has_any:
            top.append(
                f'-A KUBE-SERVICES -m comment --comment "{name} loadbalancer IP" {m} -d {lb} '
                f"--dport {port} -j {lb_chain}"
            )
        if uses_fw:
            filt.append(
                f'-A KUBE-PROXY-FIREWALL -m comment --comment "{name} traffic not accepted by '
                f'{fw_chain}" {m} -d {lb} --dport {port} -j DROP'
            )
    if not has_external:
        for lb in sp.lb_vips:
            filt.append(
                f"-A KUBE-EXTERNAL-SERVICES -m comment --comment {ext_comment} {m} -d {lb} "
                f"--dport {port} -j {ext_target}"
            )
    if sp.node_port:
        if has_any:
            top.append(
                f"-A KUBE-NODEPORTS -m comment --comment {name} {m} "
                f"--dport {sp.node_port} -j {ext_chain}"
            )
        if not has_external:
            filt.append(
                f"-A KUBE-EXTERNAL-SERVICES -m comment --comment {ext_comment} "
                f"-m addrtype --dst-type LOCAL {m} --dport {sp.node_port} -j {ext_target}"
            )
    if sp.health_check_node_port:
        # accepted whether or not this node has local endpoints (the prober must get an answer)
        filt.append(
            f'-A KUBE-NODEPORTS -m comment --comment "{name} health check node port" '
            f"-m tcp -p tcp --dport {sp.health_check_node_port} -j ACCEPT"
        )

    # --- the service's own chains ---------------------------------------------------------
    if has_internal:
        args = f'-m comment --comment "{name} cluster IP" {m} -d {cip} --dport {port}'
        if ctx.masquerade_all:
            rules.append(f"-A {internal_chain} {args} -j KUBE-MARK-MASQ")
        elif ctx.cluster_cidr:
            rules.append(f"-A {internal_chain} {args} ! -s {ctx.cluster_cidr} -j KUBE-MARK-MASQ")
    if uses_ext:
        out.chains.append(ext_chain)
        if not sp.external_policy_local:
            rules.append(
                f'-A {ext_chain} -m comment --comment "masquerade traffic for {name} '
                f'external destinations" -j KUBE-MARK-MASQ'
            )
        else:
            if ctx.cluster_cidr:
                rules.append(
                    f'-A {ext_chain} -m comment --comment "pod traffic for {name} external '
                    f'destinations" -s {ctx.cluster_cidr} -j {svc_chain}'
                )
            rules.append(
                f'-A {ext_chain} -m comment --comment "masquerade LOCAL traffic for {name} '
                f'external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ'
            )
            rules.append(
                f'-A {ext_chain} -m comment --comment "route LOCAL traffic for {name} '
                f'external destinations" -m addrtype --src-type LOCAL -j {svc_chain}'
            )
        if has_external:
            rules.append(f"-A {ext_chain} -j {external_chain}")
    if uses_fw:
        out.chains.append(fw_chain)
        base = f'-A {fw_chain} -m comment --comment "{name} loadbalancer IP"'
        allow_node = False
        for cidr in sp.lb_source_ranges:
            rules.append(f"{base} -s {cidr} -j {ext_chain}")
            allow_node = allow_node or any(_in_any(ip, (cidr,)) for ip in ctx.node_ips)
        if allow_node:
            rules.extend(f"{base} -s {lb} -j {ext_chain}" for lb in sp.lb_vips)
        rules.append(
            f'-A {fw_chain} -m comment --comment "other traffic to {name} will be dropped by '
            f'KUBE-PROXY-FIREWALL"'
        )
    if uses_cluster:
        out.chains.append(svc_chain)
        _balance(rules, name, proto, sp, svc_chain, cat.cluster, ctx.large_cluster)
    if uses_local:
        out.chains.append(svl_chain)
        _balance(rules, name, proto, sp, svl_chain, cat.local, ctx.large_cluster)
    comment = "" if ctx.large_cluster else f" -m comment --comment {name}"
    for ep in cat.reachable:
        sep = endpoint_chain(name, proto, str(ep))
        out.chains.append(sep)
        rules.append(f"-A {sep}{comment} -s {ep.ip} -j KUBE-MARK-MASQ")
        affinity = f" -m recent --name {sep} --set" if sp.affinity_timeout else ""
        rules.append(f"-A {sep}{comment}{affinity} {m} -j DNAT --to-destination {ep}")
    return out


def _balance(
    rules: list[str],
    name: str,
    proto: str,
    sp: ServicePortInfo,
    chain: str,
    endpoints: Sequence[Endpoint],
    large: bool,
) -> None:
    """Service chain → endpoint chains: affinity checks first, then random choice."""
    seps = [(endpoint_chain(name, proto, str(ep)), str(ep)) for ep in endpoints]
    if sp.affinity_timeout:
        for sep, ep in seps:
            c = "" if large else f' -m comment --comment "{name} -> {ep}"'
            rules.append(
                f"-A {chain}{c} -m recent --name {sep} --rcheck --seconds {sp.affinity_timeout} "
                f"--reap -j {sep}"
            )
    n = len(seps)
    for i, (sep, ep) in enumerate(seps):
        c = "" if large else f' -m comment --comment "{name} -> {ep}"'
        p = f" -m statistic --mode random --probability {_probability(n - i)}" if i < n - 1 else ""
        rules.append(f"-A {chain}{c}{p} -j {sep}")


def localnet_guard(ctx: IptablesContext) -> bool:
    """NodePorts answer on 127.0.0.1: route_localnet=1 and the KUBE-FIREWALL guard."""
    return ctx.localhost_nodeports and (
        ctx.nodeport_ips is None or any(ip.startswith("127.") for ip in ctx.nodeport_ips)
    )


#: A chain-less ``-S`` (list every rule of the table) in a restore input.
#: ``iptables-nft-restore`` (1.8.9 here) remembers which chains a restore
#: names, to fetch only those, in a sorted linked list: every declaration, and
#: every rule's chain and jump target, is a walk of that list, so a restore of
#: 12,000 chains spends ~4 s comparing strings. A command without a chain
#: makes it fetch the whole table instead and stop keeping the list; ``-S`` is
#: the only such command that changes nothing (its output is discarded). With
#: it the full 1,000 x 10 restore goes from ~4.5 s to ~0.7 s (same rules
#: written; see docs/performance.md). The legacy backend has no such list.
WHOLE_CACHE_LINE = "-S"
#: Written chains from which the whole-table fetch pays for itself: listing
#: costs about as much as the table is big; the list walks grow with the
#: square of the chains written.
WHOLE_CACHE_CHAINS = 2000


@dataclass(slots=True)
class Sections:
    """The parts of one restore input (see :func:`sections`)."""

    #: the ``*filter`` section's lines (without the jump rules)
    filter: list[str]
    #: nat: our fixed chains (declared, so flushed) and their rules
    head: list[str]
    #: nat: declarations of the per-service chains being written and of stale chains
    chains: list[str]
    #: nat: the rules of the per-service chains being written, then ``-X`` of stale ones
    rules: list[str]
    #: nat: the last rules of KUBE-SERVICES (to KUBE-NODEPORTS); part of the head
    tail: list[str]
    #: jump rules to insert into built-in chains, per table
    jumps: dict[str, list[str]] = field(default_factory=dict)

    def text(
        self, *, with_filter: bool = True, with_head: bool = True, whole_cache: bool = False
    ) -> str:
        """Join into ``iptables-restore`` input; a table with nothing to write is left out.
        Jumps are written with the table they belong to.

        ``whole_cache`` (for ``iptables-nft-restore`` and many chains) puts a
        ``-S`` line into the nat section before the per-service chains: see
        :data:`WHOLE_CACHE_LINE`."""
        out = ""
        if with_filter:
            decl = [ln for ln in self.filter if ln.startswith(":")]
            rest = [ln for ln in self.filter if not ln.startswith(":")]
            out = "\n".join(["*filter", *decl, *self.jumps.get("filter", []), *rest, "COMMIT"])
            out += "\n"
        if with_head:
            # declarations first: the head's rules jump to chains written here
            decl = [ln for ln in self.head if ln.startswith(":")]
            rest = [ln for ln in self.head if not ln.startswith(":")]
            jumps = self.jumps.get("nat", [])
            if whole_cache:
                # the jumps name built-in chains (created here if missing) before the
                # line ends the chain list; their targets are declared in the head
                chains = [*decl, *jumps, WHOLE_CACHE_LINE, *self.chains]
            else:
                chains = [*decl, *self.chains, *jumps]
            body = [*chains, *rest, *self.rules, *self.tail]
        else:
            cache = [WHOLE_CACHE_LINE] if whole_cache and self.chains else []
            body = [*cache, *self.chains, *self.rules]
        if body:
            out += "*nat\n" + "\n".join(body) + "\nCOMMIT\n"
        return out


def sections(
    services: Sequence[ServiceRules],
    ctx: IptablesContext,
    *,
    write: Iterable[ServiceRules] | None = None,
    jumps: Sequence[Jump] = (),
    stale_chains: Iterable[str] = (),
) -> Sections:
    """The restore input in parts, so that a partial sync can leave out the filter
    table and the fixed nat chains when their text did not change."""
    written = services if write is None else list(write)
    mark = ctx.mark
    f: list[str] = [f":{c} - [0:0]" for c in (*FILTER_CHAINS, CANARY)]
    guard = localnet_guard(ctx)
    if guard:
        f.append(f":{KUBE_FIREWALL} - [0:0]")
    for s in services:
        f.extend(s.filter)
    if guard:
        f.append(
            f'-A {KUBE_FIREWALL} -m comment --comment "block incoming localnet connections" '
            "-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT "
            "-j DROP"
        )
    if ctx.drop_invalid:
        f.append(f"-A {KUBE_FORWARD} -m conntrack --ctstate INVALID -j DROP")
    f.append(
        f'-A {KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" '
        f"-m mark --mark {mark}/{mark} -j ACCEPT"
    )
    f.append(
        f'-A {KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" '
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
    )

    head: list[str] = [f":{c} - [0:0]" for c in NAT_CHAINS]
    head.append(f"-A {KUBE_POSTROUTING} -m mark ! --mark {mark}/{mark} -j RETURN")
    head.append(f"-A {KUBE_POSTROUTING} -j MARK --xor-mark {mark}")
    head.append(
        f'-A {KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" '
        "-j MASQUERADE" + (" --random-fully" if ctx.random_fully else "")
    )
    head.append(f"-A {KUBE_MARK_MASQ} -j MARK --or-mark {mark}")
    for s in services:
        head.extend(s.top)
    tail = (
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must '
        'be the last rule in this chain"'
    )
    tails: list[str] = []
    if ctx.nodeport_ips is None:
        local = "" if ctx.localhost_nodeports else " ! -d 127.0.0.0/8"
        tails.append(f"{tail} -m addrtype --dst-type LOCAL{local} -j {KUBE_NODEPORTS}")
    else:
        tails.extend(
            f"{tail} -d {ip} -j {KUBE_NODEPORTS}"
            for ip in ctx.nodeport_ips
            if ctx.localhost_nodeports or not ip.startswith("127.")
        )

    stale = sorted(stale_chains)
    chains = [f":{c} - [0:0]" for s in written for c in s.chains]
    chains.extend(f":{c} - [0:0]" for c in stale)
    rules = [r for s in written for r in s.rules]
    rules.extend(f"-X {c}" for c in stale)
    inserts: dict[str, list[str]] = {}
    for j in jumps:
        inserts.setdefault(j.table, []).append(f"-I {j.src} {jump_rule(j)}")
    return Sections(f, head, chains, rules, tails, inserts)


def assemble(
    services: Sequence[ServiceRules],
    ctx: IptablesContext,
    *,
    write: Iterable[ServiceRules] | None = None,
    jumps: Sequence[Jump] = (),
    stale_chains: Iterable[str] = (),
) -> str:
    """The whole ``iptables-restore --noflush`` input.

    ``services`` are every service port's rules (their top-level lines are always
    written); ``write`` are those whose own chains are rewritten (None: all);
    ``jumps`` are jump rules missing from built-in chains (inserted first);
    ``stale_chains`` are our chains to delete.
    """
    return sections(services, ctx, write=write, jumps=jumps, stale_chains=stale_chains).text()
