from __future__ import annotations

import pytest

from pinnace.api.selectors import (
    Operator,
    Requirement,
    SelectorError,
    format_label_selector,
    label_selector_from_dict,
    label_selector_to_string,
    parse_field_selector,
    parse_label_selector,
)

# --- label selector parsing -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("a=b", "a=b"),
        ("a==b", "a==b"),
        ("a!=b", "a!=b"),
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("z=c,x=a", "x=a,z=c"),  # sorted by key
        ("a in (y,x)", "a in (x,y)"),
        ("a notin (z)", "a notin (z)"),
        ("a", "a"),
        ("!a", "!a"),
        (" a = b , c ", "a=b,c"),
        ("a=", "a="),
        ("a=,b", "a=,b"),
        ("a in ()", "a in ()"),
        ("a in (,x)", "a in (,x)"),
        ("a>1", "a>1"),
        ("a<10", "a<10"),
        ("example.com/app=web", "example.com/app=web"),
        ("x in (a),y notin (b,c),!z,w", "w,x in (a),y notin (b,c),!z"),
        ("a\tin\t(x)", "a in (x)"),
        ("in=notin", "in=notin"),  # keywords are identifiers in value/key positions
    ],
)
def test_parse_canonical(text: str, canonical: str) -> None:
    assert str(parse_label_selector(text)) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,", "found '', expected: identifier after ','"),
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("=b", "found '=', expected: !, identifier, or 'end of string'"),
        ("a in x", "unable to parse requirement: found 'x' expected: '('"),
        ("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("a==,", "found '', expected: identifier after ','"),
        ("a=b=c", "found '=', expected: ',' or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("a(", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"),
        (
            "a>b",
            'unable to parse requirement: values[0]: Invalid value: "b": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as e:
        parse_label_selector(text)
    assert str(e.value) == message


def test_invalid_key_message_matches_upstream() -> None:
    with pytest.raises(SelectorError) as e:
        parse_label_selector("a$b=c")
    assert str(e.value) == (
        'unable to parse requirement: <nil>: Invalid value: "a$b": name part must consist of '
        "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
        "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    )


def test_invalid_value_message_matches_upstream() -> None:
    with pytest.raises(SelectorError) as e:
        parse_label_selector("a=-x")
    assert str(e.value).startswith(
        'unable to parse requirement: values[0][a]: Invalid value: "-x": a valid label must be '
        "an empty string or consist of"
    )


def test_key_too_long_and_bad_prefix() -> None:
    with pytest.raises(SelectorError, match="name part must be no more than 63 characters"):
        parse_label_selector("a" * 64)
    with pytest.raises(SelectorError, match="prefix part a lowercase RFC 1123 subdomain"):
        parse_label_selector("Ex.com/a")
    with pytest.raises(SelectorError, match="prefix part must be non-empty"):
        parse_label_selector("/a")


# --- label matching -------------------------------------------------------------------------

LABELS = {"app": "web", "tier": "front", "n": "5"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("app!=db", True),
        ("missing!=x", True),  # != matches when the key is absent
        ("app in (db,web)", True),
        ("app notin (db,web)", False),
        ("missing notin (x)", True),
        ("missing in (x)", False),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("app=web,tier=front", True),
        ("app=web,tier=back", False),
        ("n>4", True),
        ("n>5", False),
        ("n<6", True),
        ("app>1", False),  # non-integer label value
        ("missing>1", False),
        ("app=web,!missing,tier in (front)", True),
    ],
)
def test_matches(text: str, expected: bool) -> None:
    assert parse_label_selector(text).matches(LABELS) is expected


def test_matches_none_labels() -> None:
    assert parse_label_selector("").matches(None)
    assert parse_label_selector("!a").matches(None)
    assert not parse_label_selector("a").matches(None)


def test_requires_exact_match() -> None:
    sel = parse_label_selector("a=b,c in (d),e in (f,g),h!=i")
    assert sel.requires_exact_match("a") == "b"
    assert sel.requires_exact_match("c") == "d"
    assert sel.requires_exact_match("e") is None
    assert sel.requires_exact_match("h") is None


# --- metav1.LabelSelector -------------------------------------------------------------------


def test_from_dict_nil_matches_nothing_and_empty_matches_everything() -> None:
    nil = label_selector_from_dict(None)
    assert not nil.matches({})
    assert not nil.matches({"a": "b"})
    assert not nil.empty()
    empty = label_selector_from_dict({})
    assert empty.matches({}) and empty.matches({"a": "b"})
    assert empty.empty()
    assert label_selector_from_dict({"matchLabels": {}, "matchExpressions": []}).empty()


def test_from_dict_and_string_forms() -> None:
    sel = {
        "matchLabels": {"app": "web", "b": "x"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "api"]},
            {"key": "env", "operator": "NotIn", "values": ["prod"]},
            {"key": "gpu", "operator": "Exists"},
            {"key": "old", "operator": "DoesNotExist"},
        ],
    }
    matcher = label_selector_from_dict(sel)
    assert matcher.matches({"app": "web", "b": "x", "tier": "api", "gpu": ""})
    assert not matcher.matches({"app": "web", "b": "x", "tier": "api", "gpu": "", "old": "1"})
    assert not matcher.matches({"app": "web", "b": "x", "tier": "api", "gpu": "", "env": "prod"})
    assert not matcher.matches({"app": "web", "b": "x", "tier": "db", "gpu": ""})
    expected = "app=web,b=x,env notin (prod),gpu,!old,tier in (api,front)"
    assert label_selector_to_string(sel) == expected
    assert format_label_selector(sel) == expected
    # the string form parses back to the same selector
    assert str(parse_label_selector(expected)) == expected


def test_format_label_selector_special_cases() -> None:
    assert format_label_selector(None) == "<none>"
    assert format_label_selector({}) == "<none>"
    assert label_selector_to_string({}) == ""
    assert format_label_selector({"matchExpressions": [{"key": "a", "operator": "Foo"}]}) == (
        "<error>"
    )
    assert format_label_selector({"matchLabels": {"a": "b"}}) == "a=b"


def test_from_dict_errors() -> None:
    with pytest.raises(SelectorError, match='"Foo" is not a valid label selector operator'):
        label_selector_from_dict({"matchExpressions": [{"key": "a", "operator": "Foo"}]})
    with pytest.raises(SelectorError) as e:
        label_selector_from_dict({"matchExpressions": [{"key": "a", "operator": "In"}]})
    assert str(e.value) == (
        "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
    )
    with pytest.raises(SelectorError, match="values set must be empty for exists"):
        label_selector_from_dict(
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}
        )


