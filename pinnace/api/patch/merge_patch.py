"""JSON merge patch (RFC 7386, ``application/merge-patch+json``).

Hand-written rather than a dependency: the algorithm is a dozen lines, and
owning it lets us keep upstream's quirks (evanphx/json-patch ``MergePatch``,
which the apiserver uses) and share unchanged subtrees with the original
instead of copying the whole object on every PATCH.
"""

from __future__ import annotations

from typing import Any

from pinnace.api.patch.errors import PatchError


def merge_patch(original: Any, patch: Any) -> Any:
    """Apply merge ``patch`` to ``original``; neither is mutated.

    A patch that is not an object or array is upstream's ``Invalid JSON
    Patch`` (400). An array patch replaces the document (the apiserver then
    fails to decode it into the kind, as upstream does).
    """
    if isinstance(patch, dict):
        if not isinstance(original, dict):
            return _prune_nulls(patch)
        return _merge(original, patch)
    if isinstance(patch, list):
        return _prune_nulls(patch)
    raise PatchError("Invalid JSON Patch", "bad_request")


def _merge(doc: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(doc)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
            continue
        cur = out.get(k)
        if isinstance(cur, dict):
            # upstream: a non-object replacing an object is taken as is
            out[k] = _merge(cur, v) if isinstance(v, dict) else v
        else:
            out[k] = _prune_nulls(v)
    return out


def _prune_nulls(v: Any) -> Any:
    """A copy of ``v`` without null object members (null array items stay)."""
    if isinstance(v, dict):
        return {k: _prune_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_prune_nulls(x) for x in v]
    return v
