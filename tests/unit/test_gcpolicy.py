"""The timed collections of pinnace.gcpolicy: frozen survivors, deep scans."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from pinnace import gcpolicy


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref[Node]:
    """A two-object reference cycle, held by nothing but itself."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture
def clean_gc() -> Iterator[None]:
    gc.collect()
    yield
    gc.unfreeze()
    gc.collect()


def test_a_timed_collection_frees_cycles_made_since_the_last_one(clean_gc: None) -> None:
    gcpolicy.timed_collection(deep=False)
    ref = cycle()
    assert ref() is not None
    gcpolicy.timed_collection(deep=False)
    assert ref() is None


def test_a_frozen_cycle_waits_for_the_deep_collection(clean_gc: None) -> None:
    a, b = Node(), Node()
    a.other, b.other = b, a
    ref = weakref.ref(a)
    gcpolicy.timed_collection(deep=False)  # alive now: frozen
    del a, b  # garbage now, but frozen
    gcpolicy.timed_collection(deep=False)
    assert ref() is not None
    gcpolicy.timed_collection(deep=True)
    assert ref() is None


def test_survivors_are_frozen_and_a_deep_collection_refreezes_them(clean_gc: None) -> None:
    keep = [Node() for _ in range(100)]
    gcpolicy.timed_collection(deep=False)
    frozen = gc.get_freeze_count()
    assert frozen >= len(keep)
    gcpolicy.timed_collection(deep=True)
    assert gc.get_freeze_count() >= len(keep)
    del keep