def test_requirement_new_validates() -> None:
    r = Requirement.new("a", Operator.IN, ["y", "x", "x"])
    assert r.values == ("x", "y")
    with pytest.raises(SelectorError, match="exact-match compatibility requires one single value"):
        Requirement.new("a", Operator.EQUALS, ["x", "y"])


# --- field selectors ------------------------------------------------------------------------


def test_field_selector_parse_and_match() -> None:
    sel = parse_field_selector("spec.nodeName=n1,status.phase!=Failed")
    assert str(sel) == "spec.nodeName=n1,status.phase!=Failed"
    assert sel.matches({"spec.nodeName": "n1", "status.phase": "Running"})
    assert not sel.matches({"spec.nodeName": "n1", "status.phase": "Failed"})
    assert not sel.matches({"spec.nodeName": "n2", "status.phase": "Running"})
    assert sel.fields() == ["spec.nodeName", "status.phase"]
    assert sel.requires_exact_match("spec.nodeName") == "n1"
    assert sel.requires_exact_match("status.phase") is None


def test_field_selector_double_equals_empty_and_missing() -> None:
    sel = parse_field_selector("metadata.name==x")
    assert str(sel) == "metadata.name=x"
    assert sel.matches({"metadata.name": "x"})
    assert parse_field_selector("").matches({})
    assert parse_field_selector(None).empty()
    # missing field compares as ""
    assert parse_field_selector("spec.nodeName=").matches({})
    assert parse_field_selector("spec.nodeName!=").matches({"spec.nodeName": "n"})
    assert not parse_field_selector("spec.nodeName!=").matches({})


def test_field_selector_escapes() -> None:
    sel = parse_field_selector(r"a=x\,y\=z\\w")
    assert sel.requires_exact_match("a") == "x,y=z\\w"
    assert str(sel) == r"a=x\,y\=z\\w"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo", "invalid selector: 'foo'; can't understand 'foo'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        (r"a=\x", r"invalid field selector: invalid escape sequence: \x"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as e:
        parse_field_selector(text)
    assert str(e.value) == message


def test_field_selector_supported() -> None:
    sel = parse_field_selector("metadata.name=x,spec.foo=y")
    sel.check_supported(["metadata.name", "spec.foo"])
    with pytest.raises(SelectorError, match=r"^field label not supported: spec.foo$"):
        sel.check_supported(["metadata.name", "metadata.namespace"])
