"""Server-side apply and field ownership (``metadata.managedFields``).

:func:`apply` serves ``PATCH`` with ``application/apply-patch+yaml``;
:func:`update_managed_fields` runs after every other write (POST, PUT, the
other PATCH types) so that the writer owns what it changed and later applies
see the right conflicts. Both follow upstream's field manager
(k8s.io/apimachinery ``managedfields/internal`` over structured-merge-diff's
``merge.Updater``):

- Managers are keyed by (manager, operation, apiVersion for Update,
  subresource); entries of the same key merge.
- Apply: the applied configuration is merged into the live object; the
  applier's set becomes exactly the fields of its configuration; fields it
  applied last time and no longer applies are removed from the object unless
  another manager owns them; fields owned by others that the merge changes
  are conflicts (409) unless ``force``, which moves them to the applier.
- Update: the writer gains the fields it added or changed, other managers
  lose them; fields removed from the object leave every manager's set.
- ``apiVersion``, ``kind`` and server-set metadata (``name``, ``uid``,
  ``resourceVersion``, ...) are never owned; at most 10 Update entries are
  kept (the oldest merge into ``ancient-changes``).

Pure functions on plain JSON dicts. Inputs are not mutated; results share
unchanged subtrees with them. Not done (as in upstream but not needed by
pinnace yet): conversion of managed sets between API versions (pinnace
serves one version per kind), the ``last-applied-configuration`` annotation
upgrade path of client-side apply.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import orjson

from pinnace.api.patch._schema import resolve_root
from pinnace.api.patch.errors import ApplyConflict, PatchError
from pinnace.api.patch.fieldpath import FieldSet, field_pe, path_string
from pinnace.api.patch.typed import (
    MISSING,
    Atom,
    compare,
    ensure_named_fields_are_members,
    merge,
    remove_items,
    schema_for,
    to_field_set,
)
from pinnace.api.schema.types import REGISTRY, SchemaRegistry, TypeRef

MAX_UPDATE_MANAGERS = 10
ANCIENT_CHANGES = "ancient-changes"

Operation = Literal["Apply", "Update"]
ManagerKey = tuple[str, str, str, str]  # manager, operation, apiVersion ("" for Apply), subresource


@dataclass(slots=True)
class ManagedEntry:
    manager: str
    operation: str
    api_version: str
    subresource: str
    time: str | None
    fields: FieldSet
    # the FieldsV1 JSON of ``fields`` when it came from the field-set cache
    # (valid while ``fields`` is that very set: an unchanged manager is
    # written back without walking its set again)
    v1: bytes | None = field(default=None, repr=False, compare=False)
    v1_of: FieldSet | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> ManagerKey:
        api = self.api_version if self.operation == "Update" else ""
        return (self.manager, self.operation, api, self.subresource)

    def printed(self) -> str:
        """The manager as upstream prints it in conflict messages."""
        s = json.dumps(self.manager)
        if self.subresource:
            s += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == "Update":
            s += f" using {self.api_version}"
        return s

    def encode(self) -> dict[str, Any]:
        e: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
        }
        if self.time is not None:
            e["time"] = self.time
        e["fieldsType"] = "FieldsV1"
        e["fieldsV1"] = _fields_v1(self)
        if self.subresource:
            e["subresource"] = self.subresource
        return e


# FieldsV1 JSON → (its field set, its canonical FieldsV1 JSON once known).
# Objects of one kind written by one client mostly carry the same sets (every
# pod of a Deployment, every status the kubelet writes), so decoding and
# re-encoding them is a lookup. Cached sets are shared: field sets are values
# once built (every operation returns a new set), never changed in place.
_CACHE_MAX = 256  # sets are big (nested nodes); keep the cache small
_SETS: dict[bytes, tuple[FieldSet, bytes | None]] = {}


def _cache_put(raw: bytes, fs: FieldSet, canonical: bytes | None) -> None:
    if len(_SETS) >= _CACHE_MAX:
        _SETS.clear()
    _SETS[raw] = (fs, canonical)


def _decode_fields(value: Any) -> tuple[FieldSet, bytes | None]:
    """A FieldsV1 value as a set (and its canonical JSON when known)."""
    try:
        raw = orjson.dumps(value)
    except TypeError:
        return FieldSet.from_fields_v1(value), None
    hit = _SETS.get(raw)
    if hit is not None:
        return hit
    fs = FieldSet.from_fields_v1(value)
    _cache_put(raw, fs, None)
    return fs, None


def _fields_v1(entry: ManagedEntry) -> dict[str, Any]:
    """``entry.fields`` as FieldsV1 (a fresh dict)."""
    fs = entry.fields
    if entry.v1_of is fs and entry.v1 is not None:
        out: dict[str, Any] = orjson.loads(entry.v1)
        return out
    out = fs.to_fields_v1()
    canonical = orjson.dumps(out)
    _cache_put(canonical, fs, canonical)
    entry.v1, entry.v1_of = canonical, fs
    return out


#: Server-set metadata that no manager owns.
_STRIP_META = (
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "clusterName",
    "generation",
    "managedFields",
    "resourceVersion",
)


def _strip_set() -> FieldSet:
    s = FieldSet()
    for name in ("apiVersion", "kind", "metadata"):
        s.insert((field_pe(name),))
    for name in _STRIP_META:
        s.insert((field_pe("metadata"), field_pe(name)))
    return s


_STRIP = _strip_set()


def decode_managed_fields(entries: Any) -> dict[ManagerKey, ManagedEntry]:
    """``metadata.managedFields`` → entries by manager key (ValueError if invalid)."""
    out: dict[ManagerKey, ManagedEntry] = {}
    if not entries:
        return out
    if not isinstance(entries, list):
        raise ValueError("managedFields must be a list")
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise ValueError(f"managed fields entry {i} is not an object")
        op = e.get("operation")
        if op not in ("Apply", "Update"):
            raise ValueError("operation must be `Apply` or `Update`")
        if not e.get("apiVersion"):
            raise ValueError("apiVersion must not be empty")
        ft = e.get("fieldsType")
        if ft != "FieldsV1":
            if not ft:
                raise ValueError(f"missing fieldsType in managed fields entry {i}")
            raise ValueError(f"invalid fieldsType {ft!r} in managed fields entry {i}")
        fields, canonical = _decode_fields(e.get("fieldsV1") or {})
        entry = ManagedEntry(
            manager=str(e.get("manager", "")),
            operation=op,
            api_version=e["apiVersion"],
            subresource=str(e.get("subresource", "")),
            time=e.get("time"),
            fields=fields,
            v1=canonical,
            v1_of=fields,
        )
        out[entry.key] = entry
    return out


@lru_cache(maxsize=1024)
def _seconds(t: str | None) -> int:
    if not t:
        return 0
    try:
        return int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def encode_managed_fields(managers: dict[ManagerKey, ManagedEntry]) -> list[dict[str, Any]]:
    """Entries in upstream's order: operation, time, manager, apiVersion, subresource."""
    ordered = sorted(
        managers.values(),
        key=lambda e: (e.operation, _seconds(e.time), e.manager, e.api_version, e.subresource),
    )
    return [e.encode() for e in ordered]


