"""Schema-aware walks over plain JSON values for server-side apply: field
sets, merge, compare and item removal (structured-merge-diff's ``typed``
package, written for pinnace's schema DSL).

Each schema node becomes an :class:`Atom`:

- scalar (also ``Quantity``, ``IntOrString``, ``Time``...);
- list: atomic (owned as a whole), set (items are scalars, path element
  ``v:``) or map (items keyed by ``list_map_keys``, path element ``k:``);
  a list without list-type metadata is a map when it has a merge key, a set
  when its patch strategy is ``merge`` without one, else atomic;
- map: a struct (named fields), a ``map[string]T`` (element type), atomic
  when ``map_type`` says so;
- deduced: free-form JSON and fields the schema does not declare; resolved
  from the value (objects are granular maps, lists atomic).

Values are never mutated; results share untouched subtrees with the inputs.
``MISSING`` marks an absent value, distinct from JSON ``null`` (``None``).
"""

from __future__ import annotations

from typing import Any, Final

from pinnace.api.patch.errors import PatchError
from pinnace.api.patch.fieldpath import FieldSet, field_pe, go_json, key_pe, path_string, value_pe
from pinnace.api.schema.types import REGISTRY, Field, SchemaRegistry, TypeRef


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()

SCALAR, LIST, MAP, DEDUCED = 0, 1, 2, 3


class Atom:
    __slots__ = ("atomic", "elem", "fields", "key_defaults", "keys", "kind")

    def __init__(self, kind: int, *, atomic: bool = False, elem: Atom | None = None) -> None:
        self.kind = kind
        self.atomic = atomic
        self.elem = elem  # list item / map value type
        self.fields: dict[str, Atom] | None = None  # struct fields
        self.keys: tuple[str, ...] = ()  # list-map keys; () on a granular list = set
        self.key_defaults: dict[str, Any] = {}


SCALAR_ATOM: Final = Atom(SCALAR)
DEDUCED_ATOM: Final = Atom(DEDUCED)
_DEDUCED_MAP: Final = Atom(MAP, elem=DEDUCED_ATOM)
_DEDUCED_LIST: Final = Atom(LIST, atomic=True, elem=DEDUCED_ATOM)


class Schema:
    """Atoms built from a :class:`SchemaRegistry`, memoised per struct."""

    def __init__(self, registry: SchemaRegistry = REGISTRY) -> None:
        self.registry = registry
        self._structs: dict[tuple[str, bool], Atom] = {}

    def struct(self, name: str, atomic: bool = False) -> Atom:
        key = (name, atomic)
        a = self._structs.get(key)
        if a is not None:
            return a
        s = self.registry.get(name)
        a = Atom(MAP, atomic=atomic or s.map_type == "atomic")
        self._structs[key] = a  # before the fields: structs may be recursive
        a.fields = {f.name: self.field(f) for f in s.fields.values()}
        return a

    def typeref(self, t: TypeRef, f: Field | None = None) -> Atom:
        if t.kind == "primitive":
            return DEDUCED_ATOM if t.name == "object" else SCALAR_ATOM
        if t.kind == "struct":
            return self.struct(t.name, f is not None and f.map_type == "atomic")
        assert t.item is not None
        if t.kind == "map":
            return Atom(
                MAP,
                atomic=f is not None and f.map_type == "atomic",
                elem=self.typeref(t.item),
            )
        elem = self.typeref(t.item)
        a = Atom(LIST, elem=elem)
        list_type = f.list_type if f is not None else None
        strategy = (f.patch_strategy or "") if f is not None else ""
        merge_key = f.merge_key if f is not None else None
        if list_type is None and "merge" in strategy.split(","):
            list_type = "map" if merge_key else "set"
        if list_type == "map":
            assert f is not None
            a.keys = f.list_map_keys or ((merge_key,) if merge_key else ())
            if elem.kind == MAP and elem.fields is not None:
                s = self.registry.get(t.item.name)
                for k in a.keys:
                    kf = s.fields.get(k)
                    if kf is not None and kf.default is not None:
                        a.key_defaults[k] = kf.default
            if not a.keys:
                a.atomic = True
        elif list_type != "set":
            a.atomic = True
        return a

    def field(self, f: Field) -> Atom:
        return self.typeref(f.type, f)


