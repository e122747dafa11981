"""Patch application for the apiserver: pure functions on plain JSON dicts.

- :func:`json_patch` (RFC 6902), :func:`merge_patch` (RFC 7386),
  :func:`strategic_merge` (Kubernetes strategic merge patch);
- :func:`apply` (server-side apply) and :func:`update_managed_fields`
  (field ownership after other writes).

They raise :class:`PatchError` / :class:`ApplyConflict`, whose ``status()``
is the ``metav1.Status`` upstream answers with. None of them mutates its
inputs; results share unchanged subtrees with them, so callers treat stored
objects as immutable.
"""

from pinnace.api.patch.apply import apply, update_managed_fields
from pinnace.api.patch.errors import ApplyConflict, PatchError
from pinnace.api.patch.json_patch import json_patch
from pinnace.api.patch.merge_patch import merge_patch
from pinnace.api.patch.strategic import strategic_merge

__all__ = [
    "ApplyConflict",
    "PatchError",
    "apply",
    "json_patch",
    "merge_patch",
    "strategic_merge",
    "update_managed_fields",
]
