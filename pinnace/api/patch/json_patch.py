"""JSON patch (RFC 6902, ``application/json-patch+json``) with upstream's
behaviour (gopkg.in/evanphx/json-patch.v4 as the apiserver runs it).

The ``jsonpatch`` library performs the operations. Before each one we locate
its target the way upstream does, so that a patch that does not apply fails
with upstream's message, and we keep upstream's deviations from the RFC:

- ``replace`` of a missing object member adds it;
- ``test`` of a missing (or null) member passes when the value is ``null``;
- ``add`` without ``value`` adds ``null``;
- negative array indexes count from the end.

Status (see ``errors``): a body that is not an array of objects is 400
``json: cannot unmarshal ...``; more than 10000 operations 413; any
operation that does not apply 422 with the generic message ``the server
rejected our request due to an error in our request`` (``PatchError.message``
keeps upstream's text, e.g. ``testing value /spec/replicas failed: test
failed`` or ``add operation does not apply: doc is missing path:
"/metadata/labels/a": missing value``).

The document is not mutated: containers on the paths an operation touches
are copied first (copy-on-write), the rest is shared with the result.
"""

from __future__ import annotations

from typing import Any

import jsonpatch

from pinnace.api.patch.errors import PatchError

MAX_OPERATIONS = 10000

_MISSING = "missing value"
_BAD_INDEX = "invalid index referenced"


class _OpError(Exception):
    """Upstream's error text for one operation."""


def json_patch(doc: Any, patch: Any) -> Any:
    """Apply the RFC 6902 ``patch`` (a decoded JSON array) to ``doc``."""
    if not isinstance(patch, list):
        raise PatchError(
            f"json: cannot unmarshal {_json_kind(patch)} into Go value of type jsonpatch.Patch",
            "bad_request",
        )
    for op in patch:
        if not isinstance(op, dict):
            raise PatchError(
                f"json: cannot unmarshal {_json_kind(op)} into Go value of type "
                "jsonpatch.Operation",
                "bad_request",
            )
    if len(patch) > MAX_OPERATIONS:
        raise PatchError(
            f"The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got {len(patch)}",
            "too_large",
        )
    state = _Doc(doc)
    for op in patch:
        try:
            state.apply(op)
        except _OpError as e:
            raise PatchError(str(e), "invalid") from None
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
            raise PatchError(str(e), "invalid") from None
    return state.root


def _json_kind(v: Any) -> str:
    if isinstance(v, dict):
        return "object"
    if isinstance(v, list):
        return "array"
    if isinstance(v, str):
        return "string"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    return "null"


def _decode(path: str) -> list[str]:
    """JSON pointer → reference tokens (None-safe upstream split)."""
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def _encode(parts: list[str]) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def _atoi(key: str) -> int:
    try:
        if key.strip() != key or not key.lstrip("+-").isdigit():
            raise ValueError
        return int(key)
    except ValueError:
        raise _OpError(f'strconv.Atoi: parsing "{key}": invalid syntax') from None


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict) and a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
        )
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, int | float):
        return isinstance(b, int | float) and a == b
    return type(a) is type(b) and a == b