_SCHEMAS: dict[int, Schema] = {}


def schema_for(registry: SchemaRegistry = REGISTRY) -> Schema:
    s = _SCHEMAS.get(id(registry))
    if s is None or s.registry is not registry:
        registry.resolve()
        s = _SCHEMAS[id(registry)] = Schema(registry)
    return s


def resolve(a: Atom, v: Any) -> Atom:
    """The atom for value ``v`` (deduced atoms take the value's shape)."""
    if a.kind != DEDUCED:
        return a
    if isinstance(v, dict):
        return _DEDUCED_MAP
    if isinstance(v, list):
        return _DEDUCED_LIST
    return SCALAR_ATOM


def child_atom(a: Atom, key: str) -> tuple[Atom, bool]:
    """The atom of map key ``key`` and whether it is a named (struct) field."""
    if a.fields is not None:
        f = a.fields.get(key)
        if f is not None:
            return f, True
    return (a.elem or DEDUCED_ATOM), False


def _leaf(a: Atom, v: Any) -> bool:
    """Whether ``v`` is handled as one value (scalar, atomic, wrong shape)."""
    if a.kind == SCALAR or a.atomic:
        return True
    if a.kind == LIST:
        return not (v is None or v is MISSING or isinstance(v, list))
    return not (v is None or v is MISSING or isinstance(v, dict))


class ItemError(Exception):
    pass


def item_pe(a: Atom, item: Any) -> str:
    """The path element of a list item (``a`` is a granular list)."""
    if a.keys:
        if not isinstance(item, dict):
            if item is None:
                raise ItemError("associative list with keys may not have a null element")
            raise ItemError("associative list with keys may not have non-map elements")
        fields: dict[str, Any] = {}
        for k in a.keys:
            if k in item:
                fields[k] = item[k]
            elif k in a.key_defaults:
                fields[k] = a.key_defaults[k]
        if not fields:
            raise ItemError(
                "associative list with keys has an element that omits all key fields "
                f"{go_json(list(a.keys)).replace(',', ' ')} "
                "(and doesn't have default values for any key fields)"
            )
        return key_pe(fields)
    if isinstance(item, dict):
        raise ItemError("associative list without keys has an element that's a map type")
    if isinstance(item, list):
        raise ItemError("not supported: associative list with lists as elements")
    if item is None:
        raise ItemError("associative list without keys has an element that's an explicit null")
    return value_pe(item)


def _item_pes(a: Atom, items: list[Any], path: tuple[str, ...]) -> list[str]:
    try:
        return [item_pe(a, item) for item in items]
    except ItemError as e:
        raise PatchError(f"{path_string(path)}: {e}", "internal") from None


# -- ToFieldSet -------------------------------------------------------------


def to_field_set(v: Any, a: Atom) -> FieldSet:
    """The fields set in ``v`` (upstream's ``TypedValue.ToFieldSet``)."""
    root = FieldSet()
    a = resolve(a, v)
    if a.kind == MAP and not a.atomic and isinstance(v, dict):
        _tfs_map(root, v, a)
    elif a.kind == LIST and not a.atomic and isinstance(v, list):
        _tfs_list(root, v, a, ())
    return root


def _tfs_value(parent: FieldSet, pe: str, v: Any, a: Atom, path: tuple[str, ...]) -> None:
    a = resolve(a, v)
    if _leaf(a, v):
        parent.members.add(pe)
        return
    if v is None:
        return
    node = FieldSet()
    if a.kind == MAP:
        _tfs_map(node, v, a)
    else:
        _tfs_list(node, v, a, (*path, pe))
    if not node.empty():
        parent.children[pe] = node


