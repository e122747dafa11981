"""Running the netfilter tools: ``iptables-restore``/``iptables-save``, ``nft``
and ``sysctl``, optionally under a command prefix.

The prefix (``ProxyConfig.command_prefix``) is how tests and the benchmark
program a network namespace instead of the host: ``["ip", "netns", "exec",
"NS"]`` runs every command — and every sysctl write — inside ``NS``, whose
netfilter tables and ``/proc/sys/net`` are its own. With no prefix, sysctls
are written straight to ``/proc/sys``.

Concurrency model: :meth:`Runner.run` is an asyncio subprocess (the rule text
goes to stdin; the event loop keeps serving informers while the kernel loads
it); :meth:`Runner.run_sync` is the blocking twin for ``cleanup()``, which runs
before or after any event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from pinnace.proxy.config import ProxyError

__all__ = [
    "Runner",
    "digest",
    "iptables_command",
    "iptables_tools",
    "parse_save",
    "resolve_iptables_backend",
    "save_chains",
]


class Runner:
    def __init__(self, prefix: Sequence[str] = ()) -> None:
        self.prefix = list(prefix)

    def _argv(self, args: Sequence[str]) -> list[str]:
        return [*self.prefix, *args]

    async def run(self, *args: str, input: str | None = None, keep_stdout: bool = True) -> str:
        """Run a command; its stdout ("" when not ``keep_stdout``: it goes to
        /dev/null), or :class:`ProxyError` with its stderr."""
        argv = self._argv(args)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE if keep_stdout else subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except FileNotFoundError as e:
            raise ProxyError(f"{argv[0]} not found: install iptables/nftables") from e
        try:
            out, err = await proc.communicate(input.encode() if input is not None else None)
        except asyncio.CancelledError:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        if proc.returncode != 0:
            raise ProxyError(f"{' '.join(args[:2])} failed ({proc.returncode}): {_tail(err)}")
        return out.decode() if out is not None else ""

    def run_sync(self, *args: str, input: str | None = None, check: bool = True) -> str:
        argv = self._argv(args)
        try:
            res = subprocess.run(
                argv, input=input.encode() if input is not None else None, capture_output=True
            )
        except FileNotFoundError as e:
            raise ProxyError(f"{argv[0]} not found") from e
        if check and res.returncode != 0:
            raise ProxyError(f"{' '.join(args[:2])} failed ({res.returncode}): {_tail(res.stderr)}")
        return res.stdout.decode() if res.returncode == 0 else ""

    def has(self, tool: str) -> bool:
        return shutil.which(tool) is not None

    # --- sysctl --------------------------------------------------------------------------

    def read_sysctl(self, name: str) -> str | None:
        """``net.ipv4.conf.all.route_localnet`` style name; None if it does not exist."""
        if self.prefix:
            out = self.run_sync("sysctl", "-n", name, check=False)
            return out.strip() or None
        path = Path("/proc/sys") / name.replace(".", "/")
        try:
            return path.read_text().strip()
        except OSError:
            return None

    def write_sysctl(self, name: str, value: str) -> None:
        if self.prefix:
            self.run_sync("sysctl", "-q", "-w", f"{name}={value}")
            return
        path = Path("/proc/sys") / name.replace(".", "/")
        try:
            path.write_text(value)
        except OSError as e:
            raise ProxyError(f"cannot set sysctl {name}={value}: {e}") from e


def _tail(err: bytes, limit: int = 800) -> str:
    text = err.decode(errors="replace").strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def parse_save(text: str) -> tuple[set[str], Counter[str]]:
    """``iptables-save -t TABLE`` output → (chain names, rules as ``-A CHAIN ...`` with
    how often each occurs)."""
    chains: set[str] = set()
    rules: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith(":"):
            chains.add(line[1:].split(" ", 1)[0])
        elif line.startswith("-A "):
            rules[line] += 1
    return chains, rules


def save_chains(text: str) -> dict[str, dict[str, list[str]]]:
    """``iptables-save`` output → table → chain → its ``-A`` lines in order
    (a chain with no rules maps to an empty list)."""
    tables: dict[str, dict[str, list[str]]] = {}
    chains: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("*"):
            chains = tables.setdefault(line[1:].strip(), {})
        elif line.startswith(":"):
            chains.setdefault(line[1:].split(" ", 1)[0], [])
        elif line.startswith("-A "):
            chains.setdefault(line[3:].split(" ", 1)[0], []).append(line)
    return tables


def digest(text: str) -> str:
    """A short digest of ``text`` that is the same in every process (kept on disk)."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def iptables_tools(runner: Runner, backend: str) -> tuple[str, str]:
    """(save, restore) commands of a backend ("nft"/"legacy"), falling back to the
    unsuffixed tools where the suffixed ones are not installed."""
    save, restore = f"iptables-{backend}-save", f"iptables-{backend}-restore"
    if runner.has(save) and runner.has(restore):
        return save, restore
    return "iptables-save", "iptables-restore"


def iptables_command(runner: Runner, backend: str) -> str:
    """The ``iptables`` command of a backend, or the unsuffixed one."""
    cmd = f"iptables-{backend}"
    return cmd if runner.has(cmd) else "iptables"


def resolve_iptables_backend(runner: Runner, wanted: str) -> str:
    """``auto``: the backend already holding more rules (upstream's iptables-wrapper
    idea: join whatever the node's other components use), else the one the system's
    ``iptables`` is."""
    if wanted in ("nft", "legacy"):
        return wanted
    counts: dict[str, int] = {}
    for b in ("nft", "legacy"):
        if runner.has(f"iptables-{b}-save"):
            out = runner.run_sync(f"iptables-{b}-save", check=False)
            counts[b] = sum(1 for line in out.splitlines() if line.startswith("-A "))
    version = (
        runner.run_sync("iptables", "--version", check=False) if runner.has("iptables") else ""
    )
    default = "legacy" if "legacy" in version else "nft"
    if counts and max(counts.values()) > counts.get(default, 0):
        return max(counts, key=lambda b: counts[b])
    return default
