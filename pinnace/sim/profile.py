"""What simulated nodes look like: node groups, read from a YAML profile.

A profile is a list of node groups (either the document itself or its
``nodeGroups`` key)::

    nodeGroups:
    - count: 3
      namePrefix: big-
      capacity: {cpu: "64", memory: 512Gi}
      labels: {node.kubernetes.io/instance-type: m.big}
      zones: [zone-a, zone-b]          # round-robin topology.kubernetes.io/zone
      taints: [{key: dedicated, value: gpu, effect: NoSchedule}]
    - namePrefix: small-               # no count: shares what --nodes leaves
      capacity: {cpu: "4", memory: 16Gi}

Fields of a group: ``count``, ``namePrefix``, ``capacity`` (merged over the
defaults), ``allocatable`` (defaults to the capacity), ``labels``,
``annotations``, ``taints``, ``zones`` (spread round-robin over the group's
nodes), ``instanceType``. Unknown fields are an error, so a typo does not pass
silently.

:func:`expand` turns groups plus ``--nodes N`` into one :class:`NodeSpec` per
node: groups with a ``count`` get that many; groups without share the rest of
``N`` (the first ones get the remainder). Names are ``<prefix><i>``, counting
per prefix. All of this is pure data; nothing here talks to the API.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DEFAULT_CAPACITY",
    "NodeGroup",
    "NodeSpec",
    "ProfileError",
    "expand",
    "load_profile",
    "parse_profile",
]

DEFAULT_CAPACITY: Mapping[str, str] = {
    "cpu": "32",
    "memory": "256Gi",
    "pods": "110",
    "ephemeral-storage": "100Gi",
    "hugepages-1Gi": "0",
    "hugepages-2Mi": "0",
}

ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"

_GROUP_FIELDS = frozenset(
    ("count", "namePrefix", "capacity", "allocatable", "labels", "annotations", "taints",
     "zones", "instanceType")
)  # fmt: skip
_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# a DNS-1123 subdomain prefix: the node name is the prefix plus a number
_PREFIX_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[-a-z0-9.])?$")
_QUANTITY_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$")


class ProfileError(ValueError):
    """The profile is malformed; the message says where."""


@dataclass(frozen=True)
class NodeGroup:
    """One group of identical nodes (``count=None``: a share of ``--nodes``)."""

    count: int | None = None
    name_prefix: str | None = None
    capacity: Mapping[str, str] = field(default_factory=dict)
    allocatable: Mapping[str, str] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Mapping[str, str], ...] = ()
    zones: tuple[str, ...] = ()
    instance_type: str | None = None


@dataclass(frozen=True)
class NodeSpec:
    """Everything that differs between simulated nodes: one per node."""

    name: str
    capacity: Mapping[str, str]
    allocatable: Mapping[str, str]
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    taints: tuple[Mapping[str, str], ...]


def load_profile(path: str | os.PathLike[str]) -> list[NodeGroup]:
    """Read and parse a YAML profile file."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except OSError as e:
        raise ProfileError(f"cannot read profile {p}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise ProfileError(f"profile {p} is not valid YAML: {e}") from None
    try:
        return parse_profile(doc)
    except ProfileError as e:
        raise ProfileError(f"profile {p}: {e}") from None


def parse_profile(doc: Any) -> list[NodeGroup]:
    """Parse a profile document (a list of groups, or ``{nodeGroups: [...]}``)."""
    if isinstance(doc, dict):
        extra = set(doc) - {"nodeGroups"}
        if extra:
            raise ProfileError(f"unknown top-level field(s) {sorted(extra)}; expected nodeGroups")
        doc = doc.get("nodeGroups")
    if not isinstance(doc, list) or not doc:
        raise ProfileError("expected a non-empty list of node groups")
    return [_parse_group(g, f"nodeGroups[{i}]") for i, g in enumerate(doc)]


def _str_map(value: Any, where: str, *, quantities: bool = False) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProfileError(f"{where}: expected a mapping")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k:
            raise ProfileError(f"{where}: keys must be non-empty strings")
        if isinstance(v, bool) or v is None or isinstance(v, (dict, list)):
            raise ProfileError(f"{where}.{k}: expected a string or number")
        text = str(v)
        if quantities and not _QUANTITY_RE.match(text):
            raise ProfileError(f"{where}.{k}: {text!r} is not a quantity (like 4, 500m, 16Gi)")
        out[k] = text
    return out


def _parse_taint(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ProfileError(f"{where}: expected a mapping with key, value, effect")
    extra = set(value) - {"key", "value", "effect"}
    if extra:
        raise ProfileError(f"{where}: unknown field(s) {sorted(extra)}")
    key, effect = value.get("key"), value.get("effect")
    if not isinstance(key, str) or not key:
        raise ProfileError(f"{where}.key: required")
    if effect not in _TAINT_EFFECTS:
        raise ProfileError(f"{where}.effect: must be one of {', '.join(_TAINT_EFFECTS)}")
    taint = {"key": key, "effect": str(effect)}
    if value.get("value") is not None:
        taint["value"] = str(value["value"])
    return taint


def _parse_group(value: Any, where: str) -> NodeGroup:
    if not isinstance(value, dict):
        raise ProfileError(f"{where}: expected a mapping")
    extra = set(value) - _GROUP_FIELDS
    if extra:
        raise ProfileError(f"{where}: unknown field(s) {sorted(extra)}")
    count = value.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise ProfileError(f"{where}.count: expected a non-negative integer")
    prefix = value.get("namePrefix")
    if prefix is not None and (not isinstance(prefix, str) or not _PREFIX_RE.match(prefix)):
        raise ProfileError(f"{where}.namePrefix: {prefix!r} is not a valid node name prefix")
    taints = value.get("taints") or []
    if not isinstance(taints, list):
        raise ProfileError(f"{where}.taints: expected a list")
    zones = value.get("zones") or []
    if not isinstance(zones, list) or not all(isinstance(z, str) and z for z in zones):
        raise ProfileError(f"{where}.zones: expected a list of zone names")
    instance_type = value.get("instanceType")
    if instance_type is not None and not isinstance(instance_type, str):
        raise ProfileError(f"{where}.instanceType: expected a string")
    allocatable = value.get("allocatable")
    return NodeGroup(
        count=count,
        name_prefix=prefix,
        capacity=_str_map(value.get("capacity"), f"{where}.capacity", quantities=True),
        allocatable=None
        if allocatable is None
        else _str_map(allocatable, f"{where}.allocatable", quantities=True),
        labels=_str_map(value.get("labels"), f"{where}.labels"),
        annotations=_str_map(value.get("annotations"), f"{where}.annotations"),
        taints=tuple(_parse_taint(t, f"{where}.taints[{i}]") for i, t in enumerate(taints)),
        zones=tuple(zones),
        instance_type=instance_type,
    )


def expand(
    groups: list[NodeGroup] | None, nodes: int | None, *, name_prefix: str = "sim-"
) -> list[NodeSpec]:
    """One :class:`NodeSpec` per node (see the module docstring for the rules)."""
    if not _PREFIX_RE.match(name_prefix):
        raise ProfileError(f"{name_prefix!r} is not a valid node name prefix")
    if nodes is not None and nodes < 0:
        raise ProfileError("the number of nodes cannot be negative")
    if not groups:
        groups = [NodeGroup()]
    fixed = sum(g.count for g in groups if g.count is not None)
    shared = [g for g in groups if g.count is None]
    if shared:
        if nodes is None:
            raise ProfileError("node groups without a count need --nodes to share")
        rest = nodes - fixed
        if rest < 0:
            raise ProfileError(f"the groups' counts add up to {fixed}, more than --nodes {nodes}")
        share, extra = divmod(rest, len(shared))
    elif nodes is not None and nodes != fixed:
        raise ProfileError(f"the groups' counts add up to {fixed}, but --nodes is {nodes}")
    counters: dict[str, int] = {}
    specs: list[NodeSpec] = []
    shared_seen = 0
    for g in groups:
        if g.count is not None:
            count = g.count
        else:
            count = share + (1 if shared_seen < extra else 0)
            shared_seen += 1
        prefix = g.name_prefix or name_prefix
        capacity = {**DEFAULT_CAPACITY, **g.capacity}
        allocatable = {**capacity, **g.allocatable} if g.allocatable is not None else capacity
        for j in range(count):
            i = counters.get(prefix, 0)
            counters[prefix] = i + 1
            labels = dict(g.labels)
            if g.instance_type:
                labels.setdefault(INSTANCE_TYPE_LABEL, g.instance_type)
            if g.zones:
                labels.setdefault(ZONE_LABEL, g.zones[j % len(g.zones)])
            specs.append(
                NodeSpec(
                    name=f"{prefix}{i}",
                    capacity=capacity,
                    allocatable=allocatable,
                    labels=labels,
                    annotations=g.annotations,
                    taints=g.taints,
                )
            )
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ProfileError("two node groups produce the same node names; give them namePrefixes")
    return specs