class _Doc:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.owned: set[int] = set()
        self._own_root()

    def _own_root(self) -> None:
        if isinstance(self.root, dict | list) and id(self.root) not in self.owned:
            self.root = dict(self.root) if isinstance(self.root, dict) else list(self.root)
            self.owned.add(id(self.root))

    def _container(self, path: str) -> tuple[Any, str, list[str]] | None:
        """Upstream's ``findObject``: the owned container holding the last
        token of ``path``, that token, and the container's tokens; None
        when an intermediate value is missing, null or a scalar."""
        if "/" not in path:
            return None
        parts = _decode(path)
        node = self.root
        trail: list[str] = []
        for part in parts[:-1]:
            if isinstance(node, dict):
                key: Any = part
                nxt = node.get(part)
            elif isinstance(node, list):
                try:
                    key = self._index(node, part, len(node))
                except _OpError:
                    return None
                nxt = node[key]
                part = str(key)
            else:
                return None
            if not isinstance(nxt, dict | list):
                return None
            if id(nxt) not in self.owned:
                nxt = dict(nxt) if isinstance(nxt, dict) else list(nxt)
                self.owned.add(id(nxt))
                node[key] = nxt
            trail.append(part)
            node = nxt
        return node, parts[-1], trail

    @staticmethod
    def _index(node: list[Any], key: str, size: int) -> int:
        idx = _atoi(key)
        if idx < 0:
            if idx < -size:
                raise _OpError(f"Unable to access invalid index: {idx}: {_BAD_INDEX}")
            idx += size
        if idx >= size:
            raise _OpError(f"Unable to access invalid index: {idx}: {_BAD_INDEX}")
        return idx

    def _get(self, con: Any, key: str) -> Any:
        """Upstream's container ``get``: a missing object member is None."""
        if isinstance(con, dict):
            return con.get(key)
        return con[self._index(con, key, len(con))]

    def _run(self, op: dict[str, Any]) -> None:
        self.root = jsonpatch.JsonPatch([op]).apply(self.root, in_place=True)
        self._own_root()

    def _add(self, con: Any, key: str, trail: list[str], value: Any) -> None:
        if isinstance(con, list) and key != "-":
            idx = _atoi(key)
            if idx >= len(con) + 1 or idx < -(len(con) + 1):
                raise _OpError(f"Unable to access invalid index: {idx}: {_BAD_INDEX}")
            if idx < 0:
                idx += len(con) + 1
            key = str(idx)
        self._run({"op": "add", "path": _encode([*trail, key]), "value": value})

    def apply(self, op: dict[str, Any]) -> None:
        kind = op.get("op")
        if not isinstance(kind, str):
            kind = "unknown"
        handler = getattr(self, f"_op_{kind}", None)
        if handler is None:
            raise _OpError(f"Unexpected kind: {kind}")
        handler(op)

    def _path(self, op: dict[str, Any], field: str, wrap: str, inner: bool) -> str:
        v = op.get(field)
        if isinstance(v, str):
            return v
        if v is None:
            what = "path field" if field == "path" else "from field"
            sep = " " if field == "path" else ", "
            detail = f"operation{sep}missing {what}: {_MISSING}" if inner else _MISSING
        else:
            detail = f"json: cannot unmarshal {_json_kind(v)} into Go value of type string"
        raise _OpError(f"{wrap}: {detail}")

    def _op_add(self, op: dict[str, Any]) -> None:
        path = self._path(op, "path", "add operation failed to decode path", False)
        found = self._container(path)
        if found is None:
            raise _OpError(
                f'add operation does not apply: doc is missing path: "{path}": {_MISSING}'
            )
        con, key, trail = found
        try:
            self._add(con, key, trail, op.get("value"))
        except _OpError as e:
            if isinstance(con, list) and key != "-" and "Atoi" in str(e):
                raise _OpError(
                    f"error in add for path: '{path}': value was not a proper array index: "
                    f"'{key}': {e}"
                ) from None
            raise _OpError(f"error in add for path: '{path}': {e}") from None

    def _op_remove(self, op: dict[str, Any]) -> None:
        path = self._path(op, "path", "remove operation failed to decode path", False)
        found = self._container(path)
        if found is None:
            raise _OpError(
                f'remove operation does not apply: doc is missing path: "{path}": {_MISSING}'
            )
        con, key, trail = found
        try:
            key = self._check_remove(con, key)
        except _OpError as e:
            raise _OpError(f"error in remove for path: '{path}': {e}") from None
        self._run({"op": "remove", "path": _encode([*trail, key])})

    def _check_remove(self, con: Any, key: str) -> str:
        if isinstance(con, dict):
            if key not in con:
                raise _OpError(f"Unable to remove nonexistent key: {key}: {_MISSING}")
            return key
        return str(self._index(con, key, len(con)))

    def _op_replace(self, op: dict[str, Any]) -> None:
        path = self._path(op, "path", "replace operation failed to decode path", True)
        value = op.get("value")
        if path == "":
            if not isinstance(value, dict | list):
                raise _OpError("replace operation value must be object or array: <nil>")
            self._run({"op": "replace", "path": "", "value": value})
            return
        found = self._container(path)
        if found is None:
            raise _OpError(
                f"replace operation does not apply: doc is missing path: {path}: {_MISSING}"
            )
        con, key, trail = found
        if isinstance(con, dict):
            # upstream sets the member whether or not it exists
            self._run({"op": "add", "path": _encode([*trail, key]), "value": value})
            return
        try:
            idx = self._index(con, key, len(con))
        except _OpError:
            raise _OpError(
                f"replace operation does not apply: doc is missing key: {path}: {_MISSING}"
            ) from None
        self._run({"op": "replace", "path": _encode([*trail, str(idx)]), "value": value})

    def _op_move(self, op: dict[str, Any]) -> None:
        src = self._path(op, "from", "move operation failed to decode from", True)
        found = self._container(src)
        if found is None:
            raise _OpError(
                f"move operation does not apply: doc is missing from path: {src}: {_MISSING}"
            )
        con, key, trail = found
        try:
            value = self._get(con, key)
            key = self._check_remove(con, key)
        except _OpError as e:
            raise _OpError(f"error in move for path: '{key}': {e}") from None
        self._run({"op": "remove", "path": _encode([*trail, key])})
        path = self._path(op, "path", "move operation failed to decode path", True)
        found = self._container(path)
        if found is None:
            raise _OpError(
                f"move operation does not apply: doc is missing destination path: {path}: "
                f"{_MISSING}"
            )
        con, key, trail = found
        try:
            self._add(con, key, trail, value)
        except _OpError as e:
            raise _OpError(f"error in move for path: '{path}': {e}") from None

    def _op_copy(self, op: dict[str, Any]) -> None:
        src = self._path(op, "from", "copy operation failed to decode from", True)
        found = self._container(src)
        if found is None:
            raise _OpError(
                f"copy operation does not apply: doc is missing from path: {src}: {_MISSING}"
            )
        con, key, _ = found
        try:
            value = self._get(con, key)
        except _OpError as e:
            raise _OpError(f"error in copy for from: '{src}': {e}") from None
        path = self._path(op, "path", "copy operation failed to decode path", False)
        found = self._container(path)
        if found is None:
            raise _OpError(
                f"copy operation does not apply: doc is missing destination path: {path}: "
                f"{_MISSING}"
            )
        con, key, trail = found
        try:
            self._add(con, key, trail, value)  # the library's add copies the value
        except _OpError as e:
            raise _OpError(f"error while adding value during copy: {e}") from None

    def _op_test(self, op: dict[str, Any]) -> None:
        path = self._path(op, "path", "test operation failed to decode path", True)
        has_value = "value" in op
        expected = op.get("value")
        if path == "":
            if not _json_equal(self.root, expected):
                raise _OpError(f"testing value {path} failed: test failed")
            return
        found = self._container(path)
        if found is None:
            raise _OpError(f"test operation does not apply: is missing path: {path}: {_MISSING}")
        con, key, _ = found
        try:
            actual = self._get(con, key)
        except _OpError as e:
            raise _OpError(f"error in test for path: '{path}': {e}") from None
        if actual is None:
            ok = expected is None
        else:
            ok = has_value and _json_equal(actual, expected)
        if not ok:
            raise _OpError(f"testing value {path} failed: test failed")
