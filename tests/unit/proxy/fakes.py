"""Builders for Service/EndpointSlice objects and a Runner that records commands
instead of running them (shared by the proxy unit tests)."""

from __future__ import annotations

from typing import Any

from pinnace.proxy.runner import Runner


def svc(
    name: str = "svc1",
    ip: str = "172.30.0.41",
    *,
    ns: str = "ns1",
    port: int = 80,
    port_name: str = "p80",
    protocol: str = "TCP",
    node_port: int = 0,
    **spec: Any,
) -> dict[str, Any]:
    p: dict[str, Any] = {"name": port_name, "port": port, "protocol": protocol}
    s: dict[str, Any] = {"type": "ClusterIP", "clusterIP": ip, "ports": [p]}
    if node_port:
        s["type"] = "NodePort"
        p["nodePort"] = node_port
    status = spec.pop("status", None)
    s.update(spec)
    obj: dict[str, Any] = {"metadata": {"namespace": ns, "name": name}, "spec": s}
    if status is not None:
        obj["status"] = status
    return obj


def ep(ip: str, node: str = "node1", **cond: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"addresses": [ip], "nodeName": node}
    hints = cond.pop("zones", None)
    if hints is not None:
        e["hints"] = {"forZones": [{"name": z} for z in hints]}
    if cond:
        e["conditions"] = cond
    return e


def eps(
    service: str = "svc1",
    endpoints: list[dict[str, Any]] | None = None,
    *,
    ns: str = "ns1",
    name: str | None = None,
    port: int = 80,
    port_name: str = "p80",
    protocol: str = "TCP",
    address_type: str = "IPv4",
) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": ns,
            "name": name or f"{service}-abc",
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": address_type,
        "ports": [{"name": port_name, "port": port, "protocol": protocol}],
        "endpoints": endpoints if endpoints is not None else [ep("10.180.0.1")],
    }


class FakeRunner(Runner):
    """Records every command; answers ``*-save``/``nft list`` from canned text."""

    def __init__(self, saves: dict[str, str] | None = None, fail: bool = False) -> None:
        super().__init__(())
        self.calls: list[tuple[tuple[str, ...], str | None]] = []
        self.saves = saves or {}
        self.fail = fail
        self.sysctls: dict[str, str] = {}

    async def run(self, *args: str, input: str | None = None, keep_stdout: bool = True) -> str:
        self.calls.append((args, input))
        if self.fail and ("restore" in args[0] or args[:2] == ("nft", "-f")):
            from pinnace.proxy.config import ProxyError

            raise ProxyError("boom")
        if "save" in args[0]:
            if "-t" in args:
                return self.saves.get(args[-1], "")
            return "".join(v for k, v in self.saves.items() if k != "nft")
        if args[0].startswith("iptables") and "-S" in args:  # one chain, as iptables -S
            table, chain = args[args.index("-t") + 1], args[args.index("-S") + 1]
            if f"\n:{chain} " not in self.saves.get(table, ""):
                from pinnace.proxy.config import ProxyError

                raise ProxyError(f"no chain {chain}")
            return f"-N {chain}\n"
        if args[:2] == ("nft", "-t"):
            return self.saves.get("nft", "")
        return ""

    def has(self, tool: str) -> bool:
        return True

    def read_sysctl(self, name: str) -> str | None:
        return self.sysctls.get(name)

    def write_sysctl(self, name: str, value: str) -> None:
        self.sysctls[name] = value

    def run_sync(self, *args: str, input: str | None = None, check: bool = True) -> str:
        self.calls.append((args, input))
        return ""

    def applied(self) -> list[str]:
        """The texts given to iptables-restore / nft -f, in order."""
        return [i for a, i in self.calls if i is not None]