# -- helpers -------------------------------------------------------------------


def _atom(schema: TypeRef | str, registry: SchemaRegistry) -> Atom:
    root = resolve_root(schema, registry)
    return schema_for(registry).typeref(root)


def _without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        meta = {k: v for k, v in meta.items() if k != "managedFields"}
        return {**obj, "metadata": meta}
    return obj


def _with_managed_fields(obj: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    meta = obj.get("metadata")
    meta = dict(meta) if isinstance(meta, dict) else {}
    if entries:
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)
    return {**obj, "metadata": meta}


def _ignored_set(ignored: Iterable[tuple[str, ...]]) -> FieldSet:
    s = FieldSet()
    for path in ignored:
        s.insert(tuple(field_pe(p) for p in path))
    return s


def _filter(s: FieldSet, ignored: FieldSet) -> FieldSet:
    return s.recursive_difference(ignored) if not ignored.empty() else s


def _update(
    old: Any,
    new: Any,
    managers: dict[ManagerKey, ManagedEntry],
    workflow: ManagerKey,
    force: bool,
    atom: Atom,
    ignored: FieldSet,
) -> tuple[FieldSet, FieldSet, FieldSet]:
    """Take the fields ``new`` changes from the other managers (conflicts when
    not forced) and drop removed fields from every other manager. Returns the
    comparison (removed, modified, added). Mutates ``managers``."""
    c = compare(old, new, atom)
    removed = _filter(c.removed, ignored)
    modified = _filter(c.modified, ignored)
    added = _filter(c.added, ignored)
    changed = modified.union(added)
    conflicts: dict[ManagerKey, FieldSet] = {}
    for key, entry in managers.items():
        if key == workflow:
            continue
        hit = entry.fields.intersection(changed)
        if not hit.empty():
            conflicts[key] = hit
    if conflicts and not force:
        pairs: list[tuple[str, str]] = []
        for key in sorted(conflicts, key=lambda k: _identifier(managers[k])):
            printed = managers[key].printed()
            pairs.extend((printed, path_string(p)) for p in conflicts[key].paths())
        raise ApplyConflict(pairs)
    for key in list(managers):
        if key == workflow:
            continue
        entry = managers[key]
        fields = entry.fields
        if key in conflicts:
            fields = fields.difference(conflicts[key])
        fields = fields.difference(removed)
        if fields.empty():
            del managers[key]
        else:
            entry.fields = fields
    return removed, modified, added


