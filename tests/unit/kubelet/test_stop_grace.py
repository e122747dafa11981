"""What StopContainer's timeout is after a preStop hook (upstream's killContainer)."""

from __future__ import annotations

from pinnace.kubelet.podworker import stop_grace


def test_hook_time_counts_in_whole_seconds() -> None:
    assert stop_grace(5, 0.3) == 5
    assert stop_grace(5, 1.9) == 4
    assert stop_grace(30, 0.0) == 30


def test_at_least_two_seconds_after_sigterm() -> None:
    assert stop_grace(5, 4.5) == 2
    assert stop_grace(5, 5.0) == 2  # the hook used it all: still 2 s to exit
    assert stop_grace(2, 1.0) == 2


def test_shorter_grace_periods_stand() -> None:
    assert stop_grace(1, 0.2) == 1
    assert stop_grace(0, 0.0) == 0
