"""nftables mode, the pure half: service ports and endpoints → an ``nft -f``
transaction, in upstream kube-proxy's layout (``pkg/proxy/nftables``).

Everything lives in one table, ``ip kube-proxy``. Base chains (priorities as
numbers: nft 1.0.6 refuses ``dstnat`` on the output hook): ``filter-prerouting``,
``filter-input``, ``filter-forward``, ``filter-output`` (-110),
``filter-output-post-dnat`` (-90), ``nat-prerouting``/``nat-output`` (-100),
``nat-postrouting`` (100). Dispatch is by verdict maps keyed on
``ipv4_addr . inet_proto . inet_service``: ``service-ips`` (ClusterIPs,
external IPs, LoadBalancer IPs) and ``service-nodeports``
(``inet_proto . inet_service``), consulted from the ``services`` chain;
``no-endpoint-services``/``no-endpoint-nodeports`` send Services without
endpoints to ``reject-chain`` (or drop, for Local policies without a local
endpoint); ``firewall-ips`` handles ``loadBalancerSourceRanges``; the
``cluster-ips`` set rejects ports a ClusterIP does not serve and, with a
service CIDR configured, ``cluster-ips-check`` drops traffic to addresses in
it that are not allocated ClusterIPs (both after DNAT, so served ports have
already been rewritten to an endpoint). Per service port:
``service-<hash>-<ns>/<name>/<proto>/<port>`` (Cluster policy; ``numgen random
mod N vmap`` to the endpoints), ``local-…`` (Local policy), ``external-…``,
``firewall-…``; per endpoint ``endpoint-<hash>-…__<ip>/<port>`` (hairpin
masquerade + ``dnat to``) and, with ClientIP affinity, a dynamic timeout set
``affinity-…`` of client addresses. The hash is upstream's: base32 of sha256
of the rest of the name, first 8 characters.

Like the iptables side, rendering is per service port (:class:`NftService`,
cached by the proxier) and a transaction either rebuilds everything (full
sync: maps flushed and refilled) or touches only the Services that changed
(partial sync: their chains rewritten, their map elements deleted and added
by difference). Chains that fall out of use are flushed at once and deleted
on a later sync (kernels before 6.2 may still hold a reference from a map
element removed in the same transaction; upstream waits too).

Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pinnace.proxy.model import Endpoint, ServicePortInfo, ServicePortName
from pinnace.proxy.topology import categorize_endpoints

__all__ = [
    "TABLE",
    "ElementKey",
    "NftContext",
    "NftService",
    "assemble",
    "chain_base",
    "endpoint_chain_base",
    "render_service",
]

TABLE = "kube-proxy"
FAMILY = "ip"
T = f"{FAMILY} {TABLE}"

SERVICE_IPS = "service-ips"
SERVICE_NODEPORTS = "service-nodeports"
NO_ENDPOINT_SERVICES = "no-endpoint-services"
NO_ENDPOINT_NODEPORTS = "no-endpoint-nodeports"
FIREWALL_IPS = "firewall-ips"
CLUSTER_IPS = "cluster-ips"
NODEPORT_IPS = "nodeport-ips"
MAPS = (SERVICE_IPS, SERVICE_NODEPORTS, NO_ENDPOINT_SERVICES, NO_ENDPOINT_NODEPORTS, FIREWALL_IPS)
_ADDR_KEY = "ipv4_addr . inet_proto . inet_service : verdict"
_PORT_KEY = "inet_proto . inet_service : verdict"
_MAP_DEFS = {
    NO_ENDPOINT_SERVICES: (
        _ADDR_KEY,
        "vmap to drop or reject packets to services with no endpoints",
    ),
    NO_ENDPOINT_NODEPORTS: (
        _PORT_KEY,
        "vmap to drop or reject packets to service nodeports with no endpoints",
    ),
    FIREWALL_IPS: (_ADDR_KEY, "destinations that are subject to LoadBalancerSourceRanges"),
    SERVICE_IPS: (_ADDR_KEY, "ClusterIP, ExternalIP and LoadBalancer IP traffic"),
    SERVICE_NODEPORTS: (_PORT_KEY, "NodePort traffic"),
}

#: (name, type, hook, priority)
BASE_CHAINS = (
    ("filter-prerouting", "filter", "prerouting", -110),
    ("filter-input", "filter", "input", -110),
    ("filter-forward", "filter", "forward", -110),
    ("filter-output", "filter", "output", -110),
    ("filter-output-post-dnat", "filter", "output", -90),
    ("nat-prerouting", "nat", "prerouting", -100),
    ("nat-output", "nat", "output", -100),
    ("nat-postrouting", "nat", "postrouting", 100),
)
#: (from base chain, extra match, to chain)
JUMPS = (
    ("filter-input", "ct state new", "nodeport-endpoints-check"),
    ("filter-input", "ct state new", "service-endpoints-check"),
    ("filter-forward", "ct state new", "service-endpoints-check"),
    ("filter-forward", "ct state new", "cluster-ips-check"),
    ("filter-output", "ct state new", "service-endpoints-check"),
    ("filter-output", "ct state new", "firewall-check"),
    ("filter-output-post-dnat", "ct state new", "cluster-ips-check"),
    ("filter-prerouting", "ct state new", "firewall-check"),
    ("nat-output", "", "services"),
    ("nat-prerouting", "", "services"),
    ("nat-postrouting", "", "masquerading"),
)
TOP_CHAINS = (
    "services",
    "masquerading",
    "mark-for-masquerade",
    "service-endpoints-check",
    "nodeport-endpoints-check",
    "cluster-ips-check",
    "firewall-check",
)

ElementKey = tuple[str, str]  # (map or set name, key text)


def _hash8(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:8]


def chain_base(spn: ServicePortName) -> str:
    """``HASH-ns/name/proto/port``, e.g. ``ULMVA6XW-ns1/svc1/tcp/p80``."""
    name = f"{spn.namespace}/{spn.name}/{spn.protocol.lower()}/{spn.port}"
    return f"{_hash8(name)}-{name}"[:240]


def endpoint_chain_base(spn: ServicePortName, ep: Endpoint) -> str:
    name = f"{spn.namespace}/{spn.name}/{spn.protocol.lower()}/{spn.port}__{ep.ip}/{ep.port}"
    return f"{_hash8(name)}-{name}"[:240]


def is_service_chain(name: str) -> bool:
    """Ours per service (every such name has a ``/``; the fixed chains have none)."""
    return "/" in name


@dataclass
class NftContext:
    cluster_cidr: str = ""
    masquerade_all: bool = False
    mark: str = "0x4000"
    #: addresses accepting NodePorts; None = every local address but 127/8
    nodeport_ips: tuple[str, ...] | None = None
    node_ips: tuple[str, ...] = ()
    node_labels: Mapping[str, str] = field(default_factory=dict)
    #: comma-separated service CIDRs; empty = no unallocated-ClusterIP check
    service_cidr: str = ""


@dataclass(slots=True)
class NftService:
    """One service port's share: map/set elements, chains and affinity sets."""

    #: (map, key) -> (verdict, comment or "")
    elements: dict[ElementKey, tuple[str, str]] = field(default_factory=dict)
    #: chain -> rules
    chains: dict[str, list[str]] = field(default_factory=dict)
    #: affinity set -> timeout seconds
    sets: dict[str, int] = field(default_factory=dict)


