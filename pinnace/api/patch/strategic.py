"""Strategic merge patch (``application/strategic-merge-patch+json``) with
upstream's semantics (k8s.io/apimachinery ``strategicpatch.StrategicMergeMapPatch``
as the apiserver runs it: parallel lists merged, unmatched nulls ignored).

Schema-driven: a list whose field has ``patch_strategy`` containing ``merge``
merges by ``merge_key`` (lists of scalars merge as ordered sets), other lists
are replaced; a map field with strategy ``replace`` is replaced. Directives:

- ``null`` deletes a key;
- ``{"$patch": "replace"}`` in a map replaces it with the rest of the patch
  map, ``{"$patch": "delete"}`` empties it; in a merging list an item
  ``{"$patch": "replace"}`` replaces the whole list by the other items and
  ``{"name": "x", "$patch": "delete"}`` removes the item(s) with that key;
- ``$retainKeys: [...]`` drops the original's keys not listed (the patch may
  only set listed keys);
- ``$setElementOrder/<list>: [...]`` orders the merged list: patch items in
  that order, server-only items kept where they were relative to them;
- ``$deleteFromPrimitiveList/<list>: [...]`` removes scalars from a list.

Fields the schema does not declare and free-form ``object`` fields behave as
in a JSON merge patch (maps merged, lists replaced). Errors are
:class:`PatchError` with upstream's message and status (see ``errors``);
``$patch: merge`` is rejected as upstream does.

Neither input is mutated; the result shares unchanged subtrees with
``original``. Values taken from the patch are copied without directives and
without ``null`` members (what decoding upstream's result into Go types does
with them).
"""

from __future__ import annotations

from typing import Any

from pinnace.api.patch._schema import child, resolve_root
from pinnace.api.patch.errors import PatchError
from pinnace.api.schema.types import REGISTRY, Field, SchemaRegistry, TypeRef

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"

# mergepatch sentinel errors and how the apiserver reports them
# (interpretStrategicMergePatchError)
ERR_NO_LIST_OF_LISTS = "lists of lists are not supported"
ERR_BAD_PRIMITIVE_LIST = "invalid patch format of primitive list"
ERR_BAD_RETAIN_KEYS = "invalid patch format of retainKeys"
ERR_BAD_SET_ELEMENT_ORDER = "invalid patch format of setElementOrder list"


def strategic_merge(
    original: dict[str, Any],
    patch: Any,
    schema: TypeRef | str,
    *,
    registry: SchemaRegistry = REGISTRY,
) -> dict[str, Any]:
    """Apply strategic merge ``patch`` to ``original`` (a kind of ``schema``)."""
    if not isinstance(patch, dict):
        raise PatchError(
            f"json: cannot unmarshal {_json_kind(patch)} into Go value of type "
            "map[string]interface {}",
            "bad_request",
        )
    root = resolve_root(schema, registry)
    result: dict[str, Any] = _Merger(registry).merge_map(original, patch, root)
    return result


def _json_kind(v: Any) -> str:
    if isinstance(v, list):
        return "array"
    if isinstance(v, str):
        return "string"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    return "null"


