"""Label selectors and field selectors, with upstream (apimachinery) semantics.

Label selectors (``k8s.io/apimachinery/pkg/labels``):

* :func:`parse_label_selector` parses the string form used in
  ``?labelSelector=`` (``a=b,c==d,e!=f,g in (x,y),h notin (z),i,!j``, also
  ``k>1``/``k<1``) with upstream's lexer/parser, so errors carry upstream's
  messages (the apiserver turns :class:`SelectorError` into 400 BadRequest);
* :func:`label_selector_from_dict` converts a ``metav1.LabelSelector`` dict
  (``matchLabels`` + ``matchExpressions``) like ``LabelSelectorAsSelector``:
  ``None`` matches nothing, ``{}`` matches everything;
* :func:`format_label_selector` is ``metav1.FormatLabelSelector`` (``<none>``
  for an empty selector) used by ``-o wide`` SELECTOR columns, while
  ``str(selector)`` is the canonical string used by ``Scale.status.selector``.

Field selectors (``k8s.io/apimachinery/pkg/fields``): :func:`parse_field_selector`
parses ``a=b,c!=d`` (also ``==``, backslash escapes for ``\\``, ``,``, ``=``);
:meth:`FieldSelector.matches` takes a ``dict[str, str]`` of field values and
:meth:`FieldSelector.check_supported` raises ``field label not supported: X``.

Everything here is pure and immutable; selectors are cheap to share.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "EVERYTHING",
    "NOTHING",
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Operator",
    "Requirement",
    "SelectorError",
    "escape_field_value",
    "format_label_selector",
    "label_selector_from_dict",
    "label_selector_to_string",
    "parse_field_selector",
    "parse_label_selector",
]


class SelectorError(ValueError):
    """An invalid label or field selector; ``str(e)`` is upstream's message."""


# --- validation (k8s.io/apimachinery/pkg/util/validation) -----------------------------------

_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_ERR = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_QNAME_RE = re.compile(_QNAME_FMT)
_LABEL_VALUE_FMT = f"({_QNAME_FMT})?"
_LABEL_VALUE_ERR = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character"
)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_ERR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    msg += " (e.g. "
    for i, example in enumerate(examples):
        if i > 0:
            msg += " or "
        msg += f"'{example}', "
    return msg + f"regex used for validation is '{fmt}')"


def _max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


def is_qualified_name(value: str) -> list[str]:
    """Upstream ``validation.IsQualifiedName``: the error strings (empty when valid)."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in _dns1123_subdomain_errors(prefix))
    else:
        return [
            "a qualified name "
            + _regex_error(_QNAME_ERR, _QNAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + _max_len_error(63))
    if not _QNAME_RE.fullmatch(name):
        errs.append(
            "name part " + _regex_error(_QNAME_ERR, _QNAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def _dns1123_subdomain_errors(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > 253:
        errs.append(_max_len_error(253))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_ERR, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_valid_label_value(value: str) -> list[str]:
    """Upstream ``validation.IsValidLabelValue``."""
    errs: list[str] = []
    if len(value) > 63:
        errs.append(_max_len_error(63))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(
            _regex_error(_LABEL_VALUE_ERR, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return errs


def _go_quote(s: str) -> str:
    """Go's %q for the strings we meet (printable ASCII plus the usual escapes)."""
    out = ['"']
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _invalid(path: str, value: str | list[str], detail: str) -> str:
    """A ``field.Invalid(...).Error()`` string."""
    if isinstance(value, str):
        shown = _go_quote(value)
    else:
        shown = "[]string{" + ", ".join(_go_quote(v) for v in value) + "}"
    return f"{path}: Invalid value: {shown}: {detail}"


def _aggregate(errs: list[str]) -> str:
    return errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"


# --- label selectors ----------------------------------------------------------------------


class Operator(StrEnum):
    """``selection.Operator`` values (the strings are upstream's)."""

    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


def _parse_int64(s: str) -> int | None:
    if not re.fullmatch(r"[+-]?[0-9]+", s):
        return None
    v = int(s)
    return v if -(2**63) <= v < 2**63 else None