def _tfs_map(node: FieldSet, m: dict[str, Any], a: Atom) -> None:
    for k, val in m.items():
        ca, named = child_atom(a, k)
        pe = field_pe(k)
        _tfs_value(node, pe, val, ca, ())
        if val is None or not named or (isinstance(val, dict) and not val):
            node.members.add(pe)


def _tfs_list(node: FieldSet, items: list[Any], a: Atom, path: tuple[str, ...]) -> None:
    elem = a.elem or DEDUCED_ATOM
    pes = _item_pes(a, items, path)
    seen: set[str] = set()
    dups: set[str] = set()
    for pe in pes:
        if pe in seen:
            dups.add(pe)
        seen.add(pe)
    for pe, item in zip(pes, items, strict=True):
        if pe in dups:
            node.members.add(pe)
            continue
        _tfs_value(node, pe, item, elem, path)
        node.members.add(pe)


# -- Merge (apply: the applied configuration wins) ---------------------------


def merge(lhs: Any, rhs: Any, a: Atom, path: tuple[str, ...] = ()) -> Any:
    """``rhs`` merged into ``lhs`` (either may be MISSING, not both)."""
    a = resolve(a, rhs if rhs is not MISSING else lhs)
    if _leaf(a, rhs if rhs is not MISSING else lhs):
        return rhs if rhs is not MISSING else lhs
    if rhs is not MISSING and lhs is not MISSING and not _same_shape(lhs, rhs):
        return rhs
    lv = None if lhs is MISSING else lhs
    rv = None if rhs is MISSING else rhs
    if not lv and not rv:  # both empty or null: one value (keeps {} vs null)
        return rhs if rhs is not MISSING else lhs
    if a.kind == MAP:
        if not lv:
            return rv
        if not rv:
            return lv
        out = dict(lv)
        for k, r in rv.items():
            ca, _ = child_atom(a, k)
            out[k] = merge(lv.get(k, MISSING), r, ca, (*path, field_pe(k)))
        return out
    return _merge_list(lv or [], rv or [], a, path)


def _same_shape(x: Any, y: Any) -> bool:
    if isinstance(x, dict):
        return isinstance(y, dict) or y is None
    if isinstance(x, list):
        return isinstance(y, list) or y is None
    return True


def _merge_list(lhs: list[Any], rhs: list[Any], a: Atom, path: tuple[str, ...]) -> list[Any]:
    elem = a.elem or DEDUCED_ATOM
    rhs_pes = _item_pes(a, rhs, path)
    lhs_pes = _item_pes(a, lhs, path)
    observed_r: dict[str, Any] = {}
    for pe, item in zip(rhs_pes, rhs, strict=True):
        if pe in observed_r:
            raise PatchError(
                f"{path_string(path)}: duplicate entries for key {path_string((pe,))}",
                "internal",
            )
        observed_r[pe] = item
    observed_l: dict[str, Any] = {}
    for pe, item in zip(lhs_pes, lhs, strict=True):
        # duplicated live items are not merged with the applied one
        observed_l[pe] = None if pe in observed_l else item

    shared = [pe for pe in rhs_pes if pe in observed_l]
    shared_i = 0
    next_shared = shared[0] if shared else None
    merged_r: set[str] = set()
    out: list[Any] = []
    li = ri = 0
    n_l, n_r = len(lhs_pes), len(rhs_pes)

    def take(pe: str, lv: Any, rv: Any) -> None:
        out.append(merge(lv, rv, elem, (*path, pe)))

    while li < n_l or ri < n_r:
        if li < n_l and ri < n_r:
            pe = lhs_pes[li]
            if pe == rhs_pes[ri]:
                merged_r.add(pe)
                take(pe, observed_l[pe], observed_r[pe])
                li += 1
                ri += 1
                shared_i += 1
                next_shared = shared[shared_i] if shared_i < len(shared) else None
                continue
            if pe in observed_r and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < n_l:
            pe = lhs_pes[li]
            if pe not in observed_r:
                take(pe, lhs[li], MISSING)
                li += 1
                continue
            if pe in merged_r:
                li += 1
        if ri < n_r:
            pe = rhs_pes[ri]
            merged_r.add(pe)
            take(pe, observed_l.get(pe, MISSING), observed_r[pe])
            ri += 1
            if next_shared is not None and next_shared == pe:
                shared_i += 1
                next_shared = shared[shared_i] if shared_i < len(shared) else None
    return out


