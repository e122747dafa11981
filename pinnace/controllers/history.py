"""ControllerRevisions: the template history of StatefulSets and DaemonSets (upstream's
``pkg/controller/history`` plus the ``getPatch``/``ApplyRevision`` helpers both
controllers share).

A revision stores, as upstream, a strategic-merge patch that puts the owner's pod
template back: ``data = {"spec": {"template": {..., "$patch": "replace"}}}``.
``kubectl rollout undo`` (1.32, client side) sends exactly that ``data`` to the
owner as a strategic-merge patch, and ``kubectl rollout history --revision N``
applies it to show the template, so the shape matters.

* :func:`patch_bytes` — the patch printed like Go's ``json.Marshal`` of a map:
  sorted keys, no whitespace, ``<``, ``>``, ``&``, U+2028 and U+2029 escaped.
* :func:`hash_controller_revision` — upstream ``HashControllerRevision``: FNV-1
  32-bit (Go's ``fnv.New32``; upstream does *not* use the ``a`` variant here)
  over the data bytes, then the collision count as a decimal string, printed as a
  decimal and mapped through ``rand.SafeEncodeString``. StatefulSet revisions are
  named ``<owner>-<hash>`` and labelled ``controller.kubernetes.io/hash``.
  DaemonSets name theirs with the *pod-template* hash instead (upstream's
  ``controller.ComputeHash``, :func:`pinnace.controllers.deploymentutil.compute_hash`).
* :func:`new_controller_revision`, :func:`equal_revision`, :func:`sort_revisions`,
  :func:`next_revision`, :func:`apply_revision` and :func:`revisions_to_truncate`.

Deviation: upstream hashes the bytes Go prints for its typed template (which
include Go's zero values such as ``"creationTimestamp": null`` and
``"resources": {}``); we hash the server's JSON of the template. Hashes are stable
and collision handling is the same, but the value differs from what a Go
controller would compute for the same template. Equality of two revisions is
decided on the parsed data with nulls and empty maps/lists dropped, not on bytes,
so that a re-serialisation by the API server never makes a revision look new.

Everything here is pure and synchronous (no I/O) except :func:`renumber_revision`,
an API write that runs on the calling controller's event loop; callers pass their
own copies.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pinnace.client import Client, Invalid, NotFound, Obj, ResourceRef
from pinnace.controllers.controller_utils import new_controller_ref, parse_time
from pinnace.controllers.deploymentutil import safe_encode_string

__all__ = [
    "CONTROLLERREVISIONS",
    "CONTROLLER_REVISION_HASH_LABEL",
    "REVISION_HASH_KEY",
    "apply_revision",
    "equal_revision",
    "find_equal_revisions",
    "fnv32",
    "go_json",
    "hash_controller_revision",
    "new_controller_revision",
    "next_revision",
    "patch_bytes",
    "renumber_revision",
    "revision_name",
    "revision_number",
    "revisions_to_truncate",
    "sort_revisions",
    "template_patch",
]

CONTROLLERREVISIONS = ResourceRef("apps", "v1", "controllerrevisions", True, "ControllerRevision")
#: upstream ``history.ControllerRevisionHashLabel`` (on StatefulSet revisions)
CONTROLLER_REVISION_HASH_LABEL = "controller.kubernetes.io/hash"
#: upstream ``apps.ControllerRevisionHashLabelKey``: the pod label naming its revision
#: (StatefulSet: the revision's name; DaemonSet: the hash), also on DaemonSet revisions
REVISION_HASH_KEY = "controller-revision-hash"
#: upstream truncates the owner's name so that ``<prefix>-<hash>`` fits 253 characters
_MAX_PREFIX = 223

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def go_json(value: Any) -> bytes:
    """``json.Marshal`` of a Go ``map[string]interface{}``: sorted keys, compact, HTML-safe."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in _GO_ESCAPES.items():
        if ch in text:
            text = text.replace(ch, esc)
    return text.encode()


def fnv32(data: bytes, h: int = 0x811C9DC5) -> int:
    """FNV-1, 32 bits (Go ``hash/fnv.New32``): multiply, then xor."""
    for b in data:
        h = (h * 0x01000193) & 0xFFFFFFFF
        h ^= b
    return h


def template_patch(owner: Obj) -> Obj:
    """upstream ``getPatch``: ``{"spec": {"template": {..., "$patch": "replace"}}}``."""
    template = copy.deepcopy((owner.get("spec") or {}).get("template") or {})
    _go_zero_values(template)
    template["$patch"] = "replace"
    # round-trip through the Go print so that the stored object has sorted keys
    parsed: Obj = json.loads(go_json({"spec": {"template": template}}))
    return parsed


def _go_zero_values(template: Obj) -> None:
    """Add the zero values Go's typed ``PodTemplateSpec`` always prints (a struct field
    is never omitted): ``metadata.creationTimestamp: null`` and each container's
    ``resources: {}``. kubectl compares a revision's data byte for byte with its own
    print of the owner's template (``rollout undo`` says "skipped rollback" when they
    are equal), so the data should look like what Go prints."""
    meta = template.get("metadata")
    if not isinstance(meta, dict):
        meta = template["metadata"] = {}
    meta.setdefault("creationTimestamp", None)
    spec = template.get("spec")
    if isinstance(spec, dict):
        for f in ("initContainers", "containers", "ephemeralContainers"):
            for c in spec.get(f) or []:
                if isinstance(c, dict):
                    c.setdefault("resources", {})


def patch_bytes(owner: Obj) -> bytes:
    return go_json(template_patch(owner))