@dataclass(frozen=True, slots=True)
class Requirement:
    """One term of a label selector. ``values`` are sorted and de-duplicated."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    @classmethod
    def new(
        cls, key: str, operator: Operator, values: Iterable[str] = (), *, path: str = ""
    ) -> Requirement:
        """Validate like upstream ``labels.NewRequirement``; raises :class:`SelectorError`."""
        vals = list(values)
        errs: list[str] = []
        key_path = f"{path}.key" if path else "key"
        values_path = f"{path}.values" if path else "values"
        if msgs := is_qualified_name(key):
            errs.append(_invalid(key_path, key, "; ".join(msgs)))
        if operator in (Operator.IN, Operator.NOT_IN):
            if not vals:
                errs.append(
                    _invalid(
                        values_path, vals, "for 'in', 'notin' operators, values set can't be empty"
                    )
                )
        elif operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS):
            if len(vals) != 1:
                errs.append(
                    _invalid(
                        values_path, vals, "exact-match compatibility requires one single value"
                    )
                )
        elif operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
            if vals:
                errs.append(
                    _invalid(
                        values_path, vals, "values set must be empty for exists and does not exist"
                    )
                )
        elif operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
            if len(vals) != 1:
                errs.append(
                    _invalid(
                        values_path, vals, "for 'Gt', 'Lt' operators, exactly one value is required"
                    )
                )
            for i, v in enumerate(vals):
                if _parse_int64(v) is None:
                    errs.append(
                        _invalid(
                            f"{values_path}[{i}]",
                            v,
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        )
                    )
        for i, v in enumerate(vals):
            if msgs := is_valid_label_value(v):
                errs.append(_invalid(f"{values_path}[{i}][{key}]", v, "; ".join(msgs)))
        if errs:
            raise SelectorError(_aggregate(errs))
        return cls(key, operator, tuple(sorted(set(vals))))

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if op is Operator.EXISTS:
            return self.key in labels
        if op is Operator.DOES_NOT_EXIST:
            return self.key not in labels
        if op in (Operator.GREATER_THAN, Operator.LESS_THAN):
            if self.key not in labels or len(self.values) != 1:
                return False
            have = _parse_int64(labels[self.key])
            want = _parse_int64(self.values[0])
            if have is None or want is None:
                return False
            return have > want if op is Operator.GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        op = self.operator
        if op is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        if op is Operator.EXISTS:
            return self.key
        values = ",".join(self.values)
        if op in (Operator.IN, Operator.NOT_IN):
            return f"{self.key} {op.value} ({values})"
        sym = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(op, op.value)
        return f"{self.key}{sym}{values}"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A parsed label selector: the AND of its requirements (sorted by key).

    ``nothing=True`` is upstream's ``labels.Nothing()`` (a nil LabelSelector):
    it matches no object and prints as the empty string.
    """

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def empty(self) -> bool:
        """True when the selector matches everything."""
        return not self.nothing and not self.requirements

    def requires_exact_match(self, key: str) -> str | None:
        """The value ``key`` must equal (``k=v``/``k==v``/``k in (v)``), else ``None``."""
        for r in self.requirements:
            if r.key == key and len(r.values) == 1:
                if r.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN):
                    return r.values[0]
        return None

    def __str__(self) -> str:
        if self.nothing:
            return ""
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(nothing=True)


# The lexer/parser follow apimachinery's labels/selector.go token by token so that the
# error messages (which kubectl users see verbatim) are the same.

_ERROR, _EOS, _CLOSE_PAR, _COMMA, _NOT, _DEQ, _EQ, _GT, _ID, _IN, _LT, _NEQ, _NOTIN, _OPEN_PAR = (
    range(14)
)
_STRING_TO_TOKEN = {
    ")": _CLOSE_PAR,
    ",": _COMMA,
    "!": _NOT,
    "==": _DEQ,
    "=": _EQ,
    ">": _GT,
    "in": _IN,
    "<": _LT,
    "!=": _NEQ,
    "notin": _NOTIN,
    "(": _OPEN_PAR,
}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")


def _lex(s: str) -> list[tuple[int, str]]:
    items: list[tuple[int, str]] = []
    pos, n = 0, len(s)
    while True:
        while pos < n and s[pos] in _WHITESPACE:
            pos += 1
        if pos >= n:
            items.append((_EOS, ""))
            return items
        if s[pos] in _SPECIAL:
            buf = ""
            last: tuple[int, str] | None = None
            while pos < n and s[pos] in _SPECIAL:
                buf += s[pos]
                if buf in _STRING_TO_TOKEN:
                    last = (_STRING_TO_TOKEN[buf], buf)
                    pos += 1
                elif last is not None:
                    break
                else:
                    pos += 1
            if last is None:
                items.append((_ERROR, f"error expected: keyword found '{buf}'"))
            else:
                items.append(last)
        else:
            start = pos
            while pos < n and s[pos] not in _SPECIAL and s[pos] not in _WHITESPACE:
                pos += 1
            lit = s[start:pos]
            items.append((_STRING_TO_TOKEN.get(lit, _ID), lit))


