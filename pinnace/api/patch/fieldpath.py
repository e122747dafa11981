"""Field sets as server-side apply records them (structured-merge-diff's
``fieldpath.Set``) and their ``FieldsV1`` wire form.

A path element is kept as its serialized string, which is what ``FieldsV1``
uses as object keys and is hashable and cheap to compare:

- ``f:<name>``: a field of a struct or a key of a map;
- ``k:{"containerPort":80,"protocol":"TCP"}``: an item of a list keyed by
  ``x-kubernetes-list-map-keys`` (keys sorted by name, compact JSON);
- ``v:"finalizer.example.com"``: an item of a set (a list of scalars);
- ``i:3``: an item of an atomic list by index (never produced here; read and
  kept for compatibility).

A :class:`FieldSet` is a tree: ``members`` are the path elements owned at
this level, ``children`` the subsets below a path element. A path element may
be both (an owned list item with owned fields), which ``FieldsV1`` writes with
a ``".": {}`` entry. Sets are mutable while being built and treated as values
afterwards: the operations return new sets and share untouched subtrees.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any


def field_pe(name: str) -> str:
    return "f:" + name


def go_json(value: Any) -> str:
    """Compact JSON as Go's encoding/json writes it (HTML characters escaped)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if "<" in text or ">" in text or "&" in text or "\u2028" in text or "\u2029" in text:
        text = (
            text.replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
            .replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029")
        )
    return text


def key_pe(fields: dict[str, Any]) -> str:
    """The path element of a keyed list item from its key fields."""
    items = tuple(sorted(fields.items()))
    if all(type(v) is str or type(v) is int for _, v in items):
        return _cached_key_pe(items)
    return "k:" + go_json(dict(items))


@lru_cache(maxsize=65536)
def _cached_key_pe(items: tuple[tuple[str, Any], ...]) -> str:
    return "k:" + go_json(dict(items))


def value_pe(value: Any) -> str:
    if type(value) is str or type(value) is int:
        return _cached_value_pe(value)
    return "v:" + go_json(value)


@lru_cache(maxsize=65536)
def _cached_value_pe(value: str | int) -> str:
    return "v:" + go_json(value)


@lru_cache(maxsize=4096)
def canonical_pe(pe: str) -> str | None:
    """Normalise a path element read from ``FieldsV1`` (None if unknown type)."""
    if len(pe) < 2 or pe[1] != ":":
        return None
    t = pe[0]
    if t == "f":
        return pe
    if t == "k":
        fields = json.loads(pe[2:])
        if not isinstance(fields, dict):
            raise ValueError(f"invalid key path element {pe!r}")
        return key_pe(fields)
    if t == "v":
        return value_pe(json.loads(pe[2:]))
    if t == "i":
        return "i:" + str(int(pe[2:]))
    return None


def _value_order(v: Any) -> tuple[Any, ...]:
    """structured-merge-diff's ``value.Compare`` order: numbers, strings,
    booleans, lists, maps, null."""
    if isinstance(v, bool):
        return (2, v)
    if isinstance(v, int | float):
        return (0, v)
    if isinstance(v, str):
        return (1, v)
    if isinstance(v, list):
        return (3, tuple(_value_order(x) for x in v))
    if isinstance(v, dict):
        return (4, tuple((k, _value_order(v[k])) for k in sorted(v)))
    return (5,)


@lru_cache(maxsize=8192)
def pe_order(pe: str) -> tuple[Any, ...]:
    """Sort key of a path element: fields < keys < values < indexes, as
    ``PathElement.Compare`` orders them."""
    t = pe[0]
    if t == "f":
        return (0, pe[2:])
    if t == "k":
        fields = json.loads(pe[2:])
        return (1, tuple((k, _value_order(fields[k])) for k in sorted(fields)))
    if t == "v":
        return (2, _value_order(json.loads(pe[2:])))
    return (3, int(pe[2:]))