def render_service(
    sp: ServicePortInfo, endpoints: Sequence[Endpoint], ctx: NftContext
) -> NftService:
    out = NftService()
    cat = categorize_endpoints(endpoints, sp, ctx.node_labels)
    name = str(sp.name)
    proto = sp.protocol
    base = chain_base(sp.name)
    svc_chain, local_chain = "service-" + base, "local-" + base
    ext_chain, fw_chain = "external-" + base, "firewall-" + base
    has_any = cat.has_any
    uses_cluster = bool(cat.cluster) and sp.uses_cluster_endpoints
    uses_local = bool(cat.local) and sp.uses_local_endpoints
    internal_chain, has_internal = svc_chain, has_any
    if sp.internal_local:
        internal_chain, has_internal = local_chain, has_any and bool(cat.local)
    external_chain, has_external = svc_chain, has_any
    if sp.external_policy_local:
        external_chain, has_external = local_chain, has_any and bool(cat.local)
    uses_ext = has_any and sp.externally_accessible
    int_verdict = ext_verdict = "goto reject-chain" if not has_any else "drop"
    el = out.elements
    key = f"{sp.cluster_ip} . {proto} . {sp.port}"
    el[(CLUSTER_IPS, sp.cluster_ip)] = ("", "")
    if has_internal:
        el[(SERVICE_IPS, key)] = (f"goto {internal_chain}", "")
    else:
        el[(NO_ENDPOINT_SERVICES, key)] = (int_verdict, name)
    for eip in sp.external_ips:
        k = f"{eip} . {proto} . {sp.port}"
        if has_any:
            el[(SERVICE_IPS, k)] = (f"goto {ext_chain}", "")
        if not has_external:
            el[(NO_ENDPOINT_SERVICES, k)] = (ext_verdict, name)
    uses_fw = bool(sp.lb_vips) and bool(sp.lb_source_ranges)
    if uses_fw:
        sources = list(sp.lb_source_ranges)
        if any(_in(ip, sp.lb_source_ranges) for ip in ctx.node_ips):
            sources.extend(sp.lb_vips)
        out.chains[fw_chain] = [f"ip saddr != {{ {', '.join(sources)} }} drop"]
    for lb in sp.lb_vips:
        k = f"{lb} . {proto} . {sp.port}"
        if has_any:
            el[(SERVICE_IPS, k)] = (f"goto {ext_chain}", "")
        if uses_fw:
            el[(FIREWALL_IPS, k)] = (f"goto {fw_chain}", name)
        if not has_external:
            el[(NO_ENDPOINT_SERVICES, k)] = (ext_verdict, name)
    if sp.node_port:
        k = f"{proto} . {sp.node_port}"
        if has_any:
            el[(SERVICE_NODEPORTS, k)] = (f"goto {ext_chain}", "")
        if not has_external:
            el[(NO_ENDPOINT_NODEPORTS, k)] = (ext_verdict, name)

    chains = out.chains
    if has_internal:
        match = f"ip daddr {sp.cluster_ip} {proto} dport {sp.port}"
        if ctx.masquerade_all:
            chains.setdefault(internal_chain, []).append(f"{match} jump mark-for-masquerade")
        elif ctx.cluster_cidr:
            chains.setdefault(internal_chain, []).append(
                f"{match} ip saddr != {ctx.cluster_cidr} jump mark-for-masquerade"
            )
    if uses_ext:
        rules = chains.setdefault(ext_chain, [])
        if not sp.external_policy_local:
            rules.append("jump mark-for-masquerade")
        else:
            if ctx.cluster_cidr:
                rules.append(
                    f'ip saddr {ctx.cluster_cidr} goto {svc_chain} comment "short-circuit pod traffic"'
                )
            rules.append(
                'fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"'
            )
            rules.append(
                f'fib saddr type local goto {svc_chain} comment "short-circuit local traffic"'
            )
        if has_external:
            rules.append(f"goto {external_chain}")
    if sp.affinity_timeout:
        for ep in cat.reachable:
            out.sets["affinity-" + endpoint_chain_base(sp.name, ep)] = sp.affinity_timeout
    if uses_cluster:
        _balance(chains.setdefault(svc_chain, []), sp, cat.cluster)
    if uses_local:
        _balance(chains.setdefault(local_chain, []), sp, cat.local)
    for ep in cat.reachable:
        eb = endpoint_chain_base(sp.name, ep)
        rules = chains.setdefault("endpoint-" + eb, [])
        rules.append(f"ip saddr {ep.ip} jump mark-for-masquerade")
        if sp.affinity_timeout:
            rules.append(f"update @affinity-{eb} {{ ip saddr }}")
        rules.append(f"meta l4proto {proto} dnat to {ep}")
    return out