# -- Compare ----------------------------------------------------------------


class Comparison:
    __slots__ = ("added", "modified", "removed")

    def __init__(self) -> None:
        self.removed = FieldSet()
        self.modified = FieldSet()
        self.added = FieldSet()


def compare(lhs: Any, rhs: Any, a: Atom) -> Comparison:
    """What changed from ``lhs`` to ``rhs`` (upstream's ``TypedValue.Compare``)."""
    c = Comparison()
    a = resolve(a, rhs)
    if isinstance(lhs, dict) and isinstance(rhs, dict) and a.kind == MAP and not a.atomic:
        _cmp_map(c, lhs, rhs, a, ())
    return c


def _cmp(c: Comparison, lhs: Any, rhs: Any, a: Atom, path: tuple[str, ...]) -> None:
    if lhs is MISSING:
        # everything below is added: build that subtree in one walk instead of
        # inserting each path from the root (the whole object on a create)
        node = c.added
        for pe in path[:-1]:
            node = node.child(pe)
        _add(node, path[-1], rhs, a, path[:-1])
        return
    a = resolve(a, rhs if rhs is not MISSING else lhs)
    probe = rhs if rhs is not MISSING else lhs
    leaf = _leaf(a, probe) or (
        lhs is not MISSING and rhs is not MISSING and not _same_shape(lhs, rhs)
    )
    if not leaf:
        lv = None if lhs is MISSING else lhs
        rv = None if rhs is MISSING else rhs
        leaf = not lv and not rv
    if leaf:
        if lhs is MISSING:
            c.added.insert(path)
        elif rhs is MISSING:
            c.removed.insert(path)
        elif lhs != rhs:
            c.modified.insert(path)
        return
    if a.kind == MAP:
        _cmp_map(c, lv or {}, rv or {}, a, path)
    else:
        _cmp_list(c, lv or [], rv or [], a, path)
    if lhs is MISSING:
        c.added.insert(path)
    elif rhs is MISSING:
        c.removed.insert(path)


def _cmp_map(
    c: Comparison, lhs: dict[str, Any], rhs: dict[str, Any], a: Atom, path: tuple[str, ...]
) -> None:
    for k, lv in lhs.items():
        rv = rhs.get(k, MISSING)
        if lv is rv or lv == rv:
            # shared or equal subtree: unchanged (an equal value compares
            # equal all the way down, so the walk would find nothing)
            continue
        ca, _ = child_atom(a, k)
        _cmp(c, lv, rv, ca, (*path, field_pe(k)))
    for k, rv in rhs.items():
        if k not in lhs:
            ca, _ = child_atom(a, k)
            _cmp(c, MISSING, rv, ca, (*path, field_pe(k)))


def _cmp_list(
    c: Comparison, lhs: list[Any], rhs: list[Any], a: Atom, path: tuple[str, ...]
) -> None:
    elem = a.elem or DEDUCED_ATOM
    lvals: dict[str, list[Any]] = {}
    for pe, item in zip(_item_pes(a, lhs, path), lhs, strict=True):
        lvals.setdefault(pe, []).append(item)
    rvals: dict[str, list[Any]] = {}
    for pe, item in zip(_item_pes(a, rhs, path), rhs, strict=True):
        rvals.setdefault(pe, []).append(item)
    for pe in [*lvals, *(pe for pe in rvals if pe not in lvals)]:
        ll = lvals.get(pe, [])
        rl = rvals.get(pe, [])
        p = (*path, pe)
        if len(ll) <= 1 and len(rl) <= 1:
            _cmp(c, ll[0] if ll else MISSING, rl[0] if rl else MISSING, elem, p)
        elif len(ll) >= 2 and len(rl) >= 2:
            if ll != rl:
                c.modified.insert(p)
        elif len(ll) >= 2:
            if rl:
                _cmp(c, MISSING, rl[0], elem, p)
            c.removed.insert(p)
        else:
            if ll:
                _cmp(c, ll[0], MISSING, elem, p)
            c.added.insert(p)


