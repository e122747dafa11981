"""The API server's timestamps: RFC 3339 in UTC, to the second, never stale."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from pinnace.apiserver import registry


def test_now_follows_the_clock_second_by_second(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_795_000_000.2]
    monkeypatch.setattr(registry.time, "time", lambda: now[0])
    first = registry.now_rfc3339()
    assert first == "2026-11-18T11:06:40Z"
    now[0] += 0.7  # same second
    assert registry.now_rfc3339() == first
    now[0] += 0.2  # the next one
    assert registry.now_rfc3339() == "2026-11-18T11:06:41Z"
    now[0] += 86_400
    assert registry.now_rfc3339() == "2026-11-19T11:06:41Z"


def test_now_is_the_wall_clock() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = datetime.strptime(registry.now_rfc3339(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    after = datetime.now(UTC)
    assert before <= stamp <= after
    assert time.time() - stamp.timestamp() < 60


def test_a_given_time_is_formatted() -> None:
    assert registry.now_rfc3339(datetime(2026, 1, 2, 3, 4, 5, 999, UTC)) == "2026-01-02T03:04:05Z"