def _value_string(v: Any) -> str:
    """structured-merge-diff's ``value.ToString``."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return go_json(v)
    if isinstance(v, list):
        return "[" + ",".join(_value_string(x) for x in v) + "]"
    if isinstance(v, dict):
        return "".join(f"{k}={_value_string(x)}" for k, x in v.items())
    return str(v)


def pe_string(pe: str) -> str:
    """A path element as upstream prints it in conflict messages."""
    t, rest = pe[0], pe[2:]
    if t == "f":
        return "." + rest
    if t == "k":
        fields = json.loads(rest)
        return "[" + ",".join(f"{k}={_value_string(fields[k])}" for k in sorted(fields)) + "]"
    if t == "v":
        return f"[={_value_string(json.loads(rest))}]"
    return f"[{rest}]"


def path_string(path: tuple[str, ...]) -> str:
    """``.spec.template.spec.containers[name="nginx"].image``."""
    return "".join(pe_string(pe) for pe in path)


class FieldSet:
    __slots__ = ("children", "members")

    def __init__(self) -> None:
        self.members: set[str] = set()
        self.children: dict[str, FieldSet] = {}

    def __repr__(self) -> str:
        return f"FieldSet({self.to_fields_v1()!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSet):
            return NotImplemented
        return self.members == other.members and self.children == other.children

    __hash__ = None  # type: ignore[assignment]

    def empty(self) -> bool:
        # invariant: no empty child sets are stored
        return not self.members and not self.children

    def insert(self, path: tuple[str, ...]) -> None:
        node = self
        for pe in path[:-1]:
            nxt = node.children.get(pe)
            if nxt is None:
                nxt = node.children[pe] = FieldSet()
            node = nxt
        node.members.add(path[-1])

    def child(self, pe: str) -> FieldSet:
        """The subset below ``pe``, created if absent (for building)."""
        c = self.children.get(pe)
        if c is None:
            c = self.children[pe] = FieldSet()
        return c

    def has(self, path: tuple[str, ...]) -> bool:
        node: FieldSet | None = self
        for pe in path[:-1]:
            assert node is not None
            node = node.children.get(pe)
            if node is None:
                return False
        assert node is not None
        return path[-1] in node.members

    def with_prefix(self, pe: str) -> FieldSet | None:
        return self.children.get(pe)

    def copy(self) -> FieldSet:
        s = FieldSet()
        s.members = set(self.members)
        s.children = dict(self.children)  # children are shared: treated as values
        return s

    def union(self, other: FieldSet) -> FieldSet:
        if other.empty():
            return self
        if self.empty():
            return other
        s = FieldSet()
        s.members = self.members | other.members
        s.children = dict(self.children)
        for pe, oc in other.children.items():
            mine = s.children.get(pe)
            s.children[pe] = oc if mine is None else mine.union(oc)
        return s

    def difference(self, other: FieldSet) -> FieldSet:
        """Paths in self and not in other (not recursive: a member of
        ``other`` does not remove the children of the same element)."""
        if other.empty():
            return self
        s = FieldSet()
        s.members = self.members - other.members
        for pe, mine in self.children.items():
            oc = other.children.get(pe)
            if oc is None:
                s.children[pe] = mine
            else:
                d = mine.difference(oc)
                if not d.empty():
                    s.children[pe] = d
        return s

    def intersection(self, other: FieldSet) -> FieldSet:
        s = FieldSet()
        s.members = self.members & other.members
        small, big = (
            (self.children, other.children)
            if len(self.children) <= len(other.children)
            else (other.children, self.children)
        )
        for pe, c in small.items():
            oc = big.get(pe)
            if oc is not None:
                i = c.intersection(oc)
                if not i.empty():
                    s.children[pe] = i
        return s

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Paths in self that are neither in other nor below a member of other."""
        if other.empty():
            return self
        s = FieldSet()
        s.members = self.members - other.members
        for pe, mine in self.children.items():
            if pe in other.members:
                continue
            oc = other.children.get(pe)
            if oc is None:
                s.children[pe] = mine
            else:
                d = mine.recursive_difference(oc)
                if not d.empty():
                    s.children[pe] = d
        return s

    def paths(self, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
        """Every path, in upstream's order (members, then children; each sorted)."""
        for pe in sorted(self.members, key=pe_order):
            yield (*prefix, pe)
        for pe in sorted(self.children, key=pe_order):
            yield from self.children[pe].paths((*prefix, pe))

    # -- FieldsV1 ---------------------------------------------------------

    def to_fields_v1(self) -> dict[str, Any]:
        return self._emit(False)

    def _emit(self, include_self: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if include_self and not self.empty():
            out["."] = {}
        members, children = self.members, self.children
        keys = members | children.keys() if children else members
        for pe in sorted(keys, key=pe_order):
            c = children.get(pe)
            out[pe] = {} if c is None else c._emit(pe in members)
        return out

    @classmethod
    def from_fields_v1(cls, fields: dict[str, Any]) -> FieldSet:
        s, _ = cls._read(fields)
        return s if s is not None else FieldSet()

    @classmethod
    def _read(cls, fields: dict[str, Any]) -> tuple[FieldSet | None, bool]:
        if not isinstance(fields, dict):
            raise ValueError(f"expected an object in fieldsV1, got {fields!r}")
        node: FieldSet | None = None
        is_member = False
        for key, value in fields.items():
            if key == ".":
                is_member = True
                continue
            pe = canonical_pe(key)
            if pe is None:
                continue  # unknown path element type: dropped, as upstream does
            grandchildren, child_member = cls._read(value)
            if node is None and (child_member or grandchildren is not None):
                node = FieldSet()
            if child_member:
                assert node is not None
                node.members.add(pe)
            if grandchildren is not None:
                assert node is not None
                node.children[pe] = grandchildren
        if node is None:
            is_member = True
        return node, is_member