def _identifier(e: ManagedEntry) -> str:
    """Upstream's manager identifier (JSON of the entry without fields/time),
    which orders managers in conflict messages."""
    d: dict[str, str] = {"manager": e.manager, "operation": e.operation}
    if e.operation == "Update":
        d["apiVersion"] = e.api_version
    if e.subresource:
        d["subresource"] = e.subresource
    return json.dumps(d, separators=(",", ":"))


def _prune(
    merged: Any,
    managers: dict[ManagerKey, ManagedEntry],
    last: FieldSet | None,
    applied: FieldSet,
    atom: Atom,
) -> Any:
    """Remove what the applier owned last time, no longer applies and nobody
    else owns (structured-merge-diff's ``Updater.prune``)."""
    if last is None or last.difference(applied).empty():
        return merged  # (the common re-apply: nothing dropped from the config)
    last_e = ensure_named_fields_are_members(last, atom)
    pruned = _or_empty(remove_items(merged, last_e, atom))
    # add back what any manager (the applier's new set included) owns
    managed = FieldSet()
    for entry in managers.values():
        managed = managed.union(entry.fields)
    merged_e = ensure_named_fields_are_members(to_field_set(merged, atom), atom)
    pruned_e = ensure_named_fields_are_members(to_field_set(pruned, atom), atom)
    managed_e = ensure_named_fields_are_members(managed, atom)
    pruned = _or_empty(remove_items(merged, merged_e.difference(pruned_e.union(managed_e)), atom))
    # only remove what the applier owned (not unowned children of it)
    pruned_e = ensure_named_fields_are_members(to_field_set(pruned, atom), atom)
    return _or_empty(remove_items(merged, merged_e.difference(pruned_e).intersection(last_e), atom))


def _or_empty(v: Any) -> Any:
    return {} if v is MISSING else v


def _cap_update_managers(managers: dict[ManagerKey, ManagedEntry]) -> None:
    updaters = [k for k, e in managers.items() if e.operation == "Update"]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return
    updaters.sort(key=lambda k: (_seconds(managers[k].time), _identifier(managers[k])))
    first_by_version: dict[str, ManagerKey] = {}
    length = len(updaters)
    for key in updaters:
        if length <= MAX_UPDATE_MANAGERS:
            break
        entry = managers[key]
        version = entry.api_version
        bucket: ManagerKey = (ANCIENT_CHANGES, "Update", version, "")
        if version not in first_by_version:
            first_by_version[version] = key
            continue
        if bucket not in managers:
            first = managers.pop(first_by_version[version])
            managers[bucket] = ManagedEntry(
                ANCIENT_CHANGES, "Update", version, "", first.time, first.fields
            )
        b = managers[bucket]
        b.fields = entry.fields.union(b.fields)
        b.time = entry.time
        del managers[key]
        length -= 1


# -- apply ---------------------------------------------------------------------


def apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    manager: str,
    *,
    force: bool,
    schema: TypeRef | str,
    now: str,
    operation_manager_api_version: str,
    subresource: str = "",
    ignored_fields: Iterable[tuple[str, ...]] = (),
    registry: SchemaRegistry = REGISTRY,
) -> dict[str, Any]:
    """Server-side apply ``applied`` (the request body) onto ``live`` (None
    when creating). Returns the new object with ``metadata.managedFields``.

    ``now`` is the RFC 3339 time recorded for the applier when the object
    changes; ``operation_manager_api_version`` the request's group/version;
    ``ignored_fields`` the paths the resource never tracks (upstream's reset
    fields, e.g. ``[("status",)]`` for a main resource with a status
    subresource). Raises :class:`ApplyConflict` (409) or :class:`PatchError`.
    """
    meta = applied.get("metadata")
    if isinstance(meta, dict) and meta.get("managedFields") is not None:
        raise PatchError("metadata.managedFields must be nil", "bad_request")
    atom = _atom(schema, registry)
    ignored = _ignored_set(ignored_fields)
    if live is None:
        managers: dict[ManagerKey, ManagedEntry] = {}
        live_obj: dict[str, Any] = {}
    else:
        try:
            managers = decode_managed_fields((live.get("metadata") or {}).get("managedFields"))
        except ValueError as e:
            raise PatchError(f"failed to decode managed fields: {e}", "internal") from None
        live_obj = _without_managed_fields(live)

    key: ManagerKey = (manager, "Apply", "", subresource)
    previous = managers.get(key)
    last = previous.fields if previous is not None else None
    new_obj = merge(live_obj, applied, atom)
    fields = _filter(to_field_set(applied, atom), ignored)
    entry = ManagedEntry(
        manager,
        "Apply",
        operation_manager_api_version,
        subresource,
        previous.time if previous is not None else None,
        fields,
    )
    managers[key] = entry
    new_obj = _prune(new_obj, managers, last, fields, atom)
    _update(live_obj, new_obj, managers, key, force, atom, ignored)
    changed = new_obj != live_obj
    if changed:
        entry.time = now
    else:
        new_obj = live_obj
    entry.fields = entry.fields.difference(_STRIP)
    if entry.fields.empty():
        del managers[key]
    return _with_managed_fields(new_obj, encode_managed_fields(managers))


# -- update (POST, PUT, non-apply PATCH) ---------------------------------------

# Struct fields that upstream's Go types hold by value: they exist (as {}) in
# the empty object a create is compared against, so creating them does not
# make the creator own them as a whole (no ".": {}). The schema DSL does not
# record pointer-ness; these names cover the workload kinds.
_BY_VALUE = frozenset(
    ("metadata", "spec", "status", "template", "jobTemplate", "strategy", "updateStrategy")
)


def _zero_object(t: TypeRef, registry: SchemaRegistry, depth: int = 0) -> dict[str, Any]:
    """The JSON of upstream's empty Go object of a kind: by-value structs are
    ``{}``, required lists/maps/pointers (no ``omitempty``) are ``null``."""
    out: dict[str, Any] = {}
    if t.kind != "struct" or depth > 8:
        return out
    for f in registry.get(t.name).fields.values():
        if f.name in _BY_VALUE and f.type.kind == "struct":
            out[f.name] = _zero_object(f.type, registry, depth + 1)
        elif f.required and f.type.kind != "primitive":
            out[f.name] = None
    return out


