"""Validation helpers shared by the kind strategies, with upstream's messages
(``k8s.io/kubernetes/pkg/apis/core/validation`` and
``k8s.io/apimachinery/pkg/apis/meta/v1/validation``): label selectors,
int-or-percent values, non-negative numbers, IPs, quantities.

Everything here is pure: functions take parts of JSON dicts and return
``FieldError`` lists (or plain values), so any strategy can combine them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, TypeGuard

from pinnace.api import validation_common as vc
from pinnace.api.quantity import MULTIPLIERS as _SUFFIX
from pinnace.api.schema.validation import FieldError
from pinnace.api.selectors import SelectorError, label_selector_from_dict

Obj = dict[str, Any]

INT32_MAX = 2**31 - 1
IS_NEGATIVE = "must be greater than or equal to 0"
PERCENT_FMT = "[0-9]+%"
PERCENT_ERR = "a valid percent string must be a numeric string followed by an ending '%'"
_percent = re.compile(f"^{PERCENT_FMT}$")


def is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def nonneg(value: Any, path: str) -> list[FieldError]:
    """``ValidateNonnegativeField``."""
    if is_int(value) and value < 0:
        return [FieldError.invalid(path, value, IS_NEGATIVE)]
    return []


def positive(value: Any, path: str, detail: str = "must be greater than zero") -> list[FieldError]:
    if is_int(value) and value <= 0:
        return [FieldError.invalid(path, value, detail)]
    return []


def in_range(value: Any, lo: int, hi: int, path: str) -> list[FieldError]:
    if is_int(value) and not lo <= value <= hi:
        return [FieldError.invalid(path, value, vc.inclusive_range_error(lo, hi))]
    return []


def dig(obj: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(k)
    return obj


def as_dict(v: Any) -> Obj:
    return v if isinstance(v, dict) else {}


def as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


# -- percentages -----------------------------------------------------------------


def is_valid_percent(value: str) -> list[str]:
    if _percent.match(value):
        return []
    return [vc.regex_error(PERCENT_ERR, PERCENT_FMT, "1%", "93%")]


def positive_int_or_percent(value: Any, path: str) -> list[FieldError]:
    """apps ``ValidatePositiveIntOrPercent``."""
    if isinstance(value, str):
        return [FieldError.invalid(path, value, m) for m in is_valid_percent(value)]
    if is_int(value):
        return nonneg(value, path)
    return []


def percent_value(value: Any) -> int | None:
    if isinstance(value, str) and _percent.match(value):
        return int(value[:-1])
    return None


def int_or_percent_value(value: Any) -> int:
    """``getIntOrPercentValue``: the number, or the percentage as a number."""
    p = percent_value(value)
    if p is not None:
        return p
    if is_int(value):
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


def not_more_than_100_percent(value: Any, path: str) -> list[FieldError]:
    p = percent_value(value)
    if p is None or p <= 100:
        return []
    return [FieldError.invalid(path, value, "must not be greater than 100%")]


# -- label selectors ---------------------------------------------------------------

_SELECTOR_OPS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(sel: Any, path: str) -> list[FieldError]:
    """``metav1validation.ValidateLabelSelector`` (strict label values)."""
    if not isinstance(sel, dict):
        return []
    errs: list[FieldError] = []
    for i, expr in enumerate(as_list(sel.get("matchExpressions"))):
        if not isinstance(expr, dict):
            continue
        p = f"{path}.matchExpressions[{i}]"
        op = expr.get("operator") or ""
        values = as_list(expr.get("values"))
        if op in ("In", "NotIn"):
            if not values:
                errs.append(
                    FieldError.required(
                        f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'"
                    )
                )
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(
                    FieldError.forbidden(
                        f"{p}.values",
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        else:
            errs.append(FieldError.invalid(f"{p}.operator", op, "not a valid selector operator"))
        key = expr.get("key") or ""
        errs.extend(FieldError.invalid(f"{p}.key", key, m) for m in vc.is_qualified_name(key))
        for j, v in enumerate(values):
            if isinstance(v, str):
                errs.extend(
                    FieldError.invalid(f"{p}.values[{j}]", v, m) for m in vc.is_valid_label_value(v)
                )
    errs.extend(vc.validate_labels(as_dict(sel.get("matchLabels")), f"{path}.matchLabels"))
    return errs


def selector_is_empty(sel: Any) -> bool:
    s = as_dict(sel)
    return not s.get("matchLabels") and not s.get("matchExpressions")


def selector_matches(sel: Any, labels: Mapping[str, Any] | None) -> bool | None:
    """Whether ``sel`` selects ``labels``; None when the selector does not parse."""
    try:
        parsed = label_selector_from_dict(sel if isinstance(sel, dict) else None)
    except SelectorError:
        return None
    return parsed.matches({k: str(v) for k, v in (labels or {}).items()})


def validate_selector_matches_template(
    sel: Any, template: Any, path: str, *, skip_empty: bool = True
) -> list[FieldError]:
    """``selector`` does not match template ``labels`` (at ``path.metadata.labels``)."""
    if not isinstance(sel, dict) or (skip_empty and selector_is_empty(sel)):
        return []
    labels = as_dict(dig(template, "metadata", "labels"))
    if selector_matches(sel, labels) is False:
        return [
            FieldError.invalid(
                f"{path}.metadata.labels", labels, "`selector` does not match template `labels`"
            )
        ]
    return []


# -- IPs -------------------------------------------------------------------------------


def is_valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def validate_ip(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, str) and not is_valid_ip(value):
        return [
            FieldError.invalid(
                path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
            )
        ]
    return []


# -- quantities ----------------------------------------------------------------------

_quantity = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([a-zA-Z]*|[eE][-+]?[0-9]+)$")


def parse_quantity(value: Any) -> Fraction | None:
    """The exact value of a ``resource.Quantity`` (None when it is not one)."""
    if is_int(value):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(value)
    if not isinstance(value, str):
        return None
    m = _quantity.match(value.strip())
    if m is None:
        return None
    number, suffix = Fraction(m.group(1)), m.group(2)
    if suffix in _SUFFIX:
        return number * _SUFFIX[suffix]
    if suffix[:1] in ("e", "E"):
        return number * Fraction(10) ** int(suffix[1:])
    return None


def quantity_str(value: Any) -> str:
    return value if isinstance(value, str) else str(value)