def _in(ip: str, cidrs: Iterable[str]) -> bool:
    from ipaddress import ip_address, ip_network

    return any(ip_address(ip) in ip_network(c, strict=False) for c in cidrs)


def _balance(rules: list[str], sp: ServicePortInfo, endpoints: Sequence[Endpoint]) -> None:
    bases = [endpoint_chain_base(sp.name, ep) for ep in endpoints]
    if sp.affinity_timeout:
        rules.extend(f"ip saddr @affinity-{b} goto endpoint-{b}" for b in bases)
    vmap = " , ".join(f"{i} : goto endpoint-{b}" for i, b in enumerate(bases))
    rules.append(f"numgen random mod {len(bases)} vmap {{ {vmap} }}")


def _element(name: str, key: str, value: tuple[str, str]) -> str:
    verdict, comment = value
    c = f' comment "{comment}"' if comment else ""
    if name == CLUSTER_IPS or name == NODEPORT_IPS:
        return f"add element {T} {name} {{ {key} }}"
    return f"add element {T} {name} {{ {key}{c} : {verdict} }}"


def setup(ctx: NftContext) -> list[str]:
    """The table, base chains, maps and the fixed rules (written on a full sync)."""
    out = [f'add table {T} {{ comment "rules for kube-proxy" ; }}']
    for name, typ, hook, prio in BASE_CHAINS:
        out.append(f"add chain {T} {name} {{ type {typ} hook {hook} priority {prio} ; }}")
        out.append(f"flush chain {T} {name}")
    for c in TOP_CHAINS:
        out.append(f"add chain {T} {c}")
        out.append(f"flush chain {T} {c}")
    out.append(
        f'add chain {T} reject-chain {{ comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }}'
    )
    out.append(f"flush chain {T} reject-chain")
    out.append(f"add rule {T} reject-chain reject")
    for src, extra, dst in JUMPS:
        out.append(f"add rule {T} {src} {extra + ' ' if extra else ''}jump {dst}")
    mark = ctx.mark
    out.append(f"add rule {T} mark-for-masquerade mark set mark or {mark}")
    out.append(f"add rule {T} masquerading mark and {mark} == 0 return")
    out.append(f"add rule {T} masquerading mark set mark xor {mark}")
    out.append(f"add rule {T} masquerading masquerade fully-random")
    out.append(f'add set {T} {CLUSTER_IPS} {{ type ipv4_addr ; comment "Active ClusterIPs" ; }}')
    out.append(f"flush set {T} {CLUSTER_IPS}")
    out.append(
        f'add set {T} {NODEPORT_IPS} {{ type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }}'
    )
    if ctx.nodeport_ips is None:
        out.append(f"delete set {T} {NODEPORT_IPS}")
        nodeport_match = "fib daddr type local ip daddr != 127.0.0.0/8"
    else:
        out.append(f"flush set {T} {NODEPORT_IPS}")
        out.extend(
            f"add element {T} {NODEPORT_IPS} {{ {ip} }}"
            for ip in ctx.nodeport_ips
            if not ip.startswith("127.")
        )
        nodeport_match = f"ip daddr @{NODEPORT_IPS}"
    for name, (typ, comment) in _MAP_DEFS.items():
        out.append(f'add map {T} {name} {{ type {typ} ; comment "{comment}" ; }}')
        out.append(f"flush map {T} {name}")
    out.append(
        f"add rule {T} service-endpoints-check ip daddr . meta l4proto . th dport "
        f"vmap @{NO_ENDPOINT_SERVICES}"
    )
    out.append(
        f"add rule {T} nodeport-endpoints-check {nodeport_match} meta l4proto . th dport "
        f"vmap @{NO_ENDPOINT_NODEPORTS}"
    )
    out.append(
        f'add rule {T} cluster-ips-check ip daddr @{CLUSTER_IPS} reject comment "Reject traffic '
        'to invalid ports of ClusterIPs"'
    )
    if ctx.service_cidr:
        cidrs = ", ".join(ctx.service_cidr.split(","))
        out.append(
            f"add rule {T} cluster-ips-check ip daddr {{ {cidrs} }} drop comment "
            '"Drop traffic to unallocated ClusterIPs"'
        )
    out.append(
        f"add rule {T} firewall-check ip daddr . meta l4proto . th dport vmap @{FIREWALL_IPS}"
    )
    out.append(f"add rule {T} services ip daddr . meta l4proto . th dport vmap @{SERVICE_IPS}")
    out.append(
        f"add rule {T} services {nodeport_match} meta l4proto . th dport vmap @{SERVICE_NODEPORTS}"
    )
    return out


