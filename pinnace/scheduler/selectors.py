"""Matching helpers with upstream semantics, compiled once per pod.

* :class:`LabelSelector` — ``metav1.LabelSelector`` (``matchLabels`` +
  ``matchExpressions`` with In/NotIn/Exists/DoesNotExist). ``None`` selects
  nothing, ``{}`` selects everything (``metav1.LabelSelectorAsSelector``).
* :class:`NodeSelector` — ``v1.NodeSelector``: terms are ORed, the expressions
  and fields of one term ANDed; Gt/Lt compare integers; an empty term matches
  nothing. ``matchFields`` supports ``metadata.name`` (all upstream allows).
* :func:`tolerates` — ``Toleration.ToleratesTaint``.

Everything here is pure and synchronous; compiled objects are immutable and
shared freely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "EVERYTHING",
    "NOTHING",
    "LabelSelector",
    "NodeSelector",
    "Requirement",
    "find_untolerated_taint",
    "tolerates",
]


class Requirement:
    __slots__ = ("key", "op", "values")

    def __init__(self, key: str, op: str, values: Sequence[str] = ()) -> None:
        self.key = key
        self.op = op
        self.values = frozenset(str(v) for v in values)

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.op
        if op == "In":
            v = labels.get(self.key)
            return v is not None and v in self.values
        if op == "NotIn":
            v = labels.get(self.key)
            return v is None or v not in self.values
        if op == "Exists":
            return self.key in labels
        if op == "DoesNotExist":
            return self.key not in labels
        if op in ("Gt", "Lt"):
            v = labels.get(self.key)
            if v is None or len(self.values) != 1:
                return False
            try:
                have = int(v)
                want = int(next(iter(self.values)))
            except ValueError:
                return False
            return have > want if op == "Gt" else have < want
        return False


class LabelSelector:
    """A compiled ``metav1.LabelSelector``."""

    __slots__ = ("empty", "key", "match_labels", "nothing", "requirements")

    def __init__(
        self,
        match_labels: Mapping[str, str] | None = None,
        requirements: Sequence[Requirement] = (),
        *,
        nothing: bool = False,
    ) -> None:
        self.match_labels: tuple[tuple[str, str], ...] = tuple((match_labels or {}).items())
        self.requirements = tuple(requirements)
        self.nothing = nothing
        self.empty = not nothing and not self.match_labels and not self.requirements
        #: equal for selectors that select the same labels (a cache key)
        self.key: tuple[Any, ...] = (
            nothing,
            tuple(sorted(self.match_labels)),
            tuple(sorted((r.key, r.op, tuple(sorted(r.values))) for r in self.requirements)),
        )

    @classmethod
    def from_api(cls, sel: Mapping[str, Any] | None) -> LabelSelector:
        if sel is None:
            return NOTHING
        reqs = [
            Requirement(str(e.get("key", "")), str(e.get("operator", "")), e.get("values") or ())
            for e in sel.get("matchExpressions") or []
        ]
        return cls({str(k): str(v) for k, v in (sel.get("matchLabels") or {}).items()}, reqs)

    def with_requirements(self, extra: Sequence[Requirement]) -> LabelSelector:
        if self.nothing or not extra:
            return self
        return LabelSelector(dict(self.match_labels), [*self.requirements, *extra])

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        if self.empty:
            return True
        lab = labels or {}
        for k, v in self.match_labels:
            if lab.get(k) != v:
                return False
        return all(r.matches(lab) for r in self.requirements)


NOTHING = LabelSelector(nothing=True)
EVERYTHING = LabelSelector()


class _Term:
    __slots__ = ("fields", "labels")

    def __init__(self, labels: list[Requirement], fields: list[Requirement]) -> None:
        self.labels = labels
        self.fields = fields

    def matches(self, labels: Mapping[str, str], name: str) -> bool:
        if not self.labels and not self.fields:
            return False
        for r in self.labels:
            if not r.matches(labels):
                return False
        return all(r.matches({"metadata.name": name}) for r in self.fields)


class NodeSelector:
    """A compiled ``v1.NodeSelector`` (ORed terms)."""

    __slots__ = ("terms",)

    def __init__(self, terms: list[_Term]) -> None:
        self.terms = terms

    @staticmethod
    def _reqs(exprs: Sequence[Mapping[str, Any]] | None) -> list[Requirement]:
        return [
            Requirement(str(e.get("key", "")), str(e.get("operator", "")), e.get("values") or ())
            for e in exprs or []
        ]

    @classmethod
    def from_terms(cls, terms: Sequence[Mapping[str, Any]] | None) -> NodeSelector:
        return cls(
            [
                _Term(cls._reqs(t.get("matchExpressions")), cls._reqs(t.get("matchFields")))
                for t in terms or []
            ]
        )

    def matches(self, labels: Mapping[str, str], name: str) -> bool:
        return any(t.matches(labels, name) for t in self.terms)

    def node_names(self) -> set[str] | None:
        """Node names every term restricts to with ``metadata.name In``, or None
        (upstream NodeAffinity PreFilter result)."""
        names: set[str] | None = set()
        for t in self.terms:
            term_names: set[str] | None = None
            for r in t.fields:
                if r.key == "metadata.name" and r.op == "In":
                    term_names = set(r.values) if term_names is None else term_names & r.values
            if term_names is None:
                return None
            assert names is not None
            names |= term_names
        return names


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """``v1.Toleration.ToleratesTaint``."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def find_untolerated_taint(
    taints: Sequence[Mapping[str, Any]],
    tolerations: Sequence[Mapping[str, Any]],
    effects: tuple[str, ...] = ("NoSchedule", "NoExecute"),
) -> Mapping[str, Any] | None:
    """The first taint with one of ``effects`` that no toleration tolerates."""
    for taint in taints:
        if taint.get("effect") not in effects:
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None
