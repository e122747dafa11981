"""Table columns for networking.k8s.io/v1 ingresses, ingressclasses and
networkpolicies, as ``kubectl get`` shows them against a v1.32 API server
(upstream's ``printIngress``, ``printIngressClass``, ``printNetworkPolicy``).

The API server renders tables in wide mode, so load-balancer addresses are
never truncated here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pinnace.api.printers import AGE, NAME, dig, format_label_selector
from pinnace.api.schema import Column

Obj = Mapping[str, Any]


def ingress_hosts(o: Obj) -> str:
    """The first three rule hosts, ``+ N more...`` for further rules, ``*``
    when no rule names a host (upstream's ``formatHosts``)."""
    rules = dig(o, "spec", "rules", default=[])
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == 3:
            more = True
        host = rule.get("host") or ""
        if not more and host:
            hosts.append(host)
    text = ",".join(hosts)
    if more:
        text = f"{text} + {len(rules) - 3} more..."
    return text or "*"


def ingress_address(o: Obj) -> str:
    """Sorted, de-duplicated IPs (or hostnames) of the load balancer."""
    seen: set[str] = set()
    for entry in dig(o, "status", "loadBalancer", "ingress", default=[]):
        at = entry.get("ip") or entry.get("hostname") or ""
        if at:
            seen.add(at)
    return ",".join(sorted(seen))


def ingress_ports(o: Obj) -> str:
    return "80, 443" if dig(o, "spec", "tls") else "80"


INGRESS_COLUMNS = (
    NAME,
    Column(
        "Class",
        "string",
        "The IngressClass that handles this ingress.",
        lambda o: str(dig(o, "spec", "ingressClassName") or "<none>"),
    ),
    Column("Hosts", "string", "Hosts the rules match.", ingress_hosts),
    Column("Address", "string", "Where the load balancer can be reached.", ingress_address),
    Column("Ports", "string", "Ports served: 80, and 443 with TLS.", ingress_ports),
    AGE,
)


def ingressclass_parameters(o: Obj) -> str:
    params = dig(o, "spec", "parameters")
    if not isinstance(params, Mapping):
        return "<none>"
    text = str(params.get("kind", ""))
    if params.get("apiGroup") is not None:
        text = f"{text}.{params['apiGroup']}"
    return f"{text}/{params.get('name', '')}"


INGRESSCLASS_COLUMNS = (
    NAME,
    Column(
        "Controller",
        "string",
        "The controller that implements this class.",
        lambda o: str(dig(o, "spec", "controller", default="")),
    ),
    Column(
        "Parameters", "string", "The controller's configuration object.", ingressclass_parameters
    ),
    AGE,
)

NETWORKPOLICY_COLUMNS = (
    NAME,
    Column(
        "Pod-Selector",
        "string",
        "The pods the policy applies to.",
        lambda o: format_label_selector(dig(o, "spec", "podSelector")),
    ),
    AGE,
)