def assemble(
    services: Sequence[NftService],
    ctx: NftContext,
    *,
    full: bool,
    write: Iterable[NftService] = (),
    old_elements: Mapping[ElementKey, tuple[str, str]] | None = None,
    stale_chains: Iterable[str] = (),
    delete_chains: Iterable[str] = (),
    stale_sets: Iterable[str] = (),
    existing_chains: Collection[str] | None = None,
) -> str:
    """The ``nft -f`` transaction.

    Full: the setup, every element, every chain. Partial: only ``write`` (the
    changed service ports) — their chains rewritten and the difference between
    ``old_elements`` (what the last sync programmed for the changed Services)
    and their new elements. ``stale_chains`` are flushed, ``delete_chains``
    (flushed by an earlier sync) deleted, ``stale_sets`` deleted. With
    ``existing_chains`` known, chains not in it are created without a flush.
    """
    out: list[str] = setup(ctx) if full else []
    written = services if full else list(write)
    # chains and sets first: elements and rules refer to them
    for s in written:
        for chain in s.chains:
            out.append(f"add chain {T} {chain}")
            if existing_chains is None or chain in existing_chains:
                out.append(f"flush chain {T} {chain}")
    for s in written:
        for name, timeout in s.sets.items():
            out.append(
                f"add set {T} {name} {{ type ipv4_addr ; flags dynamic,timeout ; "
                f"timeout {timeout}s ; }}"
            )
    if full:
        for s in services:
            out.extend(_element(m, k, v) for (m, k), v in s.elements.items())
    else:
        new: dict[ElementKey, tuple[str, str]] = {}
        for s in written:
            new.update(s.elements)
        old = old_elements or {}
        for (m, k), v in old.items():
            if new.get((m, k)) != v:
                out.append(f"delete element {T} {m} {{ {k} }}")
        for (m, k), v in new.items():
            if old.get((m, k)) != v:
                out.append(_element(m, k, v))
    for s in written:
        for chain, rules in s.chains.items():
            out.extend(f"add rule {T} {chain} {r}" for r in rules)
    out.extend(f"flush chain {T} {c}" for c in sorted(stale_chains))
    out.extend(f"delete chain {T} {c}" for c in sorted(delete_chains))
    out.extend(f"delete set {T} {s}" for s in sorted(stale_sets))
    return "\n".join(out) + "\n"
