from __future__ import annotations

from pinnace.client import Store
from pinnace.client.objects import Obj


def pod(name: str, node: str, ns: str = "default") -> Obj:
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"nodeName": node}}


def by_node(obj: Obj) -> list[str]:
    node = obj["spec"].get("nodeName")
    return [node] if node else []


def test_an_update_moves_the_key_only_in_the_indexes_whose_values_changed() -> None:
    s = Store({"node": by_node})
    s.put(pod("a", "n1"))
    s.put(pod("b", "n1"))
    s.put(pod("a", "n2"))
    assert s.index_keys("node", "n1") == {"default/b"}
    assert s.index_keys("node", "n2") == {"default/a"}
    s.put(pod("a", ""))
    assert s.index_keys("node", "n2") == set()
    assert "n2" not in s._indices["node"]
    assert s.index_keys("namespace", "default") == {"default/a", "default/b"}


def test_an_update_that_changes_no_index_value_keeps_one_key_string() -> None:
    s = Store({"node": by_node})
    s.put(pod("web-1", "n1"))
    first = next(iter(s.index_keys("node", "n1")))
    s.put(pod("web-1", "n1"))  # a status update: same key, same index values
    (stored,) = s._items
    (indexed,) = s._indices["node"]["n1"]
    (in_ns,) = s._indices["namespace"]["default"]
    assert stored is indexed is in_ns
    assert first == stored