def update_managed_fields(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    manager: str,
    operation: Operation = "Update",
    *,
    schema: TypeRef | str,
    now: str,
    api_version: str,
    subresource: str = "",
    ignored_fields: Iterable[tuple[str, ...]] = (),
    registry: SchemaRegistry = REGISTRY,
) -> dict[str, Any]:
    """Record a non-apply write of ``new`` over ``old`` (None on create) by
    ``manager``; returns ``new`` with ``metadata.managedFields`` updated.

    Like upstream, a request may set ``metadata.managedFields`` itself (taken
    as given, ``[]`` resets them) except on a subresource; entries that do not
    decode fall back to the live object's.
    """
    if operation != "Update":
        raise ValueError("update_managed_fields records Update operations; use apply()")
    atom = _atom(schema, registry)
    ignored = _ignored_set(ignored_fields)
    live_entries = ((old or {}).get("metadata") or {}).get("managedFields")
    new_entries = (new.get("metadata") or {}).get("managedFields")
    managers: dict[ManagerKey, ManagedEntry]
    if subresource:
        managers = _decode_or_empty(live_entries)
    elif isinstance(new_entries, list) and (
        not new_entries or (len(new_entries) == 1 and new_entries[0] == {})
    ):
        managers = {}
    else:
        try:
            managers = decode_managed_fields(new_entries)
        except ValueError:
            managers = {}
        if not managers:
            managers = _decode_or_empty(live_entries)

    new_obj = _without_managed_fields(new)
    key: ManagerKey = (manager, "Update", api_version, subresource)
    cache_key: tuple[int, bytes, bytes] | None = None
    if old is None and not managers:
        # A create: its field set depends on nothing but the object (less
        # the fields _STRIP drops), the schema and the ignored fields.
        cache_key = _create_key(new_obj, atom, ignored_fields)
        hit = _CREATES.get(cache_key) if cache_key is not None else None
        if cache_key is not None and hit is not None and hit[0] is atom:
            _CREATES.move_to_end(cache_key)
            _, fields, canonical = hit
            if fields is not None:
                managers[key] = ManagedEntry(
                    manager, "Update", api_version, subresource, now, fields, canonical, fields
                )
            return _with_managed_fields(new_obj, encode_managed_fields(managers))
    if old is not None:
        old_obj = _without_managed_fields(old)
    else:
        old_obj = _zero_object(resolve_root(schema, registry), registry)
    workflow: ManagerKey = ("\x00current-operation", "Update", "", "")
    _, modified, added = _update(old_obj, new_obj, managers, workflow, True, atom, ignored)
    fields = modified.union(added).difference(_STRIP)
    entry: ManagedEntry | None = None
    if not fields.empty():
        previous = managers.get(key)
        if previous is not None:
            fields = fields.union(previous.fields)
        entry = managers[key] = ManagedEntry(
            manager, "Update", api_version, subresource, now, fields
        )
    _cap_update_managers(managers)
    out = _with_managed_fields(new_obj, encode_managed_fields(managers))
    if cache_key is not None:
        if entry is None:
            _create_put(cache_key, atom, None, None)
        elif entry.v1 is not None and entry.v1_of is entry.fields:
            _create_put(cache_key, atom, entry.fields, entry.v1)
    return out


# Creates of objects from one template (the pods of a ReplicaSet, a load
# generator's pods) record the same field set: (id of the schema atom,
# ignored fields, the object's JSON less the metadata _STRIP drops) ->
# (that atom, the field set or None when empty, its canonical FieldsV1).
# The atom is kept in the value and checked on a hit, so a CRD whose schema
# changed (a new atom) never gets a set built under the old one. An LRU:
# one-off objects (events) pass through without pushing templates out.
_CREATES: OrderedDict[tuple[int, bytes, bytes], tuple[Atom, FieldSet | None, bytes | None]] = (
    OrderedDict()
)
_CREATES_MAX = 512
_CREATE_KEY_MAX_BYTES = 16384  # bigger objects are not worth keeping


def _create_key(
    obj: dict[str, Any], atom: Atom, ignored_fields: Iterable[tuple[str, ...]]
) -> tuple[int, bytes, bytes] | None:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k not in _STRIP_META}}
    try:
        raw = orjson.dumps(obj)
        ignored = orjson.dumps(sorted(tuple(p) for p in ignored_fields))
    except TypeError:
        return None
    if len(raw) > _CREATE_KEY_MAX_BYTES:
        return None
    return (id(atom), ignored, raw)


def _create_put(
    key: tuple[int, bytes, bytes], atom: Atom, fields: FieldSet | None, canonical: bytes | None
) -> None:
    _CREATES[key] = (atom, fields, canonical)
    while len(_CREATES) > _CREATES_MAX:
        _CREATES.popitem(last=False)


def _decode_or_empty(entries: Any) -> dict[ManagerKey, ManagedEntry]:
    try:
        return decode_managed_fields(entries)
    except ValueError:
        return {}