def gofmt(v: Any) -> str:
    """A value as Go's ``%v`` prints a decoded JSON value (for messages)."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{gofmt(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, list):
        return "[" + " ".join(gofmt(x) for x in v) + "]"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _strategies(f: Field | None) -> tuple[bool, str]:
    """(has retainKeys, the other strategy) of a field."""
    if f is None or not f.patch_strategy:
        return False, ""
    parts = f.patch_strategy.split(",")
    retain = "retainKeys" in parts
    others = [p for p in parts if p != "retainKeys"]
    return retain, others[0] if others else ""


def strip_directives(v: Any) -> tuple[Any, bool]:
    """A copy of patch content without directives and null members; the flag
    is False when ``v`` itself is a directive map (drop it)."""
    if isinstance(v, dict):
        if DIRECTIVE in v:
            return None, False
        out: dict[str, Any] = {}
        for k, x in v.items():
            if x is None:
                continue
            x, keep = strip_directives(x)
            if keep:
                out[k] = x
        return out, True
    if isinstance(v, list):
        items = []
        for x in v:
            x, keep = strip_directives(x)
            if keep:
                items.append(x)
        return items, True
    return v, True


def _extract_key(key: str, prefix: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        if prefix == DELETE_FROM_PRIMITIVE_LIST:
            raise PatchError(ERR_BAD_PRIMITIVE_LIST, "bad_request")
        raise PatchError(ERR_BAD_SET_ELEMENT_ORDER, "bad_request")
    return rest


def _is_map_kind(items: list[Any]) -> bool | None:
    """Whether list items are maps (None for an empty list); upstream's
    ``sliceElementType``."""
    kind: type | None = None
    for v in items:
        t: type = dict if isinstance(v, dict) else list if isinstance(v, list) else object
        if t is list:
            raise PatchError(ERR_NO_LIST_OF_LISTS, "invalid")
        if kind is None:
            kind = t
        elif kind is not t:
            raise PatchError(f"list element types are not identical: {gofmt(items)}", "internal")
    return None if kind is None else kind is dict


def _key_of(item: Any, merge_key: str) -> Any:
    if not isinstance(item, dict):
        raise PatchError(
            f"expected a map[string]interface {{}}, but received a {_go_type(item)}", "internal"
        )
    if merge_key not in item:
        raise PatchError(
            f"map: {gofmt(item)} does not contain declared merge key: {merge_key}", "internal"
        )
    return item[merge_key]


def _go_type(v: Any) -> str:
    if isinstance(v, list):
        return "[]interface {}"
    if isinstance(v, str):
        return "string"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "int64" if isinstance(v, int) else "float64"
    return "<nil>"


def _find(items: list[Any], merge_key: str, value: Any) -> int:
    for i, v in enumerate(items):
        if not isinstance(v, dict):
            raise PatchError(f"value for key {i} is not a map", "internal")
        if merge_key in v and v[merge_key] == value:
            return i
    return -1


def _index(order: list[Any], item: Any, merge_key: str) -> int:
    """Position of ``item`` in ``order`` (by merge key for maps), or -1."""
    if merge_key:
        want = item.get(merge_key) if isinstance(item, dict) else None
        for i, v in enumerate(order):
            if (v.get(merge_key) if isinstance(v, dict) else None) == want:
                return i
        return -1
    for i, v in enumerate(order):
        if v == item:
            return i
    return -1


def _sort_by(items: list[Any], order: list[Any], merge_key: str) -> list[Any]:
    """Items known to ``order`` sorted by it (stable; unknown items keep their
    place as far as upstream's comparator allows)."""
    keyed = [(_index(order, it, merge_key), n, it) for n, it in enumerate(items)]
    if all(k >= 0 for k, _, _ in keyed):
        keyed.sort(key=lambda t: (t[0], t[1]))
        return [it for _, _, it in keyed]
    return items


def _normalize_order(
    patch_items: list[Any],
    server_only: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    merge_key: str,
) -> list[Any]:
    """Upstream's ``normalizeElementOrder``: patch items in patch order,
    server-only items in live order, interleaved by their live positions."""
    if merge_key:
        for it in (*patch_items, *server_only, *patch_order, *server_order):
            _key_of(it, merge_key)
        deletes = [it for it in patch_items if it.get(DIRECTIVE) == "delete"]
        patch_items = [it for it in patch_items if it.get(DIRECTIVE) != "delete"]
        server_deletes = [it for it in server_only if it.get(DIRECTIVE) == "delete"]
        server_only = [it for it in server_only if it.get(DIRECTIVE) != "delete"]
        patch_items = _sort_by(patch_items, patch_order, merge_key) + deletes
        server_only = _sort_by(server_only, server_order, merge_key) + server_deletes
    else:
        patch_items = _sort_by(patch_items, patch_order, merge_key)
        server_only = _sort_by(server_only, server_order, merge_key)
    out: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(patch_items):
        if i >= len(server_only):
            out.append(patch_items[j])
            j += 1
        elif j >= len(patch_items):
            out.append(server_only[i])
            i += 1
        else:
            li = _index(server_order, server_only[i], merge_key)
            ri = _index(server_order, patch_items[j], merge_key)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(server_only[i])
                i += 1
            else:
                out.append(patch_items[j])
                j += 1
    return out


def _partition(merged: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    inside: list[Any] = []
    outside: list[Any] = []
    if merge_key:
        for v in merged:
            key = _key_of(v, merge_key)
            (inside if _find(by, merge_key, key) >= 0 else outside).append(v)
    else:
        for v in merged:
            (inside if v in by else outside).append(v)
    return inside, outside


class _Merger:
    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry

    def merge_map(self, original: Any, patch: dict[str, Any], t: TypeRef | None) -> Any:
        if DIRECTIVE in patch:
            d = patch[DIRECTIVE]
            if d == "replace":
                return strip_directives({k: v for k, v in patch.items() if k != DIRECTIVE})[0]
            if d == "delete":
                return {}
            raise PatchError(f"unknown patch type: {gofmt(d)} in map: {gofmt(patch)}", "internal")
        out: dict[str, Any] = dict(original) if isinstance(original, dict) else {}

        if RETAIN_KEYS in patch:
            retain = patch[RETAIN_KEYS]
            if not isinstance(retain, list):
                raise PatchError(ERR_BAD_RETAIN_KEYS, "bad_request")
            keep = {k for k in retain if isinstance(k, str)}
            for k, v in patch.items():
                if k == RETAIN_KEYS or v is None:
                    continue
                if k.startswith(DELETE_FROM_PRIMITIVE_LIST) or k.startswith(SET_ELEMENT_ORDER):
                    continue
                if k not in keep:
                    raise PatchError(ERR_BAD_RETAIN_KEYS, "bad_request")
            out = {k: v for k, v in out.items() if k in keep}

        done: set[str] = set()
        for key, order in patch.items():
            if key.startswith(SET_ELEMENT_ORDER):
                done.add(key)
                list_key = self._set_element_order(out, patch, key, order, t)
                if list_key is not None:
                    done.add(list_key)

        for key, pv in patch.items():
            if key in done or key == RETAIN_KEYS:
                continue
            k = key
            delete_list = False
            if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
                k = _extract_key(key, DELETE_FROM_PRIMITIVE_LIST)
                delete_list = True
            if pv is None:
                out.pop(k, None)
                continue
            if k not in out:
                if not delete_list:
                    v, keep_it = strip_directives(pv)
                    if keep_it:
                        out[k] = v
                continue
            ov = out[k]
            if isinstance(ov, dict) and isinstance(pv, dict):
                ct, f = child(t, k, self.registry)
                _, strategy = _strategies(f)
                if strategy == "replace":
                    out[k] = strip_directives(pv)[0]
                else:
                    out[k] = self.merge_map(ov, pv, ct)
            elif isinstance(ov, list) and isinstance(pv, list):
                ct, f = child(t, k, self.registry)
                _, strategy = _strategies(f)
                if strategy == "merge" or delete_list:
                    item_t = ct.item if ct is not None and ct.kind == "list" else None
                    merge_key = (f.merge_key or "") if f is not None else ""
                    out[k] = self.merge_list(ov, pv, item_t, merge_key, delete_list)
                else:
                    out[k] = strip_directives(pv)[0]
            elif not delete_list:
                v, keep_it = strip_directives(pv)
                if keep_it:
                    out[k] = v
                else:
                    del out[k]
        return out

    def _set_element_order(
        self,
        out: dict[str, Any],
        patch: dict[str, Any],
        key: str,
        order: Any,
        t: TypeRef | None,
    ) -> str | None:
        """Merge the list named by a ``$setElementOrder/<list>`` directive and
        order it; returns the list's key (consumed) or None."""
        if not isinstance(order, list):
            raise PatchError(
                f"expected a []interface {{}}, but received a {_go_type(order)}", "internal"
            )
        list_key = _extract_key(key, SET_ELEMENT_ORDER)
        original_list = out.get(list_key)
        patch_list = patch.get(list_key)
        found_original = list_key in out
        found_patch = list_key in patch
        for v, found in ((original_list, found_original), (patch_list, found_patch)):
            if found and not isinstance(v, list):
                raise PatchError(
                    f"expected a []interface {{}}, but received a {_go_type(v)}", "internal"
                )
        ct, f = child(t, list_key, self.registry)
        _, strategy = _strategies(f)
        merge_key = (f.merge_key or "") if f is not None else ""
        _validate_order(patch_list if found_patch else [], order, merge_key)
        if found_original and not found_patch:
            merged: list[Any] = original_list or []
        elif found_patch and not found_original:
            merged = strip_directives(patch_list)[0]
        elif found_original and found_patch:
            if strategy == "merge":
                item_t = ct.item if ct is not None and ct.kind == "list" else None
                merged = self.merge_list(original_list or [], patch_list or [], item_t, merge_key)
            else:
                merged = strip_directives(patch_list)[0]
        else:
            return None
        is_map = _is_map_kind([*(original_list or []), *(patch_list or [])])
        if is_map is None:
            raise PatchError("no elements in any of the given slices", "internal")
        patch_items, server_only = _partition(merged, order, merge_key)
        out[list_key] = _normalize_order(
            patch_items, server_only, order, original_list or [], merge_key
        )
        return list_key

    def merge_list(
        self,
        original: list[Any],
        patch: list[Any],
        item_t: TypeRef | None,
        merge_key: str,
        delete_list: bool = False,
    ) -> list[Any]:
        if not original and not patch:
            return original
        is_map = _is_map_kind([*original, *patch])
        if not is_map:
            if delete_list:
                drop = list(patch)
                return [v for v in original if v not in drop]
            merged: list[Any] = []
            for v in (*original, *patch):
                if v not in merged:
                    merged.append(v)
        else:
            if not merge_key:
                name = str(item_t) if item_t is not None else ""
                raise PatchError(f"cannot merge lists without merge key for {name}", "internal")
            original, patch = self._special_items(original, patch, merge_key)
            merged = list(original)
            for pv in patch:
                value = _key_of(pv, merge_key)
                i = _find(merged, merge_key, value)
                if i >= 0:
                    merged[i] = self.merge_map(merged[i], pv, item_t)
                else:
                    merged.append(strip_directives(pv)[0])
        patch_items, server_only = _partition(merged, patch, merge_key)
        return _normalize_order(patch_items, server_only, patch, original, merge_key)

    def _special_items(
        self, original: list[Any], patch: list[Any], merge_key: str
    ) -> tuple[list[Any], list[Any]]:
        """Handle ``$patch`` items of a merging list (upstream's
        ``mergeSliceWithSpecialElements``)."""
        plain: list[Any] = []
        replace = False
        for v in patch:
            if DIRECTIVE not in v:
                plain.append(v)
                continue
            d = v[DIRECTIVE]
            if d == "delete":
                if merge_key not in v:
                    raise PatchError(
                        f"map: {gofmt(v)} does not contain declared merge key: {merge_key}",
                        "internal",
                    )
                value = v[merge_key]
                original = [
                    o for o in original if not (isinstance(o, dict) and o.get(merge_key) == value)
                ]
            elif d == "replace":
                replace = True
            elif d == "merge":
                raise PatchError("merging lists cannot yet be specified in the patch", "internal")
            else:
                raise PatchError(f"unknown patch type: {gofmt(d)} in map: {gofmt(v)}", "internal")
        if replace:
            return plain, []
        return original, plain


def _validate_order(patch_list: Any, order: list[Any], merge_key: str) -> None:
    """Upstream's ``validatePatchWithSetOrderList``: the patch list's items
    appear in the ``$setElementOrder`` list, in the same relative order."""
    if not isinstance(patch_list, list):
        raise PatchError(ERR_BAD_SET_ELEMENT_ORDER, "bad_request")
    if not order or not patch_list:
        return
    items = patch_list
    if merge_key:
        items = [
            v for v in patch_list if not (isinstance(v, dict) and v.get(DIRECTIVE) == "delete")
        ]
    pi = oi = 0
    while pi < len(items) and oi < len(order):
        item = items[pi]
        if isinstance(item, dict) and DIRECTIVE in item:
            pi += 1
            continue
        if merge_key:
            equal = _key_of(item, merge_key) == _key_of(order[oi], merge_key)
        else:
            equal = item == order[oi]
        if equal:
            pi += 1
        oi += 1
    if pi < len(items) and oi >= len(order):
        raise PatchError(
            f"The order in patch list:\n{gofmt(patch_list)}\n doesn't match "
            f"{SET_ELEMENT_ORDER} list:\n{gofmt(order)}\n",
            "internal",
        )
