"""``--controllers`` selection with kube-controller-manager's semantics."""

from __future__ import annotations

import pytest

from pinnace.controllers.base import Controller, ControllerContext
from pinnace.controllers.registry import CONTROLLERS, ControllerSpec, select_controllers


def _factory(ctx: ControllerContext) -> Controller:
    raise NotImplementedError


TABLE = {
    s.name: s
    for s in (
        ControllerSpec("a", _factory),
        ControllerSpec("b", _factory, aliases=("b-controller",)),
        ControllerSpec("off", _factory, enabled_by_default=False),
    )
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("*", ["a", "b"]),
        ("", []),
        ("a", ["a"]),
        ("*,-a", ["b"]),
        ("-a,*", ["b"]),
        ("*,off", ["a", "b", "off"]),
        ("off", ["off"]),
        ("a,-a", ["a"]),  # the first entry naming a controller wins
        ("-a,a,*", ["b"]),
        ("*,-b-controller", ["a"]),  # aliases
        (" * , -a ", ["b"]),
    ],
)
def test_select(value: str, expected: list[str]) -> None:
    assert select_controllers(value, TABLE) == expected


def test_unknown_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="not in the list of known controllers"):
        select_controllers("*,-nope", TABLE)


def test_real_table() -> None:
    # (other controllers join the table over time: check what is known, not the whole list)
    names = select_controllers("*")
    assert names[:2] == ["namespace", "garbagecollector"]
    assert {"replicaset", "replicationcontroller", "deployment"} <= set(names)
    assert select_controllers("*,-garbagecollector") == [
        n for n in names if n != "garbagecollector"
    ]
    assert select_controllers("garbage-collector-controller") == ["garbagecollector"]
    assert select_controllers("deployment-controller,replicaset") == ["replicaset", "deployment"]
    assert {"namespace", "garbagecollector", "replicaset", "deployment"} <= set(CONTROLLERS)