def _add(node: FieldSet, pe: str, rhs: Any, a: Atom, path: tuple[str, ...]) -> None:
    """``_cmp(MISSING, rhs)`` at ``path + (pe,)`` into the added set's ``node``
    (the set at ``path``): the same paths, built as a tree directly."""
    a = resolve(a, rhs)
    if _leaf(a, rhs) or not rhs:
        node.members.add(pe)
        return
    child = node.children.get(pe)
    if child is None:
        child = FieldSet()
    p = (*path, pe)
    if a.kind == MAP:
        for k, v in rhs.items():
            ca, _ = child_atom(a, k)
            _add(child, field_pe(k), v, ca, p)
    else:
        elem = a.elem or DEDUCED_ATOM
        pes = _item_pes(a, rhs, p)
        counts: dict[str, int] = {}
        for ipe in pes:
            counts[ipe] = counts.get(ipe, 0) + 1
        done: set[str] = set()
        for ipe, item in zip(pes, rhs, strict=True):
            if ipe in done:
                continue
            done.add(ipe)
            if counts[ipe] >= 2:
                child.members.add(ipe)  # duplicates: the item as a whole
            else:
                _add(child, ipe, item, elem, p)
    node.members.add(pe)
    if not child.empty():
        node.children[pe] = child


# -- RemoveItems --------------------------------------------------------------


def remove_items(v: Any, to_remove: FieldSet, a: Atom) -> Any:
    """``v`` without the paths in ``to_remove`` (and what is below them).
    Maps and lists emptied by the removal disappear (MISSING)."""
    if to_remove.empty():
        return v
    a = resolve(a, v)
    if a.atomic:
        return v
    if a.kind == MAP and isinstance(v, dict) and v:
        out: dict[str, Any] = {}
        for k, val in v.items():
            pe = field_pe(k)
            if pe in to_remove.members:
                continue
            sub = to_remove.children.get(pe)
            if sub is not None:
                ca, _ = child_atom(a, k)
                val = remove_items(val, sub, ca)
                if val is MISSING:
                    continue
            out[k] = val
        return out if out else MISSING
    if a.kind == LIST and isinstance(v, list) and v:
        elem = a.elem or DEDUCED_ATOM
        items: list[Any] = []
        for pe, item in zip(_item_pes(a, v, ()), v, strict=True):
            if pe in to_remove.members:
                continue
            sub = to_remove.children.get(pe)
            if sub is not None:
                item = remove_items(item, sub, elem)
                if item is MISSING:
                    continue
            items.append(item)
        return items if items else MISSING
    return v


# -- EnsureNamedFieldsAreMembers ----------------------------------------------


def ensure_named_fields_are_members(s: FieldSet, a: Atom) -> FieldSet:
    """``s`` plus, as members, the struct fields it has children under."""
    if not s.children:
        return s
    out = FieldSet()
    out.members = set(s.members)
    fields = a.fields if a.kind == MAP else None
    for pe, c in s.children.items():
        if pe.startswith("f:"):
            name = pe[2:]
            if fields is not None and name in fields:
                out.members.add(pe)
                ca = fields[name]
            elif a.kind == MAP:
                ca = a.elem or DEDUCED_ATOM
            else:
                ca = DEDUCED_ATOM
        else:
            ca = (a.elem or DEDUCED_ATOM) if a.kind == LIST else DEDUCED_ATOM
        out.children[pe] = ensure_named_fields_are_members(c, ca)
    return out