_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"


class _Parser:
    def __init__(self, s: str) -> None:
        self.items = _lex(s)
        self.pos = 0

    def lookahead(self, values: bool = True) -> tuple[int, str]:
        tok, lit = self.items[self.pos]
        if values and tok in (_IN, _NOTIN):
            tok = _ID
        return tok, lit

    def consume(self, values: bool = True) -> tuple[int, str]:
        tok, lit = self.lookahead(values)
        self.pos += 1
        return tok, lit

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok in (_ID, _NOT):
                try:
                    reqs.append(self.parse_requirement())
                except SelectorError as e:
                    raise SelectorError(f"unable to parse requirement: {e}") from None
                t, lit = self.consume()
                if t == _EOS:
                    return reqs
                if t == _COMMA:
                    t2, lit2 = self.lookahead()
                    if t2 not in (_ID, _NOT):
                        raise SelectorError(f"found '{lit2}', expected: identifier after ','")
                else:
                    raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            elif tok == _EOS:
                return reqs
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def parse_requirement(self) -> Requirement:
        tok, lit = self.consume()
        operator: Operator | None = None
        if tok == _NOT:
            operator = Operator.DOES_NOT_EXIST
            tok, lit = self.consume()
        if tok != _ID:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key = lit
        if msgs := is_qualified_name(key):
            raise SelectorError(_invalid("<nil>", key, "; ".join(msgs)))
        if self.lookahead()[0] in (_EOS, _COMMA) and operator is None:
            operator = Operator.EXISTS
        if operator is not None:
            return Requirement.new(key, operator)
        operator = self.parse_operator()
        if operator in (Operator.IN, Operator.NOT_IN):
            values = self.parse_values()
        else:
            values = self.parse_exact_value()
        return Requirement.new(key, operator, sorted(values))

    def parse_operator(self) -> Operator:
        tok, lit = self.consume(values=False)
        ops = {
            _IN: Operator.IN,
            _EQ: Operator.EQUALS,
            _DEQ: Operator.DOUBLE_EQUALS,
            _GT: Operator.GREATER_THAN,
            _LT: Operator.LESS_THAN,
            _NOTIN: Operator.NOT_IN,
            _NEQ: Operator.NOT_EQUALS,
        }
        if tok not in ops:
            raise SelectorError(f"found '{lit}', expected: {_BINARY_OPERATORS}")
        return ops[tok]

    def parse_values(self) -> set[str]:
        tok, lit = self.consume()
        if tok != _OPEN_PAR:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok in (_ID, _COMMA):
            values = self.parse_identifiers_list()
            if self.consume()[0] != _CLOSE_PAR:
                raise SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok == _CLOSE_PAR:
            self.consume()
            return {""}
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def parse_identifiers_list(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _ID:
                values.add(lit)
                tok2, lit2 = self.lookahead()
                if tok2 == _COMMA:
                    continue
                if tok2 == _CLOSE_PAR:
                    return values
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _COMMA:
                if not values:
                    values.add("")
                tok2, _ = self.lookahead()
                if tok2 == _CLOSE_PAR:
                    values.add("")
                    return values
                if tok2 == _COMMA:
                    self.consume()
                    values.add("")
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def parse_exact_value(self) -> set[str]:
        tok, _ = self.lookahead()
        if tok in (_EOS, _COMMA):
            return {""}
        tok, lit = self.consume()
        if tok == _ID:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


def parse_label_selector(selector: str | None) -> LabelSelector:
    """Parse a label selector string (``None``/``""`` → matches everything)."""
    if not selector:
        return EVERYTHING
    reqs = _Parser(selector).parse()
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


_MATCH_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def label_selector_from_dict(selector: Mapping[str, Any] | None) -> LabelSelector:
    """``metav1.LabelSelectorAsSelector``: ``None`` → nothing, ``{}`` → everything."""
    if selector is None:
        return NOTHING
    match_labels: Mapping[str, Any] = selector.get("matchLabels") or {}
    match_expressions: list[Mapping[str, Any]] = selector.get("matchExpressions") or []
    if not match_labels and not match_expressions:
        return EVERYTHING
    reqs: list[Requirement] = []
    for k, v in match_labels.items():
        reqs.append(Requirement.new(str(k), Operator.EQUALS, [str(v)]))
    for expr in match_expressions:
        op_name = expr.get("operator", "")
        op = _MATCH_OPERATORS.get(op_name)
        if op is None:
            raise SelectorError(f"{_go_quote(str(op_name))} is not a valid label selector operator")
        values = [str(v) for v in (expr.get("values") or [])]
        reqs.append(Requirement.new(str(expr.get("key", "")), op, values))
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


def label_selector_to_string(selector: Mapping[str, Any] | None) -> str:
    """The canonical string of a ``metav1.LabelSelector`` (``""`` for nil/empty);
    what upstream puts in ``Scale.status.selector``."""
    return str(label_selector_from_dict(selector))


def format_label_selector(selector: Mapping[str, Any] | None) -> str:
    """``metav1.FormatLabelSelector``: like :func:`label_selector_to_string` but
    ``<none>`` when empty and ``<error>`` when invalid (kubectl's SELECTOR column)."""
    try:
        s = label_selector_to_string(selector)
    except SelectorError:
        return "<error>"
    return s or "<none>"


# --- field selectors ----------------------------------------------------------------------


def escape_field_value(value: str) -> str:
    """``fields.EscapeValue``: backslash-escape ``\\``, ``,`` and ``=``."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(s: str) -> str:
    if not any(c in s for c in "\\,="):
        return s
    out: list[str] = []
    in_slash = False
    for c in s:
        if in_slash:
            if c in "\\,=":
                out.append(c)
            else:
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{c}")
            in_slash = False
            continue
        if c == "\\":
            in_slash = True
        elif c in ",=":
            # Go prints the rune with %v, i.e. as its code point
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if in_slash:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_field_terms(selector: str) -> list[str]:
    terms: list[str] = []
    start = 0
    in_slash = False
    for i, c in enumerate(selector):
        if in_slash:
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c == ",":
            terms.append(selector[start:i])
            start = i + 1
    terms.append(selector[start:])
    return terms


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    field: str
    value: str
    negated: bool = False  # ``!=``

    def matches(self, fields: Mapping[str, str]) -> bool:
        return (fields.get(self.field, "") == self.value) != self.negated

    def __str__(self) -> str:
        return f"{self.field}{'!=' if self.negated else '='}{escape_field_value(self.value)}"


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """The AND of ``field=value`` / ``field!=value`` terms (sorted like upstream)."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Missing fields compare as the empty string (upstream ``Fields.Get``)."""
        return all(r.matches(fields) for r in self.requirements)

    def empty(self) -> bool:
        return not self.requirements

    def fields(self) -> list[str]:
        return [r.field for r in self.requirements]

    def check_supported(self, supported: Iterable[str]) -> None:
        """Raise ``SelectorError("field label not supported: X")`` for the first
        field not in ``supported``."""
        allowed = set(supported)
        for r in self.requirements:
            if r.field not in allowed:
                raise SelectorError(f"field label not supported: {r.field}")

    def requires_exact_match(self, field: str) -> str | None:
        """The value ``field`` must equal (a ``field=value`` term), else ``None``."""
        for r in self.requirements:
            if r.field == field and not r.negated:
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def parse_field_selector(selector: str | None) -> FieldSelector:
    """Parse a field selector string (``None``/``""`` → matches everything)."""
    if not selector:
        return FieldSelector()
    reqs: list[FieldRequirement] = []
    for part in sorted(_split_field_terms(selector)):
        if not part:
            continue
        for i in range(len(part)):
            rest = part[i:]
            op = next((o for o in ("!=", "==", "=") if rest.startswith(o)), None)
            if op is not None:
                lhs, rhs = part[:i], part[i + len(op) :]
                break
        else:
            raise SelectorError(f"invalid selector: '{selector}'; can't understand '{part}'")
        reqs.append(FieldRequirement(lhs, _unescape_field_value(rhs), negated=op == "!="))
    return FieldSelector(tuple(reqs))
