"""saved_form: our rule lines as iptables-save (1.8.9, nft and legacy) printed
them in a network namespace."""

from __future__ import annotations

import pytest

from pinnace.proxy.savedform import saved_form

CASES = [
    (
        '-A KUBE-SERVICES -m comment --comment "ns/web:http cluster IP" -m tcp -p tcp '
        "-d 10.96.0.1 --dport 80 -j KUBE-SVC-X",
        '-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "ns/web:http cluster IP" '
        "-m tcp --dport 80 -j KUBE-SVC-X",
    ),
    (
        '-A KUBE-SVC-X -m comment --comment "ns/web:http cluster IP" -m tcp -p tcp '
        "-d 10.96.0.1 --dport 80 ! -s 10.100.0.0/14 -j KUBE-MARK-MASQ",
        "-A KUBE-SVC-X ! -s 10.100.0.0/14 -d 10.96.0.1/32 -p tcp -m comment --comment "
        '"ns/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ',
    ),
    (
        "-A KUBE-SVC-X -m statistic --mode random --probability 0.1000000000 -j KUBE-SEP-A",
        "-A KUBE-SVC-X -m statistic --mode random --probability 0.10000000009 -j KUBE-SEP-A",
    ),
    (
        "-A KUBE-SVC-X -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-B",
        "-A KUBE-SVC-X -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-B",
    ),
    (
        "-A KUBE-SEP-A -m comment --comment ns/web:http -s 10.100.0.9 -j KUBE-MARK-MASQ",
        '-A KUBE-SEP-A -s 10.100.0.9/32 -m comment --comment "ns/web:http" -j KUBE-MARK-MASQ',
    ),
    (
        "-A KUBE-SEP-A -m comment --comment ns/web:http -m recent --name KUBE-SEP-A --set "
        "-m tcp -p tcp -j DNAT --to-destination 10.100.0.5:8080",
        '-A KUBE-SEP-A -p tcp -m comment --comment "ns/web:http" -m recent --set --name '
        "KUBE-SEP-A --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination "
        "10.100.0.5:8080",
    ),
    (
        '-A KUBE-SVC-X -m comment --comment "ns/web:http -> 10.100.0.4:8080" -m recent '
        "--name KUBE-SEP-A --rcheck --seconds 10800 --reap -j KUBE-SEP-A",
        '-A KUBE-SVC-X -m comment --comment "ns/web:http -> 10.100.0.4:8080" -m recent '
        "--rcheck --seconds 10800 --reap --name KUBE-SEP-A --mask 255.255.255.255 --rsource "
        "-j KUBE-SEP-A",
    ),
    ("-A KUBE-EXT-X -j KUBE-SVC-X", "-A KUBE-EXT-X -j KUBE-SVC-X"),
]


@pytest.mark.parametrize(("ours", "saved"), CASES)
def test_our_rules_as_iptables_save_prints_them(ours: str, saved: str) -> None:
    assert saved_form(ours) == saved


def test_saved_form_only_moves_and_spells_out_tokens() -> None:
    for ours, _ in CASES:
        # every word of ours (quotes aside) is still there
        words = set(ours.replace('"', "").split())
        out = set(saved_form(ours).replace('"', "").split())
        assert {w for w in words if not w.startswith(("0.", "10.96.0.1", "10.100.0.9"))} <= out
