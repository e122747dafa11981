"""A rule as ``iptables-save`` prints it, for the rule shapes kube-proxy writes.

kube-proxy writes rules in upstream's order (``-m comment ... -m tcp -p tcp
-d IP --dport N``); ``iptables-save`` prints the same rule normalized:
addresses, interfaces and protocol first (``-d IP/32 -p tcp``), comments
always quoted, a ``statistic`` probability as the kernel rounded it, the
``recent`` match's defaults spelled out. :func:`saved_form` rewrites one of
our lines into that form, so that a full sync can tell that a chain it has no
record of is already as it would write it (see
:class:`pinnace.proxy.iptables_proxier.IptablesProxier`).

It only moves tokens and spells values out; it never drops one. A shape it
does not know comes out different from what ``iptables-save`` prints, which
only means that chain is rewritten.
"""

from __future__ import annotations

import re

__all__ = ["saved_form"]

#: a word, or a double-quoted string (our only quoting: comments); shlex is 10x slower
_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
#: options iptables-save prints before any match, in this order
_FRONT = ("-s", "-d", "-i", "-o", "-p")
#: the kernel keeps a statistic probability as a fraction of 2^31
_PROBABILITY_SCALE = 0x80000000


def _probability(value: str) -> str:
    # the iptables extension rounds to the nearest (lround) and prints %.11f
    kept = int(float(value) * _PROBABILITY_SCALE + 0.5)
    return f"{kept / _PROBABILITY_SCALE:.11f}"


def _recent(opts: list[str]) -> list[str]:
    """``-m recent`` options in iptables-save's order, with its defaults."""
    name, mode, rest = "DEFAULT", [], []
    i = 0
    while i < len(opts):
        if opts[i] == "--name":
            name, i = opts[i + 1], i + 2
        elif opts[i] in ("--set", "--rcheck", "--update", "--remove", "--reap"):
            mode.append(opts[i])
            i += 1
        elif opts[i] == "--seconds":
            mode += opts[i : i + 2]
            i += 2
        else:
            rest.append(opts[i])
            i += 1
    mask = [] if "--mask" in rest else ["--mask", "255.255.255.255"]
    side = [] if {"--rsource", "--rdest"} & set(rest) else ["--rsource"]
    return [*mode, "--name", name, *mask, *rest, *side]


def saved_form(line: str) -> str:
    """``-A CHAIN ...`` as iptables-save would print the rule it makes."""
    toks = [q or w for q, w in _TOKEN.findall(line)]
    front: dict[str, list[str]] = {}
    out: list[str] = []
    i = 2
    while i < len(toks):
        t = toks[i]
        negated = t == "!" and i + 1 < len(toks) and toks[i + 1] in _FRONT
        opt = toks[i + 1] if negated else t
        if opt in _FRONT:
            value = toks[i + 2] if negated else toks[i + 1]
            if opt in ("-s", "-d") and "/" not in value:
                value += "/32"
            front[opt] = [*(["!"] if negated else []), opt, value]
            i += 3 if negated else 2
        elif t == "--comment":
            out += [t, '"' + toks[i + 1] + '"']
            i += 2
        elif t == "--probability":
            out += [t, _probability(toks[i + 1])]
            i += 2
        elif t == "-m" and toks[i + 1] == "recent":
            j = i + 2
            while j < len(toks) and toks[j] not in ("-m", "-j", "!") and toks[j] not in _FRONT:
                j += 1
            out += ["-m", "recent", *_recent(toks[i + 2 : j])]
            i = j
        else:
            out.append(t)
            i += 1
    return " ".join([toks[0], toks[1], *(w for o in _FRONT if o in front for w in front[o]), *out])