def hash_controller_revision(data: Any, probe: int | None) -> str:
    """upstream ``HashControllerRevision`` (``data``: the bytes, or a JSON value)."""
    raw = data if isinstance(data, bytes) else go_json(data)
    h = fnv32(raw)
    if probe is not None:
        h = fnv32(str(probe).encode(), h)
    return safe_encode_string(str(h))


def revision_name(prefix: str, hash_: str) -> str:
    """upstream ``ControllerRevisionName``."""
    return f"{prefix[:_MAX_PREFIX]}-{hash_}"


def new_controller_revision(
    parent: Obj,
    api_version: str,
    kind: str,
    template_labels: Mapping[str, str],
    data: Obj,
    revision: int,
    collision_count: int | None,
) -> Obj:
    """upstream ``NewControllerRevision``: labels from the template plus the hash label,
    a controller reference to ``parent``, named ``<parent>-<hash>``."""
    m = parent.get("metadata") or {}
    hash_ = hash_controller_revision(data, collision_count)
    labels = {**template_labels, CONTROLLER_REVISION_HASH_LABEL: hash_}
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": revision_name(str(m.get("name") or ""), hash_),
            "namespace": m.get("namespace") or "",
            "labels": labels,
            "ownerReferences": [new_controller_ref(parent, api_version, kind)],
        },
        "data": data,
        "revision": revision,
    }


def _prune(v: Any) -> Any:
    if isinstance(v, dict):
        out = {k: _prune(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x is not None and x != {} and x != []}
    if isinstance(v, list):
        return [_prune(x) for x in v]
    return v


def data_equal(a: Any, b: Any) -> bool:
    """Two revisions' ``data`` mean the same template (nulls and empties ignored)."""
    return bool(_prune(a) == _prune(b))


def equal_revision(lhs: Obj | None, rhs: Obj | None) -> bool:
    """upstream ``EqualRevision``: the same data. (Upstream first compares the hash
    labels when both parse as integers, which safe-encoded hashes almost never do.)"""
    if lhs is None or rhs is None:
        return lhs is rhs
    return data_equal(lhs.get("data"), rhs.get("data"))


def find_equal_revisions(revisions: Iterable[Obj], needle: Obj) -> list[Obj]:
    return [r for r in revisions if equal_revision(r, needle)]


def revision_number(rev: Obj | None) -> int:
    v = (rev or {}).get("revision")
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _sort_key(rev: Obj) -> tuple[int, float, str]:
    m = rev.get("metadata") or {}
    t = parse_time(m.get("creationTimestamp"))
    return (revision_number(rev), t.timestamp() if t else 0.0, str(m.get("name") or ""))


def sort_revisions(revisions: Iterable[Obj]) -> list[Obj]:
    """upstream ``SortControllerRevisions``: by revision, creation time, name."""
    return sorted(revisions, key=_sort_key)


def next_revision(sorted_revisions: Sequence[Obj]) -> int:
    """One more than the highest revision (1 when there is none)."""
    return revision_number(sorted_revisions[-1]) + 1 if sorted_revisions else 1


def max_revision(revisions: Iterable[Obj]) -> int:
    return max((revision_number(r) for r in revisions), default=0)


def apply_revision(owner: Obj, revision: Obj) -> Obj:
    """upstream ``ApplyRevision``: a copy of ``owner`` whose template is the revision's
    (the patch is ``$patch: replace`` of the template, so that is all it does)."""
    out = copy.deepcopy(owner)
    data = revision.get("data") or {}
    template = ((data.get("spec") or {}).get("template")) if isinstance(data, dict) else None
    if isinstance(template, dict):
        t = copy.deepcopy(template)
        t.pop("$patch", None)
        out.setdefault("spec", {})["template"] = t
    return out


def revisions_to_truncate(
    sorted_revisions: Sequence[Obj], live: Iterable[str], limit: int
) -> list[Obj]:
    """upstream ``truncateHistory``: the oldest non-live revisions beyond ``limit``."""
    alive = set(live)
    history = [r for r in sorted_revisions if (r.get("metadata") or {}).get("name") not in alive]
    excess = len(history) - max(0, limit)
    return history[:excess] if excess > 0 else []


async def renumber_revision(client: Client, rev: Obj, number: int) -> Obj:
    """upstream ``UpdateControllerRevision``: give ``rev`` the revision ``number`` (a
    rollback makes an old template the newest revision again).

    Upstream lets ``revision`` change (only ``data`` is immutable). An API server
    that refuses the change gets the same revision recreated under the same name
    with the new number instead (guarded by its uid)."""
    m = rev["metadata"]
    patch = {"metadata": {"resourceVersion": m.get("resourceVersion")}, "revision": number}
    try:
        written: Obj = await client.patch(
            CONTROLLERREVISIONS, m["name"], patch, namespace=m["namespace"]
        )
        return written
    except Invalid as e:
        if not any(str(c.get("field") or "") == "revision" for c in e.causes):
            raise
    try:
        await client.delete(
            CONTROLLERREVISIONS, m["name"], namespace=m["namespace"],
            preconditions={"uid": m.get("uid")},
        )  # fmt: skip
    except NotFound:
        pass
    fresh = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            k: copy.deepcopy(v)
            for k, v in m.items()
            if k in ("name", "namespace", "labels", "annotations", "ownerReferences")
        },
        "data": copy.deepcopy(rev.get("data")),
        "revision": number,
    }
    created: Obj = await client.create(CONTROLLERREVISIONS, fresh, namespace=m["namespace"])
    return created
