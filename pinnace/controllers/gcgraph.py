"""The garbage collector's dependency graph: every object with its owners and dependents.

Upstream's ``GraphBuilder`` (``pkg/controller/garbagecollector/graph_builder.go``).
A :class:`Node` per uid holds the object's identity (apiVersion, kind,
namespace, name, uid), its ownerReferences and the set of its dependents.
An ownerReference to a uid never observed creates a *virtual* node with the
coordinates the reference gives (and the dependent's namespace); the collector
then checks with a live GET whether it exists and, if not, calls
:meth:`DependencyGraph.virtual_delete`, which removes it and queues its
dependents. A virtual node becomes real when an informer reports the object.

The graph reacts to what the metadata informers report and queues the uids
the collector must look at: dependents of an owner that went away, owners
whose ``ownerReferences`` changed so that they may no longer be blocked,
objects that just started a foreground deletion (and their dependents),
objects that just started an orphaning deletion (on the orphan queue), and
dependents whose ownerReference cannot be right (a namespaced owner in
another namespace: such a reference never resolves, upstream reports
``OwnerRefInvalidNamespace`` on the dependent).

Memory: one small node per object (no object bodies, only metadata fields
that matter here), plus an LRU of owners verified absent.

Concurrency model: plain synchronous methods, called from the informers'
tasks and from the collector's workers on the one event loop; each call runs
to completion, so the graph needs no locks. Callbacks only enqueue uids.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FOREGROUND_FINALIZER",
    "ORPHAN_FINALIZER",
    "DependencyGraph",
    "Identity",
    "Node",
    "OwnerRef",
]

FOREGROUND_FINALIZER = "foregroundDeletion"
ORPHAN_FINALIZER = "orphan"
ABSENT_CACHE_SIZE = 500  # upstream's absentOwnerCache


@dataclass(frozen=True, slots=True, order=True)
class Identity:
    """Where an object is (upstream's ``objectReference``)."""

    api_version: str
    kind: str
    name: str
    uid: str
    namespace: str = ""

    def __str__(self) -> str:
        return (
            f"[{self.api_version}/{self.kind}, namespace: {self.namespace}, "
            f"name: {self.name}, uid: {self.uid}]"
        )

    def with_namespace(self, namespace: str) -> Identity:
        return Identity(self.api_version, self.kind, self.name, self.uid, namespace)


@dataclass(frozen=True, slots=True)
class OwnerRef:
    """The parts of an ``ownerReference`` the graph needs."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool = False
    block_owner_deletion: bool = False

    @classmethod
    def parse(cls, ref: Mapping[str, Any]) -> OwnerRef:
        return cls(
            str(ref.get("apiVersion") or ""),
            str(ref.get("kind") or ""),
            str(ref.get("name") or ""),
            str(ref.get("uid") or ""),
            bool(ref.get("controller")),
            bool(ref.get("blockOwnerDeletion")),
        )

    def coordinates(self, namespace: str = "") -> Identity:
        return Identity(self.api_version, self.kind, self.name, self.uid, namespace)

    def matches(self, identity: Identity) -> bool:
        """Same uid, name, kind and apiVersion (upstream ``ownerReferenceMatchesCoordinates``)."""
        return (self.uid, self.name, self.kind, self.api_version) == (
            identity.uid,
            identity.name,
            identity.kind,
            identity.api_version,
        )


@dataclass(eq=False, slots=True)
class Node:
    identity: Identity
    owners: tuple[OwnerRef, ...] = ()
    dependents: set[Node] = field(default_factory=set)
    #: only known from ownerReferences; not (yet) observed by an informer
    virtual: bool = False
    #: has a deletionTimestamp
    being_deleted: bool = False
    #: has a deletionTimestamp and the foregroundDeletion finalizer
    deleting_dependents: bool = False
    #: has a deletionTimestamp and the orphan finalizer
    orphaning: bool = False

    @property
    def uid(self) -> str:
        return self.identity.uid

    def blocking_dependents(self) -> list[Node]:
        """Dependents whose reference to this node has ``blockOwnerDeletion: true``."""
        return [
            d
            for d in self.dependents
            if any(o.uid == self.uid and o.block_owner_deletion for o in d.owners)
        ]

    def __repr__(self) -> str:
        return f"Node({self.identity}{', virtual' if self.virtual else ''})"


def _flags(metadata: Mapping[str, Any]) -> tuple[bool, bool, bool]:
    being_deleted = bool(metadata.get("deletionTimestamp"))
    finalizers = metadata.get("finalizers") or ()
    return (
        being_deleted,
        being_deleted and FOREGROUND_FINALIZER in finalizers,
        being_deleted and ORPHAN_FINALIZER in finalizers,
    )


def partition_dependents(
    dependents: Iterable[Node], owner: Identity
) -> tuple[list[Node], list[Node]]:
    """Dependents whose reference to ``owner.uid`` matches all of its coordinates,
    and those that refer to it differently (or from another namespace)."""
    matching: list[Node] = []
    nonmatching: list[Node] = []
    for dep in dependents:
        found_match = found_mismatch = False
        if owner.namespace and owner.namespace != dep.identity.namespace:
            found_mismatch = True
        else:
            for ref in dep.owners:
                if ref.uid == owner.uid:
                    if ref.matches(owner):
                        found_match = True
                    else:
                        found_mismatch = True
        if found_match:
            matching.append(dep)
        if found_mismatch:
            nonmatching.append(dep)
    return matching, nonmatching


class DependencyGraph:
    """uid → :class:`Node`, kept current from informer events."""

    def __init__(
        self,
        *,
        attempt_to_delete: Callable[[str], None],
        attempt_to_delete_later: Callable[[str], None],
        attempt_to_orphan: Callable[[str], None],
        report_invalid_namespace: Callable[[Node, OwnerRef], None],
    ) -> None:
        self.nodes: dict[str, Node] = {}
        self._absent: OrderedDict[Identity, None] = OrderedDict()
        self._delete = attempt_to_delete
        self._delete_later = attempt_to_delete_later
        self._orphan = attempt_to_orphan
        self._report_invalid_namespace = report_invalid_namespace

    def __len__(self) -> int:
        return len(self.nodes)

    def get(self, uid: str) -> Node | None:
        return self.nodes.get(uid)

    # --- the absent-owner cache ----------------------------------------------------------

    def mark_absent(self, identity: Identity) -> None:
        self._absent[identity] = None
        self._absent.move_to_end(identity)
        while len(self._absent) > ABSENT_CACHE_SIZE:
            self._absent.popitem(last=False)

    def is_absent(self, identity: Identity) -> bool:
        return identity in self._absent

    # --- informer events -----------------------------------------------------------------

    def observe(self, identity: Identity, metadata: Mapping[str, Any]) -> None:
        """An informer reports the object (added, or updated)."""
        owners = tuple(OwnerRef.parse(r) for r in metadata.get("ownerReferences") or ())
        being_deleted, deleting_dependents, orphaning = _flags(metadata)
        node = self.nodes.get(identity.uid)
        if node is not None and node.virtual:
            # first sighting of an object we only knew from references to it
            if identity != node.identity:
                _, invalid = partition_dependents(node.dependents, identity)
                for dep in invalid:
                    if identity.namespace and dep.identity.namespace != identity.namespace:
                        ref = next((o for o in dep.owners if o.uid == identity.uid), None)
                        if ref is not None:
                            self._report_invalid_namespace(dep, ref)
                    self._delete(dep.uid)
                node.identity = identity
            node.virtual = False
        if node is None:
            node = Node(identity)
            self.nodes[identity.uid] = node
            added: Iterable[OwnerRef] = owners
            removed: list[OwnerRef] = []
            changed: list[tuple[OwnerRef, OwnerRef]] = []
        else:
            added, removed, changed = _diff(node.owners, owners)
        if added or removed or changed:
            self._add_unblocked_owners(removed, changed)
            node.owners = owners
            self._add_dependent_to_owners(node, added)
            self._remove_dependent_from_owners(node, removed)
        node.being_deleted = being_deleted
        # transitions (upstream processTransitions)
        was_orphaning, node.orphaning = node.orphaning, orphaning
        was_deleting, node.deleting_dependents = node.deleting_dependents, deleting_dependents
        if orphaning and not was_orphaning:
            self._orphan(node.uid)
            return
        if deleting_dependents and not was_deleting:
            for dep in list(node.dependents):
                self._delete(dep.uid)
            self._delete(node.uid)

    def observe_deleted(self, uid: str, identity: Identity | None = None) -> None:
        """An informer reports the object gone."""
        node = self.nodes.get(uid)
        if node is None:
            return
        self._remove_node(node)
        if node.dependents:
            self.mark_absent(identity or node.identity)
        for dep in list(node.dependents):
            self._delete(dep.uid)
        for ref in node.owners:
            owner = self.nodes.get(ref.uid)
            if owner is not None and owner.deleting_dependents:
                self._delete(owner.uid)

    def virtual_delete(self, deleted: Identity) -> None:
        """The collector verified that nothing exists at ``deleted`` (upstream's virtual
        delete event)."""
        node = self.nodes.get(deleted.uid)
        if node is None:
            return
        if node.virtual:
            matching, nonmatching = partition_dependents(node.dependents, deleted)
            if nonmatching:
                # some dependents disagree on where the owner is: keep the node
                if matching:
                    self.mark_absent(deleted)
                    for dep in matching:
                        self._delete(dep.uid)
                if node.identity == deleted:
                    alternate = _alternate_identity(nonmatching, deleted)
                    if alternate is not None:
                        node.identity = alternate
                        self._delete_later(node.uid)
                return
        elif node.identity != deleted:
            # the real node disagrees with the coordinates that were verified absent
            matching, _ = partition_dependents(node.dependents, deleted)
            if matching:
                self.mark_absent(deleted)
                for dep in matching:
                    self._delete(dep.uid)
            return
        self.observe_deleted(node.uid, deleted)

    # --- helpers -------------------------------------------------------------------------

    def _remove_node(self, node: Node) -> None:
        self.nodes.pop(node.uid, None)
        for ref in node.owners:
            owner = self.nodes.get(ref.uid)
            if owner is not None:
                owner.dependents.discard(node)

    def _add_dependent_to_owners(self, node: Node, owners: Iterable[OwnerRef]) -> None:
        potentially_invalid = False
        for ref in owners:
            owner = self.nodes.get(ref.uid)
            if owner is None:
                owner = Node(ref.coordinates(node.identity.namespace), virtual=True)
                self.nodes[ref.uid] = owner
                owner.dependents.add(node)
                # the collector checks it exists (and virtual-deletes it if not)
                self._delete(owner.uid)
                continue
            owner.dependents.add(node)
            if (
                not potentially_invalid
                and owner.identity.namespace
                and owner.identity.namespace != node.identity.namespace
            ):
                if not owner.virtual:
                    # a namespaced owner in another namespace: this is definitely wrong
                    self._report_invalid_namespace(node, ref)
                potentially_invalid = True
        if potentially_invalid:
            self._delete(node.uid)

    def _remove_dependent_from_owners(self, node: Node, owners: Iterable[OwnerRef]) -> None:
        for ref in owners:
            owner = self.nodes.get(ref.uid)
            if owner is not None:
                owner.dependents.discard(node)

    def _add_unblocked_owners(
        self, removed: Iterable[OwnerRef], changed: Iterable[tuple[OwnerRef, OwnerRef]]
    ) -> None:
        """Owners waiting for their dependents may be unblocked by a reference that went
        away or stopped blocking: look at them again."""
        refs = [r for r in removed if r.block_owner_deletion]
        refs += [
            old for old, new in changed if old.block_owner_deletion and not new.block_owner_deletion
        ]
        for ref in refs:
            owner = self.nodes.get(ref.uid)
            if owner is not None and owner.deleting_dependents:
                self._delete(owner.uid)


def _diff(
    old: tuple[OwnerRef, ...], new: tuple[OwnerRef, ...]
) -> tuple[list[OwnerRef], list[OwnerRef], list[tuple[OwnerRef, OwnerRef]]]:
    old_by_uid = {r.uid: r for r in old}
    new_by_uid = {r.uid: r for r in new}
    added = [r for uid, r in new_by_uid.items() if uid not in old_by_uid]
    removed = [r for uid, r in old_by_uid.items() if uid not in new_by_uid]
    changed = [
        (o, new_by_uid[uid])
        for uid, o in old_by_uid.items()
        if uid in new_by_uid and new_by_uid[uid] != o
    ]
    return added, removed, changed


def _alternate_identity(deps: Iterable[Node], absent: Identity) -> Identity | None:
    """Another identity some dependents give the owner ``absent.uid`` (the first one
    sorting after ``absent``, else the first one)."""
    seen = {absent}
    first: Identity | None = None
    first_following: Identity | None = None
    for dep in deps:
        for ref in dep.owners:
            if ref.uid != absent.uid:
                continue
            if ref.matches(absent) and absent.namespace == dep.identity.namespace:
                continue
            candidate = ref.coordinates(dep.identity.namespace)
            if candidate in seen:
                continue
            seen.add(candidate)
            if first is None or candidate < first:
                first = candidate
            if absent < candidate and (first_following is None or candidate < first_following):
                first_following = candidate
    return first_following or first
